/**
 * `hvaemu mutants [--cpus 4] [--budget 20s] [--json FILE]`: the kill matrix.
 * First the patched protocol under every mutant's widening for the budget
 * (the control: it must stay clean), then each mutant of docs/protocol.md section
 * 5 until it is caught or its budget is spent, fresh seeds per attempt.
 * Exit 0 only if the control is clean and every mutant is killed (or, with
 * its reason, equivalent in this model).
 */
import type { Command } from 'commander';
import { exitCode, type Verdict } from '../machine/machine.ts';
import {
  type AttemptReport,
  type ControlResult,
  controlWidenings,
  type HuntOptions,
  type HuntResult,
  huntMutant,
  MUTANT_NAMES,
  MUTANT_PROFILES,
  type MutantName,
  runControl,
} from '../machine/mutants.ts';
import { secs, secsShort, table } from './format.ts';
import { type Provenance, provenance, roundDeep } from './json.ts';
import { checkWritable, STDOUT, writeReport } from './output.ts';
import { parseDuration, parseInteger, UsageError, warn } from './parse.ts';

type MutantsFlags = {
  cpus: string;
  budget: string;
  json?: string;
  stallTimeout: string;
  widen: boolean;
  only?: string;
  seed?: string;
  quiet?: boolean;
};

export const MUTANTS_SCHEMA = 2;

/** docs/schema/mutants.schema.json */
export type MutantsReport = Provenance & {
  schema: typeof MUTANTS_SCHEMA;
  kind: 'mutants';
  /**
   * SUCCESS: the control clean and every mutant killed (or equivalent);
   * FAILURE: not so; ERROR: internal errors; INTERRUPTED: a signal stopped it.
   */
  verdict: Extract<Verdict, 'SUCCESS' | 'FAILURE' | 'ERROR' | 'INTERRUPTED'>;
  exitCode: number;
  signal: string | null;
  startedAt: string;
  endedAt: string;
  wallMs: number;
  cpus: number;
  budgetMs: number;
  widen: boolean;
  /** The mutants asked for (--only, or all). */
  names: MutantName[];
  control: ControlResult;
  mutants: HuntResult[];
};

/** The verdict of a kill matrix (before any signal): ERROR on internal errors, else SUCCESS or FAILURE. */
export function matrixVerdict(
  control: ControlResult,
  mutants: HuntResult[],
  names: readonly string[],
): 'SUCCESS' | 'FAILURE' | 'ERROR' {
  if (
    control.verdict === 'ERROR' ||
    mutants.some((m) => (m.errors?.length ?? 0) > 0 && !m.killed)
  ) {
    return 'ERROR';
  }
  const ok =
    control.verdict === 'SUCCESS' &&
    mutants.length === names.length &&
    mutants.every((m) => m.killed || m.equivalent === true);
  return ok ? 'SUCCESS' : 'FAILURE';
}

/** Exit code of a kill matrix: its verdict's (0, 1, 4; 130 or 143 interrupted). */
export function matrixExit(r: Pick<MutantsReport, 'verdict' | 'signal'>): number {
  return exitCode(r.verdict, r.signal);
}

export function renderMatrix(r: MutantsReport): string {
  const rows: string[][] = [['mutant', 'killed', 'detected by', 'time', 'seed', 'tries']];
  for (const m of r.mutants) {
    rows.push([
      m.name,
      m.killed ? 'yes' : m.equivalent ? 'equiv.' : 'NO',
      m.detectedBy ?? '-',
      m.timeToDetectMs === null
        ? '-'
        : m.timeToDetectMs < 1000
          ? `${Math.round(m.timeToDetectMs)}ms`
          : secs(m.timeToDetectMs),
      String(m.seed),
      String(m.attempts),
    ]);
  }
  const out = [
    `hvaemu mutants: ${r.cpus} CPUs, budget ${secs(r.budgetMs)} of machine time each${r.widen ? '' : ', no widening'}`,
    '',
    `control: the patched protocol under each mutant's widening: ${r.control.verdict} after ${secs(r.control.durationMs)}`,
  ];
  for (const c of r.control.runs) {
    out.push(
      `  ${c.verdict.padEnd(7)} ${secs(c.durationMs).padStart(6)}  seed ${String(c.seed).padEnd(10)}  ${c.widening || '(no widening)'}`,
    );
    for (const l of c.evidence ?? []) out.push(`      ${l}`);
  }
  out.push('', table(rows), '', 'widening (hvaemu run flags):');
  const w = Math.max(...r.mutants.map((m) => m.name.length));
  for (const m of r.mutants) out.push(`  ${m.name.padEnd(w)}  ${m.widening || '(none)'}`);
  for (const m of r.mutants) {
    if (m.equivalent) out.push('', `${m.name}: equivalent here: ${m.reason}`);
    if (m.errors) out.push('', `${m.name}: internal errors: ${m.errors.join('; ')}`);
  }
  const caught = r.mutants.filter((m) => m.killed).length;
  const equiv = r.mutants.filter((m) => m.equivalent).length;
  const what = `control ${r.control.verdict === 'SUCCESS' ? 'clean' : r.control.verdict}, ${caught} of ${r.names.length} mutants killed${equiv ? `, ${equiv} equivalent` : ''}`;
  out.push(
    '',
    r.verdict === 'INTERRUPTED'
      ? `INTERRUPTED after ${secsShort(r.wallMs)}: ${what}, ${r.names.length - r.mutants.length} not hunted`
      : `${r.verdict}: ${what}`,
  );
  return out.join('\n');
}

