/**
 * --min-coverage end to end (child process): a run configured so that a
 * hazard cannot happen (no network interrupts: nothing is sent, nothing is
 * freed from NET_TX) ends UNDERCOVERED with exit 5, its JSON valid and its
 * coverage naming the hazard at 0; without the floor the same run is a SUCCESS.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runBin } from '../helpers/cli.ts';
import { schemaErrors } from '../helpers/schema.ts';

const BIN = fileURLToPath(new URL('../../bin/hvaemu.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hvaemu-coverage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RUN = [
  'run',
  '--cpus',
  '2',
  '--duration',
  '1s',
  '--seed',
  '7',
  '--irq-rate',
  'timer=0,net=0',
];

describe('--min-coverage', () => {
  it('a hazard that cannot happen: UNDERCOVERED, exit 5', async () => {
    const file = join(dir, 'under.json');
    const { code, out, err } = await runBin(BIN, [...RUN, '--min-coverage', '1', '--json', file]);
    expect(code, `${out}\n${err}`).toBe(5);
    expect(out).toMatch(/^UNDERCOVERED: no violation, but \d+ hazard\(s\) had fewer than 1 /m);
    expect(out).toMatch(/tx-free-uncached +0 +0 +rare, UNDER 1/);
    const r = JSON.parse(readFileSync(file, 'utf8'));
    expect(schemaErrors('run', r)).toBe('');
    expect(r.verdict).toBe('UNDERCOVERED');
    expect(r.exitCode).toBe(5);
    expect(r.config.minCoverage).toBe(1);
    const tx = r.coverage.find((c: { hazard: string }) => c.hazard === 'tx-free-uncached');
    expect(tx).toEqual({ hazard: 'tx-free-uncached', nearMisses: 0, perSecond: 0, rare: true });
    expect(r.totals.sendfilePages).toBeGreaterThan(0); // sent, but the device never said it was done
  }, 90_000);

  it('--guided: the report logs the arms chosen, and the JSON is valid', async () => {
    const file = join(dir, 'guided.json');
    const args = [...RUN, '--guided', '--target', 'double-fault', '--json', file];
    const { code, out, err } = await runBin(BIN, args);
    expect(code, `${out}\n${err}`).toBe(0);
    expect(out).toMatch(/^guided: \d+ choices every 250ms \(epsilon 0\.2\), target double-fault/m);
    const r = JSON.parse(readFileSync(file, 'utf8'));
    expect(schemaErrors('run', r)).toBe('');
    expect(r.config).toMatchObject({ guided: true, target: 'double-fault' });
    expect(r.guided.choices).toBeGreaterThan(0);
    expect(r.guided.log[0]).toMatchObject({
      arm: 0,
      label: 'mix as configured',
      target: 'double-fault',
    });
    expect(r.guided.log[1]).toMatchObject({
      label: 'mix as configured, stretch every fault window by 2000us',
    });
    expect(r.guided.arms.some((a: { opsPerSec: number | null }) => a.opsPerSec! > 0)).toBe(true);
  }, 90_000);

  it('--target: a hazard of the protocol, with --guided only (exit 2 before any thread)', async () => {
    const a = await runBin(BIN, [...RUN, '--guided', '--target', 'nope']);
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/--target: 'nope' is not a hazard of protocol patched/);
    const b = await runBin(BIN, [...RUN, '--target', 'double-fault']);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/--target: only with --guided/);
    const c = await runBin(BIN, [
      ...RUN,
      '--protocol',
      'unpatched',
      '--guided',
      '--target',
      'splice-in-window',
    ]);
    expect(c.code).toBe(2);
  }, 90_000);

  it('the same run without the floor is a SUCCESS', async () => {
    const { code, out, err } = await runBin(BIN, RUN);
    expect(code, `${out}\n${err}`).toBe(0);
    expect(out).toMatch(/^SUCCESS: /m);
    expect(out).toMatch(/^coverage \(near misses per hazard\):/m);
  }, 90_000);
});
