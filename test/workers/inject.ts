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

export function inject(mode: 'throw' | 'hang', afterOps = CRASH_AFTER_OPS, onMachine = 0): void {
  at_ops(
    CRASH_CPU,
    afterOps,
    () => {
      if (mode === 'throw') throw new Error(CRASH_MESSAGE);
      local_irq_disable();
      for (;;) {
        // stuck; only Worker.terminate() ends this
      }
    },
    onMachine,
  );
}

/**
 * Run `fault` on `cpu` at the operation boundary where its ops counter
 * reaches `afterOps` (and at every later one: `fault` keeps its own state).
 */
/**
 * `onMachine` > 0: only in the onMachine-th machine this thread is set up
 * for (a reused thread, controlled.ts, attaches once per schedule).
 */
export function at_ops(cpu: number, afterOps: number, fault: () => void, onMachine = 0): void {
  let machines = 0;
  const handler: ProxyHandler<Float64Array> = {
    get(target, prop) {
      const x = Reflect.get(target, prop, target);
      return typeof x === 'function' ? x.bind(target) : x;
    },
    set(target, prop, value) {
      Reflect.set(target, prop, value, target);
      if (prop === String(K.stats + CNT.ops) && value >= afterOps) {
        if (onMachine === 0 || machines === onMachine) fault();
      }
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
      machines++; // kernel_attach: a new machine on this thread
      real = v;
      proxy = new Proxy(v, handler);
    },
  });
}
