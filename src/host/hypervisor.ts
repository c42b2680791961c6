/**
 * The host: discards volatile, resident guest frames (Vr -> Vz) behind the
 * guest's back at a configured rate, scanning frames like a clock hand. It is
 * not a CPU of the guest: it takes no IPIs and touches only host state (and
 * its own flight recorder and counters).
 *
 * Its state between ticks (the hand, the quotas, the clock of the last tick)
 * lives in the buffer (HOST): under --sched os the host thread ticks about
 * every millisecond of wall-clock time; under a controlled scheduler a host
 * turn is a decision of the schedule, and the thread that holds the token
 * runs the tick itself, as the host (sched.ts host_turn), on the logical
 * clock: no thread switch, and the same tick wherever it runs.
 */
import { performance } from 'node:perf_hooks';
import { EV } from '../check/events.ts';
import { guidedPressure } from '../check/guided.ts';
import { rec } from '../check/recorder.ts';
import { K } from '../kernel/context.ts';
import { HS } from '../kernel/essa.ts';
import { S } from '../kernel/sched.ts';
import { waitWord } from '../machine/wait.ts';
import { CNT, CTRL, HOST, PENDING, PERCPU_PENDING, percpuBase, SCHED } from '../shm/layout.ts';
import { memstat_every } from '../soak/memstat.ts';

/**
 * Frames looked at per tick at most (bounds a tick on a large guest); on a
 * small one, each frame once: a second lap in the same tick finds nothing
 * the first did not (under a controlled scheduler nothing else runs during
 * the tick), and on a 256-page guest owing discards it was 32 laps a tick.
 */
const SCAN_PER_TICK = 8192;

export async function host_loop(): Promise<number> {
  const { i32, f64, L } = K;
  const stop = L.ctrl + CTRL.stop;
  // --sched random|pct: the ticks run on the token's holder (host_turn); this thread waits for the end.
  if (S.on) return host_sched_wait();
  // The host thread's heap for the soak's leak check (memstat.ts), written at its tick boundaries.
  const memstat = memstat_every(f64, L, L.nr_cpus);
  let ticks = 0;
  while (Atomics.load(i32, stop) === 0) {
    const t = performance.now();
    host_tick(t);
    // Tick about every millisecond; wake at once on stop.
    Atomics.wait(i32, stop, 0, 1);
    // Let the control port breathe now and then.
    if (++ticks % 64 === 0) {
      memstat(t);
      await new Promise((r) => setImmediate(r));
    }
  }
  return f64[L.host + HOST.discards]!;
}

/** Controlled: every actor has left the schedule (the host's turns are over), or no CPU can run. */
async function host_sched_wait(): Promise<number> {
  const { i32, f64, L } = K;
  const done = L.sched + SCHED.done;
  while (Atomics.load(i32, done) === 0 && Atomics.load(i32, L.sched + SCHED.deadlock) === 0) {
    await waitWord(i32, done, 0, 50);
  }
  return f64[L.host + HOST.discards]!;
}

/**
 * One tick at host time `t` (ms): the interrupts owed since the last tick,
 * then the discards owed, the hand moving on. Runs as the host: K's
 * recorder and counters are the host's (its thread, or host_turn).
 */
export function host_tick(t: number): void {
  const { i32, f64, L } = K;
  const h = L.host;
  if (f64[h + HOST.started] === 0) {
    f64[h + HOST.started] = 1;
    f64[h + HOST.last] = t;
  }
  const dt = (t - f64[h + HOST.last]!) / 1000;
  f64[h + HOST.last] = t;
  raise_interrupts(dt);
  // --guided's host pressure (src/check/guided.ts): a plain read of the
  // main thread's choice, seen at this tick or a later one.
  const rate = K.cfg.hostDiscardRate * guidedPressure(i32[L.ctrl + CTRL.guided_arm]!);
  const hs = L.host_state;
  let quota = Math.min(f64[h + HOST.quota]! + dt * rate, rate / 10 + 64);
  let hand = f64[h + HOST.hand]!;
  let discards = f64[h + HOST.discards]!;
  const scan = Math.min(SCAN_PER_TICK, L.nr_pages);
  for (let scanned = 0; quota >= 1 && scanned < scan; scanned++) {
    // The hand is the host's own (no guest word feeds it): always a frame,
    // so the host-state write below stays in its array.
    const pfn = hand;
    hand = hand + 1 >= L.nr_pages ? 0 : hand + 1;
    if (i32[hs + pfn] !== HS.Vr) continue;
    if (Atomics.compareExchange(i32, hs + pfn, HS.Vr, HS.Vz) !== HS.Vr) continue;
    quota -= 1;
    discards++;
    f64[K.stats + CNT.hostDiscards] = discards;
    rec(EV['host-discard'], pfn);
  }
  f64[h + HOST.quota] = quota;
  f64[h + HOST.hand] = hand;
  f64[h + HOST.discards] = discards;
}

/**
 * The machine's interrupt sources, driven by the host's clock: each CPU's
 * timer (clock comparator) at --irq-rate timer per second, and the network
 * device's interrupt at --irq-rate net per second, delivered to one CPU after
 * the other. An interrupt is a bit in the CPU's pending word (PENDING); one
 * raised while the same bit is still pending merges with it, as a level
 * interrupt does. No notify: a CPU that naps in cpu_relax looks again within
 * 0.1 ms. `dt`: seconds since the last tick.
 */
function raise_interrupts(dt: number): void {
  const { i32, f64, L } = K;
  const h = L.host;
  const { timer, net } = K.cfg.irqRates;
  const raise = (cpu: number, bit: number) =>
    Atomics.or(i32, percpuBase(L, cpu) + PERCPU_PENDING, bit);
  // A late tick raises what it owes, but not a burst: one of each per CPU at most.
  let timerQuota = Math.min(f64[h + HOST.timer_quota]! + dt * timer, 1);
  let netQuota = Math.min(f64[h + HOST.net_quota]! + dt * net, L.nr_cpus);
  let nextCpu = f64[h + HOST.next_cpu]!;
  if (timerQuota >= 1) {
    timerQuota -= 1;
    for (let c = 0; c < L.nr_cpus; c++) raise(c, PENDING.timer);
  }
  for (; netQuota >= 1; netQuota -= 1) {
    raise(nextCpu, PENDING.net);
    nextCpu = nextCpu + 1 >= L.nr_cpus ? 0 : nextCpu + 1;
  }
  f64[h + HOST.timer_quota] = timerQuota;
  f64[h + HOST.net_quota] = netQuota;
  f64[h + HOST.next_cpu] = nextCpu;
}
