/**
 * lock_stat's two kinds of call site with real threads, both --lockstat
 * modes: the test thread (CPU 0) holds zone->lock, a worker (CPU 1) takes it
 * and contends in worker_waits (its contention point). In full mode the
 * waiter marks CPU 0, which, when it releases the lock in released_by_main,
 * credits the site it took the lock at (the contended point, held_by_main,
 * as the kernel's lock->ip); in contention mode nobody is marked and no hold
 * time is taken.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { type LockstatMode, makeConfig } from '../../src/config.ts';
import { kernel_boot } from '../../src/kernel/boot.ts';
import { set_this_cpu } from '../../src/kernel/context.ts';
import { LOCK, spin_lock, spin_unlock } from '../../src/kernel/spinlock.ts';
import { allocate, computeLayout, LOCKSTAT, lockstatBase } from '../../src/shm/layout.ts';
import { lock_sites } from '../../src/stats/lock_sites.ts';
import {
  lockContention,
  lockstat_reset_sites,
  lockstat_sites,
  readLocks,
  type ThreadLockSites,
} from '../../src/stats/lockstat.ts';
import { waitUntil, withTimeout } from '../helpers/workers.ts';

/** lock_stat's call sites of this file's lock calls (the kernel's _RET_IP_). */
const at = lock_sites('held_by_main');

const WORKER = fileURLToPath(new URL('./workers/lockstat-sites.mjs', import.meta.url));
const TIMEOUT_MS = 30_000;

let workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.map((w) => w.terminate()));
  workers = [];
});

async function contend(lockstat: LockstatMode) {
  const cfg = makeConfig({ cpus: 2, pages: 256, files: 4, seed: 1, lockstat, spinlock: 'pv' });
  const v = allocate(computeLayout(cfg));
  kernel_boot(v, cfg);
  set_this_cpu(0);
  lockstat_reset_sites();
  const lock = v.L.zone;
  function held_by_main(): void {
    spin_lock(lock, LOCK.zone, at.held_by_main);
  }
  function released_by_main(): void {
    spin_unlock(lock, LOCK.zone);
  }
  held_by_main();
  let error: Error | undefined;
  const w = new Worker(WORKER, { workerData: { sab: v.sab, cfg, lock } });
  workers.push(w);
  w.on('error', (e) => (error ??= e));
  const posted = new Promise<ThreadLockSites>((r) => w.once('message', r));
  const exited = new Promise<number>((r) => w.on('exit', r));
  // pv: a waiter past its spins marks the lock word 2 and sleeps: by then it
  // has counted its contention, noted its call site and (full) marked CPU 0
  await waitUntil(
    () => {
      if (error) throw error;
      return Atomics.load(v.i32, lock) === 2;
    },
    'the worker waiting',
    TIMEOUT_MS,
  );
  const contentions = lockstatBase(v.L, 1) + LOCK.zone * LOCKSTAT.nr_fields + LOCKSTAT.contentions;
  expect(v.f64[contentions]).toBe(1);
  released_by_main();
  const workerSites = await withTimeout(posted, TIMEOUT_MS, 'the worker posting its call sites');
  expect(await withTimeout(exited, TIMEOUT_MS, 'the worker exiting')).toBe(0);
  return { v, sites: [lockstat_sites(), workerSites] };
}

describe('lock_stat call sites across threads', () => {
  it('full: the waiter names its contention point, the holder its contended point', async () => {
    const { v, sites } = await contend('full');
    const zone = readLocks(v, sites)[LOCK.zone]!;
    expect(zone.contentions).toBe(1);
    expect(zone.acquisitions).toBe(2);
    expect(zone.topCallSites).toEqual([
      { site: expect.stringMatching(/^worker_waits \(lockstat-sites\.ts:\d+\)$/), contentions: 1 },
    ]);
    expect(zone.contendedPoints).toEqual([
      {
        site: expect.stringMatching(/^held_by_main \(lockstat-sites\.test\.ts:\d+\)$/),
        contentions: 1,
      },
    ]);
    expect(zone.waitTimeUs.total).toBeGreaterThan(0);
    expect(zone.holdTimeUs.total).toBeGreaterThanOrEqual(zone.waitTimeUs.total * 0.5);
    const [c] = lockContention(readLocks(v, sites));
    expect(c).toMatchObject({ contended: 1, lockClass: 'zone->lock' });
    expect(c!.caller).toMatch(/^worker_waits /);
  });

  it('contention: the waiter and its wait only; no mark, no hold time', async () => {
    const { v, sites } = await contend('contention');
    const zone = readLocks(v, sites)[LOCK.zone]!;
    expect(zone.contentions).toBe(1);
    expect(zone.contentionPoints.map((p) => p.site)).toEqual([
      expect.stringMatching(/^worker_waits \(/),
    ]);
    expect(zone.contentionPoints[0]!.waitTimeUs.total).toBe(zone.waitTimeUs.total);
    expect(zone.waitTimeUs.total).toBeGreaterThan(0);
    expect(zone.contendedPoints).toEqual([]);
    expect(zone.holdTimeUs.total).toBe(0);
  });
});
