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
  /** True when the trend is steady and steep enough to call a leak (and did not stop: see plateau). */
  leak: boolean;
  judged: boolean;
  /**
   * The window's line is steep and steady, but its growth stopped: the last
   * PLATEAU_TAIL_FRACTION of the window (at least PLATEAU_MIN_MS) is flat and
   * stays near the level reached when it began. Growth that stops is the
   * allocator (or V8) sizing itself, not a leak. Absent: not looked for (no
   * steady growth, or too short).
   */
  plateau?: {
    /** Elapsed ms where the flat tail begins. */
    sinceMs: number;
    slopeMBPerHour: number;
    r2: number;
    /** MB the series grew over the window before the tail, and the tail's rise above its start. */
    grewMB: number;
    tailRiseMB: number;
  };
  why: string;
};

/**
 * A plateau is looked for in the last half of the window after warm-up, and
 * only over 10 minutes or more: a leak that grows in steps (an array that
 * doubles) would look flat between two steps of a short run.
 */
export const PLATEAU_TAIL_FRACTION = 0.5;
export const PLATEAU_MIN_MS = 600_000;
/**
 * The tail is flat when it is not a leak by the same rule (slope and r^2),
 * and it rose no more than this share of what the series grew before it (a
 * step in the tail is growth that has not stopped).
 */
export const PLATEAU_MAX_RISE = 0.25;

/** Judge one memory series: `samples` are [elapsedMs, bytes]. */
export function judgeTrend(samples: ReadonlyArray<readonly [number, number]>): TrendJudgement {
  const end = samples.length ? samples[samples.length - 1]![0] : 0;
  const warmupMs = Math.max(WARMUP_MIN_MS, WARMUP_FRACTION * end);
  const used = samples.filter(([t]) => t >= warmupMs);
  const windowMs = used.length ? used[used.length - 1]![0] - used[0]![0] : 0;
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
  const { slopeMBPerHour, r2 } = fitMB(used);
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
  const steady = slopeMBPerHour >= LEAK_MB_PER_HOUR && r2 >= LEAK_MIN_R2;
  const min = Math.round(windowMs / 60_000);
  if (!steady) {
    return {
      ...base,
      slopeMBPerHour,
      r2,
      leak: false,
      judged: true,
      why: `no steady growth: ${slopeMBPerHour} MB/h (r^2 ${r2}) over ${min} min (a leak is >= ${LEAK_MB_PER_HOUR} MB/h with r^2 >= ${LEAK_MIN_R2})`,
    };
  }
  const plateau = findPlateau(used);
  if (plateau) {
    return {
      ...base,
      slopeMBPerHour,
      r2,
      leak: false,
      judged: true,
      plateau,
      why: `plateau, no leak: grew ${plateau.grewMB} MB (${slopeMBPerHour} MB/h, r^2 ${r2} over ${min} min), then flat for the last ${Math.round((used[used.length - 1]![0] - plateau.sinceMs) / 60_000)} min (${plateau.slopeMBPerHour} MB/h, r^2 ${plateau.r2}, rose ${plateau.tailRiseMB} MB)`,
    };
  }
  return {
    ...base,
    slopeMBPerHour,
    r2,
    leak: true,
    judged: true,
    why: `steady growth of ${slopeMBPerHour} MB/h (r^2 ${r2}) over ${min} min: suspected leak`,
  };
}

/**
 * The flat tail of a growing window, or null: the last PLATEAU_TAIL_FRACTION
 * of the window (at least PLATEAU_MIN_MS, MIN_SAMPLES samples) is no leak by
 * the slope-and-r^2 rule, and its highest point is within PLATEAU_MAX_RISE of
 * the growth before it above its first samples' level.
 */
export function findPlateau(
  used: ReadonlyArray<readonly [number, number]>,
): TrendJudgement['plateau'] | null {
  const t0 = used[0]![0];
  const t1 = used[used.length - 1]![0];
  const sinceMs = t1 - PLATEAU_TAIL_FRACTION * (t1 - t0);
  const tail = used.filter(([t]) => t >= sinceMs);
  const head = used.filter(([t]) => t < sinceMs);
  if (t1 - sinceMs < PLATEAU_MIN_MS || tail.length < MIN_SAMPLES || head.length === 0) return null;
  const fit = fitMB(tail);
  if (fit.slopeMBPerHour >= LEAK_MB_PER_HOUR && fit.r2 >= LEAK_MIN_R2) return null;
  // The level the tail starts from: its first samples' mean (one sample is a GC saw-tooth's luck).
  const k = Math.max(1, Math.ceil(tail.length / 10));
  const start = tail.slice(0, k).reduce((a, [, y]) => a + y, 0) / k;
  const grew = start - Math.min(...head.map(([, y]) => y));
  const rise = Math.max(...tail.map(([, y]) => y)) - start;
  if (grew <= 0 || rise > PLATEAU_MAX_RISE * grew) return null;
  return {
    sinceMs: Math.round(tail[0]![0]),
    slopeMBPerHour: fit.slopeMBPerHour,
    r2: fit.r2,
    grewMB: mb(grew),
    tailRiseMB: mb(Math.max(0, rise)),
  };
}

