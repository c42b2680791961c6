/**
 * `hvaemu mutants [--cpus 4] [--budget 20s] [--json FILE] [--out DIR]`: the
 * kill matrix. First the patched protocol under every mutant's widening for
 * the budget (the control: it must stay clean), then each cell (a mutant of
 * docs/protocol.md section 5 and a cell seed, --seeds per mutant) until it is
 * caught or its budget is spent, attempt k running the cell seed + k.
 * Exit 0 only if the control is clean and every cell is killed (or, with
 * its reason, equivalent in this model).
 *
 * A campaign shards (--shard I/N, or the job engine's environment:
 * src/campaign/shard.ts): shard I runs the control and its share of the
 * cells; `hvaemu merge` puts the shards' reports back together.
 */

import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  type CampaignInfo,
  campaignId,
  campaignSeed,
  cellSeed,
  resolveShard,
  SHARD_COUNT_HELP,
  SHARD_HELP,
  shardCells,
} from '../campaign/shard.ts';
import type { Config } from '../config.ts';
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
  SCHED_HUNT_STEPS,
  widenFlags,
} from '../machine/mutants.ts';
import { renderMatrixCoverage } from '../report/coverage.ts';
import { secs, secsShort, table } from './format.ts';
import { type Provenance, provenance, roundDeep } from './json.ts';
import { parseSched } from './options.ts';
import {
  checkWritable,
  fsReason,
  makeDirs,
  STDOUT,
  writeFileAtomic,
  writeReport,
} from './output.ts';
import { parseDuration, parseInteger, UsageError, warn } from './parse.ts';

type MutantsFlags = {
  cpus: string;
  budget: string;
  json?: string;
  out?: string;
  stallTimeout: string;
  widen: boolean;
  only?: string;
  seed?: string;
  seeds: string;
  shard?: string;
  shardCount?: string;
  quiet?: boolean;
  lockdep: boolean;
  guided?: boolean;
  sched?: string;
  steps?: string;
};

export const MUTANTS_SCHEMA = 3;

/** One cell of the kill matrix: a mutant hunted from one cell seed. */
export type MutantCell = {
  name: MutantName;
  /** 0..seeds-1: which of the mutant's cells (--seeds). */
  replica: number;
  /** `name/replica`, as the campaign lists it. */
  key: string;
  /** cellSeed(campaign seed, key): the hunt's first attempt runs it, attempt k runs it + k. */
  seed: number;
};

/** A row of the matrix: a hunt, its `seed` the cell's. */
export type MatrixRow = Omit<HuntResult, 'seed'> & {
  replica: number;
  /** The cell seed (the first attempt's). */
  seed: number;
  /** The seed of the attempt that killed it (or of the last): `hvaemu run --seed` it to see it again. */
  attemptSeed: number;
};

/** The control: each shard runs it (the runs say which). */
export type MatrixControl = Omit<ControlResult, 'runs'> & {
  runs: (ControlResult['runs'][number] & { shard: number })[];
};

/** docs/schema/mutants.schema.json */
export type MutantsReport = Provenance & {
  schema: typeof MUTANTS_SCHEMA;
  kind: 'mutants';
  /**
   * SUCCESS: the control clean and every cell killed (or equivalent);
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
  /** --sched random|pct: the controlled scheduler of every run (each attempt a schedule). */
  sched?: Config['sched'];
  /** The mutants asked for (--only, or all). */
  names: MutantName[];
  /** Cells per mutant (--seeds). */
  seeds: number;
  campaign: CampaignInfo;
  control: MatrixControl;
  /** This report's cells, in campaign order. */
  mutants: MatrixRow[];
};

/** The campaign's cells: every mutant, `seeds` cells each, mutant by mutant. */
export function mutantCells(
  names: readonly MutantName[],
  seeds: number,
  campaignSeed: number,
): MutantCell[] {
  const out: MutantCell[] = [];
  for (const name of names) {
    for (let replica = 0; replica < seeds; replica++) {
      const key = `${name}/${replica}`;
      out.push({ name, replica, key, seed: cellSeed(campaignSeed, key) });
    }
  }
  return out;
}

