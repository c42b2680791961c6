/**
 * The lock validator: kernel/lockdep.c (2.6.18 onwards), for this guest's
 * lock classes (LOCK_CLASSES) and the per-CPU data it annotates
 * (LOCKDEP_PERCPU). It reports what could deadlock or corrupt the first time
 * it becomes possible, not when it happens: each report is a violation
 * (lockdep-*), with both sides in the style of a lockdep splat.
 *
 * State, as lockdep keeps it:
 * - per target (lock class or per-CPU variable), four usage bits, global
 *   across CPUs (layout.ts LOCKDEP.usage): used in hardirq, used in softirq,
 *   taken with hardirqs enabled, taken with softirqs enabled (and hardirqs
 *   enabled: with them off no softirq can run here either, which is
 *   lockdep's mark_irqflags). The CPU that sets a bit first writes a record
 *   of where (LD_REC: CPU, context, preemption point, held classes, call
 *   chain);
 * - the dependency graph over classes: an edge prev -> next when next is
 *   taken while prev is held in the same context (check_prevs_add), with
 *   the record of its first acquisition;
 * - per task (this thread's, indexed by K.home as the task owns them), the
 *   classes held in each context (process, softirq, hardirq): lockdep's
 *   held_locks, reduced to masks and counts.
 *
 * Checks (each report made once, LOCKDEP.reported):
 * - mark_lock: a new usage bit that contradicts another of the same class
 *   ({IN-SOFTIRQ-W} -> {SOFTIRQ-ON-W} ...): lockdep-inconsistent (or
 *   lockdep-percpu for a per-CPU variable); and through the graph: a class
 *   used in an irq that leads to a class taken with that irq enabled, or the
 *   other way round: lockdep-irq-inversion ("possible irq lock inversion");
 * - a new edge: a cycle (lockdep-circular), or an irq-safe class before it
 *   and an irq-unsafe one after it (lockdep-irq-inversion, "irq-safe ->
 *   irq-unsafe lock order");
 * - a class taken again while held (lockdep-recursive: check_deadlock);
 * - held locks when interrupts or bottom halves get enabled
 *   (trace_hardirqs_on / trace_softirqs_on: mark_held_locks).
 *
 * Cost: the hot path (lock_acquire, lock_release) compares a few bits with
 * this thread's caches of the global usage and predecessor masks; only a
 * new usage bit or a new edge (rare: bounded by classes x bits and classes
 * squared) takes the slow path, which captures the call chain with a V8
 * stack trace (function names: the model's functions are the kernel's).
 */
import { report_violation } from '../check/oracle.ts';
import { VIOLATION_KINDS as VIOLATION_KINDS_, VK as VK_ } from '../check/violations.ts';
import { POINTS as POINTS_ } from '../points.ts';
import {
  CTRL as CTRL_,
  type Layout,
  LD_CLASSES as LD_CLASSES_,
  LD_MAX_REPORTS as LD_MAX_REPORTS_,
  LD_PATH as LD_PATH_,
  LD_REC as LD_REC_,
  LD_REPORT as LD_REPORT_,
  LD_TARGETS as LD_TARGETS_,
  LD_USAGE as LD_USAGE_,
  LOCK_CLASSES as LOCK_CLASSES_,
  LOCKDEP as LOCKDEP_,
  LOCKDEP_PERCPU as LOCKDEP_PERCPU_,
  PERCPU as PERCPU_,
  type Views,
} from '../shm/layout.ts';
import { HARDIRQ_MASK, PREEMPT_MASK, SOFTIRQ_MASK, SOFTIRQ_NAMES } from './irq.ts';
import { K as THIS_CPU } from './k.ts';

/**
 * This CPU and the layout's (events', checks') constants as module-local
 * consts, which V8's optimizing compiler folds; imported bindings are cells
 * it loads and tests at every use (k.ts).
 */
const K = THIS_CPU;
const VIOLATION_KINDS = VIOLATION_KINDS_;
const VK = VK_;
const POINTS = POINTS_;
const CTRL = CTRL_;
const LD_CLASSES = LD_CLASSES_;
const LD_MAX_REPORTS = LD_MAX_REPORTS_;
const LD_PATH = LD_PATH_;
const LD_REC = LD_REC_;
const LD_REPORT = LD_REPORT_;
const LD_TARGETS = LD_TARGETS_;
const LD_USAGE = LD_USAGE_;
const LOCK_CLASSES = LOCK_CLASSES_;
const LOCKDEP = LOCKDEP_;
const LOCKDEP_PERCPU = LOCKDEP_PERCPU_;
const PERCPU = PERCPU_;

