/**
 * `hvaemu soak [run flags] --duration 8h --stat-interval 60s --out DIR`: the
 * overnight run (src/soak/soak.ts does the work). Flags are checked and the
 * folder prepared before any thread starts; a live status line on a terminal,
 * plain interval lines otherwise; the verdict's exit code at the end.
 */
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { SchedProgress } from '../soak/controlled.ts';
import { SOAK_SEMI_SPACE_MB } from '../soak/memstat.ts';
import type { SoakStatus } from '../soak/soak.ts';
import type { StatsLine } from '../soak/stats.ts';
import { si } from './format.ts';
import { addMachineOptions, configFromFlags, type MachineFlags } from './options.ts';
import { parseDuration, parseInteger, UsageError } from './parse.ts';
import { interruptedLine } from './report.ts';

type SoakFlags = MachineFlags & {
  out: string;
  statInterval: string;
  auditEvery: string;
  auditInterval: string;
  force?: boolean;
  quiet?: boolean;
  renderOnly?: boolean;
  semiSpace: string;
};

/** Files of an earlier soak that --force allows to overwrite. */
const SOAK_FILES = ['stats.jsonl', 'violations.jsonl', 'summary.json', 'config.json'];
/** ... and removes first, with these, so that nothing of the earlier soak is read as this one's. */
const SOAK_OUTPUTS = [...SOAK_FILES, 'stall.json', 'report.html'];
const MIN_STAT_INTERVAL_MS = 100;
/** V8's largest semi-space on 64-bit hosts. */
const MAX_SEMI_SPACE_MB = 64;

/** `1h02m03s`, `4m05s`, `12.3s` */
export function hms(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m${ss}s` : `${m}m${ss}s`;
}

const mb = (b: number) => `${Math.round(b / (1024 * 1024))} MB`;

export function statusLine(s: SoakStatus): string {
  return `[${hms(s.elapsedMs)} / ${hms(s.durationMs)}, ${hms(Math.max(0, s.durationMs - s.elapsedMs))} left] ${si(s.opsPerSec)} ops/s  violations ${s.violations}  stalls ${s.stalls}  audits ${s.audits}${s.auditFailures ? ` (${s.auditFailures} FAILED)` : ''}  RSS ${mb(s.rss)}`;
}

/** `  rarest splice-in-window 2`: the interval's thinnest hazard (none in older lines). */
function rarest(l: StatsLine): string {
  const c = l.coverage;
  if (!c || c.length === 0) return '';
  const min = c.reduce((a, b) => (b.nearMisses < a.nearMisses ? b : a));
  return `  rarest ${min.hazard} ${si(min.nearMisses)}`;
}

export function intervalLine(l: StatsLine & { sched?: SchedProgress }): string {
  const sc = l.sched
    ? `${l.sched.schedules} schedules (${l.sched.failing} failing), ${si(l.sched.stepsPerSec)} steps/s, `
    : '';
  return `[${hms(l.elapsedMs).padStart(8)}] ${sc}${si(l.opsPerSecTotal)} ops/s (${l.opsPerSec.map(si).join(' ')})  faults ${si(l.discardFaults)}  refused ${si(l.refsRefused)}  parked ${si(l.pagesParked)}  freed ${si(l.pagesFreedFromList)}  rdv ${si(l.rendezvous)}${rarest(l)}  irqs-off max ${si(Math.max(0, ...(l.irqsOffIntervalMaxUs ?? l.irqsOffMaxUs)))}us  violations ${l.violations}  audits ${l.audits}${l.auditFailures ? ` (${l.auditFailures} FAILED)` : ''}  RSS ${mb(l.memory.rss)}`;
}

/** When the periodic audits come, in words: the sooner of the two bounds. */
export function auditPlan(
  auditEvery: number,
  auditIntervalMs: number,
  statIntervalMs: number,
): string {
  const byIntervals = auditEvery > 0 ? auditEvery * statIntervalMs : 0;
  if (byIntervals === 0 && auditIntervalMs === 0) return 'final audit only';
  const gap =
    byIntervals === 0
      ? auditIntervalMs
      : auditIntervalMs === 0
        ? byIntervals
        : Math.min(byIntervals, auditIntervalMs);
  return `audit every ${hms(gap)}`;
}

/**
 * The results folder: created if missing. An earlier soak's folder, or a
 * folder holding anything else, needs --force (a typo must not scatter a
 * soak's files among someone's own); with it, the earlier soak's files are
 * removed first (the journals are appended to).
 */
export function prepareOut(out: string, force: boolean): string {
  const dir = resolve(out);
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new UsageError(`--out: '${out}' exists and is not a directory`);
  }
  const earlier = SOAK_FILES.filter((f) => existsSync(resolve(dir, f)));
  if (earlier.length > 0 && !force) {
    throw new UsageError(
      `--out: '${out}' already holds a soak (${earlier.join(', ')}); choose another folder or add --force`,
    );
  }
  if (earlier.length === 0 && !force && existsSync(dir)) {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      throw new UsageError(`--out: cannot read '${out}'`);
    }
    if (entries.length > 0) {
      throw new UsageError(
        `--out: '${out}' is not empty and holds no soak (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, e.g. ${entries.sort()[0]}); choose an empty or new folder, or add --force`,
      );
    }
  }
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    if (force) for (const f of SOAK_OUTPUTS) rmSync(resolve(dir, f), { force: true });
  } catch {
    throw new UsageError(`--out: cannot create or write '${out}'`);
  }
  return dir;
}

/** --semi-space: MB per semi-space of the machine threads' young generation, 0 to MAX_SEMI_SPACE_MB. */
export function parseSemiSpace(text: string): number {
  const mb = parseInteger(text, '--semi-space');
  if (mb < 0 || mb > MAX_SEMI_SPACE_MB) {
    throw new UsageError(
      `--semi-space: must be 0 (V8's own sizing) to ${MAX_SEMI_SPACE_MB} MB (got ${mb})`,
    );
  }
  return mb;
}

