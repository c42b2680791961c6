/**
 * The one place that knows where everything lives in the guest's
 * SharedArrayBuffer. Every offset is computed here from the Config; no other
 * file writes a number that is an offset.
 *
 * Indices are element indices: `i32[L.page_count + pfn]`, `f64[L.stats + ...]`.
 * Regions are 64-byte aligned; anything written by one CPU and read by others
 * in a hot path sits on its own 64-byte line.
 *
 * | region          | element                     | bytes              | kernel field                         |
 * |-----------------|-----------------------------|--------------------|--------------------------------------|
 * | ctrl            | Int32 x 16                  | 64                 | (emulator: stop word, start barrier) |
 * | page_flags      | Int32 per pfn               | 4 n                | page->flags                          |
 * | page_count      | Int32 per pfn               | 4 n                | page->_count (unbiased: 0 = free)    |
 * | page_mapcount   | Int32 per pfn               | 4 n                | page->_mapcount + 1                  |
 * | page_mapping    | Int32 per pfn               | 4 n                | page->mapping (0 NULL, f+1 file, <0 anon) |
 * | page_index      | Int32 per pfn               | 4 n                | page->index                          |
 * | lru_next/prev   | Int32 per node              | 4 (n + heads) x 2  | page->lru; heads after the pfns, a line per CPU |
 * | host_state      | Int32 per pfn               | 4 n                | host: usage x content (ESSA state)   |
 * | zone            | 3 lines                     | 192                | zone->lock, free_pages, lru_lock     |
 * | discard         | 1 line                      | 64                 | page_hva_discard_list_lock           |
 * | call            | 2 lines                     | 128                | call_lock; call_data                 |
 * | call_time (f64) | 1 line                      | 64                 | (stats: when the IPIs were sent)     |
 * | page_lock_cpu   | Int32 per pfn               | 4 n                | (lockstat: last CPU to take PG_locked) |
 * | percpu          | 2 lines per CPU             | 128 c              | irq flag, preempt count, pcp; IPI pending |
 * | pvec            | lines per CPU               | 4 (1+size) c, pad  | page_hva_discard_pvecs               |
 * | task            | lines per task              | pte lock, vmas, ptes | mm->page_table_lock, vma, pte       |
 * | file            | 1 line per file             | 64 f               | mapping->tree_lock, nrpages          |
 * | pagecache       | Int32 per file x index      | 4 f PAGES_PER_FILE | radix tree slot (pfn + 1, 0 empty)   |
 * | ghost           | Int32 per pfn x 6; fault rec | ...               | (oracle only)                        |
 * | ghost_hist_t    | Float64 per pfn x HIST.nr   | 24 n               | (oracle: when last allocated, freed, parked) |
 * | recorder        | per CPU + host: ring        | ...                | (flight recorder)                    |
 * | violations      | slots                       | ...                | (oracle reports)                     |
 * | ipi_at (f64)    | 1 line per CPU              | 64 c               | (--ipi-delivery: when the IPI shows) |
 * | stats (f64)     | counters per CPU + host, then a line of the thread's memory | 64-byte multiples | (per-CPU counters; soak memstat) |
 * | lockstat (f64)  | per CPU: class x LOCKSTAT, a line of contended marks | 64-byte multiples | (lock_stat) |
 * | latency (f64)   | per CPU: LATENCY histograms | 64-byte multiples  | (irqsoff, IPI latency histograms)    |
 * | lockdep         | LOCKDEP: usage, graph, records, reports | ~60 KiB  | (lockdep's lock_class usage, chains) |
 * | sched           | SCHED header, a turn line per actor, log | ~70 KiB   | (the controlled scheduler: --sched)  |
 * | host (f64)      | HOST: the host's state between ticks | one line        | (the hypervisor's clock hand, quotas) |
 *
 * Every spinlock is a LOCK_SLOT of consecutive Int32 words (tas/pv state or
 * ticket next, ticket owner, last CPU): a lock in a line shared with other
 * fields is followed by LOCK_SLOT.words words before the next field.
 */
import {
  type Config,
  MAP_SLOTS,
  MAX_VIOLATIONS,
  NR_VPAGES,
  PAGES_PER_FILE,
  RING_EVENTS,
  TASKS_PER_CPU,
  VIOLATION_CPUS,
} from '../config.ts';

