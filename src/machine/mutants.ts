/**
 * The kill matrix (`hvaemu mutants`): each mutant of docs/protocol.md section 5 is
 * run until the oracle or the watchdog catches it, or its budget of machine
 * time is spent, with a fresh seed per attempt; first, the correct protocol
 * is run with the same widening and must stay clean.
 *
 * Each mutant has the race-window widening that makes it show quickly (its
 * profile below, and the reason for it). The budget counts machine time
 * (CPUs running), not the threads' start-up.
 */
import { performance } from 'node:perf_hooks';
import { type CoverageRow, sumCoverage } from '../check/coverage.ts';
import { type Config, type ConfigInput, MUTANTS, type Mutant, makeConfig } from '../config.ts';
import { NR_POINTS, type PointName, pointId } from '../points.ts';
import { runSchedules } from './controlled.ts';
import { type RunOptions, type RunReport, runMachine } from './machine.ts';

export type MutantName = Exclude<Mutant, 'none'>;
export const MUTANT_NAMES = MUTANTS.filter((m): m is MutantName => m !== 'none');

/** Race-window widening and guest shape for one run (a subset of the machine flags). */
export type Widening = {
  /** Microseconds at each point: fixed, or [lo, hi] for a random delay in that range. */
  delays?: Partial<Record<PointName, number | readonly [number, number]>>;
  jitterUs?: number;
  stutterMs?: number;
  longHoldUs?: number;
  migrate?: boolean;
  ipiDeliveryUs?: number;
  pages?: number;
  files?: number;
  pagevecSize?: number;
  /** --irq-rate: interrupts per second (timer per CPU, net for the device). */
  irqRates?: { timer: number; net: number };
};

export type MutantProfile = {
  widen: Widening;
  /** Why this widening exposes the mutant. */
  why: string;
  /** What catches it (violation kinds, `audit`, `stall`): anything else is not this bug showing. */
  caughtBy: readonly string[];
  /**
   * Without any widening the mutant cannot differ from the protocol in this
   * model: the reason, reported as `equivalent` (never counted as killed).
   */
  equivalentUnwidened?: string;
};

/**
 * The guest most widenings use: a small memory (direct reclaim, hence
 * shrink_discards, all the time) and a one-page discard vector (a parked
 * page is on the list, ready to be spliced and freed, at once).
 */
const PRESSURE: Widening = { pages: 2048, pagevecSize: 1 };

