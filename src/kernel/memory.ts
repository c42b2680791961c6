/**
 * mm/memory.c and mm/rmap.c, reduced: each task has a page table (ptes hold
 * pfn + 1) under its mm->page_table_lock and MAP_SLOTS file mappings (vmas),
 * each covering a whole file, plus ANON_VPAGES anonymous pages.
 *
 * A pte that maps a page holds one reference and one mapcount. ptes are
 * written only under the pte lock; the owning CPU's hardware reads them
 * without it (the pte walk of an access). After clearing a pte of another
 * CPU's task, flush_tlb_page waits until that CPU is not between its walk and
 * its access: the IPTE broadcast of s390, which is what makes an access and an
 * unmap atomic with respect to each other.
 */
import { EV } from '../check/events.ts';
import { rec } from '../check/recorder.ts';
import { MAP_SLOTS, NR_VPAGES, PAGES_PER_FILE, TASKS_PER_CPU } from '../config.ts';
import { CNT, fileBase, PERCPU, percpuBase, taskBase } from '../shm/layout.ts';
import { lock_sites } from '../stats/lock_sites.ts';
import { K, P } from './context.ts';
import { livelocked } from './fault.ts';
import { __pagecache_holds, file_size, read_cache_page, tree_lock } from './filemap.ts';
import { alloc_page, get_page, put_page } from './page_alloc.ts';
import { page_hva_discard_page, page_hva_make_stable, page_hva_make_volatile } from './page_hva.ts';
import { page_mapping, set_page_mapping } from './page-flags.ts';
import { cpu_relax, point } from './smp.ts';
import {
  LOCK,
  spin_lock,
  spin_lock_irqsave,
  spin_unlock,
  spin_unlock_irqrestore,
} from './spinlock.ts';
import { truncate_inode_pages } from './truncate.ts';

/** lock_stat's call sites of this file's lock calls (the kernel's _RET_IP_). */
const at = lock_sites(
  'do_mmap',
  'do_munmap',
  'zap_anon',
  'page_hva_unmap_all',
  'unmap_mapping_range',
  'handle_mm_fault',
  'handle_mm_fault_2',
  'do_anonymous_page',
  'follow_page',
  'vmtruncate',
  'vmtruncate_2',
);

export const FILE_VPAGES = MAP_SLOTS * PAGES_PER_FILE;

export const pte_lock = (task: number) => taskBase(K.L, task) + K.L.task_pte_lock;
export const pte_idx = (task: number, vpage: number) => taskBase(K.L, task) + K.L.task_pte + vpage;
const vma_idx = (task: number, slot: number) => taskBase(K.L, task) + K.L.task_vma + slot;
/** The home CPU of a task: the CPU its thread started as (K.home); --migrate never moves tasks between threads. */
export const task_cpu = (task: number) => Math.floor(task / TASKS_PER_CPU);

/** The file a task maps in a slot, or -1. */
export function vma_file(task: number, slot: number): number {
  return Atomics.load(K.i32, vma_idx(task, slot)) - 1;
}

/** Pages zapped under a pte lock, put after it is dropped (no put_page under a spinlock). */
const zapped = new Int32Array(NR_VPAGES);

/** Clear a pte (pte lock held); returns the pfn it mapped or -1. */
function zap_pte(task: number, vpage: number): number {
  const i32 = K.i32;
  const idx = pte_idx(task, vpage);
  const pte = i32[idx]!;
  if (pte === 0) return -1;
  Atomics.store(i32, idx, 0);
  Atomics.sub(i32, K.L.page_mapcount + pte - 1, 1); // page_remove_rmap
  return pte - 1;
}

/**
 * Wait until the task's CPU is not inside an access that walked the old pte.
 * The in_access word is the task's (on its home CPU's line), so this holds
 * wherever --migrate has moved the thread that runs it.
 */
export function flush_tlb_page(task: number): void {
  const cpu = task_cpu(task);
  if (cpu === K.home) return;
  const idx = percpuBase(K.L, cpu) + PERCPU.in_access;
  let spins = 0;
  while (Atomics.load(K.i32, idx) !== 0) cpu_relax(spins++);
}

