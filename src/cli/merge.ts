/**
 * `hvaemu merge DIR... --out DIR`: put a campaign run on several machines
 * back together. Each DIR is a shard's results folder (or a report file):
 *
 *   mutants.json (mutants --out, or any --json)  ->  OUT/mutants.json, matrix.txt
 *   sweep.json (sweep --out)                     ->  OUT/sweep.json, table.txt, charts
 *   summary.json + config.json (soak --out)      ->  OUT/farm.json, farm.txt
 *
 * The first two give the files an unsharded run gives (its cells in campaign
 * order; every shard's control kept), the campaign's `merged` field saying
 * what came from where and which cells are missing or came twice (the first
 * is kept). The soak folders give a farm summary, one row per machine.
 * Shards of different campaigns or versions are refused (exit 2), before
 * anything is written.
 */
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import {
  type CampaignInfo,
  canonicalJson,
  type MergedFrom,
  type MergeInfo,
} from '../campaign/shard.ts';
import { exitCode, type Verdict } from '../machine/machine.ts';
import type { SoakConfig, SoakSummary } from '../soak/soak.ts';
import { secs, si, table } from './format.ts';
import { type Provenance, provenance, roundDeep } from './json.ts';
import {
  emitMatrix,
  type MatrixControl,
  type MatrixRow,
  MUTANTS_SCHEMA,
  type MutantsReport,
  matrixVerdict,
  prepareOutDir,
  rowKey,
} from './mutants.ts';
import { fsReason, writeFileAtomic, writeReport } from './output.ts';
import { UsageError, warn } from './parse.ts';
import {
  pointKey,
  SWEEP_SCHEMA,
  type SweepPoint,
  type SweepReport,
  sweepVerdict,
  writeSweepDir,
} from './sweep.ts';

type MergeFlags = { out: string };

/** A report found in one of the folders. */
type Found =
  | { kind: 'mutants'; file: string; r: MutantsReport }
  | { kind: 'sweep'; file: string; r: SweepReport }
  | { kind: 'soak'; file: string; dir: string; summary: SoakSummary; config: SoakConfig | null };

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`merge: cannot read '${file}': ${fsReason(e)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(
      `merge: '${file}' is not JSON (${e instanceof Error ? e.message : String(e)})`,
    );
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** A soak's summary.json: no `kind`, a soak schema, totals and audits. */
const isSoakSummary = (v: Record<string, unknown>): boolean =>
  v.kind === undefined && 'totals' in v && 'audits' in v && 'verdict' in v;

function classify(file: string, v: unknown): Found | null {
  if (!isObject(v)) return null;
  if (v.kind === 'mutants' || v.kind === 'sweep') {
    const current = v.kind === 'mutants' ? MUTANTS_SCHEMA : SWEEP_SCHEMA;
    if (v.schema !== current || !isObject(v.campaign)) {
      throw new UsageError(
        `merge: '${file}' is a ${v.kind} report of schema ${String(v.schema)}, not ${current} (written by another hvaemu version, before campaigns could be merged)`,
      );
    }
    return v.kind === 'mutants'
      ? { kind: 'mutants', file, r: v as unknown as MutantsReport }
      : { kind: 'sweep', file, r: v as unknown as SweepReport };
  }
  if (basename(file) === 'summary.json' && isSoakSummary(v)) {
    const dir = join(file, '..');
    let config: SoakConfig | null = null;
    try {
      const c = readJson(join(dir, 'config.json'));
      if (isObject(c)) config = c as unknown as SoakConfig;
    } catch {
      // a folder whose config.json is gone still has a row (fewer columns)
    }
    return { kind: 'soak', file, dir, summary: v as unknown as SoakSummary, config };
  }
  return null;
}

/** Every hvaemu report in the folders (and files) given, in the order given; each file once. */
export function findReports(paths: string[]): Found[] {
  const out: Found[] = [];
  const seen = new Map<string, string>();
  for (const p of paths) {
    let files: string[];
    try {
      files = statSync(p).isDirectory()
        ? readdirSync(p)
            .filter((f) => f.endsWith('.json'))
            .sort()
            .map((f) => join(p, f))
        : [p];
    } catch (e) {
      throw new UsageError(`merge: '${p}': ${fsReason(e)}`);
    }
    let found = 0;
    for (const f of files) {
      const real = realpathSync(f);
      const before = seen.get(real);
      if (before !== undefined) {
        warn(`merge: '${f}' is '${before}' again: read once`);
        found++;
        continue;
      }
      seen.set(real, f);
      const r = classify(f, readJson(f));
      if (r) {
        out.push(r);
        found++;
      }
    }
    if (found === 0) {
      throw new UsageError(
        `merge: no hvaemu report in '${p}' (mutants.json or another mutants --json, sweep.json, or a soak's summary.json)`,
      );
    }
  }
  return out;
}

