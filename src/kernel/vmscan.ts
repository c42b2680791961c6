/**
 * mm/vmscan.c of 2.6.15: direct reclaim (try_to_free_pages -> shrink_caches
 * -> isolate_lru_pages, shrink_list) over one zone's LRU, and, at the top of
 * each priority pass, the --protocol module's discard-list shrink
 * (src/kernel/protocol/: dec-2005's shrink_discards, percpu-2006's
 * page_shrink_discards).
 *
 * page->_count is unbiased here (0 = free); 2.6.15 keeps -1 for a free page,
 * so its get_page_testone (atomic_inc_and_test) is "the count was 0" here.
 *
 * Differences from 2.6.15, each for the model's shape:
 * - One zone, one LRU list (no active list, no referenced bits): a mapped
 *   page counts as referenced and in use (page_referenced &&
 *   page_mapping_inuse: activate_locked) and is kept; reclaim never unmaps.
 * - No swap and no writeback: an anonymous page (add_to_swap) and a dirty
 *   one (pageout) are kept. PG_private is never set, so no
 *   try_to_release_page.
 * - A kept page goes back on the LRU at once (putback_lru_page), not on
 *   shrink_list's ret_pages for shrink_cache to put back after the batch;
 *   freed and put-back pages are released one by one, not by pagevec.
 * - remove_mapping is 2.6.16's name for 2.6.15's inline block in
 *   shrink_list (write_lock_irq(&mapping->tree_lock) .. __put_page).
 */
import { EV } from '../check/events.ts';
import { oracle_bad_page } from '../check/oracle.ts';
import { rec } from '../check/recorder.ts';
import { VK } from '../check/violations.ts';
import { CNT, HEAD, headNode, PERCPU_HEADS, percpuHeadNode, ZONE } from '../shm/layout.ts';
import { lock_sites } from '../stats/lock_sites.ts';
import { K, P } from './context.ts';
import {
  __remove_from_page_cache,
  lru_cache_add,
  tree_lock,
  trylock_page,
  unlock_page,
} from './filemap.ts';
import { list_add, list_del, list_empty, list_last } from './list.ts';
import { free_hot_cold_page, put_page } from './page_alloc.ts';
import {
  PageDiscarded,
  PG_dirty,
  PG_lru,
  PG_writeback,
  page_count,
  page_flags,
  page_mapcount,
  page_mapping,
  SetPageFlag,
  TestClearPageFlag,
} from './page-flags.ts';
import { point } from './smp.ts';
import { LOCK, spin_lock_irqsave, spin_unlock_irqrestore } from './spinlock.ts';

/** lock_stat's call sites of this file's lock calls (the kernel's _RET_IP_). */
const at = lock_sites('isolate_lru_pages', 'shrink_list', 'remove_mapping');

export const DEF_PRIORITY = 12;
export const SWAP_CLUSTER_MAX = 32;

let in_reclaim = false; // PF_MEMALLOC: reclaim does not recurse into reclaim
/** A reused worker's next machine (src/machine/thread.ts): as a fresh thread starts. */
export function vmscan_reset(): void {
  in_reclaim = false;
}

/**
 * The protocol version's discard-list shrink, bound at kernel_attach
 * (protocol/index.ts): process context, interrupts enabled. Returns the
 * pages that count in nr_reclaimed (percpu-2006's; dec-2005's shrink_discards
 * returns nothing, unpatched has none).
 */
export function shrink_discards(): number {
  return K.shrink_discards();
}

/**
 * try_to_free_pages: process context, interrupts enabled. Each priority
 * pass first shrinks the discard list (5/6: `shrink_discards(&sc);`, 8/9:
 * `nr_reclaimed += page_shrink_discards();`), then the LRU.
 */
export function try_to_free_pages(): number {
  if (in_reclaim) return 0;
  in_reclaim = true;
  K.f64[K.stats + CNT.reclaims]!++;
  rec(EV.reclaim, -1, Atomics.load(K.i32, K.L.zone + ZONE.free_pages));
  let nr_reclaimed = 0;
  for (let priority = DEF_PRIORITY; priority >= 0; priority--) {
    nr_reclaimed += K.shrink_discards();
    nr_reclaimed += shrink_caches(priority);
    if (nr_reclaimed >= SWAP_CLUSTER_MAX) break;
    point(P.reclaim);
  }
  in_reclaim = false;
  return nr_reclaimed;
}

