/**
 * A soak run: one machine for hours, watched the way rcutorture watches a
 * kernel. Everything it sees goes into a results folder as it happens:
 *
 *   config.json        every effective parameter, seed, version, git commit
 *   stats.jsonl        one line per interval (stats.ts), written whole and synced
 *   violations.jsonl   each violation the moment it is found, with its flight recorder
 *   summary.json       provisional every interval (verdict RUNNING, with the
 *                      process's pid, host and a heartbeat), final at the end
 *   stall.json         the stall report, if the watchdog fired
 *   report.html        the morning report (report/html.ts)
 *
 * Every few intervals, and at least every few minutes of wall time
 * (audit_schedule.ts), the machine is stopped (stop_machine.ts) and audited:
 * conservation of frames and the integrity of every list. An audit failure is
 * a violation of kind `audit`.
 *
 * The run itself is runMachine's: its watchdog, its stop on a signal, its
 * final audit. This module only listens to its monitor tick.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { hostname, cpus as osCpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { type Audit, audit } from '../check/audit.ts';
import { decodeViolations, recentEvents, renderTrace, type Violation } from '../check/decode.ts';
import { VIOLATION_KINDS } from '../check/violations.ts';
import { type Config, VERSION } from '../config.ts';
import {
  exitCode as exitCodeOf,
  type LockReport,
  type RunReport,
  readCounters,
  runMachine,
  sumCounters,
  type Verdict,
} from '../machine/machine.ts';
import { COUNTERS, CTRL, type Views } from '../shm/layout.ts';
import { readLocks } from '../stats/lockstat.ts';
import { AUDIT_MAX_GAP_MS, makeAuditSchedule } from './audit_schedule.ts';
import type { SchedProgress } from './controlled.ts';
import { openJournal, readJsonl, writeDocument, writeJson } from './journal.ts';
import { judgeMemory, type MemoryJudgement, makeSeriesStore } from './leak.ts';
import { fix_young_generation, memorySeries, SOAK_SEMI_SPACE_MB } from './memstat.ts';
import { downsample, makeSampler, memorySample, type StatsLine } from './stats.ts';
import { makeStopMachine, type StopMachine, type StopMachineOutcome } from './stop_machine.ts';

export const SOAK_SCHEMA = 1;
export const FILES = {
  config: 'config.json',
  stats: 'stats.jsonl',
  violations: 'violations.jsonl',
  summary: 'summary.json',
  stall: 'stall.json',
  report: 'report.html',
} as const;

/** A stop_machine attempt gives up after this long (or half the stall timeout, if shorter). */
const PARK_TIMEOUT_MS = 5_000;
/** Flight-recorder events per CPU kept with an audit failure. */
const AUDIT_TRACE_EVENTS = 32;
/** Status callbacks at most this often. */
const STATUS_MS = 250;
/** Points per series in the report's charts (longer runs are merged, stats.ts downsample). */
const REPORT_POINTS = 720;
/** Audit records kept in the summary (the oldest are dropped beyond this). */
const MAX_AUDIT_RECORDS = 1000;

export type SoakOptions = {
  out: string;
  statIntervalMs: number;
  /** Audit every this many intervals (0: no interval bound). */
  auditEvery: number;
  /**
   * ... and at least this often, in ms of wall time (0: no time bound; both 0:
   * only the final audit). Default AUDIT_MAX_GAP_MS (5 minutes).
   */
  auditIntervalMs?: number;
  signal?: AbortSignal;
  /** The command line, for config.json. */
  argv?: string[];
  /** Live status, at most every 250 ms. */
  onStatus?: (s: SoakStatus) => void;
  /** After each stats line is written. */
  onInterval?: (line: StatsLine) => void;
  /** Cumulative lock statistics from the live buffer (default: stats/lockstat.ts readLocks). */
  readLocks?: (v: Views) => LockReport[];
  /**
   * MB per semi-space of every machine thread's young generation, fixed for
   * the run (default SOAK_SEMI_SPACE_MB; 0: V8 sizes it, growing and shrinking).
   */
  semiSpaceMB?: number;
  /** A controlled soak (controlled.ts): schedules at most, besides the duration (a test's bound). */
  maxSchedules?: number;
};

