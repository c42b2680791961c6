/**
 * How long `hvaemu run` takes to start: the command spawned as a child
 * process (node bin/hvaemu.mjs run --cpus N --duration 1s --quiet --json F),
 * timed from just before the spawn to the release of the CPUs (the report's
 * cpusReleasedAt: each CPU's first operation follows it within microseconds)
 * and to the child's exit. The build cache is warmed first; the JSON says
 * whether it already was. HVAEMU_NO_BUILD=1 runs give the tsx figures beside.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuild } from '../../src/build/bundle.mjs';
import type { RunReport } from '../../src/machine/machine.ts';
import { median } from './stats.ts';

const BIN = fileURLToPath(new URL('../../bin/hvaemu.mjs', import.meta.url));
const CHILD_TIMEOUT_MS = 60_000;

export type StartupRun = { toCpusMs: number; wallMs: number };
export type StartupFigures = {
  runs: StartupRun[];
  toCpusMs: number;
  wallMs: number;
};

const epochNow = () => performance.timeOrigin + performance.now();

/** One `hvaemu run` in a child process. */
async function startupRun(
  cpus: number,
  durationS: number,
  env: NodeJS.ProcessEnv,
  dir: string,
): Promise<StartupRun> {
  const json = join(dir, 'report.json');
  const args = ['run', '--cpus', String(cpus), '--duration', `${durationS}s`, '--quiet'];
  const t0 = epochNow();
  const child = spawn(process.execPath, [BIN, ...args, '--json', json], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  const t1 = epochNow();
  clearTimeout(timer);
  if (code !== 0) throw new Error(`hvaemu ${args.join(' ')}: exit ${code}: ${stderr.trim()}`);
  const report = JSON.parse(readFileSync(json, 'utf8')) as RunReport;
  if (report.cpusReleasedAt === null) throw new Error('hvaemu run: the CPUs never started');
  return { toCpusMs: report.cpusReleasedAt - t0, wallMs: t1 - t0 };
}

async function figures(
  n: number,
  cpus: number,
  durationS: number,
  env: NodeJS.ProcessEnv,
  dir: string,
): Promise<StartupFigures> {
  const runs: StartupRun[] = [];
  for (let i = 0; i < n; i++) runs.push(await startupRun(cpus, durationS, env, dir));
  return {
    runs,
    toCpusMs: median(runs.map((r) => r.toCpusMs)),
    wallMs: median(runs.map((r) => r.wallMs)),
  };
}

/**
 * `runs` runs from the build (warmed first) and `runs` through tsx; the
 * build's key and whether its cache was warm before the bench.
 */
export async function benchStartupRuns(runs: number, cpus = 4, durationS = 1) {
  const build = await ensureBuild();
  const dir = mkdtempSync(join(tmpdir(), 'hvaemu-startup-'));
  try {
    const env = { ...process.env };
    delete env.HVAEMU_NO_BUILD;
    const built = await figures(runs, cpus, durationS, env, dir);
    const tsx = await figures(runs, cpus, durationS, { ...env, HVAEMU_NO_BUILD: '1' }, dir);
    return { cpus, durationS, key: build.key, cacheWasWarm: !build.built, built, tsx };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
