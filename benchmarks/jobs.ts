/**
 * The JavaScript side of each micro-benchmark, run by a bench worker (one
 * thread per emulated CPU, attached to a buffer booted on the main thread).
 * benchmarks/native/bench.c does the same jobs in C on the same layout, job
 * for job and loop for loop: keep the two in step.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { TASKS_PER_CPU } from '../src/config.ts';
import { K, P } from '../src/kernel/context.ts';
import { user_access } from '../src/kernel/fault.ts';
import { FILE_VPAGES, zap_anon } from '../src/kernel/memory.ts';
import { alloc_page, put_page } from '../src/kernel/page_alloc.ts';
import { set_page_mapping, TestSetPageDiscarded } from '../src/kernel/page-flags.ts';
import { hand_to, sched_attach, sched_wait_turn } from '../src/kernel/sched.ts';
import { FUNC, point, smp_call_function } from '../src/kernel/smp.ts';
import { LOCK, spin_lock, spin_unlock } from '../src/kernel/spinlock.ts';
import { shrink_discards } from '../src/kernel/vmscan.ts';
import { CTRL, DISCARD, PERCPU_PENDING, percpuBase, ZONE } from '../src/shm/layout.ts';
import { lock_sites } from '../src/stats/lock_sites.ts';
import { BENCH } from './params.ts';

/** lock_stat's call sites of this file's lock calls (the kernel's _RET_IP_). */
const at = lock_sites('timedKernelLock');

export type Job =
  | { kind: 'hotloop'; iters: number; runs: number; warmup: number }
  | { kind: 'hotloop-fixed'; iters: number }
  | { kind: 'spin1'; ms: number }
  | { kind: 'spin2'; ms: number; raw: boolean }
  | { kind: 'rendezvous'; calls: number; warmup: number; poll: boolean }
  | { kind: 'percpu'; ms: number; spread: boolean }
  | { kind: 'clocks'; reads: number }
  | { kind: 'counter2'; ms: number }
  | { kind: 'handoff'; rounds: number; warmup: number };

export type JobResult =
  | { kind: 'hotloop'; nsPerIter: number[]; cpuNsPerIter: number[] }
  | { kind: 'hotloop-fixed'; iters: number }
  | ({ kind: 'spin1' } & Spin1)
  | { kind: 'spin2'; perSec: number }
  | { kind: 'rendezvous'; latenciesMs: number[] }
  | { kind: 'rendezvous-target' }
  | { kind: 'percpu'; opsPerSec: number; cpuNsPerOp: number }
  | { kind: 'clocks'; nsPerRead: Record<string, number> }
  | { kind: 'counter2'; perSec: number }
  | { kind: 'handoff'; nsPerHandoff: number; cpuNsPerHandoff: number };

/** Rates of the uncontended primitives, by the wall clock and per second on the CPU. */
export type Spin1 = {
  spinLockPerSec: number;
  rawCasLockPerSec: number;
  atomicAddPerSec: number;
  spinLockPerCpuSec: number;
  rawCasLockPerCpuSec: number;
  atomicAddPerCpuSec: number;
};

/**
 * Nanoseconds this thread has run on a CPU (Linux schedstat; NaN elsewhere).
 * On a machine shared with others, time on the CPU measures the code, while
 * wall time also counts the waits for a core; the C side reads the same
 * counter (CLOCK_THREAD_CPUTIME_ID).
 */
export function threadCpuNs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]);
  } catch {
    return Number.NaN;
  }
}

/** The start barrier of the machine (CTRL.nr_ready, CTRL.go); the main thread releases it. */
export function barrier(): void {
  const { i32, L } = K;
  Atomics.add(i32, L.ctrl + CTRL.nr_ready, 1);
  const by = performance.now() + 60_000;
  while (Atomics.load(i32, L.ctrl + CTRL.go) === 0) {
    if (performance.now() > by) throw new Error('bench: start barrier not released in 60 s');
    Atomics.wait(i32, L.ctrl + CTRL.go, 0, 10);
  }
}

// ---- the discard hot loop ------------------------------------------------------

/**
 * One page through the discard path: allocated (buffered_rmqueue, prep_new_page),
 * discarded with its mapping kept (as page_hva_discard_page leaves it), its
 * last reference dropped (free_hot_cold_page parks it in the pagevec; every
 * PAGEVEC_SIZE-th page flushes the vector to page_hva_discard_list), and every
 * BENCH.shrinkAt pages shrink_discards splices the list and frees it.
 */