/** Usage bits (LD_USAGE order). */
const IN_HARDIRQ = 1;
const IN_SOFTIRQ = 2;
const HARDIRQ_ON = 4;
const SOFTIRQ_ON = 8;
/** Contexts a lock is held in (held masks are per context, as lockdep's irq_context). */
const PROCESS = 0;
const SOFTIRQ = 1;
const HARDIRQ = 2;
/** lockdep_percpu's variables (LOCKDEP_PERCPU order). */
export const PCPU = {
  page_hva_discard_pvecs: 0,
  per_cpu_pageset: 1,
  page_discard_list: 2,
} as const;

/** A task's held classes: a mask and a count per class per context, and its softirq nesting. */
type Task = {
  held: Int32Array;
  count: Int32Array;
  /** the union of the three held masks */
  all: number;
  /** inside a softirq handler (trace_softirq_enter), and which */
  softirq: number;
  softirqNr: number;
};
let tasks: Task[] = [];
/** The task of K.home, cached: the hot path looks at one module variable. */
let cur: Task | undefined;
let curHome = -1;
function task(): Task {
  if (K.home !== curHome || cur === undefined) {
    cur = tasks[K.home] ?? new_task();
    curHome = K.home;
  }
  return cur;
}
/** This thread's copies of the global usage masks and of each class's known predecessors. */
const usageCache = new Int32Array(LD_TARGETS);
const predCache = new Int32Array(LD_CLASSES);
let textView: Uint8Array | undefined;

/** kernel_attach: a new machine (or a unit test's new boot): forget every cache. */
export function lockdep_attach(): void {
  tasks = [];
  cur = undefined;
  curHome = -1;
  usageCache.fill(0);
  predCache.fill(0);
  textView = undefined;
}

function new_task(): Task {
  const t: Task = {
    held: new Int32Array(3),
    count: new Int32Array(3 * LD_CLASSES),
    all: 0,
    softirq: 0,
    softirqNr: -1,
  };
  tasks[K.home] = t;
  return t;
}

/** The usage bits this context implies (mark_irqflags). */
function usage_need(pc: number, ctx: number, irqs: number): number {
  let need = ctx === HARDIRQ ? IN_HARDIRQ : ctx === SOFTIRQ ? IN_SOFTIRQ : 0;
  if (irqs !== 0)
    need |= (pc & (SOFTIRQ_MASK | HARDIRQ_MASK)) === 0 ? HARDIRQ_ON | SOFTIRQ_ON : HARDIRQ_ON;
  return need;
}

// ---- the hooks ----------------------------------------------------------------

/**
 * lock_acquire, before the lock is taken (spin_lock; spin_trylock once it
 * succeeded: `trylock` adds no dependency and cannot deadlock).
 */
export function lock_acquire(cls: number, trylock: boolean): void {
  const t = task();
  const i32 = K.i32;
  const pc = i32[K.percpu + PERCPU.preempt_count]!;
  const ctx = (pc & HARDIRQ_MASK) !== 0 ? HARDIRQ : t.softirq > 0 ? SOFTIRQ : PROCESS;
  const need = usage_need(pc, ctx, i32[K.percpu + PERCPU.irqs_enabled]!);
  const bit = 1 << cls;
  const held = t.held[ctx]!;
  if (
    (usageCache[cls]! & need) !== need ||
    ((held & ~predCache[cls]!) !== 0 && !trylock) ||
    (t.all & bit) !== 0
  ) {
    lock_acquire_slow(t, cls, ctx, need, trylock);
  }
  t.held[ctx] = held | bit;
  t.count[ctx * LD_CLASSES + cls]!++;
  t.all |= bit;
}

