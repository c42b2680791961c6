/**
 * The ticket spinlock serves waiters in arrival order, with real worker
 * threads: the test thread (CPU 0) holds the lock, CPUs 1..N queue on it one
 * after another (each waits until the tickets before its own are taken), and
 * on release each logs its CPU number into shared memory as it gets the lock.
 * The log must read 1..N. (A test-and-set lock gives any order.)
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/config.ts';
import { kernel_boot } from '../../src/kernel/boot.ts';
import { set_this_cpu } from '../../src/kernel/context.ts';
import { LOCK, spin_lock, spin_unlock } from '../../src/kernel/spinlock.ts';
import { allocate, computeLayout, LOCK_SLOT } from '../../src/shm/layout.ts';
import { lock_sites } from '../../src/stats/lock_sites.ts';
import { readLocks } from '../../src/stats/lockstat.ts';

/** lock_stat's call site of this file's lock calls (no test here looks at its label). */
const at = lock_sites('any');

const WORKER = fileURLToPath(new URL('./workers/ticket.mjs', import.meta.url));
const TIMEOUT_MS = 30_000;
const N = 4;

let workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.map((w) => w.terminate()));
  workers = [];
});

/** Poll `cond` until true; fail on a worker error or after TIMEOUT_MS. */
async function until(cond: () => boolean, what: string, failed: () => Error | undefined) {
  const by = Date.now() + TIMEOUT_MS;
  while (!cond()) {
    const e = failed();
    if (e) throw e;
    if (Date.now() > by) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('ticket spinlock with real CPUs', () => {
  it('passes the lock in arrival order', async () => {
    const cfg = makeConfig({ cpus: N + 1, pages: 256, files: 4, seed: 1, spinlock: 'ticket' });
    const v = allocate(computeLayout(cfg));
    kernel_boot(v, cfg);
    set_this_cpu(0);
    const lock = v.L.zone;
    spin_lock(lock, LOCK.zone, at.any); // ticket 0
    const log = new Int32Array(new SharedArrayBuffer(4 * (N + 1)));
    let error: Error | undefined;
    const exits: Promise<number>[] = [];
    for (let cpu = 1; cpu <= N; cpu++) {
      const w = new Worker(WORKER, { workerData: { sab: v.sab, cfg, cpu, lock, log } });
      w.on('error', (e) => (error ??= e));
      exits.push(new Promise((r) => w.on('exit', r)));
      workers.push(w);
    }
    const failed = () => error;
    await until(
      () => Atomics.load(v.i32, lock + LOCK_SLOT.val) === N + 1,
      'all CPUs queued',
      failed,
    );
    expect(log[0]).toBe(0); // nobody got past us
    spin_unlock(lock, LOCK.zone);
    await until(() => Atomics.load(log, 0) === N, 'every CPU took the lock', failed);
    expect(Array.from(log.subarray(1))).toEqual([1, 2, 3, 4]);
    expect(await Promise.all(exits)).toEqual([0, 0, 0, 0]);

    const l = readLocks(v)[LOCK.zone]!;
    expect(l.acquisitions).toBe(N + 1);
    expect(l.contentions).toBe(N); // every worker found it held
    expect(l.acqBounces).toBe(N); // 0 -> 1 -> 2 -> 3 -> 4
    expect(Atomics.load(v.i32, lock + LOCK_SLOT.owner)).toBe(N + 1);
  });
});
