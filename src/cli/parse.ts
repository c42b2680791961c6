/**
 * Turning command-line strings into configuration values. Every error is a
 * UsageError whose message names the flag: the CLI prints it on one line and
 * exits 2 before any thread starts.
 */
import type { Command } from 'commander';
import { ZodError } from 'zod';
import { HAZARD_NAMES, HAZARDS, protocolHazards } from '../check/coverage.ts';
import {
  type Config,
  type ConfigInput,
  MIX_DEFAULT,
  MIX_OPS,
  type MixOp,
  makeConfig,
  PROTOCOLS,
  type Protocol,
} from '../config.ts';
import { IRQS_AT_POINT, NR_POINTS, POINTS, pointId } from '../points.ts';
import { IRQ_SOURCES } from '../shm/layout.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** `500ms`, `10s`, `5m`, `8h` (a fraction is fine: `1.5s`). Returns milliseconds. */
export function parseDuration(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(us|ms|s|m|h)$/.exec(s.trim());
  if (!m) throw new UsageError(`${flag}: '${s}' is not a duration (use e.g. 500ms, 10s, 5m, 8h)`);
  const unit = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms'];
  return Number(m[1]) * unit;
}

/** The shortest run: the machine's monitor looks at the clock every 50 ms. */
export const MIN_RUN_MS = 50;

/** A run's --duration: a duration of at least MIN_RUN_MS. */
export function parseRunDuration(s: string, flag: string): number {
  const ms = parseDuration(s, flag);
  if (ms < MIN_RUN_MS) {
    throw new UsageError(`${flag}: must be at least ${MIN_RUN_MS}ms (got '${s}')`);
  }
  return ms;
}

/** A one-line warning on stderr: the run goes on. */
export function warn(msg: string): void {
  process.stderr.write(`hvaemu: warning: ${msg}\n`);
}

/**
 * The options given on the command line (not defaults), as `--flag`s,
 * except `keep` (option attribute names): what a mode that ignores them
 * should warn about.
 */
export function givenFlags(cmd: Command, keep: string[] = []): string[] {
  return cmd.options
    .filter((o) => !keep.includes(o.attributeName()))
    .filter((o) => cmd.getOptionValueSource(o.attributeName()) === 'cli')
    .map((o) => o.long ?? o.flags);
}

/** Flags that contradict each other (the run goes on; each is one line). */
export function configWarnings(c: Config): string[] {
  const out: string[] = [];
  if (c.protocol === 'unpatched' && c.mutant !== 'none') {
    out.push(
      `--mutant ${c.mutant} with --protocol unpatched: the mutant breaks the discard list, which unpatched does not have; its violations cannot be told from unpatched's own`,
    );
  }
  return out;
}

export function parseInteger(s: string, flag: string): number {
  if (!/^-?\d+$/.test(s.trim())) throw new UsageError(`${flag}: '${s}' is not an integer`);
  return Number(s);
}

export function parseNumber(s: string, flag: string): number {
  const n = Number(s);
  if (s.trim() === '' || !Number.isFinite(n))
    throw new UsageError(`${flag}: '${s}' is not a number`);
  return n;
}

/**
 * --irq-rate SOURCE=RATE[,SOURCE=RATE]: interrupts per second for each
 * source named (IRQ_SOURCES); the others keep their defaults.
 */
export function parseIrqRates(
  s: string,
  defaults: { timer: number; net: number },
): { timer: number; net: number } {
  const out = { ...defaults };
  for (const pair of s.split(',')) {
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    if (eq < 0 || !(IRQ_SOURCES as readonly string[]).includes(name)) {
      throw new UsageError(
        `--irq-rate: '${pair}' is not SOURCE=RATE with SOURCE one of ${IRQ_SOURCES.join(', ')}`,
      );
    }
    const rate = parseNumber(pair.slice(eq + 1), `--irq-rate ${name}`);
    if (rate < 0 || rate > 1e6)
      throw new UsageError(`--irq-rate ${name}: must be 0 to 1000000 per second`);
    out[name as keyof typeof out] = rate;
  }
  return out;
}

