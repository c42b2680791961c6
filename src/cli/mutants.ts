/**
 * `hvaemu mutants [--cpus 4] [--budget 20s] [--json FILE]`: the kill matrix.
 * First the patched protocol under every mutant's widening for the budget
 * (the control: it must stay clean), then each mutant of docs/protocol.md section
 * 5 until it is caught or its budget is spent, fresh seeds per attempt.
 * Exit 0 only if the control is clean and every mutant is killed (or, with
 * its reason, equivalent in this model).
 */
import type { Command } from 'commander';
import { EXIT } from '../machine/machine.ts';
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
import { secs, table } from './format.ts';
import { checkWritable, writeJson } from './output.ts';
import { parseDuration, parseInteger, UsageError } from './parse.ts';

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

export type MutantsReport = {
  schema: 1;
  cpus: number;
  budgetMs: number;
  widen: boolean;
  control: ControlResult;
  mutants: HuntResult[];
  ok: boolean;
};

/** Exit code of a kill matrix: 0 all killed and the control clean, 1 otherwise, 4 internal error. */
export function matrixExit(r: MutantsReport): number {
  if (
    r.control.verdict === 'ERROR' ||
    r.mutants.some((m) => (m.errors?.length ?? 0) > 0 && !m.killed)
  ) {
    return EXIT.ERROR;
  }
  return r.ok ? 0 : 1;
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
  out.push(
    '',
    `${r.ok ? 'OK' : 'FAILED'}: control ${r.control.verdict === 'SUCCESS' ? 'clean' : r.control.verdict}, ${caught} of ${r.mutants.length} mutants killed${equiv ? `, ${equiv} equivalent` : ''}`,
  );
  return out.join('\n');
}

function attemptLine(a: AttemptReport): string {
  return `  ${a.name} attempt ${a.attempt} (seed ${a.seed}): ${a.verdict} after ${secs(a.durationMs)}${a.detectedBy ? ` by ${a.detectedBy}` : ''}`;
}

async function mutantsCommand(
  f: MutantsFlags,
  stopOnSignals: () => { signal: AbortSignal; dispose: () => void },
): Promise<number> {
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
    names = f.only.split(',').map((s) => s.trim()) as MutantName[];
    const bad = names.find((n) => !MUTANT_NAMES.includes(n));
    if (bad !== undefined) {
      throw new UsageError(`--only: unknown mutant '${bad}' (one of ${MUTANT_NAMES.join(', ')})`);
    }
  }
  if (f.json) checkWritable(f.json, '--json');

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
  let report: MutantsReport;
  try {
    say(`control: patched protocol, ${secs(budgetMs)}`);
    const control = await runControl(opts, f.widen ? controlWidenings(names) : [{}]);
    const mutants: HuntResult[] = [];
    for (const name of names) {
      if (signals.signal.aborted) break;
      say(`${name}: ${f.widen ? MUTANT_PROFILES[name].why : 'no widening'}`);
      mutants.push(await huntMutant(name, opts));
    }
    const ok =
      control.verdict === 'SUCCESS' &&
      mutants.length === names.length &&
      mutants.every((m) => m.killed || m.equivalent === true);
    report = { schema: 1, cpus, budgetMs, widen: f.widen, control, mutants, ok };
  } finally {
    signals.dispose();
  }
  if (f.json) writeJson(f.json, report);
  process.stdout.write(`${renderMatrix(report)}\n`);
  return matrixExit(report);
}

export function addMutantsCommand(
  program: Command,
  exit: (code: number) => void,
  stopOnSignals: () => { signal: AbortSignal; dispose: () => void },
): Command {
  const cmd = program
    .command('mutants')
    .description(
      'the kill matrix: the patched protocol must stay clean, each known bug (docs/protocol.md section 5) must be caught; exit 0 only if so',
    )
    .option('--cpus <n>', 'simulated CPUs (2..256)', '4')
    .option('--budget <d>', 'machine time for the control and for each mutant', '20s')
    .option('--json <file>', 'write the kill matrix there')
    .option(
      '--stall-timeout <d>',
      'the watchdog (how call-with-irqs-off is caught): no progress this long is a stall',
      '3s',
    )
    .option('--no-widen', 'run every mutant (and the control) without its race-window widening')
    .option('--only <names>', 'only these mutants (comma-separated)')
    .option('--seed <n>', 'first seed; attempt k runs seed + k (default: random)')
    .option('--quiet', 'no progress lines on stderr', false)
    .action(async (flags: MutantsFlags) => exit(await mutantsCommand(flags, stopOnSignals)));
  cmd.exitOverride();
  return cmd;
}
