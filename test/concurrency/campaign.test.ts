/**
 * Campaigns sharded and merged, on real workers, kept tiny (2 CPUs, runs of
 * 100 ms, two mutants caught in well under a second):
 *
 * - a kill matrix of two mutants, unsharded and as 3 shards (the third has
 *   no cell: it runs the control only), merged: the same cells with the same
 *   seeds, every mutant killed in both, every shard's control kept;
 * - a sweep of 2 x 2 points, unsharded and as 2 shards, merged: the same
 *   points with the same seed, and the files an unsharded sweep writes;
 * - the docs/campaigns.md recipe: 4 shards of the sweep through GNU parallel
 *   (skipped when `parallel` is not installed, unless HVAEMU_REQUIRE_PARALLEL
 *   is set, as .ci/run sets it: then it fails), merged.
 *
 * No timing is asserted. After every test no worker thread is left.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import type { MutantsReport } from '../../src/cli/mutants.ts';
import { pointKey, type SweepReport } from '../../src/cli/sweep.ts';
import { schemaErrors } from '../helpers/schema.ts';
import { threadsBaseline, threadsSettled } from '../helpers/workers.ts';

const BIN = fileURLToPath(new URL('../../bin/hvaemu.mjs', import.meta.url));
const PARALLEL = process.env.PARALLEL_BIN ?? '/usr/bin/parallel';
/** The job engines' variables: a test run inside one must not be sharded by it. */
const ENGINE_VARS = [
  'JOB_COMPLETION_INDEX',
  'SLURM_ARRAY_TASK_ID',
  'SLURM_ARRAY_TASK_COUNT',
  'SLURM_ARRAY_TASK_MIN',
  'SLURM_ARRAY_TASK_STEP',
  'CI_NODE_INDEX',
  'CI_NODE_TOTAL',
];
const saved = Object.fromEntries(ENGINE_VARS.map((v) => [v, process.env[v]]));

const dir = mkdtempSync(join(tmpdir(), 'hvaemu-campaign-'));
let threads0 = 0;
beforeAll(async () => {
  for (const v of ENGINE_VARS) delete process.env[v];
  threads0 = await threadsBaseline();
});
afterAll(() => {
  for (const [v, x] of Object.entries(saved)) if (x !== undefined) process.env[v] = x;
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
});

const read = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

const MUTANTS = [
  'mutants',
  '--cpus',
  '2',
  '--budget',
  '4s',
  '--only',
  'free-immediately,no-clear-before-free',
  '--seed',
  '11',
  '--quiet',
];

const SWEEP = [
  'sweep',
  '--cpus',
  '1,2',
  '--pagevec-size',
  '1,14',
  '--duration',
  '100ms',
  '--pages',
  '2048',
  '--files',
  '64',
  '--seed',
  '5',
  '--quiet',
];

const cellsOf = (r: MutantsReport) => r.mutants.map((m) => [m.name, m.replica, m.seed]);
const pointsOf = (r: SweepReport) => r.points.map((p) => [pointKey(p), p.seed]);

describe('a sharded kill matrix', () => {
  it("3 shards merged: the unsharded run's cells and seeds, every mutant killed in both", async () => {
    expect(await main([...MUTANTS, '--out', join(dir, 'mu')])).toBe(0);
    const whole = read<MutantsReport>(join(dir, 'mu', 'mutants.json'));
    for (const i of [1, 2, 3]) {
      expect(await main([...MUTANTS, '--shard', `${i}/3`, '--out', join(dir, `m${i}`)])).toBe(0);
    }
    const s3 = read<MutantsReport>(join(dir, 'm3', 'mutants.json'));
    expect(s3.mutants).toEqual([]);
    expect(s3.control.runs.length).toBeGreaterThan(0);
    const into = join(dir, 'mm');
    expect(await main(['merge', ...[1, 2, 3].map((i) => join(dir, `m${i}`)), '--out', into])).toBe(
      0,
    );
    const merged = read<MutantsReport>(join(into, 'mutants.json'));
    for (const r of [whole, s3, merged]) expect(schemaErrors('mutants', r)).toBe('');
    expect(merged.campaign.id).toBe(whole.campaign.id);
    expect(merged.campaign.cells).toEqual(['free-immediately/0', 'no-clear-before-free/0']);
    expect(cellsOf(merged)).toEqual(cellsOf(whole));
    for (const r of [whole, merged]) {
      expect(r.verdict).toBe('SUCCESS');
      expect(r.mutants.every((m) => m.killed)).toBe(true);
    }
    expect(merged.campaign.merged).toMatchObject({ missing: [], duplicates: [] });
    expect([...new Set(merged.control.runs.map((c) => c.shard))]).toEqual([1, 2, 3]);
    expect(readFileSync(join(into, 'matrix.txt'), 'utf8')).toMatch(
      /SUCCESS: control clean, 2 of 2 cells killed/,
    );
  }, 300_000);
});

