/**
 * The discard-list protocol versions, one module each (`--protocol`):
 *
 *   dec-2005.ts     "[rfc][patch 5/6] Page host virtual assist: discarded
 *                   page list" (LKML, 16 Dec 2005), as posted
 *   dec-2005-fixed.ts  dec-2005 plus one change in reclaim's remove_mapping
 *                   (a PG_discarded page is refused); `patched` is its alias
 *   unpatched.ts    patches 1/6-4/6 of the same series, without 5/6
 *   percpu-2006.ts  "[patch 8/9] Guest page hinting: discarded page list"
 *                   (LKML, 1 Sep 2006), as posted
 *
 * A module owns its version's discard branch of free_hot_cold_page and its
 * discard-list shrink. kernel_attach binds the selected module's functions
 * into K once (K.free_hot_cold_page_discarded, K.shrink_discards), so the
 * hot path pays one indirect call, and only for a PG_discarded page.
 */
import type { Hazard } from '../../check/coverage.ts';
import type { ProtocolModule } from '../../config.ts';
import * as dec_2005 from './dec-2005.ts';
import * as dec_2005_fixed from './dec-2005-fixed.ts';
import * as percpu_2006 from './percpu-2006.ts';
import * as unpatched from './unpatched.ts';

export type DiscardProtocol = {
  /**
   * The version's branch at the top of free_hot_cold_page, for a page with
   * PG_discarded set. True: the page was parked, free_hot_cold_page returns;
   * false: it goes on to the allocator.
   */
  free_hot_cold_page_discarded: (pfn: number) => boolean;
  /**
   * What try_to_free_pages calls at the top of each priority pass (process
   * context, interrupts enabled). Returns the pages it adds to nr_reclaimed.
   */
  shrink_discards: () => number;
  /** Per CPU, at kernel_attach: install the version's IPI function. */
  attach: () => void;
  /**
   * Reclaim's remove_mapping (vmscan.ts) refuses a PG_discarded page, which
   * a discard already took out of the page cache (K.remove_mapping_refuses_discarded).
   */
  remove_mapping_refuses_discarded: boolean;
  /**
   * The hazards this version's code has: the dangerous overlaps whose near
   * misses the run counts and reports (src/check/coverage.ts, HAZARDS).
   */
  hazards: readonly Hazard[];
};

/** The module's function table (looked up when a CPU attaches, never at import). */
export function protocol_ops(m: ProtocolModule): DiscardProtocol {
  switch (m) {
    case 'dec-2005':
      return dec_2005.ops;
    case 'dec-2005-fixed':
      return dec_2005_fixed.ops;
    case 'unpatched':
      return unpatched.ops;
    case 'percpu-2006':
      return percpu_2006.ops;
  }
}
