/**
 * "This CPU": the views of the shared buffer and the per-CPU bases the kernel
 * code runs against. One worker thread is one CPU, so this is module state,
 * set once by kernel_attach(); single-threaded unit tests switch CPUs with
 * set_this_cpu() to play an interleaving step by step.
 *
 * Everything another CPU may read lives in the buffer; this object only caches
 * indices into it (and the run's configuration).
 */
import type { Config } from '../config.ts';
import { P } from '../points.ts';
import {
  type Layout,
  latencyBase,
  lockstatBase,
  PERCPU_PENDING,
  percpuBase,
  pvecBase,
  ringBase,
  statsBase,
  type Views,
} from '../shm/layout.ts';

export const K = {
  i32: new Int32Array(new SharedArrayBuffer(0)),
  f64: new Float64Array(new SharedArrayBuffer(0)),
  L: undefined as unknown as Layout,
  cfg: undefined as unknown as Config,
  cpu: 0,
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
  /** --lockstat: locks take their timed path */
  lockTimed: false,
  /** f64 index of this CPU's lockstat block, of its latency block */
  lockstat: 0,
  lat: 0,
  /** any delay configured at a preemption point */
  delayOn: false,
  delaysMs: new Float64Array(0),
  /** fault delivery latency (ms) */
  faultDeliveryMs: 0,
  /** performance.now() when interrupts were last disabled */
  irqsOffAt: 0,
};

export function kernel_attach(v: Views, cfg: Config, cpu: number): void {
  K.i32 = v.i32;
  K.f64 = v.f64;
  K.L = v.L;
  K.cfg = cfg;
  K.patched = cfg.protocol === 'patched';
  K.absolute = cfg.faultAddress === 'absolute';
  K.pvSpinlock = cfg.spinlock === 'pv';
  K.ticketSpinlock = cfg.spinlock === 'ticket';
  K.lockTimed = cfg.lockstat;
  K.delaysMs = Float64Array.from(cfg.delaysUs, (us) => us / 1000);
  K.delayOn = cfg.delaysUs.some((d) => d > 0);
  K.faultDeliveryMs = cfg.faultDeliveryUs / 1000;
  set_this_cpu(cpu);
}

/** Switch the CPU this thread plays (workers call it once; unit tests at will). */
export function set_this_cpu(cpu: number): void {
  const L = K.L;
  K.cpu = cpu;
  K.stats = statsBase(L, cpu);
  K.ring = ringBase(L, cpu);
  if (cpu < L.nr_cpus) {
    K.percpu = percpuBase(L, cpu);
    K.pending = K.percpu + PERCPU_PENDING;
    K.pvec = pvecBase(L, cpu);
    K.lockstat = lockstatBase(L, cpu);
    K.lat = latencyBase(L, cpu);
  }
}

/** Point ids, re-exported for kernel files. */
export { P };
