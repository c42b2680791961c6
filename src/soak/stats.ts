/**
 * The soak's periodic statistics: one line of stats.jsonl per interval, made
 * from the per-CPU counters in the buffer (deltas since the previous line),
 * the lock statistics, and the process's memory.
 *
 * Counters are written by their CPU and read here without a lock, as
 * /proc/stat is: a line may see an increment one interval late, never lose it.
 *
 * Interrupts-off: a CPU keeps the longest section in its irqsOffMaxUs
 * counter (local_irq_enable). The sampler reads that word and sets it back to
 * zero at each line, so that it holds the longest section of one interval;
 * the running maximum is kept here (and put back into the soak's summary).
 * A float has no atomic exchange: a CPU that writes a new maximum between the
 * read and the reset would be lost, so the interval's irqs-off histogram
 * (counts only grow) is checked too: a section in a bucket above the word's
 * value raises the interval's figure to that bucket's lower edge.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type CoverageRow, coverageTable } from '../check/coverage.ts';
import type { Config } from '../config.ts';
import { type LockReport, readCounters, type Totals } from '../machine/machine.ts';
import {
  CNT,
  COUNTERS,
  CTRL,
  LAT_HIST,
  LATENCY,
  latencyBase,
  statsBase,
  type Views,
} from '../shm/layout.ts';
import { bucket_edges } from '../stats/latency.ts';
import { readThreadMemory, type ThreadMemory } from './memstat.ts';

export const STATS_SCHEMA = 1;

/** Lock columns whose deltas a stats line carries (counts, and waits in microseconds). */
export type LockDelta = {
  name: string;
  acquisitions: number;
  contentions: number;
  /** Contentions where the previous contender was another CPU. */
  conBounces: number;
  waitTimeUs: number;
};

/**
 * The process's RSS and the main thread's heap (process.memoryUsage() here),
 * with every machine thread's own figures (memstat.ts; absent in folders
 * written before they existed).
 */
export type MemorySample = {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers?: number;
  /** The main thread's V8 malloc'd memory (v8.getHeapStatistics().malloced_memory). */
  malloced?: number;
  threads?: ThreadMemory[];
};

export type StatsLine = {
  schema: typeof STATS_SCHEMA;
  seq: number;
  /** Wall clock at the end of the interval. */
  t: string;
  /** Milliseconds since the CPUs were released, at the end of the interval. */
  elapsedMs: number;
  intervalMs: number;
  /** True for the last, possibly partial, interval written after the CPUs stopped. */
  final?: true;
  opsPerSec: number[];
  opsPerSecTotal: number;
  /** Events in this interval (the counter names of docs/json.md). */
  hostDiscards: number;
  discardFaults: number;
  refsRefused: number;
  pagesParked: number;
  pagesFreedFromList: number;
  rendezvous: number;
  /** Every counter's delta in this interval (irqsOffMaxUs excluded: it is a maximum). */
  counters: Record<string, number>;
  /** The hazards' near misses in this interval (src/check/coverage.ts); absent in older folders. */
  coverage?: CoverageRow[];
  /** Lock statistics in this interval; empty when the machine keeps none. */
  locks: LockDelta[];
  /** Longest interrupts-off section so far, per CPU (a running maximum). */
  irqsOffMaxUs: number[];
  /**
   * Longest interrupts-off section that ended in this interval, per CPU (0:
   * none ended); absent in folders written before it existed.
   */
  irqsOffIntervalMaxUs?: number[];
  memory: MemorySample;
  /** Found so far: oracle violations in the buffer, failed periodic audits. */
  violations: number;
  audits: number;
  auditFailures: number;
};

/**
 * `collect`: first a full collection of this (the main) thread's heap, so that
 * its heapUsed is what is live, not how far the old generation has filled
 * with garbage since its last mark-compact: the main thread allocates slowly,
 * and its heap rose for minutes between two collections, which a leak check
 * over a short window reads as growth. A stats line does it (20 MB: a few ms
 * once an interval); the live status line does not.
 */
export function memorySample(collect = false): MemorySample {
  if (collect) fullGc()?.();
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    malloced: getHeapStatistics().malloced_memory,
  };
}

let gcFn: (() => void) | null | undefined;
/** V8's gc(): the global one under --expose-gc, else exposed for a moment to a new context (null if V8 refuses). */
function fullGc(): (() => void) | null {
  if (gcFn !== undefined) return gcFn;
  const global = (globalThis as { gc?: () => void }).gc;
  if (typeof global === 'function') return (gcFn = global);
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    gcFn = typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    gcFn = null;
  } finally {
    // the flag is the process's: the machine threads made later do not get gc()
    setFlagsFromString('--no-expose-gc');
  }
  return gcFn;
}

