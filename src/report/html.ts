/**
 * The soak's morning report: one self-contained HTML file (inline CSS, inline
 * SVG charts drawn by charts.ts, no script, nothing fetched) with the verdict,
 * what ran, the time series, the audits and every violation with its flight
 * recorder.
 *
 * Every chart runs over clock time (the elapsed time under each tick, both on
 * hover), and marks each violation and the stall at the moment it happened,
 * a red rule that links to its story further down.
 */
import { interruptedLine } from '../cli/report.ts';
import { POINTS } from '../points.ts';
import type { TrendJudgement } from '../soak/leak.ts';
import type { Liveness, SoakConfig, SoakSummary, ViolationLine } from '../soak/soak.ts';
import type { StatsLine } from '../soak/stats.ts';
import {
  clockLabel,
  type Series,
  type TimeChart,
  type TimeMarker,
  timeChartSvg,
} from './charts.ts';

export type SoakReportInput = {
  config: SoakConfig;
  summary: SoakSummary;
  stats: StatsLine[];
  violations: ViolationLine[];
  /** From soakLiveness: DIED turns a RUNNING summary into the DIED verdict. */
  liveness?: Liveness;
};

const CHART_WIDTH = 760;
const CHART_HEIGHT = 240;
const MB = 1024 * 1024;
/** Violations shown in full (all are in violations.jsonl). */
const MAX_VIOLATIONS_SHOWN = 50;
/** Violation stories shown open (the rest open on a click, or from a chart's marker). */
const OPEN_STORIES = 3;

const VERDICT_COLOUR: Record<string, string> = {
  SUCCESS: '#1a7f37',
  FAILURE: '#cf222e',
  STALL: '#bc4c00',
  ERROR: '#8250df',
  INTERRUPTED: '#9a6700',
  RUNNING: '#0969da',
  DIED: '#24292f',
};
/** Pixels between two marker labels on a chart (closer ones keep their rule, not their label). */
const MARKER_LABEL_PX = 30;

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
  ms = Math.max(0, ms); // a violation found as the CPUs started may read -0.0 s
  const s = Math.round(ms / 1000);
  if (s < 120) return `${(ms / 1000).toFixed(1)} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}

/** Epoch ms at which the CPUs were released: elapsed time 0 of every series. */
export function originMs(input: SoakReportInput): number {
  const { summary, stats, violations } = input;
  if (summary.releasedAt) return Date.parse(summary.releasedAt);
  const first = stats[0];
  if (first) return Date.parse(first.t) - first.elapsedMs;
  const v = violations[0];
  if (v) return Date.parse(v.at) - v.elapsedMs;
  return Date.parse(summary.startedAt);
}

const perSec = (l: StatsLine, n: number) => (n * 1000) / Math.max(l.intervalMs, 1e-3);

/** The anchor of a violation's story. */
export const violationId = (v: ViolationLine) => `violation-${v.seq + 1}`;

/** Violations and the stall as chart markers; labels thinned where they would overlap. */
function markers(input: SoakReportInput, t0: number, span: number): TimeMarker[] {
  // a violation found as the CPUs started may be stamped a little before them
  const out: TimeMarker[] = input.violations.slice(0, MAX_VIOLATIONS_SHOWN).map((v) => ({
    atMs: t0 + Math.max(0, v.elapsedMs),
    label: `#${v.seq + 1}`,
    title: `violation #${v.seq + 1}: ${v.kind}${v.pfn >= 0 ? ` on pfn ${v.pfn}` : ''} (click for its story)`,
    href: `#${violationId(v)}`,
  }));
  const st = input.summary.stall;
  if (st) {
    out.push({
      atMs: t0 + (st.atMs ?? input.summary.durationMs),
      label: 'stall',
      title: `stall: ${st.reason}`,
      href: '#stall',
      colour: '#bc4c00',
    });
  }
  out.sort((a, b) => a.atMs - b.atMs);
  const msPerPx = Math.max(span, 1) / CHART_WIDTH;
  let last = Number.NEGATIVE_INFINITY;
  for (const m of out) {
    if (m.atMs - last < MARKER_LABEL_PX * msPerPx) m.label = '';
    else last = m.atMs;
  }
  return out;
}