/** A matrix row's cell key. */
export const rowKey = (m: Pick<MatrixRow, 'name' | 'replica'>): string => `${m.name}/${m.replica}`;

/** The control's seed in shard I: derived from the campaign seed and the shard. */
export const controlSeed = (campaignSeed: number, shard: number): number =>
  cellSeed(campaignSeed, `control/${shard}`);

/** What makes two kill matrices the same campaign (never the shard, nor the version: merge checks that apart). */
export function mutantsCampaignId(d: {
  seed: number;
  cells: string[];
  cpus: number;
  budgetMs: number;
  stallTimeoutMs: number;
  widen: boolean;
  names: readonly MutantName[];
  /** --sched random|pct (absent under os, so that an os campaign's id is what it was) */
  sched?: Pick<Config['sched'], 'kind' | 'depth' | 'steps'>;
}): string {
  const { sched, ...rest } = d;
  return campaignId({
    kind: 'mutants',
    ...rest,
    ...(sched ? { sched: { kind: sched.kind, depth: sched.depth, steps: sched.steps } } : {}),
    widenings: d.names.map((n) => (d.widen ? widenFlags(MUTANT_PROFILES[n].widen) : '')),
  });
}

/**
 * The verdict of a kill matrix (before any signal): ERROR on internal errors,
 * else SUCCESS if the control is clean and all `expected` cells (a count,
 * or the list of them) are there, killed or equivalent; else FAILURE.
 */
export function matrixVerdict(
  control: Pick<ControlResult, 'verdict'>,
  mutants: Pick<HuntResult, 'killed' | 'equivalent' | 'errors'>[],
  expected: number | readonly string[],
): 'SUCCESS' | 'FAILURE' | 'ERROR' {
  if (
    control.verdict === 'ERROR' ||
    mutants.some((m) => (m.errors?.length ?? 0) > 0 && !m.killed)
  ) {
    return 'ERROR';
  }
  const ok =
    control.verdict === 'SUCCESS' &&
    mutants.length === (typeof expected === 'number' ? expected : expected.length) &&
    mutants.every((m) => m.killed || m.equivalent === true);
  return ok ? 'SUCCESS' : 'FAILURE';
}

/** Exit code of a kill matrix: its verdict's (0, 1, 4; 130 or 143 interrupted). */
export function matrixExit(r: Pick<MutantsReport, 'verdict' | 'signal'>): number {
  return exitCode(r.verdict, r.signal);
}

/** The cells this report should hold: its shard's share, or (merged) the whole campaign. */
export function expectedCells(c: CampaignInfo): string[] {
  return c.shard === null ? c.cells : shardCells(c.cells.length, c.shard).map((k) => c.cells[k]!);
}

/** `campaign 1a2b.., seed 7, shard 2/3: 4 of 11 cells` (nothing for a plain unsharded run). */
export function campaignLine(c: CampaignInfo, held: number): string | null {
  if (c.merged !== null) {
    const m = c.merged;
    return `campaign ${c.id}, seed ${c.seed}: merged from ${m.from.length} report${m.from.length === 1 ? '' : 's'}, ${held} of ${c.cells.length} cells${m.missing.length ? `, ${m.missing.length} MISSING` : ''}${m.duplicates.length ? `, ${m.duplicates.length} duplicate${m.duplicates.length === 1 ? '' : 's'}` : ''}`;
  }
  if (c.shard === null || c.shard.count === 1) return null;
  return `campaign ${c.id}, seed ${c.seed}, shard ${c.shard.index}/${c.shard.count}${c.shard.source === '--shard' ? '' : ` (from ${c.shard.source})`}: ${expectedCells(c).length} of ${c.cells.length} cells`;
}

