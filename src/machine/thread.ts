/**
 * Worker side of a machine thread (a CPU or the host). The piscina task runs
 * for the whole machine; comlink on its MessagePort is the control plane:
 * setup (attach to the buffer), start, final collection, release.
 */
import type { MessagePort } from 'node:worker_threads';
import { threadId } from 'node:worker_threads';
import * as Comlink from 'comlink';
import type { Config } from '../config.ts';
import { host_loop } from '../host/hypervisor.ts';
import { kernel_attach } from '../kernel/context.ts';
import { attach, computeLayout } from '../shm/layout.ts';
import { lockstat_sites } from '../stats/lockstat.ts';
import { workload_init } from '../workload/workload.ts';
import { cpu_loop } from './cpu.ts';

export type ThreadRole = 'cpu' | 'host';
export type ThreadTask = { port: MessagePort; role: ThreadRole };

export type ThreadInfo = { threadId: number; role: ThreadRole; cpu: number };
export type ThreadSummary = ThreadInfo & {
  cpuUserMs: number;
  wallMs: number;
  /** lock_stat contention call sites seen by this thread, per class (--lockstat). */
  lockSites: [string, number][][];
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
      kernel_attach(attach(sab, computeLayout(cfg)), cfg, cpu);
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
