import { describe, expect, it } from 'vitest';
import {
  barChartSvg,
  type LineChart,
  lineChartSvg,
  svgToDataUri,
} from '../../src/report/charts.ts';

/** Line paths drawn by vega's line mark (one per series). */
const LINE_PATH = /<path\b[^>]*aria-roledescription="line mark"/g;
const POINT_PATH = /<path\b[^>]*aria-roledescription="point"/g;
const BAR_PATH = /<path\b[^>]*aria-roledescription="bar"/g;

const count = (svg: string, re: RegExp): number => svg.match(re)?.length ?? 0;

/** Minimal well-formedness check: a single <svg> root and balanced, properly nested tags. */
function expectWellFormedSvg(svg: string): void {
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([A-Za-z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) expect(stack.pop()).toBe(name);
    else stack.push(name!);
  }
  expect(stack).toEqual([]);
  // no raw '&' that is not an entity
  expect(svg).not.toMatch(/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/);
}

const twoSeries: LineChart = {
  title: 'Fault latency vs threads',
  xLabel: 'threads',
  yLabel: 'latency (µs)',
  series: [
    {
      name: 'hva on',
      points: [
        [1, 4],
        [2, 5],
        [4, 7],
        [8, 12],
      ],
    },
    {
      name: 'hva off <&>',
      points: [
        [1, 6],
        [2, 9],
        [4, 15],
      ],
    },
  ],
};

describe('lineChartSvg', () => {
  it('draws one line per series, with points, legend, axis titles and title', async () => {
    const svg = await lineChartSvg(twoSeries);
    expectWellFormedSvg(svg);
    expect(svg).toContain('Fault latency vs threads');
    expect(svg).toContain('>threads<');
    expect(svg).toContain('>latency (µs)<');
    expect(svg).toContain('>hva on<');
    expect(svg).toContain('>hva off &lt;&amp;&gt;<');
    expect(svg).toContain('aria-roledescription="legend"');
    expect(count(svg, LINE_PATH)).toBe(2);
    expect(count(svg, POINT_PATH)).toBe(7);
    expect(svg).not.toMatch(/\bid="/); // safe to inline several charts in one page
  });

  it('is deterministic', async () => {
    expect(await lineChartSvg(twoSeries)).toBe(await lineChartSvg(twoSeries));
  });

  it('honours size and log scales, dropping points a log axis cannot show', async () => {
    const svg = await lineChartSvg({
      ...twoSeries,
      xScale: 'log',
      yScale: 'log',
      width: 300,
      height: 200,
      series: [
        {
          name: 's',
          points: [
            [0, 1],
            [1, 10],
            [10, 100],
            [100, Number.NaN],
          ],
        },
      ],
    });
    expectWellFormedSvg(svg);
    expect(count(svg, LINE_PATH)).toBe(1);
    expect(count(svg, POINT_PATH)).toBe(2);
    expect(svg).toContain('for a log scale');
  });

  it('says "no data" for no series or only empty series', async () => {
    for (const series of [[], [{ name: 'empty', points: [] }]]) {
      const svg = await lineChartSvg({ ...twoSeries, series });
      expectWellFormedSvg(svg);
      expect(svg).toContain('>no data<');
      expect(svg).toContain('Fault latency vs threads');
      expect(count(svg, LINE_PATH)).toBe(0);
    }
  });

  it('rejects duplicate series names', async () => {
    const s = twoSeries.series[0]!;
    await expect(lineChartSvg({ ...twoSeries, series: [s, s] })).rejects.toThrow(/duplicate/);
  });
});

describe('barChartSvg', () => {
  it('draws one bar per value, in the given order', async () => {
    const svg = await barChartSvg({
      title: 'Discards per run',
      xLabel: 'run',
      yLabel: 'pages',
      bars: [
        { label: 'zeta', value: 3 },
        { label: 'alpha', value: 5 },
        { label: 'mid', value: -2 },
      ],
    });
    expectWellFormedSvg(svg);
    expect(svg).toContain('Discards per run');
    expect(count(svg, BAR_PATH)).toBe(3);
    const order = ['zeta', 'alpha', 'mid'].map((l) => svg.indexOf(`>${l}<`));
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(svg).not.toContain('aria-roledescription="legend"');
  });

  it('groups bars side by side with a legend', async () => {
    const svg = await barChartSvg({
      title: 'Grouped',
      xLabel: 'run',
      yLabel: 'pages',
      bars: [
        { label: 'a', value: 1, group: 'on' },
        { label: 'a', value: 2, group: 'off' },
        { label: 'b', value: 3, group: 'on' },
      ],
    });
    expectWellFormedSvg(svg);
    expect(count(svg, BAR_PATH)).toBe(3);
    expect(svg).toContain('aria-roledescription="legend"');
    expect(svg).toContain('>on<');
    expect(svg).toContain('>off<');
  });

  it('says "no data" without bars', async () => {
    const svg = await barChartSvg({ title: 'Nothing', xLabel: 'x', yLabel: 'y', bars: [] });
    expectWellFormedSvg(svg);
    expect(svg).toContain('>no data<');
  });
});

describe('svgToDataUri', () => {
  it('round-trips through base64', () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg"><text>µs &amp; co</text></svg>';
    const uri = svgToDataUri(svg);
    expect(uri.startsWith('data:image/svg+xml;base64,')).toBe(true);
    const b64 = uri.slice(uri.indexOf(',') + 1);
    expect(Buffer.from(b64, 'base64').toString('utf8')).toBe(svg);
  });
});
