import { describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/config.ts';
import { escapeHtml, renderSoakReport } from '../../src/report/html.ts';
import { COUNTERS } from '../../src/shm/layout.ts';
import { judgeTrend } from '../../src/soak/leak.ts';
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
    // throughput, discard list, host/faults, interrupts-off, memory, audits
    expect(html.match(/<svg\b/g)?.length).toBe(6);
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
    expect(html.match(/<svg\b/g)?.length).toBe(7);
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
});
