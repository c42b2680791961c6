/**
 * smp_call_function as a real rendezvous between worker-thread CPUs (docs/mapping.md,
 * docs/protocol.md section 2). Orders are checked through a shared step log that
 * the CPUs and the main thread append to, never through sleeps: the main
 * thread releases a held CPU only after it has seen, in shared memory, the
 * caller waiting in smp_call_function (or returned from it: then the step
 * log shows the caller returning before the release, and the test fails).
 */
import { describe, expect, it } from 'vitest';
import { type Config, makeConfig } from '../../src/config.ts';
import { kernel_boot } from '../../src/kernel/boot.ts';
import { P } from '../../src/points.ts';
import {
  allocate,
  CALL,
  computeLayout,
  PERCPU,
  percpuBase,
  type Views,
} from '../../src/shm/layout.ts';
import { S, STEP, scratch, step, steps } from '../helpers/scratch.ts';
import { runKernelCpus, threadsBaseline, threadsSettled, waitUntil } from '../helpers/workers.ts';
import type { KernelTask, Role } from '../workers/kernel.ts';

function machine(cpus: number): { v: Views; cfg: Config } {
  const cfg = makeConfig({ cpus, pages: 256, files: 4, seed: 1 });
  const v = allocate(computeLayout(cfg));
  kernel_boot(v, cfg);
  return { v, cfg };
}

function tasks(v: Views, cfg: Config, t: Int32Array, roles: Role[]): KernelTask[] {
  return roles.map((r, cpu) => ({
    sab: v.sab,
    cfg,
    cpu,
    scratch: t.buffer as SharedArrayBuffer,
    nr_workers: roles.length,
    ...r,
  }));
}

/** The caller (cpu 0) is spinning in smp_call_function's wait loop, or already returned. */
function callerWaitingOrReturned(v: Views, t: Int32Array): boolean {
  const atWait = Atomics.load(v.i32, percpuBase(v.L, 0) + PERCPU.point) === P['ipi-wait'];
  return atWait || steps(t).includes('caller_returned');
}

async function startAll(t: Int32Array, n: number): Promise<void> {
  await waitUntil(() => Atomics.load(t, S.ready) === n, 'start barrier');
  Atomics.store(t, S.go, 1);
}

describe('smp_call_function rendezvous', () => {
  it('a target with interrupts disabled holds the caller until it enables them', async () => {
    const threads0 = await threadsBaseline();
    const { v, cfg } = machine(2);
    const t = scratch();
    const [caller, target] = await runKernelCpus(
      tasks(v, cfg, t, [{ role: 'caller', wait: true }, { role: 'held-target' }]),
      async () => {
        await startAll(t, 2);
        await waitUntil(() => callerWaitingOrReturned(v, t), 'caller in smp_call_function');
        // the IPI is pending on the target, not taken
        expect(Atomics.load(v.i32, v.L.call + CALL.started)).toBe(0);
        step(t, STEP.main_releases);
        Atomics.store(t, S.release, 1);
      },
    );
    const log = steps(t);
    expect(log.slice(0, 4)).toEqual([
      'target_disabled',
      'caller_calls',
      'main_releases',
      'target_enables',
    ]);
    expect(log.indexOf('caller_returned')).toBeGreaterThan(log.indexOf('target_enables'));
    expect(log).toHaveLength(6);
    expect(caller!.startedAtReturn).toBe(1);
    expect(caller!.finishedAtReturn).toBe(1);
    expect(caller!.rendezvous).toBe(1);
    expect(target!.ipisTaken).toBe(1);
    expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
  });

  it('the caller is not released before every target has incremented started', async () => {
    // cpu 1 takes the IPI at once; cpu 2 holds it with interrupts off.
    // wait = false: only `started` holds the caller.
    const { v, cfg } = machine(3);
    const t = scratch();
    const [caller, open, held] = await runKernelCpus(
      tasks(v, cfg, t, [
        { role: 'caller', wait: false },
        { role: 'open-target' },
        { role: 'held-target' },
      ]),
      async () => {
        await startAll(t, 3);
        await waitUntil(
          () =>
            Atomics.load(v.i32, v.L.call + CALL.started) === 1 ||
            steps(t).includes('caller_returned'),
          'the open target to start the call',
        );
        await waitUntil(() => callerWaitingOrReturned(v, t), 'caller in smp_call_function');
        step(t, STEP.main_releases);
        Atomics.store(t, S.release, 1);
      },
    );
    const log = steps(t);
    expect(log.slice(0, 4)).toEqual([
      'target_disabled',
      'caller_calls',
      'main_releases',
      'target_enables',
    ]);
    expect(log.indexOf('caller_returned')).toBeGreaterThan(log.indexOf('target_enables'));
    expect(caller!.startedAtReturn).toBe(2);
    expect(open!.ipisTaken).toBe(1);
    expect(held!.ipisTaken).toBe(1);
  });

  it('callers keep taking incoming IPIs while they wait: concurrent callers all complete', async () => {
    const threads0 = await threadsBaseline();
    const NR = 3;
    const ROUNDS = 200;
    const { v, cfg } = machine(NR);
    const t = scratch();
    const results = await runKernelCpus(
      tasks(v, cfg, t, new Array(NR).fill({ role: 'call-loop', iterations: ROUNDS })),
      () => startAll(t, NR),
    );
    for (const r of results) expect(r.rendezvous).toBe(ROUNDS);
    // every call was taken by every other CPU
    expect(results.reduce((s, r) => s + r.ipisTaken, 0)).toBe(NR * ROUNDS * (NR - 1));
    expect(Atomics.load(v.i32, v.L.call + CALL.seq)).toBe(NR * ROUNDS);
    expect(Atomics.load(v.i32, v.L.call_lock)).toBe(0);
    expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
  });
});