type Snapshot = { elapsedMs: number; cpus: Totals[]; host: Totals; locks: LockReport[] };

/**
 * Keeps the previous snapshot and turns the next one into a line.
 * `readLocks` gives the cumulative lock statistics (RunReport.locks shape).
 */
export function makeSampler(
  v: Views,
  readLocks: (v: Views) => LockReport[] = () => [],
  /** The protocol run: each line then carries the interval's coverage (its hazards' near misses). */
  cfg?: Pick<Config, 'protocol'>,
): {
  sample(
    elapsedMs: number,
    extra: { audits: number; auditFailures: number; extraViolations: number },
  ): StatsLine;
  /** Longest interrupts-off section of the whole run so far, per CPU. */
  readonly irqsOffMaxUs: readonly number[];
} {
  const nr_cpus = v.L.nr_cpus;
  const irqsOff = makeIrqsOffSampler(v);
  const snap = (elapsedMs: number): Snapshot => ({
    elapsedMs,
    cpus: Array.from({ length: nr_cpus }, (_, c) => readCounters(v, c)),
    host: readCounters(v, nr_cpus),
    locks: readLocks(v),
  });
  // The first interval counts from the start of the run, not from the first tick.
  const zero = Object.fromEntries(COUNTERS.map((n) => [n, 0])) as Totals;
  let prev: Snapshot = { elapsedMs: 0, cpus: new Array(nr_cpus).fill(zero), host: zero, locks: [] };
  let seq = 0;
  return {
    get irqsOffMaxUs() {
      return irqsOff.runningMaxUs;
    },
    sample(elapsedMs, extra) {
      const cur = snap(elapsedMs);
      const irqsOffInterval = irqsOff.sample();
      const intervalMs = Math.max(elapsedMs - prev.elapsedMs, 1e-3);
      const counters: Record<string, number> = {};
      for (const n of COUNTERS) {
        if (n === 'irqsOffMaxUs') continue;
        let d = cur.host[n] - prev.host[n];
        for (let c = 0; c < nr_cpus; c++) d += cur.cpus[c]![n] - prev.cpus[c]![n];
        counters[n] = d;
      }
      const opsPerSec = cur.cpus.map((c, i) => ((c.ops - prev.cpus[i]!.ops) * 1000) / intervalMs);
      const line: StatsLine = {
        schema: STATS_SCHEMA,
        seq: seq++,
        t: new Date().toISOString(),
        elapsedMs: round(elapsedMs, 1),
        intervalMs: round(intervalMs, 1),
        opsPerSec: opsPerSec.map((x) => round(x, 1)),
        opsPerSecTotal: round(
          opsPerSec.reduce((a, b) => a + b, 0),
          1,
        ),
        ...headlineCounts(counters),
        counters,
        ...(cfg ? { coverage: coverageTable(cfg, counters as Totals, intervalMs) } : {}),
        locks: lockDeltas(prev.locks, cur.locks),
        irqsOffMaxUs: irqsOff.runningMaxUs.map((x) => round(x, 1)),
        irqsOffIntervalMaxUs: irqsOffInterval.map((x) => round(x, 1)),
        memory: { ...memorySample(true), threads: readThreadMemory(v) },
        violations: Atomics.load(v.i32, v.L.ctrl + CTRL.nr_violations) + extra.extraViolations,
        audits: extra.audits,
        auditFailures: extra.auditFailures,
      };
      prev = cur;
      return line;
    },
  };
}

/** The counts a stats line names at its top level, from the interval's counters. */
export function headlineCounts(counters: Record<string, number>) {
  return {
    hostDiscards: counters.hostDiscards!,
    discardFaults: counters.discardFaults!,
    refsRefused: counters.refsRefused!,
    pagesParked: counters.pagesParked!,
    pagesFreedFromList: counters.pagesFreedFromList!,
    rendezvous: counters.rendezvous!,
  };
}

/**
 * The longest interrupts-off section per CPU since the previous call: the
 * CPU's max word, read and reset, checked against its histogram's growth.
 */
