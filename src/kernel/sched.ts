/**
 * The controlled scheduler (--sched random|pct[:DEPTH]): the CPU threads and
 * the host thread run as before, on the one buffer, but one at a time. The
 * actor that runs holds the token; at every preemption point (point(), the
 * lock and IPI spin loops, cpu_relax) it takes the next decision and hands
 * the token to the actor picked, through its turn word; every other actor
 * waits on its own turn word: a short spin if a core is left for it, then
 * Atomics.wait, having said so in the word, so that a hand-over notifies
 * (a futex wake) only a sleeper. The decision state (the PRNG, PCT's priorities and change
 * points, the step count) lives in the SCHED region of the buffer, and only
 * the token's holder touches it, so a schedule is a pure function of its
 * seed, kind and the configuration, whichever thread happens to take a
 * decision and however the OS schedules the threads.
 *
 * - `random`: at each point a CPU picked uniformly among those that can run.
 * - `pct`: PCT (Burckhardt et al., ASPLOS 2010): random distinct priorities
 *   DEPTH..DEPTH+n-1, DEPTH-1 change points drawn over the schedule's steps;
 *   the highest-priority CPU that can run runs; at the i-th change point the
 *   running CPU's priority drops to DEPTH-1-i.
 * - A spinning waiter (a lock, a rendezvous, cpu_relax) is blocked, as PCT
 *   treats a thread that waits: after it spins it is not picked again
 *   before another CPU has progressed (ran on, or returned from an
 *   interrupt: SCHED.epoch), unless an IPI waits for it; it keeps its
 *   priority. (It used to drop below every CPU for good, so that after a
 *   rendezvous the sender ran only once every other CPU waited. pct:3, 4
 *   CPUs, seed 1, schedules of 2000 decisions: irq-enable-before-ref was
 *   caught in schedule 108 with that drop alone, in none of 300 with
 *   blocking and a drop while spinning, in schedule 2 with blocking alone.)
 *   A quiesced CPU (sched_idle) is blocked until an IPI comes.
 * - Time goes on when nobody can run: if every CPU that can is a blocked
 *   spinning waiter or sits out a --delay, the clock skips to the next
 *   event, the earliest end of a delay or the showing of an IPI
 *   (--ipi-delivery), for every CPU (sched_time: decisions plus the time
 *   skipped), so that overlapping delays end in the order of their ends.
 *   (Waking the earliest sleeper without moving the clock made every fault
 *   window of a 4-CPU --delay schedule end as soon as all four CPUs were in
 *   one, so that no window ever overlapped another.) If nobody is in a
 *   delay either, the next spinning waiter in turn runs all the same.
 * - The host (discards, timer and device interrupts) is the environment: at
 *   a decision, with probability 1/HOST_EVERY, it gets one turn (its tick on
 *   the logical clock), then the decision is taken again, as the host's. The
 *   host's state is in the buffer, so the thread that holds the token runs
 *   the host's turn itself (host_turn): a host turn is a decision like any
 *   other (logged, hashed, scripted), and costs no thread switch.
 *
 * Logical time: the recorder's now() under a controlled scheduler is the
 * event count (a microsecond an event); the host's clock is the step count
 * (STEP_US a step); --delay and --ipi-delivery run on sched_time
 * (DELAY_STEP_US a decision). A run of `steps` decisions ends with the stop word set
 * by the token's holder (so every CPU stops at the same place every time);
 * CPUs finish their operation under the token and quiesce; a violation or a
 * CPU's livelock word (the watchdog's livelock) stops it the same way. If
 * only spinning waiters have run for DEADLOCK_SPINS decisions in a row, no CPU can make
 * progress: SCHED.deadlock, the stop word, and every actor parks until the
 * main thread ends the machine (a STALL of kind deadlock).
 */
import { availableParallelism } from 'node:os';
import { EV } from '../check/events.ts';
import { rec } from '../check/recorder.ts';
import type { Config } from '../config.ts';
import { host_tick } from '../host/hypervisor.ts';
import {
  CTRL,
  PENDING,
  PERCPU,
  PERCPU_PENDING,
  percpuBase,
  SCHED,
  SCHED_KIND,
  type Views,
} from '../shm/layout.ts';
import { K, P, switch_cpu } from './context.ts';
import { migrate_eligible } from './migrate.ts';
import { guide_decide, guide_init, readGuide } from './sched_guide.ts';
import { do_IRQ } from './smp.ts';

export type SchedKind = keyof typeof SCHED_KIND;
export const SCHED_KINDS = ['os', 'random', 'pct'] as const satisfies readonly SchedKind[];

/** Host turns: one decision in this many (on average) gives the host a tick. */
export const HOST_EVERY = 8;
/**
 * Logical microseconds a step: the host's discard and interrupt rates run on
 * this clock. It makes the host fast next to the CPUs (under --sched os a CPU
 * passes a preemption point every 0.2-1 us, four CPUs at once): with
 * --irq-rate net=50000 the device holds a page sendfile gave it for a median
 * of 8-12 decisions, where the OS runs hundreds of points, which is why
 * sendfile-without-stable takes tens of schedules. 1 us a step (the delays'
 * clock) did not help it (pct:3, 4 CPUs, seed 1, measured while spinning
 * waiters still dropped in priority: 283 schedules of 2000
 * decisions against 130) and made the unpatched protocol's violations rarer
 * (620 schedules against 99): fewer discards a decision.
 */
