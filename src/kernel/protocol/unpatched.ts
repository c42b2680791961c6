/**
 * --protocol unpatched: patches 1/6-4/6 of the December 2005 series
 * without 5/6. There is no discard list: free_hot_cold_page has no discard
 * branch, try_to_free_pages no shrink_discards, and __remove_from_page_cache
 * does not mark a page the host discarded (filemap.ts, K.patched). A page
 * freed under a pending discard fault goes straight back to the allocator,
 * where the fault handler's get_page_if_present can land on its next owner
 * (docs/protocol.md section 4).
 *
 * Model difference: patch 1/6 adds PG_discarded to free_pages_check's mask,
 * and its __page_hva_discard_page keeps page->mapping; nothing in 1/6-4/6
 * clears either before the final free (5/6's shrink_discards is what does).
 * Run as posted, every page the guest discarded would reach free_pages_check
 * with both set and be reported by bad_page (which then clears them, and the
 * page is freed anyway). The model clears them here, as shrink_discards
 * would, so that the run shows the hazard the discard list closes rather
 * than that gap. It hides the bad_page report on every discarded page's
 * free, nothing else: the page reaches the allocator at the same moment.
 */
import { ClearPageDiscarded, set_page_mapping } from '../page-flags.ts';
import type { DiscardProtocol } from './index.ts';

function free_hot_cold_page_discarded(pfn: number): boolean {
  ClearPageDiscarded(pfn); // MODEL DIFFERENCE (header): bad_page's repair, without the report
  set_page_mapping(pfn, 0);
  return false;
}

export const ops: DiscardProtocol = {
  free_hot_cold_page_discarded,
  shrink_discards: () => 0,
  attach: () => {},
  // remove_mapping as 2.6.15 has it; without 5/6 nothing parks a page, and
  // 1/6's discard keeps the mapping: the negative-count of vmscan.ts's
  // remove_mapping is there too, a second put of a page freed at once.
  remove_mapping_refuses_discarded: false,
  // No discard list: nothing is parked, flushed or spliced, no rendezvous.
  // A last put in a window is not declared: nothing defuses it here, it
  // becomes free-in-window (a violation, not a near miss).
  hazards: [
    'cache-remove-in-window',
    'double-fault',
    'irq-last-put',
    'irq-discard-to-put',
    'tx-free-uncached',
  ],
};
