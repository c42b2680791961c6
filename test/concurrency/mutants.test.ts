/**
 * The mutant catalogue of docs/protocol.md section 5 on real workers: each mutant,
 * with the race-window widening of its profile, is caught by what should
 * catch it (a violation kind, or the stall watchdog for call-with-irqs-off);
 * and the patched protocol under those same widenings stays clean.
 *
 * Each hunt retries fresh seeds (stop on the first violation) within a budget
 * of machine time: the safety bound, far above what detection takes. No
 * timing is asserted. After every test no worker thread is left.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { protocolHazards } from '../../src/check/coverage.ts';
import { makeConfig } from '../../src/config.ts';
import { EXIT, type RunReport, runMachine } from '../../src/machine/machine.ts';
import {
  controlWidenings,
  huntMutant,
  MUTANT_NAMES,
  MUTANT_PROFILES,
  runControl,
  widenConfig,
} from '../../src/machine/mutants.ts';
import { threadsBaseline, threadsSettled } from '../helpers/workers.ts';

const CPUS = 4;
/** Machine time a hunt may spend before the test fails (detection takes a few seconds at most). */
const SAFETY_BUDGET_MS = 30_000;
const HUNT_TIMEOUT_MS = 240_000;

let threads0 = 0;
beforeAll(async () => {
  threads0 = await threadsBaseline();
});
afterEach(async () => {
  expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
});

describe('mutants', () => {
  for (const name of MUTANT_NAMES.filter((m) => m !== 'call-with-irqs-off')) {
    const { caughtBy } = MUTANT_PROFILES[name];
    it(
      `${name} is caught (${caughtBy.join(' or ')})`,
      async () => {
        const r = await huntMutant(name, {
          cpus: CPUS,
          budgetMs: SAFETY_BUDGET_MS,
          widen: true,
          stallTimeoutMs: 10_000,
        });
        expect(r.killed, JSON.stringify(r)).toBe(true);
        expect(caughtBy, JSON.stringify(r.evidence)).toContain(r.detectedBy);
        expect(r.evidence?.length).toBeGreaterThan(0);
        if (r.detectedBy === 'free-in-window' || r.detectedBy === 'use-after-reuse') {
          // The story starts at the fault whose window the frame was freed in.
          expect(
            r.evidence!.some((l) => l.includes('discard fault on pfn')),
            r.evidence!.join('\n'),
          ).toBe(true);
        }
      },
      HUNT_TIMEOUT_MS,
    );
  }

  it(
    'call-with-irqs-off deadlocks two reclaimers: STALL, exit 3, a full stall report, no thread left',
    async () => {
      const profile = MUTANT_PROFILES['call-with-irqs-off'];
      let stalled: RunReport | undefined;
      let used = 0;
      for (let seed = 1; used < SAFETY_BUDGET_MS && !stalled; seed++) {
        const r = await runMachine(
          makeConfig({
            cpus: CPUS,
            seed,
            durationMs: SAFETY_BUDGET_MS - used,
            mutant: 'call-with-irqs-off',
            stallTimeoutMs: 1500,
            ...widenConfig(profile.widen),
          }),
        );
        used += Math.max(r.durationMs, 1);
        expect(r.verdict, r.error?.message).not.toBe('ERROR');
        if (r.verdict === 'STALL') stalled = r;
      }
      expect(stalled).toBeDefined();
      const s = stalled!.stall!;
      expect(EXIT[stalled!.verdict]).toBe(3);
      expect(s.reason).toMatch(/no progress|did not complete/);
      // The deadlock itself: call_lock held by a caller that waits with
      // interrupts off, and some other CPU with interrupts off and the call pending.
      expect(s.call.callLockHeld).toBe(true);
      const caller = s.cpus[s.call.caller]!;
      expect(caller.locksHeld).toContain('call_lock');
      expect(caller.irqsEnabled).toBe(false);
      const stuck = s.cpus.filter(
        (c) => c.cpu !== s.call.caller && c.pendingCall && !c.irqsEnabled,
      );
      expect(stuck.length).toBeGreaterThan(0);
      // Every CPU's state as an RCU stall warning gives it.
      for (const c of s.cpus) {
        expect(typeof c.irqsEnabled).toBe('boolean');
        expect(typeof c.preemptCount).toBe('number');
        expect(Array.isArray(c.locksHeld)).toBe(true);
        expect(c.point).not.toBe('?');
        expect(c.lastEvents.length).toBeGreaterThan(0);
      }
    },
    HUNT_TIMEOUT_MS,
  );

  it(
    'control: the patched protocol under every mutant widening stays clean',
    async () => {
      const widenings = controlWidenings();
      const r = await runControl(
        { cpus: CPUS, budgetMs: 2000 * widenings.length, widen: true, stallTimeoutMs: 10_000 },
        widenings,
      );
      expect(r.runs.map((c) => [c.widening, c.verdict])).toEqual(
        r.runs.map((c) => [c.widening, 'SUCCESS']),
      );
      expect(r.runs.length).toBe(widenings.length);
      expect(r.verdict).toBe('SUCCESS');
      // each run carries its coverage table: the patched protocol's hazards, in order
      for (const c of r.runs) {
        expect(c.coverage?.map((h) => h.hazard)).toEqual(protocolHazards({ protocol: 'patched' }));
      }
    },
    HUNT_TIMEOUT_MS,
  );
});