/** shrink_caches -> shrink_zone -> shrink_cache: the LRU from its cold end, SWAP_CLUSTER_MAX at a time. */
function shrink_caches(priority: number): number {
  const { i32, L } = K;
  const nr_lru = Atomics.load(i32, L.zone + ZONE.nr_lru);
  const nr_scan = Math.min(nr_lru, Math.max(SWAP_CLUSTER_MAX, nr_lru >> priority));
  let scanned = 0;
  let reclaimed = 0;
  while (scanned < nr_scan && reclaimed < SWAP_CLUSTER_MAX) {
    const n = isolate_lru_pages(Math.min(SWAP_CLUSTER_MAX, nr_scan - scanned));
    if (n === 0) break;
    scanned += n;
    reclaimed += shrink_list();
  }
  return reclaimed;
}

/**
 * isolate_lru_pages (2.6.15): take up to `nr` pages off the LRU's tail onto
 * the task's isolate list, with a reference each; lru_lock held, interrupts
 * off. Returns the pages scanned.
 *
 *   if (!TestClearPageLRU(page)) BUG();
 *   list_del(&page->lru);
 *   if (get_page_testone(page)) {   // it is being freed elsewhere
 *       __put_page(page); SetPageLRU(page); list_add(&page->lru, src); continue;
 *   }
 *   list_add(&page->lru, dst);
 *
 * A page at count 0 on the LRU is in put_page, before __page_cache_release
 * takes lru_lock: it goes back, and that CPU takes it off and frees it. For a
 * moment its count is 1, and the series' discard fault handler, which
 * takes a reference with no lock (get_page_if_present, 6/6), can get one
 * then:
 *
 *   cpu A put_page(P)      cpu B isolate (lru_lock)   cpu C discard fault on P
 *   count 1 -> 0           get_page_testone: 0 -> 1
 *                                                     get_page_if_present: 1 -> 2
 *                          __put_page: 2 -> 1; P back on the LRU
 *   __page_cache_release: count 1, not freed          page_hva_discard_page(P); put_page: frees P
 *
 * 2.6.15's __page_cache_release rechecks the count under lru_lock, so P is
 * freed once, by C (page_alloc.ts models the recheck).
 */
export function isolate_lru_pages(nr: number): number {
  const { i32, L } = K;
  const src = headNode(L, HEAD.lru);
  const dst = percpuHeadNode(L, K.home, PERCPU_HEADS.isolate); // on the task's stack
  const count = L.page_count;
  const flags = spin_lock_irqsave(L.zone + ZONE.lru_lock, LOCK.lru, at.isolate_lru_pages);
  let scan = 0;
  for (; scan < nr && !list_empty(src); scan++) {
    const pfn = list_last(src); // lru_to_page
    TestClearPageFlag(pfn, PG_lru); // on the list under lru_lock: it was set
    list_del(pfn);
    if (Atomics.add(i32, count + pfn, 1) === 0) {
      // get_page_testone: it is being freed elsewhere
      Atomics.sub(i32, count + pfn, 1); // __put_page
      SetPageFlag(pfn, PG_lru);
      list_add(pfn, src);
      continue;
    }
    list_add(pfn, dst);
    i32[L.zone + ZONE.nr_lru]!--;
  }
  spin_unlock_irqrestore(L.zone + ZONE.lru_lock, LOCK.lru, flags);
  return scan;
}

/** shrink_cache's put-back of a page shrink_list kept: SetPageLRU, onto the LRU, drop our reference. */
function putback_lru_page(pfn: number): void {
  lru_cache_add(pfn); // SetPageLRU, onto the LRU under lru_lock
  put_page(pfn); // __pagevec_release -> release_pages: takes it off again if it was the last
}

/**
 * shrink_list (2.6.15): free the isolated pages that are clean, unmapped page
 * cache pages nobody else holds; put the others back. Returns pages freed.
 */
export function shrink_list(): number {
  const page_list = percpuHeadNode(K.L, K.home, PERCPU_HEADS.isolate);
  let reclaimed = 0;
  while (!list_empty(page_list)) {
    point(P['shrink-page']); // cond_resched()
    const pfn = list_last(page_list); // lru_to_page
    list_del(pfn);
    if (!trylock_page(pfn, at.shrink_list)) {
      putback_lru_page(pfn); // keep
      continue;
    }
    const mapping = page_mapping(pfn);
    if (
      page_flags(pfn) & (PG_writeback | PG_dirty) || // keep_locked (no pageout here)
      page_mapcount(pfn) > 0 || // referenced and in use: activate_locked
      mapping <= 0 || // anonymous (no swap here), or NULL: truncate got there first
      !remove_mapping(mapping, pfn)
    ) {
      unlock_page(pfn); // keep_locked
      putback_lru_page(pfn);
      continue;
    }
    unlock_page(pfn); // free_it
    reclaimed++;
    __pagevec_release_nonlru(pfn);
  }
  return reclaimed;
}

