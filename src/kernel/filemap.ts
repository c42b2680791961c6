/**
 * mm/filemap.c: the page cache (file x index -> pfn, one slot array per file
 * standing in for the radix tree) under each mapping's tree_lock, the page
 * lock, the LRU, and __remove_from_page_cache with the series' host-discard
 * check (patch 5/6).
 */
import { performance } from 'node:perf_hooks';
import { near_miss_if_window } from '../check/coverage.ts';
import { EV } from '../check/events.ts';
import { rec } from '../check/recorder.ts';
import { PAGES_PER_FILE, PAGEVEC_SIZE } from '../config.ts';
import { CNT, fileBase, HEAD, headNode, ZONE } from '../shm/layout.ts';
import { type LockSite, lock_sites } from '../stats/lock_sites.ts';
import {
  lock_acquired,
  lock_contended,
  lock_hold_begin,
  lock_hold_end,
  lock_wait_begin,
  lock_wait_end,
} from '../stats/lockstat.ts';
import { K, P } from './context.ts';
import { page_hva_discarded } from './essa.ts';
import { list_add } from './list.ts';
import { alloc_page, get_page, put_page } from './page_alloc.ts';
import { page_hva_discard_page, page_hva_make_stable, page_hva_make_volatile } from './page_hva.ts';
import {
  ClearPageFlag,
  PageDiscarded,
  PG_dirty,
  PG_locked,
  PG_lru,
  PG_uptodate,
  page_flags,
  page_mapping,
  SetPageFlag,
  set_page_mapping,
  TestClearPageFlag,
  TestSetPageDiscarded,
  TestSetPageFlag,
} from './page-flags.ts';
import { cpu_relax, point } from './smp.ts';
import { LOCK, spin_lock_irqsave, spin_unlock_irqrestore } from './spinlock.ts';

/** lock_stat's call sites of this file's lock calls (the kernel's _RET_IP_). */
const at = lock_sites(
  'lru_cache_add',
  'add_to_page_cache',
  '__find_get_page',
  'find_lock_page',
  'find_lock_page_2',
  'find_lock_page_3',
  'find_lock_page_4',
  'find_get_pages',
  'remove_from_page_cache',
  'write_cache_page',
  'test_clear_page_dirty',
  'writeback_mapping',
);

export const tree_lock = (file: number) => fileBase(K.L, file) + K.L.file_tree_lock;
const slotIdx = (file: number, index: number) => K.L.pagecache + file * PAGES_PER_FILE + index;

/** The radix-tree slot: pfn or -1. Caller holds tree_lock (or reads racily for stats). */
export function pagecache_slot(file: number, index: number): number {
  return K.i32[slotIdx(file, index)]! - 1;
}
export function file_size(file: number): number {
  return Atomics.load(K.i32, fileBase(K.L, file) + K.L.file_size);
}

/** Boot: every file PAGES_PER_FILE pages long, nothing cached. */
export function filemap_init(): void {
  for (let f = 0; f < K.L.nr_files; f++) {
    Atomics.store(K.i32, fileBase(K.L, f) + K.L.file_size, PAGES_PER_FILE);
  }
}

// ---- page lock --------------------------------------------------------------
// A lock class for lock_stat (LOCK.page): the last CPU to take a page's lock
// is page_lock_cpu[pfn]; --lockstat=full takes lock_page_timed, --lockstat=contention
// times only a contended lock_page (see spinlock.ts).

const page_lock_id = (pfn: number) => K.L.page_lock_cpu + pfn;

