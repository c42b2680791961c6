/**
 * Exact replay of a controlled schedule (--sched random|pct): a schedule is a
 * pure function of its config (seed included, sched.ts), so replaying a
 * report is running its config again; the outcome (verdict, each violation's
 * kind, frame, generations and story, the stall's kind, the hash of every
 * scheduling decision) must come out the same.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { renderStory, renderTrace, violationStory } from '../check/decode.ts';
import { type Config, configSchema } from '../config.ts';
import { describeLogEntry } from '../kernel/sched.ts';
import { POINTS } from '../points.ts';
import type { RunOptions, RunReport } from './machine.ts';
import { runMachine } from './machine.ts';

/** A machine config as a report's JSON has it (delays keyed by point name), validated. */
export function machineConfigOf(config: unknown): Config {
  if (!config || typeof config !== 'object') throw new Error('not a run report (no config)');
  const c = { ...(config as Record<string, unknown>) };
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
  return configSchema.parse(c);
}

/** The machine config of a controlled schedule's run report (its JSON), validated. */
export function configOfReport(json: unknown): Config {
  const r = json as { config?: Record<string, unknown>; sched?: unknown };
  if (!r || typeof r !== 'object' || !r.config || typeof r.config !== 'object') {
    throw new Error('not a run report (no config)');
  }
  const cfg = machineConfigOf(r.config);
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

/**
 * The differences between two outcomes, in words (empty: the same). `only`:
 * the recording is one violation (a soak's line), the replayed run's
 * violation `only`.
 */
export function outcomeDiff(a: Outcome, b: Outcome, only?: number): string[] {
  const d: string[] = [];
  if (a.verdict !== b.verdict) d.push(`verdict ${a.verdict} -> ${b.verdict}`);
  if (a.stall !== b.stall) d.push(`stall ${a.stall} -> ${b.stall}`);
  if (a.hash !== b.hash) d.push(`schedule hash ${a.hash} -> ${b.hash}`);
  const bv = only !== undefined ? b.violations.slice(only, only + 1) : b.violations;
  if (a.violations.length !== bv.length) {
    d.push(`${a.violations.length} violations -> ${bv.length}`);
  }
  const n = Math.min(a.violations.length, bv.length);
  for (let i = 0; i < n; i++) {
    const x = a.violations[i]!;
    const y = bv[i]!;
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
  /** The recording is one violation of the run (a soak's line): the run's violation `only`. */
  only?: number;
};

/** Run a recorded report's schedule again and compare. */
export async function replayReport(json: unknown, opts: ReplayOptions = {}): Promise<Replay> {
  const recorded = configOfReport(json);
  const { untilStep, fromStep, only, ...machineOpts } = opts;
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
  const diff = outcomeDiff(was, replayed, only);
  // compared whole; then cut to the view asked for
  const from = fromStep !== undefined ? fromView(report, fromStep) : undefined;
  return { report, recorded: was, replayed, diff, ...(from ? { from } : {}) };
}

export type FromView = {
  step: number;
  /** the logical clock (events stamped so far) when step `step` was decided; null: the schedule ended before it */
  clock: number | null;
  /** the schedule's log from that step on (sched.ts LOG): "step S: cpuN runs", migrations, delays */
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
  const switches = (s?.log ?? []).filter(([at]) => at >= step).map((e) => describeLogEntry(e, n));
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

/** A soak's violation line (src/soak/soak.ts ViolationLine), as far as replay reads it. */
type SoakLine = {
  seq: number;
  kind: string;
  pfn: number;
  cpu: number;
  generationAtFault?: number;
  generationNow?: number;
  detail?: number;
  story?: string[];
  events?: RunReport['violations'][number]['events'];
  /** a controlled soak's line: the schedule that found it */
  config?: unknown;
  sched?: RunReport['sched'];
  verdict?: string;
  /** which of that schedule's violations this line is */
  scheduleViolation?: number;
  /** a schedule that stalled */
  stall?: { kind: string };
  scheduleStall?: string;
};

/**
 * What `hvaemu replay` was given, read: a controlled schedule to run again
 * exactly (`json`, a run report or the like; `only`: the recording is that
 * violation of it), or a --sched os violation to reproduce (the bridge).
 */
export type Recording =
  | { controlled: true; json: unknown; only?: number; what: string }
  | {
      controlled: false;
      cfg: Config;
      violation: { kind: string; pfn: number; events?: RunReport['violations'][number]['events'] };
      what: string;
    };

/**
 * Read a run report (JSON), a soak folder, or a soak's violations.jsonl
 * (its config.json beside it); `pick`: which violation (0 the first; for a
 * soak its `seq`).
 */
export function readRecording(path: string, pick?: number): Recording {
  const isDir = statSync(path).isDirectory();
  const jsonl = isDir ? join(path, 'violations.jsonl') : path;
  if (isDir || path.endsWith('.jsonl')) {
    const lines = readFileSync(jsonl, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as SoakLine);
    const line = pick === undefined ? lines[0] : lines.find((l) => l.seq === pick);
    if (!line) {
      throw new Error(
        pick === undefined
          ? `${jsonl} holds no violation`
          : `${jsonl} holds no violation with seq ${pick}`,
      );
    }
    const what = `violation ${line.seq} (${line.kind}) of ${jsonl}`;
    if (line.config && line.sched && line.stall) {
      const json = {
        config: line.config,
        verdict: 'STALL',
        sched: line.sched,
        stall: line.stall,
        violations: [],
      };
      return { controlled: true, json, what };
    }
    if (line.config && line.sched) {
      const v = {
        kind: line.kind,
        pfn: line.pfn,
        cpu: line.cpu,
        generationAtFault: line.generationAtFault ?? -1,
        generationNow: line.generationNow ?? -1,
        detail: line.detail ?? 0,
        story: line.story ?? [],
      };
      const json = {
        config: line.config,
        verdict: line.verdict ?? 'FAILURE',
        sched: line.sched,
        stall: line.scheduleStall ? { kind: line.scheduleStall } : null,
        violations: [v],
      };
      return { controlled: true, json, only: line.scheduleViolation ?? 0, what };
    }
    if (line.kind === 'audit' || !line.events) {
      throw new Error(`${what} has no flight-recorder events to steer by (an audit failure?)`);
    }
    const cfgPath = join(dirname(jsonl), 'config.json');
    const cfg = machineConfigOf(JSON.parse(readFileSync(cfgPath, 'utf8')));
    return {
      controlled: false,
      cfg,
      violation: line as Required<Pick<SoakLine, 'kind' | 'pfn'>> & SoakLine,
      what,
    };
  }
  const json = JSON.parse(readFileSync(path, 'utf8')) as {
    config?: unknown;
    violations?: RunReport['violations'];
  };
  if (!json || typeof json !== 'object' || !json.config)
    throw new Error(`${path} is not a run report (no config)`);
  const cfg = machineConfigOf(json.config);
  if (cfg.sched.kind !== 'os') return { controlled: true, json, what: path };
  const v = json.violations?.[pick ?? 0];
  if (!v) {
    throw new Error(
      `${path} is a --sched os report with no violation${pick ? ` number ${pick}` : ''} to reproduce`,
    );
  }
  return {
    controlled: false,
    cfg,
    violation: v,
    what: `violation ${pick ?? 0} (${v.kind}) of ${path}`,
  };
}
