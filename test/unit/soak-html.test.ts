import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/config.ts';
import { escapeHtml, renderSoakReport } from '../../src/report/html.ts';
import { COUNTERS } from '../../src/shm/layout.ts';
import { judgeMemory, judgeTrend, makeSeriesStore } from '../../src/soak/leak.ts';
import { memorySeries } from '../../src/soak/memstat.ts';
import type { SoakConfig, SoakSummary, ViolationLine } from '../../src/soak/soak.ts';
import type { StatsLine } from '../../src/soak/stats.ts';

const cfg = makeConfig({ cpus: 2, seed: 42 });
const config: SoakConfig = {
  schema: 1,
  ...cfg,
  version: '0.1.0',
  soak: { statIntervalMs: 1000, auditEvery: 2, parkTimeoutMs: 5000, out: '/tmp/x' },
  git: { commit: 'a'.repeat(40), dirty: false },
  host: { node: 'v20', platform: 'linux', arch: 'x64', hostname: 'h', cores: 2 },
  argv: ['soak', '--out', '/tmp/x'],
  startedAt: '2026-01-01T00:00:00.000Z',
};

const zero = Object.fromEntries(COUNTERS.map((n) => [n, 0])) as SoakSummary['totals'];

function line(i: number, locks: StatsLine['locks']): StatsLine {
  return {
    schema: 1,
    seq: i,
    t: '2026-01-01T00:00:01.000Z',
    elapsedMs: (i + 1) * 1000,
    intervalMs: 1000,
    opsPerSec: [1000 + i, 900 + i],
    opsPerSecTotal: 1900 + 2 * i,
    hostDiscards: 500,
    discardFaults: 40,
    refsRefused: i % 2,
    pagesParked: 300,
    pagesFreedFromList: 290,
    rendezvous: 20,
    counters: { listFlushes: 25, splices: 20 },
    locks,
    irqsOffMaxUs: [10, 12],
    memory: { rss: 100e6 + i, heapUsed: 20e6, heapTotal: 30e6, external: 1e6 },
    violations: 1,
    audits: 0,
    auditFailures: 0,
  };
}

function summary(stats: StatsLine[]): SoakSummary {
  const rss = judgeTrend(stats.map((l) => [l.elapsedMs, l.memory.rss]));
  return {
    schema: 1,
    verdict: 'FAILURE',
    exitCode: 1,
    note: null,
    endReason: 'duration elapsed',
    startedAt: config.startedAt,
    updatedAt: config.startedAt,
    endedAt: config.startedAt,
    durationMs: 5000,
    wallMs: 6000,
    seed: 42,
    totals: { ...zero, ops: 9500 },
    cpus: [
      { cpu: 0, ...zero, ops: 5000 },
      { cpu: 1, ...zero, ops: 4500 },
    ],
    locks: [],
    violations: { total: 1, oracle: 1, audit: 0, written: 1, firstMs: 2500 },
    audits: {
      periodic: 2,
      failed: 0,
      skipped: 0,
      everyIntervals: 2,
      lastParkMs: 0.5,
      maxParkMs: 0.7,
      final: {
        ok: true,
        nrPages: 16384,
        free: 1,
        perCpuLists: 0,
        inUse: 16383,
        parkedOnList: 0,
        inPagevecs: 0,
        accounted: 16384,
        errors: [],
      },
      records: [
        { elapsedMs: 2000, ok: true, parkMs: 0.7 },
        { elapsedMs: 4000, ok: true, parkMs: 0.5 },
      ],
    },
    stall: null,
    error: null,
    memory: { rss, heapUsed: rss, leakSuspected: false },
    statsLines: stats.length,
    process: { threads: 20, cpuSeconds: 9, cpuOverWall: 1.5 },
    files: { config: 'config.json', stats: 'stats.jsonl' },
  };
}

const violation: ViolationLine = {
  schema: 1,
  seq: 0,
  kind: 'use-after-reuse',
  description: 'the handler got a reference to a reused frame',
  seed: 42,
  at: '2026-01-01T00:00:02.500Z',
  elapsedMs: 2500,
  cpu: 1,
  pfn: 77,
  generationAtFault: 3,
  generationNow: 4,
  detail: 0,
  cpusInvolved: [1, 0],
  trace: ['   0.0us * cpu1  discard fault on pfn 77 <script>alert(1)</script>'],
};