export type SoakStatus = {
  elapsedMs: number;
  durationMs: number;
  opsPerSec: number;
  violations: number;
  /**
   * CPUs that have made no progress for over half the stall timeout: a
   * warning on the terminal before the watchdog (machine.ts) ends the run at
   * the full timeout. This module only looks; the watchdog decides.
   */
  stalls: number;
  audits: number;
  auditFailures: number;
  rss: number;
};

export type AuditRecord = {
  elapsedMs: number;
  ok: boolean;
  /** Why no audit could be made (a CPU did not park in time, the run was ending). */
  skipped?: string;
  parkMs: number;
  heldMs?: number;
  free?: number;
  perCpuLists?: number;
  inUse?: number;
  parkedOnList?: number;
  inPagevecs?: number;
  accounted?: number;
  errors?: string[];
};

export type ViolationLine = {
  schema: typeof SOAK_SCHEMA;
  seq: number;
  kind: string;
  description: string;
  seed: number;
  /** Wall clock when it was found, and milliseconds since the CPUs were released. */
  at: string;
  elapsedMs: number;
  cpu: number;
  pfn: number;
  generationAtFault?: number;
  generationNow?: number;
  detail?: number;
  cpusInvolved: number[];
  /** The flight-recorder lines of the CPUs involved, merged by time. */
  trace: string[];
  /** Audit violations: what the audit found. */
  errors?: string[];
  audit?: Omit<AuditRecord, 'errors'>;
  /** Oracle violations: the raw events behind `trace`. */
  events?: Violation['events'];
  // ---- a controlled soak's line (soak --sched random|pct, controlled.ts) ----
  /** the interleaving that broke the protocol (Violation.story) */
  story?: string[];
  /** the schedule that found it: its whole machine config (its seed included) and its report */
  config?: Config;
  sched?: RunReport['sched'];
  verdict?: Verdict;
  /** which schedule of the soak (from 0), and which of its violations this line is */
  schedule?: number;
  scheduleViolation?: number;
  /** the schedule stalled too: the stall's kind */
  scheduleStall?: string;
  /** a schedule that stalled (kind `stall-<kind>`): the stall */
  stall?: { kind: string; reason: string };
};

export type SoakConfig = Config & {
  schema: typeof SOAK_SCHEMA;
  version: string;
  soak: {
    statIntervalMs: number;
    auditEvery: number;
    /** The time bound on the gap between periodic audits (ms; 0: none; absent before it existed). */
    auditIntervalMs?: number;
    parkTimeoutMs: number;
    out: string;
    /** The machine threads' semi-space, MB (0: V8's own sizing; absent before it existed). */
    semiSpaceMB?: number;
  };
  git: { commit: string; dirty: boolean } | null;
  host: { node: string; platform: string; arch: string; hostname: string; cores: number };
  argv: string[];
  startedAt: string;
};

export type SoakSummary = {
  schema: typeof SOAK_SCHEMA;
  verdict: Verdict | 'RUNNING';
  exitCode: number | null;
  /** The soak's process and host (absent in folders written before they existed). */
  pid?: number;
  hostname?: string;
  /**
   * Rewritten with the summary at every interval (ISO time): a RUNNING
   * summary whose heartbeat is much older than `heartbeatEveryMs`, or whose
   * pid is gone on its host, belongs to a soak that died (soakLiveness).
   */
  heartbeat?: string;
  heartbeatEveryMs?: number;
  /** Wall clock when the CPUs were released (elapsedMs 0); null before they were. */
  releasedAt?: string | null;
  /** The signal that stopped the run (verdict INTERRUPTED), or null. */
  signal?: string | null;
  /** What to know when reading it (provisional; violations not kept). */
  note: string | null;
  endReason: string | null;
  startedAt: string;
  updatedAt: string;
  endedAt: string | null;
  /** CPUs' running time (from their release to their stop). */
  durationMs: number;
  wallMs: number;
  seed: number;
  totals: RunReport['totals'];
  cpus: RunReport['cpus'];
  locks: LockReport[];
  violations: {
    total: number;
    /** Oracle violations found (the buffer keeps the first 32 with their recorders). */
    oracle: number;
    audit: number;
    written: number;
    firstMs: number | null;
  };
  audits: {
    periodic: number;
    failed: number;
    skipped: number;
    everyIntervals: number;
    /** At least one audit per this many ms of run (0: no time bound; absent in older folders). */
    everyMs?: number;
    lastParkMs: number | null;
    maxParkMs: number | null;
    final: RunReport['audit'] | null;
    records: AuditRecord[];
  };
  stall: RunReport['stall'] | null;
  error: RunReport['error'] | null;
  /**
   * The leak check (leak.ts judgeMemory): rss and heapUsed (the main thread's)
   * by name, every series (each thread's heap) in `series`, `leakSuspected`
   * over all of them, `growing` and `verdict` naming which grows (absent in
   * folders written before the threads measured their own heaps).
   */
  memory: Pick<MemoryJudgement, 'rss' | 'heapUsed' | 'leakSuspected'> &
    Partial<Omit<MemoryJudgement, 'rss' | 'heapUsed' | 'leakSuspected'>>;
  statsLines: number;
  process: RunReport['process'] | null;
  files: Partial<Record<keyof typeof FILES, string>>;
  /** A controlled soak (--sched random|pct): its schedules and steps (controlled.ts). */
  sched?: SchedProgress;
};

