/**
 * Exact replay of a controlled schedule (--sched random|pct): a schedule is a
 * pure function of its config (seed included, sched.ts), so replaying a
 * report is running its config again; the outcome (verdict, each violation's
 * kind, frame, generations and story, the stall's kind, the hash of every
 * scheduling decision) must come out the same.
 */
import { renderStory, renderTrace, violationStory } from '../check/decode.ts';
import { type Config, configSchema } from '../config.ts';
import { POINTS } from '../points.ts';
import type { RunOptions, RunReport } from './machine.ts';
import { runMachine } from './machine.ts';

/** The machine config of a run report (its JSON: delays keyed by point name), validated. */
export function configOfReport(json: unknown): Config {
  const r = json as { config?: Record<string, unknown>; sched?: unknown };
  if (!r || typeof r !== 'object' || !r.config || typeof r.config !== 'object') {
    throw new Error('not a run report (no config)');
  }
  const c = { ...r.config };
  // json.ts writes the per-point arrays keyed by point name, leaving out the
  // points without a value; `delayEvery`'s absent value is 1 (every pass).
  for (const [k, absent] of [
    ['delaysUs', 0],
    ['delaySpansUs', 0],
    ['delayEvery', 1],
  ] as const) {
    const v = c[k];
    if (v && !Array.isArray(v) && typeof v === 'object') {
      const o = v as Record<string, number>;
      c[k] = POINTS.map(([name]) => o[name] || absent);
    }
  }
  const cfg = configSchema.parse(c);
  if (cfg.sched.kind === 'os') {
    throw new Error(
      "the report is of a --sched os run: its interleaving was the OS scheduler's and was not recorded (replay needs --sched random or pct)",
    );
  }
  return cfg;
}

/** What replay compares: everything a schedule decides. */
export type Outcome = {
  verdict: string;
  stall: string | null;
  hash: string | null;
  violations: {
    kind: string;
    pfn: number;
    cpu: number;
    generationAtFault: number;
    generationNow: number;
    detail: number;
    story: string[];
  }[];
};

type ViolationLike = RunReport['violations'][number];

export function outcomeOf(r: {
  verdict: string;
  stall?: { kind: string } | null;
  sched?: { hash: string } | null;
  violations: ViolationLike[];
}): Outcome {
  return {
    verdict: r.verdict,
    stall: r.stall?.kind ?? null,
    hash: r.sched?.hash ?? null,
    violations: r.violations.map((v) => ({
      kind: v.kind,
      pfn: v.pfn,
      cpu: v.cpu,
      generationAtFault: v.generationAtFault,
      generationNow: v.generationNow,
      detail: v.detail,
      story: v.story,
    })),
  };
}

/** The differences between two outcomes, in words (empty: the same). */
export function outcomeDiff(a: Outcome, b: Outcome): string[] {
  const d: string[] = [];
  if (a.verdict !== b.verdict) d.push(`verdict ${a.verdict} -> ${b.verdict}`);
  if (a.stall !== b.stall) d.push(`stall ${a.stall} -> ${b.stall}`);
  if (a.hash !== b.hash) d.push(`schedule hash ${a.hash} -> ${b.hash}`);
  if (a.violations.length !== b.violations.length) {
    d.push(`${a.violations.length} violations -> ${b.violations.length}`);
  }
  const n = Math.min(a.violations.length, b.violations.length);
  for (let i = 0; i < n; i++) {
    const x = a.violations[i]!;
    const y = b.violations[i]!;
    for (const k of [
      'kind',
      'pfn',
      'cpu',
      'generationAtFault',
      'generationNow',
      'detail',
    ] as const) {
      if (x[k] !== y[k]) d.push(`violation ${i}: ${k} ${x[k]} -> ${y[k]}`);
    }
    if (JSON.stringify(x.story) !== JSON.stringify(y.story))
      d.push(`violation ${i}: the story differs`);
  }
  return d;
}

export type Replay = {
  report: RunReport;
  recorded: Outcome;
  replayed: Outcome;
  diff: string[];
  /** --from-step N: where step N fell on the logical clock, and the switches from there on */
  from?: FromView;
};

export type ReplayOptions = RunOptions & {
  /** Stop the schedule at this decision (the CPUs finish their operation, then the machine is reported). */
  untilStep?: number;
  /** Show the violations' stories and traces, and the switches, from this decision on. */
  fromStep?: number;
};

/** Run a recorded report's schedule again and compare. */
export async function replayReport(json: unknown, opts: ReplayOptions = {}): Promise<Replay> {
  const recorded = configOfReport(json);
  const { untilStep, fromStep, ...machineOpts } = opts;
  // --until-step: the same schedule, stopped at that decision (to look at the machine there);
  // --from-step: the same schedule, the scheduler noting the logical clock at that decision
  const cfg: Config = {
    ...recorded,
    sched: {
      ...recorded.sched,
      ...(untilStep !== undefined ? { steps: untilStep } : {}),
      ...(fromStep !== undefined ? { markStep: fromStep } : {}),
    },
  };
  const report = await runMachine(cfg, machineOpts);
  const was = outcomeOf(json as Parameters<typeof outcomeOf>[0]);
  const replayed = outcomeOf(report);
  const diff = outcomeDiff(was, replayed);
  // compared whole; then cut to the view asked for
  const from = fromStep !== undefined ? fromView(report, fromStep) : undefined;
  return { report, recorded: was, replayed, diff, ...(from ? { from } : {}) };
}

export type FromView = {
  step: number;
  /** the logical clock (events stamped so far) when step `step` was decided; null: the schedule ended before it */
  clock: number | null;
  /** the context switches from that step on: "step S: cpuN runs" */
  switches: string[];
};

/**
 * --from-step N: the events recorded from decision N on are those stamped at
 * or after the logical clock the scheduler noted at N (sched.ts markStep); the
 * report's violations keep only those in their stories and traces (the
 * comparison with the recording was made on the whole report before).
 */
export function fromView(report: RunReport, step: number): FromView {
  const s = report.sched;
  const mark = s?.markClock ?? -1;
  const n = report.config.cpus;
  const actor = (a: number) => (a === n ? 'the host' : `cpu${a}`);
  const switches = (s?.log ?? [])
    .filter(([at]) => at >= step)
    .map(([at, a]) => `step ${at}: ${actor(a)} runs`);
  if (mark < 0) return { step, clock: null, switches };
  const t0 = mark / 1000; // the recorder's clock is in ms, a microsecond an event
  for (const v of report.violations) {
    const events = v.events.filter((e) => e.t >= t0);
    v.events = events;
    v.trace = renderTrace(events, n, events[0]?.t ?? t0, v.pfn);
    if (!v.lockdep && !v.list) v.story = renderStory(violationStory(events, v.pfn), n, v.pfn);
  }
  return { step, clock: mark, switches };
}