/** The merge's findings, one line each (empty if none). */
export function mergeLines(c: CampaignInfo): string[] {
  const m = c.merged;
  if (m === null) return [];
  const out: string[] = [];
  if (m.missing.length) out.push(`missing cells (in no report): ${m.missing.join(', ')}`);
  for (const d of m.duplicates) {
    out.push(`duplicate cell ${d.cell}: in ${d.files.join(', ')} (the first kept)`);
  }
  return out;
}

export function renderMatrix(r: MutantsReport): string {
  const many = r.seeds > 1;
  const sched = r.sched !== undefined;
  const rows: string[][] = [
    [
      'mutant',
      'killed',
      'detected by',
      'time',
      'cell seed',
      'seed',
      ...(sched ? ['schedules', 'steps'] : ['tries']),
    ],
  ];
  for (const m of r.mutants) {
    rows.push([
      many ? `${m.name} #${m.replica}` : m.name,
      m.killed ? 'yes' : m.equivalent ? 'equiv.' : 'NO',
      m.detectedBy ?? '-',
      m.timeToDetectMs === null
        ? '-'
        : m.timeToDetectMs < 1000
          ? `${Math.round(m.timeToDetectMs)}ms`
          : secs(m.timeToDetectMs),
      String(m.seed),
      String(m.attemptSeed),
      ...(sched
        ? [String(m.schedules ?? m.attempts), String(m.steps ?? '-')]
        : [String(m.attempts)]),
    ]);
  }
  const campaign = campaignLine(r.campaign, r.mutants.length);
  const out = [
    `hvaemu mutants: ${r.cpus} CPUs, budget ${secs(r.budgetMs)} ${sched ? 'of schedules' : 'of machine time'} each${r.widen ? '' : ', no widening'}${many ? `, ${r.seeds} cells per mutant` : ''}${r.sched ? `, --sched ${schedName(r.sched)}: schedules of ${r.sched.steps} steps` : ''}`,
    ...(campaign !== null ? [campaign] : []),
    '',
    `control: the patched protocol under each mutant's widening: ${r.control.verdict} after ${secs(r.control.durationMs)}`,
  ];
  const shards = new Set(r.control.runs.map((c) => c.shard)).size > 1;
  for (const c of r.control.runs) {
    const ran = c.schedules !== undefined ? `  ${c.schedules} schedules, ${c.steps} steps` : '';
    out.push(
      `  ${c.verdict.padEnd(7)} ${secs(c.durationMs).padStart(6)}  seed ${String(c.seed).padEnd(10)}  ${shards ? `shard ${c.shard}  ` : ''}${c.widening || '(no widening)'}${ran}`,
    );
    for (const l of c.evidence ?? []) out.push(`      ${l}`);
  }
  const coverage = renderMatrixCoverage(r);
  if (coverage.length > 0) out.push('', ...coverage);
  out.push('', table(rows), '', 'widening (hvaemu run flags):');
  const named = [...new Map(r.mutants.map((m) => [m.name, m])).values()];
  const w = Math.max(0, ...named.map((m) => m.name.length));
  for (const m of named) out.push(`  ${m.name.padEnd(w)}  ${m.widening || '(none)'}`);
  for (const m of r.mutants) {
    const name = many ? `${m.name} #${m.replica}` : m.name;
    if (m.equivalent) out.push('', `${name}: equivalent here: ${m.reason}`);
    if (m.errors) out.push('', `${name}: internal errors: ${m.errors.join('; ')}`);
  }
  const merge = mergeLines(r.campaign);
  if (merge.length) out.push('', ...merge);
  const expected = expectedCells(r.campaign).length;
  const caught = r.mutants.filter((m) => m.killed).length;
  const equiv = r.mutants.filter((m) => m.equivalent).length;
  const of = many || r.campaign.shard?.count !== 1 ? `${expected} cells` : `${expected} mutants`;
  const what = `control ${r.control.verdict === 'SUCCESS' ? 'clean' : r.control.verdict}, ${caught} of ${of} killed${equiv ? `, ${equiv} equivalent` : ''}`;
  out.push(
    '',
    r.verdict === 'INTERRUPTED'
      ? `INTERRUPTED after ${secsShort(r.wallMs)}: ${what}, ${expected - r.mutants.length} not hunted`
      : `${r.verdict}: ${what}`,
  );
  return out.join('\n');
}

