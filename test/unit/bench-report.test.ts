/**
 * The bench cannot report the impossible (issue 14): the report builder marks
 * a ratio or a row beyond its physical bound invalid, with a null ratio; and
 * a --quick run is timed by the same rules as a full one.
 */
import { describe, expect, it } from 'vitest';
import { type GuidedRun, guidedFigure } from '../../benchmarks/lib/guided.ts';
import {
  BOUNDS,
  buildReport,
  GOALS,
  impossible,
  type Measured,
  markdown,
  type RatioName,
  SPREAD,
  withinSpread,
} from '../../benchmarks/lib/report.ts';
import { ratesAfterWarmup } from '../../benchmarks/lib/workload.ts';
import { PLANS, WARMUP } from '../../benchmarks/params.ts';
import { schemaErrors } from '../helpers/schema.ts';

const NAMES = Object.keys(GOALS) as RatioName[];

function measured(over: Partial<Measured['ratios']>, cores = 2, quick = false): Measured {
  return {
    quick,
    startedAt: '2026-11-26T11:00:00.000Z',
    durationS: 1,
    machine: {
      cores,
      cpuModel: 'test',
      node: 'v20',
      v8: '11',
      platform: 'linux x64',
      kernel: '6',
      totalMemGiB: 4,
      git: 'abc',
    },
    load: null,
    native: { ok: false, reason: 'test' },
    ratios: {
      hotPathJsOverNative: 0.45,
      rendezvousJsOverNative: 1.1,
      lockstatOverhead: 0.3,
      lockstatContentionOverhead: 0.04,
      lockdepOverhead: 0.1,
      scaling2over1: 1.8,
      oversubscription8over4: 0.4,
      guidedRarestOverDefault: 12,
      ...over,
    },
    results: {},
    errors: {},
    rows: [],
  };
}

