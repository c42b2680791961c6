/**
 * A small guest booted in the test thread, and readers of its state.
 *
 * Unit tests play every CPU from one thread: boot, then `set_this_cpu(n)`
 * before each step of an interleaving. Nothing here starts a thread.
 *
 * With one thread there is no rendezvous: smp_call_function returns at once
 * only with cpus = 1 (no targets); with more CPUs it would wait forever for
 * targets nobody plays. Tests that reach direct reclaim with work on the
 * discard list therefore boot with cpus = 1.
 */

import { decodeViolations, type Violation } from '../../src/check/decode.ts';
import { type Config, type ConfigInput, makeConfig } from '../../src/config.ts';
import { kernel_boot } from '../../src/kernel/boot.ts';
import { K, set_this_cpu } from '../../src/kernel/context.ts';
import { HS, hw_host_state, page_hva_set_stable } from '../../src/kernel/essa.ts';
import { read_cache_page } from '../../src/kernel/filemap.ts';
import { put_page } from '../../src/kernel/page_alloc.ts';
import { page_hva_make_volatile } from '../../src/kernel/page_hva.ts';
import { arch_spin_is_locked } from '../../src/kernel/spinlock.ts';
import {
  allocate,
  CNT,
  type CounterName,
  computeLayout,
  DISCARD,
  HEAD,
  headNode,
  PERCPU,
  PERCPU_HEADS,
  percpuBase,
  percpuHeadNode,
  statsBase,
  type Views,
  ZONE,
} from '../../src/shm/layout.ts';

export type Machine = Views & { cfg: Config };

/** Defaults for unit tests: tiny, seeded, no fault-delivery spin. */
export function boot(input: Partial<ConfigInput> = {}): Machine {
  const cfg = makeConfig({ cpus: 2, pages: 256, files: 4, seed: 1, faultDeliveryUs: 0, ...input });
  const v = allocate(computeLayout(cfg));
  kernel_boot(v, cfg);
  set_this_cpu(0);
  return { ...v, cfg };
}

/** The pfns on a list, head to tail (bounded: a cycle throws). */
export function listPfns(head: number): number[] {
  const { i32, L } = K;
  const out: number[] = [];
  for (let n = i32[L.lru_next + head]!; n !== head; n = i32[L.lru_next + n]!) {
    if (n < 0 || out.length > L.nr_nodes) throw new Error(`broken list at node ${n}`);
    out.push(n);
  }
  return out;
}

export const freeList = () => listPfns(headNode(K.L, HEAD.free));
export const lruList = () => listPfns(headNode(K.L, HEAD.lru));
export const discardList = () => listPfns(headNode(K.L, HEAD.discard));
export const hotList = (cpu: number) => listPfns(percpuHeadNode(K.L, cpu, PERCPU_HEADS.hot));
export const coldList = (cpu: number) => listPfns(percpuHeadNode(K.L, cpu, PERCPU_HEADS.cold));

export function zoneWord(w: keyof typeof ZONE): number {
  return K.i32[K.L.zone + ZONE[w]]!;
}
export const zoneFree = () => zoneWord('free_pages');

export function percpuWord(cpu: number, w: keyof typeof PERCPU): number {
  return K.i32[percpuBase(K.L, cpu) + PERCPU[w]]!;
}
/** percpu_pagelist_fraction, by hand: set a CPU's hot list high and batch. */
export function setPcpHot(cpu: number, high: number, batch: number): void {
  const pc = percpuBase(K.L, cpu);
  K.i32[pc + PERCPU.pcp_hot_high] = high;
  K.i32[pc + PERCPU.pcp_hot_batch] = batch;
}

export const discardListCount = () => K.i32[K.L.discard + DISCARD.nr_pages]!;
/** page_hva_discard_list_lock is held (any spinlock kind). */
export const discardLockHeld = () => arch_spin_is_locked(K.i32, K.L.discard + DISCARD.lock);

export function counter(cpu: number, name: CounterName): number {
  return K.f64[statsBase(K.L, cpu) + CNT[name]]!;
}

export const generation = (pfn: number) => Atomics.load(K.i32, K.L.ghost_gen + pfn);
/** The oracle sees the page on a list or in a pagevec (ghost_list non-zero). */
export const onGhostList = (pfn: number) => K.i32[K.L.ghost_list + pfn] !== 0;

export function violations(m: Views): Violation[] {
  return decodeViolations(m).violations;
}
export const violationKinds = (m: Views) => violations(m).map((v) => v.kind);

/**
 * A clean, up-to-date page-cache page at (file, index) whose only reference
 * is the page cache's (count 1), on the LRU, host state Sr. Runs as K.cpu.
 */
export function cachePage(file: number, index: number): number {
  const pfn = read_cache_page(file, index);
  if (pfn < 0) throw new Error(`no page for ${file}:${index}`);
  put_page(pfn); // 1/6's put_page_testzero makes it volatile here (cache only) ...
  page_hva_set_stable(pfn); // ... and the tests start from a stable page
  return pfn;
}

/** The host discards a volatile resident frame (Vr -> Vz), as src/host does. */
export function hostDiscard(pfn: number): void {
  const idx = K.L.host_state + pfn;
  if (Atomics.compareExchange(K.i32, idx, HS.Vr, HS.Vz) !== HS.Vr) {
    throw new Error(`pfn ${pfn} is not Vr (host state ${hw_host_state(pfn)})`);
  }
}

/** Make a cache page (count = mapcount + `offset` known references) volatile, then discarded by the host. */
export function makeDiscarded(pfn: number, offset: number): void {
  page_hva_make_volatile(pfn, offset);
  hostDiscard(pfn);
}
