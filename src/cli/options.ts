/**
 * The machine flags shared by `run`, `soak` (and the other commands that run
 * a machine): declared once, with help text and defaults from the schema.
 */
import { type Command, Option } from 'commander';
import {
  type Config,
  type ConfigInput,
  FAULT_ADDRESS,
  IRQ_RATE_DEFAULTS,
  JITTER_EVERY,
  LOCKSTAT_MODES,
  LONG_HOLD_EVERY,
  MUTANTS,
  PARK_HOLD_DEFAULT_US,
  PROTOCOLS,
  SPINLOCK_KINDS,
  WIDEN_DUTY,
} from '../config.ts';
import {
  parseDelaySpans,
  parseDuration,
  parseInteger,
  parseIrqRates,
  parseMix,
  parseNumber,
  parseRunDuration,
  parseTarget,
  UsageError,
  validateConfig,
} from './parse.ts';

export type MachineFlags = {
  cpus?: string;
  pages?: string;
  files?: string;
  duration?: string;
  seed?: string;
  protocol?: string;
  mutant?: string;
  faultAddress?: string;
  pagevecSize?: string;
  hostDiscardRate?: string;
  faultDelivery?: string;
  delay?: string[];
  spinlock?: string;
  lockstat?: boolean | string;
  stopOnViolation?: boolean;
  /** commander's --no-lockdep: false when given */
  lockdep?: boolean;
  stallTimeout?: string;
  livelockFaults?: string;
  irqRate?: string;
  mix?: string;
  minCoverage?: string;
  guided?: boolean;
  target?: string;
  jitter?: string | boolean;
  stutter?: string | boolean;
  longHold?: string | boolean;
  /** --park-hold D, or false with --no-park-hold */
  parkHold?: string | boolean;
  migrate?: boolean;
  ipiDelivery?: string;
  sched?: string;
  steps?: string;
};

