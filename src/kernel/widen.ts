/**
 * Race-window widening at the named preemption points: what a CPU does at a
 * point besides taking a pending IPI. point() calls widen_at() only when
 * K.widen is set, so a normal run pays one boolean test per point.
 *
 * - `--delay POINT=D`: sleep D at that point, every time (`POINT=LO..HI`: a
 *   random time between LO and HI, so that CPUs passing the same point in
 *   turn do not keep their order; `@N` after either: one pass in N only, so
 *   that the window is stretched now and then and the run keeps its pace;
 *   with interrupts off there, as a window_sleep, which an IPI cuts short).
 * - `--jitter MAX`: a random delay up to MAX at the points that lie inside a
 *   hazard's window (WINDOW_POINTS: the discard fault's window, where a
 *   longer window is a longer overlap for every window hazard, and a discard
 *   fault's discard .. put, where an interrupt may land), one pass in
 *   JITTER_EVERY. The fault window is interrupts-off: its delay is a
 *   window_sleep, which ends soon after an IPI arrives, so that a rendezvous
 *   is not held up by it.
 * - `--long-hold D`: one acquisition in LONG_HOLD_EVERY of the discard-list
 *   lock (the lock a flush and a splice meet on: discard-lock-contended),
 *   taken while the CPU holds no other spinlock, holds it D longer (the
 *   lock-held point, just after spin_lock took it).
 *   The other locks guard no hazard of ours: holding them long only slowed
 *   the whole run.
 * - `--migrate`: a task sleeping at a point where preemption is enabled is a
 *   preempted task, and may resume on another CPU (migrate.ts); with no
 *   delay configured, one such point in MIGRATE_EVERY preempts it briefly.
 *
 * Outside the points, at the discard fault's reference attempt (fault.ts):
 * --guided's window stretches, and the parked-frame hold (park_hold, on by
 * default), which keeps a window whose frame is parked open until an IPI.
 *
 * --jitter, --long-hold, --guided's window stretches and the parked-frame
 * hold share a budget (WIDEN_DUTY, an eighth): a CPU spends at most that
 * share of its running time asleep in their delays; a delay that would
 * overdraw it is skipped.
 * What a widening costs is then bounded by what it is for, and the machine
 * keeps its pace around the windows it stretches.
 * (`--delay` is what the user asked for, every pass or one in N: unbudgeted.)
 *
 * A sleeping CPU is still a CPU: with interrupts enabled it takes IPIs while
 * it sleeps (the sleep is on its own pending word, which an IPI wakes), so
 * widening never turns a correct protocol into a deadlock.
 */
import { performance } from 'node:perf_hooks';
import type { Hazard } from '../check/coverage.ts';
import { JITTER_EVERY, LONG_HOLD_EVERY, WIDEN_DUTY } from '../config.ts';
import { NR_POINTS, P, type PointName } from '../points.ts';
import { CNT, PENDING, PERCPU, PERCPU_MIGRATE } from '../shm/layout.ts';
import { K } from './context.ts';
import {
  migrate_accept,
  migrate_eligible,
  migrate_poll,
  migrate_request,
  migrate_withdraw,
} from './migrate.ts';
import { PageDiscarded, page_count } from './page-flags.ts';
import { do_IRQ } from './smp.ts';
import { LOCK } from './spinlock.ts';

/** --migrate without delays: one eligible point in MIGRATE_EVERY preempts the task for MIGRATE_PREEMPT_MS. */
const MIGRATE_EVERY = 1024;
const MIGRATE_PREEMPT_MS = 0.05;
/** While an IPI is pending but not yet delivered (--ipi-delivery), look again this often. */
const UNDELIVERED_NAP_MS = 0.02;

/** The discard fault's window hazards: a longer window is a longer overlap for each. */
export const WINDOW_HAZARDS = [
  'cache-remove-in-window',
  'park-in-window',
  'flush-in-window',
  'splice-in-window',
  'last-put-in-window',
  'ipi-to-window',
  'refused-parked',
  'double-fault',
] as const satisfies readonly Hazard[];

