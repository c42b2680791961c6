/**
 * The emulated machine, main-thread side: build and boot the buffer, start
 * one piscina worker per CPU plus the host, release them together, watch
 * (progress, watchdog, violations, crashes), stop, collect, audit, report.
 *
 * The main thread plays no part in the protocol: during the run it only reads
 * the buffer and writes the stop word.
 */
import { readFileSync } from 'node:fs';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { Piscina } from 'piscina';
import { type Audit, audit } from '../check/audit.ts';
import { type CoverageRow, coverageTable, undercovered } from '../check/coverage.ts';
import { decodeViolations, type Violation } from '../check/decode.ts';
import { type GuidedReport, makeGuide } from '../check/guided.ts';
import { type Config, VERSION } from '../config.ts';
import { kernel_boot } from '../kernel/boot.ts';
import { type LockdepReport, readLockdep } from '../kernel/lockdep.ts';
import { readSchedule, type ScheduleReport, sched_init } from '../kernel/sched.ts';
import {
  allocate,
  CNT,
  COUNTERS,
  type CounterName,
  CPU_STATE,
  CTRL,
  computeLayout,
  PERCPU,
  percpuBase,
  SCHED,
  statsBase,
  type Views,
} from '../shm/layout.ts';
import { type LatencyReport, readLatency } from '../stats/latency.ts';
import { type LockReport, readLocks } from '../stats/lockstat.ts';
import { type CpuState, callData, cpuState, type Owed, owedResponses } from './inspect.ts';
import { makeStutter } from './stutter.ts';
import { machineWorkers, type ThreadApi, type ThreadSummary } from './thread.ts';
import { waitWord } from './wait.ts';

/** How long threads get to load and attach (tsx compiles on first load). */
const SETUP_TIMEOUT_MS = 60_000;
const CALL_TIMEOUT_MS = 10_000;
const MONITOR_MS = 50;

/**
 * How a run ended. INTERRUPTED: a signal stopped it before its duration
 * (violations found until then are in the report); no stall, no crash.
 */
export type Verdict = 'SUCCESS' | 'FAILURE' | 'STALL' | 'ERROR' | 'INTERRUPTED' | 'UNDERCOVERED';
/** Exit codes (README). INTERRUPTED is 130 here; exitCode() gives 143 for a SIGTERM. */
export const EXIT: Record<Verdict, number> = {
  SUCCESS: 0,
  FAILURE: 1,
  STALL: 3,
  ERROR: 4,
  /** --min-coverage N: no violation, no stall, but a hazard had fewer than N near misses. */
  UNDERCOVERED: 5,
  INTERRUPTED: 130,
};
/** A run stopped by a signal exits as shells report a process killed by it: 128 + its number. */
export const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;
/** The exit code of a verdict; `signal`: the signal that stopped the run, if one did. */
export function exitCode(verdict: Verdict, signal?: unknown): number {
  if (verdict === 'INTERRUPTED' && signal === 'SIGTERM') return SIGNAL_EXIT.SIGTERM;
  return EXIT[verdict];
}

export type CpuReport = { cpu: number } & Record<CounterName, number>;
export type Totals = Record<CounterName, number>;
export type { LockReport } from '../stats/lockstat.ts';

export type StallReport = {
  /**
   * no-progress: a CPU finished no operation for --stall-timeout;
   * rendezvous: a smp_call_function did not complete; livelock: one access
   * faulted --livelock-faults times in a row (see `livelock`).
   */
  kind: 'no-progress' | 'rendezvous' | 'livelock' | 'deadlock';
  reason: string;
  livelock?: { cpu: number; task: number; vpage: number; faults: number };
  /** When the watchdog fired, and since when the thing it saw had not moved (ms into the run). */
  atMs?: number;
  stuckSinceMs?: number;
  cpus: CpuState[];
  call: ReturnType<typeof callData>;
  /** The CPUs that owe the response the stall waits for, and a wait-for circle if any. */
  owed?: Owed;
};

