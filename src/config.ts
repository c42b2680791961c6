/**
 * The configuration of one emulated machine: every parameter, its default and
 * its bounds, in one schema. Ground-level module: the layout is computed from
 * a Config, the CLI validates into one, workers receive one.
 */
import { z } from 'zod';
import { NR_POINTS } from './points.ts';

export const VERSION = '0.1.0';

export const PROTOCOLS = ['patched', 'unpatched'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/**
 * PROTOCOL.md section 5: known ways of getting the protocol wrong, each a
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
] as const;
export type Mutant = (typeof MUTANTS)[number];

export const SPINLOCK_KINDS = ['tas', 'ticket', 'pv'] as const;
export type SpinlockKind = (typeof SPINLOCK_KINDS)[number];

export const FAULT_ADDRESS = ['absolute', 'virtual'] as const;
export type FaultAddress = (typeof FAULT_ADDRESS)[number];

/** Shape constants of the emulated guest (not flags: they size the page tables). */
export const PAGES_PER_FILE = 32; // a file is at most 32 pages: small files, many of them
export const MAP_SLOTS = 4; // file mappings per task (vmas), each PAGES_PER_FILE long
export const ANON_VPAGES = 16; // anonymous pages per task
export const TASKS_PER_CPU = 2;
export const NR_VPAGES = MAP_SLOTS * PAGES_PER_FILE + ANON_VPAGES;
/** Flight recorder: events kept per CPU (power of two). */
export const RING_EVENTS = 256;
/** Violations kept in the buffer; later ones are counted, not stored. */
export const MAX_VIOLATIONS = 32;
/** CPUs whose flight recorders a violation snapshots (the detector, the last allocator, the last freer). */
export const VIOLATION_CPUS = 3;

const int = (min: number, max: number) => z.number().int().min(min).max(max);

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
  /**
   * pv by default: on this project's machines virtual CPUs outnumber cores,
   * and a test-and-set waiter then burns its time slice while the holder is
   * descheduled (paravirtualised spinlocks exist for exactly that guest).
   */
  spinlock: z.enum(SPINLOCK_KINDS).default('pv'),
  lockstat: z.boolean().default(false),
  stopOnViolation: z.boolean().default(false),
  stallTimeoutMs: z.number().positive().default(10_000),
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
