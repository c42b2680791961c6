/** The bench report: its shape, the goals of its ratios (docs/json.md), and its markdown table. */
import type { LoadReport, MachineInfo } from './stats.ts';

export const GOALS = {
  hotPathJsOverNative: { op: '>=', value: 0.5 },
  rendezvousJsOverNative: { op: '<=', value: 1.5 },
  lockstatOverhead: { op: '<=', value: 0.1 },
  /** --lockstat=contention (perf lock contention's columns): issue 14's goal when full mode misses its own. */
  lockstatContentionOverhead: { op: '<=', value: 0.05 },
  /** the lock validator (issue 10): ops/s with it (the default) against --no-lockdep */
  lockdepOverhead: { op: '<=', value: 0.15 },
  scaling2over1: { op: '>=', value: 1.7 },
  /** the standard workload's total ops/s at 8 CPUs over 4 (issue 14: vCPUs outnumbering cores) */
  oversubscription8over4: { op: '>=', value: 0.5 },
  /** --guided: the default run's rarest hazard, its near-miss rate with --guided over without (issue 13) */
  guidedRarestOverDefault: { op: '>=', value: 10 },
} as const;
export type RatioName = keyof typeof GOALS;

/**
 * What bounds a figure physically. `jsOverC`: the speed of JavaScript over C
 * on a single-thread loop (same layout, same loop): above 1 + NOISE.jsOverC
 * the C side was not warm or not the same work. `scaling`: total throughput
 * of `hi` CPUs over `lo` CPUs: above min(hi / lo, cores) (+ NOISE.scaling) one
 * of the runs was not measured like the other. `overhead`: 1 - (rate with
 * some instrumentation) / (rate without): instrumentation adds work, so below
 * -NOISE.overhead the runs were not alike (on a loaded machine, one run got
 * more of the cores). `rateOverCount`: a rate over a rate measured from a
 * count (near misses): when the count under it was 0 the ratio is no figure.
 * `none`: no physical bound (latency ratios across threads).
 */
export type Bound =
  | { kind: 'jsOverC' }
  | { kind: 'scaling'; hi: number; lo: number }
  | { kind: 'overhead' }
  | { kind: 'rateOverCount' }
  | { kind: 'none' };

/** How far past its bound a figure may lie before it is impossible rather than noise. */
export const NOISE = { jsOverC: 0.1, scaling: 0.05, overhead: 0.1 } as const;

export const BOUNDS: Record<RatioName, Bound> = {
  hotPathJsOverNative: { kind: 'jsOverC' },
  rendezvousJsOverNative: { kind: 'none' },
  lockstatOverhead: { kind: 'overhead' },
  lockstatContentionOverhead: { kind: 'overhead' },
  lockdepOverhead: { kind: 'overhead' },
  scaling2over1: { kind: 'scaling', hi: 2, lo: 1 },
  oversubscription8over4: { kind: 'scaling', hi: 8, lo: 4 },
  guidedRarestOverDefault: { kind: 'rateOverCount' },
};

/**
 * The spread expected between a --quick and a full run of each ratio, as a
 * fraction of the full run's value (or, for overheads, in absolute points):
 * the same warm-up (benchmarks/params.ts WARMUP) and the same formulas, only
 * fewer and shorter timed runs, on a machine as quiet for both. The
 * overheads' is 0.05 again: the pairs that ranged widely (on a quiet machine
 * lockstat full 0.09 to 0.42, contention -0.43 to 0.08, lockdep -0.37 to
 * 0.38) were pairs with one run at about half the speed of the other (a
 * mode of the machine); the pairs whose two runs were at the same speed,
 * slow or fast, agreed within 0.03 (full 0.40, 0.41, 0.42; contention 0.07,
 * 0.08; lockdep 0.12, 0.15). The overheads are now measured with both
 * sides in turns of 100 ms (lib/interleave.ts): two machines, one with the
 * instrumentation, parked in turn, so that a change of the machine's mode
 * (on a quiet machine a 2-CPU run in the slow mode made 0.6-0.8 of the ops/s
 * of one in the fast mode with the same CPU time: benchmarks/README.md,
 * "Half-speed 2-CPU runs") falls on both sides alike.
 */
