// Checks in headless Chromium that a chart (an SVG file, or a self-contained HTML page with inline
// <svg> / SVG <img>) is really drawn: vega mark paths with a non-empty box, and coloured pixels.
// Run: node --import tsx scripts/check-chart-chromium.mjs [file.svg|file.html] (none: sample charts)
// With --soak (a soak's report.html): also that every time chart has a clock-time axis (hh:mm,
// the elapsed time under it), that a violation is marked by a drawn rule linking to a story that
// exists on the page, and that the per-interval interrupts-off chart is drawn. With --coverage (a
// soak's report.html): also that the race-coverage chart (near misses per hazard) is drawn.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const TIMEOUT_MS = 60_000;
const RESULT_ID = 'chart-check-result';

// Runs in the page after load: counts vega data marks (paths with role=graphics-symbol: lines,
// points, bars) whose box is non-empty, and rasterizes every chart onto a canvas to count
// coloured pixels (axes, grid and text are grey, data marks are coloured).
const PAGE_SCRIPT = `
(() => {
  const isMark = (el) => el.getAttribute('role') === 'graphics-symbol';
  const colouredPixels = async (src, w, h) => {
    const img = new Image();
    img.src = src;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(1, Math.round(w));
    canvas.height = Math.max(1, Math.round(h));
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 4) {
      if (Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) > 40) n++;
    }
    return n;
  };
  const soakChecks = () => {
    const clockRe = /^\\d\\d:\\d\\d(:\\d\\d(\\.\\d)?)?$/;
    const s = { timeCharts: 0, clockAxes: 0, violationLinks: 0, brokenLinks: [], irqsOffMarks: -1, coverageMarks: -1 };
    const drawnMarks = (svg) => {
      let n = 0;
      for (const p of svg.querySelectorAll('path')) {
        if (p.getAttribute('role') !== 'graphics-symbol') continue;
        const b = p.getBoundingClientRect();
        if (b.width > 0 || b.height > 0) n++;
      }
      return n;
    };
    for (const svg of document.querySelectorAll('figure > svg')) {
      s.timeCharts++;
      const labels = [...svg.querySelectorAll('.role-axis-label text')].filter((t) => {
        const spans = t.querySelectorAll('tspan');
        return spans.length === 2 && clockRe.test(spans[0].textContent) && /^[+-]/.test(spans[1].textContent);
      });
      if (labels.length > 0) s.clockAxes++;
      for (const a of svg.querySelectorAll('a')) {
        const href = a.href && a.href.baseVal !== undefined ? a.href.baseVal : a.getAttribute('href') || '';
        if (!href.startsWith('#violation-')) continue;
        const mark = a.querySelector('line, text, path');
        const b = mark ? mark.getBoundingClientRect() : { width: 0, height: 0 };
        if (b.width === 0 && b.height === 0) continue;
        if (document.getElementById(href.slice(1))) s.violationLinks++;
        else s.brokenLinks.push(href);
      }
      const title = [...svg.querySelectorAll('.role-title-text text, .role-title text')].map((t) => t.textContent).join(' ');
      if (/interrupts-off section in each interval/.test(title)) s.irqsOffMarks = drawnMarks(svg);
      if (/^Race coverage: near misses per hazard/.test(title)) s.coverageMarks = drawnMarks(svg);
    }
    return s;
  };
  const run = async () => {
    const r = { charts: 0, marks: 0, emptyMarks: 0, pixels: 0, chartsWithoutPixels: 0, errors: [] };
    const toSvgUri = (svg) =>
      'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(new XMLSerializer().serializeToString(svg));
    for (const svg of document.querySelectorAll('svg')) {
      if (svg.parentElement && svg.parentElement.closest('svg')) continue;
      const box = svg.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) continue;
      r.charts++;
      for (const p of svg.querySelectorAll('path')) {
        if (!isMark(p)) continue;
        const b = p.getBoundingClientRect();
        if (b.width > 0 || b.height > 0) r.marks++;
        else r.emptyMarks++;
      }
      const n = await colouredPixels(toSvgUri(svg), box.width, box.height);
      r.pixels += n;
      if (n === 0) r.chartsWithoutPixels++;
    }
    for (const img of document.querySelectorAll('img')) {
      if (!/^data:image\\/svg\\+xml|\\.svg$/i.test(img.getAttribute('src') || '')) continue;
      try {
        await img.decode();
      } catch (e) {
        r.errors.push('img did not decode: ' + String(e));
        continue;
      }
      const box = img.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) continue;
      r.charts++;
      if (img.src.startsWith('data:')) {
        const text = await (await fetch(img.src)).text();
        const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
        for (const p of doc.querySelectorAll('path')) {
          if (!isMark(p)) continue;
          if ((p.getAttribute('d') || '').length > 0) r.marks++;
          else r.emptyMarks++;
        }
      }
      const n = await colouredPixels(img.src, box.width, box.height);
      r.pixels += n;
      if (n === 0) r.chartsWithoutPixels++;
    }
    r.soak = soakChecks();
    return r;
  };
  window.addEventListener('load', () => {
    const out = document.createElement('pre');
    out.id = '${RESULT_ID}';
    out.hidden = true;
    run()
      .then((r) => { out.textContent = JSON.stringify(r); })
      .catch((e) => { out.textContent = JSON.stringify({ errors: ['page script failed: ' + String(e)] }); })
      .finally(() => document.body.appendChild(out));
  });
})();
`;

