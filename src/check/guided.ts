/**
 * --guided: feedback-directed widening of the run's thinnest races, the way
 * a coverage-guided fuzzer steers toward new coverage.
 *
 * The main thread plays an epsilon-greedy multi-armed bandit over small
 * perturbations in three dimensions, each chosen on its own: the workload mix
 * (as configured, or one operation of MIX_OPS boosted), a window stretch
 * (none, or one discard-fault window in a few made longer: STRETCH) and the
 * host's discard pressure (the configured rate, or a multiple of it:
 * PRESSURE). Every GUIDED_INTERVAL_MS it
 * reads the interval's near misses (the CPUs' nm* counters, coverage.ts),
 * credits every option that ran with them, and picks the next of each
 * dimension: each option once first, then, with probability 1 - EPSILON,
 * the one with the best score so far, else a random one. The score is the --target hazard's near-miss rate
 * while the arm ran, or without --target every hazard's rate weighted by the
 * inverse of its count in the run so far (the rarest weigh most). The log
 * names the rarest hazard at each choice (its `target`). The choice goes to
 * the CPUs in one control word (CTRL.guided_arm); each CPU's workload reads
 * it before each operation and rebuilds its mix when it changed, and the
 * host reads it at each tick for its discard rate, so the perturbation costs
 * the machine nothing but the perturbation itself.
 *
 * The arms are a pure function of the configured mix, known to every thread
 * (guidedMix); the choice log is in the report (RunReport.guided).
 */
import type { Config, MixOp } from '../config.ts';
import { MIX_OPS } from '../config.ts';
import { type CounterName, CTRL, type Views } from '../shm/layout.ts';
import { HAZARDS, type Hazard, protocolHazards } from './coverage.ts';

/** How long each arm runs before it is judged (ms of run time). */
export const GUIDED_INTERVAL_MS = 250;
/** Probability of trying a random arm instead of the best one. */
export const EPSILON = 0.2;
/** A boosted operation gets this many times its weight, and at least BOOST_SHARE of the total. */
const BOOST = 8;
const BOOST_SHARE = 0.25;
/** Choices kept in the report's log (the first ones; later ones are counted). */
const MAX_LOG = 2000;

/**
 * The window-stretch arms, after the mix arms: one discard fault in `every`
 * sleeps `us` longer inside its window (fault.ts, set_window_stretch, within
 * the widening budget of widen.ts: the sleep ends soon after an IPI, so a
 * rendezvous is not held up). A window whose frame is parked meanwhile is
 * then held open for the splice by the parked-frame hold (widen.ts,
 * park_hold; on unless --no-park-hold). They widen the windows the window
 * hazards need, not the whole run.
 */
export const STRETCH = [
  { us: 2000, every: 1 },
  { us: 500, every: 2 },
  { us: 2000, every: 4 },
  { us: 200, every: 2 },
] as const;

/**
 * The host-pressure arms: the hypervisor discards this many times the
 * configured --host-discard-rate (src/host/hypervisor.ts, host_tick). More
 * discards are more discard faults, so more windows for every window hazard
 * to meet, and more frames parked and spliced (measured at 4 CPUs, 5 s, the
 * mix as configured: splice-in-window 3/s at the default rate, 80/s at 20
 * times it). It is the guest's own protocol doing more of its work, not a
 * delay: no CPU sleeps for it, though faulting CPUs do fewer operations.
 */
export const PRESSURE = [4, 20] as const;

/**
 * An arm is a triple (mix option, stretch option, pressure option), chosen
 * dimension by dimension: mix option 0 is the mix as configured, option k
 * boosts the k-th operation of MIX_OPS; stretch option 0 is none, option k
 * is STRETCH[k-1]; pressure option 0 is the configured host rate, option k
 * PRESSURE[k-1] times it. The control word holds
 * mix + NR_MIX * (stretch + NR_STRETCH * pressure).
 */
export const NR_MIX = 1 + MIX_OPS.length;
export const NR_STRETCH = 1 + STRETCH.length;
export const NR_PRESSURE = 1 + PRESSURE.length;
export const NR_ARMS = NR_MIX * NR_STRETCH * NR_PRESSURE;
/** The options of every dimension in one list: the mix ones, the stretch ones, the pressure ones. */
export const NR_OPTIONS = NR_MIX + NR_STRETCH + NR_PRESSURE;
/** Where each dimension's options start in that list. */
const FIRST_STRETCH = NR_MIX;
const FIRST_PRESSURE = NR_MIX + NR_STRETCH;

export const armOf = (mix: number, stretch: number, pressure = 0) =>
  mix + NR_MIX * (stretch + NR_STRETCH * pressure);
