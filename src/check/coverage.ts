/**
 * Race coverage: the hazards of a protocol version and their near misses.
 *
 * A near miss is a dangerous overlap that happened and that the protocol
 * defused: a frame left the page cache while some CPU's discard-fault window
 * W was open on it, and the frame did not reach the allocator until that
 * window closed. (A frame *freed* inside a window is the violation itself,
 * free-in-window, not a near miss.) Each protocol module declares the hazards
 * its code has (DiscardProtocol.hazards); the kernel counts every near miss
 * in its CPU's stats block (layout.ts COUNTERS, the nm* counters), from the
 * oracle's own window bookkeeping: ghost_wtarget (how many CPUs have a W open
 * on a frame) and the fault records (which CPU is inside a W). There is no
 * second bookkeeping; these hooks only read it.
 *
 * ghost_wtarget counts only with the absolute fault address (the default):
 * with --fault-address virtual the pte pins the frame and the window is no
 * hazard, so the window hazards then have no near misses.
 *
 * The report (`coverage`) gives per hazard its near misses, their rate, and
 * whether it is one of the rarest; --min-coverage N turns a SUCCESS with a
 * hazard under N near misses into UNDERCOVERED.
 */
import type { Config } from '../config.ts';
import { protocolModule } from '../config.ts';
import { K as THIS_CPU } from '../kernel/k.ts';
import { protocol_ops } from '../kernel/protocol/index.ts';
import { CNT as CNT_, type CounterName, FAULTREC as FAULTREC_ } from '../shm/layout.ts';

/**
 * This CPU and the layout's (events', checks') constants as module-local
 * consts, which V8's optimizing compiler folds; imported bindings are cells
 * it loads and tests at every use (k.ts).
 */
const K = THIS_CPU;
const CNT = CNT_;
const FAULTREC = FAULTREC_;

/** Every hazard a protocol version may declare: its counter and what it is. */
export const HAZARDS = {
  'cache-remove-in-window': {
    counter: 'nmCacheRemoveInWindow',
    what: "a frame left the page cache while a CPU's discard-fault window was open on it",
  },
  'park-in-window': {
    counter: 'nmParkInWindow',
    what: 'a frame was parked on a discard pagevec while a window was open on it',
  },
  'flush-in-window': {
    counter: 'nmFlushInWindow',
    what: 'a pagevec flush moved a frame to the discard list while a window was open on it',
  },
  'splice-in-window': {
    counter: 'nmSpliceInWindow',
    what: 'shrink_discards spliced a frame off the discard list while a window was open on it',
  },
  'last-put-in-window': {
    counter: 'nmLastPutInWindow',
    what: "the last reference to a frame was dropped during another CPU's window on it",
  },
  'ipi-to-window': {
    counter: 'nmIpiToWindow',
    what: 'a rendezvous sent its IPI to a CPU that was inside a window (on any frame)',
  },
  'refused-parked': {
    counter: 'nmRefusedParked',
    what: 'a discard fault was refused its reference because the frame was parked (count 0)',
  },
  'double-fault': {
    counter: 'nmDoubleFault',
    what: 'two CPUs were inside a discard-fault window on one frame at once',
  },
  'discard-lock-contended': {
    counter: 'nmDiscardLockContended',
    what: 'a flush or a splice found the discard-list lock held',
  },
  'irq-last-put': {
    counter: 'irqFrees',
    what: 'the last reference to a page was dropped in interrupt context',
  },
  'irq-discard-to-put': {
    counter: 'nmIrqDiscardToPut',
    what: "an interrupt was taken between a discard fault's discard and its put_page",
  },
  'tx-free-uncached': {
    counter: 'nmTxFreeUncached',
    what: 'NET_TX dropped the reference of a page that had left the page cache',
  },
} as const satisfies Record<string, { counter: CounterName; what: string }>;

export type Hazard = keyof typeof HAZARDS;
export const HAZARD_NAMES = Object.keys(HAZARDS) as Hazard[];

// ---- the kernel's hooks (CPU threads) -----------------------------------

/** Count one near miss of the hazard whose counter is `cnt` (CNT.nm*) on this CPU. */
export function near_miss(cnt: number): void {
  K.f64[K.stats + cnt]!++;
}

/** Some CPU's discard-fault window is open on `pfn` (the oracle's ghost_wtarget). */
export function window_open_on(pfn: number): boolean {
  return Atomics.load(K.i32, K.L.ghost_wtarget + pfn) !== 0;
}

