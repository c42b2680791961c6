/**
 * Interrupt state, preemption points, and smp_call_function as a real
 * rendezvous between CPU worker threads (2.6's arch/i386/kernel/smp.c shape,
 * docs/protocol.md).
 *
 * Interrupt-enable flag and preempt count are words on this CPU's line; only
 * this CPU writes them, others read them for stall reports. External
 * interrupts are bits of the pending word on the CPU's second line (PENDING:
 * the IPI, raised by another CPU, which also notifies; the timer and the
 * network device, raised by the host); the CPU takes them at the next
 * preemption point where its interrupts are enabled, as hardware takes an
 * external interrupt at an instruction boundary (do_IRQ below; irq.ts has
 * the hardirq/softirq machinery).
 */
import { performance } from 'node:perf_hooks';
import { near_miss_ipi_targets } from '../check/coverage.ts';
import { EV as EV_ } from '../check/events.ts';
import { oracle_warn } from '../check/oracle.ts';
import { now, rec } from '../check/recorder.ts';
import { VK as VK_ } from '../check/violations.ts';
import { P as P_ } from '../points.ts';
import {
  CALL as CALL_,
  CNT as CNT_,
  IRQ_SOURCE as IRQ_SOURCE_,
  PENDING as PENDING_,
  PERCPU as PERCPU_,
  PERCPU_PENDING as PERCPU_PENDING_,
  PERCPU_SLEEP as PERCPU_SLEEP_,
  percpuBase,
} from '../shm/layout.ts';
import {
  latency_call,
  latency_ipi_response,
  latency_ipi_sent,
  latency_irqs_off,
} from '../stats/latency.ts';
import { lock_sites } from '../stats/lock_sites.ts';
import { in_interrupt, irq_enter, irq_exit } from './irq.ts';
import { K as THIS_CPU } from './k.ts';
import { trace_hardirqs_on } from './lockdep.ts';
import {
  irq_due,
  S,
  sched_ipi_at,
  sched_irq_return,
  sched_point,
  sched_time,
  sched_yield,
} from './sched.ts';
import { LOCK, spin_lock, spin_unlock } from './spinlock.ts';
import { widen_at } from './widen.ts';

/** lock_stat's call sites of this file's lock calls (the kernel's _RET_IP_). */
const at = lock_sites('smp_call_function');

/**
 * This CPU and the layout's (events', checks') constants as module-local
 * consts, which V8's optimizing compiler folds; imported bindings are cells
 * it loads and tests at every use (k.ts).
 */
const K = THIS_CPU;
const EV = EV_;
const VK = VK_;
const CALL = CALL_;
const CNT = CNT_;
const IRQ_SOURCE = IRQ_SOURCE_;
const PENDING = PENDING_;
const PERCPU = PERCPU_;
const PERCPU_PENDING = PERCPU_PENDING_;
const PERCPU_SLEEP = PERCPU_SLEEP_;
const P = P_;

/**
 * Functions an IPI can run: `func` in call_data is an id, the same in every
 * worker, and the protocol module that owns the function installs it with
 * set_ipi_func (a function pointer cannot cross threads).
 */
export const FUNC = {
  /** 5/6, vmscan.c: static void page_hva_sync(void *info) {}: empty */
  page_hva_sync: 0,
  /** 8/9 (September 2006), page_alloc.c: __page_shrink_discards(void *info) */
  page_shrink_discards: 1,
} as const;
export type IpiFunc = (info: number) => void;
const ipi_funcs: IpiFunc[] = [() => {}, () => {}];
export function set_ipi_func(func: (typeof FUNC)[keyof typeof FUNC], fn: IpiFunc): void {
  ipi_funcs[func] = fn;
}

// ---- interrupts -------------------------------------------------------------

export function irqs_disabled(): boolean {
  return K.i32[K.percpu + PERCPU.irqs_enabled] === 0;
}

export function local_irq_disable(): void {
  const i32 = K.i32;
  if (i32[K.percpu + PERCPU.irqs_enabled] === 0) return;
  i32[K.percpu + PERCPU.irqs_enabled] = 0;
  K.irqsOffAt = performance.now();
}

/** Enabling interrupts is a preemption point: a pending IPI is taken right here. */
export function local_irq_enable(): void {
  local_irq_enable_at(-1);
}
/**
 * local_irq_enable at `t`, a clock reading (performance.now()) its caller
 * took a moment before, with nothing between that takes time (the release of
 * a lock under --lockstat=full, spin_unlock_irqrestore): the interrupts-off
 * section ends there; -1: read the clock. Returns whether it took an
 * interrupt (then `t` is no longer "a moment before" for what follows).
 */
