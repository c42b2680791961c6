/**
 * spinlock_t on an Int32 word of the shared buffer.
 *
 * Word states: 0 unlocked, 1 locked, 2 locked with sleepers (pv only).
 * - `tas` (default): test-and-test-and-set; a waiter spins at a preemption
 *   point (so with interrupts enabled it takes IPIs while it spins, as a
 *   2.6 spin_lock does).
 * - `pv`: spins a bounded number of times, then marks the word 2 and sleeps
 *   on it with Atomics.wait until the holder's unlock notifies, as
 *   paravirtualised spinlocks do when virtual CPUs outnumber real ones.
 *
 * Lock classes are named as the kernel names the locks; each CPU keeps a mask
 * of the classes it holds, for stall reports.
 */
import { PERCPU } from '../shm/layout.ts';
import { K, P } from './context.ts';
import { irqs_disabled, point } from './smp.ts';

export const LOCK_CLASSES = [
  'page_hva_discard_list_lock',
  'zone->lock',
  'zone->lru_lock',
  'mapping->tree_lock',
  'mm->page_table_lock',
  'call_lock',
] as const;
export type LockClassName = (typeof LOCK_CLASSES)[number];
export const LOCK = {
  discard_list: 0,
  zone: 1,
  lru: 2,
  tree: 3,
  pte: 4,
  call_lock: 5,
} as const;

const PV_SPINS = 256;

export function spin_trylock(lock: number, cls: number): boolean {
  if (Atomics.compareExchange(K.i32, lock, 0, 1) !== 0) return false;
  K.i32[K.percpu + PERCPU.locks_held]! |= 1 << cls;
  return true;
}

export function spin_lock(lock: number, cls: number): void {
  const i32 = K.i32;
  if (Atomics.compareExchange(i32, lock, 0, 1) !== 0) spin_lock_slow(lock);
  i32[K.percpu + PERCPU.locks_held]! |= 1 << cls;
}

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
    if (K.pvSpinlock && spins >= PV_SPINS) {
      // Mark sleepers, then sleep until unlock (or a short timeout, to take
      // IPIs when interrupts are enabled: we cannot sleep on two words).
      if (v === 2 || Atomics.compareExchange(i32, lock, 1, 2) === 1) {
        Atomics.wait(i32, lock, 2, irqs_disabled() ? 1 : 0.1);
      }
    }
  }
}

export function spin_unlock(lock: number, cls: number): void {
  const i32 = K.i32;
  i32[K.percpu + PERCPU.locks_held]! &= ~(1 << cls);
  if (Atomics.exchange(i32, lock, 0) === 2) Atomics.notify(i32, lock, 1);
}
