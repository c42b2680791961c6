/**
 * Race-window widening on the command line and in the mutant profiles: the
 * flags become the configuration they say, a profile's flags read back as
 * the same configuration, and bad input names its flag.
 */
import { describe, expect, it } from 'vitest';
import { configFromFlags } from '../../src/cli/options.ts';
import { parseDelaySpans, UsageError } from '../../src/cli/parse.ts';
import { makeBudget, WINDOW_POINTS } from '../../src/kernel/widen.ts';
import {
  controlWidenings,
  MUTANT_NAMES,
  MUTANT_PROFILES,
  widenConfig,
  widenFlags,
} from '../../src/machine/mutants.ts';
import { P } from '../../src/points.ts';

/** `--delay a=b --pages 2048 --migrate` into commander-like flags. */
function flagsOf(s: string): Record<string, unknown> {
  const f: Record<string, unknown> = { delay: [] as string[] };
  const words = s.split(' ').filter(Boolean);
  for (let i = 0; i < words.length; i++) {
    const key = words[i]!.slice(2).replace(/-(.)/g, (_, c: string) => c.toUpperCase());
    const next = words[i + 1];
    if (next === undefined || next.startsWith('--')) f[key] = true;
    else if (key === 'delay') (f.delay as string[]).push(words[++i]!);
    else f[key] = words[++i];
  }
  return f;
}

describe('--delay', () => {
  it('takes a fixed delay or a LO..HI range per point', () => {
    const { delaysUs, delaySpansUs } = parseDelaySpans([
      'fault-to-ref=1ms',
      'pvec-store=100us..300us',
    ]);
    expect(delaysUs[P['fault-to-ref']]).toBe(1000);
    expect(delaySpansUs[P['fault-to-ref']]).toBe(0);
    expect(delaysUs[P['pvec-store']]).toBe(100);
    expect(delaySpansUs[P['pvec-store']]).toBe(200);
  });
  it('names the flag on bad input', () => {
    expect(() => parseDelaySpans(['fault-to-ref=2ms..1ms'])).toThrow(UsageError);
    expect(() => parseDelaySpans(['nowhere=1ms'])).toThrow(/--delay: unknown point/);
    expect(() => parseDelaySpans(['fault-to-ref'])).toThrow(/--delay/);
  });
});

describe('widening flags', () => {
  it('given alone take their defaults; absent, they are off', () => {
    const on = configFromFlags({ jitter: true, stutter: true, longHold: true, migrate: true });
    expect([on.jitterUs, on.stutterMs, on.longHoldUs, on.migrate]).toEqual([50, 100, 1000, true]);
    const off = configFromFlags({});
    expect([off.jitterUs, off.stutterMs, off.longHoldUs, off.migrate]).toEqual([0, 0, 0, false]);
  });
  it('take durations, and name the flag when they are not', () => {
    const c = configFromFlags({ jitter: '2ms', stutter: '250ms', ipiDelivery: '1ms' });
    expect([c.jitterUs, c.stutterMs, c.ipiDeliveryUs]).toEqual([2000, 250, 1000]);
    expect(() => configFromFlags({ longHold: 'long' })).toThrow(/^--long-hold:/);
  });
  it('the parked-frame hold is on by default; --park-hold D bounds it, --no-park-hold turns it off', () => {
    expect(configFromFlags({}).parkHoldUs).toBe(20_000);
    expect(configFromFlags({ parkHold: '5ms' }).parkHoldUs).toBe(5000);
    expect(configFromFlags({ parkHold: false }).parkHoldUs).toBe(0);
    expect(() => configFromFlags({ parkHold: 'long' })).toThrow(/^--park-hold:/);
    expect(() => configFromFlags({ parkHold: '2s' })).toThrow(/^--park-hold/);
  });
});

describe('mutant profiles', () => {
  it("each profile's flags, given to hvaemu run, make the profile's configuration", () => {
    for (const m of MUTANT_NAMES) {
      const w = MUTANT_PROFILES[m].widen;
      const fromFlags = configFromFlags(flagsOf(widenFlags(w)) as never);
      const direct = configFromFlags({});
      Object.assign(direct, widenConfig(w));
      for (const k of Object.keys(widenConfig(w)) as (keyof typeof direct)[]) {
        expect(fromFlags[k], `${m}: ${k}`).toEqual(direct[k]);
      }
    }
  });
  it('the control runs each distinct widening once', () => {
    const ws = controlWidenings().map(widenFlags);
    expect(new Set(ws).size).toBe(ws.length);
    for (const m of MUTANT_NAMES) expect(ws).toContain(widenFlags(MUTANT_PROFILES[m].widen));
  });
});

describe('the widening budget (--jitter, --long-hold, --guided stretches, the parked-frame hold)', () => {
  it('allows the first sleep, then keeps the sleeps under its share of the time', () => {
    const b = makeBudget(0.125);
    expect(b.afford(1, 0)).toBe(true); // nothing spent yet
    b.spend(1);
    expect(b.afford(1, 8)).toBe(false); // 2 ms asleep in 8 ms: a quarter
    expect(b.afford(1, 16)).toBe(true); // 2 ms in 16: an eighth
    b.spend(2); // a sleep that overran: 3 ms in all
    expect(b.afford(0.5, 24)).toBe(false); // 3.5 ms in 24 is more than an eighth
    expect(b.afford(0.5, 28)).toBe(true);
    // a hold of unknown length (the parked-frame hold) asks whether the budget is in debt
    const c = makeBudget(0.125);
    expect(c.afford(0, 0)).toBe(true);
    c.spend(20); // a hold overdrew it
    expect(c.afford(0, 159)).toBe(false);
    expect(c.afford(0, 160)).toBe(true);
  });
  it("--jitter's points lie inside a hazard's window, and name the hazards they stretch", () => {
    expect(Object.keys(WINDOW_POINTS).sort()).toEqual(['discard-to-put', 'fault-to-ref']);
    expect(WINDOW_POINTS['fault-to-ref']).toContain('splice-in-window');
    expect(WINDOW_POINTS['discard-to-put']).toEqual(['irq-discard-to-put']);
  });
});
