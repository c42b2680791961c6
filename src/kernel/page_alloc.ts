/**
 * mm/page_alloc.c: one zone with an order-0 free list under zone->lock,
 * per-CPU hot/cold lists (pcp) under local_irq_save, and the series'
 * discard branch of free_hot_cold_page (patch 5/6).
 *
 * page->_count is unbiased here: 0 = free (2.6.15 kept -1 for a free page;
 * only the arithmetic differs).
 */
import { EV } from '../check/events.ts';
import {
  oracle_alloc,
  oracle_bad_page,
  oracle_enter_allocator,
  oracle_ref_from_zero,
} from '../check/oracle.ts';
import { rec } from '../check/recorder.ts';
import { VK } from '../check/violations.ts';
import {
  CNT,
  DISCARD,
  HEAD,
  headNode,
  PERCPU,
  PERCPU_HEADS,
  percpuBase,
  percpuHeadNode,
  pvecBase,
  ZONE,
} from '../shm/layout.ts';
import { K, P } from './context.ts';
import { page_hva_set_stable, page_hva_set_unused } from './essa.ts';
import {
  INIT_LIST_HEAD,
  list_add,
  list_add_tail,
  list_del,
  list_first,
  list_last,
} from './list.ts';
import {
  ClearPageDiscarded,
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
import {
  pagevec_add,
  pagevec_count,
  pagevec_page,
  pagevec_reinit,
  pagevec_release_ghost,
} from './pagevec.ts';
import {
  local_irq_restore,
  local_irq_save,
  point,
  preempt_disable,
  preempt_enable,
} from './smp.ts';
import { LOCK, spin_lock, spin_unlock } from './spinlock.ts';
import { try_to_free_pages } from './vmscan.ts';

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

/** put_page: drop a reference; the last one frees the page. */
export function put_page(pfn: number): void {
  const i32 = K.i32;
  const old = Atomics.sub(i32, K.L.page_count + pfn, 1);
  if (old > 1) return;
  if (old <= 0) {
    Atomics.add(i32, K.L.page_count + pfn, 1);
    oracle_bad_page(pfn, VK['negative-count'], old);
    return;
  }
  rec(EV['put-last'], pfn);
  __page_cache_release(pfn);
  free_hot_cold_page(pfn, false);
}

/** Take a page whose last reference is gone off the LRU (lru_lock, interrupts off). */
function __page_cache_release(pfn: number): void {
  if ((page_flags(pfn) & PG_lru) === 0) return;
  const flags = local_irq_save();
  spin_lock(K.L.zone + ZONE.lru_lock, LOCK.lru);
  if (TestClearPageFlag(pfn, PG_lru)) {
    list_del(pfn);
    K.i32[K.L.zone + ZONE.nr_lru]!--;
  }
  spin_unlock(K.L.zone + ZONE.lru_lock, LOCK.lru);
  local_irq_restore(flags);
}

// ---- allocation -------------------------------------------------------------

/** __alloc_pages(GFP_KERNEL, 0): direct reclaim when free memory is low. Returns a pfn or -1. */
export function alloc_page(cold = false): number {
  const { i32, L } = K;
  const zone = L.zone;
  for (let tries = 0; ; tries++) {
    // zone_watermark_ok reads free_pages without zone->lock (a plain load).
    if (tries > 0 || i32[zone + ZONE.free_pages]! < i32[zone + ZONE.pages_low]!) {
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
  spin_lock(zone + ZONE.lock, LOCK.zone);
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
  if (count !== 0 || bad !== 0 || page_mapping(pfn) !== 0) {
    oracle_bad_page(pfn, VK['bad-alloc'], count !== 0 ? count : bad);
  }
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

// ---- freeing ----------------------------------------------------------------

/**
 * Free a 0-order page. Patch 5/6: a page the host discarded is parked on this
 * CPU's discard pagevec at count 0, keeping PG_discarded, its mapping and host
 * state Vz; a full vector moves to page_hva_discard_list under its lock. It
 * goes back to the allocator only through shrink_discards.
 */
export function free_hot_cold_page(pfn: number, cold: boolean): void {
  const { i32, L } = K;
  if (PageDiscarded(pfn)) {
    if (K.patched && !K.m_free_immediately) {
      free_discarded_page(pfn);
      return;
    }
    // unpatched (or mutant free-immediately): no discard list, the frame
    // goes straight back, where a CPU still in its fault window on it can
    // meet its next owner (docs/protocol.md section 4).
    ClearPageDiscarded(pfn);
    set_page_mapping(pfn, 0);
  }
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

/** The patch's branch: get_cpu_var(page_hva_discard_pvecs), pagevec_add, flush when full. */
function free_discarded_page(pfn: number): void {
  const { i32, L } = K;
  // get_cpu_var: preemption off, the vector stays this CPU's. Mutant
  // pagevec-without-preempt-off takes the pointer with preemption enabled:
  // with --migrate the task may move at the points below and go on adding
  // to the old CPU's vector while that CPU's next task adds to it too.
  if (!K.m_pvec_no_preempt) preempt_disable();
  const pvec = K.pvec;
  point(P['pvec-add']);
  const left = pagevec_add(pvec, pfn);
  rec(EV.park, pfn, pagevec_count(pvec), 0, K.histT);
  K.f64[K.stats + CNT.pagesParked]!++;
  if (left === 0 && K.percpuLists) {
    // percpu-2006: the vector goes to this CPU's own discard list, which
    // its IPI handler splices (interrupts off keep the handler out).
    point(P['pvec-flush']);
    const flags = local_irq_save();
    const n = pagevec_count(pvec);
    const list = percpuHeadNode(L, K.cpu, PERCPU_HEADS.discard);
    for (let i = 0; i < n; i++) {
      const page = pagevec_page(pvec, i);
      pagevec_release_ghost(page);
      list_add_tail(page, list);
    }
    Atomics.add(i32, K.percpu + PERCPU.nr_discard, n);
    pagevec_reinit(pvec);
    local_irq_restore(flags);
    rec(EV['list-flush'], -1, n);
    K.f64[K.stats + CNT.listFlushes]!++;
  } else if (left === 0) {
    point(P['pvec-flush']);
    const lock = L.discard + DISCARD.lock;
    spin_lock(lock, LOCK.discard_list);
    const n = pagevec_count(pvec);
    const list = headNode(L, HEAD.discard);
    for (let i = 0; i < n; i++) {
      const page = pagevec_page(pvec, i);
      pagevec_release_ghost(page);
      list_add_tail(page, list);
    }
    i32[L.discard + DISCARD.nr_pages]! += n;
    spin_unlock(lock, LOCK.discard_list);
    pagevec_reinit(pvec);
    rec(EV['list-flush'], -1, n);
    K.f64[K.stats + CNT.listFlushes]!++;
  }
  if (!K.m_pvec_no_preempt) preempt_enable(); // put_cpu_var
}

/** free_pages_check/bad_page: report a page freed in a bad state, then repair it. */
function free_pages_check(pfn: number): void {
  const i32 = K.i32;
  const bad = page_flags(pfn) & PAGE_FLAGS_CHECK_AT_FREE;
  const count = page_count(pfn);
  const mapping = page_mapping(pfn);
  if (bad === 0 && count === 0 && mapping === 0) return;
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
  spin_lock(zone + ZONE.lock, LOCK.zone);
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
