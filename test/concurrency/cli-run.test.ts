/**
 * The command line end to end, once: `node bin/hvaemu.mjs run --cpus 2
 * --duration 2s --json FILE` in a child process exits 0 and writes a JSON
 * report whose key names are docs/json.md's contract.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { configSchema } from '../../src/config.ts';
import { runBin } from '../helpers/cli.ts';
import { schemaErrors } from '../helpers/schema.ts';
import { threadsBaseline, threadsSettled } from '../helpers/workers.ts';

const BIN = fileURLToPath(new URL('../../bin/hvaemu.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hvaemu-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run the CLI; kill it (and fail) if it outlives `ms`. */
const hvaemu = (args: string[], ms = 60_000) => runBin(BIN, args, ms);

describe('hvaemu run (child process)', () => {
  it('exits 0 and writes the JSON report of docs/json.md', async () => {
    const file = join(dir, 'r.json');
    const { code, out, err } = await hvaemu([
      'run',
      '--cpus',
      '2',
      '--duration',
      '1s',
      '--json',
      file,
    ]);
    expect(code, `${out}\n${err}`).toBe(0);
    expect(out).toMatch(/^SUCCESS/m);
    const r = JSON.parse(readFileSync(file, 'utf8'));
    expect(schemaErrors('run', r)).toBe('');
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
    expect(r.schema).toBe(2);
    expect(r.verdict).toBe('SUCCESS');
    expect(r).toMatchObject({
      exitCode: 0,
      endReason: 'duration elapsed',
      signal: null,
      stall: null,
      error: null,
    });
    expect(r.argv).toEqual(['run', '--cpus', '2', '--duration', '1s', '--json', file]);
    expect(r.host.hostname).toBe(hostname());
    expect(Date.parse(r.endedAt)).toBeGreaterThanOrEqual(Date.parse(r.startedAt));
    // config: every effective parameter and the seed; delays keyed by point name
    for (const k of [...Object.keys(configSchema.shape), 'seed']) {
      expect(r.config, `config.${k}`).toHaveProperty(k);
    }
    expect(r.config.delaysUs).toEqual({});
    expect(r.config.cpus).toBe(2);
    expect(r.config.durationMs).toBe(1000);
    // times to the microsecond at most: no 20465.36799999967
    expect(String(r.durationMs)).toMatch(/^\d+(\.\d{1,3})?$/);
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
      // not measured without --lockstat: null, not 0
      expect(l.waitTimeUs).toBeNull();
      expect(l.holdTimeUs).toBeNull();
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

describe('hvaemu run stopped by a signal (in process)', () => {
  it('SIGTERM: INTERRUPTED, exit 143, --json - on stdout and the text on stderr', async () => {
    const threads0 = await threadsBaseline();
    const out: string[] = [];
    const err: string[] = [];
    const so = vi.spyOn(process.stdout, 'write').mockImplementation((s) => !!out.push(String(s)));
    const se = vi.spyOn(process.stderr, 'write').mockImplementation((s) => !!err.push(String(s)));
    const before = process.listenerCount('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    // the signal once hvaemu listens for it (Node's own handler would end the process before)
    const poll = () => {
      if (process.listenerCount('SIGTERM') > before) process.emit('SIGTERM', 'SIGTERM');
      else timer = setTimeout(poll, 10);
    };
    poll();
    let code: number;
    try {
      code = await main(['run', '--cpus', '2', '--duration', '60s', '--json', '-']);
    } finally {
      clearTimeout(timer);
      so.mockRestore();
      se.mockRestore();
    }
    const text = err.join('');
    expect(code, text).toBe(143);
    expect(text).toMatch(/^INTERRUPTED after \d+(\.\d)?s of 60s \(no violation so far\)/m);
    expect(text).not.toMatch(/^SUCCESS/m);
    expect(process.listenerCount('SIGTERM')).toBe(before);
    const r = JSON.parse(out.join(''));
    expect(schemaErrors('run', r)).toBe('');
    expect(r).toMatchObject({
      verdict: 'INTERRUPTED',
      exitCode: 143,
      signal: 'SIGTERM',
      endReason: 'interrupted',
    });
    expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
  });
});
