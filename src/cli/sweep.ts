/**
 * `hvaemu sweep --out DIR`: run the machine over a grid of comma lists
 * (--cpus, --pagevec-size, --spinlock, --host-discard-rate; every other
 * machine flag is one fixed value), one run after the other, and write
 * DIR/sweep.json, DIR/table.txt and SVG charts that answer "what does
 * batching buy us, and how does it scale?".
 *
 * The whole grid is validated before the first run (bad input: one line
 * naming the flag, exit 2). Every point runs with the same seed (the one
 * given, or one drawn for the sweep), so that points differ only by the axes.
 *
 * A sweep is a campaign whose cells are the grid's points (the cell seed is
 * the campaign seed, for every point): --shard I/N (or the job engine's
 * environment, src/campaign/shard.ts) runs every N-th point, and `hvaemu
 * merge` writes the files an unsharded sweep writes from the shards' folders.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import {
  type CampaignInfo,
  campaignId,
  campaignSeed,
  resolveShard,
  SHARD_COUNT_HELP,
  SHARD_HELP,
  type Shard,
  shardCells,
  UNSHARDED,
} from '../campaign/shard.ts';
import { type Config, SPINLOCK_KINDS, type SpinlockKind } from '../config.ts';
import { exitCode, type RunReport, runMachine, type Verdict } from '../machine/machine.ts';
import type { Series } from '../report/charts.ts';
import type { LatencySummary } from '../stats/latency.ts';
import type { LockReport } from '../stats/lockstat.ts';
import { secsShort, si, table } from './format.ts';
import { configJson, locksJson, type Provenance, provenance, roundDeep } from './json.ts';
import { mergeLines, prepareOutDir } from './mutants.ts';
import { addMachineOptions, configFromFlags, type MachineFlags } from './options.ts';
import { fsReason, writeFileAtomic, writeReport } from './output.ts';
import { configWarnings, UsageError, warn } from './parse.ts';

/** The flags a sweep takes as comma lists; the rest of the machine flags are fixed values. */
const AXES = [
  { key: 'cpus', flag: '--cpus', def: '1,2,4', help: 'simulated CPUs (comma list)' },
  {
    key: 'pagevecSize',
    flag: '--pagevec-size',
    def: '1,14',
    help: 'discard pagevec sizes (comma list)',
  },
  {
    key: 'spinlock',
    flag: '--spinlock',
    def: 'pv',
    help: `spinlock kinds: ${SPINLOCK_KINDS.join(', ')} (comma list)`,
  },
  {
    key: 'hostDiscardRate',
    flag: '--host-discard-rate',
    def: '50000',
    help: 'host discards per second (comma list)',
  },
] as const;
type AxisKey = (typeof AXES)[number]['key'];

type SweepFlags = MachineFlags & {
  out: string;
  quiet?: boolean;
  shard?: string;
  shardCount?: string;
};

export type GridPoint = {
  cpus: number;
  pagevecSize: number;
  spinlock: SpinlockKind;
  hostDiscardRate: number;
};

export type SweepPoint = GridPoint & {
  /** The cell seed: the campaign seed (every point runs it, so points differ only by their axes). */
  seed: number;
  verdict: Verdict;
  durationMs: number;
  ops: number;
  opsPerSec: number;
  pagesParked: number;
  /** page_hva_discard_list_lock: acquisitions and contentions, per parked page. */
  discardLock: {
    acquisitions: number;
    contentions: number;
    /** taken by free_hot_cold_page to move a full pagevec (one per flush) */
    byFlush: number;
    /** taken by shrink_discards to splice the list (the rest) */
    byShrink: number;
    acquisitionsPerParked: number;
    contentionsPerParked: number;
    flushesPerParked: number;
    shrinkPerParked: number;
  };
  rendezvous: Omit<LatencySummary, 'histogram'>;
  locks: LockReport[];
  cpuOverWall: number;
  /** What went wrong, for a STALL or an ERROR. */
  problem?: string;
};