/** Drop the references of `n` zapped ptes of `task`. */
function put_zapped(task: number, n: number): void {
  if (n === 0) return;
  flush_tlb_page(task);
  for (let i = 0; i < n; i++) {
    const pfn = zapped[i]!;
    rec(EV.unmap, pfn, task);
    point(P['unmap-to-put']);
    put_page(pfn);
  }
}

// ---- mappings ---------------------------------------------------------------

export function do_mmap(task: number, slot: number, file: number): void {
  const lock = pte_lock(task);
  spin_lock(lock, LOCK.pte, at.do_mmap);
  if (vma_file(task, slot) < 0) Atomics.store(K.i32, vma_idx(task, slot), file + 1);
  spin_unlock(lock, LOCK.pte);
}

export function do_munmap(task: number, slot: number): void {
  const lock = pte_lock(task);
  let n = 0;
  spin_lock(lock, LOCK.pte, at.do_munmap);
  for (let i = 0; i < PAGES_PER_FILE; i++) {
    const pfn = zap_pte(task, slot * PAGES_PER_FILE + i);
    if (pfn >= 0) zapped[n++] = pfn;
  }
  Atomics.store(K.i32, vma_idx(task, slot), 0);
  spin_unlock(lock, LOCK.pte);
  put_zapped(task, n);
}

/** Unmap an anonymous page and free it. */
export function zap_anon(task: number, vpage: number): void {
  const lock = pte_lock(task);
  spin_lock(lock, LOCK.pte, at.zap_anon);
  const pfn = zap_pte(task, FILE_VPAGES + vpage);
  spin_unlock(lock, LOCK.pte);
  if (pfn >= 0) {
    zapped[0] = pfn;
    put_zapped(task, 1);
  }
}

/**
 * Does the task map the file now? Read without the pte lock: the rmap walks
 * below visit only the tasks that do, as the kernel walks only the vmas in
 * mapping->i_mmap. Taking every task's pte lock instead made the unmap
 * most of mm->page_table_lock's acquisitions at 8 CPUs (16 tasks per discard).
 *
 * Why skipping a task that does not map the file is safe:
 * - a slot's ptes belong to the file in its vma (munmap zaps them and clears
 *   the vma under the pte lock; mmap fills only an empty vma): no vma of the
 *   file, no pte of the file's pages;
 * - page_hva_unmap_all runs only on a page the host discarded (Vz, which stays
 *   until the page is freed): a task that maps the file after the check cannot
 *   map this page, because its fault's find_get_page fails page_hva_make_stable;
 * - unmap_mapping_range runs after vmtruncate set i_size to 0: a later fault
 *   on the file maps nothing.
 */
function task_maps_file(task: number, file: number): boolean {
  for (let slot = 0; slot < MAP_SLOTS; slot++) if (vma_file(task, slot) === file) return true;
  return false;
}

export const page_mapped = (pfn: number) => Atomics.load(K.i32, K.L.page_mapcount + pfn) > 0;

/**
 * page_hva_unmap_all (1/6, mm/rmap.c): clear every pte that maps the page,
 * walking the file's mappings (i_mmap) and stopping once the page is not
 * mapped any more. Caller holds the page lock and a reference. Each pte's
 * reference is dropped after its pte lock (the caller's keeps the page).
 * (The posted code does not reach anonymous pages: BUG_ON(PageAnon).)
 */
export function page_hva_unmap_all(pfn: number): void {
  const mapping = page_mapping(pfn);
  if (mapping <= 0) return;
  const file = mapping - 1;
  const index = Atomics.load(K.i32, K.L.page_index + pfn);
  for (let task = 0; task < K.L.nr_tasks && page_mapped(pfn); task++) {
    if (!task_maps_file(task, file)) continue;
    const lock = pte_lock(task);
    let n = 0;
    spin_lock(lock, LOCK.pte, at.page_hva_unmap_all);
    for (let slot = 0; slot < MAP_SLOTS; slot++) {
      if (vma_file(task, slot) !== file) continue;
      const vpage = slot * PAGES_PER_FILE + index;
      if (K.i32[pte_idx(task, vpage)] === pfn + 1) zapped[n++] = zap_pte(task, vpage);
    }
    spin_unlock(lock, LOCK.pte);
    put_zapped(task, n);
  }
}

