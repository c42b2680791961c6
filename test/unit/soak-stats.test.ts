import { describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/config.ts';
import type { LockReport } from '../../src/machine/machine.ts';
import {
  allocate,
  CNT,
  CTRL,
  computeLayout,
  LATENCY,
  latencyBase,
  statsBase,
  type Views,
} from '../../src/shm/layout.ts';
import { memstat_every, memstat_write, readThreadMemory } from '../../src/soak/memstat.ts';
import { downsample, lockDeltas, makeSampler, memorySample } from '../../src/soak/stats.ts';
import { bucket_edges, hist_bucket } from '../../src/stats/latency.ts';

const machine = (cpus: number): Views =>
  allocate(computeLayout(makeConfig({ cpus, pages: 64, files: 2 })));

const set = (v: Views, rec: number, name: keyof typeof CNT, x: number) => {
  v.f64[statsBase(v.L, rec) + CNT[name]] = x;
};

const lock = (name: string, acquisitions: number, contentions: number, wait: number) =>
  ({
    name,
    acquisitions,
    contentions,
    conBounces: 0,
    acqBounces: 0,
    waitTimeUs: { min: 0, max: 0, total: wait, avg: 0 },
    holdTimeUs: { min: 0, max: 0, total: 0, avg: 0 },
  }) as LockReport;

describe('stats sampler', () => {
  it('turns cumulative counters into per-interval deltas and rates, host included', () => {
    const v = machine(2);
    const extra = { audits: 0, auditFailures: 0, extraViolations: 0 };
    const s = makeSampler(v);
    set(v, 0, 'ops', 1000);
    set(v, 1, 'ops', 3000);
    set(v, 0, 'pagesParked', 7);
    set(v, 2, 'hostDiscards', 50); // the host's block comes after the CPUs'
    set(v, 1, 'irqsOffMaxUs', 12.5);
    const a = s.sample(2000, extra);
    expect(a.seq).toBe(0);
    expect(a.intervalMs).toBe(2000);
    expect(a.opsPerSec).toEqual([500, 1500]);
    expect(a.opsPerSecTotal).toBe(2000);
    expect(a.pagesParked).toBe(7);
    expect(a.hostDiscards).toBe(50);
    expect(a.irqsOffMaxUs).toEqual([0, 12.5]);
    expect(a.irqsOffIntervalMaxUs).toEqual([0, 12.5]);
    expect(a.counters).not.toHaveProperty('irqsOffMaxUs');
    expect(a.memory.rss).toBeGreaterThan(0);

    set(v, 0, 'ops', 1500);
    set(v, 2, 'hostDiscards', 80);
    Atomics.store(v.i32, v.L.ctrl + CTRL.nr_violations, 2);
    const b = s.sample(3000, { audits: 1, auditFailures: 1, extraViolations: 1 });
    expect(b.seq).toBe(1);
    expect(b.intervalMs).toBe(1000);
    expect(b.opsPerSec).toEqual([500, 0]);
    expect(b.hostDiscards).toBe(30);
    expect(b.pagesParked).toBe(0);
    expect(b.violations).toBe(3);
    expect(b.audits).toBe(1);
    expect(JSON.parse(JSON.stringify(b))).toEqual(b);
  });

  it('reports lock deltas per class, a new class counting from zero', () => {
    const d = lockDeltas(
      [lock('zone->lock', 100, 5, 40)],
      [lock('zone->lock', 130, 9, 55.5), lock('call_lock', 3, 1, 2)],
    );
    expect(d).toEqual([
      { name: 'zone->lock', acquisitions: 30, contentions: 4, conBounces: 0, waitTimeUs: 15.5 },
      { name: 'call_lock', acquisitions: 3, contentions: 1, conBounces: 0, waitTimeUs: 2 },
    ]);
  });

  it('reads locks through the given reader on every sample', () => {
    const v = machine(1);
    let n = 0;
    const s = makeSampler(v, () => [lock('page_hva_discard_list_lock', (n += 10), n / 10, 0)]);
    const extra = { audits: 0, auditFailures: 0, extraViolations: 0 };
    expect(s.sample(1000, extra).locks[0]).toMatchObject({ acquisitions: 10, contentions: 1 });
    expect(s.sample(2000, extra).locks[0]).toMatchObject({ acquisitions: 10, contentions: 1 });
  });
});

describe('interrupts-off per interval', () => {
  const extra = { audits: 0, auditFailures: 0, extraViolations: 0 };
  const section = (v: Views, cpu: number, us: number) => {
    // what local_irq_enable does: the max word, then the histogram
    const w = statsBase(v.L, cpu) + CNT.irqsOffMaxUs;
    if (us > v.f64[w]!) v.f64[w] = us;
    v.f64[latencyBase(v.L, cpu) + LATENCY.irqs_off + hist_bucket(us)]!++;
  };

  it('gives the longest section of each interval, not the longest so far', () => {
    const v = machine(2);
    const s = makeSampler(v);
    section(v, 0, 80);
    section(v, 0, 5);
    section(v, 1, 3);
    const a = s.sample(1000, extra);
    expect(a.irqsOffIntervalMaxUs).toEqual([80, 3]);
    section(v, 0, 7);
    const b = s.sample(2000, extra);
    expect(b.irqsOffIntervalMaxUs).toEqual([7, 0]); // cpu1 ended no section in it
    expect(b.irqsOffMaxUs).toEqual([80, 3]); // the running maximum is still there
    expect(s.irqsOffMaxUs).toEqual([80, 3]);
    section(v, 1, 120.25);
    const c = s.sample(3000, extra);
    expect(c.irqsOffIntervalMaxUs).toEqual([0, 120.3]);
    expect(c.irqsOffMaxUs).toEqual([80, 120.3]);
  });

  it('does not lose a section whose maximum was overwritten by the reset (histogram check)', () => {
    const v = machine(1);
    const s = makeSampler(v);
    s.sample(1000, extra);
    // a 50 us section ended, but its max word write was lost to the reset
    v.f64[latencyBase(v.L, 0) + LATENCY.irqs_off + hist_bucket(50)]!++;
    const a = s.sample(2000, extra);
    const [lo, hi] = bucket_edges(hist_bucket(50));
    expect(a.irqsOffIntervalMaxUs![0]).toBe(lo);
    expect(lo).toBeLessThanOrEqual(50);
    expect(hi).toBeGreaterThan(50);
    // the word's exact value wins when it is the larger
    section(v, 0, 51);
    expect(s.sample(3000, extra).irqsOffIntervalMaxUs).toEqual([51]);
  });
});

describe('downsample', () => {
  const v = machine(2);
  const extra = { audits: 0, auditFailures: 0, extraViolations: 0 };
  const s = makeSampler(v, () => [lock('zone->lock', 0, 0, 0)]);
  const lines = Array.from({ length: 10 }, (_, i) => {
    set(v, 0, 'ops', (i + 1) * 100 * (i < 5 ? 1 : 3));
    set(v, 1, 'pagesParked', (i + 1) * 7);
    set(v, 0, 'irqsOffMaxUs', i === 6 ? 20 : i);
    return s.sample((i + 1) * 1000, extra);
  });

  it('keeps lines as they are when there are few enough', () => {
    expect(downsample(lines, 10)).toBe(lines);
  });

  it('merges runs: counts summed, rates weighted by time, running maxima from the last line', () => {
    const d = downsample(lines, 4); // runs of 3, 3, 3, 1
    expect(d).toHaveLength(4);
    expect(d.map((l) => l.intervalMs)).toEqual([3000, 3000, 3000, 1000]);
    expect(d.map((l) => l.elapsedMs)).toEqual([3000, 6000, 9000, 10000]);
    expect(d.map((l) => l.pagesParked)).toEqual([21, 21, 21, 7]);
    expect(d[0]!.counters.pagesParked).toBe(21);
    // ops went 100, 200, 300 in the first three seconds
    expect(d[0]!.opsPerSec[0]).toBeCloseTo(100, 6);
    expect(d.map((l) => l.irqsOffMaxUs[0])).toEqual([2, 5, 20, 20]);
    // the longest of each merged run of intervals
    expect(d.map((l) => l.irqsOffIntervalMaxUs![0])).toEqual([2, 5, 20, 9]);
    expect(d.reduce((a, l) => a + l.pagesParked, 0)).toBe(70);
    expect(d[0]!.locks).toEqual([
      { name: 'zone->lock', acquisitions: 0, contentions: 0, conBounces: 0, waitTimeUs: 0 },
    ]);
  });
});

describe("each thread's memory in its stats block", () => {
  it('is read back per thread, the host last; a thread that has not written is marked so', () => {
    const v = machine(2);
    memstat_write(v.f64, v.L, 1); // cpu1 writes its own figures
    memstat_write(v.f64, v.L, 2); // the host (nr_cpus)
    const line = makeSampler(v).sample(1000, { audits: 0, auditFailures: 0, extraViolations: 0 });
    const th = line.memory.threads!;
    expect(th.map((t) => t.thread)).toEqual(['cpu0', 'cpu1', 'host']);
    expect(th[0]!.ageMs).toBeNull();
    for (const t of th.slice(1)) {
      expect(t.heapUsed).toBeGreaterThan(0);
      expect(t.heapTotal).toBeGreaterThanOrEqual(t.heapUsed);
      expect(t.ageMs).toBeGreaterThanOrEqual(0);
    }
    // the words sit after the counters: no counter changed
    for (let rec = 0; rec <= 2; rec++) expect(v.f64[statsBase(v.L, rec) + CNT.ops]).toBe(0);
  });

  it('is written at most once per period by memstat_every', () => {
    const v = machine(1);
    const w = memstat_every(v.f64, v.L, 0, 1000);
    w(5000);
    const first = readThreadMemory(v)[0]!;
    expect(first.ageMs).not.toBeNull();
    v.f64.fill(0, statsBase(v.L, 0), statsBase(v.L, 1)); // wipe, then call within the period
    w(5999);
    expect(readThreadMemory(v)[0]!.ageMs).toBeNull();
    w(6000);
    expect(readThreadMemory(v)[0]!.ageMs).not.toBeNull();
  });
});

describe("the main thread's heap in a stats line", () => {
  it('is measured after a full collection: garbage in the old generation is not counted', () => {
    const lent = (globalThis as { gc?: unknown }).gc === undefined;
    let junk: Array<{ i: number; s: string }> | null = [];
    for (let i = 0; i < 200_000; i++) junk.push({ i, s: `x${i}` });
    junk = null;
    const before = memorySample(false).heapUsed;
    const after = memorySample(true).heapUsed;
    expect(after).toBeLessThan(before - 2 * 1024 * 1024);
    // gc() was lent to the soak, not to the program
    if (lent) expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});
