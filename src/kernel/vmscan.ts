/**
 * mm/vmscan.c: direct reclaim (try_to_free_pages -> shrink_caches over the
 * LRU) and the series' shrink_discards (patch 5/6), called at the top of every
 * priority pass.
 */
import { EV } from '../check/events.ts';
import { rec } from '../check/recorder.ts';
import {
  CNT,
  DISCARD,
  HEAD,
  headNode,
  PERCPU,
  PERCPU_HEADS,
  percpuBase,
  percpuHeadNode,
  ZONE,
} from '../shm/layout.ts';
import { K, P } from './context.ts';
import {
  __pagecache_holds,
  __remove_from_page_cache,
  REMOVED,
  tree_lock,
  trylock_page,
  unlock_page,
} from './filemap.ts';
import { list_add, list_del, list_empty, list_first, list_last, list_splice_init } from './list.ts';
import { free_cold_page, get_page_unless_zero, put_page } from './page_alloc.ts';
import {
  ClearPageDiscarded,
  PG_dirty,
  PG_lru,
  page_count,
  page_flags,
  page_mapcount,
  page_mapping,
  SetPageFlag,
  set_page_mapping,
  TestClearPageFlag,
} from './page-flags.ts';
import { FUNC, local_irq_restore, local_irq_save, point, smp_call_function } from './smp.ts';
import { LOCK, spin_lock, spin_unlock } from './spinlock.ts';

export const DEF_PRIORITY = 12;
export const SWAP_CLUSTER_MAX = 32;

let in_reclaim = false; // PF_MEMALLOC: reclaim does not recurse into reclaim

/**
 * shrink_discards: process context, interrupts enabled. Splice the global
 * discard list away under its lock, then make sure every other CPU has been
 * seen with interrupts enabled (smp_call_function), then free the pages.
 *
 * The order is the protocol: a discard-fault window W runs wholly with
 * interrupts disabled, so a CPU that took our IPI has ended every W that
 * started before the IPI, and every W that starts later finds these pages at
 * count 0 (they were parked at count 0 before the splice, hence before the
 * IPI). Splicing after the IPIs would free pages parked after some CPU took
 * the IPI, while that CPU may be inside a W on them.
 */
export function shrink_discards(): void {
  if (!K.patched) return;
  const { i32, L } = K;
  // LIST_HEAD(pages_to_free) on the task's stack: indexed by the task's home
  // CPU, so that it stays ours if --migrate moves us to another CPU.
  const local = percpuHeadNode(L, K.home, PERCPU_HEADS.splice);
  // Mutant call-with-irqs-off: all of it, smp_call_function included, with
  // interrupts disabled. Two reclaimers then wait on each other: one holds
  // call_lock waiting for the other's `started`, the other spins on call_lock
  // and never takes the IPI (the watchdog's STALL).
  const irqs = K.m_call_with_irqs_off ? local_irq_save() : false;
  if (K.percpuLists) {
    splice_percpu_discard_lists(local);
  } else {
    if (K.m_barrier_before_splice) {
      // Mutant: the barrier first, the splice after it. A CPU that took the
      // IPI and then faulted on P is not waited for when P, parked after
      // its IPI, is spliced here and freed.
      smp_call_function(FUNC.page_hva_sync, true);
      point(P['ipi-to-splice']);
    }
    const lock = L.discard + DISCARD.lock;
    spin_lock(lock, LOCK.discard_list);
    list_splice_init(headNode(L, HEAD.discard), local);
    const n = i32[L.discard + DISCARD.nr_pages]!;
    i32[L.discard + DISCARD.nr_pages] = 0;
    spin_unlock(lock, LOCK.discard_list);
    if (!list_empty(local)) {
      rec(EV.splice, -1, n);
      K.f64[K.stats + CNT.splices]!++;
      if (!K.m_barrier_before_splice) {
        point(P['splice-to-ipi']);
        smp_call_function(FUNC.page_hva_sync, true);
      }
    }
  }
  if (!list_empty(local)) {
    point(P['ipi-to-free']);
    while (!list_empty(local)) {
      const pfn = list_first(local);
      list_del(pfn);
      ClearPageDiscarded(pfn);
      // Mutant no-clear-before-free keeps page->mapping: free_pages_check's
      // bad_page. (Keeping PG_discarded instead would only send the page
      // back onto the discard list, round and round.)
      if (!K.m_no_clear_before_free) set_page_mapping(pfn, 0);
      rec(EV['shrink-free'], pfn);
      free_cold_page(pfn);
      K.f64[K.stats + CNT.pagesFreedFromList]!++;
    }
  }
  local_irq_restore(irqs);
}