export function local_irq_enable_at(t: number): boolean {
  // K read once (k): less bytecode, so that V8 inlines this into more callers.
  const k = K;
  const i32 = k.i32;
  const en = k.percpu + PERCPU.irqs_enabled;
  if (i32[en] !== 0) return false;
  const offUs = ((t < 0 ? performance.now() : t) - k.irqsOffAt) * 1000;
  const f64 = k.f64;
  const m = k.stats + CNT.irqsOffMaxUs;
  if (offUs > f64[m]!) f64[m] = offUs;
  latency_irqs_off(offUs);
  i32[en] = 1;
  trace_hardirqs_on(); // lockdep: held locks are now held with interrupts on
  // A plain read, as at point(): an interrupt is seen at this or the next boundary.
  if (i32[k.pending]! === 0) return false;
  do_IRQ();
  return true;
}

/**
 * local_irq_disable's steps inline: it runs several times a page on the
 * discard path. `t`: a clock reading taken a moment before (a lock event
 * under --lockstat=full, spin_lock_irqsave's `t`): the section starts there;
 * -1: read the clock.
 */
export function local_irq_save(t = -1): boolean {
  const k = K;
  const en = k.percpu + PERCPU.irqs_enabled;
  const i32 = k.i32;
  if (i32[en] === 0) return false;
  i32[en] = 0;
  k.irqsOffAt = t < 0 ? performance.now() : t;
  return true;
}
export function local_irq_restore(was: boolean): void {
  if (was) local_irq_enable();
}

export function preempt_disable(): void {
  K.i32[K.percpu + PERCPU.preempt_count]!++;
}
export function preempt_enable(): void {
  K.i32[K.percpu + PERCPU.preempt_count]!--;
}

// ---- preemption points -----------------------------------------------------

/**
 * A named preemption point: an instruction boundary between two steps that
 * touch shared state. Takes a pending IPI if interrupts are enabled; with
 * race-window widening on (delays, jitter, long holds, migration: widen.ts)
 * it may sleep or move the task to another CPU here.
 */
export function point(p: number): void {
  const k = K;
  const i32 = k.i32;
  i32[k.percpu + PERCPU.point] = p;
  if (S.on) sched_point(p); // --sched random|pct: hand the token on here
  // The pending word is read plainly, as hardware samples its interrupt line
  // at an instruction boundary: the sender's Atomics.store is seen here or at
  // a later point, and the rendezvous waits for it (started/finished). Not
  // Atomics.load: Node 20's V8 makes every Atomics.* a builtin call (~10 ns;
  // benchmarks/README.md), and this runs at every point.
  if (i32[k.percpu + PERCPU.irqs_enabled] !== 0 && i32[k.pending]! !== 0) do_IRQ();
  if (k.widen) point_widen(p);
}
/** point's widening, out of line so that point stays small enough to inline. */
function point_widen(p: number): void {
  widen_at(p);
  // An interrupt raised while the window was held open lands inside it.
  const i32 = K.i32;
  if (i32[K.percpu + PERCPU.irqs_enabled] !== 0 && i32[K.pending]! !== 0) do_IRQ();
}

/**
 * A point at which only IPIs are taken: a CPU parked for stop_machine or
 * quiescing at the end keeps answering smp_call_function (a CPU still in
 * its operation may wait on us), but devices and the timer wait, so that no
 * interrupt handler changes the machine while the main thread audits it
 * (stop_machine runs with interrupts off in the kernel).
 */
export function ipi_point(p: number): void {
  K.i32[K.percpu + PERCPU.point] = p;
  if (K.i32[K.percpu + PERCPU.irqs_enabled] !== 0) smp_call_function_interrupt();
}

/** Nap on the pending word as it is (a pending device interrupt does not wake us). */
export function pending_nap(ms: number): void {
  Atomics.wait(K.i32, K.pending, K.i32[K.pending]!, ms);
}

/**
 * cpu_relax's thresholds (named so that the native benchmark reads the same
 * ones); `callMs`: the longest sleep of a rendezvous caller on the count it
 * waits for (call_relax).
 */
export const RELAX = {
  spins: 128,
  shortSpins: 1024,
  shortMs: 0.01,
  longMs: 0.1,
  callMs: 1,
} as const;

/**
 * cpu_relax() in a wait loop: spin first; past `spins` iterations sleep
 * briefly on our own pending word (an IPI to us wakes it), so that with more
 * CPUs than cores a waiter gives its core to the CPU it waits for.
 */
