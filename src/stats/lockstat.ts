/**
 * lock_stat for the emulated kernel (Linux's CONFIG_LOCK_STAT, read as
 * /proc/lock_stat): per lock class, acquisitions, contentions, bounces, and
 * with --lockstat the wait and hold times and the call sites that contended.
 *
 * The hooks have the kernel's names and places (kernel/locking/lockdep.c):
 *
 *   if (!trylock(lock)) {            lock_contended  counts a contention
 *     lock_wait_begin                  (--lockstat: call site, clock)
 *     wait for the lock
 *     lock_wait_end                    (--lockstat: waittime)
 *   }
 *   lock_acquired                    counts an acquisition
 *   lock_hold_begin                    (--lockstat: push on the held stack)
 *   ...
 *   lock_hold_end                      (--lockstat: holdtime)
 *   unlock
 *
 * The lock code keeps two paths: the counting hooks only (always on, a few
 * plain stores to this CPU's own lines) and, when --lockstat is set, a timed
 * copy of the same steps (see spinlock.ts, filemap.ts' page lock).
 *
 * A bounce is an acquisition (acq-bounce) or a contention (con-bounce) by a
 * different CPU than the one that took the lock last. The last CPU is kept
 * per lock, not per class, in the lock itself (LOCK_SLOT.cpu; page_lock_cpu
 * for PG_locked), as lockdep_map.cpu is: a bounce stands for the lock's cache
 * line moving between CPUs, and two CPUs taking the tree_locks of two
 * different files move no line. A per-class word would call that a bounce,
 * and would itself be a line every CPU writes on every acquisition.
 *
 * Counters are per CPU and per class, Float64 in this CPU's lockstat block
 * (layout.ts), written only by this CPU; the main thread sums them. Call sites
 * are strings, kept per thread and handed over at the final collection.
 */
import { performance } from 'node:perf_hooks';
import { K } from '../kernel/context.ts';
import {
  HELD_DEPTH,
  LOCK_CLASSES,
  LOCKSTAT,
  LOCKSTAT_HELD,
  lockstatBase,
  type Views,
} from '../shm/layout.ts';

// ---- worker side: the hooks ----------------------------------------------------

/**
 * A CPU found the lock held and is about to wait. `cpuWord`: the lock's
 * last-CPU word. The read races with the holder writing it: lockdep reads
 * lock->cpu the same way, and a stale value only misplaces one bounce.
 */
export function lock_contended(cpuWord: number, cls: number): void {
  const r = K.lockstat + cls * LOCKSTAT.nr_fields;
  K.f64[r + LOCKSTAT.contentions]!++;
  const last = K.i32[cpuWord]!;
  if (last !== 0 && last !== K.cpu + 1) K.f64[r + LOCKSTAT.con_bounces]!++;
}

/**
 * The lock is ours: count it; a bounce if another CPU took it last. Only the
 * holder writes `cpuWord` (0 = never taken: no bounce). The bounce is kept
 * out of line so that the common case stays small enough to inline.
 */
export function lock_acquired(cpuWord: number, cls: number): void {
  const r = K.lockstat + cls * LOCKSTAT.nr_fields;
  const last = K.i32[cpuWord]!;
  K.f64[r + LOCKSTAT.acquisitions]! += 1;
  if (last !== K.cpu + 1) lock_bounced(cpuWord, r, last);
}
function lock_bounced(cpuWord: number, r: number, last: number): void {
  K.i32[cpuWord] = K.cpu + 1;
  if (last !== 0) K.f64[r + LOCKSTAT.acq_bounces]!++;
}

/** --lockstat: note the contending call site; returns the clock (ms) at the start of the wait. */
export function lock_wait_begin(cls: number): number {
  note_site(cls);
  return performance.now();
}