/**
 * `--mix OP=WEIGHT[,...]`: the weights given (integers 0..1000000); the
 * operations not named keep their default weight (MIX_DEFAULT).
 */
export function parseMix(s: string): Record<MixOp, number> {
  const out: Partial<Record<MixOp, number>> = {};
  for (const pair of s.split(',')) {
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    if (eq < 0 || !(MIX_OPS as readonly string[]).includes(name)) {
      throw new UsageError(
        `--mix: '${pair}' is not OP=WEIGHT with OP one of ${MIX_OPS.join(', ')} (hvaemu run --list-points lists them)`,
      );
    }
    const w = parseInteger(pair.slice(eq + 1), `--mix ${name}`);
    if (w < 0 || w > 1e6) throw new UsageError(`--mix ${name}: must be 0 to 1000000`);
    out[name as MixOp] = w;
  }
  const all = { ...MIX_DEFAULT, ...out };
  if (Object.values(all).every((w) => w === 0)) throw new UsageError('--mix: every weight is 0');
  return all;
}

/** `--target HAZARD`: a hazard the protocol run declares; only with --guided. */
export function parseTarget(
  s: string,
  protocol: string | undefined,
  guided: boolean | undefined,
): string {
  if (!guided) throw new UsageError('--target: only with --guided');
  // an unknown --protocol is the config validation's to report
  if (protocol !== undefined && !(PROTOCOLS as readonly string[]).includes(protocol)) return s;
  const declared = protocolHazards({ protocol: (protocol ?? 'patched') as Protocol });
  if (!(declared as readonly string[]).includes(s)) {
    throw new UsageError(
      `--target: '${s}' is not a hazard of protocol ${protocol ?? 'patched'} (${declared.join(', ')})`,
    );
  }
  return s;
}

/** One `POINT=...` pair: the point's id and the text after `=`. */
function pointOf(pair: string): { id: number; value: string } {
  const eq = pair.indexOf('=');
  if (eq < 0) throw new UsageError(`--delay: '${pair}' is not POINT=DURATION`);
  const name = pair.slice(0, eq);
  const id = pointId(name);
  if (id === undefined) {
    throw new UsageError(`--delay: unknown point '${name}' (hvaemu run --list-points lists them)`);
  }
  return { id, value: pair.slice(eq + 1) };
}

/** `POINT=DURATION` pairs into the per-point delay table (microseconds). */
export function parseDelays(pairs: string[]): number[] {
  return parseDelaySpans(pairs).delaysUs;
}

/**
 * `POINT=DURATION`, or `POINT=LO..HI` (a random delay in that range at each
 * passage), into the per-point tables (microseconds): fixed part, random span.
 */
export function parseDelaySpans(pairs: string[]): {
  delaysUs: number[];
  delaySpansUs: number[];
  delayEvery: number[];
} {
  const delaysUs = new Array<number>(NR_POINTS).fill(0);
  const delaySpansUs = new Array<number>(NR_POINTS).fill(0);
  const delayEvery = new Array<number>(NR_POINTS).fill(1);
  for (const pair of pairs) {
    const { id, value: v } = pointOf(pair);
    // `@N`: one pass in N
    const at = v.indexOf('@');
    const value = at < 0 ? v : v.slice(0, at);
    if (at >= 0) {
      const n = parseInteger(v.slice(at + 1), '--delay POINT=D@N');
      if (n < 1 || n > 1e6) throw new UsageError(`--delay: '${pair}': N in @N is 1 to 1000000`);
      delayEvery[id] = n;
    }
    const dots = value.indexOf('..');
    const lo = parseDuration(dots < 0 ? value : value.slice(0, dots), '--delay') * 1000;
    const hi = dots < 0 ? lo : parseDuration(value.slice(dots + 2), '--delay') * 1000;
    if (hi < lo) throw new UsageError(`--delay: '${pair}': the range ends below its start`);
    delaysUs[id] = lo;
    delaySpansUs[id] = hi - lo;
  }
  return { delaysUs, delaySpansUs, delayEvery };
}