export function cpu_relax(spins: number): void {
  if (S.on) {
    sched_yield(true); // --sched random|pct: a spinning waiter gives the token away
    return;
  }
  if (spins < RELAX.spins) return;
  // Sleep on the word as it is: an interrupt already pending (which we may
  // not take now, interrupts off) must not turn the nap into a busy spin.
  const i32 = K.i32;
  Atomics.wait(
    i32,
    K.pending,
    i32[K.pending]!,
    spins < RELAX.shortSpins ? RELAX.shortMs : RELAX.longMs,
  );
}

/**
 * The rendezvous caller's cpu_relax: spin first, then sleep on the count it
 * waits for (`started` or `finished`), seen at `n`: the target that brings it
 * to nr_targets notifies it, and a count that moved before we sleep returns
 * at once, so no wake-up is lost; the timeout (RELAX.callMs) only bounds how
 * late the timer's and the device's interrupts are taken (they do not
 * notify). Before, the caller napped 10 us at a time on its pending word:
 * with more CPUs than cores each of those wake-ups took a core from a target
 * it was waiting for, call_lock held all the while.
 */
function call_relax(word: number, n: number, spins: number): void {
  if (S.on) {
    sched_yield(true); // --sched random|pct: a spinning waiter gives the token away
    return;
  }
  if (spins < RELAX.spins) return;
  Atomics.wait(K.i32, word, n, RELAX.callMs);
}

// ---- external interrupts ------------------------------------------------------

/**
 * The external-interrupt entry at a preemption point with interrupts
 * enabled: take what is pending, one source after the other, each as a
 * hardirq (interrupts off, irq_enter .. irq_exit, which runs softirqs).
 */
export function do_IRQ(): void {
  // --sched random|pct: nothing to take but an IPI --ipi-delivery has not shown yet
  if (S.on && !irq_due(K.cpu)) return;
  const bits = K.i32[K.pending]!;
  if (bits & PENDING.ipi) smp_call_function_interrupt();
  if (bits & PENDING.timer) hardirq(PENDING.timer, IRQ_SOURCE.timer);
  if (bits & PENDING.net) hardirq(PENDING.net, IRQ_SOURCE.net);
  // --sched random|pct: the return from the interruption is an instruction boundary too,
  // where the other CPUs may run; what they raised for us meanwhile is taken before the
  // interrupted code goes on, as hardware takes a pending interrupt at the return
  if (S.on) {
    sched_irq_return();
    if (irq_due(K.cpu)) do_IRQ();
  }
}

/** The clock --ipi-delivery runs on: the recorder's, or the controlled schedule's (sched_time). */
const ipi_now = (): number => (S.on ? sched_time() : now());

/** Device interrupt handlers, installed by their drivers (net.ts, the timer). */
const irq_handlers: ((() => void) | undefined)[] = [];
export function request_irq(source: number, handler: () => void): void {
  irq_handlers[source] = handler;
}

function hardirq(bit: number, source: number): void {
  const i32 = K.i32;
  Atomics.and(i32, K.pending, ~bit); // acknowledged
  i32[K.percpu + PERCPU.irqs_enabled] = 0; // the interruption disables them
  irq_enter();
  rec(EV.hardirq, -1, source);
  irq_handlers[source]?.();
  irq_exit();
  i32[K.percpu + PERCPU.irqs_enabled] = 1; // return from the interruption
}

// ---- smp_call_function -----------------------------------------------------

/** The IPI handler: runs with interrupts disabled. */
export function smp_call_function_interrupt(): void {
  const i32 = K.i32;
  const L = K.L;
  // No external call for us (another source woke us), or --ipi-delivery:
  // the host has not presented it to us yet.
  if ((Atomics.load(i32, K.pending) & PENDING.ipi) === 0) return;
  if (K.ipiDeliveryMs > 0 && ipi_now() < K.f64[L.ipi_at + K.cpu * L.ipi_at_stride]!) return;
  Atomics.and(i32, K.pending, ~PENDING.ipi);
  i32[K.percpu + PERCPU.irqs_enabled] = 0;
  irq_enter();
  const call = L.call;
  const seq = Atomics.load(i32, call + CALL.seq);
  const caller = Atomics.load(i32, call + CALL.caller);
  const func = Atomics.load(i32, call + CALL.func);
  const nr_targets = L.nr_cpus - 1;
  rec(EV['ipi-take'], -1, caller, seq);
  latency_ipi_response();
  // The caller may go on as soon as `started` reaches nr_targets; it sleeps
  // on the count itself (call_relax), so the last target wakes it there.
  if (Atomics.add(i32, call + CALL.started, 1) + 1 === nr_targets) {
    Atomics.notify(i32, call + CALL.started);
  }
  // page_hva_sync is empty: being here, interrupts enabled a moment ago, is
  // the whole point.
  try {
    ipi_funcs[func]?.(Atomics.load(i32, call + CALL.info));
    point(P['ipi-handler']);
  } finally {
    // Even when the handler met a corrupted list (a ListCorruption unwinds
    // this CPU), the caller must not wait for us forever.
    if (Atomics.add(i32, call + CALL.finished, 1) + 1 === nr_targets) {
      Atomics.notify(i32, call + CALL.finished);
    }
  }
  K.f64[K.stats + CNT.ipisTaken]!++;
  irq_exit();
  i32[K.percpu + PERCPU.irqs_enabled] = 1;
}