export function trylock_page(pfn: number, site: LockSite): boolean {
  if (TestSetPageFlag(pfn, PG_locked)) return false;
  lock_acquired(page_lock_id(pfn), LOCK.page);
  if (K.lockTimed) lock_hold_begin(page_lock_id(pfn), performance.now(), site);
  return true;
}
/** lock_page: may sleep; interrupts enabled. */
export function lock_page(pfn: number, site: LockSite): void {
  if (K.lockTimed) {
    lock_page_timed(pfn, site);
    return;
  }
  if (TestSetPageFlag(pfn, PG_locked)) {
    lock_contended(page_lock_id(pfn), LOCK.page);
    if (K.lockWaitTimed) lock_page_wait_timed(pfn, site);
    else __lock_page(pfn);
  }
  lock_acquired(page_lock_id(pfn), LOCK.page);
}
/** --lockstat=contention: only a contended lock_page reads the clock, around its wait. */
function lock_page_wait_timed(pfn: number, site: LockSite): void {
  const t0 = lock_wait_begin(page_lock_id(pfn), LOCK.page, site);
  __lock_page(pfn);
  lock_wait_end(LOCK.page, t0);
}
function lock_page_timed(pfn: number, site: LockSite): void {
  let t: number;
  if (!TestSetPageFlag(pfn, PG_locked)) {
    t = performance.now();
  } else {
    lock_contended(page_lock_id(pfn), LOCK.page);
    const t0 = lock_wait_begin(page_lock_id(pfn), LOCK.page, site);
    __lock_page(pfn);
    t = lock_wait_end(LOCK.page, t0);
  }
  lock_acquired(page_lock_id(pfn), LOCK.page);
  lock_hold_begin(page_lock_id(pfn), t, site);
}
function __lock_page(pfn: number): void {
  let spins = 0;
  while (TestSetPageFlag(pfn, PG_locked)) {
    point(P.spin);
    cpu_relax(spins++);
  }
}
/** unlock_page; 1/6 then tries page_hva_make_volatile(page, 1). */
export function unlock_page(pfn: number): void {
  if (K.lockTimed) lock_hold_end(page_lock_id(pfn), LOCK.page, performance.now());
  ClearPageFlag(pfn, PG_locked);
  page_hva_make_volatile(pfn, 1);
}

// ---- LRU --------------------------------------------------------------------

export function lru_cache_add(pfn: number): void {
  const { i32, L } = K;
  const flags = spin_lock_irqsave(L.zone + ZONE.lru_lock, LOCK.lru, at.lru_cache_add);
  SetPageFlag(pfn, PG_lru);
  list_add(pfn, headNode(L, HEAD.lru));
  i32[L.zone + ZONE.nr_lru]!++;
  spin_unlock_irqrestore(L.zone + ZONE.lru_lock, LOCK.lru, flags);
}

// ---- the page cache ---------------------------------------------------------

/**
 * add_to_page_cache: insert a new, locked-by-us page at (file, index). The
 * page cache takes its own reference. Returns false if the slot is taken or
 * the file is being truncated past it.
 */
export function add_to_page_cache(pfn: number, file: number, index: number): boolean {
  const i32 = K.i32;
  const lock = tree_lock(file);
  const flags = spin_lock_irqsave(lock, LOCK.tree, at.add_to_page_cache);
  const ok = i32[slotIdx(file, index)] === 0 && index < file_size(file);
  if (ok) {
    get_page(pfn);
    set_page_mapping(pfn, file + 1);
    Atomics.store(i32, K.L.page_index + pfn, index);
    i32[slotIdx(file, index)] = pfn + 1;
    i32[fileBase(K.L, file) + K.L.file_nrpages]!++;
  }
  spin_unlock_irqrestore(lock, LOCK.tree, flags);
  return ok;
}

/**
 * find_get_page as 2.6.15 had it before 1/6: the slot looked up and a
 * reference taken under tree_lock (read_lock_irq), nothing more. Only
 * find_get_page below and the sendfile-without-stable mutant use it.
 */
export function __find_get_page(file: number, index: number): number {
  const lock = tree_lock(file);
  const flags = spin_lock_irqsave(lock, LOCK.tree, at.__find_get_page);
  const pfn = K.i32[slotIdx(file, index)]! - 1;
  if (pfn >= 0) get_page(pfn); // page_cache_get
  spin_unlock_irqrestore(lock, LOCK.tree, flags);
  return pfn;
}

/**
 * find_get_page (1/6): look the slot up and take a reference under tree_lock
 * (read_lock_irq), then make the page stable. A page the host discarded is
 * discarded by the guest too and NULL returned, so the caller reads it anew.
 */
export function find_get_page(file: number, index: number): number {
  const pfn = __find_get_page(file, index);
  if (pfn < 0) return -1;
  point(P['find-get']);
  if (page_hva_make_stable(pfn)) return pfn;
  K.f64[K.stats + CNT.findGetPageDiscarded]!++;
  page_hva_discard_page(pfn);
  point(P['discard-to-put']);
  put_page(pfn); // page_cache_release
  return -1;
}

/**
 * find_lock_page (1/6): find_get_page that also locks the page. The page is
 * made stable under tree_lock, before the lock attempt; if the lock had to
 * be waited for, the page may have left the file meanwhile: drop it and look
 * again (`goto repeat`). Returns a referenced, locked, stable page or -1.
 */
