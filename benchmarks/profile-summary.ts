/**
 * Summarise a V8 .cpuprofile (node --cpu-prof): self time per function,
 * largest first. `node --import tsx benchmarks/profile-summary.ts FILE [TOP]`.
 * A bench worker writes one with `--profile DIR` (bench) or
 * HVAEMU_WORKER_FLAGS="--cpu-prof --cpu-prof-dir=DIR".
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

type Node = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
};
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[] };

export type SelfTime = { fn: string; where: string; pct: number; ms: number };

export function selfTimes(file: string): SelfTime[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const ms = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const n = byId.get(id);
    if (!n) return;
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    const { functionName, url, lineNumber } = n.callFrame;
    const key = `${functionName || '(anonymous)'}\t${url ? `${basename(url)}:${lineNumber + 1}` : ''}`;
    ms.set(key, (ms.get(key) ?? 0) + dt);
    total += dt;
  });
  return [...ms.entries()]
    .map(([k, t]) => {
      const [fn, where] = k.split('\t') as [string, string];
      return { fn, where, ms: t, pct: total > 0 ? (100 * t) / total : 0 };
    })
    .sort((a, b) => b.ms - a.ms);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: profile-summary FILE.cpuprofile [TOP]');
    process.exit(2);
  }
  for (const s of selfTimes(file).slice(0, Number(process.argv[3] ?? 25))) {
    console.log(
      `${s.pct.toFixed(1).padStart(5)}%  ${s.ms.toFixed(0).padStart(6)} ms  ${s.fn}  ${s.where}`,
    );
  }
}
