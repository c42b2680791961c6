import { describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/config.ts';
import type { LockReport } from '../../src/machine/machine.ts';
import { allocate, CNT, CTRL, computeLayout, statsBase, type Views } from '../../src/shm/layout.ts';
import { lockDeltas, makeSampler } from '../../src/soak/stats.ts';

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