/** --lockstat: the wait that began at `t0` is over; returns the clock (the hold starts now). */
export function lock_wait_end(cls: number, t0: number): number {
  const t = performance.now();
  time_inc(K.lockstat + cls * LOCKSTAT.nr_fields + LOCKSTAT.wait_nr, (t - t0) * 1000);
  return t;
}

/**
 * --lockstat: the lock `id` (its last-CPU word: unique per lock) is held from
 * `t` on. The held stack is this CPU's, in the buffer (lockdep's held_locks);
 * past HELD_DEPTH nested locks the innermost go untimed.
 */
export function lock_hold_begin(id: number, t: number): void {
  const f64 = K.f64;
  const held = K.lockstat + LOCKSTAT_HELD;
  const depth = f64[held]!;
  if (depth >= HELD_DEPTH) return;
  f64[held + 1 + 2 * depth] = id;
  f64[held + 2 + 2 * depth] = t;
  f64[held] = depth + 1;
}

/** --lockstat: the lock `id` of class `cls` is being released: its hold time. */
export function lock_hold_end(id: number, cls: number): void {
  const f64 = K.f64;
  const held = K.lockstat + LOCKSTAT_HELD;
  const depth = f64[held]!;
  // Usually the top; locks may be released out of order.
  for (let i = depth - 1; i >= 0; i--) {
    if (f64[held + 1 + 2 * i] !== id) continue;
    const us = (performance.now() - f64[held + 2 + 2 * i]!) * 1000;
    for (let j = i + 1; j < depth; j++) {
      f64[held + 2 * j - 1] = f64[held + 2 * j + 1]!;
      f64[held + 2 * j] = f64[held + 2 * j + 2]!;
    }
    f64[held] = depth - 1;
    time_inc(K.lockstat + cls * LOCKSTAT.nr_fields + LOCKSTAT.hold_nr, us);
    return;
  }
}

/** lock_time_inc: nr, min, max, total at f64[at..at+3]. */
function time_inc(at: number, us: number): void {
  const f64 = K.f64;
  const nr = f64[at]!;
  if (nr === 0 || us < f64[at + 1]!) f64[at + 1] = us;
  if (us > f64[at + 2]!) f64[at + 2] = us;
  f64[at + 3]! += us;
  f64[at] = nr + 1;
}

// ---- call sites (--lockstat only) ---------------------------------------------

/** Frames of the lock primitives themselves, skipped to find the caller. */
const LOCK_FRAME =
  /^(?:spin_lock|spin_lock_timed|spin_trylock|lock_page|lock_page_timed|__lock_page|arch_spin_\w+|lock_wait_begin|note_site|contention_site)$/;
const SITE_FRAMES = 8;
/** Per class: site -> contentions seen on this thread (per thread, not per CPU). */
const sites: Map<string, number>[] = LOCK_CLASSES.map(() => new Map());

function note_site(cls: number): void {
  const m = sites[cls]!;
  const s = contention_site();
  m.set(s, (m.get(s) ?? 0) + 1);
}

/**
 * The first caller outside the lock code, as `function (file.ts:line)`: what
 * lock_stat prints as the contention point (a symbol+offset there). A stack
 * trace costs microseconds: only contended acquisitions under --lockstat pay
 * it, before their wait starts, so it is not counted as waiting.
 */
export function contention_site(): string {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = SITE_FRAMES;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  const lines = stack.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const m = /^\s*at (?:(\S+) \()?(.*?):(\d+):\d+\)?$/.exec(lines[i]!);
    if (!m) continue;
    const fn = m[1] ?? '<anonymous>';
    if (LOCK_FRAME.test(fn.replace(/^Object\./, ''))) continue;
    const file = m[2]!.replace(/^.*\//, '').replace(/\?.*$/, '');
    return `${fn} (${file}:${m[3]})`;
  }
  return '<unknown>';
}

/** This thread's contention sites per class (final collection; unit tests). */
export function lockstat_sites(): [string, number][][] {
  return sites.map((m) => [...m.entries()]);
}
/** Forget this thread's call sites (unit tests). */
export function lockstat_reset_sites(): void {
  for (const m of sites) m.clear();
}

