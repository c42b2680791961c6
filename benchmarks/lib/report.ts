/** The bench report: its shape, the goals of its ratios (docs/json.md), and its markdown table. */
import type { LoadReport, MachineInfo } from './stats.ts';

export const GOALS = {
  hotPathJsOverNative: { op: '>=', value: 0.5 },
  rendezvousJsOverNative: { op: '<=', value: 1.5 },
  lockstatOverhead: { op: '<=', value: 0.1 },
  /** --lockstat=contention (perf lock contention's columns): issue 14's goal when full mode misses its own. */
  lockstatContentionOverhead: { op: '<=', value: 0.05 },
  /** the lock validator (issue 10): ops/s with it (the default) against --no-lockdep */
  lockdepOverhead: { op: '<=', value: 0.15 },
  scaling2over1: { op: '>=', value: 1.7 },
} as const;
export type RatioName = keyof typeof GOALS;

export type Row = { name: string; js: string; c: string; ratio: string; note?: string };

export type Report = {
  schema: 1;
  quick: boolean;
  startedAt: string;
  durationS: number;
  machine: MachineInfo;
  load: LoadReport | null;
  native: { ok: true; cc: string; flags: string[] } | { ok: false; reason: string };
  ratios: Record<RatioName, number | null>;
  goals: Record<RatioName, { goal: string; met: boolean | null }>;
  results: Record<string, unknown>;
  errors: Record<string, string>;
  rows: Row[];
};

export const fmt = {
  ns: (x: number) => `${x.toFixed(0)} ns`,
  us: (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} us`,
  rate: (x: number) =>
    x >= 1e6
      ? `${(x / 1e6).toFixed(2)} M/s`
      : x >= 1e3
        ? `${(x / 1e3).toFixed(1)} k/s`
        : `${x.toFixed(0)}/s`,
  ratio: (x: number | null) => (x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(2)),
};

export function markdown(r: Report): string {
  const m = r.machine;
  const lines = [
    `# hvaemu benchmarks${r.quick ? ' (quick)' : ''}`,
    '',
    `${r.startedAt}, ${r.durationS.toFixed(0)} s. ${m.cpuModel}, ${m.cores} cores, ${m.totalMemGiB} GiB; Node ${m.node} (V8 ${m.v8}); ${m.platform} ${m.kernel}; git ${m.git}.`,
    r.native.ok
      ? `Native reference: ${r.native.cc} ${r.native.flags.join(' ')}.`
      : `Native reference skipped: ${r.native.reason}.`,
    r.load
      ? `Load: load average ${r.load.loadAvgStart.join(' ')} at the start, ${r.load.loadAvgEnd.join(' ')} at the end; other processes used ${r.load.othersShare === null ? '?' : `${(r.load.othersShare * 100).toFixed(0)}%`} of the cores while the bench ran (the bench itself ${r.load.benchShare === null ? '?' : `${(r.load.benchShare * 100).toFixed(0)}%`}).`
      : '',
    '',
    '## Ratios',
    '',
    '| ratio | value | goal | met |',
    '|---|---|---|---|',
    ...(Object.keys(GOALS) as RatioName[]).map(
      (k) =>
        `| ${k} | ${fmt.ratio(r.ratios[k])} | ${r.goals[k].goal} | ${r.goals[k].met === null ? 'n/a' : r.goals[k].met ? 'yes' : 'no'} |`,
    ),
    '',
    '## Figures (medians)',
    '',
    'JS/C: JavaScript speed over native speed (for latencies: JS latency over C latency).',
    '',
    '| benchmark | JS | native C | JS/C | note |',
    '|---|---|---|---|---|',
    ...r.rows.map((x) => `| ${x.name} | ${x.js} | ${x.c} | ${x.ratio} | ${x.note ?? ''} |`),
    '',
  ];
  const errs = Object.entries(r.errors);
  if (errs.length) lines.push('## Errors', '', ...errs.map(([k, v]) => `- ${k}: ${v}`), '');
  return lines.join('\n');
}