const LINE = 64;
const I32_PER_LINE = LINE / 4;

/** Control words, one line (written rarely). */
export const CTRL = {
  stop: 0, // 1: CPUs finish their operation and quiesce
  go: 1, // 1: start barrier released
  nr_ready: 2, // CPUs and host attached and waiting at the barrier
  nr_quiesced: 3, // CPUs that left the workload and only take IPIs now
  release: 4, // 1: quiesced CPUs may return
  nr_violations: 5, // violations found (stored or not)
  crashed_cpu: 6, // cpu + 1 of a CPU that threw
  stop_machine: 7, // 1: CPUs park at their next batch boundary (quiescent) until it is 0 again
  nr_parked: 8, // CPUs parked for stop_machine (the main thread waits on it)
  list_bug: 9, // 1 once a list-corruption was reported (later finds are its echoes)
  guided_arm: 10, // --guided: the workload mix arm the CPUs run (src/check/guided.ts; 0: as configured)
  setup_turn: 11, // the CPU whose thread may write its setup into the buffer now (thread.ts)
  nr_words: 16,
} as const;

/**
 * The controlled scheduler's words (--sched random|pct, src/kernel/sched.ts):
 * a header line, then per actor (the CPUs, then the host) a turn word on its
 * own line, a priority and an exited flag; PCT's change points; a log of the
 * context switches (step, next actor) for the report.
 */
export const SCHED = {
  step: 0, // decisions taken so far
  clock: 1, // logical clock: events stamped so far (the recorder's now())
  rng: 2, // xorshift32 state, seeded from the schedule's seed
  spins: 3, // consecutive decisions taken by spinning waiters (deadlock detection)
  switches: 4, // decisions that handed the token to another actor
  deadlock: 5, // 1: no CPU could make progress
  epoch: 6, // progress: decisions a CPU took running on or returning from an interrupt (a spinning waiter waits for the next)
  steps: 7, // the schedule's length (--steps)
  kind: 8, // SCHED_KIND
  depth: 9, // pct's DEPTH
  token: 10, // the actor that runs (-1 none: all left)
  log_n: 11, // switches logged
  nr_actors: 12,
  hash: 13, // FNV-1a of every decision (step, next)
  script_n: 14, // a scripted schedule's switches (shrink): 0 none
  script_at: 15, // the next scripted switch to take
  handoffs: 16, // hand-overs of the token to another thread (a host turn is none: the holder runs it)
  spinners: 17, // threads spinning on their turn word now (at most the cores but one)
  done: 18, // 1: every actor has left the schedule (notified: the main thread and the host wait on it)
  migrations: 19, // --migrate: tasks moved by the scheduler (each a swap of two threads' CPUs)
  mark_step: 20, // replay --from-step: the step whose logical clock is wanted (0: none)
  mark_clock: 21, // the logical clock (events stamped) when that step was decided
  skipped: 22, // --delay: decisions' worth of time skipped while no CPU could run but those in a delay (sched.ts sched_time)
  nr_words: 32,
  /** PCT change points kept at most (DEPTH - 1). */
  max_change_points: 32,
  /** Context switches logged at most (pairs of words). */
  max_log: 8192,
} as const;
export const SCHED_KIND = { os: 0, random: 1, pct: 2 } as const;

/**
 * The host's state between its ticks (src/host/hypervisor.ts), Float64: in
 * the buffer, not in the host thread, because under a controlled scheduler
 * the tick runs on whichever thread holds the token (sched.ts).
 */
export const HOST = {
  started: 0, // 1 once the first tick set the clocks
  hand: 1, // the clock hand: the next frame to look at
  quota: 2, // discards owed (fractional)
  last: 3, // the host clock at the last tick (ms)
  timer_quota: 4, // timer interrupts owed
  net_quota: 5, // device interrupts owed
  next_cpu: 6, // the CPU the next device interrupt goes to
  discards: 7, // frames discarded so far
  nr_words: 8,
} as const;

/**
 * A guided schedule's words (config.sched.guide, src/kernel/sched_guide.ts):
 * where the guide is in its pattern, what it bound, then per actor the ring
 * head it has read up to, then the pattern as (role, event) pairs.
 */
