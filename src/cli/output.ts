/** Files the CLI writes: whole or not at all. */
import { accessSync, constants, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './parse.ts';

/** Fail early (before any thread starts) if `file` cannot be written. */
export function checkWritable(file: string, flag: string): void {
  const dir = dirname(resolve(file));
  try {
    if (!statSync(dir).isDirectory()) throw new Error();
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UsageError(`${flag}: cannot write '${file}' (no such directory, or not writable)`);
  }
}

/** Write then rename: a crash leaves the old file or the new one, never half of one. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

export function writeJson(file: string, data: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(data, null, 2)}\n`);
}
