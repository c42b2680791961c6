/**
 * The soak's morning report: one self-contained HTML file (inline CSS, inline
 * SVG charts drawn by charts.ts, no script, nothing fetched) with the verdict,
 * what ran, the time series, the audits and every violation with its flight
 * recorder.
 */
import { POINTS } from '../points.ts';
import type { SoakConfig, SoakSummary, ViolationLine } from '../soak/soak.ts';
import type { StatsLine } from '../soak/stats.ts';
import { type LineChart, lineChartSvg, type Series } from './charts.ts';

export type SoakReportInput = {
  config: SoakConfig;
  summary: SoakSummary;
  stats: StatsLine[];
  violations: ViolationLine[];
};

const CHART_WIDTH = 760;
const CHART_HEIGHT = 240;
const MB = 1024 * 1024;
/** Violations shown in full (all are in violations.jsonl). */
const MAX_VIOLATIONS_SHOWN = 50;

const VERDICT_COLOUR: Record<string, string> = {
  SUCCESS: '#1a7f37',
  FAILURE: '#cf222e',
  STALL: '#bc4c00',
  ERROR: '#8250df',
  RUNNING: '#0969da',
};

export function escapeHtml(s: unknown): string {
  return String(s)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function fmt(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(digits);
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${(ms / 1000).toFixed(1)} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}

/** The time axis: minutes for runs of ten minutes and more, else seconds. */
function timeAxis(stats: StatsLine[]): { label: string; x: (l: StatsLine) => number } {
  const end = stats.at(-1)?.elapsedMs ?? 0;
  return end >= 600_000
    ? { label: 'elapsed (min)', x: (l) => l.elapsedMs / 60_000 }
    : { label: 'elapsed (s)', x: (l) => l.elapsedMs / 1000 };
}

const perSec = (l: StatsLine, n: number) => (n * 1000) / Math.max(l.intervalMs, 1e-3);

/**
 * A chart, or a short note when there is nothing to draw (a "no data" chart
 * would be grey). With `dropZero`, series that are zero throughout are left out.
 */
async function chart(c: LineChart, empty: string, dropZero = false): Promise<string> {
  if (dropZero) c = { ...c, series: c.series.filter((s) => s.points.some(([, y]) => y !== 0)) };
  const drawable = c.series.some((s) =>
    s.points.some(
      ([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (c.yScale !== 'log' || y > 0),
    ),
  );
  if (!drawable) return `<p class="empty">${escapeHtml(c.title)}: ${escapeHtml(empty)}</p>`;
  return `<figure>${await lineChartSvg({ width: CHART_WIDTH, height: CHART_HEIGHT, ...c })}</figure>`;
}

async function charts(input: SoakReportInput): Promise<string[]> {
  const { stats, summary } = input;
  const ax = timeAxis(stats);
  const series = (name: string, y: (l: StatsLine) => number): Series => ({
    name,
    points: stats.map((l) => [ax.x(l), y(l)]),
  });
  const nrCpus = input.config.cpus;
  const out: string[] = [];

  out.push(
    await chart(
      {
        title: 'Throughput per CPU',
        xLabel: ax.label,
        yLabel: 'operations / s',
        series: Array.from({ length: nrCpus }, (_, c) =>
          series(`cpu${c}`, (l) => l.opsPerSec[c] ?? Number.NaN),
        ),
      },
      'no interval completed',
    ),
  );

  out.push(
    await chart(
      {
        title: 'Discard-list traffic',
        xLabel: ax.label,
        yLabel: 'pages or calls / s',
        series: [
          series('parked on a pagevec', (l) => perSec(l, l.pagesParked)),
          series('freed from the list', (l) => perSec(l, l.pagesFreedFromList)),
          series('pagevec flushes', (l) => perSec(l, l.counters.listFlushes ?? Number.NaN)),
          series('splices', (l) => perSec(l, l.counters.splices ?? Number.NaN)),
          series('rendezvous', (l) => perSec(l, l.rendezvous)),
        ],
      },
      'nothing went through the discard list',
      true,
    ),
  );

  out.push(
    await chart(
      {
        title: 'Host discards and discard faults (log scale: zeros are not drawn)',
        xLabel: ax.label,
        yLabel: 'events / s',
        yScale: 'log',
        series: [
          series('host discards', (l) => perSec(l, l.hostDiscards)),
          series('discard faults', (l) => perSec(l, l.discardFaults)),
          series('references refused', (l) => perSec(l, l.refsRefused)),
        ],
      },
      'no host discard and no discard fault in any interval',
    ),
  );

  const lockNames = [...new Set(stats.flatMap((l) => l.locks.map((k) => k.name)))];
  out.push(
    await chart(
      {
        title: 'Lock contention',
        xLabel: ax.label,
        yLabel: 'contentions / s',
        series: lockNames
          .filter((n) => stats.some((l) => l.locks.some((k) => k.name === n && k.contentions > 0)))
          .map((n) =>
            series(n, (l) => perSec(l, l.locks.find((k) => k.name === n)?.contentions ?? 0)),
          ),
      },
      lockNames.length === 0
        ? 'this machine kept no lock statistics (see --lockstat)'
        : 'no lock was contended',
    ),
  );

  out.push(
    await chart(
      {
        title: 'Longest interrupts-off section so far, per CPU',
        xLabel: ax.label,
        yLabel: 'microseconds',
        series: Array.from({ length: nrCpus }, (_, c) =>
          series(`cpu${c}`, (l) => l.irqsOffMaxUs[c] ?? Number.NaN),
        ),
      },
      'no interval completed',
    ),
  );

  const rss = summary.memory.rss;
  const memSeries: Series[] = [
    series('RSS (process)', (l) => l.memory.rss / MB),
    series('heap used (main thread)', (l) => l.memory.heapUsed / MB),
  ];
  out.push(
    await chart(
      {
        title: `Memory: ${rss.why}`,
        xLabel: ax.label,
        yLabel: 'MB',
        series: memSeries,
      },
      'no interval completed',
    ),
  );

  const parks = summary.audits.records.filter((r) => !r.skipped);
  if (parks.length > 0) {
    const axAudit = (ms: number) => (ax.label.includes('min') ? ms / 60_000 : ms / 1000);
    out.push(
      await chart(
        {
          title: 'Periodic audits: time to stop every CPU at a quiescent point',
          xLabel: ax.label,
          yLabel: 'ms',
          series: [
            { name: 'stop_machine', points: parks.map((r) => [axAudit(r.elapsedMs), r.parkMs]) },
          ],
        },
        'no periodic audit',
      ),
    );
  }
  return out;
}

function table(rows: Array<[string, string]>): string {
  return `<table class="kv">${rows
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${v}</td></tr>`)
    .join('')}</table>`;
}

function configRows(c: SoakConfig): Array<[string, string]> {
  const skip = new Set(['schema', 'soak', 'git', 'host', 'argv', 'delaysUs']);
  const rows: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(c)) {
    if (skip.has(k)) continue;
    rows.push([k, escapeHtml(typeof v === 'object' ? JSON.stringify(v) : v)]);
  }
  const delays = c.delaysUs
    .map((us, i) => (us > 0 ? `${POINTS[i]?.[0] ?? `#${i}`}=${us}us` : ''))
    .filter(Boolean);
  rows.push(['delays', escapeHtml(delays.length ? delays.join(' ') : 'none')]);
  rows.push(['stat interval', escapeHtml(duration(c.soak.statIntervalMs))]);
  rows.push([
    'periodic audit',
    escapeHtml(
      c.soak.auditEvery > 0 ? `every ${c.soak.auditEvery} intervals` : 'off (final audit only)',
    ),
  ]);
  rows.push([
    'git commit',
    escapeHtml(c.git ? `${c.git.commit}${c.git.dirty ? ' (with local changes)' : ''}` : 'unknown'),
  ]);
  rows.push([
    'host',
    escapeHtml(
      `${c.host.hostname}: ${c.host.cores} cores, Node ${c.host.node}, ${c.host.platform}/${c.host.arch}`,
    ),
  ]);
  rows.push(['command line', `<code>hvaemu ${escapeHtml(c.argv.join(' '))}</code>`]);
  return rows;
}

function violationsSection(vs: ViolationLine[], s: SoakSummary): string {
  if (vs.length === 0 && s.violations.total === 0) return '<p>None.</p>';
  const parts: string[] = [
    `<p>${s.violations.total} found (${s.violations.oracle} by the oracle, ${s.violations.audit} by the periodic audit); ${vs.length} written to violations.jsonl${vs.length > MAX_VIOLATIONS_SHOWN ? `, the first ${MAX_VIOLATIONS_SHOWN} shown here` : ''}.</p>`,
  ];
  for (const v of vs.slice(0, MAX_VIOLATIONS_SHOWN)) {
    const head = `#${v.seq + 1} <b>${escapeHtml(v.kind)}</b> after ${escapeHtml(duration(v.elapsedMs))}${v.pfn >= 0 ? ` on pfn ${v.pfn}` : ''}${v.cpu >= 0 ? `, found by cpu${v.cpu}` : ''} (seed ${v.seed})`;
    const gens =
      v.generationAtFault !== undefined
        ? `<p>generation ${v.generationAtFault} at the fault, ${v.generationNow} now${v.detail ? `, detail ${v.detail}` : ''}</p>`
        : '';
    const errors = v.errors?.length
      ? `<ul>${v.errors.map((e) => `<li>${escapeHtml(e)}</li>`).join('')}</ul>`
      : '';
    parts.push(
      `<details class="violation"><summary>${head}</summary><p>${escapeHtml(v.description)}</p>${gens}${errors}<p>Flight recorder of cpu ${escapeHtml(v.cpusInvolved.join(', '))}, merged by time:</p><pre>${escapeHtml(v.trace.join('\n'))}</pre></details>`,
    );
  }
  return parts.join('\n');
}

