/**
 * A signal to the launcher stops the run: `npx hvaemu soak` whose npx is
 * killed with SIGKILL (nothing can forward it), and `npm start` whose npm
 * gets SIGTERM (forwarded, or before the command's own handlers exist: node's
 * default, exit), leave no hvaemu process behind within 10 s, and the soak's
 * summary.json says how it ended. Only the launcher's pid is signalled.
 * (src/build/launcher.mjs; the scripts exec node.)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TIMEOUT_MS = 90_000;

/** pids of the processes whose command line holds `marker` (not the launcher's title). */
function hvaemuPids(marker: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes(marker) && /hvaemu(\.mjs)? /.test(l) && !/^\s*\d+\s+npm /.test(l))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let child: ChildProcess | undefined;
let marker = '';
let dir = '';
afterEach(() => {
  // Whatever happened, leave nothing running.
  for (const pid of hvaemuPids(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  if (child?.pid && child.exitCode === null) child.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a signal to the launcher', () => {
  it(
    'npx hvaemu soak, npx killed with SIGKILL: no hvaemu left 10 s later, summary.json written',
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'hvaemu-launcher-'));
      const out = join(dir, 'soak');
      marker = out;
      child = spawn(
        'npx',
        [
          'hvaemu',
          'soak',
          '--cpus',
          '2',
          '--duration',
          '60s',
          '--stat-interval',
          '1s',
          '--out',
          out,
        ],
        { cwd: ROOT, stdio: 'ignore' },
      );
      await until('the soak to start', () => existsSync(join(out, 'summary.json')), 60_000);
      await until('its process', () => hvaemuPids(marker).length > 0, 30_000);
      process.kill(child.pid!, 'SIGKILL'); // the launcher only
      await until('no hvaemu process', () => hvaemuPids(marker).length === 0, 10_000);
      const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
      expect(summary.verdict).toBe('INTERRUPTED');
    },
    TIMEOUT_MS,
  );

  it(
    'npm start, npm sent SIGTERM: no hvaemu left 10 s later',
    async () => {
      marker = `--seed ${900_000 + (process.pid % 99_999)}`;
      child = spawn('npm', ['start', '--', '--duration', '60s', ...marker.split(' ')], {
        cwd: ROOT,
        stdio: 'ignore',
      });
      await until('its process', () => hvaemuPids(marker).length > 0, 60_000);
      process.kill(child.pid!, 'SIGTERM'); // the launcher only
      await until('no hvaemu process', () => hvaemuPids(marker).length === 0, 10_000);
    },
    TIMEOUT_MS,
  );
});