export const SWEEP_SCHEMA = 3;

/** docs/schema/sweep.schema.json */
export type SweepReport = Omit<Provenance, 'host'> & {
  schema: typeof SWEEP_SCHEMA;
  kind: 'sweep';
  /** The worst verdict of the points (ERROR > STALL > FAILURE > SUCCESS), or INTERRUPTED. */
  verdict: Verdict;
  exitCode: number;
  signal: string | null;
  startedAt: string;
  endedAt: string;
  /** Points run, of the grid's. */
  runs: number;
  gridSize: number;
  campaign: CampaignInfo;
  axes: { [K in AxisKey]: (string | number)[] };
  /** The configuration of the first point (delays keyed by point name); the axes vary from it. */
  config: ReturnType<typeof configJson>;
  points: SweepPoint[];
  charts: string[];
  /** The machine, and how busy it was: other processes' load skews every figure. */
  host: Provenance['host'] & { loadavgBefore: number[]; loadavgAfter: number[]; wallMs: number };
};

/** `1,2,4` into distinct trimmed items; an empty item names the flag; a repeated one is warned about. */
export function parseList(s: string, flag: string): string[] {
  const items = s.split(',').map((x) => x.trim());
  if (items.some((x) => x === '')) throw new UsageError(`${flag}: empty item in '${s}'`);
  const distinct = [...new Set(items)];
  const twice = distinct.filter((x) => items.indexOf(x) !== items.lastIndexOf(x));
  if (twice.length > 0) {
    warn(`${flag}: ${twice.map((x) => `'${x}'`).join(', ')} given more than once (run once)`);
  }
  return distinct;
}

/** Every point of the grid as a validated Config, or a UsageError naming the flag. */
export function sweepGrid(
  flags: SweepFlags,
  shard: Shard = UNSHARDED,
): { axes: SweepReport['axes']; configs: Config[] } {
  const lists = Object.fromEntries(
    AXES.map((a) => [a.key, parseList(String(flags[a.key] ?? a.def), a.flag)]),
  ) as { [K in AxisKey]: string[] };
  for (const k of lists.spinlock) {
    if (!(SPINLOCK_KINDS as readonly string[]).includes(k)) {
      throw new UsageError(`--spinlock: '${k}' is not one of ${SPINLOCK_KINDS.join(', ')}`);
    }
  }
  const seed = String(campaignSeed(flags.seed, shard));
  const configs: Config[] = [];
  for (const cpus of lists.cpus)
    for (const spinlock of lists.spinlock)
      for (const hostDiscardRate of lists.hostDiscardRate)
        for (const pagevecSize of lists.pagevecSize)
          configs.push(
            configFromFlags({ ...flags, seed, cpus, spinlock, hostDiscardRate, pagevecSize }),
          );
  const axes = {
    cpus: lists.cpus.map(Number),
    pagevecSize: lists.pagevecSize.map(Number),
    spinlock: lists.spinlock,
    hostDiscardRate: lists.hostDiscardRate.map(Number),
  };
  return { axes, configs };
}

const lockNamed = (r: RunReport, name: string): LockReport | undefined =>
  r.locks.find((l) => l.name === name);

/** A point's cell key: `cpus=2,pagevec=14,spinlock=pv,rate=50000`. */
export const pointKey = (p: GridPoint): string =>
  `cpus=${p.cpus},pagevec=${p.pagevecSize},spinlock=${p.spinlock},rate=${p.hostDiscardRate}`;

/** The sweep as a campaign: its cells are the grid's points, in the order an unsharded sweep runs them. */
export function sweepCampaign(configs: Config[], shard: Shard): CampaignInfo {
  const cells = configs.map(pointKey);
  return {
    id: campaignId({ kind: 'sweep', configs: configs.map(configJson) }),
    seed: configs[0]!.seed,
    cells,
    shard,
    merged: null,
  };
}