async function charts(input: SoakReportInput): Promise<string[]> {
  const { stats, summary, config } = input;
  const t0 = originMs(input);
  const endMs = Math.max(
    stats.at(-1)?.elapsedMs ?? 0,
    summary.durationMs,
    ...input.violations.map((v) => v.elapsedMs),
  );
  const domain: [number, number] = [t0, t0 + endMs];
  const marks = markers(input, t0, endMs);
  const series = (name: string, y: (l: StatsLine) => number): Series => ({
    name,
    points: stats.map((l) => [t0 + l.elapsedMs, y(l)]),
  });
  /**
   * A chart, or a short note when there is nothing to draw (a "no data"
   * chart would be grey). With `dropZero`, series zero throughout are left out.
   */
  const chart = async (
    c: Omit<TimeChart, 'originMs' | 'domain' | 'markers'>,
    empty: string,
    dropZero = false,
  ): Promise<string> => {
    if (dropZero) c = { ...c, series: c.series.filter((s) => s.points.some(([, y]) => y !== 0)) };
    const drawable = c.series.some((s) =>
      s.points.some(
        ([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (c.yScale !== 'log' || y > 0),
      ),
    );
    if (!drawable) return `<p class="empty">${escapeHtml(c.title)}: ${escapeHtml(empty)}</p>`;
    const svg = await timeChartSvg({
      width: CHART_WIDTH,
      height: CHART_HEIGHT,
      ...c,
      originMs: t0,
      domain,
      markers: marks,
    });
    return `<figure>${svg}</figure>`;
  };
  const nrCpus = config.cpus;
  const perCpu = (y: (l: StatsLine, c: number) => number | undefined) =>
    Array.from({ length: nrCpus }, (_, c) => series(`cpu${c}`, (l) => y(l, c) ?? Number.NaN));
  const interval = `per interval of ${duration(config.soak.statIntervalMs)}`;
  const out: string[] = [];

  out.push(
    await chart(
      {
        title: 'Throughput per CPU',
        yLabel: 'operations / s',
        unit: 'ops/s',
        series: perCpu((l, c) => l.opsPerSec[c]),
      },
      'no interval completed',
    ),
  );

  out.push(
    await chart(
      {
        title: 'Discard-list traffic',
        yLabel: 'pages or flushes / s',
        unit: '/s',
        series: [
          series('parked on a pagevec', (l) => perSec(l, l.pagesParked)),
          series('freed from the list', (l) => perSec(l, l.pagesFreedFromList)),
          series('pagevec flushes', (l) => perSec(l, l.counters.listFlushes ?? Number.NaN)),
        ],
      },
      'nothing went through the discard list',
      true,
    ),
  );

  // Far fewer than pages: on their own chart, or they lie flat on the axis.
  out.push(
    await chart(
      {
        title: `Splices and rendezvous (${interval})`,
        yLabel: 'count',
        integer: true,
        series: [
          series('splices (shrink_discards)', (l) => l.counters.splices ?? Number.NaN),
          series('rendezvous (smp_call_function)', (l) => l.rendezvous),
        ],
      },
      'no splice and no rendezvous',
      true,
    ),
  );

  // Race coverage: each hazard's near misses per interval (src/check/coverage.ts);
  // they span four orders of magnitude (interrupt frees against splices in a window).
  const hazards = [...new Set(stats.flatMap((l) => l.coverage?.map((c) => c.hazard) ?? []))];
  out.push(
    await chart(
      {
        title: `Race coverage: near misses per hazard (${interval}; log scale: zeros are not drawn)`,
        yLabel: 'near misses',
        integer: true,
        yScale: 'log',
        series: hazards.map((h) =>
          series(h, (l) => l.coverage?.find((c) => c.hazard === h)?.nearMisses ?? Number.NaN),
        ),
      },
      hazards.length === 0
        ? 'this folder has no coverage (written before near misses were counted)'
        : 'no near miss in any interval',
    ),
  );

  out.push(
    await chart(
      {
        title: 'Host discards and discard faults (log scale: zeros are not drawn)',
        yLabel: 'events / s',
        unit: '/s',
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
  const lockSeries = (f: (k: StatsLine['locks'][number], l: StatsLine) => number) =>
    lockNames
      .filter((n) => stats.some((l) => l.locks.some((k) => k.name === n && f(k, l) > 0)))
      .map((n) =>
        series(n, (l) => {
          const k = l.locks.find((x) => x.name === n);
          return k ? f(k, l) : 0;
        }),
      );
  const noLocks = 'this machine kept no lock statistics (see --lockstat)';
  out.push(
    await chart(
      {
        title: `Lock contention per class (${interval})`,
        yLabel: 'contentions',
        integer: true,
        series: lockSeries((k) => k.contentions),
      },
      lockNames.length === 0 ? noLocks : 'no lock was contended',
    ),
  );
  out.push(
    await chart(
      {
        title: 'Lock wait time per class (all CPUs together)',
        yLabel: 'ms waited per second',
        unit: 'ms/s',
        series: config.lockstat
          ? lockSeries((k, l) => k.waitTimeUs / Math.max(l.intervalMs, 1e-3))
          : [],
      },
      !config.lockstat ? 'wait times are measured with --lockstat' : 'no CPU waited for a lock',
    ),
  );

  const perInterval = stats.some((l) => l.irqsOffIntervalMaxUs);
  out.push(
    await chart(
      perInterval
        ? {
            title: `Longest interrupts-off section in each interval, per CPU (${interval})`,
            yLabel: 'microseconds',
            unit: 'us',
            series: perCpu((l, c) => l.irqsOffIntervalMaxUs?.[c]),
          }
        : {
            title:
              'Longest interrupts-off section so far, per CPU (a folder from before per-interval maxima)',
            yLabel: 'microseconds',
            unit: 'us',
            series: perCpu((l, c) => l.irqsOffMaxUs[c]),
          },
      'no interval completed',
    ),
  );

  // Memory: the process's RSS beside what the threads' heaps hold together,
  // then each thread's own heap (lines from before per-thread figures have none).
  const mem = summary.memory;
  const threadNames = [
    ...new Set(stats.flatMap((l) => l.memory.threads?.map((t) => t.thread) ?? [])),
  ];
  const all = (
    l: StatsLine,
    f: (m: { heapUsed: number; heapTotal: number; external: number; malloced?: number }) => number,
  ) =>
    l.memory.threads
      ? (f(l.memory) + l.memory.threads.reduce((a, t) => a + (t.ageMs === null ? 0 : f(t)), 0)) / MB
      : Number.NaN;
  out.push(
    await chart(
      {
        title: `Memory: ${mem.verdict ?? mem.rss.why}`,
        yLabel: 'MB',
        unit: 'MB',
        series: [
          series('RSS (process)', (l) => l.memory.rss / MB),
          series('heap total (all threads)', (l) => all(l, (m) => m.heapTotal)),
          series('heap used (all threads)', (l) => all(l, (m) => m.heapUsed)),
          series('external + malloc (all threads)', (l) =>
            all(l, (m) => m.external + (m.malloced ?? 0)),
          ),
          ...(threadNames.length === 0
            ? [series('heap used (main thread)', (l) => l.memory.heapUsed / MB)]
            : []),
        ].filter((x) => x.points.some(([, y]) => Number.isFinite(y))),
      },
      'no interval completed',
    ),
  );
  if (threadNames.length > 0) {
    out.push(
      await chart(
        {
          title: "Heap used per thread (each thread's process.memoryUsage())",
          yLabel: 'MB',
          unit: 'MB',
          series: [
            series('main', (l) => l.memory.heapUsed / MB),
            ...threadNames.map((n) =>
              series(n, (l) => {
                const th = l.memory.threads?.find((t) => t.thread === n);
                return th && th.ageMs !== null ? th.heapUsed / MB : Number.NaN;
              }),
            ),
          ],
        },
        'no interval completed',
      ),
    );
  }

  const parks = summary.audits.records.filter((r) => !r.skipped);
  if (parks.length > 0) {
    out.push(
      await chart(
        {
          title: 'Periodic audits: time to stop every CPU at a quiescent point',
          yLabel: 'ms',
          unit: 'ms',
          series: [
            { name: 'stop_machine', points: parks.map((r) => [t0 + r.elapsedMs, r.parkMs]) },
          ],
        },
        'no periodic audit',
      ),
    );
  }
  return out;
}

/** The leak check's fit of every memory series: a row each, growth in orange. */
function memoryTable(series: Record<string, TrendJudgement>): string {
  const rows = Object.entries(series).map(([name, j]) => {
    const state = j.leak ? 'GROWS' : j.plateau ? 'plateau' : j.judged ? 'flat' : 'too short';
    const cls = j.leak ? ' class="warn"' : '';
    return `<tr${cls}><td>${escapeHtml(name)}</td><td>${fmt(j.slopeMBPerHour, 2)}</td><td>${fmt(j.r2, 3)}</td><td>${fmt(j.firstMB, 1)}</td><td>${fmt(j.lastMB, 1)}</td><td>${fmt(j.maxMB, 1)}</td><td title="${escapeHtml(j.why)}">${state}</td></tr>`;
  });
  const grows = Object.values(series).some((j) => j.leak);
  return `<details${grows ? ' open' : ''}><summary>the fit of every series (${rows.length})</summary><table class="num"><tr><th>series</th><th>MB/h</th><th>r^2</th><th>after warm-up MB</th><th>at the end MB</th><th>max MB</th><th>trend</th></tr>${rows.join('')}</table></details>`;
}

function table(rows: Array<[string, string]>): string {
  return `<table class="kv">${rows
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${v}</td></tr>`)
    .join('')}</table>`;
}

/** Config fields shown with their unit (the rest as they are). */
const CONFIG_UNITS: Record<string, (v: number) => string> = {
  durationMs: (v) => duration(v),
  stallTimeoutMs: (v) => duration(v),
  hostDiscardRate: (v) => `${v} / s`,
  faultDeliveryUs: (v) => `${v} us`,
  jitterUs: (v) => `${v} us`,
  stutterMs: (v) => `${v} ms`,
  longHoldUs: (v) => `${v} us`,
  parkHoldUs: (v) => `${v} us`,
  ipiDeliveryUs: (v) => `${v} us`,
};

/** `point = 20 us` (or `10..30 us` with a span), one per preemption point with a delay. */
export function delayLines(delaysUs: readonly number[], spansUs?: readonly number[]): string[] {
  const out: string[] = [];
  delaysUs.forEach((us, i) => {
    const span = spansUs?.[i] ?? 0;
    if (us === 0 && span === 0) return;
    const name = POINTS[i]?.[0] ?? `#${i}`;
    out.push(`${name} = ${span > 0 ? `${us}..${us + span}` : us} us`);
  });
  return out;
}

function configRows(c: SoakConfig): Array<[string, string]> {
  const skip = new Set(['schema', 'soak', 'git', 'host', 'argv', 'delaysUs', 'delaySpansUs']);
  const rows: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(c)) {
    if (skip.has(k)) continue;
    const unit = CONFIG_UNITS[k];
    const text =
      typeof v === 'number' && unit ? unit(v) : typeof v === 'object' ? JSON.stringify(v) : v;
    rows.push([k, escapeHtml(text)]);
  }
  const delays = delayLines(c.delaysUs, c.delaySpansUs);
  const quiet = POINTS.length - delays.length;
  rows.push([
    'delays (--delay)',
    delays.length === 0
      ? 'none at any of the preemption points'
      : `${delays.map((d) => `<code>${escapeHtml(d)}</code>`).join('<br>')}${quiet > 0 ? `<br>no delay at the other ${quiet} points` : ''}`,
  ]);
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

function violationsSection(vs: ViolationLine[], s: SoakSummary, t0: number): string {
  if (vs.length === 0 && s.violations.total === 0) return '<p>None.</p>';
  const parts: string[] = [
    `<p>${s.violations.total} found (${s.violations.oracle} by the oracle, ${s.violations.audit} by the periodic audit); ${vs.length} written to violations.jsonl${vs.length > MAX_VIOLATIONS_SHOWN ? `, the first ${MAX_VIOLATIONS_SHOWN} shown here` : ''}.</p>`,
  ];
  for (const v of vs.slice(0, MAX_VIOLATIONS_SHOWN)) {
    const head = `#${v.seq + 1} <b>${escapeHtml(v.kind)}</b> at ${escapeHtml(clockLabel(t0 + v.elapsedMs, 1000))}, after ${escapeHtml(duration(v.elapsedMs))}${v.pfn >= 0 ? ` on pfn ${v.pfn}` : ''}${v.cpu >= 0 ? `, found by cpu${v.cpu}` : ''} (seed ${v.seed})`;
    const gens =
      v.generationAtFault !== undefined
        ? `<p>generation ${v.generationAtFault} at the fault, ${v.generationNow} now${v.detail ? `, detail ${v.detail}` : ''}</p>`
        : '';
    const errors = v.errors?.length
      ? `<ul>${v.errors.map((e) => `<li>${escapeHtml(e)}</li>`).join('')}</ul>`
      : '';
    // The anchor is inside the story: a browser opens a closed <details> to show it.
    parts.push(
      `<details class="violation"${v.seq < OPEN_STORIES ? ' open' : ''}><summary>${head}</summary><span id="${violationId(v)}" class="anchor"></span><p>${escapeHtml(v.description)}</p>${gens}${errors}<p>Flight recorder of cpu ${escapeHtml(v.cpusInvolved.join(', '))}, merged by time:</p><pre>${escapeHtml(v.trace.join('\n'))}</pre></details>`,
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
  return `<h2 id="stall">Stall</h2><p>${escapeHtml(st.reason)}</p><pre>${escapeHtml(
    `smp_call_function: call_lock ${cd.callLockHeld ? `held, caller cpu${cd.caller}` : 'free'}, started ${cd.started}/${cd.targets}, finished ${cd.finished}/${cd.targets}, seq ${cd.seq}\n${cpus}`,
  )}</pre><p>The full report, with each CPU's last flight-recorder events, is in stall.json.</p>`;
}

const CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;padding:0 16px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.verdict{display:inline-block;color:#fff;font-weight:700;padding:4px 12px;border-radius:6px;font-size:18px}
.kv{border-collapse:collapse}.kv th{text-align:left;font-weight:600;padding:2px 16px 2px 0;vertical-align:top;white-space:nowrap}.kv td{padding:2px 0}
.num{border-collapse:collapse}.num td,.num th{padding:2px 10px;text-align:right;border-bottom:1px solid #eaeef2}.num th:first-child,.num td:first-child{text-align:left}
figure{margin:12px 0}pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px;max-height:32em}
.empty{color:#57606a;font-style:italic}.warn{color:#bc4c00;font-weight:600}
details.violation{margin:6px 0}details.violation summary{cursor:pointer}
.anchor{display:block;scroll-margin-top:3em}#stall{scroll-margin-top:1em}
.state{font-weight:600}
`;

/** The verdict badge's text and the sentence under the title, DIED and INTERRUPTED spelled out. */
export function verdictHeadline(input: SoakReportInput): {
  badge: string;
  state: string;
  line: string | null;
} {
  const { summary: s, config: c, liveness } = input;
  if (liveness?.state === 'DIED') {
    const beat = liveness.heartbeat;
    const at = beat ? `${clockLabel(Date.parse(beat), 1000)} (${beat})` : 'unknown';
    return {
      badge: 'DIED',
      state: 'DIED',
      line: `DIED: the soak stopped without a final word: ${liveness.why}. Last heartbeat at ${at}, after ${duration(s.durationMs)} of ${duration(c.durationMs)}; what it had found by then is below.`,
    };
  }
  if (liveness?.state === 'RUNNING') {
    return {
      badge: 'RUNNING',
      state: 'RUNNING',
      line: `Still running: a provisional report, last heartbeat ${liveness.heartbeat ?? 'unknown'}.`,
    };
  }
  if (s.verdict === 'INTERRUPTED') {
    return {
      badge: interruptedLine(s.durationMs, c.durationMs, s.violations.total),
      state: 'INTERRUPTED',
      line: s.signal ? `Stopped by ${s.signal}.` : null,
    };
  }
  return { badge: s.verdict, state: s.verdict, line: null };
}

export async function renderSoakReport(input: SoakReportInput): Promise<string> {
  const { config: c, summary: s, stats } = input;
  const head = verdictHeadline(input);
  const colour = VERDICT_COLOUR[head.state] ?? '#57606a';
  const t0 = originMs(input);
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
  const memCell = mem.series
    ? `${mem.leakSuspected ? `<span class="warn">${escapeHtml(mem.verdict)}</span>` : escapeHtml(mem.verdict)}${memoryTable(mem.series)}`
    : `${memLine('RSS', mem.rss)}<br>${memLine('heap', mem.heapUsed)}`;

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>hvaemu soak: ${escapeHtml(head.state)}, ${escapeHtml(duration(s.durationMs))}, seed ${c.seed}</title>
<style>${CSS}</style></head>
<body>
<h1>hvaemu soak <span class="verdict" style="background:${colour}">${escapeHtml(head.badge)}</span></h1>
${head.line ? `<p class="state">${escapeHtml(head.line)}</p>` : ''}
<p>${escapeHtml(
    `protocol ${c.protocol}${c.mutant !== 'none' ? ` + mutant ${c.mutant}` : ''}, ${c.cpus} CPUs, ${c.pages} pages, seed ${c.seed}; started ${s.startedAt}, ran ${duration(s.durationMs)}${s.endReason ? `, ended: ${s.endReason}` : ''}${s.exitCode !== null ? `, exit ${s.exitCode}` : ''}${s.pid !== undefined ? `; pid ${s.pid} on ${s.hostname ?? '?'}` : ''}`,
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
      : `<span class="warn">${s.violations.total}</span>, first at ${escapeHtml(clockLabel(t0 + (s.violations.firstMs ?? 0), 1000))}, after ${escapeHtml(duration(s.violations.firstMs ?? 0))}`,
  ],
  ['memory', memCell],
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
${stats.length > 0 ? `<p>Clock time on the x axes, the time since the CPUs started under each tick; hover a point for its value. A red rule marks each violation at the moment it was found (an orange one the stall); a click on it opens its story below.</p>` : ''}
${stats.length === 0 ? '<p class="empty">No interval completed: no time series.</p>' : drawn.join('\n')}
<h2>Audits</h2>
${auditSection(s)}
<h2>Violations</h2>
${violationsSection(input.violations, s, t0)}
${stallSection(s)}
<h2>Configuration</h2>
${table(configRows(c))}
<p>Files: ${Object.values(s.files)
    .map((f) => `<code>${escapeHtml(f)}</code>`)
    .join(', ')}.</p>
</body></html>
`;
}
