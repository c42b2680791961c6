/**
 * A test CPU: attaches to a booted machine's buffer as one CPU and plays a
 * scripted part (spinlock contention, a rendezvous role) against the real
 * kernel code, logging its steps in the test's scratch words.
 *
 * Every wait here has a deadline and takes IPIs when interrupts are enabled
 * (a CPU that waits with interrupts on must, or a caller would hang on it).
 */
import { performance } from 'node:perf_hooks';
import type { Config } from '../../src/config.ts';
import { K, kernel_attach } from '../../src/kernel/context.ts';
import {
  FUNC,
  local_irq_disable,
  local_irq_enable,
  point,
  smp_call_function,
} from '../../src/kernel/smp.ts';
import { spin_lock, spin_trylock, spin_unlock } from '../../src/kernel/spinlock.ts';
import { P } from '../../src/points.ts';
import { attach, CALL, CNT, computeLayout } from '../../src/shm/layout.ts';
import { lock_sites } from '../../src/stats/lock_sites.ts';
import { S, STEP, step } from '../helpers/scratch.ts';

/** lock_stat's call site of this file's lock calls (no test here looks at its label). */
const at = lock_sites('any');

export type Role =
  /** take `lock` `iterations` times; inside, a plain read-modify-write and two log entries */
  | { role: 'spin'; lock: number; cls: number; iterations: number }
  /** one smp_call_function(page_hva_sync, wait) after the start barrier */
  | { role: 'caller'; wait: boolean }
  /** interrupts off before the barrier, on only after the main thread's release */
  | { role: 'held-target' }
  /** interrupts on: takes IPIs at its preemption points until everyone is done */
  | { role: 'open-target' }
  /** `iterations` smp_call_function(page_hva_sync, true) back to back */
  | { role: 'call-loop'; iterations: number };

export type KernelTask = {
  sab: SharedArrayBuffer;
  cfg: Config;
  cpu: number;
  scratch: SharedArrayBuffer;
  nr_workers: number;
} & Role;

export type KernelResult = {
  cpu: number;
  /** spin: acquisitions whose trylock failed (the lock was held or queued) */
  contended: number;
  /** caller: call_data's started / finished when smp_call_function returned */
  startedAtReturn: number;
  finishedAtReturn: number;
  ipisTaken: number;
  rendezvous: number;
};

const DEADLINE_MS = 30_000;

/** Wait for `cond`, taking IPIs at a preemption point meanwhile (if interrupts are on). */
function waitFor(cond: () => boolean, what: string): void {
  const by = performance.now() + DEADLINE_MS;
  while (!cond()) {
    point(P.op);
    if (performance.now() > by)
      throw new Error(`cpu ${K.cpu}: no ${what} within ${DEADLINE_MS} ms`);
    // nap on our own IPI word: an IPI to us ends the nap
    Atomics.wait(K.i32, K.pending, 0, 0.05);
  }
}

export default function kernelTestCpu(task: KernelTask): KernelResult {
  const cfg = task.cfg;
  kernel_attach(attach(task.sab, computeLayout(cfg)), cfg, task.cpu);
  const t = new Int32Array(task.scratch);
  const res: KernelResult = {
    cpu: task.cpu,
    contended: 0,
    startedAtReturn: -1,
    finishedAtReturn: -1,
    ipisTaken: 0,
    rendezvous: 0,
  };

  if (task.role === 'held-target') {
    local_irq_disable();
    step(t, STEP.target_disabled);
  }
  Atomics.add(t, S.ready, 1);
  waitFor(() => Atomics.load(t, S.go) === 1, 'start');

  switch (task.role) {
    case 'spin': {
      const { lock, cls } = task;
      for (let i = 0; i < task.iterations; i++) {
        if (!spin_trylock(lock, cls, at.any)) {
          res.contended++;
          spin_lock(lock, cls, at.any);
        }
        // The critical section: plain, non-atomic accesses only. Two CPUs in
        // here at once read the same counter and write the same log pair.
        const c = t[S.counter]!;
        t[S.log + 2 * c] = task.cpu + 1;
        for (let j = 0; j < 4; j++) point(P['lock-held']);
        t[S.log + 2 * c + 1] = task.cpu + 1;
        t[S.counter] = c + 1;
        spin_unlock(lock, cls);
      }
      break;
    }
    case 'caller': {
      step(t, STEP.caller_calls);
      smp_call_function(FUNC.page_hva_sync, task.wait);
      res.startedAtReturn = Atomics.load(K.i32, K.L.call + CALL.started);
      res.finishedAtReturn = Atomics.load(K.i32, K.L.call + CALL.finished);
      step(t, STEP.caller_returned);
      break;
    }
    case 'held-target': {
      waitFor(() => Atomics.load(t, S.release) === 1, 'release'); // interrupts off: no IPI taken
      step(t, STEP.target_enables);
      local_irq_enable(); // the pending IPI is taken in here
      step(t, STEP.target_enabled);
      break;
    }
    case 'open-target':
      break;
    case 'call-loop': {
      for (let i = 0; i < task.iterations; i++) smp_call_function(FUNC.page_hva_sync, true);
      break;
    }
  }

  // Keep taking IPIs until every worker is done: a caller may still need us.
  Atomics.add(t, S.done, 1);
  waitFor(() => Atomics.load(t, S.done) === task.nr_workers, 'end of the others');
  res.ipisTaken = K.f64[K.stats + CNT.ipisTaken]!;
  res.rendezvous = K.f64[K.stats + CNT.rendezvous]!;
  return res;
}