/**
 * The points inside a hazard's window, and the hazards whose window a delay
 * there stretches: --jitter's points.
 */
export const WINDOW_POINTS: Readonly<Partial<Record<PointName, readonly Hazard[]>>> = {
  'fault-to-ref': WINDOW_HAZARDS,
  'discard-to-put': ['irq-discard-to-put'],
};

/** A window_sleep goes on this long after an IPI arrived (the rendezvous waits that much more). */
export const IPI_GRACE_MS = 0.05;

const isWindowPoint = new Uint8Array(NR_POINTS);
for (const name of Object.keys(WINDOW_POINTS) as PointName[]) isWindowPoint[P[name]] = 1;

let rng = 0;
/**
 * A reused worker's next machine (src/machine/thread.ts): reseeded from its
 * seed at the first draw, its widening budget started anew.
 */
export function widen_reset(): void {
  rng = 0;
  budget = makeBudget(WIDEN_DUTY);
}
/** xorshift32, seeded per thread from the run's seed. */
function rand(): number {
  if (rng === 0) rng = (Math.imul(K.cfg.seed ^ 0x27d4eb2f, K.home + 1) >>> 0) | 1;
  rng ^= rng << 13;
  rng ^= rng >>> 17;
  rng ^= rng << 5;
  return rng >>> 0;
}

/**
 * A widening budget: may a thread sleep `ms` more at time `now` without its
 * sleeps passing `duty` of its time since it first asked? The first sleep
 * is always allowed (a budget starts from nothing); `afford(0, now)`: is it
 * not in debt? `spend` books what a sleep really took.
 */
export function makeBudget(duty: number) {
  let from = -1;
  let spent = 0;
  return {
    afford(ms: number, now: number): boolean {
      if (from < 0) from = now;
      return spent + ms <= duty * (now - from) || spent === 0;
    },
    spend(ms: number): void {
      spent += ms;
    },
  };
}
/** This thread's budget (--jitter, --long-hold, --guided's stretches, the parked-frame hold). */
let budget = makeBudget(WIDEN_DUTY);

export function widen_at(p: number): void {
  if (K.migrate && Atomics.load(K.i32, K.percpu + PERCPU_MIGRATE) > 0) migrate_accept();
  let ms = 0;
  // --delay POINT=D@N: one pass in N (no draw for N = 1, every pass)
  const every = K.delayEvery[p]!;
  if (every <= 1 || rand() % every === 0) {
    ms = K.delaysMs[p]!;
    if (K.delayOn && K.delaySpansMs[p]! > 0) ms += (rand() / 2 ** 32) * K.delaySpansMs[p]!;
    if (every > 1 && ms > 0 && K.i32[K.percpu + PERCPU.irqs_enabled] === 0) {
      // now and then, interrupts off: a window stretched, not a rendezvous held up
      window_sleep(ms);
      ms = 0;
    }
  }
  let budgeted = 0;
  if (K.jitterMs > 0 && isWindowPoint[p] === 1 && rand() % JITTER_EVERY === 0) {
    budgeted = (rand() / 2 ** 32) * K.jitterMs;
  }
  if (
    p === P['lock-held'] &&
    K.longHoldMs > 0 &&
    K.i32[K.percpu + PERCPU.locks_held] === 1 << LOCK.discard_list &&
    rand() % LONG_HOLD_EVERY === 0
  ) {
    // Nothing nests inside the discard-list lock: held at lock-held, it is the
    // one just taken. Held alone: a long hold keeps only its own waiters (a
    // flush, a splice) waiting, not those of a lock held around it.
    budgeted += K.longHoldMs;
  }
  if (budgeted > 0) {
    const now = performance.now();
    if (p === P['fault-to-ref']) {
      window_stretch(budgeted);
    } else if (budget.afford(budgeted, now)) {
      preempted(budgeted);
      budget.spend(performance.now() - now);
    }
  }
  if (K.migrate && ms === 0 && budgeted === 0 && rand() % MIGRATE_EVERY === 0) {
    ms = MIGRATE_PREEMPT_MS;
  }
  if (ms > 0) preempted(ms);
}

