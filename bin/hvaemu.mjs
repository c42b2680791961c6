#!/usr/bin/env node
// hvaemu command line. Runs the build of the TypeScript sources: esbuild
// bundles them on first use into node_modules/.cache/hvaemu/<key>, <key> a
// hash of the sources, so a changed source is a new build (src/build/bundle.mjs).
// HVAEMU_NO_BUILD=1 runs the sources through tsx instead (slow to start:
// every thread transpiles every module).
import { pathToFileURL } from 'node:url';
import { ensureBuild, isUnwritable } from '../src/build/bundle.mjs';
import { watchLauncher } from '../src/build/launcher.mjs';

const argv = process.argv.slice(2);
const EXIT_ERROR = 4;

/** The status line while building: on a terminal only, and not for scripts. */
function statusLine() {
  const jsonOut = argv.some((a, i) => a === '--json=-' || (a === '--json' && argv[i + 1] === '-'));
  const on = process.stderr.isTTY && !argv.includes('--quiet') && !jsonOut;
  let shown = false;
  return {
    show(text) {
      if (!on) return;
      process.stderr.write(`\r\x1b[K${text}`);
      shown = true;
    },
    clear() {
      if (shown) process.stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}

async function load() {
  if (!process.env.HVAEMU_NO_BUILD) {
    const status = statusLine();
    try {
      const build = await ensureBuild({
        onBuild: () => status.show('hvaemu: building (first run of these sources)...'),
      });
      status.clear();
      return (await import(pathToFileURL(build.cli).href)).main;
    } catch (e) {
      status.clear();
      if (!isUnwritable(e)) {
        process.stderr.write(`hvaemu: build failed: ${e instanceof Error ? e.message : e}\n`);
        return null;
      }
      process.stderr.write(
        `hvaemu: cannot write the build cache (${e.code} ${e.path ?? ''}); running the sources through tsx (slow start)\n`,
      );
    }
  }
  const { register } = await import('tsx/esm/api');
  register();
  return (await import('../src/cli/main.ts')).main;
}

watchLauncher(); // npm/npx killed: stop as on SIGTERM
const main = await load();
process.exitCode = main ? await main(argv) : EXIT_ERROR;
