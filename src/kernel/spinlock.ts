/**
 * spinlock_t on a LOCK_SLOT of the shared buffer (layout.ts: `val`, `owner`,
 * `cpu`); `lock` below is the slot's first word. `--spinlock` picks the kind:
 * - `tas`: test-and-test-and-set on `val` (0 unlocked, 1 locked); a waiter
 *   spins at a preemption point (so with interrupts enabled it takes IPIs
 *   while it spins, as a 2.6 spin_lock does).
 * - `ticket`: `val` hands out tickets (fetch-and-add), `owner` is the ticket
 *   being served, so the lock passes in arrival order (x86 since 2.6.25). A
 *   waiter spins at a preemption point, then naps in cpu_relax: when CPUs
 *   outnumber cores the next in line may be descheduled, and everyone behind
 *   it waits too (the lock-waiter preemption that made pv spinlocks).
 * - `pv` (default): tas that spins a bounded number of times, then marks
 *   `val` 2 (locked with sleepers) and sleeps on it with Atomics.wait until
 *   the holder's unlock notifies, as paravirtualised spinlocks do when
 *   virtual CPUs outnumber real ones.
 *
 * Every kind is taken as lockdep's LOCK_CONTENDED takes a lock: a trylock,
 * and only if it fails lock_contended, the wait, then lock_acquired (the
 * lock_stat hooks of src/stats/lockstat.ts: counters, always on). With
 * --lockstat=full the same steps run in a timed copy (spin_lock_timed),
 * chosen once at the entry; with --lockstat=contention only the contended
 * branch is timed. The uncontended untimed path reads no clock.
 *
 * Lock classes (LOCK_CLASSES, layout.ts) are named as the kernel names the
 * locks; each CPU keeps a mask of the spinlock classes it holds, for stall
 * reports.
 */
import { performance } from 'node:perf_hooks';
import { LOCK_SLOT, PERCPU, PERCPU_SLEEP } from '../shm/layout.ts';
import type { LockSite } from '../stats/lock_sites.ts';
import {
  lock_acquired,
  lock_contended,
  lock_hold_begin,
  lock_hold_end,
  lock_wait_begin,
  lock_wait_end,
} from '../stats/lockstat.ts';
import { K, P } from './context.ts';
import { local_bh_disable, local_bh_enable } from './irq.ts';
import { lock_acquire, lock_release } from './lockdep.ts';
import { S, sched_yield } from './sched.ts';
import {
  cpu_relax,
  irqs_disabled,
  local_irq_disable,
  local_irq_enable,
  local_irq_enable_at,
  local_irq_save,
  point,
} from './smp.ts';

export { LOCK_CLASSES, type LockClassName } from '../shm/layout.ts';
/** Lock class ids: index into LOCK_CLASSES. */
export const LOCK = {
  discard_list: 0,
  zone: 1,
  lru: 2,
  tree: 3,
  pte: 4,
  call_lock: 5,
  /** the page lock bit (lock_page), a sleeping lock: not in locks_held */
  page: 6,
  /** the network device's dev->queue_lock (net.ts) */
  queue: 7,
} as const;

/** pv: spins before a waiter marks the word 2 and sleeps (exported for the native benchmark). */
export const PV_SPINS = 256;
/**
 * pv: the longest sleep on the lock word (ms), with interrupts disabled and
 * enabled. The unlock's notify ends it, and with interrupts enabled also an
 * IPI (smp_call_function notifies the word in PERCPU_SLEEP); the timeout only
 * bounds how late a timer or device interrupt is taken, and a lost wake-up.
 */
export const PV_WAIT = { offMs: 1, onMs: 1 } as const;

export function spin_trylock(lock: number, cls: number, site: LockSite): boolean {
  if (!arch_spin_trylock(lock)) return false;
  if (K.lockdep) lock_acquire(cls, true);
  lock_acquired(lock + LOCK_SLOT.cpu, cls);
  if (K.lockTimed) lock_hold_begin(lock + LOCK_SLOT.cpu, performance.now(), site);
  K.i32[K.percpu + PERCPU.locks_held]! |= 1 << cls;
  return true;
}

