/**
 * A controlled run (--sched random|pct): a sequence of short schedules, each
 * a machine started from the same booted buffer with the schedule's own seed
 * (derived from the run's seed and the schedule's index), until one fails
 * (a violation, a failed audit, a stall) or the --duration budget is spent.
 * Each schedule is a pure function of its config (sched.ts), so the failing
 * schedule's report carries everything `hvaemu replay` needs: its config,
 * seed included.
 *
 * The schedules share one crew of threads (machine.ts): the guest is booted
 * once and the booted buffer copied; each schedule puts the copy back into
 * the same SharedArrayBuffer and sets every thread up again (thread.ts
 * resets each thread's own JS state), so that a schedule runs exactly as it
 * would on a new machine (test/concurrency/sched-reuse.test.ts) without the
 * boot and thread start a new machine costs. A schedule that stalls or
 * crashes ends its crew (every thread terminated); the run ends there too.
 */
import type { Config } from '../config.ts';
import {
  type Crew,
  closeCrew,
  openCrew,
  type RunOptions,
  type RunReport,
  runOnCrew,
} from './machine.ts';

/** The seed of schedule `i` of a run seeded `seed` (schedule 0 runs the run's own seed). */
export function scheduleSeed(seed: number, i: number): number {
  if (i === 0) return seed >>> 0;
  let x = (seed ^ Math.imul(i, 0x9e3779b9)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

export type ControlledRun = {
  /** the last schedule's report: the failing one, if one failed */
  report: RunReport;
  /** schedules run (the failing one included) */
  schedules: number;
  /** decisions taken over all schedules */
  steps: number;
  wallMs: number;
};

export type ControlledOptions = RunOptions & {
  /** Schedules at most (besides the --duration budget). */
  maxSchedules?: number;
  onSchedule?: (i: number, r: RunReport) => void;
  /**
   * Run each schedule on a new machine (boot and threads) instead of the
   * run's one crew: slower, the same results (the reuse test compares them).
   */
  fresh?: boolean;
  /**
   * A schedule did not succeed: go on with the next one? (default: no, the
   * run ends with it). A soak records it and goes on; the bridge goes on
   * until the kind it looks for.
   */
  keepGoing?: (r: RunReport) => boolean;
};

export async function runSchedules(
  cfg: Config,
  opts: ControlledOptions = {},
): Promise<ControlledRun> {
  const t0 = performance.now();
  const max = opts.maxSchedules ?? Number.POSITIVE_INFINITY;
  let steps = 0;
  let report: RunReport | undefined;
  let i = 0;
  const {
    onProgress: _p,
    maxSchedules: _m,
    onSchedule: _o,
    fresh,
    keepGoing,
    ...machineOpts
  } = opts;
  let crew: Crew | undefined;
  try {
    while (i < max) {
      if (!crew || crew.closed) crew = await openCrew(cfg, machineOpts, !fresh);
      const r = await runOnCrew(
        crew,
        { ...cfg, seed: scheduleSeed(cfg.seed, i) },
        machineOpts,
        !fresh,
      );
      i++;
      report = r;
      steps += r.sched?.stepsRun ?? 0;
      if (r.sched) r.sched.schedule = { index: i - 1, runSeed: cfg.seed };
      opts.onSchedule?.(i - 1, r);
      if (r.verdict !== 'SUCCESS' && !keepGoing?.(r)) break;
      if (opts.signal?.aborted) break;
      if (performance.now() - t0 >= cfg.durationMs) break;
    }
  } finally {
    if (crew) await closeCrew(crew);
  }
  return { report: report!, schedules: i, steps, wallMs: performance.now() - t0 };
}