export const MUTANT_PROFILES: Record<MutantName, MutantProfile> = {
  'free-immediately': {
    caughtBy: ['free-in-window', 'use-after-reuse'],
    widen: { ...PRESSURE, delays: { 'fault-to-ref': 1000 } },
    why: 'a 1 ms fault window: the frame freed at once is reallocated inside it',
  },
  'irq-enable-before-ref': {
    caughtBy: ['free-in-window', 'use-after-reuse'],
    widen: { ...PRESSURE, delays: { 'fault-to-ref': 1000 } },
    why: 'a 1 ms window with interrupts on: the IPI is taken inside it, the frame freed',
  },
  'plain-inc': {
    caughtBy: ['ref-from-zero', 'double-list', 'use-after-reuse', 'negative-count'],
    widen: { ...PRESSURE, delays: { 'ref-inc': 300 } },
    why: '300 us between the look at the count and the increment: the last reference goes in between',
  },
  'no-wait-ipi': {
    caughtBy: ['free-in-window', 'use-after-reuse'],
    widen: { ...PRESSURE, delays: { 'fault-to-ref': 1000 } },
    why: 'a 1 ms fault window that the fire-and-forget rendezvous does not wait for',
  },
  'barrier-before-splice': {
    caughtBy: ['free-in-window', 'use-after-reuse'],
    widen: { ...PRESSURE, delays: { 'fault-to-ref': 1000, 'ipi-to-splice': 1000 } },
    why: '1 ms between the IPIs and the splice (pages parked meanwhile), 1 ms fault windows',
  },
  'call-with-irqs-off': {
    // smp_call_function's WARN_ON(irqs_disabled()) first; the deadlock's stall after it
    caughtBy: ['smp-call-irqs-off', 'stall'],
    widen: { ...PRESSURE, delays: { 'splice-to-ipi': 500 } },
    why: '500 us with interrupts off before the IPIs: a second reclaimer arrives and spins on call_lock',
  },
  'no-clear-before-free': {
    caughtBy: ['bad-page', 'bad-alloc'],
    widen: { ...PRESSURE },
    why: 'a small guest: shrink_discards runs early, and the first page it frees fails free_pages_check',
  },
  'pagevec-without-preempt-off': {
    caughtBy: ['lost-page', 'double-list', 'pagevec-overflow', 'list-corruption', 'audit'],
    widen: { migrate: true, delays: { 'pvec-store': 300 } },
    why: '--migrate, and 300 us between reading pvec->nr and storing: the task resumes on another CPU while the old CPU adds to the vector',
    equivalentUnwidened:
      'without --migrate no task leaves its CPU while it uses the per-CPU vector, so taking the pointer with preemption enabled changes nothing',
  },
  'sendfile-without-stable': {
    caughtBy: ['lockdep-percpu', 'lockdep-inconsistent', 'lost-page', 'double-list', 'stall'],
    widen: {
      ...PRESSURE,
      pagevecSize: 14,
      irqRates: { timer: 1000, net: 50000 },
      delays: { 'pvec-store': 200 },
    },
    why: 'the device holds discarded pages, so their last put_page parks them from the NET_TX softirq; 200 us inside pagevec_add with interrupts on lets that softirq run on the same CPU in the middle',
  },
  'tx-lock-without-bh': {
    // the validator first (lockdep-recursive when the CPU that meets the held
    // lock is not the one that records the usage); without it, the deadlock
    caughtBy: ['lockdep-inconsistent', 'lockdep-recursive', 'stall'],
    widen: { irqRates: { timer: 1000, net: 50000 }, delays: { 'lock-held': [0, 50] } },
    why: 'dev->queue_lock held with bottom halves on: the NET_TX softirq that runs on this CPU while it is held spins on it forever',
  },
  'lru-lock-without-irq': {
    // the validator first (lockdep-recursive when the CPU that meets the held
    // lock is not the one that records the usage); without it, the deadlock
    caughtBy: ['lockdep-inconsistent', 'lockdep-recursive', 'stall'],
    widen: { irqRates: { timer: 1000, net: 50000 }, delays: { 'lock-held': [0, 50] } },
    why: 'zone->lru_lock held with interrupts on in __page_cache_release: a NET_TX softirq on this CPU whose put_page frees an LRU page spins on it forever',
  },
};

/**
 * The control's widenings: each distinct one of these mutants' (the correct
 * protocol must stay clean under every widening that catches a mutant).
 */
export function controlWidenings(names: readonly MutantName[] = MUTANT_NAMES): Widening[] {
  const seen = new Map<string, Widening>();
  for (const m of names) {
    const w = MUTANT_PROFILES[m].widen;
    const key = widenFlags(w);
    if (!seen.has(key)) seen.set(key, w);
  }
  return [...seen.values()];
}

export function widenConfig(w: Widening): Partial<ConfigInput> {
  const out: Partial<ConfigInput> = {};
  if (w.delays && Object.keys(w.delays).length > 0) {
    const d = new Array<number>(NR_POINTS).fill(0);
    const span = new Array<number>(NR_POINTS).fill(0);
    for (const [name, us] of Object.entries(w.delays)) {
      const id = pointId(name)!;
      if (typeof us === 'number') d[id] = us;
      else if (us) [d[id], span[id]] = [us[0], us[1] - us[0]];
    }
    out.delaysUs = d;
    out.delaySpansUs = span;
  }
  for (const k of [
    'jitterUs',
    'stutterMs',
    'longHoldUs',
    'migrate',
    'ipiDeliveryUs',
    'pages',
    'files',
    'pagevecSize',
    'irqRates',
  ] as const) {
    if (w[k] !== undefined) (out as Record<string, unknown>)[k] = w[k];
  }
  return out;
}

const dur = (us: number) => (us >= 1000 && us % 1000 === 0 ? `${us / 1000}ms` : `${us}us`);

