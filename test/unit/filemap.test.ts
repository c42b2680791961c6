/**
 * mm/filemap.c (src/kernel/filemap.ts), single thread, exact states: the page
 * cache, find_get_page with make_stable, and __remove_from_page_cache with
 * the series' host-discard check.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { recentEvents } from '../../src/check/decode.ts';
import { PAGES_PER_FILE } from '../../src/config.ts';
import { K } from '../../src/kernel/context.ts';
import { HS, hw_host_state, page_hva_set_volatile } from '../../src/kernel/essa.ts';
import {
  __remove_from_page_cache,
  add_to_page_cache,
  find_get_page,
  pagecache_slot,
  REMOVED,
  read_cache_page,
  remove_from_page_cache,
  tree_lock,
  write_cache_page,
} from '../../src/kernel/filemap.ts';
import { alloc_page, discard_pvec_pages, get_page, put_page } from '../../src/kernel/page_alloc.ts';
import { page_hva_discard_page } from '../../src/kernel/page_hva.ts';
import {
  PG_dirty,
  PG_discarded,
  PG_lru,
  PG_uptodate,
  page_count,
  page_flags,
  page_mapping,
} from '../../src/kernel/page-flags.ts';
import { LOCK, spin_lock, spin_unlock } from '../../src/kernel/spinlock.ts';
import { fileBase } from '../../src/shm/layout.ts';
import { lock_sites } from '../../src/stats/lock_sites.ts';
import {
  boot,
  cachePage,
  counter,
  hotList,
  lruList,
  type Machine,
  makeDiscarded,
  onGhostList,
  violations,
  zoneWord,
} from '../helpers/machine.ts';

/** lock_stat's call sites of this file's lock calls (the kernel's _RET_IP_). */
const at = lock_sites('removeLocked');

let m: Machine;
const nrpages = (file: number) => K.i32[fileBase(K.L, file) + K.L.file_nrpages]!;
const pageIndex = (pfn: number) => K.i32[K.L.page_index + pfn]!;

/** __remove_from_page_cache as its callers run it: under the mapping's tree_lock. */
function removeLocked(pfn: number, file: number, index: number): number {
  spin_lock(tree_lock(file), LOCK.tree, at.removeLocked);
  try {
    return __remove_from_page_cache(pfn, file, index);
  } finally {
    spin_unlock(tree_lock(file), LOCK.tree);
  }
}

describe('the page cache', () => {
  beforeEach(() => {
    m = boot({ cpus: 2, pages: 256, files: 4 });
  });

  it('add_to_page_cache takes the cache reference and fills the slot once', () => {
    const p = alloc_page();
    expect(add_to_page_cache(p, 2, 5)).toBe(true);
    expect(page_count(p)).toBe(2);
    expect(page_mapping(p)).toBe(3); // file + 1
    expect(pageIndex(p)).toBe(5);
    expect(pagecache_slot(2, 5)).toBe(p);
    expect(nrpages(2)).toBe(1);
    const q = alloc_page();
    expect(add_to_page_cache(q, 2, 5)).toBe(false); // slot taken
    expect(page_count(q)).toBe(1);
    expect(page_mapping(q)).toBe(0);
    expect(pagecache_slot(2, 5)).toBe(p);
    expect(nrpages(2)).toBe(1);
    expect(Atomics.load(K.i32, tree_lock(2))).toBe(0);
    expect(violations(m)).toEqual([]);
  });

  it('add_to_page_cache refuses an index past i_size (a truncate in progress)', () => {
    Atomics.store(K.i32, fileBase(K.L, 1) + K.L.file_size, 0);
    const p = alloc_page();
    expect(add_to_page_cache(p, 1, 0)).toBe(false);
    expect(page_count(p)).toBe(1);
    expect(read_cache_page(1, 3)).toBe(-1);
  });

  it('read_cache_page adds an up-to-date page to the cache and the LRU and returns it referenced', () => {
    const p = read_cache_page(0, 7);
    expect(page_count(p)).toBe(2);
    expect(page_flags(p) & (PG_uptodate | PG_lru)).toBe(PG_uptodate | PG_lru);
    expect(lruList()).toEqual([p]);
    expect(zoneWord('nr_lru')).toBe(1);
    expect(read_cache_page(0, 7)).toBe(p); // found this time
    expect(page_count(p)).toBe(3);
  });

  it('find_get_page returns the cached page with a reference, or -1', () => {
    const p = cachePage(1, 2);
    expect(page_count(p)).toBe(1);
    expect(find_get_page(1, 3)).toBe(-1);
    expect(find_get_page(1, 2)).toBe(p);
    expect(page_count(p)).toBe(2);
    expect(hw_host_state(p)).toBe(HS.Sr);
  });

  it('find_get_page makes a volatile resident page stable again', () => {
    const p = cachePage(1, 2);
    expect(page_hva_set_volatile(p)).toBe(true);
    expect(hw_host_state(p)).toBe(HS.Vr);
    expect(find_get_page(1, 2)).toBe(p);
    expect(hw_host_state(p)).toBe(HS.Sr);
    expect(counter(0, 'findGetPageDiscarded')).toBe(0);
  });
});

