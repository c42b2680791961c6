/**
 * What the controlled-scheduler tests share (sched.test.ts, replay.test.ts,
 * soak-sched.test.ts): a report as its JSON file has it, and failing
 * schedules searched for (not fixed seeds: any change to the kernel or the
 * workload moves a given seed's interleaving).
 */
import { expect } from 'vitest';
import { provenance, type RunMeta, runJson } from '../../src/cli/json.ts';
import { type ConfigInput, makeConfig } from '../../src/config.ts';
import { runSchedules } from '../../src/machine/controlled.ts';
import type { RunReport } from '../../src/machine/machine.ts';

/**
 * call-with-irqs-off under pct:3 on a tiny guest: smp_call_function's
 * WARN_ON(irqs_disabled()) is met within a schedule or two of 3000 steps.
 */
export const PCT_MUTANT = {
  cpus: 2,
  pages: 256,
  files: 16,
  seed: 1,
  mutant: 'call-with-irqs-off',
  sched: { kind: 'pct', depth: 3, steps: 3000 },
} as const satisfies Partial<ConfigInput>;

let meta: Promise<RunMeta> | undefined;
/** The run report as `--json` writes it (provenance of this checkout, times at 0). */
export async function asJson(r: RunReport): Promise<ReturnType<typeof JSON.parse>> {
  meta ??= provenance([]).then((p) => ({
    ...p,
    startedAt: new Date(0),
    endedAt: new Date(0),
    exitCode: 1,
    signal: null,
  }));
  return JSON.parse(JSON.stringify(runJson(r, await meta)));
}

/** All of a violation list, as JSON has it (what replay must give back). */
export const whole = (vs: unknown) => JSON.parse(JSON.stringify(vs));

/** The first failing schedule of a controlled run of at most `max` schedules. */
export async function failingSchedule(over: Partial<ConfigInput>, max = 20): Promise<RunReport> {
  const run = await runSchedules(makeConfig({ durationMs: 3_600_000, ...over }), {
    maxSchedules: max,
  });
  expect(run.report.verdict, `${run.schedules} schedules`).toBe('FAILURE');
  return run.report;
}
