/**
 * What one page through the hot loop asks of the runtime: Atomics calls (each
 * a builtin call in Node 20's V8) and clock reads, counted by wrapping them on
 * the main thread for a fixed number of cycles. Deterministic: a property of
 * the kernel code, not of the machine.
 */
import { performance } from 'node:perf_hooks';
import type { Config } from '../../src/config.ts';
import { kernel_attach } from '../../src/kernel/context.ts';
import { discard_cycle } from '../jobs.ts';
import { bootedViews } from './threads.ts';

const ATOMICS = [
  'load',
  'store',
  'add',
  'sub',
  'and',
  'or',
  'exchange',
  'compareExchange',
  'notify',
  'wait',
] as const;

export type CallCounts = { clockReads: number; atomics: number; byOp: Record<string, number> };

export function countHotLoopCalls(cfg: Config, cycles: number): CallCounts {
  const v = bootedViews(cfg);
  kernel_attach(v, cfg, 0);
  const counts: Record<string, number> = {};
  const A = Atomics as unknown as Record<string, (...a: unknown[]) => unknown>;
  const saved = ATOMICS.map((m) => [m, A[m]!] as const);
  const savedNow = performance.now;
  try {
    for (const [m, orig] of saved) {
      A[m] = (...a: unknown[]) => {
        counts[m] = (counts[m] ?? 0) + 1;
        return orig.apply(Atomics, a);
      };
    }
    let clock = 0;
    performance.now = () => {
      clock++;
      return savedNow.call(performance);
    };
    for (let i = 0; i < cycles; i++) discard_cycle();
    const byOp = Object.fromEntries(
      Object.entries(counts).map(([k, n]) => [`Atomics.${k}`, n / cycles]),
    );
    const atomics = Object.values(counts).reduce((s, n) => s + n, 0) / cycles;
    return { clockReads: clock / cycles, atomics, byOp };
  } finally {
    for (const [m, orig] of saved) A[m] = orig;
    performance.now = savedNow;
  }
}
