/**
 * --protocol percpu-2006: "[patch 8/9] Guest page hinting: discarded page
 * list" (Schwidefsky, Franke, Raj; LKML, 1 Sep 2006), its mm/page_alloc.c
 * and mm/vmscan.c hunks as posted, against 2.6.18:
 *
 *   DEFINE_PER_CPU(struct list_head, page_discard_list)
 *                          percpuHeadNode(L, cpu, PERCPU_HEADS.discard)
 *   static DEFINE_SPINLOCK(splice_lock) in __page_shrink_discards
 *                          the word of L.discard + DISCARD.lock: this version
 *                          has no page_hva_discard_list_lock, so its splice
 *                          lock takes that word (lock_stat: `discard_list`)
 *
 * No pagevec and no count: free_hot_cold_page puts a PG_discarded page
 * straight on this CPU's list with interrupts off; page_shrink_discards
 * gathers every CPU's list with on_each_cpu and frees the pages; it runs at
 * the top of each priority pass of try_to_free_pages and its pages count in
 * nr_reclaimed.
 *
 * The hazard (docs/protocol.md section 5, barrier-before-splice): a CPU's IPI is
 * the barrier for the pages it had parked, not for those another CPU parks
 * after it took it.
 *
 *   cpu Y                    cpu X                          caller
 *                                                           on_each_cpu: IPIs sent
 *   takes the IPI (its list)
 *   fault on P, irqs off ..  last put_page(P): parked on X's list
 *                            takes the IPI: splices P       .. all finished
 *                                                           free P; P reallocated
 *   .. get_page_unless_zero(P) lands on P's next owner
 *
 * X must park P before it takes an IPI already sent to it: X had interrupts
 * off since the IPI came, or the host delivered the IPI to X late
 * (--ipi-delivery). The last put_page passes __page_cache_release's
 * local_irq_restore, a preemption point, just before this module's branch,
 * so with instant delivery X takes the IPI there and P waits for the next
 * pass; test/concurrency/percpu-2006.test.ts plays both.
 *
 * Model differences:
 * - page->mapping: patch 3/9's __page_discard removes the page with
 *   __remove_from_page_cache_nocheck, 2.6.18's __remove_from_page_cache
 *   body, which sets page->mapping = NULL; so every page this version parks
 *   has no mapping and page_shrink_discards does not clear it. This model's
 *   page_hva_discard_page (page_hva.ts) is 2005's, which keeps the mapping
 *   for later faults. page_shrink_discards clears it (marked below) so that
 *   free_pages_check does not report a state the 2006 series never has. It
 *   hides nothing the oracle judges: no CPU can reach a parked page (count 0)
 *   to read its mapping.
 * - The same nulled page->mapping makes 2.6.18's shrink_page_list keep a
 *   page that a CPU discarded while reclaim had it isolated (`if (!mapping
 *   || !remove_mapping(mapping, page)) goto keep_locked;`). The model's page
 *   keeps its mapping, so remove_mapping refuses a PG_discarded page instead
 *   (remove_mapping_refuses_discarded, below; vmscan.ts): the same keep, where
 *   2.6.15's remove_mapping would drop the discarder's reference
 *   (dec-2005's negative-count, which the 2006 series does not have).
 * - The base kernel is the model's 2.6.15 (isolate_lru_pages with
 *   get_page_testone, 2005's __remove_from_page_cache in filemap.ts), not
 *   2.6.18 with patches 1/9-7/9.
 * - page_host_discards() is true: the model's host always discards.
 * - PERCPU.nr_discard counts the pages on each CPU's list, updated where the
 *   list changes (this CPU's, interrupts off). The patch keeps no count; the
 *   audit reads it (as dec-2005's DISCARD.nr_pages), no kernel decision does.
 */
import { near_miss, near_miss_if_window } from '../../check/coverage.ts';
import { EV } from '../../check/events.ts';
import { rec } from '../../check/recorder.ts';
import {
  CNT,
  DISCARD,
  PERCPU,
  PERCPU_HEADS,
  percpuBase,
  percpuHeadNode,
} from '../../shm/layout.ts';
import { lock_sites } from '../../stats/lock_sites.ts';
import { K } from '../context.ts';
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
  FUNC,
  local_irq_disable,
  local_irq_enable,
  preempt_disable,
  preempt_enable,
  set_ipi_func,
  smp_call_function,
} from '../smp.ts';
import { arch_spin_is_locked, LOCK, spin_lock, spin_unlock } from '../spinlock.ts';
import type { DiscardProtocol } from './index.ts';

/** lock_stat's call sites of this file's lock calls (the kernel's _RET_IP_). */
const at = lock_sites('__page_shrink_discards');

/** include/asm-s390/page-states.h: MACHINE_HAS_ESSA; the model's host always discards. */
const page_host_discards = () => true;

const page_discard_list = (cpu: number) => percpuHeadNode(K.L, cpu, PERCPU_HEADS.discard);

/**
 * mm/page_alloc.c, free_hot_cold_page, `#if defined(CONFIG_PAGE_DISCARD_LIST)`:
 *
 *   if (page_host_discards() && unlikely(PageDiscarded(page))) {
 *       local_irq_disable();
 *       list_add_tail(&page->lru, &__get_cpu_var(page_discard_list));
 *       local_irq_enable();
 *       return;
 *   }
 *
 * Interrupts off keep this CPU's IPI handler (__page_shrink_discards) off
 * the list while the page goes on. (local_irq_disable/enable, not
 * save/restore: a caller with interrupts off gets them back on, as posted.)
 */