export const STEP_US = 5;
/**
 * --delay under a controlled scheduler: microseconds of delay a step is worth
 * (a delay of D us keeps its CPU out of D / DELAY_STEP_US decisions). A CPU
 * under --sched os runs a preemption point every 0.2-1 us; with 5 us (the
 * host's STEP_US) a 1 ms fault window lasted 200 decisions, too few for
 * another CPU to discard, park, splice and free the page (no
 * irq-enable-before-ref in 1437 schedules), with 1 us it is found.
 */
export const DELAY_STEP_US = 1;
/** --migrate: one movable decision in this many moves the task (sched_migrate). */
export const MIGRATE_EVERY = 32;
/** Spinning-waiter decisions in a row (per CPU) after which no CPU can progress. */
export const DEADLOCK_SPINS = 400;
/**
 * Spins on a turn word before sleeping on it, for at most the cores but one
 * waiters at a time (the token's holder needs a core): a hand-over to a
 * spinning waiter costs no wake-up, but on an oversubscribed machine a
 * spinner takes the holder's core. Measured (2 cores, load ~10, random, 2
 * and 4 CPUs): 2000 spins ran 40-60% of the steps per second of sleeping at
 * once, 50-200 spins about as many; so a short spin, then sleep.
 */
const TURN_SPINS = 100;
/** Waiters that may spin at once: the cores but one (set at attach). */
let maxSpinners = 1;
/** Sleep on a turn word at most this long before looking at the abort state again. */
const TURN_WAIT_MS = 50;

/** This thread's view: `on` is the one test point() pays under --sched os. */
export const S = { on: false, me: -1, host: -1, base: 0, turn: 0 };

/** Turn word values. `sleep`: its actor sleeps on it (the hand-over must notify). */
const TURN = { wait: 0, go: 1, abort: 2, sleep: 3 } as const;

/** The points at which a CPU waits for another (a spinning waiter). */
let spinPoint = new Uint8Array(0);
/** --delay under a controlled scheduler: the points with a delay, and each point's delay (sched_delay). */
let delayAt = new Uint8Array(0);
let delayUs = new Float64Array(0);
let delaySpanUs = new Float64Array(0);
let delayEvery = new Uint32Array(0);

export function sched_attach(v: Views, cfg: Config, actor: number): void {
  S.on = cfg.sched.kind !== 'os';
  if (!S.on) return;
  S.me = actor;
  S.host = v.L.nr_cpus;
  S.base = v.L.sched;
  S.turn = v.L.sched_turn + actor * 16;
  maxSpinners = Math.max(0, availableParallelism() - 1);
  spinPoint = new Uint8Array(64);
  spinPoint[P.spin] = 1;
  spinPoint[P['ipi-wait']] = 1;
  delayUs = Float64Array.from(cfg.delaysUs);
  delaySpanUs = Float64Array.from(cfg.delaySpansUs);
  delayEvery = Uint32Array.from(cfg.delayEvery);
  delayAt = Uint8Array.from(cfg.delaysUs, (d, p) =>
    d > 0 || (cfg.delaySpansUs[p] ?? 0) > 0 ? 1 : 0,
  );
  // The interleaving is the scheduler's: no wall-clock delays inside the machine.
  K.faultDeliveryMs = 0;
  // --ipi-delivery: on the schedule's clock (sched_ipi_at)
  ipiDeliveryDecisions = cfg.ipiDeliveryUs / DELAY_STEP_US;
  ipiSeed = mix32(cfg.seed ^ 0x1b1de1);
  K.pvSpinlock = false;
  K.widen = false;
}

const mix32 = (x: number): number => {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
};

/** Main thread, after boot: the schedule's initial state from its seed. */
export function sched_init(v: Views, cfg: Config): void {
  const { i32, L } = v;
  const b = L.sched;
  const kind = SCHED_KIND[cfg.sched.kind];
  i32[b + SCHED.kind] = kind;
  if (kind === SCHED_KIND.os) return;
  const n = L.nr_cpus;
  const depth = cfg.sched.depth;
  let rng = mix32(cfg.seed ^ 0x5c4ed) || 1;
  const next = () => {
    rng ^= rng << 13;
    rng ^= rng >>> 17;
    rng ^= rng << 5;
    return rng >>> 0;
  };
  i32[b + SCHED.steps] = cfg.sched.steps;
  i32[b + SCHED.depth] = depth;
  i32[b + SCHED.nr_actors] = n + 1;
  i32[b + SCHED.hash] = 0x811c9dc5 | 0;
  // PCT: a random permutation of depth .. depth + n - 1 as the CPUs' priorities.
  const prio = Array.from({ length: n }, (_, c) => depth + c);
  for (let i = n - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [prio[i], prio[j]] = [prio[j]!, prio[i]!];
  }
  for (let c = 0; c < n; c++) i32[L.sched_prio + c] = prio[c]!;
  i32[L.sched_prio + n] = -0x40000000; // the host is not a PCT thread
  for (let a = 0; a <= n; a++) i32[L.sched_cpu + a] = a; // --migrate: each thread starts as its CPU
  for (let i = 0; i < SCHED.max_change_points; i++) {
    i32[L.sched_cp + i] = i < depth - 1 ? 1 + (next() % cfg.sched.steps) : -1;
  }
  i32[b + SCHED.rng] = next() || 1;
  const script = cfg.sched.script ?? [];
  const ns = Math.min(script.length, SCHED.max_log);
  for (let i = 0; i < ns; i++) {
    i32[L.sched_script + 2 * i] = script[i]![0];
    i32[L.sched_script + 2 * i + 1] = script[i]![1];
  }
  i32[b + SCHED.script_n] = ns;
  i32[b + SCHED.script_at] = 0;
  i32[b + SCHED.mark_step] = cfg.sched.markStep ?? 0;
  i32[b + SCHED.mark_clock] = -1;
  i32[b + SCHED.skipped] = 0;
  guide_init(v, cfg);
  // The first to run: the highest priority (pct) or a random CPU.
  let first = 0;
  if (cfg.sched.script) {
    // a scripted schedule starts where its recording did: the first switch's actor runs from step 0
    first = ns > 0 && i32[L.sched_script]! <= 0 ? Math.min(i32[L.sched_script + 1]!, n - 1) : 0;
    i32[b + SCHED.kind] = -1 - kind; // scripted (the kind kept for the report)
  } else if (kind === SCHED_KIND.pct) {
    for (let c = 1; c < n; c++) if (prio[c]! > prio[first]!) first = c;
  } else {
    first = next() % n;
  }
  i32[b + SCHED.token] = first;
  i32[L.sched_turn + first * 16] = TURN.go;
  // The log starts with the first actor, as a switch at step 0 (a script made of the log starts there too).
  i32[L.sched_log] = 0;
  i32[L.sched_log + 1] = first;
  i32[b + SCHED.log_n] = 1;
}