/** unmap_mapping_range(mapping, 0, 0): clear every pte of every task that maps the file. */
export function unmap_mapping_range(file: number): void {
  for (let task = 0; task < K.L.nr_tasks; task++) {
    if (!task_maps_file(task, file)) continue;
    const lock = pte_lock(task);
    let n = 0;
    spin_lock(lock, LOCK.pte, at.unmap_mapping_range);
    for (let slot = 0; slot < MAP_SLOTS; slot++) {
      if (vma_file(task, slot) !== file) continue;
      for (let i = 0; i < PAGES_PER_FILE; i++) {
        const pfn = zap_pte(task, slot * PAGES_PER_FILE + i);
        if (pfn >= 0) zapped[n++] = pfn;
      }
    }
    spin_unlock(lock, LOCK.pte);
    put_zapped(task, n);
  }
}

// ---- page faults --------------------------------------------------------------

/**
 * handle_mm_fault for a not-present pte (do_no_page / do_anonymous_page).
 * File pages: read through the page cache (filemap_nopage: find_get_page,
 * which makes the page stable) and map, rechecking under the pte lock and
 * tree_lock that the page is still the cached one and the file was not
 * truncated past it (2.6's truncate_count / i_size recheck). Anonymous
 * pages: a new zeroed page. Returns true when the faulting access should be
 * re-executed (VM_FAULT_MINOR/MAJOR, also when a race undid the mapping),
 * false when the task would get a signal (SIGSEGV, SIGBUS, OOM).
 *
 * Not modelled: the COW break of do_no_page and do_wp_page (1/6 makes the
 * old page stable there or returns VM_FAULT_DISCARD): every mapping here is
 * a shared read mapping or anonymous memory.
 */
export function handle_mm_fault(task: number, vpage: number): boolean {
  if (vpage >= FILE_VPAGES) return do_anonymous_page(task, vpage);
  const slot = Math.floor(vpage / PAGES_PER_FILE);
  const index = vpage % PAGES_PER_FILE;
  const file = vma_file(task, slot);
  if (file < 0) return false; // SIGSEGV: nothing mapped there
  // filemap_nopage: an access beyond i_size (a truncate in progress) is SIGBUS
  if (index >= file_size(file)) return false;
  const pfn = read_cache_page(file, index);
  if (pfn < 0) return false; // SIGBUS (beyond i_size) or OOM
  const i32 = K.i32;
  const lock = pte_lock(task);
  // --lockstat=full: tree_lock nests right inside the pte lock and shares
  // its clock readings (spinlock.ts); -1 otherwise
  const t = spin_lock(lock, LOCK.pte, at.handle_mm_fault);
  const tl = tree_lock(file);
  const flags = spin_lock_irqsave(tl, LOCK.tree, at.handle_mm_fault_2, t);
  const ok =
    vma_file(task, slot) === file &&
    i32[pte_idx(task, vpage)] === 0 &&
    __pagecache_holds(pfn, file, index) &&
    index < file_size(file);
  if (ok) {
    get_page(pfn); // the pte's reference
    Atomics.add(i32, K.L.page_mapcount + pfn, 1);
    Atomics.store(i32, pte_idx(task, vpage), pfn + 1);
  }
  const t2 = spin_unlock_irqrestore(tl, LOCK.tree, flags);
  spin_unlock(lock, LOCK.pte, t2);
  if (ok) rec(EV.map, pfn, task);
  // page_add_file_rmap's make_volatile (1/6). Known references besides the
  // mappings: ours and the page cache's.
  page_hva_make_volatile(pfn, 2);
  put_page(pfn);
  return true;
}