/** `0.1.0 (git 1a2b3c4)`: what must be the same for every shard. */
const versionOf = (version: string, git: { commit: string } | null | undefined): string =>
  `${version || '(unknown)'}${git ? ` (git ${git.commit.slice(0, 12)})` : ''}`;

/**
 * Refuse reports of different hvaemu versions; warn (once) of different git
 * commits of one version (a checkout at another commit may behave otherwise).
 */
function differentVersions(
  fa: string,
  va: string,
  ga: { commit: string } | null | undefined,
  fb: string,
  vb: string,
  gb: { commit: string } | null | undefined,
): void {
  if (va !== vb) {
    throw new UsageError(
      `merge: refused: different versions: '${fa}' is hvaemu ${versionOf(va, ga)}, '${fb}' is ${versionOf(vb, gb)}`,
    );
  }
  if (ga && gb && ga.commit !== gb.commit && !warnedGit) {
    warnedGit = true;
    warn(
      `merge: different commits of hvaemu ${va}: '${fa}' ran git ${ga.commit.slice(0, 12)}, '${fb}' git ${gb.commit.slice(0, 12)}`,
    );
  }
}
let warnedGit = false;

/** Refuse reports of different versions or campaigns (one line naming two of the files). */
function sameCampaign(
  items: { file: string; version: string; git: { commit: string } | null; c: CampaignInfo }[],
): void {
  const a = items[0]!;
  for (const b of items.slice(1)) {
    differentVersions(a.file, a.version, a.git, b.file, b.version, b.git);
    if (a.c.id !== b.c.id) {
      throw new UsageError(
        `merge: refused: different campaigns: '${a.file}' is campaign ${a.c.id} (seed ${a.c.seed}, ${a.c.cells.length} cells), '${b.file}' is ${b.c.id} (seed ${b.c.seed}, ${b.c.cells.length} cells)`,
      );
    }
  }
}

/**
 * Cells of every report, once each, in campaign order; the first report
 * (in the order given) holding a cell keeps it. Missing: campaign cells in
 * no report.
 */
export function mergeCells<T>(
  cells: readonly string[],
  reports: { file: string; rows: T[] }[],
  key: (row: T) => string,
): { rows: T[]; missing: string[]; duplicates: MergeInfo['duplicates'] } {
  const kept = new Map<string, { row: T; files: string[] }>();
  for (const r of reports) {
    for (const row of r.rows) {
      const k = key(row);
      const had = kept.get(k);
      if (had) had.files.push(r.file);
      else kept.set(k, { row, files: [r.file] });
    }
  }
  const order = new Map(cells.map((c, i) => [c, i]));
  const stray = [...kept.keys()].filter((k) => !order.has(k));
  if (stray.length > 0) {
    throw new UsageError(`merge: refused: cell ${stray[0]} is not one of the campaign's`);
  }
  return {
    rows: [...kept.entries()]
      .sort((a, b) => order.get(a[0])! - order.get(b[0])!)
      .map(([, v]) => v.row),
    missing: cells.filter((c) => !kept.has(c)),
    duplicates: [...kept.entries()]
      .filter(([, v]) => v.files.length > 1)
      .map(([cell, v]) => ({ cell, files: v.files })),
  };
}

