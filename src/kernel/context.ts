/**
 * "This CPU": the views of the shared buffer and the per-CPU bases the kernel
 * code runs against. One worker thread is one CPU, so this is module state,
 * set once by kernel_attach(); single-threaded unit tests switch CPUs with
 * set_this_cpu() to play an interleaving step by step.
 *
 * Everything another CPU may read lives in the buffer; this object only caches
 * indices into it (and the run's configuration).
 */
import { type Config, protocolModule } from '../config.ts';
import { P } from '../points.ts';
import {
  latencyBase,
  lockstatBase,
  PERCPU,
  PERCPU_PENDING,
  percpuBase,
  pvecBase,
  ringBase,
  statsBase,
  type Views,
} from '../shm/layout.ts';
import { K } from './k.ts';
import { lockdep_attach } from './lockdep.ts';
import { protocol_ops } from './protocol/index.ts';

export { K };

export function kernel_attach(v: Views, cfg: Config, cpu: number): void {
  K.i32 = v.i32;
  K.f64 = v.f64;
  K.L = v.L;
  K.cfg = cfg;
  K.protocol = protocolModule(cfg.protocol);
  K.patched = K.protocol !== 'unpatched'; // 5/6's mark in __remove_from_page_cache (filemap.ts)
  const ops = protocol_ops(K.protocol);
  K.free_hot_cold_page_discarded = ops.free_hot_cold_page_discarded;
  K.shrink_discards = ops.shrink_discards;
  K.remove_mapping_refuses_discarded = ops.remove_mapping_refuses_discarded;
  ops.attach();
  const m = cfg.mutant;
  K.m_free_immediately = m === 'free-immediately';
  K.m_irq_enable_before_ref = m === 'irq-enable-before-ref';
  K.m_plain_inc = m === 'plain-inc';
  K.m_no_wait_ipi = m === 'no-wait-ipi';
  K.m_barrier_before_splice = m === 'barrier-before-splice';
  K.m_call_with_irqs_off = m === 'call-with-irqs-off';
  K.m_no_clear_before_free = m === 'no-clear-before-free';
  K.m_pvec_no_preempt = m === 'pagevec-without-preempt-off';
  K.m_sendfile_without_stable = m === 'sendfile-without-stable';
  K.m_tx_lock_without_bh = m === 'tx-lock-without-bh';
  K.m_lru_lock_without_irq = m === 'lru-lock-without-irq';
  K.absolute = cfg.faultAddress === 'absolute';
  K.pvSpinlock = cfg.spinlock === 'pv';
  K.ticketSpinlock = cfg.spinlock === 'ticket';
  K.lockTimed = cfg.lockstat === 'full';
  K.lockWaitTimed = cfg.lockstat !== false;
  K.lockdep = cfg.lockdep;
  lockdep_attach();
  K.delaysMs = Float64Array.from(cfg.delaysUs, (us) => us / 1000);
  K.delaySpansMs = Float64Array.from(cfg.delaySpansUs, (us) => us / 1000);
  K.delayEvery = Uint32Array.from(cfg.delayEvery);
  K.delayOn = cfg.delaysUs.some((d) => d > 0) || cfg.delaySpansUs.some((d) => d > 0);
  K.jitterMs = cfg.jitterUs / 1000;
  K.longHoldMs = cfg.longHoldUs / 1000;
  // The hold is a wall-clock sleep (none under a controlled scheduler), and a
  // hazard only where a window can meet a parked frame: the absolute fault
  // address, a protocol that parks (declares splice-in-window).
  K.parkHoldMs =
    cfg.sched.kind === 'os' && K.absolute && ops.hazards.includes('splice-in-window')
      ? cfg.parkHoldUs / 1000
      : 0;
  K.migrate = cfg.migrate && cfg.cpus > 1;
  K.stutter = cfg.stutterMs > 0;
  K.ipiDeliveryMs = cfg.ipiDeliveryUs / 1000;
  K.widen = K.delayOn || K.jitterMs > 0 || K.longHoldMs > 0 || K.migrate;
  K.faultDeliveryMs = cfg.faultDeliveryUs / 1000;
  set_this_cpu(cpu);
}

/** Switch the CPU this thread plays (workers call it once; unit tests at will). */
export function set_this_cpu(cpu: number): void {
  const L = K.L;
  K.home = cpu;
  if (cpu < L.nr_cpus) K.inAccess = percpuBase(L, cpu) + PERCPU.in_access;
  switch_cpu(cpu);
  if (cpu < L.nr_cpus) {
    K.lockstat = lockstatBase(L, cpu);
    K.lat = latencyBase(L, cpu);
  }
}

/**
 * The running task moves to `cpu` (migrate.ts): the per-CPU bases change;
 * what the task owns (home, lockdep's held locks, its latency records) stays.
 */
export function switch_cpu(cpu: number): void {
  const L = K.L;
  K.cpu = cpu;
  K.stats = statsBase(L, cpu);
  K.ring = ringBase(L, cpu);
  if (cpu < L.nr_cpus) {
    K.percpu = percpuBase(L, cpu);
    K.pending = K.percpu + PERCPU_PENDING;
    K.pvec = pvecBase(L, cpu);
  }
}

/** Point ids, re-exported for kernel files. */
export { P };
