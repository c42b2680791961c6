/** The soak report's time axis: ticks on round clock times, the elapsed time under each. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clockLabel, clockTicks, elapsedLabel, zoneLabel } from '../../src/report/charts.ts';

const tz = process.env.TZ;
beforeAll(() => {
  process.env.TZ = 'UTC';
});
afterAll(() => {
  if (tz === undefined) delete process.env.TZ;
  else process.env.TZ = tz;
});
const t0 = Date.parse('2026-01-01T22:47:13.400Z');

describe('time axis', () => {
  it('an 8 h night: hourly ticks on the hour, hh:mm', () => {
    const { stepMs, ticks } = clockTicks(t0, t0 + 8 * 3_600_000);
    expect(stepMs).toBe(3_600_000);
    expect(ticks.map((t) => clockLabel(t, stepMs))).toEqual([
      '23:00',
      '00:00',
      '01:00',
      '02:00',
      '03:00',
      '04:00',
      '05:00',
      '06:00',
    ]);
    expect(ticks.map((t) => elapsedLabel(t - t0))).toEqual([
      '+12m47s',
      '+1h13',
      '+2h13',
      '+3h13',
      '+4h13',
      '+5h13',
      '+6h13',
      '+7h13',
    ]);
  });

  it('at most 10 ticks, never a fraction of a millisecond, for any span', () => {
    for (const span of [0, 50, 1078.1, 7000, 61_000, 3_600_000, 30 * 3_600_000]) {
      const { stepMs, ticks } = clockTicks(t0, t0 + span);
      expect(ticks.length, String(span)).toBeLessThanOrEqual(10);
      expect(ticks.length).toBeGreaterThanOrEqual(1);
      for (const t of ticks) expect(Number.isInteger(t) && t % 100 === 0).toBe(true);
      expect(stepMs % 100).toBe(0);
    }
  });

  it('a one-second run: tenths of a second', () => {
    const { stepMs, ticks } = clockTicks(t0, t0 + 1078.1);
    expect(stepMs).toBe(200);
    expect(ticks.map((t) => clockLabel(t, stepMs))).toEqual([
      '22:47:13.4',
      '22:47:13.6',
      '22:47:13.8',
      '22:47:14.0',
      '22:47:14.2',
      '22:47:14.4',
    ]);
    expect(elapsedLabel(ticks[1]! - t0)).toBe('+0.2s');
  });

  it('elapsed labels as precise as their scale needs', () => {
    expect(
      [0, 1400, 45_000, 59_990, 751_000, 3_599_600, 7_529_000, -200].map(elapsedLabel),
    ).toEqual(['+0s', '+1.4s', '+45s', '+1m', '+12m31s', '+1h00', '+2h05', '-0.2s']);
  });

  it('names the zone', () => {
    expect(zoneLabel(t0)).toBe('UTC');
  });
});
