/**
 * The standard workload (what `hvaemu run` does) as the bench times it: ops/s
 * and protocol events per second counted after a warm-up window
 * (WARMUP.workloadMs, the same in quick and full runs), from the machine's own
 * progress samples, so that the JIT's first tiers and the threads' start do
 * not weigh more in a short run than in a long one.
 */
import type { Config } from '../../src/config.ts';
import { type Progress, type RunReport, runMachine } from '../../src/machine/machine.ts';

/**
 * The protocol's events, as issue 14 names them: discard faults, refused
 * references, parked pages freed from the discard list, rendezvous
 * (smp_call_function). Their sum per second is `protocolEventsPerSec`.
 */
export const PROTOCOL_EVENTS = [
  'discardFaults',
  'refsRefused',
  'pagesFreedFromList',
  'rendezvous',
] as const;
export type ProtocolEvent = (typeof PROTOCOL_EVENTS)[number];

export type WorkloadSample = {
  opsPerSec: number;
  protocolEventsPerSec: number;
  eventsPerSec: Record<ProtocolEvent, number>;
  /** the window the rates are counted over (ms after the CPUs started) */
  fromMs: number;
  toMs: number;
  verdict: string;
  /**
   * ops per second of CPU used by the whole process (every thread: the
   * machine's, the host, the main thread, V8's), over the same window as
   * opsPerSec: what the code does with the cores it got. On a quiet 2-core
   * machine the CPUs of a 2-CPU run own the cores and both rates tell the
   * same; on a loaded one ops/s also measures how much of the cores the OS
   * gave the run, and this one does not (and 8 threads get a larger share
   * than 4, which inflates the wall-clock 8-over-4 ratio and not this one).
   * null when the samples carry no CPU time.
   */
  opsPerCpuSec: number | null;
};

/** A progress sample: `cpuUs`, the process's CPU time (user + system, us) when it was taken. */
type Point = { ms: number; totals: Progress['totals']; cpuUs?: number };

/**
 * Rates between the first sample at or after `warmupMs` and the last one.
 * Throws when the run left no window after the warm-up (a duration too short).
 */
export function ratesAfterWarmup(
  points: readonly Point[],
  warmupMs: number,
): Omit<WorkloadSample, 'verdict'> {
  const a = points.find((p) => p.ms >= warmupMs);
  const b = points[points.length - 1];
  if (!a || !b || b.ms - a.ms <= 0) {
    throw new Error(
      `workload: no progress samples after the ${warmupMs} ms warm-up (run longer than the warm-up)`,
    );
  }
  const dt = (b.ms - a.ms) / 1000;
  const rate = (k: keyof Progress['totals']) => (b.totals[k] - a.totals[k]) / dt;
  const eventsPerSec = Object.fromEntries(PROTOCOL_EVENTS.map((k) => [k, rate(k)])) as Record<
    ProtocolEvent,
    number
  >;
  const cpuS =
    a.cpuUs !== undefined && b.cpuUs !== undefined ? (b.cpuUs - a.cpuUs) / 1e6 : Number.NaN;
  return {
    opsPerSec: rate('ops'),
    protocolEventsPerSec: PROTOCOL_EVENTS.reduce((s, k) => s + eventsPerSec[k], 0),
    eventsPerSec,
    fromMs: a.ms,
    toMs: b.ms,
    opsPerCpuSec: cpuS > 0 ? (b.totals.ops - a.totals.ops) / cpuS : null,
  };
}

/** One run of the machine, its rates counted after `warmupMs`, and its report. */
export async function runWorkload(
  cfg: Config,
  warmupMs: number,
): Promise<{ sample: WorkloadSample; report: RunReport }> {
  const points: Point[] = [];
  const report = await runMachine(cfg, {
    progressIntervalMs: 0, // every monitor tick (about 50 ms)
    onProgress: (p) => {
      const u = process.cpuUsage();
      points.push({ ms: p.elapsedMs, totals: p.totals, cpuUs: u.user + u.system });
    },
  });
  return { sample: { ...ratesAfterWarmup(points, warmupMs), verdict: report.verdict }, report };
}

/** One run of the machine, its rates counted after `warmupMs`. */
export async function measureWorkload(cfg: Config, warmupMs: number): Promise<WorkloadSample> {
  return (await runWorkload(cfg, warmupMs)).sample;
}