/**
 * Returns, under --lockstat=full, the clock reading the hold starts at, for
 * a caller that takes its next lock (or disables interrupts) right after,
 * with nothing between that takes time (spin_lock_irqsave_at); -1 otherwise
 * (not timed, or a widening point came after the reading).
 */
export function spin_lock(lock: number, cls: number, site: LockSite): number {
  if (K.lockdep) lock_acquire(cls, false); // before the wait, as lockdep validates
  if (K.lockTimed) return spin_lock_timed(lock, cls, site, -1);
  if (!arch_spin_trylock(lock)) {
    lock_contended(lock + LOCK_SLOT.cpu, cls);
    if (K.lockWaitTimed) spin_lock_wait_timed(lock, cls, site);
    else arch_spin_lock_contended(lock);
  }
  lock_acquired(lock + LOCK_SLOT.cpu, cls);
  K.i32[K.percpu + PERCPU.locks_held]! |= 1 << cls;
  if (K.widen) point(P['lock-held']); // --long-hold, --delay lock-held=...
  return -1;
}

/** --lockstat=contention: only a contended acquisition reads the clock, around its wait. */
function spin_lock_wait_timed(lock: number, cls: number, site: LockSite): void {
  const t0 = lock_wait_begin(lock + LOCK_SLOT.cpu, cls, site);
  arch_spin_lock_contended(lock);
  lock_wait_end(cls, t0);
}

/**
 * spin_lock under --lockstat=full: the same steps, with wait and hold times
 * and the call sites. `t0`: the clock reading local_irq_save took just
 * before, when spin_lock_irq(save) disabled interrupts itself (-1: none): an
 * uncontended hold starts there, as the kernel's lock_stat starts it in
 * lock_acquire, before the trylock (lockdep's check between is counted in
 * the hold here too). Returns the hold's start, or -1 after a widening point.
 */
function spin_lock_timed(lock: number, cls: number, site: LockSite, t0: number): number {
  let t: number;
  if (arch_spin_trylock(lock)) {
    t = t0 < 0 ? performance.now() : t0;
  } else {
    lock_contended(lock + LOCK_SLOT.cpu, cls);
    const t0 = lock_wait_begin(lock + LOCK_SLOT.cpu, cls, site);
    arch_spin_lock_contended(lock);
    t = lock_wait_end(cls, t0);
  }
  lock_acquired(lock + LOCK_SLOT.cpu, cls);
  lock_hold_begin(lock + LOCK_SLOT.cpu, t, site);
  K.i32[K.percpu + PERCPU.locks_held]! |= 1 << cls;
  if (K.widen) {
    point(P['lock-held']);
    return -1;
  }
  return t;
}

/**
 * `t`: under --lockstat=full, a clock reading the caller took a moment
 * before with nothing between that takes time (what spin_unlock_irqrestore
 * returns when it released a lock nested in this one): the hold ends there;
 * -1: read the clock.
 */
export function spin_unlock(lock: number, cls: number, t = -1): void {
  __spin_unlock(lock, cls, K.lockTimed ? (t < 0 ? performance.now() : t) : 0);
}
/** spin_unlock at `t` (performance.now(): the hold's end under --lockstat=full). */
function __spin_unlock(lock: number, cls: number, t: number): void {
  if (K.lockdep) lock_release(cls);
  if (K.lockTimed) lock_hold_end(lock + LOCK_SLOT.cpu, cls, t);
  K.i32[K.percpu + PERCPU.locks_held]! &= ~(1 << cls);
  arch_spin_unlock(lock);
}

/**
 * Held by someone, for every kind (tas/pv keep `owner` 0): stall reports,
 * the coverage counters' "discard lock contended", list_corruption_unwind.
 * Plain reads, as the kernel's spin_is_locked reads the lock word: the
 * answer is stale the moment it is given, and nothing orders by it (an
 * Atomics.load is a builtin call on Node 20; see benchmarks/README.md).
 */