export function sweepPoint(cfg: Config, r: RunReport): SweepPoint {
  const t = r.totals;
  const dl = lockNamed(r, 'page_hva_discard_list_lock');
  const acq = dl?.acquisitions ?? 0;
  const con = dl?.contentions ?? 0;
  // free_hot_cold_page takes the lock once per full pagevec (listFlushes);
  // shrink_discards once per call, that is once per priority pass of every
  // direct reclaim, whether the list holds pages or not.
  const byFlush = Math.min(t.listFlushes, acq);
  const per = (n: number) => (t.pagesParked > 0 ? n / t.pagesParked : 0);
  const { histogram: _h, ...rendezvous } = r.latency.rendezvous;
  return {
    cpus: cfg.cpus,
    pagevecSize: cfg.pagevecSize,
    spinlock: cfg.spinlock,
    hostDiscardRate: cfg.hostDiscardRate,
    seed: cfg.seed,
    verdict: r.verdict,
    durationMs: r.durationMs,
    ops: t.ops,
    opsPerSec: r.durationMs > 0 ? (t.ops / r.durationMs) * 1000 : 0,
    pagesParked: t.pagesParked,
    discardLock: {
      acquisitions: acq,
      contentions: con,
      byFlush,
      byShrink: acq - byFlush,
      acquisitionsPerParked: per(acq),
      contentionsPerParked: per(con),
      flushesPerParked: per(byFlush),
      shrinkPerParked: per(acq - byFlush),
    },
    rendezvous,
    locks: locksJson(r.locks, cfg.lockstat) as LockReport[],
    cpuOverWall: r.process.cpuOverWall,
    ...(r.error || r.stall ? { problem: r.error?.message ?? r.stall?.reason } : {}),
  };
}

const f3 = (x: number) => (x === 0 ? '0' : x >= 0.1 ? x.toFixed(3) : x.toPrecision(3));

export function sweepTable(points: SweepPoint[]): string {
  const rows: (string | number)[][] = [
    [
      'cpus',
      'pvec',
      'spinlock',
      'discards/s',
      'ops/s',
      'parked',
      'dl acq',
      'dl con',
      'acq/parked',
      '= flush',
      '+ shrink',
      'con/parked',
      'zone con',
      'rdv p99',
      'verdict',
    ],
  ];
  for (const p of points) {
    const zone = p.locks.find((l) => l.name === 'zone->lock');
    rows.push([
      p.cpus,
      p.pagevecSize,
      p.spinlock,
      si(p.hostDiscardRate),
      si(p.opsPerSec),
      si(p.pagesParked),
      si(p.discardLock.acquisitions),
      si(p.discardLock.contentions),
      f3(p.discardLock.acquisitionsPerParked),
      f3(p.discardLock.flushesPerParked),
      f3(p.discardLock.shrinkPerParked),
      f3(p.discardLock.contentionsPerParked),
      si(zone?.contentions ?? 0),
      p.rendezvous.count > 0 ? `${Math.round(p.rendezvous.p99Us)}us` : '-',
      p.verdict,
    ]);
  }
  return table(rows);
}

/**
 * "pagevec 1 over pagevec 14": the discard-list lock acquisitions per parked
 * page at size 1 divided by those at size 14, for every group of points that
 * has both (the patch's batching should buy about 14).
 */
export function batchingRatios(points: SweepPoint[], small = 1, large = 14): string[] {
  const out: string[] = [];
  for (const a of points) {
    if (a.pagevecSize !== small) continue;
    const b = points.find(
      (p) =>
        p.pagevecSize === large &&
        p.cpus === a.cpus &&
        p.spinlock === a.spinlock &&
        p.hostDiscardRate === a.hostDiscardRate,
    );
    if (!b || b.discardLock.acquisitionsPerParked === 0) continue;
    const all = a.discardLock.acquisitionsPerParked / b.discardLock.acquisitionsPerParked;
    const flush = b.discardLock.flushesPerParked
      ? a.discardLock.flushesPerParked / b.discardLock.flushesPerParked
      : 0;
    out.push(
      `${a.cpus} CPU${a.cpus === 1 ? '' : 's'}, ${a.spinlock}, ${si(a.hostDiscardRate)} discards/s: discard-list lock acquisitions per parked page, pagevec ${small} / pagevec ${large} = ${all.toFixed(1)} (flushes alone ${flush.toFixed(1)}; shrink_discards takes it once per priority pass, ${f3(b.discardLock.shrinkPerParked)} per parked page at ${large})`,
    );
  }
  return out;
}

