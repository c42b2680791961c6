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
 * delays (phases.ts, stopAtPoint), so the code A runs is user_access and
 * do_discard_fault unchanged. Every wait is on a scratch word with a
 * deadline.
 */
import { K, kernel_attach } from '../../src/kernel/context.ts';
import { user_access } from '../../src/kernel/fault.ts';
import { vmtruncate } from '../../src/kernel/memory.ts';
import { P } from '../../src/points.ts';
import { attach, computeLayout } from '../../src/shm/layout.ts';
import { S } from '../helpers/scratch.ts';
import { type ScriptedCpuTask, setPhase, startBarrier, stopAtPoint, waitPhase } from './phases.ts';

export const PH = { inWindow: 1, parked: 2 } as const;
export const B = 0;
export const A = 1;

export type ParkHoldTask = ScriptedCpuTask & {
  task: number;
  vpage: number;
  file: number;
};

export type ParkHoldResult = { cpu: number; stopped: boolean };

export default function parkHoldCpu(task: ParkHoldTask): ParkHoldResult {
  kernel_attach(attach(task.sab, computeLayout(task.cfg)), task.cfg, task.cpu);
  const t = new Int32Array(task.scratch);
  const res: ParkHoldResult = { cpu: task.cpu, stopped: false };
  startBarrier(t);
  if (task.cpu === B) {
    waitPhase(t, PH.inWindow);
    vmtruncate(task.file);
    setPhase(t, PH.parked);
    K.shrink_discards();
  } else {
    // Stopped at the first fault-to-ref, inside the window, until B parked P.
    stopAtPoint(P['fault-to-ref'], () => {
      res.stopped = true;
      setPhase(t, PH.inWindow);
      waitPhase(t, PH.parked);
    });
    user_access(task.task, task.vpage);
    if (!res.stopped) setPhase(t, PH.parked); // never reached the point: let B go on
  }
  Atomics.add(t, S.done, 1);
  return res;
}
