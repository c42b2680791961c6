/**
 * npm run bench [-- --quick] [--json FILE] [--only SECTIONS] [--profile DIR]
 *
 * How fast the emulator runs against this machine's own limits: each
 * micro-benchmark runs in JavaScript (bench workers on a booted guest buffer)
 * and in C (benchmarks/native, same layout, same loop) in the same
 * invocation, JS and C runs alternating, so that each JS/C ratio is measured
 * side by side under the same load. Medians of several runs after a warm-up.
 *
 * Writes benchmarks/results/latest[-quick].{json,md} (and FILE with --json):
 * the machine, how loaded it was, every figure, and the `ratios` of docs/json.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { watchLauncher } from '../src/build/launcher.mjs';
import { type Config, type LockstatMode, makeConfig } from '../src/config.ts';
import { runSchedules } from '../src/machine/controlled.ts';
import { runMachine } from '../src/machine/machine.ts';
import { schedGuest } from '../src/machine/mutants.ts';
import type { JobResult, Spin1 } from './jobs.ts';
import { compareBuffers } from './lib/compare.ts';
import { countHotLoopCalls } from './lib/count.ts';
import { type GuidedPair, guidedFigure } from './lib/guided.ts';
import {
  type InterleavedOverhead,
  interleavedOverhead,
  interleavedRun,
  type Slice,
} from './lib/interleave.ts';
import { BUILD_DIR, buildNative, type Native, runNative, writeImage } from './lib/native.ts';
import { buildReport, fmt, markdown, type Report, type Row } from './lib/report.ts';
import { benchStartupRuns } from './lib/startup.ts';
import { loadMeter, machineInfo, median, percentile } from './lib/stats.ts';
import { runWorkers } from './lib/threads.ts';
import { measureWorkload, PROTOCOL_EVENTS, type WorkloadSample } from './lib/workload.ts';
import { BENCH, benchConfig, PLANS, type Plan, WARMUP } from './params.ts';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

const SECTIONS = [
  'hotloop',
  'clocks',
  'spin',
  'rendezvous',
  'scaling',
  'workload',
  'lockstat',
  'lockdep',
  'startup',
  'sched',
  'guided',
] as const;
type Section = (typeof SECTIONS)[number];

// PLANS (quick, full) and WARMUP, the same in both: benchmarks/params.ts.

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

// ---- sections ------------------------------------------------------------------------

type Ctx = { plan: Plan; native: Native; rows: Row[]; ratios: Report['ratios'] };

function nativeBin(ctx: Ctx, cpus: number): string | null {
  return ctx.native.ok ? (ctx.native.bins.get(cpus) ?? null) : null;
}

async function jsJob<T extends JobResult>(
  cpus: number,
  job: Parameters<typeof runWorkers>[1][number],
  timeoutMs = 120_000,
  over: Partial<Config> = {},
): Promise<T> {
  const cfg = benchConfig(cpus, over);
  const { results } = await runWorkers(cfg, [job], { barrier: false, timeoutMs });
  return results[0] as T;
}

/** (b) The discard-path hot loop, single thread on a booted cpus=1 buffer. */
async function benchHotLoop(ctx: Ctx) {
  const { plan } = ctx;
  const cfg = benchConfig(1);
  const bin = nativeBin(ctx, 1);
  const image = bin ? writeImage(cfg) : '';
  // Same work? Exactly verifyIters cycles on each side from the same image
  // must leave the same buffer (clock-valued words aside).
  let verified: boolean | null = null;
  let mismatch: string | undefined;
  if (bin) {
    const fixed = async () =>
      (
        await runWorkers(cfg, [{ kind: 'hotloop-fixed', iters: plan.verifyIters }], {
          barrier: false,
          timeoutMs: 120_000,
        })
      ).views;
    const views = await fixed();
    const again = await fixed();
    const dump = join(BUILD_DIR, 'hotloop-dump.bin');
    await runNative(bin, ['hotloop-fixed', image, plan.verifyIters, dump], 60_000);
    const c = new Uint8Array(readFileSync(dump));
    const diff = compareBuffers(views, again, c);
    verified = diff === null;
    mismatch = diff ?? undefined;
    if (diff) log(`  hot loop: JS and C states differ after ${plan.verifyIters} cycles: ${diff}`);
  }
  type Runs = { nsPerIter: number[]; cpuNsPerIter: number[] };
  const js: Runs = { nsPerIter: [], cpuNsPerIter: [] };
  const c: Runs = { nsPerIter: [], cpuNsPerIter: [] };
  const add = (to: Runs, r: Runs) => {
    to.nsPerIter.push(...r.nsPerIter);
    to.cpuNsPerIter.push(...r.cpuNsPerIter);
  };
  for (let r = 0; r < plan.rounds; r++) {
    add(
      js,
      await jsJob<{ kind: 'hotloop' } & Runs>(1, {
        kind: 'hotloop',
        iters: plan.hotIters,
        runs: plan.hotRuns,
        warmup: WARMUP.hotloop,
      }),
    );
    if (bin) {
      add(
        c,
        await runNative<Runs>(
          bin,
          ['hotloop', image, plan.hotIters, plan.hotRuns, WARMUP.hotloop],
          120_000,
        ),
      );
    }
  }
  // On-CPU time when the platform gives it (the machine is shared: wall time
  // also counts waiting for a core); wall time otherwise, and in the JSON.
  const pick = (x: Runs) => {
    const cpu = median(x.cpuNsPerIter);
    return Number.isFinite(cpu) && cpu > 0 ? cpu : median(x.nsPerIter);
  };
  const jsNs = pick(js);
  const cNs = c.nsPerIter.length ? pick(c) : null;
  const ratio = cNs !== null ? cNs / jsNs : null;
  ctx.ratios.hotPathJsOverNative = ratio;
  ctx.rows.push({
    name: 'discard hot loop: ns per page on the CPU (alloc, park, flush, shrink_discards)',
    js: fmt.ns(jsNs),
    c: cNs !== null ? fmt.ns(cNs) : 'n/a',
    ratio: fmt.ratio(ratio),
    note: verified === null ? 'not verified' : verified ? 'same final state' : 'STATES DIFFER',
    check: { bound: { kind: 'jsOverC' }, ratio },
  });
  // Per page: clock reads and Atomics calls (deterministic; main thread).
  const calls = countHotLoopCalls(cfg, 20 * BENCH.shrinkAt);
  ctx.rows.push({
    name: 'discard hot loop: clock reads / Atomics calls per page',
    js: `${calls.clockReads.toFixed(1)} / ${calls.atomics.toFixed(1)}`,
    c: '',
    ratio: '',
    note: Object.entries(calls.byOp)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k.replace('Atomics.', '')} ${n.toFixed(1)}`)
      .join(', '),
  });
  ctx.rows.push({
    name: 'discard hot loop: ns per page, wall clock',
    js: fmt.ns(median(js.nsPerIter)),
    c: cNs !== null ? fmt.ns(median(c.nsPerIter)) : 'n/a',
    ratio: fmt.ratio(cNs !== null ? median(c.nsPerIter) / median(js.nsPerIter) : null),
    check: {
      bound: { kind: 'jsOverC' },
      ratio: cNs !== null ? median(c.nsPerIter) / median(js.nsPerIter) : null,
    },
  });
  return {
    js: { ...js, median: jsNs },
    c: cNs !== null ? { ...c, median: cNs } : null,
    jsOverNative: ratio,
    callsPerPage: calls,
    verified,
    ...(mismatch ? { mismatch } : {}),
    iters: plan.hotIters,
    shrinkAt: BENCH.shrinkAt,
  };
}

/** What a timestamp costs, and the shared-counter alternative. */
async function benchClocks(ctx: Ctx) {
  const { plan } = ctx;
  const js = await jsJob<{ kind: 'clocks'; nsPerRead: Record<string, number> }>(1, {
    kind: 'clocks',
    reads: plan.clockReads,
  });
  const bin1 = nativeBin(ctx, 1);
  const bin2 = nativeBin(ctx, 2);
  const c = bin1
    ? (
        await runNative<{ nsPerRead: Record<string, number> }>(
          bin1,
          ['clocks', writeImage(benchConfig(1)), plan.clockReads],
          60_000,
        )
      ).nsPerRead
    : null;
  const cfg2 = benchConfig(2);
  const { results } = await runWorkers(
    cfg2,
    [
      { kind: 'counter2', ms: plan.spinMs },
      { kind: 'counter2', ms: plan.spinMs },
    ],
    { barrier: true, timeoutMs: 60_000 },
  );
  const jsShared = results.map((r) => 1e9 / (r as { perSec: number }).perSec);
  const cShared = bin2
    ? (
        await runNative<{ perSec: number[] }>(
          bin2,
          ['counter2', writeImage(cfg2), plan.spinMs],
          60_000,
        )
      ).perSec.map((x) => 1e9 / x)
    : null;
  const now = js.nsPerRead['performance.now()']!;
  const cNow = c?.['clock_gettime(MONOTONIC)'] ?? null;
  ctx.rows.push({
    name: 'clock read (performance.now / clock_gettime)',
    js: fmt.ns(now),
    c: cNow !== null ? fmt.ns(cNow) : 'n/a',
    ratio: fmt.ratio(cNow !== null ? cNow / now : null),
    check: { bound: { kind: 'jsOverC' }, ratio: cNow !== null ? cNow / now : null },
  });
  ctx.rows.push({
    name: 'shared sequence counter, 2 CPUs: ns per Atomics.add',
    js: fmt.ns(median(jsShared)),
    c: cShared ? fmt.ns(median(cShared)) : 'n/a',
    ratio: fmt.ratio(cShared ? median(cShared) / median(jsShared) : null),
  });
  return { js: js.nsPerRead, c, sharedCounter2: { jsNsPerAdd: jsShared, cNsPerAdd: cShared } };
}

/** (d) spin_lock/spin_unlock, uncontended and with 2 CPUs; raw primitives beside. */
async function benchSpin(ctx: Ctx) {
  const { plan } = ctx;
  const bin1 = nativeBin(ctx, 1);
  const bin2 = nativeBin(ctx, 2);
  const cfg1 = benchConfig(1);
  const cfg2 = benchConfig(2);
  type S1 = Spin1;
  const js1: S1[] = [];
  const c1: S1[] = [];
  const js2: { kernel: number; raw: number }[] = [];
  const c2: { kernel: number; raw: number }[] = [];
  const two = async (raw: boolean) => {
    const { results } = await runWorkers(
      cfg2,
      [
        { kind: 'spin2', ms: plan.spinMs, raw },
        { kind: 'spin2', ms: plan.spinMs, raw },
      ],
      { barrier: true, timeoutMs: 60_000 },
    );
    return results.reduce((s, r) => s + (r as { perSec: number }).perSec, 0);
  };
  for (let r = 0; r < plan.rounds; r++) {
    js1.push(await jsJob<{ kind: 'spin1' } & S1>(1, { kind: 'spin1', ms: plan.spinMs }));
    if (bin1) c1.push(await runNative<S1>(bin1, ['spin1', writeImage(cfg1), plan.spinMs], 60_000));
    js2.push({ kernel: await two(false), raw: await two(true) });
    if (bin2) {
      const img = writeImage(cfg2);
      const k = await runNative<{ perSec: number[] }>(bin2, ['spin2', img, plan.spinMs, 0], 60_000);
      const w = await runNative<{ perSec: number[] }>(bin2, ['spin2', img, plan.spinMs, 1], 60_000);
      c2.push({ kernel: k.perSec[0]! + k.perSec[1]!, raw: w.perSec[0]! + w.perSec[1]! });
    }
  }
  const m = <T>(xs: T[], f: (x: T) => number) => (xs.length ? median(xs.map(f)) : null);
  const out = {
    /** Rates per second on the CPU (wall-clock rates: the *PerSec fields of runs). */
    uncontended: {
      js: {
        spinLockPerSec: m(js1, (x) => x.spinLockPerCpuSec)!,
        rawCasLockPerSec: m(js1, (x) => x.rawCasLockPerCpuSec)!,
        atomicAddPerSec: m(js1, (x) => x.atomicAddPerCpuSec)!,
      },
      c: c1.length
        ? {
            spinLockPerSec: m(c1, (x) => x.spinLockPerCpuSec)!,
            rawCasLockPerSec: m(c1, (x) => x.rawCasLockPerCpuSec)!,
            atomicAddPerSec: m(c1, (x) => x.atomicAddPerCpuSec)!,
          }
        : null,
      runs: { js: js1, c: c1 },
    },
    contended2: {
      js: { spinLockPerSec: m(js2, (x) => x.kernel)!, rawCasLockPerSec: m(js2, (x) => x.raw)! },
      c: c2.length
        ? { spinLockPerSec: m(c2, (x) => x.kernel)!, rawCasLockPerSec: m(c2, (x) => x.raw)! }
        : null,
    },
  };
  // single: one thread, so JS cannot be faster than C (the 2-CPU rows contend: no bound)
  const row = (name: string, js: number, c: number | null | undefined, single = false) =>
    ctx.rows.push({
      name,
      js: fmt.rate(js),
      c: c ? fmt.rate(c) : 'n/a',
      ratio: fmt.ratio(c ? js / c : null),
      ...(single ? { check: { bound: { kind: 'jsOverC' }, ratio: c ? js / c : null } } : {}),
    });
  row(
    'spin_lock+spin_unlock, 1 CPU',
    out.uncontended.js.spinLockPerSec,
    out.uncontended.c?.spinLockPerSec,
    true,
  );
  row(
    'raw CAS lock+unlock, 1 thread',
    out.uncontended.js.rawCasLockPerSec,
    out.uncontended.c?.rawCasLockPerSec,
    true,
  );
  row(
    'Atomics.add, 1 thread',
    out.uncontended.js.atomicAddPerSec,
    out.uncontended.c?.atomicAddPerSec,
    true,
  );
  row(
    'spin_lock+spin_unlock, 2 CPUs contending (total)',
    out.contended2.js.spinLockPerSec,
    out.contended2.c?.spinLockPerSec,
  );
  row(
    'raw CAS lock+unlock, 2 threads (total)',
    out.contended2.js.rawCasLockPerSec,
    out.contended2.c?.rawCasLockPerSec,
  );
  return out;
}

/**
 * (c) smp_call_function(page_hva_sync, wait) latency, CPU 0 calling back to
 * back, every other CPU doing nothing but take IPIs: idle (asleep on its
 * pending word, as an idle CPU halts) at 2, 4, 8 CPUs, which gives the ratio;
 * and, at 2 CPUs, polling (a busy CPU: the rendezvous code alone).
 */
async function benchRendezvous(ctx: Ctx) {
  const { plan } = ctx;
  type Lat = { p10Us: number; p50Us: number; p99Us: number };
  const out: {
    cpus: number;
    targets: 'idle' | 'polling';
    js: Lat;
    c: Lat | null;
    jsOverNativeP50: number | null;
  }[] = [];
  const cases: [number, boolean][] = [
    [2, false],
    [4, false],
    [8, false],
    [2, true],
  ];
  for (const [cpus, poll] of cases) {
    const cfg = benchConfig(cpus);
    const bin = nativeBin(ctx, cpus);
    const jsRuns: Lat[] = [];
    const cRuns: Lat[] = [];
    for (let r = 0; r < plan.rvRounds; r++) {
      const job = {
        kind: 'rendezvous' as const,
        calls: plan.rvCalls,
        warmup: WARMUP.rendezvous,
        poll,
      };
      const { results } = await runWorkers(
        cfg,
        Array.from({ length: cpus }, () => job),
        { barrier: true, timeoutMs: 120_000 },
      );
      const lat = (results[0] as { latenciesMs: number[] }).latenciesMs.map((x) => x * 1000);
      jsRuns.push({
        p10Us: percentile(lat, 0.1),
        p50Us: percentile(lat, 0.5),
        p99Us: percentile(lat, 0.99),
      });
      if (bin) {
        cRuns.push(
          await runNative<Lat>(
            bin,
            ['rendezvous', writeImage(cfg), plan.rvCalls, WARMUP.rendezvous, poll ? 1 : 0],
            120_000,
          ),
        );
      }
    }
    const med = (xs: Lat[]): Lat => ({
      p10Us: median(xs.map((x) => x.p10Us)),
      p50Us: median(xs.map((x) => x.p50Us)),
      p99Us: median(xs.map((x) => x.p99Us)),
    });
    const js = med(jsRuns);
    const c = cRuns.length ? med(cRuns) : null;
    // Wake-ups on this VM are bimodal (a vCPU that halted a moment ago wakes
    // fast): the ratio is the median of the rounds' ratios, each round's JS
    // and C runs taken one after the other.
    const ratio = c ? median(jsRuns.map((j, i) => j.p50Us / cRuns[i]!.p50Us)) : null;
    const targets = poll ? 'polling' : 'idle';
    out.push({ cpus, targets, js, c, jsOverNativeP50: ratio });
    if (poll) {
      // Bimodal: the caller's cpu_relax spins 128 times before it sleeps, a
      // shorter time in C than in JS; p10 is the rendezvous code alone.
      ctx.rows.push({
        name: `smp_call_function, ${cpus} CPUs, targets polling: p10 / p50 / p99 latency`,
        js: `${fmt.us(js.p10Us)} / ${fmt.us(js.p50Us)} / ${fmt.us(js.p99Us)}`,
        c: c ? `${fmt.us(c.p10Us)} / ${fmt.us(c.p50Us)} / ${fmt.us(c.p99Us)}` : 'n/a',
        ratio: fmt.ratio(c ? median(jsRuns.map((j, i) => j.p10Us / cRuns[i]!.p10Us)) : null),
        note: 'JS/C on p10: the rendezvous code without any sleep',
      });
    } else {
      ctx.rows.push({
        name: `smp_call_function, ${cpus} CPUs, targets idle: p50 / p99 latency`,
        js: `${fmt.us(js.p50Us)} / ${fmt.us(js.p99Us)}`,
        c: c ? `${fmt.us(c.p50Us)} / ${fmt.us(c.p99Us)}` : 'n/a',
        ratio: fmt.ratio(ratio),
        note: 'JS/C: latency over latency (lower is better)',
      });
    }
  }
  ctx.ratios.rendezvousJsOverNative =
    out.find((o) => o.cpus === 2 && o.targets === 'idle')?.jsOverNativeP50 ?? null;
  return out;
}

/**
 * scaling2over1: the per-CPU workload (anonymous fault + zap on the CPU's own
 * tasks) at 1 and 2 CPUs, total ops/s by the wall clock. Time on the CPU per
 * operation is kept beside it: if it grows from 1 to 2 CPUs, the CPUs share
 * cache lines (true or false sharing); if only the wall rate falls short, they
 * waited for a core (the machine's load).
 */
async function benchScaling(ctx: Ctx) {
  const { plan } = ctx;
  /** `lineNs`: 2-CPU runs, the line probe right after (README, "Half-speed 2-CPU runs") */
  type Sample = { opsPerSec: number; cpuNsPerOp: number; lineNs?: number | null };
  const sum = (xs: Sample[]): Sample => ({
    opsPerSec: xs.reduce((a, x) => a + x.opsPerSec, 0),
    cpuNsPerOp: xs.reduce((a, x) => a + x.cpuNsPerOp, 0) / xs.length,
  });
  const run = async (cpus: number, spread: boolean): Promise<Sample> => {
    const { results } = await runWorkers(
      benchConfig(cpus),
      Array.from({ length: cpus }, () => ({
        kind: 'percpu' as const,
        ms: plan.percpuMs,
        spread,
      })),
      { barrier: true, timeoutMs: 60_000 },
    );
    return sum(results as unknown as Sample[]);
  };
  const runC = async (cpus: number, spread: boolean): Promise<Sample | null> => {
    const bin = nativeBin(ctx, cpus);
    if (!bin) return null;
    const r = await runNative<{ opsPerSec: number[]; cpuNsPerOp: number[] }>(
      bin,
      ['percpu', writeImage(benchConfig(cpus)), plan.percpuMs, spread ? 1 : 0],
      60_000,
    );
    return sum(r.opsPerSec.map((opsPerSec, i) => ({ opsPerSec, cpuNsPerOp: r.cpuNsPerOp[i]! })));
  };
  // 1: one CPU; 2: two CPUs as the allocator hands out pages; s: two CPUs, spread.
  type Variant = 1 | 2 | 's';
  const variants: [Variant, number, boolean][] = [
    [1, 1, false],
    [2, 2, false],
    ['s', 2, true],
  ];
  const js: Record<Variant, Sample[]> = { 1: [], 2: [], s: [] };
  const c: Record<Variant, Sample[]> = { 1: [], 2: [], s: [] };
  // a 2-CPU run with the line probe after it: the runs that share lines are
  // the ones a slow mode of the machine slows (README, "Half-speed 2-CPU runs")
  const probed = async (x: Sample, cpus: number): Promise<Sample> =>
    cpus === 2 ? { ...x, lineNs: await lineTrip(ctx) } : x;
  for (let r = 0; r < plan.rounds; r++) {
    for (const [v, cpus, spread] of variants) {
      js[v].push(await probed(await run(cpus, spread), cpus));
      const x = await runC(cpus, spread);
      if (x !== null) c[v].push(await probed(x, cpus));
    }
  }
  const med = (xs: Sample[], k: 'opsPerSec' | 'cpuNsPerOp') =>
    xs.length ? median(xs.map((x) => x[k])) : null;
  const rate = (xs: Sample[]) => med(xs, 'opsPerSec');
  const scaling = (xs: Record<Variant, Sample[]>, v: Variant) => {
    const one = rate(xs[1]);
    const two = rate(xs[v]);
    return one && two ? two / one : null;
  };
  const jsScaling = scaling(js, 's');
  const cScaling = scaling(c, 's');
  ctx.ratios.scaling2over1 = jsScaling; // checked against min(2, cores) by buildReport
  const twoOverOne = { kind: 'scaling', hi: 2, lo: 1 } as const;
  const rateRow = (name: string, v: Variant) => {
    const j = rate(js[v]);
    const n = rate(c[v]);
    ctx.rows.push({
      name,
      js: j ? fmt.rate(j) : 'n/a',
      c: n ? fmt.rate(n) : 'n/a',
      ratio: fmt.ratio(j && n ? j / n : null),
      // one CPU: a single-thread loop, JS cannot outrun C
      ...(v === 1 ? { check: { bound: { kind: 'jsOverC' }, ratio: j && n ? j / n : null } } : {}),
    });
  };
  rateRow('per-CPU workload (anon fault + zap), 1 CPU', 1);
  rateRow('per-CPU workload, 2 CPUs, pages as allocated (total)', 2);
  rateRow('per-CPU workload, 2 CPUs, pages spread (total)', 's');
  const probes = (xs: Sample[]) =>
    xs.map((x) => (x.lineNs == null ? '?' : x.lineNs.toFixed(0))).join('/');
  const ns = (xs: Sample[]) => {
    const x = med(xs, 'cpuNsPerOp');
    return x !== null && Number.isFinite(x) ? fmt.ns(x) : 'n/a';
  };
  ctx.rows.push({
    name: 'per-CPU workload: ns on the CPU per op, 1 CPU / 2 as allocated / 2 spread',
    js: `${ns(js[1])} / ${ns(js[2])} / ${ns(js.s)}`,
    c: `${ns(c[1])} / ${ns(c[2])} / ${ns(c.s)}`,
    ratio: '',
    note: 'growth with 2 CPUs = shared cache lines',
  });
  ctx.rows.push({
    name: 'per-CPU workload: 2 CPUs over 1, pages as allocated',
    js: fmt.ratio(scaling(js, 2)),
    c: fmt.ratio(scaling(c, 2)),
    ratio: '',
    check: { bound: twoOverOne, js: scaling(js, 2), c: scaling(c, 2) },
    note: 'pfns 0-6 go to CPU 0 and 7-13 to CPU 1: one 64-byte line of every struct page array',
  });
  ctx.rows.push({
    name: 'per-CPU workload: 2 CPUs over 1, pages spread (scaling2over1)',
    js: fmt.ratio(jsScaling),
    c: fmt.ratio(cScaling),
    ratio: '',
    check: { bound: twoOverOne, js: jsScaling, c: cScaling },
    note: `the C column: same layout and loop, the limit of this machine; a cache line's round trip after each 2-CPU run, JS ${probes(js.s)}, C ${probes(c.s)} ns (about 80: the machine's fast mode, about 350: its slow one, where 2 CPUs make less)`,
  });
  return { js, c, jsScaling, cScaling };
}

/**
 * (a) The standard workload (hvaemu run defaults): ops/s per CPU at 1, 2, 4,
 * 8 CPUs, and protocol events per second (lib/workload.ts), both counted
 * after WARMUP.workloadMs. oversubscription8over4: total ops/s at 8 CPUs
 * over 4, the median of the runs' ratios (run r at 4 and at 8 CPUs: the same seed).
 */
async function benchWorkload(ctx: Ctx) {
  const { plan } = ctx;
  const out: {
    cpus: number;
    opsPerSecPerCpu: number;
    opsPerSec: number;
    protocolEventsPerSec: number;
    eventsPerSec: WorkloadSample['eventsPerSec'];
    runs: (WorkloadSample & { lineNs?: number | null })[];
  }[] = [];
  // Runs at 1 and 2 CPUs, then the 4- and 8-CPU runs in turn (4, 8, 4, 8...):
  // oversubscription8over4 divides run r at 8 by run r at 4, and runs minutes
  // apart may meet the machine in different modes (README, "Half-speed 2-CPU
  // runs"; 8 CPUs lose more in the slow one). A line probe after each run of
  // more than one CPU says which mode it met.
  const order = [1, 2].flatMap((c) => Array.from({ length: plan.wlRuns }, (_, r) => [c, r]));
  for (let r = 0; r < plan.wlRuns; r++) order.push([4, r], [8, r]);
  const runsOf = new Map<number, (WorkloadSample & { lineNs?: number | null })[]>();
  for (const [cpus, r] of order as [number, number][]) {
    const cfg = makeConfig({ cpus, durationMs: plan.wlMs, seed: 1000 + r });
    const sample = await measureWorkload(cfg, WARMUP.workloadMs);
    const runs = runsOf.get(cpus) ?? [];
    runs.push(cpus > 1 ? { ...sample, lineNs: await lineTrip(ctx) } : sample);
    runsOf.set(cpus, runs);
  }
  for (const cpus of [1, 2, 4, 8]) {
    const runs = runsOf.get(cpus)!;
    const total = median(runs.map((x) => x.opsPerSec));
    const events = median(runs.map((x) => x.protocolEventsPerSec));
    const eventsPerSec = Object.fromEntries(
      PROTOCOL_EVENTS.map((k) => [k, median(runs.map((x) => x.eventsPerSec[k]))]),
    ) as WorkloadSample['eventsPerSec'];
    out.push({
      cpus,
      opsPerSecPerCpu: total / cpus,
      opsPerSec: total,
      protocolEventsPerSec: events,
      eventsPerSec,
      runs,
    });
    const verdicts = runs.map((x) => x.verdict);
    ctx.rows.push({
      name: `standard workload, ${cpus} CPU${cpus > 1 ? 's' : ''}: ops/s per CPU (total)`,
      js: `${fmt.rate(total / cpus)} (${fmt.rate(total)})`,
      c: '',
      ratio: '',
      note: verdicts.every((v) => v === 'SUCCESS') ? '' : `verdicts ${verdicts.join(',')}`,
    });
    if (cpus >= 4) {
      ctx.rows.push({
        name: `standard workload, ${cpus} CPUs: protocol events/s (faults / refusals / parked-and-freed / rendezvous)`,
        js: `${fmt.rate(events)} (${PROTOCOL_EVENTS.map((k) => fmt.rate(eventsPerSec[k])).join(' / ')})`,
        c: '',
        ratio: '',
      });
    }
  }
  const at = (n: number) => out.find((o) => o.cpus === n)!;
  const two = at(2).opsPerSec;
  const one = at(1).opsPerSec;
  // run r at 8 CPUs over run r at 4 (same seed)
  const over = median(at(8).runs.map((x, i) => x.opsPerSec / at(4).runs[i]!.opsPerSec));
  ctx.ratios.oversubscription8over4 = over; // checked against min(8/4, cores) by buildReport
  const perCpuSec = at(8).runs.map((x, i) => {
    const y = at(4).runs[i]!.opsPerCpuSec;
    return x.opsPerCpuSec === null || y === null ? Number.NaN : x.opsPerCpuSec / y;
  });
  const overPerCpuSec = perCpuSec.some(Number.isNaN) ? null : median(perCpuSec);
  ctx.rows.push({
    name: 'standard workload: 2 CPUs over 1 (total ops/s)',
    js: fmt.ratio(two / one),
    c: '',
    ratio: '',
    note: 'shared state (libc page, LRU, discard list) and the host thread: not the per-CPU case',
    check: { bound: { kind: 'scaling', hi: 2, lo: 1 }, js: two / one },
  });
  ctx.rows.push({
    name: 'standard workload: 8 CPUs over 4 (total ops/s; oversubscription8over4)',
    js: fmt.ratio(over),
    c: '',
    ratio: '',
    note: `protocol events/s 8 over 4: ${fmt.ratio(at(8).protocolEventsPerSec / at(4).protocolEventsPerSec)}; ops per CPU-second 8 over 4: ${fmt.ratio(overPerCpuSec)} (not inflated by a loaded machine giving 8 threads more of the cores than 4); per pair (a cache line's round trip after the 4- and the 8-CPU run): ${at(
      8,
    )
      .runs.map((x, i) => {
        const y = at(4).runs[i]!;
        const ns = (z: { lineNs?: number | null }) =>
          z.lineNs == null ? '?' : z.lineNs.toFixed(0);
        return `${fmt.ratio(x.opsPerSec / y.opsPerSec)} (${ns(y)}/${ns(x)} ns)`;
      })
      .join(', ')}`,
    check: { bound: { kind: 'scaling', hi: 8, lo: 4 }, js: over },
  });
  return {
    perCpus: out,
    scaling2over1: two / one,
    oversubscription8over4: over,
    oversubscription8over4PerCpuSecond: overPerCpuSec,
    durationMs: plan.wlMs,
    warmupMs: WARMUP.workloadMs,
  };
}

/**
 * The start of `hvaemu run --cpus 4 --duration 1s` as a user meets it: a
 * child process, from the command to the CPUs' first operation, and to its
 * exit; from the build (its cache warmed first) and through tsx.
 */
async function benchStartup(ctx: Ctx) {
  const out = await benchStartupRuns(ctx.plan.startRuns);
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  const cache = out.cacheWasWarm ? 'cache was warm' : 'cache built before the runs';
  ctx.rows.push({
    name: `start: command to the first CPU operation (hvaemu run --cpus ${out.cpus})`,
    js: ms(out.built.toCpusMs),
    c: '',
    ratio: '',
    note: `built (${cache}); through tsx ${ms(out.tsx.toCpusMs)}`,
  });
  ctx.rows.push({
    name: `start: hvaemu run --cpus ${out.cpus} --duration ${out.durationS}s, total wall`,
    js: ms(out.built.wallMs),
    c: '',
    ratio: '',
    note: `through tsx ${ms(out.tsx.wallMs)}`,
  });
  return out;
}

/**
 * --guided against the default run (issue 13): `hvaemu run --cpus 4` for
 * plan.guidedMs, with and without --guided, same seed, the pair's runs one
 * after the other; the default runs' rarest hazard and its near-miss rate in
 * each mode (lib/guided.ts: pooled over the seeds).
 */
async function benchGuided(ctx: Ctx) {
  const { plan } = ctx;
  const pairs: GuidedPair[] = [];
  const slim = (r: Awaited<ReturnType<typeof runMachine>>) => ({
    coverage: r.coverage,
    durationMs: r.durationMs,
    ops: r.totals.ops,
    faults: r.totals.discardFaults,
    verdict: r.verdict,
  });
  for (let i = 0; i < plan.guidedSeeds; i++) {
    const seed = 1 + i;
    const base = { cpus: 4, durationMs: plan.guidedMs, seed };
    const plain = slim(await runMachine(makeConfig(base)));
    const guided = slim(await runMachine(makeConfig({ ...base, guided: true })));
    pairs.push({ seed, plain, guided });
  }
  const f = guidedFigure(pairs);
  ctx.ratios.guidedRarestOverDefault = f.ratio; // checked (a count of 0 under it) by buildReport
  const verdicts = pairs.flatMap((p) => [p.plain.verdict, p.guided.verdict]);
  const runs = `${pairs.length} seed${pairs.length > 1 ? 's' : ''} x ${plan.guidedMs / 1000} s at 4 CPUs`;
  ctx.rows.push({
    name: `guided: the default run's rarest hazard (${f.hazard ?? 'none'}), near misses/s default -> --guided (${runs})`,
    js: `${f.plainPerSec.toFixed(2)}/s (${f.plainNearMisses}) -> ${f.guidedPerSec.toFixed(2)}/s (${f.guidedNearMisses})`,
    c: '',
    ratio: fmt.ratio(f.ratio),
    note: [
      `per seed ${f.perSeed.map((s) => `${s.seed}: ${s.plain} -> ${s.guided}`).join(', ')}`,
      verdicts.every((v) => v === 'SUCCESS') ? '' : `verdicts ${verdicts.join(',')}`,
    ]
      .filter(Boolean)
      .join('; '),
    check: { bound: { kind: 'rateOverCount' }, ratio: f.ratio },
  });
  ctx.rows.push({
    name: 'guided: ops/s default -> --guided (4 CPUs, total)',
    js: `${fmt.rate(f.plainOpsPerSec)} -> ${fmt.rate(f.guidedOpsPerSec)}`,
    c: '',
    ratio: fmt.ratio(f.guidedOpsPerSec / f.plainOpsPerSec),
    note: `discard faults/s ${fmt.rate(f.plainFaultsPerSec)} -> ${fmt.rate(f.guidedFaultsPerSec)}: more host discards turn cheap accesses into discard faults, and a boosted burst is one operation of 32 accesses (fewer, heavier operations)`,
  });
  return { ...f, durationMs: plan.guidedMs, pairs };
}

