/**
 * A stall report names the CPU that owes the missing response: the target
 * whose `started` or `finished` a smp_call_function waits for, or the holder
 * of the lock a spinner waits on, with what that CPU was doing. The states
 * are written into a booted buffer by hand, as a stalled machine leaves them.
 */
import { describe, expect, it } from 'vitest';
import { EV } from '../../src/check/events.ts';
import { rec } from '../../src/check/recorder.ts';
import { renderOwed } from '../../src/cli/report.ts';
import { set_this_cpu } from '../../src/kernel/context.ts';
import { LOCK } from '../../src/kernel/spinlock.ts';
import { owedResponses } from '../../src/machine/inspect.ts';
import { stallReport } from '../../src/machine/machine.ts';
import { P } from '../../src/points.ts';
import {
  CALL,
  LOCK_SLOT,
  PERCPU,
  PERCPU_PENDING,
  percpuBase,
  type Views,
} from '../../src/shm/layout.ts';
import { boot } from '../helpers/machine.ts';

type CpuSetup = {
  point: keyof typeof P;
  irqs?: boolean;
  preempt?: number;
  locks?: number[];
  pending?: boolean;
};

function setCpu(v: Views, cpu: number, s: CpuSetup): void {
  const pc = percpuBase(v.L, cpu);
  v.i32[pc + PERCPU.point] = P[s.point];
  v.i32[pc + PERCPU.irqs_enabled] = s.irqs === false ? 0 : 1;
  v.i32[pc + PERCPU.preempt_count] = s.preempt ?? 0;
  v.i32[pc + PERCPU.locks_held] = (s.locks ?? []).reduce((m, l) => m | (1 << l), 0);
  v.i32[pc + PERCPU_PENDING] = s.pending ? 1 : 0;
}

/** cpu0 is in smp_call_function seq 5 (call_lock held), waiting; `started`/`finished` as given. */
function callUnderWay(v: Views, started: number, finished: number): void {
  const { i32, L } = v;
  i32[L.call_lock + LOCK_SLOT.val] = 1;
  i32[L.call_lock + LOCK_SLOT.cpu] = 1;
  i32[L.call + CALL.seq] = 5;
  i32[L.call + CALL.caller] = 0;
  i32[L.call + CALL.started] = started;
  i32[L.call + CALL.finished] = finished;
  i32[L.call + CALL.wait] = 1;
  setCpu(v, 0, { point: 'ipi-wait', locks: [LOCK.call_lock] });
}

describe('who owes a stalled response', () => {
  it('a target with its IPI pending and interrupts off owes `started`; it spins on call_lock: a deadlock', () => {
    const m = boot({ cpus: 3 });
    callUnderWay(m, 1, 1);
    setCpu(m, 1, { point: 'spin', irqs: false, preempt: 1, pending: true });
    setCpu(m, 2, { point: 'op' }); // took the IPI: pending cleared
    const o = owedResponses(m, 1);
    expect(o.owed.map((x) => [x.cpu, x.waiter, x.owes])).toEqual([
      [0, 1, 'unlock'],
      [1, 0, 'started'],
    ]);
    expect(o.owed[1]!.why).toMatch(
      /cpu1 has not started smp_call_function seq 5 from cpu0: its IPI is still pending and its interrupts are off \(started 1\/2\)/,
    );
    expect(o.cycle).toEqual([1, 0, 1]);

    // The rendezvous watchdog starts from the caller.
    const r = stallReport(m, 'smp_call_function seq 5 did not complete');
    expect(r.owed!.owed[0]).toMatchObject({ cpu: 1, waiter: 0, owes: 'started' });
    expect(r.owed!.cycle).toEqual([0, 1, 0]);
    const text = renderOwed(r, 3).join('\n');
    expect(text).toMatch(/owed by cpu1 \(started, cpu0 waits\): cpu1 has not started/);
    // what the owing CPU was doing
    expect(text).toMatch(
      /cpu1: \w+, irqs OFF, preempt 1, at spin, IPI PENDING \(call seq 5 from cpu0\)/,
    );
    expect(text).toMatch(
      /owed by cpu0 \(unlock, cpu1 waits\): cpu1 spins on a lock; cpu0 holds \[call_lock\]/,
    );
    expect(text).toContain('DEADLOCK: cpu0 waits for cpu1, which waits for cpu0');
  });

  it('every target started, the call waits: the target still in the handler owes `finished`', () => {
    const m = boot({ cpus: 3 });
    callUnderWay(m, 2, 1);
    setCpu(m, 1, { point: 'op' });
    setCpu(m, 2, { point: 'ipi-handler', irqs: false });
    set_this_cpu(1);
    rec(EV['ipi-take'], -1, 0, 5);
    rec(EV.alloc, 17, 1); // cpu1 came back from the handler and went on
    set_this_cpu(2);
    rec(EV['ipi-take'], -1, 0, 5); // cpu2's last event: still in the handler
    const o = owedResponses(m);
    expect(o.owed.map((x) => [x.cpu, x.owes])).toEqual([[2, 'finished']]);
    expect(o.owed[0]!.why).toMatch(/finished 1\/2/);
    expect(o.cycle).toBeNull();
    const text = renderOwed(stallReport(m, 'x'), 3).join('\n');
    expect(text).toMatch(/cpu2: \w+, irqs OFF, preempt 0, at ipi-handler/);
    expect(text).toMatch(/took the IPI from cpu 0 \(seq 5\)/); // its last events
  });

  it('a spinner while nobody else holds a spinlock, and a CPU stuck in its own code, owe nothing to anyone', () => {
    const m = boot({ cpus: 2 });
    setCpu(m, 0, { point: 'spin', locks: [LOCK.zone] });
    setCpu(m, 1, { point: 'op' });
    expect(owedResponses(m, 0)).toEqual({ owed: [], cycle: null });
    setCpu(m, 0, { point: 'fault-to-ref', irqs: false });
    setCpu(m, 1, { point: 'spin', locks: [LOCK.tree] });
    expect(owedResponses(m, 0).owed).toEqual([]);
    expect(renderOwed(stallReport(m, 'cpu 0 made no progress', 0), 2)).toEqual([
      '  owed by: no other CPU (the stuck CPU waits neither at a rendezvous nor at a lock)',
    ]);
    // ... while cpu1, spinning, waits on cpu1? no: on the holder of a lock it does not hold itself
    expect(owedResponses(m, 1).owed).toEqual([]);
    setCpu(m, 0, { point: 'fault-to-ref', irqs: false, locks: [LOCK.tree] });
    expect(owedResponses(m, 1).owed.map((x) => [x.cpu, x.waiter, x.owes])).toEqual([
      [0, 1, 'unlock'],
    ]);
  });
});