/** --render-only: rewrite report.html from an earlier soak's files (killed runs too). */
async function renderOnly(out: string): Promise<number> {
  const dir = resolve(out);
  for (const f of ['config.json', 'summary.json']) {
    if (!existsSync(resolve(dir, f))) {
      throw new UsageError(`--out: '${out}' holds no soak to render (no ${f})`);
    }
  }
  const { renderSoakFolder } = await import('../soak/soak.ts');
  const { path, liveness } = await renderSoakFolder(dir);
  if (liveness.state === 'DIED') {
    process.stderr.write(
      `hvaemu: DIED: ${liveness.why}; last heartbeat ${liveness.heartbeat ?? 'unknown'}\n`,
    );
  } else if (liveness.state === 'RUNNING') {
    process.stderr.write(
      `hvaemu: still RUNNING (last heartbeat ${liveness.heartbeat ?? 'unknown'}): a provisional report\n`,
    );
  }
  process.stdout.write(`${path}\n`);
  return 0;
}

async function soakCommand(
  flags: SoakFlags,
  stopOnSignals: () => { signal: AbortSignal; dispose: () => void },
): Promise<number> {
  if (flags.renderOnly) return renderOnly(flags.out);
  const cfg = configFromFlags(flags);
  const statIntervalMs = parseDuration(flags.statInterval, '--stat-interval');
  if (statIntervalMs < MIN_STAT_INTERVAL_MS) {
    throw new UsageError(
      `--stat-interval: must be at least ${MIN_STAT_INTERVAL_MS}ms (got '${flags.statInterval}')`,
    );
  }
  const auditEvery = parseInteger(flags.auditEvery, '--audit-every');
  if (auditEvery < 0) throw new UsageError(`--audit-every: must be at least 0 (got ${auditEvery})`);
  const auditIntervalMs =
    flags.auditInterval.trim() === '0' ? 0 : parseDuration(flags.auditInterval, '--audit-interval');
  if (auditIntervalMs > 0 && auditIntervalMs < MIN_STAT_INTERVAL_MS) {
    throw new UsageError(
      `--audit-interval: must be 0 or at least ${MIN_STAT_INTERVAL_MS}ms (got '${flags.auditInterval}')`,
    );
  }
  const semiSpaceMB = parseSemiSpace(flags.semiSpace);
  const dir = prepareOut(flags.out, flags.force === true);

  const { runSoak } = await import('../soak/soak.ts');
  const { runControlledSoak } = await import('../soak/controlled.ts');
  const err = process.stderr;
  const tty = err.isTTY === true && !flags.quiet;
  let shown = false;
  const clear = () => {
    if (shown) err.write('\r\x1b[K');
    shown = false;
  };
  if (!flags.quiet) {
    err.write(
      `hvaemu soak: ${cfg.cpus} CPUs, protocol ${cfg.protocol}${cfg.mutant !== 'none' ? ` + ${cfg.mutant}` : ''}, ${hms(cfg.durationMs)}, seed ${cfg.seed}, stats every ${hms(statIntervalMs)}, ${cfg.sched.kind === 'os' ? auditPlan(auditEvery, auditIntervalMs, statIntervalMs) : `schedules of ${cfg.sched.steps} steps under ${cfg.sched.kind}${cfg.sched.kind === 'pct' ? `:${cfg.sched.depth}` : ''}, each audited at its end`}; results in ${dir}\n`,
    );
  }
  const signals = stopOnSignals();
  let result: Awaited<ReturnType<typeof runSoak>>;
  try {
    result = await (cfg.sched.kind === 'os' ? runSoak : runControlledSoak)(cfg, {
      out: dir,
      statIntervalMs,
      auditEvery,
      auditIntervalMs,
      semiSpaceMB,
      signal: signals.signal,
      argv: process.argv.slice(2),
      ...(tty
        ? {
            onStatus: (s: SoakStatus) => {
              // One terminal line, or the carriage return no longer rewrites it.
              err.write(
                `\r\x1b[K${statusLine(s).slice(0, Math.max(20, (err.columns ?? 200) - 1))}`,
              );
              shown = true;
            },
          }
        : {}),
      ...(!tty && !flags.quiet
        ? { onInterval: (l: StatsLine) => err.write(`${intervalLine(l)}\n`) }
        : {}),
    });
  } finally {
    signals.dispose();
    clear();
  }
  const s = result.summary;
  const verdict =
    s.verdict === 'INTERRUPTED'
      ? `${interruptedLine(s.durationMs, cfg.durationMs, s.violations.total)};`
      : `${s.verdict}:`;
  const lines = [
    `${verdict} ${cfg.cpus} CPUs ran ${hms(s.durationMs)} (${s.endReason}), ${si(s.totals.ops)} ops, ${si(s.totals.discardFaults)} discard faults, ${si(s.totals.pagesFreedFromList)} freed from the discard list`,
    ...(s.sched
      ? [
          `  ${s.sched.schedules} schedules (${s.sched.failing} failing), ${si(s.sched.stepsDone)} steps, ${si(s.sched.stepsPerSec)} steps/s; hvaemu replay ${dir} --violation SEQ runs a failing one again`,
        ]
      : []),
    `  violations ${s.violations.total}; audits ${s.audits.periodic} ${s.sched ? 'final audits of schedules' : 'periodic'} (${s.audits.failed} failed, ${s.audits.skipped} skipped), final ${s.audits.final && !('skipped' in s.audits.final) ? (s.audits.final.ok ? 'ok' : 'FAILED') : 'skipped'}`,
    `  memory: ${s.memory.verdict ?? `RSS ${s.memory.rss.why}`}`,
    ...(s.stall ? [`  STALL: ${s.stall.reason} (stall.json)`] : []),
    ...(s.error ? [`  ERROR: ${s.error.message}`] : []),
    `  results: ${dir}/ (report.html, summary.json, stats.jsonl ${s.statsLines} lines, violations.jsonl ${s.violations.written} lines)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return result.exitCode;
}

/** Register `soak` on the program; `exit` receives the exit code. */
export function addSoakCommand(
  program: Command,
  exit: (code: number) => void,
  stopOnSignals: () => { signal: AbortSignal; dispose: () => void },
): Command {
  const cmd = addMachineOptions(
    program
      .command('soak')
      .description(
        'run for hours, keep everything in a results folder (config.json, stats.jsonl, violations.jsonl, summary.json, report.html); exit 0 clean, 1 violation, 2 bad usage, 3 stall, 4 crash, 130/143 interrupted',
      ),
    '8h',
  )
    .requiredOption('--out <dir>', 'results folder (created if missing)')
    .option('--stat-interval <d>', 'one line of stats.jsonl every this long', '60s')
    .option(
      '--audit-every <n>',
      'stop the machine and audit it every n stats intervals (0: no interval bound)',
      '3',
    )
    .option(
      '--audit-interval <d>',
      'and at least this often, whatever --stat-interval is (0: no time bound; with --audit-every 0, final audit only)',
      '5m',
    )
    .option(
      '--force',
      'use an --out folder that is not empty (an earlier soak: its files are replaced)',
      false,
    )
    .option(
      '--semi-space <MB>',
      "each machine thread's V8 young generation, MB per semi-space, fixed for the run so the process's memory stays flat (0: V8 grows and shrinks it itself)",
      String(SOAK_SEMI_SPACE_MB),
    )
    .option('--quiet', 'no status line or interval lines', false)
    .option(
      '--render-only',
      "rewrite --out's report.html from its files (a killed soak's too) and exit",
      false,
    )
    .action(async (flags: SoakFlags) => exit(await soakCommand(flags, stopOnSignals)));
  cmd.exitOverride();
  return cmd;
}