/** The widening as `hvaemu run` flags. */
export function widenFlags(w: Widening): string {
  const f: string[] = [];
  for (const [name, us] of Object.entries(w.delays ?? {})) {
    if (us === undefined) continue;
    f.push(`--delay ${name}=${typeof us === 'number' ? dur(us) : `${dur(us[0])}..${dur(us[1])}`}`);
  }
  if (w.jitterUs) f.push(`--jitter ${dur(w.jitterUs)}`);
  if (w.stutterMs) f.push(`--stutter ${w.stutterMs}ms`);
  if (w.longHoldUs) f.push(`--long-hold ${dur(w.longHoldUs)}`);
  if (w.migrate) f.push('--migrate');
  if (w.ipiDeliveryUs) f.push(`--ipi-delivery ${dur(w.ipiDeliveryUs)}`);
  if (w.pages !== undefined) f.push(`--pages ${w.pages}`);
  if (w.files !== undefined) f.push(`--files ${w.files}`);
  if (w.pagevecSize !== undefined) f.push(`--pagevec-size ${w.pagevecSize}`);
  if (w.irqRates) f.push(`--irq-rate timer=${w.irqRates.timer},net=${w.irqRates.net}`);
  return f.join(' ');
}

export type HuntOptions = {
  cpus: number;
  /** The lock validator (default on; false: the oracle and the watchdog alone). */
  lockdep?: boolean;
  budgetMs: number;
  /** Apply the mutant's widening (false: the plain machine, for comparison). */
  widen: boolean;
  stallTimeoutMs: number;
  /** First seed; attempt k uses seed + k (default: random). */
  seed?: number;
  /**
   * --sched random|pct: each attempt is one controlled schedule (of
   * sched.steps decisions, its own seed), so attempts count schedules.
   */
  sched?: Config['sched'];
  /** run --guided in every hunt and control run (src/check/guided.ts) */
  guided?: boolean;
  signal?: AbortSignal;
  onAttempt?: (a: AttemptReport) => void;
};

export type AttemptReport = {
  name: MutantName | 'control';
  attempt: number;
  seed: number;
  verdict: RunReport['verdict'];
  durationMs: number;
  detectedBy: string | null;
};

export type HuntResult = {
  name: MutantName;
  killed: boolean;
  /** A violation kind, `audit`, or `stall`; null if not killed. */
  detectedBy: string | null;
  /** Machine time until detection, over all attempts (null if not killed). */
  timeToDetectMs: number | null;
  /** The seed of the attempt that killed it (or of the last attempt). */
  seed: number;
  attempts: number;
  machineMs: number;
  wallMs: number;
  widening: string;
  equivalent?: boolean;
  reason?: string;
  /** How it was caught: the violation's story, or the stall's reason. */
  evidence?: string[];
  errors?: string[];
  /**
   * --sched random|pct: the schedules run (the killing one included; equal
   * to attempts) and the decisions they took, wind-downs included.
   */
  schedules?: number;
  steps?: number;
  /** Near misses per hazard over its attempts (src/check/coverage.ts, sumCoverage). */
  coverage?: CoverageRow[];
};

export type ControlRun = {
  widening: string;
  verdict: RunReport['verdict'];
  seed: number;
  durationMs: number;
  violations: number;
  evidence?: string[];
  /** --sched random|pct: the schedules run and their decisions */
  schedules?: number;
  steps?: number;
  /** Its near misses per hazard (the run's coverage table). */
  coverage?: CoverageRow[];
};

export type ControlResult = {
  /** SUCCESS only if every run was. */
  verdict: RunReport['verdict'];
  durationMs: number;
  runs: ControlRun[];
};

/** Attempts are this long at most (machine time), so that one budget sees several seeds. */
export function attemptMs(budgetMs: number): number {
  return Math.max(2000, Math.min(budgetMs, budgetMs / 4));
}

/** Attempts that end in an internal error before a hunt gives up. */
const MAX_ERRORS = 3;

const randomSeed = () => (Math.random() * 0x100000000) >>> 0;

