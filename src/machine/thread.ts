/**
 * Worker side of a machine thread (a CPU or the host). The piscina task runs
 * for the whole machine; comlink on its MessagePort is the control plane:
 * setup (attach to the buffer), start, final collection, release.
 */
import { fileURLToPath } from 'node:url';
import type { MessagePort } from 'node:worker_threads';
import { threadId } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { ensureBuild, isUnwritable } from '../build/bundle.mjs';
import type { Config } from '../config.ts';
import { host_loop } from '../host/hypervisor.ts';
import { kernel_attach } from '../kernel/context.ts';
import { sched_attach } from '../kernel/sched.ts';
import { attach, computeLayout } from '../shm/layout.ts';
import { lockstat_sites, type ThreadLockSites } from '../stats/lockstat.ts';
import { workload_init } from '../workload/workload.ts';
import { cpu_loop } from './cpu.ts';

/**
 * The bundle's own URL, defined by the build (src/build/bundle.mjs) in the
 * bundle; undeclared (typeof 'undefined') when the sources run (vitest, tsx).
 */
declare const HVAEMU_BUNDLE_URL: string | undefined;

export type ThreadEntries = { cpu: string; host: string };

/**
 * The entry files piscina loads for the CPU and host threads, decided here
 * only. Running built (bin/hvaemu.mjs), they are the cpu.mjs and host.mjs of
 * this very bundle, so the threads run the same code as the main thread.
 * Running the sources (vitest), they are those of the build of the sources
 * as they are now (built if they changed); with HVAEMU_NO_BUILD=1, or if the
 * build cache cannot be written, the workers/*.mjs shims that load the
 * sources through tsx.
 */
export async function machineWorkers(): Promise<ThreadEntries> {
  if (typeof HVAEMU_BUNDLE_URL === 'string') {
    return {
      cpu: fileURLToPath(new URL('./cpu.mjs', HVAEMU_BUNDLE_URL)),
      host: fileURLToPath(new URL('./host.mjs', HVAEMU_BUNDLE_URL)),
    };
  }
  if (!process.env.HVAEMU_NO_BUILD) {
    try {
      const { cpu, host } = await ensureBuild();
      return { cpu, host };
    } catch (e) {
      if (!isUnwritable(e)) throw e;
    }
  }
  return {
    cpu: fileURLToPath(new URL('../../workers/cpu.mjs', import.meta.url)),
    host: fileURLToPath(new URL('../../workers/host.mjs', import.meta.url)),
  };
}

export type ThreadRole = 'cpu' | 'host';
export type ThreadTask = { port: MessagePort; role: ThreadRole };

export type ThreadInfo = { threadId: number; role: ThreadRole; cpu: number };
export type ThreadSummary = ThreadInfo & {
  cpuUserMs: number;
  wallMs: number;
  /** lock_stat contention call sites seen by this thread, per class (--lockstat). */
  lockSites: ThreadLockSites;
};

export type ThreadApi = {
  setup(sab: SharedArrayBuffer, cfg: Config, cpu: number): ThreadInfo;
  start(): boolean;
  collect(): ThreadSummary;
  release(): boolean;
};

export default async function machineThread(task: ThreadTask): Promise<ThreadInfo> {
  let info: ThreadInfo | undefined;
  let loop: Promise<unknown> | undefined;
  let startedAt = 0;
  let wallMs = 0;
  let onStart!: () => void;
  let onRelease!: () => void;
  const started = new Promise<void>((r) => (onStart = r));
  const released = new Promise<void>((r) => (onRelease = r));
  const api: ThreadApi = {
    setup(sab, cfg, cpu) {
      const v = attach(sab, computeLayout(cfg));
      kernel_attach(v, cfg, cpu);
      sched_attach(v, cfg, cpu); // after kernel_attach: it turns the machine's wall-clock delays off
      if (task.role === 'cpu') workload_init(cfg.seed, cpu);
      info = { threadId, role: task.role, cpu };
      return info;
    },
    start() {
      if (!info) throw new Error('start before setup');
      startedAt = performance.now();
      loop = task.role === 'cpu' ? cpu_loop() : host_loop();
      loop.then(
        () => (wallMs = performance.now() - startedAt),
        () => undefined,
      );
      onStart();
      return true;
    },
    collect() {
      if (!info) throw new Error('collect before setup');
      return {
        ...info,
        cpuUserMs: process.cpuUsage().user / 1000,
        wallMs,
        lockSites: lockstat_sites(),
      };
    },
    release() {
      onRelease();
      return true;
    },
  };
  Comlink.expose(api, task.port as unknown as Comlink.Endpoint);
  await started;
  try {
    await loop;
  } catch (e) {
    task.port.close();
    throw tagError(e, info?.cpu ?? -1, task.role);
  }
  await released;
  // Let comlink post its answer to release() before the port closes.
  await new Promise((r) => setImmediate(r));
  task.port.close();
  return info!;
}

function tagError(e: unknown, cpu: number, role: ThreadRole): Error {
  const err = e instanceof Error ? e : new Error(String(e));
  err.message = `${role === 'cpu' ? `cpu ${cpu}` : 'host'}: ${err.message}`;
  return err;
}
