/** Small statistics and machine facts for the bench harness. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile (q in 0..1) of a sample. */
export function percentile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

export type MachineInfo = {
  cores: number;
  cpuModel: string;
  node: string;
  v8: string;
  platform: string;
  kernel: string;
  totalMemGiB: number;
  git: string;
};

export function machineInfo(): MachineInfo {
  let git = 'unknown';
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      encoding: 'utf8',
    }).trim();
    git = dirty ? `${head} (working tree modified)` : head;
  } catch {
    // not a checkout
  }
  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    totalMemGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    git,
  };
}

/**
 * CPU time of the whole machine and of this process with its waited-for
 * children, in clock ticks (Linux /proc). Two snapshots give how much of the
 * machine other processes used meanwhile: the load the figures were taken under.
 */
type LoadSnapshot = { wallMs: number; busy: number; self: number; ok: boolean };

function snapshot(): LoadSnapshot {
  const wallMs = performance.now();
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1);
    const [user, nice, system, , , irq, softirq, steal] = cpu.map(Number) as number[];
    const busy = user! + nice! + system! + irq! + softirq! + (steal ?? 0);
    // /proc/self/stat: fields 14-17 are utime stime cutime cstime (after the ")" of comm)
    const st = readFileSync('/proc/self/stat', 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    const self = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    return { wallMs, busy, self, ok: true };
  } catch {
    return { wallMs, busy: 0, self: 0, ok: false };
  }
}

export type LoadReport = {
  loadAvgStart: number[];
  loadAvgEnd: number[];
  /** Share of all cores used by other processes while the bench ran (0..1), null off Linux. */
  othersShare: number | null;
  /** Share of all cores used by the bench itself (its threads and native children). */
  benchShare: number | null;
};

export function loadMeter(): { stop(): LoadReport } {
  const a = snapshot();
  const loadAvgStart = os.loadavg();
  return {
    stop(): LoadReport {
      const b = snapshot();
      const hz = 100; // USER_HZ on Linux
      const capacity = ((b.wallMs - a.wallMs) / 1000) * os.cpus().length * hz;
      const ok = a.ok && b.ok && capacity > 0;
      const busy = b.busy - a.busy;
      const self = b.self - a.self;
      return {
        loadAvgStart: loadAvgStart.map((x) => Math.round(x * 100) / 100),
        loadAvgEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
        othersShare: ok ? Math.max(0, Math.round(((busy - self) / capacity) * 1000) / 1000) : null,
        benchShare: ok ? Math.round((self / capacity) * 1000) / 1000 : null,
      };
    },
  };
}
