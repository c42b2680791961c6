/**
 * `hvaemu shrink REPORT.json`: search for a smaller schedule failing the same
 * way (src/machine/shrink.ts) and write it as a report `replay` accepts.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { exitCode } from '../machine/machine.ts';
import { type Size, shrinkReport } from '../machine/shrink.ts';
import { writeRunJsonAtEnd } from './json.ts';
import { checkWritable } from './output.ts';
import { parseDuration, UsageError } from './parse.ts';
import { renderReport } from './report.ts';

type ShrinkFlags = { budget: string; json?: string };

const fmt = (s: Size) =>
  `${s.cpus} CPUs, ${s.steps} steps, ${s.switches} context switches, ${s.ops} operations, a story of ${s.story} lines`;

export function addShrinkCommand(program: Command, exit: (code: number) => void, argv: string[]) {
  return program
    .command('shrink')
    .description(
      'search for a smaller schedule that fails with the same violation kind as a --sched random|pct report (exit 1: found one, 0: none smaller)',
    )
    .argument('<report>', 'a run report (JSON) of a controlled schedule')
    .option('--budget <d>', 'wall-clock time for the search', '60s')
    .option('--json <file>', "write the smallest failing schedule's report there")
    .action(async (file: string, flags: ShrinkFlags) => {
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(file, 'utf8'));
      } catch (e) {
        throw new UsageError(`shrink: cannot read ${file}: ${e instanceof Error ? e.message : e}`);
      }
      const budgetMs = parseDuration(flags.budget, '--budget');
      if (flags.json !== undefined) checkWritable(flags.json, '--json');
      const startedAt = new Date();
      let res: Awaited<ReturnType<typeof shrinkReport>>;
      try {
        res = await shrinkReport(json, budgetMs);
      } catch (e) {
        if (e instanceof Error && /report|--sched os|config|shrink/.test(e.message)) {
          throw new UsageError(`shrink: ${e.message.split('\n')[0]}`);
        }
        throw e;
      }
      process.stdout.write(
        `shrink ${res.kind}: ${res.tried} candidates in ${(res.wallMs / 1000).toFixed(1)} s\n  before: ${fmt(res.before)}\n  after:  ${fmt(res.after)}\n`,
      );
      if (!res.report) {
        process.stdout.write('shrink: no smaller failing schedule found within the budget\n');
        exit(0);
        return;
      }
      process.stdout.write(`${renderReport(res.report)}\n`);
      const code = exitCode(res.report.verdict);
      if (flags.json !== undefined) {
        await writeRunJsonAtEnd(flags.json, res.report, argv, startedAt, code);
      }
      exit(code);
    });
}