function fromOf(
  file: string,
  r: {
    version: string;
    git: { commit: string } | null;
    host: { hostname: string };
    startedAt: string;
    verdict: string;
    campaign: CampaignInfo;
  },
  wallMs: number,
  cells: number,
): MergedFrom[] {
  // a merged report brings what it was merged from
  if (r.campaign.merged !== null) return r.campaign.merged.from;
  return [
    {
      file,
      shard: r.campaign.shard,
      version: r.version,
      gitCommit: r.git?.commit ?? null,
      hostname: r.host.hostname,
      startedAt: r.startedAt,
      wallMs,
      verdict: r.verdict,
      cells,
    },
  ];
}

/** ISO times sort as strings. */
const earliest = (xs: string[]) => [...xs].sort()[0]!;
const latest = (xs: string[]) => [...xs].sort().at(-1)!;

/** Worst first. */
const SEVERITY: Verdict[] = ['ERROR', 'STALL', 'FAILURE', 'INTERRUPTED', 'UNDERCOVERED', 'SUCCESS'];
const worst = (vs: Verdict[]): Verdict => SEVERITY.find((v) => vs.includes(v)) ?? 'SUCCESS';

/** The kill matrices of a sharded campaign as one (exported for the tests). */
export function mergeMutants(
  found: { file: string; r: MutantsReport }[],
  prov: Provenance,
): MutantsReport {
  sameCampaign(
    found.map(({ file, r }) => ({ file, version: r.version, git: r.git, c: r.campaign })),
  );
  const first = found[0]!.r;
  const { cells } = first.campaign;
  const { rows, missing, duplicates } = mergeCells<MatrixRow>(
    cells,
    found.map(({ file, r }) => ({ file, rows: r.mutants })),
    rowKey,
  );
  // Every shard's control, once per shard (the first report of a shard keeps it).
  const controlBy = new Map<number, string>();
  const runs: MatrixControl['runs'] = [];
  const verdicts: Verdict[] = [];
  for (const { file, r } of found) {
    const shards = [...new Set(r.control.runs.map((c) => c.shard))];
    const fresh = shards.filter((s) => !controlBy.has(s));
    for (const s of shards) {
      if (controlBy.has(s)) {
        duplicates.push({ cell: `control/${s}`, files: [controlBy.get(s)!, file] });
      } else controlBy.set(s, file);
    }
    if (fresh.length > 0 || shards.length === 0) verdicts.push(r.control.verdict);
    runs.push(...r.control.runs.filter((c) => fresh.includes(c.shard)));
  }
  const control: MatrixControl = {
    verdict: worst(verdicts),
    durationMs: runs.reduce((a, c) => a + c.durationMs, 0),
    runs: runs.sort((a, b) => a.shard - b.shard),
  };
  const verdict = matrixVerdict(control, rows, cells);
  const campaign: CampaignInfo = {
    ...first.campaign,
    shard: null,
    merged: {
      from: found.flatMap(({ file, r }) => fromOf(file, r, r.wallMs, r.mutants.length)),
      missing,
      duplicates,
    },
  };
  return roundDeep({
    ...first,
    verdict,
    exitCode: exitCode(verdict, null),
    signal: null,
    startedAt: earliest(found.map((f) => f.r.startedAt)),
    endedAt: latest(found.map((f) => f.r.endedAt)),
    wallMs: Math.max(...found.map((f) => f.r.wallMs)),
    version: first.version,
    argv: prov.argv,
    git: first.git,
    host: first.host,
    campaign,
    control,
    mutants: rows,
  });
}

