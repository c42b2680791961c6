/**
 * `hvaemu replay REPORT`: run a controlled schedule's report again
 * (src/machine/replay.ts) and say whether the outcome is the recorded one;
 * for a --sched os violation, try to reproduce it under guided controlled
 * schedules (src/machine/bridge.ts) and say whether that worked.
 */
import type { Command } from 'commander';
import { bridge } from '../machine/bridge.ts';
import { exitCode, type RunReport } from '../machine/machine.ts';
import { type Recording, readRecording, replayReport } from '../machine/replay.ts';
import { writeRunJsonAtEnd } from './json.ts';
import { parseSched } from './options.ts';
import { checkWritable, STDOUT } from './output.ts';
import { parseDuration, parseInteger, UsageError } from './parse.ts';
import { renderReport, verdictLine } from './report.ts';

type ReplayFlags = {
  json?: string;
  quiet?: boolean;
  untilStep?: string;
  fromStep?: string;
  violation?: string;
  sched: string;
  steps: string;
  budget: string;
  schedules?: string;
  guide: boolean;
};

export function addReplayCommand(
  program: Command,
  exit: (code: number) => void,
  argv: string[],
): Command {
  return program
    .command('replay')
    .description(
      "run the schedule of a --sched random|pct report again and compare; for a --sched os violation, try to reproduce it under guided controlled schedules (exit: the replayed run's code, 1 violation or 3 stall; it says if the outcome differs)",
    )
    .argument(
      '<report>',
      "a run report (JSON), a soak folder or a soak's violations.jsonl (its config.json beside it)",
    )
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
    .option(
      '--violation <n>',
      "which violation: the report's index (from 0), or a soak line's seq (default: the first)",
    )
    .option(
      '--sched <kind>',
      'a --sched os violation: the controlled scheduler to reproduce it with, random or pct[:DEPTH]',
      'pct:3',
    )
    .option('--steps <n>', 'a --sched os violation: decisions per schedule', '2000')
    .option('--budget <d>', 'a --sched os violation: wall-clock time for the attempt', '60s')
    .option('--schedules <n>', 'a --sched os violation: schedules at most (with --budget)')
    .option('--no-guide', 'a --sched os violation: schedules not steered by the story (a baseline)')
    .action(async (file: string, flags: ReplayFlags) => {
      const pick =
        flags.violation !== undefined ? parseInteger(flags.violation, '--violation') : undefined;
      let rec: Recording;
      try {
        rec = readRecording(file, pick);
      } catch (e) {
        throw new UsageError(
          `replay: cannot read ${file}: ${oneLineOf(String((e as Error)?.message ?? e))}`,
        );
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
      const text = flags.json === STDOUT ? process.stderr : process.stdout;
      const startedAt = new Date();
      if (!rec.controlled) {
        const sched = parseSched(flags.sched, flags.steps);
        if (sched.kind === 'os')
          throw new UsageError('--sched: random or pct[:DEPTH] to reproduce with');
        const budgetMs = parseDuration(flags.budget, '--budget');
        const max =
          flags.schedules !== undefined ? parseInteger(flags.schedules, '--schedules') : undefined;
        if (max !== undefined && max < 1) throw new UsageError('--schedules: at least 1');
        const label = `${sched.kind}${sched.kind === 'pct' ? `:${sched.depth}` : ''}`;
        text.write(
          `replay: ${rec.what} was found under --sched os: its interleaving was not recorded; trying to reproduce it under ${label} schedules of ${sched.steps} steps${flags.guide ? ', guided by its story' : ' (not guided)'}\n`,
        );
        const seen: Record<string, number> = {};
        const res = await bridge(rec.cfg, rec.violation, sched, {
          budgetMs,
          guided: flags.guide,
          ...(max !== undefined ? { maxSchedules: max } : {}),
          onSchedule: (_i: number, r: RunReport) => {
            const k = r.violations[0]?.kind ?? r.stall?.kind;
            if (k && k !== rec.violation.kind) seen[k] = (seen[k] ?? 0) + 1;
          },
        });
        if (res.pattern.length > 0 && flags.guide) {
          text.write(
            `replay: the story's order: ${res.pattern.map(([r, e]) => `${String.fromCharCode(65 + r)}:${e}`).join(' -> ')}\n`,
          );
        }
        const others = Object.entries(seen)
          .map(([k, n]) => `${k} ${n}x`)
          .join(', ');
        const tried = `${res.schedules} schedule(s), ${res.steps} steps in ${(res.wallMs / 1000).toFixed(1)} s`;
        if (res.reproduced) {
          if (!flags.quiet) text.write(`${renderReport(res.report)}\n`);
          text.write(
            `replay: REPRODUCED ${res.kind} under the controlled scheduler in ${tried} (schedule ${res.report.sched?.schedule?.index ?? 0}, seed ${res.report.config.seed}, ${res.report.sched?.stepsRun ?? 0} steps, hash ${res.report.sched?.hash}); its report replays exactly${flags.json !== undefined ? ` (hvaemu replay ${flags.json})` : ' (write it with --json FILE)'}${others ? `; other outcomes met: ${others}` : ''}\n`,
          );
        } else {
          text.write(
            `replay: NOT reproduced: no ${res.kind} in ${tried}${others ? `; other outcomes met: ${others}` : ''}\n`,
          );
        }
        const code = res.reproduced ? exitCode(res.report.verdict) : 0;
        if (flags.json !== undefined && res.reproduced) {
          await writeRunJsonAtEnd(flags.json, res.report, argv, startedAt, code);
        }
        exit(code);
        return;
      }
      let res: Awaited<ReturnType<typeof replayReport>>;
      try {
        res = await replayReport(rec.json, {
          ...(untilStep !== undefined ? { untilStep } : {}),
          ...(fromStep !== undefined ? { fromStep } : {}),
          ...(rec.only !== undefined ? { only: rec.only } : {}),
        });
      } catch (e) {
        if (e instanceof Error && /not a run report|--sched os|config/.test(e.message)) {
          throw new UsageError(`replay: ${oneLineOf(e.message)}`);
        }
        throw e;
      }
      const { report, diff } = res;
      text.write(`${flags.quiet ? verdictLine(report) : renderReport(report)}\n`);
      if (res.from) {
        const f = res.from;
        text.write(
          f.clock === null
            ? `replay: --from-step ${f.step}: the schedule ended at step ${report.sched?.stepsRun ?? 0}, before it\n`
            : `replay: from step ${f.step} (logical clock ${f.clock}: the stories and traces above start there); ${f.switches.length} logged decision(s) (switches, migrations, delays) from there on${flags.quiet ? '' : ':'}\n${(flags.quiet ? [] : f.switches).map((l) => `  ${l}\n`).join('')}`,
        );
      }
      text.write(
        untilStep !== undefined
          ? `replay: stopped at step ${untilStep} (--until-step), ${report.sched?.stepsRun ?? 0} decisions with the wind-down; ${diff.length === 0 ? 'the recorded outcome all the same' : `so far: ${diff.join('; ')}`}\n`
          : diff.length === 0
            ? `replay: the recorded outcome, exactly (${res.replayed.verdict}, ${rec.only !== undefined ? `violation ${rec.only} of the schedule` : `${res.replayed.violations.length} violations`}, schedule ${res.replayed.hash})\n`
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
