/**
 * mm/page_alloc.c: one zone with an order-0 free list under zone->lock,
 * per-CPU hot/cold lists (pcp) under local_irq_save. The discard branch of
 * free_hot_cold_page is the --protocol module's (src/kernel/protocol/),
 * bound into K.free_hot_cold_page_discarded at kernel_attach.
 *
 * page->_count is unbiased here: 0 = free (2.6.15 kept -1 for a free page;
 * only the arithmetic differs).
 */
import { near_miss_if_window } from '../check/coverage.ts';
import { EV as EV_ } from '../check/events.ts';
import {
  oracle_alloc,
  oracle_bad_page,
  oracle_enter_allocator,
  oracle_ref_from_zero,
} from '../check/oracle.ts';
import { rec } from '../check/recorder.ts';
import { VK as VK_ } from '../check/violations.ts';
import { P as P_ } from '../points.ts';
import {
  CNT as CNT_,
  HEAD as HEAD_,
  headNode,
  PERCPU as PERCPU_,
  PERCPU_HEADS as PERCPU_HEADS_,
  percpuBase,
  percpuHeadNode,
  pvecBase,
  ZONE as ZONE_,
} from '../shm/layout.ts';
import { lock_sites } from '../stats/lock_sites.ts';
import { page_hva_set_stable, page_hva_set_unused } from './essa.ts';
import { in_interrupt } from './irq.ts';
import { K as THIS_CPU } from './k.ts';
import {
  INIT_LIST_HEAD,
  list_add,
  list_add_tail,
  list_del,
  list_first,
  list_last,
} from './list.ts';
import { lockdep_percpu, PCPU } from './lockdep.ts';
import { page_hva_make_volatile } from './page_hva.ts';
import {
  ClearPageFlag,
  PAGE_FLAGS_CHECK_AT_FREE,
  PageAnon,
  PageDiscarded,
  PG_lru,
  page_count,
  page_flags,
  page_mapping,
  set_page_mapping,
  TestClearPageFlag,
} from './page-flags.ts';
import { pagevec_count, pagevec_page } from './pagevec.ts';
import { local_irq_restore, local_irq_save, point } from './smp.ts';
import {
  LOCK,
  spin_lock,
  spin_lock_irqsave,
  spin_unlock,
  spin_unlock_irqrestore,
} from './spinlock.ts';
import { try_to_free_pages } from './vmscan.ts';

/** lock_stat's call sites of this file's lock calls (the kernel's _RET_IP_). */
const at = lock_sites(
  '__page_cache_release',
  '__page_cache_release_2',
  'rmqueue_bulk',
  'free_pages_bulk',
);
/**
 * This CPU and the layout's (events', checks') constants as module-local
 * consts, which V8's optimizing compiler folds; imported bindings are cells
 * it loads and tests at every use (k.ts).
 */
const K = THIS_CPU;
const EV = EV_;
const VK = VK_;
const CNT = CNT_;
const HEAD = HEAD_;
const PERCPU = PERCPU_;
const PERCPU_HEADS = PERCPU_HEADS_;
const ZONE = ZONE_;
const P = P_;

// ---- boot -------------------------------------------------------------------

/** zone_batchsize() of 2.6.15: about present_pages/1024, as 2^n - 1. */
export function zone_batchsize(nr_pages: number): number {
  let batch = Math.floor(nr_pages / 1024);
  if (batch > 128) batch = 128; // (512 KiB / PAGE_SIZE)
  batch = Math.floor(batch / 4);
  if (batch < 1) batch = 1;
  const b = batch + (batch >> 1);
  return (1 << (32 - Math.clz32(b))) - 1;
}

/**
 * Boot: every frame free and unused on the host; list heads, per-CPU lists,
 * watermarks (min_free_kbytes = sqrt(lowmem_kbytes * 16)). Runs once, on the
 * main thread, before any CPU starts.
 */
export function mem_init(): void {
  const { i32, L } = K;
  for (let h = 0; h < L.nr_heads; h++) INIT_LIST_HEAD(L.head_base + h);
  const zone = L.zone;
  for (let pfn = 0; pfn < L.nr_pages; pfn++) {
    page_hva_set_unused(pfn);
    list_add_tail(pfn, headNode(L, HEAD.free));
  }
  i32[zone + ZONE.free_pages] = L.nr_pages;
  const kbytes = L.nr_pages * 4;
  const min = Math.max(32, Math.min(Math.floor(Math.sqrt(kbytes * 16) / 4), L.nr_pages >> 3));
  i32[zone + ZONE.pages_min] = min;
  i32[zone + ZONE.pages_low] = min + (min >> 2);
  i32[zone + ZONE.pages_high] = min + (min >> 1);
  const batch = zone_batchsize(L.nr_pages);
  for (let cpu = 0; cpu < L.nr_cpus; cpu++) {
    const pc = percpuBase(L, cpu);
    i32[pc + PERCPU.irqs_enabled] = 1;
    i32[pc + PERCPU.pcp_hot_high] = 6 * batch;
    i32[pc + PERCPU.pcp_hot_batch] = batch;
    i32[pc + PERCPU.pcp_cold_high] = 2 * batch;
    i32[pc + PERCPU.pcp_cold_batch] = Math.max(1, batch >> 1);
  }
}

