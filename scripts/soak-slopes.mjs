#!/usr/bin/env node
// The leak check of a soak folder, one line per memory series: the fitted
// slope (MB/h) and r^2 after the warm-up, first/last/max MB, and whether it
// grows, levelled off (plateau) or is flat. Exit 1 when a series grows
// steadily (summary.json memory.leakSuspected), 0 otherwise.
//
//   node scripts/soak-slopes.mjs DIR
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node scripts/soak-slopes.mjs DIR\n');
  process.exit(2);
}
const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
const m = s.memory;
// Folders from before per-thread figures have only rss and heapUsed.
const series = m.series ?? { rss: m.rss, 'main.heapUsed': m.heapUsed };
const num = (x, d) => (x === null || x === undefined ? '-' : x.toFixed(d));
const rows = Object.entries(series).map(([name, j]) => [
  name,
  num(j.slopeMBPerHour, 2),
  num(j.r2, 3),
  num(j.firstMB, 1),
  num(j.lastMB, 1),
  num(j.maxMB, 1),
  j.leak
    ? 'GROWS'
    : j.plateau
      ? `plateau since ${Math.round(j.plateau.sinceMs / 60000)} min`
      : j.judged
        ? 'flat'
        : 'too short',
]);
const head = ['series', 'MB/h', 'r^2', 'first MB', 'last MB', 'max MB', 'trend'];
const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const fmt = (r) =>
  r.map((c, i) => (i === 0 || i === 6 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
const j = m.rss;
console.log(
  `verdict ${s.verdict}, ${s.statsLines} stats lines over ${Math.round(s.durationMs / 60000)} min, ${s.audits.periodic} periodic audits (${s.audits.failed} failed, ${s.audits.skipped} skipped), ${s.violations.total} violations`,
);
console.log(
  `fitted after a ${Math.round(j.warmupMs / 1000)} s warm-up over ${Math.round(j.windowMs / 1000)} s:`,
);
console.log(fmt(head));
for (const r of rows) console.log(fmt(r));
console.log(`memory: ${m.verdict ?? j.why}`);
console.log(`leak suspected: ${m.leakSuspected}; results in ${dir}`);
process.exit(m.leakSuspected ? 1 : 0);
