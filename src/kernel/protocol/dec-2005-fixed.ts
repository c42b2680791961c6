/**
 * --protocol dec-2005-fixed (the default: `patched` names it): the December
 * 2005 series as posted (dec-2005.ts: its free_hot_cold_page branch, its
 * shrink_discards, its mutant switches, all run unchanged) plus one change
 * in reclaim, 2.6.15's remove_mapping block in shrink_list (vmscan.ts):
 *
 *   -  if (page_count(page) != 2 || PageDirty(page))
 *   +  if (page_count(page) != 2 || PageDirty(page) || PageDiscarded(page))
 *          goto cannot_free;
 *
 * The defect it removes (test/concurrency/discard-to-put.test.ts plays it):
 * a CPU that discards a page (the discard fault, or a finder whose
 * page_hva_make_stable failed) holds a reference while reclaim has the page
 * isolated. 1/6's __page_hva_discard_page takes the page out of the radix
 * tree, keeps page->mapping, drops the cache's reference and unlocks: the
 * count is 2, reclaim's and the discarder's. shrink_list then locks the page,
 * sees a mapping and count 2, and remove_mapping drops the discarder's
 * reference as if it were the cache's; reclaim's release parks the page at
 * count 0 and the discarder's page_cache_release takes it to -1 (2.6.15:
 * put_page_testzero's BUG_ON; here negative-count).
 *
 * Why the change opens no other hole. Under the page lock, which
 * remove_mapping runs under, PG_discarded means "out of the page cache":
 * 1/6's discard sets it and deletes the tree entry in one page-locked
 * section, and 5/6's __remove_from_page_cache sets it as it removes the page
 * (after this test). So the refusal never leaves a page in the cache that
 * reclaim should have taken out, and a Vz page still in the cache is
 * reclaimed and parked as before. The refused page goes where any
 * cannot_free page goes: unlocked (unlock_page's make_volatile skips a
 * PG_discarded page), back on the LRU with PG_lru, and reclaim's reference
 * dropped. Its last reference, reclaim's or the discarder's, is a put_page:
 * __page_cache_release takes it off the LRU under lru_lock (rechecking the
 * count), and free_hot_cold_page parks it (PG_discarded) as every other
 * discarded page; shrink_discards later clears its mapping and frees it
 * after the IPIs. While it waits on the LRU it is in no radix tree and
 * mapped by no pte (the discard unmapped them all), so nothing finds it but
 * reclaim, which refuses it again, and a discard of it returns early
 * (PG_discarded already set). A fault window on it is closed by the
 * discard list exactly as for any parked page.
 */
import * as dec_2005 from './dec-2005.ts';
import type { DiscardProtocol } from './index.ts';

export const ops: DiscardProtocol = {
  ...dec_2005.ops,
  // FIX: remove_mapping's `|| PageDiscarded(page)` (header; vmscan.ts)
  remove_mapping_refuses_discarded: true,
};
