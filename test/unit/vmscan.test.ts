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
import { find_get_page, lru_cache_add, pagecache_slot } from '../../src/kernel/filemap.ts';
import { alloc_page, discard_pvec_pages, get_page, put_page } from '../../src/kernel/page_alloc.ts';
import { page_hva_discard_page } from '../../src/kernel/page_hva.ts';
import {
  PG_dirty,
  PG_discarded,
  PG_lru,
  page_count,
  page_flags,
  page_mapping,
  SetPageFlag,
} from '../../src/kernel/page-flags.ts';
import {
  isolate_lru_pages,
  SWAP_CLUSTER_MAX,
  shrink_discards,
  shrink_list,
  try_to_free_pages,
} from '../../src/kernel/vmscan.ts';
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
  percpuWord,
  violationKinds,
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

const percpuDiscardList = (cpu: number) => listPfns(percpuHeadNode(K.L, cpu, PERCPU_HEADS.discard));

describe('page_shrink_discards (percpu-2006, cpus = 1)', () => {
  beforeEach(() => {
    m = boot({ cpus: 1, pages: 256, files: 4, protocol: 'percpu-2006' });
  });

  it("gathers this CPU's list with on_each_cpu, clears PG_discarded and mapping, frees every page and returns how many", () => {
    const ps = discardedCachePages(5);
    for (let i = 0; i < 5; i++) expect(find_get_page(0, i)).toBe(-1);
    expect(percpuDiscardList(0)).toEqual(ps);
    const freed = shrink_discards();
    expect(freed).toBe(5);
    expect(percpuDiscardList(0)).toEqual([]);
    expect(listPfns(percpuHeadNode(K.L, 0, PERCPU_HEADS.splice))).toEqual([]);
    expect(counter(0, 'rendezvous')).toBe(1);
    expect(counter(0, 'pagesFreedFromList')).toBe(5);
    for (const p of ps) {
      expect(page_flags(p) & PG_discarded).toBe(0);
      expect(page_mapping(p)).toBe(0); // a model difference: 3/9's __page_discard had cleared it
      expect(page_count(p)).toBe(0);
      expect(hw_host_state(p)).toBe(HS.Ur);
    }
    expect([...coldList(0), ...freeList()]).toEqual(expect.arrayContaining(ps));
    expect(percpuWord(0, 'irqs_enabled')).toBe(1);
    expect(percpuWord(0, 'preempt_count')).toBe(0);
    expect(audit(m).errors).toEqual([]);
    expect(violations(m)).toEqual([]);
  });

  it('looks at nothing before the IPIs: an empty shrink still sends them', () => {
    expect(shrink_discards()).toBe(0);
    expect(counter(0, 'rendezvous')).toBe(1);
    expect(counter(0, 'splices')).toBe(0);
  });

  it("try_to_free_pages counts page_shrink_discards' pages in nr_reclaimed", () => {
    discardedCachePages(SWAP_CLUSTER_MAX, 32);
    for (let i = 0; i < SWAP_CLUSTER_MAX; i++) expect(find_get_page(1, i)).toBe(-1);
    cachePage(0, 0);
    // the first pass: 32 from the list, the clean page from the LRU; enough
    expect(try_to_free_pages()).toBe(SWAP_CLUSTER_MAX + 1);
    expect(counter(0, 'rendezvous')).toBe(1); // one pass (every pass sends IPIs)
    expect(lruList()).toEqual([]);
    expect(violations(m)).toEqual([]);
  });
});