/** lock_release: the class leaves the held set of the context it was taken in. */
export function lock_release(cls: number): void {
  const t = task();
  const pc = K.i32[K.percpu + PERCPU.preempt_count]!;
  let ctx = (pc & HARDIRQ_MASK) !== 0 ? HARDIRQ : t.softirq > 0 ? SOFTIRQ : PROCESS;
  if (t.count[ctx * LD_CLASSES + cls] === 0) {
    // released in another context than taken (an unwind): wherever it is held
    ctx = [PROCESS, SOFTIRQ, HARDIRQ].find((c) => t.count[c * LD_CLASSES + cls]! > 0) ?? -1;
    if (ctx < 0) return;
  }
  if (--t.count[ctx * LD_CLASSES + cls]! === 0) {
    t.held[ctx]! &= ~(1 << cls);
    t.all = t.held[0]! | t.held[1]! | t.held[2]!;
  }
}

/**
 * trace_hardirqs_on: interrupts went 0 -> 1 (local_irq_enable, __do_softirq).
 * Every held lock is now held with hardirqs on, and with softirqs on unless
 * bottom halves are off (mark_held_locks).
 */
export function trace_hardirqs_on(): void {
  if (!K.lockdep) return;
  const t = task();
  if (t.all !== 0) mark_held_locks(t);
}

/** trace_softirqs_on: bottom halves enabled again (local_bh_enable). */
export function trace_softirqs_on(): void {
  trace_hardirqs_on();
}

function mark_held_locks(t: Task): void {
  const i32 = K.i32;
  const pc = i32[K.percpu + PERCPU.preempt_count]!;
  const need = usage_need(pc, PROCESS, i32[K.percpu + PERCPU.irqs_enabled]!);
  if (need === 0) return;
  for (let c = 0, m = t.all; m !== 0; c++, m >>>= 1) {
    if ((m & 1) !== 0 && (usageCache[c]! & need) !== need && !machine_broken()) {
      mark_usage(c, need);
    }
  }
}

/** trace_softirq_enter: __do_softirq is about to run handler `nr` (softirq context). */
export function trace_softirq_enter(nr: number): void {
  if (!K.lockdep) return;
  const t = task();
  t.softirq++;
  t.softirqNr = nr;
}
export function trace_softirq_exit(): void {
  if (!K.lockdep) return;
  const t = task();
  if (t.softirq > 0) t.softirq--;
}

/**
 * lockdep_percpu(var): this CPU's instance of per-CPU data `v` (PCPU) is
 * used here. Used from interrupt context and from process context with that
 * interrupt enabled (preemption off only), an interrupt can land in the
 * middle of the process-side use: lockdep-percpu.
 */
export function lockdep_percpu(v: number): void {
  // The check out of line: without the validator (the benchmarks, --no-lockdep)
  // this is a test of one flag, small enough for V8 to inline at every use.
  if (K.lockdep) lockdep_percpu_check(v);
}
function lockdep_percpu_check(v: number): void {
  const i32 = K.i32;
  const pc = i32[K.percpu + PERCPU.preempt_count]!;
  const t = tasks[K.home];
  const ctx =
    (pc & HARDIRQ_MASK) !== 0 ? HARDIRQ : t !== undefined && t.softirq > 0 ? SOFTIRQ : PROCESS;
  const need = usage_need(pc, ctx, i32[K.percpu + PERCPU.irqs_enabled]!);
  const target = LD_CLASSES + v;
  if ((usageCache[target]! & need) !== need && !machine_broken()) mark_usage(target, need);
}

// ---- the slow path ------------------------------------------------------------

/** After a list corruption the machine stops: what runs meanwhile is no evidence. */
function machine_broken(): boolean {
  return Atomics.load(K.i32, K.L.ctrl + CTRL.list_bug) !== 0;
}

function lock_acquire_slow(
  t: Task,
  cls: number,
  ctx: number,
  need: number,
  trylock: boolean,
): void {
  if (machine_broken()) return;
  mark_usage(cls, need);
  if (trylock) return;
  if ((t.all & (1 << cls)) !== 0) check_deadlock(t, cls);
  let miss = t.held[ctx]! & ~predCache[cls]! & ~(1 << cls);
  if (miss === 0) return;
  refresh_pred(cls);
  miss &= ~predCache[cls]!;
  for (let h = 0; miss !== 0; h++, miss >>>= 1) {
    if ((miss & 1) !== 0) add_edge(h, cls);
  }
}

