// A bench worker: attach to the booted buffer as one CPU, run one job, post
// the result. Thin on purpose: the jobs are in benchmarks/jobs.ts.
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../../src/config.ts';
import { kernel_attach } from '../../src/kernel/context.ts';
import { attach, computeLayout } from '../../src/shm/layout.ts';
import { type Job, runJob } from '../jobs.ts';

export type BenchWorkerData = { sab: SharedArrayBuffer; cfg: Config; cpu: number; job: Job };

const { sab, cfg, cpu, job } = workerData as BenchWorkerData;
kernel_attach(attach(sab, computeLayout(cfg)), cfg, cpu);
parentPort!.postMessage(runJob(job));