/**
 * remove_mapping (2.6.15's block in shrink_list), page locked: under
 * tree_lock, if nobody but the page cache and us holds the page (count 2)
 * and it is clean, take it out of the page cache and drop the cache's
 * reference (__put_page: a plain decrement, never a free; ours frees it).
 *
 *   write_lock_irq(&mapping->tree_lock);
 *   if (page_count(page) != 2 || PageDirty(page)) goto cannot_free;
 *   __remove_from_page_cache(page);
 *   write_unlock_irq(&mapping->tree_lock);
 *   __put_page(page);   // The pagecache ref
 *
 * With the 2005 series, a page page_hva_discard_page already took out of the
 * tree still has its mapping (1/6 keeps it for later faults), so it gets
 * here; __remove_from_page_cache only clears the mapping then, and the
 * __put_page drops a reference that is not the cache's: the cache's went
 * with the discard. Count 2 is then our reference and that of the CPU that
 * discarded the page (the discard fault handler, or a finder whose
 * make_stable failed), which has not dropped it yet:
 *
 *   cpu A (find_get_page, fault)        cpu B (reclaim)
 *   reference on P                      isolate_lru_pages: P, count +1
 *   page_hva_discard_page(P): lock,
 *     PG_discarded, unmap, out of the
 *     tree (mapping kept), unlock, put
 *     the cache's reference: count 2
 *                                       shrink_list: trylock_page(P), mapping set
 *                                       remove_mapping: count 2, clean
 *                                       __remove_from_page_cache: mapping = NULL
 *                                       __put_page: A's reference, count 1
 *                                       free_it: count 0, P parked (PG_discarded)
 *   put_page(P): count 0 -> -1
 *
 * The model does what the kernel does and lets the oracle judge (A's
 * put_page reports negative-count). In 2.6.15 A's put_page_testzero sees the
 * count negative, __page_cache_release's recheck finds it non-zero and does
 * not free it again; the page stays parked with a count of -1, and the
 * free_pages_check of shrink_discards' free_cold_page reports it (bad_page).
 * A's window is page_hva_discard_page's unlock_page .. its put_page, the
 * point discard-to-put; B's is the time P stays isolated, which shrink_list's
 * cond_resched (the point shrink-page) lengthens. Random runs find it with
 * --delay discard-to-put=200us and a small memory (--pages 2048: reclaim
 * runs all the time) or --delay shrink-page=100us (README, Verdicts);
 * test/concurrency/discard-to-put.test.ts plays it on workers.
 *
 * --protocol dec-2005-fixed (the default, `patched`) refuses a PG_discarded
 * page here (K.remove_mapping_refuses_discarded, marked FIX below): it goes
 * back on the LRU and its last put_page parks it (protocol/dec-2005-fixed.ts
 * says why that opens no other hole). percpu-2006 refuses it too, standing
 * in for 2.6.18's `!mapping` keep (its __page_discard clears the mapping).
 */
function remove_mapping(mapping: number, pfn: number): boolean {
  const file = mapping - 1;
  const index = Atomics.load(K.i32, K.L.page_index + pfn);
  const tl = tree_lock(file);
  const flags = spin_lock_irqsave(tl, LOCK.tree, at.remove_mapping); // write_lock_irq
  if (
    page_count(pfn) !== 2 ||
    page_flags(pfn) & PG_dirty ||
    // FIX (dec-2005-fixed): `|| PageDiscarded(page)`, taken out of the cache by a discard
    (K.remove_mapping_refuses_discarded && PageDiscarded(pfn))
  ) {
    spin_unlock_irqrestore(tl, LOCK.tree, flags); // cannot_free
    return false;
  }
  const r = __remove_from_page_cache(pfn, file, index);
  spin_unlock_irqrestore(tl, LOCK.tree, flags);
  rec(EV['remove-cache'], pfn, file, r);
  __put_page(pfn); // the pagecache ref
  return true;
}

/** __put_page (2.6.15): atomic_dec(&page->_count), a reference the caller knows is not the last. */
function __put_page(pfn: number): void {
  const old = Atomics.sub(K.i32, K.L.page_count + pfn, 1);
  if (old <= 0) {
    Atomics.add(K.i32, K.L.page_count + pfn, 1);
    oracle_bad_page(pfn, VK['negative-count'], old);
  }
}

/**
 * __pagevec_release_nonlru (2.6.15) for one page that is not on the LRU:
 * put_page_testzero, and on the last reference free it (the freed_pvec is
 * cold).
 */
function __pagevec_release_nonlru(pfn: number): void {
  const old = Atomics.sub(K.i32, K.L.page_count + pfn, 1);
  if (old > 1) return;
  if (old <= 0) {
    Atomics.add(K.i32, K.L.page_count + pfn, 1);
    oracle_bad_page(pfn, VK['negative-count'], old);
    return;
  }
  rec(EV['put-last'], pfn);
  free_hot_cold_page(pfn, true);
}