/** The sweeps of a sharded campaign as one, charts not drawn yet (exported for the tests). */
export function mergeSweeps(
  found: { file: string; r: SweepReport }[],
  prov: Provenance,
): Omit<SweepReport, 'charts'> {
  sameCampaign(
    found.map(({ file, r }) => ({ file, version: r.version, git: r.git, c: r.campaign })),
  );
  const first = found[0]!.r;
  const { cells } = first.campaign;
  const { rows, missing, duplicates } = mergeCells<SweepPoint>(
    cells,
    found.map(({ file, r }) => ({ file, rows: r.points })),
    pointKey,
  );
  const verdict = sweepVerdict(rows, null);
  const { charts: _c, ...rest } = first;
  return {
    ...rest,
    verdict,
    exitCode: exitCode(verdict, null),
    signal: null,
    startedAt: earliest(found.map((f) => f.r.startedAt)),
    endedAt: latest(found.map((f) => f.r.endedAt)),
    argv: prov.argv,
    runs: rows.length,
    gridSize: cells.length,
    campaign: {
      ...first.campaign,
      shard: null,
      merged: {
        from: found.flatMap(({ file, r }) => fromOf(file, r, r.host.wallMs, r.points.length)),
        missing,
        duplicates,
      },
    },
    points: rows,
    host: { ...first.host, wallMs: Math.max(...found.map((f) => f.r.host.wallMs)) },
  };
}

export const FARM_SCHEMA = 1;

/** One machine of a soak farm: its folder's summary.json (and config.json). */
export type FarmMachine = {
  dir: string;
  hostname: string;
  /** The soak's verdict; RUNNING if its summary is provisional and its process alive, DIED if gone. */
  verdict: Verdict | 'RUNNING' | 'DIED';
  exitCode: number | null;
  endReason: string | null;
  startedAt: string;
  endedAt: string | null;
  durationMs: number;
  seed: number;
  ops: number;
  opsPerSec: number;
  violations: number;
  audits: number;
  auditsFailed: number;
  stall: boolean;
  leakSuspected: boolean | null;
  version: string | null;
  gitCommit: string | null;
};

/** docs/schema/soak-farm.schema.json */
export type FarmReport = Omit<Provenance, 'host'> & {
  schema: typeof FARM_SCHEMA;
  kind: 'soak-farm';
  /** The worst verdict of the machines that ended (ERROR > STALL > FAILURE > INTERRUPTED > SUCCESS). */
  verdict: Verdict;
  exitCode: number;
  createdAt: string;
  /** The configuration every machine ran, but its seed (null if no folder kept its config.json). */
  config: Record<string, unknown> | null;
  machines: FarmMachine[];
  /** Machines not ended: still RUNNING, or DIED. */
  unfinished: string[];
  /** Seeds run by more than one machine (the same soak twice). */
  duplicates: { seed: number; dirs: string[] }[];
  totals: {
    machines: number;
    durationMs: number;
    ops: number;
    violations: number;
    auditsFailed: number;
    stalls: number;
  };
};

/** What two soak configurations may differ in and still be one farm. */
function farmConfig(c: SoakConfig): Record<string, unknown> {
  const { seed: _s, argv: _a, startedAt: _t, host: _h, git: _g, version: _v, soak, ...rest } = c;
  const { out: _o, ...soakRest } = soak;
  return { ...rest, soak: soakRest };
}

