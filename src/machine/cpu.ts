/**
 * The life of one CPU thread: wait at the start barrier, run the workload in
 * bounded batches until the stop word, then quiesce: keep taking IPIs until
 * every CPU has left its workload (a CPU still in shrink_discards may be
 * waiting for us), and return.
 */
import { performance } from 'node:perf_hooks';
import { K, P } from '../kernel/context.ts';
import { ListCorruption, list_corruption_unwind } from '../kernel/list.ts';
import { S, sched_exit, sched_idle, sched_wait_turn } from '../kernel/sched.ts';
import { ipi_point, pending_nap, point } from '../kernel/smp.ts';
import { CNT, CPU_STATE, CTRL, PERCPU, PERCPU_HOLD } from '../shm/layout.ts';
import { memstat_every } from '../soak/memstat.ts';
import { workload_op } from '../workload/workload.ts';
import { waitWord } from './wait.ts';

/** Operations between two looks at the stop word. */
const BATCH = 64;
/** Milliseconds between two yields to the event loop (the control port answers then). */
const YIELD_MS = 20;

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

export async function cpu_loop(): Promise<void> {
  const { i32, f64, L } = K;
  const ctrl = L.ctrl;
  const state = K.percpu + PERCPU.state;
  i32[state] = CPU_STATE.starting;
  Atomics.add(i32, ctrl + CTRL.nr_ready, 1);
  Atomics.notify(i32, ctrl + CTRL.nr_ready);
  // the main thread notifies go (a stop before it is seen within a millisecond)
  while (Atomics.load(i32, ctrl + CTRL.go) === 0 && Atomics.load(i32, ctrl + CTRL.stop) === 0) {
    await waitWord(i32, ctrl + CTRL.go, 0, 1);
  }
  i32[state] = CPU_STATE.running;
  // --sched random|pct: run only with the token (false: the schedule was aborted before we ran).
  if (S.on && !sched_wait_turn()) return sched_parked();
  // This thread's heap for the soak's leak check, written by us: we answer no message while we spin.
  const memstat = memstat_every(f64, L, K.home);
  memstat(performance.now());
  let failure: unknown;
  try {
    let lastYield = performance.now();
    while (Atomics.load(i32, ctrl + CTRL.stop) === 0) {
      for (let i = 0; i < BATCH; i++) {
        workload_op();
        f64[K.stats + CNT.ops]!++; // K.stats: --migrate may have moved us to another CPU
        point(P.op);
        // --sched random|pct: the schedule's holder set the stop word at a decision: stop at once.
        if (S.on && Atomics.load(i32, ctrl + CTRL.stop) !== 0) break;
      }
      if (Atomics.load(i32, ctrl + CTRL.stop_machine) !== 0) stop_machine_park();
      if (K.stutter && Atomics.load(i32, K.percpu + PERCPU_HOLD) !== 0) stutter_hold();
      const t = performance.now();
      if (t - lastYield > YIELD_MS) {
        lastYield = t;
        memstat(t);
        await yieldToEventLoop();
      }
    }
  } catch (e) {
    if (e instanceof ListCorruption) {
      // A list check failed here (already reported, stop word set): let go
      // of the locks this operation held and stop; the verdict is the
      // violation's (FAILURE), not a crash.
      list_corruption_unwind();
    } else {
      // A kernel bug in this CPU: stop the machine, but keep answering IPIs so
      // the others can finish their operation and nothing hangs on us.
      failure = e;
      Atomics.compareExchange(i32, ctrl + CTRL.crashed_cpu, 0, K.cpu + 1);
    }
    Atomics.store(i32, ctrl + CTRL.stop, 1);
  }
  quiesce();
  if (S.on) sched_exit();
  if (failure !== undefined) throw failure;
}

/** The schedule was aborted (deadlock) before this CPU ran: wait to be ended. */
function sched_parked(): void {
  K.i32[K.percpu + PERCPU.state] = CPU_STATE.done;
}

/**
 * stop_machine, this CPU's side: park at a quiescent point (between two
 * operations: no lock held, interrupts enabled, no list half-spliced) until
 * the main thread has audited the machine and cleared the word, or the
 * machine stops. Parked, we keep taking IPIs: a CPU still finishing its
 * operation may be in shrink_discards waiting for our answer before it can
 * park too.
 *
 * Leaving, we drop out of nr_parked first and only then look at the word
 * again, so the main thread never counts a CPU that is running operations:
 *
 *   cpu (leaving)                 main (next stop_machine)
 *   nr_parked--                   stop_machine = 1
 *   load stop_machine             load nr_parked == nr_cpus ?
 *
 * If our load sees 0, our decrement came before the main thread's store and
 * hence before its count; if it sees 1, we park again without running an op.
 */
function stop_machine_park(): void {
  const { i32, L } = K;
  const ctrl = L.ctrl;
  const state = K.percpu + PERCPU.state;
  const parked = () =>
    Atomics.load(i32, ctrl + CTRL.stop_machine) !== 0 && Atomics.load(i32, ctrl + CTRL.stop) === 0;
  i32[state] = CPU_STATE.parked;
  do {
    Atomics.add(i32, ctrl + CTRL.nr_parked, 1);
    Atomics.notify(i32, ctrl + CTRL.nr_parked);
    while (parked()) {
      ipi_point(P.op); // IPIs only: the devices wait while the machine is audited
      pending_nap(1);
    }
    Atomics.sub(i32, ctrl + CTRL.nr_parked, 1);
  } while (parked());
  i32[state] = CPU_STATE.running;
}

/**
 * --stutter, this CPU's side: held still between two batches while the main
 * thread's stutter (stutter.ts) says so, as locktorture's stutter holds its
 * threads, so that the CPUs left running get the real cores to themselves.
 * Held, we keep taking IPIs; a stop or a stop_machine ends the hold.
 */
function stutter_hold(): void {
  const { i32, L } = K;
  const ctrl = L.ctrl;
  while (
    Atomics.load(i32, K.percpu + PERCPU_HOLD) !== 0 &&
    Atomics.load(i32, ctrl + CTRL.stop) === 0 &&
    Atomics.load(i32, ctrl + CTRL.stop_machine) === 0
  ) {
    point(P.op);
    pending_nap(1);
  }
}

function quiesce(): void {
  const { i32, L } = K;
  const ctrl = L.ctrl;
  i32[K.percpu + PERCPU.state] = CPU_STATE.quiescing;
  i32[K.percpu + PERCPU.irqs_enabled] = 1;
  Atomics.add(i32, ctrl + CTRL.nr_quiesced, 1);
  while (Atomics.load(i32, ctrl + CTRL.nr_quiesced) < L.nr_cpus) {
    try {
      ipi_point(P.op); // IPIs only: the final audit follows
    } catch (e) {
      // an interrupt handler met a corrupted list (reported): let go, keep quiescing
      if (!(e instanceof ListCorruption)) throw e;
      list_corruption_unwind();
    }
    // waiting for the others: under --sched random|pct a spinning waiter that only an IPI wakes
    if (S.on) sched_idle();
    else pending_nap(1);
  }
  i32[K.percpu + PERCPU.state] = CPU_STATE.done;
}
