/**
 * The bench's machines in turns (benchmarks/lib/interleave.ts), on real
 * threads: two 2-CPU machines, the one whose turn it is runs while the
 * other's CPUs are parked; the turns alternate; the base machine is the
 * turns marked `off` whichever place it starts in; a parked machine makes
 * (next to) no operations; both machines end cleanly and leave no thread.
 */
import { describe, expect, it } from 'vitest';
import { interleavedRun } from '../../benchmarks/lib/interleave.ts';
import { makeConfig } from '../../src/config.ts';
import { threadsBaseline, threadsSettled } from '../helpers/workers.ts';

const cfg = (lockstat: false | 'full') =>
  makeConfig({ cpus: 2, pages: 1024, files: 8, durationMs: 1600, seed: 3, lockstat });

describe('two machines in turns', () => {
  it.each([false, true])(
    'alternates turns, parks the other machine (base second: %s)',
    async (baseSecond) => {
      const baseline = await threadsBaseline();
      const run = await interleavedRun(cfg('full'), 100, cfg(false), baseSecond);
      expect(run.verdicts).toEqual(['SUCCESS', 'SUCCESS']);
      // the base is the machine without --lockstat, whichever started first
      expect(run.reports[0].config.lockstat).toBe(false);
      expect(run.reports[1].config.lockstat).toBe('full');
      const s = run.slices;
      expect(s.length).toBeGreaterThanOrEqual(4);
      for (let i = 1; i < s.length; i++) {
        expect(s[i]!.off).toBe(!s[i - 1]!.off);
        expect(s[i]!.fromMs).toBe(s[i - 1]!.toMs);
      }
      // the first turn is the machine started first's
      expect(s[0]!.off).toBe(!baseSecond);
      // every turn after the start made operations, and the parked machine
      // next to none meanwhile (the batch it was in when parked: 64 ops a CPU)
      expect(s.slice(2).every((x) => x.ops > 0)).toBe(true);
      const ran = s.reduce((n, x) => n + x.ops, 0);
      const parked = s.reduce((n, x) => n + x.parkedOps!, 0);
      expect(parked).toBeLessThan(ran * 0.05);
      expect(await threadsSettled(baseline)).toBeLessThanOrEqual(baseline);
    },
  );
});
