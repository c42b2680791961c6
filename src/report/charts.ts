/**
 * Chart rendering for reports: Vega-Lite specs compiled to Vega and rendered headlessly to SVG
 * strings (no DOM, no canvas, no network). Output is deterministic for a given input.
 *
 * Embedding in a self-contained HTML page: inline the SVG text directly (preferred: smaller,
 * text stays searchable; the charts use no `id` attributes, so several can share one page), or
 * use `<img src="${svgToDataUri(svg)}">` to isolate each chart in its own document.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export type Series = { name: string; points: Array<[number, number]> };

export type LineChart = {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  xScale?: 'linear' | 'log';
  yScale?: 'linear' | 'log';
  width?: number;
  height?: number;
};

export type Bar = { label: string; value: number; group?: string };

export type BarChart = {
  title: string;
  xLabel: string;
  yLabel: string;
  bars: Bar[];
  /** Plot height in px; the width follows from the number of bars. */
  height?: number;
};

const DEFAULT_WIDTH = 480;
const DEFAULT_HEIGHT = 300;
const NO_GROUP = '(none)';

const CONFIG = {
  font: 'sans-serif',
  title: { fontSize: 14 },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, labelLimit: 240 },
} as const;

const refuse = (uri: string): Promise<never> =>
  Promise.reject(new Error(`charts: refusing to load "${uri}": rendering is offline`));

/**
 * A Vega loader that never touches the file system or the network. Links
 * (`href`) may only point within the page (`#anchor`).
 */
