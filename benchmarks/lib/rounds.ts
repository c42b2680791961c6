/**
 * The overhead ratios (lockstatOverhead, lockstatContentionOverhead,
 * lockdepOverhead): rounds of the standard workload at 2 CPUs, one run per
 * mode, back to back with the same seed, and beside each run the cost of a
 * cache line's round trip between the two cores (the native `linetrip` job).
 *
 * Why the probe: on the machine of benchmarks/README.md that round trip has
 * two modes, about 80 ns and about 350 ns, each lasting from seconds to
 * minutes whatever the machine runs, and on a quiet machine 2-CPU runs now
 * and then take twice the CPU time per operation of others, C and JS alike,
 * when they move lines between the cores ("Half-speed 2-CPU runs" there:
 * that these are the probe's slow mode is the working hypothesis, not yet
 * shown). A round whose runs straddle a change of mode compares a run on
 * one machine with a run on another: its ratio is not the
 * instrumentation's cost. Such a round is left out of the median (and
 * counted in the report), and the order of the modes alternates from round
 * to round, so that a slow drift weighs on each mode alike.
 */
import { median } from './stats.ts';

/** A round's probes agree (one mode of the machine) when the largest is at most this times the smallest. */
export const LINE_STEADY = 1.5;

export type RoundSample = { opsPerSec: number; opsPerCpuSec: number | null };

export type Round<M extends string> = {
  seed: number;
  /** the modes in the order they ran */
  order: M[];
  runs: Record<M, RoundSample>;
  /** ns per line round trip (10th percentile) before the first run, between runs and after the last; null: no probe */
  lineNs: (number | null)[];
  /** every probe within LINE_STEADY of the others; null when a probe gave no figure */
  steady: boolean | null;
};

/** The modes in round `r`'s order: as given in even rounds, reversed in odd ones. */
export function roundOrder<M>(modes: readonly M[], r: number): M[] {
  return r % 2 === 0 ? [...modes] : [...modes].reverse();
}

/** Whether the probes of a round agree; null if any probe gave no figure. */
export function isSteady(lineNs: readonly (number | null)[]): boolean | null {
  if (lineNs.length === 0 || lineNs.some((x) => x === null || !(x > 0))) return null;
  const xs = lineNs as number[];
  return Math.max(...xs) <= LINE_STEADY * Math.min(...xs);
}

/**
 * 1 - median over rounds of (`mode`'s rate / `base`'s rate), for the rate
 * `key`. The rounds counted: the steady ones; all of them when no round is
 * known to be steady (no probe, or every round straddled a change: then the
 * figure is as noisy as the rounds, and `used` says so). null when a rate
 * is missing in the rounds counted.
 */
export function overheadOf<M extends string>(
  rounds: readonly Round<M>[],
  mode: M,
  base: M,
  key: keyof RoundSample,
): { value: number | null; used: number; steady: number; of: number } {
  const steady = rounds.filter((r) => r.steady === true);
  const counted = steady.length > 0 ? steady : rounds;
  const ratios = counted.map((r) => {
    const x = r.runs[mode][key];
    const y = r.runs[base][key];
    return x === null || y === null || !(y > 0) ? null : x / y;
  });
  const value = ratios.some((x) => x === null) ? null : 1 - median(ratios as number[]);
  return { value, used: counted.length, steady: steady.length, of: rounds.length };
}