function refresh_pred(cls: number): void {
  const adj = K.L.lockdep + LOCKDEP.adj;
  let pred = 0;
  for (let h = 0; h < LD_CLASSES; h++) {
    if ((Atomics.load(K.i32, adj + h) & (1 << cls)) !== 0) pred |= 1 << h;
  }
  predCache[cls] = pred;
}

const usage_of = (target: number) => Atomics.load(K.i32, K.L.lockdep + LOCKDEP.usage + target);
const usage_rec = (L: Layout, target: number, b: number) =>
  L.lockdep + LOCKDEP.usage_rec + (target * LD_USAGE.length + b) * LD_REC.words;
const edge_rec = (L: Layout, prev: number, next: number) =>
  L.lockdep + LOCKDEP.edge_rec + (prev * LD_CLASSES + next) * LD_REC.words;

function mark_usage(target: number, need: number): void {
  usageCache[target] = usage_of(target);
  const add = need & ~usageCache[target]!;
  for (let b = 0; b < LD_USAGE.length; b++) if ((add & (1 << b)) !== 0) mark_lock(target, b);
}

/** mark_lock: set usage bit `b` of `target`; the CPU that sets it first records it and checks it. */
function mark_lock(target: number, b: number): void {
  const { i32, L } = K;
  const ld = L.lockdep;
  const bit = 1 << b;
  const first = (Atomics.or(i32, ld + LOCKDEP.claimed + target, bit) & bit) === 0;
  if (first) write_record(usage_rec(L, target, b));
  const u = Atomics.or(i32, ld + LOCKDEP.usage + target, bit) | bit;
  usageCache[target] = u;
  if (!first) return;
  const irq = b & 1; // 0 hardirq, 1 softirq
  const used = b < 2; // IN-*: this class is irq-safe from now on
  const inBit = IN_HARDIRQ << irq;
  const onBit = HARDIRQ_ON << irq;
  if ((u & (used ? onBit : inBit)) !== 0) {
    const kind = target < LD_CLASSES ? VK['lockdep-inconsistent'] : VK['lockdep-percpu'];
    report(kind, target, target, irq, b, []);
  }
  if (target >= LD_CLASSES) return;
  // check_usage_forwards / check_usage_backwards: through the graph
  const path = used
    ? bfs(target, true, (c) => c !== target && (usage_of(c) & onBit) !== 0)
    : bfs(target, false, (c) => c !== target && (usage_of(c) & inBit) !== 0);
  if (path !== null) {
    report(VK['lockdep-irq-inversion'], path[0]!, path[path.length - 1]!, irq, b, path);
  }
}

/** check_prev_add: the new edge prev -> next. */
function add_edge(prev: number, next: number): void {
  const { i32, L } = K;
  const old = Atomics.or(i32, L.lockdep + LOCKDEP.adj + prev, 1 << next);
  predCache[next]! |= 1 << prev;
  if ((old & (1 << next)) !== 0) return;
  write_record(edge_rec(L, prev, next));
  // check_noncircular: does next already lead to prev?
  const cycle = bfs(next, true, (c) => c === prev);
  if (cycle !== null) report(VK['lockdep-circular'], prev, next, 0, -1, cycle);
  // check_prev_add_irq: an irq-safe class at or before prev, an irq-unsafe one at or after next
  for (let irq = 0; irq < 2; irq++) {
    const back = bfs(prev, false, (c) => (usage_of(c) & (IN_HARDIRQ << irq)) !== 0);
    if (back === null) continue;
    const fwd = bfs(next, true, (c) => (usage_of(c) & (HARDIRQ_ON << irq)) !== 0);
    if (fwd === null || fwd[fwd.length - 1] === back[0]) continue;
    report(VK['lockdep-irq-inversion'], back[0]!, fwd[fwd.length - 1]!, irq, -1, [...back, ...fwd]);
  }
}

/** check_deadlock: `cls` is already held by this task. */
function check_deadlock(t: Task, cls: number): void {
  const ctx = [PROCESS, SOFTIRQ, HARDIRQ].find((c) => t.count[c * LD_CLASSES + cls]! > 0) ?? 0;
  report(VK['lockdep-recursive'], cls, cls, ctx, -1, []);
}

/**
 * Breadth-first over the graph from `start` (forward: along edges; else
 * against them) to the first class that `match`es, `start` included; the
 * path always reads in lock order (the earlier lock first).
 */