/** Widening flags given without a value take these. */
export const WIDEN_DEFAULTS = { jitter: '50us', stutter: '100ms', longHold: '1ms' } as const;

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function addMachineOptions(cmd: Command, defaultDuration = '10s'): Command {
  return cmd
    .option('--cpus <n>', 'simulated CPUs, one worker thread each (1..256)', '4')
    .option('--pages <n>', 'page frames of guest memory (64..4194304)', '16384')
    .option('--files <n>', 'files in the page cache namespace (2..65536)', '512')
    .option('--duration <d>', 'how long the CPUs run: 500ms, 10s, 5m, 8h', defaultDuration)
    .option('--seed <n>', 'workload seed (default: random, printed in the report)')
    .addOption(
      new Option('--protocol <name>', 'protocol variant')
        .choices(PROTOCOLS as unknown as string[])
        .default('patched'),
    )
    .addOption(
      new Option('--mutant <name>', 'inject a known bug (docs/protocol.md section 5)')
        .choices(MUTANTS as unknown as string[])
        .default('none'),
    )
    .addOption(
      new Option('--fault-address <kind>', 'what the discard fault delivers')
        .choices(FAULT_ADDRESS as unknown as string[])
        .default('absolute'),
    )
    .option('--pagevec-size <n>', 'discard pagevec size, PAGEVEC_SIZE (1..256)', '14')
    .option('--host-discard-rate <r>', 'host discards of volatile frames per second', '50000')
    .option(
      '--fault-delivery <d>',
      'host latency to deliver a discard fault (part of the window)',
      '20us',
    )
    .option(
      '--delay <point=duration>',
      'widen a race window: sleep at a preemption point, POINT=D or POINT=LO..HI (random), @N after either: on one pass in N only (repeatable)',
      collect,
      [],
    )
    .addOption(
      new Option('--spinlock <kind>', 'spinlock implementation')
        .choices(SPINLOCK_KINDS as unknown as string[])
        .default('pv'),
    )
    .addOption(
      new Option(
        '--lockstat [mode]',
        'lock statistics: full (/proc/lock_stat: wait and hold times, call sites; and the contention view) or contention (perf lock contention: waits per call site, cheapest)',
      )
        .choices(LOCKSTAT_MODES as unknown as string[])
        .preset('full'),
    )
    .option('--stop-on-violation', 'end the run at the first violation', false)
    .option(
      '--no-lockdep',
      'turn the lock validator off (lockdep: inconsistent lock state, circular dependencies, irq inversions, per-CPU data used from interrupts)',
    )
    .option(
      '--stall-timeout <d>',
      'a CPU without progress, or a rendezvous not completed, this long is a stall',
      '10s',
    )
    .option(
      '--irq-rate <rates>',
      'external interrupts per second: SOURCE=RATE[,...] with SOURCE timer (per CPU) or net (the network device); 0 turns one off',
      'timer=250,net=5000',
    )
    .option(
      '--mix <weights>',
      'the workload mix: OP=WEIGHT[,...] over the operations --list-points lists (the others keep their default weight)',
    )
    .option(
      '--guided',
      'steer the run online toward the hazard with the fewest near misses (a bandit over the workload mix, window stretches and the host discard rate; the report logs its choices)',
      false,
    )
    .option(
      '--target <hazard>',
      'with --guided: the hazard to steer toward (default: the rarest, re-chosen as the run goes)',
    )
    .option(
      '--min-coverage <n>',
      'verdict UNDERCOVERED (exit 5) if no violation and some hazard had fewer than n near misses (0: off)',
      '0',
    )
    .option(
      '--livelock-faults <n>',
      'one access that faults this many times in a row (the instruction re-executed each time) is a livelock stall',
      '1000',
    )
    .option(
      '--jitter [max]',
      `widen race windows: a random delay up to max on one pass in ${JITTER_EVERY} through a point inside a hazard's window (the discard fault's window, a discard .. its put), a CPU delayed at most ${WIDEN_DUTY * 100}% of its time (default max ${WIDEN_DEFAULTS.jitter}; off if not given)`,
    )
    .option(
      '--stutter [period]',
      `every period hold all CPUs still but as many as there are cores (at least 2), then release them all, as locktorture does: vCPUs paused and coming back together (it widens no race window; default ${WIDEN_DEFAULTS.stutter}; off if not given)`,
    )
    .option(
      '--long-hold [d]',
      `widen race windows: one acquisition in ${LONG_HOLD_EVERY} of the discard-list lock (where a flush and a splice meet) holds it d longer, a CPU delayed at most ${WIDEN_DUTY * 100}% of its time (default ${WIDEN_DEFAULTS.longHold}; off if not given)`,
    )
    .option(
      '--park-hold <d>',
      `a discard fault that finds its frame parked on the discard list keeps its window open until an IPI comes, up to d, a CPU delayed at most ${WIDEN_DUTY * 100}% of its time (on by default: ${PARK_HOLD_DEFAULT_US / 1000}ms)`,
    )
    .option('--no-park-hold', 'turn the parked-frame hold off')
    .option(
      '--migrate',
      'widen race windows: a task preempted where preemption is enabled may resume on another CPU',
      false,
    )
    .option(
      '--ipi-delivery <d>',
      'host latency to deliver an IPI to a virtual CPU, random per target up to d (the target runs on meanwhile)',
      '0us',
    )
    .option(
      '--sched <kind>',
      'os (the threads run at once), random or pct[:DEPTH] (one CPU at a time, schedules of --steps decisions, replayable)',
      'os',
    )
    .option('--steps <n>', 'decisions per controlled schedule (--sched random|pct)', '2000');
}

/** `--sched os|random|pct[:DEPTH]` and `--steps N` -> Config.sched. */
export function parseSched(
  kind: string,
  steps: string | undefined,
  defaultSteps = 2000,
): Config['sched'] {
  const m = /^(os|random|pct)(?::(\d+))?$/.exec(kind);
  if (!m || (m[2] !== undefined && m[1] !== 'pct')) {
    throw new UsageError(`--sched: '${kind}' is not os, random or pct[:DEPTH]`);
  }
  const depth = m[2] !== undefined ? parseInteger(m[2], '--sched pct:DEPTH') : 3;
  if (depth < 1 || depth > 32) throw new UsageError('--sched pct:DEPTH: DEPTH is 1..32');
  const n = steps !== undefined ? parseInteger(steps, '--steps') : defaultSteps;
  if (n < 10 || n > 1e8) throw new UsageError('--steps: 10..100000000');
  return { kind: m[1] as Config['sched']['kind'], depth, steps: n };
}

