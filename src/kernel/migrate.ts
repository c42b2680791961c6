/**
 * Task migration at preemption points (--migrate): a task preempted at a
 * point where preemption is enabled may resume on another CPU, as the 2.6
 * scheduler's load balancer moves it. This is what per-CPU data touched
 * without get_cpu_var() gets wrong (mutant pagevec-without-preempt-off):
 *
 *   task T on cpu A                     task U
 *   pvec = &__get_cpu_var(pvecs)  (A's)
 *   nr = pvec->nr                       (on cpu B)
 *   -- preempted, resumes on cpu B --   moves to cpu A
 *                                       pagevec_add(A's pvec, X): pages[nr] = X
 *   pages[nr] = P   (X is lost)
 *
 * One worker thread plays one CPU at a time, so a migration is a swap: the
 * preempted thread (the requester) asks another CPU's thread to take its
 * CPU, and takes that one. The accepting thread is at a preemption point
 * where it could be preempted itself, so its task moving is as legal as ours.
 * Tasks stay with their thread (K.home): their page tables, the in_access
 * word a TLB flush waits on, reclaim's on-stack lists.
 *
 * Handshake on the target CPU's migrate word (written by others):
 *   0 idle; requester + 1: a request; ACCEPTED: the target's thread took it
 *   and waits, touching neither CPU; HANDED: the requester left its CPU and
 *   now is the target CPU; the accepter then becomes the requester's old CPU
 *   and writes 0. Between ACCEPTED and the accepter's switch, each CPU's
 *   words are touched by at most one thread.
 *
 * Only where preemption is enabled: interrupts on, preempt_count 0, no
 * spinlock held, the CPU running its workload (not stopping or parked).
 */
import { performance } from 'node:perf_hooks';
import { EV } from '../check/events.ts';
import { rec } from '../check/recorder.ts';
import {
  CPU_STATE,
  CTRL,
  PERCPU,
  PERCPU_MIGRATE,
  PERCPU_PENDING,
  percpuBase,
} from '../shm/layout.ts';
import { K, switch_cpu } from './context.ts';

const ACCEPTED = -1;
const HANDED = -2;
/** How long an accepter waits for the requester to hand over (it is running its loop). */
const HANDSHAKE_TIMEOUT_MS = 30_000;

let rng = 0;
/** A reused worker's next machine (src/machine/thread.ts): reseeded from its seed at the first draw. */
export function migrate_reset(): void {
  rng = 0;
}
function rand(): number {
  if (rng === 0) rng = (Math.imul(K.cfg.seed ^ 0x5bd1e995, K.home + 7) >>> 0) | 1;
  rng ^= rng << 13;
  rng ^= rng >>> 17;
  rng ^= rng << 5;
  return rng >>> 0;
}

const migrateWord = (cpu: number) => percpuBase(K.L, cpu) + PERCPU_MIGRATE;

/** Preemption is enabled here: the running task could be moved. */
export function migrate_eligible(): boolean {
  const i32 = K.i32;
  const pc = K.percpu;
  return (
    i32[pc + PERCPU.irqs_enabled] !== 0 &&
    i32[pc + PERCPU.preempt_count] === 0 &&
    i32[pc + PERCPU.locks_held] === 0 &&
    i32[pc + PERCPU.state] === CPU_STATE.running &&
    Atomics.load(i32, K.L.ctrl + CTRL.stop) === 0 &&
    Atomics.load(i32, K.L.ctrl + CTRL.stop_machine) === 0
  );
}

/** Ask a random other CPU to take ours. Returns the target, or -1 if it is busy. */
export function migrate_request(): number {
  const n = K.L.nr_cpus;
  let target = rand() % (n - 1);
  if (target >= K.cpu) target++;
  if (Atomics.compareExchange(K.i32, migrateWord(target), 0, K.cpu + 1) !== 0) return -1;
  return target;
}

/** Requester: has `target` accepted? Then move there. Returns true when the request is over. */
export function migrate_poll(target: number): boolean {
  if (Atomics.load(K.i32, migrateWord(target)) !== ACCEPTED) return false;
  hand_over(target);
  return true;
}

/** Requester, done waiting: take the request back, or finish the move if it was accepted meanwhile. */
export function migrate_withdraw(target: number): void {
  const w = migrateWord(target);
  const old = Atomics.compareExchange(K.i32, w, K.cpu + 1, 0);
  if (old === K.cpu + 1) return;
  // Accepted between our last look and now (nobody else can have changed it).
  hand_over(target);
}

function hand_over(target: number): void {
  const from = K.cpu;
  const w = migrateWord(target);
  const p = K.i32[K.percpu + PERCPU.point]!;
  rec(EV['migrate-out'], -1, target, K.home);
  switch_cpu(target);
  K.i32[K.percpu + PERCPU.point] = p;
  rec(EV['migrate-in'], -1, from, K.home);
  Atomics.store(K.i32, w, HANDED);
  Atomics.notify(K.i32, w);
}

/**
 * At a preemption point: another CPU's preempted task wants ours. If
 * preemption is enabled here, accept: wait (touching no per-CPU data) for
 * it to leave its CPU, then take that CPU.
 */
export function migrate_accept(): void {
  const i32 = K.i32;
  const w = K.percpu + PERCPU_MIGRATE;
  const req = Atomics.load(i32, w);
  if (req <= 0 || !migrate_eligible()) return;
  if (Atomics.compareExchange(i32, w, req, ACCEPTED) !== req) return; // withdrawn
  const from = req - 1;
  const me = K.cpu;
  // The requester sleeps on its pending word in its preemption delay.
  Atomics.notify(i32, percpuBase(K.L, from) + PERCPU_PENDING);
  const until = performance.now() + HANDSHAKE_TIMEOUT_MS;
  while (Atomics.load(i32, w) !== HANDED) {
    if (performance.now() > until) {
      throw new Error(`migration: cpu ${from} never handed over (accepted by cpu ${me})`);
    }
    Atomics.wait(i32, w, ACCEPTED, 1);
  }
  Atomics.store(i32, w, 0);
  const p = i32[K.percpu + PERCPU.point]!;
  switch_cpu(from);
  i32[K.percpu + PERCPU.point] = p;
  rec(EV['migrate-in'], -1, me, K.home);
}
