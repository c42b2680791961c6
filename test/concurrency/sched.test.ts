/**
 * The controlled scheduler (--sched random|pct, src/kernel/sched.ts): a
 * schedule is a pure function of (seed, sched, config). The same config runs
 * the same decisions (the same hash) every time, a violation found under pct
 * replays exactly (the whole violation objects, stories included, from the
 * report's JSON), a --sched os report is refused by replay, and after every
 * test no worker thread is left.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runJson } from '../../src/cli/json.ts';
import { makeConfig } from '../../src/config.ts';
import { runMachine } from '../../src/machine/machine.ts';
import { configOfReport, replayReport } from '../../src/machine/replay.ts';
import { shrinkReport } from '../../src/machine/shrink.ts';
import { threadsBaseline, threadsSettled } from '../helpers/workers.ts';

let threads0 = 0;
beforeAll(async () => {
  threads0 = await threadsBaseline();
});
afterEach(async () => {
  expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
});

const META = {
  version: 'test',
  argv: [],
  git: null,
  host: null,
  startedAt: new Date(0),
  endedAt: new Date(0),
  exitCode: 1,
  signal: null,
} as unknown as Parameters<typeof runJson>[1];

/** A schedule of the unpatched protocol that pct:3 found failing (schedule 7 of run seed 1). */
const UNPATCHED_PCT3 = {
  cpus: 2,
  pages: 256,
  files: 16,
  protocol: 'unpatched' as const,
  seed: 1448771575,
  sched: { kind: 'pct' as const, depth: 3, steps: 2000 },
  stallTimeoutMs: 10_000,
};

/** The violation as replay must reproduce it: all of it but the wall-clock fields. */
const whole = (vs: { trace: string[] }[]) => JSON.parse(JSON.stringify(vs));

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

  it('pct:3 on unpatched: the violation replays exactly from its JSON report, 5 times', async () => {
    const rec = await runMachine(makeConfig(UNPATCHED_PCT3));
    expect(rec.verdict).toBe('FAILURE');
    expect(rec.violations.length).toBeGreaterThan(0);
    const json = JSON.parse(JSON.stringify(runJson(rec, META)));
    expect(configOfReport(json).seed).toBe(UNPATCHED_PCT3.seed);
    for (let i = 0; i < 5; i++) {
      const r = await replayReport(json);
      expect(r.diff, `replay ${i}`).toEqual([]);
      expect(r.report.verdict).toBe('FAILURE');
      expect(whole(r.report.violations)).toEqual(whole(rec.violations));
      expect(r.report.sched?.hash).toBe(rec.sched?.hash);
    }
  }, 120_000);

  it('shrink: a smaller scripted schedule failing the same way, which replays exactly', async () => {
    const rec = await runMachine(makeConfig(UNPATCHED_PCT3));
    const json = JSON.parse(JSON.stringify(runJson(rec, META)));
    const kind = rec.violations[0]!.kind;
    // the recorded switches as a script reproduce the recording: the first candidate fails as recorded
    const res = await shrinkReport(json, 8000);
    expect(res.kind).toBe(kind);
    expect(res.report, 'the recording as a script fails as recorded').not.toBeNull();
    expect(res.report!.violations[0]!.kind).toBe(kind);
    expect(res.after.switches).toBeLessThanOrEqual(res.before.switches);
    expect(res.tried).toBeGreaterThan(1);
    const shrunk = JSON.parse(JSON.stringify(runJson(res.report!, META)));
    expect(shrunk.config.sched.script.length).toBe(res.report!.sched!.log.length);
    const again = await replayReport(shrunk);
    expect(again.diff).toEqual([]);
  }, 120_000);

  it('replay refuses a --sched os report (its interleaving was not recorded)', () => {
    const json = { config: { ...makeConfig({ seed: 1 }) } };
    expect(() => configOfReport(json)).toThrow(/--sched os/);
  });
});
