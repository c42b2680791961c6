/**
 * hvaemu's command line. Parsing and validation happen before any thread
 * starts: bad input prints one line naming the flag and exits 2.
 */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../config.ts';
import { type ControlledRun, runSchedules } from '../machine/controlled.ts';
import { EXIT, exitCode, type RunReport, runMachine } from '../machine/machine.ts';
import { provenance, type RunMeta, runJson } from './json.ts';
import { addMergeCommand } from './merge.ts';
import { addMutantsCommand } from './mutants.ts';
import { addMachineOptions, configFromFlags, type MachineFlags } from './options.ts';
import { checkWritable, STDOUT, writeReport } from './output.ts';
import { configWarnings, givenFlags, listPoints, UsageError, warn } from './parse.ts';
import { makeProgressPrinter } from './progress.ts';
import { addReplayCommand } from './replay.ts';
import { renderReport, verdictLine } from './report.ts';
import { addShrinkCommand } from './shrink.ts';
import { addSoakCommand } from './soak.ts';
import { addSweepCommand } from './sweep.ts';

export const EXIT_USAGE = 2;

/** Every command's help ends with this. */
export const EXIT_HELP = `
Exit codes: 0 success; 1 a violation (or the audit failed); 2 bad usage (one
line naming the flag, before any thread starts); 3 a stall; 4 an internal
error; 5 undercovered (--min-coverage: a hazard had too few near misses, and
nothing worse happened); 130 or 143 interrupted by SIGINT or SIGTERM (verdict INTERRUPTED).`;

type RunFlags = MachineFlags & { json?: string; quiet?: boolean; listPoints?: boolean };

export type Signals = { signal: AbortSignal; dispose: () => void };

/**
 * SIGINT/SIGTERM stop the CPUs (the report is still written; the signal's
 * name is `signal.reason`); a second signal exits at once, 130 or 143.
 */
export function stopOnSignals(): Signals {
  const ac = new AbortController();
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      process.stderr.write(`\nhvaemu: ${sig}: stopping the CPUs (again to exit at once)\n`);
      ac.abort(sig);
    } else {
      process.exit(exitCode('INTERRUPTED', sig));
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

/** The signal that stopped a run (`SIGINT`, `SIGTERM`), or null. */
export function signalOf(s: AbortSignal): string | null {
  return s.aborted ? String(s.reason) : null;
}

async function runCommand(flags: RunFlags, cmd: Command, argv: string[]): Promise<number> {
  const startedAt = new Date();
  if (flags.listPoints) {
    const ignored = givenFlags(cmd, ['listPoints']);
    if (ignored.length > 0) warn(`--list-points: ignoring ${ignored.join(', ')}`);
    process.stdout.write(`${listPoints()}\n`);
    return 0;
  }
  const cfg = configFromFlags(flags);
  if (flags.json !== undefined) checkWritable(flags.json, '--json');
  for (const w of configWarnings(cfg)) warn(w);
  // --json -: the JSON is standard output, the text report goes to standard error
  const text = flags.json === STDOUT ? process.stderr : process.stdout;
  const tty = process.stderr.isTTY && !flags.quiet;
  const progress = makeProgressPrinter(process.stderr);
  const signals = stopOnSignals();
  if (tty && flags.json !== '-') progress.note(`hvaemu: booting ${cfg.cpus} CPUs...`);
  let report: RunReport;
  let controlled: ControlledRun | undefined;
  try {
    if (cfg.sched.kind !== 'os') {
      // --sched random|pct: schedules of --steps decisions until one fails or --duration is spent
      controlled = await runSchedules(cfg, { signal: signals.signal });
      report = controlled.report;
    } else {
      report = await runMachine(cfg, {
        signal: signals.signal,
        ...(tty ? { onProgress: (p) => progress.update(p) } : {}),
      });
    }
  } finally {
    signals.dispose();
    progress.clear();
  }
  const signal = signalOf(signals.signal);
  const code = exitCode(report.verdict, signal);
  // The text report first: whatever happens to the JSON, the run is not lost.
  text.write(`${flags.quiet ? verdictLine(report) : renderReport(report)}\n`);
  if (controlled) {
    const s = report.sched!;
    text.write(
      `sched ${cfg.sched.kind}${cfg.sched.kind === 'pct' ? `:${cfg.sched.depth}` : ''}: ${controlled.schedules} schedule(s), ${controlled.steps} steps in ${(controlled.wallMs / 1000).toFixed(1)} s (${Math.round(controlled.steps / (controlled.wallMs / 1000))} steps/s); last: seed ${report.config.seed}, ${s.stepsRun} steps, ${s.switches} switches, hash ${s.hash}${report.verdict !== 'SUCCESS' ? ' (hvaemu replay REPORT.json runs it again)' : ''}\n`,
    );
  }
  if (flags.json !== undefined) {
    const meta: RunMeta = {
      ...(await provenance(argv)),
      startedAt,
      endedAt: new Date(),
      exitCode: code,
      signal,
    };
    const w = writeReport(flags.json, runJson(report, meta), '--json');
    if (w.notice) process.stderr.write(`hvaemu: ${w.notice}\n`);
  }
  return code;
}

export function buildProgram(exit: (code: number) => void, argv: string[] = []): Command {
  const program = new Command('hvaemu')
    .description(
      'Emulator of the s390 page-host-virtual-assist discarded page list: every simulated CPU is a worker thread. Docs in the checkout: docs/protocol.md (the protocol, mutants, oracle), docs/json.md (report fields, exit codes), docs/mapping.md (kernel functions and model differences)',
    )
    .version(VERSION)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(`hvaemu: ${oneLine(s)}`) });

  const run = addMachineOptions(
    program
      .command('run')
      .description(
        'run the machine for a while and report (exit 0 clean, 1 violation, 2 bad usage, 3 stall, 4 crash, 130/143 interrupted)',
      ),
  )
    .option(
      '--json <file>',
      'write the JSON report there (docs/schema/run.schema.json; - for standard output)',
    )
    .option('--quiet', 'print only the verdict line', false)
    .option('--list-points', 'list the preemption points (for --delay) and exit', false)
    .action(async (flags: RunFlags, cmd: Command) => exit(await runCommand(flags, cmd, argv)));
  run.exitOverride();
  addSoakCommand(program, exit, stopOnSignals);
  addMutantsCommand(program, exit, stopOnSignals, argv);
  addSweepCommand(program, exit, stopOnSignals, argv);
  addMergeCommand(program, exit, argv);
  addReplayCommand(program, exit, argv);
  addShrinkCommand(program, exit, argv);
  for (const c of program.commands) c.addHelpText('after', EXIT_HELP);
  return program;
}

/** Commander's message on one line: `unknown option '--cpu' (did you mean --cpus?)`. */
export function oneLine(s: string): string {
  return `${s
    .replace(/^error: /, '')
    .replace(/\s*\n\(Did you mean/, ' (did you mean')
    .trimEnd()
    .replace(/\n/g, ' ')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => (code = c), argv);
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
