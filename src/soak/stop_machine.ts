/**
 * stop_machine, the main thread's side: ask every CPU to park at its next
 * quiescent point (cpu.ts, stop_machine_park), wait for all of them without
 * ever blocking for long, run a function on the still machine (the audit),
 * then let them go.
 *
 * It is driven from the machine's monitor tick (RunOptions.onTick, about every
 * 50 ms): each poll waits at most `sliceMs` for the last CPU to park, so the
 * watchdog and the signal handlers keep running between polls. A CPU that does
 * not park within `timeoutMs` (stuck in a lock, a rendezvous, a long delay)
 * makes the attempt give up and release the others; the watchdog, not this
 * module, decides whether that CPU is stalled. Keep `timeoutMs` well below the
 * stall timeout: parked CPUs make no progress, and the watchdog counts only
 * progress.
 *
 * The host thread is not parked: it only touches host state, which the audit
 * does not read.
 */
import { performance } from 'node:perf_hooks';
import { CPU_STATE, CTRL, PERCPU, PERCPU_PENDING, percpuBase, type Views } from '../shm/layout.ts';

export type StopMachineOutcome<T> =
  | { ok: true; value: T; parkMs: number; heldMs: number }
  | { ok: false; skipped: string; parkMs: number };

export type StopMachine<T> = {
  /** Ask the CPUs to park. No-op while an attempt is in progress. */
  request(): void;
  /** True between request() and the outcome. */
  readonly active: boolean;
  /** Advance; returns the outcome once the attempt ends, else undefined. */
  poll(): StopMachineOutcome<T> | undefined;
  /** Give up at once and let the CPUs go (the run is ending). */
  cancel(): void;
};

export function makeStopMachine<T>(
  v: Views,
  fn: (v: Views) => T,
  opts: { timeoutMs: number; sliceMs?: number },
): StopMachine<T> {
  const { i32, L } = v;
  const word = L.ctrl + CTRL.stop_machine;
  const nrParked = L.ctrl + CTRL.nr_parked;
  const sliceMs = opts.sliceMs ?? 20;
  let startedAt = -1;

  const release = () => {
    Atomics.store(i32, word, 0);
    startedAt = -1;
    // Parked CPUs sleep on their IPI pending word (1 ms at most): wake them now.
    for (let c = 0; c < L.nr_cpus; c++) Atomics.notify(i32, percpuBase(L, c) + PERCPU_PENDING);
  };
  const notParked = () => {
    const out: number[] = [];
    for (let c = 0; c < L.nr_cpus; c++) {
      if (i32[percpuBase(L, c) + PERCPU.state] !== CPU_STATE.parked) out.push(c);
    }
    return out;
  };

  return {
    request() {
      if (startedAt >= 0) return;
      startedAt = performance.now();
      Atomics.store(i32, word, 1);
    },
    get active() {
      return startedAt >= 0;
    },
    poll() {
      if (startedAt < 0) return undefined;
      if (Atomics.load(i32, L.ctrl + CTRL.stop) !== 0) {
        const parkMs = performance.now() - startedAt;
        release();
        return { ok: false, skipped: 'the machine is stopping', parkMs };
      }
      const sliceEnd = performance.now() + sliceMs;
      for (;;) {
        const n = Atomics.load(i32, nrParked);
        if (n >= L.nr_cpus) break;
        const left = sliceEnd - performance.now();
        if (left <= 0) break;
        // The last CPU to park notifies this word.
        Atomics.wait(i32, nrParked, n, left);
      }
      const t = performance.now();
      if (Atomics.load(i32, nrParked) >= L.nr_cpus) {
        const parkMs = t - startedAt;
        try {
          const value = fn(v);
          return { ok: true, value, parkMs, heldMs: performance.now() - startedAt };
        } finally {
          release();
        }
      }
      if (t - startedAt > opts.timeoutMs) {
        const late = notParked();
        const parkMs = t - startedAt;
        release();
        return {
          ok: false,
          skipped: `cpu ${late.join(', ')} did not reach a quiescent point within ${Math.round(opts.timeoutMs)} ms`,
          parkMs,
        };
      }
      return undefined;
    },
    cancel() {
      if (startedAt >= 0) release();
    },
  };
}