export type SoakResult = {
  verdict: Verdict;
  exitCode: number;
  summary: SoakSummary;
  report: RunReport;
  dir: string;
};

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `git rev-parse HEAD` of the checkout hvaemu runs from, or null (not a checkout, no git). */
export function gitCommit(): { commit: string; dirty: boolean } | null {
  const git = (args: string[]) =>
    execFileSync('git', args, {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5_000,
    }).trim();
  try {
    const commit = git(['rev-parse', 'HEAD']);
    let dirty = false;
    try {
      dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
    } catch {
      // a commit without a status is still worth recording
    }
    return /^[0-9a-f]{40}$/.test(commit) ? { commit, dirty } : null;
  } catch {
    return null;
  }
}

export function soakConfig(cfg: Config, opts: SoakOptions, parkTimeoutMs: number): SoakConfig {
  return {
    schema: SOAK_SCHEMA,
    ...cfg,
    version: VERSION,
    soak: {
      statIntervalMs: opts.statIntervalMs,
      auditEvery: opts.auditEvery,
      auditIntervalMs: opts.auditIntervalMs ?? AUDIT_MAX_GAP_MS,
      parkTimeoutMs,
      out: opts.out,
      semiSpaceMB: opts.semiSpaceMB ?? SOAK_SEMI_SPACE_MB,
    },
    git: gitCommit(),
    host: {
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      hostname: hostname(),
      cores: osCpus().length,
    },
    argv: opts.argv ?? process.argv.slice(2),
    startedAt: new Date().toISOString(),
  };
}