function auditSection(s: SoakSummary): string {
  const a = s.audits;
  const f = a.final;
  const finalText =
    f === null
      ? 'not run'
      : 'skipped' in f
        ? `skipped (${escapeHtml(f.skipped)})`
        : `${f.ok ? 'ok' : '<b>FAILED</b>'}: ${f.free} free + ${f.perCpuLists} per-CPU + ${f.inUse} in use + ${f.parkedOnList} parked + ${f.inPagevecs} in pagevecs = ${f.accounted} of ${f.nrPages}${f.errors.length ? `<ul>${f.errors.map((e) => `<li>${escapeHtml(e)}</li>`).join('')}</ul>` : ''}`;
  const skipped = a.records.filter((r) => r.skipped);
  return `${table([
    [
      'periodic audits',
      `${a.periodic} made, ${a.failed} failed, ${a.skipped} skipped (every ${a.everyIntervals} intervals)`,
    ],
    [
      'time to stop the machine',
      a.maxParkMs === null
        ? '–'
        : `last ${fmt(a.lastParkMs, 2)} ms, longest ${fmt(a.maxParkMs, 2)} ms`,
    ],
    ['final audit', finalText],
  ])}${
    skipped.length
      ? `<p>Skipped:</p><ul>${skipped
          .slice(0, 20)
          .map(
            (r) => `<li>after ${escapeHtml(duration(r.elapsedMs))}: ${escapeHtml(r.skipped)}</li>`,
          )
          .join('')}</ul>`
      : ''
  }`;
}

