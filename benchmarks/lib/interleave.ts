/**
 * --lockstat's cost with both sides taking turns on the cores: two machines
 * in this process, the same configuration and seed, one without --lockstat
 * (A) and one with it (B), run at once, and every `sliceMs` the main thread
 * parks the CPUs of the one whose turn ends (stop_machine: they park at
 * their next batch boundary, holding no lock, still taking IPIs) and
 * releases the other's; it counts the operations of each turn.
 *
 * Why not runs one after the other: a 2-CPU run on this machine falls for
 * seconds to minutes into a mode where a cache line's round trip between the
 * cores costs four times as much (README, "Half-speed 2-CPU runs"), and runs
 * a few seconds apart then compare two machines. Turns of 100 ms meet the
 * same modes: a change falls inside one turn, and the median over the turns
 * leaves it out.
 *
 * Why two machines and not one that switches its timing on and off: each
 * machine's CPUs are threads of their own, so each side runs the code the JIT
 * built for it alone. One machine switching modes runs code compiled for
 * both, and that hid most of the cost (the hot loop, CPU time a page:
 * without 849 ns alone against 899 switching; full mode +13.5% alone, +3.3%
 * switching).
 *
 * What the turns cost both sides alike: the parked machine's threads wake
 * once a millisecond to look for IPIs, and its host thread keeps discarding
 * (its CPUs meet more discarded pages when they resume); a resumed machine
 * finds the caches holding the other's lines.
 */
import type { Config } from '../../src/config.ts';
import { type RunReport, runMachine, sumCounters } from '../../src/machine/machine.ts';
import { CTRL, PERCPU_PENDING, percpuBase, type Views } from '../../src/shm/layout.ts';
import { median } from './stats.ts';

/**
 * One turn: whose it was (`off`: the base machine, without --lockstat), when
 * (ms after the turns began), the ops its machine made, the ops the parked
 * machine made meanwhile (the batch it was in when parked: next to none),
 * the process's CPU time.
 */
export type Slice = {
  off: boolean;
  fromMs: number;
  toMs: number;
  ops: number;
  parkedOps?: number;
  cpuUs: number;
};

export type InterleavedRun = {
  slices: Slice[];
  verdicts: [string, string];
  /** the two machines' reports: the base's, then the other's */
  reports: [RunReport, RunReport];
};

function park(v: Views, parked: boolean): void {
  Atomics.store(v.i32, v.L.ctrl + CTRL.stop_machine, parked ? 1 : 0);
  // parked CPUs sleep on their IPI pending word (1 ms at most): wake them now
  if (!parked) {
    for (let c = 0; c < v.L.nr_cpus; c++)
      Atomics.notify(v.i32, percpuBase(v.L, c) + PERCPU_PENDING);
  }
}

/**
 * `withMode` (a --lockstat mode) and the same configuration without
 * --lockstat (or `base`, for an A/A control: the same configuration on
 * both), in turns of `sliceMs`: each machine runs about half of
 * `withMode.durationMs`. The turns end when either machine stops.
 * `baseSecond`: start the base machine second, and give the first turn to
 * the other. The two places are not alike: in A/A controls on a quiet
 * machine the machine started second made 2-4% more ops a turn (01:02 and
 * 01:11, 86 turns each: -2.0% and -4.4%), so a figure alternates them from
 * run to run and the difference cancels in the median.
 */
