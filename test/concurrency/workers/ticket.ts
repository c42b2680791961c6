/**
 * One CPU of the ticket-lock FIFO test: wait until the tickets before ours
 * are handed out, queue on the lock (taking the next ticket), and once it is
 * ours append our CPU number to the test's log, then unlock.
 */
import { workerData } from 'node:worker_threads';
import type { Config } from '../../../src/config.ts';
import { kernel_attach } from '../../../src/kernel/context.ts';
import { LOCK, spin_lock, spin_unlock } from '../../../src/kernel/spinlock.ts';
import { attach, computeLayout, LOCK_SLOT } from '../../../src/shm/layout.ts';
import { lock_sites } from '../../../src/stats/lock_sites.ts';

/** lock_stat's call site of this file's lock calls (no test here looks at its label). */
const at = lock_sites('any');

type Data = { sab: SharedArrayBuffer; cfg: Config; cpu: number; lock: number; log: Int32Array };
const { sab, cfg, cpu, lock, log } = workerData as Data;
const TIMEOUT_MS = 20_000;

kernel_attach(attach(sab, computeLayout(cfg)), cfg, cpu);
const i32 = new Int32Array(sab);
// Ticket `cpu` is ours: the main thread took ticket 0, CPU c takes ticket c.
const by = Date.now() + TIMEOUT_MS;
while (Atomics.load(i32, lock + LOCK_SLOT.val) !== cpu) {
  if (Date.now() > by) throw new Error(`cpu ${cpu}: my turn to queue never came`);
  Atomics.wait(log, 0, Atomics.load(log, 0), 1); // a 1 ms nap that the log may cut short
}
spin_lock(lock, LOCK.zone, at.any);
log[1 + Atomics.add(log, 0, 1)] = cpu;
Atomics.notify(log, 0);
spin_unlock(lock, LOCK.zone);
