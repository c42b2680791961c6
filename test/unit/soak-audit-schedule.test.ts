/**
 * When a soak audits: every --audit-every stats intervals or every
 * --audit-interval of wall time, whichever comes first. The schedule is
 * driven here as soak.ts drives it: a monitor tick every 50 ms, an interval
 * ending on the --stat-interval grid.
 */
import { describe, expect, it } from 'vitest';
import { auditPlan } from '../../src/cli/soak.ts';
import { AUDIT_MAX_GAP_MS, makeAuditSchedule } from '../../src/soak/audit_schedule.ts';

const MIN = 60_000;
const TICK_MS = 50;

/** The run times (minutes) at which audits are requested over `runMs`. */
function auditTimes(statIntervalMs: number, every: number, gapMs: number, runMs: number) {
  const s = makeAuditSchedule(every, gapMs);
  let nextStatMs = statIntervalMs;
  const at: number[] = [];
  for (let t = TICK_MS; t <= runMs; t += TICK_MS) {
    const intervalEnded = t >= nextStatMs;
    if (intervalEnded) while (nextStatMs <= t) nextStatMs += statIntervalMs;
    if (s.due(t, intervalEnded)) {
      s.requested(t);
      at.push(t / MIN);
    }
  }
  return at;
}

describe('the periodic audit schedule', () => {
  it('with short intervals, every --audit-every intervals (3 x 60s)', () => {
    expect(auditTimes(MIN, 3, AUDIT_MAX_GAP_MS, 20 * MIN)).toEqual([3, 6, 9, 12, 15, 18]);
  });

  it('with a long --stat-interval, still every 5 minutes by default', () => {
    expect(auditTimes(10 * MIN, 3, AUDIT_MAX_GAP_MS, 31 * MIN)).toEqual([5, 10, 15, 20, 25, 30]);
    // one interval for the whole run: audits all the same
    expect(auditTimes(8 * 60 * MIN, 3, AUDIT_MAX_GAP_MS, 16 * MIN)).toEqual([5, 10, 15]);
  });

  it('whichever comes first: a time audit restarts the interval count', () => {
    // 2-minute intervals, every 3 (6 min) vs 5 min: 5, then 10 (time and count agree), 15 ...
    expect(auditTimes(2 * MIN, 3, 5 * MIN, 21 * MIN)).toEqual([5, 10, 15, 20]);
    // every 2 intervals of 2 minutes beats 5 minutes
    expect(auditTimes(2 * MIN, 2, 5 * MIN, 13 * MIN)).toEqual([4, 8, 12]);
  });

  it('either bound 0 is off; both 0: no periodic audit', () => {
    expect(auditTimes(MIN, 0, 5 * MIN, 16 * MIN)).toEqual([5, 10, 15]);
    expect(auditTimes(10 * MIN, 2, 0, 61 * MIN)).toEqual([20, 40, 60]);
    expect(auditTimes(MIN, 0, 0, 30 * MIN)).toEqual([]);
  });

  it('an audit that could not start yet stays due until it is requested', () => {
    const s = makeAuditSchedule(3, AUDIT_MAX_GAP_MS);
    expect([s.due(MIN, true), s.due(2 * MIN, true), s.due(3 * MIN, true)]).toEqual([
      false,
      false,
      true,
    ]);
    // not requested (the previous audit was still parking CPUs): still due on the next tick
    expect(s.due(3 * MIN + TICK_MS, false)).toBe(true);
    s.requested(3 * MIN + TICK_MS);
    expect(s.due(3 * MIN + 2 * TICK_MS, false)).toBe(false);
  });

  it('the soak banner names the gap that wins', () => {
    expect(auditPlan(3, 5 * MIN, MIN)).toBe('audit every 3m00s');
    expect(auditPlan(3, 5 * MIN, 10 * MIN)).toBe('audit every 5m00s');
    expect(auditPlan(0, 5 * MIN, MIN)).toBe('audit every 5m00s');
    expect(auditPlan(0, 0, MIN)).toBe('final audit only');
  });
});