/**
 * Under a controlled scheduler a schedule is a few thousand decisions, a few
 * hundred operations: only a tiny guest fills its memory in that time, so
 * that reclaim (and with it shrink_discards) runs at all: 256 pages, 16
 * files, and 128 pages a CPU above 4 CPUs (at 8 CPUs on 256 pages every
 * page is mapped and reclaim scans the whole LRU for nothing, tens of
 * thousands of decisions an allocation). It replaces the profile's guest
 * size; the profile's delays run on the schedule's clock (sched.ts).
 */
export function schedGuest(cpus: number): { pages: number; files: number } {
  return { pages: cpus > 4 ? 128 * cpus : 256, files: 16 };
}

/**
 * Decisions per schedule of a controlled hunt (`mutants --sched`, unless
 * --steps says otherwise): on the tiny guest memory fills after about 1500
 * decisions (4 CPUs), every CPU then reclaims, and barrier-before-splice's
 * order (a CPU back at work faulting on a page after it took the IPI of a
 * reclaimer still between its IPIs and its splice) needs that reclaim storm
 * to end first: its failing schedules failed at 7800-17400 decisions (pct:3,
 * pct:2, random, 4 CPUs, seeds 1-3), and schedules of 2000 decisions never
 * failed (>460 schedules under pct:3, >120 under random). Longer schedules
 * cost the others nothing: they stop at their first violation.
 */
export const SCHED_HUNT_STEPS = 20_000;

/** The widening a hunt runs: under a controlled scheduler, with its tiny guest. */
function effective(w: Widening, opts: HuntOptions): Widening {
  return controlled(opts) ? { ...w, ...schedGuest(opts.cpus) } : w;
}

function baseConfig(opts: HuntOptions, seed: number, durationMs: number): Partial<ConfigInput> {
  return {
    cpus: opts.cpus,
    seed,
    durationMs,
    stopOnViolation: true,
    stallTimeoutMs: opts.stallTimeoutMs,
    ...(opts.lockdep === false ? { lockdep: false } : {}),
    ...(opts.sched ? { sched: opts.sched } : {}),
    ...(opts.guided ? { guided: true } : {}),
  };
}

const controlled = (opts: HuntOptions) => opts.sched !== undefined && opts.sched.kind !== 'os';

/**
 * One machine run of a hunt or of the control: under --sched os, one
 * machine for the attempt's time; under a controlled scheduler, schedules
 * on one crew of threads (controlled.ts) until one fails or the attempt's
 * time is spent, each schedule an attempt (onSchedule), the report the last
 * one's.
 */
async function huntRun(
  cfg: Config,
  opts: HuntOptions,
  onSchedule: (i: number, r: RunReport) => void,
): Promise<{
  report: RunReport;
  schedules: number;
  steps: number;
  durationMs: number;
  /** near misses per hazard over every schedule run */
  coverage: CoverageRow[];
}> {
  const ro: RunOptions = opts.signal ? { signal: opts.signal } : {};
  if (!controlled(opts)) {
    const r = await runMachine(cfg, ro);
    onSchedule(0, r);
    return { report: r, schedules: 1, steps: 0, durationMs: r.durationMs, coverage: r.coverage };
  }
  let durationMs = 0;
  const runs: Pick<RunReport, 'coverage' | 'durationMs'>[] = [];
  const run = await runSchedules(cfg, {
    ...ro,
    onSchedule: (i, r) => {
      durationMs += r.durationMs;
      runs.push({ coverage: r.coverage, durationMs: r.durationMs });
      onSchedule(i, r);
    },
  });
  return {
    report: run.report,
    schedules: run.schedules,
    steps: run.steps,
    durationMs,
    coverage: sumCoverage(runs),
  };
}

function attemptReport(name: AttemptReport['name'], attempt: number, r: RunReport): AttemptReport {
  return {
    name,
    attempt,
    seed: r.config.seed,
    verdict: r.verdict,
    durationMs: r.durationMs,
    detectedBy: detection(r)?.by ?? null,
  };
}