describe('a sharded sweep', () => {
  it("2 shards merged: the unsharded sweep's points and seed, and its files", async () => {
    expect(await main([...SWEEP, '--out', join(dir, 'su')])).toBe(0);
    const whole = read<SweepReport>(join(dir, 'su', 'sweep.json'));
    for (const i of [1, 2]) {
      expect(await main([...SWEEP, '--shard', `${i}/2`, '--out', join(dir, `s${i}`)])).toBe(0);
    }
    const into = join(dir, 'sm');
    expect(await main(['merge', join(dir, 's1'), join(dir, 's2'), '--out', into])).toBe(0);
    const merged = read<SweepReport>(join(into, 'sweep.json'));
    for (const r of [whole, merged]) expect(schemaErrors('sweep', r)).toBe('');
    expect(merged.campaign.id).toBe(whole.campaign.id);
    expect(pointsOf(merged)).toEqual(pointsOf(whole));
    expect(pointsOf(merged).map(([, s]) => s)).toEqual([5, 5, 5, 5]);
    expect(merged).toMatchObject({ runs: 4, gridSize: 4, verdict: 'SUCCESS' });
    for (const f of ['table.txt', ...whole.charts]) expect(existsSync(join(into, f)), f).toBe(true);
    expect(merged.charts).toEqual(whole.charts);
  }, 300_000);

  it('4 shards through GNU parallel (docs/campaigns.md), merged: the same points', async (ctx) => {
    if (!existsSync(PARALLEL)) {
      if (process.env.HVAEMU_REQUIRE_PARALLEL) {
        throw new Error(`${PARALLEL} is missing and HVAEMU_REQUIRE_PARALLEL is set`);
      }
      ctx.skip(`${PARALLEL} not installed (apt-get install parallel)`);
    }
    const env = { ...process.env };
    for (const v of ENGINE_VARS) delete env[v];
    const run = spawnSync(
      PARALLEL,
      [
        '-j2',
        '--halt',
        'now,fail=1',
        process.execPath,
        BIN,
        ...SWEEP,
        '--shard',
        '{}/4',
        '--out',
        join(dir, 'p', '{}'),
        ':::',
        '1',
        '2',
        '3',
        '4',
      ],
      { encoding: 'utf8', timeout: 240_000, env },
    );
    expect(run.status, run.stderr).toBe(0);
    if (!existsSync(join(dir, 'su', 'sweep.json'))) {
      expect(await main([...SWEEP, '--out', join(dir, 'su')])).toBe(0);
    }
    const whole = read<SweepReport>(join(dir, 'su', 'sweep.json'));
    const into = join(dir, 'pm');
    const merge = spawnSync(
      process.execPath,
      [BIN, 'merge', ...[1, 2, 3, 4].map((i) => join(dir, 'p', String(i))), '--out', into],
      { encoding: 'utf8', timeout: 120_000, env },
    );
    expect(merge.status, merge.stderr).toBe(0);
    expect(merge.stdout).toMatch(/merged from 4 reports/);
    const merged = read<SweepReport>(join(into, 'sweep.json'));
    expect(schemaErrors('sweep', merged)).toBe('');
    expect(merged.campaign.id).toBe(whole.campaign.id);
    expect(pointsOf(merged)).toEqual(pointsOf(whole));
    expect(merged.campaign.merged?.from.map((f) => f.shard?.index).sort()).toEqual([1, 2, 3, 4]);
  }, 400_000);
});