function bfs(start: number, forward: boolean, match: (c: number) => boolean): number[] | null {
  const i32 = K.i32;
  const adj = K.L.lockdep + LOCKDEP.adj;
  const from = new Int32Array(LD_CLASSES).fill(-2);
  from[start] = -1;
  const queue = [start];
  for (let q = 0; q < queue.length; q++) {
    const c = queue[q]!;
    if (match(c)) {
      const path: number[] = [];
      for (let n = c; n !== -1; n = from[n]!) path.push(n);
      return forward ? path.reverse() : path;
    }
    for (let n = 0; n < LD_CLASSES; n++) {
      const edge = forward
        ? (Atomics.load(i32, adj + c) & (1 << n)) !== 0
        : (Atomics.load(i32, adj + n) & (1 << c)) !== 0;
      if (edge && from[n] === -2) {
        from[n] = c;
        queue.push(n);
      }
    }
  }
  return null;
}

/** A report, once per (kind, a, b, irq): a slot with this acquisition's record, and a violation. */
function report(
  kind: number,
  a: number,
  b: number,
  irq: number,
  bit: number,
  path: number[],
): void {
  const { i32, L } = K;
  const ld = L.lockdep;
  const key = 1 << ((kind - VK['lockdep-inconsistent']) * 3 + irq);
  if ((Atomics.or(i32, ld + LOCKDEP.reported + a * LD_TARGETS + b, key) & key) !== 0) return;
  const n = Atomics.add(i32, ld + LOCKDEP.nr_reports, 1);
  if (n < LD_MAX_REPORTS) {
    const r = ld + LOCKDEP.report + n * LD_REPORT.words;
    i32[r + LD_REPORT.kind] = kind;
    i32[r + LD_REPORT.a] = a;
    i32[r + LD_REPORT.b] = b;
    i32[r + LD_REPORT.irq] = irq;
    i32[r + LD_REPORT.bit] = bit;
    const len = Math.min(path.length, LD_PATH);
    for (let k = 0; k < len; k++) i32[r + LD_REPORT.path + k] = path[k]!;
    i32[r + LD_REPORT.path_len] = len;
    write_record(r + LD_REPORT.rec);
  }
  report_violation(kind, -1, -1, -1, -1, n);
}

/** Context word of a record: see context_text. */
function context_word(): number {
  const i32 = K.i32;
  const pc = i32[K.percpu + PERCPU.preempt_count]!;
  const t = tasks[K.home];
  const soft = t !== undefined && t.softirq > 0;
  let w = (pc & HARDIRQ_MASK) !== 0 ? HARDIRQ : soft ? SOFTIRQ : PROCESS;
  if (i32[K.percpu + PERCPU.irqs_enabled] !== 0) w |= 4;
  if ((pc & (SOFTIRQ_MASK | HARDIRQ_MASK)) === 0) w |= 8;
  if ((pc & PREEMPT_MASK) !== 0) w |= 16;
  if (soft) w |= (t.softirqNr + 1) << 8;
  return w;
}

function write_record(at: number): void {
  const i32 = K.i32;
  i32[at + LD_REC.cpu] = K.cpu;
  i32[at + LD_REC.ctx] = context_word();
  i32[at + LD_REC.point] = i32[K.percpu + PERCPU.point]!;
  i32[at + LD_REC.held] = tasks[K.home]?.all ?? 0;
  textView ??= new Uint8Array(i32.buffer);
  const text = call_chain();
  const base = (at + LD_REC.text) * 4;
  const n = Math.min(text.length, LD_REC.text_bytes - 1);
  for (let k = 0; k < n; k++) textView[base + k] = text.charCodeAt(k) & 0x7f;
  textView[base + n] = 0;
}

/** What V8 hands Error.prepareStackTrace: the frames, unformatted. */
type StackFrame = { getFunctionName(): string | null };
const rawFrames = (_e: Error, frames: StackFrame[]) => frames;
/** Frames of the validator itself, and where a task's chain starts. */
const OWN_FRAME =
  /^(lock_acquire|lock_release|lockdep_percpu|trace_|mark_|add_edge|check_deadlock|report|write_record|call_chain|bfs)/;
const BOTTOM = new Set([
  'cpu_loop',
  'quiesce',
  'stop_machine_park',
  'stutter_hold',
  'workload_init',
]);

