/**
 * lock_stat for the emulated kernel (Linux's CONFIG_LOCK_STAT, read as
 * /proc/lock_stat) and perf lock contention's view of it: per lock class,
 * acquisitions, contentions, bounces (always), and with --lockstat the wait
 * times and the call sites.
 *
 * The hooks have the kernel's names and places (kernel/locking/lockdep.c):
 *
 *   if (!trylock(lock)) {            lock_contended  counts a contention
 *     lock_wait_begin                  (--lockstat: contention point, clock;
 *                                       full: a mark on the holder)
 *     wait for the lock
 *     lock_wait_end                    (--lockstat: waittime, the point's wait)
 *   }
 *   lock_acquired                    counts an acquisition
 *   lock_hold_begin                    (full: push on the held stack,
 *   ...                                  with the acquiring site)
 *   lock_hold_end                      (full: holdtime; a marked holder
 *   unlock                              credits its acquiring site: a
 *                                       contended point)
 *
 * Three costs (--lockstat's modes):
 * - off: the counting hooks only, a few plain stores to this CPU's own lines;
 * - `contention` (perf lock contention): the same uncontended path, no clock;
 *   a contended acquisition notes its call site and reads the clock before
 *   and after its wait. lock_stat's wait columns are exact; no hold times;
 * - `full` (lock_stat): a timed copy of every step (spin_lock_timed,
 *   lock_page_timed): hold times, and the holder-side contended points.
 *
 * Contention points are where a waiter was when it contended; contended
 * points are where the holder took the lock: the kernel records the
 * holder's acquire ip in every lock_acquired (lock->ip). A call site here is
 * a LockSite the caller passes (lock_sites, below: the kernel's _RET_IP_);
 * the holder's sites are this thread's, so the waiter leaves a mark on the
 * holder's CPU and the holder, when it releases the lock, credits the site
 * it acquired the lock at (kept on its held stack in full mode).
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
import { readFileSync } from 'node:fs';
import { findSourceMap, SourceMap } from 'node:module';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { K } from '../kernel/context.ts';
import { LOCK_CLASSES, LOCKSTAT, LOCKSTAT_MARKS, lockstatBase, type Views } from '../shm/layout.ts';
import { type LockSite, siteNames } from './lock_sites.ts';

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

/**
 * --lockstat (either mode), the kernel's lock_contended with lock_stat on: the
 * contention point (this call site) and, in full mode, the contended point:
 * a mark on the holder, who credits the site it took the lock at when it
 * releases.
 * Returns the clock (ms) at the start of the wait.
 */
export function lock_wait_begin(cpuWord: number, cls: number, site: LockSite): number {
  const s = contention_point(cls, site);
  s.contentions++;
  waiting[nr_waiting++] = s;
  if (K.lockTimed) mark_holder(cpuWord, cls);
  return performance.now();
}

/**
 * --lockstat: the wait that began at `t0` is over (the kernel's lock_acquired
 * after a contention): the class's waittime and the call site's. Returns the
 * clock: the hold starts now.
 */
export function lock_wait_end(cls: number, t0: number): number {
  const t = performance.now();
  const us = (t - t0) * 1000;
  time_inc(K.lockstat + cls * LOCKSTAT.nr_fields + LOCKSTAT.wait_nr, us);
  if (nr_waiting > 0) {
    const s = waiting[--nr_waiting]!;
    s.totalUs += us;
    if (us > s.maxUs) s.maxUs = us;
  }
  return t;
}

/**
 * --lockstat=full: the locks this thread holds, innermost last, and since
 * when (lockdep's held_locks, kept by the task: a thread's own JS arrays,
 * not the shared buffer, so a push is two stores to memory no other thread
 * sees). Past HELD_DEPTH nested locks the innermost go untimed.
 */
/** Locks one thread may hold at once with a hold time running (lockdep's MAX_LOCK_DEPTH is 48). */
export const HELD_DEPTH = 16;
const heldId = new Float64Array(HELD_DEPTH);
const heldSince = new Float64Array(HELD_DEPTH);
const heldSite = new Int32Array(HELD_DEPTH);
let heldDepth = 0;

