/**
 * Reports that are never lost and say how a run ended: the report writer's
 * fallbacks (issue 11, item 2), the verdict and exit-code mapping (item 3),
 * the JSON shaping (item 7), and the published schemas against the code's
 * own names and the committed bench report.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  afterAll,
  afterEach,
  beforeEach,
  describe,
  expect,
  it,
  type MockInstance,
  vi,
} from 'vitest';
import { byPoint, configJson, locksJson, roundDeep } from '../../src/cli/json.ts';
import { matrixVerdict } from '../../src/cli/mutants.ts';
import {
  checkWritable,
  makeDirs,
  stamp,
  writeFileAtomic,
  writeReport,
} from '../../src/cli/output.ts';
import { interruptedLine } from '../../src/cli/report.ts';
import { parseList, type SweepPoint, sweepVerdict } from '../../src/cli/sweep.ts';
import { FAULT_ADDRESS, MUTANTS, makeConfig, PROTOCOLS, SPINLOCK_KINDS } from '../../src/config.ts';
import { EXIT, exitCode, type LockReport } from '../../src/machine/machine.ts';
import type { HuntResult } from '../../src/machine/mutants.ts';
import { POINTS } from '../../src/points.ts';
import { readSchema, SCHEMAS, schemaErrors } from '../helpers/schema.ts';

const dir = mkdtempSync(join(tmpdir(), 'hvaemu-output-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let stderr: MockInstance;
beforeEach(() => {
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => stderr.mockRestore());

describe('the report writer', () => {
  it('writes where asked, whole, with no temporary left', () => {
    const file = join(dir, 'a.json');
    const w = writeReport(file, { x: 1 }, '--json');
    expect(w).toEqual({ path: file, notice: null });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ x: 1 });
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('a failed write leaves no temporary behind and throws', () => {
    const sub = join(dir, 'is-a-dir');
    mkdirSync(sub);
    // renaming a file over a directory fails after the temporary was written
    expect(() => writeFileAtomic(sub, 'x')).toThrow();
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('falls back to hvaemu-report-<timestamp>.json in the current folder, then the temp folder', () => {
    const cwd = join(dir, 'cwd');
    const tmp = join(dir, 'tmp');
    mkdirSync(cwd);
    mkdirSync(tmp);
    const lost = join(dir, 'gone', 'r.json');
    const w = writeReport(lost, { verdict: 'SUCCESS' }, '--json', { cwd, tmp });
    expect(w.path).toMatch(new RegExp(`^${cwd}/hvaemu-report-\\d{8}-\\d{6}\\.json$`));
    expect(w.notice).toBe(`--json: could not write '${lost}' (no such directory); wrote ${w.path}`);
    expect(JSON.parse(readFileSync(w.path!, 'utf8'))).toEqual({ verdict: 'SUCCESS' });

    const w2 = writeReport(lost, { verdict: 'SUCCESS' }, '--json', { cwd: join(dir, 'no'), tmp });
    expect(w2.path!.startsWith(`${tmp}/hvaemu-report-`)).toBe(true);

    const w3 = writeReport(lost, {}, '--json', { cwd: join(dir, 'no'), tmp: join(dir, 'no') });
    expect(w3.path).toBeNull();
    expect(w3.notice).toMatch(/the JSON report is lost \(the text report above is complete\)$/);
  });

  it('- writes the JSON to standard output', () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(writeReport('-', { a: 1 }, '--json')).toEqual({ path: '-', notice: null });
      expect(out.mock.calls.map((c) => String(c[0])).join('')).toBe('{\n  "a": 1\n}\n');
    } finally {
      out.mockRestore();
    }
  });

  it('the start-up check refuses a directory, an empty name, a read-only folder; accepts -', () => {
    expect(() => checkWritable(dir, '--json')).toThrow(
      /^--json: cannot write '.*': is a directory$/,
    );
    expect(() => checkWritable('', '--json')).toThrow(/^--json: empty file name/);
    expect(() => checkWritable('-', '--json')).not.toThrow();
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    chmodSync(ro, 0o500);
    try {
      // root writes anywhere: the check is then only that it could really create the file
      const root = process.getuid?.() === 0;
      const check = () => checkWritable(join(ro, 'r.json'), '--json');
      if (root) expect(check).not.toThrow();
      else expect(check).toThrow(/permission denied/);
    } finally {
      chmodSync(ro, 0o700);
    }
    expect(readdirSync(ro)).toEqual([]);
  });

  it('makeDirs creates missing levels and ends (where recursive mkdir loops: /proc)', () => {
    makeDirs(join(dir, 'p', 'q', 'r'));
    expect(existsSync(join(dir, 'p', 'q', 'r'))).toBe(true);
    expect(() => makeDirs('/proc/hvaemu-no/such')).toThrow();
  });

  it('stamp() is a file-name friendly UTC time', () => {
    expect(stamp(new Date('2025-01-02T03:04:05.678Z'))).toBe('20250102-030405');
  });
});

describe('verdicts and exit codes (one mapping, machine.ts)', () => {
  it('INTERRUPTED exits 130 for SIGINT, 143 for SIGTERM; the others their own', () => {
    expect(exitCode('INTERRUPTED', 'SIGINT')).toBe(130);
    expect(exitCode('INTERRUPTED', 'SIGTERM')).toBe(143);
    expect(exitCode('INTERRUPTED')).toBe(130);
    expect(EXIT).toEqual({
      SUCCESS: 0,
      FAILURE: 1,
      STALL: 3,
      ERROR: 4,
      UNDERCOVERED: 5,
      INTERRUPTED: 130,
    });
    expect(exitCode('FAILURE', 'SIGTERM')).toBe(1);
  });

  it('the interrupted line says how far the run got and what it found', () => {
    expect(interruptedLine(1100, 60_000, 0)).toBe(
      'INTERRUPTED after 1.1s of 60s (no violation so far)',
    );
    expect(interruptedLine(2000, 10_000, 1)).toBe(
      'INTERRUPTED after 2s of 10s (1 violation so far)',
    );
    expect(interruptedLine(2000, 10_000, 3)).toBe(
      'INTERRUPTED after 2s of 10s (3 violations so far)',
    );
  });

  it('a sweep: the worst point, or INTERRUPTED (an ERROR still wins)', () => {
    const pts = (...v: string[]) => v.map((verdict) => ({ verdict }) as SweepPoint);
    expect(sweepVerdict(pts('SUCCESS', 'FAILURE', 'SUCCESS'), null)).toBe('FAILURE');
    expect(sweepVerdict(pts('FAILURE', 'STALL'), null)).toBe('STALL');
    expect(sweepVerdict(pts(), null)).toBe('SUCCESS');
    expect(sweepVerdict(pts('SUCCESS'), 'SIGINT')).toBe('INTERRUPTED');
    expect(sweepVerdict(pts('ERROR'), 'SIGINT')).toBe('ERROR');
  });

  it('the kill matrix: SUCCESS only with a clean control and every mutant killed', () => {
    const clean = { verdict: 'SUCCESS' as const, durationMs: 1, runs: [] };
    const m = (killed: boolean, errors?: string[]) =>
      ({ killed, ...(errors ? { errors } : {}) }) as HuntResult;
    expect(matrixVerdict(clean, [m(true)], ['a'])).toBe('SUCCESS');
    expect(matrixVerdict(clean, [m(false)], ['a'])).toBe('FAILURE');
    expect(matrixVerdict(clean, [m(true)], ['a', 'b'])).toBe('FAILURE');
    expect(matrixVerdict({ ...clean, verdict: 'FAILURE' }, [m(true)], ['a'])).toBe('FAILURE');
    expect(matrixVerdict(clean, [m(false, ['boom'])], ['a'])).toBe('ERROR');
  });
});

describe('JSON a script can rely on', () => {
  it('rounds times to the microsecond (ms) and ratios to 4 digits', () => {
    expect(
      roundDeep({ a: 20465.36799999967, b: [0.000123456, 3], c: { d: 1.0326710896721336 } }),
    ).toEqual({
      a: 20465.368,
      b: [0.0001235, 3],
      c: { d: 1.033 },
    });
  });

  it('delays keyed by point name, only those set', () => {
    const cfg = makeConfig({
      delaysUs: POINTS.map((_, i) => (i === 1 ? 20 : 0)),
    });
    const c = configJson(cfg);
    expect(c.delaysUs).toEqual({ [POINTS[1]![0]]: 20 });
    expect(c.delaySpansUs).toEqual({});
    expect(byPoint([0, 0, 5])).toEqual({ [POINTS[2]![0]]: 5 });
  });

  it('without --lockstat the times and call sites are null, not 0', () => {
    const t = { min: 0, max: 0, total: 0, avg: 0 };
    const l = {
      name: 'x',
      acquisitions: 3,
      contentions: 0,
      conBounces: 0,
      acqBounces: 1,
      waitTimeUs: t,
      holdTimeUs: t,
      topCallSites: [],
    } as unknown as LockReport;
    expect(locksJson([l], false)[0]).toMatchObject({
      acquisitions: 3,
      waitTimeUs: null,
      holdTimeUs: null,
      topCallSites: null,
    });
    expect(locksJson([l], true)[0]).toBe(l);
  });

  it('sweep lists: duplicates are warned about and run once', () => {
    expect(parseList('1,2,1', '--cpus')).toEqual(['1', '2']);
    expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toBe(
      "hvaemu: warning: --cpus: '1' given more than once (run once)\n",
    );
  });
});

describe('docs/schema: the published schemas', () => {
  it('every schema compiles (strict) and carries a title', () => {
    for (const s of SCHEMAS) {
      expect(readSchema(s).title, s).toBeTruthy();
      expect(schemaErrors(s, null), s).not.toBe('');
    }
  });

  it("the schemas' closed lists are the code's (spinlocks, fault addresses)", () => {
    // protocol, mutant and point names are open (a pattern): they grow with the model
    const run = readSchema('run') as {
      properties: { config: { properties: Record<string, { enum?: string[] }> } };
    };
    const c = run.properties.config.properties;
    expect(c.spinlock!.enum).toEqual([...SPINLOCK_KINDS]);
    expect(c.faultAddress!.enum).toEqual([...FAULT_ADDRESS]);
    const cfg = configJson(makeConfig({ protocol: PROTOCOLS.at(-1)!, mutant: MUTANTS.at(-1)! }));
    expect(schemaErrors('run', { config: cfg })).not.toMatch(/config/);
  });

  it('the committed bench report validates', () => {
    const r = JSON.parse(
      readFileSync(new URL('../../benchmarks/results/latest.json', import.meta.url), 'utf8'),
    );
    expect(schemaErrors('bench', r)).toBe('');
    expect(schemaErrors('bench', { ...r, ratios: {} })).not.toBe('');
  });
});