/**
 * The call chain, innermost first, as function names separated by '\n':
 * the model's functions carry the kernel's names (esbuild's renaming of a
 * duplicate, a trailing digit, is taken off). Slow path only.
 */
function call_chain(): string {
  const limit = Error.stackTraceLimit;
  const prepare = Error.prepareStackTrace;
  Error.stackTraceLimit = 48;
  Error.prepareStackTrace = rawFrames as typeof Error.prepareStackTrace;
  const holder: { stack?: unknown } = {};
  Error.captureStackTrace(holder, call_chain);
  const frames = (holder.stack as StackFrame[] | undefined) ?? [];
  Error.prepareStackTrace = prepare;
  Error.stackTraceLimit = limit;
  const names: string[] = [];
  for (const f of frames) {
    const fn = (f.getFunctionName() ?? '').replace(/\d+$/, '');
    if (BOTTOM.has(fn)) break;
    if (fn === '' || OWN_FRAME.test(fn) || fn.startsWith('<') || fn.startsWith('[')) continue;
    if (names[names.length - 1] !== fn) names.push(fn);
  }
  return names.join('\n');
}

// ---- main thread: what the validator found ---------------------------------------

export type LockdepUse = {
  cpu: number;
  /** "softirq NET_TX, hardirqs on, softirqs off, preempt off" */
  context: string;
  /** the preemption point passed last */
  point: string;
  /** the classes this CPU's task held */
  held: string[];
  /** call chain, innermost first */
  stack: string[];
};
export type LockdepTarget = {
  name: string;
  /** usage bits set, lockdep's names (IN-SOFTIRQ-W ...) */
  usage: string[];
  /** where each was first seen */
  first: Partial<Record<(typeof LD_USAGE)[number], LockdepUse>>;
  /** classes taken while this one was held (lock classes only) */
  before: string[];
};
export type LockdepSplat = { kind: string; title: string; text: string[] };
export type LockdepReport = {
  enabled: boolean;
  reports: number;
  classes: LockdepTarget[];
  percpu: LockdepTarget[];
  splats: LockdepSplat[];
};

/** A class as lockdep prints it ("&zone->lru_lock"), a per-CPU variable as "per_cpu(page_hva_discard_pvecs)". */
export function targetName(target: number): string {
  if (target >= LD_CLASSES) return `per_cpu(${LOCKDEP_PERCPU[target - LD_CLASSES] ?? target})`;
  const n = LOCK_CLASSES[target] ?? `class ${target}`;
  return n.includes('->') ? `&${n}` : n;
}

export function context_text(w: number): string {
  const ctx = w & 3;
  const nr = (w >> 8) - 1;
  const where =
    ctx === HARDIRQ
      ? 'hardirq'
      : ctx === SOFTIRQ
        ? `softirq ${SOFTIRQ_NAMES[nr] ?? nr}`
        : 'process';
  const parts = [where, `hardirqs ${w & 4 ? 'on' : 'off'}`, `softirqs ${w & 8 ? 'on' : 'off'}`];
  if (ctx === PROCESS) parts.push(`preempt ${w & 16 ? 'off' : 'on'}`);
  return parts.join(', ');
}

function readUse(v: Views, at: number): LockdepUse {
  const { i32 } = v;
  const u8 = new Uint8Array(i32.buffer);
  const base = (at + LD_REC.text) * 4;
  let text = '';
  for (let k = 0; k < LD_REC.text_bytes && u8[base + k] !== 0; k++) {
    text += String.fromCharCode(u8[base + k]!);
  }
  const held: string[] = [];
  const h = i32[at + LD_REC.held]!;
  for (let c = 0; c < LD_CLASSES; c++) if (h & (1 << c)) held.push(targetName(c));
  return {
    cpu: i32[at + LD_REC.cpu]!,
    context: context_text(i32[at + LD_REC.ctx]!),
    point: POINTS[i32[at + LD_REC.point]!]?.[0] ?? '?',
    held,
    stack: text === '' ? [] : text.split('\n'),
  };
}

/** lockdep's usage string of a class: a character per irq, '+' taken with it on, '-' used in it, '?' both. */
function usageString(u: number): string {
  const c = (irq: number) => {
    const on = u & (HARDIRQ_ON << irq);
    const used = u & (IN_HARDIRQ << irq);
    return on && used ? '?' : on ? '+' : used ? '-' : '.';
  };
  return `{${c(0)}${c(1)}}`;
}

