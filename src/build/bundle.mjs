/**
 * The build of hvaemu's TypeScript. esbuild bundles the CLI (src/cli/main.ts)
 * and the two machine-thread entries (workers/cpu.ts, workers/host.ts) as ES
 * modules into node_modules/.cache/hvaemu/<key>/, where <key> hashes every
 * input of the build: the files under src/ and workers/, bin/hvaemu.mjs,
 * package.json, package-lock.json, tsconfig.json and esbuild's version. A
 * changed input is a new key, hence a new build: a stale build never runs.
 *
 * Plain JavaScript on purpose: bin/hvaemu.mjs imports it before anything is
 * built, without tsx.
 *
 * Bundled, a module's imported bindings stay plain variables (as under tsx's
 * ESM loader), and `import.meta.url` keeps meaning the module's source file
 * (the `sourceUrls` plugin below), so paths found relative to a source file
 * are the same whether it runs built or from source. The one place that needs
 * the bundle's own location, src/machine/thread.ts, reads HVAEMU_BUNDLE_URL.
 *
 * Concurrent first runs: each builds into its own temporary folder and
 * renames it into place; the first rename wins, the others drop theirs.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The checkout (or installed package) hvaemu runs from. */
export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** The entry points, by output name (<name>.mjs in the build folder). */
export const ENTRIES = {
  cli: 'src/cli/main.ts',
  cpu: 'workers/cpu.ts',
  host: 'workers/host.ts',
};

/** Folders and files whose contents make the key (paths from ROOT). */
export const KEY_DIRS = ['src', 'workers'];
export const KEY_FILES = ['bin/hvaemu.mjs', 'package.json', 'package-lock.json', 'tsconfig.json'];

/** Stamp written last into a finished build. */
const STAMP = 'build.json';
/** Builds kept at least: older ones go once they are a day old. */
const KEEP_BUILDS = 8;
const PRUNE_AGE_MS = 24 * 3600_000;

const require = createRequire(import.meta.url);

/** Where builds go: HVAEMU_CACHE_DIR, else node_modules/.cache/hvaemu of the checkout. */
export function cacheRoot(root = ROOT) {
  return process.env.HVAEMU_CACHE_DIR || join(root, 'node_modules', '.cache', 'hvaemu');
}

function walk(dir, out) {
  let names;
  try {
    names = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if (e.code === 'ENOENT') return;
    throw e;
  }
  for (const d of names) {
    const p = join(dir, d.name);
    if (d.isDirectory()) walk(p, out);
    else if (d.isFile()) out.push(p);
  }
}

function esbuildVersion() {
  try {
    return JSON.parse(readFileSync(require.resolve('esbuild/package.json'), 'utf8')).version;
  } catch {
    return 'none';
  }
}

/**
 * The key of the sources as they are now: sha256 over each input's path and
 * contents (in a fixed order), and esbuild's version. A few milliseconds.
 */
export function sourceKey(root = ROOT) {
  root = resolve(root);
  const files = [];
  for (const d of KEY_DIRS) walk(join(root, d), files);
  const rel = files.map((f) => relative(root, f).split('\\').join('/'));
  rel.push(...KEY_FILES);
  rel.sort();
  const h = createHash('sha256');
  // The root too: a bundle holds its sources' paths (import.meta.url).
  h.update(`esbuild ${esbuildVersion()}\0${root}\0`);
  for (const r of rel) {
    let body;
    try {
      body = readFileSync(join(root, r));
    } catch (e) {
      if (e.code !== 'ENOENT') throw e;
      body = null;
    }
    h.update(`${r}\0${body === null ? -1 : body.length}\0`);
    if (body) h.update(body);
  }
  return h.digest('hex').slice(0, 20);
}

/** The files of the build with this key. */
export function buildFiles(dir) {
  return {
    dir,
    cli: join(dir, 'cli.mjs'),
    cpu: join(dir, 'cpu.mjs'),
    host: join(dir, 'host.mjs'),
  };
}

/**
 * esbuild plugin: every `import.meta.url` in a source file becomes that
 * file's own URL, as when it runs unbundled.
 */
function sourceUrls(root) {
  const top = join(root, '/');
  return {
    name: 'hvaemu-source-urls',
    setup(b) {
      b.onLoad({ filter: /\.m?[jt]s$/ }, (args) => {
        if (!args.path.startsWith(top) || args.path.includes('node_modules')) return undefined;
        const text = readFileSync(args.path, 'utf8');
        return {
          contents: text.replaceAll(
            'import.meta.url',
            JSON.stringify(pathToFileURL(args.path).href),
          ),
          loader: args.path.endsWith('ts') ? 'ts' : 'js',
        };
      });
    },
  };
}

