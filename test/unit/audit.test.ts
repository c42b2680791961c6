/**
 * The conservation audit (src/check/audit.ts): clean after boot, clean after
 * a seeded workload played in this thread (one CPU, the host simulated
 * between operations), and failing on deliberately corrupted states.
 */
import { describe, expect, it } from 'vitest';
import { audit, PARKED_BOUND_MS } from '../../src/check/audit.ts';
import { K } from '../../src/kernel/context.ts';
import { HS } from '../../src/kernel/essa.ts';
import { list_add_tail, list_del } from '../../src/kernel/list.ts';
import { ClearPageFlag, PG_discarded, SetPageFlag } from '../../src/kernel/page-flags.ts';
import { DISCARD, HEAD, HIST, headNode, pvecBase, ZONE } from '../../src/shm/layout.ts';
import { workload_init, workload_op } from '../../src/workload/workload.ts';
import {
  boot,
  cachePage,
  counter,
  freeList,
  type Machine,
  violations,
} from '../helpers/machine.ts';

let m: Machine;

/**
 * Run `nr_ops` workload operations on cpu 0; every 8 operations the "host"
 * discards up to 4 volatile resident frames (a clock hand, as src/host does).
 */
function playWorkload(seed: number, nr_ops: number): void {
  workload_init(seed, 0);
  let hand = 0;
  for (let op = 0; op < nr_ops; op++) {
    workload_op();
    if (op % 8 !== 7) continue;
    let quota = 4;
    for (let scanned = 0; scanned < K.L.nr_pages && quota > 0; scanned++) {
      const idx = K.L.host_state + hand;
      hand = (hand + 1) % K.L.nr_pages;
      if (Atomics.compareExchange(K.i32, idx, HS.Vr, HS.Vz) === HS.Vr) quota--;
    }
  }
}

describe('audit', () => {
  it('is clean after boot', () => {
    m = boot({ cpus: 4, pages: 256 });
    const a = audit(m);
    expect(a).toEqual({
      ok: true,
      nrPages: 256,
      free: 256,
      perCpuLists: 0,
      inUse: 0,
      parkedOnList: 0,
      inPagevecs: 0,
      accounted: 256,
      errors: [],
      parked: { oldestAgeMs: 0, overBound: 0, boundMs: PARKED_BOUND_MS },
      warnings: [],
    });
  });

  it('is clean after a seeded workload that went through every path of the protocol', () => {
    m = boot({ cpus: 1, pages: 512, files: 32 });
    playWorkload(12345, 10_000);
    const a = audit(m);
    expect(a.errors).toEqual([]);
    expect(a.ok).toBe(true);
    expect(a.accounted).toBe(512);
    expect(violations(m)).toEqual([]);
    // the workload did reach the protocol's paths (deterministic: one thread, a seed)
    for (const c of [
      'discardFaults',
      'pagesParked',
      'listFlushes',
      'pagesFreedFromList',
      'rendezvous',
      'reclaims',
      'findGetPageDiscarded',
      'truncates',
    ] as const) {
      expect(counter(0, c), c).toBeGreaterThan(0);
    }
  });

  it('detects a leaked page', () => {
    m = boot({ cpus: 2, pages: 256 });
    const p = freeList()[10]!;
    list_del(p); // off the free list, and nowhere else
    K.i32[K.L.zone + ZONE.free_pages]!--;
    const a = audit(m);
    expect(a.ok).toBe(false);
    expect(a.errors).toContain(`pfn ${p}: count 0 and on no list (leaked)`);
    expect(a.errors.some((e) => e.startsWith('conservation:'))).toBe(true);
    expect(a.accounted).toBe(255);
  });

  it('detects a broken link', () => {
    m = boot({ cpus: 2, pages: 256 });
    K.i32[K.L.lru_prev + 20] = 7; // pfn 20's prev should be 19
    const a = audit(m);
    expect(a.ok).toBe(false);
    expect(a.errors).toEqual(['zone free list: pfn 20 prev link broken']);
  });

  it('detects a free-list counter that disagrees with the list', () => {
    m = boot({ cpus: 2, pages: 256 });
    K.i32[K.L.zone + ZONE.free_pages]!++;
    expect(audit(m).errors).toEqual(['zone free list has 256 pages, free_pages says 257']);
  });

  it('detects a wrong reference count', () => {
    m = boot({ cpus: 2, pages: 256 });
    const p = cachePage(1, 1);
    expect(audit(m).ok).toBe(true);
    Atomics.add(K.i32, K.L.page_count + p, 1); // a leaked reference
    const a = audit(m);
    expect(a.ok).toBe(false);
    expect(a.errors).toEqual([`pfn ${p}: count 2, but 1 references (cache, ptes, network) found`]);
  });

  it('detects a page both free and in use', () => {
    m = boot({ cpus: 2, pages: 256 });
    const p = freeList()[3]!;
    Atomics.store(K.i32, K.L.page_count + p, 1);
    const a = audit(m);
    expect(a.ok).toBe(false);
    expect(a.errors).toContain(`pfn ${p} has count 1 but is on the zone free list`);
  });
});

