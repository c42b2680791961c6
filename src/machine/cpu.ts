/**
 * The life of one CPU thread: wait at the start barrier, run the workload in
 * bounded batches until the stop word, then quiesce: keep taking IPIs until
 * every CPU has left its workload (a CPU still in shrink_discards may be
 * waiting for us), and return.
 */
import { performance } from 'node:perf_hooks';
import { K, P } from '../kernel/context.ts';
import { point } from '../kernel/smp.ts';
import { CNT, CPU_STATE, CTRL, PERCPU } from '../shm/layout.ts';
import { workload_op } from '../workload/workload.ts';

/** Operations between two looks at the stop word. */
const BATCH = 64;
/** Milliseconds between two yields to the event loop (the control port answers then). */
const YIELD_MS = 20;

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function cpu_loop(): Promise<void> {
  const { i32, f64, L } = K;
  const ctrl = L.ctrl;
  const state = K.percpu + PERCPU.state;
  const ops = K.stats + CNT.ops;
  i32[state] = CPU_STATE.starting;
  Atomics.add(i32, ctrl + CTRL.nr_ready, 1);
  while (Atomics.load(i32, ctrl + CTRL.go) === 0 && Atomics.load(i32, ctrl + CTRL.stop) === 0) {
    await sleep(1);
  }
  i32[state] = CPU_STATE.running;
  let failure: unknown;
  try {
    let lastYield = performance.now();
    while (Atomics.load(i32, ctrl + CTRL.stop) === 0) {
      for (let i = 0; i < BATCH; i++) {
        workload_op();
        f64[ops]!++;
        point(P.op);
      }
      const t = performance.now();
      if (t - lastYield > YIELD_MS) {
        lastYield = t;
        await yieldToEventLoop();
      }
    }
  } catch (e) {
    // A kernel bug in this CPU: stop the machine, but keep answering IPIs so
    // the others can finish their operation and nothing hangs on us.
    failure = e;
    Atomics.compareExchange(i32, ctrl + CTRL.crashed_cpu, 0, K.cpu + 1);
    Atomics.store(i32, ctrl + CTRL.stop, 1);
  }
  quiesce();
  if (failure !== undefined) throw failure;
}

function quiesce(): void {
  const { i32, L } = K;
  const ctrl = L.ctrl;
  i32[K.percpu + PERCPU.state] = CPU_STATE.quiescing;
  i32[K.percpu + PERCPU.irqs_enabled] = 1;
  Atomics.add(i32, ctrl + CTRL.nr_quiesced, 1);
  while (Atomics.load(i32, ctrl + CTRL.nr_quiesced) < L.nr_cpus) {
    point(P.op);
    Atomics.wait(i32, K.pending, 0, 1);
  }
  i32[K.percpu + PERCPU.state] = CPU_STATE.done;
}