function readTarget(v: Views, target: number): LockdepTarget {
  const { i32, L } = v;
  const ld = L.lockdep;
  const u = Atomics.load(i32, ld + LOCKDEP.usage + target);
  const first: LockdepTarget['first'] = {};
  const usage: string[] = [];
  LD_USAGE.forEach((name, b) => {
    if (!(u & (1 << b))) return;
    usage.push(name);
    first[name] = readUse(v, usage_rec(L, target, b));
  });
  const before: string[] = [];
  if (target < LD_CLASSES) {
    const adj = Atomics.load(i32, ld + LOCKDEP.adj + target);
    for (let n = 0; n < LD_CLASSES; n++) if (adj & (1 << n)) before.push(targetName(n));
  }
  const name = target < LD_CLASSES ? LOCK_CLASSES[target]! : LOCKDEP_PERCPU[target - LD_CLASSES]!;
  return { name, usage, first, before };
}

const indent = (use: LockdepUse, pad: string) => use.stack.map((f) => `${pad}${f}`);
const useLine = (use: LockdepUse) =>
  `cpu${use.cpu} (${use.context}) at point ${use.point}${use.held.length ? `, holding ${use.held.join(', ')}` : ''}:`;

/** The splat of report slot `n`, as lockdep prints it (both sides, call chains). */
export function lockdepSplat(v: Views, n: number): LockdepSplat {
  const { i32, L } = v;
  if (n < 0 || n >= LD_MAX_REPORTS || n >= Atomics.load(i32, L.lockdep + LOCKDEP.nr_reports)) {
    return { kind: '?', title: `lockdep report ${n} (not stored)`, text: [] };
  }
  const r = L.lockdep + LOCKDEP.report + n * LD_REPORT.words;
  const kind = VIOLATION_KINDS[i32[r + LD_REPORT.kind]!]?.[0] ?? '?';
  const a = i32[r + LD_REPORT.a]!;
  const b = i32[r + LD_REPORT.b]!;
  const irq = i32[r + LD_REPORT.irq]!;
  const bit = i32[r + LD_REPORT.bit]!;
  const path = Array.from(
    { length: i32[r + LD_REPORT.path_len]! },
    (_, k) => i32[r + LD_REPORT.path + k]!,
  );
  const me = readUse(v, r + LD_REPORT.rec);
  const u = (t: number) => Atomics.load(i32, L.lockdep + LOCKDEP.usage + t);
  const cls = (t: number) => `(${targetName(t)})${t < LD_CLASSES ? usageString(u(t)) : ''}`;
  const IRQ = irq === 0 ? 'HARDIRQ' : 'SOFTIRQ';
  const text: string[] = [];
  const chain = (p: number[]) => {
    for (let k = p.length - 1; k > 0; k--) {
      const use = readUse(v, edge_rec(L, p[k - 1]!, p[k]!));
      text.push(`-> #${k - 1} ${cls(p[k]!)} taken while holding ${cls(p[k - 1]!)}:`);
      text.push(`   ${useLine(use)}`, ...indent(use, '     '));
    }
  };
  let title: string;
  if (kind === 'lockdep-inconsistent' || kind === 'lockdep-percpu') {
    const old = bit < 2 ? bit + 2 : bit - 2;
    title = kind === 'lockdep-percpu' ? 'inconsistent per-CPU data use' : 'inconsistent lock state';
    const other = readUse(v, usage_rec(L, a, old));
    text.push(`inconsistent {${LD_USAGE[old]}} -> {${LD_USAGE[bit]}} usage.`);
    text.push(
      `${useLine(me)}`,
      ` ${kind === 'lockdep-percpu' ? 'uses' : 'takes'} ${cls(a)}`,
      ...indent(me, '   '),
    );
    text.push(
      `{${LD_USAGE[old]}} state was registered at:`,
      `  ${useLine(other)}`,
      ...indent(other, '   '),
    );
    text.push(
      kind === 'lockdep-percpu'
        ? `${irq === 0 ? 'an interrupt' : 'a softirq'} on that CPU can use ${targetName(a)} in the middle of the other use`
        : `${irq === 0 ? 'an interrupt' : 'a softirq'} on that CPU that takes ${targetName(a)} while it is held there deadlocks`,
    );
  } else if (kind === 'lockdep-irq-inversion') {
    const safe = readUse(v, usage_rec(L, a, irq));
    const unsafe = readUse(v, usage_rec(L, b, irq + 2));
    title =
      bit < 0
        ? `${IRQ}-safe -> ${IRQ}-unsafe lock order detected`
        : 'possible irq lock inversion dependency detected';
    text.push(
      `${targetName(a)} is ${IRQ}-safe, ${targetName(b)} is ${IRQ}-unsafe, and ${targetName(a)} is taken before ${targetName(b)}:`,
    );
    if (bit < 0)
      text.push(`${useLine(me)}`, ' adds a dependency of the chain below', ...indent(me, '   '));
    else text.push(`${useLine(me)}`, ` marks ${LD_USAGE[bit]}`, ...indent(me, '   '));
    text.push(`the dependency chain:`);
    chain(path);
    text.push(
      `{${LD_USAGE[irq]}} of ${targetName(a)} was registered at:`,
      `  ${useLine(safe)}`,
      ...indent(safe, '   '),
    );
    text.push(
      `{${LD_USAGE[irq + 2]}} of ${targetName(b)} was registered at:`,
      `  ${useLine(unsafe)}`,
      ...indent(unsafe, '   '),
    );
    text.push(
      `${irq === 0 ? 'an interrupt' : 'a softirq'} that takes ${targetName(a)} can land where ${targetName(b)} is held with it enabled, while another CPU holds ${targetName(a)} and waits for ${targetName(b)}`,
    );
  } else if (kind === 'lockdep-circular') {
    title = 'possible circular locking dependency detected';
    text.push(
      `${useLine(me)}`,
      ` is trying to acquire ${cls(b)}`,
      ` but already holds ${cls(a)}`,
      ...indent(me, '   '),
    );
    text.push(
      'which lock already depends on the new lock.',
      'the existing dependency chain (in reverse order) is:',
    );
    chain(path);
  } else {
    title = 'possible recursive locking detected';
    const ctxName = ['process', 'softirq', 'hardirq'][irq] ?? '?';
    text.push(`${useLine(me)}`, ` is trying to acquire ${cls(a)}`, ...indent(me, '   '));
    text.push(
      `but it already holds, or waits for, a lock of that class (taken in ${ctxName} context)`,
    );
  }
  return { kind, title, text: [`[ INFO: ${title} ]`, ...text] };
}