/**
 * smp_call_function(func, info, nonatomic, wait): run `func` on every other
 * CPU. Call with interrupts enabled, from process context: two callers with
 * interrupts off would wait on each other forever, which is why 2.6.15 says
 * `WARN_ON(irqs_disabled())` here; the warning is a violation
 * (smp-call-irqs-off) and the call goes on, as the kernel's does. Returns
 * when every other CPU has started the call, and with `wait` also finished
 * it. (`nonatomic` is unused in 2.6, as here.)
 */
export function smp_call_function(func: number, wait: boolean, info = 0): void {
  const i32 = K.i32;
  const L = K.L;
  const nr_targets = L.nr_cpus - 1;
  const t0 = performance.now();
  // WARN_ON(irqs_disabled()); and from interrupt context it could wait on a
  // CPU that waits for us (detail: 1 interrupts off, 2 in interrupt, 3 both).
  const warn = (irqs_disabled() ? 1 : 0) | (in_interrupt() ? 2 : 0);
  if (warn !== 0) oracle_warn(VK['smp-call-irqs-off'], warn);
  spin_lock(L.call_lock, LOCK.call_lock, at.smp_call_function);
  const call = L.call;
  Atomics.store(i32, call + CALL.func, func);
  Atomics.store(i32, call + CALL.wait, wait ? 1 : 0);
  Atomics.store(i32, call + CALL.started, 0);
  Atomics.store(i32, call + CALL.finished, 0);
  Atomics.store(i32, call + CALL.caller, K.cpu);
  Atomics.store(i32, call + CALL.info, info);
  const seq = Atomics.add(i32, call + CALL.seq, 1) + 1;
  rec(EV['ipi-send'], -1, seq);
  latency_ipi_sent();
  near_miss_ipi_targets(); // coverage: targets inside a window, which the rendezvous waits out
  for (let c = 0; c < L.nr_cpus; c++) {
    if (c === K.cpu) continue;
    const pending = percpuBase(L, c) + PERCPU_PENDING;
    if (K.ipiDeliveryMs > 0) {
      // --sched random|pct: on the schedule's clock, drawn from its seed (sched.ts)
      K.f64[L.ipi_at + c * L.ipi_at_stride] = S.on
        ? sched_ipi_at(c, seq)
        : now() + Math.random() * K.ipiDeliveryMs;
    }
    Atomics.or(i32, pending, PENDING.ipi);
    Atomics.notify(i32, pending); // a CPU napping in cpu_relax, or idle
    // A CPU asleep on a pv spinlock with interrupts enabled (spinlock.ts, pv_wait).
    const sleep = Atomics.load(i32, percpuBase(L, c) + PERCPU_SLEEP);
    if (sleep !== 0) Atomics.notify(i32, sleep);
  }
  // While we wait we keep interrupts as they are (enabled) and take the
  // timer's and the device's interrupts (no IPI can come: we hold call_lock).
  // (Mutant no-wait-ipi: fire and forget, not even `started` is awaited.)
  let spins = 0;
  let n: number;
  while (!K.m_no_wait_ipi && (n = Atomics.load(i32, call + CALL.started)) !== nr_targets) {
    point(P['ipi-wait']);
    call_relax(call + CALL.started, n, spins++);
  }
  rec(EV.rendezvous, -1, Atomics.load(i32, call + CALL.started), seq); // targets that answered
  if (wait && !K.m_no_wait_ipi) {
    while ((n = Atomics.load(i32, call + CALL.finished)) !== nr_targets) {
      point(P['ipi-wait']);
      call_relax(call + CALL.finished, n, spins++);
    }
  }
  spin_unlock(L.call_lock, LOCK.call_lock);
  K.f64[K.stats + CNT.rendezvous]!++;
  const us = (performance.now() - t0) * 1000;
  K.f64[K.stats + CNT.rendezvousWaitUs]! += us;
  latency_call(us);
}