// ---- references -------------------------------------------------------------

/** atomic_inc_if_not_zero(&page->_count): fails on a free or parked page. */
export function get_page_unless_zero(pfn: number): boolean {
  const i32 = K.i32;
  const idx = K.L.page_count + pfn;
  for (;;) {
    const c = Atomics.load(i32, idx);
    if (c === 0) return false;
    if (Atomics.compareExchange(i32, idx, c, c + 1) === c) return true;
  }
}

/** get_page: the caller already holds a reference (or a lock that pins one). */
export function get_page(pfn: number): void {
  if (Atomics.add(K.i32, K.L.page_count + pfn, 1) === 0) oracle_ref_from_zero(pfn);
}

/**
 * put_page (mm/swap.c, 2.6.15): drop a reference; on the last one
 * __page_cache_release takes the page off the LRU and frees it, unless the
 * count is no longer 0 by then (see there).
 */
export function put_page(pfn: number): void {
  const i32 = K.i32;
  const old = Atomics.sub(i32, K.L.page_count + pfn, 1);
  if (old > 1) {
    // 1/6's put_page_testzero: a reference went, the page has users left:
    // try page_hva_make_volatile(page, 1). This runs in every context a put
    // runs in, softirq included (net.ts): that is why make_volatile never
    // waits for PG_state_change but gives up.
    page_hva_make_volatile(pfn, 1);
    return;
  }
  if (old <= 0) {
    put_page_negative(pfn, old);
    return;
  }
  rec(EV['put-last'], pfn);
  near_miss_if_window(pfn, CNT.nmLastPutInWindow); // coverage: the window finds count 0
  if (in_interrupt()) K.f64[K.stats + CNT.irqFrees]!++;
  if (__page_cache_release(pfn)) free_hot_cold_page(pfn, false);
}

/** put_page found the count at `old` <= 0: undo the decrement, report (out of line). */
function put_page_negative(pfn: number, old: number): void {
  Atomics.add(K.i32, K.L.page_count + pfn, 1);
  oracle_bad_page(pfn, VK['negative-count'], old);
}

/**
 * __page_cache_release (mm/swap.c, 2.6.15): the last reference is gone. Under
 * lru_lock (interrupts off): off the LRU if it is on it; then free it only if
 * its count is still 0. Returns whether to free.
 *
 * The lock is taken even for a page that does not look like it is on the
 * LRU, as 2.6.15 does: its isolate_lru_pages clears PG_lru before it looks at
 * the count, and puts a page it finds at count 0 back (vmscan.ts). A test of
 * PG_lru without the lock (2.6.18's `if (PageLRU(page))`, safe with 2.6.18's
 * isolate, which clears PG_lru only after get_page_unless_zero) could land
 * in that moment here:
 *
 *   cpu A put_page(P)                 cpu B isolate_lru_pages (lru_lock)
 *   count 1 -> 0                      TestClearPageLRU(P)
 *   PG_lru clear: free P              get_page_testone: 0 -> 1, "being freed"
 *                                     __put_page 1 -> 0; SetPageLRU; back on the LRU
 *   -> a free page on the LRU
 *
 * The count check is 2.6.15's `if (page_count(page) != 0) page = NULL`:
 * isolate's get_page_testone raises a count of 0 to 1 for a moment, and the
 * series' discard fault handler may take a reference in that moment
 * (get_page_if_present only refuses a free count). That CPU then owns the
 * page and frees it with its own put_page; this free must not happen too.
 */
function __page_cache_release(pfn: number): boolean {
  const { i32, L } = K;
  // spin_lock_irqsave(&zone->lru_lock): the last put_page of a page can run
  // in softirq (net.ts: the device's reference). Mutant lru-lock-without-irq
  // takes it with interrupts on: a softirq on this CPU that frees an LRU page
  // while we hold it spins on it forever.
  const lru = L.zone + ZONE.lru_lock;
  let flags = false;
  if (K.m_lru_lock_without_irq) spin_lock(lru, LOCK.lru, at.__page_cache_release);
  else flags = spin_lock_irqsave(lru, LOCK.lru, at.__page_cache_release_2);
  if (TestClearPageFlag(pfn, PG_lru)) {
    list_del(pfn);
    i32[L.zone + ZONE.nr_lru]!--;
  }
  const free = page_count(pfn) === 0;
  spin_unlock_irqrestore(lru, LOCK.lru, flags);
  return free;
}

