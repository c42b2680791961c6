/**
 * Latency histograms in the shared buffer: each CPU's interrupts-off
 * sections (what the irqsoff tracer measures: from local_irq_disable to
 * local_irq_enable, longest plus a histogram), its smp_call_function calls
 * from entry to the release of call_lock, and its response to each IPI (from
 * the caller raising it to this CPU's `started++`).
 *
 * Worker side: `latency_*` are called by kernel code on this CPU and write only
 * this CPU's block (its own 64-byte lines). Main side: `readLatency` sums them.
 * Buckets: LAT_HIST in layout.ts (0.25 us wide below 2 us, then four per
 * octave up to 134 s).
 */
import { now } from '../check/recorder.ts';
import { K as THIS_CPU } from '../kernel/k.ts';
import {
  CNT as CNT_,
  LAT_HIST as LAT_HIST_,
  LATENCY as LATENCY_,
  latencyBase,
  statsBase,
  type Views,
} from '../shm/layout.ts';

/**
 * This CPU and the layout's (events', checks') constants as module-local
 * consts, which V8's optimizing compiler folds; imported bindings are cells
 * it loads and tests at every use (k.ts).
 */
const K = THIS_CPU;
const CNT = CNT_;
const LAT_HIST = LAT_HIST_;
const LATENCY = LATENCY_;

/** Quarter microseconds: the histograms' unit (exported for the native benchmark's header). */
export const Q_PER_US = 4;
const Q_MAX = 2 ** LAT_HIST.max_exp;
/** The first octave split into `sub` buckets: q in [linear, 2 * linear). */
const E0 = Math.log2(LAT_HIST.linear);

/**
 * The bucket of a duration in microseconds (NaN and negatives fall in bucket
 * 0). No logarithm: interrupts are enabled several times per operation, and
 * this runs each time (clz32 finds the octave, the next two bits the quarter).
 */
export function hist_bucket(us: number): number {
  const q4 = us * Q_PER_US;
  if (!(q4 >= 1)) return 0;
  if (q4 >= Q_MAX) return LAT_HIST.buckets - 1;
  const q = q4 | 0;
  if (q < LAT_HIST.linear) return q;
  const e = 31 - Math.clz32(q); // q in [2^e, 2^(e+1)), e >= E0
  return LAT_HIST.linear + LAT_HIST.sub * (e - E0) + ((q >>> (e - 2)) & 3);
}

/** Lower and upper edge (us) of a bucket; the last one is open above. */
export function bucket_edges(b: number): [number, number] {
  if (b < LAT_HIST.linear) return [b / Q_PER_US, (b + 1) / Q_PER_US];
  if (b >= LAT_HIST.buckets - 1) return [Q_MAX / Q_PER_US, Number.POSITIVE_INFINITY];
  const e = E0 + Math.floor((b - LAT_HIST.linear) / LAT_HIST.sub);
  const j = (b - LAT_HIST.linear) % LAT_HIST.sub;
  const w = 2 ** e / LAT_HIST.sub;
  return [(2 ** e + j * w) / Q_PER_US, (2 ** e + (j + 1) * w) / Q_PER_US];
}

export function hist_add(f64: Float64Array, hist: number, us: number): void {
  f64[hist + hist_bucket(us)]!++;
}

// ---- worker side: called by kernel code on this CPU --------------------------

/** local_irq_enable: an interrupts-off section of `us` ended (the max is CNT.irqsOffMaxUs). */
export function latency_irqs_off(us: number): void {
  K.f64[K.lat + LATENCY.irqs_off + hist_bucket(us)]!++;
}

/** smp_call_function: the caller stamps the call just before it raises the IPIs. */
export function latency_ipi_sent(): void {
  K.f64[K.L.call_time] = now();
}

/**
 * The IPI handler, before `started++`: this CPU's response time. The stamp is
 * the current call's: call_lock is held until every target has started, so no
 * later call can restamp it before we read it (a mutant that does not wait for
 * `started` can, and then this figure is off, not the protocol check).
 */
