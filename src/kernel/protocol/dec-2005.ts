/**
 * --protocol dec-2005: "[rfc][patch 5/6] Page host virtual assist:
 * discarded page list" (Schwidefsky, Franke, Raj; LKML, 16 Dec 2005), its
 * mm/page_alloc.c and mm/vmscan.c hunks, as posted. With 1/6's discard,
 * which keeps page->mapping, reclaim's remove_mapping drops a discarder's
 * reference (vmscan.ts, remove_mapping: negative-count);
 * dec-2005-fixed.ts is this module plus the one change that removes it,
 * and the default (`patched`).
 * (Its mm/filemap.c hunk, the PG_discarded mark in __remove_from_page_cache,
 * is in filemap.ts behind K.patched.)
 *
 *   static DEFINE_PER_CPU(struct pagevec, page_hva_discard_pvecs)
 *                                        pvecBase(L, cpu), this CPU's: K.pvec
 *   DEFINE_SPINLOCK(page_hva_discard_list_lock)  L.discard + DISCARD.lock
 *   LIST_HEAD(page_hva_discard_list)     headNode(L, HEAD.discard)
 *
 * Model differences (none changes an ordering the protocol depends on):
 * - DISCARD.nr_pages counts the pages on page_hva_discard_list, updated
 *   under its lock. The patch keeps no count; the audit and the benchmark
 *   read it, no kernel decision does.
 * - The mutants of docs/protocol.md section 5 that break this version's code are
 *   switches here (K.m_*), each where it acts.
 */
import { near_miss, near_miss_if_window } from '../../check/coverage.ts';
import { EV as EV_ } from '../../check/events.ts';
import { rec } from '../../check/recorder.ts';
import { P as P_ } from '../../points.ts';
import {
  CNT as CNT_,
  DISCARD as DISCARD_,
  HEAD as HEAD_,
  headNode,
  PERCPU_HEADS as PERCPU_HEADS_,
  percpuHeadNode,
} from '../../shm/layout.ts';
import { lock_sites } from '../../stats/lock_sites.ts';
import { K as THIS_CPU } from '../k.ts';
import {
  list_add_tail,
  list_del,
  list_empty,
  list_first,
  list_next,
  list_splice_init,
} from '../list.ts';
import { lockdep_percpu, PCPU } from '../lockdep.ts';
import { free_cold_page } from '../page_alloc.ts';
import { ClearPageDiscarded, set_page_mapping } from '../page-flags.ts';
import {
  pagevec_add,
  pagevec_count,
  pagevec_page,
  pagevec_reinit,
  pagevec_release_ghost,
} from '../pagevec.ts';
import {
  FUNC,
  local_irq_restore,
  local_irq_save,
  point,
  preempt_disable,
  preempt_enable,
  set_ipi_func,
  smp_call_function,
} from '../smp.ts';
import { arch_spin_is_locked, LOCK, spin_lock, spin_unlock } from '../spinlock.ts';
import type { DiscardProtocol } from './index.ts';

/** lock_stat's call sites of this file's lock calls (the kernel's _RET_IP_). */
const at = lock_sites('flush_discard_pvec', 'shrink_discards');

/**
 * This CPU and the layout's (events', checks') constants as module-local
 * consts, which V8's optimizing compiler folds; imported bindings are cells
 * it loads and tests at every use (k.ts).
 */
const K = THIS_CPU;
const EV = EV_;
const CNT = CNT_;
const DISCARD = DISCARD_;
const HEAD = HEAD_;
const PERCPU_HEADS = PERCPU_HEADS_;
const P = P_;

/**
 * mm/page_alloc.c, free_hot_cold_page, `#ifdef CONFIG_PAGE_HVA`:
 *
 *   if (unlikely(PageDiscarded(page))) {
 *       pvec = &get_cpu_var(page_hva_discard_pvecs);
 *       if (!pagevec_add(pvec, page)) { spin_lock(&page_hva_discard_list_lock);
 *           list_add_tail every page's lru to page_hva_discard_list; spin_unlock;
 *           pagevec_reinit(pvec); }
 *       put_cpu_var(page_hva_discard_pvecs);
 *       return;
 *   }
 *
 * The parked page keeps count 0, PG_discarded, its mapping and host state Vz.
 * Preemption off, interrupts on: nothing else on this CPU touches the vector
 * (no interrupt frees a page here).
 */
