/**
 * Files the CLI writes: whole or not at all, and a run's report never lost.
 *
 * A report path is tried at start-up by really creating a file there (then
 * removing it), so that a directory, a missing folder or an unwritable place
 * is a usage error before any thread starts. If the report still cannot be
 * written at the end (the folder went away, the disk filled), it goes to
 * hvaemu-report-<timestamp>.json in the current directory, or in the system
 * temp folder, and the user is told where.
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from './parse.ts';

/** `-` as a report path: standard output. */
export const STDOUT = '-';

/** Why a file operation failed, in a few words (from the errno code). */
export function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such directory';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'EISDIR':
      return 'is a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EEXIST':
      return 'exists and is not a directory';
    case 'ENAMETOOLONG':
      return 'file name too long';
    default:
      return code ?? (e instanceof Error ? e.message : String(e));
  }
}

const tmpName = (file: string) => `${file}.tmp-${process.pid}`;

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Fail early (before any thread starts) if `file` cannot be written: create
 * it (or, if it exists, the temporary file the write will rename over it),
 * then remove what was created. `-` (standard output) always passes.
 */
export function checkWritable(file: string, flag: string): void {
  if (file === '') {
    throw new UsageError(`${flag}: empty file name (a path, or - for standard output)`);
  }
  if (file === STDOUT) return;
  const fail = (why: string) => {
    throw new UsageError(`${flag}: cannot write '${file}': ${why}`);
  };
  let exists = false;
  try {
    const st = statSync(file);
    if (st.isDirectory()) fail('is a directory');
    exists = true;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') fail(fsReason(e));
  }
  const probe = exists ? tmpName(file) : file;
  try {
    closeSync(openSync(probe, 'wx'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // ENOENT in a folder that exists: a file system that creates no files there (/proc)
    fail(
      code === 'ENOENT' && isDir(dirname(resolve(file)))
        ? 'cannot create files there'
        : fsReason(e),
    );
  }
  try {
    unlinkSync(probe);
  } catch {
    // created but not removable: the final write renames over it
  }
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdirSync loops for ever
 * where mkdir fails with ENOENT under a folder that exists (/proc).
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  let d = resolve(dir);
  while (!isDir(d)) {
    missing.push(d);
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !isDir(m)) throw e;
    }
  }
}

/** Write then rename: a crash leaves the old file or the new one, never half of one, and no temporary. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = tmpName(file);
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // never created
    }
    throw e;
  }
}

export function jsonText(data: unknown): string {
  return `${JSON.stringify(data, null, 2)}\n`;
}

export function writeJson(file: string, data: unknown): void {
  writeFileAtomic(file, jsonText(data));
}

/** `20250102-030405` (UTC): a file-name friendly time stamp. */
export function stamp(d = new Date()): string {
  return d
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/[-:]/g, '')
    .replace('T', '-');
}

export type ReportWrite = {
  /** Where the report went (`-`: standard output), or null if nowhere. */
  path: string | null;
  /** The one-line notice for stderr when it did not go where asked; null if it did. */
  notice: string | null;
};

/**
 * Write a report that must not be lost: to `file` (`-`: standard output);
 * failing that, to hvaemu-report-<timestamp>.json in `cwd`, then in the
 * system temp folder. Never throws.
 */
export function writeReport(
  file: string,
  data: unknown,
  flag: string,
  dirs: { cwd?: string; tmp?: string } = {},
): ReportWrite {
  const text = jsonText(data);
  if (file === STDOUT) {
    process.stdout.write(text);
    return { path: STDOUT, notice: null };
  }
  let why: string;
  try {
    writeFileAtomic(file, text);
    return { path: file, notice: null };
  } catch (e) {
    why = fsReason(e);
  }
  const name = `hvaemu-report-${stamp()}.json`;
  for (const dir of [dirs.cwd ?? process.cwd(), dirs.tmp ?? tmpdir()]) {
    const alt = resolve(join(dir, name));
    try {
      writeFileAtomic(alt, text);
      return { path: alt, notice: `${flag}: could not write '${file}' (${why}); wrote ${alt}` };
    } catch {
      // next place
    }
  }
  return {
    path: null,
    notice: `${flag}: could not write '${file}' (${why}), nor ${name} in the current or the temp folder: the JSON report is lost (the text report above is complete)`,
  };
}