export async function mergeSoaks(
  found: Extract<Found, { kind: 'soak' }>[],
  prov: Provenance,
): Promise<FarmReport> {
  const { soakLiveness } = await import('../soak/soak.ts');
  const withConfig = found.filter((f) => f.config !== null);
  const a = withConfig[0];
  for (const b of withConfig.slice(1)) {
    const ca = a!.config!;
    const cb = b.config!;
    differentVersions(a!.dir, ca.version, ca.git, b.dir, cb.version, cb.git);
    const fa = farmConfig(ca);
    const fb = farmConfig(cb);
    const keys = [...new Set([...Object.keys(fa), ...Object.keys(fb)])].filter(
      (k) => canonicalJson(fa[k]) !== canonicalJson(fb[k]),
    );
    if (keys.length > 0) {
      throw new UsageError(
        `merge: refused: different soaks: '${a!.dir}' and '${b.dir}' differ in ${keys.join(', ')} (a farm runs one configuration, the seed aside)`,
      );
    }
  }
  const machines: FarmMachine[] = found.map(({ dir, summary: s, config: c }) => {
    const live = soakLiveness(s);
    const verdict = live.state === 'ENDED' ? (s.verdict as Verdict) : live.state;
    const mem = s.memory as { leakSuspected?: boolean } | undefined;
    return {
      dir,
      hostname: s.hostname ?? c?.host.hostname ?? '',
      verdict,
      exitCode: s.exitCode,
      endReason: s.endReason,
      startedAt: s.startedAt,
      endedAt: s.endedAt,
      durationMs: s.durationMs,
      seed: s.seed,
      ops: s.totals.ops,
      opsPerSec: s.durationMs > 0 ? (s.totals.ops / s.durationMs) * 1000 : 0,
      violations: s.violations.total,
      audits: s.audits.periodic,
      auditsFailed: s.audits.failed,
      stall: s.stall !== null && s.stall !== undefined,
      leakSuspected: typeof mem?.leakSuspected === 'boolean' ? mem.leakSuspected : null,
      version: c?.version ?? null,
      gitCommit: c?.git?.commit ?? null,
    };
  });
  const ended = machines.filter((m) => m.verdict !== 'RUNNING' && m.verdict !== 'DIED');
  const verdict = worst(ended.map((m) => m.verdict as Verdict));
  const bySeed = new Map<number, string[]>();
  for (const m of machines) bySeed.set(m.seed, [...(bySeed.get(m.seed) ?? []), m.dir]);
  const first = a?.config;
  return roundDeep({
    schema: FARM_SCHEMA,
    kind: 'soak-farm',
    verdict,
    exitCode: exitCode(verdict, null),
    createdAt: new Date().toISOString(),
    version: first?.version ?? prov.version,
    argv: prov.argv,
    git: first?.git ?? prov.git,
    config: first ? farmConfig(first) : null,
    machines,
    unfinished: machines.filter((m) => !ended.includes(m)).map((m) => m.dir),
    duplicates: [...bySeed.entries()]
      .filter(([, dirs]) => dirs.length > 1)
      .map(([seed, dirs]) => ({ seed, dirs })),
    totals: {
      machines: machines.length,
      durationMs: machines.reduce((x, m) => x + m.durationMs, 0),
      ops: machines.reduce((x, m) => x + m.ops, 0),
      violations: machines.reduce((x, m) => x + m.violations, 0),
      auditsFailed: machines.reduce((x, m) => x + m.auditsFailed, 0),
      stalls: machines.filter((m) => m.stall).length,
    },
  });
}

export function renderFarm(r: FarmReport): string {
  const c = r.config as { cpus?: number; protocol?: string; durationMs?: number } | null;
  const rows: (string | number)[][] = [
    [
      'machine',
      'folder',
      'verdict',
      'ran',
      'ops/s',
      'violations',
      'audits',
      'failed',
      'stall',
      'leak',
      'seed',
    ],
  ];
  for (const m of r.machines) {
    rows.push([
      m.hostname || '?',
      m.dir,
      m.verdict,
      secs(m.durationMs),
      si(m.opsPerSec),
      m.violations,
      m.audits,
      m.auditsFailed,
      m.stall ? 'yes' : '-',
      m.leakSuspected === null ? '?' : m.leakSuspected ? 'yes' : '-',
      m.seed,
    ]);
  }
  const t = r.totals;
  const out = [
    `hvaemu soak farm: ${t.machines} machine${t.machines === 1 ? '' : 's'}${c ? `, ${c.cpus} CPUs, protocol ${c.protocol}, ${secs(c.durationMs ?? 0)} each` : ''} (hvaemu ${versionOf(r.version, r.git)})`,
    '',
    table(rows),
    '',
    `total: ${secs(t.durationMs)} of machine time, ${si(t.ops)} ops, ${t.violations} violations, ${t.auditsFailed} failed audits, ${t.stalls} stalls`,
  ];
  for (const d of r.duplicates) {
    out.push(`duplicate seed ${d.seed}: ${d.dirs.join(', ')} (the same soak twice)`);
  }
  if (r.unfinished.length) out.push(`not ended (RUNNING or DIED): ${r.unfinished.join(', ')}`);
  const clean = r.machines.filter((m) => m.verdict === 'SUCCESS').length;
  out.push('', `${r.verdict}: ${clean} of ${t.machines} machines clean`);
  return out.join('\n');
}