async function benchLockstat(ctx: Ctx) {
  const { plan } = ctx;
  const cpus = 2;
  // --lockstat's cost with both sides in turns (lib/interleave.ts): a
  // machine without --lockstat and one with it run at once, each parked
  // while the other has its turn of plan.lsSliceMs, so that both meet the
  // same moments of the machine; a turn is compared with its two
  // neighbours, and the overhead is the median over the turns after the
  // warm-up window of every run of the mode. Runs of full and contention
  // mode alternate, plan.lsRuns of each, seeds 1, 2, ...
  const runsOf: Record<'full' | 'contention', Slice[][]> = { full: [], contention: [] };
  const verdicts: string[] = [];
  let implemented = false;
  const lines = [await lineTrip(ctx)];
  for (let r = 0; r < plan.lsRuns; r++) {
    const order =
      r % 2 === 0 ? (['full', 'contention'] as const) : (['contention', 'full'] as const);
    for (const mode of order) {
      // two machines in turn: each runs plan.lsMs of its turns
      const cfg = makeConfig({ cpus, durationMs: 2 * plan.lsMs, seed: 1 + r, lockstat: mode });
      const run = await interleavedRun(cfg, plan.lsSliceMs, undefined, r % 2 === 1);
      runsOf[mode].push(run.slices);
      verdicts.push(...run.verdicts);
      if (mode === 'full' && run.slices.length > 0) implemented = true;
    }
  }
  // The control: the same configuration without --lockstat on both
  // machines, whose "overhead" should be 0 within the method's noise.
  const controlRuns: Slice[][] = [];
  for (let r = 0; r < plan.lsRuns; r++) {
    const cfg = makeConfig({ cpus, durationMs: 2 * plan.lsMs, seed: 1 + r, lockstat: false });
    const run = await interleavedRun(cfg, plan.lsSliceMs, cfg, r % 2 === 1);
    controlRuns.push(run.slices);
    verdicts.push(...run.verdicts);
  }
  lines.push(await lineTrip(ctx));
  // each machine's first WARMUP.workloadMs of turns are its warm-up
  const full = interleavedOverhead(runsOf.full, 2 * WARMUP.workloadMs);
  const contention = interleavedOverhead(runsOf.contention, 2 * WARMUP.workloadMs);
  const control = interleavedOverhead(controlRuns, 2 * WARMUP.workloadMs);
  // the control split by place: what the alternation of the places cancels
  const place = (k: number) =>
    interleavedOverhead(
      controlRuns.filter((_, i) => i % 2 === k),
      2 * WARMUP.workloadMs,
    ).value;
  if (!implemented) {
    ctx.rows.push({
      name: '--lockstat cost',
      js: 'missing',
      c: '',
      ratio: '',
      note: 'the interleaved --lockstat runs gave no slices',
    });
    ctx.ratios.lockstatOverhead = null;
    ctx.ratios.lockstatContentionOverhead = null;
    return { implemented, overhead: null, contentionOverhead: null };
  }
  const overhead = full.value;
  const contentionOverhead = contention.value;
  ctx.ratios.lockstatOverhead = overhead;
  ctx.ratios.lockstatContentionOverhead = contentionOverhead;
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)}%`);
  const spread = (o: InterleavedOverhead) =>
    `${o.estimates} slices, quartiles ${pct(o.q1)} to ${pct(o.q3)}, per CPU-second ${pct(o.perCpuSecond)}`;
  const bad = verdicts.filter((v) => v !== 'SUCCESS');
  ctx.rows.push({
    name: `standard workload, ${cpus} CPUs, a machine without --lockstat and one with it in turns: ops/s without / with =full; without / with =contention`,
    js: `${fmt.rate(full.offOpsPerSec)} / ${fmt.rate(full.onOpsPerSec)}; ${fmt.rate(contention.offOpsPerSec)} / ${fmt.rate(contention.onOpsPerSec)}`,
    c: '',
    ratio: '',
    note: [
      `overhead full ${pct(overhead)} (lockstatOverhead; ${spread(full)})`,
      `contention ${pct(contentionOverhead)} (lockstatContentionOverhead; ${spread(contention)})`,
      `control, no --lockstat on either machine: ${pct(control.value)} (${spread(control)}; runs with the base started first ${pct(place(0))}, second ${pct(place(1))}: the places alternate from run to run)`,
      `${plan.lsRuns} runs of each mode, two machines in turns of ${plan.lsSliceMs} ms, ${plan.lsMs / 1000} s each`,
      linesNote(lines),
      bad.length ? `verdicts ${bad.join(',')}` : '',
    ]
      .filter(Boolean)
      .join('; '),
  });
  // The same on the single-thread hot loop (on the CPU, so little noise): the
  // price of the timed lock path per page (about 0.4 lock acquisitions a page;
  // one thread never contends, so contention mode costs only its test).
  const hot = async (lockstat: LockstatMode) =>
    median(
      (
        await jsJob<{ kind: 'hotloop'; cpuNsPerIter: number[]; nsPerIter: number[] }>(
          1,
          { kind: 'hotloop', iters: plan.hotIters, runs: plan.hotRuns, warmup: WARMUP.hotloop },
          120_000,
          { lockstat },
        )
      ).cpuNsPerIter,
    );
  const hotOff: number[] = [];
  const hotOn: number[] = [];
  const hotContention: number[] = [];
  for (let r = 0; r < plan.rounds; r++) {
    hotOff.push(await hot(false));
    hotOn.push(await hot('full'));
    hotContention.push(await hot('contention'));
  }
  const plus = (xs: number[]) => `+${((median(xs) / median(hotOff) - 1) * 100).toFixed(1)}%`;
  ctx.rows.push({
    name: 'discard hot loop: ns per page on the CPU without / with --lockstat=full / =contention',
    js: `${fmt.ns(median(hotOff))} / ${fmt.ns(median(hotOn))} / ${fmt.ns(median(hotContention))}`,
    c: '',
    ratio: '',
    note: `full ${plus(hotOn)}, contention ${plus(hotContention)}`,
  });
  return {
    implemented,
    cpus,
    overhead,
    contentionOverhead,
    full,
    contention,
    control,
    controlByPlace: { baseFirst: place(0), baseSecond: place(1) },
    slices: { ...runsOf, control: controlRuns },
    sliceMs: plan.lsSliceMs,
    durationMs: plan.lsMs,
    lineNs: lines,
    hotLoop: { offNsPerPage: hotOff, onNsPerPage: hotOn, contentionNsPerPage: hotContention },
  };
}

/**
 * The cost of the lock validator (on by default): the standard workload at 2
 * CPUs, a machine with --no-lockdep and one with the validator in turns
 * (lib/interleave.ts), plan.lsRuns runs, seeds 1, 2, ...; the overhead is
 * the median over the turns after the warm-up window.
 */
async function benchLockdep(ctx: Ctx) {
  const { plan } = ctx;
  const cpus = 2;
  const reports: number[] = [];
  const runs: Slice[][] = [];
  const verdicts: string[] = [];
  const lines = [await lineTrip(ctx)];
  for (let r = 0; r < plan.lsRuns; r++) {
    const on = makeConfig({ cpus, durationMs: 2 * plan.lsMs, seed: 1 + r, lockdep: true });
    const run = await interleavedRun(on, plan.lsSliceMs, { ...on, lockdep: false }, r % 2 === 1);
    runs.push(run.slices);
    verdicts.push(...run.verdicts);
    reports.push(run.reports[1].lockdep.reports);
  }
  lines.push(await lineTrip(ctx));
  const o = interleavedOverhead(runs, 2 * WARMUP.workloadMs);
  const overhead = o.value;
  ctx.ratios.lockdepOverhead = overhead;
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)}%`);
  const bad = verdicts.filter((v) => v !== 'SUCCESS');
  ctx.rows.push({
    name: `standard workload, ${cpus} CPUs, a machine with --no-lockdep and one with the lock validator in turns: ops/s with / without`,
    js: `${fmt.rate(o.onOpsPerSec)} / ${fmt.rate(o.offOpsPerSec)}`,
    c: '',
    ratio: '',
    note: [
      `overhead ${pct(overhead)} (lockdepOverhead; ${o.estimates} turns, quartiles ${pct(o.q1)} to ${pct(o.q3)}, per CPU-second ${pct(o.perCpuSecond)})`,
      `${plan.lsRuns} runs, turns of ${plan.lsSliceMs} ms, ${plan.lsMs / 1000} s each machine`,
      linesNote(lines),
      reports.some((n) => n > 0) ? `reports ${reports.join(',')}` : '',
      bad.length ? `verdicts ${bad.join(',')}` : '',
    ]
      .filter(Boolean)
      .join('; '),
  });
  return {
    cpus,
    overhead,
    turns: o,
    reports,
    slices: runs,
    sliceMs: plan.lsSliceMs,
    durationMs: plan.lsMs,
    lineNs: lines,
  };
}

