/**
 * The coverage tables of `hvaemu mutants` (src/check/coverage.ts): the
 * control's near misses per hazard, summed over its runs (one per distinct
 * widening, each shard's), so that the matrix says whether the correct
 * protocol met the dangerous overlaps the mutants are caught on; and per
 * hazard, how many cells met it before they were killed.
 */
import { type CoverageRow, sumCoverage } from '../check/coverage.ts';
import { renderCoverage } from '../cli/report.ts';

/** The control's runs and the cells, as the kill matrix has them (MutantsReport). */
type Matrix = {
  control: { runs: readonly { coverage?: readonly CoverageRow[]; durationMs: number }[] };
  mutants: readonly { coverage?: readonly CoverageRow[] }[];
};

/** The control's coverage table, and per hazard the cells that had a near miss of it. */
export function renderMatrixCoverage(r: Matrix): string[] {
  const rows = sumCoverage(r.control.runs);
  if (rows.length === 0) return [];
  const cells = r.mutants.filter((m) => m.coverage);
  const lines = renderCoverage(rows, 0);
  lines[0] = 'coverage of the control (near misses per hazard, over all its runs):';
  if (cells.length === 0) return lines;
  const met = rows.map((row) => {
    const n = cells.filter((m) =>
      m.coverage!.some((c) => c.hazard === row.hazard && c.nearMisses > 0),
    ).length;
    return `${row.hazard} ${n}`;
  });
  return [...lines, `cells (of ${cells.length}) with a near miss, per hazard: ${met.join(', ')}`];
}
