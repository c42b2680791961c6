/**
 * hvaemu's command line. Parsing and validation happen before any thread
 * starts: bad input prints one line naming the flag and exits 2.
 */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../config.ts';
import { EXIT, type RunReport, runMachine } from '../machine/machine.ts';
import { addMutantsCommand } from './mutants.ts';
import { addMachineOptions, configFromFlags, type MachineFlags } from './options.ts';
import { checkWritable, writeJson } from './output.ts';
import { listPoints, UsageError } from './parse.ts';
import { makeProgressPrinter } from './progress.ts';
import { renderReport, verdictLine } from './report.ts';
import { addSoakCommand } from './soak.ts';
import { addSweepCommand } from './sweep.ts';

export const EXIT_USAGE = 2;

type RunFlags = MachineFlags & { json?: string; quiet?: boolean; listPoints?: boolean };

/** SIGINT/SIGTERM stop the CPUs (the report is still written); a second SIGINT exits at once. */
export function stopOnSignals(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      process.stderr.write(`\nhvaemu: ${sig}: stopping the CPUs (again to exit at once)\n`);
      ac.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

async function runCommand(flags: RunFlags): Promise<number> {
  if (flags.listPoints) {
    process.stdout.write(`${listPoints()}\n`);
    return 0;
  }
  const cfg = configFromFlags(flags);
  if (flags.json) checkWritable(flags.json, '--json');
  const tty = process.stderr.isTTY && !flags.quiet;
  const progress = makeProgressPrinter(process.stderr);
  const signals = stopOnSignals();
  if (tty && flags.json !== '-') progress.note(`hvaemu: booting ${cfg.cpus} CPUs...`);
  let report: RunReport;
  try {
    report = await runMachine(cfg, {
      signal: signals.signal,
      ...(tty ? { onProgress: (p) => progress.update(p) } : {}),
    });
  } finally {
    signals.dispose();
    progress.clear();
  }
  if (flags.json) writeJson(flags.json, report);
  process.stdout.write(`${flags.quiet ? verdictLine(report) : renderReport(report)}\n`);
  return EXIT[report.verdict];
}

export function buildProgram(exit: (code: number) => void): Command {
  const program = new Command('hvaemu')
    .description(
      'Emulator of the s390 page-host-virtual-assist discarded page list: every simulated CPU is a worker thread. Docs in the checkout: docs/protocol.md (the protocol, mutants, oracle), docs/json.md (report fields, exit codes), docs/mapping.md (kernel functions and model differences)',
    )
    .version(VERSION)
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(`hvaemu: ${s.replace(/^error: /, '')}`) });

  const run = addMachineOptions(
    program
      .command('run')
      .description(
        'run the machine for a while and report (exit 0 clean, 1 violation, 3 stall, 4 crash)',
      ),
  )
    .option('--json <file>', 'write the JSON report there')
    .option('--quiet', 'print only the verdict line', false)
    .option('--list-points', 'list the preemption points (for --delay) and exit', false)
    .action(async (flags: RunFlags) => exit(await runCommand(flags)));
  run.exitOverride();
  addSoakCommand(program, exit, stopOnSignals);
  addMutantsCommand(program, exit, stopOnSignals);
  addSweepCommand(program, exit, stopOnSignals);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
    if (argv.length === 0) program.outputHelp();
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`hvaemu: ${e.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(
      `hvaemu: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    return EXIT.ERROR;
  }
  return code;
}