export async function runSoak(cfg: Config, opts: SoakOptions): Promise<SoakResult> {
  const dir = opts.out;
  mkdirSync(dir, { recursive: true });
  const path = (f: keyof typeof FILES) => join(dir, FILES[f]);
  // Load the report renderer (vega) now, not after a SIGINT when time is short.
  const html = import('../report/html.ts');
  html.catch(() => undefined);

  const parkTimeoutMs = Math.min(PARK_TIMEOUT_MS, cfg.stallTimeoutMs / 2);
  const config = soakConfig(cfg, opts, parkTimeoutMs);
  writeJson(path('config'), config);
  const statsJournal = openJournal(path('stats'));
  const violJournal = openJournal(path('violations'));
  const wall0 = performance.now();

  // Only what the summary needs stays in memory: the memory series for the
  // leak trend, in bounded space (leak.ts makeSeriesStore). The report reads the files back.
  const memory = makeSeriesStore();
  let statsLines = 0;
  let lastStatsMs = 0;
  let violationsWritten = 0;
  const auditRecords: AuditRecord[] = [];
  let auditsDone = 0;
  let auditFailures = 0;
  let auditsSkipped = 0;
  let firstViolationMs: number | null = null;

  let views: Views | undefined;
  let sampler: ReturnType<typeof makeSampler> | undefined;
  let stopMachine: StopMachine<Audit> | undefined;
  let nextStatMs = opts.statIntervalMs;
  const auditIntervalMs = opts.auditIntervalMs ?? AUDIT_MAX_GAP_MS;
  const auditSchedule = makeAuditSchedule(opts.auditEvery, auditIntervalMs);
  /** Wall-clock epoch ms at which the CPUs were released (from the first tick). */
  let goEpochMs = Date.now();

  // Oracle violations: a slot is written once it has read the same on two
  // ticks in a row. The reporting CPU counts the violation first and fills
  // its slot after (oracle.ts report_violation), so a slot read right after
  // the count may still be half-written; 50 ms later it is not (a CPU
  // descheduled mid-copy for longer would be caught by the second read).
  let oracleWritten = 0;
  let lastRead: string[] = [];

  let lastStatusAt = -Infinity;
  const lastOps: number[] = [];
  const lastMove: number[] = [];
  const quietCpus = (v: Views, t: number) => {
    let n = 0;
    for (let c = 0; c < v.L.nr_cpus; c++) {
      const ops = readCounters(v, c).ops;
      if (ops !== lastOps[c] || lastMove[c] === undefined) {
        lastOps[c] = ops;
        lastMove[c] = t;
      } else if (t - lastMove[c]! > cfg.stallTimeoutMs / 2) n++;
    }
    return n;
  };
  let lastRate = { t: 0, ops: 0, rate: 0 };

  const writeViolation = (line: ViolationLine) => {
    violJournal.append(line);
    violationsWritten++;
    if (firstViolationMs === null || line.elapsedMs < firstViolationMs)
      firstViolationMs = line.elapsedMs;
  };

  const oracleLine = (v: Violation, seq: number): ViolationLine => ({
    schema: SOAK_SCHEMA,
    seq,
    ...violationFields(v),
    seed: cfg.seed,
    at: new Date(v.atMs).toISOString(),
    elapsedMs: Math.round(v.atMs - goEpochMs),
  });

  const pollOracleViolations = (v: Views) => {
    const total = Atomics.load(v.i32, v.L.ctrl + CTRL.nr_violations);
    if (total <= oracleWritten) return;
    const { violations } = decodeViolations(v);
    const read = violations.map((x, i) => (i < oracleWritten ? '' : JSON.stringify(x)));
    // In order: a slot still settling holds back the ones after it.
    while (oracleWritten < violations.length && read[oracleWritten] === lastRead[oracleWritten]) {
      writeViolation(oracleLine(violations[oracleWritten]!, violationsWritten));
      oracleWritten++;
    }
    lastRead = read;
  };

  const onAudit = (outcome: StopMachineOutcome<Audit>, elapsedMs: number, v: Views) => {
    if (!outcome.ok) {
      auditsSkipped++;
      pushRecord({
        elapsedMs: Math.round(elapsedMs),
        ok: false,
        skipped: outcome.skipped,
        parkMs: round(outcome.parkMs),
      });
      return;
    }
    auditsDone++;
    const a = outcome.value;
    const record: AuditRecord = {
      elapsedMs: Math.round(elapsedMs),
      ok: a.ok,
      parkMs: round(outcome.parkMs),
      heldMs: round(outcome.heldMs),
      free: a.free,
      perCpuLists: a.perCpuLists,
      inUse: a.inUse,
      parkedOnList: a.parkedOnList,
      inPagevecs: a.inPagevecs,
      accounted: a.accounted,
      ...(a.ok ? {} : { errors: a.errors }),
    };
    pushRecord(record);
    if (a.ok) return;
    auditFailures++;
    writeViolation(auditViolationLine(record, v, cfg.seed, violationsWritten));
  };
  const pushRecord = (r: AuditRecord) => {
    auditRecords.push(r);
    if (auditRecords.length > MAX_AUDIT_RECORDS) auditRecords.shift();
  };

  const extra = () => ({ audits: auditsDone, auditFailures, extraViolations: auditFailures });

  /** The summary while running; before the first tick (no buffer yet) all counts are zero. */
  const provisional = (elapsedMs: number, v: Views | undefined): SoakSummary => {
    const totals = v
      ? sumCounters(v)
      : (Object.fromEntries(COUNTERS.map((n) => [n, 0])) as RunReport['totals']);
    if (sampler) totals.irqsOffMaxUs = Math.max(0, ...sampler.irqsOffMaxUs);
    const oracle = v ? Atomics.load(v.i32, v.L.ctrl + CTRL.nr_violations) : 0;
    return baseSummary({
      verdict: 'RUNNING',
      exitCode: null,
      note: 'provisional, rewritten every interval; the final summary replaces it when the run ends. If no hvaemu process is running any more, the run died (kill -9, power, out of memory) shortly after updatedAt.',
      endReason: null,
      endedAt: null,
      durationMs: elapsedMs,
      totals,
      cpus: [],
      locks: [],
      oracle,
      final: null,
      stall: null,
      error: null,
      process: null,
    });
  };

  const baseSummary = (
    s: Pick<
      SoakSummary,
      | 'verdict'
      | 'exitCode'
      | 'note'
      | 'endReason'
      | 'endedAt'
      | 'durationMs'
      | 'totals'
      | 'cpus'
      | 'locks'
      | 'stall'
      | 'error'
      | 'process'
    > & { oracle: number; final: RunReport['audit'] | null },
  ): SoakSummary => {
    const parks = auditRecords.filter((r) => !r.skipped).map((r) => r.parkMs);
    const { oracle, final, ...rest } = s;
    const now = new Date().toISOString();
    return {
      schema: SOAK_SCHEMA,
      ...rest,
      pid: process.pid,
      hostname: hostname(),
      heartbeat: now,
      heartbeatEveryMs: opts.statIntervalMs,
      releasedAt: views ? new Date(goEpochMs).toISOString() : null,
      signal: null,
      startedAt: config.startedAt,
      updatedAt: now,
      wallMs: Math.round(performance.now() - wall0),
      seed: cfg.seed,
      violations: {
        total: oracle + auditFailures,
        oracle,
        audit: auditFailures,
        written: violationsWritten,
        firstMs: firstViolationMs,
      },
      audits: {
        periodic: auditsDone,
        failed: auditFailures,
        skipped: auditsSkipped,
        everyIntervals: opts.auditEvery,
        everyMs: auditIntervalMs,
        lastParkMs: parks.length ? parks[parks.length - 1]! : null,
        maxParkMs: parks.length ? Math.max(...parks) : null,
        final,
        records: auditRecords,
      },
      memory: judgeMemory(memory),
      statsLines,
      files: Object.fromEntries(
        (['config', 'stats', 'violations', 'summary'] as const).map((f) => [f, FILES[f]]),
      ),
    };
  };

  const writeStats = (line: StatsLine) => {
    statsJournal.append(line);
    statsLines++;
    lastStatsMs = line.elapsedMs;
    // The final line is sampled after the machine threads are gone (their
    // heaps with them): a drop of the RSS that is no trend, so not fitted.
    if (!line.final) memory.push(line.elapsedMs, memorySeries(line.memory));
    opts.onInterval?.(line);
  };

  // A folder always holds a summary, even if the run dies before its first interval.
  writeJson(path('summary'), provisional(0, undefined));

  const onTick = (v: Views, elapsedMs: number) => {
    if (!views) {
      views = v;
      goEpochMs = Date.now() - elapsedMs;
      sampler = makeSampler(v, opts.readLocks ?? ((lv) => readLocks(lv)), cfg);
      stopMachine = makeStopMachine(v, audit, { timeoutMs: parkTimeoutMs });
    }
    pollOracleViolations(v);
    const outcome = stopMachine!.poll();
    if (outcome) onAudit(outcome, elapsedMs, v);

    const intervalEnded = elapsedMs >= nextStatMs;
    if (intervalEnded) {
      // Skip intervals missed entirely (a suspended laptop), keep the grid.
      while (nextStatMs <= elapsedMs) nextStatMs += opts.statIntervalMs;
      writeStats(sampler!.sample(elapsedMs, extra()));
      writeJson(path('summary'), provisional(elapsedMs, v));
    }
    // Every --audit-every intervals or --audit-interval of wall time, whichever
    // comes first; not while the run ends or an audit is still under way.
    if (
      auditSchedule.due(elapsedMs, intervalEnded) &&
      !stopMachine!.active &&
      Atomics.load(v.i32, v.L.ctrl + CTRL.stop) === 0
    ) {
      auditSchedule.requested(elapsedMs);
      stopMachine!.request();
      const o = stopMachine!.poll();
      if (o) onAudit(o, elapsedMs, v);
    }

    const t = performance.now();
    if (opts.onStatus && t - lastStatusAt >= STATUS_MS) {
      lastStatusAt = t;
      const ops = sumCounters(v).ops;
      if (t - lastRate.t >= 1000 || lastRate.t === 0) {
        lastRate = {
          t,
          ops,
          rate:
            lastRate.t === 0
              ? (ops * 1000) / Math.max(elapsedMs, 1)
              : ((ops - lastRate.ops) * 1000) / (t - lastRate.t),
        };
      }
      opts.onStatus({
        elapsedMs,
        durationMs: cfg.durationMs,
        opsPerSec: lastRate.rate,
        violations: Atomics.load(v.i32, v.L.ctrl + CTRL.nr_violations) + auditFailures,
        stalls: quietCpus(v, t),
        audits: auditsDone,
        auditFailures,
        rss: memorySample().rss,
      });
    }
  };

  let report: RunReport;
  // The machine threads are all created as the run starts: their young
  // generation is fixed for the run, then V8 sizes heaps itself again.
  const unfix = fix_young_generation(opts.semiSpaceMB ?? SOAK_SEMI_SPACE_MB);
  try {
    report = await runMachine(cfg, { onTick, ...(opts.signal ? { signal: opts.signal } : {}) });
  } finally {
    unfix();
    stopMachine?.cancel();
  }

  // ---- the run is over: the final word from the buffer and the report ----
  try {
    // The final report's violations are read from a still buffer: authoritative.
    for (let i = oracleWritten; i < report.violations.length; i++) {
      writeViolation(oracleLine(report.violations[i]!, violationsWritten));
    }
    oracleWritten = report.violations.length;
    if (views && sampler) {
      const end = report.durationMs;
      if (end - lastStatsMs >= opts.statIntervalMs / 4 || statsLines === 0) {
        writeStats({ ...sampler.sample(end, extra()), final: true });
      }
    }
  } finally {
    statsJournal.close();
    violJournal.close();
  }

  let verdict: Verdict = report.verdict;
  if (verdict === 'SUCCESS' && auditFailures > 0) verdict = 'FAILURE';
  const signal =
    verdict === 'INTERRUPTED' && opts.signal?.aborted ? String(opts.signal.reason) : null;
  const exitCode = exitCodeOf(verdict, signal);
  if (report.stall) writeJson(path('stall'), report.stall);
  // The sampler resets the CPUs' irqs-off maximum every interval (stats.ts):
  // the run's maximum is the sampler's.
  const irqsOffMaxUs = sampler?.irqsOffMaxUs ?? [];
  const cpus = report.cpus.map((c, i) => ({
    ...c,
    irqsOffMaxUs: Math.max(c.irqsOffMaxUs, irqsOffMaxUs[i] ?? 0),
  }));
  const totals = {
    ...report.totals,
    irqsOffMaxUs: Math.max(0, ...cpus.map((c) => c.irqsOffMaxUs)),
  };

  const summary = baseSummary({
    verdict,
    exitCode,
    endReason: report.endReason,
    endedAt: new Date().toISOString(),
    durationMs: Math.round(report.durationMs),
    totals,
    cpus,
    locks: report.locks,
    oracle: report.violationsTotal,
    final: report.audit,
    stall: report.stall ?? null,
    error: report.error ?? null,
    process: report.process,
    note:
      report.violationsTotal > report.violations.length
        ? `${report.violationsTotal - report.violations.length} oracle violation(s) were counted but not kept: the buffer stores the first ${report.violations.length} with their flight recorders`
        : null,
  });
  summary.signal = signal;
  summary.files = {
    ...summary.files,
    ...(report.stall ? { stall: FILES.stall } : {}),
    report: FILES.report,
  };
  writeJson(path('summary'), summary);

  await html;
  await renderSoakFolder(dir);
  return { verdict, exitCode, summary, report, dir };
}