function stallSection(s: SoakSummary): string {
  const st = s.stall;
  if (!st) return '';
  const cd = st.call;
  const cpus = st.cpus
    .map(
      (c) =>
        `cpu${c.cpu}: ${c.state}, irqs ${c.irqsEnabled ? 'on' : 'OFF'}, preempt ${c.preemptCount}, at ${c.point}, IPI ${c.ipiPending ? 'PENDING' : 'none'}, locks [${c.locksHeld.join(', ')}], ${c.ops} ops`,
    )
    .join('\n');
  return `<h2>Stall</h2><p>${escapeHtml(st.reason)}</p><pre>${escapeHtml(
    `smp_call_function: call_lock ${cd.callLockHeld ? `held, caller cpu${cd.caller}` : 'free'}, started ${cd.started}/${cd.targets}, finished ${cd.finished}/${cd.targets}, seq ${cd.seq}\n${cpus}`,
  )}</pre><p>The full report, with each CPU's last flight-recorder events, is in stall.json.</p>`;
}

const CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;padding:0 16px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.verdict{display:inline-block;color:#fff;font-weight:700;padding:4px 12px;border-radius:6px;font-size:18px}
.kv{border-collapse:collapse}.kv th{text-align:left;font-weight:600;padding:2px 16px 2px 0;vertical-align:top;white-space:nowrap}.kv td{padding:2px 0}
.num{border-collapse:collapse}.num td,.num th{padding:2px 10px;text-align:right;border-bottom:1px solid #eaeef2}.num th:first-child,.num td:first-child{text-align:left}
figure{margin:12px 0}pre{background:#f6f8fa;padding:8px;overflow-x:auto;font-size:12px}
.empty{color:#57606a;font-style:italic}.warn{color:#bc4c00;font-weight:600}
details.violation{margin:6px 0}details.violation summary{cursor:pointer}
`;

export async function renderSoakReport(input: SoakReportInput): Promise<string> {
  const { config: c, summary: s, stats } = input;
  const colour = VERDICT_COLOUR[s.verdict] ?? '#57606a';
  const t = s.totals;
  const sec = Math.max(s.durationMs, 1) / 1000;
  const mem = s.memory;
  const cpuRows = s.cpus
    .map(
      (r) =>
        `<tr><td>cpu${r.cpu}</td><td>${fmt(r.ops)}</td><td>${fmt(r.ops / sec)}</td><td>${fmt(r.discardFaults)}</td><td>${fmt(r.refsRefused)}</td><td>${fmt(r.pagesParked)}</td><td>${fmt(r.pagesFreedFromList)}</td><td>${fmt(r.ipisTaken)}</td><td>${fmt(r.irqsOffMaxUs)} us</td></tr>`,
    )
    .join('');
  const drawn = await charts(input);
  const memLine = (name: string, j: typeof mem.rss) =>
    `${escapeHtml(name)}: ${j.leak ? `<span class="warn">${escapeHtml(j.why)}</span>` : escapeHtml(j.why)}${j.firstMB !== null ? ` (${j.firstMB} MB after warm-up, ${j.lastMB} MB at the end, ${j.maxMB} MB at most)` : ''}`;

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>hvaemu soak: ${escapeHtml(s.verdict)}, ${escapeHtml(duration(s.durationMs))}, seed ${c.seed}</title>
<style>${CSS}</style></head>
<body>
<h1>hvaemu soak <span class="verdict" style="background:${colour}">${escapeHtml(s.verdict)}</span></h1>
<p>${escapeHtml(
    `protocol ${c.protocol}${c.mutant !== 'none' ? ` + mutant ${c.mutant}` : ''}, ${c.cpus} CPUs, ${c.pages} pages, seed ${c.seed}; started ${s.startedAt}, ran ${duration(s.durationMs)}${s.endReason ? `, ended: ${s.endReason}` : ''}${s.exitCode !== null ? `, exit ${s.exitCode}` : ''}`,
  )}</p>
${s.note ? `<p class="warn">${escapeHtml(s.note)}</p>` : ''}
${s.error ? `<p class="warn">ERROR: ${escapeHtml(s.error.message)}</p>` : ''}
<h2>Summary</h2>
${table([
  [
    'operations',
    `${fmt(t.ops)} (${fmt(t.ops / sec)}/s), ${fmt(t.discardFaults)} discard faults, ${fmt(t.refsRefused)} references refused`,
  ],
  [
    'discard list',
    `${fmt(t.pagesParked)} pages parked, ${fmt(t.pagesFreedFromList)} freed from the list, ${fmt(t.rendezvous)} rendezvous`,
  ],
  ['host', `${fmt(t.hostDiscards)} discards`],
  [
    'violations',
    s.violations.total === 0
      ? 'none'
      : `<span class="warn">${s.violations.total}</span>, first after ${escapeHtml(duration(s.violations.firstMs ?? 0))}`,
  ],
  ['memory', `${memLine('RSS', mem.rss)}<br>${memLine('heap', mem.heapUsed)}`],
  ['stats lines', String(s.statsLines)],
  [
    'process',
    s.process
      ? `${s.process.threads} threads, ${s.process.cpuOverWall.toFixed(2)} cores busy (user+sys over wall)`
      : '–',
  ],
])}
${
  cpuRows
    ? `<table class="num"><tr><th>CPU</th><th>ops</th><th>ops/s</th><th>faults</th><th>refused</th><th>parked</th><th>freed</th><th>IPIs</th><th>irqs-off max</th></tr>${cpuRows}</table>`
    : ''
}
<h2>Over time</h2>
${stats.length === 0 ? '<p class="empty">No interval completed: no time series.</p>' : drawn.join('\n')}
<h2>Audits</h2>
${auditSection(s)}
<h2>Violations</h2>
${violationsSection(input.violations, s)}
${stallSection(s)}
<h2>Configuration</h2>
${table(configRows(c))}
<p>Files: ${Object.values(s.files)
    .map((f) => `<code>${escapeHtml(f)}</code>`)
    .join(', ')}.</p>
</body></html>
`;
}
