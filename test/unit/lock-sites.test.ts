/**
 * lock_stat's call sites are LockSites the callers pass (src/stats/lock_sites.ts):
 * a site shared by two calls would put one call's contentions under the
 * other's label (the label is the stack of the site's first use). So, in
 * every module of src/: each site it declares is used by exactly one call,
 * inside the function it is named after (`fn`, or `fn_2`... for a second
 * call in fn), and every call it makes passes one of its own sites.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../../src/', import.meta.url).pathname;
const LOCK_CALL =
  /(?<![\w.])(spin_lock|spin_lock_irq|spin_lock_irqsave|spin_lock_bh|spin_trylock|lock_page|trylock_page)\(/g;
/** Where the site goes: the third argument of the spinlocks, the second of the page lock. */
const SITE_ARG: Record<string, number> = { lock_page: 1, trylock_page: 1 };

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/** The top-level arguments of the call whose '(' ends at `open`. */
function args(src: string, open: number): string[] {
  const out: string[] = [];
  let depth = 1;
  let cur = '';
  for (let i = open; depth > 0; i++) {
    const c = src[i]!;
    if ('([{'.includes(c)) depth++;
    if (')]}'.includes(c)) depth--;
    if ((c === ',' && depth === 1) || depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  return out.filter((a) => a !== '');
}

/** The innermost named function whose declaration comes before `at` (the kernel's code has no nested ones there). */
function enclosing(src: string, at: number): string {
  const fns = [...src.slice(0, at).matchAll(/^\s*(?:export )?function\s+(\w+)/gm)];
  return fns.at(-1)?.[1] ?? '<module>';
}

type Use = { file: string; fn: string; name: string };

function scan() {
  const declared = new Map<string, string[]>();
  const uses: Use[] = [];
  const siteless: string[] = [];
  for (const file of sources(SRC)) {
    const src = readFileSync(file, 'utf8');
    const rel = file.slice(SRC.length);
    const decl = /const at = lock_sites\(([^)]*)\)/.exec(src);
    if (decl)
      declared.set(
        rel,
        [...decl[1]!.matchAll(/'(\w+)'/g)].map((m) => m[1]!),
      );
    for (const m of src.matchAll(LOCK_CALL)) {
      const lineStart = src.lastIndexOf('\n', m.index) + 1;
      const before = src.slice(lineStart, m.index);
      if (/^\s*(\*|\/\/)/.test(before) || before.includes('//') || /function\s+$/.test(before)) {
        continue; // a comment, or the primitive's own declaration
      }
      const site = args(src, m.index + m[0].length)[SITE_ARG[m[1]!] ?? 2];
      const own = /^at\.(\w+)$/.exec(site ?? '');
      if (own) uses.push({ file: rel, fn: enclosing(src, m.index), name: own[1]! });
      else if (!(rel === 'kernel/spinlock.ts' || rel === 'kernel/filemap.ts') || site !== 'site') {
        siteless.push(`${rel}: ${m[1]}(${args(src, m.index + m[0].length).join(', ')})`);
      }
    }
  }
  return { declared, uses, siteless };
}

describe('lock_stat call sites (LockSite) in src/', () => {
  const { declared, uses, siteless } = scan();

  it('finds the lock calls of the kernel', () => {
    // a scan that finds nothing would pass every check below
    expect(uses.length).toBeGreaterThan(40);
    expect(declared.has('kernel/memory.ts')).toBe(true);
  });

  it('every lock call passes a site of its own module (the primitives pass theirs on)', () => {
    expect(siteless).toEqual([]);
  });

  it('each declared site is used exactly once, in the function it is named after', () => {
    const problems: string[] = [];
    for (const [file, names] of declared) {
      for (const name of names) {
        const n = uses.filter((u) => u.file === file && u.name === name).length;
        if (n !== 1) problems.push(`${file}: at.${name} used ${n} times`);
      }
    }
    for (const u of uses) {
      if (!declared.get(u.file)?.includes(u.name)) {
        problems.push(`${u.file}: at.${u.name} not declared`);
      }
      if (u.name !== u.fn && !new RegExp(`^${u.fn}_\\d+$`).test(u.name)) {
        problems.push(`${u.file}: at.${u.name} used in ${u.fn}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