/**
 * --lockstat=full: the lock `id` (its last-CPU word: unique per lock) is
 * held from `t` on, taken at `site` (its contended point, should a waiter
 * mark this CPU meanwhile; the site is named here, where the stack is the
 * acquirer's, the first time this thread takes a lock there).
 */
export function lock_hold_begin(id: number, t: number, site: LockSite): void {
  const depth = heldDepth;
  if (depth >= HELD_DEPTH) return;
  if (siteLabel[site] === undefined) name_site(site);
  heldId[depth] = id;
  heldSince[depth] = t;
  heldSite[depth] = site;
  heldDepth = depth + 1;
}

/**
 * --lockstat=full: the lock `id` of class `cls` is being released at `t`
 * (performance.now(), read by the caller: spin_unlock_irq(restore) hands the
 * same reading to local_irq_enable): its hold time; and if waiters marked
 * this CPU meanwhile (the mark is taken), the site it was acquired at is
 * their contended point.
 */
export function lock_hold_end(id: number, cls: number, t: number): void {
  const mark = 2 * (K.L.lockstat + K.cpu * K.L.lockstat_stride + LOCKSTAT_MARKS) + cls;
  const marked = K.i32[mark] !== 0 ? Atomics.exchange(K.i32, mark, 0) : 0;
  // Usually the top; locks may be released out of order.
  const depth = heldDepth;
  for (let i = depth - 1; i >= 0; i--) {
    if (heldId[i] !== id) continue;
    const us = (t - heldSince[i]!) * 1000;
    const site = heldSite[i]!;
    for (let j = i + 1; j < depth; j++) {
      heldId[j - 1] = heldId[j]!;
      heldSince[j - 1] = heldSince[j]!;
      heldSite[j - 1] = heldSite[j]!;
    }
    heldDepth = depth - 1;
    time_inc(K.lockstat + cls * LOCKSTAT.nr_fields + LOCKSTAT.hold_nr, us);
    if (marked !== 0) contended_point(cls, siteLabel[site]!, marked);
    return;
  }
  // not on the held stack (nested past HELD_DEPTH): the site is unknown
  if (marked !== 0) contended_point(cls, '<unknown>', marked);
}

/** Locks this thread holds with a hold time running (unit tests). */
export const lockstat_held_depth = (): number => heldDepth;

/** lock_time_inc: nr, min, max, total at f64[at..at+3]. */
function time_inc(at: number, us: number): void {
  const f64 = K.f64;
  const nr = f64[at]!;
  if (nr === 0 || us < f64[at + 1]!) f64[at + 1] = us;
  if (us > f64[at + 2]!) f64[at + 2] = us;
  f64[at + 3]! += us;
  f64[at] = nr + 1;
}

/**
 * --lockstat=full: tell the lock's holder (its last taker, lockdep's
 * lock->cpu) that we contended: a count in the holder's marks line, which it
 * credits to the site it took the lock at when it releases. The read of the last-CPU word
 * races with a release and the next acquisition, as lockdep's read of
 * lock->ip does: such a contention is then put on the next holder's site.
 */
function mark_holder(cpuWord: number, cls: number): void {
  const holder = K.i32[cpuWord]! - 1;
  if (holder < 0 || holder >= K.L.nr_cpus) return;
  Atomics.add(K.i32, 2 * (lockstatBase(K.L, holder) + LOCKSTAT_MARKS) + cls, 1);
}

// ---- call sites (--lockstat only) ---------------------------------------------

/** A contention point: a call site that waited, its waits (perf lock contention's columns). */
type SiteStat = { site: string; contentions: number; totalUs: number; maxUs: number };

/** Frames of the lock primitives and of this file, skipped to find the caller. */
const LOCK_FRAME =
  /^(?:_*spin_(?:un)?lock\w*|spin_trylock\w*|_*(?:un|try)?lock_page\w*|arch_spin_\w+|lock_wait_begin|lock_hold_begin|contention_point|name_site|call_site)\d*$/;