/** The axes other than `x` that take more than one value: they name the series. */
function seriesKey(p: SweepPoint, x: AxisKey, axes: SweepReport['axes']): string {
  const parts: string[] = [];
  for (const a of AXES) {
    if (a.key === x || axes[a.key].length < 2) continue;
    const v = p[a.key];
    parts.push(
      a.key === 'cpus'
        ? `${v} CPU${v === 1 ? '' : 's'}`
        : a.key === 'pagevecSize'
          ? `pagevec ${v}`
          : a.key === 'hostDiscardRate'
            ? `${si(Number(v))} discards/s`
            : String(v),
    );
  }
  return parts.join(', ') || 'all';
}

function seriesOver(
  points: SweepPoint[],
  axes: SweepReport['axes'],
  x: AxisKey,
  y: (p: SweepPoint) => number,
): Series[] {
  const by = new Map<string, Array<[number, number]>>();
  for (const p of points) {
    if (p.durationMs <= 0) continue;
    const k = seriesKey(p, x, axes);
    if (!by.has(k)) by.set(k, []);
    by.get(k)!.push([Number(p[x]), y(p)]);
  }
  return [...by.entries()].map(([name, pts]) => ({
    name,
    points: pts.sort((a, b) => a[0] - b[0]),
  }));
}

/** Draw the charts into `dir`; returns their file names. */
export async function sweepCharts(
  dir: string,
  points: SweepPoint[],
  axes: SweepReport['axes'],
): Promise<string[]> {
  // Loaded here, not at start: vega and vega-lite take a few hundred ms to load.
  const { lineChartSvg } = await import('../report/charts.ts');
  const files: string[] = [];
  const write = (name: string, svg: string) => {
    writeFileAtomic(join(dir, name), svg);
    files.push(name);
  };
  const parked = points.filter((p) => p.pagesParked > 0);
  const acq = seriesOver(parked, axes, 'pagevecSize', (p) => p.discardLock.acquisitionsPerParked);
  const sizes = [...axes.pagevecSize].sort((a, b) => Number(a) - Number(b)).map(Number);
  write(
    'discard-lock-acquisitions.svg',
    await lineChartSvg({
      title: 'page_hva_discard_list_lock acquisitions per parked page',
      xLabel: 'pagevec size',
      yLabel: 'acquisitions per parked page',
      xScale: 'log',
      yScale: 'log',
      series: [...acq, { name: '1 / size (flushes alone)', points: sizes.map((s) => [s, 1 / s]) }],
    }),
  );
  write(
    'discard-lock-contentions.svg',
    await lineChartSvg({
      title: 'page_hva_discard_list_lock contentions per parked page',
      xLabel: 'pagevec size',
      yLabel: 'contentions per parked page',
      xScale: 'log',
      series: seriesOver(parked, axes, 'pagevecSize', (p) => p.discardLock.contentionsPerParked),
    }),
  );
  write(
    'ops-per-sec.svg',
    await lineChartSvg({
      title: 'Throughput against CPUs',
      xLabel: 'CPUs (worker threads)',
      yLabel: 'operations per second',
      series: seriesOver(points, axes, 'cpus', (p) => p.opsPerSec),
    }),
  );
  return files;
}

/** Worst first: the verdict of a sweep is its worst point's. */
const SEVERITY: Verdict[] = ['ERROR', 'STALL', 'FAILURE', 'UNDERCOVERED', 'SUCCESS'];

