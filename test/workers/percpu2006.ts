/**
 * One CPU of the percpu-2006 schedule (test/concurrency/percpu-2006.test.ts),
 * on the real kernel code with real rendezvous:
 *
 *   S (cpu 0)  try_to_free_pages' discard shrink (percpu-2006:
 *              page_shrink_discards, on_each_cpu; dec-2005: shrink_discards):
 *              IPIs out (each target sees its IPI after its own
 *              --ipi-delivery draw), then waits for every handler.
 *   Y (cpu 2)  takes its IPI (its list spliced), then touches P: discard
 *              fault, a long window W with interrupts off.
 *   X (cpu 1)  once Y is inside W, and only if its own IPI is still some way
 *              off: discards P (find_get_page), whose last put_page puts it
 *              on X's page_discard_list; then takes its IPI, whose
 *              __page_shrink_discards splices P for S to free.
 *
 * X checks, rather than assumes, when its IPI will show: if it is too close
 * (always, with instant delivery), X takes it first and discards P after,
 * and reports that the hazard's order did not occur.
 */
import { performance } from 'node:perf_hooks';
import { now } from '../../src/check/recorder.ts';
import type { Config } from '../../src/config.ts';
import { K, kernel_attach } from '../../src/kernel/context.ts';
import { user_access } from '../../src/kernel/fault.ts';
import { find_get_page } from '../../src/kernel/filemap.ts';
import { point } from '../../src/kernel/smp.ts';
import { shrink_discards } from '../../src/kernel/vmscan.ts';
import { P } from '../../src/points.ts';
import { attach, CNT, computeLayout, FAULTREC } from '../../src/shm/layout.ts';
import { S } from '../helpers/scratch.ts';

export type ScheduleTask = {
  sab: SharedArrayBuffer;
  cfg: Config;
  cpu: number;
  scratch: SharedArrayBuffer;
  /** Y's task and virtual page mapping P; P's file and index (for X's find_get_page). */
  task: number;
  vpage: number;
  file: number;
  index: number;
  /** X discards P only if its IPI shows no sooner than this (ms). */
  marginMs: number;
};

export type ScheduleResult = {
  cpu: number;
  /** X: its IPI showed before it could discard P (the safe order). */
  ipiFirst: boolean;
  ipisTaken: number;
};

const DEADLINE_MS = 30_000;
const X = 1;
const Y = 2;

/** Wait for `cond` at a preemption point (IPIs taken if interrupts are on). */
function waitFor(cond: () => boolean, what: string): void {
  const by = performance.now() + DEADLINE_MS;
  while (!cond()) {
    point(P.op);
    if (performance.now() > by) throw new Error(`cpu ${K.cpu}: no ${what} in ${DEADLINE_MS} ms`);
    Atomics.wait(K.i32, K.pending, 0, 0.05);
  }
}

const ipis = () => K.f64[K.stats + CNT.ipisTaken]!;
const inWindow = (cpu: number) =>
  Atomics.load(K.i32, K.L.faultrec + cpu * K.L.faultrec_stride + FAULTREC.active) === 1;

export default function scheduleCpu(task: ScheduleTask): ScheduleResult {
  kernel_attach(attach(task.sab, computeLayout(task.cfg)), task.cfg, task.cpu);
  const t = new Int32Array(task.scratch);
  const res: ScheduleResult = { cpu: task.cpu, ipiFirst: false, ipisTaken: 0 };
  Atomics.add(t, S.ready, 1);
  waitFor(() => Atomics.load(t, S.go) === 1, 'start');
  if (task.cpu === 0) {
    shrink_discards();
  } else if (task.cpu === Y) {
    waitFor(() => ipis() > 0, 'IPI');
    user_access(task.task, task.vpage); // discard fault on P: W, interrupts off
  } else if (task.cpu === X) {
    waitFor(() => inWindow(Y) || ipis() > 0, "Y's fault window");
    const showsIn = K.f64[K.L.ipi_at + K.cpu * K.L.ipi_at_stride]! - now();
    if (ipis() > 0 || showsIn < task.marginMs) {
      res.ipiFirst = true; // X's IPI first: P is parked after it, for the next round
      waitFor(() => ipis() > 0, 'IPI');
    }
    find_get_page(task.file, task.index); // host shows Vz: discard P; the last put parks it here
    waitFor(() => ipis() > 0, 'IPI');
  }
  Atomics.add(t, S.done, 1);
  waitFor(() => Atomics.load(t, S.done) === 3, 'end of the others');
  res.ipisTaken = ipis();
  return res;
}
