/**
 * Fault injection for a CPU thread entry, without touching src/: this
 * thread's K.f64 (the counters view) is wrapped in a proxy for CRASH_CPU,
 * and its store of CRASH_CPU's ops counter, once CRASH_AFTER_OPS operations
 * are counted, misbehaves. That store is in cpu_loop, at an operation
 * boundary (no lock held, interrupts enabled), so
 * - 'throw' takes cpu_loop's own crash path (stop the machine, quiesce,
 *   rethrow), as a kernel bug would;
 * - 'hang' spins there with interrupts off and never returns, as a CPU stuck
 *   in kernel code: the others' rendezvous wait for it; the watchdog must see
 *   it and the pool must terminate it.
 */
import { K } from '../../src/kernel/context.ts';
import { local_irq_disable } from '../../src/kernel/smp.ts';
import { CNT } from '../../src/shm/layout.ts';
import { CRASH_AFTER_OPS, CRASH_CPU, CRASH_MESSAGE } from '../helpers/crash.ts';

export function inject(mode: 'throw' | 'hang'): void {
  at_ops(CRASH_CPU, CRASH_AFTER_OPS, () => {
    if (mode === 'throw') throw new Error(CRASH_MESSAGE);
    local_irq_disable();
    for (;;) {
      // stuck; only Worker.terminate() ends this
    }
  });
}

/**
 * Run `fault` on `cpu` at the operation boundary where its ops counter
 * reaches `afterOps` (and at every later one: `fault` keeps its own state).
 */
export function at_ops(cpu: number, afterOps: number, fault: () => void): void {
  const handler: ProxyHandler<Float64Array> = {
    get(target, prop) {
      const x = Reflect.get(target, prop, target);
      return typeof x === 'function' ? x.bind(target) : x;
    },
    set(target, prop, value) {
      Reflect.set(target, prop, value, target);
      if (prop === String(K.stats + CNT.ops) && value >= afterOps) fault();
      return true;
    },
  };
  let real = K.f64;
  let proxy = new Proxy(real, handler);
  // kernel_attach stores the view; cpu_loop reads it once, after set_this_cpu.
  Object.defineProperty(K, 'f64', {
    configurable: true,
    enumerable: true,
    get: () => (K.cpu === cpu ? proxy : real),
    set(v: Float64Array<SharedArrayBuffer>) {
      real = v;
      proxy = new Proxy(v, handler);
    },
  });
}