export const GUIDE = {
  n: 0, // pattern entries (0: no guide)
  pos: 1, // entries matched so far
  pfn: 2, // the frame bound (-1: none yet)
  since: 3, // the step at which the current segment began
  window: 4, // steps a segment may take before the guide starts over
  matched: 5, // times the whole pattern was matched
  resets: 6, // times the guide started over
  roles: 8, // the CPU bound to each role (-1: none), GUIDE.max_roles words
  max_roles: 8,
  header: 16,
  /** pattern entries at most */
  max: 64,
} as const;

/** Per-CPU line 0 (written by its owner). */
export const PERCPU = {
  irqs_enabled: 0,
  preempt_count: 1,
  point: 2, // current preemption point
  in_kernel_op: 3, // workload operation id in progress (-1 between)
  pcp_hot_count: 4,
  pcp_hot_high: 5,
  pcp_hot_batch: 6,
  pcp_cold_count: 7,
  pcp_cold_high: 8,
  pcp_cold_batch: 9,
  locks_held: 10, // bitmask of lock classes held (stall reports)
  state: 11, // CPU_STATE
  in_access: 12, // 1 while this CPU's hardware is between its pte walk and the access (TLB flush waits)
  nr_discard: 13, // percpu-2006: pages on this CPU's discard list
  livelock: 14, // faults in a row of the access in progress, once past --livelock-faults (0: none)
  livelock_vpage: 15, // task * 65536 + vpage of that access
} as const;
/**
 * Per-CPU line 1: written by other CPUs. PERCPU_PENDING is the external
 * interrupt word: a bit per source (PENDING), set by the sender (another
 * CPU's IPI, the host's timer and network device), cleared by this CPU when
 * it takes the interrupt.
 */
export const PERCPU_PENDING = I32_PER_LINE;
export const PENDING = { ipi: 1, timer: 2, net: 4 } as const;
/** Interrupt sources as --irq-rate names them (IPIs are not rated: CPUs send them). */
export const IRQ_SOURCE = { timer: 0, net: 1 } as const;
export const IRQ_SOURCES = ['timer', 'net'] as const;
/** Per-CPU line 2: interrupt state only this CPU writes (softirq.c's per-CPU words). */
export const PERCPU_IRQ = {
  softirq_pending: 2 * I32_PER_LINE, // local_softirq_pending(): a bit per SOFTIRQ
  rx_page: 2 * I32_PER_LINE + 1, // pfn + 1 of the buffer the network receive path holds (0: none)
} as const;
/** Per-CPU line 1, after the IPI pending word: stutter hold (main thread), migration request (other CPUs). */
export const PERCPU_HOLD = PERCPU_PENDING + 1;
export const PERCPU_MIGRATE = PERCPU_PENDING + 2;
/**
 * Per-CPU line 1: the i32 index of the word this CPU sleeps on while it waits
 * for a pv spinlock with interrupts enabled (0: none; word 0 is no lock), so
 * that smp_call_function can wake it there for its IPI (spinlock.ts).
 */
export const PERCPU_SLEEP = PERCPU_PENDING + 3;
export const CPU_STATE = { starting: 0, running: 1, quiescing: 2, done: 3, parked: 4 } as const;

/**
 * A spinlock_t: `val` is the tas/pv state (0 unlocked, 1 locked, 2 locked
 * with sleepers) or the ticket lock's next ticket; `owner` is the ticket now
 * served (always 0 for tas/pv, so `val !== owner` means held for every kind);
 * `cpu` is cpu + 1 of the last CPU that took the lock, lockdep_map's `cpu`,
 * for lock_stat's bounces (0: never taken).
 */
export const LOCK_SLOT = { val: 0, owner: 1, cpu: 2, words: 3 } as const;

/**
 * The network device (net.ts): dev->queue_lock, the transmit ring's
 * producer and consumer counts, the count the device has completed up to
 * (its interrupt moves it), and NET_RING slots of pfns handed to it.
 */
export const NET = {
  queue_lock: 0,
  tail: LOCK_SLOT.words,
  head: LOCK_SLOT.words + 1,
  done: LOCK_SLOT.words + 2,
  ring: I32_PER_LINE,
} as const;
/** Transmit ring slots (a power of two: counts wrap through it). */
export const NET_RING = 256;
/**
 * Lock classes, as the kernel names the locks (lock_stat's class names). Every
 * tree_lock is one class, every pte lock one class, every page's PG_locked
 * one class. Index = bit in PERCPU.locks_held (spinlocks only).
 */
