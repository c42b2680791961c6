/**
 * Terminal sections of a run report for lock contention and latency: a table
 * with /proc/lock_stat's columns and contention points, and the irqs-off /
 * smp_call_function latencies.
 */
import type { HistogramBucket, LatencyReport } from '../stats/latency.ts';
import type { LockReport } from '../stats/lockstat.ts';
import { si, table } from './format.ts';

/** Microseconds, human-scaled: 0.8us, 37us, 1.02ms, 2.5s. */
export function fmtUs(us: number): string {
  if (us < 10) return `${us.toFixed(1)}us`;
  if (us < 1000) return `${Math.round(us)}us`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)}ms`;
  return `${(us / 1e6).toFixed(2)}s`;
}

const t2 = (x: number) => x.toFixed(2);

/**
 * lock_stat's table: one line per class taken, most contended first, times in
 * microseconds; under each class its top contention points (--lockstat).
 */
export function renderLockstat(locks: LockReport[], timed: boolean): string {
  const taken = locks
    .filter((l) => l.acquisitions > 0 || l.contentions > 0)
    .sort((a, b) => b.contentions - a.contentions || b.acquisitions - a.acquisitions);
  const rows: (string | number)[][] = [
    [
      'class name',
      'con-bounces',
      'contentions',
      'waittime-min',
      'waittime-max',
      'waittime-total',
      'waittime-avg',
      'acq-bounces',
      'acquisitions',
      'holdtime-min',
      'holdtime-max',
      'holdtime-total',
      'holdtime-avg',
    ],
  ];
  const time = (x: number) => (timed ? t2(x) : '-');
  for (const l of taken) {
    rows.push([
      `${l.name}:`,
      l.conBounces,
      l.contentions,
      time(l.waitTimeUs.min),
      time(l.waitTimeUs.max),
      time(l.waitTimeUs.total),
      time(l.waitTimeUs.avg),
      l.acqBounces,
      l.acquisitions,
      time(l.holdTimeUs.min),
      time(l.holdTimeUs.max),
      time(l.holdTimeUs.total),
      time(l.holdTimeUs.avg),
    ]);
  }
  const out = [
    `lock_stat (times in us${timed ? '' : '; wait and hold times need --lockstat'}):`,
    table(rows),
  ];
  for (const l of taken) {
    if (l.topCallSites.length === 0) continue;
    out.push(`  ${l.name} contention points:`);
    for (const s of l.topCallSites) out.push(`    ${String(s.contentions).padStart(9)}  ${s.site}`);
  }
  return out.join('\n');
}

/** Octave counts of histograms (`<1us`, `1us`, `2us`, `4us` ... lower edges). */
function octaves(hists: HistogramBucket[][]): string {
  const byOctave = new Map<number, number>();
  for (const h of hists) {
    for (const b of h) {
      const o = b.geUs < 1 ? -1 : Math.floor(Math.log2(b.geUs) + 1e-9);
      byOctave.set(o, (byOctave.get(o) ?? 0) + b.count);
    }
  }
  return [...byOctave.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([o, n]) => `${o < 0 ? '<1us' : `${fmtUs(2 ** o)}+`} ${si(n)}`)
    .join(', ');
}

/** irqs-off sections and IPI response per CPU, the rendezvous, an irqs-off histogram by octave. */
export function renderLatency(lat: LatencyReport): string {
  const rows: (string | number)[][] = [
    ['CPU', 'irqs-off n', 'p50', 'p99', 'max', 'IPI resp n', 'p50', 'p99', 'max'],
  ];
  lat.irqsOff.forEach((o, i) => {
    const r = lat.ipiResponse[i]!;
    rows.push([
      `cpu${o.cpu}`,
      si(o.count),
      fmtUs(o.p50Us),
      fmtUs(o.p99Us),
      fmtUs(o.maxUs),
      si(r.count),
      fmtUs(r.p50Us),
      fmtUs(r.p99Us),
      fmtUs(r.maxUs),
    ]);
  });
  const c = lat.rendezvous;
  return [
    `latency (p50/p99: upper edge of a histogram bucket, a quarter octave wide; IPI response: IPI raised .. target's started++):`,
    table(rows),
    `smp_call_function, entry to release of call_lock: ${si(c.count)} calls, p50 ${fmtUs(c.p50Us)}, p99 ${fmtUs(c.p99Us)}, max ${fmtUs(c.maxUs)}`,
    `irqs-off sections by length, all CPUs: ${octaves(lat.irqsOff.map((o) => o.histogram)) || 'none'}`,
  ].join('\n');
}