describe('2.6.15 reclaim: isolate_lru_pages, shrink_list, remove_mapping (cpus = 1)', () => {
  beforeEach(() => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
  });

  it('isolate_lru_pages puts a page it finds at count 0 back on the LRU (get_page_testone: being freed elsewhere)', () => {
    const p = alloc_page();
    lru_cache_add(p);
    Atomics.sub(K.i32, K.L.page_count + p, 1); // put_page's decrement, before __page_cache_release
    expect(isolate_lru_pages(1)).toBe(1);
    expect(listPfns(percpuHeadNode(K.L, 0, PERCPU_HEADS.isolate))).toEqual([]);
    expect(lruList()).toEqual([p]);
    expect(page_flags(p) & PG_lru).toBe(PG_lru);
    expect(page_count(p)).toBe(0);
    expect(zoneWord('nr_lru')).toBe(1);
    expect(violations(m)).toEqual([]);
  });

  it('isolate_lru_pages takes a referenced page with a reference; shrink_list frees it through remove_mapping', () => {
    const p = cachePage(0, 0);
    expect(isolate_lru_pages(1)).toBe(1);
    expect(page_count(p)).toBe(2); // the page cache's and ours
    expect(page_flags(p) & PG_lru).toBe(0);
    expect(shrink_list()).toBe(1);
    expect(pagecache_slot(0, 0)).toBe(-1);
    expect(page_count(p)).toBe(0);
    expect(page_mapping(p)).toBe(0);
    expect(coldList(0)).toContain(p);
    expect(violations(m)).toEqual([]);
  });

  /**
   * cpu A holds a reference to P (the discard fault's, or a finder's) while
   * cpu B (reclaim) has P isolated; A's discard takes P out of the tree,
   * keeping page->mapping (1/6), and drops the cache's reference: count 2 =
   * A's + B's. Returns P.
   */
  function discardedWhileIsolated(): number {
    const p = cachePage(0, 0);
    get_page(p); // A
    expect(isolate_lru_pages(1)).toBe(1); // B
    makeDiscarded(p, 3); // count 3: the cache's, A's, B's; no mapping
    page_hva_discard_page(p);
    expect(pagecache_slot(0, 0)).toBe(-1);
    expect(page_mapping(p)).toBe(1);
    expect(page_count(p)).toBe(2);
    return p;
  }

  it("dec-2005 as posted: remove_mapping on a page its discard already took out of the cache drops the discarder's reference: negative-count", () => {
    m = boot({ cpus: 1, pages: 256, files: 4, protocol: 'dec-2005' });
    const p = discardedWhileIsolated();
    // B: count 2, clean: __remove_from_page_cache only clears the mapping,
    // __put_page drops A's reference as if it were the cache's, and the
    // release of B's parks the page.
    expect(shrink_list()).toBe(1);
    expect(page_count(p)).toBe(0);
    expect(page_mapping(p)).toBe(0);
    expect(discard_pvec_pages(0)).toEqual([p]);
    expect(violations(m)).toEqual([]);
    put_page(p); // A lets go of the reference it still holds
    expect(violationKinds(m)).toEqual(['negative-count']);
  });

  it("dec-2005-fixed (patched): remove_mapping refuses the PG_discarded page; back on the LRU, the discarder's put parks it", () => {
    expect(m.cfg.protocol).toBe('patched');
    expect(K.protocol).toBe('dec-2005-fixed');
    const p = discardedWhileIsolated();
    expect(shrink_list()).toBe(0); // cannot_free: kept
    expect(page_count(p)).toBe(1); // A's
    expect(page_mapping(p)).toBe(1); // untouched: nobody cleared it
    expect(lruList()).toEqual([p]);
    expect(page_flags(p) & (PG_lru | PG_discarded)).toBe(PG_lru | PG_discarded);
    expect(discard_pvec_pages(0)).toEqual([]);
    // isolated again by a later pass: refused again
    expect(isolate_lru_pages(1)).toBe(1);
    expect(shrink_list()).toBe(0);
    expect(page_count(p)).toBe(1);
    put_page(p); // A's page_cache_release: the last reference
    expect(page_count(p)).toBe(0);
    expect(lruList()).toEqual([]);
    expect(zoneWord('nr_lru')).toBe(0);
    expect(page_flags(p) & PG_lru).toBe(0);
    expect(discard_pvec_pages(0)).toEqual([p]); // parked, PG_discarded, as any discarded page
    expect(violations(m)).toEqual([]);
    expect(audit(m).errors).toEqual([]);
  });

  it("dec-2005-fixed: the discarder lets go first; reclaim's release parks the page", () => {
    const p = discardedWhileIsolated();
    put_page(p); // A: count 1, reclaim's
    expect(shrink_list()).toBe(0); // count 1: cannot_free in either version
    expect(page_count(p)).toBe(0);
    expect(lruList()).toEqual([]);
    expect(discard_pvec_pages(0)).toEqual([p]);
    expect(violations(m)).toEqual([]);
    expect(audit(m).errors).toEqual([]);
  });

  it('dec-2005-fixed still reclaims a Vz page that is in the cache: 5/6 marks and parks it', () => {
    const p = cachePage(0, 0);
    makeDiscarded(p, 1);
    expect(isolate_lru_pages(1)).toBe(1);
    expect(shrink_list()).toBe(1);
    expect(pagecache_slot(0, 0)).toBe(-1);
    expect(page_count(p)).toBe(0);
    expect(discard_pvec_pages(0)).toEqual([p]);
    expect(violations(m)).toEqual([]);
  });

  it('percpu-2006 keeps the page too (2.6.18: its discard cleared the mapping)', () => {
    m = boot({ cpus: 1, pages: 256, files: 4, protocol: 'percpu-2006' });
    const p = discardedWhileIsolated();
    expect(shrink_list()).toBe(0);
    put_page(p);
    expect(page_count(p)).toBe(0);
    expect(percpuDiscardList(0)).toEqual([p]);
    expect(violations(m)).toEqual([]);
  });

  it('shrink_list keeps a dirty, a mapped-less truncated and a busy page (remove_mapping: count != 2)', () => {
    const dirty = cachePage(0, 0);
    SetPageFlag(dirty, PG_dirty);
    const busy = cachePage(0, 1);
    get_page(busy);
    expect(isolate_lru_pages(2)).toBe(2);
    expect(shrink_list()).toBe(0);
    expect(lruList()).toEqual(expect.arrayContaining([dirty, busy]));
    expect(page_count(dirty)).toBe(1);
    expect(page_count(busy)).toBe(2);
    expect(pagecache_slot(0, 1)).toBe(busy);
    put_page(busy);
    expect(violations(m)).toEqual([]);
  });
});
