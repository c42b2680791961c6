/**
 * Interrupt context (2.6.15's include/linux/hardirq.h, kernel/softirq.c and
 * the external-interrupt entry of arch/s390): preempt_count's fields, the
 * hardirq entry and exit, softirqs, and the bottom-half disable.
 *
 * preempt_count, as 2.6.15 lays it out (one word on the CPU's line 0):
 *
 *   bits  0-7   PREEMPT   preempt_disable depth
 *   bits  8-15  SOFTIRQ   softirq running / bottom halves disabled
 *   bits 16-27  HARDIRQ   hardirq nesting
 *
 * External interrupts (the timer, the network device, and the IPI of
 * smp_call_function) are bits of the CPU's pending word, raised by the host
 * (src/host/) or by another CPU. A CPU takes them at a preemption point
 * where its interrupts are enabled (smp.ts point(), local_irq_enable), as
 * hardware does at an instruction boundary. A hardirq handler runs with
 * interrupts disabled, so hardirqs never nest; softirqs run on the way out of
 * the outermost interrupt (irq_exit) or at local_bh_enable, with interrupts
 * enabled, so a hardirq can interrupt a softirq, and a softirq never runs
 * inside another (in_interrupt()).
 */
import { near_miss_irq_enter } from '../check/coverage.ts';
import { EV as EV_ } from '../check/events.ts';
import { rec } from '../check/recorder.ts';
import { CNT as CNT_, PERCPU as PERCPU_, PERCPU_IRQ as PERCPU_IRQ_ } from '../shm/layout.ts';
import { K as THIS_CPU } from './k.ts';
import {
  trace_hardirqs_on,
  trace_softirq_enter,
  trace_softirq_exit,
  trace_softirqs_on,
} from './lockdep.ts';

/**
 * This CPU and the layout's (events', checks') constants as module-local
 * consts, which V8's optimizing compiler folds; imported bindings are cells
 * it loads and tests at every use (k.ts).
 */
const K = THIS_CPU;
const EV = EV_;
const CNT = CNT_;
const PERCPU = PERCPU_;
const PERCPU_IRQ = PERCPU_IRQ_;

export const PREEMPT_MASK = 0x000000ff;
export const SOFTIRQ_OFFSET = 0x00000100;
export const SOFTIRQ_MASK = 0x0000ff00;
export const HARDIRQ_OFFSET = 0x00010000;
export const HARDIRQ_MASK = 0x0fff0000;

/** The softirqs of 2.6.15 that the model raises (bit = 1 << nr). */
export const SOFTIRQ = { TIMER: 1, NET_TX: 2, NET_RX: 3 } as const;
export const SOFTIRQ_NAMES = ['HI', 'TIMER', 'NET_TX', 'NET_RX'] as const;
/** kernel/softirq.c: restarts of __do_softirq before the rest goes to ksoftirqd. */
const MAX_SOFTIRQ_RESTART = 10;

export const preempt_count = () => K.i32[K.percpu + PERCPU.preempt_count]!;
export const hardirq_count = () => preempt_count() & HARDIRQ_MASK;
export const softirq_count = () => preempt_count() & SOFTIRQ_MASK;
export const in_irq = () => hardirq_count() !== 0;
export const in_softirq = () => softirq_count() !== 0;
export const in_interrupt = () => (preempt_count() & (HARDIRQ_MASK | SOFTIRQ_MASK)) !== 0;

function add_preempt_count(n: number): void {
  K.i32[K.percpu + PERCPU.preempt_count]! += n;
}

/**
 * Softirq handlers, installed by their subsystems (net.ts, the timer): a
 * function cannot cross threads, an id can.
 */
const softirq_vec: ((() => void) | undefined)[] = [];
export function open_softirq(nr: number, action: () => void): void {
  softirq_vec[nr] = action;
}

const softirq_pending = () => K.percpu + PERCPU_IRQ.softirq_pending;
export const local_softirq_pending = () => K.i32[softirq_pending()]!;

/** raise_softirq_irqoff: call with interrupts disabled (from a hardirq handler). */
export function raise_softirq_irqoff(nr: number): void {
  K.i32[softirq_pending()]! |= 1 << nr;
}

/** irq_enter: a hardirq handler starts (interrupts are disabled). */
export function irq_enter(): void {
  add_preempt_count(HARDIRQ_OFFSET);
  K.f64[K.stats + CNT.hardirqs]!++;
  near_miss_irq_enter();
}

/**
 * irq_exit: the hardirq handler is done; the outermost interrupt runs the
 * pending softirqs (invoke_softirq: do_softirq, interrupts still disabled on
 * entry; __do_softirq enables them around the handlers).
 */
export function irq_exit(): void {
  add_preempt_count(-HARDIRQ_OFFSET);
  if (!in_interrupt() && local_softirq_pending() !== 0) __do_softirq();
}

/**
 * __do_softirq: interrupts disabled on entry and on return. Bottom halves
 * off (SOFTIRQ_OFFSET) for the whole loop; each round takes the pending
 * mask, enables interrupts, runs each handler, disables them again; after
 * MAX_SOFTIRQ_RESTART rounds the rest is left to ksoftirqd (here: the next
 * irq_exit, local_bh_enable or the CPU loop's batch boundary).
 */
function __do_softirq(): void {
  const i32 = K.i32;
  const pc = K.percpu;
  add_preempt_count(SOFTIRQ_OFFSET); // __local_bh_disable
  let pending = i32[softirq_pending()]!;
  for (let restart = MAX_SOFTIRQ_RESTART; ; ) {
    i32[softirq_pending()] = 0;
    // local_irq_enable without the preemption point: the handlers' own
    // points take interrupts that arrive meanwhile.
    i32[pc + PERCPU.irqs_enabled] = 1;
    trace_hardirqs_on();
    for (let nr = 0; pending !== 0; nr++, pending >>>= 1) {
      if ((pending & 1) === 0) continue;
      K.f64[K.stats + CNT.softirqs]!++;
      rec(EV.softirq, -1, nr);
      trace_softirq_enter(nr); // lockdep: softirq context
      softirq_vec[nr]?.();
      trace_softirq_exit();
    }
    i32[pc + PERCPU.irqs_enabled] = 0; // local_irq_disable
    pending = i32[softirq_pending()]!;
    if (pending === 0 || --restart === 0) break;
  }
  add_preempt_count(-SOFTIRQ_OFFSET); // __local_bh_enable
}

/** do_softirq: from process context (local_bh_enable, ksoftirqd); not in interrupt. */
export function do_softirq(): void {
  if (in_interrupt()) return;
  const pc = K.percpu;
  const was = K.i32[pc + PERCPU.irqs_enabled] !== 0;
  K.i32[pc + PERCPU.irqs_enabled] = 0; // local_irq_save
  if (local_softirq_pending() !== 0) __do_softirq();
  if (was) K.i32[pc + PERCPU.irqs_enabled] = 1; // local_irq_restore
}

/** local_bh_disable: no softirq runs on this CPU until local_bh_enable. */
export function local_bh_disable(): void {
  add_preempt_count(SOFTIRQ_OFFSET);
}

/**
 * local_bh_enable: 2.6.15 runs what was raised meanwhile at once, if not in
 * interrupt (WARN_ON_ONCE(in_irq() || irqs_disabled()) there: the caller is
 * process context with interrupts on).
 */
export function local_bh_enable(): void {
  add_preempt_count(-SOFTIRQ_OFFSET);
  trace_softirqs_on(); // lockdep: held locks are now held with softirqs on
  if (!in_interrupt() && local_softirq_pending() !== 0) do_softirq();
}