export function discard_cycle(): void {
  const pfn = alloc_page();
  if (pfn < 0) throw new Error('hot loop: allocation failed');
  set_page_mapping(pfn, 1); // a page cache page of file 0
  TestSetPageDiscarded(pfn);
  put_page(pfn);
  if (K.i32[K.L.discard + DISCARD.nr_pages]! >= BENCH.shrinkAt) shrink_discards();
}

function hotloop(iters: number, runs: number, warmup: number) {
  for (let i = 0; i < warmup; i++) discard_cycle();
  const nsPerIter: number[] = [];
  const cpuNsPerIter: number[] = [];
  for (let r = 0; r < runs; r++) {
    const c0 = threadCpuNs();
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) discard_cycle();
    nsPerIter.push(((performance.now() - t0) * 1e6) / iters);
    cpuNsPerIter.push((threadCpuNs() - c0) / iters);
  }
  return { nsPerIter, cpuNsPerIter };
}

// ---- spinlocks and raw primitives ---------------------------------------------------

function timedKernelLock(ms: number, maxOps = Number.POSITIVE_INFINITY): [number, number] {
  const lock = K.L.zone + ZONE.lock;
  const n = BENCH.checkEvery;
  let ops = 0;
  const c0 = threadCpuNs();
  const t0 = performance.now();
  const end = t0 + ms;
  let t: number;
  for (;;) {
    for (let i = 0; i < n; i++) {
      spin_lock(lock, LOCK.zone, at.timedKernelLock);
      spin_unlock(lock, LOCK.zone);
    }
    ops += n;
    if ((t = performance.now()) >= end || ops >= maxOps) break;
  }
  return [(ops / (t - t0)) * 1e3, (ops / (threadCpuNs() - c0)) * 1e9];
}

function timedRawLock(
  i32: Int32Array,
  w: number,
  ms: number,
  maxOps = Number.POSITIVE_INFINITY,
): [number, number] {
  const n = BENCH.checkEvery;
  let ops = 0;
  const c0 = threadCpuNs();
  const t0 = performance.now();
  const end = t0 + ms;
  let t: number;
  for (;;) {
    for (let i = 0; i < n; i++) {
      while (Atomics.compareExchange(i32, w, 0, 1) !== 0) {
        // spin
      }
      Atomics.store(i32, w, 0);
    }
    ops += n;
    if ((t = performance.now()) >= end || ops >= maxOps) break;
  }
  return [(ops / (t - t0)) * 1e3, (ops / (threadCpuNs() - c0)) * 1e9];
}

function timedAdd(
  i32: Int32Array,
  w: number,
  ms: number,
  maxOps = Number.POSITIVE_INFINITY,
): [number, number] {
  const n = BENCH.checkEvery;
  let ops = 0;
  const c0 = threadCpuNs();
  const t0 = performance.now();
  const end = t0 + ms;
  let t: number;
  for (;;) {
    for (let i = 0; i < n; i++) Atomics.add(i32, w, 1);
    ops += n;
    if ((t = performance.now()) >= end || ops >= maxOps) break;
  }
  return [(ops / (t - t0)) * 1e3, (ops / (threadCpuNs() - c0)) * 1e9];
}

/**
 * Warm-ups of the loops above: the timed functions themselves (so that the
 * JIT optimizes the code that is then timed), bounded by a number of
 * operations, not a time, which would give C more operations than JS and a
 * full run more than a quick one.
 */
function warmKernelLock(n: number): void {
  timedKernelLock(Number.POSITIVE_INFINITY, n);
}

function warmRawLock(i32: Int32Array, w: number, n: number): void {
  timedRawLock(i32, w, Number.POSITIVE_INFINITY, n);
}

function warmAdd(i32: Int32Array, w: number, n: number): void {
  timedAdd(i32, w, Number.POSITIVE_INFINITY, n);
}

// ---- smp_call_function round trips --------------------------------------------------

function rendezvous_caller(calls: number, warmup: number): number[] {
  const { i32, L } = K;
  const lat = new Float64Array(calls);
  for (let i = 0; i < warmup + calls; i++) {
    const t0 = performance.now();
    smp_call_function(FUNC.page_hva_sync, true);
    const dt = performance.now() - t0;
    if (i >= warmup) lat[i - warmup] = dt;
  }
  Atomics.store(i32, L.ctrl + CTRL.stop, 1);
  for (let c = 1; c < L.nr_cpus; c++) Atomics.notify(i32, percpuBase(L, c) + PERCPU_PENDING);
  return Array.from(lat);
}

