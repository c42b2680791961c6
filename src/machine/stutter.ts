/**
 * --stutter, main-thread side: every `stutterMs`, alternately hold all but a
 * few CPUs still, then release them all, as locktorture's stutter does. With
 * more CPUs than cores the few left running get real cores to themselves
 * (as many as the machine has cores, and never fewer than two: one CPU alone
 * races with nobody; with 2 CPUs one runs). When the others come back they
 * arrive together. A CPU looks at its hold word between two batches (cpu.ts)
 * and, held, still takes interrupts and IPIs, so no rendezvous waits on it.
 *
 * What it exercises: whole vCPUs paused between operations for a long time,
 * taking only interrupts, and coming back together, with the watchdog, the
 * rendezvous and the pv spinlock's sleeping waiters around them. It widens no hazard's window:
 * the window hazards need an operation on the window's own frame during the
 * window (microseconds), and the stutter chooses when whole CPUs run, not
 * what they touch; a release lined up with the CPUs inside windows (tried:
 * released when some running CPU was inside one) raised no hazard's rate
 * (README, Widening race windows).
 */
import { availableParallelism } from 'node:os';
import type { Config } from '../config.ts';
import { PERCPU_HOLD, PERCPU_PENDING, percpuBase, type Views } from '../shm/layout.ts';

export type Stutter = {
  /** Called by the monitor loop (about every 50 ms). */
  tick(elapsedMs: number): void;
  /** Is this CPU held now (the watchdog does not count it as stalled)? */
  held(cpu: number): boolean;
  /** Release every CPU (at stop). */
  release(): void;
};

export function makeStutter(v: Views, cfg: Config): Stutter | undefined {
  if (cfg.stutterMs <= 0 || cfg.cpus < 2) return undefined;
  const { i32, L } = v;
  const n = cfg.cpus;
  let rng = (cfg.seed ^ 0x6a09e667) >>> 0 || 1;
  const rand = () => {
    rng ^= rng << 13;
    rng ^= rng >>> 17;
    rng ^= rng << 5;
    return rng >>> 0;
  };
  const cores = availableParallelism();
  const isHeld = new Uint8Array(n);
  let holding = false;
  let nextAt = cfg.stutterMs;
  const set = (cpu: number, hold: boolean) => {
    isHeld[cpu] = hold ? 1 : 0;
    const base = percpuBase(L, cpu);
    Atomics.store(i32, base + PERCPU_HOLD, hold ? 1 : 0);
    if (!hold) Atomics.notify(i32, base + PERCPU_PENDING); // a held CPU sleeps there
  };
  const release = () => {
    for (let c = 0; c < n; c++) if (isHeld[c]) set(c, false);
    holding = false;
  };
  return {
    tick(elapsedMs) {
      if (elapsedMs < nextAt) return;
      nextAt = elapsedMs + cfg.stutterMs;
      if (holding) {
        release();
        return;
      }
      // Keep as many CPUs running as there are cores (at least 2, at most
      // n - 1; with 2 CPUs, one), chosen at random; hold the rest.
      const running = n <= 2 ? 1 : Math.max(2, Math.min(n - 1, cores));
      const order = Array.from({ length: n }, (_, c) => c);
      for (let i = n - 1; i > 0; i--) {
        const j = rand() % (i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (let k = running; k < n; k++) set(order[k]!, true);
      holding = true;
    },
    held: (cpu) => isHeld[cpu] === 1,
    release,
  };
}
