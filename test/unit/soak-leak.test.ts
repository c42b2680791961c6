import { describe, expect, it } from 'vitest';
import {
  judgeMemory,
  judgeTrend,
  LEAK_MB_PER_HOUR,
  leastSquares,
  MIN_WINDOW_MS,
  makeSeriesStore,
  PLATEAU_MIN_MS,
  WARMUP_MIN_MS,
} from '../../src/soak/leak.ts';
import { memorySeries } from '../../src/soak/memstat.ts';

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

describe('judgeTrend: growth that stops', () => {
  // The allocator's way: 2 MB a minute for 35 minutes, then level (with a
  // GC saw-tooth of 3 MB) for the 25 minutes after.
  const plateau = (m: number) => 200 * MB + Math.min(m, 35) * 2 * MB + (m % 3) * MB;

  it('calls growth that levels off a plateau, not a leak, and says where it stopped', () => {
    const j = judgeTrend(series(60, plateau));
    // the whole window alone would say leak: steep and steady
    expect(j.slopeMBPerHour!).toBeGreaterThan(LEAK_MB_PER_HOUR);
    expect(j.r2!).toBeGreaterThan(0.5);
    expect(j.leak).toBe(false);
    expect(j.judged).toBe(true);
    expect(j.plateau).toBeDefined();
    expect(j.plateau!.sinceMs).toBeGreaterThanOrEqual(35 * MIN);
    expect(Math.abs(j.plateau!.slopeMBPerHour)).toBeLessThan(LEAK_MB_PER_HOUR);
    expect(j.why).toMatch(/^plateau, no leak: grew [\d.]+ MB/);
  });

  it('still calls a leak that keeps growing in steps (one step inside the flat-looking tail)', () => {
    // 30 MB every 20 minutes: flat between steps, but the tail holds a step
    const j = judgeTrend(series(60, (m) => 200 * MB + Math.floor(m / 20) * 30 * MB));
    expect(j.plateau).toBeUndefined();
    expect(j.leak).toBe(true);
  });

  it('does not find a plateau in a steady climb', () => {
    const j = judgeTrend(series(60, (m) => 200 * MB + m * MB));
    expect(j.leak).toBe(true);
    expect(j.plateau).toBeUndefined();
  });

  it('needs a flat tail of PLATEAU_MIN_MS: a short run that levels off is still suspected', () => {
    // 16 minutes: warm-up 4 min, window 12 min, tail 6 min < 10 min
    expect(PLATEAU_MIN_MS).toBe(10 * MIN);
    const j = judgeTrend(series(16, (m) => 200 * MB + Math.min(m, 9) * 3 * MB));
    expect(j.judged).toBe(true);
    expect(j.plateau).toBeUndefined();
    expect(j.leak).toBe(true);
  });
});

describe('judgeMemory: every series, named', () => {
  const threads = (m: number, hostGrows: boolean) =>
    ['cpu0', 'cpu1', 'host'].map((thread) => ({
      thread,
      heapUsed: 15 * MB + (thread === 'host' && hostGrows ? m * MB : (m % 4) * MB),
      heapTotal: 22 * MB,
      external: 3 * MB,
      arrayBuffers: 0,
      malloced: MB / 2,
      newSpace: 8 * MB,
      codeSpace: MB,
      ageMs: 500,
    }));
  const run = (hostGrows: boolean, rssGrows: boolean) => {
    const store = makeSeriesStore();
    for (let m = 0; m <= 60; m++) {
      store.push(
        m * MIN,
        memorySeries({
          rss: 250 * MB + (rssGrows ? m * MB : 0),
          heapUsed: 20 * MB,
          heapTotal: 30 * MB,
          external: MB,
          malloced: MB,
          threads: threads(m, hostGrows),
        }),
      );
    }
    return judgeMemory(store);
  };

  it('names the thread whose heap grows, and leakSuspected covers it though RSS is flat', () => {
    const j = run(true, false);
    expect(Object.keys(j.series)).toContain('cpu1.heapUsed');
    expect(j.rss.leak).toBe(false);
    expect(j.growing).toEqual(['host.heapUsed']);
    expect(j.leakSuspected).toBe(true);
    expect(j.verdict).toMatch(/^steady growth in host\.heapUsed 60 MB\/h/);
  });

  it('says no steady growth when nothing grows, with the RSS slope', () => {
    const j = run(false, false);
    expect(j.leakSuspected).toBe(false);
    expect(j.growing).toEqual([]);
    expect(j.verdict).toMatch(/^no steady growth in \d+ series \(RSS 0 MB\/h/);
    expect(j.heapUsed).toBe(j.series['main.heapUsed']);
  });

  it('names RSS when only the process grows', () => {
    expect(run(false, true).growing).toEqual(['rss']);
  });
});

describe('makeSeriesStore', () => {
  it('stays within its capacity by dropping every other sample, and the fit is unchanged', () => {
    const store = makeSeriesStore(16);
    for (let m = 0; m <= 100; m++) store.push(m * MIN, { rss: 200 * MB + m * 0.5 * MB });
    expect(store.length).toBeLessThanOrEqual(16);
    const kept = store.samples('rss');
    expect(kept[0]![0]).toBe(0);
    expect(judgeTrend(kept).slopeMBPerHour).toBeCloseTo(30, 5);
  });

  it('leaves out the samples before a series first appeared', () => {
    const store = makeSeriesStore();
    store.push(0, { rss: 1 });
    store.push(1000, { rss: 2, 'cpu0.heapUsed': 5 });
    expect(store.samples('cpu0.heapUsed')).toEqual([[1000, 5]]);
    expect(store.names()).toEqual(['rss', 'cpu0.heapUsed']);
  });
});
