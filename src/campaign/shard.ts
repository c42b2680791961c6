/**
 * Campaigns split over machines: a campaign is a list of cells (a
 * configuration and the cell's seed), each shard I of N runs the cells whose
 * position k (0-based, in the order an unsharded run runs them) has
 * k mod N = I - 1, and `hvaemu merge` puts the shards' reports back together
 * (src/cli/merge.ts). Nothing here schedules anything: the shard comes from
 * --shard I/N or from the job engine's environment.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../cli/parse.ts';

export type ShardSource =
  | '--shard'
  | 'JOB_COMPLETION_INDEX'
  | 'SLURM_ARRAY_TASK_ID'
  | 'CI_NODE_INDEX'
  | 'none';

export type Shard = {
  /** 1..count */
  index: number;
  count: number;
  /** Where it came from (`none`: not sharded, 1/1). */
  source: ShardSource;
};

export const UNSHARDED: Shard = { index: 1, count: 1, source: 'none' };

/** Shards at most (a cell per shard is the finest split anyway). */
export const MAX_SHARDS = 100_000;

/** --shard's help, naming the environment variables it may come from. */
export const SHARD_HELP =
  'run shard I of N of the campaign (1 <= I <= N; default: from the job engine: JOB_COMPLETION_INDEX (0-based, Kubernetes Indexed Job) with --shard-count N; SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT (and _MIN, _STEP); CI_NODE_INDEX (1-based) with CI_NODE_TOTAL; else the whole campaign). Needs --seed when N > 1';

export const SHARD_COUNT_HELP =
  'N, the shard count, for JOB_COMPLETION_INDEX (a Kubernetes Indexed Job: its completions)';

function shardNumber(s: string, what: string): number {
  if (!/^\d+$/.test(s.trim())) throw new UsageError(`${what}: '${s}' is not a whole number`);
  return Number(s);
}

function checked(index: number, count: number, source: ShardSource, what: string): Shard {
  if (count < 1 || count > MAX_SHARDS) {
    throw new UsageError(`${what}: the shard count must be 1..${MAX_SHARDS} (got ${count})`);
  }
  if (index < 1 || index > count) {
    throw new UsageError(`${what}: shard ${index} of ${count} is not one of 1..${count}`);
  }
  return { index, count, source };
}

/** `I/N` (1-based) into a shard, or a UsageError naming --shard. */
export function parseShard(s: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(s);
  if (!m) throw new UsageError(`--shard: '${s}' is not I/N (e.g. 2/4: the second of four)`);
  return checked(Number(m[1]), Number(m[2]), '--shard', '--shard');
}

/**
 * The shard: --shard if given, else the job engine's environment, else the
 * whole campaign. JOB_COMPLETION_INDEX carries no count: it needs
 * --shard-count, and is an error without it (every pod would run the whole
 * campaign); --shard-count without JOB_COMPLETION_INDEX is an error too.
 */