/**
 * Hold a discard-fault window open up to `ms` longer, asleep (the core goes
 * to another CPU). With interrupts off, as the protocol has them there, an
 * IPI cannot be taken: a rendezvous waits for the window to end, and the
 * sleep ends IPI_GRACE_MS after one arrives, so that the waiting CPU loses
 * little more than the window it found (a near miss, ipi-to-window), and
 * the overlap with what it does right after sending is kept. With
 * interrupts on (a mutant's window) a pending interrupt is taken inside the
 * window, as at a preemption point, and the window goes on.
 */
export function window_sleep(ms: number): void {
  const i32 = K.i32;
  let end = performance.now() + ms;
  for (;;) {
    const now = performance.now();
    let nap = end - now;
    const pending = Atomics.load(i32, K.pending);
    if (pending !== 0 && i32[K.percpu + PERCPU.irqs_enabled] !== 0) {
      do_IRQ();
      // an IPI not yet delivered (--ipi-delivery): look again soon
      if (Atomics.load(i32, K.pending) !== 0) nap = Math.min(nap, UNDELIVERED_NAP_MS);
    } else if ((pending & PENDING.ipi) !== 0) {
      end = Math.min(end, now + IPI_GRACE_MS);
      nap = end - now;
    }
    if (nap <= 0) return;
    // Woken by an IPI (its sender notifies the word). On the word as it is: a
    // device interrupt pending while interrupts are off is no busy spin.
    Atomics.wait(i32, K.pending, i32[K.pending]!, nap);
  }
}

/** Parked: count 0 and PG_discarded, on a discard pagevec or list, not yet freed. */
const parked = (pfn: number): boolean => page_count(pfn) === 0 && PageDiscarded(pfn);

/**
 * A window stretch within the budget (--jitter at the fault window,
 * --guided's stretches): window_sleep, or nothing if the budget is spent.
 */
export function window_stretch(ms: number): void {
  const now = performance.now();
  if (!budget.afford(ms, now)) return;
  window_sleep(ms);
  budget.spend(performance.now() - now);
}

/**
 * The parked-frame hold (--park-hold, on by default), at the discard fault's
 * reference attempt: if the window's frame `pfn` is parked (count 0,
 * PG_discarded) and no IPI is pending yet, the window stays open, asleep
 * with interrupts off, until an IPI comes (and IPI_GRACE_MS more) or
 * K.parkHoldMs passes. That is the race the rendezvous of shrink_discards
 * exists for, played out each time a window meets a parked frame (a few
 * times a second in a default run):
 *
 *   CPU A (held here)                 CPU B
 *   fault on P, irqs off
 *   P is parked: hold ...             flush: P to the discard list
 *                                     shrink_discards: splice (P in it), IPIs
 *   ... IPI pending: the grace        waits for A
 *   get_page_if_present(P) == 0
 *   irqs on: takes the IPI            frees P
 *
 * Without it a window that meets a parked frame ends some microseconds
 * later, and a default 10 s run saw a splice inside a window a few times or
 * not at all (splice-in-window). A protocol that frees the frame without
 * waiting for A (no-wait-ipi), or that lets A take the IPI inside its
 * window (irq-enable-before-ref: with interrupts on the hold takes it),
 * frees P inside this window: the oracle's free-in-window. Taken while the
 * CPU's widening budget is not in debt (a hold's length is not known
 * before: it may overdraw the budget once, and the sleeps that follow wait).
 */
export function park_hold(pfn: number): void {
  if (!parked(pfn)) return;
  // Interrupts off and an IPI already pending: the rendezvous waits on us now.
  const off = K.i32[K.percpu + PERCPU.irqs_enabled] === 0;
  if (off && (Atomics.load(K.i32, K.pending) & PENDING.ipi) !== 0) return;
  const now = performance.now();
  if (!budget.afford(0, now)) return;
  window_sleep(K.parkHoldMs);
  const held = performance.now() - now;
  budget.spend(held);
  K.f64[K.stats + CNT.parkHolds]!++;
  K.f64[K.stats + CNT.parkHoldUs]! += held * 1000;
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