export function find_lock_page(file: number, index: number): number {
  const lock = tree_lock(file);
  for (;;) {
    // repeat:
    let flags = spin_lock_irqsave(lock, LOCK.tree, at.find_lock_page);
    const pfn = K.i32[slotIdx(file, index)]! - 1;
    if (pfn < 0) {
      spin_unlock_irqrestore(lock, LOCK.tree, flags);
      return -1;
    }
    get_page(pfn); // page_cache_get
    point(P['find-get']);
    if (!page_hva_make_stable(pfn)) {
      spin_unlock_irqrestore(lock, LOCK.tree, flags);
      K.f64[K.stats + CNT.findGetPageDiscarded]!++;
      page_hva_discard_page(pfn);
      point(P['discard-to-put']);
      put_page(pfn); // page_cache_release
      return -1;
    }
    if (trylock_page(pfn, at.find_lock_page_2)) {
      spin_unlock_irqrestore(lock, LOCK.tree, flags);
      return pfn;
    }
    spin_unlock_irqrestore(lock, LOCK.tree, flags);
    lock_page(pfn, at.find_lock_page_3); // __lock_page: sleeps
    flags = spin_lock_irqsave(lock, LOCK.tree, at.find_lock_page_4);
    // Has the page been truncated (or discarded) while we slept?
    const same =
      page_mapping(pfn) === file + 1 && Atomics.load(K.i32, K.L.page_index + pfn) === index;
    spin_unlock_irqrestore(lock, LOCK.tree, flags);
    if (same) return pfn;
    unlock_page(pfn);
    put_page(pfn); // page_cache_release; goto repeat
  }
}

/**
 * find_get_pages / find_get_pages_tag (1/6): a gang lookup of up to `nr`
 * pages from `start` under tree_lock, each referenced and made stable there.
 * If one cannot be made stable, the lock is dropped, that page discarded,
 * every reference taken so far released, and the whole lookup retried.
 * With `dirtyOnly` it is find_get_pages_tag(PAGECACHE_TAG_DIRTY): the radix
 * tree's dirty tag is read as the page's PG_dirty (docs/mapping.md).
 * Returns the number of pages stored in `pages`.
 */
export function find_get_pages(
  file: number,
  start: number,
  nr: number,
  pages: Int32Array,
  dirtyOnly = false,
): number {
  const lock = tree_lock(file);
  const i32 = K.i32;
  for (;;) {
    // repeat:
    const flags = spin_lock_irqsave(lock, LOCK.tree, at.find_get_pages);
    let ret = 0;
    for (let index = start; index < PAGES_PER_FILE && ret < nr; index++) {
      const pfn = i32[slotIdx(file, index)]! - 1;
      if (pfn < 0 || (dirtyOnly && (page_flags(pfn) & PG_dirty) === 0)) continue;
      pages[ret++] = pfn;
    }
    let failed = -1;
    for (let i = 0; i < ret; i++) {
      const pfn = pages[i]!;
      get_page(pfn); // page_cache_get
      point(P['find-get-pages']);
      if (page_hva_make_stable(pfn)) continue;
      failed = i;
      break;
    }
    spin_unlock_irqrestore(lock, LOCK.tree, flags);
    if (failed < 0) return ret;
    // Set stable failed: discard the page and retry the whole operation.
    K.f64[K.stats + CNT.findGetPageDiscarded]!++;
    page_hva_discard_page(pages[failed]!);
    point(P['discard-to-put']);
    for (let i = failed; i >= 0; i--) put_page(pages[i]!);
  }
}

/**
 * Read (file, index) into the page cache if it is not there: returns a
 * referenced, stable, up-to-date page, or -1 (out of memory, truncated).
 */
export function read_cache_page(file: number, index: number): number {
  for (let tries = 0; tries < 4; tries++) {
    const pfn = find_get_page(file, index);
    if (pfn >= 0) return pfn;
    if (index >= file_size(file)) return -1;
    const page = alloc_page();
    if (page < 0) return -1;
    if (add_to_page_cache(page, file, index)) {
      SetPageFlag(page, PG_uptodate); // "read" from disk
      lru_cache_add(page);
      return page;
    }
    put_page(page); // lost the race: someone else added it
  }
  return -1;
}

/** What __remove_from_page_cache did. */
export const REMOVED = { none: 0, removed: 1, removed_marked: 2 } as const;

/**
 * __remove_from_page_cache: call with tree_lock held. Patch 5/6: a page the
 * host discarded (Vz) gets PG_discarded here, on its way out, so that its
 * final free parks it on the discard list instead of the allocator.
 *
 * A page that already carries PG_discarded was taken out of the tree by the
 * discard fault (which kept page->mapping for later faults on it): clear the
 * mapping and return REMOVED.none; the caller must not drop the cache's
 * reference again.
 */
