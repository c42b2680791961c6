/**
 * Per-CPU flight recorder: a ring of the last RING_EVENTS kernel events of
 * each CPU (and the host), in the shared buffer so that whoever detects a
 * violation can copy the rings of every CPU involved. Only the owner writes its
 * ring; readers copy it racily (an event being written may show torn), which is
 * what a crash dump of a live machine gives too.
 */
import { performance } from 'node:perf_hooks';
import { RING_EVENTS as RING_EVENTS_ } from '../config.ts';
import { K as THIS_CPU } from '../kernel/k.ts';
import { S, sched_now } from '../kernel/sched.ts';
import { EVENT_WORDS as EVENT_WORDS_ } from '../shm/layout.ts';

/**
 * This CPU and the layout's (events', checks') constants as module-local
 * consts, which V8's optimizing compiler folds; imported bindings are cells
 * it loads and tests at every use (k.ts).
 */
const K = THIS_CPU;
const RING_EVENTS = RING_EVENTS_;
const EVENT_WORDS = EVENT_WORDS_;

const MASK = RING_EVENTS - 1;

const ORIGIN = performance.timeOrigin; // a getter: read it once

/**
 * Wall-clock milliseconds, comparable across worker threads; under a
 * controlled scheduler (--sched random|pct) the logical clock, so that a
 * schedule's story is the same every time.
 */
export const now = (): number => (S.on ? sched_now() : ORIGIN + performance.now());

/** Record an event; `t` (ms, from now()) when the caller has just read the clock. */
export function rec(ev: number, pfn: number, a = 0, b = 0, t = now()): void {
  // K and K.L read once each: the bytecode stays small enough for V8 to inline.
  const k = K;
  const L = k.L;
  const i32 = k.i32;
  const ring = k.ring;
  const n = i32[ring]!;
  const slot = n & MASK;
  const e = ring + L.ring_events + slot * EVENT_WORDS;
  i32[e] = ev;
  i32[e + 1] = pfn;
  i32[e + 2] = a;
  i32[e + 3] = b;
  k.f64[L.ring_time + k.cpu * RING_EVENTS + slot] = t;
  // Only this CPU writes the ring and readers copy it racily anyway: a plain
  // store (an Atomics.store is a ~13 ns builtin call on Node 20, 5 per page).
  i32[ring] = n + 1;
}