export type RunReport = {
  schema: 1;
  verdict: Verdict;
  config: Config & { version: string };
  durationMs: number;
  /**
   * When the CPUs were released to run (ms since the epoch, sub-millisecond:
   * performance.timeOrigin + performance.now()); null if they never were.
   */
  cpusReleasedAt: number | null;
  cpus: CpuReport[];
  totals: Totals;
  /** Per hazard of the protocol version run: its near misses (src/check/coverage.ts). */
  coverage: CoverageRow[];
  /** --guided: the bandit's arms and choices (src/check/guided.ts). */
  guided?: GuidedReport;
  locks: LockReport[];
  latency: LatencyReport;
  /** The lock validator: its state per class and per-CPU variable, and its reports (also violations). */
  lockdep: LockdepReport;
  violations: Violation[];
  violationsTotal: number;
  firstViolationMs: number | null;
  audit: Audit | { ok: false; skipped: string };
  stall?: StallReport;
  /** --sched random|pct: the schedule this run was (replay: the same config gives the same run). */
  sched?: ScheduleReport;
  error?: { cpu: number; name: string; message: string; stack?: string };
  process: { threads: number; cpuSeconds: number; cpuOverWall: number };
  endReason: string;
};

export type Progress = {
  elapsedMs: number;
  durationMs: number;
  totals: Totals;
  violations: number;
};

export type RunOptions = {
  onProgress?: (p: Progress) => void;
  progressIntervalMs?: number;
  /** Aborting stops the CPUs as the end of the duration does. */
  signal?: AbortSignal;
  /**
   * Called on the main thread every monitor tick (about 50 ms) while the CPUs
   * run, with the live buffer: periodic statistics, stutter control. It must
   * not write kernel state.
   */
  onTick?: (v: Views, elapsedMs: number) => void;
  /**
   * Test seam: the CPU threads' entry file (absolute path; default
   * machineWorkers().cpu). Tests substitute an entry that makes a CPU throw.
   */
  cpuWorker?: string;
};

type Thread = {
  role: 'cpu' | 'host';
  cpu: number;
  api: Comlink.Remote<ThreadApi>;
  port: MessagePort;
  task: Promise<unknown>;
  error?: Error;
  done: boolean;
};

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function readCounters(v: Views, rec: number): Totals {
  const base = statsBase(v.L, rec);
  return Object.fromEntries(COUNTERS.map((n, i) => [n, v.f64[base + i]!])) as Totals;
}

export function sumCounters(v: Views): Totals {
  const t = Object.fromEntries(COUNTERS.map((n) => [n, 0])) as Totals;
  for (let rec = 0; rec < v.L.nr_recorders; rec++) {
    const c = readCounters(v, rec);
    for (const n of COUNTERS) {
      t[n] = n === 'irqsOffMaxUs' ? Math.max(t[n], c[n]) : t[n] + c[n];
    }
  }
  return t;
}

