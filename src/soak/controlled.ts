/**
 * A controlled soak (soak --sched random|pct[:DEPTH] --steps N): instead of
 * one machine for hours, a sequence of short schedules for hours
 * (runSchedules, src/machine/controlled.ts), each a fresh machine with its
 * own seed, which goes on after a failing schedule. The results folder is a
 * soak's (soak.ts): config.json, stats.jsonl (one line per interval: the
 * usual counters summed over the schedules that ended in it, and `sched`:
 * schedules and steps done), violations.jsonl, summary.json, report.html.
 *
 * Each violation line carries the schedule that found it (`config`, its seed
 * included, and `sched`, its decisions' hash and switches), so that `hvaemu
 * replay DIR/violations.jsonl --violation SEQ` runs that schedule again and
 * compares. Every schedule ends with the full audit of a quiescent machine
 * (machine.ts), so there is no stop_machine here: a failed final audit is a
 * violation of kind `audit` with its schedule too.
 */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config.ts';
import { type ControlledRun, runSchedules } from '../machine/controlled.ts';
import { exitCode as exitCodeOf, type RunReport, type Verdict } from '../machine/machine.ts';
import { COUNTERS } from '../shm/layout.ts';
import { openJournal, writeJson } from './journal.ts';
import { judgeMemory, makeSeriesStore } from './leak.ts';
import { memorySeries } from './memstat.ts';
import {
  FILES,
  renderSoakFolder,
  SOAK_SCHEMA,
  type SoakOptions,
  type SoakResult,
  type SoakSummary,
  soakConfig,
  type ViolationLine,
  violationFields,
} from './soak.ts';
import { headlineCounts, memorySample, STATS_SCHEMA, type StatsLine } from './stats.ts';

type Totals = RunReport['totals'];

/** What a stats line (and the summary) of a controlled soak says about its schedules. */
export type SchedProgress = {
  kind: Config['sched']['kind'];
  depth: number;
  /** steps per schedule (--steps) */
  steps: number;
  /** schedules that ended in this interval (the summary: in the whole run) */
  schedules: number;
  /** decisions they took */
  stepsDone: number;
  /** of them, schedules that did not succeed (a violation, a failed audit, a stall) */
  failing: number;
  schedulesPerSec: number;
  stepsPerSec: number;
  /** since the start */
  schedulesTotal: number;
  stepsTotal: number;
  failingTotal: number;
};

const zero = (): Totals => Object.fromEntries(COUNTERS.map((n) => [n, 0])) as Totals;
const add = (a: Totals, b: Totals) => {
  for (const n of COUNTERS) a[n] = n === 'irqsOffMaxUs' ? Math.max(a[n], b[n]) : a[n] + b[n];
};
const r1 = (x: number) => Math.round(x * 10) / 10;

