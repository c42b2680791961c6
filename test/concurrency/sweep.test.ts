/**
 * `hvaemu sweep`: a tiny grid (2 x 2 runs of 300 ms) writes sweep.json,
 * table.txt and the SVG charts, and one chart is drawn in headless Chromium
 * (skipped with a message when /usr/bin/chromium is absent, unless
 * HVAEMU_REQUIRE_CHROMIUM is set, as .ci/run sets it: then it fails).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import type { SweepReport } from '../../src/cli/sweep.ts';

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const CHECK = fileURLToPath(new URL('../../scripts/check-chart-chromium.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hvaemu-sweep-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('hvaemu sweep', () => {
  it('refuses a bad list before any thread starts', async () => {
    expect(await main(['sweep', '--cpus', '1,,2', '--out', dir])).toBe(2);
    expect(await main(['sweep', '--spinlock', 'tas,mcs', '--out', dir])).toBe(2);
    expect(await main(['sweep', '--pagevec-size', '1,0', '--out', dir])).toBe(2);
    expect(existsSync(join(dir, 'sweep.json'))).toBe(false);
  });

  it('runs the grid, writes sweep.json, the table and the charts', async () => {
    const code = await main([
      'sweep',
      '--cpus',
      '1,2',
      '--pagevec-size',
      '1,14',
      '--duration',
      '300ms',
      '--pages',
      '2048',
      '--files',
      '64',
      '--seed',
      '5',
      '--out',
      dir,
      '--quiet',
    ]);
    expect(code).toBe(0);
    const r = JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')) as SweepReport;
    expect(r.points.map((p) => [p.cpus, p.pagevecSize])).toEqual([
      [1, 1],
      [1, 14],
      [2, 1],
      [2, 14],
    ]);
    for (const p of r.points) {
      expect(p.verdict).toBe('SUCCESS');
      expect(p.ops).toBeGreaterThan(0);
      expect(p.locks.map((l) => l.name)).toContain('page_hva_discard_list_lock');
      expect(p.discardLock.acquisitions).toBe(p.discardLock.byFlush + p.discardLock.byShrink);
    }
    expect(r.config.seed).toBe(5);
    expect(readFileSync(join(dir, 'table.txt'), 'utf8')).toMatch(/acq\/parked/);
    expect(r.charts).toEqual([
      'discard-lock-acquisitions.svg',
      'discard-lock-contentions.svg',
      'ops-per-sec.svg',
    ]);
    for (const c of r.charts) {
      const svg = readFileSync(join(dir, c), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toMatch(/aria-roledescription="line mark"/);
    }
  });

  it('draws a chart that headless Chromium renders', (ctx) => {
    if (!existsSync(CHROMIUM)) {
      if (process.env.HVAEMU_REQUIRE_CHROMIUM) {
        throw new Error(`${CHROMIUM} is missing and HVAEMU_REQUIRE_CHROMIUM is set`);
      }
      ctx.skip(`${CHROMIUM} not installed: chart not checked in a browser`);
    }
    const svg = join(dir, 'discard-lock-acquisitions.svg');
    expect(existsSync(svg)).toBe(true);
    const out = spawnSync(process.execPath, [CHECK, svg], { encoding: 'utf8', timeout: 90_000 });
    expect(out.stdout).toMatch(/chromium: chart drawn \(\d+ marks\)/);
    expect(out.status).toBe(0);
  });
});
