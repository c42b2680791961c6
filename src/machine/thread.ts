/**
 * Worker side of a machine thread (a CPU or the host). The piscina task runs
 * for the thread's whole life: one machine, or (a controlled run's
 * schedules, controlled.ts) one machine after the other on the same buffer;
 * comlink on its MessagePort is the control plane: setup (attach to the
 * buffer), start, final collection, again from setup or release.
 */
import { fileURLToPath } from 'node:url';
import type { MessagePort } from 'node:worker_threads';
import { threadId } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { ensureBuild, isUnwritable } from '../build/bundle.mjs';
import { discard_to_put_end } from '../check/coverage.ts';
import type { Config } from '../config.ts';
import { host_loop } from '../host/hypervisor.ts';
import { K, kernel_attach } from '../kernel/context.ts';
import { fault_reset } from '../kernel/fault.ts';
import { migrate_reset } from '../kernel/migrate.ts';
import { sched_attach } from '../kernel/sched.ts';
import { vmscan_reset } from '../kernel/vmscan.ts';
import { widen_reset } from '../kernel/widen.ts';
import { attach, CTRL, computeLayout, type Views } from '../shm/layout.ts';
import { lockstat_reset_sites, lockstat_sites, type ThreadLockSites } from '../stats/lockstat.ts';
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
  /**
   * Attach to the buffer as `cpu` (the host: nr_cpus) for one machine. A
   * reused thread (the schedules of a controlled run, controlled.ts) is set
   * up again for each: every piece of this thread's JS state starts as in a
   * fresh thread (reset_thread_state). `start`: and start (one message, not two).
   */
  setup(sab: SharedArrayBuffer, cfg: Config, cpu: number, start?: boolean): ThreadInfo;
  start(): boolean;
  /** After the machine stopped: waits for this thread's loop to return, then sums it up. */
  collect(): Promise<ThreadSummary>;
  /** The piscina task ends (no more machines on this thread). */
  release(): boolean;
};

/**
 * Everything a thread keeps outside the buffer, back to a fresh thread's
 * values: the kernel's per-thread caches and scratch state (lockdep's are
 * reset by kernel_attach), lock_stat's call sites and held locks, the
 * widening and migration PRNGs (seeded again from the next seed at their
 * first draw), the guided window stretch, reclaim's PF_MEMALLOC, the
 * coverage's discard-to-put mark. The workload's PRNG and tables are set by
 * workload_init. A machine on a reused thread must run exactly as on a new
 * one (test/concurrency/sched-reuse.test.ts compares them).
 */
function reset_thread_state(): void {
  lockstat_reset_sites();
  widen_reset();
  migrate_reset();
  fault_reset();
  vmscan_reset();
  discard_to_put_end();
  K.histT = 0;
  K.irqsOffAt = 0;
}

/**
 * A CPU's setup writes the buffer (workload_init maps its tasks' libc:
 * do_mmap takes locks, and lockdep and lock_stat note which CPU came
 * first): the CPUs' setups take turns in CPU order (CTRL.setup_turn), so
 * that even that is a function of the config, and a schedule starts from
 * the same buffer every time.
 */
function setup_in_turn(v: Views, cpu: number, fn: () => void): void {
  const turn = v.L.ctrl + CTRL.setup_turn;
  const by = performance.now() + SETUP_TURN_TIMEOUT_MS;
  for (let t: number; (t = Atomics.load(v.i32, turn)) !== cpu; ) {
    if (performance.now() > by) throw new Error(`setup: cpu ${t} did not finish its setup`);
    Atomics.wait(v.i32, turn, t, 100);
  }
  fn();
  Atomics.store(v.i32, turn, cpu + 1);
  Atomics.notify(v.i32, turn);
}
/** As the main thread's setup timeout (machine.ts). */
const SETUP_TURN_TIMEOUT_MS = 60_000;

export default async function machineThread(task: ThreadTask): Promise<ThreadInfo> {
  let info: ThreadInfo | undefined;
  let loop: Promise<unknown> | undefined;
  let startedAt = 0;
  let wallMs = 0;
  let released = false;
  // Woken by start() and release(): the task waits for the next machine's loop or its end.
  let wake!: () => void;
  let woken = new Promise<void>((r) => (wake = r));
  const api: ThreadApi = {
    setup(sab, cfg, cpu, start = false) {
      if (loop) throw new Error('setup while a machine runs on this thread');
      reset_thread_state();
      const v = attach(sab, computeLayout(cfg));
      kernel_attach(v, cfg, cpu);
      sched_attach(v, cfg, cpu); // after kernel_attach: it turns the machine's wall-clock delays off
      if (task.role === 'cpu') setup_in_turn(v, cpu, () => workload_init(cfg.seed, cpu));
      info = { threadId, role: task.role, cpu };
      wallMs = 0;
      if (start) api.start();
      return info;
    },
    start() {
      if (!info) throw new Error('start before setup');
      if (loop) throw new Error('start while a machine runs on this thread');
      startedAt = performance.now();
      loop = task.role === 'cpu' ? cpu_loop() : host_loop();
      loop.then(
        () => (wallMs = performance.now() - startedAt),
        () => undefined,
      );
      wake();
      return true;
    },
    async collect() {
      if (!info) throw new Error('collect before setup');
      // the loop's last lines (sched_exit) may still run when the CPU state says done
      await loop?.catch(() => undefined);
      return {
        ...info,
        cpuUserMs: process.cpuUsage().user / 1000,
        wallMs,
        lockSites: lockstat_sites(),
      };
    },
    release() {
      released = true;
      wake();
      return true;
    },
  };
  Comlink.expose(api, task.port as unknown as Comlink.Endpoint);
  for (;;) {
    await woken;
    woken = new Promise<void>((r) => (wake = r));
    if (loop) {
      try {
        await loop;
      } catch (e) {
        task.port.close();
        throw tagError(e, info?.cpu ?? -1, task.role);
      }
      loop = undefined;
    }
    if (released) break;
  }
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
