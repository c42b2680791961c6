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

/** A Vega loader that never touches the file system or the network. */
const offlineLoader: vega.Loader = { load: refuse, sanitize: refuse, http: refuse, file: refuse };

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
