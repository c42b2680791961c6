/**
 * mm/vmscan.c (src/kernel/vmscan.ts), single thread with one CPU: with
 * cpus = 1 smp_call_function has no target and returns at once, so
 * shrink_discards runs whole in this thread. (Its rendezvous with real
 * targets is tested with workers in test/concurrency/rendezvous.test.ts.)
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { audit } from '../../src/check/audit.ts';
import { K } from '../../src/kernel/context.ts';
import { HS, hw_host_state } from '../../src/kernel/essa.ts';
import { find_get_page, pagecache_slot } from '../../src/kernel/filemap.ts';
import { alloc_page, discard_pvec_pages, put_page } from '../../src/kernel/page_alloc.ts';
import {
  PG_dirty,
  PG_discarded,
  PG_lru,
  page_count,
  page_flags,
  page_mapping,
  SetPageFlag,
} from '../../src/kernel/page-flags.ts';
import { SWAP_CLUSTER_MAX, shrink_discards, try_to_free_pages } from '../../src/kernel/vmscan.ts';
import { PERCPU_HEADS, percpuHeadNode } from '../../src/shm/layout.ts';
import {
  boot,
  cachePage,
  coldList,
  counter,
  discardList,
  discardListCount,
  freeList,
  listPfns,
  lruList,
  type Machine,
  makeDiscarded,
  violations,
  zoneFree,
  zoneWord,
} from '../helpers/machine.ts';

let m: Machine;

/** Cache `n` pages of files 0.. and let the host discard them all; returns their pfns. */
function discardedCachePages(n: number, firstIndex = 0): number[] {
  return Array.from({ length: n }, (_, i) => {
    const k = firstIndex + i;
    const p = cachePage(k >> 5, k & 31);
    makeDiscarded(p, 1);
    return p;
  });
}

describe('shrink_discards (cpus = 1)', () => {
  beforeEach(() => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
  });

  it('splices the list, passes the (empty) rendezvous, clears PG_discarded and mapping and frees every page', () => {
    // 17 discarded pages freed by find_get_page: 14 flushed to the list, 3 left in the pagevec
    const ps = discardedCachePages(17);
    for (const p of ps) {
      expect(pagecache_slot(page_mapping(p) - 1, K.i32[K.L.page_index + p]!)).toBe(p);
    }
    // find_get_page discards each (Vz) page; the last put parks it
    for (let i = 0; i < ps.length; i++) expect(find_get_page(i >> 5, i & 31)).toBe(-1);
    const listed = ps.slice(0, 14);
    expect(discardList()).toEqual(listed);
    expect(discard_pvec_pages(0)).toEqual(ps.slice(14));
    const free0 = zoneFree();

    shrink_discards();

    expect(discardList()).toEqual([]);
    expect(discardListCount()).toBe(0);
    expect(listPfns(percpuHeadNode(m.L, 0, PERCPU_HEADS.splice))).toEqual([]);
    expect(counter(0, 'splices')).toBe(1);
    expect(counter(0, 'rendezvous')).toBe(1);
    expect(counter(0, 'pagesFreedFromList')).toBe(14);
    for (const p of listed) {
      expect(page_flags(p) & PG_discarded).toBe(0);
      expect(page_mapping(p)).toBe(0);
      expect(page_count(p)).toBe(0);
      expect(hw_host_state(p)).toBe(HS.Ur);
    }
    // back in the allocator: on the cold list or (bulk-freed at cold high) in the zone
    const inAllocator = new Set([...coldList(0), ...freeList()]);
    for (const p of listed) expect(inAllocator.has(p)).toBe(true);
    expect(coldList(0).length + (zoneFree() - free0)).toBe(14);
    // a pagevec that is not full is not drained
    expect(discard_pvec_pages(0)).toEqual(ps.slice(14));
    for (const p of ps.slice(14)) expect(page_flags(p) & PG_discarded).toBe(PG_discarded);
    expect(audit(m).errors).toEqual([]);
    expect(violations(m)).toEqual([]);
  });

  it('returns at once when the list is empty: no rendezvous', () => {
    shrink_discards();
    expect(counter(0, 'splices')).toBe(0);
    expect(counter(0, 'rendezvous')).toBe(0);
  });

  it('unpatched: there is no discard list to shrink', () => {
    m = boot({ cpus: 1, pages: 256, files: 4, protocol: 'unpatched' });
    shrink_discards();
    expect(counter(0, 'rendezvous')).toBe(0);
  });
});

describe('try_to_free_pages (cpus = 1)', () => {
  beforeEach(() => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
  });

  it('shrinks the discard list first, then reclaims SWAP_CLUSTER_MAX clean unmapped pages from the LRU tail', () => {
    const parked = discardedCachePages(14, 64); // files 2..
    for (let i = 0; i < 14; i++) expect(find_get_page(2, i)).toBe(-1);
    expect(discardList()).toEqual(parked);
    const clean = Array.from({ length: 40 }, (_, i) => cachePage(i >> 5, i & 31));
    expect(lruList()).toEqual([...clean].reverse());
    const reclaimed = try_to_free_pages();
    expect(reclaimed).toBe(SWAP_CLUSTER_MAX);
    expect(counter(0, 'reclaims')).toBe(1);
    expect(counter(0, 'pagesFreedFromList')).toBe(14);
    expect(discardList()).toEqual([]);
    // the 32 oldest went; the 8 most recent stay cached
    expect(lruList()).toEqual(clean.slice(32).reverse());
    for (const p of clean.slice(0, 32)) expect(page_count(p)).toBe(0);
    for (const p of clean.slice(32)) expect(page_count(p)).toBe(1);
    expect(zoneWord('nr_lru')).toBe(8);
    expect(audit(m).errors).toEqual([]);
    expect(violations(m)).toEqual([]);
  });

  it('puts dirty pages back, and a Vz page it reclaims is marked and parked', () => {
    const dirty = cachePage(0, 0);
    SetPageFlag(dirty, PG_dirty);
    const [gone] = discardedCachePages(1, 1) as [number];
    try_to_free_pages();
    expect(page_count(dirty)).toBe(1);
    expect(page_flags(dirty) & PG_lru).toBe(PG_lru);
    expect(pagecache_slot(0, 1)).toBe(-1);
    expect(page_count(gone)).toBe(0);
    expect(page_flags(gone) & PG_discarded).toBe(PG_discarded);
    expect(discard_pvec_pages(0)).toEqual([gone]);
    expect(audit(m).errors).toEqual([]);
    expect(violations(m)).toEqual([]);
  });

  it('alloc_page enters direct reclaim when free memory falls below pages_low', () => {
    const low = zoneWord('pages_low');
    const held: number[] = [];
    while (zoneFree() >= low) held.push(alloc_page());
    expect(counter(0, 'reclaims')).toBe(0);
    alloc_page();
    expect(counter(0, 'reclaims')).toBe(1);
    for (const p of held) put_page(p);
  });
});