const SITE_FRAMES = 8;
/** This thread's labels of the sites it has named, by LockSite. */
const siteLabel: string[] = [];
/** Per class: site label -> its waits, on this thread (per thread, not per CPU). */
const sites: Map<string, SiteStat>[] = LOCK_CLASSES.map(() => new Map());
/** The same records by LockSite and class (site * LOCK_CLASSES.length + cls). */
const siteStats: SiteStat[] = [];
/** Per class: holder's site label -> contentions others had on it (full mode). */
const holderSites: Map<string, number>[] = LOCK_CLASSES.map(() => new Map());
/** The waits in progress on this thread (an interrupt taken while spinning may wait on another lock). */
const waiting: SiteStat[] = [];
let nr_waiting = 0;

/** The label of `site` on this thread: a stack trace the first time (the caller is the lock's caller). */
function name_site(site: LockSite): string {
  let label = siteLabel[site];
  if (label === undefined) {
    label = call_site();
    if (label === '<unknown>') label = siteNames[site] ?? label;
    siteLabel[site] = label;
  }
  return label;
}

function contention_point(cls: number, site: LockSite): SiteStat {
  const k = site * LOCK_CLASSES.length + cls;
  let s = siteStats[k];
  if (s === undefined) {
    const label = name_site(site);
    const m = sites[cls]!;
    s = m.get(label);
    if (!s) {
      s = { site: label, contentions: 0, totalUs: 0, maxUs: 0 };
      m.set(label, s);
    }
    siteStats[k] = s;
  }
  return s;
}

/** --lockstat=full: `n` waiters contended on a lock of class `cls` this thread took at `label`. */
function contended_point(cls: number, label: string, n: number): void {
  const m = holderSites[cls]!;
  m.set(label, (m.get(label) ?? 0) + n);
}

/** What V8 hands Error.prepareStackTrace: the frames, unformatted. */
type StackFrame = {
  getFunctionName(): string | null;
  getFileName(): string | undefined | null;
  getLineNumber(): number | null;
  getColumnNumber(): number | null;
};
const rawFrames = (_e: Error, frames: StackFrame[]) => frames;

/**
 * The first caller outside the lock code: what lock_stat prints as a
 * contention point (a symbol+offset there). The frames are taken unformatted
 * (no stack string to build and parse). The position is the TypeScript
 * source's, `fn (file.ts:line)`, when this thread has the module's source
 * map at hand (tsx); from the build it stays the bundle's, `fn
 * (/path/chunk.mjs:line:col)`, and the main thread maps it when it reports
 * (site_label): reading a bundle's source map costs tens of milliseconds, a
 * pause no CPU should take in the middle of a run. A stack trace costs
 * microseconds: name_site takes one once per LockSite and thread.
 */
export function call_site(): string {
  const limit = Error.stackTraceLimit;
  const prepare = Error.prepareStackTrace;
  Error.stackTraceLimit = SITE_FRAMES;
  Error.prepareStackTrace = rawFrames as typeof Error.prepareStackTrace;
  const holder: { stack?: unknown } = {};
  Error.captureStackTrace(holder, call_site);
  const frames = holder.stack as StackFrame[] | undefined;
  Error.prepareStackTrace = prepare;
  Error.stackTraceLimit = limit;
  for (const f of frames ?? []) {
    const fn = f.getFunctionName() ?? '<anonymous>';
    if (LOCK_FRAME.test(fn)) continue;
    const raw = `${fn} (${f.getFileName() ?? '<unknown>'}:${f.getLineNumber() ?? 0}:${f.getColumnNumber() ?? 0})`;
    let site = workerSites.get(raw);
    if (site === undefined) {
      site = site_label(raw, false);
      workerSites.set(raw, site);
    }
    return site;
  }
  return '<unknown>';
}
const workerSites = new Map<string, string>();