const schedName = (s: Config['sched']) => (s.kind === 'pct' ? `pct:${s.depth}` : s.kind);

function attemptLine(a: AttemptReport): string {
  return `  ${a.name} attempt ${a.attempt} (seed ${a.seed}): ${a.verdict} after ${secs(a.durationMs)}${a.detectedBy ? ` by ${a.detectedBy}` : ''}`;
}

/** Create --out and try a file in it now: a bad folder is a usage error before any thread starts. */
export function prepareOutDir(out: string, file: string, flag = '--out'): string {
  const dir = resolve(out);
  try {
    makeDirs(dir);
  } catch (e) {
    throw new UsageError(`${flag}: cannot create '${out}': ${fsReason(e)}`);
  }
  checkWritable(join(dir, file), flag);
  return dir;
}

/**
 * `--out DIR`: DIR/mutants.json and DIR/matrix.txt (the text matrix).
 * Returns the notices for stderr (empty if all was written).
 */
export function writeMutantsDir(dir: string, r: MutantsReport, text: string): string[] {
  const notices: string[] = [];
  try {
    writeFileAtomic(join(dir, 'matrix.txt'), `${text}\n`);
  } catch (e) {
    notices.push(`--out: could not write '${join(dir, 'matrix.txt')}' (${fsReason(e)})`);
  }
  const w = writeReport(join(dir, 'mutants.json'), r, '--out');
  if (w.notice) notices.push(w.notice);
  return notices;
}