function rand(): number {
  const i32 = K.i32;
  let x = i32[S.base + SCHED.rng]!;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  i32[S.base + SCHED.rng] = x;
  return x >>> 0;
}

/** The recorder's clock under a controlled scheduler: ms, a microsecond an event. */
export function sched_now(): number {
  const i32 = K.i32;
  const c = i32[S.base + SCHED.clock]! + 1;
  i32[S.base + SCHED.clock] = c;
  return c / 1000;
}

/**
 * The time delays run on (--delay under a controlled scheduler, in
 * decisions): the decisions taken, plus the time skipped when no CPU could
 * run but CPUs in a delay (its end came for the earliest of them, and as
 * much of every other CPU's delay went by), so that delays that overlap
 * end in the order their ends fall, as wall-clock ones do.
 */
export function sched_time(): number {
  return K.i32[S.base + SCHED.step]! + K.i32[S.base + SCHED.skipped]!;
}

/** --ipi-delivery under a controlled scheduler: its bound in decisions, and the draws' seed. */
let ipiDeliveryDecisions = 0;
let ipiSeed = 0;

/**
 * --ipi-delivery under a controlled scheduler: when the IPI of call `seq` to
 * `cpu` shows (sched_time), up to the delivery bound later. The draw is a
 * function of the schedule's seed, the call and the target, not of the
 * decisions' PRNG, so that a scripted schedule (shrink) delivers its IPIs
 * when the schedule it was made of did.
 */
export function sched_ipi_at(cpu: number, seq: number): number {
  const u = mix32(ipiSeed ^ Math.imul(seq, 0x9e3779b9) ^ Math.imul(cpu + 1, 0x85ebca6b));
  return sched_time() + Math.ceil((u / 2 ** 32) * ipiDeliveryDecisions);
}

/** The host's clock (ms): STEP_US a step. */
export function sched_host_ms(): number {
  return (K.i32[S.base + SCHED.step]! * STEP_US) / 1000;
}

/** Wait until this actor holds the token; false: the schedule was aborted. */
export function sched_wait_turn(): boolean {
  const i32 = K.i32;
  const w = S.turn;
  const spinners = S.base + SCHED.spinners;
  // spin only while a core is left for the token's holder; else sleep at once
  let spinning = Atomics.add(i32, spinners, 1) < maxSpinners;
  if (!spinning) Atomics.sub(i32, spinners, 1);
  let spins = spinning ? TURN_SPINS : 0;
  for (;;) {
    const t = Atomics.load(i32, w);
    if (t === TURN.go || t === TURN.abort) {
      if (spinning) Atomics.sub(i32, spinners, 1);
      if (t === TURN.abort) return false;
      Atomics.store(i32, w, TURN.wait);
      return true;
    }
    if (spins > 0) {
      spins--;
      continue;
    }
    if (spinning) {
      Atomics.sub(i32, spinners, 1);
      spinning = false;
    }
    // Sleep, saying so first: the hand-over notifies only a sleeper.
    const cur = Atomics.compareExchange(i32, w, TURN.wait, TURN.sleep);
    if (cur === TURN.wait || cur === TURN.sleep) Atomics.wait(i32, w, TURN.sleep, TURN_WAIT_MS);
  }
}

/** Hand the token to `next` (exported for the bench's hand-off latency: benchmarks/jobs.ts). */
export function hand_to(next: number): void {
  const i32 = K.i32;
  i32[S.base + SCHED.token] = next;
  i32[S.base + SCHED.handoffs]!++;
  const w = K.L.sched_turn + next * 16;
  if (Atomics.exchange(i32, w, TURN.go) === TURN.sleep) Atomics.notify(i32, w);
}

/** Abort the schedule: every actor's turn word says so; nobody runs again. */
function sched_abort(): void {
  const i32 = K.i32;
  const L = K.L;
  for (let a = 0; a <= L.nr_cpus; a++) {
    Atomics.store(i32, L.sched_turn + a * 16, TURN.abort);
    Atomics.notify(i32, L.sched_turn + a * 16);
  }
}

/** No CPU can make progress: park this thread until the main thread ends the machine. */
function park_forever(): never {
  const i32 = K.i32;
  for (;;) Atomics.wait(i32, S.turn, TURN.abort, TURN_WAIT_MS * 20);
}

