import { describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/config.ts';
import {
  allocate,
  CPU_STATE,
  CTRL,
  computeLayout,
  PERCPU,
  percpuBase,
  type Views,
} from '../../src/shm/layout.ts';
import { makeStopMachine } from '../../src/soak/stop_machine.ts';

const machine = (cpus: number): Views =>
  allocate(computeLayout(makeConfig({ cpus, pages: 64, files: 2 })));

/** Play a CPU's side of stop_machine_park by hand (cpu.ts does it in a worker). */
function park(v: Views, cpu: number): void {
  v.i32[percpuBase(v.L, cpu) + PERCPU.state] = CPU_STATE.parked;
  Atomics.add(v.i32, v.L.ctrl + CTRL.nr_parked, 1);
}

describe('stop_machine (main side)', () => {
  it('raises the word, runs the function only once every CPU is parked, then clears it', () => {
    const v = machine(3);
    const ran: number[] = [];
    const sm = makeStopMachine(v, () => ran.push(Atomics.load(v.i32, v.L.ctrl + CTRL.nr_parked)), {
      timeoutMs: 60_000,
      sliceMs: 0,
    });
    expect(sm.poll()).toBeUndefined(); // nothing requested
    sm.request();
    expect(sm.active).toBe(true);
    expect(Atomics.load(v.i32, v.L.ctrl + CTRL.stop_machine)).toBe(1);
    park(v, 0);
    park(v, 2);
    expect(sm.poll()).toBeUndefined();
    expect(ran).toEqual([]);
    park(v, 1);
    const out = sm.poll();
    expect(out).toMatchObject({ ok: true, value: 1 });
    expect(ran).toEqual([3]);
    expect(Atomics.load(v.i32, v.L.ctrl + CTRL.stop_machine)).toBe(0);
    expect(sm.active).toBe(false);
  });

  it('gives up after the timeout, names the CPUs that did not park, and lets the others go', () => {
    const v = machine(4);
    const sm = makeStopMachine(v, () => 'audited', { timeoutMs: 0, sliceMs: 1 });
    sm.request();
    park(v, 1);
    park(v, 3);
    const out = sm.poll();
    expect(out?.ok).toBe(false);
    expect(out && !out.ok && out.skipped).toMatch(/^cpu 0, 2 did not reach a quiescent point/);
    expect(Atomics.load(v.i32, v.L.ctrl + CTRL.stop_machine)).toBe(0);
  });

  it('gives up at once when the machine is stopping', () => {
    const v = machine(2);
    let ran = false;
    const sm = makeStopMachine(v, () => (ran = true), { timeoutMs: 60_000 });
    sm.request();
    park(v, 0);
    park(v, 1);
    Atomics.store(v.i32, v.L.ctrl + CTRL.stop, 1);
    expect(sm.poll()).toMatchObject({ ok: false, skipped: 'the machine is stopping' });
    expect(ran).toBe(false);
    expect(Atomics.load(v.i32, v.L.ctrl + CTRL.stop_machine)).toBe(0);
  });

  it('clears the word even if the function throws', () => {
    const v = machine(1);
    const sm = makeStopMachine(
      v,
      () => {
        throw new Error('audit crashed');
      },
      { timeoutMs: 60_000, sliceMs: 0 },
    );
    sm.request();
    park(v, 0);
    expect(() => sm.poll()).toThrow('audit crashed');
    expect(Atomics.load(v.i32, v.L.ctrl + CTRL.stop_machine)).toBe(0);
  });
});
