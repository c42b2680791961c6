// A bench worker: attach to the booted buffer as one CPU, run one job, post
// the result. Thin on purpose: the jobs are in benchmarks/jobs.ts.
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../../src/config.ts';
import { kernel_attach } from '../../src/kernel/context.ts';
import { attach, computeLayout } from '../../src/shm/layout.ts';
import { type Job, runJob } from '../jobs.ts';

/** `ctl`: a few Int32 words the bench workers of one run share (not guest memory). */
export type BenchWorkerData = {
  sab: SharedArrayBuffer;
  ctl: SharedArrayBuffer;
  cfg: Config;
  cpu: number;
  job: Job;
};

const { sab, ctl, cfg, cpu, job } = workerData as BenchWorkerData;
kernel_attach(attach(sab, computeLayout(cfg)), cfg, cpu);
parentPort!.postMessage(runJob(job, new Int32Array(ctl)));
