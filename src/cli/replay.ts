/**
 * `hvaemu replay REPORT.json`: run a controlled schedule's report again
 * (src/machine/replay.ts) and say whether the outcome is the recorded one.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { exitCode } from '../machine/machine.ts';
import { replayReport } from '../machine/replay.ts';
import { writeRunJsonAtEnd } from './json.ts';
import { checkWritable, STDOUT } from './output.ts';
import { parseInteger, UsageError } from './parse.ts';
import { renderReport, verdictLine } from './report.ts';

type ReplayFlags = { json?: string; quiet?: boolean; untilStep?: string; fromStep?: string };

export function addReplayCommand(
  program: Command,
  exit: (code: number) => void,
  argv: string[],
): Command {
  return program
    .command('replay')
    .description(
      "run the schedule of a --sched random|pct report again and compare (exit: the replayed run's code; it says if the outcome differs)",
    )
    .argument('<report>', 'a run report (JSON) of a controlled schedule')
    .option('--json <file>', "write the replayed run's JSON report there (- for standard output)")
    .option('--quiet', 'print only the verdict line and the comparison', false)
    .option(
      '--until-step <n>',
      'stop the schedule at that decision (the CPUs finish their operation) and report the machine there',
    )
    .option(
      '--from-step <n>',
      "show the violations' stories and traces, and the context switches, from that decision on (the comparison is made on the whole run)",
    )
    .action(async (file: string, flags: ReplayFlags) => {
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(file, 'utf8'));
      } catch (e) {
        throw new UsageError(`replay: cannot read ${file}: ${e instanceof Error ? e.message : e}`);
      }
      if (flags.json !== undefined) checkWritable(flags.json, '--json');
      const untilStep =
        flags.untilStep !== undefined ? parseInteger(flags.untilStep, '--until-step') : undefined;
      if (untilStep !== undefined && untilStep < 1)
        throw new UsageError('--until-step: at least 1');
      const fromStep =
        flags.fromStep !== undefined ? parseInteger(flags.fromStep, '--from-step') : undefined;
      if (fromStep !== undefined && fromStep < 1) throw new UsageError('--from-step: at least 1');
      if (fromStep !== undefined && untilStep !== undefined && fromStep > untilStep)
        throw new UsageError('--from-step: after --until-step');
      const startedAt = new Date();
      let res: Awaited<ReturnType<typeof replayReport>>;
      try {
        res = await replayReport(json, {
          ...(untilStep !== undefined ? { untilStep } : {}),
          ...(fromStep !== undefined ? { fromStep } : {}),
        });
      } catch (e) {
        if (e instanceof Error && /not a run report|--sched os|config/.test(e.message)) {
          throw new UsageError(`replay: ${oneLineOf(e.message)}`);
        }
        throw e;
      }
      const { report, diff } = res;
      const text = flags.json === STDOUT ? process.stderr : process.stdout;
      text.write(`${flags.quiet ? verdictLine(report) : renderReport(report)}\n`);
      if (res.from) {
        const f = res.from;
        text.write(
          f.clock === null
            ? `replay: --from-step ${f.step}: the schedule ended at step ${report.sched?.stepsRun ?? 0}, before it\n`
            : `replay: from step ${f.step} (logical clock ${f.clock}: the stories and traces above start there); ${f.switches.length} context switch(es) from there on:\n${(flags.quiet ? [] : f.switches).map((l) => `  ${l}`).join('\n')}\n`,
        );
      }
      text.write(
        untilStep !== undefined
          ? `replay: stopped at step ${untilStep} (--until-step), ${report.sched?.stepsRun ?? 0} decisions with the wind-down; ${diff.length === 0 ? 'the recorded outcome all the same' : `so far: ${diff.join('; ')}`}\n`
          : diff.length === 0
            ? `replay: the recorded outcome, exactly (${res.replayed.verdict}, ${res.replayed.violations.length} violations, schedule ${res.replayed.hash})\n`
            : `replay: the outcome DIFFERS from the recording: ${diff.join('; ')}\n`,
      );
      const code = exitCode(report.verdict);
      if (flags.json !== undefined) {
        await writeRunJsonAtEnd(flags.json, report, argv, startedAt, code);
      }
      exit(code);
    });
}

const oneLineOf = (s: string) => s.split('\n')[0]!.slice(0, 300);