/**
 * A preemption point under the controlled scheduler: take the next decision
 * and, if it names another actor, hand the token over and wait for it back.
 * The points of wait loops (spin, ipi-wait) leave it to the loop's
 * cpu_relax, which yields as a spinning waiter.
 */
export function sched_point(p: number): void {
  // A wait loop's point: its cpu_relax takes the decision, as a spinning waiter.
  if (spinPoint[p] === 1) return;
  if (delayAt[p] !== 1) {
    sched_yield(false);
    return;
  }
  sched_delay(p);
  sched_yield(false);
  // Picked during the delay: an interrupt to take (the delay goes on after it, as a
  // wall-clock delay takes interrupts and sleeps on), or nobody else could run (it is over).
  const i32 = K.i32;
  const wake = K.L.sched_wake + S.me;
  while (i32[wake]! > sched_time()) {
    if (!irq_due(K.cpu)) break;
    do_IRQ(); // its return is a decision: we are not picked again before the delay ends or another interrupt
  }
  i32[wake] = 0;
}

/**
 * A quiesced CPU waiting for the others to finish (cpu.ts quiesce): a
 * spinning waiter that only an IPI to answer makes runnable (what it waits
 * for, the last CPU quiescing, hands it the token as it leaves). Without it
 * every quiesced CPU took a turn after each decision of a CPU still in its
 * last operation.
 */
export function sched_idle(): void {
  sched_switch(DECIDE.idle, false);
}

/** `spinning`: this CPU waits for another (it cannot progress by running on). */
export function sched_yield(spinning: boolean): void {
  const movable = K.migrate && !spinning && S.me !== S.host && migrate_eligible();
  if (movable) sched_migrate();
  sched_switch(spinning ? DECIDE.spinning : DECIDE.running, movable);
}

/**
 * Return from an interrupt (do_IRQ): the interrupted code's next
 * instruction and the other CPUs' (the IPI's sender, waiting for our
 * `finished`) may come in either order, so the schedule decides here too.
 * It neither counts as nor ends a spinning wait: a waiter that takes
 * interrupts while it spins is still waiting.
 */
export function sched_irq_return(): void {
  sched_switch(DECIDE.irq, false);
}

/** How a decision is taken: by a CPU that runs on, by a spinning waiter, at an interrupt's return, by a quiesced CPU. */
const DECIDE = { running: 0, spinning: 1, irq: 2, idle: 3 } as const;
/** sched_spun of a quiesced CPU (sched_idle): blocked whatever the epoch. */
const SPUN_IDLE = -1;

function sched_switch(how: number, movable: boolean): void {
  let next = sched_decide(how);
  while (next === S.host) next = host_turn();
  if (next === S.me) return;
  const i32 = K.i32;
  i32[K.L.sched_movable + S.me] = movable ? 1 : 0;
  hand_to(next);
  if (!sched_wait_turn()) park_forever();
  i32[K.L.sched_movable + S.me] = 0;
  // a task that was moved while we waited: we resume as the CPU it left
  const mv = i32[K.L.sched_move + S.me]!;
  if (mv !== 0) {
    i32[K.L.sched_move + S.me] = 0;
    const from = K.cpu;
    switch_cpu(mv - 1);
    rec(EV['migrate-in'], -1, from, K.home);
  }
}

/**
 * --migrate under a controlled scheduler: task migration is a decision of
 * the schedule, not a wall-clock delay. At a point where this task could be
 * preempted (migrate_eligible), with probability 1/MIGRATE_EVERY (a draw of
 * the schedule's PRNG, so replay takes it again) it swaps CPUs with the
 * task of another thread that waits at such a point too, as migrate.ts's
 * handshake does between two running threads: this thread goes on as that
 * CPU, the other resumes as ours. The point words go with the tasks. The
 * move is logged (LOG.migrate); a scripted schedule moves where its script
 * says.
 */
function sched_migrate(): void {
  const i32 = K.i32;
  const L = K.L;
  const at = i32[S.base + SCHED.step]! + 1; // the decision this move comes before
  let other = -1;
  if (i32[S.base + SCHED.kind]! < 0) {
    // a scripted schedule moves where its script says, with the thread it names, if it waits movable
    const e = script_take(at, LOG.migrate);
    if (e === NO_ENTRY) return;
    other = e - L.nr_cpus - 1;
    if (other >= L.nr_cpus || other === S.me || exited(other)) return;
    if (i32[L.sched_movable + other] !== 1) return;
  } else {
    if (rand() % MIGRATE_EVERY !== 0) return;
    let movable = 0;
    for (let a = 0; a < L.nr_cpus; a++) {
      if (a !== S.me && !exited(a) && i32[L.sched_movable + a] === 1) movable++;
    }
    if (movable === 0) return;
    let k = rand() % movable;
    for (let a = 0; a < L.nr_cpus && other < 0; a++) {
      if (a !== S.me && !exited(a) && i32[L.sched_movable + a] === 1 && k-- === 0) other = a;
    }
  }
  log_entry(at, L.nr_cpus + 1 + other);
  const mine = K.cpu;
  const theirs = i32[L.sched_cpu + other]!;
  const pMine = i32[percpuBase(L, mine) + PERCPU.point]!;
  const pTheirs = i32[percpuBase(L, theirs) + PERCPU.point]!;
  rec(EV['migrate-out'], -1, theirs, K.home);
  switch_cpu(theirs);
  i32[percpuBase(L, theirs) + PERCPU.point] = pMine;
  i32[percpuBase(L, mine) + PERCPU.point] = pTheirs;
  rec(EV['migrate-in'], -1, mine, K.home);
  i32[L.sched_cpu + S.me] = theirs;
  i32[L.sched_cpu + other] = mine;
  i32[L.sched_move + other] = mine + 1;
  i32[L.sched_movable + other] = 0;
  i32[S.base + SCHED.migrations]!++;
  const b = S.base;
  i32[b + SCHED.hash] = Math.imul(i32[b + SCHED.hash]! ^ (0x10000 + other), 0x01000193);
}

