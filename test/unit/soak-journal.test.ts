import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openJournal, readJsonl, writeDocument } from '../../src/soak/journal.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hvaemu-journal-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('journal', () => {
  it('appends one whole JSON line per record, readable while still open', () => {
    const j = openJournal(join(dir, 'a.jsonl'));
    j.append({ seq: 0, text: 'line\nwith a newline and "quotes"' });
    j.append({ seq: 1 });
    // nothing buffered in the process: the file holds both lines already
    const text = readFileSync(join(dir, 'a.jsonl'), 'utf8');
    expect(text.split('\n')).toHaveLength(3);
    expect(text.endsWith('\n')).toBe(true);
    expect(readJsonl(join(dir, 'a.jsonl'))).toEqual([
      { seq: 0, text: 'line\nwith a newline and "quotes"' },
      { seq: 1 },
    ]);
    expect(j.lines).toBe(2);
    j.close();
    expect(() => j.append({})).toThrow(/closed/);
  });

  it('appends to an existing file rather than truncating it', () => {
    const p = join(dir, 'b.jsonl');
    appendFileSync(p, '{"old":true}\n');
    const j = openJournal(p);
    j.append({ new: true });
    j.close();
    expect(readJsonl(p)).toEqual([{ old: true }, { new: true }]);
  });

  it('readJsonl leaves out a torn last line but not a torn line in the middle', () => {
    const p = join(dir, 'c.jsonl');
    appendFileSync(p, '{"a":1}\n{"b":2}\n{"c":');
    expect(readJsonl(p)).toEqual([{ a: 1 }, { b: 2 }]);
    const q = join(dir, 'd.jsonl');
    appendFileSync(q, '{"a":1}\n{"b":\n{"c":3}\n');
    expect(() => readJsonl(q)).toThrow();
    expect(readJsonl(join(dir, 'missing.jsonl'))).toEqual([]);
  });

  it('writeDocument replaces a document whole and leaves no temporary file', () => {
    const p = join(dir, 'doc.json');
    writeDocument(p, 'first');
    writeDocument(p, 'second');
    expect(readFileSync(p, 'utf8')).toBe('second');
    expect(readdirSync(dir)).toEqual(['doc.json']);
  });
});