describe('find_get_page on a page the host discarded (Vz)', () => {
  it('patched: discards it, returns -1, and the last put parks it', () => {
    m = boot({ cpus: 2, pages: 256, files: 4 });
    const p = cachePage(1, 2);
    makeDiscarded(p, 1);
    const nrLru = zoneWord('nr_lru');
    expect(find_get_page(1, 2)).toBe(-1);
    expect(counter(0, 'findGetPageDiscarded')).toBe(1);
    expect(counter(0, 'discardPages')).toBe(1);
    expect(pagecache_slot(1, 2)).toBe(-1);
    expect(nrpages(1)).toBe(0);
    expect(page_flags(p) & (PG_discarded | PG_lru)).toBe(PG_discarded);
    expect(zoneWord('nr_lru')).toBe(nrLru - 1);
    expect(page_mapping(p)).toBe(2); // kept: later faults need it
    expect(page_count(p)).toBe(0);
    expect(discard_pvec_pages(0)).toEqual([p]);
    expect(hw_host_state(p)).toBe(HS.Vz);
    expect(violations(m)).toEqual([]);
  });

  it('unpatched: the page goes straight back to the allocator', () => {
    m = boot({ cpus: 2, pages: 256, files: 4, protocol: 'unpatched' });
    const p = cachePage(1, 2);
    makeDiscarded(p, 1);
    expect(find_get_page(1, 2)).toBe(-1);
    expect(pagecache_slot(1, 2)).toBe(-1);
    expect(page_count(p)).toBe(0);
    expect(discard_pvec_pages(0)).toEqual([]);
    expect(hotList(0)[0]).toBe(p);
    expect(page_flags(p) & (PG_discarded | PG_lru)).toBe(0);
    expect(page_mapping(p)).toBe(0);
    expect(hw_host_state(p)).toBe(HS.Ur);
    expect(violations(m)).toEqual([]);
  });
});

describe('__remove_from_page_cache', () => {
  it('patched: a Vz page gets PG_discarded on its way out; its last put parks it', () => {
    m = boot({ cpus: 2, pages: 256, files: 4 });
    const p = cachePage(3, 4);
    makeDiscarded(p, 1);
    expect(removeLocked(p, 3, 4)).toBe(REMOVED.removed_marked);
    expect(page_flags(p) & PG_discarded).toBe(PG_discarded);
    expect(page_mapping(p)).toBe(0);
    expect(pagecache_slot(3, 4)).toBe(-1);
    expect(nrpages(3)).toBe(0);
    expect(page_count(p)).toBe(1); // the caller drops the cache's reference
    put_page(p);
    expect(discard_pvec_pages(0)).toEqual([p]);
    expect(onGhostList(p)).toBe(true);
    expect(violations(m)).toEqual([]);
  });

  it('unpatched: a Vz page is removed without the mark and freed to the allocator', () => {
    m = boot({ cpus: 2, pages: 256, files: 4, protocol: 'unpatched' });
    const p = cachePage(3, 4);
    makeDiscarded(p, 1);
    expect(removeLocked(p, 3, 4)).toBe(REMOVED.removed);
    expect(page_flags(p) & PG_discarded).toBe(0);
    expect(pagecache_slot(3, 4)).toBe(-1);
    put_page(p);
    expect(discard_pvec_pages(0)).toEqual([]);
    expect(hotList(0)[0]).toBe(p);
    expect(violations(m)).toEqual([]);
  });

  it('a stable page is removed and freed normally (both protocols)', () => {
    for (const protocol of ['patched', 'unpatched'] as const) {
      m = boot({ cpus: 2, pages: 256, files: 4, protocol });
      const p = cachePage(3, 4);
      expect(remove_from_page_cache(p, 3, 4)).toBe(true);
      expect(page_flags(p) & PG_discarded).toBe(0);
      const ev = recentEvents(m, 0).at(-1)!;
      expect([ev.event, ev.pfn, ev.a, ev.b]).toEqual(['remove-cache', p, 3, REMOVED.removed]);
      // the page is still on the LRU: put_page's release takes it off
      put_page(p);
      expect(page_flags(p) & PG_lru).toBe(0);
      expect(hotList(0)[0]).toBe(p);
      expect(violations(m)).toEqual([]);
    }
  });

  it('the PageDiscarded branch: a page the discard fault took out only loses its mapping', () => {
    m = boot({ cpus: 2, pages: 256, files: 4 });
    const p = cachePage(2, 9);
    makeDiscarded(p, 1);
    // Someone holds a reference taken without make_stable (reclaim's
    // isolate_lru_pages is such a finder; truncate's find_get_pages is not)
    // while a discard fault takes the page out of the tree, keeping
    // page->mapping ...
    get_page(p);
    page_hva_discard_page(p);
    expect(page_mapping(p)).toBe(3);
    expect(pagecache_slot(2, 9)).toBe(-1);
    // ... and a new page is read in at the same index meanwhile.
    const q = cachePage(2, 9);
    expect(q).not.toBe(p);
    expect(nrpages(2)).toBe(1);
    // Its later removal must not touch q's slot: the branch clears the mapping only.
    expect(remove_from_page_cache(p, 2, 9)).toBe(false);
    expect(page_mapping(p)).toBe(0);
    expect(pagecache_slot(2, 9)).toBe(q);
    expect(nrpages(2)).toBe(1);
    expect(page_count(p)).toBe(1); // only the finder's
    put_page(p);
    expect(discard_pvec_pages(0)).toEqual([p]);
    expect(violations(m)).toEqual([]);
  });
});

describe('write_cache_page', () => {
  it('dirties the cached page under the page lock', () => {
    m = boot({ cpus: 2, pages: 256, files: 4 });
    const p = cachePage(1, PAGES_PER_FILE - 1);
    write_cache_page(1, PAGES_PER_FILE - 1);
    expect(page_flags(p) & PG_dirty).toBe(PG_dirty);
    expect(page_count(p)).toBe(1);
  });
});