export const SPREAD: Record<RatioName, { relative: number } | { absolute: number }> = {
  hotPathJsOverNative: { relative: 0.1 },
  rendezvousJsOverNative: { relative: 0.3 },
  lockstatOverhead: { absolute: 0.05 },
  lockstatContentionOverhead: { absolute: 0.05 },
  lockdepOverhead: { absolute: 0.05 },
  scaling2over1: { relative: 0.1 },
  oversubscription8over4: { relative: 0.2 },
  // a handful of near misses in the default run: a quick run (one seed, 5 s) is a first look only
  guidedRarestOverDefault: { relative: 0.5 },
};

/** Whether a quick run's ratio agrees with a full run's within SPREAD. */
export function withinSpread(name: RatioName, quick: number, full: number): boolean {
  const s = SPREAD[name];
  return 'relative' in s
    ? Math.abs(quick - full) <= s.relative * Math.abs(full)
    : Math.abs(quick - full) <= s.absolute;
}

/** null when `value` is possible under `bound` on a machine of `cores` cores, else why not. */
export function impossible(value: number | null, bound: Bound, cores: number): string | null {
  if (value === null) return null;
  if (bound.kind === 'rateOverCount' && !Number.isFinite(value)) {
    return 'the default runs had no near miss of their rarest hazard: a rate over zero is no ratio (run longer or more seeds)';
  }
  if (!Number.isFinite(value)) return `not a number (${value})`;
  if (bound.kind === 'overhead') {
    return value < -NOISE.overhead
      ? `an overhead of ${(value * 100).toFixed(1)}%: the instrumented runs were faster by more than ${NOISE.overhead * 100}%, so the runs were not alike (load)`
      : null;
  }
  if (value < 0) return `a negative speed ratio (${value})`;
  if (bound.kind === 'jsOverC' && value > 1 + NOISE.jsOverC) {
    return `JS ${value.toFixed(2)}x as fast as C on a single-thread loop (more than ${NOISE.jsOverC * 100}% noise): C or JS not warmed, or not the same work`;
  }
  if (bound.kind === 'scaling') {
    const max = Math.min(bound.hi / bound.lo, Math.max(1, cores));
    if (value > max * (1 + NOISE.scaling)) {
      return `${bound.hi} CPUs over ${bound.lo} at ${value.toFixed(2)}, above the physical bound ${max.toFixed(2)} (min(${bound.hi}/${bound.lo}, ${cores} cores)): the runs were not measured alike`;
    }
  }
  return null;
}

/**
 * A table row. `check`: the figures of the row that have a physical bound
 * (in the unit of `bound`); the report builder marks the row invalid (and
 * shows 'invalid' in the checked columns) when one of them is impossible.
 */
export type Row = {
  name: string;
  js: string;
  c: string;
  ratio: string;
  note?: string;
  check?: { bound: Bound; js?: number | null; c?: number | null; ratio?: number | null };
  invalid?: string;
};

export type Report = {
  schema: 1;
  quick: boolean;
  startedAt: string;
  durationS: number;
  machine: MachineInfo;
  load: LoadReport | null;
  native: { ok: true; cc: string; flags: string[] } | { ok: false; reason: string };
  /** null when not measured or when invalid (see `invalid`) */
  ratios: Record<RatioName, number | null>;
  goals: Record<RatioName, { goal: string; met: boolean | null; invalid?: string }>;
  /** ratios whose measured value was impossible: the value, and why (their `ratios` entry is null) */
  invalid: Partial<Record<RatioName, { measured: number; reason: string }>>;
  results: Record<string, unknown>;
  errors: Record<string, string>;
  rows: Row[];
};