export async function interleavedRun(
  withMode: Config,
  sliceMs: number,
  base: Config = { ...withMode, lockstat: false },
  baseSecond = false,
): Promise<InterleavedRun> {
  const machines: { v?: Views; ops: number }[] = [{ ops: 0 }, { ops: 0 }];
  const slices: Slice[] = [];
  let turn = -1; // whose turn: machine 0 (started first) or 1; -1 until both machines run
  let done = false;
  let t0 = 0;
  let from = 0;
  let cpu = process.cpuUsage();
  const flip = () => {
    const a = machines[0]!.v;
    const b = machines[1]!.v;
    if (!a || !b || done) return;
    if (
      Atomics.load(a.i32, a.L.ctrl + CTRL.stop) !== 0 ||
      Atomics.load(b.i32, b.L.ctrl + CTRL.stop) !== 0
    ) {
      // one machine is ending: no more turns (the other's CPUs must not stay parked)
      done = true;
      park(a, false);
      park(b, false);
      return;
    }
    const now = performance.now();
    if (turn >= 0 && now - t0 - from < sliceMs) return;
    const ops = [sumCounters(a).ops, sumCounters(b).ops];
    if (turn < 0) {
      t0 = now;
    } else {
      const c = process.cpuUsage();
      slices.push({
        off: turn === (baseSecond ? 1 : 0),
        fromMs: from,
        toMs: now - t0,
        ops: ops[turn]! - machines[turn]!.ops,
        parkedOps: ops[1 - turn]! - machines[1 - turn]!.ops,
        cpuUs: c.user - cpu.user + c.system - cpu.system,
      });
      cpu = c;
    }
    machines[0]!.ops = ops[0]!;
    machines[1]!.ops = ops[1]!;
    turn = turn === 0 ? 1 : 0;
    park(turn === 0 ? b : a, true);
    park(turn === 0 ? a : b, false);
    from = now - t0;
  };
  const run = (cfg: Config, i: number) =>
    runMachine(cfg, {
      onTick(v) {
        machines[i]!.v ??= v;
        flip();
      },
    });
  const first = baseSecond ? withMode : base;
  const second = baseSecond ? base : withMode;
  const [x, y] = await Promise.all([run(first, 0), run(second, 1)]);
  const [a, b] = baseSecond ? [y, x] : [x, y];
  return { slices, verdicts: [a.verdict, b.verdict], reports: [a, b] };
}

export type InterleavedOverhead = {
  /** 1 - the median of the slices' ratios (interleavedOverhead); null without an estimate */
  value: number | null;
  /** the same per CPU-second of the process */
  perCpuSecond: number | null;
  /** slices compared with their neighbours, and the quartiles of their overheads */
  estimates: number;
  q1: number | null;
  q3: number | null;
  /** ops/s with and without, over every slice counted */
  onOpsPerSec: number;
  offOpsPerSec: number;
};

/**
 * Each slice that starts after `warmupMs` and has a neighbour of the other
 * side on both hands (slices follow one another without a gap) gives one
 * estimate: its rate against the mean of its two neighbours' (a slice with
 * lock_stat: its rate over theirs; without: theirs over its rate); the
 * figure is 1 - the median of those. Comparing a slice with both neighbours
 * cancels a steady drift (the JIT still warming, a machine slowly changing),
 * which a pair of two slices taken in one order would count as a cost.
 */
export function interleavedOverhead(
  runs: readonly Slice[][],
  warmupMs: number,
): InterleavedOverhead {
  const byOps: number[] = [];
  const byCpu: number[] = [];
  const sum = { on: { ops: 0, ms: 0 }, off: { ops: 0, ms: 0 } };
  const rate = (s: Slice) => s.ops / (s.toMs - s.fromMs);
  const cpuRate = (s: Slice) => s.ops / s.cpuUs;
  for (const slices of runs) {
    const kept = slices.filter((s) => s.fromMs >= warmupMs && s.toMs > s.fromMs);
    for (const s of kept) {
      const k = s.off ? 'off' : 'on';
      sum[k].ops += s.ops;
      sum[k].ms += s.toMs - s.fromMs;
    }
    for (let i = 1; i + 1 < kept.length; i++) {
      const [a, s, b] = [kept[i - 1]!, kept[i]!, kept[i + 1]!];
      if (a.off === s.off || b.off === s.off || a.toMs !== s.fromMs || s.toMs !== b.fromMs)
        continue;
      const ratio = (f: (x: Slice) => number) => {
        const around = (f(a) + f(b)) / 2;
        return s.off ? around / f(s) : f(s) / around;
      };
      byOps.push(1 - ratio(rate));
      if (a.cpuUs > 0 && s.cpuUs > 0 && b.cpuUs > 0) byCpu.push(1 - ratio(cpuRate));
    }
  }
  const sorted = [...byOps].sort((x, y) => x - y);
  const q = (p: number) => (sorted.length ? sorted[Math.floor(p * (sorted.length - 1))]! : null);
  return {
    value: byOps.length ? median(byOps) : null,
    perCpuSecond: byCpu.length ? median(byCpu) : null,
    estimates: byOps.length,
    q1: q(0.25),
    q3: q(0.75),
    onOpsPerSec: sum.on.ms > 0 ? (sum.on.ops / sum.on.ms) * 1000 : 0,
    offOpsPerSec: sum.off.ms > 0 ? (sum.off.ops / sum.off.ms) * 1000 : 0,
  };
}