export const LOCK_CLASSES = [
  'page_hva_discard_list_lock',
  'zone->lock',
  'zone->lru_lock',
  'mapping->tree_lock',
  'mm->page_table_lock',
  'call_lock',
  'PG_locked',
  'dev->queue_lock',
] as const;
export type LockClassName = (typeof LOCK_CLASSES)[number];

/**
 * The lock validator (src/kernel/lockdep.ts). Its targets are the lock
 * classes, then the per-CPU data it watches (lockdep_percpu annotations);
 * each has four usage bits (LD_USAGE), global across CPUs, and the first
 * time each bit was set is recorded (LD_REC: CPU, context, preemption point,
 * the held classes, the call chain as text). The dependency graph is a word
 * per class (bit j: an edge class -> j), each edge with the record of its
 * first acquisition. Reports are LD_REPORT slots.
 */
export const LOCKDEP_PERCPU = [
  'page_hva_discard_pvecs',
  'per_cpu_pageset',
  'page_discard_list',
] as const;
export const LD_CLASSES = LOCK_CLASSES.length;
export const LD_TARGETS = LOCK_CLASSES.length + LOCKDEP_PERCPU.length;
/** Usage bits, in lockdep's order: used in hardirq/softirq, taken with hardirqs/softirqs enabled. */
export const LD_USAGE = ['IN-HARDIRQ-W', 'IN-SOFTIRQ-W', 'HARDIRQ-ON-W', 'SOFTIRQ-ON-W'] as const;
/** A first-seen record: Int32 words, then the call chain as ASCII in `text_bytes` bytes. */
export const LD_REC = {
  cpu: 0,
  ctx: 1,
  point: 2,
  held: 3,
  text: 4,
  text_bytes: 384,
  words: 100,
} as const;
/** Reports kept (later ones are counted); classes on a reported dependency path. */
export const LD_MAX_REPORTS = 16;
export const LD_PATH = 16;
export const LD_REPORT = {
  kind: 0,
  a: 1,
  b: 2,
  /** 0 hardirq, 1 softirq (the context of the held lock for a recursion) */
  irq: 3,
  /** the usage bit just set that made the report (-1: a new dependency did) */
  bit: 4,
  path_len: 5,
  path: 6,
  rec: 6 + LD_PATH,
  words: 6 + LD_PATH + LD_REC.words,
} as const;
const LD_USAGE_REC = 4 * I32_PER_LINE + LD_TARGETS * LD_TARGETS;
const LD_EDGE_REC = LD_USAGE_REC + LD_TARGETS * LD_USAGE.length * LD_REC.words;
const LD_REPORTS = LD_EDGE_REC + LD_CLASSES * LD_CLASSES * LD_REC.words;
/** The validator's region (Int32 words). */
export const LOCKDEP = {
  nr_reports: 0,
  /** usage bits per target (set once, never cleared: Atomics.or) */
  usage: I32_PER_LINE,
  /** usage bits claimed: the CPU that claims a bit writes its record */
  claimed: I32_PER_LINE + LD_TARGETS,
  /** per class, a bit per class it was seen taken before */
  adj: I32_PER_LINE + 2 * LD_TARGETS,
  /** per (target, target), a bit per report kind made about them (each is reported once) */
  reported: 4 * I32_PER_LINE,
  usage_rec: LD_USAGE_REC,
  edge_rec: LD_EDGE_REC,
  report: LD_REPORTS,
  words: LD_REPORTS + LD_MAX_REPORTS * LD_REPORT.words,
} as const;

/**
 * Per-CPU, per-class lock_stat record (Float64): acquisitions, contentions
 * and bounces always counted; wait and hold times only with --lockstat
 * (`*_nr` are their sample counts; min is valid when nr > 0).
 */
