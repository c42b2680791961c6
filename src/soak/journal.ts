/**
 * The soak's files, written so that a `kill -9` (or a power cut after the
 * last fsync) at any moment leaves each of them readable:
 *
 * - JSON Lines journals (stats.jsonl, violations.jsonl): each line is one
 *   write(2) on a file opened O_APPEND, then fdatasync. A line is in the file
 *   whole or not at all; nothing is buffered in the process.
 * - Whole documents (config.json, summary.json, report.html): written to a
 *   temporary file and renamed over the old one (cli/output.ts).
 *
 * readJsonl is the matching reader: it skips a torn last line (possible only
 * if the disk filled up mid-write) instead of failing the report.
 */
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';

export type Journal = {
  readonly path: string;
  /** Lines written by this process. */
  readonly lines: number;
  append(record: unknown): void;
  close(): void;
};

export function openJournal(path: string): Journal {
  let fd = openSync(path, 'a');
  let lines = 0;
  return {
    path,
    get lines() {
      return lines;
    },
    append(record) {
      if (fd < 0) throw new Error(`${path}: journal closed`);
      const buf = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
      // One write: O_APPEND makes it land at the end in one piece; a short
      // write (disk full) is finished by the loop rather than left torn.
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fdatasyncSync(fd);
      lines++;
    },
    close() {
      if (fd >= 0) closeSync(fd);
      fd = -1;
    },
  };
}

/** Parse a JSON Lines file; a last line that does not parse (torn) is left out. */
export function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: T[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line) as T);
    } catch (e) {
      if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l.trim() !== '')) throw e;
    }
  });
  return out;
}

/**
 * Write a whole document: to a temporary file, synced, then renamed over the
 * old one. A crash leaves the old document or the new one, never half of one
 * (cli/output.ts does the same without the sync; a soak must survive a power
 * cut as well as a kill).
 */
export function writeDocument(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function writeJson(path: string, data: unknown): void {
  writeDocument(path, `${JSON.stringify(data, null, 2)}\n`);
}
