/**
 * A hunt's kill time (mutants.ts, detection): the first violation's own time
 * stamp from the CPUs' release, not the monitor tick (50 ms) that saw it;
 * the tick under a controlled scheduler (logical stamps) or when the stamp
 * is not in [0, tick].
 */
import { describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/config.ts';
import type { RunReport } from '../../src/machine/machine.ts';
import { detection } from '../../src/machine/mutants.ts';

function report(atMs: number[], sched: 'os' | 'pct' = 'os'): RunReport {
  const config = makeConfig({ sched: { kind: sched, depth: 3, steps: 2000 } });
  return {
    verdict: 'FAILURE',
    config,
    cpusReleasedAt: 1_000_000,
    firstViolationMs: 50.2,
    durationMs: 60,
    violations: atMs.map((t) => ({ kind: 'free-in-window', atMs: 1_000_000 + t })),
  } as unknown as RunReport;
}

describe('detection', () => {
  it("takes the earliest violation's own time, under the tick that saw it", () => {
    expect(detection(report([30, 12.5]))).toEqual({ by: 'free-in-window', atMs: 12.5 });
  });
  it('takes the tick under a controlled scheduler, or for a stamp outside [0, tick]', () => {
    expect(detection(report([12.5], 'pct'))?.atMs).toBe(50.2);
    expect(detection(report([70]))?.atMs).toBe(50.2);
  });
});
