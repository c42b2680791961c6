/**
 * The guest side of page host virtual assist (mm/page_hva.c and the
 * vmscan.c part of the series): make a page volatile, make it stable again,
 * and discard it after the host did.
 */
import { near_miss_if_window } from '../check/coverage.ts';
import { EV } from '../check/events.ts';
import { oracle_bad_page } from '../check/oracle.ts';
import { rec } from '../check/recorder.ts';
import { VK } from '../check/violations.ts';
import { CNT, ZONE } from '../shm/layout.ts';
import { lock_sites } from '../stats/lock_sites.ts';
import { K, P } from './context.ts';
import { page_hva_set_stable_if_resident, page_hva_set_volatile } from './essa.ts';
import {
  __pagecache_delete,
  __pagecache_holds,
  lock_page,
  tree_lock,
  unlock_page,
} from './filemap.ts';
import { list_del } from './list.ts';
import { page_hva_unmap_all, page_mapped } from './memory.ts';
import {
  ClearPageFlag,
  PageDiscarded,
  PG_dirty,
  PG_locked,
  PG_lru,
  PG_state_change,
  PG_uptodate,
  PG_writeback,
  page_count,
  page_flags,
  page_mapcount,
  page_mapping,
  TestClearPageFlag,
  TestSetPageDiscarded,
  TestSetPageFlag,
} from './page-flags.ts';
import { cpu_relax, point, preempt_disable, preempt_enable } from './smp.ts';
import { LOCK, spin_lock_irqsave, spin_unlock_irqrestore } from './spinlock.ts';

/** lock_stat's call sites of this file's lock calls (the kernel's _RET_IP_). */
const at = lock_sites(
  '__page_hva_discard_page',
  '__page_hva_discard_page_2',
  'page_hva_discard_page',
);

/**
 * page_hva_make_volatile(page, offset): tell the host it may discard the
 * content. Only a clean, up-to-date, unlocked file page with no writeback and
 * no reference other than its mappings and `offset` known ones qualifies.
 * Caller holds a reference.
 */
export function page_hva_make_volatile(pfn: number, offset: number): void {
  if (PageDiscarded(pfn)) return;
  preempt_disable();
  if (TestSetPageFlag(pfn, PG_state_change)) {
    preempt_enable();
    return; // someone is changing it: give up
  }
  const f = page_flags(pfn);
  if (
    (f & (PG_dirty | PG_locked | PG_writeback)) === 0 &&
    (f & PG_uptodate) !== 0 &&
    page_mapping(pfn) > 0 &&
    page_mapcount(pfn) === page_count(pfn) - offset
  ) {
    point(P['make-volatile']);
    if (page_hva_set_volatile(pfn)) K.f64[K.stats + CNT.pagesMadeVolatile]!++;
  }
  ClearPageFlag(pfn, PG_state_change);
  preempt_enable();
}

/**
 * page_hva_make_stable: caller holds a reference or the page lock. Waits out a
 * concurrent make_volatile, then SET_STABLE_IF_RESIDENT. False: the host
 * discarded the page; the caller treats it as discarded.
 */
export function page_hva_make_stable(pfn: number): boolean {
  let spins = 0;
  while (page_flags(pfn) & PG_state_change) {
    point(P.spin);
    cpu_relax(spins++);
  }
  return page_hva_set_stable_if_resident(pfn);
}

/**
 * The BUG_ONs of __page_hva_discard_page (1/6): each is a `bug-on` violation
 * with its index as detail, and the function returns without touching the
 * page further (the kernel would have stopped there).
 */
export const BUG_ON_SITES = [
  '__page_hva_discard_page: BUG_ON(PageWriteback(page))',
  '__page_hva_discard_page: BUG_ON(PageDirty(page))',
  '__page_hva_discard_page: BUG_ON(!mapping)',
  '__page_hva_discard_page: radix_tree_delete would delete another page at page->index',
  '__page_hva_discard_page: __put_page dropped the last reference (the page is lost)',
] as const;

