/**
 * --guided (src/check/guided.ts): the arms' mixes, and the bandit steering
 * toward the arm that raises the target's near misses, fed synthetic counts
 * (no thread runs here).
 */
import { describe, expect, it } from 'vitest';
import { HAZARDS } from '../../src/check/coverage.ts';
import {
  armLabel,
  armOf,
  GUIDED_INTERVAL_MS,
  guidedMix,
  guidedStretch,
  makeGuide,
  NR_MIX,
  NR_STRETCH,
} from '../../src/check/guided.ts';
import { MIX_DEFAULT, MIX_OPS, makeConfig } from '../../src/config.ts';
import { allocate, COUNTERS, type CounterName, CTRL, computeLayout } from '../../src/shm/layout.ts';

describe('the arms', () => {
  it('mix option 0 is the mix as configured; option k boosts the k-th operation only', () => {
    expect(guidedMix(MIX_DEFAULT, 0)).toEqual(MIX_DEFAULT);
    const k = MIX_OPS.indexOf('truncate') + 1;
    const m = guidedMix(MIX_DEFAULT, k);
    expect(m.truncate).toBe(25); // at least a quarter of the total (8 x 1 is less)
    expect({ ...m, truncate: 1 }).toEqual(MIX_DEFAULT);
    expect(guidedMix(MIX_DEFAULT, MIX_OPS.indexOf('libc') + 1).libc).toBe(200);
  });
  it('an arm is a mix option and a stretch option', () => {
    const k = MIX_OPS.indexOf('truncate') + 1;
    expect(armLabel(armOf(k, 0))).toBe('boost truncate');
    expect(guidedStretch(armOf(k, 0))).toEqual({ ms: 0, every: 0 });
    const arm = armOf(k, 1);
    expect(guidedMix(MIX_DEFAULT, arm).truncate).toBe(25);
    expect(guidedStretch(arm)).toEqual({ ms: 2, every: 1 });
    expect(armLabel(arm)).toBe('boost truncate, stretch every fault window by 2000us');
    expect(guidedMix(MIX_DEFAULT, armOf(0, 2))).toEqual(MIX_DEFAULT);
  });
});

describe('the bandit', () => {
  /**
   * A machine whose double faults come only while mix option `good` runs
   * (10 per interval), whatever the stretch; every other hazard has 5 per
   * interval whatever the arm.
   */
  function play(target: string | null, good: number, intervals: number) {
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
      counts.nmDoubleFault += arm % NR_MIX === good ? 10 : 0;
      g.tick(v, i * GUIDED_INTERVAL_MS);
    }
    return { arms, report: g.report() };
  }

  it('starts as configured, tries every stretch (the widest first) with the mix as configured, then every mix, then mostly runs the one that raises the target', () => {
    const good = MIX_OPS.indexOf('libc') + 1;
    const { arms, report } = play('double-fault', good, 200);
    expect(arms[0]).toBe(0);
    expect(guidedStretch(arms[1]!)).toEqual({ ms: 2, every: 1 });
    const first = arms.slice(0, NR_STRETCH);
    expect(first.map((a) => a % NR_MIX)).toEqual(first.map(() => 0)); // the mix as configured
    expect(new Set(first.map((a) => Math.floor(a / NR_MIX))).size).toBe(NR_STRETCH);
    const explored = NR_STRETCH + NR_MIX - 1;
    const mixes = arms.map((a) => a % NR_MIX);
    expect(new Set(mixes.slice(0, explored))).toEqual(
      new Set(Array.from({ length: NR_MIX }, (_, a) => a)),
    );
    const later = mixes.slice(explored);
    expect(later.filter((m) => m === good).length / later.length).toBeGreaterThan(0.7); // 1 - EPSILON, about
    expect(report.target).toBe('double-fault');
    expect(report.choices).toBe(200);
    expect(report.arms).toHaveLength(NR_MIX + NR_STRETCH);
    expect(report.arms[good]).toMatchObject({ label: 'boost libc' });
    expect(report.arms[good]!.intervals).toBeGreaterThan(140);
    const c = report.log.find((l) => l.arm % NR_MIX === good && l.rate !== null)!;
    expect(c.rate).toBeCloseTo((15 * 1000) / GUIDED_INTERVAL_MS);
  });

  it('without --target it steers toward the rarest hazard', () => {
    const good = MIX_OPS.indexOf('burst') + 1;
    // every arm gives every hazard the same near misses but the good one, which adds double faults
    const { arms, report } = play(null, good, 200);
    expect(report.target).toBeNull();
    const later = arms.slice(NR_STRETCH + NR_MIX).map((a) => a % NR_MIX);
    expect(later.filter((m) => m === good).length / later.length).toBeGreaterThan(0.5);
  });
});
