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
  percpuWarmup: 200_000,
  /**
   * spin_lock/unlock, raw CAS lock/unlock and Atomics.add: operations of each
   * loop run before its timed run (spin1, spin2, counter2), not counted.
   */
  spinWarmup: 2_000_000,
  /**
   * Per-CPU workload, "spread": each CPU but the first first takes this many
   * pages and keeps them, so that its working pages lie in other 64-byte
   * lines of the struct page arrays than the previous CPU's (see run.ts).
   */
  percpuSpread: 64,
  /**
   * The line probe beside the 2-CPU runs (native `linetrip`: the cost of a
   * cache line's round trip between the cores, the machine's mode): this long
   * a probe (ms of wall time, both cores).
   */
  lineProbeMs: 150,
};

/**
 * The machine every micro-benchmark boots: the defaults of `hvaemu run`
 * (16384 pages, pagevec 14, pv spinlocks, patched) with a fixed seed and no
 * host thread (micro-benchmarks start their own threads).
 */
/**
 * Warm-up before every timed path, the same in --quick and full runs, and the
 * same number of operations on the JavaScript and the C side (the counts are
 * passed to the native binary, or reach it through BENCH_*). A plan changes
 * how long and how often a path is timed, never how it is warmed: so that a
 * quick run's ratios are the full run's within noise (README, "Quick and full").
 */
export const WARMUP = {
  /** discard cycles before the hot loop's timed runs */
  hotloop: 300_000,
  /** smp_call_function calls before the timed ones */
  rendezvous: 200,
  /** per-CPU workload operations per CPU (BENCH.percpuWarmup, in the C header) */
  percpu: BENCH.percpuWarmup,
  /** operations of each lock/atomic loop (BENCH.spinWarmup, in the C header) */
  spin: BENCH.spinWarmup,
  /**
   * The standard workload (runMachine, no C side): operations in the first
   * this many ms of a run are not counted; ops/s is taken from the progress
   * samples after it to the end.
   */
  workloadMs: 600,
  /**
   * The controlled scheduler (section sched): schedules that end in the
   * first this many ms of a run (the crew's start, the JIT) are not counted;
   * and token round trips before the timed ones.
   */
  schedMs: 800,
  handoffs: 20_000,
} as const;

/**
 * How much of everything: --quick is for CI and a first look, the default for
 * figures. A quick run times the smp_call_function calls and the standard
 * workload's runs (workload, lockstat, lockdep) as long as a full run does,
 * and only takes fewer of them: a shorter run of these is not a smaller
 * sample of the same thing. On a quiet machine (2026-12-06) quick runs of
 * 400 calls and 1.5 s gave rendezvousJsOverNative 0.47 against 1.02,
 * lockdepOverhead 0.22 against 0.13 and oversubscription8over4 0.27 against
 * 0.54: wake-up latencies settle into a mode over thousands of calls, and a
 * 2- or 8-CPU run has slow stretches (a rendezvous waiting for CPUs that are
 * not on a core) that a 0.9 s window after the warm-up meets or misses whole.
 */
export const PLANS = {
  quick: {
    /** 3, as full: the 2-CPU runs are in one of two modes of the machine, and a median of 2 is their mean */
    rounds: 3,
    hotIters: 100_000,
    hotRuns: 3,
    verifyIters: 5_000,
    clockReads: 200_000,
    spinMs: 200,
    rvCalls: 3000,
    rvRounds: 3,
    percpuMs: 1000,
    wlMs: 4000,
    /** 3, as full: run r at 8 CPUs over run r at 4, and one pair in the machine's slow mode must not decide (0.59 and 0.41 gave 0.50) */
    wlRuns: 3,
    lsMs: 3000,
    lsRuns: 2,
    lsSliceMs: 100,
    startRuns: 3,
    schedMs: 2000,
    schedRuns: 1,
    handoffRounds: 20_000,
    /** guided: default and --guided runs at 4 CPUs, this long, one pair per seed */
    guidedMs: 5000,
    guidedSeeds: 3,
    warmup: WARMUP,
  },
  full: {
    rounds: 3,
    hotIters: 300_000,
    hotRuns: 3,
    verifyIters: 20_000,
    clockReads: 1_000_000,
    spinMs: 500,
    rvCalls: 3000,
    rvRounds: 5,
    percpuMs: 1000,
    wlMs: 4000,
    wlRuns: 3,
    lsMs: 3000,
    lsRuns: 4,
    lsSliceMs: 100,
    startRuns: 5,
    schedMs: 4000,
    schedRuns: 3,
    handoffRounds: 100_000,
    guidedMs: 10_000,
    guidedSeeds: 3,
    warmup: WARMUP,
  },
};
export type Plan = (typeof PLANS)['full'];

export function benchConfig(cpus: number, over: Partial<Config> = {}): Config {
  // lockdep off: the C side of every micro-benchmark has no validator (like with like)
  return makeConfig({ cpus, seed: 1, hostDiscardRate: 0, lockdep: false, ...over });
}
