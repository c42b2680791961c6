/**
 * Main-thread side of the micro-benchmarks: boot a guest buffer, start one
 * bench worker per CPU on it, release the start barrier, collect the results,
 * and terminate every worker whatever happens.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Config } from '../../src/config.ts';
import { kernel_boot } from '../../src/kernel/boot.ts';
import { allocate, attach, CTRL, computeLayout, type Views } from '../../src/shm/layout.ts';
import type { Job, JobResult } from '../jobs.ts';
import type { BenchWorkerData } from '../workers/bench.ts';

const BENCH_WORKER = fileURLToPath(new URL('../workers/bench.mjs', import.meta.url));

/** The booted image of a configuration (kernel_boot is deterministic: one per config). */
const images = new Map<string, Uint8Array>();

export function bootImage(cfg: Config): Uint8Array {
  const key = JSON.stringify(cfg);
  let img = images.get(key);
  if (!img) {
    const v = allocate(computeLayout(cfg));
    kernel_boot(v, cfg);
    img = new Uint8Array(v.sab.slice(0));
    images.set(key, img);
  }
  return img;
}

/** A fresh buffer holding the booted image. */
export function bootedViews(cfg: Config): Views {
  const img = bootImage(cfg);
  const sab = new SharedArrayBuffer(img.byteLength);
  new Uint8Array(sab).set(img);
  return attach(sab, computeLayout(cfg));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Extra node flags for bench workers (the machine's HVAEMU_WORKER_FLAGS, e.g. --cpu-prof). */
function workerFlags(): string[] {
  return process.env.HVAEMU_WORKER_FLAGS?.split(' ').filter(Boolean) ?? [];
}

/**
 * Run `jobs[cpu]` on CPU `cpu` of a machine booted from `cfg`, one worker
 * each, and return the results in CPU order. With `barrier`, the jobs wait at
 * the start barrier until every worker has attached.
 */
export async function runWorkers(
  cfg: Config,
  jobs: Job[],
  opts: { barrier: boolean; timeoutMs: number; views?: Views },
): Promise<{ results: JobResult[]; views: Views }> {
  const v = opts.views ?? bootedViews(cfg);
  const workers: Worker[] = [];
  const done: Promise<JobResult>[] = [];
  const ctl = new SharedArrayBuffer(64);
  for (let cpu = 0; cpu < jobs.length; cpu++) {
    const data: BenchWorkerData = { sab: v.sab, ctl, cfg, cpu, job: jobs[cpu]! };
    const w = new Worker(BENCH_WORKER, { workerData: data, execArgv: workerFlags() });
    workers.push(w);
    done.push(
      new Promise<JobResult>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`bench worker ${cpu} exited with ${code}`)));
      }),
    );
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`bench workers: no result within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
  });
  let finished = false;
  try {
    const all = Promise.all(done);
    if (opts.barrier) {
      const { i32, L } = v;
      const release = (async () => {
        while (!finished && Atomics.load(i32, L.ctrl + CTRL.nr_ready) < jobs.length) await sleep(1);
        Atomics.store(i32, L.ctrl + CTRL.go, 1);
        Atomics.notify(i32, L.ctrl + CTRL.go);
      })();
      await Promise.race([release, all, timeout]);
    }
    const results = await Promise.race([all, timeout]);
    return { results, views: v };
  } finally {
    finished = true;
    clearTimeout(timer);
    // Stop anything still spinning (a timeout), and let no worker outlive the bench.
    Atomics.store(v.i32, v.L.ctrl + CTRL.stop, 1);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