// ---- allocation -------------------------------------------------------------

/** __alloc_pages(GFP_KERNEL, 0): direct reclaim when free memory is low. Returns a pfn or -1. */
export function alloc_page(cold = false, atomic = false): number {
  // The first try without reclaim, inline; the rest of the loop out of line
  // (alloc_page_slow goes on where this left off), so that this is small
  // enough for V8 to inline into its callers.
  const zone = K.L.zone;
  const i32 = K.i32;
  if (atomic || i32[zone + ZONE.free_pages]! >= i32[zone + ZONE.pages_low]!) {
    const pfn = buffered_rmqueue(cold);
    if (pfn >= 0) {
      K.f64[K.stats + CNT.allocs]!++;
      return pfn;
    }
    return alloc_page_slow(cold, atomic, 1);
  }
  return alloc_page_slow(cold, atomic, 0);
}
function alloc_page_slow(cold: boolean, atomic: boolean, from: number): number {
  const { i32, L } = K;
  const zone = L.zone;
  for (let tries = from; ; tries++) {
    // zone_watermark_ok reads free_pages without zone->lock (a plain load).
    // GFP_ATOMIC (interrupt context) never enters direct reclaim: it may not
    // sleep, and try_to_free_pages' smp_call_function may not run there.
    if (!atomic && (tries > 0 || i32[zone + ZONE.free_pages]! < i32[zone + ZONE.pages_low]!)) {
      try_to_free_pages();
    }
    const pfn = buffered_rmqueue(cold);
    if (pfn >= 0) {
      K.f64[K.stats + CNT.allocs]!++;
      return pfn;
    }
    if (tries >= 2) {
      K.f64[K.stats + CNT.allocFailures]!++;
      return -1;
    }
  }
}

function buffered_rmqueue(cold: boolean): number {
  const i32 = K.i32;
  const pc = K.percpu;
  const countIdx = pc + (cold ? PERCPU.pcp_cold_count : PERCPU.pcp_hot_count);
  const list = percpuHeadNode(K.L, K.cpu, cold ? PERCPU_HEADS.cold : PERCPU_HEADS.hot);
  let pfn = -1;
  const flags = local_irq_save();
  lockdep_percpu(PCPU.per_cpu_pageset);
  if (i32[countIdx] === 0) {
    const batch = i32[pc + (cold ? PERCPU.pcp_cold_batch : PERCPU.pcp_hot_batch)]!;
    i32[countIdx]! += rmqueue_bulk(batch, list);
  }
  if (i32[countIdx]! > 0) {
    pfn = list_first(list);
    list_del(pfn);
    i32[countIdx]!--;
  }
  local_irq_restore(flags);
  if (pfn < 0) return -1;
  point(P.alloc);
  prep_new_page(pfn);
  return pfn;
}

/** Move up to `count` pages from the zone to a per-CPU list (interrupts off). */
function rmqueue_bulk(count: number, list: number): number {
  const { i32, L } = K;
  const zone = L.zone;
  const free = headNode(L, HEAD.free);
  spin_lock(zone + ZONE.lock, LOCK.zone, at.rmqueue_bulk);
  let n = 0;
  for (; n < count && i32[zone + ZONE.free_pages]! > 0; n++) {
    const pfn = list_first(free);
    list_del(pfn);
    list_add_tail(pfn, list);
    i32[zone + ZONE.free_pages]!--;
  }
  spin_unlock(zone + ZONE.lock, LOCK.zone);
  return n;
}

/** The frame leaves the allocator: check it, bump its generation, make it stable, count 1. */
function prep_new_page(pfn: number): void {
  const { i32, L } = K;
  const count = page_count(pfn);
  const bad = page_flags(pfn) & PAGE_FLAGS_CHECK_AT_FREE;
  if ((count | bad | page_mapping(pfn)) !== 0) bad_alloc(pfn, count, bad);
  Atomics.store(i32, L.page_flags + pfn, 0);
  set_page_mapping(pfn, 0);
  Atomics.store(i32, L.page_mapcount + pfn, 0);
  // Order matters for the oracle: the generation moves before the host state
  // and the count do, so a fault that saw the old frame (Vz) recorded the old
  // generation, and a reference that lands on the new frame sees the new one.
  const gen = oracle_alloc(pfn);
  page_hva_set_stable(pfn);
  Atomics.store(i32, L.page_count + pfn, 1);
  rec(EV.alloc, pfn, gen, 0, K.histT);
}

