/**
 * A controlled run's schedules share one crew of threads (controlled.ts,
 * machine.ts): the booted buffer is put back and every thread set up again
 * for each schedule. Reused must equal fresh: the same schedules run each on
 * a new machine give the same decisions (hash, log), the same counters, the
 * same violations and audit, exactly. A crash or a stall in a later schedule
 * ends the run with every thread gone.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Config, makeConfig } from '../../src/config.ts';
import { runSchedules } from '../../src/machine/controlled.ts';
import type { RunReport } from '../../src/machine/machine.ts';
import { CRASH_CPU, CRASH_MESSAGE, REUSE_FAULT_MACHINE } from '../helpers/crash.ts';
import { threadsBaseline, threadsSettled } from '../helpers/workers.ts';

const CRASH_WORKER = fileURLToPath(new URL('../workers/reuse-crash-cpu.mjs', import.meta.url));
const HANG_WORKER = fileURLToPath(new URL('../workers/reuse-hang-cpu.mjs', import.meta.url));

let threads0 = 0;
beforeAll(async () => {
  threads0 = await threadsBaseline();
});
afterEach(async () => {
  expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
});

/**
 * Everything of a schedule's report that is a function of (seed, schedule,
 * config): all but the wall-clock readings (durations, the irqs-off and
 * rendezvous-wait times, the latency histograms, process figures, near
 * misses per second).
 */
const WALL_COUNTERS = ['irqsOffMaxUs', 'rendezvousWaitUs'] as const;
function logical(r: RunReport) {
  const counters = (c: Record<string, number>) => {
    const o = { ...c };
    for (const k of WALL_COUNTERS) delete o[k];
    return o;
  };
  return {
    seed: r.config.seed,
    verdict: r.verdict,
    endReason: r.endReason,
    sched: r.sched,
    totals: counters(r.totals),
    cpus: r.cpus.map(counters),
    coverage: r.coverage.map((c) => [c.hazard, c.nearMisses]),
    violations: JSON.parse(JSON.stringify(r.violations)),
    violationsTotal: r.violationsTotal,
    audit: r.audit,
    lockdep: r.lockdep,
    locks: r.locks.map((l) => [l.name, l.acquisitions, l.contentions]),
  };
}

async function schedules(cfg: Config, n: number, fresh: boolean) {
  const out: ReturnType<typeof logical>[] = [];
  const run = await runSchedules(cfg, {
    maxSchedules: n,
    fresh,
    onSchedule: (_i, r) => out.push(logical(r)),
  });
  return { run, out };
}

describe('controlled schedules on reused threads', () => {
  it('pct:3, 3 CPUs: six schedules reused equal the same six each on a new machine', async () => {
    const cfg = makeConfig({
      cpus: 3,
      pages: 256,
      files: 16,
      seed: 11,
      durationMs: 600_000,
      sched: { kind: 'pct', depth: 3, steps: 3000 },
    });
    const reused = await schedules(cfg, 6, false);
    const fresh = await schedules(cfg, 6, true);
    expect(reused.run.schedules).toBe(6);
    expect(reused.out.map((s) => s.verdict)).toEqual(Array(6).fill('SUCCESS'));
    // the schedules differ from each other (each its own seed): equality below is not vacuous
    expect(new Set(reused.out.map((s) => s.sched?.hash)).size).toBe(6);
    expect(reused.out.every((s) => (s.totals.ops ?? 0) > 0)).toBe(true);
    expect(reused.out).toEqual(fresh.out);
    expect(reused.run.steps).toBe(fresh.run.steps);
  }, 180_000);

  it('pct:3, 2 CPUs, a mutant: the schedules up to its violation, in a later schedule, are the same reused and fresh', async () => {
    // searched for (a kernel change moves a given seed's interleaving): a run whose
    // violation is found in a later schedule, so that reused threads find it
    const cfgOf = (seed: number) =>
      makeConfig({
        cpus: 2,
        pages: 256,
        files: 16,
        seed,
        durationMs: 600_000,
        mutant: 'no-clear-before-free',
        sched: { kind: 'pct', depth: 3, steps: 1500 },
      });
    let seed = 1;
    let reused = await schedules(cfgOf(seed), 8, false);
    while (!(reused.out.length > 1 && reused.run.report.verdict === 'FAILURE') && seed < 16) {
      reused = await schedules(cfgOf(++seed), 8, false);
    }
    expect(reused.out.length, `seed ${seed}`).toBeGreaterThan(1);
    expect(reused.run.report.verdict).toBe('FAILURE');
    expect(reused.out.at(-1)?.violations.length).toBeGreaterThan(0);
    const fresh = await schedules(cfgOf(seed), 8, true);
    expect(reused.out).toEqual(fresh.out);
  }, 300_000);

  /** 2 CPUs, random: the faulty entry's CPU_CRASH fails in the third schedule. */
  const faulty = (over: Partial<Config> = {}) =>
    makeConfig({
      cpus: 2,
      pages: 256,
      files: 16,
      seed: 5,
      durationMs: 600_000,
      ...over,
      sched: { kind: 'random', depth: 3, steps: 3000 },
    });

  it('a CPU that throws in the third schedule: ERROR there, the run over, every thread gone', async () => {
    const run = await runSchedules(faulty(), { maxSchedules: 6, cpuWorker: CRASH_WORKER });
    expect(run.schedules).toBe(REUSE_FAULT_MACHINE);
    expect(run.report.verdict).toBe('ERROR');
    expect(run.report.error?.cpu).toBe(CRASH_CPU);
    expect(run.report.error?.message).toContain(CRASH_MESSAGE);
  }, 120_000);

  it('a CPU stuck with interrupts off in the third schedule: STALL there, every thread gone', async () => {
    const cfg = faulty({ stallTimeoutMs: 1000 });
    const run = await runSchedules(cfg, { maxSchedules: 6, cpuWorker: HANG_WORKER });
    expect(run.schedules).toBe(REUSE_FAULT_MACHINE);
    expect(run.report.verdict).toBe('STALL');
    expect(run.report.stall?.cpus[CRASH_CPU]?.irqsEnabled).toBe(false);
  }, 120_000);
});