const labels = new Map<string, string>();
const sourceMaps = new Map<string, SourceMap | null>();
const RAW_SITE = /^(.*) \((.+):(\d+):(\d+)\)$/;

/**
 * `fn (file.ts:line)` of a call site: a raw `fn (path:line:col)` through its
 * module's source map, Node's own (tsx), or with `readMaps` (the main thread,
 * when it reports) the bundle's `.map` file; else `fn (file:line)`. A site
 * already labelled comes back as it is.
 */
export function site_label(raw: string, readMaps = true): string {
  let out = labels.get(raw);
  if (out !== undefined) return out;
  const m = RAW_SITE.exec(raw);
  if (!m) return raw;
  const [, fn, file, line, column] = m as unknown as [string, string, string, string, string];
  const map = source_map(file, readMaps);
  if (!map && !readMaps) return raw; // the main thread maps it
  const e = map?.findEntry(Number(line) - 1, Number(column) - 1) as
    | { originalSource?: string; originalLine?: number }
    | undefined;
  out =
    e?.originalSource && e.originalLine !== undefined
      ? `${fn} (${basename(e.originalSource)}:${e.originalLine + 1})`
      : `${fn} (${basename(file)}:${line})`;
  labels.set(raw, out);
  return out;
}

/** The source map of a module: the one Node keeps (tsx, --enable-source-maps), else (readMaps) the bundle's `.map` file. */
function source_map(file: string, readMaps: boolean): SourceMap | null {
  let map = sourceMaps.get(file);
  if (map !== undefined && (map !== null || !readMaps)) return map;
  map = null;
  try {
    const path = file.startsWith('file:') ? fileURLToPath(file) : file;
    map = findSourceMap(path) ?? findSourceMap(file) ?? null;
    if (!map && readMaps && /\.m?js$/.test(path)) {
      map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')));
    }
  } catch {
    // no source map: the generated position
  }
  if (map || readMaps) sourceMaps.set(file, map);
  return map;
}
const basename = (f: string) => f.replace(/\?.*$/, '').replace(/^.*\//, '');

/** Call sites of one thread, per class: [site, contentions, total wait us, max wait us], [site, contended]. */
export type ThreadLockSites = {
  contention: [string, number, number, number][][];
  contended: [string, number][][];
};

/** This thread's call sites per class (final collection; unit tests). */
export function lockstat_sites(): ThreadLockSites {
  return {
    contention: sites.map((m) =>
      [...m.values()].map((s): [string, number, number, number] => [
        s.site,
        s.contentions,
        s.totalUs,
        s.maxUs,
      ]),
    ),
    contended: holderSites.map((m) => [...m.entries()]),
  };
}
/** Forget this thread's call sites and held locks (unit tests). */
export function lockstat_reset_sites(): void {
  for (const m of sites) m.clear();
  siteStats.length = 0;
  siteLabel.length = 0;
  for (const m of holderSites) m.clear();
  nr_waiting = 0;
  heldDepth = 0;
}

// ---- main side ------------------------------------------------------------------

export type LockTimes = { min: number; max: number; total: number; avg: number };
export type CallSite = { site: string; contentions: number };
/** A contention point with its waits: perf lock contention's line, for one class. */
export type ContentionPoint = CallSite & {
  waitTimeUs: { total: number; max: number; avg: number };
};
export type LockReport = {
  name: string;
  acquisitions: number;
  contentions: number;
  conBounces: number;
  acqBounces: number;
  /** Contended acquisitions only, as lock_stat: avg = total / contentions timed. */
  waitTimeUs: LockTimes;
  /** Every acquisition (--lockstat=full): avg = total / acquisitions timed. */
  holdTimeUs: LockTimes;
  /** Up to TOP_SITES callers that contended most (--lockstat), most first. */
  topCallSites: CallSite[];
  /** Every call site that contended (--lockstat), most total wait first. */
  contentionPoints: ContentionPoint[];
  /**
   * lock_stat's contended points (--lockstat=full): the holders' call sites,
   * with the contentions others had while they held the lock, most first (up
   * to TOP_SITES). A holder, when it releases the lock, credits the site it
   * took the lock at (the kernel's lock->ip).
   */
  contendedPoints: CallSite[];
};

/** lock_stat keeps 4 contention points per class (LOCKSTAT_POINTS). */
export const TOP_SITES = 4;

/**
 * Sum every CPU's records into one line per class (all classes, taken or
 * not). `sites`: per thread, its call sites from the final collection
 * (absent after a stall or a crash).
 */
export function readLocks(v: Views, sites: ThreadLockSites[] = []): LockReport[] {
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
    const waiters = new Map<string, { n: number; total: number; max: number }>();
    const holders = new Map<string, number>();
    for (const thread of sites) {
      for (const [raw, n, total, max] of thread.contention[cls] ?? []) {
        const site = site_label(raw);
        const w = waiters.get(site) ?? { n: 0, total: 0, max: 0 };
        w.n += n;
        w.total += total;
        w.max = Math.max(w.max, max);
        waiters.set(site, w);
      }
      for (const [raw, n] of thread.contended[cls] ?? []) {
        const site = site_label(raw);
        holders.set(site, (holders.get(site) ?? 0) + n);
      }
    }
    const byCount = (a: CallSite, b: CallSite) =>
      b.contentions - a.contentions || (a.site < b.site ? -1 : 1);
    const points: ContentionPoint[] = [...waiters.entries()].map(([site, w]) => ({
      site,
      contentions: w.n,
      waitTimeUs: { total: ns(w.total), max: ns(w.max), avg: w.n > 0 ? ns(w.total / w.n) : 0 },
    }));
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
      topCallSites: points
        .map(({ site, contentions }) => ({ site, contentions }))
        .sort(byCount)
        .slice(0, TOP_SITES),
      contentionPoints: points.sort(
        (a, b) => b.waitTimeUs.total - a.waitTimeUs.total || byCount(a, b),
      ),
      contendedPoints: [...holders.entries()]
        .map(([site, contentions]) => ({ site, contentions }))
        .sort(byCount)
        .slice(0, TOP_SITES),
    };
  });
}

