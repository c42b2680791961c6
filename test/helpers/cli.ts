/** The command line in a child process, for tests that run hvaemu as a user does. */
import { spawn } from 'node:child_process';

export type CliResult = { code: number | null; out: string; err: string };

/** `node <bin> ...args`; killed (and the promise rejected) if it outlives `ms`. */
export function runBin(
  bin: string,
  args: string[],
  ms = 60_000,
  env: NodeJS.ProcessEnv = process.env,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hvaemu ${args.join(' ')}: still running after ${ms} ms`));
    }, ms);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}