function BUG_ON(pfn: number, site: number): void {
  oracle_bad_page(pfn, VK['bug-on'], site);
}

/**
 * __page_hva_discard_page (1/6, mm/vmscan.c): call with the page locked and a
 * reference held, interrupts enabled. A page may arrive here several times
 * (several CPUs fault on it, or a find function fails to make it stable):
 * PG_discarded is set first, every call unmaps the ptes that map the page
 * (it may have been mapped again since the first discard: the later faults
 * on that mapping need it gone), and only the first call takes the page off
 * the LRU and out of the page cache. The radix tree entry is deleted but
 * page->mapping kept: later discard faults on a stale mapping need it, and
 * __remove_from_page_cache clears it when truncate or reclaim meets the page.
 * The page cache's reference is dropped with __put_page, a plain decrement
 * that never frees (the caller's reference keeps the count above 0).
 */
export function __page_hva_discard_page(pfn: number): void {
  const { i32, L } = K;
  /* Set the discarded bit early. */
  const discarded = TestSetPageDiscarded(pfn);
  rec(discarded ? EV['discard-skip'] : EV['discard-page'], pfn);
  /* Remove page-table entries for this page. */
  point(P['discard-unmap']);
  if (page_mapped(pfn)) page_hva_unmap_all(pfn);
  /* Remove the page from the lru and page/swap cache only once. */
  if (discarded) return;
  K.f64[K.stats + CNT.discardPages]!++;
  point(P['discard-uncache']);
  // spin_lock_irq(&zone->lru_lock)
  const lruFlags = spin_lock_irqsave(L.zone + ZONE.lru_lock, LOCK.lru, at.__page_hva_discard_page);
  if (TestClearPageFlag(pfn, PG_lru)) {
    list_del(pfn); // del_page_from_lru
    i32[L.zone + ZONE.nr_lru]!--;
  }
  spin_unlock_irqrestore(L.zone + ZONE.lru_lock, LOCK.lru, lruFlags);
  const f = page_flags(pfn);
  if (f & PG_writeback) {
    BUG_ON(pfn, 0);
    return;
  }
  if (f & PG_dirty) {
    BUG_ON(pfn, 1);
    return;
  }
  const mapping = page_mapping(pfn);
  if (mapping <= 0) {
    // no anon pages here: no swap cache branch
    BUG_ON(pfn, 2);
    return;
  }
  const file = mapping - 1;
  const index = Atomics.load(i32, L.page_index + pfn);
  const lock = tree_lock(file);
  const flags = spin_lock_irqsave(lock, LOCK.tree, at.__page_hva_discard_page_2); // write_lock_irq(&mapping->tree_lock)
  // __remove_from_page_cache without page->mapping = NULL. radix_tree_delete
  // deletes whatever sits at page->index: if that were another page, the
  // kernel would corrupt that page's cache state; report it and leave it.
  const ours = __pagecache_holds(pfn, file, index);
  if (ours) {
    near_miss_if_window(pfn, CNT.nmCacheRemoveInWindow); // another CPU's fault on it
    __pagecache_delete(file, index);
  }
  spin_unlock_irqrestore(lock, LOCK.tree, flags);
  if (!ours) {
    BUG_ON(pfn, 3);
    return;
  }
  __put_page(pfn); /* Pagecache ref */
}

/** __put_page: atomic_dec of the count, for a caller that knows it is not the last. */
function __put_page(pfn: number): void {
  if (Atomics.sub(K.i32, K.L.page_count + pfn, 1) <= 1) {
    BUG_ON(pfn, 4);
    Atomics.add(K.i32, K.L.page_count + pfn, 1); // keep the frame where the oracle can see it
  }
}

/**
 * page_hva_discard_page (1/6, mm/vmscan.c): caller holds a reference,
 * interrupts enabled. "Get exclusive access to the page" with the page lock,
 * then __page_hva_discard_page.
 */
export function page_hva_discard_page(pfn: number): void {
  lock_page(pfn, at.page_hva_discard_page);
  __page_hva_discard_page(pfn);
  unlock_page(pfn);
}