/** prep_new_page's bad_page, out of line (the caller stays small enough to inline its steps). */
function bad_alloc(pfn: number, count: number, bad: number): void {
  oracle_bad_page(pfn, VK['bad-alloc'], count !== 0 ? count : bad);
}

// ---- freeing ----------------------------------------------------------------

/**
 * Free a 0-order page. A page with PG_discarded set first goes to the
 * protocol version's branch (K.free_hot_cold_page_discarded: the series puts
 * it on a discard list at count 0 instead of the allocator; unpatched has no
 * such branch); otherwise, and if the branch lets it go on: the per-CPU
 * hot/cold list under local_irq_save, bulk-freed to the zone under
 * zone->lock when `count >= high`.
 */
export function free_hot_cold_page(pfn: number, cold: boolean): void {
  if (PageDiscarded(pfn) && K.free_hot_cold_page_discarded(pfn)) return;
  free_hot_cold_page_pcp(pfn, cold);
}
/**
 * The rest of free_hot_cold_page: to the per-CPU list. A function of its own
 * so that the test above, which every parked page passes through, is small
 * enough for V8 to inline into put_page (the whole was over V8's 460 bytes
 * of bytecode for any inlining).
 */
function free_hot_cold_page_pcp(pfn: number, cold: boolean): void {
  const { i32, L } = K;
  point(P['free-pcp']);
  page_hva_set_unused(pfn); // arch_free_page
  if (PageAnon(pfn)) set_page_mapping(pfn, 0);
  free_pages_check(pfn);
  oracle_enter_allocator(pfn);
  rec(EV.free, pfn, 0, 0, K.histT);
  const pc = K.percpu;
  const countIdx = pc + (cold ? PERCPU.pcp_cold_count : PERCPU.pcp_hot_count);
  const list = percpuHeadNode(L, K.cpu, cold ? PERCPU_HEADS.cold : PERCPU_HEADS.hot);
  const flags = local_irq_save();
  lockdep_percpu(PCPU.per_cpu_pageset);
  list_add(pfn, list);
  i32[countIdx]!++;
  if (i32[countIdx]! >= i32[pc + (cold ? PERCPU.pcp_cold_high : PERCPU.pcp_hot_high)]!) {
    const batch = i32[pc + (cold ? PERCPU.pcp_cold_batch : PERCPU.pcp_hot_batch)]!;
    free_pages_bulk(batch, list);
    i32[countIdx]! -= batch;
  }
  local_irq_restore(flags);
  K.f64[K.stats + CNT.frees]!++;
}

export function free_cold_page(pfn: number): void {
  free_hot_cold_page(pfn, true);
}

/** free_pages_check/bad_page: report a page freed in a bad state, then repair it. */
function free_pages_check(pfn: number): void {
  const bad = page_flags(pfn) & PAGE_FLAGS_CHECK_AT_FREE;
  const count = page_count(pfn);
  const mapping = page_mapping(pfn);
  if ((bad | count | mapping) !== 0) bad_free(pfn, bad, count, mapping);
}
/** free_pages_check's report and repair, out of line (the common case stays small enough to inline). */
function bad_free(pfn: number, bad: number, count: number, mapping: number): void {
  const i32 = K.i32;
  oracle_bad_page(pfn, VK['bad-page'], bad !== 0 ? bad : mapping !== 0 ? mapping : count);
  ClearPageFlag(pfn, PAGE_FLAGS_CHECK_AT_FREE);
  set_page_mapping(pfn, 0);
  Atomics.store(i32, K.L.page_count + pfn, 0);
}

/** Return `count` pages from the tail of a per-CPU list to the zone (interrupts off). */
function free_pages_bulk(count: number, list: number): void {
  const { i32, L } = K;
  const zone = L.zone;
  const free = headNode(L, HEAD.free);
  spin_lock(zone + ZONE.lock, LOCK.zone, at.free_pages_bulk);
  for (let i = 0; i < count; i++) {
    const pfn = list_last(list);
    list_del(pfn);
    list_add(pfn, free);
  }
  i32[zone + ZONE.free_pages]! += count;
  spin_unlock(zone + ZONE.lock, LOCK.zone);
}

/** Pages in a CPU's discard pagevec (audit, tests). */
export function discard_pvec_pages(cpu: number): number[] {
  const pvec = pvecBase(K.L, cpu);
  const out: number[] = [];
  for (let i = 0; i < pagevec_count(pvec); i++) out.push(pagevec_page(pvec, i));
  return out;
}