async function bundle(root, outdir) {
  const esbuild = require('esbuild');
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: Object.entries(ENTRIES).map(([out, inp]) => ({ in: inp, out })),
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    // Chunks shared by the CLI and the threads; a dynamic import() stays
    // one (the CLI loads the report code, and vega, only when it needs them).
    splitting: true,
    chunkNames: 'chunk-[hash]',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'silent',
    define: { HVAEMU_BUNDLE_URL: 'import.meta.url' },
    plugins: [sourceUrls(root)],
  });
  for (const f of readdirSync(outdir)) {
    if (f.endsWith('.mjs')) {
      const file = join(outdir, f);
      writeFileSync(file, constAliases(readFileSync(file, 'utf8')));
    }
  }
}

/**
 * The hot modules bind what they import to module-local consts
 * (`const K = THIS_CPU`, `const CNT = CNT_`: src/kernel/k.ts), which V8's
 * optimizing compiler folds to the object itself. Bundling, esbuild writes
 * every top-level const as `var` (deliberately, and with no option to keep
 * it), and V8 then loads a `var` at every use like any mutable binding. So a
 * top-level `var A = B;` (one name bound to another) that nothing in the
 * chunk assigns again goes back to `const`: as the source wrote it, or as
 * a `let` never reassigned would be. Only the keyword changes: the source
 * map's lines stay right.
 */
export function constAliases(code) {
  return code.replace(/^var ([\w$]+) = ([A-Za-z_$][\w$]*);$/gm, (line, name, value) => {
    const id = name.replace(/\$/g, '\\$');
    const assigned = new RegExp(
      `(?<![\\w$.])(?:${id}\\s*(?:[-+*/%&|^]|\\*\\*|<<|>>>?|&&|\\|\\||\\?\\?)?=(?!=)|${id}\\s*(?:\\+\\+|--)|(?:\\+\\+|--)\\s*${id}(?![\\w$]))`,
      'g',
    );
    const n = code.match(assigned)?.length ?? 0;
    return n === 1 ? `const ${name} = ${value};` : line; // the declaration's own '=' is the one
  });
}

/**
 * The build of the sources as they are now: built first if no finished build
 * has their key. `onBuild` is called before building (a status line).
 * Throws esbuild's error for a source that does not compile, and the file
 * system's if the cache cannot be written.
 */
export async function ensureBuild({ root = ROOT, onBuild } = {}) {
  root = resolve(root);
  const base = cacheRoot(root);
  for (let attempt = 0; ; attempt++) {
    const key = sourceKey(root);
    const dir = join(base, key);
    if (existsSync(join(dir, STAMP))) return { key, built: false, ...buildFiles(dir) };
    onBuild?.();
    mkdirSync(base, { recursive: true });
    const tmp = join(base, `.tmp-${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
    const t0 = performance.now();
    mkdirSync(tmp); // here, not by esbuild: an unwritable cache is an EACCES, not a build error
    try {
      await bundle(root, tmp);
      // A source edited while esbuild read it: this build may mix versions.
      if (sourceKey(root) !== key) {
        if (attempt < 3) continue;
        throw new Error('hvaemu build: the sources keep changing while being built');
      }
      writeFileSync(
        join(tmp, STAMP),
        `${JSON.stringify({ key, esbuild: esbuildVersion(), ms: Math.round(performance.now() - t0), at: new Date().toISOString() })}\n`,
      );
      try {
        renameSync(tmp, dir);
      } catch (e) {
        // Another process finished the same build first: use theirs.
        if (!existsSync(join(dir, STAMP))) throw e;
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    prune(base, key);
    return { key, built: true, ...buildFiles(dir) };
  }
}

/**
 * Drop old builds: all but the KEEP_BUILDS newest, once a day old (a long
 * sweep may still be starting threads from one), and leftover temporary
 * folders of a build that died.
 */
function prune(base, keep) {
  try {
    const now = Date.now();
    const dirs = readdirSync(base)
      .filter((n) => n !== keep)
      .map((n) => ({ n, t: statSync(join(base, n)).mtimeMs }))
      .sort((a, b) => b.t - a.t);
    dirs.forEach(({ n, t }, i) => {
      const old = now - t > PRUNE_AGE_MS;
      if ((n.startsWith('.tmp-') && old) || (!n.startsWith('.') && i >= KEEP_BUILDS && old)) {
        rmSync(join(base, n), { recursive: true, force: true });
      }
    });
  } catch {
    // pruning is housekeeping: never fail a run for it
  }
}

/** An error that means "this cache cannot be written here" (then run from source). */
export function isUnwritable(e) {
  return ['EACCES', 'EPERM', 'EROFS'].includes(e?.code);
}