/**
 * percpu-2006 (the April/September 2006 versions of the series): each CPU
 * parks discarded pages on its own list; shrink_discards gathers them with
 * on_each_cpu(page_hva_splice, &pages_to_free, 0, 1), so each other CPU
 * splices its list inside the IPI handler, and this CPU its own after.
 *
 * It is barrier-before-splice in disguise: a CPU Y's IPI is the barrier for
 * the pages Y had parked, not for the pages X parks after Y took the IPI.
 *
 *   cpu Y                    cpu X                          caller
 *                                                           IPIs sent
 *   takes IPI (splices Y's)
 *   fault on P, irqs off ..  last put_page(P): park on X's
 *                            takes IPI: splices P           ... all finished
 *                                                           free P, alloc P
 *   .. get_page_unless_zero(P) lands on the new page
 *
 * That needs X to park P before it takes an IPI that was already pending for
 * it: X had interrupts off since the IPI came, or the host delivered the IPI
 * to X late (--ipi-delivery). A last put_page always passes an enabled
 * preemption point (pvec-add) before the park, so with instant delivery X
 * takes the IPI first and P waits for the next round: hvaemu finds the 2006
 * lists clean then, and catches them with delivery latency
 * (test/concurrency/percpu-2006.test.ts plays both).
 */
function splice_percpu_discard_lists(local: number): void {
  const { i32, L } = K;
  // A racy look first, as the 2006 code's nr_discarded count: nothing parked anywhere, no IPIs.
  let any = false;
  for (let c = 0; c < L.nr_cpus && !any; c++) {
    any = Atomics.load(i32, percpuBase(L, c) + PERCPU.nr_discard) > 0;
  }
  if (!any) return;
  smp_call_function(FUNC.page_hva_splice, true, local);
  const flags = local_irq_save();
  page_hva_splice(local);
  local_irq_restore(flags);
  if (!list_empty(local)) K.f64[K.stats + CNT.splices]!++;
}

/**
 * percpu-2006's IPI handler (and the caller's own part of on_each_cpu):
 * splice this CPU's discard list onto the caller's list `local`. Interrupts
 * disabled: they protect this CPU's list from its own flush; the lock
 * serializes the CPUs splicing onto the one caller's list.
 */
export function page_hva_splice(local: number): void {
  const { i32, L } = K;
  const mine = percpuHeadNode(L, K.cpu, PERCPU_HEADS.discard);
  if (list_empty(mine)) return;
  const lock = L.discard + DISCARD.lock;
  spin_lock(lock, LOCK.discard_list);
  const n = i32[K.percpu + PERCPU.nr_discard]!;
  Atomics.store(i32, K.percpu + PERCPU.nr_discard, 0);
  list_splice_init(mine, local);
  spin_unlock(lock, LOCK.discard_list);
  rec(EV['splice-percpu'], -1, n);
}