/** A widening flag: absent or false = 0, given alone = its default, else a duration (us). */
function widenUs(v: string | boolean | undefined, dflt: string, flag: string): number | undefined {
  if (v === undefined || v === false) return undefined;
  return parseDuration(v === true ? dflt : v, flag) * 1000;
}

/** Flags -> validated Config, or a UsageError naming the flag. */
export function configFromFlags(f: MachineFlags): Config {
  const input: Partial<ConfigInput> = {
    cpus: f.cpus !== undefined ? parseInteger(f.cpus, '--cpus') : undefined,
    pages: f.pages !== undefined ? parseInteger(f.pages, '--pages') : undefined,
    files: f.files !== undefined ? parseInteger(f.files, '--files') : undefined,
    durationMs: f.duration !== undefined ? parseRunDuration(f.duration, '--duration') : undefined,
    seed: f.seed !== undefined ? parseInteger(f.seed, '--seed') : undefined,
    protocol: f.protocol as Config['protocol'] | undefined,
    mutant: f.mutant as Config['mutant'] | undefined,
    faultAddress: f.faultAddress as Config['faultAddress'] | undefined,
    pagevecSize:
      f.pagevecSize !== undefined ? parseInteger(f.pagevecSize, '--pagevec-size') : undefined,
    hostDiscardRate:
      f.hostDiscardRate !== undefined
        ? parseNumber(f.hostDiscardRate, '--host-discard-rate')
        : undefined,
    faultDeliveryUs:
      f.faultDelivery !== undefined
        ? parseDuration(f.faultDelivery, '--fault-delivery') * 1000
        : undefined,
    spinlock: f.spinlock as Config['spinlock'] | undefined,
    lockstat: f.lockstat as ConfigInput['lockstat'] | undefined,
    stopOnViolation: f.stopOnViolation,
    lockdep: f.lockdep,
    stallTimeoutMs:
      f.stallTimeout !== undefined ? parseDuration(f.stallTimeout, '--stall-timeout') : undefined,
    irqRates: f.irqRate !== undefined ? parseIrqRates(f.irqRate, IRQ_RATE_DEFAULTS) : undefined,
    mix: f.mix !== undefined ? parseMix(f.mix) : undefined,
    minCoverage:
      f.minCoverage !== undefined ? parseInteger(f.minCoverage, '--min-coverage') : undefined,
    guided: f.guided,
    target: f.target !== undefined ? parseTarget(f.target, f.protocol, f.guided) : undefined,
    livelockFaults:
      f.livelockFaults !== undefined
        ? parseInteger(f.livelockFaults, '--livelock-faults')
        : undefined,
    jitterUs: widenUs(f.jitter, WIDEN_DEFAULTS.jitter, '--jitter'),
    stutterMs: ((us) => (us === undefined ? undefined : us / 1000))(
      widenUs(f.stutter, WIDEN_DEFAULTS.stutter, '--stutter'),
    ),
    longHoldUs: widenUs(f.longHold, WIDEN_DEFAULTS.longHold, '--long-hold'),
    parkHoldUs:
      f.parkHold === false
        ? 0
        : typeof f.parkHold === 'string'
          ? parseDuration(f.parkHold, '--park-hold') * 1000
          : undefined,
    migrate: f.migrate,
    ipiDeliveryUs:
      f.ipiDelivery !== undefined
        ? parseDuration(f.ipiDelivery, '--ipi-delivery') * 1000
        : undefined,
    sched:
      f.sched !== undefined || f.steps !== undefined
        ? parseSched(f.sched ?? 'os', f.steps)
        : undefined,
  };
  if (f.delay && f.delay.length > 0) Object.assign(input, parseDelaySpans(f.delay));
  for (const k of Object.keys(input) as (keyof ConfigInput)[]) {
    if (input[k] === undefined) delete input[k];
  }
  return validateConfig(input);
}