export const fmt = {
  ns: (x: number) => `${x.toFixed(0)} ns`,
  us: (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} us`,
  rate: (x: number) =>
    x >= 1e6
      ? `${(x / 1e6).toFixed(2)} M/s`
      : x >= 1e3
        ? `${(x / 1e3).toFixed(1)} k/s`
        : `${x.toFixed(0)}/s`,
  ratio: (x: number | null) => (x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(2)),
};

/** What the bench measured, before the report builder checks it. */
export type Measured = Omit<Report, 'schema' | 'ratios' | 'goals' | 'invalid'> & {
  ratios: Record<RatioName, number | null>;
};

/**
 * The report from the measured figures: every ratio and every checked row
 * against its physical bound (BOUNDS, impossible()); an impossible ratio
 * becomes null, its goal unmet-unknown (null) and marked invalid, and the
 * rows it came from say 'invalid'. Nothing here depends on `quick`: a quick
 * and a full run go through the same formulas.
 */
export function buildReport(m: Measured): Report {
  const cores = m.machine.cores;
  const ratios = {} as Report['ratios'];
  const goals = {} as Report['goals'];
  const invalid: Report['invalid'] = {};
  for (const k of Object.keys(GOALS) as RatioName[]) {
    const g = GOALS[k];
    const measured = m.ratios[k] ?? null;
    const why = impossible(measured, BOUNDS[k], cores);
    const v = why === null ? measured : null;
    ratios[k] = v;
    goals[k] = {
      goal: `${g.op} ${g.value}`,
      met: v === null ? null : g.op === '>=' ? v >= g.value : v <= g.value,
      ...(why !== null ? { invalid: why } : {}),
    };
    if (why !== null && measured !== null) invalid[k] = { measured, reason: why };
  }
  const rows = m.rows.map((row): Row => {
    if (!row.check) return row;
    const { bound, ...cols } = row.check;
    const out: Row = { ...row };
    for (const col of ['js', 'c', 'ratio'] as const) {
      const why = impossible(cols[col] ?? null, bound, cores);
      if (why === null) continue;
      out[col] = 'invalid';
      out.invalid = out.invalid ? `${out.invalid}; ${col}: ${why}` : `${col}: ${why}`;
    }
    return out;
  });
  return { schema: 1, ...m, ratios, goals, invalid, rows };
}

export function markdown(r: Report): string {
  const m = r.machine;
  const lines = [
    `# hvaemu benchmarks${r.quick ? ' (quick)' : ''}`,
    '',
    `${r.startedAt}, ${r.durationS.toFixed(0)} s. ${m.cpuModel}, ${m.cores} cores, ${m.totalMemGiB} GiB; Node ${m.node} (V8 ${m.v8}); ${m.platform} ${m.kernel}; git ${m.git}.`,
    r.native.ok
      ? `Native reference: ${r.native.cc} ${r.native.flags.join(' ')}.`
      : `Native reference skipped: ${r.native.reason}.`,
    r.load
      ? `Load: load average ${r.load.loadAvgStart.join(' ')} at the start, ${r.load.loadAvgEnd.join(' ')} at the end; other processes used ${r.load.othersShare === null ? '?' : `${(r.load.othersShare * 100).toFixed(0)}%`} of the cores while the bench ran (the bench itself ${r.load.benchShare === null ? '?' : `${(r.load.benchShare * 100).toFixed(0)}%`}).`
      : '',
    '',
    '## Ratios',
    '',
    '| ratio | value | goal | met |',
    '|---|---|---|---|',
    ...(Object.keys(GOALS) as RatioName[]).map(
      (k) =>
        `| ${k} | ${r.invalid[k] ? `invalid (measured ${r.invalid[k].measured.toFixed(2)}: ${r.invalid[k].reason})` : fmt.ratio(r.ratios[k])} | ${r.goals[k].goal} | ${r.invalid[k] ? 'invalid' : r.goals[k].met === null ? 'n/a' : r.goals[k].met ? 'yes' : 'no'} |`,
    ),
    '',
    '## Figures (medians)',
    '',
    'JS/C: JavaScript speed over native speed (for latencies: JS latency over C latency).',
    '',
    '| benchmark | JS | native C | JS/C | note |',
    '|---|---|---|---|---|',
    ...r.rows.map(
      (x) =>
        `| ${x.name} | ${x.js} | ${x.c} | ${x.ratio} | ${[x.invalid ? `INVALID: ${x.invalid}` : '', x.note ?? ''].filter(Boolean).join('; ')} |`,
    ),
    '',
  ];
  const errs = Object.entries(r.errors);
  if (errs.length) lines.push('## Errors', '', ...errs.map(([k, v]) => `- ${k}: ${v}`), '');
  return lines.join('\n');
}
