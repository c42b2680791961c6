/**
 * Campaigns split over machines, without threads: where the shard comes from
 * (--shard, or a job engine's environment), which cells a shard runs, the
 * cell seeds (the campaign seed and the cell, nothing else), usage errors
 * before anything runs, and hvaemu merge on reports written here: refusals,
 * missing and duplicate cells, and a soak farm from two soak folders.
 * runMachine is a spy that throws: nothing here may start a machine.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type CampaignInfo,
  campaignSeed,
  cellSeed,
  inShard,
  resolveShard,
  shardCells,
  UNSHARDED,
} from '../../src/campaign/shard.ts';
import { main } from '../../src/cli/main.ts';
import { mergeCells, mergeMutants, mergeSoaks } from '../../src/cli/merge.ts';
import {
  type MatrixRow,
  MUTANTS_SCHEMA,
  type MutantsReport,
  mutantCells,
  mutantsCampaignId,
} from '../../src/cli/mutants.ts';
import { runMachine } from '../../src/machine/machine.ts';
import { schemaErrors } from '../helpers/schema.ts';

vi.mock('../../src/machine/machine.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/machine/machine.ts')>();
  return {
    ...real,
    runMachine: vi.fn(async () => {
      throw new Error('runMachine reached (spy): a machine would have started');
    }),
  };
});

const dir = mkdtempSync(join(tmpdir(), 'hvaemu-campaign-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let err = '';
let out = '';
beforeEach(() => {
  err = '';
  out = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    err += String(s);
    return true;
  });
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out += String(s);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.mocked(runMachine).mockClear();
});

describe('the shard', () => {
  it('--shard I/N, checked', () => {
    expect(resolveShard('2/4', undefined, {})).toEqual({ index: 2, count: 4, source: '--shard' });
    for (const bad of ['0/4', '5/4', '1/0', '2', 'a/b', '1/2/3']) {
      expect(() => resolveShard(bad, undefined, {}), bad).toThrow(/^--shard: /);
    }
  });

  it("from each job engine's environment; --shard wins; none is the whole campaign", () => {
    expect(resolveShard(undefined, '4', { JOB_COMPLETION_INDEX: '0' })).toEqual({
      index: 1,
      count: 4,
      source: 'JOB_COMPLETION_INDEX',
    });
    expect(resolveShard(undefined, '4', { JOB_COMPLETION_INDEX: '3' }).index).toBe(4);
    expect(() => resolveShard(undefined, '4', { JOB_COMPLETION_INDEX: '4' })).toThrow(
      /JOB_COMPLETION_INDEX with --shard-count: shard 5 of 4/,
    );
    // Slurm arrays start anywhere and may step
    expect(
      resolveShard(undefined, undefined, {
        SLURM_ARRAY_TASK_ID: '7',
        SLURM_ARRAY_TASK_COUNT: '4',
        SLURM_ARRAY_TASK_MIN: '5',
      }),
    ).toEqual({ index: 3, count: 4, source: 'SLURM_ARRAY_TASK_ID' });
    expect(
      resolveShard(undefined, undefined, {
        SLURM_ARRAY_TASK_ID: '12',
        SLURM_ARRAY_TASK_COUNT: '4',
        SLURM_ARRAY_TASK_MIN: '0',
        SLURM_ARRAY_TASK_STEP: '4',
      }).index,
    ).toBe(4);
    expect(resolveShard(undefined, undefined, { CI_NODE_INDEX: '2', CI_NODE_TOTAL: '3' })).toEqual({
      index: 2,
      count: 3,
      source: 'CI_NODE_INDEX',
    });
    expect(resolveShard('1/2', undefined, { CI_NODE_INDEX: '2', CI_NODE_TOTAL: '3' }).index).toBe(
      1,
    );
    expect(resolveShard(undefined, undefined, {})).toEqual(UNSHARDED);
  });

  it('an index without its count, or a count without its index, is an error naming both', () => {
    expect(() => resolveShard(undefined, undefined, { JOB_COMPLETION_INDEX: '1' })).toThrow(
      /JOB_COMPLETION_INDEX=1 is set but not --shard-count/,
    );
    expect(() => resolveShard(undefined, '3', {})).toThrow(/^--shard-count: only with/);
    expect(() => resolveShard(undefined, undefined, { CI_NODE_INDEX: '1' })).toThrow(
      /CI_NODE_TOTAL/,
    );
    expect(() => resolveShard(undefined, undefined, { SLURM_ARRAY_TASK_ID: '1' })).toThrow(
      /SLURM_ARRAY_TASK_COUNT/,
    );
  });

  it('the shards of a campaign are disjoint and together all of it', () => {
    for (const total of [0, 1, 5, 11, 12]) {
      for (const count of [1, 2, 3, 4, 13]) {
        const all = Array.from({ length: count }, (_, i) =>
          shardCells(total, { index: i + 1, count }),
        ).flat();
        expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, k) => k));
        for (let k = 0; k < total; k++) {
          const owners = Array.from({ length: count }, (_, i) => i + 1).filter((i) =>
            inShard(k, { index: i, count }),
          );
          expect(owners).toHaveLength(1);
        }
      }
    }
  });

  it('a cell seed depends on the campaign seed and the cell only', () => {
    const a = mutantCells(['plain-inc', 'free-immediately'], 2, 42);
    expect(a.map((c) => c.key)).toEqual([
      'plain-inc/0',
      'plain-inc/1',
      'free-immediately/0',
      'free-immediately/1',
    ]);
    // the same cell in a campaign of other mutants: the same seed
    const b = mutantCells(['free-immediately'], 3, 42);
    expect(b[0]!.seed).toBe(a[2]!.seed);
    expect(b[1]!.seed).toBe(a[3]!.seed);
    expect(new Set(a.map((c) => c.seed)).size).toBe(4);
    expect(mutantCells(['plain-inc'], 1, 43)[0]!.seed).not.toBe(a[0]!.seed);
    expect(cellSeed(42, 'plain-inc/0')).toBe(a[0]!.seed);
    expect(cellSeed(42, 'x')).toBeLessThanOrEqual(0xffffffff);
  });

  it('the campaign id says which scheduler: shards of different --sched do not merge', () => {
    const d = {
      seed: 9,
      cells: ['plain-inc/0'],
      cpus: 4,
      budgetMs: 1000,
      stallTimeoutMs: 3000,
      widen: true,
      names: ['plain-inc'] as const,
    };
    const os = mutantsCampaignId(d);
    const pct = mutantsCampaignId({ ...d, sched: { kind: 'pct', depth: 3, steps: 20000 } });
    expect(mutantsCampaignId({ ...d, sched: { kind: 'pct', depth: 3, steps: 20000 } })).toBe(pct);
    expect(pct).not.toBe(os);
    for (const other of [
      { kind: 'random', depth: 3, steps: 20000 },
      { kind: 'pct', depth: 2, steps: 20000 },
      { kind: 'pct', depth: 3, steps: 2000 },
    ] as const) {
      expect(mutantsCampaignId({ ...d, sched: other })).not.toBe(pct);
    }
  });

  it('a sharded campaign needs --seed; an unsharded one draws it', () => {
    expect(() => campaignSeed(undefined, { index: 1, count: 2, source: '--shard' })).toThrow(
      /^--shard: give --seed too/,
    );
    expect(() => campaignSeed(undefined, { index: 1, count: 2, source: 'CI_NODE_INDEX' })).toThrow(
      /from CI_NODE_INDEX: give --seed/,
    );
    expect(campaignSeed('7', { index: 1, count: 2, source: '--shard' })).toBe(7);
    expect(campaignSeed(undefined, UNSHARDED)).toBeGreaterThanOrEqual(0);
    expect(() => campaignSeed('4294967296', UNSHARDED)).toThrow(/0\.\.4294967295/);
  });
});

describe('usage errors before any thread starts (exit 2)', () => {
  const env = { ...process.env };
  afterEach(() => {
    process.env = { ...env };
  });

  it('mutants and sweep: bad shards, a shard without --seed', async () => {
    expect(await main(['mutants', '--shard', '3/2', '--seed', '1'])).toBe(2);
    expect(err).toMatch(/^hvaemu: --shard: shard 3 of 2 is not one of 1\.\.2\n$/);
    err = '';
    expect(await main(['mutants', '--shard', '1/2'])).toBe(2);
    expect(err).toMatch(/give --seed too/);
    err = '';
    expect(await main(['mutants', '--seeds', '0'])).toBe(2);
    expect(err).toMatch(/--seeds: must be 1\.\.10000/);
    err = '';
    expect(await main(['sweep', '--shard', '1/2', '--out', join(dir, 'never')])).toBe(2);
    expect(err).toMatch(/give --seed too/);
    expect(existsSync(join(dir, 'never'))).toBe(false);
    err = '';
    process.env.JOB_COMPLETION_INDEX = '1';
    delete process.env.CI_NODE_INDEX;
    delete process.env.SLURM_ARRAY_TASK_ID;
    expect(await main(['mutants', '--seed', '1'])).toBe(2);
    expect(err).toMatch(/JOB_COMPLETION_INDEX=1 is set but not --shard-count/);
    expect(runMachine).not.toHaveBeenCalled();
  });

  it('--help names the environment variables', async () => {
    for (const c of ['mutants', 'sweep']) {
      out = '';
      await main([c, '--help']);
      for (const v of [
        'JOB_COMPLETION_INDEX',
        'SLURM_ARRAY_TASK_ID',
        'SLURM_ARRAY_TASK_COUNT',
        'CI_NODE_INDEX',
        'CI_NODE_TOTAL',
        '--shard-count',
      ]) {
        expect(out.replace(/\s+/g, ' '), `${c}: ${v}`).toContain(v);
      }
    }
  });
});

/** A kill matrix as shard `index` of `count` of a two-mutant campaign would write it. */
function shardReport(index: number, count: number, over: Partial<MutantsReport> = {}) {
  const names = ['plain-inc', 'free-immediately'] as const;
  const cells = mutantCells([...names], 2, 9);
  const d = {
    seed: 9,
    cells: cells.map((c) => c.key),
    cpus: 2,
    budgetMs: 1000,
    stallTimeoutMs: 3000,
    widen: true,
    names: [...names],
  };
  const campaign: CampaignInfo = {
    id: mutantsCampaignId(d),
    seed: 9,
    cells: d.cells,
    shard: { index, count, source: '--shard' },
    merged: null,
  };
  const rows: MatrixRow[] = shardCells(cells.length, { index, count }).map((k) => ({
    name: cells[k]!.name,
    replica: cells[k]!.replica,
    seed: cells[k]!.seed,
    attemptSeed: cells[k]!.seed,
    killed: true,
    detectedBy: 'free-in-window',
    timeToDetectMs: 5,
    attempts: 1,
    machineMs: 5,
    wallMs: 50,
    widening: '',
  }));
  const r: MutantsReport = {
    schema: MUTANTS_SCHEMA,
    kind: 'mutants',
    verdict: 'SUCCESS',
    exitCode: 0,
    signal: null,
    startedAt: `2025-01-01T00:00:0${index}.000Z`,
    endedAt: `2025-01-01T00:01:0${index}.000Z`,
    wallMs: 1000 * index,
    version: '0.1.0',
    argv: ['mutants'],
    git: null,
    host: { hostname: `host${index}`, node: 'v20', platform: 'linux', arch: 'x64', cores: 2 },
    cpus: 2,
    budgetMs: 1000,
    widen: true,
    names: [...names],
    seeds: 2,
    campaign,
    control: {
      verdict: 'SUCCESS',
      durationMs: 1000,
      runs: [
        {
          widening: '',
          verdict: 'SUCCESS',
          seed: 1,
          durationMs: 1000,
          violations: 0,
          shard: index,
        },
      ],
    },
    mutants: rows,
    ...over,
  };
  return r;
}