function attemptLine(a: AttemptReport): string {
  return `  ${a.name} attempt ${a.attempt} (seed ${a.seed}): ${a.verdict} after ${secs(a.durationMs)}${a.detectedBy ? ` by ${a.detectedBy}` : ''}`;
}

async function mutantsCommand(
  f: MutantsFlags,
  stopOnSignals: () => { signal: AbortSignal; dispose: () => void },
  argv: string[],
): Promise<number> {
  const startedAt = new Date();
  const cpus = parseInteger(f.cpus, '--cpus');
  if (cpus < 2 || cpus > 256) throw new UsageError(`--cpus: must be 2..256 (got ${cpus})`);
  const budgetMs = parseDuration(f.budget, '--budget');
  if (budgetMs < 500) throw new UsageError(`--budget: must be at least 500ms (got '${f.budget}')`);
  const stallTimeoutMs = parseDuration(f.stallTimeout, '--stall-timeout');
  if (stallTimeoutMs < 100) throw new UsageError('--stall-timeout: must be at least 100ms');
  const seed = f.seed !== undefined ? parseInteger(f.seed, '--seed') : undefined;
  if (seed !== undefined && (seed < 0 || seed > 0xffffffff)) {
    throw new UsageError(`--seed: must be 0..4294967295 (got ${seed})`);
  }
  let names: MutantName[] = [...MUTANT_NAMES];
  if (f.only !== undefined) {
    const asked = f.only.split(',').map((s) => s.trim()) as MutantName[];
    const bad = asked.find((n) => !MUTANT_NAMES.includes(n));
    if (bad !== undefined) {
      throw new UsageError(`--only: unknown mutant '${bad}' (one of ${MUTANT_NAMES.join(', ')})`);
    }
    names = [...new Set(asked)];
    if (names.length < asked.length) warn('--only: a mutant named twice is hunted once');
  }
  if (f.json !== undefined) checkWritable(f.json, '--json');

  const signals = stopOnSignals();
  const say = (s: string) => {
    if (!f.quiet) process.stderr.write(`${s}\n`);
  };
  const opts: HuntOptions = {
    cpus,
    budgetMs,
    widen: f.widen,
    stallTimeoutMs,
    signal: signals.signal,
    onAttempt: (a) => say(attemptLine(a)),
    ...(seed !== undefined ? { seed } : {}),
  };
  const t0 = performance.now();
  let control: ControlResult;
  const mutants: HuntResult[] = [];
  try {
    say(`control: patched protocol, ${secs(budgetMs)}`);
    control = await runControl(opts, f.widen ? controlWidenings(names) : [{}]);
    for (const name of names) {
      if (signals.signal.aborted) break;
      say(`${name}: ${f.widen ? MUTANT_PROFILES[name].why : 'no widening'}`);
      mutants.push(await huntMutant(name, opts));
    }
  } finally {
    signals.dispose();
  }
  const judged = matrixVerdict(control, mutants, names);
  const signal = signals.signal.aborted ? String(signals.signal.reason) : null;
  const verdict = signal !== null && judged !== 'ERROR' ? 'INTERRUPTED' : judged;
  const report: MutantsReport = roundDeep({
    schema: MUTANTS_SCHEMA,
    kind: 'mutants',
    verdict,
    exitCode: exitCode(verdict, signal),
    signal,
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    wallMs: performance.now() - t0,
    ...(f.json !== undefined ? await provenance(argv) : emptyProvenance(argv)),
    cpus,
    budgetMs,
    widen: f.widen,
    names,
    control,
    mutants,
  });
  // The text first: whatever happens to the JSON, the matrix is not lost.
  const text = f.json === STDOUT ? process.stderr : process.stdout;
  text.write(`${renderMatrix(report)}\n`);
  if (f.json !== undefined) {
    const w = writeReport(f.json, report, '--json');
    if (w.notice) process.stderr.write(`hvaemu: ${w.notice}\n`);
  }
  return report.exitCode;
}

/** No git call nor host look-up when there is no JSON to put them in. */
function emptyProvenance(argv: string[]): Provenance {
  return {
    version: '',
    argv,
    git: null,
    host: { hostname: '', node: '', platform: '', arch: '', cores: 0 },
  };
}

export function addMutantsCommand(
  program: Command,
  exit: (code: number) => void,
  stopOnSignals: () => { signal: AbortSignal; dispose: () => void },
  argv: string[] = [],
): Command {
  const cmd = program
    .command('mutants')
    .description(
      'the kill matrix: the patched protocol must stay clean, each known bug (docs/protocol.md section 5) must be caught (exit 0 if so, 1 if not, 2 bad usage, 4 internal error, 130/143 interrupted)',
    )
    .option('--cpus <n>', 'simulated CPUs (2..256)', '4')
    .option('--budget <d>', 'machine time for the control and for each mutant', '20s')
    .option(
      '--json <file>',
      'write the kill matrix there (docs/schema/mutants.schema.json; - for standard output)',
    )
    .option(
      '--stall-timeout <d>',
      'the watchdog (how call-with-irqs-off is caught): no progress this long is a stall',
      '3s',
    )
    .option(
      '--no-widen',
      "run every mutant (and the control) without its race-window widening (default: widened, each mutant with its profile's flags)",
    )
    .option(
      '--only <names>',
      `only these mutants, comma-separated (default: all ${MUTANT_NAMES.length}: ${MUTANT_NAMES.join(', ')})`,
    )
    .option('--seed <n>', 'first seed; attempt k runs seed + k (default: random)')
    .option('--quiet', 'no progress lines on stderr', false)
    .action(async (flags: MutantsFlags) => exit(await mutantsCommand(flags, stopOnSignals, argv)));
  cmd.exitOverride();
  return cmd;
}