const stretchOf = (arm: number) => Math.floor(arm / NR_MIX) % NR_STRETCH;
const pressureOf = (arm: number) => Math.floor(arm / (NR_MIX * NR_STRETCH));
/**
 * The order of a guided run's first arms: the run as configured (arm 0: a
 * baseline, and what a mutant's profile asked for while most mutants are
 * caught), then each stretch, the widest first (STRETCH's order), with the
 * mix as configured, then each host pressure, and only then the mix boosts:
 * a boost dilutes the operations the configuration asked for, a budgeted
 * stretch or more host discards do not.
 */

/** What option `o` (of NR_OPTIONS) is, in words. */
export function optionLabel(o: number): string {
  if (o === 0) return 'mix as configured';
  if (o < NR_MIX) return `boost ${MIX_OPS[o - 1]}`;
  if (o === FIRST_STRETCH) return 'no stretch';
  if (o === FIRST_PRESSURE) return 'host discards as configured';
  if (o > FIRST_PRESSURE) return `host discards x${PRESSURE[o - FIRST_PRESSURE - 1]}`;
  const s = STRETCH[o - FIRST_STRETCH - 1]!;
  const which = s.every === 1 ? 'every fault window' : `1 fault window in ${s.every}`;
  return `stretch ${which} by ${s.us}us`;
}

/** What arm `arm` is, in words. */
export function armLabel(arm: number): string {
  const stretch = stretchOf(arm);
  const pressure = pressureOf(arm);
  let label = optionLabel(arm % NR_MIX);
  if (stretch !== 0) label += `, ${optionLabel(FIRST_STRETCH + stretch)}`;
  if (pressure !== 0) label += `, ${optionLabel(FIRST_PRESSURE + pressure)}`;
  return label;
}

/** Arm `arm`'s window stretch (ms, one fault in `every`); 0 ms: none. */
export function guidedStretch(arm: number): { ms: number; every: number } {
  const s = arm >= 0 && arm < NR_ARMS ? STRETCH[stretchOf(arm) - 1] : undefined;
  return s ? { ms: s.us / 1000, every: s.every } : { ms: 0, every: 0 };
}

/** Arm `arm`'s multiple of the configured host discard rate (1: as configured). */
export function guidedPressure(arm: number): number {
  return (arm > 0 && arm < NR_ARMS ? PRESSURE[pressureOf(arm) - 1] : undefined) ?? 1;
}

/** The mix arm `arm` runs (mix option 0: `base` itself). */
export function guidedMix(
  base: Readonly<Record<MixOp, number>>,
  arm: number,
): Record<MixOp, number> {
  const mix = { ...base };
  const k = arm % NR_MIX;
  if (k <= 0 || arm >= NR_ARMS) return mix;
  const op = MIX_OPS[k - 1]!;
  const total = MIX_OPS.reduce((s, o) => s + base[o], 0);
  mix[op] = Math.max(base[op] * BOOST, Math.ceil(total * BOOST_SHARE), 1);
  return mix;
}

export type GuidedChoice = {
  /** Run time at which the arm started (ms). */
  atMs: number;
  arm: number;
  label: string;
  /** The hazard it was chosen for. */
  target: Hazard;
  /** The target's near misses per second while it ran (null: the run ended first). */
  rate: number | null;
  /** Workload operations per second while it ran, all CPUs (null: the run ended first). */
  opsPerSec: number | null;
};

export type GuidedReport = {
  intervalMs: number;
  epsilon: number;
  /** --target, or null: the rarest hazard of the run so far, every interval. */
  target: Hazard | null;
  /**
   * Every option of every dimension (`arm`: its index; the mix ones, the
   * stretch ones, the pressure ones),
   * how long it ran, and the operations per second while it did (null: never).
   */
  arms: { arm: number; label: string; intervals: number; ms: number; opsPerSec: number | null }[];
  choices: number;
  log: GuidedChoice[];
};

type Counts = Record<Hazard, number>;