/** The line probes before and after a section's 2-CPU runs: the machine's mode then ("Half-speed 2-CPU runs"). */
function linesNote(lines: (number | null)[]): string {
  return lines.every((x) => x === null)
    ? 'no line probe'
    : `a cache line's round trip ${lines.map((x) => (x === null ? '?' : x.toFixed(0))).join(' ns before, ')} ns after`;
}

/** The native reference's line probe needs a booted 2-CPU image: written once. */
let lineImage: string | undefined;

/**
 * A cache line's round trip between the two cores now (ns, the 10th
 * percentile of batches; the native `linetrip` job), or null without the
 * native reference or a second core, or when three probes in a row could
 * not time LINE_BATCHES batches (both of its threads seldom on a core at
 * once: a loaded machine).
 */
async function lineTrip(ctx: Ctx): Promise<number | null> {
  const bin = nativeBin(ctx, 2);
  if (!bin) return null;
  lineImage ??= writeImage(benchConfig(2));
  for (let tries = 0; tries < 3; tries++) {
    try {
      const r = await runNative<{ batches: number; p10Ns: number | null }>(
        bin,
        ['linetrip', lineImage, BENCH.lineProbeMs],
        30_000,
      );
      if (r.p10Ns === null) return null;
      if (r.batches >= LINE_BATCHES) return r.p10Ns;
    } catch {
      return null;
    }
  }
  return null;
}
/** A line probe that timed fewer batches than this says nothing. */
const LINE_BATCHES = 50;