/** What caught a run: its first violation's kind, the audit, or the stall watchdog. */
export function detection(r: RunReport): { by: string; atMs: number } | null {
  if (r.verdict === 'STALL') {
    // a violation reported before the watchdog fired caught it first (the
    // lock validator's report of a deadlock that then happened)
    const v = r.violations[0];
    const stallAt = r.stall?.atMs ?? r.durationMs;
    if (v && r.firstViolationMs !== null && r.firstViolationMs <= stallAt) {
      return { by: v.kind, atMs: firstViolationAt(r, r.firstViolationMs) };
    }
    return { by: 'stall', atMs: stallAt };
  }
  if (r.verdict !== 'FAILURE') return null;
  const v = r.violations[0];
  return {
    by: v ? v.kind : 'audit',
    atMs: r.firstViolationMs !== null ? firstViolationAt(r, r.firstViolationMs) : r.durationMs,
  };
}

/**
 * When the first violation happened (run time, ms): its own time stamp (the
 * CPU's clock as it reported it, epoch ms) from the CPUs' release, not the
 * monitor tick that saw it (`seen`, at most 50 ms later: a kill time at that
 * resolution cannot compare mutants caught in the first ticks). Under a
 * controlled scheduler the stamps are on the logical clock: `seen`.
 */
function firstViolationAt(r: RunReport, seen: number): number {
  if (r.config.sched.kind !== 'os' || r.cpusReleasedAt === null) return seen;
  let first = Number.POSITIVE_INFINITY;
  for (const v of r.violations) first = Math.min(first, v.atMs - r.cpusReleasedAt);
  return first >= 0 && first <= seen ? first : seen;
}

function evidenceOf(r: RunReport): string[] | undefined {
  if (r.verdict === 'STALL' && r.stall) return [r.stall.reason];
  const v = r.violations[0];
  if (v) {
    const on = v.list ? `on ${v.list.name}` : v.pfn >= 0 ? `on pfn ${v.pfn}` : '';
    return [`${v.kind} ${on}, found by cpu${v.cpu}`, ...v.story];
  }
  if ('errors' in r.audit) return r.audit.errors;
  return undefined;
}

/**
 * The correct protocol under each widening in turn, the budget shared among
 * them (at least 2 s each): every run must end SUCCESS. Stops at the first
 * that does not.
 */
export async function runControl(
  opts: HuntOptions,
  widenings: Widening[],
  protocol: Config['protocol'] = 'patched',
): Promise<ControlResult> {
  const list = widenings.length > 0 ? widenings : [{}];
  const share = Math.max(2000, opts.budgetMs / list.length);
  const seed0 = opts.seed ?? randomSeed();
  const res: ControlResult = { verdict: 'SUCCESS', durationMs: 0, runs: [] };
  for (const [k, w] of list.entries()) {
    if (opts.signal?.aborted) break;
    const seed = (seed0 + k) >>> 0;
    const cfg = makeConfig({
      ...baseConfig(opts, seed, share),
      stopOnViolation: false,
      protocol,
      ...widenConfig(effective(w, opts)),
    });
    let attempt = 0;
    const run = await huntRun(cfg, opts, (_i, r) => {
      attempt++;
      opts.onAttempt?.(attemptReport('control', attempt, r));
    });
    const r = run.report;
    res.durationMs += run.durationMs;
    const ev = r.verdict !== 'SUCCESS' ? (evidenceOf(r) ?? [r.error?.message ?? '']) : undefined;
    res.runs.push({
      widening: widenFlags(effective(w, opts)),
      verdict: r.verdict,
      seed: r.config.seed,
      durationMs: run.durationMs,
      violations: r.violationsTotal,
      ...(ev ? { evidence: ev } : {}),
      ...(controlled(opts) ? { schedules: run.schedules, steps: run.steps } : {}),
      coverage: run.coverage,
    });
    if (r.verdict !== 'SUCCESS') {
      res.verdict = r.verdict;
      break;
    }
  }
  return res;
}