function do_anonymous_page(task: number, vpage: number): boolean {
  const pfn = alloc_page();
  if (pfn < 0) return false; // OOM
  set_page_mapping(pfn, -(task + 1)); // PAGE_MAPPING_ANON
  Atomics.store(K.i32, K.L.page_index + pfn, vpage);
  const lock = pte_lock(task);
  spin_lock(lock, LOCK.pte, at.do_anonymous_page);
  const idx = pte_idx(task, vpage);
  const ok = K.i32[idx] === 0;
  if (ok) {
    Atomics.store(K.i32, K.L.page_mapcount + pfn, 1);
    Atomics.store(K.i32, idx, pfn + 1); // our reference becomes the pte's
  }
  spin_unlock(lock, LOCK.pte);
  if (!ok) put_page(pfn);
  return true;
}

/**
 * follow_page(vma, address, FOLL_GET): the page a pte maps, with a
 * reference taken under the pte lock; -1 if the pte is empty.
 */
export function follow_page(task: number, vpage: number): number {
  const lock = pte_lock(task);
  spin_lock(lock, LOCK.pte, at.follow_page);
  const pte = K.i32[pte_idx(task, vpage)]!;
  if (pte !== 0) get_page(pte - 1);
  spin_unlock(lock, LOCK.pte);
  return pte - 1;
}

/**
 * get_user_pages(tsk, mm, start, nr, write 0, force 0, pages, NULL): pin
 * the pages behind `nr` user addresses for I/O (direct I/O, a zero-copy send).
 * Fault each in as needed; with FOLL_GET, 1/6 makes each page stable, and a
 * page the host discarded meanwhile is discarded by the guest, released, and
 * looked up again (`goto retry`). Returns how many pages were pinned into
 * `pages` (each holds a reference the caller drops).
 */
export function get_user_pages(task: number, vpage: number, nr: number, pages: Int32Array): number {
  let i = 0;
  for (; i < nr; i++) {
    const addr = vpage + i;
    let faults = 0;
    for (;;) {
      // retry: cond_resched(); while (!(page = follow_page(...))) handle_mm_fault
      let pfn = follow_page(task, addr);
      while (pfn < 0) {
        if (!handle_mm_fault(task, addr)) return i; // -EFAULT / -ENOMEM: what was pinned so far
        pfn = follow_page(task, addr);
      }
      point(P['gup-stable']);
      if (page_hva_make_stable(pfn)) {
        pages[i] = pfn;
        break;
      }
      page_hva_discard_page(pfn);
      point(P['discard-to-put']);
      put_page(pfn); // page_cache_release
      if (++faults >= K.cfg.livelockFaults && livelocked(task, addr, faults)) return i;
    }
  }
  return i;
}

// ---- truncate -------------------------------------------------------------------

/**
 * vmtruncate to 0 and back: i_size to 0 under tree_lock (no new pages, no new
 * mappings), unmap_mapping_range, then truncate_inode_pages (truncate.ts),
 * which finds the cached pages with find_get_pages (made stable, or
 * discarded) and removes and releases each under its page lock.
 */
export function vmtruncate(file: number): void {
  const { i32, L } = K;
  const fb = fileBase(L, file);
  const tl = tree_lock(file);
  let flags = spin_lock_irqsave(tl, LOCK.tree, at.vmtruncate);
  Atomics.store(i32, fb + L.file_size, 0);
  Atomics.add(i32, fb + L.file_truncate_count, 1);
  spin_unlock_irqrestore(tl, LOCK.tree, flags);
  rec(EV.truncate, -1, file);
  unmap_mapping_range(file);
  truncate_inode_pages(file);
  flags = spin_lock_irqsave(tl, LOCK.tree, at.vmtruncate_2);
  Atomics.store(i32, fb + L.file_size, PAGES_PER_FILE);
  spin_unlock_irqrestore(tl, LOCK.tree, flags);
  K.f64[K.stats + CNT.truncates]!++;
}