/** xorshift32, seeded from the run's seed: a guided run chooses the same arms for the same rates. */
function rng(seed: number): () => number {
  let s = (seed ^ 0x5bd1e995) >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/**
 * The bandit for one run. `tick` is called on the main thread every monitor
 * tick with the live buffer and the run time; `readTotals` sums the counters.
 */
export function makeGuide(
  cfg: Pick<Config, 'protocol' | 'seed' | 'target'>,
  readTotals: (v: Views) => Readonly<Record<CounterName, number>>,
) {
  const hazards = protocolHazards(cfg);
  const pinned = (cfg.target ?? null) as Hazard | null;
  const random = rng(cfg.seed);
  const zero = () => Object.fromEntries(hazards.map((h) => [h, 0])) as Counts;
  // Per option of either dimension: near misses of each hazard while an arm
  // with it ran, and how long.
  const optHits = Array.from({ length: NR_OPTIONS }, zero);
  const optMs = new Float64Array(NR_OPTIONS);
  const optOps = new Float64Array(NR_OPTIONS);
  const optIntervals = new Uint32Array(NR_OPTIONS);
  const runHits = zero();
  const log: GuidedChoice[] = [];
  let choices = 0;
  let arm = 0;
  let since = 0;
  let last: Counts | null = null;
  let lastOps = 0;
  let current: GuidedChoice | null = null;

  let ops = 0; // the totals' ops at the last read
  const read = (v: Views): Counts => {
    const t = readTotals(v);
    const c = zero();
    for (const h of hazards) c[h] = t[HAZARDS[h].counter] ?? 0;
    ops = t.ops;
    return c;
  };
  const rarest = (): Hazard =>
    pinned ?? hazards.reduce((a, b) => (runHits[b] < runHits[a] ? b : a), hazards[0]!);
  /**
   * An arm's score: with --target, the target's near misses per ms while it
   * ran; else every hazard's, each weighted by 1 / (its near misses in the
   * run so far + 1), so that the rarest count most and the common ones still
   * give a signal when the rarest had none in any interval.
   */
  const score = (o: number): number => {
    if (optMs[o]! <= 0) return 0;
    if (pinned) return optHits[o]![pinned] / optMs[o]!;
    let s = 0;
    for (const h of hazards) s += optHits[o]![h] / (runHits[h] + 1);
    return s / optMs[o]!;
  };

  /** One dimension's option, in [first, first + n): untried first, else epsilon-greedy. */
  /** The first option of [first, first + n) not run yet, as an offset; -1: all have run. */
  function firstUntried(first: number, n: number): number {
    for (let o = first; o < first + n; o++) if (optIntervals[o] === 0) return o - first;
    return -1;
  }
  function chooseIn(first: number, n: number): number {
    const u = firstUntried(first, n);
    if (u >= 0) return u;
    if (random() < EPSILON) return Math.floor(random() * n);
    let best = first;
    for (let o = first + 1; o < first + n; o++) if (score(o) > score(best)) best = o;
    return best - first;
  }
  const untried = (first: number, n: number): boolean => firstUntried(first, n) >= 0;
  /**
   * The stretches are swept first (the rest as configured), then the
   * pressures (with the best stretch), then the mixes; then each dimension
   * epsilon-greedy on its own.
   */
  const choose = (): number => {
    const stretch = chooseIn(FIRST_STRETCH, NR_STRETCH);
    const stretchSweep = untried(FIRST_STRETCH, NR_STRETCH);
    const pressure = stretchSweep ? 0 : chooseIn(FIRST_PRESSURE, NR_PRESSURE);
    const sweep =
      stretchSweep ||
      untried(FIRST_PRESSURE, NR_PRESSURE) ||
      optIntervals[FIRST_STRETCH + stretch] === 0 ||
      optIntervals[FIRST_PRESSURE + pressure] === 0;
    return armOf(sweep ? 0 : chooseIn(0, NR_MIX), stretch, pressure);
  };

  return {
    tick(v: Views, elapsedMs: number): void {
      if (hazards.length === 0) return;
      if (last === null) {
        last = read(v);
        lastOps = ops;
        since = elapsedMs;
        current = {
          atMs: elapsedMs,
          arm,
          label: armLabel(arm),
          target: rarest(),
          rate: null,
          opsPerSec: null,
        };
        return;
      }
      const ms = elapsedMs - since;
      if (ms < GUIDED_INTERVAL_MS) return;
      const now = read(v);
      const opts = [arm % NR_MIX, FIRST_STRETCH + stretchOf(arm), FIRST_PRESSURE + pressureOf(arm)];
      for (const h of hazards) {
        const d = now[h] - last[h];
        for (const o of opts) optHits[o]![h] += d;
        runHits[h] += d;
      }
      for (const o of opts) {
        optMs[o]! += ms;
        optOps[o]! += ops - lastOps;
        optIntervals[o]!++;
      }
      if (current) {
        current.rate = ((now[current.target] - last[current.target]) * 1000) / ms;
        current.opsPerSec = ((ops - lastOps) * 1000) / ms;
        if (log.length < MAX_LOG) log.push(current);
      }
      last = now;
      lastOps = ops;
      since = elapsedMs;
      const target = rarest();
      arm = choose();
      choices++;
      Atomics.store(v.i32, v.L.ctrl + CTRL.guided_arm, arm);
      current = { atMs: elapsedMs, arm, label: armLabel(arm), target, rate: null, opsPerSec: null };
    },
    report(): GuidedReport {
      if (current && log.length < MAX_LOG) log.push(current);
      current = null;
      return {
        intervalMs: GUIDED_INTERVAL_MS,
        epsilon: EPSILON,
        target: pinned,
        arms: Array.from({ length: NR_OPTIONS }, (_, o) => ({
          arm: o,
          label: optionLabel(o),
          intervals: optIntervals[o]!,
          ms: optMs[o]!,
          opsPerSec: optMs[o]! > 0 ? (optOps[o]! * 1000) / optMs[o]! : null,
        })),
        choices,
        log,
      };
    },
  };
}