export function free_hot_cold_page_discarded(pfn: number): boolean {
  if (!page_host_discards()) return false;
  local_irq_disable();
  lockdep_percpu(PCPU.page_discard_list);
  list_add_tail(pfn, page_discard_list(K.cpu));
  near_miss_if_window(pfn, CNT.nmParkInWindow);
  K.i32[K.percpu + PERCPU.nr_discard]!++; // the audit's count (header)
  rec(EV.park, pfn, 0, 0, K.histT);
  K.f64[K.stats + CNT.pagesParked]!++;
  local_irq_enable(); // a preemption point: a pending IPI splices the page at once
  return true;
}

/**
 * mm/page_alloc.c, __page_shrink_discards(void *info): the IPI function, and
 * the caller's own part of on_each_cpu; interrupts disabled. Splice this
 * CPU's list onto the caller's list `info` under splice_lock (every CPU
 * splices onto the one list), if it is not empty.
 */
export function __page_shrink_discards(info: number): void {
  const cpu_list = page_discard_list(K.cpu);
  lockdep_percpu(PCPU.page_discard_list);
  if (list_empty(cpu_list)) return;
  const splice_lock = K.L.discard + DISCARD.lock;
  if (arch_spin_is_locked(K.i32, splice_lock)) near_miss(CNT.nmDiscardLockContended);
  spin_lock(splice_lock, LOCK.discard_list, at.__page_shrink_discards);
  let n = 0; // for the flight recorder (and the near misses) only
  for (let p = list_first(cpu_list); p !== cpu_list; p = list_next(p)) {
    n++;
    near_miss_if_window(p, CNT.nmSpliceInWindow);
  }
  list_splice_init(cpu_list, info);
  K.i32[K.percpu + PERCPU.nr_discard] = 0;
  spin_unlock(splice_lock, LOCK.discard_list);
  rec(EV['splice-percpu'], -1, n);
}

/**
 * kernel/softirq.c (2.6.18), on_each_cpu(func, info, retry, wait):
 * smp_call_function on the others, then func here with interrupts disabled,
 * all with preemption off (the caller stays on this CPU).
 */
function on_each_cpu(info: number): void {
  preempt_disable();
  smp_call_function(FUNC.page_shrink_discards, true, info);
  local_irq_disable();
  __page_shrink_discards(info);
  local_irq_enable();
  preempt_enable();
}

/**
 * mm/page_alloc.c, page_shrink_discards(): process context, interrupts
 * enabled. Gather every CPU's list with on_each_cpu(__page_shrink_discards,
 * &pages_to_free, 0, 1), then ClearPageDiscarded and free_cold_page each
 * page. Returns the number freed (try_to_free_pages adds it to nr_reclaimed).
 * There is no look before the IPIs: every call sends them.
 */
export function page_shrink_discards(): number {
  if (!page_host_discards()) return 0;
  // LIST_HEAD_INIT(pages_to_free) on the task's stack (K.home: see dec-2005.ts)
  const pages_to_free = percpuHeadNode(K.L, K.home, PERCPU_HEADS.splice);
  on_each_cpu(pages_to_free);
  if (!list_empty(pages_to_free)) K.f64[K.stats + CNT.splices]!++;
  let freed = 0;
  // list_for_each_entry_safe (list_del where the kernel keeps `next`)
  while (!list_empty(pages_to_free)) {
    const pfn = list_first(pages_to_free);
    list_del(pfn);
    ClearPageDiscarded(pfn);
    set_page_mapping(pfn, 0); // MODEL DIFFERENCE: patch 3/9's __page_discard had cleared it (header)
    rec(EV['shrink-free'], pfn);
    free_cold_page(pfn);
    K.f64[K.stats + CNT.pagesFreedFromList]!++;
    freed++;
  }
  return freed;
}

/**
 * mm/page_alloc.c, page_alloc_cpu_notify, CPU_DEAD: the dead CPU's list is
 * spliced onto this CPU's, interrupts disabled. Unreachable in the model,
 * which has no CPU hotplug: kept so that the version's code is whole.
 */
export function page_alloc_cpu_notify(cpu: number): void {
  local_irq_disable();
  list_splice_init(page_discard_list(cpu), page_discard_list(K.cpu));
  const dead = percpuBase(K.L, cpu) + PERCPU.nr_discard;
  K.i32[K.percpu + PERCPU.nr_discard]! += K.i32[dead]!;
  K.i32[dead] = 0;
  local_irq_enable();
}

export const ops: DiscardProtocol = {
  free_hot_cold_page_discarded,
  shrink_discards: page_shrink_discards,
  attach: () => set_ipi_func(FUNC.page_shrink_discards, __page_shrink_discards),
  // MODEL DIFFERENCE (header): 2.6.18 keeps the page because its mapping is NULL
  remove_mapping_refuses_discarded: true,
  hazards: [
    'cache-remove-in-window',
    'park-in-window', // onto this CPU's page_discard_list
    'splice-in-window', // __page_shrink_discards, in the IPI
    'last-put-in-window',
    'ipi-to-window',
    'refused-parked',
    'double-fault',
    'discard-lock-contended', // splice_lock: the CPUs' splices onto one list
    'irq-last-put',
    'irq-discard-to-put',
    'tx-free-uncached',
  ],
};