const offlineLoader: vega.Loader = {
  load: refuse,
  sanitize: (uri: string) => (/^#[\w-]+$/.test(uri) ? Promise.resolve({ href: uri }) : refuse(uri)),
  http: refuse,
  file: refuse,
} as vega.Loader;

async function render(spec: TopLevelSpec): Promise<string> {
  const runtime = vega.parse(compile(spec).spec);
  const view = new vega.View(runtime, { renderer: 'none', loader: offlineLoader });
  try {
    // Clip/gradient ids are process-global counters in vega; reset them so equal input gives
    // byte-equal output whatever was rendered before (these specs use neither, but be safe).
    vega.resetSVGDefIds();
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function noDataSvg(title: string, width: number, height: number): Promise<string> {
  return render({
    title,
    width,
    height,
    config: CONFIG,
    data: { values: [{}] },
    mark: { type: 'text', fontSize: 16, color: '#666' },
    encoding: {
      x: { value: width / 2 },
      y: { value: height / 2 },
      text: { value: 'no data' },
    },
  });
}

/** Keeps a point only if it can be drawn on the given scales (finite, and > 0 on a log axis). */
function drawable(v: number, scale: 'linear' | 'log'): boolean {
  return Number.isFinite(v) && (scale === 'linear' || v > 0);
}

/**
 * One line per series (points marked, connected in x order), legend in the given series order.
 * Points that cannot be drawn (non-finite, or <= 0 on a log axis) are dropped; series left with
 * no points are left out of the legend. Duplicate series names are rejected.
 */
export async function lineChartSvg(chart: LineChart): Promise<string> {
  const xScale = chart.xScale ?? 'linear';
  const yScale = chart.yScale ?? 'linear';
  const width = chart.width ?? DEFAULT_WIDTH;
  const height = chart.height ?? DEFAULT_HEIGHT;

  const seen = new Set<string>();
  for (const s of chart.series) {
    if (seen.has(s.name)) throw new RangeError(`lineChartSvg: duplicate series name "${s.name}"`);
    seen.add(s.name);
  }

  const values: Array<{ series: string; x: number; y: number }> = [];
  const drawn: string[] = [];
  for (const s of chart.series) {
    const before = values.length;
    for (const [x, y] of s.points) {
      if (drawable(x, xScale) && drawable(y, yScale)) values.push({ series: s.name, x, y });
    }
    if (values.length > before) drawn.push(s.name);
  }
  if (values.length === 0) return noDataSvg(chart.title, width, height);

  return render({
    title: chart.title,
    width,
    height,
    config: CONFIG,
    data: { values },
    mark: { type: 'line', point: true, strokeWidth: 2 },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: chart.xLabel,
        scale: xScale === 'log' ? { type: 'log' } : { zero: false },
      },
      y: {
        field: 'y',
        type: 'quantitative',
        title: chart.yLabel,
        scale: yScale === 'log' ? { type: 'log' } : {},
      },
      color: { field: 'series', type: 'nominal', title: null, sort: drawn },
    },
  });
}

/** A moment marked on a time chart: a vertical rule and its label, both links. */
export type TimeMarker = {
  /** Wall clock, epoch ms. */
  atMs: number;
  /** Short label at the top of the rule (`#3`); empty: the rule only. */
  label: string;
  /** Hover text. */
  title: string;
  /** Where a click goes (`#violation-3`). */
  href: string;
  colour?: string;
};

export type TimeChart = {
  title: string;
  yLabel: string;
  /** Points are [wall clock in epoch ms, value]. */
  series: Series[];
  yScale?: 'linear' | 'log';
  /** The quantity is a whole number: integer ticks only. */
  integer?: boolean;
  /** Unit for the hover text of a point (`ops/s`, `us`). */
  unit?: string;
  /** Epoch ms of elapsed time 0 (the CPUs' release): each tick's second line, and the hover text. */
  originMs: number;
  /** The span drawn, epoch ms (default: the points and markers). */
  domain?: [number, number];
  markers?: TimeMarker[];
  width?: number;
  height?: number;
};

/** Tick spacings a time axis may use, ms: 100 ms to a day. */
const TIME_STEPS = [
  100, 200, 500, 1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3,
  7200e3, 10800e3, 21600e3, 43200e3, 86400e3,
];
const MAX_TIME_TICKS = 10;

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `14:05`, `14:05:30` or `14:05:30.2` in the local time zone, as fine as `stepMs` needs. */
export function clockLabel(ms: number, stepMs = 60_000): string {
  const d = new Date(ms);
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  if (stepMs >= 60_000 && stepMs % 60_000 === 0) return hm;
  const sec = `${hm}:${pad2(d.getSeconds())}`;
  return stepMs >= 1000 ? sec : `${sec}.${Math.floor(d.getMilliseconds() / 100)}`;
}

/**
 * Time since the start, as precise as a reader needs at that scale: `+0s`,
 * `+1.4s`, `+45s`, `+12m`, `+12m31s`, `+2h05` (ticks sit on round clock
 * times, so the elapsed time under them is rarely round).
 */
export function elapsedLabel(ms: number): string {
  const sign = ms < 0 ? '-' : '+';
  const a = Math.abs(ms);
  const tenths = Math.round(a / 100);
  if (tenths < 600) return `${sign}${tenths % 10 === 0 ? tenths / 10 : (tenths / 10).toFixed(1)}s`;
  const s = Math.round(a / 1000);
  if (s < 3600) {
    const m = Math.floor(s / 60);
    return s % 60 === 0 ? `${sign}${m}m` : `${sign}${m}m${pad2(s % 60)}s`;
  }
  const min = Math.round(a / 60_000);
  return `${sign}${Math.floor(min / 60)}h${pad2(min % 60)}`;
}

/** The local time zone, for an axis title: `Europe/Berlin, UTC+01:00` or `UTC`. */
export function zoneLabel(atMs: number): string {
  const off = -new Date(atMs).getTimezoneOffset();
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'local time';
  if (off === 0 && /^(UTC|Etc\/UTC|GMT|Etc\/GMT)$/.test(zone)) return 'UTC';
  const sign = off < 0 ? '-' : '+';
  return `${zone}, UTC${sign}${pad2(Math.floor(Math.abs(off) / 60))}:${pad2(Math.abs(off) % 60)}`;
}

/**
 * Ticks for a time axis from `lo` to `hi` (epoch ms): at most 10, on round
 * clock times (a spacing from TIME_STEPS, aligned in the local zone).
 */
export function clockTicks(lo: number, hi: number): { stepMs: number; ticks: number[] } {
  const span = Math.max(hi - lo, 0);
  const stepMs =
    TIME_STEPS.find((s) => Math.floor(span / s) + 1 <= MAX_TIME_TICKS) ??
    TIME_STEPS[TIME_STEPS.length - 1]!;
  const tz = -new Date(lo).getTimezoneOffset() * 60_000;
  const ticks: number[] = [];
  for (let t = Math.ceil((lo + tz) / stepMs) * stepMs - tz; t <= hi; t += stepMs) ticks.push(t);
  if (ticks.length === 0) ticks.push(lo);
  return { stepMs, ticks };
}

/** Axis labels: numbers as people write them (`0.5`, `12`, `1.5k`, `2M`), never `1.078100`. */
const NUMBER_LABEL =
  "abs(datum.value) >= 1000 ? format(datum.value, '.3~s') : format(datum.value, '.3~r')";

function hoverNumber(y: number): string {
  const a = Math.abs(y);
  if (a >= 1e6) return `${(y / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(y / 1e3).toFixed(1)}k`;
  if (Number.isInteger(y)) return String(y);
  return a >= 100 ? y.toFixed(0) : a >= 1 ? y.toFixed(2) : String(Number(y.toPrecision(2)));
}

/**
 * Hover text in a static SVG: each point, line and marker carries its
 * description as aria-label (vega); a <title> child makes browsers show it.
 */
export function addHoverTitles(svg: string): string {
  return svg
    .replace(
      /<(path|line)( [^>]*?aria-label="([^"]*)"[^>]*?)\/>/g,
      (_, tag: string, attrs: string, label: string) =>
        `<${tag}${attrs}><title>${label}</title></${tag}>`,
    )
    .replace(
      /<text( [^>]*?aria-label="([^"]*)"[^>]*)>/g,
      (_, attrs: string, label: string) => `<text${attrs}><title>${label}</title>`,
    );
}