/**
 * The host's turn, run here by the token's holder as the host actor: its
 * tick on the logical clock and its decision; at the stop word, instead,
 * it leaves the schedule and hands over as sched_exit does. The actor to
 * run next (never the host).
 */
function host_turn(): number {
  const me = S.me;
  const cpu = K.cpu;
  S.me = S.host;
  switch_cpu(S.host); // the host's flight recorder and counters
  let next: number;
  if (Atomics.load(K.i32, K.L.ctrl + CTRL.stop) !== 0) {
    K.i32[K.L.sched_exited + S.host] = 1;
    next = next_live(S.host);
  } else {
    host_tick(sched_host_ms());
    next = sched_decide(DECIDE.running);
  }
  switch_cpu(cpu);
  S.me = me;
  return next;
}

/**
 * The next actor after `a`, in turn, that has not left the schedule (the
 * host, met on the way, leaves: its turn would find the stop word); -1 none.
 */
function next_live(a: number): number {
  const L = K.L;
  for (let k = 1; k <= L.nr_cpus + 1; k++) {
    const b = (a + k) % (L.nr_cpus + 1);
    if (exited(b)) continue;
    if (b === S.host) {
      K.i32[L.sched_exited + b] = 1;
      continue;
    }
    return b;
  }
  return -1;
}

function exited(a: number): boolean {
  return K.i32[K.L.sched_exited + a] !== 0;
}

function sched_decide(how: number): number {
  const spinning = how === DECIDE.spinning || how === DECIDE.idle;
  const i32 = K.i32;
  const L = K.L;
  const b = S.base;
  const n = L.nr_cpus;
  const me = S.me;
  const step = i32[b + SCHED.step]! + 1;
  i32[b + SCHED.step] = step;
  if (step === i32[b + SCHED.mark_step]) i32[b + SCHED.mark_clock] = i32[b + SCHED.clock]!;
  const ctrl = L.ctrl;
  // The end of the schedule, its first violation, or a CPU that livelocked (its livelock word,
  // fault.ts: the watchdog's stall of kind livelock): stop here, the same place every time.
  if (
    i32[ctrl + CTRL.stop] === 0 &&
    (step >= i32[b + SCHED.steps]! ||
      i32[ctrl + CTRL.nr_violations]! > 0 ||
      (me < n && i32[K.percpu + PERCPU.livelock] !== 0))
  ) {
    Atomics.store(i32, ctrl + CTRL.stop, 1);
    Atomics.notify(i32, ctrl + CTRL.stop); // the main thread waits on it
  }
  if (me === S.host || how === DECIDE.irq) {
    // the environment's tick, or an interrupt's return, says nothing about the CPUs' progress
  } else if (spinning) {
    const s = i32[b + SCHED.spins]! + 1;
    i32[b + SCHED.spins] = s;
    if (s > DEADLOCK_SPINS * n) {
      i32[b + SCHED.deadlock] = 1;
      Atomics.store(i32, ctrl + CTRL.stop, 1);
      sched_abort();
      park_forever();
    }
  } else {
    i32[b + SCHED.spins] = 0;
  }
  // Progress: a CPU ran on, or returned from an interrupt (its handler ran). A spinning
  // waiter is not run again before another CPU's progress (blocked): what it waits for
  // cannot have changed.
  if (me < n) {
    if (how === DECIDE.idle) i32[L.sched_spun + me] = SPUN_IDLE;
    else if (spinning) i32[L.sched_spun + me] = i32[b + SCHED.epoch]! + 1;
    else {
      i32[b + SCHED.epoch]!++;
      i32[L.sched_spun + me] = 0;
    }
  }
  if (i32[b + SCHED.kind]! < 0) {
    const e = script_take(step, LOG.skip);
    if (e !== NO_ENTRY) skip_to_ipi(SKIP_WORD - e);
    return log_decision(step, scripted(step, spinning));
  }
  // The environment's turn: the host's tick, then decide again.
  if (me !== S.host && !exited(S.host) && rand() % HOST_EVERY === 0) {
    return log_decision(step, S.host);
  }
  // A guided schedule (sched_guide.ts): the recorded story's order first.
  const guided = guide_decide(me, step);
  if (guided >= 0 && runnable(guided, step, spinning, false)) return log_decision(step, guided);
  if (me < n && i32[b + SCHED.kind] === SCHED_KIND.pct) {
    for (let i = 0; i < i32[b + SCHED.depth]! - 1 && i < SCHED.max_change_points; i++) {
      if (i32[L.sched_cp + i] === step) i32[L.sched_prio + me] = i32[b + SCHED.depth]! - 2 - i;
    }
  }
  let next = pick(step, spinning, false);
  // Nobody can run but CPUs in a delay and blocked spinning waiters (which most likely wait
  // for one of those, or for an IPI --ipi-delivery has not shown yet): time goes on to the
  // next of those events, the showing of an IPI (logged) or the end of a delay (log_decision).
  if (next < 0) {
    const sleeper = earliest_sleeper(spinning);
    const ipiAt = earliest_hidden_ipi();
    if (ipiAt >= 0 && (sleeper < 0 || ipiAt < i32[L.sched_wake + sleeper]!)) {
      const d = ipiAt - step - i32[b + SCHED.skipped]!;
      skip_to_ipi(d);
      log_entry(step, SKIP_WORD - d);
      next = pick(step, spinning, false);
    } else {
      next = sleeper;
    }
  }
  // Nobody in a delay either: the next spinning waiter in turn all the same (if it is a
  // deadlock, the spinning decisions in a row say so), else run on.
  for (let k = 1; next < 0 && k <= n; k++) {
    const c = (me < n ? me + k : k - 1) % n;
    if (runnable(c, step, spinning, true)) next = c;
  }
  if (next < 0) next = me < n && !exited(me) ? me : S.host;
  return log_decision(step, next);
}