export function resolveShard(
  shard: string | undefined,
  shardCount: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Shard {
  if (shard !== undefined) return parseShard(shard);
  const job = env.JOB_COMPLETION_INDEX;
  if (shardCount !== undefined && (job === undefined || job === '')) {
    throw new UsageError(
      '--shard-count: only with JOB_COMPLETION_INDEX in the environment (a Kubernetes Indexed Job); elsewhere use --shard I/N',
    );
  }
  if (job !== undefined && job !== '') {
    if (shardCount === undefined) {
      throw new UsageError(
        `JOB_COMPLETION_INDEX=${job} is set but not --shard-count: give --shard-count N (the Job's completions), or --shard 1/1 for the whole campaign`,
      );
    }
    const i = shardNumber(job, 'JOB_COMPLETION_INDEX');
    const n = shardNumber(shardCount, '--shard-count');
    return checked(i + 1, n, 'JOB_COMPLETION_INDEX', 'JOB_COMPLETION_INDEX with --shard-count');
  }
  const slurm = env.SLURM_ARRAY_TASK_ID;
  if (slurm !== undefined && slurm !== '') {
    const count = env.SLURM_ARRAY_TASK_COUNT;
    if (count === undefined || count === '') {
      throw new UsageError(
        `SLURM_ARRAY_TASK_ID=${slurm} is set but not SLURM_ARRAY_TASK_COUNT: use --shard I/N`,
      );
    }
    const id = shardNumber(slurm, 'SLURM_ARRAY_TASK_ID');
    const min = env.SLURM_ARRAY_TASK_MIN
      ? shardNumber(env.SLURM_ARRAY_TASK_MIN, 'SLURM_ARRAY_TASK_MIN')
      : 0;
    const step = env.SLURM_ARRAY_TASK_STEP
      ? Math.max(1, shardNumber(env.SLURM_ARRAY_TASK_STEP, 'SLURM_ARRAY_TASK_STEP'))
      : 1;
    if ((id - min) % step !== 0 || id < min) {
      throw new UsageError(
        `SLURM_ARRAY_TASK_ID=${id} is not SLURM_ARRAY_TASK_MIN=${min} plus a multiple of SLURM_ARRAY_TASK_STEP=${step}: use --shard I/N`,
      );
    }
    return checked(
      (id - min) / step + 1,
      shardNumber(count, 'SLURM_ARRAY_TASK_COUNT'),
      'SLURM_ARRAY_TASK_ID',
      'SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT',
    );
  }
  const ci = env.CI_NODE_INDEX;
  if (ci !== undefined && ci !== '') {
    const total = env.CI_NODE_TOTAL;
    if (total === undefined || total === '') {
      throw new UsageError(`CI_NODE_INDEX=${ci} is set but not CI_NODE_TOTAL: use --shard I/N`);
    }
    return checked(
      shardNumber(ci, 'CI_NODE_INDEX'),
      shardNumber(total, 'CI_NODE_TOTAL'),
      'CI_NODE_INDEX',
      'CI_NODE_INDEX with CI_NODE_TOTAL',
    );
  }
  return UNSHARDED;
}

/** Does shard `s` run the cell at position k (0-based) of the campaign? */
export function inShard(k: number, s: Pick<Shard, 'index' | 'count'>): boolean {
  return k % s.count === s.index - 1;
}

/** The positions of the cells of shard `s` among `total`. */
export function shardCells(total: number, s: Pick<Shard, 'index' | 'count'>): number[] {
  const out: number[] = [];
  for (let k = s.index - 1; k < total; k += s.count) out.push(k);
  return out;
}

/**
 * A cell's seed: the first four bytes (big-endian, unsigned) of
 * SHA-256("<campaign seed>/<cell key>"). It depends on nothing but the
 * campaign seed and the cell, so every shard, and an unsharded run, give a
 * cell the same seed.
 */
export function cellSeed(campaignSeed: number, cell: string): number {
  return createHash('sha256').update(`${campaignSeed}/${cell}`).digest().readUInt32BE(0);
}

/** JSON with object keys sorted: the same data always gives the same text. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** A campaign's identity: 16 hex digits of SHA-256 over what defines it (never the shard). */
export function campaignId(definition: unknown): string {
  return createHash('sha256').update(canonicalJson(definition)).digest('hex').slice(0, 16);
}

/** A random campaign seed (when --seed is not given and the campaign is not sharded). */
export const randomCampaignSeed = (): number => (Math.random() * 0x1_0000_0000) >>> 0;

/** --seed for a campaign: 0..2^32-1; required when sharded (every shard must run the same campaign). */
export function campaignSeed(seed: string | undefined, shard: Shard, flag = '--seed'): number {
  if (seed === undefined) {
    if (shard.count > 1) {
      throw new UsageError(
        `${shard.source === '--shard' ? '--shard' : `the shard from ${shard.source}`}: give --seed too: every shard must run the same campaign (the same seed)`,
      );
    }
    return randomCampaignSeed();
  }
  if (!/^\d+$/.test(seed.trim())) throw new UsageError(`${flag}: '${seed}' is not an integer`);
  const n = Number(seed);
  if (n > 0xffffffff) throw new UsageError(`${flag}: must be 0..4294967295 (got ${seed})`);
  return n;
}

/** What a report says of its campaign (docs/json.md, "Campaigns"). */
export type CampaignInfo = {
  /** Same for every shard of one campaign (campaignId). */
  id: string;
  seed: number;
  /** Every cell of the campaign, in the order an unsharded run runs them. */
  cells: string[];
  /** This report's shard; null for a merged report. */
  shard: Shard | null;
  /** What merge put together; null for a report of one run. */
  merged: MergeInfo | null;
};

export type MergedFrom = {
  file: string;
  shard: Shard | null;
  version: string;
  gitCommit: string | null;
  hostname: string;
  startedAt: string;
  wallMs: number;
  verdict: string;
  /** Cells this report held. */
  cells: number;
};

export type MergeInfo = {
  from: MergedFrom[];
  /** Cells of the campaign in no report. */
  missing: string[];
  /** Cells in more than one report: the first (in the order given) is kept. */
  duplicates: { cell: string; files: string[] }[];
};