/** The sweep's verdict: its worst point's, or INTERRUPTED if a signal stopped it (unless an ERROR). */
export function sweepVerdict(points: SweepPoint[], signal: string | null): Verdict {
  const worst = SEVERITY.find((v) => points.some((p) => p.verdict === v)) ?? 'SUCCESS';
  return signal !== null && worst !== 'ERROR' ? 'INTERRUPTED' : worst;
}

/** The last line of a sweep: its verdict, and how many points ended how. */
export function sweepVerdictLine(
  r: Pick<SweepReport, 'verdict' | 'runs' | 'gridSize' | 'points' | 'host'>,
): string {
  const counts = ['SUCCESS', 'UNDERCOVERED', 'FAILURE', 'STALL', 'ERROR', 'INTERRUPTED']
    .map((v) => [v, r.points.filter((p) => p.verdict === v).length] as const)
    .filter(([, n]) => n > 0)
    .map(([v, n]) => `${n} ${v}`);
  const what = `${r.runs} of ${r.gridSize} runs${counts.length ? ` (${counts.join(', ')})` : ''}`;
  if (r.verdict === 'INTERRUPTED') {
    const violations = r.points.some((p) => p.verdict === 'FAILURE')
      ? 'violations found'
      : 'no violation so far';
    return `INTERRUPTED after ${secsShort(r.host.wallMs)}: ${what} (${violations})`;
  }
  return `${r.verdict}: ${what}`;
}

async function sweepCommand(
  flags: SweepFlags,
  stopOnSignals: () => { signal: AbortSignal; dispose: () => void },
  argv: string[],
): Promise<number> {
  const startedAt = new Date();
  const shard = resolveShard(flags.shard, flags.shardCount);
  const { axes, configs } = sweepGrid(flags, shard);
  const dir = prepareOutDir(flags.out, 'sweep.json');
  const first = configs[0]!;
  for (const w of configWarnings(first)) warn(w);
  const campaign = sweepCampaign(configs, shard);
  const mine = shardCells(configs.length, shard).map((k) => configs[k]!);
  const err = process.stderr;
  const say = (s: string) => {
    if (!flags.quiet) err.write(`${s}\n`);
  };
  say(
    `hvaemu sweep: ${mine.length} runs of ${(first.durationMs / 1000).toFixed(1)}s, seed ${first.seed}${shard.count > 1 ? `, shard ${shard.index}/${shard.count} of ${configs.length} (campaign ${campaign.id})` : ''}; results in ${dir}`,
  );
  const loadavgBefore = loadavg();
  const t0 = performance.now();
  const points: SweepPoint[] = [];
  const signals = stopOnSignals();
  try {
    for (const [i, cfg] of mine.entries()) {
      if (signals.signal.aborted) break;
      const r = await runMachine(cfg, { signal: signals.signal });
      const p = sweepPoint(cfg, r);
      points.push(p);
      say(
        `[${i + 1}/${mine.length}] cpus ${cfg.cpus}, pagevec ${cfg.pagevecSize}, ${cfg.spinlock}, ${si(cfg.hostDiscardRate)} discards/s: ${si(p.opsPerSec)} ops/s, ${f3(p.discardLock.acquisitionsPerParked)} discard-lock acquisitions per parked page, ${r.verdict}${p.problem ? ` (${p.problem})` : ''}`,
      );
    }
  } finally {
    signals.dispose();
  }
  const signal = signals.signal.aborted ? String(signals.signal.reason) : null;
  const verdict = sweepVerdict(points, signal);
  const prov = await provenance(argv);
  const report: Omit<SweepReport, 'charts'> = {
    schema: SWEEP_SCHEMA,
    kind: 'sweep',
    verdict,
    exitCode: exitCode(verdict, signal),
    signal,
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    ...prov,
    runs: points.length,
    gridSize: configs.length,
    campaign,
    axes,
    config: configJson(first),
    points,
    host: {
      ...prov.host,
      loadavgBefore,
      loadavgAfter: loadavg(),
      wallMs: performance.now() - t0,
    },
  };
  return writeSweepDir(dir, report);
}

