/**
 * lock_stat counters, bounces, timed path, ticket lock semantics and latency
 * histograms, single thread: one thread plays each CPU in turn with
 * set_this_cpu (a contention cannot happen in one thread, so the contention
 * hook is driven directly). Ticket FIFO order with real workers is in
 * test/concurrency/ticket.test.ts.
 */
import { describe, expect, it } from 'vitest';
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
  spin_trylock,
  spin_unlock,
} from '../../src/kernel/spinlock.ts';
import { shrink_discards } from '../../src/kernel/vmscan.ts';
import {
  allocate,
  computeLayout,
  DISCARD,
  LAT_HIST,
  LATENCY,
  LOCK_CLASSES,
  LOCK_SLOT,
  LOCKSTAT,
  latencyBase,
  lockstatBase,
  type Views,
} from '../../src/shm/layout.ts';
import { bucket_edges, hist_bucket, quantile, readLatency } from '../../src/stats/latency.ts';
import {
  contention_site,
  lock_contended,
  lock_wait_begin,
  lock_wait_end,
  lockstat_reset_sites,
  lockstat_sites,
  readLocks,
} from '../../src/stats/lockstat.ts';

function boot(input: Partial<ConfigInput> = {}): Views {
  const cfg = makeConfig({ cpus: 2, pages: 256, files: 4, seed: 1, faultDeliveryUs: 0, ...input });
  const v = allocate(computeLayout(cfg));
  kernel_boot(v, cfg);
  set_this_cpu(0);
  lockstat_reset_sites();
  return v;
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
      spin_lock(lock, LOCK.discard_list);
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
      spin_lock(a, LOCK.tree);
      spin_unlock(a, LOCK.tree);
      set_this_cpu(1);
      spin_lock(b, LOCK.tree);
      spin_unlock(b, LOCK.tree);
    }
    expect(lockOf(v, LOCK.tree).acquisitions).toBe(6);
    expect(lockOf(v, LOCK.tree).acqBounces).toBe(0);
  });

  it('counts a contention, and a con-bounce when the lock was last taken elsewhere', () => {
    const v = boot();
    const lock = v.L.zone; // zone->lock
    set_this_cpu(0);
    spin_lock(lock, LOCK.zone);
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
    expect(spin_trylock(lock, LOCK.call_lock)).toBe(true);
    expect(spin_trylock(lock, LOCK.call_lock)).toBe(false);
    spin_unlock(lock, LOCK.call_lock);
    expect(lockOf(v, LOCK.call_lock).acquisitions).toBe(1);
  });

  it('counts the page lock (PG_locked) with a last-CPU word per page', () => {
    const v = boot();
    const p = alloc_page();
    const q = alloc_page();
    set_this_cpu(0);
    lock_page(p);
    unlock_page(p);
    set_this_cpu(1);
    expect(trylock_page(q)).toBe(true);
    expect(trylock_page(q)).toBe(false);
    unlock_page(q);
    lock_page(p); // p was cpu 0's: a bounce
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

describe('--lockstat: the timed path', () => {
  it('times holds, in nesting order or not', () => {
    const v = boot({ lockstat: true });
    const zone = v.L.zone;
    const discard = v.L.discard + DISCARD.lock;
    spin_lock(zone, LOCK.zone);
    spin_lock(discard, LOCK.discard_list);
    spin_unlock(zone, LOCK.zone); // out of order
    spin_unlock(discard, LOCK.discard_list);
    lock_page(5);
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
    expect(v.f64[lockstatBase(v.L, 0) + LOCK_CLASSES.length * LOCKSTAT.nr_fields]).toBe(0);
  });

  it('records the contending call site and the wait', () => {
    const v = boot({ lockstat: true });
    function free_pages_bulk_like(): void {
      const t0 = lock_wait_begin(LOCK.zone);
      lock_wait_end(LOCK.zone, t0);
    }
    free_pages_bulk_like();
    free_pages_bulk_like();
    const sites = lockstat_sites()[LOCK.zone]!;
    expect(sites).toHaveLength(1);
    expect(sites[0]![0]).toMatch(/^free_pages_bulk_like \(lockstat\.test\.ts:\d+\)$/);
    expect(sites[0]![1]).toBe(2);
    expect(field(v, 0, LOCK.zone, LOCKSTAT.wait_nr)).toBe(2);
    const l = readLocks(v, [lockstat_sites()])[LOCK.zone]!;
    expect(l.topCallSites).toEqual([{ site: sites[0]![0], contentions: 2 }]);
  });

  it('names the first caller outside the lock code', () => {
    function some_kernel_function(): string {
      return contention_site();
    }
    expect(some_kernel_function()).toMatch(/^some_kernel_function \(/);
  });
});

describe('ticket spinlock', () => {
  it('hands out tickets and serves them in order; a trylock never jumps the queue', () => {
    const v = boot({ spinlock: 'ticket' });
    const lock = v.L.zone;
    const { i32 } = v;
    expect(arch_spin_is_locked(i32, lock)).toBe(false);
    spin_lock(lock, LOCK.zone);
    expect([i32[lock + LOCK_SLOT.val], i32[lock + LOCK_SLOT.owner]]).toEqual([1, 0]);
    expect(arch_spin_is_locked(i32, lock)).toBe(true);
    expect(spin_trylock(lock, LOCK.zone)).toBe(false);
    // a waiter on another CPU takes ticket 1 (what its slow path does first)
    expect(Atomics.add(i32, lock + LOCK_SLOT.val, 1)).toBe(1);
    spin_unlock(lock, LOCK.zone);
    // ticket 1 is being served: the lock is the waiter's, not free for a trylock
    expect(i32[lock + LOCK_SLOT.owner]).toBe(1);
    expect(arch_spin_is_locked(i32, lock)).toBe(true);
    expect(spin_trylock(lock, LOCK.zone)).toBe(false);
    Atomics.add(i32, lock + LOCK_SLOT.owner, 1); // the waiter unlocks
    expect(spin_trylock(lock, LOCK.zone)).toBe(true);
    spin_unlock(lock, LOCK.zone);
    expect([i32[lock + LOCK_SLOT.val], i32[lock + LOCK_SLOT.owner]]).toEqual([3, 3]);
  });

  it('wraps around 2^32 tickets', () => {
    const v = boot({ spinlock: 'ticket' });
    const lock = v.L.call_lock;
    v.i32[lock + LOCK_SLOT.val] = 0x7fffffff;
    v.i32[lock + LOCK_SLOT.owner] = 0x7fffffff;
    spin_lock(lock, LOCK.call_lock);
    spin_unlock(lock, LOCK.call_lock);
    spin_lock(lock, LOCK.call_lock);
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
