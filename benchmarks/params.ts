/**
 * Parameters the JavaScript and the native C side of a benchmark must share.
 * The numeric ones reach C through the generated header (BENCH_*), so they
 * are written here only.
 */
import { type Config, makeConfig } from '../src/config.ts';

export const BENCH = {
  /** CPU counts a layout (and a native binary) is generated for. */
  cpuCounts: [1, 2, 4, 8] as readonly number[],
  /** Hot loop: shrink_discards runs when page_hva_discard_list holds this many pages. */
  shrinkAt: 256,
  /** Time-bounded loops look at the clock once per this many operations. */
  checkEvery: 1024,
  /**
   * Idle rendezvous targets sleep on their pending word (an idle CPU halts
   * until an interrupt) at most this long at a time, then look at the stop word.
   */
  idleWaitMs: 1,
  /** Per-CPU workload: the anonymous pages each operation faults in and frees (of ANON_VPAGES). */
  percpuPages: 8,
  /**
   * Operations each CPU runs before the start barrier, not counted: the JIT
   * reaches optimized code before the clock starts even on a busy machine.
   */
  percpuWarmup: 50_000,
  /**
   * Per-CPU workload, "spread": each CPU but the first first takes this many
   * pages and keeps them, so that its working pages lie in other 64-byte
   * lines of the struct page arrays than the previous CPU's (see run.ts).
   */
  percpuSpread: 64,
};

/**
 * The machine every micro-benchmark boots: the defaults of `hvaemu run`
 * (16384 pages, pagevec 14, pv spinlocks, patched) with a fixed seed and no
 * host thread (micro-benchmarks start their own threads).
 */
export function benchConfig(cpus: number, over: Partial<Config> = {}): Config {
  // lockdep off: the C side of every micro-benchmark has no validator (like with like)
  return makeConfig({ cpus, seed: 1, hostDiscardRate: 0, lockdep: false, ...over });
}
