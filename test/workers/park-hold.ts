/**
 * One CPU of the parked-frame hold schedule (test/concurrency/park-hold.test.ts),
 * on the real kernel code, ordered through the scratch buffer with no sleeps:
 *
 *   A (cpu 1, the faulter)               B (cpu 0)
 *   access P: Vz, discard fault,
 *   interrupts off: the window opens
 *   at fault-to-ref: phase 1 ----------> vmtruncate(P's file): P unmapped,
 *                                        out of the cache, its last put
 *                                        parks it (pagevec of 1: flushed
 *   waits <----------------------------- to the discard list); phase 2
 *   park_hold(P): P is parked            shrink_discards: splice (P in it),
 *   (no hold: refused at once, the       IPI to A, waits; frees P
 *   window closed)
 *
 * A is stopped at fault-to-ref by a hook on this thread's view of the point
 * delays (as test/workers/discard-to-put.ts does: the run configures 1 us
 * there to turn widening on), so the code A runs is user_access and
 * do_discard_fault unchanged. Every wait is on a scratch word with a
 * deadline.
 */
import { performance } from 'node:perf_hooks';
import type { Config } from '../../src/config.ts';
import { K, kernel_attach } from '../../src/kernel/context.ts';
import { user_access } from '../../src/kernel/fault.ts';
import { vmtruncate } from '../../src/kernel/memory.ts';
import { P } from '../../src/points.ts';
import { attach, computeLayout } from '../../src/shm/layout.ts';
import { S } from '../helpers/scratch.ts';

/** The schedule's phase word in the scratch buffer. */
export const PHASE = S.counter;
export const PH = { inWindow: 1, parked: 2 } as const;
export const B = 0;
export const A = 1;

export type ParkHoldTask = {
  sab: SharedArrayBuffer;
  cfg: Config;
  cpu: number;
  scratch: SharedArrayBuffer;
  task: number;
  vpage: number;
  file: number;
};

export type ParkHoldResult = { cpu: number; stopped: boolean };

const DEADLINE_MS = 30_000;

function waitPhase(t: Int32Array, phase: number): void {
  const by = performance.now() + DEADLINE_MS;
  for (let v = Atomics.load(t, PHASE); v < phase; v = Atomics.load(t, PHASE)) {
    if (performance.now() > by)
      throw new Error(`cpu ${K.cpu}: phase ${phase} not in ${DEADLINE_MS} ms`);
    Atomics.wait(t, PHASE, v, 50);
  }
}

function setPhase(t: Int32Array, phase: number): void {
  Atomics.store(t, PHASE, phase);
  Atomics.notify(t, PHASE);
}

/** Stop this CPU at the first fault-to-ref it passes until B has parked P. */
function stopAtFaultToRef(t: Int32Array, res: ParkHoldResult): void {
  const key = String(P['fault-to-ref']);
  K.delaysMs = new Proxy(K.delaysMs, {
    get(target, prop) {
      if (prop === key && !res.stopped) {
        res.stopped = true;
        setPhase(t, PH.inWindow);
        waitPhase(t, PH.parked);
        return 0;
      }
      const x = Reflect.get(target, prop, target);
      return typeof x === 'function' ? x.bind(target) : x;
    },
  });
}

export default function parkHoldCpu(task: ParkHoldTask): ParkHoldResult {
  kernel_attach(attach(task.sab, computeLayout(task.cfg)), task.cfg, task.cpu);
  const t = new Int32Array(task.scratch);
  const res: ParkHoldResult = { cpu: task.cpu, stopped: false };
  Atomics.add(t, S.ready, 1);
  const by = performance.now() + DEADLINE_MS;
  while (Atomics.load(t, S.go) !== 1) {
    if (performance.now() > by) throw new Error(`cpu ${K.cpu}: no start`);
    Atomics.wait(t, S.go, 0, 50);
  }
  if (task.cpu === B) {
    waitPhase(t, PH.inWindow);
    vmtruncate(task.file);
    setPhase(t, PH.parked);
    K.shrink_discards();
  } else {
    stopAtFaultToRef(t, res);
    user_access(task.task, task.vpage);
    if (!res.stopped) setPhase(t, PH.parked); // never reached the point: let B go on
  }
  Atomics.add(t, S.done, 1);
  return res;
}
