/**
 * `hvaemu soak` as a user runs it: a child process, its results folder, and
 * what a kill -9 or a SIGINT leaves behind. Durations are short; the only
 * time bounds are safety timeouts, and the one the contract names (a SIGINT
 * ends the soak within 6 s).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/hvaemu.mjs');
const CHECK = join(ROOT, 'scripts/check-chart-chromium.mjs');
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
/** CI sets HVAEMU_REQUIRE_CHROMIUM (.ci/run installs it); elsewhere a missing Chromium skips that check. */
const CHECK_CHROMIUM = existsSync(CHROMIUM) || process.env.HVAEMU_REQUIRE_CHROMIUM !== undefined;

let base: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'hvaemu-soak-'));
});
afterEach(() => {
  // A test that failed half-way must not leave a soak running.
  for (const c of children.splice(0))
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

type Exit = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

function soak(args: string[]): { child: ChildProcess; exited: Promise<Exit> } {
  const child = spawn(process.execPath, [BIN, 'soak', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<Exit>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, exited };
}

/** Resolve with the exit, or reject if it has not come within `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Poll until `cond()` holds (a file filled by the child), failing after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const by = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > by) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const text = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
const lines = (f: string) =>
  text(f)
    .split('\n')
    .filter((l) => l !== '');
/** Every line of a JSON Lines file, parsed (throws on a line that does not parse). */
const parseAll = (f: string) => lines(f).map((l) => JSON.parse(l) as Record<string, unknown>);
const json = (f: string) => JSON.parse(readFileSync(f, 'utf8'));

/** scripts/check-chart-chromium.mjs on a report: its exit code and its one line. */
const checkInChromium = (...args: string[]) =>
  new Promise<{ code: number | null; stdout: string }>((resolve) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', CHECK, ...args],
      { cwd: ROOT, timeout: 90_000 },
      (err, stdout) => resolve({ code: err ? ((err.code as number) ?? 1) : 0, stdout }),
    ),
  );

describe('hvaemu soak', () => {
  it('runs to the end: stats every interval, periodic audits, SUCCESS, config, report (with its race coverage) drawn in Chromium', async () => {
    const out = join(base, 'full');
    const { exited } = soak([
      '--cpus',
      '4',
      '--duration',
      '6s',
      '--stat-interval',
      '1s',
      '--audit-every',
      '2',
      '--out',
      out,
    ]);
    const r = await within(exited, 90_000, 'soak exit');
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^SUCCESS: 4 CPUs ran/);

    const stats = parseAll(join(out, 'stats.jsonl'));
    expect(stats.length).toBeGreaterThanOrEqual(5);
    expect(stats.map((l) => l.seq)).toEqual(stats.map((_, i) => i));
    for (const l of stats) {
      expect(l.opsPerSec).toHaveLength(4);
      expect((l.memory as { rss: number }).rss).toBeGreaterThan(0);
      expect(Array.isArray(l.coverage)).toBe(true);
    }
    expect(stats.reduce((a, l) => a + (l.opsPerSecTotal as number), 0)).toBeGreaterThan(0);
    expect(lines(join(out, 'violations.jsonl'))).toEqual([]);

    const summary = json(join(out, 'summary.json'));
    expect(summary.verdict).toBe('SUCCESS');
    expect(summary.exitCode).toBe(0);
    expect(summary.endReason).toBe('duration elapsed');
    expect(summary.statsLines).toBe(stats.length);
    // every two intervals the machine was stopped and audited, and it was clean
    expect(summary.audits.periodic).toBeGreaterThanOrEqual(1);
    expect(summary.audits.failed).toBe(0);
    expect(summary.audits.final.ok).toBe(true);
    expect(summary.memory.rss.judged).toBe(false); // 6 s cannot say

    const config = json(join(out, 'config.json'));
    expect(config).toMatchObject({ cpus: 4, durationMs: 6000, protocol: 'patched' });
    expect(typeof config.seed).toBe('number');
    expect(config.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(config.soak).toMatchObject({ statIntervalMs: 1000, auditEvery: 2 });
    if (config.git !== null) expect(config.git.commit).toMatch(/^[0-9a-f]{40}$/);

    const html = text(join(out, 'report.html'));
    expect(html).toContain('SUCCESS');
    expect(html).toContain('Race coverage: near misses per hazard');
    if (!CHECK_CHROMIUM) return;
    const check = await checkInChromium(join(out, 'report.html'), '--coverage');
    expect(check.stdout).toMatch(
      /chromium: chart drawn .*; race coverage per hazard drawn \([1-9]\d* marks\)/,
    );
    expect(check.code).toBe(0);
  });

  it('leaves every file readable after a kill -9 in the middle of the run', async () => {
    const out = join(base, 'killed');
    const { child, exited } = soak([
      '--cpus',
      '2',
      '--duration',
      '60s',
      '--stat-interval',
      '300ms',
      '--out',
      out,
    ]);
    const stats = join(out, 'stats.jsonl');
    await until(() => lines(stats).length >= 4, 60_000, 'four stats lines');
    child.kill('SIGKILL');
    const r = await within(exited, 10_000, 'exit after SIGKILL');
    expect(r.signal).toBe('SIGKILL');

    // The last byte of the file ends a line: no torn line, every line parses.
    expect(text(stats).endsWith('\n')).toBe(true);
    expect(parseAll(stats).length).toBeGreaterThanOrEqual(2);
    parseAll(join(out, 'violations.jsonl'));
    expect(json(join(out, 'config.json')).soak.statIntervalMs).toBe(300);
    // the provisional summary says the run had not ended, and who was running it
    const summary = json(join(out, 'summary.json'));
    expect(summary.verdict).toBe('RUNNING');
    expect(summary.endedAt).toBeNull();
    expect(summary).toMatchObject({ pid: child.pid, hostname: hostname(), heartbeatEveryMs: 300 });
    expect(Date.parse(summary.heartbeat)).toBeGreaterThan(Date.parse(summary.startedAt));
  });

  it('writes each violation as it is found, and a killed soak renders as DIED', async () => {
    const out = join(base, 'mutant');
    // free-immediately frees discarded pages at once: violations within seconds.
    const { child, exited } = soak([
      '--cpus',
      '4',
      '--duration',
      '60s',
      '--stat-interval',
      '500ms',
      '--mutant',
      'free-immediately',
      '--seed',
      '1',
      '--out',
      out,
    ]);
    const violations = join(out, 'violations.jsonl');
    await until(
      () => lines(violations).length >= 1 && lines(join(out, 'stats.jsonl')).length >= 1,
      60_000,
      'a violation line and a stats line',
    );
    expect(child.exitCode).toBeNull(); // found while running, not at the end
    child.kill('SIGKILL');
    await within(exited, 10_000, 'exit after SIGKILL');
    const v = parseAll(violations);
    expect(v[0]).toMatchObject({ seq: 0, seed: 1 });
    expect(['use-after-reuse', 'free-in-window']).toContain(v[0]!.kind);
    expect((v[0]!.trace as string[]).length).toBeGreaterThan(0);

    const r = await within(soak(['--out', out, '--render-only']).exited, 60_000, 'render-only');
    expect(r.code).toBe(0);
    const heartbeat = json(join(out, 'summary.json')).heartbeat as string;
    expect(r.stderr).toContain(
      `DIED: process ${child.pid} on ${hostname()} is gone; last heartbeat ${heartbeat}`,
    );
    const html = text(join(out, 'report.html'));
    expect(html).toContain('>DIED<');
    expect(html).not.toContain('>RUNNING<');
    expect(html).toContain(heartbeat);
    expect(html).toContain(String(v[0]!.kind));
  });

  it('a soak that finds a violation: FAILURE, and its report in Chromium shows clock time, the marked violation and irqs-off per interval', async () => {
    const out = join(base, 'found');
    const { exited } = soak([
      '--cpus',
      '2',
      '--duration',
      '30s',
      '--stat-interval',
      '300ms',
      '--mutant',
      'free-immediately',
      '--stop-on-violation',
      '--seed',
      '1',
      '--out',
      out,
    ]);
    const r = await within(exited, 60_000, 'soak exit');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAILURE: 2 CPUs ran .* \(violation found\)/);
    const stats = parseAll(join(out, 'stats.jsonl'));
    for (const l of stats) expect(l.irqsOffIntervalMaxUs).toHaveLength(2);
    expect(lines(join(out, 'violations.jsonl')).length).toBeGreaterThan(0);
    const html = text(join(out, 'report.html'));
    expect(html).toContain('xlink:href="#violation-1"');
    expect(html).toContain('id="violation-1"');
    if (!CHECK_CHROMIUM) return;
    const check = await checkInChromium(join(out, 'report.html'), '--soak');
    expect(check.stdout).toMatch(
      /soak report: [1-9]\d* clock-time axes, [1-9]\d* violation marks linked to their story, interrupts-off per interval drawn/,
    );
    expect(check.code).toBe(0);
  });

  /** A 10-minute soak into `out`, once it has written two stats lines (to be signalled). */
  async function longSoak(out: string) {
    const s = soak(['--cpus', '2', '--duration', '10m', '--stat-interval', '300ms', '--out', out]);
    await until(() => lines(join(out, 'stats.jsonl')).length >= 2, 60_000, 'two stats lines');
    return s;
  }

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    'a %s ends it within 6 s as INTERRUPTED (exit %i), with the final audit, summary and report written',
    async (sig, code) => {
      const out = join(base, `interrupted-${sig}`);
      const { child, exited } = await longSoak(out);
      child.kill(sig);
      const r = await within(exited, 6_000, `exit after ${sig}`);
      expect(r.code).toBe(code);
      expect(r.stderr).toContain(`${sig}: stopping the CPUs`);
      const verdict = /INTERRUPTED after \d+(\.\d)?s of 600s \(no violation so far\)/;
      expect(r.stdout).toMatch(new RegExp(`^${verdict.source}; 2 CPUs ran`));
      const summary = json(join(out, 'summary.json'));
      expect(summary).toMatchObject({
        verdict: 'INTERRUPTED',
        endReason: 'interrupted',
        exitCode: code,
        signal: sig,
      });
      expect(summary.audits.final.ok).toBe(true);
      expect(text(join(out, 'report.html'))).toMatch(new RegExp(`>${verdict.source}<`));
      parseAll(join(out, 'stats.jsonl'));
    },
  );

  it('a second SIGINT exits at once (130), the files still readable', async () => {
    const out = join(base, 'twice');
    const { child, exited } = await longSoak(out);
    child.kill('SIGINT');
    child.kill('SIGINT');
    const r = await within(exited, 6_000, 'exit after two SIGINTs');
    expect(r.code).toBe(130);
    expect(parseAll(join(out, 'stats.jsonl')).length).toBeGreaterThanOrEqual(2);
    json(join(out, 'summary.json'));
  });

  it('a CPU that stops making progress ends the soak with STALL, exit 3 and stall.json', async () => {
    const out = join(base, 'stalled');
    // Every operation sleeps 1 s at the `op` point: no progress for longer than the 500 ms timeout.
    const { exited } = soak([
      '--cpus',
      '2',
      '--duration',
      '30s',
      '--stat-interval',
      '1s',
      '--delay',
      'op=1s',
      '--stall-timeout',
      '500ms',
      '--out',
      out,
    ]);
    const r = await within(exited, 60_000, 'soak exit');
    expect(r.code).toBe(3);
    expect(json(join(out, 'summary.json'))).toMatchObject({ verdict: 'STALL', exitCode: 3 });
    const stall = json(join(out, 'stall.json'));
    expect(stall.reason).toMatch(/no progress/);
    expect(stall.cpus).toHaveLength(2);
    expect(text(join(out, 'report.html'))).toContain('STALL');
  });

  it("refuses bad flags and an earlier soak's folder with one line and exit 2, before any thread", async () => {
    const used = join(base, 'used');
    const fresh = join(base, 'fresh');
    const mine = join(base, 'mine');
    rmSync(used, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(used);
    writeFileSync(join(used, 'stats.jsonl'), '');
    mkdirSync(mine, { recursive: true });
    writeFileSync(join(mine, 'notes.txt'), 'mine');
    for (const [args, flag] of [
      [['--out', fresh, '--stat-interval', '10ms'], '--stat-interval'],
      [['--out', fresh, '--stat-interval', 'often'], '--stat-interval'],
      [['--out', fresh, '--audit-every', '-1'], '--audit-every'],
      [['--out', fresh, '--cpus', '0'], '--cpus'],
      [['--out', used], '--out'],
      [['--out', mine], 'is not empty and holds no soak'],
      [[], '--out'],
    ] as const) {
      const r = await within(soak([...args]).exited, 30_000, `soak ${args.join(' ')}`);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toContain(flag);
    }
    expect(existsSync(join(fresh, 'config.json'))).toBe(false);
    expect(existsSync(join(mine, 'config.json'))).toBe(false);
  });
});
