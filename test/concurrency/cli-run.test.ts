/**
 * The command line end to end, once: `node bin/hvaemu.mjs run --cpus 2
 * --duration 2s --json FILE` in a child process exits 0 and writes a JSON
 * report whose key names are docs/json.md's contract.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config.ts';

const BIN = fileURLToPath(new URL('../../bin/hvaemu.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hvaemu-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run the CLI; kill it (and fail) if it outlives `ms`. */
function hvaemu(
  args: string[],
  ms = 60_000,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hvaemu ${args.join(' ')}: still running after ${ms} ms`));
    }, ms);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

const US_STATS = ['min', 'max', 'total', 'avg'];

describe('hvaemu run (child process)', () => {
  it('exits 0 and writes the JSON report of docs/json.md', async () => {
    const file = join(dir, 'r.json');
    const { code, out, err } = await hvaemu([
      'run',
      '--cpus',
      '2',
      '--duration',
      '2s',
      '--json',
      file,
    ]);
    expect(code, `${out}\n${err}`).toBe(0);
    expect(out).toMatch(/^SUCCESS/m);
    const r = JSON.parse(readFileSync(file, 'utf8'));
    for (const k of [
      'schema',
      'verdict',
      'config',
      'durationMs',
      'cpus',
      'totals',
      'locks',
      'violations',
      'audit',
    ]) {
      expect(r, k).toHaveProperty(k);
    }
    expect(r.schema).toBe(1);
    expect(r.verdict).toBe('SUCCESS');
    // config: every effective parameter, the seed and the version
    for (const k of [...Object.keys(configSchema.shape), 'seed', 'version']) {
      expect(r.config, `config.${k}`).toHaveProperty(k);
    }
    expect(r.config.cpus).toBe(2);
    expect(r.config.durationMs).toBe(2000);
    expect(typeof r.durationMs).toBe('number');
    expect(r.cpus).toHaveLength(2);
    for (const [i, c] of r.cpus.entries()) {
      for (const k of ['cpu', 'ops', 'discardFaults', 'ipisTaken', 'irqsOffMaxUs']) {
        expect(c, `cpus[${i}].${k}`).toHaveProperty(k);
        expect(typeof c[k]).toBe('number');
      }
      expect(c.cpu).toBe(i);
    }
    for (const k of [
      'ops',
      'hostDiscards',
      'discardFaults',
      'refsRefused',
      'pagesParked',
      'pagesFreedFromList',
      'rendezvous',
    ]) {
      expect(r.totals, `totals.${k}`).toHaveProperty(k);
      expect(typeof r.totals[k]).toBe('number');
    }
    expect(Array.isArray(r.locks)).toBe(true);
    for (const l of r.locks) {
      for (const k of ['name', 'acquisitions', 'contentions', 'conBounces', 'acqBounces']) {
        expect(l, `locks[].${k}`).toHaveProperty(k);
      }
      for (const k of ['waitTimeUs', 'holdTimeUs']) {
        for (const s of US_STATS) expect(l[k], `locks[].${k}.${s}`).toHaveProperty(s);
      }
    }
    expect(r.violations).toEqual([]);
    expect(r.audit.ok).toBe(true);
    for (const k of ['free', 'perCpuLists', 'inUse', 'parkedOnList', 'inPagevecs']) {
      expect(typeof r.audit[k], `audit.${k}`).toBe('number');
    }
    expect(
      r.audit.free +
        r.audit.perCpuLists +
        r.audit.inUse +
        r.audit.parkedOnList +
        r.audit.inPagevecs,
    ).toBe(r.config.pages);
  });
});