/** An oracle violation's fields in its violations.jsonl line. */
export function violationFields(v: Violation) {
  return {
    kind: v.kind,
    description: v.description,
    cpu: v.cpu,
    pfn: v.pfn,
    generationAtFault: v.generationAtFault,
    generationNow: v.generationNow,
    detail: v.detail,
    cpusInvolved: v.cpusInvolved,
    trace: v.trace,
    events: v.events,
  };
}

/** The violation line of a failed periodic audit, with every CPU's (and the host's) latest events. */
export function auditViolationLine(
  record: AuditRecord,
  v: Views,
  seed: number,
  seq: number,
): ViolationLine {
  const { errors, ...rest } = record;
  const events = [];
  for (let c = 0; c <= v.L.nr_cpus; c++) events.push(...recentEvents(v, c, AUDIT_TRACE_EVENTS));
  events.sort((x, y) => x.t - y.t);
  return {
    schema: SOAK_SCHEMA,
    seq,
    kind: 'audit',
    description: VIOLATION_KINDS.find(([k]) => k === 'audit')?.[1] ?? 'audit failed',
    seed,
    at: new Date().toISOString(),
    elapsedMs: record.elapsedMs,
    cpu: -1,
    pfn: -1,
    cpusInvolved: Array.from({ length: v.L.nr_cpus + 1 }, (_, c) => c),
    trace: renderTrace(events, v.L.nr_cpus, events[0]?.t ?? 0),
    errors: errors ?? [],
    audit: rest,
  };
}

