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
  PENDING,
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
  const pending = (Atomics.load(i32, pc + PERCPU_PENDING) & PENDING.ipi) !== 0;
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

/**
 * A response a stalled CPU waits for, and the CPU that owes it: the `started`
 * (or, with `wait`, the `finished`) of a smp_call_function that one target
 * has not given, or the release of a spinlock another CPU holds.
 */
export type OwedResponse = {
  /** The CPU that owes the response. */
  cpu: number;
  /** The CPU that waits for it. */
  waiter: number;
  owes: 'started' | 'finished' | 'unlock';
  /** What is missing, in words. */
  why: string;
};

export type Owed = {
  owed: OwedResponse[];
  /** CPUs that wait on each other in a circle (waiter, owner, ..., waiter), or null. */
  cycle: number[] | null;
};

/**
 * Who owes the response a stall waits for. Starting from `stuckCpu` (or, with
 * -1, from the caller of an smp_call_function that has not completed, else
 * from every CPU), follow each waiting CPU to the CPUs it waits on:
 * - a caller waiting in smp_call_function (at `ipi-wait`, call_lock held):
 *   the targets whose IPI is still pending have not given `started` (a target
 *   clears its pending word just before `started++`); once every target has
 *   started and the call waits, the targets whose flight recorder ends at
 *   taking this call's IPI have not given `finished`;
 * - a CPU spinning (at `spin`): the other CPUs that hold a spinlock (the
 *   buffer does not say which lock a spinner wants; none held means it waits
 *   on a page bit: PG_locked or PG_state_change).
 * Read racily from a live buffer, as a stall warning is.
 */
export function owedResponses(v: Views, stuckCpu = -1): Owed {
  const { L } = v;
  const cd = callData(v);
  const states = Array.from({ length: L.nr_cpus }, (_, c) => cpuState(v, c, 8));
  const callIncomplete =
    cd.callLockHeld && (cd.started < cd.targets || (callWaits(v) && cd.finished < cd.targets));
  const waitsOn = (c: number): OwedResponse[] => {
    const s = states[c]!;
    if (callIncomplete && c === cd.caller && s.point === 'ipi-wait') {
      return rendezvousOwed(v, cd, states);
    }
    if (s.point === 'spin') {
      const holders = states.filter((h) => h.cpu !== c && h.locksHeld.length > 0);
      return holders.map((h) => ({
        cpu: h.cpu,
        waiter: c,
        owes: 'unlock',
        why: `cpu${c} spins on a lock; cpu${h.cpu} holds [${h.locksHeld.join(', ')}]`,
      }));
    }
    return [];
  };
  const starts =
    stuckCpu >= 0
      ? [stuckCpu]
      : callIncomplete
        ? [cd.caller]
        : states.filter((s) => s.state !== 'done').map((s) => s.cpu);
  const owed: OwedResponse[] = [];
  const seen = new Set<number>();
  let cycle: number[] | null = null;
  // Depth-first along the wait-for edges; a path that comes back to itself is a deadlock.
  const visit = (c: number, path: number[]) => {
    if (seen.has(c)) return;
    seen.add(c);
    for (const o of waitsOn(c)) {
      if (!owed.some((x) => x.cpu === o.cpu && x.waiter === o.waiter)) owed.push(o);
      const at = o.cpu === c ? path.length : path.indexOf(o.cpu);
      if (at >= 0) cycle ??= [...path.slice(at), c, o.cpu];
      else visit(o.cpu, [...path, c]);
    }
  };
  for (const c of starts) if (c >= 0 && c < L.nr_cpus) visit(c, []);
  return { owed, cycle };
}

function callWaits(v: Views): boolean {
  return v.i32[v.L.call + CALL.wait] !== 0;
}

function rendezvousOwed(
  v: Views,
  cd: ReturnType<typeof callData>,
  states: CpuState[],
): OwedResponse[] {
  const { i32, L } = v;
  const call = `smp_call_function seq ${cd.seq} from cpu${cd.caller}`;
  const targets = states.filter((s) => s.cpu !== cd.caller);
  if (cd.started < cd.targets) {
    return targets
      .filter((s) => (Atomics.load(i32, percpuBase(L, s.cpu) + PERCPU_PENDING) & PENDING.ipi) !== 0)
      .map((s) => ({
        cpu: s.cpu,
        waiter: cd.caller,
        owes: 'started',
        why: `cpu${s.cpu} has not started ${call}: its IPI is still pending${s.irqsEnabled ? '' : ' and its interrupts are off'} (started ${cd.started}/${cd.targets})`,
      }));
  }
  // Every target started; with wait, the ones still in the handler owe `finished`.
  return targets
    .filter((s) => {
      const last = s.lastEvents.filter((e) => e.event !== 'splice-percpu').at(-1);
      return last?.event === 'ipi-take' && last.a === cd.caller && last.b === cd.seq;
    })
    .map((s) => ({
      cpu: s.cpu,
      waiter: cd.caller,
      owes: 'finished',
      why: `cpu${s.cpu} took the IPI of ${call} (its last event) and has not finished the handler (finished ${cd.finished}/${cd.targets})`,
    }));
}
