/**
 * The native reference: generate the layout header, build one binary per CPU
 * count with the system's C compiler, write the booted images, run jobs.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../src/config.ts';
import { writeLayoutHeader } from '../native/gen-layout.ts';
import { benchConfig } from '../params.ts';
import { bootImage } from './threads.ts';

export const NATIVE_DIR = fileURLToPath(new URL('../native/', import.meta.url));
export const BUILD_DIR = join(NATIVE_DIR, 'build');

export type Native =
  | { ok: true; cc: string; ccVersion: string; flags: string[]; bins: Map<number, string> }
  | { ok: false; reason: string };

export const CFLAGS = ['-O2', '-std=gnu11', '-pthread', '-Wall'];

/** Build the reference for each CPU count; `ok: false` with the reason when there is no compiler. */
export function buildNative(cpuCounts: readonly number[]): Native {
  const cc = process.env.CC || 'cc';
  let ccVersion: string;
  try {
    ccVersion = execFileSync(cc, ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
  } catch {
    return { ok: false, reason: `no C compiler (\`${cc}\` not found on PATH)` };
  }
  mkdirSync(BUILD_DIR, { recursive: true });
  writeLayoutHeader(benchConfig(1), cpuCounts);
  const bins = new Map<number, string>();
  for (const n of cpuCounts) {
    const out = join(BUILD_DIR, `bench-c${n}`);
    const args = [...CFLAGS, '-I', BUILD_DIR, `-DBENCH_CPUS=${n}`, '-o', out];
    try {
      execFileSync(cc, [...args, join(NATIVE_DIR, 'bench.c'), '-lm'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      return { ok: false, reason: `${cc} failed: ${(err.stderr || err.message).trim()}` };
    }
    bins.set(n, out);
  }
  return { ok: true, cc, ccVersion, flags: CFLAGS, bins };
}

/** The booted image of `cfg` as a file the native side loads. */
export function writeImage(cfg: Config): string {
  const path = join(BUILD_DIR, `boot-c${cfg.cpus}.bin`);
  writeFileSync(path, bootImage(cfg));
  return path;
}

/** Run a native job; resolves its JSON line. */
export function runNative<T>(
  bin: string,
  args: (string | number)[],
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args.map(String),
      { timeout: timeoutMs, encoding: 'utf8', killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${bin} ${args.join(' ')}: ${stderr.trim() || err.message}`));
          return;
        }
        try {
          resolve(JSON.parse(stdout) as T);
        } catch {
          reject(new Error(`${bin} ${args[0]}: not JSON: ${stdout.slice(0, 200)}`));
        }
      },
    );
  });
}