export const LOCKSTAT = {
  acquisitions: 0,
  contentions: 1,
  con_bounces: 2,
  acq_bounces: 3,
  wait_nr: 4,
  wait_min: 5,
  wait_max: 6,
  wait_total: 7,
  hold_nr: 8,
  hold_min: 9,
  hold_max: 10,
  hold_total: 11,
  nr_fields: 12,
} as const;
/**
 * --lockstat=full: after the class records, the last line of a CPU's lockstat
 * block (f64 index in the block), written by OTHER CPUs: as Int32 (2 per
 * f64), per class, the contentions on a lock this CPU holds, not yet
 * attributed to its call site (lock_stat's contended points;
 * src/stats/lockstat.ts). (The held-lock stack for hold times is each
 * thread's own, in JS: no other thread reads it.)
 */
export const LOCKSTAT_MARKS = alignUp(LOCK_CLASSES.length * LOCKSTAT.nr_fields, LINE / 8);

/**
 * Latency histograms (Float64 counts), log-linear as HdrHistogram's: in
 * quarter microseconds q, buckets 0..7 are q = 0..7 (below 2 us, 0.25 us
 * wide), then each octave [2^e, 2^(e+1)) of q is split into `sub` equal
 * buckets, up to q < 2^29 (134 s); the last bucket holds everything above.
 * (src/stats/latency.ts: hist_bucket, bucket_edges.)
 */
export const LAT_HIST = { sub: 4, linear: 8, max_exp: 29, buckets: 8 + 4 * (29 - 3) + 1 } as const;
/** A CPU's latency block: its interrupts-off sections, its smp_call_function calls, its IPI responses. */
export const LATENCY = {
  irqs_off: 0,
  call: LAT_HIST.buckets,
  response: 2 * LAT_HIST.buckets,
  call_max_us: 3 * LAT_HIST.buckets,
  response_max_us: 3 * LAT_HIST.buckets + 1,
  nr_words: 3 * LAT_HIST.buckets + 2,
} as const;

/** call_data of smp_call_function (2.6's struct call_data_struct), line after call_lock. */
export const CALL = {
  func: 0,
  started: 1,
  finished: 2,
  wait: 3,
  seq: 4,
  caller: 5,
  info: 6, // the func's argument (percpu-2006: the caller's list head node)
} as const;

/** Zone words: zone->lock line, counters line, lru_lock line. */
export const ZONE = {
  lock: 0,
  free_pages: I32_PER_LINE,
  pages_min: I32_PER_LINE + 1,
  pages_low: I32_PER_LINE + 2,
  pages_high: I32_PER_LINE + 3,
  lru_lock: 2 * I32_PER_LINE,
  nr_lru: 2 * I32_PER_LINE + LOCK_SLOT.words,
} as const;

/** page_hva_discard_list_lock line: the lock and the number of pages on the list. */
export const DISCARD = { lock: 0, nr_pages: LOCK_SLOT.words } as const;

/** Ghost fault record per CPU (oracle). */
export const FAULTREC = { pfn: 0, gen: 1, active: 2 } as const;

/** A flight-recorder event: Int32 words; its time is a Float64 in a parallel ring. */
export const EVENT_WORDS = 4; // event, pfn, a, b

/** Violation slot header (Int32), followed by traces. */
export const VIOL = {
  kind: 0,
  cpu: 1,
  pfn: 2,
  gen_at_fault: 3,
  gen_now: 4,
  cpus: 5, // VIOLATION_CPUS words: CPUs whose recorders were copied (-1 none)
  detail: 5 + VIOLATION_CPUS, // kind-specific: the bad flags, the count, the mapping
  hist: 6 + VIOLATION_CPUS, // HIST.nr words: the frame's last allocator, freer, parker (cpu or -1)
  header_words: 6 + VIOLATION_CPUS + 3, // 3 = HIST.nr (below)
} as const;