/**
 * The controlled scheduler (--sched): steps (decisions) per second, switches
 * (the turn given to another actor) and hand-offs (the token to another
 * thread) per second, under pct:3 and random at 2, 4 and 8 CPUs, the
 * schedules of `hvaemu run --sched` (2000 steps each, the tiny guest of
 * `mutants --sched`); schedules that end in the first WARMUP.schedMs are not
 * counted. Then the hand-off's latency: two threads passing the token.
 */
async function benchSched(ctx: Ctx) {
  const { plan } = ctx;
  type Sample = {
    stepsPerSec: number;
    switchesPerSec: number;
    handoffsPerSec: number;
    schedules: number;
  };
  const out: Record<string, Sample[]> = {};
  for (const kind of ['pct', 'random'] as const) {
    for (const cpus of [2, 4, 8]) {
      const key = `${kind === 'pct' ? 'pct:3' : kind}/${cpus}`;
      out[key] = [];
      for (let r = 0; r < plan.schedRuns; r++) {
        const cfg = makeConfig({
          cpus,
          ...schedGuest(cpus),
          seed: 4000 + r,
          durationMs: WARMUP.schedMs + plan.schedMs,
          sched: { kind, depth: 3, steps: 2000 },
        });
        let from = 0;
        let last = 0;
        const sum = { steps: 0, switches: 0, handoffs: 0, schedules: 0 };
        const t0 = performance.now();
        await runSchedules(cfg, {
          onSchedule: (_i, rep) => {
            const t = performance.now() - t0;
            if (t < WARMUP.schedMs) {
              from = t;
              return;
            }
            last = t;
            sum.steps += rep.sched?.stepsRun ?? 0;
            sum.switches += rep.sched?.switches ?? 0;
            sum.handoffs += rep.sched?.handoffs ?? 0;
            sum.schedules++;
          },
        });
        const s = (last - from) / 1000;
        out[key]!.push({
          stepsPerSec: s > 0 ? sum.steps / s : 0,
          switchesPerSec: s > 0 ? sum.switches / s : 0,
          handoffsPerSec: s > 0 ? sum.handoffs / s : 0,
          schedules: sum.schedules,
        });
      }
      const xs = out[key]!;
      const med = (k: keyof Sample) => median(xs.map((x) => x[k]));
      const bad = xs.some((x) => x.schedules === 0)
        ? 'no schedule ended after the warm-up'
        : xs.some((x) => x.switchesPerSec > x.stepsPerSec || x.handoffsPerSec > x.switchesPerSec)
          ? 'more switches than steps, or hand-offs than switches: not one run counted'
          : undefined;
      ctx.rows.push({
        name: `--sched ${key.replace('/', ', ')} CPUs: steps / switches / hand-offs per second`,
        js: bad
          ? 'invalid'
          : `${fmt.rate(med('stepsPerSec'))} / ${fmt.rate(med('switchesPerSec'))} / ${fmt.rate(med('handoffsPerSec'))}`,
        c: '',
        ratio: '',
        note: `schedules of 2000 steps, ${med('schedules')} counted per run (median of ${xs.length})`,
        ...(bad ? { invalid: bad } : {}),
      });
    }
  }
  const hand: { nsPerHandoff: number; cpuNsPerHandoff: number }[] = [];
  for (let r = 0; r < plan.rounds; r++) {
    const cfg = benchConfig(2, { sched: { kind: 'random', depth: 3, steps: 1e8 } });
    const job = { kind: 'handoff' as const, rounds: plan.handoffRounds, warmup: WARMUP.handoffs };
    const { results } = await runWorkers(cfg, [job, job], { barrier: true, timeoutMs: 120_000 });
    const r0 = results[0] as { nsPerHandoff: number; cpuNsPerHandoff: number };
    hand.push(r0);
  }
  ctx.rows.push({
    name: 'controlled scheduler: token hand-off between two threads, wall / on the CPU',
    js: `${fmt.ns(median(hand.map((h) => h.nsPerHandoff)))} / ${fmt.ns(median(hand.map((h) => h.cpuNsPerHandoff)))}`,
    c: '',
    ratio: '',
    note: `half a round trip, ${plan.handoffRounds} round trips after ${WARMUP.handoffs}; a spin if a core is free, else a futex wake`,
  });
  return { schedules: out, handoff: hand, warmupMs: WARMUP.schedMs, ms: plan.schedMs };
}