/** At least 1 when the campaign is incomplete, else the merged report's exit code. */
const incompleteExit = (code: number, incomplete: boolean) => (code === 0 && incomplete ? 1 : code);

async function mergeCommand(dirs: string[], f: MergeFlags, argv: string[]): Promise<number> {
  if (dirs.length === 0) throw new UsageError("merge: give the shards' folders (DIR...)");
  const found = findReports(dirs);
  const kinds = [...new Set(found.map((x) => x.kind))];
  if (kinds.length > 1) {
    const files = kinds.map((k) => `${k} ('${found.find((x) => x.kind === k)!.file}')`);
    throw new UsageError(`merge: refused: reports of different kinds: ${files.join(', ')}`);
  }
  const file = { mutants: 'mutants.json', sweep: 'sweep.json', soak: 'farm.json' }[kinds[0]!];
  const prov = await provenance(argv);
  // Everything checked before the folder is made: a refusal writes nothing.
  if (kinds[0] === 'mutants') {
    const r = mergeMutants(found as Extract<Found, { kind: 'mutants' }>[], prov);
    const out = prepareOutDir(f.out, file);
    emitMatrix(r, undefined, out);
    return incompleteExit(r.exitCode, r.campaign.merged!.missing.length > 0);
  }
  if (kinds[0] === 'sweep') {
    const r = mergeSweeps(found as Extract<Found, { kind: 'sweep' }>[], prov);
    const out = prepareOutDir(f.out, file);
    const code = await writeSweepDir(out, r);
    return incompleteExit(code, r.campaign.merged!.missing.length > 0);
  }
  const r = await mergeSoaks(found as Extract<Found, { kind: 'soak' }>[], prov);
  const out = prepareOutDir(f.out, file);
  const text = renderFarm(r);
  process.stdout.write(`${text}\n`);
  const notices: string[] = [];
  try {
    writeFileAtomic(join(out, 'farm.txt'), `${text}\n`);
  } catch (e) {
    notices.push(`--out: could not write '${join(out, 'farm.txt')}' (${fsReason(e)})`);
  }
  const w = writeReport(join(out, file), r, '--out');
  if (w.notice) notices.push(w.notice);
  for (const n of notices) process.stderr.write(`hvaemu: ${n}\n`);
  return incompleteExit(r.exitCode, r.unfinished.length > 0);
}

export function addMergeCommand(
  program: Command,
  exit: (code: number) => void,
  argv: string[] = [],
): Command {
  const cmd = program
    .command('merge')
    .argument('<dir...>', "the shards' results folders (or report files)")
    .description(
      "merge the shards of a campaign (mutants --out/--json, sweep --out: the files an unsharded run writes) or soak folders (a farm summary, one row per machine) into --out; refuses different campaigns or versions (exit: the merged report's; at least 1 if cells are missing or a soak has not ended; 2 refused or bad usage)",
    )
    .requiredOption('--out <dir>', 'where the merged files go (created if missing)')
    .action(async (dirs: string[], flags: MergeFlags) =>
      exit(await mergeCommand(dirs, flags, argv)),
    );
  cmd.exitOverride();
  return cmd;
}