export function makeIrqsOffSampler(v: Views): {
  sample(): number[];
  readonly runningMaxUs: number[];
} {
  const { L, f64 } = v;
  const hist = (c: number) => latencyBase(L, c) + LATENCY.irqs_off;
  const prevHist = Array.from({ length: L.nr_cpus }, () => new Float64Array(LAT_HIST.buckets));
  const runningMaxUs = new Array<number>(L.nr_cpus).fill(0);
  return {
    runningMaxUs,
    sample() {
      const out: number[] = [];
      for (let c = 0; c < L.nr_cpus; c++) {
        const word = statsBase(L, c) + CNT.irqsOffMaxUs;
        const maxUs = f64[word]!;
        f64[word] = 0;
        // The highest bucket that gained a section since the last sample.
        const h = hist(c);
        let top = -1;
        for (let b = 0; b < LAT_HIST.buckets; b++) {
          const n = f64[h + b]!;
          if (n !== prevHist[c]![b]) top = b;
          prevHist[c]![b] = n;
        }
        const floor = top >= 0 ? bucket_edges(top)[0] : 0;
        const us = Math.max(maxUs, floor);
        out.push(us);
        if (us > runningMaxUs[c]!) runningMaxUs[c] = us;
      }
      return out;
    },
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Per-class deltas of cumulative lock statistics; a class new since `prev` counts from zero. */
export function lockDeltas(prev: LockReport[], cur: LockReport[]): LockDelta[] {
  const before = new Map(prev.map((l) => [l.name, l]));
  return cur.map((l) => {
    const p = before.get(l.name);
    return {
      name: l.name,
      acquisitions: l.acquisitions - (p?.acquisitions ?? 0),
      contentions: l.contentions - (p?.contentions ?? 0),
      conBounces: l.conBounces - (p?.conBounces ?? 0),
      waitTimeUs: round(l.waitTimeUs.total - (p?.waitTimeUs.total ?? 0), 1),
    };
  });
}

/**
 * At most `max` lines for a chart: runs of consecutive lines merged into one
 * (event counts summed, rates weighted by time, interval maxima the largest
 * of the run, running maxima and memory taken from the last line of the run). An 8-hour soak at a 1 s interval is
 * 28,800 lines; a chart wants a few hundred points.
 */
export function downsample(lines: StatsLine[], max: number): StatsLine[] {
  if (lines.length <= max) return lines;
  const k = Math.ceil(lines.length / max);
  const out: StatsLine[] = [];
  for (let i = 0; i < lines.length; i += k) {
    const run = lines.slice(i, i + k);
    const last = run[run.length - 1]!;
    const intervalMs = run.reduce((a, l) => a + l.intervalMs, 0);
    const sum = (f: (l: StatsLine) => number) => run.reduce((a, l) => a + f(l), 0);
    const counters: Record<string, number> = {};
    for (const l of run) {
      for (const [n, x] of Object.entries(l.counters)) counters[n] = (counters[n] ?? 0) + x;
    }
    const locks = new Map<string, LockDelta>();
    for (const l of run) {
      for (const d of l.locks) {
        const m = locks.get(d.name) ?? {
          name: d.name,
          acquisitions: 0,
          contentions: 0,
          conBounces: 0,
          waitTimeUs: 0,
        };
        m.acquisitions += d.acquisitions;
        m.contentions += d.contentions;
        m.conBounces += d.conBounces;
        m.waitTimeUs = round(m.waitTimeUs + d.waitTimeUs, 1);
        locks.set(d.name, m);
      }
    }
    const opsPerSec = last.opsPerSec.map((_, c) =>
      round(sum((l) => (l.opsPerSec[c] ?? 0) * l.intervalMs) / intervalMs, 1),
    );
    out.push({
      ...last,
      intervalMs: round(intervalMs, 1),
      opsPerSec,
      opsPerSecTotal: round(
        opsPerSec.reduce((a, b) => a + b, 0),
        1,
      ),
      hostDiscards: sum((l) => l.hostDiscards),
      discardFaults: sum((l) => l.discardFaults),
      refsRefused: sum((l) => l.refsRefused),
      pagesParked: sum((l) => l.pagesParked),
      pagesFreedFromList: sum((l) => l.pagesFreedFromList),
      rendezvous: sum((l) => l.rendezvous),
      counters,
      locks: [...locks.values()],
      ...(last.irqsOffIntervalMaxUs
        ? {
            irqsOffIntervalMaxUs: last.irqsOffIntervalMaxUs.map((_, c) =>
              Math.max(...run.map((l) => l.irqsOffIntervalMaxUs?.[c] ?? 0)),
            ),
          }
        : {}),
    });
  }
  return out;
}
