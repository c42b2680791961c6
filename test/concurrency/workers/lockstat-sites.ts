/**
 * The waiter of lockstat-sites.test.ts: CPU 1 takes zone->lock, which the
 * test thread (CPU 0) holds, so it contends in worker_waits; once it has the
 * lock it lets go and posts its lock_stat call sites.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../../../src/config.ts';
import { kernel_attach } from '../../../src/kernel/context.ts';
import { LOCK, spin_lock, spin_unlock } from '../../../src/kernel/spinlock.ts';
import { attach, computeLayout } from '../../../src/shm/layout.ts';
import { lock_sites } from '../../../src/stats/lock_sites.ts';
import { lockstat_sites } from '../../../src/stats/lockstat.ts';

/** lock_stat's call sites of this file's lock calls (the kernel's _RET_IP_). */
const at = lock_sites('worker_waits');

type Data = { sab: SharedArrayBuffer; cfg: Config; lock: number };
const { sab, cfg, lock } = workerData as Data;

kernel_attach(attach(sab, computeLayout(cfg)), cfg, 1);
function worker_waits(): void {
  spin_lock(lock, LOCK.zone, at.worker_waits);
}
worker_waits();
spin_unlock(lock, LOCK.zone);
parentPort?.postMessage(lockstat_sites());