/** Per-CPU counters (Float64), one block per CPU and one for the host. */
export const COUNTERS = [
  'ops',
  'discardFaults',
  'refsRefused',
  'ipisTaken',
  'pagesParked',
  'pagesFreedFromList',
  'rendezvous',
  'hostDiscards',
  'allocs',
  'frees',
  'reclaims',
  'allocFailures',
  'irqsOffMaxUs',
  'discardPages',
  'truncates',
  'findGetPageDiscarded',
  'pagesMadeVolatile',
  'listFlushes',
  'splices',
  'rendezvousWaitUs',
  'hardirqs',
  'softirqs',
  /** pages whose last put_page ran in interrupt context */
  'irqFrees',
  /** page references handed to the network device by sendfile */
  'sendfilePages',
  /** parked-frame holds (widen.ts, park_hold) and the time they held windows open */
  'parkHolds',
  'parkHoldUs',
  // Near misses (src/check/coverage.ts, HAZARDS): a dangerous overlap that
  // happened and that the protocol defused, one counter per hazard.
  'nmCacheRemoveInWindow',
  'nmParkInWindow',
  'nmFlushInWindow',
  'nmSpliceInWindow',
  'nmLastPutInWindow',
  'nmIpiToWindow',
  'nmRefusedParked',
  'nmDoubleFault',
  'nmDiscardLockContended',
  'nmIrqDiscardToPut',
  'nmTxFreeUncached',
] as const;
export type CounterName = (typeof COUNTERS)[number];
export const CNT = Object.fromEntries(COUNTERS.map((n, i) => [n, i])) as {
  readonly [K in CounterName]: number;
};
/**
 * After the counters of a stats block, a line of the thread's own memory
 * (src/soak/memstat.ts): written by the thread itself at its batch
 * boundaries (a spinning CPU answers no message), read by the soak's sampler.
 * Keyed by the thread's home CPU (the host: nr_cpus), not by the CPU it runs as.
 */
export const STATS_MEM = alignUp(COUNTERS.length, LINE / 8);
export const MEMSTAT = {
  heapUsed: 0,
  heapTotal: 1,
  external: 2,
  arrayBuffers: 3,
  malloced: 4, // v8.getHeapStatistics().malloced_memory
  atMs: 5, // epoch ms of the sample (0: none yet)
  newSpace: 6, // V8's young generation, committed (v8.getHeapSpaceStatistics new_space)
  codeSpace: 7, // V8's code space, committed
  nr_words: 8,
} as const;

/**
 * List heads live in the link arrays after the pfns, from the first 64-byte
 * line after them (node = L.head_base + head): the global heads in that line,
 * then one line of per-CPU heads per CPU, so that a CPU's own list ops (every
 * alloc and free goes through its hot or cold list head) never write a line
 * another CPU writes (the zone, LRU and discard heads, the other CPUs' heads).
 */
export const HEAD = { free: 0, lru: 1, discard: 2, percpu: I32_PER_LINE } as const;
/** Per-CPU list heads; `discard` is percpu-2006's per-CPU discard list. */
export const PERCPU_HEADS = { hot: 0, cold: 1, splice: 2, isolate: 3, discard: 4, nr: 5 } as const;

/** A frame's history kept by the oracle (ghost_hist_t, f64 per pfn x HIST.nr) and copied into violations. */
export const HIST = { alloc: 0, free: 1, park: 2, nr: 3 } as const;
/** A violation's f64 slot: when, the frame's history times, then the trace event times. */
export const VIOL_TIME = { at: 0, hist: 1, trace: 1 + HIST.nr } as const;

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

export type Layout = ReturnType<typeof computeLayout>;