export function latency_ipi_response(): void {
  const us = (now() - K.f64[K.L.call_time]!) * 1000;
  const f64 = K.f64;
  f64[K.lat + LATENCY.response + hist_bucket(us)]!++;
  if (us > f64[K.lat + LATENCY.response_max_us]!) f64[K.lat + LATENCY.response_max_us] = us;
}

/** smp_call_function returned: `us` from its entry to the release of call_lock. */
export function latency_call(us: number): void {
  const f64 = K.f64;
  f64[K.lat + LATENCY.call + hist_bucket(us)]!++;
  if (us > f64[K.lat + LATENCY.call_max_us]!) f64[K.lat + LATENCY.call_max_us] = us;
}

// ---- main side ---------------------------------------------------------------

export type HistogramBucket = { geUs: number; ltUs: number | null; count: number };
export type LatencySummary = {
  count: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  /** Non-empty buckets only, in order; `ltUs` null for the open last bucket. */
  histogram: HistogramBucket[];
};
export type LatencyReport = {
  /** Per CPU: interrupts-off sections (irqsoff tracer). */
  irqsOff: (LatencySummary & { cpu: number })[];
  /** smp_call_function, entry to release of call_lock, over all callers. */
  rendezvous: LatencySummary;
  /** Per target CPU: IPI raised by the caller .. the target's started++. */
  ipiResponse: (LatencySummary & { cpu: number })[];
  /** Bucket scheme, for readers of `histogram`. */
  buckets: { perOctave: number; linearBelowUs: number };
};

/**
 * The q-quantile of a histogram: the upper edge of the bucket where the
 * cumulative count reaches q (at most `max`, the exact largest sample).
 */
export function quantile(counts: ArrayLike<number>, q: number, max: number): number {
  let total = 0;
  for (let b = 0; b < counts.length; b++) total += counts[b]!;
  if (total === 0) return 0;
  const want = q * total;
  let cum = 0;
  for (let b = 0; b < counts.length; b++) {
    cum += counts[b]!;
    if (cum >= want) return Math.min(bucket_edges(b)[1], max);
  }
  return max;
}

export function summarize(counts: ArrayLike<number>, max: number): LatencySummary {
  let count = 0;
  const histogram: HistogramBucket[] = [];
  for (let b = 0; b < counts.length; b++) {
    const n = counts[b]!;
    if (n === 0) continue;
    count += n;
    const [lo, hi] = bucket_edges(b);
    histogram.push({ geUs: lo, ltUs: Number.isFinite(hi) ? hi : null, count: n });
  }
  return {
    count,
    p50Us: quantile(counts, 0.5, max),
    p99Us: quantile(counts, 0.99, max),
    maxUs: max,
    histogram,
  };
}

function histOf(v: Views, cpu: number, which: number): Float64Array {
  const base = latencyBase(v.L, cpu) + which;
  return v.f64.slice(base, base + LAT_HIST.buckets);
}

export function readLatency(v: Views): LatencyReport {
  const { L, f64 } = v;
  const irqsOff: LatencyReport['irqsOff'] = [];
  const ipiResponse: LatencyReport['ipiResponse'] = [];
  const calls = new Float64Array(LAT_HIST.buckets);
  let callMax = 0;
  for (let cpu = 0; cpu < L.nr_cpus; cpu++) {
    const base = latencyBase(L, cpu);
    irqsOff.push({
      cpu,
      ...summarize(histOf(v, cpu, LATENCY.irqs_off), f64[statsBase(L, cpu) + CNT.irqsOffMaxUs]!),
    });
    ipiResponse.push({
      cpu,
      ...summarize(histOf(v, cpu, LATENCY.response), f64[base + LATENCY.response_max_us]!),
    });
    const h = histOf(v, cpu, LATENCY.call);
    for (let b = 0; b < h.length; b++) calls[b]! += h[b]!;
    callMax = Math.max(callMax, f64[base + LATENCY.call_max_us]!);
  }
  return {
    irqsOff,
    rendezvous: summarize(calls, callMax),
    ipiResponse,
    buckets: { perOctave: LAT_HIST.sub, linearBelowUs: LAT_HIST.linear / Q_PER_US },
  };
}