export function arch_spin_is_locked(i32: Int32Array, lock: number): boolean {
  return i32[lock + LOCK_SLOT.val] !== i32[lock + LOCK_SLOT.owner];
}

function arch_spin_trylock(lock: number): boolean {
  // The ticket lock out of line: the tas/pv test stays small enough for V8 to inline.
  if (K.ticketSpinlock) return ticket_spin_trylock(lock);
  return Atomics.compareExchange(K.i32, lock + LOCK_SLOT.val, 0, 1) === 0;
}
function ticket_spin_trylock(lock: number): boolean {
  const i32 = K.i32;
  // Take the next ticket only if it is the one being served: free, and
  // nobody queued (a queued waiter has moved `val` past `owner`), so a
  // trylock never jumps the queue.
  const owner = Atomics.load(i32, lock + LOCK_SLOT.owner);
  return Atomics.compareExchange(i32, lock + LOCK_SLOT.val, owner, (owner + 1) | 0) === owner;
}

function arch_spin_lock_contended(lock: number): void {
  if (K.ticketSpinlock) ticket_spin_lock_slow(lock);
  else spin_lock_slow(lock);
}

function arch_spin_unlock(lock: number): void {
  const i32 = K.i32;
  if (K.ticketSpinlock) {
    Atomics.add(i32, lock + LOCK_SLOT.owner, 1); // serve the next ticket (wraps as the tickets do)
    return;
  }
  if (Atomics.exchange(i32, lock + LOCK_SLOT.val, 0) === 2) pv_kick(lock);
}
/** pv: a waiter sleeps on the word (marked 2): wake one (out of line, as arch_spin_trylock's ticket case). */
function pv_kick(lock: number): void {
  Atomics.notify(K.i32, lock + LOCK_SLOT.val, 1);
}

/** Queue: take a ticket, wait until it is served. Tickets wrap at 2^32; only equality is tested. */
function ticket_spin_lock_slow(lock: number): void {
  const i32 = K.i32;
  const ticket = Atomics.add(i32, lock + LOCK_SLOT.val, 1);
  let spins = 0;
  while (Atomics.load(i32, lock + LOCK_SLOT.owner) !== ticket) {
    point(P.spin);
    cpu_relax(spins++);
  }
}

/** tas and pv: the lock word is `val` (LOCK_SLOT.val is 0: `lock` itself). */
function spin_lock_slow(lock: number): void {
  const i32 = K.i32;
  let spins = 0;
  for (;;) {
    point(P.spin);
    const v = Atomics.load(i32, lock);
    if (v === 0) {
      if (Atomics.compareExchange(i32, lock, 0, K.pvSpinlock && spins >= PV_SPINS ? 2 : 1) === 0) {
        return;
      }
      continue;
    }
    spins++;
    if (S.on) {
      sched_yield(true); // --sched random|pct: a spinning waiter gives the token away
      continue;
    }
    if (K.pvSpinlock && spins >= PV_SPINS) {
      // Mark sleepers, then sleep until unlock.
      if (v === 2 || Atomics.compareExchange(i32, lock, 1, 2) === 1) pv_wait(lock);
    }
  }
}

/**
 * pv: sleep on the lock word (marked 2) until the unlock notifies. With
 * interrupts enabled the sleep must also end for an IPI, and a thread cannot
 * sleep on two words: so the CPU writes the word it sleeps on in PERCPU_SLEEP
 * first, and smp_call_function, after raising the IPI, notifies that word
 * too. Both sides write, then read the other's word (seq_cst), so either we
 * see the IPI pending here and do not sleep, or the sender sees our word and
 * wakes it; a notify that comes between our look and our wait is lost, and
 * the timeout ends the sleep. A waiter woken for another's IPI (the notify
 * wakes every sleeper on the word) finds the lock held and sleeps again.
 *
 * Before, a waiter with interrupts enabled woke every 0.1 ms to look for
 * IPIs: with 8 CPUs on 2 cores, the CPUs queued on call_lock, the very
 * targets of the rendezvous that holds it, took its IPI only at their next
 * timeout, and their wake-ups took the cores from the CPUs being waited for.
 */