export function free_hot_cold_page_discarded(pfn: number): boolean {
  if (K.m_free_immediately) {
    // Mutant free-immediately: no discard branch, the frame goes straight
    // back, where a CPU still in its fault window on it meets its next owner.
    ClearPageDiscarded(pfn);
    set_page_mapping(pfn, 0);
    return false;
  }
  // get_cpu_var: preemption off, the vector stays this CPU's. Mutant
  // pagevec-without-preempt-off takes the pointer with preemption enabled:
  // with --migrate the task may move at the points below and go on adding
  // to the old CPU's vector while that CPU's next task adds to it too.
  if (!K.m_pvec_no_preempt) preempt_disable();
  const pvec = K.pvec;
  lockdep_percpu(PCPU.page_hva_discard_pvecs);
  point(P['pvec-add']);
  const left = pagevec_add(pvec, pfn);
  near_miss_if_window(pfn, CNT.nmParkInWindow);
  rec(EV.park, pfn, pagevec_count(pvec), 0, K.histT);
  K.f64[K.stats + CNT.pagesParked]!++;
  if (left === 0) flush_discard_pvec(pvec);
  if (!K.m_pvec_no_preempt) preempt_enable(); // put_cpu_var
  return true;
}

/**
 * The `!pagevec_add` branch above: the full vector to page_hva_discard_list.
 * Out of line (once per PAGEVEC_SIZE pages), so that V8 compiles it with an
 * inlining budget of its own: the loop's per-page steps inline here, and the
 * branch above stays small enough to inline its own.
 */
function flush_discard_pvec(pvec: number): void {
  const { i32, L } = K;
  point(P['pvec-flush']);
  const lock = L.discard + DISCARD.lock;
  if (arch_spin_is_locked(i32, lock)) near_miss(CNT.nmDiscardLockContended);
  spin_lock(lock, LOCK.discard_list, at.flush_discard_pvec);
  const n = pagevec_count(pvec);
  const list = headNode(L, HEAD.discard);
  for (let i = 0; i < n; i++) {
    const page = pagevec_page(pvec, i);
    pagevec_release_ghost(page);
    near_miss_if_window(page, CNT.nmFlushInWindow);
    list_add_tail(page, list);
  }
  i32[L.discard + DISCARD.nr_pages]! += n;
  spin_unlock(lock, LOCK.discard_list);
  pagevec_reinit(pvec);
  rec(EV['list-flush'], -1, n);
  K.f64[K.stats + CNT.listFlushes]!++;
}

/** mm/vmscan.c: `static void page_hva_sync(void *info) {}`, the IPI's function. */
function page_hva_sync(_info: number): void {}

/**
 * mm/vmscan.c, shrink_discards(sc): process context, interrupts enabled.
 * Splice page_hva_discard_list away under its lock, then make sure every
 * other CPU has been seen with interrupts enabled (smp_call_function), then
 * free the pages: ClearPageDiscarded, page->mapping = NULL, free_cold_page.
 *
 * The order is the protocol: a discard-fault window W runs wholly with
 * interrupts disabled, so a CPU that took our IPI has ended every W that
 * started before the IPI, and every W that starts later finds these pages at
 * count 0 (they were parked at count 0 before the splice, hence before the
 * IPI). Splicing after the IPIs (mutant barrier-before-splice) frees pages
 * parked after some CPU took the IPI, while that CPU may be inside a W:
 *
 *   cpu Y                     cpu X                    caller
 *                                                      IPIs sent
 *   takes the IPI
 *   fault on P, irqs off ..   last put_page(P): parked
 *                                                      splice (P in it), free P
 *   .. get_page_unless_zero(P) lands on P's next owner
 *
 * Pages in a per-CPU pagevec that is not full wait for a later pass.
 */
