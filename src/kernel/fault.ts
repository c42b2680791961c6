/**
 * arch/s390: a user access through the page table, and the discard fault
 * handler of patch 6/6 (docs/protocol.md, the discard fault).
 *
 * The access is hardware: walk the pte (no lock), look at the frame's host
 * state, and on Vz raise the discard fault, which enters the handler with I/O
 * and external interrupts disabled. Nothing between the walk and the fault is
 * a preemption point, so no IPI lands there: an instruction is atomic.
 */
import { performance } from 'node:perf_hooks';
import { discard_to_put_begin, discard_to_put_end, near_miss } from '../check/coverage.ts';
import { EV } from '../check/events.ts';
import { oracle_access, oracle_fault_begin, oracle_fault_ref } from '../check/oracle.ts';
import { rec } from '../check/recorder.ts';
import { CNT, CTRL, PERCPU } from '../shm/layout.ts';
import { lock_sites } from '../stats/lock_sites.ts';
import { K, P } from './context.ts';
import { HS, hw_host_state } from './essa.ts';
import { handle_mm_fault, pte_idx, pte_lock } from './memory.ts';
import { get_page, get_page_unless_zero, put_page } from './page_alloc.ts';
import { page_hva_discard_page } from './page_hva.ts';
import { PageDiscarded, page_count } from './page-flags.ts';
import { local_irq_disable, local_irq_enable, point } from './smp.ts';
import { LOCK, spin_lock, spin_unlock } from './spinlock.ts';
import { park_hold, window_stretch } from './widen.ts';

/** lock_stat's call sites of this file's lock calls (the kernel's _RET_IP_). */
const at = lock_sites('do_discard_fault');

/**
 * A read access by `task` (running on this CPU, interrupts enabled) to
 * `vpage`. The hardware re-executes a faulting instruction: after a page
 * fault or a discard fault the access runs again, until it completes (the
 * pte maps a frame the host has not discarded) or the fault gives up
 * (SIGSEGV/SIGBUS/OOM: the task would get a signal; here the access is
 * abandoned). An access that faults `--livelock-faults` times in a row makes
 * no progress: the CPU raises its livelock word for the watchdog (a stall of
 * kind livelock) and goes on faulting until the run stops, as a livelocked
 * CPU would.
 */
export function user_access(task: number, vpage: number): void {
  const i32 = K.i32;
  const inAccess = K.inAccess; // the task's word: flush_tlb_page finds it wherever we run
  let faults = 0;
  for (;;) {
    Atomics.store(i32, inAccess, 1);
    const pte = Atomics.load(i32, pte_idx(task, vpage));
    if (pte === 0) {
      Atomics.store(i32, inAccess, 0);
      if (!handle_mm_fault(task, vpage)) return;
    } else {
      const pfn = pte - 1;
      // The generation is read before the host state: if the host state still
      // shows this frame's Vz, the frame was not freed since (freeing sets U), so
      // the generation read is the one of the frame the pte mapped.
      const gen = oracle_access(pfn);
      if (hw_host_state(pfn) !== HS.Vz) {
        Atomics.store(i32, inAccess, 0);
        return; // the access completes
      }
      // Program interruption 0x1a: discard fault, interrupts disabled from here on.
      local_irq_disable();
      // Recorded before the oracle opens the window: a CPU that sees the window
      // open (and copies our flight recorder into a violation) then sees the fault.
      rec(EV.fault, pfn, gen);
      oracle_fault_begin(pfn, gen); // W begins at the access, before the delivery
      Atomics.store(i32, inAccess, 0);
      if (K.faultDeliveryMs > 0) fault_delivery();
      do_discard_fault(task, vpage, pfn);
      // Return from the interruption: the old PSW has interrupts enabled.
      local_irq_enable();
    }
    if (++faults >= K.cfg.livelockFaults && livelocked(task, vpage, faults)) return;
  }
}

/**
 * The same access (or get_user_pages' retry of one address) has faulted
 * `faults` times in a row: tell the watchdog (once) and keep going until the
 * machine stops. True: stop now.
 */
export function livelocked(task: number, vpage: number, faults: number): boolean {
  const i32 = K.i32;
  if (i32[K.percpu + PERCPU.livelock] === 0) {
    Atomics.store(i32, K.percpu + PERCPU.livelock_vpage, task * 65536 + vpage);
    rec(EV.livelock, -1, faults, vpage);
  }
  Atomics.store(i32, K.percpu + PERCPU.livelock, faults);
  return Atomics.load(i32, K.L.ctrl + CTRL.stop) !== 0;
}

/**
 * The host intercepts the access and injects the program interruption: this
 * CPU is stuck inside the faulting instruction (busy, interrupts off) while
 * the other CPUs run on.
 */
function fault_delivery(): void {
  const until = performance.now() + K.faultDeliveryMs;
  while (performance.now() < until) {
    // spinning inside the instruction
  }
}