function pv_wait(lock: number): void {
  const i32 = K.i32;
  if (irqs_disabled()) {
    Atomics.wait(i32, lock, 2, PV_WAIT.offMs);
    return;
  }
  const sleep = K.percpu + PERCPU_SLEEP;
  Atomics.store(i32, sleep, lock);
  // Any interrupt pending (an IPI, or the host's timer or device): take it first, at point().
  if (Atomics.load(i32, K.pending) === 0) Atomics.wait(i32, lock, 2, PV_WAIT.onMs);
  i32[sleep] = 0; // only this CPU writes it; a stale read costs the sender a spurious notify
}

// ---- the interrupt-disabling variants (include/linux/spinlock.h) ------------

//
// Under --lockstat=full a lock taken right after its interrupts went off,
// and released right before they come back on, shares one clock reading
// with the interrupts-off tracing at each end (lock_stat's hold time and the
// irqsoff section are both timed there): two clock reads instead of four.
// A lock nested right inside another (handle_mm_fault takes the pte lock,
// then tree_lock with interrupts off, and releases them in turn) shares the
// outer lock's readings too: spin_lock's reading starts the interrupts-off
// section (spin_lock_irqsave's `t`), and spin_unlock_irqrestore's ends the
// outer hold (spin_unlock's `t`), unless an interrupt was taken when
// interrupts came back on: then the outer hold reads its own end.

/** spin_lock_irq: interrupts off (they were on), then the lock. */
export function spin_lock_irq(lock: number, cls: number, site: LockSite): void {
  const fresh = !irqs_disabled(); // else local_irq_disable reads no clock
  local_irq_disable();
  spin_lock_irq_off(lock, cls, site, fresh);
}
/** spin_unlock_irq: the lock, then interrupts on (a preemption point). */
export function spin_unlock_irq(lock: number, cls: number): void {
  spin_unlock_irq_on(lock, cls, true);
}
/**
 * spin_lock_irqsave: returns the interrupt state to restore. `t`: the
 * reading of a lock event a moment before (spin_lock's return), at which
 * interrupts go off; -1: read the clock.
 */
export function spin_lock_irqsave(lock: number, cls: number, site: LockSite, t = -1): boolean {
  const flags = local_irq_save(t);
  spin_lock_irq_off(lock, cls, site, flags);
  return flags;
}
/**
 * Returns, under --lockstat=full, the reading the lock was released and
 * interrupts enabled at, when no interrupt was taken there (the release of
 * an outer lock right after may end at it: spin_unlock's `t`); -1 otherwise.
 */
export function spin_unlock_irqrestore(lock: number, cls: number, flags: boolean): number {
  return spin_unlock_irq_on(lock, cls, flags);
}
/** spin_lock with interrupts off, `fresh`: this caller disabled them a moment ago (K.irqsOffAt). */
function spin_lock_irq_off(lock: number, cls: number, site: LockSite, fresh: boolean): void {
  if (!K.lockTimed || !fresh) {
    spin_lock(lock, cls, site);
    return;
  }
  if (K.lockdep) lock_acquire(cls, false);
  spin_lock_timed(lock, cls, site, K.irqsOffAt);
}
/** spin_unlock, then interrupts on if `on` (the flags of spin_lock_irqsave); returns as spin_unlock_irqrestore. */
function spin_unlock_irq_on(lock: number, cls: number, on: boolean): number {
  if (!K.lockTimed || !on) {
    spin_unlock(lock, cls);
    if (on) local_irq_enable();
    return -1;
  }
  const t = performance.now();
  __spin_unlock(lock, cls, t);
  return local_irq_enable_at(t) ? -1 : t;
}
/** spin_lock_bh: bottom halves off (no softirq runs here), then the lock. */
export function spin_lock_bh(lock: number, cls: number, site: LockSite): void {
  local_bh_disable();
  spin_lock(lock, cls, site);
}
/** spin_unlock_bh: the lock, then bottom halves on (pending softirqs run). */
export function spin_unlock_bh(lock: number, cls: number): void {
  spin_unlock(lock, cls);
  local_bh_enable();
}