export function readLockdep(v: Views, enabled: boolean): LockdepReport {
  const { i32, L } = v;
  const reports = Atomics.load(i32, L.lockdep + LOCKDEP.nr_reports);
  return {
    enabled,
    reports,
    classes: Array.from({ length: LD_CLASSES }, (_, c) => readTarget(v, c)),
    percpu: Array.from({ length: LOCKDEP_PERCPU.length }, (_, k) => readTarget(v, LD_CLASSES + k)),
    splats: Array.from({ length: Math.min(reports, LD_MAX_REPORTS) }, (_, n) => lockdepSplat(v, n)),
  };
}

/** The text report's section: the validator's state per class (each report is a violation, printed there). */
export function renderLockdep(r: LockdepReport): string[] {
  if (!r.enabled) return ['lock validator (lockdep): off (--no-lockdep)'];
  const out = [`lock validator (lockdep): on, ${r.reports} report${r.reports === 1 ? '' : 's'}`];
  const line = (t: LockdepTarget, name: string) => {
    if (t.usage.length === 0 && t.before.length === 0) return;
    const first = t.usage.map((u) => {
      const f = t.first[u as (typeof LD_USAGE)[number]];
      return f ? `${u} (cpu${f.cpu} ${f.stack.find((fn) => !fn.startsWith('spin_')) ?? '?'})` : u;
    });
    const before = t.before.length > 0 ? `; before ${t.before.join(', ')}` : '';
    out.push(`  ${name.padEnd(32)} ${first.join(', ') || 'no irq usage'}${before}`);
  };
  for (const [c, t] of r.classes.entries()) line(t, targetName(c));
  for (const [k, t] of r.percpu.entries()) line(t, targetName(LD_CLASSES + k));
  return out;
}