/**
 * A chart over wall-clock time: x ticks in clock time (hh:mm, or finer for a
 * short run) with the elapsed time below each, one line per series, and the
 * markers as red vertical rules that link to their story. Hovering a point
 * shows its clock time, elapsed time, series and value.
 */
export async function timeChartSvg(chart: TimeChart): Promise<string> {
  const yScale = chart.yScale ?? 'linear';
  const width = chart.width ?? DEFAULT_WIDTH;
  const height = chart.height ?? DEFAULT_HEIGHT;
  const seen = new Set<string>();
  for (const s of chart.series) {
    if (seen.has(s.name)) throw new RangeError(`timeChartSvg: duplicate series name "${s.name}"`);
    seen.add(s.name);
  }
  const xs: number[] = [];
  const values: Array<{ series: string; x: number; y: number; d: string }> = [];
  const drawn: string[] = [];
  const pending: Array<{ series: string; x: number; y: number }> = [];
  for (const s of chart.series) {
    const before = pending.length;
    for (const [x, y] of s.points) {
      if (drawable(x, 'linear') && drawable(y, yScale)) pending.push({ series: s.name, x, y });
    }
    if (pending.length > before) drawn.push(s.name);
  }
  if (pending.length === 0) return noDataSvg(chart.title, width, height);
  const markers = (chart.markers ?? []).filter((m) => Number.isFinite(m.atMs));
  for (const p of pending) xs.push(p.x);
  for (const m of markers) xs.push(m.atMs);
  let [lo, hi] = chart.domain ?? [Math.min(...xs), Math.max(...xs)];
  if (hi - lo < 200) {
    // one point: a short span around it, so that its tick is a time, not a fraction
    lo -= 500;
    hi += 500;
  }
  const { stepMs, ticks } = clockTicks(lo, hi);
  const hoverStep = Math.min(stepMs, 1000);
  for (const p of pending) {
    values.push({
      ...p,
      d: `${clockLabel(p.x, hoverStep)} (${elapsedLabel(p.x - chart.originMs)}) ${p.series}: ${hoverNumber(p.y)}${chart.unit ? ` ${chart.unit}` : ''}`,
    });
  }
  const labelExpr = ticks
    .map(
      (t) =>
        `datum.value == ${t} ? ['${clockLabel(t, stepMs)}', '${elapsedLabel(t - chart.originMs)}'] : `,
    )
    .join('')
    .concat("''");
  const x = {
    field: 'x',
    type: 'quantitative' as const,
    title: `clock time (${zoneLabel(lo)}); below: time since the CPUs started`,
    scale: { domain: [lo, hi], nice: false, zero: false },
    axis: { values: ticks, labelExpr, labelOverlap: false, grid: true },
  };
  const y = {
    field: 'y',
    type: 'quantitative' as const,
    title: chart.yLabel,
    scale: yScale === 'log' ? { type: 'log' as const } : { zero: true },
    axis: { labelExpr: NUMBER_LABEL, ...(chart.integer ? { tickMinStep: 1 } : {}) },
  };
  // More series than the default scheme has colours (a coverage chart's hazards): twenty.
  const colour = {
    field: 'series',
    type: 'nominal' as const,
    title: null,
    sort: drawn,
    ...(drawn.length > 10 ? { scale: { scheme: 'tableau20' } } : {}),
  };
  const layer: TopLevelSpec[] = [
    {
      data: { values },
      mark: { type: 'line', strokeWidth: 2 },
      encoding: { x, y, color: colour, description: { field: 'series' } },
    } as unknown as TopLevelSpec,
    {
      data: { values },
      // a series of one or two points has no line to show it: bigger points
      mark: { type: 'point', filled: true, size: pending.length <= 2 * drawn.length ? 70 : 18 },
      encoding: { x, y, color: colour, description: { field: 'd' } },
    } as unknown as TopLevelSpec,
  ];
  // Markers first: the data's lines are drawn over their rules.
  if (markers.length > 0) {
    const ms = markers.map((m) => ({
      x: m.atMs,
      label: m.label,
      d: `${clockLabel(m.atMs, hoverStep)} (${elapsedLabel(m.atMs - chart.originMs)}) ${m.title}`,
      href: m.href,
      c: m.colour ?? '#cf222e',
    }));
    const mx = { field: 'x', type: 'quantitative' as const };
    layer.unshift(
      {
        data: { values: ms },
        mark: { type: 'rule', strokeWidth: 2, opacity: 0.8 },
        encoding: {
          x: mx,
          color: { field: 'c', type: 'nominal', scale: null },
          href: { field: 'href' },
          description: { field: 'd' },
        },
      } as unknown as TopLevelSpec,
      {
        data: { values: ms.filter((m) => m.label !== '') },
        mark: {
          type: 'text',
          align: 'left',
          baseline: 'top',
          dx: 3,
          dy: 2,
          fontSize: 11,
          fontWeight: 'bold',
        },
        encoding: {
          x: mx,
          y: { value: 0 },
          text: { field: 'label' },
          color: { field: 'c', type: 'nominal', scale: null },
          href: { field: 'href' },
          description: { field: 'd' },
        },
      } as unknown as TopLevelSpec,
    );
  }
  const svg = await render({
    title: chart.title,
    width,
    height,
    config: CONFIG,
    layer,
  } as unknown as TopLevelSpec);
  return addHoverTitles(svg);
}