function fitMB(points: ReadonlyArray<readonly [number, number]>): {
  slopeMBPerHour: number;
  r2: number;
} {
  const fit = leastSquares(points.map(([t, y]) => [t, y / MB] as const));
  return {
    slopeMBPerHour: Math.round(fit.slope * HOUR_MS * 100) / 100,
    r2: Math.round(fit.r2 * 1000) / 1000,
  };
}

function mb(b: number): number {
  return Math.round((b / MB) * 10) / 10;
}

/**
 * Memory series of a run, kept in bounded space: one Float64Array column
 * per series and one for the time, at most `capacity` samples; when full,
 * every other sample is dropped and only every 2nd (then 4th ...) sample is
 * taken from then on. A line's fit over half the points is the same line;
 * the soak's own memory stays flat however long it runs.
 */
export type SeriesStore = {
  push(elapsedMs: number, values: Readonly<Record<string, number>>): void;
  /** The series' names, in the order first seen. */
  names(): string[];
  samples(name: string): Array<[number, number]>;
  readonly length: number;
};

export function makeSeriesStore(size = 1024): SeriesStore {
  const capacity = Math.max(4, size - (size % 2)); // halved when full: even
  const t = new Float64Array(capacity);
  const cols = new Map<string, Float64Array>();
  let n = 0;
  let stride = 1;
  let seen = 0;
  return {
    get length() {
      return n;
    },
    push(elapsedMs, values) {
      if (seen++ % stride !== 0) return;
      if (n === capacity) {
        const half = (a: Float64Array) => {
          for (let i = 0; i < capacity / 2; i++) a[i] = a[2 * i]!;
        };
        half(t);
        for (const c of cols.values()) half(c);
        n = capacity / 2;
        stride *= 2;
      }
      t[n] = elapsedMs;
      for (const [name, y] of Object.entries(values)) {
        let c = cols.get(name);
        if (!c) {
          // a series first seen now (a thread's first figures): earlier samples are NaN, left out
          c = new Float64Array(capacity).fill(Number.NaN);
          cols.set(name, c);
        }
        c[n] = y;
      }
      for (const [name, c] of cols) if (!(name in values)) c[n] = Number.NaN;
      n++;
    },
    names: () => [...cols.keys()],
    samples(name) {
      const c = cols.get(name);
      const out: Array<[number, number]> = [];
      if (!c) return out;
      for (let i = 0; i < n; i++) if (!Number.isNaN(c[i]!)) out.push([t[i]!, c[i]!]);
      return out;
    },
  };
}

export type MemoryJudgement = {
  /** The process's RSS, and the main thread's heap used (names kept from schema 1). */
  rss: TrendJudgement;
  heapUsed: TrendJudgement;
  /** Every series judged: rss, then <thread>.<figure> (main, cpu0 ..., host; heapUsed, heapTotal, external, malloced). */
  series: Record<string, TrendJudgement>;
  /** Series with steady growth (suspected leaks), and series whose growth stopped. */
  growing: string[];
  plateaus: string[];
  /** True when any series grows steadily. */
  leakSuspected: boolean;
  /** One line: which series grows, or "no steady growth ...". */
  verdict: string;
};

/** Judge every series of the store; `rss` and `main.heapUsed` are the two kept by name. */
export function judgeMemory(store: SeriesStore): MemoryJudgement {
  const series: Record<string, TrendJudgement> = {};
  for (const name of store.names()) series[name] = judgeTrend(store.samples(name));
  const rss = series.rss ?? judgeTrend([]);
  const heapUsed = series['main.heapUsed'] ?? judgeTrend([]);
  const growing = Object.keys(series).filter((n) => series[n]!.leak);
  const plateaus = Object.keys(series).filter((n) => series[n]!.plateau);
  const judged = Object.values(series).some((j) => j.judged);
  const slope = (n: string) => `${n} ${series[n]!.slopeMBPerHour} MB/h (r^2 ${series[n]!.r2})`;
  const verdict = growing.length
    ? `steady growth in ${growing.map(slope).join(', ')}: suspected leak`
    : !judged
      ? rss.why
      : `no steady growth in ${Object.keys(series).length} series (RSS ${rss.slopeMBPerHour} MB/h, r^2 ${rss.r2})${plateaus.length ? `; plateau in ${plateaus.join(', ')}` : ''}`;
  return { rss, heapUsed, series, growing, plateaus, leakSuspected: growing.length > 0, verdict };
}
