/**
 * The `guided` section's figure (issue 13): how much `--guided` raises the
 * near-miss rate of the rarest hazard of the default run, at the same seeds
 * and duration. The rarest hazard is the one with the fewest near misses
 * over the default runs together; its rate in each mode is its near misses
 * over the runs' summed time. Over several seeds pooled, so that one seed
 * whose default run had none of it does not make the ratio infinite.
 */
import type { CoverageRow } from '../../src/check/coverage.ts';

/** One run of a pair, as runMachine reports it. */
export type GuidedRun = {
  coverage: readonly CoverageRow[];
  durationMs: number;
  ops: number;
  /** Discard faults taken (totals.discardFaults): the protocol work behind the operations. */
  faults: number;
  verdict: string;
};
export type GuidedPair = { seed: number; plain: GuidedRun; guided: GuidedRun };

export type GuidedFigure = {
  /** The rarest hazard of the default runs (null: the protocol declares none). */
  hazard: string | null;
  plainNearMisses: number;
  guidedNearMisses: number;
  plainPerSec: number;
  guidedPerSec: number;
  /** guided rate over default rate; Infinity when the default runs had none (impossible: invalid). */
  ratio: number;
  plainOpsPerSec: number;
  guidedOpsPerSec: number;
  plainFaultsPerSec: number;
  guidedFaultsPerSec: number;
  /** Per seed: the same hazard's near misses in each mode. */
  perSeed: { seed: number; plain: number; guided: number }[];
};

const nearMisses = (r: GuidedRun, h: string) =>
  r.coverage.find((c) => c.hazard === h)?.nearMisses ?? 0;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export function guidedFigure(pairs: readonly GuidedPair[]): GuidedFigure {
  const hazards = pairs[0]?.plain.coverage.map((c) => c.hazard) ?? [];
  const total = (h: string) => sum(pairs.map((p) => nearMisses(p.plain, h)));
  const hazard = hazards.reduce<string | null>(
    (a, h) => (a === null || total(h) < total(a) ? h : a),
    null,
  );
  const secs = (f: (p: GuidedPair) => GuidedRun) => sum(pairs.map((p) => f(p).durationMs)) / 1000;
  const count = (f: (p: GuidedPair) => GuidedRun) =>
    hazard === null ? 0 : sum(pairs.map((p) => nearMisses(f(p), hazard)));
  const plainNearMisses = count((p) => p.plain);
  const guidedNearMisses = count((p) => p.guided);
  const plainPerSec = plainNearMisses / secs((p) => p.plain);
  const guidedPerSec = guidedNearMisses / secs((p) => p.guided);
  return {
    hazard,
    plainNearMisses,
    guidedNearMisses,
    plainPerSec,
    guidedPerSec,
    ratio: plainPerSec > 0 ? guidedPerSec / plainPerSec : Number.POSITIVE_INFINITY,
    plainOpsPerSec: sum(pairs.map((p) => p.plain.ops)) / secs((p) => p.plain),
    guidedOpsPerSec: sum(pairs.map((p) => p.guided.ops)) / secs((p) => p.guided),
    plainFaultsPerSec: sum(pairs.map((p) => p.plain.faults)) / secs((p) => p.plain),
    guidedFaultsPerSec: sum(pairs.map((p) => p.guided.faults)) / secs((p) => p.guided),
    perSeed: pairs.map((p) => ({
      seed: p.seed,
      plain: hazard === null ? 0 : nearMisses(p.plain, hazard),
      guided: hazard === null ? 0 : nearMisses(p.guided, hazard),
    })),
  };
}