/**
 * Vertical bars in the given order. With `group` set on any bar, bars sharing a label are drawn
 * side by side, coloured by group (bars without a group fall in "(none)"). Non-finite values are
 * dropped.
 */
export async function barChartSvg(chart: BarChart): Promise<string> {
  const height = chart.height ?? DEFAULT_HEIGHT;
  const bars = chart.bars.filter((b) => Number.isFinite(b.value));
  if (bars.length === 0) return noDataSvg(chart.title, DEFAULT_WIDTH, height);

  const grouped = bars.some((b) => b.group !== undefined);
  const values = bars.map((b) => ({
    label: b.label,
    value: b.value,
    group: b.group ?? NO_GROUP,
  }));
  const labels = [...new Set(values.map((v) => v.label))];
  const groups = [...new Set(values.map((v) => v.group))];
  const longLabels = labels.some((l) => l.length > 6);

  return render({
    title: chart.title,
    height,
    config: CONFIG,
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: {
        field: 'label',
        type: 'nominal',
        title: chart.xLabel,
        sort: labels,
        axis: { labelAngle: longLabels ? -40 : 0 },
      },
      y: { field: 'value', type: 'quantitative', title: chart.yLabel },
      ...(grouped
        ? {
            xOffset: { field: 'group', type: 'nominal', sort: groups },
            color: { field: 'group', type: 'nominal', title: null, sort: groups },
          }
        : {}),
    },
  });
}

/** A `data:` URI for an SVG string, usable as `<img src>` in a self-contained HTML file. */
export function svgToDataUri(svg: string): string {
  return `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
}