/**
 * Can CPU `c` be picked: in the schedule, not the spinning waiter that
 * decides, awake, and (unless `blockedToo`) not a blocked spinning waiter.
 */
function runnable(c: number, step: number, spinning: boolean, blockedToo: boolean): boolean {
  return (
    c < K.L.nr_cpus &&
    !exited(c) &&
    !(spinning && c === S.me) &&
    awake(c, step) &&
    (blockedToo || !blocked(c))
  );
}

/**
 * A spinning waiter that no CPU progressed since it last spun (sched_decide),
 * and with no IPI to take (one shown, interrupts on: a rendezvous waits for
 * it, and every wait loop takes IPIs). A timer or device interrupt does not
 * unblock it: some wait loops have no preemption point and a quiesced CPU
 * takes IPIs only, so it could not take one; it takes them when it runs.
 */
function blocked(c: number): boolean {
  const i32 = K.i32;
  const L = K.L;
  const spun = i32[L.sched_spun + c]!;
  if (spun === 0 || (spun !== SPUN_IDLE && spun - 1 !== i32[S.base + SCHED.epoch])) return false;
  const cpu = i32[L.sched_cpu + c]!;
  return i32[percpuBase(L, cpu) + PERCPU.irqs_enabled] === 0 || !ipi_due(cpu);
}

/** The base scheduler's pick among the runnable CPUs: the highest priority (pct), or uniformly (random); -1 none. */
function pick(step: number, spinning: boolean, blockedToo: boolean): number {
  const i32 = K.i32;
  const L = K.L;
  const n = L.nr_cpus;
  let next = -1;
  if (i32[S.base + SCHED.kind] === SCHED_KIND.pct) {
    let best = -0x7fffffff;
    for (let c = 0; c < n; c++) {
      if (!runnable(c, step, spinning, blockedToo)) continue;
      const pr = i32[L.sched_prio + c]!;
      if (pr > best) {
        best = pr;
        next = c;
      }
    }
    return next;
  }
  let live = 0;
  for (let c = 0; c < n; c++) if (runnable(c, step, spinning, blockedToo)) live++;
  if (live === 0) return -1;
  let k = rand() % live;
  for (let c = 0; c < n; c++) {
    if (runnable(c, step, spinning, blockedToo) && k-- === 0) return c;
  }
  return -1;
}

/**
 * Awake: not in a delay (--delay under a controlled scheduler, sched_delay),
 * or in one with interrupts on and one pending, which ends it (in a delay
 * under --sched os an interrupt is taken too).
 */
function awake(c: number, step: number): boolean {
  const i32 = K.i32;
  const L = K.L;
  const wake = i32[L.sched_wake + c]!;
  if (wake <= step + i32[S.base + SCHED.skipped]!) return true;
  return irq_due(i32[L.sched_cpu + c]!);
}

/**
 * An interrupt `cpu` would take now: one pending with its interrupts on, and
 * not an IPI --ipi-delivery has not shown yet (sched_ipi_at).
 */
export function irq_due(cpu: number): boolean {
  const i32 = K.i32;
  const pc = percpuBase(K.L, cpu);
  if (i32[pc + PERCPU.irqs_enabled] === 0) return false;
  const bits = i32[pc + PERCPU_PENDING]!;
  return (bits & ~PENDING.ipi) !== 0 || ipi_due(cpu);
}

/** The clock goes on `d` decisions: nobody could run before an IPI showed. */
function skip_to_ipi(d: number): void {
  const i32 = K.i32;
  const b = S.base;
  i32[b + SCHED.skipped]! += d;
  i32[b + SCHED.hash] = Math.imul(i32[b + SCHED.hash]! ^ (0x30000 + d), 0x01000193);
}

/** The earliest time (sched_time) an IPI pending for a CPU with interrupts on shows; -1 none. */
function earliest_hidden_ipi(): number {
  if (ipiDeliveryDecisions === 0) return -1;
  const { i32, f64, L } = K;
  const now = sched_time();
  let at = -1;
  for (let c = 0; c < L.nr_cpus; c++) {
    if (exited(c)) continue;
    const cpu = i32[L.sched_cpu + c]!;
    const pc = percpuBase(L, cpu);
    if (i32[pc + PERCPU.irqs_enabled] === 0 || (i32[pc + PERCPU_PENDING]! & PENDING.ipi) === 0)
      continue;
    const t = f64[L.ipi_at + cpu * L.ipi_at_stride]!;
    if (t > now && (at < 0 || t < at)) at = t;
  }
  return at;
}