/**
 * A CPU with nothing to do but take IPIs. Idle (`poll` false): it sleeps on
 * its pending word until an IPI wakes it, as an idle CPU halts until an
 * interrupt; every call then pays for waking the targets (and, past its
 * cpu_relax spins, the caller). Polling: it spins on the pending word, as a
 * busy CPU meets a preemption point every few hundred nanoseconds; the
 * latency is then the rendezvous code itself.
 */
function rendezvous_target(poll: boolean): void {
  const i32 = K.i32;
  const stop = K.L.ctrl + CTRL.stop;
  const pending = K.pending;
  while (Atomics.load(i32, stop) === 0) {
    if (Atomics.load(i32, pending) !== 0) point(P.op);
    else if (!poll) Atomics.wait(i32, pending, 0, BENCH.idleWaitMs);
  }
}

// ---- the per-CPU workload --------------------------------------------------------------

/**
 * One per-CPU operation: fault anonymous page `v` of `task` in (alloc_page
 * from this CPU's hot list, its own pte lock) and zap it (put_page back to
 * the hot list). Anonymous memory only, on this CPU's own tasks: shared state
 * is touched only when the per-CPU list refills from or spills to the zone.
 */
function percpu_op(task: number, v: number): void {
  user_access(task, FILE_VPAGES + v);
  zap_anon(task, v);
}

/**
 * Before the start barrier, one CPU after the other (`turn`, a bench-only
 * word): with `spread`, keep BENCH.percpuSpread pages (CPUs but the first),
 * then warm up. In turn, so that which pages each CPU works on is the same
 * from run to run, and on the C side.
 */
function percpu_warmup(turn: Int32Array, spread: boolean): void {
  const by = performance.now() + 60_000;
  while (Atomics.load(turn, 0) !== K.cpu) {
    if (performance.now() > by) throw new Error('bench: per-CPU warm-up turn never came');
    Atomics.wait(turn, 0, Atomics.load(turn, 0), 10);
  }
  if (spread && K.cpu > 0) {
    for (let i = 0; i < BENCH.percpuSpread; i++) alloc_page();
  }
  const first = K.cpu * TASKS_PER_CPU;
  for (let i = 0; i < BENCH.percpuWarmup; i++) {
    percpu_op(first + (i & 1), (i >> 1) % BENCH.percpuPages);
  }
  Atomics.store(turn, 0, K.cpu + 1);
  Atomics.notify(turn, 0);
}

function percpu(ms: number): { opsPerSec: number; cpuNsPerOp: number } {
  const first = K.cpu * TASKS_PER_CPU;
  const n = BENCH.checkEvery;
  const pages = BENCH.percpuPages;
  let ops = 0;
  const c0 = threadCpuNs();
  const t0 = performance.now();
  const end = t0 + ms;
  let t: number;
  for (;;) {
    for (let i = 0; i < n; i++) {
      percpu_op(first + (i & 1), (i >> 1) % pages);
    }
    ops += n;
    if ((t = performance.now()) >= end) break;
  }
  return { opsPerSec: (ops / (t - t0)) * 1e3, cpuNsPerOp: (threadCpuNs() - c0) / ops };
}

// ---- clocks -------------------------------------------------------------------------

/**
 * What a timestamp costs from JavaScript: the recorder and the interrupts-off
 * timing read performance.now(); the alternatives Node offers, and a shared
 * sequence counter (Atomics.add), which orders events across threads without
 * a clock (its cost with two threads on one word is the counter2 job).
 */
function clocks(reads: number): Record<string, number> {
  const sink = new Float64Array(1);
  const seq = new Int32Array(new SharedArrayBuffer(64));
  const candidates: [string, () => number][] = [
    ['performance.now()', () => performance.now()],
    ['Date.now()', () => Date.now()],
    ['process.hrtime()', () => process.hrtime()[1]!],
    ['process.hrtime.bigint()', () => Number(process.hrtime.bigint() & 0xffffn)],
    ['Atomics.add (sequence, 1 thread)', () => Atomics.add(seq, 0, 1)],
  ];
  const out: Record<string, number> = {};
  for (const [name, read] of candidates) {
    let best = Number.POSITIVE_INFINITY;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      let acc = 0;
      for (let i = 0; i < reads; i++) acc += read();
      sink[0] = acc;
      best = Math.min(best, ((performance.now() - t0) * 1e6) / reads);
    }
    out[name] = best;
  }
  return out;
}

/** Two CPUs bumping one shared word: a cross-thread sequence counter under use. */
function counter2(ms: number): number {
  return timedAdd(K.i32, K.L.zone + ZONE.lock, ms)[0];
}

