/**
 * Terminal sections of a run report for lock contention and latency:
 * /proc/lock_stat as the kernel prints it, perf lock contention's view, and
 * the irqs-off / smp_call_function latencies.
 */
import type { LockstatMode } from '../config.ts';
import type { HistogramBucket, LatencyReport } from '../stats/latency.ts';
import { type LockReport, lockContention } from '../stats/lockstat.ts';
import { si, table } from './format.ts';

/** Microseconds, human-scaled: 0.8us, 37us, 1.02ms, 2.5s. */
export function fmtUs(us: number): string {
  if (us < 10) return `${us.toFixed(1)}us`;
  if (us < 1000) return `${Math.round(us)}us`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)}ms`;
  return `${(us / 1e6).toFixed(2)}s`;
}

/**
 * A class as lockdep names it: a lock initialised through a pointer
 * (spin_lock_init(&zone->lock)) is named by the stringified argument, `&`
 * included; a static DEFINE_SPINLOCK(call_lock) by its name. PG_locked is
 * no lockdep class in the kernel: its name as is.
 */
export const lockdepName = (name: string): string => (name.includes('->') ? `&${name}` : name);

/** /proc/lock_stat's widths (kernel/locking/lockdep_proc.c): a 40-column name, 14-column numbers. */
const NAME_W = 40;
const COL_W = 14;
const LINE_W = NAME_W + 1 + 12 * (COL_W + 1);
const HEADER = [
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
];
const r = (x: string | number, w = COL_W) => String(x).padStart(w);

/**
 * /proc/lock_stat as Documentation/locking/lockstat.rst shows it: the version
 * line, the dashed header, one line per class taken (most contended first),
 * and under each contended class, after a short separator, its contention
 * points (where waiters were) and, after another, its contended points
 * (where the holders took the lock: --lockstat=full). Times in microseconds with two
 * decimals (the kernel's integer part is us too); a time not measured (hold
 * times in contention mode) is `-`. The kernel keeps the first 4 points it
 * saw; here the 4 with most contentions. The kernel's `[<ip>] symbol+off`
 * becomes `[<file.ts:line>] function`.
 */
export function renderLockstat(locks: LockReport[], mode: LockstatMode): string {
  const taken = locks
    .filter((l) => l.acquisitions > 0 || l.contentions > 0)
    .sort((a, b) => b.contentions - a.contentions || b.acquisitions - a.acquisitions);
  const time = (x: number, measured: boolean) => r(measured ? x.toFixed(2) : '-');
  const wait = mode !== false;
  const hold = mode === 'full';
  const out = [
    'lock_stat version 0.4',
    '-'.repeat(LINE_W),
    `${r('class name', NAME_W)} ${HEADER.map((h) => r(h)).join(' ')}`,
    '-'.repeat(LINE_W),
    '',
  ];
  for (const l of taken) {
    const name = lockdepName(l.name);
    out.push(
      `${r(name, NAME_W)}:${r(l.conBounces)} ${r(l.contentions)}` +
        [l.waitTimeUs.min, l.waitTimeUs.max, l.waitTimeUs.total, l.waitTimeUs.avg]
          .map((x) => ` ${time(x, wait)}`)
          .join('') +
        ` ${r(l.acqBounces)} ${r(l.acquisitions)}` +
        [l.holdTimeUs.min, l.holdTimeUs.max, l.holdTimeUs.total, l.holdTimeUs.avg]
          .map((x) => ` ${time(x, hold)}`)
          .join(''),
    );
    const points = [wait ? l.topCallSites : [], hold ? l.contendedPoints : []].filter(
      (p) => p.length > 0,
    );
    if (points.length === 0) continue;
    for (const list of points) {
      out.push(`${' '.repeat(NAME_W - name.length)}${'-'.repeat(name.length)}`);
      for (const p of list) out.push(`${r(name, NAME_W)} ${r(p.contentions)} ${site(p.site)}`);
    }
    out.push('', '.'.repeat(LINE_W), '');
  }
  if (!wait) out.push('(wait and hold times, and call sites, need --lockstat)');
  else if (!hold) {
    out.push(
      '(--lockstat=contention: no hold times, no contended points; --lockstat=full has them)',
    );
  }
  return out.join('\n');
}

/** `fn (file.ts:12)` as the kernel's `%29s %pS` pair: `[<file.ts:12>] fn`. */
function site(s: string): string {
  const m = /^(.*) \((.*)\)$/.exec(s);
  return m ? `${r(`[<${m[2]}>]`, 29)} ${m[1]}` : `${r('', 29)} ${s}`;
}

/** Wait times as perf lock contention prints them: 23.58 ms, 68.42 us, 310 ns. */
export function perfTime(us: number): string {
  if (us >= 1e6) return `${(us / 1e6).toFixed(2)} s`;
  if (us >= 1e3) return `${(us / 1e3).toFixed(2)} ms`;
  if (us >= 1) return `${us.toFixed(2)} us`;
  return `${Math.round(us * 1000)} ns`;
}

/**
 * `perf lock contention`'s view: one line per call site that waited, most
 * total wait first, with the lock class (perf's `type` column names the kind;
 * here every lock is a spinlock but PG_locked, so the class says more).
 */
export function renderLockContention(locks: LockReport[]): string {
  const rows = lockContention(locks);
  const out = [
    'lock contention (perf lock contention: per call site, most total wait first):',
    ` ${r('contended', 10)} ${r('total wait', 12)} ${r('max wait', 12)} ${r('avg wait', 12)} ${r('lock class', 28)}   caller`,
    '',
  ];
  for (const c of rows) {
    out.push(
      ` ${r(c.contended, 10)} ${r(perfTime(c.totalWaitUs), 12)} ${r(perfTime(c.maxWaitUs), 12)} ${r(perfTime(c.avgWaitUs), 12)} ${r(lockdepName(c.lockClass), 28)}   ${c.caller}`,
    );
  }
  if (rows.length === 0) out.push('   no contended acquisition');
  return out.join('\n');
}

/** The report's lock sections for a mode: lock_stat (off, full), perf lock contention (full, contention). */
export function renderLocks(locks: LockReport[], mode: LockstatMode): string {
  if (mode === 'contention') return renderLockContention(locks);
  if (mode === 'full') return `${renderLockstat(locks, mode)}\n\n${renderLockContention(locks)}`;
  return renderLockstat(locks, mode);
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
