/**
 * Race-window widening at the named preemption points: what a CPU does at a
 * point besides taking a pending IPI. point() calls widen_at() only when
 * K.widen is set, so a normal run pays one boolean test per point.
 *
 * - `--delay POINT=D`: sleep D at that point, every time (`POINT=LO..HI`: a
 *   random time between LO and HI, so that CPUs passing the same point in
 *   turn do not keep their order; `@N` after either: one pass in N only, so
 *   that the window is stretched now and then and the run keeps its pace).
 * - `--jitter MAX`: at one point in JITTER_EVERY, sleep a random time up to MAX.
 * - `--long-hold D`: one spinlock acquisition in LONG_HOLD_EVERY holds the
 *   lock D longer (the lock-held point, just after spin_lock took it).
 * - `--migrate`: a task sleeping at a point where preemption is enabled is a
 *   preempted task, and may resume on another CPU (migrate.ts); with no
 *   delay configured, one such point in MIGRATE_EVERY preempts it briefly.
 *
 * A sleeping CPU is still a CPU: with interrupts enabled it takes IPIs while
 * it sleeps (the sleep is on its own pending word, which an IPI wakes), so
 * widening never turns a correct protocol into a deadlock.
 */
import { performance } from 'node:perf_hooks';
import { JITTER_EVERY, LONG_HOLD_EVERY } from '../config.ts';
import { PERCPU, PERCPU_MIGRATE } from '../shm/layout.ts';
import { K, P } from './context.ts';
import {
  migrate_accept,
  migrate_eligible,
  migrate_poll,
  migrate_request,
  migrate_withdraw,
} from './migrate.ts';
import { do_IRQ } from './smp.ts';

/** --migrate without delays: one eligible point in MIGRATE_EVERY preempts the task for MIGRATE_PREEMPT_MS. */
const MIGRATE_EVERY = 1024;
const MIGRATE_PREEMPT_MS = 0.05;
/** While an IPI is pending but not yet delivered (--ipi-delivery), look again this often. */
const UNDELIVERED_NAP_MS = 0.02;

let rng = 0;
/** A reused worker's next machine (src/machine/thread.ts): reseeded from its seed at the first draw. */
export function widen_reset(): void {
  rng = 0;
}
/** xorshift32, seeded per thread from the run's seed. */
function rand(): number {
  if (rng === 0) rng = (Math.imul(K.cfg.seed ^ 0x27d4eb2f, K.home + 1) >>> 0) | 1;
  rng ^= rng << 13;
  rng ^= rng >>> 17;
  rng ^= rng << 5;
  return rng >>> 0;
}

export function widen_at(p: number): void {
  if (K.migrate && Atomics.load(K.i32, K.percpu + PERCPU_MIGRATE) > 0) migrate_accept();
  let ms = 0;
  // --delay POINT=D@N: one pass in N (no draw for N = 1, every pass)
  const every = K.delayEvery[p]!;
  if (every <= 1 || rand() % every === 0) {
    ms = K.delaysMs[p]!;
    if (K.delayOn && K.delaySpansMs[p]! > 0) ms += (rand() / 2 ** 32) * K.delaySpansMs[p]!;
  }
  if (K.jitterMs > 0 && rand() % JITTER_EVERY === 0) ms += (rand() / 2 ** 32) * K.jitterMs;
  if (p === P['lock-held'] && K.longHoldMs > 0 && rand() % LONG_HOLD_EVERY === 0) {
    ms += K.longHoldMs;
  }
  if (K.migrate && ms === 0 && rand() % MIGRATE_EVERY === 0) ms = MIGRATE_PREEMPT_MS;
  if (ms > 0) preempted(ms);
}

/**
 * Sleep `ms` at the current point. An IPI ends the sleep early and is taken
 * if interrupts are enabled; where preemption is enabled and --migrate is
 * on, the task asks to resume on another CPU and may come back there.
 */
function preempted(ms: number): void {
  const i32 = K.i32;
  const end = performance.now() + ms;
  let target = K.migrate && migrate_eligible() ? migrate_request() : -1;
  for (;;) {
    if (target >= 0 && migrate_poll(target)) target = -1;
    const left = end - performance.now();
    if (left <= 0) break;
    if (Atomics.load(i32, K.pending) === 0) {
      // Woken by an IPI, or by the CPU that accepted our migration.
      Atomics.wait(i32, K.pending, 0, left);
    } else if (i32[K.percpu + PERCPU.irqs_enabled] !== 0) {
      do_IRQ();
      if (Atomics.load(i32, K.pending) !== 0) nap(Math.min(left, UNDELIVERED_NAP_MS));
    } else {
      nap(left); // interrupts off: the IPI waits for us (and we cannot be migrated)
    }
  }
  if (target >= 0) migrate_withdraw(target);
}

/** Sleep on a word nobody notifies (our own CPU state: only we write it). */
function nap(ms: number): void {
  const w = K.percpu + PERCPU.state;
  Atomics.wait(K.i32, w, K.i32[w]!, ms);
}
