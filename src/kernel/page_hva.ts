/**
 * The guest side of page host virtual assist (mm/page_hva.c and the
 * vmscan.c part of the series): make a page volatile, make it stable again,
 * and discard it after the host did.
 */
import { EV } from '../check/events.ts';
import { rec } from '../check/recorder.ts';
import { CNT, ZONE } from '../shm/layout.ts';
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
import { try_to_unmap } from './memory.ts';
import { put_page } from './page_alloc.ts';
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
import { cpu_relax, local_irq_restore, local_irq_save, point } from './smp.ts';
import { LOCK, spin_lock, spin_unlock } from './spinlock.ts';

/**
 * page_hva_make_volatile(page, offset): tell the host it may discard the
 * content. Only a clean, up-to-date, unlocked file page with no writeback and
 * no reference other than its mappings and `offset` known ones qualifies.
 * Caller holds a reference.
 */
export function page_hva_make_volatile(pfn: number, offset: number): void {
  if (PageDiscarded(pfn)) return;
  if (TestSetPageFlag(pfn, PG_state_change)) return; // someone is changing it: give up
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
 * page_hva_discard_page: caller holds a reference, interrupts enabled. The
 * first CPU to set PG_discarded unmaps the page from every pte, takes it off
 * the LRU and out of the page cache (keeping page->mapping: later faults on
 * it need it) and drops the page cache's reference. Its final put_page then
 * parks it on the discard list.
 */
export function page_hva_discard_page(pfn: number): void {
  lock_page(pfn);
  if (TestSetPageDiscarded(pfn)) {
    rec(EV['discard-skip'], pfn);
    unlock_page(pfn);
    return;
  }
  rec(EV['discard-page'], pfn);
  K.f64[K.stats + CNT.discardPages]!++;
  point(P['discard-unmap']);
  try_to_unmap(pfn);
  point(P['discard-uncache']);
  const { i32, L } = K;
  if (page_flags(pfn) & PG_lru) {
    const flags = local_irq_save();
    spin_lock(L.zone + ZONE.lru_lock, LOCK.lru);
    if (TestClearPageFlag(pfn, PG_lru)) {
      list_del(pfn);
      i32[L.zone + ZONE.nr_lru]!--;
    }
    spin_unlock(L.zone + ZONE.lru_lock, LOCK.lru);
    local_irq_restore(flags);
  }
  const mapping = page_mapping(pfn);
  let removed = false;
  if (mapping > 0) {
    const file = mapping - 1;
    const index = Atomics.load(i32, L.page_index + pfn);
    const lock = tree_lock(file);
    const flags = local_irq_save();
    spin_lock(lock, LOCK.tree);
    if (__pagecache_holds(pfn, file, index)) {
      __pagecache_delete(file, index);
      removed = true;
    }
    spin_unlock(lock, LOCK.tree);
    local_irq_restore(flags);
  }
  unlock_page(pfn);
  if (removed) put_page(pfn); // the page cache's reference
}
