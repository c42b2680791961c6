/**
 * The configuration of one emulated machine: every parameter, its default and
 * its bounds, in one schema. Ground-level module: the layout is computed from
 * a Config, the CLI validates into one, workers receive one.
 */
import { z } from 'zod';
import { NR_POINTS } from './points.ts';

export const VERSION = '0.1.0';

/**
 * `--protocol`: each name selects a module of src/kernel/protocol/ that owns
 * that version's code. `dec-2005`: patch 5/6 of December 2005 as posted
 * (per-CPU pagevec, one global discard list spliced before the IPIs), with
 * its reclaim defect (negative-count: remove_mapping drops a discarder's
 * reference). `dec-2005-fixed`: the same plus remove_mapping refusing a
 * PG_discarded page (README, Verdicts). `unpatched`: patches 1/6-4/6 only, no
 * discard list. `percpu-2006`: "[patch 8/9] Guest page hinting: discarded
 * page list" as posted on 1 September 2006 (per-CPU discard lists, spliced
 * inside the IPI handler). `patched` is the default clean protocol, an alias
 * (PROTOCOL_ALIASES): dec-2005-fixed.
 */
export const PROTOCOLS = [
  'patched',
  'dec-2005',
  'dec-2005-fixed',
  'unpatched',
  'percpu-2006',
] as const;
export type Protocol = (typeof PROTOCOLS)[number];
/** The modules `--protocol` can run (src/kernel/protocol/<name>.ts). */
export const PROTOCOL_MODULES = ['dec-2005', 'dec-2005-fixed', 'unpatched', 'percpu-2006'] as const;
export type ProtocolModule = (typeof PROTOCOL_MODULES)[number];
export const PROTOCOL_ALIASES = { patched: 'dec-2005-fixed' } as const satisfies Record<
  Exclude<Protocol, ProtocolModule>,
  ProtocolModule
>;

/** The module a --protocol name runs. */
export function protocolModule(p: Protocol): ProtocolModule {
  return p === 'patched' ? PROTOCOL_ALIASES.patched : p;
}
/** For reports: the name given, and the module run when it is an alias ("patched (dec-2005)"). */
export function protocolLabel(p: Protocol): string {
  const m = protocolModule(p);
  return m === p ? p : `${p} (${m})`;
}

/**
 * docs/protocol.md section 5: known ways of getting the protocol wrong, each a
 * switch inside the one kernel code base. `none` runs the protocol as selected.
 */
export const MUTANTS = [
  'none',
  'free-immediately',
  'irq-enable-before-ref',
  'plain-inc',
  'no-wait-ipi',
  'barrier-before-splice',
  'call-with-irqs-off',
  'no-clear-before-free',
  'pagevec-without-preempt-off',
  // interrupt context (issue 10): each is caught by the lock validator first
  'sendfile-without-stable',
  'tx-lock-without-bh',
  'lru-lock-without-irq',
] as const;
export type Mutant = (typeof MUTANTS)[number];

/** --irq-rate's defaults: s390's HZ is 100, 2.6.15's default 250; a busy network device. */
export const IRQ_RATE_DEFAULTS = { timer: 250, net: 5000 } as const;

export const SPINLOCK_KINDS = ['tas', 'ticket', 'pv'] as const;
export type SpinlockKind = (typeof SPINLOCK_KINDS)[number];

export const FAULT_ADDRESS = ['absolute', 'virtual'] as const;
/**
 * `--lockstat[=mode]`: `full` (lock_stat: wait and hold times, contention and
 * contended points) or `contention` (perf lock contention: waits only, the
 * clock read only on the contended path). Off is `false`, so a truthiness
 * test still reads as "measured"; `true` as input means `full`.
 */
export const LOCKSTAT_MODES = ['full', 'contention'] as const;
export type LockstatMode = false | (typeof LOCKSTAT_MODES)[number];
export type FaultAddress = (typeof FAULT_ADDRESS)[number];

/** Shape constants of the emulated guest (not flags: they size the page tables). */
export const PAGES_PER_FILE = 32; // a file is at most 32 pages: small files, many of them
export const MAP_SLOTS = 4; // file mappings per task (vmas), each PAGES_PER_FILE long
export const ANON_VPAGES = 16; // anonymous pages per task
export const TASKS_PER_CPU = 2;
/** 2.6.15 include/linux/pagevec.h: 14 pointers + 2 longs = 128 bytes (lookups on the stack). */
export const PAGEVEC_SIZE = 14;
export const NR_VPAGES = MAP_SLOTS * PAGES_PER_FILE + ANON_VPAGES;
/** --jitter: one pass in this many through a point inside a hazard's window gets a random delay (widen.ts). */
export const JITTER_EVERY = 2;
/** --long-hold: one acquisition in this many of the discard-list lock is held longHoldUs longer. */
export const LONG_HOLD_EVERY = 32;
/** --jitter, --long-hold, --guided's stretches, the parked-frame hold: the share of a CPU's running time their delays may take. */
export const WIDEN_DUTY = 0.125;
/** The parked-frame hold's default bound (us): --park-hold (widen.ts, park_hold). */
export const PARK_HOLD_DEFAULT_US = 20_000;
/** Flight recorder: events kept per CPU (power of two). */
export const RING_EVENTS = 1024; // a shrink_discards freeing a long list records 2 events a page
/** Violations kept in the buffer; later ones are counted, not stored. */
export const MAX_VIOLATIONS = 32;
/**
 * CPUs whose flight recorders a violation snapshots: the detector, the other
 * CPU it names (a fault window's owner), the frame's last allocator, last
 * freer and last parker, the first VIOLATION_CPUS distinct ones.
 */