/** One line of `perf lock contention`: a call site and the class it waited on. */
export type LockContention = {
  contended: number;
  totalWaitUs: number;
  maxWaitUs: number;
  avgWaitUs: number;
  lockClass: string;
  caller: string;
};

/** perf lock contention's view: every contention point of every class, most total wait first. */
export function lockContention(locks: LockReport[]): LockContention[] {
  return locks
    .flatMap((l) =>
      l.contentionPoints.map((p) => ({
        contended: p.contentions,
        totalWaitUs: p.waitTimeUs.total,
        maxWaitUs: p.waitTimeUs.max,
        avgWaitUs: p.waitTimeUs.avg,
        lockClass: l.name,
        caller: p.site,
      })),
    )
    .sort(
      (a, b) =>
        b.totalWaitUs - a.totalWaitUs ||
        b.contended - a.contended ||
        (a.caller < b.caller ? -1 : a.caller > b.caller ? 1 : 0),
    );
}

/**
 * The locks as the JSON gives them: what --lockstat did not measure is null,
 * not 0. Without it the wait and hold times and every call site; with
 * --lockstat=contention the hold times and the holders' (contended) points.
 * (`lockstat` true: a config from before the modes, full.)
 */
export function locksJson(locks: LockReport[], lockstat: unknown) {
  if (lockstat === 'full' || lockstat === true) return locks;
  if (lockstat === 'contention') {
    return locks.map((l) => ({ ...l, holdTimeUs: null, contendedPoints: null }));
  }
  return locks.map((l) => ({
    ...l,
    waitTimeUs: null,
    holdTimeUs: null,
    topCallSites: null,
    contentionPoints: null,
    contendedPoints: null,
  }));
}

/** perf lock contention's view for the JSON (`lockContention`); null without --lockstat. */
export function lockContentionJson(locks: LockReport[], lockstat: unknown) {
  return lockstat ? lockContention(locks) : null;
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
