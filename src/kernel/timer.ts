/**
 * kernel/timer.c, reduced: the tick. The clock comparator interrupt
 * (timer_interrupt -> do_timer / update_process_times) runs in hardirq
 * context and raises TIMER_SOFTIRQ (run_local_timers); run_timer_softirq
 * finds no timer due in this guest. What the tick brings to the model is
 * interrupt context itself: a hardirq, then softirqs on the way out, landing
 * at any preemption point where interrupts are enabled, on every CPU, about
 * --irq-rate timer times a second.
 */
import { IRQ_SOURCE } from '../shm/layout.ts';
import { open_softirq, raise_softirq_irqoff, SOFTIRQ } from './irq.ts';
import { request_irq } from './smp.ts';

function timer_interrupt(): void {
  raise_softirq_irqoff(SOFTIRQ.TIMER); // run_local_timers
}

function run_timer_softirq(): void {
  // no timer lists in this guest
}

request_irq(IRQ_SOURCE.timer, timer_interrupt);
open_softirq(SOFTIRQ.TIMER, run_timer_softirq);
