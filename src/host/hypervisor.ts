/**
 * The host: discards volatile, resident guest frames (Vr -> Vz) behind the
 * guest's back at a configured rate, scanning frames like a clock hand. It is
 * not a CPU of the guest: it takes no IPIs and touches only host state (and
 * its own flight recorder and counters).
 */
import { performance } from 'node:perf_hooks';
import { EV } from '../check/events.ts';
import { rec } from '../check/recorder.ts';
import { K } from '../kernel/context.ts';
import { HS } from '../kernel/essa.ts';
import { S, sched_exit, sched_host_ms, sched_wait_turn, sched_yield } from '../kernel/sched.ts';
import { CNT, CTRL, PENDING, PERCPU_PENDING, percpuBase } from '../shm/layout.ts';
import { memstat_every } from '../soak/memstat.ts';

/** Frames looked at per tick at most (bounds a tick on a large guest). */
const SCAN_PER_TICK = 8192;

export async function host_loop(): Promise<number> {
  const { i32, L } = K;
  const stop = L.ctrl + CTRL.stop;
  const rate = K.cfg.hostDiscardRate;
  const hs = L.host_state;
  let hand = 0;
  let quota = 0;
  // --sched random|pct: the host's clock is the schedule's step count, and it
  // runs its ticks as turns under the token (sched.ts), from the start barrier on.
  const clock = S.on ? sched_host_ms : () => performance.now();
  if (S.on && !(await sched_host_start())) return 0;
  let last = clock();
  let discards = 0;
  let ticks = 0;
  const irqs = raise_interrupts(clock);
  // The host thread's heap for the soak's leak check (memstat.ts), written at its tick boundaries.
  const memstat = memstat_every(K.f64, L, L.nr_cpus);
  while (Atomics.load(i32, stop) === 0) {
    const t = clock();
    irqs(t);
    quota = Math.min(quota + ((t - last) / 1000) * rate, rate / 10 + 64);
    last = t;
    for (let scanned = 0; quota >= 1 && scanned < SCAN_PER_TICK; scanned++) {
      // The hand is the host's own (no guest word feeds it): always a frame,
      // so the host-state write below stays in its array.
      const pfn = hand;
      hand = hand + 1 >= L.nr_pages ? 0 : hand + 1;
      if (i32[hs + pfn] !== HS.Vr) continue;
      if (Atomics.compareExchange(i32, hs + pfn, HS.Vr, HS.Vz) !== HS.Vr) continue;
      quota -= 1;
      discards++;
      K.f64[K.stats + CNT.hostDiscards] = discards;
      rec(EV['host-discard'], pfn);
    }
    // Tick about every millisecond; wake at once on stop. Controlled: the next turn.
    if (S.on) sched_yield(false);
    else Atomics.wait(i32, stop, 0, 1);
    // Let the control port breathe now and then.
    if (++ticks % 64 === 0) {
      memstat(t);
      await new Promise((r) => setImmediate(r));
    }
  }
  if (S.on) sched_exit();
  return discards;
}

/** Controlled: wait at the start barrier, then for the host's first turn (false: aborted). */
async function sched_host_start(): Promise<boolean> {
  const ctrl = K.L.ctrl;
  while (Atomics.load(K.i32, ctrl + CTRL.go) === 0 && Atomics.load(K.i32, ctrl + CTRL.stop) === 0) {
    await new Promise((r) => setTimeout(r, 1));
  }
  return sched_wait_turn();
}

/**
 * The machine's interrupt sources, driven by the host's clock: each CPU's
 * timer (clock comparator) at --irq-rate timer per second, and the network
 * device's interrupt at --irq-rate net per second, delivered to one CPU after
 * the other. An interrupt is a bit in the CPU's pending word (PENDING); one
 * raised while the same bit is still pending merges with it, as a level
 * interrupt does. No notify: a CPU that naps in cpu_relax looks again within
 * 0.1 ms. Returns the tick function.
 */
function raise_interrupts(clock: () => number): (t: number) => void {
  const { i32, L } = K;
  const { timer, net } = K.cfg.irqRates;
  let last = clock();
  let timerQuota = 0;
  let netQuota = 0;
  let nextCpu = 0;
  const raise = (cpu: number, bit: number) =>
    Atomics.or(i32, percpuBase(L, cpu) + PERCPU_PENDING, bit);
  return (t: number) => {
    const dt = (t - last) / 1000;
    last = t;
    // A late tick raises what it owes, but not a burst: one of each per CPU at most.
    timerQuota = Math.min(timerQuota + dt * timer, 1);
    netQuota = Math.min(netQuota + dt * net, L.nr_cpus);
    if (timerQuota >= 1) {
      timerQuota -= 1;
      for (let c = 0; c < L.nr_cpus; c++) raise(c, PENDING.timer);
    }
    for (; netQuota >= 1; netQuota -= 1) {
      raise(nextCpu, PENDING.net);
      nextCpu = nextCpu + 1 >= L.nr_cpus ? 0 : nextCpu + 1;
    }
  };
}
