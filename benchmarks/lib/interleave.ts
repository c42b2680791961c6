/**
 * --lockstat's cost measured inside one run: the CPUs alternate between the
 * configured mode and no lock_stat timing every `sliceMs` (CTRL.lockstat_off,
 * written by the main thread at its monitor tick; each CPU looks at it between
 * two batches of 64 operations and switches with lockstat_pause), and the
 * main thread counts the operations of each slice.
 *
 * Why not separate runs: a 2-CPU run on this machine falls for seconds to
 * minutes into a mode where a cache line's round trip between the cores
 * costs four times as much (README, "Half-speed 2-CPU runs"), and runs a few
 * seconds apart then compare two machines. Slices of 100 ms taken in turn
 * meet the same modes: a change of mode falls inside one pair of slices, and
 * the median of the pairs' ratios leaves it out.
 *
 * What it costs the comparison: both paths are compiled in one process, so
 * each side runs code the JIT built having seen the other too (a branch on
 * K.lockTimed that a plain run never takes the other way); the switch, one
 * Atomics.load a batch, is paid by both sides.
 */
import type { Config } from '../../src/config.ts';
import { runMachine, sumCounters } from '../../src/machine/machine.ts';
import { CTRL } from '../../src/shm/layout.ts';
import { median } from './stats.ts';

/** One slice of a run: which side ran, when (ms after the CPUs started), its ops and the process's CPU time. */
export type Slice = { off: boolean; fromMs: number; toMs: number; ops: number; cpuUs: number };

export type InterleavedRun = { slices: Slice[]; verdict: string };

/** Run `cfg` (its --lockstat mode), alternating with lock_stat's timing off every `sliceMs`. */
export async function interleavedRun(cfg: Config, sliceMs: number): Promise<InterleavedRun> {
  const slices: Slice[] = [];
  let off = false;
  let from = 0;
  let ops = 0;
  let cpu = process.cpuUsage();
  const rep = await runMachine(cfg, {
    onTick(v, ms) {
      if (ms - from < sliceMs) return;
      const o = sumCounters(v).ops;
      const c = process.cpuUsage();
      slices.push({
        off,
        fromMs: from,
        toMs: ms,
        ops: o - ops,
        cpuUs: c.user - cpu.user + c.system - cpu.system,
      });
      off = !off;
      Atomics.store(v.i32, v.L.ctrl + CTRL.lockstat_off, off ? 1 : 0);
      from = ms;
      ops = o;
      cpu = c;
    },
  });
  return { slices, verdict: rep.verdict };
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
