/**
 * The wall-clock widenings as decisions of a controlled schedule
 * (src/kernel/sched.ts): --migrate moves tasks at decisions (sched_migrate),
 * --delay keeps a CPU out of decisions on the schedule's clock
 * (sched_delay). Both are functions of the seed: the same config twice gives
 * the same decisions, migrations included. The mutant that only --migrate
 * exposes is caught under pct, and a hunt under --sched counts its
 * schedules and steps. After every test no worker thread is left.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/config.ts';
import { LOG, logEntryKind } from '../../src/kernel/sched.ts';
import { runSchedules } from '../../src/machine/controlled.ts';
import { runMachine } from '../../src/machine/machine.ts';
import { huntMutant, MUTANT_PROFILES } from '../../src/machine/mutants.ts';
import { replayReport } from '../../src/machine/replay.ts';
import { NR_POINTS, pointId } from '../../src/points.ts';
import { threadsBaseline, threadsSettled } from '../helpers/workers.ts';

let threads0 = 0;
beforeAll(async () => {
  threads0 = await threadsBaseline();
});
afterEach(async () => {
  expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
});

const tiny = { pages: 256, files: 16 } as const;

describe('widenings as scheduler decisions', () => {
  it('--migrate: tasks move at decisions, the same ones twice; the correct protocol stays clean', async () => {
    const cfg = makeConfig({
      cpus: 3,
      ...tiny,
      seed: 9,
      migrate: true,
      sched: { kind: 'random', depth: 3, steps: 3000 },
    });
    const a = await runMachine(cfg);
    const b = await runMachine(cfg);
    expect(a.verdict).toBe('SUCCESS');
    expect(a.sched?.migrations).toBeGreaterThan(0);
    expect(b.sched).toEqual(a.sched);
    const off = await runMachine({ ...cfg, migrate: false });
    expect(off.sched?.migrations).toBe(0);
  }, 60_000);

  it('--delay under pct: the same decisions twice; a CPU in a delay lets the others run', async () => {
    const delaysUs = new Array<number>(NR_POINTS).fill(0);
    delaysUs[pointId('fault-to-ref')!] = 1000;
    const cfg = makeConfig({
      cpus: 2,
      ...tiny,
      seed: 4,
      delaysUs,
      sched: { kind: 'pct', depth: 3, steps: 3000 },
    });
    const a = await runMachine(cfg);
    const b = await runMachine(cfg);
    const plain = await runMachine({ ...cfg, delaysUs: new Array<number>(NR_POINTS).fill(0) });
    expect(a.verdict).toBe('SUCCESS');
    expect(b.sched?.hash).toBe(a.sched?.hash);
    expect(b.totals.ops).toBe(a.totals.ops);
    // under PCT a CPU runs until it waits; a delay hands the turn on at every discard fault
    expect(a.totals.discardFaults).toBeGreaterThan(0);
    expect(a.sched!.handoffs).toBeGreaterThan(plain.sched!.handoffs);
  }, 60_000);

  it('pagevec-without-preempt-off is caught under pct:3 (its --migrate a decision); the hunt counts schedules and steps', async () => {
    const r = await huntMutant('pagevec-without-preempt-off', {
      cpus: 4,
      budgetMs: 60_000,
      widen: true,
      stallTimeoutMs: 10_000,
      seed: 1,
      sched: { kind: 'pct', depth: 3, steps: 2000 },
    });
    expect(r.killed, JSON.stringify(r)).toBe(true);
    expect(MUTANT_PROFILES['pagevec-without-preempt-off'].caughtBy).toContain(r.detectedBy);
    expect(r.schedules).toBe(r.attempts);
    expect(r.schedules).toBeGreaterThan(0);
    expect(r.steps).toBeGreaterThan(0);
    expect(r.widening).toContain('--migrate');
    expect(r.widening).toContain('--pages 256 --files 16');
  }, 120_000);

  it('a controlled run of schedules reports them per run (runSchedules)', async () => {
    const cfg = makeConfig({
      cpus: 2,
      ...tiny,
      seed: 2,
      durationMs: 60_000,
      sched: { kind: 'pct', depth: 3, steps: 1000 },
    });
    const run = await runSchedules(cfg, { maxSchedules: 3 });
    expect(run.schedules).toBe(3);
    expect(run.steps).toBeGreaterThanOrEqual(3000);
  }, 60_000);

  it("a schedule's log as a script takes the same decisions, migrations and delays included", async () => {
    // the widenings of two mutants: a delay and a migration are entries of the log (sched.ts LOG)
    const delaysUs = new Array<number>(NR_POINTS).fill(0);
    delaysUs[pointId('fault-to-ref')!] = 1000;
    delaysUs[pointId('pvec-store')!] = 300;
    const cfg = makeConfig({
      cpus: 3,
      ...tiny,
      seed: 9,
      migrate: true,
      delaysUs,
      sched: { kind: 'random', depth: 3, steps: 3000 },
    });
    const a = await runMachine(cfg);
    expect(a.sched!.migrations).toBeGreaterThan(0);
    const kinds = new Set(a.sched!.log.map(([, w]) => logEntryKind(w, cfg.cpus)));
    expect([...kinds].sort()).toEqual([LOG.switch, LOG.migrate, LOG.delay].sort());
    const b = await runMachine({ ...cfg, sched: { ...cfg.sched, script: a.sched!.log } });
    expect(b.sched!.hash).toBe(a.sched!.hash);
    expect(b.sched!.log).toEqual(a.sched!.log);
    expect(b.sched!.migrations).toBe(a.sched!.migrations);
    expect(b.totals.ops).toBe(a.totals.ops);
    // without its migrations and delays the script is another schedule
    const bare = a.sched!.log.filter(([, w]) => logEntryKind(w, cfg.cpus) === LOG.switch);
    const c = await runMachine({ ...cfg, sched: { ...cfg.sched, script: bare } });
    expect(c.sched!.migrations).toBe(0);
    expect(c.sched!.hash).not.toBe(a.sched!.hash);
  }, 90_000);

  it('the livelock watchdog under a controlled scheduler: a STALL of kind livelock, at the same decision every time, which replays', async () => {
    // --livelock-faults 2: an access that takes a discard fault and then a page fault is one
    const cfg = makeConfig({
      cpus: 2,
      ...tiny,
      seed: 2,
      livelockFaults: 2,
      sched: { kind: 'pct', depth: 3, steps: 3000 },
    });
    const a = await runMachine(cfg);
    expect(a.verdict, a.stall?.reason).toBe('STALL');
    expect(a.stall?.kind).toBe('livelock');
    expect(a.stall?.livelock?.faults).toBeGreaterThanOrEqual(2);
    // the schedule ended at the livelock, not at its last step
    expect(a.sched!.stepsRun).toBeLessThan(cfg.sched.steps);
    const b = await runMachine(cfg);
    expect(b.stall?.livelock).toEqual(a.stall?.livelock);
    expect(b.sched).toEqual(a.sched);
    const r = await replayReport(JSON.parse(JSON.stringify(a)));
    expect(r.diff).toEqual([]);
    expect(r.report.stall?.kind).toBe('livelock');
  }, 60_000);
});
