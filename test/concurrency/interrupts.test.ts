/**
 * Interrupt context on real workers: with the default --irq-rate every CPU
 * takes hardirqs (the timer, the network device, IPIs) and runs softirqs, and
 * sendfile's pages come back from the device in softirq, some of them as
 * their last reference (irqFrees); the default protocol stays clean. With
 * interrupts off (rate 0) none of that happens. No worker is left behind.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/config.ts';
import { runMachine } from '../../src/machine/machine.ts';
import { threadsBaseline, threadsSettled } from '../helpers/workers.ts';

let threads0 = 0;
beforeAll(async () => {
  threads0 = await threadsBaseline();
});
afterEach(async () => {
  expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
});

describe('interrupt context', () => {
  it('every CPU takes hardirqs and runs softirqs; pages are freed from softirq; the run is clean', async () => {
    // A small guest: truncate and reclaim take sent pages out of the cache
    // while the device holds them, so the device's reference is the last.
    const r = await runMachine(makeConfig({ cpus: 2, durationMs: 2000, pages: 2048, seed: 5 }));
    expect(r.violations).toEqual([]);
    expect(r.audit.ok, JSON.stringify(r.audit)).toBe(true);
    expect(r.verdict).toBe('SUCCESS');
    for (const c of r.cpus) {
      expect(c.hardirqs, `cpu ${c.cpu}`).toBeGreaterThan(0);
      expect(c.softirqs, `cpu ${c.cpu}`).toBeGreaterThan(0);
    }
    expect(r.totals.sendfilePages).toBeGreaterThan(0);
    expect(r.totals.irqFrees).toBeGreaterThan(0);
  });

  it('--irq-rate timer=0,net=0: only IPIs interrupt, nothing is freed from interrupt context', async () => {
    const r = await runMachine(
      makeConfig({
        cpus: 2,
        durationMs: 1000,
        pages: 2048,
        seed: 5,
        irqRates: { timer: 0, net: 0 },
      }),
    );
    expect(r.verdict).toBe('SUCCESS');
    expect(r.totals.softirqs).toBe(0);
    expect(r.totals.irqFrees).toBe(0);
    expect(r.totals.hardirqs).toBe(r.totals.ipisTaken);
  });
});