/** Run one mutant until it is caught or its budget is spent. */
export async function huntMutant(name: MutantName, opts: HuntOptions): Promise<HuntResult> {
  const profile = MUTANT_PROFILES[name];
  const w = opts.widen ? profile.widen : {};
  const seed0 = opts.seed ?? randomSeed();
  const res: HuntResult = {
    name,
    killed: false,
    detectedBy: null,
    timeToDetectMs: null,
    seed: seed0,
    attempts: 0,
    machineMs: 0,
    wallMs: 0,
    widening: widenFlags(effective(w, opts)),
  };
  if (!opts.widen && profile.equivalentUnwidened) {
    return { ...res, equivalent: true, reason: profile.equivalentUnwidened };
  }
  const wall0 = performance.now();
  const errors: string[] = [];
  if (controlled(opts)) {
    await huntSchedules(name, w, opts, res, wall0, errors);
    res.wallMs = performance.now() - wall0;
    if (errors.length > 0) res.errors = errors;
    return res;
  }
  const runs: Pick<RunReport, 'coverage' | 'durationMs'>[] = [];
  while (res.machineMs < opts.budgetMs && !opts.signal?.aborted) {
    const seed = (seed0 + res.attempts) >>> 0;
    const cfg = makeConfig({
      ...baseConfig(opts, seed, Math.min(attemptMs(opts.budgetMs), opts.budgetMs - res.machineMs)),
      mutant: name,
      ...widenConfig(effective(w, opts)),
    });
    const r = await runMachine(cfg, opts.signal ? { signal: opts.signal } : {});
    runs.push({ coverage: r.coverage, durationMs: r.durationMs });
    res.attempts++;
    res.seed = seed;
    const d = detection(r);
    opts.onAttempt?.({
      name,
      attempt: res.attempts,
      seed,
      verdict: r.verdict,
      durationMs: r.durationMs,
      detectedBy: d?.by ?? null,
    });
    if (d) {
      res.killed = true;
      res.detectedBy = d.by;
      res.timeToDetectMs = res.machineMs + d.atMs;
      res.machineMs += r.durationMs;
      const ev = evidenceOf(r);
      if (ev) res.evidence = ev;
      break;
    }
    res.machineMs += Math.max(r.durationMs, 1);
    if (r.verdict === 'ERROR') {
      errors.push(r.error?.message ?? 'error');
      if (errors.length >= MAX_ERRORS) break;
    }
  }
  res.wallMs = performance.now() - wall0;
  if (errors.length > 0) res.errors = errors;
  if (runs.length > 0) res.coverage = sumCoverage(runs);
  return res;
}

/**
 * A hunt under --sched random|pct: schedules on one crew of threads
 * (runSchedules) until one catches the mutant or the budget (wall time of
 * the schedules, the crew's start included) is spent; each schedule is an
 * attempt. After an internal error the hunt goes on from a new seed, on a
 * new crew.
 */
async function huntSchedules(
  name: MutantName,
  w: Widening,
  opts: HuntOptions,
  res: HuntResult,
  wall0: number,
  errors: string[],
): Promise<void> {
  res.schedules = 0;
  res.steps = 0;
  const seed0 = res.seed;
  const crews: Pick<RunReport, 'coverage' | 'durationMs'>[] = [];
  for (;;) {
    const left = opts.budgetMs - (performance.now() - wall0);
    if (left < MIN_SCHEDULES_MS || opts.signal?.aborted) return;
    const cfg = makeConfig({
      ...baseConfig(opts, (seed0 + res.attempts) >>> 0, left),
      mutant: name,
      ...widenConfig(effective(w, opts)),
    });
    const run = await huntRun(cfg, opts, (_i, r) => {
      res.attempts++; // not inside onAttempt?.(...): without a listener that is not evaluated
      opts.onAttempt?.(attemptReport(name, res.attempts, r));
    });
    const r = run.report;
    res.machineMs += run.durationMs;
    res.schedules = res.attempts;
    res.steps += run.steps;
    crews.push({ coverage: run.coverage, durationMs: run.durationMs });
    res.coverage = sumCoverage(crews);
    // the last schedule's seed (the killing one's): `hvaemu run --sched ... --seed` runs it first
    res.seed = r.config.seed;
    const d = detection(r);
    if (d) {
      res.killed = true;
      res.detectedBy = d.by;
      res.timeToDetectMs = res.machineMs;
      const ev = evidenceOf(r);
      if (ev) res.evidence = ev;
      return;
    }
    if (r.verdict !== 'ERROR') return; // the budget is spent (or a signal stopped it)
    errors.push(r.error?.message ?? 'error');
    if (errors.length >= MAX_ERRORS) return;
  }
}

/** A controlled hunt does not start a crew with less time than this left. */
const MIN_SCHEDULES_MS = 200;
