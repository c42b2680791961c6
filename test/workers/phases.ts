/**
 * The scratch-word schedule of the scripted two-CPU tests (discard-to-put.ts,
 * park-hold.ts): a phase word that only grows, waits on it with a deadline,
 * the start barrier, and a hook that stops a CPU at the first pass through a
 * preemption point (on this thread's view of the point delays: the run
 * configures 1 us there so that widen_at reads it), so that the code the CPU
 * runs is the kernel's, unchanged. No sleeps: every wait is an Atomics.wait
 * woken by Atomics.notify, with a deadline.
 */
import { performance } from 'node:perf_hooks';
import type { Config } from '../../src/config.ts';
import { K } from '../../src/kernel/context.ts';
import { S } from '../helpers/scratch.ts';

/** What every CPU of a scripted schedule is given: the machine, its config, its CPU and the scratch words. */
export type ScriptedCpuTask = {
  sab: SharedArrayBuffer;
  cfg: Config;
  cpu: number;
  scratch: SharedArrayBuffer;
};

/** The schedule's phase word in the scratch buffer (its counter word: no lock test here). */
export const PHASE = S.counter;
const DEADLINE_MS = 30_000;

export function waitPhase(t: Int32Array, phase: number): void {
  const by = performance.now() + DEADLINE_MS;
  for (let v = Atomics.load(t, PHASE); v < phase; v = Atomics.load(t, PHASE)) {
    if (performance.now() > by)
      throw new Error(`cpu ${K.cpu}: phase ${phase} not in ${DEADLINE_MS} ms`);
    Atomics.wait(t, PHASE, v, 50);
  }
}

export function setPhase(t: Int32Array, phase: number): void {
  Atomics.store(t, PHASE, phase);
  Atomics.notify(t, PHASE);
}

/** The start barrier: count this CPU ready, wait for go. */
export function startBarrier(t: Int32Array): void {
  Atomics.add(t, S.ready, 1);
  const by = performance.now() + DEADLINE_MS;
  while (Atomics.load(t, S.go) !== 1) {
    if (performance.now() > by) throw new Error(`cpu ${K.cpu}: no start`);
    Atomics.wait(t, S.go, 0, 50);
  }
}

/** At the first pass through point `p`, run `stop` (which waits for its phase) there. */
export function stopAtPoint(p: number, stop: () => void): void {
  const key = String(p);
  let stopped = false;
  K.delaysMs = new Proxy(K.delaysMs, {
    get(target, prop) {
      if (prop === key && !stopped) {
        stopped = true;
        stop();
        return 0;
      }
      const x = Reflect.get(target, prop, target);
      return typeof x === 'function' ? x.bind(target) : x;
    },
  });
}