/**
 * --guided's window stretch (src/check/guided.ts): one discard fault in
 * `every` sleeps `ms` longer inside its window (interrupts off, between the
 * faulting access and the reference attempt), as a slow fault delivery
 * would, within the widening budget (widen.ts, window_stretch: the sleep
 * ends soon after an IPI arrives, so no rendezvous waits long for it). Only
 * the windows it picks get longer; the other CPUs run on. (A window whose
 * frame is parked meanwhile is then held for the splice: park_hold.)
 */
let stretchMs = 0;
let stretchEvery = 0;
let stretchN = 0;
export function set_window_stretch(ms: number, every: number): void {
  stretchMs = ms;
  stretchEvery = every;
}
/** A reused worker's next machine (src/machine/thread.ts): no stretch, the count from 0. */
export function fault_reset(): void {
  set_window_stretch(0, 0);
  stretchN = 0;
}
function stretch_window(): void {
  if (++stretchN < stretchEvery) return;
  stretchN = 0;
  window_stretch(stretchMs);
}

/**
 * get_page_if_present (6/6, arch/s390/mm/fault.c): the patch's
 * atomic_inc_if_not_zero as a compare-and-swap loop. 2.6.15 biased the
 * count (free = -1) and refused at `old < 0`; here the count is unbiased and
 * it refuses at 0: a free page, or one parked on the discard list.
 */
export function get_page_if_present(pfn: number): boolean {
  return get_page_unless_zero(pfn);
}

/**
 * do_discard_fault (6/6, arch/s390/mm/fault.c), program check 0x1a. Entered
 * with interrupts disabled. s390 reports only the absolute address: the
 * handler has a pfn and no reference, and nothing in struct page can be
 * trusted, so it tries get_page_if_present while still disabled. Count 0
 * means the page is free or parked on the discard list: back off, still
 * disabled; the access is re-executed (user_access).
 *
 *   CPU A (here)                      CPU B                    CPU C
 *   access P: Vz -> fault, irqs off
 *                                     munmap/truncate P
 *                                     last put_page(P):
 *                                       PG_discarded -> parked
 *                                     shrink_discards: IPI...  (waits for A)
 *   get_page_if_present(P) == 0
 *   irqs on -> takes the IPI
 *                                     ...free P                alloc P
 *
 * Without the discard list B frees P at once, C reallocates it, and A's
 * reference lands on C's page (docs/protocol.md, the hazard).
 *
 * On success, as posted: local_irq_enable(), page_hva_discard_page(page),
 * page_cache_release(page).
 */
export function do_discard_fault(task: number, vpage: number, pfn: number): void {
  K.f64[K.stats + CNT.discardFaults]!++;
  // Mutant irq-enable-before-ref: interrupts on before the reference
  // attempt; the IPI that shrink_discards waits for is taken inside W.
  if (K.m_irq_enable_before_ref) local_irq_enable();
  point(P['fault-to-ref']);
  if (stretchMs > 0) stretch_window();
  // The frame parked under the window: held open for the splice (widen.ts).
  if (K.parkHoldMs > 0) park_hold(pfn);
  let ok: boolean;
  if (K.absolute && K.m_plain_inc) {
    // Mutant plain-inc: look at the count, then increment it (two steps,
    // not atomic_inc_if_not_zero). If the last reference goes in between,
    // the parked page is revived 0 -> 1 (get_page reports ref-from-zero).
    ok = page_count(pfn) !== 0;
    if (ok) {
      point(P['ref-inc']);
      get_page(pfn);
    }
  } else if (K.absolute) {
    ok = get_page_if_present(pfn);
  } else {
    // A "nice" platform delivers the virtual address: the pte pins the page.
    const lock = pte_lock(task);
    spin_lock(lock, LOCK.pte, at.do_discard_fault);
    ok = K.i32[pte_idx(task, vpage)] === pfn + 1;
    if (ok) get_page(pfn);
    spin_unlock(lock, LOCK.pte);
  }
  const reused = oracle_fault_ref(pfn, ok);
  if (!ok) {
    K.f64[K.stats + CNT.refsRefused]!++;
    if (K.absolute && PageDiscarded(pfn)) near_miss(CNT.nmRefusedParked);
    rec(EV['ref-refused'], pfn);
    return;
  }
  rec(EV['ref-ok'], pfn, page_count(pfn) - 1);
  if (reused) {
    // Reported; contain the damage: do not discard someone else's page.
    put_page(pfn);
    return;
  }
  local_irq_enable();
  discard_to_put_begin(pfn); // coverage: an interrupt from here to the put is a near miss
  point(P['ref-to-discard']);
  page_hva_discard_page(pfn);
  point(P['discard-to-put']);
  put_page(pfn); // page_cache_release
  discard_to_put_end();
}