export const VIOLATION_CPUS = 4;

const int = (min: number, max: number) => z.number().int().min(min).max(max);

/**
 * --mix: the workload's operations (src/workload/workload.ts) and their
 * default weights, the mix every run had before --mix (percent): `libc` a
 * touch of the shared library every task maps, `access` a touch of another
 * file mapping, `truncate` a tenth of whose draws truncate a file.
 */
export const MIX_DEFAULT = {
  libc: 25,
  access: 20,
  read: 15,
  anon: 15,
  write: 4,
  writeback: 5,
  munmap: 8,
  truncate: 1,
  sendfile: 3,
  gup: 2,
  burst: 2,
} as const;
export type MixOp = keyof typeof MIX_DEFAULT;
export const MIX_OPS = Object.keys(MIX_DEFAULT) as [MixOp, ...MixOp[]];

export const configSchema = z.object({
  cpus: int(1, 256).default(4),
  pages: int(64, 4 * 1024 * 1024).default(16384),
  files: int(2, 65536).default(512),
  durationMs: z
    .number()
    .positive()
    .max(366 * 24 * 3600 * 1000)
    .default(10_000),
  seed: int(0, 0xffffffff),
  protocol: z.enum(PROTOCOLS).default('patched'),
  mutant: z.enum(MUTANTS).default('none'),
  faultAddress: z.enum(FAULT_ADDRESS).default('absolute'),
  pagevecSize: int(1, 256).default(14), // PAGEVEC_SIZE in 2.6.15
  /** --mix: every operation's weight (the CLI fills in MIX_DEFAULT's for those not named); their sum is not 0. */
  mix: z
    .record(z.enum(MIX_OPS), int(0, 1e6))
    .default({ ...MIX_DEFAULT })
    .refine((m) => Object.values(m).some((w) => w > 0), 'every --mix weight is 0'),
  /**
   * --min-coverage N: a run with no violation and no stall in which some
   * hazard of the protocol had fewer than N near misses is UNDERCOVERED
   * (exit 5); 0 (the default) is off.
   */
  minCoverage: int(0, 2 ** 31).default(0),
  /**
   * --guided: a bandit on the main thread perturbs the workload mix, the
   * fault window and the host discard rate online toward the hazard with the
   * fewest near misses (src/check/guided.ts);
   * --target pins the hazard (a name of src/check/coverage.ts's HAZARDS).
   */
  guided: z.boolean().default(false),
  target: z
    .string()
    .regex(/^[a-z-]+$/)
    .nullable()
    .default(null),
  hostDiscardRate: z.number().min(0).max(1e9).default(50_000), // discards per second
  /**
   * Microseconds from the faulting access to the guest's handler: the host
   * intercepts the access to a discarded frame and injects the program
   * interruption. The guest CPU sits inside the faulting instruction all that
   * time (it is part of the window W), while the other CPUs run on.
   */
  faultDeliveryUs: z.number().min(0).max(1e6).default(20),
  /** Per-point delay in microseconds, indexed by point id (0 = none). */
  delaysUs: z.array(z.number().min(0).max(1e6)).length(NR_POINTS),
  /** `--delay POINT=LO..HI`: per point, a random extra up to this many microseconds (0 = fixed delay). */
  delaySpansUs: z
    .array(z.number().min(0).max(1e6))
    .length(NR_POINTS)
    .default(() => new Array<number>(NR_POINTS).fill(0)),
  /**
   * `--delay POINT=D@N`: per point, the delay is slept on one pass in N
   * (drawn at random), so that a window is stretched now and then while the
   * other passes, and the other CPUs, run at full speed (1: every pass).
   */
  delayEvery: z
    .array(int(1, 1e6))
    .length(NR_POINTS)
    .default(() => new Array<number>(NR_POINTS).fill(1)),
  /**
   * pv by default: on this project's machines virtual CPUs outnumber cores,
   * and a test-and-set waiter then burns its time slice while the holder is
   * descheduled (paravirtualised spinlocks exist for exactly that guest).
   */
  spinlock: z.enum(SPINLOCK_KINDS).default('pv'),
  lockstat: z
    .union([z.boolean(), z.enum(['off', ...LOCKSTAT_MODES])])
    .default(false)
    .transform((v): LockstatMode => (v === true ? 'full' : v === false || v === 'off' ? false : v)),
  /**
   * The lock validator (lockdep, src/kernel/lockdep.ts): on unless
   * --no-lockdep. Its reports are violations (lockdep-*).
   */
  lockdep: z.boolean().default(true),
  stopOnViolation: z.boolean().default(false),
  stallTimeoutMs: z.number().positive().default(10_000),
  /**
   * --sched: `os` (the threads run at once, the OS interleaves them) or a
   * controlled scheduler (src/kernel/sched.ts): `random` or `pct` with its
   * DEPTH; one CPU runs at a time and a run is a schedule of `steps`
   * decisions, a pure function of (seed, sched, the rest of the config).
   */
  sched: z
    .object({
      kind: z.enum(['os', 'random', 'pct']).default('os'),
      depth: z.number().int().min(1).max(32).default(3),
      steps: z.number().int().min(10).max(1e8).default(2000),
      /**
       * A scripted schedule (hvaemu shrink): a schedule's log to take
       * again, [step, word] in step order (src/kernel/sched.ts LOG): the
       * context switches (word: the actor), migrations and delays; between
       * the switches the running CPU runs on (a spinning waiter hands over
       * to the next CPU in turn).
       */
      script: z
        .array(z.tuple([z.number().int().min(0), z.number().int().min(-0x40000000)]))
        .max(8192)
        .optional(),
      /**
       * replay --from-step: the step whose logical clock the scheduler notes
       * (the report's sched.markClock), so that events from there on can be told apart.
       */
      markStep: z.number().int().min(1).optional(),
      /**
       * A guided schedule (replay of a --sched os report, shrink;
       * src/kernel/sched_guide.ts): a recorded story's context switches as
       * [role, event] pairs: when the CPU playing `role` records `event` (on
       * the story's frame), the CPU playing the next pair's role is run.
       */
      guide: z
        .object({
          pattern: z
            .array(z.tuple([z.number().int().min(0).max(7), z.string()]))
            .min(1)
            .max(64),
          /** steps a CPU is run for its part before the guide starts over */
          window: z.number().int().min(1).max(1e6).default(400),
        })
        .optional(),
    })
    .default({ kind: 'os', depth: 3, steps: 2000 }),
  /**
   * A task whose one access faults (discard or page fault) this many times
   * in a row, with no other operation between, is livelocked: a stall of
   * kind `livelock` (the hardware re-executes a faulting instruction).
   */
  livelockFaults: z.number().int().min(2).max(1e9).default(1000),
  /**
   * --irq-rate: external interrupts per second of wall time. `timer` on
   * every CPU (the clock comparator: HZ), `net` for the network device, one
   * CPU after the other; 0 turns a source off.
   */
  irqRates: z
    .object({
      timer: z.number().min(0).max(1e6).default(IRQ_RATE_DEFAULTS.timer),
      net: z.number().min(0).max(1e6).default(IRQ_RATE_DEFAULTS.net),
    })
    .default(IRQ_RATE_DEFAULTS),
  /**
   * --park-hold (on by default; --no-park-hold: 0): a discard fault that
   * finds its frame parked (count 0, PG_discarded) when it tries its
   * reference keeps its window open up to this long (us), until an IPI
   * comes, within the widening budget (widen.ts, park_hold): the race the
   * discard list's rendezvous exists for, played out on every run.
   */
  parkHoldUs: z.number().min(0).max(1e6).default(PARK_HOLD_DEFAULT_US),
  // ---- race-window widening (all off by default: a normal run pays nothing) ----
  /** --jitter: a random delay up to this many microseconds at the points inside a hazard's window (widen.ts), one pass in JITTER_EVERY, within the widening budget. */
  jitterUs: z.number().min(0).max(1e6).default(0),
  /** --stutter: period (ms) of holding all but some CPUs still, then releasing them all. */
  stutterMs: z.number().min(0).max(3_600_000).default(0),
  /** --long-hold: one discard-list lock acquisition in LONG_HOLD_EVERY holds it this much longer (us), within the widening budget (widen.ts). */
  longHoldUs: z.number().min(0).max(1e6).default(0),
  /** --migrate: a task preempted at a preemption point with preemption enabled may resume on another CPU. */
  migrate: z.boolean().default(false),
  /**
   * --ipi-delivery: the host's latency (us) to deliver an IPI to a virtual
   * CPU, drawn per target between 0 and this: the target runs on (and may
   * take other interrupts) before it sees the call.
   */
  ipiDeliveryUs: z.number().min(0).max(1e6).default(0),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** A full, validated Config from partial input (tests, benchmarks, the CLI). */
export function makeConfig(input: Partial<ConfigInput> = {}): Config {
  return configSchema.parse({
    seed: (Date.now() ^ (process.pid << 16)) >>> 0,
    delaysUs: new Array(NR_POINTS).fill(0),
    ...input,
  });
}