/** An IPI pending for `cpu` that has shown (--ipi-delivery: its time has come). */
function ipi_due(cpu: number): boolean {
  const L = K.L;
  if ((K.i32[percpuBase(L, cpu) + PERCPU_PENDING]! & PENDING.ipi) === 0) return false;
  return ipiDeliveryDecisions === 0 || sched_time() >= K.f64[L.ipi_at + cpu * L.ipi_at_stride]!;
}

function earliest_sleeper(spinning: boolean): number {
  const i32 = K.i32;
  const L = K.L;
  let next = -1;
  for (let c = 0; c < L.nr_cpus; c++) {
    if (exited(c) || (spinning && c === S.me) || i32[L.sched_wake + c] === 0) continue;
    if (next < 0 || i32[L.sched_wake + c]! < i32[L.sched_wake + next]!) next = c;
  }
  return next;
}

/**
 * --delay POINT=D[..D2][@N] under a controlled scheduler: a delay is not a
 * wall-clock sleep but logical time, D / DELAY_STEP_US steps of the schedule in
 * which this CPU is not picked (the others run), drawn with the schedule's
 * PRNG (the span, one pass in N) so that replay draws the same, and logged
 * (LOG.delay): a scripted schedule takes its delays from its script. An
 * interrupt with interrupts on lets the CPU take it; being picked otherwise
 * (nobody else can run) ends the delay.
 */
function sched_delay(p: number): void {
  const i32 = K.i32;
  const b = S.base;
  const at = i32[b + SCHED.step]! + 1; // the decision this delay comes before
  let steps: number;
  if (i32[b + SCHED.kind]! < 0) {
    // a scripted schedule: the delays its script holds, where it holds them
    const e = script_take(at, LOG.delay);
    if (e === NO_ENTRY) return;
    steps = -1 - e;
  } else {
    const every = delayEvery[p]!;
    if (every > 1 && rand() % every !== 0) return;
    let us = delayUs[p]!;
    if (delaySpanUs[p]! > 0) us += (rand() / 2 ** 32) * delaySpanUs[p]!;
    steps = Math.ceil(us / DELAY_STEP_US);
    if (steps <= 0) return;
  }
  log_entry(at, -1 - steps);
  i32[b + SCHED.hash] = Math.imul(i32[b + SCHED.hash]! ^ (0x20000 + steps), 0x01000193);
  i32[K.L.sched_wake + S.me] = sched_time() + steps;
}

/**
 * The log's and a script's entries ([step, word]): besides a context switch
 * (word 0 .. nr_cpus, the actor that runs from that decision on; nr_cpus is
 * the host), a migration (word nr_cpus + 1 + k: before that decision the
 * running task swaps CPUs with thread k's, sched_migrate) and a delay (word
 * -1 - D: before that decision the running CPU starts sitting out D
 * decisions, sched_delay) and a skip of the clock to an IPI's showing
 * (--ipi-delivery, word SKIP_WORD - D: at that decision time goes on D
 * decisions, nobody being able to run before). A script made of a log takes every one of them
 * again, so it reproduces the schedule whole; delta debugging (shrink) may
 * drop any of them.
 */
export const LOG = { switch: 0, migrate: 1, delay: 2, skip: 3 } as const;
/** A skip's word: SKIP_WORD - D, D decisions' worth of time skipped to an IPI's showing. */
const SKIP_WORD = -0x20000000;

export function logEntryKind(word: number, nrCpus: number): (typeof LOG)[keyof typeof LOG] {
  if (word <= SKIP_WORD) return LOG.skip;
  return word < 0 ? LOG.delay : word > nrCpus ? LOG.migrate : LOG.switch;
}

/** A log entry in words: "step S: cpu1 runs", a migration, a delay. */
export function describeLogEntry([step, word]: readonly [number, number], nrCpus: number): string {
  const kind = logEntryKind(word, nrCpus);
  if (kind === LOG.delay) return `step ${step}: the running CPU sits out ${-1 - word} decisions`;
  if (kind === LOG.skip) {
    return `step ${step}: time goes on ${SKIP_WORD - word} decisions, to an IPI's showing`;
  }
  if (kind === LOG.migrate) {
    return `step ${step}: the running task swaps CPUs with thread ${word - nrCpus - 1}'s`;
  }
  return `step ${step}: ${word === nrCpus ? 'the host' : `cpu${word}`} runs`;
}

/**
 * A scripted schedule, before decision `at`: the script's entry of `kind`
 * at that step (its word), consumed; NO_ENTRY if it holds none. Entries of
 * earlier steps that were not taken (the shrunk script no longer brings the
 * CPU there) are passed over.
 */
function script_take(at: number, kind: number): number {
  const i32 = K.i32;
  const L = K.L;
  const b = S.base;
  const ns = i32[b + SCHED.script_n]!;
  let i = i32[b + SCHED.script_at]!;
  while (i < ns && i32[L.sched_script + 2 * i]! < at) i++;
  i32[b + SCHED.script_at] = i;
  // this step's entries come in the order they were logged: delay, migration, switch
  for (let j = i; j < ns && i32[L.sched_script + 2 * j] === at; j++) {
    const w = i32[L.sched_script + 2 * j + 1]!;
    const k = logEntryKind(w, L.nr_cpus);
    if (k === kind) {
      i32[b + SCHED.script_at] = j + 1;
      return w;
    }
    if (k === LOG.switch) break;
  }
  return NO_ENTRY;
}

const NO_ENTRY = 0x7fffffff;

