import { describe, expect, it } from 'vitest';
import {
  judgeTrend,
  LEAK_MB_PER_HOUR,
  leastSquares,
  MIN_WINDOW_MS,
  WARMUP_MIN_MS,
} from '../../src/soak/leak.ts';

const MB = 1024 * 1024;
const MIN = 60_000;

/** One sample a minute for `minutes`, bytes from `f(minute)`. */
const series = (minutes: number, f: (m: number) => number): Array<[number, number]> =>
  Array.from({ length: minutes + 1 }, (_, m) => [m * MIN, f(m)]);

describe('leastSquares', () => {
  it('recovers slope and intercept of an exact line, r2 1', () => {
    const fit = leastSquares([
      [0, 3],
      [1, 5],
      [2, 7],
      [3, 9],
    ]);
    expect(fit.slope).toBeCloseTo(2, 12);
    expect(fit.intercept).toBeCloseTo(3, 12);
    expect(fit.r2).toBeCloseTo(1, 12);
  });

  it('gives slope 0 and r2 0 for a constant series', () => {
    const fit = leastSquares([
      [0, 4],
      [1, 4],
      [2, 4],
    ]);
    expect(fit).toMatchObject({ slope: 0, intercept: 4, r2: 0 });
  });

  it('does not fit fewer than two points', () => {
    expect(leastSquares([[5, 1]])).toMatchObject({ slope: 0, n: 1 });
  });
});

describe('judgeTrend', () => {
  it('flags a steady climb of 30 MB/h over an hour as a leak', () => {
    const j = judgeTrend(series(60, (m) => 200 * MB + m * 0.5 * MB));
    expect(j.judged).toBe(true);
    expect(j.leak).toBe(true);
    expect(j.slopeMBPerHour).toBeCloseTo(30, 5);
    expect(j.why).toMatch(/suspected leak/);
  });

  it('calls a flat series with GC saw-teeth flat', () => {
    const j = judgeTrend(series(60, (m) => 200 * MB + (m % 5) * 8 * MB));
    expect(j.judged).toBe(true);
    expect(j.leak).toBe(false);
    expect(Math.abs(j.slopeMBPerHour!)).toBeLessThan(LEAK_MB_PER_HOUR);
  });

  it('does not flag a steep but noisy series whose r2 is small', () => {
    // a slope of 24 MB/h buried in +-80 MB of alternating noise
    const j = judgeTrend(series(120, (m) => 200 * MB + m * 0.4 * MB + (m % 2 ? 80 : -80) * MB));
    expect(j.slopeMBPerHour!).toBeGreaterThan(LEAK_MB_PER_HOUR);
    expect(j.r2!).toBeLessThan(0.5);
    expect(j.leak).toBe(false);
  });

  it('ignores the warm-up: a fast start then flat is not a leak', () => {
    const j = judgeTrend(series(60, (m) => (m < 1 ? 50 * MB : 300 * MB)));
    expect(j.warmupMs).toBeGreaterThanOrEqual(WARMUP_MIN_MS);
    expect(j.leak).toBe(false);
    expect(j.slopeMBPerHour).toBe(0);
  });

  it('refuses to judge a run shorter than the minimum window', () => {
    const short = Array.from({ length: 30 }, (_, i) => [i * 5000, i * 10 * MB] as [number, number]);
    const j = judgeTrend(short);
    expect(j.judged).toBe(false);
    expect(j.leak).toBe(false);
    expect(j.why).toMatch(/too short/);
    const longEnough = series(WARMUP_MIN_MS / MIN + MIN_WINDOW_MS / MIN + 4, (m) => m * MB);
    expect(judgeTrend(longEnough).judged).toBe(true);
  });
});
