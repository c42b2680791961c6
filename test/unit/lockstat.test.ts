/**
 * lock_stat counters, bounces, the two --lockstat modes, the /proc/lock_stat
 * and perf lock contention views and their JSON, ticket lock semantics and
 * latency histograms, single thread: one thread plays each CPU in turn with
 * set_this_cpu (a contention cannot happen in one thread, so the contention
 * hooks are driven directly). Ticket FIFO order with real workers is in
 * test/concurrency/ticket.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { transformSync } from 'esbuild';
import { describe, expect, it } from 'vitest';
import {
  perfTime,
  renderLockContention,
  renderLocks,
  renderLockstat,
} from '../../src/cli/lockstat-report.ts';
import { addMachineOptions, configFromFlags } from '../../src/cli/options.ts';
import { type ConfigInput, makeConfig } from '../../src/config.ts';
import { kernel_boot } from '../../src/kernel/boot.ts';
import { set_this_cpu } from '../../src/kernel/context.ts';
import { lock_page, trylock_page, unlock_page } from '../../src/kernel/filemap.ts';
import { alloc_page, put_page } from '../../src/kernel/page_alloc.ts';
import { PG_discarded, SetPageFlag } from '../../src/kernel/page-flags.ts';
import {
  FUNC,
  local_irq_disable,
  local_irq_enable,
  smp_call_function,
} from '../../src/kernel/smp.ts';
import {
  arch_spin_is_locked,
  LOCK,
  spin_lock,
  spin_lock_irq,
  spin_lock_irqsave,
  spin_trylock,
  spin_unlock,
  spin_unlock_irq,
  spin_unlock_irqrestore,
} from '../../src/kernel/spinlock.ts';
import { shrink_discards } from '../../src/kernel/vmscan.ts';
import {
  allocate,
  CNT,
  computeLayout,
  DISCARD,
  LAT_HIST,
  LATENCY,
  LOCK_CLASSES,
  LOCK_SLOT,
  LOCKSTAT,
  LOCKSTAT_MARKS,
  latencyBase,
  lockstatBase,
  PENDING,
  PERCPU_PENDING,
  percpuBase,
  statsBase,
  type Views,
  ZONE,
} from '../../src/shm/layout.ts';
import { bucket_edges, hist_bucket, quantile, readLatency } from '../../src/stats/latency.ts';
import { lock_sites } from '../../src/stats/lock_sites.ts';
import {
  call_site,
  lock_contended,
  lock_wait_begin,
  lock_wait_end,
  lockContention,
  lockContentionJson,
  locksJson,
  lockstat_held_depth,
  lockstat_reset_sites,
  lockstat_sites,
  readLocks,
  site_label,
} from '../../src/stats/lockstat.ts';

/**
 * lock_stat's call sites of this file's lock calls: `at.any` where a test
 * looks at no site's label (the label is the stack of its first use).
 */
const at = lock_sites(
  'free_pages_bulk_like',
  'waiter_like',
  'rmqueue_like',
  'rmqueue_bulk_like',
  'any',
);

function boot(input: Partial<ConfigInput> = {}): Views {
  const cfg = makeConfig({ cpus: 2, pages: 256, files: 4, seed: 1, faultDeliveryUs: 0, ...input });
  const v = allocate(computeLayout(cfg));
  kernel_boot(v, cfg);
  set_this_cpu(0);
  lockstat_reset_sites();
  return v;
}

/** Counts the stack traces taken until restore() (a LockSite is named with one). */
function countTraces(): { n: number; restore: () => void } {
  const capture = Error.captureStackTrace;
  const out = {
    n: 0,
    restore: () => {
      Error.captureStackTrace = capture;
    },
  };
  Error.captureStackTrace = (o: object, f?: Parameters<typeof capture>[1]) => {
    out.n++;
    capture(o, f);
  };
  return out;
}

/** performance.now as a fake clock, each reading 500 us after the last; `readings` collects them. */
function fakeClock(): { readings: number[]; restore: () => void } {
  const readings: number[] = [];
  const saved = performance.now;
  performance.now = () => {
    const t = 1000 + readings.length * 0.5; // ms
    readings.push(t);
    return t;
  };
  return { readings, restore: () => (performance.now = saved) };
}

/** One field of one CPU's record of a class. */
const field = (v: Views, cpu: number, cls: number, f: number) =>
  v.f64[lockstatBase(v.L, cpu) + cls * LOCKSTAT.nr_fields + f]!;
const lockOf = (v: Views, cls: number) => readLocks(v)[cls]!;

