/**
 * K, "this CPU" (context.ts explains it): in a module of its own that imports
 * nothing at run time, so that it is evaluated before any module that
 * imports it, whatever the cycles among the kernel's modules. A module on
 * the hot paths binds it to a module-local const (`const K = THIS_CPU`):
 * V8's optimizing compiler folds a module's own const to the object itself,
 * where an imported binding is a cell to load and test (for the hole, the
 * map) at every use. The hot modules do the same with the constant objects
 * and numbers they import from modules that import nothing of the kernel
 * (shm/layout.ts, check/events.ts, check/violations.ts, points.ts,
 * config.ts): `import { CNT as CNT_ }`, then `const CNT = CNT_`, and
 * `CNT.allocs` becomes a number in the compiled code. Only from such modules:
 * one in a cycle with the importer may not be evaluated yet when the
 * importer's consts are (benchmarks/README.md, hotPathJsOverNative).
 */
import type { Config, ProtocolModule } from '../config.ts';
import type { Layout } from '../shm/layout.ts';

export const K = {
  i32: new Int32Array(new SharedArrayBuffer(0)),
  f64: new Float64Array(new SharedArrayBuffer(0)),
  L: undefined as unknown as Layout,
  cfg: undefined as unknown as Config,
  cpu: 0,
  /**
   * The CPU this thread started as: its tasks belong to it for good. State a
   * task owns (its hardware access word for TLB flushes, reclaim's on-stack
   * lists, the oracle's fault record) is indexed by `home`; per-CPU data by
   * `cpu`, which --migrate may change at a preemption point (migrate.ts).
   */
  home: 0,
  /** index of the in_access word of this thread's tasks (on the home CPU's line) */
  inAccess: 0,
  /** index of this CPU's line 0 in i32 */
  percpu: 0,
  /** index of this CPU's IPI pending word */
  pending: 0,
  pvec: 0,
  stats: 0,
  ring: 0,
  /** protocol switches, decoded once */
  patched: true,
  absolute: true,
  pvSpinlock: false,
  ticketSpinlock: false,
  /** --lockstat=full: locks take their timed path (hold times, contended points) */
  lockTimed: false,
  /** --lockstat (either mode): a contended acquisition notes its call site and times its wait */
  lockWaitTimed: false,
  /** the lock validator is on (lockdep.ts): spin_lock and friends call its hooks */
  lockdep: false,
  /** f64 index of this CPU's lockstat block, of its latency block */
  lockstat: 0,
  lat: 0,
  /** the --protocol module this CPU runs (an alias resolved: `patched` runs dec-2005-fixed) */
  protocol: 'dec-2005' as ProtocolModule,
  /** its branch of free_hot_cold_page for a PG_discarded page (true: parked), bound by kernel_attach */
  free_hot_cold_page_discarded: (_pfn: number): boolean => false,
  /** its discard-list shrink, once per priority pass of try_to_free_pages; pages freed */
  shrink_discards: (): number => 0,
  /** reclaim's remove_mapping refuses a PG_discarded page (dec-2005-fixed's change; vmscan.ts) */
  remove_mapping_refuses_discarded: false,
  /** mutants (docs/protocol.md section 5), decoded once: the hot path tests a boolean */
  m_free_immediately: false,
  m_irq_enable_before_ref: false,
  m_plain_inc: false,
  m_no_wait_ipi: false,
  m_barrier_before_splice: false,
  m_call_with_irqs_off: false,
  m_no_clear_before_free: false,
  m_pvec_no_preempt: false,
  m_sendfile_without_stable: false,
  m_tx_lock_without_bh: false,
  m_lru_lock_without_irq: false,
  /** race-window widening: any of the below on; point() then calls widen_at() */
  widen: false,
  /** any delay configured at a preemption point */
  delayOn: false,
  delaysMs: new Float64Array(0),
  delaySpansMs: new Float64Array(0),
  /** --delay POINT=D@N: the delay on one pass in N (1: every pass). */
  delayEvery: new Uint32Array(0),
  jitterMs: 0,
  longHoldMs: 0,
  /** --park-hold (ms; on by default): the parked-frame hold's bound (widen.ts, park_hold); 0: off */
  parkHoldMs: 0,
  migrate: false,
  /** --stutter: CPUs look at their hold word between batches */
  stutter: false,
  /** --ipi-delivery (ms): a pending IPI shows only from ipi_at on */
  ipiDeliveryMs: 0,
  /** fault delivery latency (ms) */
  faultDeliveryMs: 0,
  /** the oracle's last history stamp (ms): the recorder event that follows it shares the reading */
  histT: 0,
  /** performance.now() when interrupts were last disabled */
  irqsOffAt: 0,
};