describe('report.html', () => {
  it('is one self-contained page: verdict, charts, violations, configuration, nothing fetched', async () => {
    const stats = Array.from({ length: 5 }, (_, i) => line(i, []));
    const html = await renderSoakReport({
      config,
      summary: summary(stats),
      stats,
      violations: [violation],
    });
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('>FAILURE<');
    // throughput, discard list, splices/rendezvous, host/faults, interrupts-off, memory, audits
    expect(html.match(/<svg\b/g)?.length).toBe(7);
    expect(html).toContain('Throughput per CPU');
    expect(html).toContain('kept no lock statistics');
    expect(html).toContain('use-after-reuse');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('a'.repeat(40));
    // self-contained: no script, no stylesheet link, no remote image or font
    expect(html).not.toMatch(/<script|<link|<iframe|@import|url\(/i);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
  });

  it('draws lock contention when the stats carry it', async () => {
    const stats = Array.from({ length: 3 }, (_, i) =>
      line(i, [
        { name: 'zone->lock', acquisitions: 100, contentions: 5 + i, conBounces: 1, waitTimeUs: 3 },
        { name: 'call_lock', acquisitions: 10, contentions: 0, conBounces: 0, waitTimeUs: 0 },
      ]),
    );
    const html = await renderSoakReport({ config, summary: summary(stats), stats, violations: [] });
    expect(html).toContain('Lock contention');
    expect(html).not.toContain('kept no lock statistics');
    expect(html.match(/<svg\b/g)?.length).toBe(8);
    // wait times come with --lockstat: without it, a note; with it, a chart per class
    expect(html).toContain('wait times are measured with --lockstat');
    const withLockstat = await renderSoakReport({
      config: { ...config, lockstat: 'full' as never },
      summary: summary(stats),
      stats,
      violations: [],
    });
    expect(withLockstat.match(/<svg\b/g)?.length).toBe(9);
    expect(withLockstat).toMatch(/Lock wait time per class/);
    expect(withLockstat).toMatch(/<title>00:00:01 \(\+1s\) zone-&gt;lock: 0.003 ms\/s<\/title>/);
  });

  it("draws each thread's heap beside the RSS, and names the series that grows", async () => {
    const MB = 1024 * 1024;
    // 40 minutes, a line a minute: cpu1's heap grows 1 MB a minute, the rest are flat
    const stats = Array.from({ length: 40 }, (_, i) => ({
      ...line(i, []),
      elapsedMs: (i + 1) * 60_000,
      intervalMs: 60_000,
      memory: {
        rss: 250 * MB,
        heapUsed: 20 * MB,
        heapTotal: 30 * MB,
        external: MB,
        malloced: MB,
        threads: ['cpu0', 'cpu1', 'host'].map((thread) => ({
          thread,
          heapUsed: (thread === 'cpu1' ? 10 + i : 12) * MB,
          heapTotal: 40 * MB,
          external: 3 * MB,
          arrayBuffers: 0,
          malloced: MB,
          newSpace: 16 * MB,
          codeSpace: MB,
          ageMs: 300,
        })),
      },
    }));
    const store = makeSeriesStore();
    for (const l of stats) store.push(l.elapsedMs, memorySeries(l.memory));
    const memory = judgeMemory(store);
    expect(memory.growing).toEqual(['cpu1.heapUsed']);
    const html = await renderSoakReport({
      config,
      summary: { ...summary(stats), memory },
      stats,
      violations: [],
    });
    expect(html).toContain('Heap used per thread');
    expect(html).toMatch(/<title>[^<]*cpu1: 4\d(\.\d+)? MB<\/title>/);
    expect(html).toContain('heap total (all threads)');
    expect(html).toContain('steady growth in cpu1.heapUsed 60 MB/h');
    expect(html).toMatch(/<tr class="warn"><td>cpu1\.heapUsed<\/td><td>60\.00<\/td>/);
    // the run's charts plus the per-thread heap chart
    expect(html.match(/<svg\b/g)?.length).toBe(8);
  });

  it('says so instead of drawing empty charts when no interval completed', async () => {
    const html = await renderSoakReport({
      config,
      summary: summary([]),
      stats: [],
      violations: [],
    });
    expect(html).toContain('No interval completed');
    expect(html).not.toContain('<svg');
  });

  it('escapes the five HTML specials', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;',
    );
  });

  describe('for a morning read', () => {
    // Clock labels are local time: pin the zone for the expected strings.
    const tz = process.env.TZ;
    beforeAll(() => {
      process.env.TZ = 'UTC';
    });
    afterAll(() => {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    });
    const stats = Array.from({ length: 5 }, (_, i) => ({
      ...line(i, []),
      t: new Date(Date.parse('2026-01-01T00:00:00.000Z') + (i + 1) * 1000).toISOString(),
      irqsOffIntervalMaxUs: [i === 2 ? 300 : 10, 12],
      irqsOffMaxUs: [i >= 2 ? 300 : 10, 12],
    }));

    it('runs time on clock time with the elapsed time under each tick and on hover', async () => {
      const html = await renderSoakReport({
        config,
        summary: summary(stats),
        stats,
        violations: [],
      });
      expect(html).toContain('clock time (UTC)');
      expect(html).toMatch(/<tspan>00:00:02<\/tspan><tspan[^>]*>\+2s<\/tspan>/);
      expect(html).toMatch(/<title>00:00:03 \(\+3s\) cpu1: 902 ops\/s<\/title>/);
      // no axis label with a long fraction (`1.078100`)
      expect(html).not.toMatch(/>-?\d+\.\d{3,}</);
    });

    it('draws interrupts-off per interval, not the running maximum', async () => {
      const html = await renderSoakReport({
        config,
        summary: summary(stats),
        stats,
        violations: [],
      });
      expect(html).toContain('Longest interrupts-off section in each interval');
      expect(html).toMatch(/<title>00:00:04 \(\+4s\) cpu0: 10 us<\/title>/);
      expect(html).not.toContain('so far, per CPU');
    });

    it('marks each violation and the stall on every chart, linked to its story', async () => {
      const s = summary(stats);
      s.stall = {
        kind: 'no-progress',
        reason: 'cpu 1 made no progress',
        atMs: 4200,
        cpus: [],
        call: { callLockHeld: false, caller: -1, started: 0, finished: 0, targets: 0, seq: 0 },
      } as unknown as SoakSummary['stall'];
      const html = await renderSoakReport({ config, summary: s, stats, violations: [violation] });
      const charts = html.match(/<svg\b/g)!.length;
      expect(html.match(/xlink:href="#violation-1"/g)?.length).toBe(2 * charts); // rule and label
      expect(html.match(/xlink:href="#stall"/g)?.length).toBe(2 * charts);
      expect(html).toContain('id="violation-1"');
      expect(html).toContain('<h2 id="stall">');
      expect(html).toMatch(/<title>00:00:02 \(\+2.5s\) violation #1: use-after-reuse on pfn 77/);
    });

    it('gives a one-interval report clock ticks, not fractions', async () => {
      const one = [{ ...stats[0]!, elapsedMs: 1078.1, intervalMs: 1078.1 }];
      const html = await renderSoakReport({
        config,
        summary: summary(one),
        stats: one,
        violations: [],
      });
      expect(html).not.toContain('1.0781');
      expect(html).toMatch(/<tspan>00:00:0\d(\.\d)?<\/tspan><tspan[^>]*>\+\d(\.\d)?s<\/tspan>/);
      expect(html).not.toMatch(/>-?\d+\.\d{3,}</);
    });

    it('names each delay by its point', async () => {
      const delaysUs = config.delaysUs.map((_, i) => (i === 0 ? 20 : i === 1 ? 5 : 0));
      const delaySpansUs = config.delaysUs.map((_, i) => (i === 1 ? 10 : 0));
      const html = await renderSoakReport({
        config: { ...config, delaysUs, delaySpansUs },
        summary: summary(stats),
        stats,
        violations: [],
      });
      expect(html).toContain('<code>fault-to-ref = 20 us</code>');
      expect(html).toContain('<code>ref-inc = 5..15 us</code>');
      expect(html).toMatch(/no delay at the other \d+ points/);
      expect(html).not.toMatch(/\[20,5,0/);
    });

    it('says INTERRUPTED and DIED in the badge, never a bare SUCCESS or RUNNING', async () => {
      const interrupted = {
        ...summary(stats),
        verdict: 'INTERRUPTED' as const,
        exitCode: 143,
        signal: 'SIGTERM',
      };
      const a = await renderSoakReport({ config, summary: interrupted, stats, violations: [] });
      expect(a).toContain('>INTERRUPTED after 5s of 10s (1 violation so far)<');
      expect(a).toContain('Stopped by SIGTERM.');

      const running = { ...summary(stats), verdict: 'RUNNING' as const, exitCode: null };
      const b = await renderSoakReport({
        config,
        summary: running,
        stats,
        violations: [],
        liveness: {
          state: 'DIED',
          heartbeat: '2026-01-01T00:00:05.000Z',
          why: 'process 4242 on h is gone',
        },
      });
      expect(b).toContain('>DIED<');
      expect(b).not.toContain('>RUNNING<');
      expect(b).toContain('Last heartbeat at 00:00:05 (2026-01-01T00:00:05.000Z)');
      expect(b).toContain('process 4242 on h is gone');
    });
  });
});
