/**
 * --guided (src/check/guided.ts): the arms' mixes, and the bandit steering
 * toward the arm that raises the target's near misses, fed synthetic counts
 * (no thread runs here).
 */
import { describe, expect, it } from 'vitest';
import { HAZARDS } from '../../src/check/coverage.ts';
import {
  armLabel,
  GUIDED_INTERVAL_MS,
  guidedMix,
  makeGuide,
  NR_ARMS,
} from '../../src/check/guided.ts';
import { MIX_DEFAULT, MIX_OPS, makeConfig } from '../../src/config.ts';
import { allocate, COUNTERS, type CounterName, CTRL, computeLayout } from '../../src/shm/layout.ts';

describe('guidedMix', () => {
  it('arm 0 is the mix as configured; arm k boosts the k-th operation only', () => {
    expect(guidedMix(MIX_DEFAULT, 0)).toEqual(MIX_DEFAULT);
    const k = MIX_OPS.indexOf('truncate') + 1;
    expect(armLabel(k)).toBe('boost truncate');
    const m = guidedMix(MIX_DEFAULT, k);
    expect(m.truncate).toBe(25); // at least a quarter of the total (8 x 1 is less)
    expect({ ...m, truncate: 1 }).toEqual(MIX_DEFAULT);
    expect(guidedMix(MIX_DEFAULT, MIX_OPS.indexOf('libc') + 1).libc).toBe(200);
  });
});

describe('the bandit', () => {
  /**
   * A machine whose double faults come only while arm `good` runs (10 per
   * interval); every other hazard has 5 per interval whatever the arm.
   */
  function play(target: string | undefined, good: number, intervals: number) {
    const cfg = makeConfig({ cpus: 2, pages: 256, files: 4, seed: 5, guided: true, target });
    const v = allocate(computeLayout(cfg));
    const counts = Object.fromEntries(COUNTERS.map((n) => [n, 0])) as Record<CounterName, number>;
    const g = makeGuide(cfg, () => counts);
    const arms: number[] = [];
    g.tick(v, 0);
    for (let i = 1; i <= intervals; i++) {
      const arm = v.i32[v.L.ctrl + CTRL.guided_arm]!;
      arms.push(arm);
      for (const h of Object.values(HAZARDS)) counts[h.counter] += 5;
      counts.nmDoubleFault += arm === good ? 10 : 0;
      g.tick(v, i * GUIDED_INTERVAL_MS);
    }
    return { arms, report: g.report() };
  }

  it('tries every arm, then mostly runs the one that raises the target', () => {
    const good = MIX_OPS.indexOf('libc') + 1;
    const { arms, report } = play('double-fault', good, 200);
    expect(new Set(arms.slice(0, NR_ARMS))).toEqual(
      new Set(Array.from({ length: NR_ARMS }, (_, a) => a)),
    );
    const later = arms.slice(NR_ARMS);
    const share = later.filter((a) => a === good).length / later.length;
    expect(share).toBeGreaterThan(0.7); // 1 - EPSILON, give or take the random picks
    expect(report.target).toBe('double-fault');
    expect(report.choices).toBe(200);
    expect(report.arms[good]!.intervals).toBeGreaterThan(140);
    const c = report.log.find((l) => l.arm === good && l.rate !== null)!;
    expect(c.rate).toBeCloseTo((15 * 1000) / GUIDED_INTERVAL_MS);
  });

  it('without --target it steers toward the rarest hazard', () => {
    const good = MIX_OPS.indexOf('burst') + 1;
    // every arm gives every hazard the same near misses but the good one, which adds double faults
    const { arms, report } = play(undefined, good, 200);
    expect(report.target).toBeNull();
    const later = arms.slice(NR_ARMS);
    expect(later.filter((a) => a === good).length / later.length).toBeGreaterThan(0.5);
  });
});
