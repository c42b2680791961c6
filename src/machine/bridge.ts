/**
 * The bridge from OS scheduling to the controlled scheduler: a violation
 * found under --sched os (run --json, a soak's violations.jsonl) has a story
 * but no recorded interleaving, and the OS will not play it again. `hvaemu
 * replay` then tries to make it happen again under the controlled scheduler,
 * steered toward the story's order (a guided schedule, src/kernel/sched_guide.ts):
 * the same machine configuration and workload seed, schedules of
 * --steps decisions, each guided by the story's pattern, until one fails
 * with the same violation kind or the budget is spent. What it finds is a
 * controlled schedule: replayable exactly and shrinkable like any other.
 */
import { type TraceEvent, violationStory } from '../check/decode.ts';
import type { Config } from '../config.ts';
import { guideEventId } from '../kernel/sched_guide.ts';
import { type ControlledOptions, runSchedules } from './controlled.ts';
import type { RunOptions, RunReport } from './machine.ts';

export type Pattern = [number, string][];

/** Steps a CPU is run for its part of the story before the guide starts over. */
export const GUIDE_WINDOW = 400;

/**
 * A story's pattern: from the fault that opened the window still open at the
 * violation (or the story's first event on the frame), the last event of each
 * run of events by one CPU, with the CPU's role (0 for the first CPU met, 1
 * for the next ...). The oracle's own records and the host's events are left
 * out (the host is the environment, not steered).
 */
export function storyPattern(events: TraceEvent[], pfn: number, nrCpus: number): Pattern {
  const story = violationStory(events, pfn).filter(
    (e) => !e.oracle && e.cpu < nrCpus && guideEventId(e.event) >= 0,
  );
  const first = story.findIndex((e) => e.pfn === pfn && e.event === 'fault');
  const from =
    first >= 0
      ? first
      : Math.max(
          0,
          story.findIndex((e) => e.pfn === pfn),
        );
  const roles = new Map<number, number>();
  const pattern: Pattern = [];
  let last: TraceEvent | undefined;
  const push = (e: TraceEvent) => {
    if (!roles.has(e.cpu)) roles.set(e.cpu, roles.size);
    pattern.push([roles.get(e.cpu)!, e.event]);
  };
  for (const e of story.slice(from)) {
    if (last && e.cpu !== last.cpu) push(last);
    last = e;
  }
  if (last) push(last);
  return pattern.slice(0, 64);
}

/** The schedule kinds the bridge can use. */
export type BridgeSched = Pick<Config['sched'], 'kind' | 'depth' | 'steps'>;

export type BridgeResult = {
  kind: string;
  pattern: Pattern;
  /** the controlled run's last schedule: the one that reproduced the kind, if one did */
  report: RunReport;
  reproduced: boolean;
  schedules: number;
  steps: number;
  wallMs: number;
};

/**
 * Try to reproduce a --sched os violation (`violation`: kind, frame, events)
 * of a run configured `cfg` under a guided controlled scheduler.
 */
export async function bridge(
  cfg: Config,
  violation: { kind: string; pfn: number; events?: TraceEvent[] },
  sched: BridgeSched,
  opts: Pick<ControlledOptions, 'maxSchedules' | 'onSchedule'> &
    RunOptions & { budgetMs: number; guided?: boolean } = { budgetMs: 60_000 },
): Promise<BridgeResult> {
  const pattern = violation.events ? storyPattern(violation.events, violation.pfn, cfg.cpus) : [];
  const guided = opts.guided !== false && pattern.length > 0;
  const { budgetMs, maxSchedules, guided: _g, ...machineOpts } = opts;
  const { script: _s, markStep: _m, guide: _x, ...base } = cfg.sched;
  const controlled: Config = {
    ...cfg,
    durationMs: budgetMs,
    sched: {
      ...base,
      ...sched,
      ...(guided ? { guide: { pattern, window: GUIDE_WINDOW } } : {}),
    },
  };
  const t0 = performance.now();
  let reproduced = false;
  const run = await runSchedules(controlled, {
    ...machineOpts,
    ...(maxSchedules !== undefined ? { maxSchedules } : {}),
    keepGoing: (r) => {
      reproduced = (r.violations[0]?.kind ?? r.stall?.kind) === violation.kind;
      return !reproduced;
    },
  });
  return {
    kind: violation.kind,
    pattern,
    report: run.report,
    reproduced,
    schedules: run.schedules,
    steps: run.steps,
    wallMs: performance.now() - t0,
  };
}