describe('cheap counters (always on)', () => {
  it('counts acquisitions per CPU and an acq-bounce each time another CPU takes the lock', () => {
    const v = boot();
    const lock = v.L.discard + DISCARD.lock;
    const take = (cpu: number) => {
      set_this_cpu(cpu);
      spin_lock(lock, LOCK.discard_list, at.any);
      spin_unlock(lock, LOCK.discard_list);
    };
    // never taken before: the first acquisition is no bounce (nobody had the line)
    take(0);
    take(0);
    take(1);
    take(1);
    take(0);
    take(1);
    expect(field(v, 0, LOCK.discard_list, LOCKSTAT.acquisitions)).toBe(3);
    expect(field(v, 1, LOCK.discard_list, LOCKSTAT.acquisitions)).toBe(3);
    const l = lockOf(v, LOCK.discard_list);
    expect(l.name).toBe('page_hva_discard_list_lock');
    expect(l.acquisitions).toBe(6);
    expect(l.acqBounces).toBe(3); // 0->1, 1->0, 0->1
    expect(l.contentions).toBe(0);
    expect(l.conBounces).toBe(0);
    // timing is off: no samples
    expect(l.holdTimeUs).toEqual({ min: 0, max: 0, total: 0, avg: 0 });
    expect(v.i32[lock + LOCK_SLOT.cpu]).toBe(2); // cpu 1 + 1
  });

  it('keeps the last CPU per lock, not per class: two tree_locks on two CPUs do not bounce', () => {
    const v = boot();
    const a = v.L.file + 0 * v.L.file_stride + v.L.file_tree_lock;
    const b = v.L.file + 1 * v.L.file_stride + v.L.file_tree_lock;
    for (let i = 0; i < 3; i++) {
      set_this_cpu(0);
      spin_lock(a, LOCK.tree, at.any);
      spin_unlock(a, LOCK.tree);
      set_this_cpu(1);
      spin_lock(b, LOCK.tree, at.any);
      spin_unlock(b, LOCK.tree);
    }
    expect(lockOf(v, LOCK.tree).acquisitions).toBe(6);
    expect(lockOf(v, LOCK.tree).acqBounces).toBe(0);
  });

  it('counts a contention, and a con-bounce when the lock was last taken elsewhere', () => {
    const v = boot();
    const lock = v.L.zone; // zone->lock
    set_this_cpu(0);
    spin_lock(lock, LOCK.zone, at.any);
    set_this_cpu(1);
    lock_contended(lock + LOCK_SLOT.cpu, LOCK.zone); // cpu 1 finds it held by cpu 0
    set_this_cpu(0);
    lock_contended(lock + LOCK_SLOT.cpu, LOCK.zone); // (same CPU as the last taker: no bounce)
    spin_unlock(lock, LOCK.zone);
    const l = lockOf(v, LOCK.zone);
    expect([l.contentions, l.conBounces, l.acquisitions]).toEqual([2, 1, 1]);
    expect(field(v, 1, LOCK.zone, LOCKSTAT.contentions)).toBe(1);
  });

  it('counts spin_trylock successes only, and keeps locks_held', () => {
    const v = boot();
    const lock = v.L.call_lock;
    expect(spin_trylock(lock, LOCK.call_lock, at.any)).toBe(true);
    expect(spin_trylock(lock, LOCK.call_lock, at.any)).toBe(false);
    spin_unlock(lock, LOCK.call_lock);
    expect(lockOf(v, LOCK.call_lock).acquisitions).toBe(1);
  });

  it('counts the page lock (PG_locked) with a last-CPU word per page', () => {
    const v = boot();
    const p = alloc_page();
    const q = alloc_page();
    set_this_cpu(0);
    lock_page(p, at.any);
    unlock_page(p);
    set_this_cpu(1);
    expect(trylock_page(q, at.any)).toBe(true);
    expect(trylock_page(q, at.any)).toBe(false);
    unlock_page(q);
    lock_page(p, at.any); // p was cpu 0's: a bounce
    unlock_page(p);
    const l = lockOf(v, LOCK.page);
    expect(l.name).toBe('PG_locked');
    expect([l.acquisitions, l.acqBounces, l.contentions]).toEqual([3, 1, 0]);
  });

  it('takes the discard-list lock once per full pagevec, plus once per shrink_discards', () => {
    for (const size of [1, 4, 14]) {
      const v = boot({ cpus: 1, pagevecSize: size });
      const parked = 30;
      for (let i = 0; i < parked; i++) {
        const pfn = alloc_page();
        SetPageFlag(pfn, PG_discarded);
        put_page(pfn); // count 0 with PG_discarded: parked on this CPU's pagevec
      }
      expect(lockOf(v, LOCK.discard_list).acquisitions).toBe(Math.floor(parked / size));
      shrink_discards();
      shrink_discards(); // an empty list is still looked at under the lock
      expect(lockOf(v, LOCK.discard_list).acquisitions).toBe(Math.floor(parked / size) + 2);
    }
  });
});

