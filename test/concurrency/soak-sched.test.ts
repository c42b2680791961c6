/**
 * soak --sched (src/soak/controlled.ts): a sequence of schedules that goes
 * on after a failing one; stats lines and the summary carry the schedules
 * and steps done and validate against docs/schema; every violation line
 * carries the schedule that found it, and `hvaemu replay` runs it again
 * exactly from the soak folder (the line's violation, its story included).
 * Bounded by schedules (a test seam), not by time: the same schedules every run.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/config.ts';
import { readRecording, replayReport } from '../../src/machine/replay.ts';
import { runControlledSoak } from '../../src/soak/controlled.ts';
import type { ViolationLine } from '../../src/soak/soak.ts';
import { PCT_MUTANT } from '../helpers/sched.ts';
import { schemaErrors } from '../helpers/schema.ts';
import { threadsBaseline, threadsSettled } from '../helpers/workers.ts';

let threads0 = 0;
let base = '';
beforeAll(async () => {
  threads0 = await threadsBaseline();
  base = mkdtempSync(join(tmpdir(), 'hvaemu-soak-sched-'));
});
afterEach(async () => {
  expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

const jsonl = (f: string) =>
  readFileSync(f, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));

describe('soak --sched pct', () => {
  it('goes on after failing schedules, counts them, and each violation line replays', async () => {
    const out = join(base, 'pct');
    const res = await runControlledSoak(makeConfig({ ...PCT_MUTANT, durationMs: 3_600_000 }), {
      out,
      statIntervalMs: 1000,
      auditEvery: 0,
      maxSchedules: 6,
    });
    const s = res.summary;
    expect(schemaErrors('soak-summary', s)).toBe('');
    expect(s.sched?.schedules).toBe(6);
    expect(s.sched?.stepsDone).toBeGreaterThan(3000);
    expect(
      s.sched!.failing,
      'call-with-irqs-off is caught by pct:3 within a few schedules',
    ).toBeGreaterThan(0);
    expect(res.verdict).toBe('FAILURE');
    expect(res.exitCode).toBe(1);
    const stats = jsonl(join(out, 'stats.jsonl'));
    expect(stats.length).toBeGreaterThan(0);
    for (const l of stats) expect(schemaErrors('soak-stats-line', l)).toBe('');
    expect(stats.reduce((a, l) => a + l.sched.schedules, 0)).toBe(6);
    expect(stats.at(-1).sched.schedulesTotal).toBe(6);
    expect(stats.reduce((a, l) => a + l.sched.stepsDone, 0)).toBe(s.sched!.stepsDone);
    const lines = jsonl(join(out, 'violations.jsonl')) as ViolationLine[];
    expect(lines.length).toBeGreaterThanOrEqual(s.sched!.failing);
    expect(new Set(lines.map((l) => l.schedule)).size).toBe(s.sched!.failing);
    // the first line of each failing schedule replays from the folder, exactly
    for (const l of lines.filter((x) => x.scheduleViolation === 0)) {
      const rec = readRecording(out, l.seq);
      expect(rec.controlled).toBe(true);
      if (!rec.controlled) continue;
      const r = await replayReport(rec.json, { only: rec.only ?? 0 });
      expect(r.diff, `line ${l.seq}`).toEqual([]);
      expect(r.report.violations[0]!.story).toEqual(l.story);
      expect(r.report.sched?.hash).toBe(l.sched?.hash);
    }
  }, 300_000);
});
