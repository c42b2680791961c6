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
  guidedPressure,
  guidedStretch,
  makeGuide,
  NR_MIX,
  NR_PRESSURE,
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
    expect(guidedPressure(arm)).toBe(1);
  });
  it('and a host pressure option: a multiple of the configured discard rate', () => {
    const k = MIX_OPS.indexOf('burst') + 1;
    const arm = armOf(k, 4, 2);
    expect(guidedPressure(arm)).toBe(20);
    expect(guidedPressure(armOf(0, 0, 1))).toBe(4);
    expect(guidedPressure(0)).toBe(1);
    expect(guidedStretch(arm)).toEqual({ ms: 0.2, every: 2 });
    expect(guidedMix(MIX_DEFAULT, arm).burst).toBe(25);
    expect(armLabel(arm)).toBe(
      'boost burst, stretch 1 fault window in 2 by 200us, host discards x20',
    );
    // every arm is one word, every triple its own arm
    const all = new Set<number>();
    for (let m = 0; m < NR_MIX; m++)
      for (let st = 0; st < NR_STRETCH; st++)
        for (let p = 0; p < NR_PRESSURE; p++) all.add(armOf(m, st, p));
    expect(all.size).toBe(NR_MIX * NR_STRETCH * NR_PRESSURE);
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

  it('starts as configured, tries every stretch (the widest first) with the mix as configured, then every host pressure, then every mix, then mostly runs the one that raises the target', () => {
    const good = MIX_OPS.indexOf('libc') + 1;
    const { arms, report } = play('double-fault', good, 200);
    expect(arms[0]).toBe(0);
    expect(guidedStretch(arms[1]!)).toEqual({ ms: 2, every: 1 });
    const first = arms.slice(0, NR_STRETCH);
    expect(first.map((a) => a % NR_MIX)).toEqual(first.map(() => 0)); // the mix as configured
    expect(new Set(first.map((a) => Math.floor(a / NR_MIX) % NR_STRETCH)).size).toBe(NR_STRETCH);
    expect(first.map(guidedPressure)).toEqual(first.map(() => 1)); // the host as configured
    const pressures = arms.slice(NR_STRETCH, NR_STRETCH + NR_PRESSURE - 1);
    expect(pressures.map((a) => a % NR_MIX)).toEqual(pressures.map(() => 0));
    expect(new Set(pressures.map(guidedPressure))).toEqual(new Set([4, 20]));
    const explored = NR_STRETCH + NR_PRESSURE - 1 + NR_MIX - 1;
    const mixes = arms.map((a) => a % NR_MIX);
    expect(new Set(mixes.slice(0, explored))).toEqual(
      new Set(Array.from({ length: NR_MIX }, (_, a) => a)),
    );
    const later = mixes.slice(explored);
    expect(later.filter((m) => m === good).length / later.length).toBeGreaterThan(0.7); // 1 - EPSILON, about
    expect(report.target).toBe('double-fault');
    expect(report.choices).toBe(200);
    expect(report.arms).toHaveLength(NR_MIX + NR_STRETCH + NR_PRESSURE);
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
    const later = arms.slice(NR_STRETCH + NR_PRESSURE + NR_MIX).map((a) => a % NR_MIX);
    expect(later.filter((m) => m === good).length / later.length).toBeGreaterThan(0.5);
  });
});