/**
 * Write a sweep's files into `dir` (charts, table.txt, sweep.json), print the
 * table, what was written and the verdict line; returns the exit code.
 * The merge of a sharded sweep writes its files with this too.
 */
export async function writeSweepDir(
  dir: string,
  partial: Omit<SweepReport, 'charts'>,
): Promise<number> {
  const err = process.stderr;
  const { points, axes } = partial;
  const notices: string[] = [];
  let charts: string[] = [];
  try {
    charts = await sweepCharts(dir, points, axes);
  } catch (e) {
    notices.push(`--out: could not write the charts into '${dir}' (${fsReason(e)})`);
  }
  const report: SweepReport = roundDeep({ ...partial, charts });
  const ratios = batchingRatios(points);
  const text = [sweepTable(points), ...(ratios.length ? ['', ...ratios] : [])].join('\n');
  try {
    writeFileAtomic(join(dir, 'table.txt'), `${text}\n`);
  } catch (e) {
    notices.push(`--out: could not write '${join(dir, 'table.txt')}' (${fsReason(e)})`);
  }
  // The table and the verdict first: whatever happens to the files, the sweep is not lost.
  const h = report.host;
  const merged = report.campaign.merged;
  process.stdout.write(
    `${text}\n\n${
      merged === null
        ? `(load average ${h.loadavgBefore[0]!.toFixed(2)} before, ${h.loadavgAfter[0]!.toFixed(2)} after, ${h.cores} cores)`
        : `(merged from ${merged.from.length} reports: ${runsOf(merged.from)})`
    }\n`,
  );
  for (const l of mergeLines(report.campaign)) process.stdout.write(`${l}\n`);
  const w = writeReport(join(dir, 'sweep.json'), report, '--out');
  if (w.notice) notices.push(w.notice);
  else process.stdout.write(`wrote ${w.path}, table.txt, ${charts.join(', ')}\n`);
  for (const n of notices) err.write(`hvaemu: ${n}\n`);
  process.stdout.write(`${sweepVerdictLine(report)}\n`);
  return report.exitCode;
}

/** `shard 1/2 on host-a (SUCCESS, 2 points), ...` */
function runsOf(from: NonNullable<CampaignInfo['merged']>['from']): string {
  return from
    .map(
      (f) =>
        `${f.shard ? `shard ${f.shard.index}/${f.shard.count}` : 'merged'} on ${f.hostname || '?'} (${f.verdict}, ${f.cells} point${f.cells === 1 ? '' : 's'})`,
    )
    .join(', ');
}

/** Register `sweep` on the program; `exit` receives the exit code. */
export function addSweepCommand(
  program: Command,
  exit: (code: number) => void,
  stopOnSignals: () => { signal: AbortSignal; dispose: () => void },
  argv: string[] = [],
): Command {
  const cmd = program
    .command('sweep')
    .description(
      'run a grid of machines (comma lists), write sweep.json, table.txt and SVG charts into --out (exit: the worst verdict, 0 clean, 1 violation, 3 stall, 4 crash; 2 bad usage; 130/143 interrupted)',
    );
  // The machine flags once, from the one declaration; the axes as comma lists.
  const axisFlags = new Set<string>(AXES.map((a) => a.flag));
  for (const o of addMachineOptions(new Command('sweep'), '2s').options) {
    if (!axisFlags.has(o.long ?? '')) cmd.addOption(o);
  }
  for (const a of AXES) cmd.addOption(new Option(`${a.flag} <list>`, a.help).default(a.def));
  cmd
    .requiredOption('--out <dir>', 'results folder (required; created if missing)')
    .option('--shard <I/N>', SHARD_HELP)
    .option('--shard-count <n>', SHARD_COUNT_HELP)
    .option('--quiet', 'no line per run on stderr', false)
    .action(async (flags: SweepFlags) => exit(await sweepCommand(flags, stopOnSignals, argv)));
  cmd.exitOverride();
  return cmd;
}
