/**
 * hvaemu replay and shrink (src/machine/replay.ts, shrink.ts, bridge.ts):
 *
 * - a violation found under pct:3 replays exactly from its JSON report, ten
 *   times: the whole violation objects (stories, traces, events) and the hash
 *   of every scheduling decision;
 * - --from-step N cuts the stories and traces at the logical clock of step N,
 *   after comparing the whole run;
 * - an unpatched-protocol violation found by a random schedule shrinks to a
 *   schedule of a few dozen steps (configuration first, then the switches),
 *   and the shrunk report replays exactly;
 * - the bridge: a violation whose interleaving was not recorded (its report
 *   turned into a --sched os one) is reproduced by a guided schedule.
 *
 * The shrink is bounded by runs, not time: the same input gives the same
 * result on any machine. After every test no worker thread is left.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bridge, storyPattern } from '../../src/machine/bridge.ts';
import type { RunReport } from '../../src/machine/machine.ts';
import { configOfReport, replayReport } from '../../src/machine/replay.ts';
import { shrinkReport } from '../../src/machine/shrink.ts';
import { asJson, failingSchedule, PCT_MUTANT, whole } from '../helpers/sched.ts';
import { schemaErrors } from '../helpers/schema.ts';
import { threadsBaseline, threadsSettled } from '../helpers/workers.ts';

let threads0 = 0;
beforeAll(async () => {
  threads0 = await threadsBaseline();
});
afterEach(async () => {
  expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
});

/**
 * An unpatched-protocol violation, as `hvaemu run --protocol unpatched --sched
 * random --cpus 2 --pages 256 --files 4 --steps 10000` finds one (searched
 * once, shared by the tests below).
 */
let unpatchedRun: Promise<RunReport> | undefined;
const unpatched = () =>
  (unpatchedRun ??= failingSchedule(
    {
      cpus: 2,
      pages: 256,
      files: 4,
      seed: 1,
      protocol: 'unpatched',
      sched: { kind: 'random', depth: 3, steps: 10000 },
    },
    30,
  ));

/** A violation found under pct:3 (call-with-irqs-off's WARN_ON, met within a schedule or two). */
let pctRun: Promise<RunReport> | undefined;
const pctViolation = () => (pctRun ??= failingSchedule(PCT_MUTANT));

describe('replay', () => {
  it('pct:3: a violation replays exactly from its JSON report, 10 times', async () => {
    const rec = await pctViolation();
    const json = await asJson(rec);
    expect(schemaErrors('run', json)).toBe('');
    for (let i = 0; i < 10; i++) {
      const r = await replayReport(json);
      expect(r.diff, `replay ${i}`).toEqual([]);
      expect(r.report.verdict).toBe('FAILURE');
      expect(whole(r.report.violations), `replay ${i}`).toEqual(whole(rec.violations));
      expect(r.report.sched?.hash).toBe(rec.sched?.hash);
      expect(r.report.sched?.log).toEqual(rec.sched?.log);
    }
  }, 300_000);

  it('--from-step: the stories and traces start at that step; the run compared whole', async () => {
    const rec = await unpatched();
    const v0 = rec.violations[0]!;
    // a step between the window's opening (the story's fault) and the violation
    const fault = v0.events.find((e) => e.event === 'fault' && e.pfn === v0.pfn);
    expect(fault, v0.story.join('\n')).toBeDefined();
    const step = Math.max(1, rec.sched!.stepsRun - 200);
    const r = await replayReport(await asJson(rec), { fromStep: step });
    expect(r.diff).toEqual([]);
    expect(r.from?.step).toBe(step);
    const clock = r.from!.clock!;
    expect(clock).toBeGreaterThan(0);
    const v = r.report.violations[0]!;
    expect(v.events.length).toBeGreaterThan(0);
    expect(v.events.length).toBeLessThan(v0.events.length);
    for (const e of v.events) expect(e.t * 1000).toBeGreaterThanOrEqual(clock - 1e-6);
    // the cut keeps the end of the story: the violation itself
    expect(v.story.at(-1)).toMatch(/VIOLATION/);
    expect(r.from!.switches.every((l) => Number(/^step (\d+)/.exec(l)![1]) >= step)).toBe(true);
  }, 180_000);

  it('a report whose outcome was tampered with: the difference is named', async () => {
    const rec = await pctViolation();
    const json = await asJson(rec);
    json.violations[0].pfn += 1;
    json.sched.hash = '00000000';
    const r = await replayReport(json);
    expect(r.report.verdict).toBe('FAILURE');
    expect(r.diff).toContain(
      `violation 0: pfn ${rec.violations[0]!.pfn + 1} -> ${rec.violations[0]!.pfn}`,
    );
    expect(r.diff.some((d) => d.startsWith('schedule hash 00000000 ->'))).toBe(true);
  }, 180_000);
});

describe('shrink', () => {
  it('an unpatched violation of a random schedule shrinks to a few dozen steps, and replays', async () => {
    const rec = await unpatched();
    const kind = rec.violations[0]!.kind;
    expect(rec.sched!.stepsRun).toBeGreaterThan(200);
    const res = await shrinkReport(await asJson(rec), 3_600_000, { maxRuns: 120 });
    expect(res.report, 'the recording fails again').not.toBeNull();
    const small = res.report!;
    expect(small.violations[0]!.kind).toBe(kind);
    expect(res.after.steps, res.kept.join('\n')).toBeLessThanOrEqual(48);
    expect(res.after.steps).toBeLessThan(res.before.steps);
    expect(res.after.ops).toBeLessThan(res.before.ops);
    expect(res.after.switches).toBeLessThan(res.before.switches);
    expect(res.tried).toBeLessThanOrEqual(120);
    const json = await asJson(small);
    expect(schemaErrors('run', json)).toBe('');
    const again = await replayReport(json);
    expect(again.diff).toEqual([]);
    expect(whole(again.report.violations)).toEqual(whole(small.violations));
  }, 600_000);
});

describe('bridge', () => {
  it('a violation without its interleaving (an os report) is reproduced by a guided schedule', async () => {
    const rec = await unpatched();
    const v = rec.violations[0]!;
    const pattern = storyPattern(v.events, v.pfn, 2);
    expect(pattern[0]).toEqual([0, 'fault']);
    expect(pattern.length).toBeGreaterThanOrEqual(2);
    // as a --sched os report has it: the config and the story, no schedule
    const osJson = await asJson(rec);
    osJson.config.sched = { kind: 'os', depth: 3, steps: 2000 };
    delete osJson.sched;
    expect(() => configOfReport(osJson)).toThrow(/--sched os/);
    const cfg = { ...rec.config, sched: { kind: 'os' as const, depth: 3, steps: 2000 } };
    const res = await bridge(
      cfg,
      v,
      { kind: 'pct', depth: 3, steps: 2000 },
      { budgetMs: 3_600_000, maxSchedules: 10 },
    );
    expect(res.reproduced, `${res.schedules} schedules`).toBe(true);
    expect(res.report.violations[0]!.kind).toBe(v.kind);
    expect(res.report.sched?.guide?.matched).toBeGreaterThan(0);
    // what it found is a controlled schedule like any other: it replays
    const again = await replayReport(await asJson(res.report));
    expect(again.diff).toEqual([]);
  }, 300_000);
});
