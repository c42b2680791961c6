/**
 * The build of the TypeScript (src/build/bundle.mjs): keyed by the sources,
 * never stale, safe to start twice at once, and what it builds runs a
 * machine. Each test works on a copy of the checkout in a temporary folder
 * (node_modules linked package by package, so that the copy's build cache,
 * node_modules/.cache/hvaemu, is the copy's own and goes with it).
 */
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cacheRoot,
  constAliases,
  ensureBuild,
  KEY_DIRS,
  KEY_FILES,
  ROOT,
  sourceKey,
} from '../../src/build/bundle.mjs';
import { makeConfig } from '../../src/config.ts';
import { runMachine } from '../../src/machine/machine.ts';
import { machineWorkers } from '../../src/machine/thread.ts';
import { runBin } from '../helpers/cli.ts';
import { threadsBaseline, threadsSettled } from '../helpers/workers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'hvaemu-build-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of the checkout's build inputs, with its own node_modules of links. */
function copyCheckout(name: string): string {
  const root = join(tmp, name);
  for (const d of KEY_DIRS) cpSync(join(ROOT, d), join(root, d), { recursive: true });
  for (const f of KEY_FILES) cpSync(join(ROOT, f), join(root, f));
  mkdirSync(join(root, 'node_modules'));
  for (const p of readdirSync(join(ROOT, 'node_modules'))) {
    if (p.startsWith('.')) continue;
    symlinkSync(join(ROOT, 'node_modules', p), join(root, 'node_modules', p));
  }
  return root;
}

/** `node <root>/bin/hvaemu.mjs ...` with the build on and the default cache. */
const hvaemu = (root: string, args: string[]) =>
  runBin(join(root, 'bin/hvaemu.mjs'), args, 60_000, {
    ...process.env,
    HVAEMU_NO_BUILD: '',
    HVAEMU_CACHE_DIR: '',
  });

const builds = (root: string) => readdirSync(cacheRoot(root)).sort();

describe('the source key', () => {
  it('follows the contents of the sources, not their timestamps', () => {
    const root = copyCheckout('key');
    const k0 = sourceKey(root);
    expect(sourceKey(root)).toBe(k0);
    const file = join(root, 'src/kernel/page_alloc.ts');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, `${text}// changed\n`);
    const k1 = sourceKey(root);
    expect(k1).not.toBe(k0);
    writeFileSync(file, text); // back as it was: the key it had
    expect(sourceKey(root)).toBe(k0);
    writeFileSync(join(root, 'src/kernel/new.ts'), 'export const x = 1;\n');
    expect(sourceKey(root)).not.toBe(k0);
    rmSync(join(root, 'src/kernel/new.ts'));
    writeFileSync(join(root, 'package-lock.json'), '{}\n');
    expect(sourceKey(root)).not.toBe(k0);
  });
});

describe('constAliases: the top-level aliases esbuild turned into var', () => {
  it('gives back const to a name bound to another and never assigned again', () => {
    // [line of a bundle, what constAliases makes of it]; keep(x): x stays as it is
    const keep = (x: string): [string, string] => [x, x];
    const lines: [string, string][] = [
      keep('var K = { a: 1 };'),
      ['var K2 = K;', 'const K2 = K;'],
      keep('var cur = K;'), // assigned below
      keep('function f() { cur = 3; }'),
      keep('var n$ = K;'), // incremented below
      keep('function g() { n$++; }'),
      keep('var w = K;'), // compound assignment below
      keep('function h() { w += 1; }'),
      ['var y = K;', 'const y = K;'], // a comparison and a property store are no assignment
      keep('function i() { if (y == 1) o.y = 2; }'),
      keep('  var inner = K;'), // not top level
      keep('var lit = 0;'), // not an alias
    ];
    const code = lines.map(([line]) => line).join('\n');
    expect(constAliases(code).split('\n')).toEqual(lines.map(([, out]) => out));
  });
});

describe('hvaemu run from the build', () => {
  it('builds on first use, reuses the build, and rebuilds (never the stale build) when a source changes', async () => {
    const root = copyCheckout('stale');
    const args = ['run', '--cpus', '2', '--duration', '300ms', '--quiet'];
    const first = await hvaemu(root, args);
    expect(first.code, first.out + first.err).toBe(0);
    expect(first.out).toMatch(/^SUCCESS/);
    const k0 = sourceKey(root);
    expect(builds(root)).toEqual([k0]);
    const stamp = readFileSync(join(cacheRoot(root), k0, 'build.json'), 'utf8');
    // the hot modules' aliases of K are consts again in the chunks (constAliases)
    const chunks = readdirSync(join(cacheRoot(root), k0)).filter((f) => f.endsWith('.mjs'));
    const code = chunks.map((f) => readFileSync(join(cacheRoot(root), k0, f), 'utf8')).join('\n');
    expect(code).toMatch(/^const K\d+ = K;$/m);
    expect(code).not.toMatch(/^var K\d+ = K;$/m);

    const again = await hvaemu(root, args);
    expect(again.code, again.out + again.err).toBe(0);
    expect(builds(root)).toEqual([k0]);
    expect(readFileSync(join(cacheRoot(root), k0, 'build.json'), 'utf8')).toBe(stamp);

    // Change the CPU thread's code: the run must run the change.
    const cpu = join(root, 'workers/cpu.ts');
    writeFileSync(
      cpu,
      readFileSync(cpu, 'utf8').replace(
        /export default .*$/ms,
        "export default (_task: Omit<ThreadTask, 'role'>) => {\n  throw new Error('stale-build probe');\n};\n",
      ),
    );
    const k1 = sourceKey(root);
    expect(k1).not.toBe(k0);
    const json = join(root, 'r.json');
    const changed = await hvaemu(root, [...args, '--json', json]);
    expect(changed.code, changed.out + changed.err).toBe(4);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.verdict).toBe('ERROR');
    expect(report.error.message).toContain('stale-build probe');
    expect(builds(root)).toEqual([k0, k1].sort());
  });

  it('two first runs at once build into their own folders; one build lands, whole', async () => {
    const root = copyCheckout('race');
    const [a, b] = await Promise.all([ensureBuild({ root }), ensureBuild({ root })]);
    expect(a.dir).toBe(b.dir);
    expect([a.built, b.built]).toEqual([true, true]);
    expect(builds(root)).toEqual([a.key]); // no temporary folder left behind
    expect(readdirSync(a.dir)).toEqual(
      expect.arrayContaining(['build.json', 'cli.mjs', 'cpu.mjs', 'host.mjs']),
    );
    const run = await hvaemu(root, ['run', '--cpus', '2', '--duration', '200ms', '--quiet']);
    expect(run.code, run.out + run.err).toBe(0);
    expect(builds(root)).toEqual([a.key]);
  });
});

describe('runMachine from the sources', () => {
  it('runs its threads from the build of the sources as they are', async () => {
    const baseline = await threadsBaseline();
    const w = await machineWorkers();
    const { dir } = await ensureBuild();
    expect(w).toEqual({ cpu: join(dir, 'cpu.mjs'), host: join(dir, 'host.mjs') });
    const r = await runMachine(makeConfig({ cpus: 2, durationMs: 300, seed: 7 }));
    expect(r.verdict, JSON.stringify(r.error ?? r.stall ?? r.violations[0])).toBe('SUCCESS');
    expect(r.totals.ops).toBeGreaterThan(0);
    expect(r.cpusReleasedAt).not.toBeNull();
    expect(await threadsSettled(baseline)).toBeLessThanOrEqual(baseline);
  });
});
