/**
 * The conservation audit (src/check/audit.ts): clean after boot, clean after
 * a seeded workload played in this thread (one CPU, the host simulated
 * between operations), and failing on deliberately corrupted states.
 */
import { describe, expect, it } from 'vitest';
import { audit } from '../../src/check/audit.ts';
import { K } from '../../src/kernel/context.ts';
import { HS } from '../../src/kernel/essa.ts';
import { list_del } from '../../src/kernel/list.ts';
import { ZONE } from '../../src/shm/layout.ts';
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
    expect(a.errors).toEqual([`pfn ${p}: count 2, but 1 references (cache + ptes) found`]);
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
