/**
 * Spinlock mutual exclusion under contention, with real worker threads: more
 * CPUs than cores take the same lock many times and, inside it, do a plain
 * (non-atomic) read-modify-write of a shared counter and write a pair of log
 * entries. Any overlap of two critical sections loses an increment or
 * interleaves a pair. Every kind of SPINLOCK_KINDS is covered.
 */
import { describe, expect, it } from 'vitest';
import { makeConfig, SPINLOCK_KINDS } from '../../src/config.ts';
import { kernel_boot } from '../../src/kernel/boot.ts';
import { LOCK, spin_trylock, spin_unlock } from '../../src/kernel/spinlock.ts';
import { allocate, computeLayout, ZONE } from '../../src/shm/layout.ts';
import { lock_sites } from '../../src/stats/lock_sites.ts';
import { S, scratch } from '../helpers/scratch.ts';
import { runKernelCpus, threadsBaseline, threadsSettled, waitUntil } from '../helpers/workers.ts';

/** lock_stat's call site of this file's lock calls (no test here looks at its label). */
const at = lock_sites('any');

const NR_CPUS = 4; // twice the cores of this machine: holders get descheduled
const ITERATIONS = 5000;

describe('spin_lock: mutual exclusion under contention', () => {
  for (const kind of SPINLOCK_KINDS) {
    it(`${kind}: ${NR_CPUS} CPUs x ${ITERATIONS} critical sections, none overlapping`, async () => {
      const threads0 = await threadsBaseline();
      const cfg = makeConfig({ cpus: NR_CPUS, pages: 256, files: 4, seed: 1, spinlock: kind });
      const v = allocate(computeLayout(cfg));
      kernel_boot(v, cfg);
      const lock = v.L.zone + ZONE.lock;
      const t = scratch(2 * NR_CPUS * ITERATIONS);
      const results = await runKernelCpus(
        Array.from({ length: NR_CPUS }, (_, cpu) => ({
          sab: v.sab,
          cfg,
          cpu,
          scratch: t.buffer,
          nr_workers: NR_CPUS,
          role: 'spin' as const,
          lock,
          cls: LOCK.zone,
          iterations: ITERATIONS,
        })),
        async () => {
          await waitUntil(() => Atomics.load(t, S.ready) === NR_CPUS, 'start barrier');
          Atomics.store(t, S.go, 1);
        },
      );
      expect(t[S.counter]).toBe(NR_CPUS * ITERATIONS);
      const perCpu = new Array<number>(NR_CPUS).fill(0);
      let torn = 0;
      for (let k = 0; k < NR_CPUS * ITERATIONS; k++) {
        const a = t[S.log + 2 * k]!;
        const b = t[S.log + 2 * k + 1]!;
        if (a !== b || a === 0) torn++;
        else perCpu[a - 1]!++;
      }
      expect(torn).toBe(0);
      expect(perCpu).toEqual(new Array(NR_CPUS).fill(ITERATIONS));
      // the test did contend (else it proved nothing)
      const contended = results.reduce((s, r) => s + r.contended, 0);
      expect(contended).toBeGreaterThan(0);
      // the lock is free again
      expect(spin_trylock(lock, LOCK.zone, at.any)).toBe(true);
      spin_unlock(lock, LOCK.zone);
      expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
    });
  }
});