/**
 * A RUNNING summary is stale once its heartbeat is older than this many
 * intervals (plus DIED_GRACE_MS for a busy machine's late interval).
 */
const DIED_INTERVALS = 3;
const DIED_GRACE_MS = 30_000;

/** Whether a process with this pid exists here (EPERM: it does, someone else's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * How a folder's soak stands: ended (its verdict), RUNNING, or DIED: a
 * RUNNING summary whose process is gone (same host, pid not alive) or whose
 * heartbeat stopped (older than 3 intervals + 30 s: another host, or the pid
 * reused). `why` says which.
 */
export type Liveness =
  | { state: 'ENDED' }
  | { state: 'RUNNING'; heartbeat: string | null }
  | { state: 'DIED'; heartbeat: string | null; why: string };

export function soakLiveness(
  s: SoakSummary,
  now = Date.now(),
  alive: (pid: number) => boolean = pidAlive,
  host: string = hostname(),
): Liveness {
  if (s.verdict !== 'RUNNING') return { state: 'ENDED' };
  const heartbeat = s.heartbeat ?? s.updatedAt ?? null;
  const beatMs = heartbeat === null ? Number.NaN : Date.parse(heartbeat);
  if (s.pid !== undefined && s.hostname === host && !alive(s.pid)) {
    return { state: 'DIED', heartbeat, why: `process ${s.pid} on ${host} is gone` };
  }
  const every = s.heartbeatEveryMs;
  if (every !== undefined && Number.isFinite(beatMs)) {
    const late = now - beatMs;
    if (late > DIED_INTERVALS * every + DIED_GRACE_MS) {
      return {
        state: 'DIED',
        heartbeat,
        why: `no heartbeat for ${Math.round(late / 1000)} s (one was due every ${every / 1000} s)`,
      };
    }
  }
  return { state: 'RUNNING', heartbeat };
}

/**
 * (Re)write DIR/report.html from the files in DIR: at the end of a soak, or
 * the morning after one that was killed (its summary is then the provisional
 * one, verdict RUNNING, and the report says DIED if its process is gone).
 */
export async function renderSoakFolder(dir: string): Promise<{ path: string; liveness: Liveness }> {
  const { renderSoakReport } = await import('../report/html.ts');
  const read = <T>(f: string): T => JSON.parse(readFileSync(join(dir, f), 'utf8')) as T;
  const config = read<SoakConfig>(FILES.config);
  const summary = read<SoakSummary>(FILES.summary);
  const stats = downsample(readJsonl<StatsLine>(join(dir, FILES.stats)), REPORT_POINTS);
  const violations = readJsonl<ViolationLine>(join(dir, FILES.violations));
  const liveness = soakLiveness(summary);
  const out = join(dir, FILES.report);
  writeDocument(out, await renderSoakReport({ config, summary, stats, violations, liveness }));
  return { path: out, liveness };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
