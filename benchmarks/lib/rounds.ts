/**
 * The overhead ratios (lockstatOverhead, lockstatContentionOverhead,
 * lockdepOverhead): rounds of the standard workload at 2 CPUs, one run per
 * mode, back to back with the same seed, and beside each run the cost of a
 * cache line's round trip between the two cores (the native `linetrip` job).
 *
 * Why the probe: on the machine of benchmarks/README.md that round trip has
 * two modes, about 80 ns and about 350 ns, each lasting from seconds to
 * minutes whatever the machine runs, and on a quiet machine a 2-CPU run of
 * the standard workload in the slow mode makes 0.6-0.8 of the ops/s of one
 * in the fast mode, with the same CPU time ("Half-speed 2-CPU runs" there).
 * A round whose runs straddle a change of mode compares a run on
 * one machine with a run on another: its ratio is not the
 * instrumentation's cost. Such a round is left out of the median (and
 * counted in the report). The base mode runs first and last in each round
 * (two runs that must agree: a second check, BASE_STEADY) and the
 * instrumented modes between, their order alternating from round to round,
 * so that a slow drift weighs on each mode alike.
 */
import { median } from './stats.ts';

/** A round's probes agree (one mode of the machine) when the largest is at most this times the smallest. */
export const LINE_STEADY = 1.5;
/**
 * The base mode (no instrumentation) runs first and last in a round: its two
 * runs, the same configuration and seed, agree when they differ by at most
 * this fraction of the faster. Runs of one configuration in one mode of the
 * machine differed by up to 6% on a quiet machine (2-CPU lockdep runs 1.53,
 * 1.55, 1.62 M/s), a run at half speed by 40-50%: a check of its own, which
 * needs no probe and sees a change the probes between runs may miss.
 */
export const BASE_STEADY = 0.2;

export type RoundSample = { opsPerSec: number; opsPerCpuSec: number | null };

export type Round<M extends string> = {
  seed: number;
  /** the modes in the order they ran (the base first and last) */
  order: M[];
  /** per mode; the base's is the mean of its two runs */
  runs: Record<M, RoundSample>;
  /** the base's two runs, first and last */
  baseRuns: RoundSample[];
  /** ns per line round trip (10th percentile) before the first run, between runs and after the last; null: no probe */
  lineNs: (number | null)[];
  /**
   * false when the base's runs disagree (BASE_STEADY) or the probes do
   * (LINE_STEADY); true when both agree; null when the base's runs agree and
   * a probe gave no figure
   */
  steady: boolean | null;
};

/** Round `r`'s order: the base, the other modes (as given in even rounds, reversed in odd ones), the base again. */
export function roundOrder<M>(base: M, others: readonly M[], r: number): M[] {
  return [base, ...(r % 2 === 0 ? [...others] : [...others].reverse()), base];
}

/** Whether the probes of a round agree; null if any probe gave no figure. */
export function isSteady(lineNs: readonly (number | null)[]): boolean | null {
  if (lineNs.length === 0 || lineNs.some((x) => x === null || !(x > 0))) return null;
  const xs = lineNs as number[];
  return Math.max(...xs) <= LINE_STEADY * Math.min(...xs);
}

/** A round's verdict (Round.steady) from its probes and its base's two runs. */
export function roundSteady(
  lineNs: readonly (number | null)[],
  baseRuns: readonly RoundSample[],
): boolean | null {
  const [a, b] = baseRuns.map((x) => x.opsPerSec);
  if (a !== undefined && b !== undefined && Math.abs(a - b) > BASE_STEADY * Math.max(a, b)) {
    return false;
  }
  return isSteady(lineNs);
}

/** The base's rate in a round: the mean of its two runs (null if either lacks it). */
export function meanSample(xs: readonly RoundSample[]): RoundSample {
  const cpu = xs.map((x) => x.opsPerCpuSec);
  return {
    opsPerSec: xs.reduce((s, x) => s + x.opsPerSec, 0) / xs.length,
    opsPerCpuSec: cpu.some((x) => x === null)
      ? null
      : (cpu as number[]).reduce((s, x) => s + x, 0) / xs.length,
  };
}

/**
 * 1 - median over rounds of (`mode`'s rate / `base`'s rate), for the rate
 * `key`. The rounds counted: all but those known to have straddled a change
 * (steady false); all of them when every round did (then the figure is as
 * noisy as the rounds, and `used` says so). `steady`: how many rounds both
 * checks passed. null when a rate is missing in the rounds counted.
 */
export function overheadOf<M extends string>(
  rounds: readonly Round<M>[],
  mode: M,
  base: M,
  key: keyof RoundSample,
): { value: number | null; used: number; steady: number; of: number } {
  const kept = rounds.filter((r) => r.steady !== false);
  const counted = kept.length > 0 ? kept : rounds;
  const ratios = counted.map((r) => {
    const x = r.runs[mode][key];
    const y = r.runs[base][key];
    return x === null || y === null || !(y > 0) ? null : x / y;
  });
  const value = ratios.some((x) => x === null) ? null : 1 - median(ratios as number[]);
  return {
    value,
    used: counted.length,
    steady: rounds.filter((r) => r.steady === true).length,
    of: rounds.length,
  };
}