function wrapSvg(svg) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>chart</title></head><body style="margin:0;background:#fff">${svg}</body></html>`;
}

function injectScript(html) {
  const tag = `<script>${PAGE_SCRIPT}</script>`;
  const at = html.search(/<\/body\s*>/i);
  return at >= 0 ? html.slice(0, at) + tag + html.slice(at) : html + tag;
}

async function sampleHtml() {
  const charts = await import(new URL('../src/report/charts.ts', import.meta.url).href);
  const line = await charts.lineChartSvg({
    title: 'Sample: fault latency vs threads',
    xLabel: 'threads',
    yLabel: 'latency (µs)',
    xScale: 'log',
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
        name: 'hva off',
        points: [
          [1, 6],
          [2, 9],
          [4, 15],
          [8, 28],
        ],
      },
    ],
  });
  const bars = await charts.barChartSvg({
    title: 'Sample: discards per run',
    xLabel: 'run',
    yLabel: 'pages',
    bars: [
      { label: 'a', value: 120, group: 'hva on' },
      { label: 'a', value: 80, group: 'hva off' },
      { label: 'b', value: 95, group: 'hva on' },
      { label: 'b', value: 60, group: 'hva off' },
    ],
  });
  return `<!doctype html><html><head><meta charset="utf-8"><title>sample</title></head><body style="margin:0;background:#fff">${line}<img alt="bars" src="${charts.svgToDataUri(bars)}"></body></html>`;
}

/** Runs chromium in its own process group; kills the whole group on timeout and after exit. */
function runChromium(args) {
  return new Promise((resolvePromise) => {
    const child = spawn(CHROMIUM, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const killGroup = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // group already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolvePromise({ code: -1, stdout, stderr: `${stderr}\n${err.message}`, timedOut });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      killGroup(); // leftover helpers (zygote, gpu, renderer) if any
      resolvePromise({ code, stdout, stderr, timedOut });
    });
  });
}

function fail(message, stderr) {
  console.log(`chromium: FAILED: ${message}`);
  if (stderr) {
    const tail = stderr.trim().split('\n').slice(-5).join('\n');
    if (tail) console.error(tail);
  }
  process.exitCode = 1;
}

/** One line on stdout; exit 0 when drawn or when Chromium is missing, 1 otherwise (60 s cap). */
async function main() {
  if (!existsSync(CHROMIUM)) {
    console.log('chromium: not installed, skipped');
    return;
  }
  const work = await mkdtemp(join(tmpdir(), 'chart-check-'));
  try {
    const args = process.argv.slice(2);
    const soak = args.includes('--soak');
    const coverage = args.includes('--coverage');
    const input = args.find((a) => !a.startsWith('--'));
    let html;
    if (input === undefined) {
      html = await sampleHtml();
      await writeFile(join(work, 'sample.html'), html);
    } else {
      const text = await readFile(resolve(input), 'utf8');
      html = /\.svg$/i.test(input) ? wrapSvg(text) : text;
    }
    const page = join(work, `check-${basename(input ?? 'sample')}.html`);
    await writeFile(page, injectScript(html));

    const profile = join(work, 'profile');
    const { code, stdout, stderr, timedOut } = await runChromium([
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      '--window-size=1280,1024',
      '--virtual-time-budget=10000',
      '--dump-dom',
      pathToFileURL(page).href,
    ]);
    if (timedOut) return fail(`chromium did not finish within ${TIMEOUT_MS / 1000} s (killed)`);
    if (code !== 0) return fail(`chromium exited with code ${code}`, stderr);

    const m = stdout.match(new RegExp(`<pre id="${RESULT_ID}"[^>]*>([^<]*)</pre>`));
    if (!m) return fail('the page script left no result in the DOM', stderr);
    const r = JSON.parse(m[1].replaceAll('&amp;', '&'));
    if (r.errors?.length) return fail(r.errors.join('; '));
    if (!r.charts) return fail('no chart (<svg> or SVG <img>) with a non-empty box on the page');
    if (!r.marks) return fail(`${r.charts} chart(s) but no drawn marks (${r.emptyMarks} empty)`);
    if (r.chartsWithoutPixels) {
      return fail(
        `${r.chartsWithoutPixels} of ${r.charts} chart(s) rasterized with no coloured pixels`,
      );
    }
    const s = r.soak;
    if (coverage && s.coverageMarks < 0) return fail('no race-coverage chart');
    if (coverage && s.coverageMarks === 0)
      return fail('the race-coverage chart has no drawn marks');
    const covered = coverage ? `; race coverage per hazard drawn (${s.coverageMarks} marks)` : '';
    if (!soak) {
      console.log(`chromium: chart drawn (${r.marks} marks)${covered}`);
      return;
    }
    if (s.clockAxes === 0 || s.clockAxes < s.timeCharts) {
      return fail(
        `${s.timeCharts - s.clockAxes} of ${s.timeCharts} time chart(s) without a clock-time axis`,
      );
    }
    if (s.brokenLinks.length)
      return fail(`violation links to no story: ${s.brokenLinks.join(' ')}`);
    if (s.violationLinks === 0) return fail('no violation marked on any chart');
    if (s.irqsOffMarks < 0) return fail('no per-interval interrupts-off chart');
    if (s.irqsOffMarks === 0)
      return fail('the per-interval interrupts-off chart has no drawn marks');
    console.log(
      `chromium: chart drawn (${r.marks} marks); soak report: ${s.clockAxes} clock-time axes, ${s.violationLinks} violation marks linked to their story, interrupts-off per interval drawn (${s.irqsOffMarks} marks)${covered}`,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => fail(err instanceof Error ? err.message : String(err)));