/** Print the matrix and write --json and --out; returns the report's exit code. */
export function emitMatrix(r: MutantsReport, json: string | undefined, out: string | undefined) {
  // The text first: whatever happens to the JSON, the matrix is not lost.
  const stream = json === STDOUT ? process.stderr : process.stdout;
  const text = renderMatrix(r);
  stream.write(`${text}\n`);
  const notices: string[] = [];
  if (out !== undefined) notices.push(...writeMutantsDir(out, r, text));
  if (json !== undefined) {
    const w = writeReport(json, r, '--json');
    if (w.notice) notices.push(w.notice);
  }
  for (const n of notices) process.stderr.write(`hvaemu: ${n}\n`);
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
  const seeds = parseInteger(f.seeds, '--seeds');
  if (seeds < 1 || seeds > 10_000) throw new UsageError(`--seeds: must be 1..10000 (got ${seeds})`);
  const shard = resolveShard(f.shard, f.shardCount);
  const seed = campaignSeed(f.seed, shard);
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
  const outDir = f.out !== undefined ? prepareOutDir(f.out, 'mutants.json') : undefined;

  const parsedSched =
    f.sched !== undefined || f.steps !== undefined
      ? parseSched(f.sched ?? 'os', f.steps, SCHED_HUNT_STEPS)
      : undefined;
  const sched = parsedSched?.kind === 'os' ? undefined : parsedSched;
  const cells = mutantCells(names, seeds, seed);
  const mine = shardCells(cells.length, shard).map((k) => cells[k]!);
  const campaign: CampaignInfo = {
    id: mutantsCampaignId({
      seed,
      cells: cells.map((c) => c.key),
      cpus,
      budgetMs,
      stallTimeoutMs,
      widen: f.widen,
      names,
      ...(sched ? { sched } : {}),
    }),
    seed,
    cells: cells.map((c) => c.key),
    shard,
    merged: null,
  };
  const signals = stopOnSignals();
  const say = (s: string) => {
    if (!f.quiet) process.stderr.write(`${s}\n`);
  };
  const line = campaignLine(campaign, mine.length);
  if (line !== null) say(line);
  const opts: HuntOptions = {
    cpus,
    budgetMs,
    widen: f.widen,
    stallTimeoutMs,
    signal: signals.signal,
    // under a controlled scheduler an attempt is one schedule of hundreds: only those that end otherwise
    onAttempt: (a) => {
      if (sched === undefined || a.verdict !== 'SUCCESS') say(attemptLine(a));
    },
    ...(f.lockdep === false ? { lockdep: false } : {}),
    ...(f.guided ? { guided: true } : {}),
    ...(sched ? { sched } : {}),
  };
  const t0 = performance.now();
  let control: ControlResult;
  const mutants: MatrixRow[] = [];
  try {
    say(`control: patched protocol, ${secs(budgetMs)}`);
    control = await runControl(
      { ...opts, seed: controlSeed(seed, shard.index) },
      f.widen ? controlWidenings(names) : [{}],
    );
    for (const cell of mine) {
      if (signals.signal.aborted) break;
      say(
        `${seeds > 1 ? `${cell.name} #${cell.replica}` : cell.name}: ${f.widen ? MUTANT_PROFILES[cell.name].why : 'no widening'}`,
      );
      const h = await huntMutant(cell.name, { ...opts, seed: cell.seed });
      if (sched) {
        say(
          `  ${h.killed ? `killed by ${h.detectedBy}` : 'not killed'} after ${h.schedules} schedules, ${h.steps} steps (${secs(h.wallMs)})`,
        );
      }
      const { seed: attemptSeed, ...rest } = h;
      mutants.push({ ...rest, replica: cell.replica, seed: cell.seed, attemptSeed });
    }
  } finally {
    signals.dispose();
  }
  const judged = matrixVerdict(control, mutants, mine.length);
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
    ...(f.json !== undefined || outDir !== undefined
      ? await provenance(argv)
      : emptyProvenance(argv)),
    cpus,
    budgetMs,
    widen: f.widen,
    ...(sched ? { sched } : {}),
    names,
    seeds,
    campaign,
    control: { ...control, runs: control.runs.map((c) => ({ ...c, shard: shard.index })) },
    mutants,
  });
  emitMatrix(report, f.json, outDir);
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
    .option('--budget <d>', 'machine time for the control and for each cell', '20s')
    .option(
      '--json <file>',
      'write the kill matrix there (docs/schema/mutants.schema.json; - for standard output)',
    )
    .option(
      '--out <dir>',
      'write mutants.json and matrix.txt into this folder (created if missing; what hvaemu merge reads and writes)',
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
    .option(
      '--seed <n>',
      "the campaign seed: each cell's seed is derived from it and the cell (mutant/replica), attempt k of a cell runs cell seed + k (default: random; required with --shard)",
    )
    .option('--seeds <k>', 'cells per mutant: each hunted from k cell seeds', '1')
    .option('--shard <I/N>', SHARD_HELP)
    .option('--shard-count <n>', SHARD_COUNT_HELP)
    .option('--no-lockdep', 'hunt without the lock validator (the oracle and the watchdog alone)')
    .option(
      '--guided',
      'feedback-directed widening in every run (the bandit of run --guided) on top of each profile',
      false,
    )
    .option(
      '--sched <kind>',
      'os (default), random or pct[:DEPTH]: each attempt is one controlled schedule (attempts count schedules)',
    )
    .option(
      '--steps <n>',
      `decisions per controlled schedule (with --sched random|pct; default ${SCHED_HUNT_STEPS})`,
    )
    .option('--quiet', 'no progress lines on stderr', false)
    .action(async (flags: MutantsFlags) => exit(await mutantsCommand(flags, stopOnSignals, argv)));
  cmd.exitOverride();
  return cmd;
}
