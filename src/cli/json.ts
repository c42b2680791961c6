/**
 * The JSON reports as scripts read them (docs/schema/*.schema.json): every
 * field present (null when absent or not measured), times rounded to what
 * the clock resolves, and where the run came from (argv, version, git,
 * host). The shape of each report kind is versioned by its `schema` number.
 */
import { hostname, cpus as osCpus } from 'node:os';
import { type Config, VERSION } from '../config.ts';
import type { RunReport } from '../machine/machine.ts';
import { POINTS } from '../points.ts';
import { lockContentionJson, locksJson } from '../stats/lockstat.ts';
import { writeReport } from './output.ts';

/** Schema numbers of the reports this module shapes (bumped when a shape changes). */
export const RUN_SCHEMA = 2;

/**
 * Round every non-integer number in `data` to what the clocks resolve: three
 * decimals (a microsecond in a millisecond field, a nanosecond in a
 * microsecond field), or four significant digits below one (ratios).
 */
export function roundDeep<T>(data: T): T {
  const round = (x: number): number => {
    if (Number.isInteger(x) || !Number.isFinite(x)) return x;
    if (Math.abs(x) >= 1) return Math.round(x * 1000) / 1000;
    return Number(x.toPrecision(4));
  };
  const walk = (v: unknown): unknown => {
    if (typeof v === 'number') return round(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(data) as T;
}

/** A per-point table as `{ point: value }`, only the points whose value is not 0. */
export function byPoint(values: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  values.forEach((x, i) => {
    if (x !== 0) out[POINTS[i]?.[0] ?? String(i)] = x;
  });
  return out;
}

export type Provenance = {
  version: string;
  argv: string[];
  git: { commit: string; dirty: boolean } | null;
  host: { hostname: string; node: string; platform: string; arch: string; cores: number };
};

/** Where a report comes from: hvaemu's version and checkout, the command line, the machine. */
export async function provenance(argv: string[]): Promise<Provenance> {
  // soak.ts is loaded only here, at the end of a run: it is not needed to start one
  const { gitCommit } = await import('../soak/soak.ts');
  return {
    version: VERSION,
    argv,
    git: gitCommit(),
    host: {
      hostname: hostname(),
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      cores: osCpus().length,
    },
  };
}

/** The configuration as a script reads it: the per-point delays keyed by point name. */
export function configJson(c: Config | (Config & { version: string })) {
  const {
    version: _v,
    delaysUs,
    delaySpansUs,
    delayEvery,
    ...rest
  } = c as Config & {
    version?: string;
  };
  return {
    ...rest,
    delaysUs: byPoint(delaysUs),
    delaySpansUs: byPoint(delaySpansUs),
    // only the points delayed on one pass in N > 1
    delayEvery: byPoint((delayEvery ?? []).map((n) => (n > 1 ? n : 0))),
  };
}

/** The locks (null for what --lockstat did not measure) and perf lock contention's view: stats/lockstat.ts. */
export { lockContentionJson, locksJson } from '../stats/lockstat.ts';

export type RunMeta = Provenance & {
  startedAt: Date;
  endedAt: Date;
  exitCode: number;
  /** The signal that stopped the run, if one did. */
  signal: string | null;
};

/** `hvaemu run --json`: the report of schema 2 (docs/schema/run.schema.json). */
export function runJson(r: RunReport, meta: RunMeta) {
  const { schema: _s, verdict, endReason, config, stall, error, locks, ...rest } = r;
  return roundDeep({
    schema: RUN_SCHEMA,
    kind: 'run' as const,
    verdict,
    exitCode: meta.exitCode,
    endReason,
    signal: meta.signal,
    startedAt: meta.startedAt.toISOString(),
    endedAt: meta.endedAt.toISOString(),
    version: meta.version,
    argv: meta.argv,
    git: meta.git,
    host: meta.host,
    config: configJson(config),
    ...rest,
    locks: locksJson(locks, config.lockstat),
    lockContention: lockContentionJson(locks, config.lockstat),
    stall: stall ?? null,
    error: error ?? null,
  });
}

/**
 * The end of a command that replays or shrinks a run: its schema-2 JSON to
 * `file` (or wherever writeReport falls back to, said on stderr).
 */
export async function writeRunJsonAtEnd(
  file: string,
  r: RunReport,
  argv: string[],
  startedAt: Date,
  exitCode: number,
): Promise<void> {
  const meta = {
    ...(await provenance(argv)),
    startedAt,
    endedAt: new Date(),
    exitCode,
    signal: null,
  };
  const w = writeReport(file, runJson(r, meta), '--json');
  if (w.notice) process.stderr.write(`hvaemu: ${w.notice}\n`);
}
