/**
 * Each machine thread's own memory, as the soak's leak check sees it.
 *
 * RSS is the process's (every thread's heap, the allocator's arenas, code);
 * a heap is one thread's. A thread that spins in its workload cannot answer a
 * message, so each writes its figures itself, at its batch boundaries, into
 * the memory words after its counters (layout.ts STATS_MEM, MEMSTAT), at most
 * every MEMSTAT_EVERY_MS; the main thread reads them with the stats line.
 *
 *   heapUsed, heapTotal, external, arrayBuffers   process.memoryUsage() in the thread
 *   malloced                                      v8.getHeapStatistics().malloced_memory
 *                                                 (what the thread's V8 took from malloc)
 *   newSpace, codeSpace                           committed size of V8's young generation
 *                                                 and code space (in heapTotal)
 *   atMs                                          when (epoch ms; 0: never written)
 *
 * The words of a thread are keyed by its home CPU (the host: nr_cpus), not by
 * the CPU it runs as (--migrate moves that): a thread's heap is its own.
 */
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { type Layout, MEMSTAT, STATS_MEM, statsBase } from '../shm/layout.ts';

/**
 * Every machine thread's young generation (V8's two semi-spaces), fixed for
 * the whole soak at this many MB per semi-space. Left to itself V8 starts a
 * worker's semi-space small and doubles it each time the bytes that survived
 * scavenges since the last doubling pass its size (up to 16 MB, a new space of
 * 32 MB), and halves it again when the thread allocates little (a
 * stop_machine audit): the CPU workers' heaps, hence the process's RSS, rose
 * in steps of about 8 and 16 MB per worker at later and later times, and fell
 * when the memory reducer ran, and a leak check read that as a leak. A CPU
 * worker allocates about 18 MB/s of short-lived garbage; with 4 MB (the size
 * V8 gives it at start) it scavenges about five times a second, 0.3 to 6 ms
 * each on a loaded 2-core host (--trace-gc).
 */
export const SOAK_SEMI_SPACE_MB = 4;

/**
 * Fix the young generation of the isolates created from now on (the machine
 * threads) at `semiMB` per semi-space; returns the undo (V8's own sizing).
 * V8's flags are the process's: they size the heaps of isolates created after
 * they are set, not the main thread's, made at start. 0: leave V8 to it.
 */
export function fix_young_generation(semiMB: number): () => void {
  if (semiMB <= 0) return () => undefined;
  setFlagsFromString(`--min-semi-space-size=${semiMB} --max-semi-space-size=${semiMB}`);
  return () => setFlagsFromString('--min-semi-space-size=0 --max-semi-space-size=0');
}

/** A thread writes its memory at most this often (a batch boundary after this long). */
export const MEMSTAT_EVERY_MS = 1_000;

export type ThreadMemory = {
  /** cpu0, cpu1, ..., host */
  thread: string;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  malloced: number;
  newSpace: number;
  codeSpace: number;
  /** Age of the figures when read (ms); null: the thread has not written any yet. */
  ageMs: number | null;
};

/** The thread's side: write its own figures into its words (`rec` is its home CPU, or nr_cpus for the host). */
export function memstat_write(f64: Float64Array, L: Layout, rec: number): void {
  const m = process.memoryUsage();
  const base = statsBase(L, rec) + STATS_MEM;
  f64[base + MEMSTAT.heapUsed] = m.heapUsed;
  f64[base + MEMSTAT.heapTotal] = m.heapTotal;
  f64[base + MEMSTAT.external] = m.external;
  f64[base + MEMSTAT.arrayBuffers] = m.arrayBuffers;
  f64[base + MEMSTAT.malloced] = getHeapStatistics().malloced_memory;
  for (const sp of getHeapSpaceStatistics()) {
    if (sp.space_name === 'new_space') f64[base + MEMSTAT.newSpace] = sp.space_size;
    else if (sp.space_name === 'code_space') f64[base + MEMSTAT.codeSpace] = sp.space_size;
  }
  f64[base + MEMSTAT.atMs] = performance.timeOrigin + performance.now();
}

/**
 * A thread's writer, to call at every batch boundary with performance.now():
 * it writes at most every MEMSTAT_EVERY_MS (and at once on the first call).
 */
export function memstat_every(
  f64: Float64Array,
  L: Layout,
  rec: number,
  everyMs = MEMSTAT_EVERY_MS,
): (now: number) => void {
  let last = Number.NEGATIVE_INFINITY;
  return (now) => {
    if (now - last < everyMs) return;
    last = now;
    memstat_write(f64, L, rec);
  };
}

export function threadName(L: Pick<Layout, 'nr_cpus'>, rec: number): string {
  return rec < L.nr_cpus ? `cpu${rec}` : 'host';
}

/**
 * The main thread's side: every thread's figures as last written. The words
 * are written without a lock; a read racing a write may mix two samples one
 * second apart, which a trend over minutes does not notice.
 */
export function readThreadMemory(
  v: { f64: Float64Array; L: Layout },
  nowMs = Date.now(),
): ThreadMemory[] {
  const out: ThreadMemory[] = [];
  for (let rec = 0; rec <= v.L.nr_cpus; rec++) {
    const base = statsBase(v.L, rec) + STATS_MEM;
    const at = v.f64[base + MEMSTAT.atMs]!;
    out.push({
      thread: threadName(v.L, rec),
      heapUsed: v.f64[base + MEMSTAT.heapUsed]!,
      heapTotal: v.f64[base + MEMSTAT.heapTotal]!,
      external: v.f64[base + MEMSTAT.external]!,
      arrayBuffers: v.f64[base + MEMSTAT.arrayBuffers]!,
      malloced: v.f64[base + MEMSTAT.malloced]!,
      newSpace: v.f64[base + MEMSTAT.newSpace]!,
      codeSpace: v.f64[base + MEMSTAT.codeSpace]!,
      ageMs: at > 0 ? Math.max(0, Math.round(nowMs - at)) : null,
    });
  }
  return out;
}

/** The figures of each thread that the leak check judges (leak.ts judgeMemory). */
export const THREAD_FIGURES = ['heapUsed', 'heapTotal', 'external', 'malloced'] as const;

/**
 * A stats line's memory as named series: `rss`, then `<thread>.<figure>` for
 * the main thread and every machine thread that has written its figures.
 */
export function memorySeries(m: {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  malloced?: number;
  threads?: ThreadMemory[];
}): Record<string, number> {
  const out: Record<string, number> = { rss: m.rss };
  const main = { ...m, malloced: m.malloced ?? Number.NaN };
  for (const f of THREAD_FIGURES) if (!Number.isNaN(main[f])) out[`main.${f}`] = main[f];
  for (const th of m.threads ?? []) {
    if (th.ageMs === null) continue;
    for (const f of THREAD_FIGURES) out[`${th.thread}.${f}`] = th[f];
  }
  return out;
}