describe('--lockstat=full: the timed path', () => {
  it('reads true as full and "off" as false', () => {
    expect(makeConfig({ lockstat: true }).lockstat).toBe('full');
    expect(makeConfig({ lockstat: 'off' }).lockstat).toBe(false);
    expect(makeConfig({}).lockstat).toBe(false);
    expect(makeConfig({ lockstat: 'contention' }).lockstat).toBe('contention');
  });

  it('times holds, in nesting order or not', () => {
    const v = boot({ lockstat: 'full' });
    const zone = v.L.zone;
    const discard = v.L.discard + DISCARD.lock;
    spin_lock(zone, LOCK.zone, at.any);
    spin_lock(discard, LOCK.discard_list, at.any);
    spin_unlock(zone, LOCK.zone); // out of order
    spin_unlock(discard, LOCK.discard_list);
    lock_page(5, at.any);
    unlock_page(5);
    for (const cls of [LOCK.zone, LOCK.discard_list, LOCK.page]) {
      const l = lockOf(v, cls);
      expect(l.acquisitions).toBe(1);
      expect(field(v, 0, cls, LOCKSTAT.hold_nr)).toBe(1);
      expect(l.holdTimeUs.min).toBeGreaterThanOrEqual(0);
      expect(l.holdTimeUs.max).toBe(l.holdTimeUs.min);
      expect(l.holdTimeUs.avg).toBe(l.holdTimeUs.total);
      expect(l.waitTimeUs.total).toBe(0);
    }
    // the held stack is empty again
    expect(lockstat_held_depth()).toBe(0);
  });

  it('shares one clock reading between an irqsave lock and its interrupts-off section, at each end', () => {
    const v = boot({ lockstat: 'full' });
    const lru = v.L.zone + ZONE.lru_lock;
    const { readings, restore } = fakeClock();
    try {
      // interrupts on: local_irq_save's reading starts the hold, the hold's end ends the section
      const flags = spin_lock_irqsave(lru, LOCK.lru, at.any);
      spin_unlock_irqrestore(lru, LOCK.lru, flags);
      expect(readings.length).toBe(2);
      expect(lockOf(v, LOCK.lru).holdTimeUs.total).toBe(500);
      expect(v.f64[statsBase(v.L, 0) + CNT.irqsOffMaxUs]).toBe(500);
      // interrupts already off: nothing to share, the lock reads its own clock at each end
      local_irq_disable(); // reading 3
      const f2 = spin_lock_irqsave(lru, LOCK.lru, at.any); // 4
      spin_unlock_irqrestore(lru, LOCK.lru, f2); // 5, interrupts stay off
      expect(readings.length).toBe(5);
      expect(lockOf(v, LOCK.lru).holdTimeUs.max).toBe(500);
      spin_lock_irq(lru, LOCK.lru, at.any); // 6: spin_lock_irq with interrupts already off, the same
      spin_unlock_irq(lru, LOCK.lru); // 7, shared with the section begun at reading 3
      expect(readings.length).toBe(7);
      expect(lockOf(v, LOCK.lru).holdTimeUs.total).toBe(1500);
      expect(v.f64[statsBase(v.L, 0) + CNT.irqsOffMaxUs]).toBe(2000);
    } finally {
      restore();
    }
    expect(lockstat_held_depth()).toBe(0);
  });

  it('shares the readings of a lock nested right inside another, unless an interrupt comes between', () => {
    // handle_mm_fault's shape: the pte lock, then tree_lock with interrupts off, released in turn
    const v = boot({ lockstat: 'full', lockdep: false });
    const outer = v.L.zone + ZONE.lock;
    const inner = v.L.zone + ZONE.lru_lock;
    const { readings, restore } = fakeClock();
    try {
      const t = spin_lock(outer, LOCK.zone, at.any); // reading 1: the outer hold and the section start
      const flags = spin_lock_irqsave(inner, LOCK.lru, at.any, t);
      const t2 = spin_unlock_irqrestore(inner, LOCK.lru, flags); // reading 2
      spin_unlock(outer, LOCK.zone, t2);
      expect([t, t2]).toEqual([1000, 1000.5]);
      expect(readings.length).toBe(2);
      expect(lockOf(v, LOCK.zone).holdTimeUs.total).toBe(500);
      expect(lockOf(v, LOCK.lru).holdTimeUs.total).toBe(500);
      expect(v.f64[statsBase(v.L, 0) + CNT.irqsOffMaxUs]).toBe(500);
      // a timer interrupt pending while interrupts are off is taken when they come back on:
      // the outer hold then ends at a reading of its own, after the interrupt
      const t3 = spin_lock(outer, LOCK.zone, at.any);
      const f2 = spin_lock_irqsave(inner, LOCK.lru, at.any, t3);
      Atomics.or(v.i32, percpuBase(v.L, 0) + PERCPU_PENDING, PENDING.timer);
      expect(spin_unlock_irqrestore(inner, LOCK.lru, f2)).toBe(-1);
      const before = readings.length;
      spin_unlock(outer, LOCK.zone, -1);
      expect(readings.length).toBe(before + 1);
      expect(lockOf(v, LOCK.zone).holdTimeUs.max).toBeGreaterThan(
        lockOf(v, LOCK.lru).holdTimeUs.max,
      );
    } finally {
      restore();
    }
    expect(lockstat_held_depth()).toBe(0);
    // not timed: nothing to share
    const w = boot({ lockdep: false });
    expect(spin_lock(w.L.zone + ZONE.lock, LOCK.zone, at.any)).toBe(-1);
    spin_unlock(w.L.zone + ZONE.lock, LOCK.zone);
  });

  it('records the contending call site and its waits', () => {
    const v = boot({ lockstat: 'full' });
    const zone = v.L.zone;
    function free_pages_bulk_like(): void {
      const t0 = lock_wait_begin(zone + LOCK_SLOT.cpu, LOCK.zone, at.free_pages_bulk_like);
      lock_wait_end(LOCK.zone, t0);
    }
    // the site's label costs one stack trace on this thread, not one per contention
    const traces = countTraces();
    try {
      free_pages_bulk_like();
      free_pages_bulk_like();
    } finally {
      traces.restore();
    }
    expect(traces.n).toBe(1);
    const sites = lockstat_sites().contention[LOCK.zone]!;
    expect(sites).toHaveLength(1);
    const [raw, n, total, max] = sites[0]!;
    const site = site_label(raw);
    expect(site).toMatch(/^free_pages_bulk_like \(lockstat\.test\.ts:\d+\)$/);
    expect(n).toBe(2);
    expect(max).toBeGreaterThanOrEqual(0);
    expect(total).toBeGreaterThanOrEqual(max);
    expect(field(v, 0, LOCK.zone, LOCKSTAT.wait_nr)).toBe(2);
    const l = readLocks(v, [lockstat_sites()])[LOCK.zone]!;
    expect(l.topCallSites).toEqual([{ site, contentions: 2 }]);
    expect(l.contentionPoints).toHaveLength(1);
    expect(l.contentionPoints[0]!.contentions).toBe(2);
    // the class's wait total is the sum of its points' (one CPU, one site)
    expect(l.contentionPoints[0]!.waitTimeUs.total).toBeCloseTo(l.waitTimeUs.total, 2);
  });

  it('credits the site the holder took a lock at when it releases it marked (the contended point)', () => {
    const v = boot({ lockstat: 'full' });
    const zone = v.L.zone;
    function rmqueue_bulk_like(): void {
      spin_lock(zone, LOCK.zone, at.rmqueue_bulk_like);
    }
    function rmqueue_bulk_like_unlock(): void {
      spin_unlock(zone, LOCK.zone);
    }
    set_this_cpu(0);
    rmqueue_bulk_like();
    // two waiters on cpu 1 find it held by cpu 0 (the lock's last-CPU word)
    set_this_cpu(1);
    function waiter_like(): void {
      lock_contended(zone + LOCK_SLOT.cpu, LOCK.zone);
      lock_wait_end(LOCK.zone, lock_wait_begin(zone + LOCK_SLOT.cpu, LOCK.zone, at.waiter_like));
    }
    waiter_like();
    waiter_like();
    set_this_cpu(0);
    // the release takes no stack trace: the site was named when the lock was taken
    const traces = countTraces();
    try {
      rmqueue_bulk_like_unlock();
    } finally {
      traces.restore();
    }
    expect(traces.n).toBe(0);
    const held = lockstat_sites().contended[LOCK.zone]!;
    expect(held).toHaveLength(1);
    const holder = site_label(held[0]![0]);
    expect(holder).toMatch(/^rmqueue_bulk_like \(lockstat\.test\.ts:\d+\)$/);
    expect(site_label(lockstat_sites().contention[LOCK.zone]![0]![0])).toMatch(/^waiter_like \(/);
    expect(held[0]![1]).toBe(2);
    // the mark was taken: a second release names nobody
    rmqueue_bulk_like();
    rmqueue_bulk_like_unlock();
    expect(lockstat_sites().contended[LOCK.zone]![0]![1]).toBe(2);
    const l = readLocks(v, [lockstat_sites()])[LOCK.zone]!;
    expect(l.contendedPoints).toEqual([{ site: holder, contentions: 2 }]);
    expect(l.contentions).toBe(2);
    expect(l.conBounces).toBe(2);
  });

  it('names the first caller outside the lock code', () => {
    function some_kernel_function(): string {
      return site_label(call_site());
    }
    expect(some_kernel_function()).toMatch(/^some_kernel_function \(lockstat\.test\.ts:\d+\)$/);
  });
});

describe('call sites of the build: mapped to the TypeScript source by the main thread', () => {
  it('labels a bundle position through the .map file beside it, and leaves a label alone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvaemu-lockstat-'));
    try {
      const source =
        'const a: number = 1;\n\n\n\nexport function rmqueue_bulk(): number {\n  return spin(a);\n}\n';
      const out = transformSync(source, {
        loader: 'ts',
        format: 'esm',
        sourcemap: 'external',
        sourcefile: '../../src/kernel/page_alloc.ts',
      });
      const file = join(dir, 'chunk-TEST.mjs');
      writeFileSync(file, out.code);
      writeFileSync(`${file}.map`, out.map);
      const lines = out.code.split('\n');
      const line = lines.findIndex((l) => l.includes('spin('));
      const column = lines[line]!.indexOf('spin(');
      expect(line).toBeGreaterThanOrEqual(0);
      // a worker leaves the bundle's position alone: reading the map is the main thread's job
      const raw = `rmqueue_bulk (${file}:${line + 1}:${column + 1})`;
      expect(site_label(raw, false)).toBe(raw);
      expect(site_label(raw)).toBe('rmqueue_bulk (page_alloc.ts:6)');
      expect(site_label('rmqueue_bulk (page_alloc.ts:6)')).toBe('rmqueue_bulk (page_alloc.ts:6)');
      // no map: the generated file and line
      const bare = join(dir, 'bare.mjs');
      writeFileSync(bare, out.code);
      expect(site_label(`f (${bare}:3:1)`)).toBe('f (bare.mjs:3)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('--lockstat=contention: perf lock contention at the lowest cost', () => {
  it('reads no clock on an uncontended acquisition: no hold times, no held stack', () => {
    const v = boot({ lockstat: 'contention' });
    const zone = v.L.zone;
    spin_lock(zone, LOCK.zone, at.any);
    expect(lockstat_held_depth()).toBe(0);
    spin_unlock(zone, LOCK.zone);
    lock_page(7, at.any);
    unlock_page(7);
    expect(spin_trylock(zone, LOCK.zone, at.any)).toBe(true);
    spin_unlock(zone, LOCK.zone);
    for (const cls of [LOCK.zone, LOCK.page]) {
      expect(field(v, 0, cls, LOCKSTAT.hold_nr)).toBe(0);
      expect(lockOf(v, cls).holdTimeUs.total).toBe(0);
    }
    expect(lockOf(v, LOCK.zone).acquisitions).toBe(2);
  });

  it('times a contended wait and its call site, and leaves no mark on the holder', () => {
    const v = boot({ lockstat: 'contention' });
    const zone = v.L.zone;
    set_this_cpu(0);
    spin_lock(zone, LOCK.zone, at.any);
    set_this_cpu(1);
    function rmqueue_like(): void {
      lock_wait_end(LOCK.zone, lock_wait_begin(zone + LOCK_SLOT.cpu, LOCK.zone, at.rmqueue_like));
    }
    rmqueue_like();
    const marks = 2 * (lockstatBase(v.L, 0) + LOCKSTAT_MARKS);
    expect(Array.from(v.i32.subarray(marks, marks + LOCK_CLASSES.length))).toEqual(
      LOCK_CLASSES.map(() => 0),
    );
    set_this_cpu(0);
    spin_unlock(zone, LOCK.zone);
    const s = lockstat_sites();
    expect(s.contended.every((c) => c.length === 0)).toBe(true);
    expect(s.contention[LOCK.zone]!.map((x) => site_label(x[0]))).toEqual([
      expect.stringMatching(/^rmqueue_like \(/),
    ]);
    expect(field(v, 1, LOCK.zone, LOCKSTAT.wait_nr)).toBe(1);
  });
});

describe('the views: /proc/lock_stat and perf lock contention', () => {
  const times = (total: number, n: number) => ({
    min: n ? total / n : 0,
    max: n ? total / n : 0,
    total,
    avg: n ? total / n : 0,
  });
  const lock = (name: string, contentions: number, points: [string, number, number][]) => ({
    name,
    acquisitions: 1000 + contentions,
    contentions,
    conBounces: contentions,
    acqBounces: 7,
    waitTimeUs: times(
      points.reduce((a, p) => a + p[2], 0),
      contentions,
    ),
    holdTimeUs: times(12.5, 1000 + contentions),
    topCallSites: points.map(([site, n]) => ({ site, contentions: n })),
    contentionPoints: points.map(([site, n, total]) => ({
      site,
      contentions: n,
      waitTimeUs: { total, max: total, avg: total / n },
    })),
    contendedPoints: points.slice(0, 1).map(([site, n]) => ({ site, contentions: n })),
  });
  const locks = [
    lock('call_lock', 0, []),
    lock('zone->lru_lock', 3, [
      ['lru_cache_add (filemap.ts:120)', 2, 10],
      ['__page_cache_release (swap.ts:40)', 1, 2500],
    ]),
    lock('zone->lock', 1, [['free_pages_bulk (page_alloc.ts:88)', 1, 400]]),
  ];

  it('prints lock_stat version 0.4 with the kernel widths, & on class names, both point lists', () => {
    const out = renderLockstat(locks, 'full').split('\n');
    expect(out[0]).toBe('lock_stat version 0.4');
    const dashes = '-'.repeat(40 + 1 + 12 * 15);
    expect(out[1]).toBe(dashes);
    expect(out[2]).toMatch(/^ {30}class name {4}con-bounces {4}contentions {3}waittime-min/);
    expect(out[2]!.trimEnd().endsWith('holdtime-avg')).toBe(true);
    expect(out[2]).toHaveLength(40 + 12 * 15);
    expect(out[3]).toBe(dashes);
    expect(out[4]).toBe('');
    // most contended first; the name right-aligned in 40 columns, then ':'
    const lru = out.findIndex((l) => l.includes('&zone->lru_lock:'));
    const zone = out.findIndex((l) => l.includes('&zone->lock:'));
    expect(lru).toBe(5);
    expect(zone).toBeGreaterThan(lru);
    expect(out[lru]!.indexOf(':')).toBe(40);
    expect(out[lru]).toMatch(/^ +&zone->lru_lock: +3 +3 +/);
    expect(out[lru]).toHaveLength(40 + 1 + 15 + 14 + 4 * 15 + 16 + 14 + 4 * 15);
    // short separator as long as the name, ending at column 40; then the points
    const sep = `${' '.repeat(40 - '&zone->lru_lock'.length)}${'-'.repeat('&zone->lru_lock'.length)}`;
    expect(out[lru + 1]).toBe(sep);
    expect(out[lru + 2]).toMatch(/^ +&zone->lru_lock +2 +\[<filemap\.ts:120>\] lru_cache_add$/);
    expect(out[lru + 3]).toMatch(/^ +&zone->lru_lock +1 +\[<swap\.ts:40>\] __page_cache_release$/);
    expect(out[lru + 4]).toBe(sep); // the contended points (holders)
    expect(out[lru + 5]).toMatch(/\[<filemap\.ts:120>\] lru_cache_add$/);
    expect(out[lru + 6]).toBe('');
    expect(out[lru + 7]).toBe('.'.repeat(40 + 1 + 12 * 15));
    // a class taken but never contended: its line only, no & for a static lock
    expect(out.some((l) => /^ +call_lock: +0 +0 +0\.00/.test(l))).toBe(true);
  });

  it('prints - for what a mode did not measure', () => {
    const off = renderLockstat(locks, false);
    expect(off).toMatch(/&zone->lock: +1 +1 +- +- +- +- +7 +1001 +- +- +- +-$/m);
    expect(off).not.toContain('[<');
    const c = renderLockstat(locks, 'contention');
    expect(c).toMatch(
      /&zone->lock: +1 +1 +400\.00 +400\.00 +400\.00 +400\.00 +7 +1001 +- +- +- +-$/m,
    );
  });

  it('gives perf lock contention one line per call site, most total wait first', () => {
    const rows = lockContention(locks);
    expect(rows.map((r) => [r.caller, r.lockClass, r.totalWaitUs])).toEqual([
      ['__page_cache_release (swap.ts:40)', 'zone->lru_lock', 2500],
      ['free_pages_bulk (page_alloc.ts:88)', 'zone->lock', 400],
      ['lru_cache_add (filemap.ts:120)', 'zone->lru_lock', 10],
    ]);
    expect(rows[2]).toEqual({
      contended: 2,
      totalWaitUs: 10,
      maxWaitUs: 10,
      avgWaitUs: 5,
      lockClass: 'zone->lru_lock',
      caller: 'lru_cache_add (filemap.ts:120)',
    });
    const text = renderLockContention(locks).split('\n');
    expect(text[1]).toMatch(/contended +total wait +max wait +avg wait +lock class +caller/);
    expect(text[3]).toMatch(
      /^ +1 +2\.50 ms +2\.50 ms +2\.50 ms +&zone->lru_lock +__page_cache_release \(swap\.ts:40\)$/,
    );
    expect(text[5]).toMatch(/^ +2 +10\.00 us +10\.00 us +5\.00 us +&zone->lru_lock +lru_cache_add/);
    expect(perfTime(0.31)).toBe('310 ns');
    expect(perfTime(2_000_000)).toBe('2.00 s');
  });

  it('shows lock_stat and the contention view in full mode, only the view in contention mode', () => {
    expect(renderLocks(locks, 'full')).toContain('lock_stat version 0.4');
    expect(renderLocks(locks, 'full')).toContain('perf lock contention');
    expect(renderLocks(locks, 'contention')).not.toContain('lock_stat version');
    expect(renderLocks(locks, 'contention')).toContain('perf lock contention');
    expect(renderLocks(locks, false)).not.toContain('perf lock contention');
  });

  it('puts null in the JSON for what was not measured, never 0', () => {
    const off = locksJson(locks, false);
    for (const l of off) {
      expect(l.waitTimeUs).toBeNull();
      expect(l.holdTimeUs).toBeNull();
      expect(l.topCallSites).toBeNull();
      expect(l.contentionPoints).toBeNull();
      expect(l.contendedPoints).toBeNull();
      expect(l.acquisitions).toBeGreaterThan(0); // counted always
    }
    expect(lockContentionJson(locks, false)).toBeNull();
    const c = locksJson(locks, 'contention');
    expect(c[1]!.holdTimeUs).toBeNull();
    expect(c[1]!.contendedPoints).toBeNull();
    expect(c[1]!.waitTimeUs).toEqual(locks[1]!.waitTimeUs);
    expect(lockContentionJson(locks, 'contention')).toHaveLength(3);
    expect(locksJson(locks, 'full')).toEqual(locks);
    expect(locksJson(locks, true)).toEqual(locks); // an old config's boolean
  });
});

describe('--lockstat on the command line', () => {
  const parse = (args: string[]) => {
    const cmd = addMachineOptions(new Command('run').exitOverride());
    cmd.configureOutput({ writeErr: () => undefined });
    cmd.parse(args, { from: 'user' });
    return configFromFlags(cmd.opts());
  };
  it('is off without the flag, full given bare, the mode given one', () => {
    expect(parse([]).lockstat).toBe(false);
    expect(parse(['--lockstat']).lockstat).toBe('full');
    expect(parse(['--lockstat', '--cpus', '2']).lockstat).toBe('full');
    expect(parse(['--lockstat=contention']).lockstat).toBe('contention');
    expect(parse(['--lockstat=full']).lockstat).toBe('full');
  });
  it('refuses another mode', () => {
    expect(() => parse(['--lockstat=holds'])).toThrow(/Allowed choices are full, contention/);
  });
});

describe('ticket spinlock', () => {
  it('hands out tickets and serves them in order; a trylock never jumps the queue', () => {
    const v = boot({ spinlock: 'ticket' });
    const lock = v.L.zone;
    const { i32 } = v;
    expect(arch_spin_is_locked(i32, lock)).toBe(false);
    spin_lock(lock, LOCK.zone, at.any);
    expect([i32[lock + LOCK_SLOT.val], i32[lock + LOCK_SLOT.owner]]).toEqual([1, 0]);
    expect(arch_spin_is_locked(i32, lock)).toBe(true);
    expect(spin_trylock(lock, LOCK.zone, at.any)).toBe(false);
    // a waiter on another CPU takes ticket 1 (what its slow path does first)
    expect(Atomics.add(i32, lock + LOCK_SLOT.val, 1)).toBe(1);
    spin_unlock(lock, LOCK.zone);
    // ticket 1 is being served: the lock is the waiter's, not free for a trylock
    expect(i32[lock + LOCK_SLOT.owner]).toBe(1);
    expect(arch_spin_is_locked(i32, lock)).toBe(true);
    expect(spin_trylock(lock, LOCK.zone, at.any)).toBe(false);
    Atomics.add(i32, lock + LOCK_SLOT.owner, 1); // the waiter unlocks
    expect(spin_trylock(lock, LOCK.zone, at.any)).toBe(true);
    spin_unlock(lock, LOCK.zone);
    expect([i32[lock + LOCK_SLOT.val], i32[lock + LOCK_SLOT.owner]]).toEqual([3, 3]);
  });

  it('wraps around 2^32 tickets', () => {
    const v = boot({ spinlock: 'ticket' });
    const lock = v.L.call_lock;
    v.i32[lock + LOCK_SLOT.val] = 0x7fffffff;
    v.i32[lock + LOCK_SLOT.owner] = 0x7fffffff;
    spin_lock(lock, LOCK.call_lock, at.any);
    spin_unlock(lock, LOCK.call_lock);
    spin_lock(lock, LOCK.call_lock, at.any);
    expect(v.i32[lock + LOCK_SLOT.val]).toBe(-0x7fffffff);
    spin_unlock(lock, LOCK.call_lock);
    expect(arch_spin_is_locked(v.i32, lock)).toBe(false);
  });
});

describe('latency histograms', () => {
  it('puts every duration in a bucket whose edges hold it', () => {
    for (const us of [0, 0.1, 0.25, 0.3, 1, 1.5, 2, 37, 1000, 123456, 1e9]) {
      const b = hist_bucket(us);
      const [lo, hi] = bucket_edges(b);
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThan(LAT_HIST.buckets);
      expect(us >= lo && us < hi).toBe(true);
    }
    expect(hist_bucket(Number.NaN)).toBe(0);
    expect(hist_bucket(4)).toBe(hist_bucket(2) + LAT_HIST.sub); // one octave
  });

  it('tiles the line: each bucket starts where the previous ends, and its lower edge falls in it', () => {
    for (let b = 0; b < LAT_HIST.buckets; b++) {
      const [lo, hi] = bucket_edges(b);
      expect(hist_bucket(lo)).toBe(b);
      expect(hi).toBeGreaterThan(lo);
      if (b + 1 < LAT_HIST.buckets) expect(bucket_edges(b + 1)[0]).toBe(hi);
    }
    expect(bucket_edges(LAT_HIST.buckets - 1)[1]).toBe(Number.POSITIVE_INFINITY);
  });

  it('gives quantiles as bucket upper edges, capped by the max', () => {
    const h = new Float64Array(LAT_HIST.buckets);
    h[hist_bucket(1)] = 98;
    h[hist_bucket(100)] = 2;
    expect(quantile(h, 0.5, 150)).toBe(bucket_edges(hist_bucket(1))[1]);
    expect(quantile(h, 0.99, 150)).toBe(bucket_edges(hist_bucket(100))[1]);
    expect(quantile(h, 0.99, 101)).toBe(101);
    expect(quantile(new Float64Array(4), 0.5, 0)).toBe(0);
  });

  it('records interrupts-off sections and smp_call_function calls of this CPU', () => {
    const v = boot({ cpus: 1 });
    local_irq_disable();
    local_irq_enable();
    local_irq_disable();
    local_irq_enable();
    smp_call_function(FUNC.page_hva_sync, true); // no other CPU: returns at once
    const lat = readLatency(v);
    expect(lat.irqsOff[0]!.count).toBe(2);
    expect(lat.rendezvous.count).toBe(1);
    expect(lat.rendezvous.maxUs).toBeGreaterThan(0);
    expect(lat.ipiResponse[0]!.count).toBe(0);
    const base = latencyBase(v.L, 0);
    expect(v.f64[base + LATENCY.call_max_us]).toBe(lat.rendezvous.maxUs);
    expect(lockOf(v, LOCK.call_lock).acquisitions).toBe(1);
  });
});
