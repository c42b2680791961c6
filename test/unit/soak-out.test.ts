/** soak --out: a new or empty folder, an earlier soak's (with --force), never someone's own files. */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/parse.ts';
import { prepareOut } from '../../src/cli/soak.ts';

const base = mkdtempSync(join(tmpdir(), 'hvaemu-soak-out-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('not refused');
};

describe('soak --out', () => {
  it('takes a new folder and an empty one', () => {
    expect(prepareOut(join(base, 'new/deeper'), false)).toBe(join(base, 'new/deeper'));
    mkdirSync(join(base, 'empty'));
    expect(prepareOut(join(base, 'empty'), false)).toBe(join(base, 'empty'));
  });

  it('refuses a folder with other files in it unless --force, and then leaves them', () => {
    const dir = join(base, 'mine');
    mkdirSync(dir);
    writeFileSync(join(dir, 'thesis.tex'), 'x');
    const why = refusal(() => prepareOut(dir, false));
    expect(why).toMatch(
      /^--out: '.*mine' is not empty and holds no soak \(1 entry, e\.g\. thesis\.tex\)/,
    );
    expect(why).toContain('--force');
    expect(why.includes('\n')).toBe(false);
    prepareOut(dir, true);
    expect(existsSync(join(dir, 'thesis.tex'))).toBe(true);
  });

  it("refuses an earlier soak's folder unless --force, which clears that soak's files", () => {
    const dir = join(base, 'earlier');
    mkdirSync(dir);
    for (const f of ['stats.jsonl', 'summary.json', 'stall.json', 'report.html', 'notes.txt']) {
      writeFileSync(join(dir, f), 'old');
    }
    expect(refusal(() => prepareOut(dir, false))).toMatch(/already holds a soak/);
    prepareOut(dir, true);
    for (const f of ['stats.jsonl', 'summary.json', 'stall.json', 'report.html']) {
      expect(existsSync(join(dir, f)), f).toBe(false);
    }
    expect(existsSync(join(dir, 'notes.txt'))).toBe(true);
  });

  it('refuses a file', () => {
    writeFileSync(join(base, 'file'), 'x');
    expect(refusal(() => prepareOut(join(base, 'file'), false))).toMatch(/is not a directory/);
  });
});
