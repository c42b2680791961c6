/**
 * The controlled scheduler (--sched random|pct, src/kernel/sched.ts): a
 * schedule is a pure function of (seed, sched, config). The same config runs
 * the same decisions (the same hash) every time; a mutant's violation found
 * under pct shrinks to a schedule no longer that fails the same way and
 * replays (replay.test.ts replays a pct:3 violation ten times and shrinks an
 * unpatched one whole); --sched and --steps are checked; a --sched os report
 * is refused by replay; and after every test no worker thread is left.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseSched } from '../../src/cli/options.ts';
import { UsageError } from '../../src/cli/parse.ts';
import { makeConfig } from '../../src/config.ts';
import { runMachine } from '../../src/machine/machine.ts';
import { configOfReport, replayReport } from '../../src/machine/replay.ts';
import { shrinkReport } from '../../src/machine/shrink.ts';
import { asJson, failingSchedule, PCT_MUTANT } from '../helpers/sched.ts';
import { threadsBaseline, threadsSettled } from '../helpers/workers.ts';

let threads0 = 0;
beforeAll(async () => {
  threads0 = await threadsBaseline();
});
afterEach(async () => {
  expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
});

describe('--sched pct|random', () => {
  it('random: the same config takes the same decisions, twice', async () => {
    const cfg = makeConfig({
      cpus: 3,
      pages: 256,
      files: 16,
      seed: 7,
      sched: { kind: 'random', depth: 3, steps: 1500 },
    });
    const a = await runMachine(cfg);
    const b = await runMachine(cfg);
    expect(a.sched?.stepsRun).toBeGreaterThanOrEqual(1500);
    expect(a.sched?.switches).toBeGreaterThan(100); // random switches at most points
    expect(b.sched).toEqual(a.sched);
    expect(b.totals.ops).toBe(a.totals.ops);
    expect(b.totals.hostDiscards).toBe(a.totals.hostDiscards);
    expect(b.verdict).toBe(a.verdict);
    for (const c of a.cpus) expect(c.ops, `cpu ${c.cpu} ran`).toBeGreaterThan(0);
  }, 60_000);

  it('shrink: a schedule no longer, failing the same way, which replays exactly', async () => {
    const rec = await failingSchedule(PCT_MUTANT, 10);
    const json = await asJson(rec);
    const kind = rec.violations[0]!.kind;
    // bounded by runs: the same result on any machine (replay.test.ts shrinks an unpatched violation whole)
    const res = await shrinkReport(json, 3_600_000, { maxRuns: 30 });
    expect(res.kind).toBe(kind);
    expect(res.report, 'the recording fails again as recorded').not.toBeNull();
    expect(res.report!.violations[0]!.kind).toBe(kind);
    expect(res.after.steps).toBeLessThanOrEqual(res.before.steps);
    expect(res.tried).toBeGreaterThan(1);
    const shrunk = await asJson(res.report!);
    const again = await replayReport(shrunk);
    expect(again.diff).toEqual([]);
  }, 120_000);

  it('--sched and --steps: os|random|pct[:DEPTH], bad input a usage error naming the flag', () => {
    expect(parseSched('pct:4', '500')).toEqual({ kind: 'pct', depth: 4, steps: 500 });
    expect(parseSched('random', undefined)).toEqual({ kind: 'random', depth: 3, steps: 2000 });
    expect(() => parseSched('random:2', undefined)).toThrow(UsageError);
    expect(() => parseSched('pct:0', undefined)).toThrow(/--sched pct:DEPTH/);
    expect(() => parseSched('fifo', undefined)).toThrow(/--sched/);
    expect(() => parseSched('pct', '5')).toThrow(/--steps/);
  });

  it('replay refuses a --sched os report (its interleaving was not recorded)', () => {
    const json = { config: { ...makeConfig({ seed: 1 }) } };
    expect(() => configOfReport(json)).toThrow(/--sched os/);
  });
});