export function computeLayout(cfg: Pick<Config, 'cpus' | 'pages' | 'files' | 'pagevecSize'>) {
  const nr_cpus = cfg.cpus;
  const nr_pages = cfg.pages;
  const nr_files = cfg.files;
  const nr_tasks = nr_cpus * TASKS_PER_CPU;
  const head_base = alignUp(nr_pages, I32_PER_LINE);
  const nr_heads = HEAD.percpu + I32_PER_LINE * nr_cpus; // PERCPU_HEADS.nr <= I32_PER_LINE
  const nr_nodes = head_base + nr_heads;
  const nr_recorders = nr_cpus + 1; // CPUs, then the host

  let bytes = 0;
  /** Reserve `n` elements of `size` bytes, 64-byte aligned; returns the element index. */
  const region = (n: number, size: 4 | 8): number => {
    bytes = alignUp(bytes, LINE);
    const idx = bytes / size;
    bytes += n * size;
    return idx;
  };

  const pvec_stride = alignUp(1 + cfg.pagevecSize, I32_PER_LINE);
  const task_stride = alignUp(I32_PER_LINE + MAP_SLOTS + NR_VPAGES, I32_PER_LINE);
  const ring_stride = alignUp(I32_PER_LINE + RING_EVENTS * EVENT_WORDS, I32_PER_LINE);
  const viol_trace_events = VIOLATION_CPUS * RING_EVENTS;
  const viol_stride = alignUp(VIOL.header_words + viol_trace_events * EVENT_WORDS, I32_PER_LINE);
  const stats_stride = STATS_MEM + alignUp(MEMSTAT.nr_words, LINE / 8);
  const lockstat_stride = LOCKSTAT_MARKS + LINE / 8;
  const latency_stride = alignUp(LATENCY.nr_words, LINE / 8);

  const L = {
    nr_cpus,
    nr_pages,
    nr_files,
    nr_tasks,
    nr_heads,
    nr_nodes,
    /** node of list head 0; per-CPU heads: percpu_heads + cpu * percpu_heads_stride + which */
    head_base,
    percpu_heads: head_base + HEAD.percpu,
    percpu_heads_stride: I32_PER_LINE,
    nr_recorders,
    pagevec_size: cfg.pagevecSize,

    ctrl: region(CTRL.nr_words, 4),
    page_flags: region(nr_pages, 4),
    page_count: region(nr_pages, 4),
    page_mapcount: region(nr_pages, 4),
    page_mapping: region(nr_pages, 4),
    page_index: region(nr_pages, 4),
    lru_next: region(nr_nodes, 4),
    lru_prev: region(nr_nodes, 4),
    host_state: region(nr_pages, 4),
    zone: region(3 * I32_PER_LINE, 4),
    discard: region(I32_PER_LINE, 4),
    call_lock: region(I32_PER_LINE, 4),
    call: region(I32_PER_LINE, 4),
    net: region(NET.ring + NET_RING, 4),
    /** f64 index: when the current smp_call_function raised its IPIs (wall ms, recorder's now()). */
    call_time: region(LINE / 8, 8),
    page_lock_cpu: region(nr_pages, 4),
    percpu: region(3 * I32_PER_LINE * nr_cpus, 4),
    percpu_stride: 3 * I32_PER_LINE,
    pvec: region(pvec_stride * nr_cpus, 4),
    pvec_stride,
    task: region(task_stride * nr_tasks, 4),
    task_stride,
    /** Within a task block: the pte lock word, the vma file ids, the ptes (pfn + 1, 0 none). */
    task_pte_lock: 0,
    task_vma: I32_PER_LINE,
    task_pte: I32_PER_LINE + MAP_SLOTS,
    file: region(I32_PER_LINE * nr_files, 4),
    file_stride: I32_PER_LINE,
    /** Within a file line: mapping->tree_lock, nrpages, i_size in pages, truncate_count. */
    file_tree_lock: 0,
    file_nrpages: LOCK_SLOT.words,
    file_size: LOCK_SLOT.words + 1,
    file_truncate_count: LOCK_SLOT.words + 2,
    pagecache: region(nr_files * PAGES_PER_FILE, 4),
    ghost_gen: region(nr_pages, 4),
    ghost_list: region(nr_pages, 4),
    ghost_wtarget: region(nr_pages, 4),
    ghost_last_alloc: region(nr_pages, 4),
    ghost_last_free: region(nr_pages, 4),
    ghost_last_park: region(nr_pages, 4),
    /** the CPU whose discard fault last opened a window on the frame (reports) */
    ghost_last_fault: region(nr_pages, 4),
    /** f64 index: per pfn, HIST.nr times (wall ms) of its last alloc, free, park. */
    ghost_hist_t: region(nr_pages * HIST.nr, 8),
    faultrec: region(I32_PER_LINE * nr_cpus, 4),
    faultrec_stride: I32_PER_LINE,
    ring: region(ring_stride * nr_recorders, 4),
    ring_stride,
    /** Within a ring block: the head (events written so far), then the events. */
    ring_head: 0,
    ring_events: I32_PER_LINE,
    ring_time: region(RING_EVENTS * nr_recorders, 8),
    viol: region(viol_stride * MAX_VIOLATIONS, 4),
    viol_stride,
    viol_time: region((VIOL_TIME.trace + viol_trace_events) * MAX_VIOLATIONS, 8),
    viol_time_stride: VIOL_TIME.trace + viol_trace_events,
    /** f64 index: per CPU (one line each), when a pending IPI becomes visible (--ipi-delivery). */
    ipi_at: region((LINE / 8) * nr_cpus, 8),
    ipi_at_stride: LINE / 8,
    stats: region(stats_stride * nr_recorders, 8),
    stats_stride,
    lockstat: region(lockstat_stride * nr_cpus, 8),
    lockstat_stride,
    latency: region(latency_stride * nr_cpus, 8),
    latency_stride,
    /** the lock validator's region (LOCKDEP) */
    lockdep: region(LOCKDEP.words, 4),
    /** the controlled scheduler (SCHED): header, turn lines per actor, priorities, exited, change points, log */
    sched: region(SCHED.nr_words, 4),
    sched_turn: region(I32_PER_LINE * nr_recorders, 4),
    sched_prio: region(nr_recorders, 4),
    sched_exited: region(nr_recorders, 4),
    sched_cp: region(SCHED.max_change_points, 4),
    sched_log: region(2 * SCHED.max_log, 4),
    /** a scripted schedule (hvaemu shrink): its switches as (step, actor) pairs */
    sched_script: region(2 * SCHED.max_log, 4),
    /** --migrate under the scheduler, per actor: the CPU it plays, the CPU to become when it next runs (+1, 0 none), and whether its task could be moved where it waits */
    sched_cpu: region(nr_recorders, 4),
    sched_move: region(nr_recorders, 4),
    sched_movable: region(nr_recorders, 4),
    /** --delay under the scheduler, per actor: the step its delay ends at (0: none) */
    sched_wake: region(nr_recorders, 4),
    /** per actor: 1 + the epoch (SCHED.epoch) at which it last yielded as a spinning waiter (0: it ran on since) */
    sched_spun: region(nr_recorders, 4),
    /** f64 index: the host's state between ticks (HOST) */
    host: region(HOST.nr_words, 8),
    /** a guided schedule (GUIDE): header, a ring head per actor, the pattern */
    sched_guide: region(GUIDE.header + nr_recorders + 2 * GUIDE.max, 4),
    bytes: 0,
  };
  L.bytes = alignUp(bytes, LINE);
  return Object.freeze(L);
}