/** try_to_free_pages: process context, interrupts enabled. Returns pages reclaimed. */
export function try_to_free_pages(): number {
  if (in_reclaim) return 0;
  in_reclaim = true;
  K.f64[K.stats + CNT.reclaims]!++;
  rec(EV.reclaim, -1, Atomics.load(K.i32, K.L.zone + ZONE.free_pages));
  let nr_reclaimed = 0;
  for (let priority = DEF_PRIORITY; priority >= 0; priority--) {
    shrink_discards();
    nr_reclaimed += shrink_caches(priority);
    if (nr_reclaimed >= SWAP_CLUSTER_MAX) break;
    point(P.reclaim);
  }
  in_reclaim = false;
  return nr_reclaimed;
}

/** Scan the LRU from its cold end, SWAP_CLUSTER_MAX pages at a time. */
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

/** Take up to `nr` pages off the LRU's tail with a reference each (lru_lock, interrupts off). */
function isolate_lru_pages(nr: number): number {
  const { i32, L } = K;
  const lru = headNode(L, HEAD.lru);
  const isolate = percpuHeadNode(L, K.home, PERCPU_HEADS.isolate); // on the task's stack
  const flags = local_irq_save();
  spin_lock(L.zone + ZONE.lru_lock, LOCK.lru);
  let scanned = 0;
  for (; scanned < nr && !list_empty(lru); scanned++) {
    const pfn = list_last(lru);
    list_del(pfn);
    if (get_page_unless_zero(pfn)) {
      TestClearPageFlag(pfn, PG_lru);
      i32[L.zone + ZONE.nr_lru]!--;
      list_add(pfn, isolate);
    } else {
      list_add(pfn, lru); // being freed: its release takes it off
    }
  }
  spin_unlock(L.zone + ZONE.lru_lock, LOCK.lru);
  local_irq_restore(flags);
  return scanned;
}

function putback_lru_page(pfn: number): void {
  const { i32, L } = K;
  const flags = local_irq_save();
  spin_lock(L.zone + ZONE.lru_lock, LOCK.lru);
  SetPageFlag(pfn, PG_lru);
  list_add(pfn, headNode(L, HEAD.lru));
  i32[L.zone + ZONE.nr_lru]!++;
  spin_unlock(L.zone + ZONE.lru_lock, LOCK.lru);
  local_irq_restore(flags);
  put_page(pfn);
}

/** shrink_list: free the isolated pages that are clean, unmapped and only cached. */
function shrink_list(): number {
  const isolate = percpuHeadNode(K.L, K.home, PERCPU_HEADS.isolate);
  let reclaimed = 0;
  while (!list_empty(isolate)) {
    const pfn = list_first(isolate);
    list_del(pfn);
    if (!trylock_page(pfn)) {
      putback_lru_page(pfn);
      continue;
    }
    const mapping = page_mapping(pfn);
    if (mapping <= 0) {
      // truncated or discarded while isolated: just drop our reference
      unlock_page(pfn);
      put_page(pfn);
      continue;
    }
    if (page_mapcount(pfn) > 0 || page_flags(pfn) & PG_dirty) {
      unlock_page(pfn);
      putback_lru_page(pfn);
      continue;
    }
    // remove_mapping: only if nobody but the cache and us holds it
    const file = mapping - 1;
    const index = Atomics.load(K.i32, K.L.page_index + pfn);
    const tl = tree_lock(file);
    const flags = local_irq_save();
    spin_lock(tl, LOCK.tree);
    let r: number = REMOVED.none;
    const freeable = page_count(pfn) === 2 && __pagecache_holds(pfn, file, index);
    if (freeable) r = __remove_from_page_cache(pfn, file, index);
    spin_unlock(tl, LOCK.tree);
    local_irq_restore(flags);
    unlock_page(pfn);
    if (!freeable) {
      putback_lru_page(pfn);
      continue;
    }
    rec(EV['remove-cache'], pfn, file, r);
    if (r !== REMOVED.none) put_page(pfn); // the page cache's reference
    put_page(pfn); // ours: the last one, the page is freed (or parked)
    reclaimed++;
  }
  return reclaimed;
}
