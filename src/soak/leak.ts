/**
 * Is the emulator itself leaking? Fit a least-squares line through the memory
 * samples of the run (after a warm-up) and flag a steady upward trend.
 *
 * "Steady" is the coefficient of determination: a heap that grows and is
 * collected gives a saw-tooth with a small r^2 whatever its slope; a leak
 * gives a line. Both the slope and r^2 must pass, over a window long enough
 * to say anything.
 */

/**
 * Samples taken before this share of the run (or this many ms, whichever is
 * longer) are warm-up: the process gives back its start-up memory (module
 * compilation, the first collections) over the first minutes; a 10-minute
 * soak here settled after about 140 s. A leak is steady, so the last three
 * quarters of a run show it as well as the whole would.
 */
export const WARMUP_FRACTION = 0.25;
export const WARMUP_MIN_MS = 60_000;
/** A fit needs this many samples after warm-up, over at least this long. */
export const MIN_SAMPLES = 5;
export const MIN_WINDOW_MS = 120_000;
/**
 * 10 MB an hour is 80 MB over an 8-hour night: about half of what the whole
 * process takes at the default configuration, and far above what GC noise
 * gives once r^2 is demanded too.
 */
export const LEAK_MB_PER_HOUR = 10;
export const LEAK_MIN_R2 = 0.5;

const MB = 1024 * 1024;
const HOUR_MS = 3_600_000;

export type Fit = { slope: number; intercept: number; r2: number; n: number };

/** Least squares y = slope * x + intercept; r2 is 0 when y does not vary. */
export function leastSquares(points: ReadonlyArray<readonly [number, number]>): Fit {
  const n = points.length;
  if (n < 2) return { slope: 0, intercept: points[0]?.[1] ?? 0, r2: 0, n };
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (const [x, y] of points) {
    sxx += (x - mx) * (x - mx);
    sxy += (x - mx) * (y - my);
    syy += (y - my) * (y - my);
  }
  if (sxx === 0) return { slope: 0, intercept: my, r2: 0, n };
  const slope = sxy / sxx;
  const r2 = syy === 0 ? 0 : (sxy * sxy) / (sxx * syy);
  return { slope, intercept: my - slope * mx, r2, n };
}

export type TrendJudgement = {
  /** Fitted growth in MB per hour (null when there were not enough samples to fit). */
  slopeMBPerHour: number | null;
  r2: number | null;
  samplesUsed: number;
  warmupMs: number;
  windowMs: number;
  firstMB: number | null;
  lastMB: number | null;
  maxMB: number | null;
  /** True when the trend is steady and steep enough to call a leak. */
  leak: boolean;
  judged: boolean;
  why: string;
};

/** Judge one memory series: `samples` are [elapsedMs, bytes]. */
export function judgeTrend(samples: ReadonlyArray<readonly [number, number]>): TrendJudgement {
  const end = samples.length ? samples[samples.length - 1]![0] : 0;
  const warmupMs = Math.max(WARMUP_MIN_MS, WARMUP_FRACTION * end);
  const used = samples.filter(([t]) => t >= warmupMs);
  const windowMs = used.length ? used[used.length - 1]![0] - used[0]![0] : 0;
  const mb = (b: number) => Math.round((b / MB) * 10) / 10;
  const base = {
    samplesUsed: used.length,
    warmupMs,
    windowMs,
    firstMB: used.length ? mb(used[0]![1]) : null,
    lastMB: used.length ? mb(used[used.length - 1]![1]) : null,
    maxMB: used.length ? mb(Math.max(...used.map(([, y]) => y))) : null,
  };
  if (used.length < 2) {
    return {
      ...base,
      slopeMBPerHour: null,
      r2: null,
      leak: false,
      judged: false,
      why: `too short to judge: ${used.length} sample(s) after the ${Math.round(warmupMs / 1000)} s warm-up`,
    };
  }
  const fit = leastSquares(used.map(([t, y]) => [t, y / MB] as const));
  const slopeMBPerHour = Math.round(fit.slope * HOUR_MS * 100) / 100;
  const r2 = Math.round(fit.r2 * 1000) / 1000;
  if (used.length < MIN_SAMPLES || windowMs < MIN_WINDOW_MS) {
    return {
      ...base,
      slopeMBPerHour,
      r2,
      leak: false,
      judged: false,
      why: `too short to judge: ${used.length} samples over ${Math.round(windowMs / 1000)} s after warm-up (need ${MIN_SAMPLES} over ${MIN_WINDOW_MS / 1000} s)`,
    };
  }
  const leak = slopeMBPerHour >= LEAK_MB_PER_HOUR && r2 >= LEAK_MIN_R2;
  return {
    ...base,
    slopeMBPerHour,
    r2,
    leak,
    judged: true,
    why: leak
      ? `steady growth of ${slopeMBPerHour} MB/h (r^2 ${r2}) over ${Math.round(windowMs / 60_000)} min: suspected leak`
      : `no steady growth: ${slopeMBPerHour} MB/h (r^2 ${r2}) over ${Math.round(windowMs / 60_000)} min (a leak is >= ${LEAK_MB_PER_HOUR} MB/h with r^2 >= ${LEAK_MIN_R2})`,
  };
}
