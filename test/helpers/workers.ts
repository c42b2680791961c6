/**
 * Main-thread side of the kernel-level concurrency tests: a piscina pool of
 * test CPUs (test/workers/kernel.mjs), sized exactly, always destroyed, and
 * the process's thread count to check that nothing is left running.
 */
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { KernelResult, KernelTask } from '../workers/kernel.ts';

const KERNEL_WORKER = fileURLToPath(new URL('../workers/kernel.mjs', import.meta.url));

/** OS threads of this process (Linux). */
export function osThreads(): number {
  const m = /^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error('no Threads: line in /proc/self/status');
  return Number(m[1]);
}

/**
 * The thread count to compare against after a test: taken once libuv's
 * thread pool is up (it starts lazily, on the first asynchronous fs call,
 * which would otherwise look like threads left behind).
 */
export async function threadsBaseline(): Promise<number> {
  await stat(fileURLToPath(import.meta.url));
  return osThreads();
}

/**
 * Wait (bounded) until no more threads than `baseline` run: a terminated
 * worker's OS thread may take a moment to be joined. Returns the last count.
 */
export async function threadsSettled(baseline: number, ms = 5000): Promise<number> {
  const by = performance.now() + ms;
  let n = osThreads();
  while (n > baseline && performance.now() < by) {
    await new Promise((r) => setTimeout(r, 10));
    n = osThreads();
  }
  return n;
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Poll the shared state from the main thread until `cond` holds (every 1 ms, with a deadline). */
export async function waitUntil(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const by = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > by) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * Run one task per test CPU on a pool of exactly that many threads; `during`
 * runs on the main thread meanwhile (barriers, releases). The pool is
 * destroyed whatever happens.
 */
export async function runKernelCpus(
  tasks: KernelTask[],
  during: () => Promise<void> = async () => undefined,
  timeoutMs = 60_000,
): Promise<KernelResult[]> {
  const pool = new Piscina({
    filename: KERNEL_WORKER,
    minThreads: tasks.length,
    maxThreads: tasks.length,
    idleTimeout: Number.POSITIVE_INFINITY,
    atomics: 'disabled',
  });
  let poolError: Error | undefined;
  pool.on('error', (e: Error) => (poolError ??= e));
  try {
    const runs = tasks.map((t) => pool.run(t) as Promise<KernelResult>);
    // a failed CPU must fail the test now, not at the deadline
    const all = Promise.all(runs);
    await withTimeout(Promise.all([all, during()]), timeoutMs, 'test CPUs');
    if (poolError) throw poolError;
    return await all;
  } finally {
    await withTimeout(pool.destroy(), 10_000, 'pool destroy');
  }
}

/**
 * A scripted schedule on real workers: one task per CPU on a pool of
 * exactly that many threads (`filename`, a test worker), a start barrier in
 * the test's scratch words (each worker adds 1 at `readyIdx` when ready; all
 * are released together through `goIdx`), then their results. Every wait is
 * bounded; the pool is destroyed whatever happens.
 */
export async function runScriptedCpus<T, R>(
  filename: string,
  tasks: T[],
  scratch: Int32Array,
  readyIdx: number,
  goIdx: number,
): Promise<R[]> {
  const pool = new Piscina({
    filename,
    minThreads: tasks.length,
    maxThreads: tasks.length,
    idleTimeout: Number.POSITIVE_INFINITY,
    atomics: 'disabled',
  });
  try {
    const runs = tasks.map((t) => pool.run(t) as Promise<R>);
    await waitUntil(() => Atomics.load(scratch, readyIdx) >= tasks.length, 'workers ready');
    Atomics.store(scratch, goIdx, 1);
    Atomics.notify(scratch, goIdx);
    return await withTimeout(Promise.all(runs), 60_000, 'schedule');
  } finally {
    await withTimeout(pool.destroy(), 10_000, 'pool destroy');
  }
}
