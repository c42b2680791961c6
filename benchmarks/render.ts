/**
 * Print the markdown table of a bench JSON report:
 * `node --import tsx benchmarks/render.ts benchmarks/results/latest.json`.
 */
import { readFileSync } from 'node:fs';
import { markdown, type Report } from './lib/report.ts';

const file = process.argv[2];
if (!file) {
  console.error('usage: render REPORT.json');
  process.exit(2);
}
process.stdout.write(markdown(JSON.parse(readFileSync(file, 'utf8')) as Report));
