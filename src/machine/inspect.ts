/**
 * Read a CPU's state out of the buffer from the main thread, as an RCU stall
 * warning prints it: a spinning CPU cannot answer a message, but its words in
 * shared memory can be read at any time.
 */

import { recentEvents, type TraceEvent } from '../check/decode.ts';
import { arch_spin_is_locked, LOCK_CLASSES } from '../kernel/spinlock.ts';
import { POINTS } from '../points.ts';
import {
  CALL,
  CNT,
  CPU_STATE,
  PERCPU,
  PERCPU_HOLD,
  PERCPU_MIGRATE,
  PERCPU_PENDING,
  percpuBase,
  statsBase,
  type Views,
} from '../shm/layout.ts';

export type CpuState = {
  cpu: number;
  state: string;
  irqsEnabled: boolean;
  preemptCount: number;
  locksHeld: string[];
  point: string;
  ipiPending: boolean;
  /** The call its pending IPI is for (the current call_data), if one is pending. */
  pendingCall: { seq: number; from: number; func: number } | null;
  /** Held still by --stutter; a migration request from another CPU (cpu or -1). */
  stutterHeld: boolean;
  migrateRequestFrom: number;
  ops: number;
  lastEvents: TraceEvent[];
};

const STATE_NAMES = Object.fromEntries(Object.entries(CPU_STATE).map(([k, v]) => [v, k]));

export function cpuState(v: Views, cpu: number, nEvents = 16): CpuState {
  const { i32, f64, L } = v;
  const pc = percpuBase(L, cpu);
  const held = i32[pc + PERCPU.locks_held]!;
  const pending = Atomics.load(i32, pc + PERCPU_PENDING) !== 0;
  const mig = Atomics.load(i32, pc + PERCPU_MIGRATE);
  return {
    cpu,
    state: STATE_NAMES[i32[pc + PERCPU.state]!] ?? '?',
    irqsEnabled: i32[pc + PERCPU.irqs_enabled] !== 0,
    preemptCount: i32[pc + PERCPU.preempt_count]!,
    locksHeld: LOCK_CLASSES.filter((_, i) => held & (1 << i)),
    point: POINTS[i32[pc + PERCPU.point]!]?.[0] ?? '?',
    ipiPending: pending,
    pendingCall: pending
      ? {
          seq: i32[L.call + CALL.seq]!,
          from: i32[L.call + CALL.caller]!,
          func: i32[L.call + CALL.func]!,
        }
      : null,
    stutterHeld: Atomics.load(i32, pc + PERCPU_HOLD) !== 0,
    migrateRequestFrom: mig > 0 ? mig - 1 : -1,
    ops: f64[statsBase(L, cpu) + CNT.ops]!,
    lastEvents: recentEvents(v, cpu, nEvents),
  };
}

export function callData(v: Views) {
  const { i32, L } = v;
  return {
    callLockHeld: arch_spin_is_locked(i32, L.call_lock),
    caller: i32[L.call + CALL.caller]!,
    started: i32[L.call + CALL.started]!,
    finished: i32[L.call + CALL.finished]!,
    seq: i32[L.call + CALL.seq]!,
    targets: L.nr_cpus - 1,
  };
}