export function __remove_from_page_cache(pfn: number, file: number, index: number): number {
  const i32 = K.i32;
  let marked = false;
  if (PageDiscarded(pfn)) {
    set_page_mapping(pfn, 0);
    return REMOVED.none;
  }
  if (K.patched && page_hva_discarded(pfn)) {
    if (TestSetPageDiscarded(pfn)) {
      set_page_mapping(pfn, 0);
      return REMOVED.none;
    }
    marked = true;
  }
  near_miss_if_window(pfn, CNT.nmCacheRemoveInWindow);
  i32[slotIdx(file, index)] = 0;
  i32[fileBase(K.L, file) + K.L.file_nrpages]!--;
  set_page_mapping(pfn, 0);
  return marked ? REMOVED.removed_marked : REMOVED.removed;
}

/**
 * remove_from_page_cache: takes tree_lock; page locked by the caller. Returns
 * whether the page left the tree (then the caller drops the cache's reference).
 */
export function remove_from_page_cache(pfn: number, file: number, index: number): boolean {
  const lock = tree_lock(file);
  const flags = spin_lock_irqsave(lock, LOCK.tree, at.remove_from_page_cache);
  const r = __remove_from_page_cache(pfn, file, index);
  spin_unlock_irqrestore(lock, LOCK.tree, flags);
  rec(EV['remove-cache'], pfn, file, r);
  return r !== REMOVED.none;
}

/** The slot still holds `pfn` (caller holds tree_lock). */
export function __pagecache_holds(pfn: number, file: number, index: number): boolean {
  return K.i32[slotIdx(file, index)] === pfn + 1;
}

/** Delete the slot but keep page->mapping (page_hva_discard_page). tree_lock held. */
export function __pagecache_delete(file: number, index: number): void {
  K.i32[slotIdx(file, index)] = 0;
  K.i32[fileBase(K.L, file) + K.L.file_nrpages]!--;
}

/**
 * write(2) of one page, generic_file_buffered_write's shape: __grab_cache_page
 * (find_lock_page, or a new page read in and added to the cache, then
 * locked, rechecking under the page lock that it is still this file's), then
 * set_page_dirty, unlock, release. A page found is stable (find_lock_page made
 * it so) and stays stable while we hold it: the host cannot discard it, so
 * it cannot be PG_discarded when we dirty it; if it were, 1/6's
 * BUG_ON(PageDirty) in __page_hva_discard_page would report it.
 */
export function write_cache_page(file: number, index: number): void {
  let pfn = find_lock_page(file, index);
  if (pfn < 0) {
    pfn = read_cache_page(file, index);
    if (pfn < 0) return;
    lock_page(pfn, at.write_cache_page);
    if (page_mapping(pfn) !== file + 1) {
      unlock_page(pfn);
      put_page(pfn);
      return;
    }
  }
  SetPageFlag(pfn, PG_dirty); // set_page_dirty (and the radix tree's dirty tag)
  unlock_page(pfn);
  put_page(pfn);
}

/**
 * test_clear_page_dirty (page locked): clear PG_dirty and the dirty tag under
 * tree_lock; 1/6 then tries page_hva_make_volatile(page, 1) there.
 */
export function test_clear_page_dirty(pfn: number, file: number): boolean {
  const lock = tree_lock(file);
  const flags = spin_lock_irqsave(lock, LOCK.tree, at.test_clear_page_dirty);
  const was = TestClearPageFlag(pfn, PG_dirty);
  if (was) page_hva_make_volatile(pfn, 1);
  spin_unlock_irqrestore(lock, LOCK.tree, flags);
  return was;
}

/**
 * Writeback of a file's dirty pages, mpage_writepages' shape: pagevec_lookup_tag
 * (find_get_pages_tag, DIRTY) from the start, and for each page found: lock,
 * check it is still this file's, clear dirty ("written"), unlock, release.
 */
export function writeback_mapping(file: number): void {
  const pvec = lookup_pvec;
  let index = 0;
  for (;;) {
    const n = find_get_pages(file, index, PAGEVEC_SIZE, pvec, true);
    if (n === 0) return;
    for (let i = 0; i < n; i++) {
      const pfn = pvec[i]!;
      index = Math.max(index, Atomics.load(K.i32, K.L.page_index + pfn) + 1);
      lock_page(pfn, at.writeback_mapping);
      if (page_mapping(pfn) === file + 1) test_clear_page_dirty(pfn, file);
      unlock_page(pfn);
    }
    for (let i = 0; i < n; i++) put_page(pvec[i]!); // pagevec_release
  }
}
/** A pagevec on the stack of a lookup (one operation at a time per thread). */
const lookup_pvec = new Int32Array(PAGEVEC_SIZE);