function osThreads(): number {
  try {
    const m = /^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export async function runMachine(cfg: Config, opts: RunOptions = {}): Promise<RunReport> {
  const crew = await openCrew(cfg, opts, false);
  return runOnCrew(crew, cfg, opts);
}

/**
 * The machine's threads (a piscina pool of a CPU thread per CPU and the
 * host) on one buffer. runMachine uses a crew for one machine; a controlled
 * run (controlled.ts) keeps it for machine after machine: the buffer booted
 * once, a copy of it (`pristine`) put back before each, each thread set up
 * again (thread.ts), so a schedule costs no boot and no thread start.
 */
export type Crew = {
  cfg: Config;
  v: Views;
  /** the booted buffer, before any thread attached (reused crews only) */
  pristine: Uint8Array | null;
  pool: Piscina;
  threads: Thread[];
  poolError: Error | undefined;
  destroying: boolean;
  /** machines run on it so far */
  runs: number;
  /** gone: its pool destroyed (after a stall, a crash, or the end) */
  closed: boolean;
  /** the current machine's stop (a thread that crashes stops it) */
  stop: (why: string) => void;
};

/** The configuration fields that a reused crew's machines may differ in. */
const PER_MACHINE = ['seed', 'durationMs', 'sched'] as const;

/** A crew booted and its threads started (not yet set up); `reuse`: keep the pristine buffer. */
export async function openCrew(cfg: Config, opts: RunOptions, reuse: boolean): Promise<Crew> {
  const L = computeLayout(cfg);
  const v = allocate(L);
  kernel_boot(v, cfg);
  const nThreads = cfg.cpus + 1;
  const workers = await machineWorkers();
  const cpuWorker = opts.cpuWorker ?? workers.cpu;
  const pool = new Piscina({
    filename: cpuWorker,
    minThreads: nThreads,
    maxThreads: nThreads,
    idleTimeout: Number.POSITIVE_INFINITY,
    atomics: 'disabled',
    // HVAEMU_WORKER_FLAGS: extra node flags for the machine threads (e.g. --cpu-prof)
    execArgv: [...(process.env.HVAEMU_WORKER_FLAGS?.split(' ').filter(Boolean) ?? [])],
  });
  const crew: Crew = {
    cfg,
    v,
    pristine: reuse ? new Uint8Array(v.sab).slice() : null,
    pool,
    threads: [],
    poolError: undefined,
    destroying: false,
    runs: 0,
    closed: false,
    stop: () => Atomics.store(v.i32, L.ctrl + CTRL.stop, 1),
  };
  pool.on('error', (e: Error) => {
    crew.poolError ??= e;
    crew.stop('pool error');
  });
  for (let i = 0; i < nThreads; i++) {
    const role = i < cfg.cpus ? 'cpu' : 'host';
    const ch = new MessageChannel();
    const api = Comlink.wrap<ThreadApi>(ch.port1 as unknown as Comlink.Endpoint);
    const th: Thread = {
      role,
      cpu: i,
      api,
      port: ch.port1,
      task: Promise.resolve(),
      done: false,
    };
    th.task = pool
      .run(
        { port: ch.port2 },
        { transferList: [ch.port2], filename: role === 'cpu' ? cpuWorker : workers.host },
      )
      .then(
        () => (th.done = true),
        (e: Error) => {
          th.done = true;
          // A thread that pool.destroy() terminates (after a crash or a
          // stall) rejects with "Terminating worker thread": that is our
          // doing, not its failure. Recorded, it would name the wrong CPU
          // (the first in the array, not the one that threw) and turn a
          // STALL into an ERROR.
          if (crew.destroying) return;
          th.error = e;
          crew.stop(`${role === 'cpu' ? `cpu ${i}` : 'host'} crashed`);
        },
      );
    crew.threads.push(th);
  }
  return crew;
}

/** End a crew: its threads released (if they can answer) and the pool destroyed; no thread left. */
export async function closeCrew(crew: Crew, release = true): Promise<void> {
  if (crew.closed) return;
  crew.closed = true;
  const { threads } = crew;
  const healthy = release && !threads.some((t) => t.error || t.done) && !crew.poolError;
  try {
    if (healthy) {
      await withTimeout(
        Promise.all(threads.map((t) => t.api.release())),
        CALL_TIMEOUT_MS,
        'thread release',
      );
      await withTimeout(Promise.all(threads.map((t) => t.task)), CALL_TIMEOUT_MS, 'thread exit');
    }
  } catch (e) {
    // a thread that does not answer is terminated below; the machine it ran reports the error
    crew.poolError ??= e instanceof Error ? e : new Error(String(e));
  } finally {
    Atomics.store(crew.v.i32, crew.v.L.ctrl + CTRL.stop, 1);
    for (const t of threads) {
      t.api[Comlink.releaseProxy]();
      t.port.close();
    }
    // Terminates any thread still spinning (a stall, a crash).
    crew.destroying = true;
    await withTimeout(crew.pool.destroy(), CALL_TIMEOUT_MS, 'pool destroy').catch(() => undefined);
  }
}

/**
 * One machine on a crew: `cfg` the crew's but for PER_MACHINE fields. With
 * `keep`, a machine that ends cleanly (no stall, no crash) leaves the crew
 * ready for the next; otherwise the crew is closed before the report is made.
 */
export async function runOnCrew(
  crew: Crew,
  cfg: Config,
  opts: RunOptions = {},
  keep = false,
): Promise<RunReport> {
  if (crew.closed) throw new Error('runOnCrew: the crew is closed');
  for (const k of Object.keys(cfg) as (keyof Config)[]) {
    if ((PER_MACHINE as readonly string[]).includes(k)) continue;
    if (JSON.stringify(cfg[k]) !== JSON.stringify(crew.cfg[k])) {
      throw new Error(`runOnCrew: ${k} differs from the crew's configuration`);
    }
  }
  const { v } = crew;
  const L = v.L;
  if (crew.runs > 0) {
    if (!crew.pristine) throw new Error('runOnCrew: this crew runs one machine only');
    new Uint8Array(v.sab).set(crew.pristine);
  }
  crew.runs++;
  sched_init(v, cfg);
  const controlled = cfg.sched.kind !== 'os';
  const { i32 } = v;
  const ctrl = L.ctrl;
  const stop = (why: string) => {
    if (Atomics.exchange(i32, ctrl + CTRL.stop, 1) === 0 || endReason === '') endReason ||= why;
  };
  let endReason = '';
  crew.stop = stop;
  // a thread that crashed between two machines: this one is over before it starts
  if (crew.poolError || crew.threads.some((t) => t.error)) stop('internal error');
  const { threads } = crew;
  let stall: StallReport | undefined;
  let summaries: ThreadSummary[] = [];
  let guide: ReturnType<typeof makeGuide> | undefined;
  let t0 = 0;
  let t1 = 0;
  let threadCount = 0;
  let firstViolationMs: number | null = null;
  let collected = false;
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  try {
    const failed = () => crew.poolError ?? threads.find((t) => t.error)?.error;
    const setupAll = Promise.all(threads.map((t) => t.api.setup(v.sab, cfg, t.cpu, true)));
    let setupDone = false;
    await withTimeout(
      Promise.race([
        setupAll.finally(() => (setupDone = true)),
        (async () => {
          // a thread that dies while loading never answers setup
          while (!failed() && !setupDone) await sleep(20);
          const e = failed();
          if (e) throw e;
        })(),
      ]),
      SETUP_TIMEOUT_MS,
      'thread setup',
    );
    await setupAll;
    // Start barrier: every CPU and the host attached.
    const readyBy = performance.now() + SETUP_TIMEOUT_MS;
    for (let n: number; (n = Atomics.load(i32, ctrl + CTRL.nr_ready)) < cfg.cpus && !failed(); ) {
      if (performance.now() > readyBy) throw new Error('CPUs did not reach the start barrier');
      await waitWord(i32, ctrl + CTRL.nr_ready, n, 2);
    }
    t0 = performance.now();
    Atomics.store(i32, ctrl + CTRL.go, 1);
    Atomics.notify(i32, ctrl + CTRL.go);

    // ---- watch ----
    const lastOps = new Float64Array(cfg.cpus);
    const lastMove = new Float64Array(cfg.cpus).fill(t0);
    let lastProgress = 0;
    const stutter = makeStutter(v, cfg);
    guide = cfg.guided ? makeGuide(cfg, sumCounters) : undefined;
    // The rendezvous watchdog: a smp_call_function (same seq, call_lock held) that does not complete.
    let rdvSeq = -1;
    let rdvSince = t0;
    const onAbort = () => stop('interrupted');
    opts.signal?.addEventListener('abort', onAbort);
    // a signal while the threads booted: the listener above is too late to hear it
    if (opts.signal?.aborted) onAbort();
    const livelocked = () => {
      for (let c = 0; c < cfg.cpus; c++) {
        if (Atomics.load(i32, percpuBase(L, c) + PERCPU.livelock) !== 0) return true;
      }
      return false;
    };
    /** The first CPU whose livelock word is up (fault.ts livelocked), as a stall (the run stopped). */
    const livelockStall = (atMs: number): StallReport | undefined => {
      for (let c = 0; c < cfg.cpus; c++) {
        const faults = Atomics.load(i32, percpuBase(L, c) + PERCPU.livelock);
        if (faults === 0) continue;
        const tv = Atomics.load(i32, percpuBase(L, c) + PERCPU.livelock_vpage);
        const ll = { cpu: c, task: tv >>> 16, vpage: tv & 0xffff, faults };
        const st = stallReport(
          v,
          `livelock: cpu ${c}: task ${ll.task}'s access to vpage ${ll.vpage} faulted ${faults} times in a row with no other operation (the instruction is re-executed and faults again)`,
          c,
        );
        st.kind = 'livelock';
        st.livelock = ll;
        st.atMs = atMs;
        stop('stall');
        return st;
      }
      return undefined;
    };
    // --sched random|pct: the schedule ends itself; the main thread only watches for a deadlock
    // (sched.ts) or a schedule that does not move at all (a thread blocked outside the scheduler).
    let schedStep = -1;
    let schedSince = t0;
    while (controlled && Atomics.load(i32, ctrl + CTRL.stop) === 0 && !stall) {
      await waitWord(i32, ctrl + CTRL.stop, 0, 5); // the holder that sets it notifies
      const t = performance.now();
      const step = Atomics.load(i32, L.sched + SCHED.step);
      if (step !== schedStep) {
        schedStep = step;
        schedSince = t;
      } else if (t - schedSince > cfg.stallTimeoutMs) {
        stall = stallReport(
          v,
          `the controlled schedule did not move for ${Math.round(t - schedSince)} ms at step ${step}`,
        );
        stall.atMs = t - t0;
        stop('stall');
      }
      if (opts.signal?.aborted) stop('interrupted');
    }
    // A CPU's livelock word ends its schedule at the next decision (sched.ts); the stall is
    // made once the CPUs have finished their operation (below), as after a violation.
    const livelockAt = controlled && !stall ? performance.now() - t0 : -1;
    if (controlled && endReason === '') {
      endReason =
        Atomics.load(i32, ctrl + CTRL.crashed_cpu) !== 0
          ? `cpu ${Atomics.load(i32, ctrl + CTRL.crashed_cpu) - 1} crashed`
          : Atomics.load(i32, ctrl + CTRL.nr_violations) > 0
            ? 'violation found'
            : Atomics.load(i32, L.sched + SCHED.deadlock) !== 0 || livelocked()
              ? 'stall'
              : `schedule of ${cfg.sched.steps} steps done`;
    }
    while (Atomics.load(i32, ctrl + CTRL.stop) === 0) {
      await sleep(MONITOR_MS);
      const t = performance.now();
      if (t - t0 >= cfg.durationMs) stop('duration elapsed');
      const nv = Atomics.load(i32, ctrl + CTRL.nr_violations);
      if (nv > 0 && firstViolationMs === null) firstViolationMs = t - t0;
      if (nv > 0 && cfg.stopOnViolation) stop('violation found');
      // A livelock is a stall at once: the CPU's access keeps faulting.
      if (!stall) stall = livelockStall(t - t0);
      for (let c = 0; c < cfg.cpus; c++) {
        const ops = v.f64[statsBase(L, c) + CNT.ops]!;
        if (ops !== lastOps[c] || stutter?.held(c)) {
          lastOps[c] = ops;
          lastMove[c] = t;
        } else if (t - lastMove[c]! > cfg.stallTimeoutMs && !stall) {
          stall = stallReport(
            v,
            `cpu ${c} made no progress for ${Math.round(t - lastMove[c]!)} ms`,
            c,
          );
          stall.atMs = t - t0;
          stall.stuckSinceMs = lastMove[c]! - t0;
          stop('stall');
        }
      }
      const cd = callData(v);
      if (!cd.callLockHeld || cd.seq !== rdvSeq) {
        rdvSeq = cd.seq;
        rdvSince = t;
      } else if (t - rdvSince > cfg.stallTimeoutMs && !stall) {
        stall = stallReport(
          v,
          `smp_call_function seq ${cd.seq} from cpu ${cd.caller} did not complete within ${Math.round(t - rdvSince)} ms (started ${cd.started}/${cd.targets}, finished ${cd.finished}/${cd.targets})`,
        );
        stall.kind = 'rendezvous';
        stall.atMs = t - t0;
        stall.stuckSinceMs = rdvSince - t0;
        stop('stall');
      }
      stutter?.tick(t - t0);
      guide?.tick(v, t - t0);
      opts.onTick?.(v, t - t0);
      if (opts.onProgress && t - lastProgress >= (opts.progressIntervalMs ?? 250)) {
        lastProgress = t;
        opts.onProgress({
          elapsedMs: t - t0,
          durationMs: cfg.durationMs,
          totals: sumCounters(v),
          violations: nv,
        });
      }
    }
    opts.signal?.removeEventListener('abort', onAbort);
    // A CPU that found a corrupted list set the stop word itself.
    if (Atomics.load(i32, ctrl + CTRL.list_bug) !== 0) stop('list corruption');
    stutter?.release();
    const nv = Atomics.load(i32, ctrl + CTRL.nr_violations);
    if (nv > 0 && firstViolationMs === null) firstViolationMs = performance.now() - t0;
    // --stop-on-violation: the oracle set the stop word itself, possibly after this
    // tick looked at the count; the reason is still the violation, not the duration.
    if (nv > 0 && cfg.stopOnViolation) stop('violation found');

    // ---- stop: every CPU finishes its operation and quiesces ----
    // A CPU that threw marks crashed_cpu before its thread's task rejects (the rejection comes
    // later, through piscina): a crash from the mark on, so that no collect waits on its port.
    const crashed = () =>
      threads.some((t) => t.error) ||
      crew.poolError !== undefined ||
      Atomics.load(i32, ctrl + CTRL.crashed_cpu) !== 0;
    let grace = stall ? 0 : crashed() ? 5_000 : cfg.stallTimeoutMs;
    let by = performance.now() + grace;
    const allDone = () => {
      for (let c = 0; c < cfg.cpus; c++) {
        if (i32[percpuBase(L, c) + PERCPU.state] !== CPU_STATE.done && !threads[c]!.done)
          return false;
      }
      return true;
    };
    // --sched random|pct: the stop word was set at a decision; the CPUs finish their operation
    // under the token, unless no CPU can (a deadlock, sched.ts).
    while (controlled && !stall && !allDone() && performance.now() < by) {
      if (Atomics.load(i32, L.sched + SCHED.deadlock) !== 0) {
        stall = stallReport(
          v,
          `deadlock: at step ${Atomics.load(i32, L.sched + SCHED.step)} of the schedule no CPU can make progress (each one waits for another)`,
        );
        stall.kind = 'deadlock';
        endReason = 'stall';
        grace = 0;
        by = 0;
        break;
      }
      await waitWord(i32, L.sched + SCHED.done, 0, 2); // the last actor to leave notifies
    }
    if (livelockAt >= 0 && !stall && allDone()) stall = livelockStall(livelockAt);
    while (!allDone() && performance.now() < by) await sleep(5);
    t1 = performance.now();
    // the crashed thread's error, for the report (bounded: its task rejects once its loop has returned)
    const errBy = performance.now() + CALL_TIMEOUT_MS;
    while (crashed() && !failed() && performance.now() < errBy) await sleep(2);
    if (!allDone() && !stall && !crashed()) {
      stall = stallReport(
        v,
        `CPUs did not stop within ${grace} ms (a rendezvous or a lock never completed)`,
      );
    }
    threadCount = osThreads();
    if (!stall && !crashed()) {
      summaries = await withTimeout(
        Promise.all(threads.map((t) => t.api.collect())),
        CALL_TIMEOUT_MS,
        'final collection',
      );
      collected = !crashed();
    }
  } catch (e) {
    crew.poolError ??= e instanceof Error ? e : new Error(String(e));
    stop('internal error');
  } finally {
    Atomics.store(i32, ctrl + CTRL.stop, 1);
    // the next machine gets this crew only if this one ended with every thread back and idle
    if (!keep || !collected) await closeCrew(crew, collected);
  }
  if (t1 === 0) t1 = performance.now();

  const failure = threads.find((t) => t.error);
  const err = failure?.error ?? crew.poolError;
  const { total, violations } = decodeViolations(v);
  const quiescent = !stall && !err;
  // --sched random|pct: parked pages age on the logical clock (the recorder's now()).
  const auditResult: RunReport['audit'] = quiescent
    ? audit(v, controlled ? { nowMs: i32[L.sched + SCHED.clock]! / 1000 } : {})
    : { ok: false, skipped: stall ? 'stalled: the machine is not quiescent' : 'a thread crashed' };
  const totals = sumCounters(v);
  const coverage = coverageTable(cfg, totals, t0 ? t1 - t0 : 0);
  const verdict: Verdict = err
    ? 'ERROR'
    : stall
      ? 'STALL'
      : endReason === 'interrupted'
        ? 'INTERRUPTED'
        : total > 0 || !auditResult.ok
          ? 'FAILURE'
          : undercovered(coverage, cfg.minCoverage).length > 0
            ? 'UNDERCOVERED'
            : 'SUCCESS';
  const cpu1 = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu1.user + cpu1.system) / 1e6;
  const wall = (performance.now() - wall0) / 1000;
  return {
    schema: 1,
    verdict,
    config: { ...cfg, version: VERSION },
    durationMs: t0 ? t1 - t0 : 0,
    cpusReleasedAt: t0 ? performance.timeOrigin + t0 : null,
    cpus: Array.from({ length: cfg.cpus }, (_, c) => ({ cpu: c, ...readCounters(v, c) })),
    totals,
    coverage,
    ...(guide ? { guided: guide.report() } : {}),
    locks: readLocks(
      v,
      summaries.map((s) => s.lockSites),
    ),
    latency: readLatency(v),
    lockdep: readLockdep(v, cfg.lockdep),
    violations,
    violationsTotal: total,
    firstViolationMs,
    audit: auditResult,
    ...(stall ? { stall } : {}),
    ...(controlled ? { sched: readSchedule(v, cfg) } : {}),
    ...(err
      ? {
          error: {
            cpu: failure && failure.role === 'cpu' ? failure.cpu : -1,
            name: err.name,
            message: err.message,
            stack: err.stack,
          },
        }
      : {}),
    process: { threads: threadCount, cpuSeconds, cpuOverWall: wall > 0 ? cpuSeconds / wall : 0 },
    endReason: endReason || 'duration elapsed',
  };
}

/** The stall report; `stuckCpu`: the CPU the watchdog saw stuck (-1: a rendezvous, or all). */
export function stallReport(v: Views, reason: string, stuckCpu = -1): StallReport {
  return {
    kind: 'no-progress',
    reason,
    cpus: Array.from({ length: v.L.nr_cpus }, (_, c) => cpuState(v, c)),
    call: callData(v),
    owed: owedResponses(v, stuckCpu),
  };
}