/**
 * Park `pfns` by hand as free_hot_cold_page's discard branch leaves them:
 * off the free list, count 0, PG_discarded, host state Vz, parked at the
 * given wall-clock times; the first `inPvec` in CPU 0's pagevec, the rest on
 * page_hva_discard_list.
 */
function parkByHand(pfns: number[], inPvec: number, parkedAt: number[]): void {
  const { i32, f64, L } = K;
  const pvec = pvecBase(L, 0);
  pfns.forEach((p, i) => {
    list_del(p);
    i32[L.zone + ZONE.free_pages]!--;
    SetPageFlag(p, PG_discarded);
    Atomics.store(i32, L.host_state + p, HS.Vz);
    f64[L.ghost_hist_t + p * HIST.nr + HIST.park] = parkedAt[i]!;
    if (i < inPvec) {
      i32[pvec + 1 + i] = p;
      i32[pvec] = i + 1;
    } else {
      list_add_tail(p, headNode(L, HEAD.discard));
      i32[L.discard + DISCARD.nr_pages]!++;
    }
  });
}

describe('audit: the host state, PG_discarded, and how long pages stay parked', () => {
  const T = 1_000_000; // a wall-clock instant (ms) to age against

  it('parked pages discarded by the host, with PG_discarded: clean; their ages are statistics', () => {
    m = boot({ cpus: 2, pages: 256 });
    // 2 in the pagevec (parked 5 s and 0.2 s ago), 2 on the list (3 s and 0.1 s ago)
    parkByHand([10, 11, 12, 13], 2, [T - 5000, T - 200, T - 3000, T - 100]);
    const a = audit(m, { nowMs: T, boundMs: 1000 });
    expect(a.errors).toEqual([]);
    expect(a.ok).toBe(true);
    expect([a.inPagevecs, a.parkedOnList]).toEqual([2, 2]);
    expect(a.parked).toEqual({ oldestAgeMs: 5000, overBound: 2, boundMs: 1000 });
    expect(a.warnings).toEqual([
      '2 page(s) parked longer than 1000 ms (oldest 5000 ms): a pagevec that is not full keeps its pages until it fills, and the discard list until the next reclaim',
    ]);
    // a larger bound: still the statistic, no warning
    const b = audit(m, { nowMs: T, boundMs: 10_000 });
    expect(b.parked).toEqual({ oldestAgeMs: 5000, overBound: 0, boundMs: 10_000 });
    expect(b.warnings).toEqual([]);
  });

  it('a parked page the host did not discard (Vr), or without PG_discarded, is an error', () => {
    m = boot({ cpus: 2, pages: 256 });
    parkByHand([20, 21, 22], 1, [T, T, T]);
    Atomics.store(K.i32, K.L.host_state + 20, HS.Vr);
    ClearPageFlag(22, PG_discarded);
    const a = audit(m, { nowMs: T });
    expect(a.ok).toBe(false);
    expect(a.errors).toEqual([
      'pfn 20 is on the discard pagevec but its host state is Vr, not Vz',
      'pfn 22 is on the discard list without PG_discarded',
    ]);
  });

  it('a free frame the host sees in use, or a frame in use the host sees unused, is an error', () => {
    m = boot({ cpus: 2, pages: 256 });
    Atomics.store(K.i32, K.L.host_state + 30, HS.Sr);
    const p = cachePage(1, 2);
    Atomics.store(K.i32, K.L.host_state + p, HS.Ur);
    const a = audit(m);
    expect(a.ok).toBe(false);
    expect(a.errors).toHaveLength(2);
    expect(a.errors).toContain(
      'pfn 30 is on the zone free list but its host state is Sr, not unused (U)',
    );
    expect(a.errors).toContain(`pfn ${p} is in use (count 1) but its host state is Ur (unused)`);
  });

  it('survives a pagevec with a count or a pfn out of bounds (errors, no stray index)', () => {
    m = boot({ cpus: 2, pages: 256 });
    const pvec0 = pvecBase(K.L, 0);
    const pvec1 = pvecBase(K.L, 1);
    K.i32[pvec0] = 1;
    K.i32[pvec0 + 1] = K.L.nr_pages + 2; // a list head's index
    K.i32[pvec1] = 1 << 20;
    const a = audit(m);
    expect(a.errors).toEqual([
      `cpu 0's pagevec: slot 0 holds ${K.L.nr_pages + 2}, not a pfn`,
      `cpu 1's pagevec: count ${1 << 20} outside 0..${K.L.pagevec_size}`,
    ]);
  });
});