describe('bench report builder: physical bounds', () => {
  it('marks a 2-over-1 scaling of 2.61 on 2 cores invalid, with a null ratio and no verdict', () => {
    const r = buildReport(measured({ scaling2over1: 2.61 }));
    expect(r.ratios.scaling2over1).toBeNull();
    expect(r.goals.scaling2over1.met).toBeNull();
    expect(r.goals.scaling2over1.invalid).toMatch(/physical bound 2\.00/);
    expect(r.invalid.scaling2over1?.measured).toBe(2.61);
    // the others are untouched
    expect(r.ratios.hotPathJsOverNative).toBe(0.45);
    expect(r.goals.hotPathJsOverNative.met).toBe(false);
    expect(r.invalid.hotPathJsOverNative).toBeUndefined();
    const md = markdown(r);
    expect(md).toMatch(
      /\| scaling2over1 \| invalid \(measured 2\.61: [^|]*\| >= 1\.7 \| invalid \|/,
    );
    expect(schemaErrors('bench', JSON.parse(JSON.stringify(r)))).toBe('');
  });

  it('bounds scaling by the cores: 1.5 over 1 on one core is impossible, on two it is not', () => {
    expect(buildReport(measured({ scaling2over1: 1.5 }, 1)).ratios.scaling2over1).toBeNull();
    expect(buildReport(measured({ scaling2over1: 1.5 }, 2)).ratios.scaling2over1).toBe(1.5);
    // within the noise allowance of the bound: kept
    expect(buildReport(measured({ scaling2over1: 2.04 }, 2)).ratios.scaling2over1).toBe(2.04);
  });

  it('marks 8 CPUs over 4 above min(8/4, cores) invalid', () => {
    const r = buildReport(measured({ oversubscription8over4: 2.5 }, 2));
    expect(r.ratios.oversubscription8over4).toBeNull();
    expect(r.invalid.oversubscription8over4?.reason).toMatch(/8 CPUs over 4/);
    expect(
      buildReport(measured({ oversubscription8over4: 0.6 })).goals.oversubscription8over4,
    ).toEqual({
      goal: '>= 0.5',
      met: true,
    });
  });

  it('marks JS faster than C on a single-thread loop invalid, beyond noise only', () => {
    const r = buildReport(measured({ hotPathJsOverNative: 1.4 }));
    expect(r.ratios.hotPathJsOverNative).toBeNull();
    expect(r.goals.hotPathJsOverNative.met).toBeNull();
    expect(r.invalid.hotPathJsOverNative?.reason).toMatch(/single-thread/);
    expect(buildReport(measured({ hotPathJsOverNative: 1.05 })).ratios.hotPathJsOverNative).toBe(
      1.05,
    );
  });

  it('marks an impossible row invalid in the table, column by column', () => {
    const m = measured({});
    m.rows = [
      {
        name: 'per-CPU workload: 2 CPUs over 1',
        js: '2.61',
        c: '1.98',
        ratio: '',
        check: { bound: { kind: 'scaling', hi: 2, lo: 1 }, js: 2.61, c: 1.98 },
      },
      {
        name: 'Atomics.add, 1 thread',
        js: '90 M/s',
        c: '60 M/s',
        ratio: '1.50',
        check: { bound: { kind: 'jsOverC' }, ratio: 1.5 },
      },
      { name: 'unchecked', js: '1', c: '2', ratio: '0.50' },
    ];
    const r = buildReport(m);
    expect(r.rows[0]).toMatchObject({ js: 'invalid', c: '1.98' });
    expect(r.rows[0]!.invalid).toMatch(/^js: /);
    expect(r.rows[1]).toMatchObject({ ratio: 'invalid' });
    expect(r.rows[2]!.invalid).toBeUndefined();
    expect(markdown(r)).toMatch(
      /\| Atomics\.add, 1 thread \| 90 M\/s \| 60 M\/s \| invalid \| INVALID: ratio: JS 1\.50x/,
    );
    expect(schemaErrors('bench', JSON.parse(JSON.stringify(r)))).toBe('');
  });

  it("marks --guided's ratio over a default count of 0 invalid, not infinitely met", () => {
    const r = buildReport(measured({ guidedRarestOverDefault: Number.POSITIVE_INFINITY }));
    expect(r.ratios.guidedRarestOverDefault).toBeNull();
    expect(r.goals.guidedRarestOverDefault.met).toBeNull();
    expect(r.invalid.guidedRarestOverDefault?.reason).toMatch(/no near miss of their rarest/);
    expect(markdown(r)).toMatch(/\| guidedRarestOverDefault \| invalid \(measured Infinity: /);
    expect(schemaErrors('bench', JSON.parse(JSON.stringify(r)))).toBe(''); // Infinity is null there
    // the guided section's row carries that bound: the published schema takes it
    const m = measured({});
    m.rows = [
      {
        name: 'guided: the rarest hazard',
        js: '4.62/s (139) -> 27.44/s (826)',
        c: '',
        ratio: '5.94',
        check: { bound: { kind: 'rateOverCount' }, ratio: 5.94 },
      },
    ];
    const withRow = buildReport(m);
    expect(withRow.rows[0]!.invalid).toBeUndefined();
    expect(schemaErrors('bench', JSON.parse(JSON.stringify(withRow)))).toBe('');
    expect(
      buildReport(measured({ guidedRarestOverDefault: 6.5 })).goals.guidedRarestOverDefault,
    ).toEqual({
      goal: '>= 10',
      met: false,
    });
  });

  it('rejects non-finite figures, negative speeds, and overheads below -noise', () => {
    expect(impossible(Number.NaN, { kind: 'none' }, 2)).toMatch(/not a number/);
    expect(impossible(-1, { kind: 'jsOverC' }, 2)).toMatch(/negative/);
    expect(impossible(null, { kind: 'jsOverC' }, 2)).toBeNull();
    // instrumentation cannot speed a run up: -53% means the runs were not alike
    const r = buildReport(measured({ lockstatContentionOverhead: -0.53, lockdepOverhead: -0.05 }));
    expect(r.ratios.lockstatContentionOverhead).toBeNull();
    expect(r.invalid.lockstatContentionOverhead?.reason).toMatch(/faster/);
    expect(r.ratios.lockdepOverhead).toBe(-0.05); // within noise
    expect(r.goals.lockdepOverhead.met).toBe(true);
  });
});

describe('bench: --quick is timed like the full run', () => {
  it('plans differ only in how long and how often, never in warm-up', () => {
    expect(Object.keys(PLANS.quick).sort()).toEqual(Object.keys(PLANS.full).sort());
    expect(PLANS.quick.warmup).toBe(WARMUP);
    expect(PLANS.full.warmup).toBe(WARMUP);
    // no warm-up figure hides among the plan's own keys
    for (const k of Object.keys(PLANS.full)) if (k !== 'warmup') expect(k).not.toMatch(/warm/i);
    // the workload's warm-up leaves a window to count in both modes
    expect(PLANS.quick.wlMs).toBeGreaterThan(WARMUP.workloadMs * 2);
    expect(PLANS.quick.lsMs).toBeGreaterThan(WARMUP.workloadMs * 2);
  });

  it('times the paths with slow modes as long in quick as in full runs, only fewer times', () => {
    // smp_call_function latencies, the standard workload (oversubscription8over4),
    // and the lockstat and lockdep turns: a shorter run is not a smaller sample
    for (const k of ['rvCalls', 'wlMs', 'lsMs', 'lsSliceMs', 'percpuMs'] as const)
      expect(PLANS.quick[k]).toBe(PLANS.full[k]);
    for (const k of ['rvRounds', 'wlRuns', 'lsRuns'] as const) {
      expect(PLANS.quick[k]).toBeGreaterThanOrEqual(2);
      expect(PLANS.quick[k]).toBeLessThanOrEqual(PLANS.full[k]);
    }
  });

  it('the report builder gives the same ratios, goals and verdicts for quick and full', () => {
    for (const over of [{}, { scaling2over1: 2.61 }, { hotPathJsOverNative: 1.4 }]) {
      const q = buildReport(measured(over, 2, true));
      const f = buildReport(measured(over, 2, false));
      expect(q.ratios).toEqual(f.ratios);
      expect(q.goals).toEqual(f.goals);
      expect(q.invalid).toEqual(f.invalid);
    }
  });

  it('every ratio has a bound, a goal and a stated spread', () => {
    for (const k of NAMES) {
      expect(BOUNDS[k]).toBeDefined();
      expect(SPREAD[k]).toBeDefined();
    }
    expect(withinSpread('scaling2over1', 1.85, 1.95)).toBe(true);
    expect(withinSpread('scaling2over1', 2.61, 1.95)).toBe(false);
    expect(withinSpread('lockstatOverhead', 0.12, 0.09)).toBe(true);
    expect(withinSpread('lockstatOverhead', 0.2, 0.09)).toBe(false);
    expect(withinSpread('lockstatOverhead', 0.45, 0.09)).toBe(false);
  });
});

describe('bench workload: rates after the warm-up window', () => {
  const totals = (ops: number, faults: number) =>
    ({
      ops,
      discardFaults: faults,
      refsRefused: 1,
      pagesFreedFromList: 2,
      rendezvous: 3,
    }) as unknown as Parameters<typeof ratesAfterWarmup>[0][number]['totals'];

  it('counts from the first sample at or after the warm-up to the last', () => {
    const r = ratesAfterWarmup(
      [
        { ms: 50, totals: totals(10, 0) },
        { ms: 600, totals: totals(1000, 100) },
        { ms: 1100, totals: totals(3000, 600) },
      ],
      500,
    );
    expect(r.opsPerSec).toBeCloseTo(4000);
    expect(r.eventsPerSec.discardFaults).toBeCloseTo(1000);
    expect(r.eventsPerSec.rendezvous).toBe(0);
    expect(r.protocolEventsPerSec).toBeCloseTo(1000);
    expect([r.fromMs, r.toMs]).toEqual([600, 1100]);
  });

  it('counts the process CPU time over the same window', () => {
    const r = ratesAfterWarmup(
      [
        { ms: 50, totals: totals(10, 0), cpuUs: 40_000 },
        { ms: 600, totals: totals(1000, 100), cpuUs: 900_000 },
        { ms: 1100, totals: totals(3000, 600), cpuUs: 1_900_000 },
      ],
      500,
    );
    expect(r.opsPerCpuSec).toBeCloseTo(2000); // 2000 ops over 1 s of CPU
    expect(
      ratesAfterWarmup(
        [
          { ms: 600, totals: totals(1, 0) },
          { ms: 900, totals: totals(9, 0) },
        ],
        500,
      ).opsPerCpuSec,
    ).toBeNull();
  });

  it('refuses a run with no window after the warm-up', () => {
    expect(() => ratesAfterWarmup([{ ms: 100, totals: totals(1, 0) }], 500)).toThrow(/warm-up/);
  });
});

describe('bench guided: the rarest hazard of the default runs, pooled over the seeds', () => {
  const run = (counts: Record<string, number>, ops = 1000): GuidedRun => ({
    coverage: Object.entries(counts).map(([hazard, nearMisses]) => ({
      hazard: hazard as never,
      nearMisses,
      perSecond: nearMisses / 10,
      rare: false,
    })),
    durationMs: 10_000,
    ops,
    faults: ops / 100,
    verdict: 'SUCCESS',
  });

  it('picks the hazard with the fewest near misses over the default runs, and rates it in both', () => {
    const f = guidedFigure([
      { seed: 1, plain: run({ a: 50, b: 0, c: 3 }), guided: run({ a: 60, b: 9, c: 40 }, 500) },
      { seed: 2, plain: run({ a: 40, b: 2, c: 1 }), guided: run({ a: 70, b: 21, c: 30 }, 500) },
    ]);
    expect(f.hazard).toBe('b'); // 2 in all (c has 4), although seed 2's rarest is c
    expect([f.plainNearMisses, f.guidedNearMisses]).toEqual([2, 30]);
    expect(f.plainPerSec).toBeCloseTo(0.1);
    expect(f.guidedPerSec).toBeCloseTo(1.5);
    expect(f.ratio).toBeCloseTo(15);
    expect(f.perSeed).toEqual([
      { seed: 1, plain: 0, guided: 9 },
      { seed: 2, plain: 2, guided: 21 },
    ]);
    expect([f.plainOpsPerSec, f.guidedOpsPerSec]).toEqual([100, 50]);
  });

  it('a rarest hazard the default runs never met gives an infinite ratio, which the report voids', () => {
    const f = guidedFigure([{ seed: 1, plain: run({ a: 5, b: 0 }), guided: run({ a: 5, b: 7 }) }]);
    expect(f.ratio).toBe(Number.POSITIVE_INFINITY);
    const r = buildReport(measured({ guidedRarestOverDefault: f.ratio }));
    expect(r.ratios.guidedRarestOverDefault).toBeNull();
  });
});
