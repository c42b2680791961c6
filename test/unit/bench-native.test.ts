/**
 * The native benchmark reference (benchmarks/native) is only a reference if
 * it reads the same layout and does the same work as the TypeScript kernel:
 * its header is generated from layout.ts, and a single-thread run of the
 * discard hot loop must leave the C buffer and the JavaScript one identical.
 * (Speed is measured by `npm run bench`, never here.)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { discard_cycle } from '../../benchmarks/jobs.ts';
import { compareBuffers } from '../../benchmarks/lib/compare.ts';
import { CFLAGS, NATIVE_DIR } from '../../benchmarks/lib/native.ts';
import { bootedViews, bootImage } from '../../benchmarks/lib/threads.ts';
import { layoutHeader } from '../../benchmarks/native/gen-layout.ts';
import { BENCH, benchConfig } from '../../benchmarks/params.ts';
import { kernel_attach } from '../../src/kernel/context.ts';
import { computeLayout, type Views } from '../../src/shm/layout.ts';

const dir = mkdtempSync(join(tmpdir(), 'hvaemu-bench-native-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The `#define L_x v` of the `BENCH_CPUS == cpus` section. */
function sectionDefines(header: string, cpus: number): Map<string, number> {
  const lines = header.split('\n');
  const start = lines.findIndex((l) => /^#(el)?if BENCH_CPUS == (\d+)$/.exec(l)?.[2] === `${cpus}`);
  const out = new Map<string, number>();
  for (
    let i = start + 1;
    i < lines.length && !lines[i]!.startsWith('#el') && !lines[i]!.startsWith('#endif');
    i++
  ) {
    const m = /^#define L_(\w+) (\d+)$/.exec(lines[i]!);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

function hasCompiler(): boolean {
  try {
    execFileSync(process.env.CC || 'cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('native benchmark reference', () => {
  it('gets every layout offset from computeLayout, for each CPU count', () => {
    const header = layoutHeader(benchConfig(1), BENCH.cpuCounts);
    for (const cpus of BENCH.cpuCounts) {
      const L = computeLayout(benchConfig(cpus));
      const numeric = Object.entries(L).filter(([, v]) => typeof v === 'number');
      expect(Object.fromEntries(sectionDefines(header, cpus))).toEqual(Object.fromEntries(numeric));
    }
  });

  it.skipIf(!hasCompiler())('does the same work as the TypeScript hot loop', () => {
    const cfg = benchConfig(1);
    const header = join(dir, 'layout.h');
    writeFileSync(header, layoutHeader(cfg, [1]));
    const bin = join(dir, 'bench-c1');
    execFileSync(process.env.CC || 'cc', [
      ...CFLAGS,
      '-I',
      dir,
      '-DBENCH_CPUS=1',
      '-o',
      bin,
      join(NATIVE_DIR, 'bench.c'),
      '-lm',
    ]);
    const image = join(dir, 'boot.bin');
    writeFileSync(image, bootImage(cfg));
    // Enough cycles for pagevec flushes, a shrink_discards and per-CPU list spills.
    const iters = 2 * BENCH.shrinkAt + 50;
    const dump = join(dir, 'dump.bin');
    execFileSync(bin, ['hotloop-fixed', image, String(iters), dump]);
    const run = (): Views => {
      const v = bootedViews(cfg);
      kernel_attach(v, cfg, 0);
      for (let i = 0; i < iters; i++) discard_cycle();
      return v;
    };
    const js = run();
    const again = run();
    const diff = compareBuffers(js, again, new Uint8Array(readFileSync(dump)));
    expect(
      diff,
      'benchmarks/native/kernel.h no longer does what src/kernel does on the discard path: update the C mirror',
    ).toBeNull();
  });
});