/** Node index of list head `h` (HEAD.*), or of a per-CPU head. */
export function headNode(L: Layout, h: number): number {
  return L.head_base + h;
}
export function percpuHeadNode(L: Layout, cpu: number, which: number): number {
  return L.percpu_heads + cpu * L.percpu_heads_stride + which;
}
export function percpuBase(L: Layout, cpu: number): number {
  return L.percpu + cpu * L.percpu_stride;
}
export function pvecBase(L: Layout, cpu: number): number {
  return L.pvec + cpu * L.pvec_stride;
}
export function taskBase(L: Layout, task: number): number {
  return L.task + task * L.task_stride;
}
export function fileBase(L: Layout, file: number): number {
  return L.file + file * L.file_stride;
}
export function ringBase(L: Layout, rec: number): number {
  return L.ring + rec * L.ring_stride;
}
export function statsBase(L: Layout, rec: number): number {
  return L.stats + rec * L.stats_stride;
}
/** f64 index of a CPU's lockstat block (its own 64-byte lines). */
export function lockstatBase(L: Layout, cpu: number): number {
  return L.lockstat + cpu * L.lockstat_stride;
}
/** f64 index of a CPU's latency block (its own 64-byte lines). */
export function latencyBase(L: Layout, cpu: number): number {
  return L.latency + cpu * L.latency_stride;
}
export function violBase(L: Layout, slot: number): number {
  return L.viol + slot * L.viol_stride;
}

export type Views = {
  sab: SharedArrayBuffer;
  i32: Int32Array<SharedArrayBuffer>;
  f64: Float64Array<SharedArrayBuffer>;
  L: Layout;
};

export function allocate(L: Layout): Views {
  const sab = new SharedArrayBuffer(L.bytes);
  return attach(sab, L);
}
export function attach(sab: SharedArrayBuffer, L: Layout): Views {
  if (sab.byteLength < L.bytes) throw new Error(`buffer ${sab.byteLength} < layout ${L.bytes}`);
  return { sab, i32: new Int32Array(sab), f64: new Float64Array(sab), L };
}
