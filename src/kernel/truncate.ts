/**
 * mm/truncate.c of 2.6.15: truncate_inode_pages and truncate_complete_page.
 *
 * The pages are found with find_get_pages (pagevec_lookup), which since 1/6
 * makes each one stable or, when the host discarded it, discards it itself
 * (page_hva_discard_page: out of the tree, PG_discarded, the page cache's
 * reference dropped) and looks again. So every page truncate holds here is
 * stable and referenced: the host cannot discard it any more, no discard can
 * start on it, and __remove_from_page_cache meets neither PG_discarded nor a
 * Vz page on truncate's behalf. A page the discard fault took out of the tree
 * is not found by the lookup at all. truncate_complete_page therefore drops
 * the page cache's reference unconditionally, as 2.6.15 does; if the model
 * ever let it meet a page whose cache reference was already dropped, that
 * put would be the oracle's negative-count.
 */
import { PAGEVEC_SIZE } from '../config.ts';
import { lock_sites } from '../stats/lock_sites.ts';
import { K, P } from './context.ts';
import {
  find_get_pages,
  lock_page,
  remove_from_page_cache,
  trylock_page,
  unlock_page,
} from './filemap.ts';
import { put_page } from './page_alloc.ts';
import { ClearPageFlag, PG_dirty, PG_uptodate, page_mapping } from './page-flags.ts';
import { point } from './smp.ts';

/** lock_stat's call sites of this file's lock calls (the kernel's _RET_IP_). */
const at = lock_sites('truncate_inode_pages', 'truncate_inode_pages_2');

/** struct pagevec pvec on truncate_inode_pages' stack (one truncate at a time per thread). */
const pvec = new Int32Array(PAGEVEC_SIZE);

const page_index = (pfn: number) => Atomics.load(K.i32, K.L.page_index + pfn);

/**
 * truncate_complete_page: page locked, a reference held. "If the page was
 * truncated (or reclaimed) while we waited for its lock, it is not ours."
 */
function truncate_complete_page(file: number, pfn: number): void {
  if (page_mapping(pfn) !== file + 1) return;
  ClearPageFlag(pfn, PG_dirty | PG_uptodate); // clear_page_dirty, ClearPageUptodate
  remove_from_page_cache(pfn, file, page_index(pfn));
  point(P['remove-to-put']);
  put_page(pfn); // page_cache_release: the pagecache ref
}

/** pagevec_release: drop the lookup's references. */
function pagevec_release(n: number): void {
  for (let i = 0; i < n; i++) put_page(pvec[i]!);
}

/**
 * truncate_inode_pages(mapping, 0): the first pass skips pages locked by
 * someone else; the second waits for each page's lock and goes round until a
 * lookup from the start finds nothing.
 */
export function truncate_inode_pages(file: number): void {
  const start = 0;
  let next = start;
  for (;;) {
    const n = find_get_pages(file, next, PAGEVEC_SIZE, pvec);
    if (n === 0) break;
    for (let i = 0; i < n; i++) {
      const pfn = pvec[i]!;
      const index = page_index(pfn);
      if (index > next) next = index;
      next++;
      if (!trylock_page(pfn, at.truncate_inode_pages)) continue; // TestSetPageLocked
      truncate_complete_page(file, pfn);
      unlock_page(pfn);
    }
    pagevec_release(n);
  }
  next = start;
  for (;;) {
    const n = find_get_pages(file, next, PAGEVEC_SIZE, pvec);
    if (n === 0) {
      if (next === start) break;
      next = start;
      continue;
    }
    for (let i = 0; i < n; i++) {
      const pfn = pvec[i]!;
      lock_page(pfn, at.truncate_inode_pages_2);
      const index = page_index(pfn);
      if (index > next) next = index;
      next++;
      truncate_complete_page(file, pfn);
      unlock_page(pfn);
    }
    pagevec_release(n);
  }
}
