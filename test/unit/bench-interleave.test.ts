/**
 * The bench's interleaved --lockstat cost (benchmarks/lib/interleave.ts): a
 * slice against its two neighbours, the median over the slices after the
 * warm-up. Synthetic slices whose true cost is known.
 */
import { describe, expect, it } from 'vitest';
import { interleavedOverhead, type Slice } from '../../benchmarks/lib/interleave.ts';

/** `n` slices of 100 ms, the first one with lock_stat; `rate(i, off)`: ops per ms of slice i. */
function slices(n: number, rate: (i: number, off: boolean) => number): Slice[] {
  return Array.from({ length: n }, (_, i) => {
    const off = i % 2 === 1;
    return { off, fromMs: i * 100, toMs: (i + 1) * 100, ops: rate(i, off) * 100, cpuUs: 200_000 };
  });
}

describe('interleavedOverhead', () => {
  it('gives the cost of slices at steady rates', () => {
    const o = interleavedOverhead([slices(40, (_i, off) => (off ? 1000 : 800))], 0);
    expect(o.value).toBeCloseTo(0.2, 10);
    expect(o.perCpuSecond).toBeCloseTo(0.2, 10);
    expect(o.estimates).toBe(38);
    expect(o.onOpsPerSec).toBeCloseTo(800_000, 6);
    expect(o.offOpsPerSec).toBeCloseTo(1_000_000, 6);
  });

  it('is not fooled by a steady drift (a machine warming up or slowing down)', () => {
    // both sides speed up by 2% a slice: a pair taken in one order would show a cost
    const up = interleavedOverhead(
      [slices(40, (i, off) => (off ? 1000 : 900) * (1 + 0.02 * i))],
      0,
    );
    expect(up.value).toBeCloseTo(0.1, 10);
    const down = interleavedOverhead(
      [slices(40, (i, off) => (off ? 1000 : 900) * (1 - 0.02 * i))],
      0,
    );
    expect(down.value).toBeCloseTo(0.1, 10);
  });

  it('leaves a change of the machine to the few slices around it (the median outvotes them)', () => {
    // half speed from slice 21 on: the slices beside the step are wrong, the median is not
    const o = interleavedOverhead(
      [slices(40, (i, off) => (off ? 1000 : 950) * (i >= 21 ? 0.5 : 1))],
      0,
    );
    expect(o.value).toBeCloseTo(0.05, 10);
  });

  it('counts only slices after the warm-up, and none across a gap', () => {
    const s = slices(20, (i, off) => (i < 6 ? 10 : off ? 1000 : 700));
    expect(interleavedOverhead([s], 600).value).toBeCloseTo(0.3, 10);
    expect(interleavedOverhead([s], 600).estimates).toBe(12);
    // a missing slice: slices 9 and 11, beside the hole, and the hole itself give none
    const holed = s.filter((_, i) => i !== 10);
    expect(interleavedOverhead([holed], 600).estimates).toBe(9);
    expect(interleavedOverhead([[]], 0).value).toBeNull();
  });

  it('pools the slices of several runs', () => {
    const a = slices(20, (_i, off) => (off ? 1000 : 900));
    const b = slices(20, (_i, off) => (off ? 2000 : 1800));
    const o = interleavedOverhead([a, b], 0);
    expect(o.estimates).toBe(36);
    expect(o.value).toBeCloseTo(0.1, 10);
  });
});
