/**
 * Whole machines with real workers (runMachine): the patched protocol runs
 * clean, the unpatched one is caught, the virtual fault address pins the
 * page, and a CPU that throws ends the run with ERROR, its CPU id and exit 4.
 * After every test no worker thread is left in this process.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/config.ts';
import { EXIT, runMachine } from '../../src/machine/machine.ts';
import { NR_POINTS, P } from '../../src/points.ts';
import { CRASH_CPU, CRASH_MESSAGE } from '../helpers/crash.ts';
import { threadsBaseline, threadsSettled } from '../helpers/workers.ts';

/** docs/json.md's `totals` contract. */
const TOTALS = [
  'ops',
  'hostDiscards',
  'discardFaults',
  'refsRefused',
  'pagesParked',
  'pagesFreedFromList',
  'rendezvous',
] as const;
const VIOLATION_KEYS = ['kind', 'cpu', 'pfn', 'generationAtFault', 'generationNow', 'trace'];
const CRASH_WORKER = fileURLToPath(new URL('../workers/crash-cpu.mjs', import.meta.url));
const HANG_WORKER = fileURLToPath(new URL('../workers/hang-cpu.mjs', import.meta.url));

let threads0 = 0;
beforeAll(async () => {
  threads0 = await threadsBaseline();
});
afterEach(async () => {
  // runMachine has returned: its pool (CPUs + host) must be gone
  expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
});

describe('runMachine', () => {
  it('patched: 4 CPUs for 3 s run clean, with every total above zero', async () => {
    // With the default 16384 pages a CPU starved by a loaded machine may not
    // fill memory within 3 s: no reclaim, so no shrink_discards. A smaller
    // guest reclaims early, and a wider fault window (fault-to-ref) makes
    // refused references frequent; the run must still be clean.
    const delaysUs = new Array<number>(NR_POINTS).fill(0);
    delaysUs[P['fault-to-ref']] = 50;
    const r = await runMachine(makeConfig({ cpus: 4, durationMs: 3000, pages: 2048, delaysUs }));
    expect(r.violations).toEqual([]);
    expect(r.audit.ok, JSON.stringify(r.audit)).toBe(true);
    expect(r.verdict).toBe('SUCCESS');
    for (const k of TOTALS) expect(r.totals[k], k).toBeGreaterThan(0);
    for (const c of r.cpus) expect(c.ops, `cpu ${c.cpu}`).toBeGreaterThan(0);
    expect(r.process.threads).toBeGreaterThanOrEqual(threads0 + 5); // 4 CPUs + host were running
  });

  it('unpatched: caught (retrying with new seeds, at most 6 runs of 5 s)', async () => {
    const seeds: number[] = [];
    let caught: Awaited<ReturnType<typeof runMachine>> | undefined;
    for (let run = 0; run < 6 && !caught; run++) {
      const cfg = makeConfig({
        cpus: 4,
        durationMs: 5000,
        protocol: 'unpatched',
        stopOnViolation: true,
      });
      seeds.push(cfg.seed);
      const r = await runMachine(cfg);
      expect(['SUCCESS', 'FAILURE']).toContain(r.verdict);
      if (r.violations.some((v) => v.kind === 'use-after-reuse' || v.kind === 'free-in-window')) {
        caught = r;
      }
    }
    expect(caught, `seeds ${seeds.join(', ')}`).toBeDefined();
    const r = caught!;
    expect(r.verdict).toBe('FAILURE');
    expect(EXIT[r.verdict]).toBe(1);
    const v = r.violations.find(
      (x) => x.kind === 'use-after-reuse' || x.kind === 'free-in-window',
    )!;
    for (const k of VIOLATION_KEYS) expect(v).toHaveProperty(k);
    expect(v.pfn).toBeGreaterThanOrEqual(0);
    expect(v.pfn).toBeLessThan(r.config.pages);
    expect(v.cpu).toBeGreaterThanOrEqual(0);
    expect(v.cpu).toBeLessThan(4);
    expect(v.generationAtFault).toBeGreaterThanOrEqual(1);
    if (v.kind === 'use-after-reuse') expect(v.generationNow).toBeGreaterThan(v.generationAtFault);
    else expect(v.generationNow).toBeGreaterThanOrEqual(v.generationAtFault);
    expect(v.trace.length).toBeGreaterThan(0);
    // the trace marks the events on the frame
    expect(v.trace.some((l) => l.includes('*') && l.includes(`pfn ${v.pfn}`))).toBe(true);
  });

  it('unpatched with --fault-address virtual: the pte pins the page, no use after reuse', async () => {
    const r = await runMachine(
      makeConfig({ cpus: 4, durationMs: 3000, protocol: 'unpatched', faultAddress: 'virtual' }),
    );
    expect(r.totals.discardFaults).toBeGreaterThan(0);
    expect(r.violations.filter((v) => v.kind === 'use-after-reuse')).toEqual([]);
    expect(r.verdict).toBe('SUCCESS');
  });

  it('a CPU that throws: verdict ERROR with its CPU id, exit 4, every thread gone', async () => {
    const r = await runMachine(makeConfig({ cpus: 3, durationMs: 30_000 }), {
      cpuWorker: CRASH_WORKER,
    });
    expect(r.verdict).toBe('ERROR');
    expect(EXIT[r.verdict]).toBe(4);
    expect(r.error?.cpu).toBe(CRASH_CPU);
    expect(r.error?.message).toContain(`cpu ${CRASH_CPU}`);
    expect(r.error?.message).toContain(CRASH_MESSAGE);
    expect(r.endReason).toMatch(/crash/);
    expect(r.durationMs).toBeLessThan(30_000); // the crash ended the run, not the duration
  });

  it('a CPU stuck with interrupts off: verdict STALL, exit 3, every thread gone', async () => {
    const r = await runMachine(makeConfig({ cpus: 3, durationMs: 30_000, stallTimeoutMs: 1000 }), {
      cpuWorker: HANG_WORKER,
    });
    expect(r.error).toBeUndefined();
    expect(r.verdict).toBe('STALL');
    expect(EXIT[r.verdict]).toBe(3);
    // the stuck CPU shows in the stall report as it is: interrupts off
    expect(r.stall?.cpus[CRASH_CPU]?.irqsEnabled).toBe(false);
    expect(r.audit.ok).toBe(false);
  });
});