/**
 * A scripted schedule's decision: the switch the script names at this step
 * (if its actor can run), else run on; a spinning waiter (or the host after
 * its tick) hands over to the next CPU in turn that has not exited.
 */
function scripted(step: number, spinning: boolean): number {
  const i32 = K.i32;
  const L = K.L;
  const b = S.base;
  const n = L.nr_cpus;
  const me = S.me;
  let at = i32[b + SCHED.script_at]!;
  const ns = i32[b + SCHED.script_n]!;
  // a migration or delay of this step that was not taken is passed over too
  while (
    at < ns &&
    (i32[L.sched_script + 2 * at]! < step ||
      (i32[L.sched_script + 2 * at] === step &&
        logEntryKind(i32[L.sched_script + 2 * at + 1]!, n) !== LOG.switch))
  ) {
    at++;
  }
  let want = -1;
  if (at < ns && i32[L.sched_script + 2 * at] === step) {
    want = i32[L.sched_script + 2 * at + 1]!;
    at++;
  }
  i32[b + SCHED.script_at] = at;
  if (want >= 0 && want !== me && !exited(want) && !(spinning && want === me)) return want;
  if (!spinning && me < n && !exited(me)) return me;
  for (let k = 1; k <= n; k++) {
    const c = (me < n ? me + k : k - 1) % n;
    if (!exited(c) && c !== me) return c;
  }
  return me < n && !exited(me) ? me : S.host;
}

function log_decision(step: number, next: number): number {
  const i32 = K.i32;
  const b = S.base;
  let h = i32[b + SCHED.hash]!;
  h = Math.imul(h ^ step, 0x01000193);
  h = Math.imul(h ^ next, 0x01000193);
  i32[b + SCHED.hash] = h;
  if (next !== S.me) {
    i32[b + SCHED.switches]!++;
    log_entry(step, next);
  }
  // A CPU in a delay picked though no interrupt wakes it: nobody else could run (or only
  // spinning waiters, or the script says so), and time goes on to the end of its delay, for
  // every CPU in a delay (sched_time). Done here for every kind, so that a script does it too.
  if (next < K.L.nr_cpus && !awake(next, step)) {
    i32[b + SCHED.skipped] = i32[K.L.sched_wake + next]! - step;
  }
  return next;
}

/** Append [step, word] to the schedule's log (LOG), while there is room. */
function log_entry(step: number, word: number): void {
  const i32 = K.i32;
  const b = S.base;
  const n = i32[b + SCHED.log_n]!;
  if (n < SCHED.max_log) {
    i32[K.L.sched_log + 2 * n] = step;
    i32[K.L.sched_log + 2 * n + 1] = word;
    i32[b + SCHED.log_n] = n + 1;
  }
}

/**
 * This CPU leaves the schedule for good (done quiescing): hand the token to
 * another actor still in it, or to nobody when it was the last.
 */
export function sched_exit(): void {
  const i32 = K.i32;
  i32[K.L.sched_exited + S.me] = 1;
  const next = next_live(S.me);
  if (next >= 0) {
    hand_to(next);
    return;
  }
  i32[S.base + SCHED.token] = -1;
  Atomics.store(i32, S.base + SCHED.done, 1);
  Atomics.notify(i32, S.base + SCHED.done);
}

/** What a controlled schedule did, for the report (main thread). */
export type ScheduleReport = {
  kind: SchedKind;
  depth: number;
  steps: number;
  /** decisions taken (the schedule's steps plus the wind-down to quiescence) */
  stepsRun: number;
  switches: number;
  /** switches that handed the token to another thread (a host turn runs on the holder's) */
  handoffs: number;
  /** --migrate: tasks the schedule moved to another CPU (swaps) */
  migrations: number;
  /** FNV-1a of every decision: equal hashes, equal schedules */
  hash: string;
  deadlock: boolean;
  /** the first actor as [0, actor], then the context switches: [step, actor] (actor nr_cpus is the host) */
  log: [number, number][];
  /** config.sched.markStep (replay --from-step): the logical clock (events stamped) at that step; -1 not reached */
  markClock?: number;
  /** config.sched.guide: times the whole pattern was matched, times the guide started over, where it stopped */
  guide?: { matched: number; resets: number; pos: number };
  /** which schedule of a controlled run this was, and the run's seed (runSchedules) */
  schedule?: { index: number; runSeed: number };
};

export function readSchedule(
  v: Views,
  cfg: Config,
  maxLog: number = SCHED.max_log,
): ScheduleReport {
  const { i32, L } = v;
  const b = L.sched;
  const n = Math.min(i32[b + SCHED.log_n]!, maxLog);
  return {
    kind: cfg.sched.kind,
    depth: cfg.sched.depth,
    steps: cfg.sched.steps,
    stepsRun: i32[b + SCHED.step]!,
    switches: i32[b + SCHED.switches]!,
    handoffs: i32[b + SCHED.handoffs]!,
    migrations: i32[b + SCHED.migrations]!,
    hash: (i32[b + SCHED.hash]! >>> 0).toString(16).padStart(8, '0'),
    deadlock: i32[b + SCHED.deadlock] !== 0,
    ...(cfg.sched.markStep !== undefined ? { markClock: i32[b + SCHED.mark_clock]! } : {}),
    ...(cfg.sched.guide ? { guide: readGuide(v) } : {}),
    log: Array.from({ length: n }, (_, i) => [
      i32[L.sched_log + 2 * i]!,
      i32[L.sched_log + 2 * i + 1]!,
    ]),
  };
}