/**
 * Run one job as CPU K.cpu (kernel_attach done). Multi-CPU jobs pass the
 * start barrier. `ctl`: a few words shared by the bench workers, not guest memory.
 */
export function runJob(job: Job, ctl: Int32Array): JobResult {
  switch (job.kind) {
    case 'handoff':
      return handoff(job.rounds, job.warmup);
    case 'hotloop':
      return { kind: 'hotloop', ...hotloop(job.iters, job.runs, job.warmup) };
    case 'hotloop-fixed':
      for (let i = 0; i < job.iters; i++) discard_cycle();
      return { kind: 'hotloop-fixed', iters: job.iters };
    case 'spin1': {
      // Two lines: a lock word at 0, a counter at 16.
      const scratch = new Int32Array(new SharedArrayBuffer(128));
      // Warm-up, not counted (the JIT first): BENCH.spinWarmup operations of each loop, as in C.
      warmKernelLock(BENCH.spinWarmup);
      warmRawLock(scratch, 0, BENCH.spinWarmup);
      warmAdd(scratch, 16, BENCH.spinWarmup);
      const [spinLockPerSec, spinLockPerCpuSec] = timedKernelLock(job.ms);
      const [rawCasLockPerSec, rawCasLockPerCpuSec] = timedRawLock(scratch, 0, job.ms);
      const [atomicAddPerSec, atomicAddPerCpuSec] = timedAdd(scratch, 16, job.ms);
      return {
        kind: 'spin1',
        spinLockPerSec,
        rawCasLockPerSec,
        atomicAddPerSec,
        spinLockPerCpuSec,
        rawCasLockPerCpuSec,
        atomicAddPerCpuSec,
      };
    }
    case 'spin2':
      // warm-up on the lock, before the other CPU starts
      if (job.raw) warmRawLock(new Int32Array(new SharedArrayBuffer(64)), 0, BENCH.spinWarmup);
      else warmKernelLock(BENCH.spinWarmup);
      barrier();
      return {
        kind: 'spin2',
        perSec: job.raw
          ? timedRawLock(K.i32, K.L.zone + ZONE.lock, job.ms)[0]
          : timedKernelLock(job.ms)[0],
      };
    case 'rendezvous':
      barrier();
      if (K.cpu === 0) {
        return { kind: 'rendezvous', latenciesMs: rendezvous_caller(job.calls, job.warmup) };
      }
      rendezvous_target(job.poll);
      return { kind: 'rendezvous-target' };
    case 'percpu':
      percpu_warmup(ctl, job.spread);
      barrier();
      return { kind: 'percpu', ...percpu(job.ms) };
    case 'clocks':
      return { kind: 'clocks', nsPerRead: clocks(job.reads) };
    case 'counter2':
      warmAdd(new Int32Array(new SharedArrayBuffer(64)), 0, BENCH.spinWarmup);
      barrier();
      return { kind: 'counter2', perSec: counter2(job.ms) };
  }
}

// ---- the controlled scheduler's token hand-off (JavaScript only) -----------------

/**
 * Two CPUs pass the controlled scheduler's token back and forth through the
 * scheduler's own turn words (sched_wait_turn, hand_to: a short spin if a
 * core is left, then a futex sleep). `warmup` round trips first, not timed;
 * then `rounds`: wall and CPU nanoseconds per hand-off (half a round trip).
 * No C side: the hand-off is the scheduler's, not the kernel's.
 */
function handoff(
  rounds: number,
  warmup: number,
): { kind: 'handoff'; nsPerHandoff: number; cpuNsPerHandoff: number } {
  const v = { sab: K.i32.buffer as SharedArrayBuffer, i32: K.i32, f64: K.f64, L: K.L };
  sched_attach(v, K.cfg, K.cpu);
  const other = 1 - K.cpu;
  barrier();
  if (K.cpu === 0) hand_to(other);
  const pass = () => {
    if (!sched_wait_turn()) throw new Error('bench: the hand-off was aborted');
    hand_to(other);
  };
  for (let i = 0; i < warmup; i++) pass();
  const c0 = threadCpuNs();
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) pass();
  const ns = (performance.now() - t0) * 1e6;
  // cpu 0's last hand-over finds nobody waiting: it only sets the turn word
  return {
    kind: 'handoff',
    nsPerHandoff: ns / (2 * rounds),
    cpuNsPerHandoff: (threadCpuNs() - c0) / (2 * rounds),
  };
}