// ---- main side ------------------------------------------------------------------

export type LockTimes = { min: number; max: number; total: number; avg: number };
export type CallSite = { site: string; contentions: number };
export type LockReport = {
  name: string;
  acquisitions: number;
  contentions: number;
  conBounces: number;
  acqBounces: number;
  /** Contended acquisitions only, as lock_stat: avg = total / contentions timed. */
  waitTimeUs: LockTimes;
  /** Every acquisition: avg = total / acquisitions timed. */
  holdTimeUs: LockTimes;
  /** Up to TOP_SITES callers that contended most (--lockstat), most first. */
  topCallSites: CallSite[];
};

/** lock_stat keeps 4 contention points per class (LOCKSTAT_POINTS). */
export const TOP_SITES = 4;

/**
 * Sum every CPU's records into one line per class (all classes, taken or
 * not). `sites`: per thread, per class, [site, count] pairs from the
 * final collection (absent after a stall or a crash).
 */
export function readLocks(v: Views, sites: [string, number][][][] = []): LockReport[] {
  const { L, f64 } = v;
  return LOCK_CLASSES.map((name, cls) => {
    const sum = new Float64Array(LOCKSTAT.nr_fields);
    let waitMin = Number.POSITIVE_INFINITY;
    let holdMin = Number.POSITIVE_INFINITY;
    for (let cpu = 0; cpu < L.nr_cpus; cpu++) {
      const r = lockstatBase(L, cpu) + cls * LOCKSTAT.nr_fields;
      for (let i = 0; i < LOCKSTAT.nr_fields; i++) sum[i]! += f64[r + i]!;
      if (f64[r + LOCKSTAT.wait_nr]! > 0) waitMin = Math.min(waitMin, f64[r + LOCKSTAT.wait_min]!);
      if (f64[r + LOCKSTAT.hold_nr]! > 0) holdMin = Math.min(holdMin, f64[r + LOCKSTAT.hold_min]!);
    }
    const times = (nr: number, min: number, max: number, total: number): LockTimes => ({
      min: nr > 0 ? ns(min) : 0,
      max: nr > 0 ? ns(max) : 0,
      total: ns(total),
      avg: nr > 0 ? ns(total / nr) : 0,
    });
    const merged = new Map<string, number>();
    for (const thread of sites) {
      for (const [site, n] of thread[cls] ?? []) merged.set(site, (merged.get(site) ?? 0) + n);
    }
    return {
      name,
      acquisitions: sum[LOCKSTAT.acquisitions]!,
      contentions: sum[LOCKSTAT.contentions]!,
      conBounces: sum[LOCKSTAT.con_bounces]!,
      acqBounces: sum[LOCKSTAT.acq_bounces]!,
      waitTimeUs: times(
        sum[LOCKSTAT.wait_nr]!,
        waitMin,
        maxOver(v, cls, LOCKSTAT.wait_max),
        sum[LOCKSTAT.wait_total]!,
      ),
      holdTimeUs: times(
        sum[LOCKSTAT.hold_nr]!,
        holdMin,
        maxOver(v, cls, LOCKSTAT.hold_max),
        sum[LOCKSTAT.hold_total]!,
      ),
      topCallSites: [...merged.entries()]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, TOP_SITES)
        .map(([site, contentions]) => ({ site, contentions })),
    };
  });
}

/** Microseconds to the nanosecond (the clock's resolution is coarser anyway). */
const ns = (us: number) => Math.round(us * 1000) / 1000;

function maxOver(v: Views, cls: number, field: number): number {
  let m = 0;
  for (let cpu = 0; cpu < v.L.nr_cpus; cpu++) {
    m = Math.max(m, v.f64[lockstatBase(v.L, cpu) + cls * LOCKSTAT.nr_fields + field]!);
  }
  return m;
}