async function main(argv: string[]): Promise<number> {
  watchLauncher(); // `npm run bench` killed: stop as on SIGTERM (node's default: exit)
  let args: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean', default: false },
        json: { type: 'string' },
        only: { type: 'string' },
        profile: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    });
  }
  try {
    args = parse();
  } catch (e) {
    console.error(`bench: ${(e as Error).message}`);
    return 2;
  }
  const o = args.values;
  if (o.help) {
    console.log(
      [
        'usage: npm run bench -- [--quick] [--json FILE] [--only SECTIONS] [--profile DIR]',
        `  --quick          fewer and shorter runs (under 3 minutes)`,
        `  --json FILE      also write the JSON report to FILE`,
        `  --only LIST      comma list of sections: ${SECTIONS.join(',')}`,
        `  --profile DIR    --cpu-prof every bench worker and machine thread into DIR`,
      ].join('\n'),
    );
    return 0;
  }
  const only = o.only ? o.only.split(',').map((s) => s.trim()) : [...SECTIONS];
  const bad = only.find((s) => !(SECTIONS as readonly string[]).includes(s));
  if (bad) {
    console.error(`bench: --only: unknown section '${bad}' (one of ${SECTIONS.join(', ')})`);
    return 2;
  }
  if (o.profile) {
    process.env.HVAEMU_WORKER_FLAGS =
      `${process.env.HVAEMU_WORKER_FLAGS ?? ''} --cpu-prof --cpu-prof-dir=${o.profile}`.trim();
  }
  const quick = o.quick;
  const plan = quick ? PLANS.quick : PLANS.full;
  const t0 = performance.now();
  const meter = loadMeter();
  const machine = machineInfo();
  log(
    `hvaemu bench${quick ? ' --quick' : ''}: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}`,
  );

  const native = buildNative(BENCH.cpuCounts);
  log(
    native.ok
      ? `native reference: ${native.ccVersion}`
      : `native reference skipped: ${native.reason}`,
  );

  const ratios: Report['ratios'] = {
    hotPathJsOverNative: null,
    rendezvousJsOverNative: null,
    lockstatOverhead: null,
    lockstatContentionOverhead: null,
    lockdepOverhead: null,
    scaling2over1: null,
    oversubscription8over4: null,
    guidedRarestOverDefault: null,
  };
  const ctx: Ctx = { plan, native, rows: [], ratios };
  const results: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  const run: Record<Section, (c: Ctx) => Promise<unknown>> = {
    hotloop: benchHotLoop,
    clocks: benchClocks,
    spin: benchSpin,
    rendezvous: benchRendezvous,
    scaling: benchScaling,
    workload: benchWorkload,
    lockstat: benchLockstat,
    lockdep: benchLockdep,
    startup: benchStartup,
    sched: benchSched,
    guided: benchGuided,
  };
  for (const s of SECTIONS) {
    if (!only.includes(s)) continue;
    const ts = performance.now();
    log(`- ${s} ...`);
    try {
      results[s] = await run[s](ctx);
    } catch (e) {
      errors[s] = (e as Error).message;
      log(`  ${s} failed: ${(e as Error).message}`);
    }
    log(`  ${s}: ${((performance.now() - ts) / 1000).toFixed(1)} s`);
  }

  // Ratios and checked rows against their physical bounds (lib/report.ts).
  const report: Report = buildReport({
    quick,
    startedAt: new Date(Date.now() - (performance.now() - t0)).toISOString(),
    durationS: (performance.now() - t0) / 1000,
    machine,
    load: meter.stop(),
    native: native.ok
      ? { ok: true, cc: native.ccVersion, flags: native.flags }
      : { ok: false, reason: native.reason },
    ratios,
    results,
    errors,
    rows: ctx.rows,
  });
  const md = markdown(report);
  mkdirSync(RESULTS_DIR, { recursive: true });
  // A partial run (--only) never replaces the full table.
  const base = join(RESULTS_DIR, o.only ? 'latest-partial' : quick ? 'latest-quick' : 'latest');
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${base}.md`, md);
  if (o.json) writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
  console.log(md);
  log(`wrote ${base}.json, ${base}.md${o.json ? `, ${o.json}` : ''}`);
  return Object.keys(errors).length ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