/** The flag that sets each configuration key, for error messages. */
export const FLAG_OF: Partial<Record<keyof Config, string>> = {
  cpus: '--cpus',
  pages: '--pages',
  files: '--files',
  durationMs: '--duration',
  seed: '--seed',
  protocol: '--protocol',
  mutant: '--mutant',
  faultAddress: '--fault-address',
  pagevecSize: '--pagevec-size',
  hostDiscardRate: '--host-discard-rate',
  faultDeliveryUs: '--fault-delivery',
  delaysUs: '--delay',
  delaySpansUs: '--delay',
  delayEvery: '--delay',
  spinlock: '--spinlock',
  lockstat: '--lockstat',
  stopOnViolation: '--stop-on-violation',
  lockdep: '--no-lockdep',
  stallTimeoutMs: '--stall-timeout',
  livelockFaults: '--livelock-faults',
  irqRates: '--irq-rate',
  jitterUs: '--jitter',
  stutterMs: '--stutter',
  longHoldUs: '--long-hold',
  parkHoldUs: '--park-hold',
  migrate: '--migrate',
  ipiDeliveryUs: '--ipi-delivery',
};

/** Validate against the one schema; a failure names the flag and the bound. */
export function validateConfig(input: Partial<ConfigInput>): Config {
  try {
    return makeConfig(input);
  } catch (e) {
    if (!(e instanceof ZodError)) throw e;
    const issue = e.issues[0]!;
    const key = String(issue.path[0] ?? '') as keyof Config;
    const flag = FLAG_OF[key] ?? key;
    const got = (input as Record<string, unknown>)[key];
    throw new UsageError(
      `${flag}: ${describeIssue(issue)}${got !== undefined ? ` (got ${JSON.stringify(got)})` : ''}`,
    );
  }
}

function describeIssue(issue: ZodError['issues'][number]): string {
  switch (issue.code) {
    case 'too_small':
      return issue.inclusive === false
        ? `must be more than ${issue.minimum}`
        : `must be at least ${issue.minimum}`;
    case 'too_big':
      return `must be at most ${issue.maximum}`;
    case 'invalid_value':
      return `must be one of ${issue.values.join(', ')}`;
    default:
      return issue.message;
  }
}

/** What each --mix operation does (src/workload/workload.ts). */
const MIX_WHAT: Record<MixOp, string> = {
  libc: 'touch a page of the shared library every task maps (several CPUs fault on one page)',
  access: 'touch a page of another file mapping (mmap it first if the slot is empty)',
  read: 'read(2) a page through the page cache; it may then become volatile',
  anon: 'touch or free a page of anonymous memory',
  write: 'write(2) a page of a file (dirty: stable until written back)',
  writeback: "write back a file's dirty pages (they may then become volatile)",
  munmap: 'munmap a slot and mmap another file there',
  truncate: 'one draw in ten truncates a whole file',
  sendfile: 'sendfile(2) of 4 pages: the network device holds them until NET_TX',
  gup: 'direct I/O: get_user_pages pins 4 mapped pages, then releases them',
  burst: 'touch every page of a mapping in a row',
};

export function listPoints(): string {
  const w = Math.max(...POINTS.map(([n]) => n.length));
  const head = `${'point'.padEnd(w)}  irqs    what lies on either side`;
  const rows = POINTS.map(([n, d]) => `${n.padEnd(w)}  ${IRQS_AT_POINT[n].padEnd(6)}  ${d}`);
  return [
    head,
    ...rows,
    '',
    'irqs: whether interrupts are enabled there. A pending interrupt (IPI, timer, network',
    'device; --irq-rate) is taken at a point where they are on: a hardirq, then softirqs on',
    "its way out; 'either' depends on the caller.",
    '',
    `workload operations (--mix OP=WEIGHT,...; default ${MIX_OPS.map((o) => `${o}=${MIX_DEFAULT[o]}`).join(',')}):`,
    ...MIX_OPS.map((o) => `  ${o.padEnd(10)} ${MIX_WHAT[o]}`),
    '',
    'hazards (the coverage table counts their near misses; --guided --target HAZARD):',
    ...HAZARD_NAMES.map((h) => `  ${h.padEnd(23)} ${HAZARDS[h].what}`),
  ].join('\n');
}