export async function runControlledSoak(cfg: Config, opts: SoakOptions): Promise<SoakResult> {
  const dir = opts.out;
  mkdirSync(dir, { recursive: true });
  const path = (f: keyof typeof FILES) => join(dir, FILES[f]);
  const config = soakConfig(cfg, opts, 0);
  writeJson(path('config'), config);
  const statsJournal = openJournal(path('stats'));
  const violJournal = openJournal(path('violations'));
  const memory = makeSeriesStore();
  const wall0 = performance.now();
  const startedAt = new Date();
  const n = cfg.cpus;

  // the run so far, and the interval so far
  const run = { totals: zero(), cpus: Array.from({ length: n }, zero), schedules: 0, steps: 0 };
  let iv = {
    totals: zero(),
    cpus: Array.from({ length: n }, zero),
    schedules: 0,
    steps: 0,
    failing: 0,
  };
  let failingTotal = 0;
  let stalls = 0;
  let violationsTotal = 0;
  let auditFailures = 0;
  let written = 0;
  let firstMs: number | null = null;
  let statsLines = 0;
  let seq = 0;
  let lastLineMs = 0;
  let nextStatMs = opts.statIntervalMs;
  let last: RunReport | undefined;
  let stall: RunReport['stall'] | null = null;
  let error: RunReport['error'] | null = null;
  const elapsed = () => performance.now() - wall0;

  const progress = (intervalMs: number): SchedProgress => ({
    kind: cfg.sched.kind,
    depth: cfg.sched.depth,
    steps: cfg.sched.steps,
    schedules: iv.schedules,
    stepsDone: iv.steps,
    failing: iv.failing,
    schedulesPerSec: r1((iv.schedules * 1000) / intervalMs),
    stepsPerSec: Math.round((iv.steps * 1000) / intervalMs),
    schedulesTotal: run.schedules,
    stepsTotal: run.steps,
    failingTotal,
  });

  const writeStats = (final: boolean) => {
    const elapsedMs = elapsed();
    const intervalMs = Math.max(elapsedMs - lastLineMs, 1e-3);
    const counters: Record<string, number> = {};
    for (const c of COUNTERS) if (c !== 'irqsOffMaxUs') counters[c] = iv.totals[c];
    const opsPerSec = iv.cpus.map((c) => r1((c.ops * 1000) / intervalMs));
    const line: StatsLine & { sched: SchedProgress } = {
      schema: STATS_SCHEMA,
      seq: seq++,
      t: new Date().toISOString(),
      elapsedMs: r1(elapsedMs),
      intervalMs: r1(intervalMs),
      ...(final ? { final: true as const } : {}),
      opsPerSec,
      opsPerSecTotal: r1(opsPerSec.reduce((a, b) => a + b, 0)),
      ...headlineCounts(counters),
      counters,
      locks: [],
      irqsOffMaxUs: run.cpus.map((c) => r1(c.irqsOffMaxUs)),
      irqsOffIntervalMaxUs: iv.cpus.map((c) => r1(c.irqsOffMaxUs)),
      memory: memorySample(true),
      violations: violationsTotal,
      audits: run.schedules,
      auditFailures,
      sched: progress(intervalMs),
    };
    statsJournal.append(line);
    statsLines++;
    lastLineMs = elapsedMs;
    if (!final) memory.push(line.elapsedMs, memorySeries(line.memory));
    opts.onInterval?.(line);
    iv = {
      totals: zero(),
      cpus: Array.from({ length: n }, zero),
      schedules: 0,
      steps: 0,
      failing: 0,
    };
  };

  /** The violation lines of a failing schedule: each with the schedule that found it. */
  const record = (r: RunReport) => {
    const atMs = Math.round(elapsed());
    const { version: _v, ...schedCfg } = r.config;
    const common = {
      schema: SOAK_SCHEMA as typeof SOAK_SCHEMA,
      seed: r.config.seed,
      at: new Date().toISOString(),
      elapsedMs: atMs,
      config: schedCfg,
      ...(r.sched ? { sched: r.sched } : {}),
      verdict: r.verdict,
      schedule: r.sched?.schedule?.index ?? 0,
      ...(r.stall ? { scheduleStall: r.stall.kind } : {}),
    };
    r.violations.forEach((v, i) => {
      violJournal.append({
        ...common,
        seq: written++,
        ...violationFields(v),
        story: v.story,
        scheduleViolation: i,
      } satisfies ViolationLine);
      firstMs ??= atMs;
    });
    if (r.stall) {
      violJournal.append({
        ...common,
        seq: written++,
        kind: `stall-${r.stall.kind}`,
        description: r.stall.reason,
        cpu: -1,
        pfn: -1,
        cpusInvolved: [],
        trace: [],
        stall: { kind: r.stall.kind, reason: r.stall.reason },
      } satisfies ViolationLine);
      firstMs ??= atMs;
    }
    if ('errors' in r.audit && !r.audit.ok) {
      auditFailures++;
      violJournal.append({
        ...common,
        seq: written++,
        kind: 'audit',
        description: 'the final audit of the schedule failed',
        cpu: -1,
        pfn: -1,
        cpusInvolved: [],
        trace: [],
        errors: r.audit.errors,
      } satisfies ViolationLine);
      firstMs ??= atMs;
    }
  };

  let controlled: ControlledRun;
  try {
    controlled = await runSchedules(
      { ...cfg },
      {
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.maxSchedules !== undefined ? { maxSchedules: opts.maxSchedules } : {}),
        // a fresh machine each schedule: violations and deadlocks are findings, the soak goes on
        keepGoing: (r) =>
          (r.verdict === 'FAILURE' || r.verdict === 'STALL') && !cfg.stopOnViolation,
        onSchedule: (_i, r) => {
          last = r;
          const steps = r.sched?.stepsRun ?? 0;
          run.schedules++;
          run.steps += steps;
          iv.schedules++;
          iv.steps += steps;
          add(run.totals, r.totals);
          add(iv.totals, r.totals);
          r.cpus.forEach((c, k) => {
            add(run.cpus[k]!, c);
            add(iv.cpus[k]!, c);
          });
          if (r.verdict !== 'SUCCESS' && r.verdict !== 'INTERRUPTED') {
            iv.failing++;
            failingTotal++;
            violationsTotal += r.violationsTotal;
            record(r);
          }
          if (r.stall) {
            stall = r.stall;
            stalls++;
          }
          if (r.error) error = r.error;
          if (elapsed() >= nextStatMs) {
            while (nextStatMs <= elapsed()) nextStatMs += opts.statIntervalMs;
            writeStats(false);
            writeJson(path('summary'), summary('RUNNING', null, null));
          }
          opts.onStatus?.({
            elapsedMs: elapsed(),
            durationMs: cfg.durationMs,
            opsPerSec: (run.totals.ops * 1000) / Math.max(elapsed(), 1),
            violations: violationsTotal,
            stalls: 0,
            audits: run.schedules,
            auditFailures,
            rss: process.memoryUsage().rss,
          });
        },
      },
    );
  } finally {
    if (iv.schedules > 0 || statsLines === 0) writeStats(true);
    statsJournal.close();
    violJournal.close();
  }

  // An error ends the soak; violations and stalls are findings: FAILURE if a schedule
  // found a violation (or failed its audit), else STALL if one stalled.
  const interrupted = opts.signal?.aborted === true;
  const verdict: Verdict = error
    ? 'ERROR'
    : failingTotal > stalls
      ? 'FAILURE'
      : stalls > 0
        ? 'STALL'
        : interrupted
          ? 'INTERRUPTED'
          : 'SUCCESS';
  const signal = verdict === 'INTERRUPTED' ? String(opts.signal?.reason ?? 'SIGINT') : null;
  const exitCode = exitCodeOf(verdict, signal);
  const endReason = interrupted
    ? 'interrupted'
    : error
      ? `schedule ${run.schedules - 1}: ${last?.endReason ?? ''}`
      : cfg.stopOnViolation && failingTotal > 0
        ? 'violation found'
        : 'duration elapsed';

  function summary(v: Verdict | 'RUNNING', code: number | null, ended: string | null): SoakSummary {
    const now = new Date().toISOString();
    const wallMs = Math.round(elapsed());
    return {
      schema: SOAK_SCHEMA,
      verdict: v,
      exitCode: code,
      pid: process.pid,
      hostname: hostname(),
      heartbeat: now,
      heartbeatEveryMs: opts.statIntervalMs,
      releasedAt: startedAt.toISOString(),
      signal: v === 'RUNNING' ? null : signal,
      note:
        v === 'RUNNING'
          ? 'provisional, rewritten every interval; the final summary replaces it when the run ends'
          : null,
      endReason: ended,
      startedAt: config.startedAt,
      updatedAt: now,
      endedAt: v === 'RUNNING' ? null : now,
      durationMs: wallMs,
      wallMs,
      seed: cfg.seed,
      totals: run.totals,
      cpus: run.cpus.map((c, cpu) => ({ cpu, ...c })),
      locks: [],
      violations: {
        total: violationsTotal + auditFailures,
        oracle: violationsTotal,
        audit: auditFailures,
        written,
        firstMs,
      },
      audits: {
        periodic: run.schedules,
        failed: auditFailures,
        skipped: 0,
        everyIntervals: 0,
        everyMs: 0,
        lastParkMs: null,
        maxParkMs: null,
        final: last?.audit ?? null,
        records: [],
      },
      stall,
      error,
      memory: judgeMemory(memory),
      statsLines,
      process: last?.process ?? null,
      files: {
        config: FILES.config,
        stats: FILES.stats,
        violations: FILES.violations,
        summary: FILES.summary,
        ...(v === 'RUNNING' ? {} : { report: FILES.report }),
      },
      sched: progressTotal(),
    };
  }
  function progressTotal(): SchedProgress {
    const s = Math.max(elapsed(), 1e-3);
    return {
      ...progress(s),
      schedules: run.schedules,
      stepsDone: run.steps,
      failing: failingTotal,
      schedulesPerSec: r1((run.schedules * 1000) / s),
      stepsPerSec: Math.round((run.steps * 1000) / s),
    };
  }

  if (stall) writeJson(path('stall'), stall);
  const s = summary(verdict, exitCode, endReason);
  if (stall) s.files.stall = FILES.stall;
  writeJson(path('summary'), s);
  await renderSoakFolder(dir);
  const report = last ?? controlled!.report;
  return { verdict, exitCode, summary: s, report, dir };
}