export function shrink_discards(): void {
  const { i32, L } = K;
  // LIST_HEAD(pages_to_free) on the task's stack: indexed by the task's home
  // CPU, so that it stays ours if --migrate moves us to another CPU.
  const local = percpuHeadNode(L, K.home, PERCPU_HEADS.splice);
  // Mutant call-with-irqs-off: all of it, smp_call_function included, with
  // interrupts disabled. Two reclaimers then wait on each other: one holds
  // call_lock waiting for the other's `started`, the other spins on call_lock
  // and never takes the IPI (the watchdog's STALL).
  const irqs = K.m_call_with_irqs_off ? local_irq_save() : false;
  if (K.m_barrier_before_splice) {
    smp_call_function(FUNC.page_hva_sync, true);
    point(P['ipi-to-splice']);
  }
  const lock = L.discard + DISCARD.lock;
  if (arch_spin_is_locked(i32, lock)) near_miss(CNT.nmDiscardLockContended);
  spin_lock(lock, LOCK.discard_list, at.shrink_discards);
  list_splice_init(headNode(L, HEAD.discard), local);
  const n = i32[L.discard + DISCARD.nr_pages]!;
  i32[L.discard + DISCARD.nr_pages] = 0;
  spin_unlock(lock, LOCK.discard_list);
  if (list_empty(local)) {
    local_irq_restore(irqs);
    return;
  }
  rec(EV.splice, -1, n);
  K.f64[K.stats + CNT.splices]!++;
  splice_near_misses(local);
  if (!K.m_barrier_before_splice) {
    point(P['splice-to-ipi']);
    smp_call_function(FUNC.page_hva_sync, true);
  }
  point(P['ipi-to-free']);
  // list_for_each_entry_safe: free_cold_page reuses page->lru, so the page
  // leaves this list first (list_del, where the kernel keeps `next`).
  while (!list_empty(local)) {
    const pfn = list_first(local);
    list_del(pfn);
    ClearPageDiscarded(pfn);
    // Mutant no-clear-before-free keeps page->mapping: free_pages_check's
    // bad_page. (Keeping PG_discarded instead would only send the page back
    // onto the discard list, round and round.)
    if (!K.m_no_clear_before_free) set_page_mapping(pfn, 0);
    rec(EV['shrink-free'], pfn);
    free_cold_page(pfn);
    K.f64[K.stats + CNT.pagesFreedFromList]!++;
  }
  local_irq_restore(irqs);
}

/**
 * Near misses: a page spliced away while a window is open on it (the window
 * ends before our IPI is taken, or finds the page at count 0). A walk of its
 * own: V8 compiles it with its own inlining budget, so that the walk's steps
 * inline (in shrink_discards they were two calls a page).
 */
function splice_near_misses(local: number): void {
  for (let p = list_first(local); p !== local; p = list_next(p)) {
    near_miss_if_window(p, CNT.nmSpliceInWindow);
  }
}

export const ops: DiscardProtocol = {
  free_hot_cold_page_discarded,
  // try_to_free_pages: `shrink_discards(&sc);` adds nothing to nr_reclaimed.
  shrink_discards: () => {
    shrink_discards();
    return 0;
  },
  attach: () => set_ipi_func(FUNC.page_hva_sync, page_hva_sync),
  // remove_mapping as 2.6.15 has it (vmscan.ts)
  remove_mapping_refuses_discarded: false,
  hazards: [
    'cache-remove-in-window', // 5/6's __remove_from_page_cache marks it; the window finds it parked or cached
    'park-in-window', // free_hot_cold_page's discard branch
    'flush-in-window', // the full pagevec to page_hva_discard_list
    'splice-in-window', // shrink_discards, before its IPIs
    'last-put-in-window',
    'ipi-to-window', // the rendezvous waits for the window to end
    'refused-parked',
    'double-fault',
    'discard-lock-contended', // page_hva_discard_list_lock: flushes and splices
    'irq-last-put',
    'irq-discard-to-put',
    'tx-free-uncached',
  ],
};