function writeShard(name: string, r: unknown): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'mutants.json'), JSON.stringify(r));
  return d;
}

describe('hvaemu merge', () => {
  const prov = {
    version: '0.1.0',
    argv: ['merge'],
    git: null,
    host: { hostname: 'm', node: '', platform: '', arch: '', cores: 1 },
  };

  it('mergeCells: campaign order, the first of duplicates kept, missing named', () => {
    const m = mergeCells(
      ['a', 'b', 'c', 'd'],
      [
        {
          file: 'x',
          rows: [
            { k: 'c', v: 1 },
            { k: 'a', v: 1 },
          ],
        },
        { file: 'y', rows: [{ k: 'a', v: 2 }] },
      ],
      (r) => r.k,
    );
    expect(m.rows).toEqual([
      { k: 'a', v: 1 },
      { k: 'c', v: 1 },
    ]);
    expect(m.missing).toEqual(['b', 'd']);
    expect(m.duplicates).toEqual([{ cell: 'a', files: ['x', 'y'] }]);
    expect(() => mergeCells(['a'], [{ file: 'x', rows: ['z'] }], (r) => r)).toThrow(
      /cell z is not one of the campaign's/,
    );
  });

  it('three shards: every cell once, every control kept, schema-valid', () => {
    const shards = [1, 2, 3].map((i) => ({ file: `s${i}`, r: shardReport(i, 3) }));
    const m = mergeMutants(shards, prov);
    expect(schemaErrors('mutants', m)).toBe('');
    expect(m.verdict).toBe('SUCCESS');
    expect(m.mutants.map((r) => `${r.name}/${r.replica}`)).toEqual(m.campaign.cells);
    expect(m.control.runs.map((c) => c.shard)).toEqual([1, 2, 3]);
    expect(m.campaign.merged?.missing).toEqual([]);
    expect(m.campaign.merged?.from.map((f) => f.shard?.index)).toEqual([1, 2, 3]);
    expect(m.wallMs).toBe(3000);
    // a missing shard: its cells missing, the matrix a FAILURE
    const two = mergeMutants(shards.slice(0, 2), prov);
    expect(two.verdict).toBe('FAILURE');
    expect(two.campaign.merged?.missing).toEqual(['free-immediately/0']);
    // the same shard twice: duplicates, its control once
    const again = mergeMutants([...shards, { file: 's1b', r: shardReport(1, 3) }], prov);
    expect(again.campaign.merged?.duplicates.map((d) => d.cell)).toEqual([
      'plain-inc/0',
      'free-immediately/1',
      'control/1',
    ]);
    expect(again.control.runs).toHaveLength(3);
    // a merged report merges again
    const re = mergeMutants([{ file: 'm', r: m }], prov);
    expect(re.mutants).toEqual(m.mutants);
    expect(re.campaign.merged?.from).toHaveLength(3);
  });

  it('refuses different campaigns or versions, and different kinds, writing nothing (exit 2)', async () => {
    const a = writeShard('a', shardReport(1, 2));
    const other = shardReport(2, 2);
    const b = writeShard('b', {
      ...other,
      campaign: { ...other.campaign, id: '0123456789abcdef' },
    });
    const c = writeShard('c', { ...shardReport(2, 2), version: '0.2.0' });
    const into = join(dir, 'merged');
    expect(await main(['merge', a, b, '--out', into])).toBe(2);
    expect(err).toMatch(
      /^hvaemu: merge: refused: different campaigns: '.*a\/mutants.json' is campaign [0-9a-f]{16} \(seed 9, 4 cells\)/,
    );
    err = '';
    expect(await main(['merge', a, c, '--out', into])).toBe(2);
    expect(err).toMatch(/refused: different versions: .* is hvaemu 0\.1\.0, .* is 0\.2\.0/);
    err = '';
    const s = join(dir, 'sw');
    mkdirSync(s);
    writeFileSync(join(s, 'sweep.json'), JSON.stringify({ kind: 'sweep', schema: 2 }));
    expect(await main(['merge', a, s, '--out', into])).toBe(2);
    expect(err).toMatch(/a sweep report of schema 2, not 3/);
    err = '';
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(await main(['merge', empty, '--out', into])).toBe(2);
    expect(err).toMatch(/no hvaemu report in/);
    expect(existsSync(into)).toBe(false);
  });

  it('writes mutants.json and matrix.txt; exit 1 with a cell missing', async () => {
    const a = writeShard('m1', shardReport(1, 2));
    const b = writeShard('m2', shardReport(2, 2));
    const into = join(dir, 'mm');
    expect(await main(['merge', a, b, '--out', into])).toBe(0);
    const m = JSON.parse(readFileSync(join(into, 'mutants.json'), 'utf8')) as MutantsReport;
    expect(schemaErrors('mutants', m)).toBe('');
    expect(m.mutants).toHaveLength(4);
    expect(readFileSync(join(into, 'matrix.txt'), 'utf8')).toMatch(
      /merged from 2 reports, 4 of 4 cells[\s\S]*SUCCESS: control clean, 4 of 4 cells killed/,
    );
    out = '';
    expect(await main(['merge', a, '--out', join(dir, 'mm1')])).toBe(1);
    expect(out).toMatch(/missing cells \(in no report\): plain-inc\/1, free-immediately\/1/);
  });

  it('soak folders: a farm summary, one row per machine; different soaks refused', async () => {
    const soak = (name: string, seed: number, over: Record<string, unknown> = {}) => {
      const d = join(dir, name);
      mkdirSync(d, { recursive: true });
      writeFileSync(
        join(d, 'config.json'),
        JSON.stringify({
          schema: 1,
          cpus: 4,
          protocol: 'patched',
          durationMs: 60_000,
          seed,
          version: '0.1.0',
          soak: { statIntervalMs: 1000, auditEvery: 10, parkTimeoutMs: 5000, out: d },
          git: null,
          host: { node: 'v20', platform: 'linux', arch: 'x64', hostname: name, cores: 2 },
          argv: [],
          startedAt: '2025-01-01T00:00:00.000Z',
          ...over,
        }),
      );
      writeFileSync(
        join(d, 'summary.json'),
        JSON.stringify({
          schema: 1,
          verdict: seed === 3 ? 'FAILURE' : 'SUCCESS',
          exitCode: seed === 3 ? 1 : 0,
          note: null,
          endReason: 'duration',
          startedAt: '2025-01-01T00:00:00.000Z',
          updatedAt: '2025-01-01T01:00:00.000Z',
          endedAt: '2025-01-01T01:00:00.000Z',
          durationMs: 60_000,
          wallMs: 61_000,
          seed,
          totals: { ops: 6_000_000 },
          violations: { total: seed === 3 ? 2 : 0, oracle: 0, audit: 0, written: 0, firstMs: null },
          audits: { periodic: 5, failed: 0 },
          stall: null,
          memory: { leakSuspected: false },
        }),
      );
      return d;
    };
    const a = soak('farm-a', 1);
    const b = soak('farm-b', 3);
    const into = join(dir, 'farm');
    expect(await main(['merge', a, b, '--out', into])).toBe(1);
    const f = JSON.parse(readFileSync(join(into, 'farm.json'), 'utf8'));
    expect(schemaErrors('soak-farm', f)).toBe('');
    expect(
      f.machines.map((m: { hostname: string; verdict: string }) => [m.hostname, m.verdict]),
    ).toEqual([
      ['farm-a', 'SUCCESS'],
      ['farm-b', 'FAILURE'],
    ]);
    expect(f.verdict).toBe('FAILURE');
    expect(f.totals).toMatchObject({ machines: 2, violations: 2, ops: 12_000_000 });
    expect(readFileSync(join(into, 'farm.txt'), 'utf8')).toMatch(/FAILURE: 1 of 2 machines clean/);
    // the same seed on two machines is reported
    const r = await mergeSoaks(
      [a, soak('farm-c', 1)].map((d) => ({
        kind: 'soak' as const,
        file: join(d, 'summary.json'),
        dir: d,
        summary: JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8')),
        config: JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')),
      })),
      prov,
    );
    expect(r.duplicates).toEqual([{ seed: 1, dirs: [a, join(dir, 'farm-c')] }]);
    err = '';
    const d = soak('farm-d', 4, { cpus: 8 });
    expect(await main(['merge', a, d, '--out', join(dir, 'farm2')])).toBe(2);
    expect(err).toMatch(/refused: different soaks: .* differ in cpus/);
  });
});
