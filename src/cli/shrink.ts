/**
 * `hvaemu shrink REPORT.json`: search for a smaller configuration and
 * schedule failing the same way (src/machine/shrink.ts) and write it as a
 * report `replay` accepts.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { exitCode } from '../machine/machine.ts';
import { SHRINK_TRIES, type Size, shrinkReport } from '../machine/shrink.ts';
import { writeRunJsonAtEnd } from './json.ts';
import { checkWritable } from './output.ts';
import { parseDuration, parseInteger, UsageError } from './parse.ts';
import { renderReport } from './report.ts';

type ShrinkFlags = { budget: string; json?: string; runs?: string; tries: string; quiet?: boolean };

/** The sizes side by side, one row each. */
export function sizeTable(a: Size, b: Size): string {
  const rows: [string, keyof Size][] = [
    ['steps (decisions)', 'steps'],
    ['operations', 'ops'],
    ['context switches', 'switches'],
    ['CPUs', 'cpus'],
    ['pages', 'pages'],
    ['files', 'files'],
    ['operations in the mix', 'mixOps'],
    ['interrupt sources', 'irqSources'],
    ['story lines', 'story'],
  ];
  return rows
    .map(([name, k]) => `  ${name.padEnd(22)} ${String(a[k]).padStart(7)} -> ${String(b[k])}`)
    .join('\n');
}

export function addShrinkCommand(program: Command, exit: (code: number) => void, argv: string[]) {
  return program
    .command('shrink')
    .description(
      "search for a smaller configuration and schedule that fail with the same violation kind as a --sched random|pct report, and write the smallest as a report replay accepts (exit: the smallest run's code, 1 or 3; 0 if the recording did not fail again)",
    )
    .argument('<report>', 'a run report (JSON) of a controlled schedule')
    .option('--budget <d>', 'wall-clock time for the search', '60s')
    .option('--runs <n>', 'machine runs at most (with --budget; the search is then deterministic)')
    .option('--tries <n>', 'schedules searched per smaller configuration', String(SHRINK_TRIES))
    .option('--json <file>', "write the smallest failing schedule's report there")
    .option('--quiet', "print the sizes only, not the smallest run's report", false)
    .action(async (file: string, flags: ShrinkFlags) => {
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(file, 'utf8'));
      } catch (e) {
        throw new UsageError(`shrink: cannot read ${file}: ${e instanceof Error ? e.message : e}`);
      }
      const budgetMs = parseDuration(flags.budget, '--budget');
      const runs = flags.runs !== undefined ? parseInteger(flags.runs, '--runs') : undefined;
      if (runs !== undefined && runs < 1) throw new UsageError('--runs: at least 1');
      const tries = parseInteger(flags.tries, '--tries');
      if (tries < 1) throw new UsageError('--tries: at least 1');
      if (flags.json !== undefined) checkWritable(flags.json, '--json');
      const startedAt = new Date();
      let res: Awaited<ReturnType<typeof shrinkReport>>;
      try {
        res = await shrinkReport(json, budgetMs, {
          tries,
          ...(runs !== undefined ? { maxRuns: runs } : {}),
          onKept: (what, s) =>
            process.stderr.write(
              `shrink: kept ${what}: ${s.steps} steps, ${s.switches} switches\n`,
            ),
        });
      } catch (e) {
        if (e instanceof Error && /report|--sched os|config|shrink/.test(e.message)) {
          throw new UsageError(`shrink: ${e.message.split('\n')[0]}`);
        }
        throw e;
      }
      const head = `shrink ${res.kind}: ${res.tried} runs in ${(res.wallMs / 1000).toFixed(1)} s`;
      if (!res.report) {
        process.stdout.write(
          `${head}\nshrink: the recording, run again, did not fail with ${res.kind}: nothing to shrink\n`,
        );
        exit(0);
        return;
      }
      if (!flags.quiet) process.stdout.write(`${renderReport(res.report)}\n`);
      process.stdout.write(
        `${head}; kept: ${res.kept.length ? res.kept.join('; ') : 'nothing (no smaller failure found)'}\n  ${'size'.padEnd(22)} ${'before'.padStart(7)} -> after\n${sizeTable(res.before, res.after)}\n`,
      );
      const code = exitCode(res.report.verdict);
      if (flags.json !== undefined) {
        await writeRunJsonAtEnd(flags.json, res.report, argv, startedAt, code);
        process.stdout.write(
          `shrink: the smallest failing schedule is in ${flags.json} (hvaemu replay ${flags.json})\n`,
        );
      }
      exit(code);
    });
}