/**
 * A window is open on `pfn`: count a near miss of `cnt`. A plain read: a
 * statistic that orders nothing (the oracle's own check of the same word,
 * oracle_enter_allocator, stays an Atomics.load), on the discard path 4
 * times a page, where an Atomics.load is a builtin call on Node 20.
 */
export function near_miss_if_window(pfn: number, cnt: number): void {
  const k = K;
  const L = k.L;
  if (pfn >>> 0 < L.nr_pages && k.i32[L.ghost_wtarget + pfn] !== 0) k.f64[k.stats + cnt]!++;
}

/**
 * smp_call_function, as the IPIs go out: count the targets that are inside a
 * window now (their fault records, the oracle's, say so); the rendezvous
 * must wait for each of them to leave it.
 */
export function near_miss_ipi_targets(): void {
  const { i32, L } = K;
  for (let c = 0; c < L.nr_cpus; c++) {
    if (c === K.home) continue;
    if (Atomics.load(i32, L.faultrec + c * L.faultrec_stride + FAULTREC.active) !== 0) {
      K.f64[K.stats + CNT.nmIpiToWindow]!++;
    }
  }
}

/**
 * The discard fault on this thread between its discard and its put_page
 * (interrupts on): the pfn, or -1. Thread-local, as the interrupt that
 * lands there runs on this thread (irq_enter reads it).
 */
let discarding = -1;
export function discard_to_put_begin(pfn: number): void {
  discarding = pfn;
}
export function discard_to_put_end(): void {
  discarding = -1;
}
/** irq_enter: an interrupt lands between a discard and its put. */
export function near_miss_irq_enter(): void {
  if (discarding >= 0) K.f64[K.stats + CNT.nmIrqDiscardToPut]!++;
}

// ---- the report (main thread) -------------------------------------------

export type CoverageRow = { hazard: Hazard; nearMisses: number; perSecond: number; rare: boolean };

/** A hazard is rare under a hundredth of the median hazard's near misses (or with none). */
export const RARE_FRACTION = 0.01;

/** The hazards the configured protocol version declares (its module's `hazards`). */
export function protocolHazards(cfg: Pick<Config, 'protocol'>): readonly Hazard[] {
  return protocol_ops(protocolModule(cfg.protocol)).hazards;
}

/** The coverage table of a run: `totals` its summed counters, over `durationMs`. */
export function coverageTable(
  cfg: Pick<Config, 'protocol'>,
  totals: Readonly<Record<CounterName, number>>,
  durationMs: number,
): CoverageRow[] {
  return tableOf(
    protocolHazards(cfg).map((h) => [h, totals[HAZARDS[h].counter] ?? 0]),
    durationMs,
  );
}

/**
 * Several runs' tables as one (the mutants' control over its widenings, a
 * cell over its attempts): each hazard's near misses summed, over the runs'
 * summed time; the rarest flagged anew. The hazards are the first table's.
 */
export function sumCoverage(
  runs: readonly { coverage?: readonly CoverageRow[]; durationMs: number }[],
): CoverageRow[] {
  const sum = new Map<Hazard, number>();
  let ms = 0;
  for (const r of runs) {
    if (!r.coverage) continue;
    ms += r.durationMs;
    for (const c of r.coverage) sum.set(c.hazard, (sum.get(c.hazard) ?? 0) + c.nearMisses);
  }
  return tableOf([...sum], ms);
}

function tableOf(
  counts: readonly (readonly [Hazard, number])[],
  durationMs: number,
): CoverageRow[] {
  const sec = durationMs / 1000;
  const rows = counts.map(([hazard, n]) => ({
    hazard,
    nearMisses: n,
    perSecond: sec > 0 ? n / sec : 0,
    rare: false,
  }));
  if (rows.length === 0) return rows;
  const sorted = rows.map((r) => r.nearMisses).sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const min = sorted[0]!;
  for (const r of rows) {
    r.rare = r.nearMisses === 0 || r.nearMisses === min || r.nearMisses < median * RARE_FRACTION;
  }
  return rows;
}

/** The hazards under `floor` near misses (--min-coverage). */
export function undercovered(rows: readonly CoverageRow[], floor: number): CoverageRow[] {
  return floor > 0 ? rows.filter((r) => r.nearMisses < floor) : [];
}
