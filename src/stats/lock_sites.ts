/*
 * Kept apart from lockstat.ts, with no imports: the kernel's modules
 * declare their sites as they load, before a module they import (lockstat
 * among them, through context.ts) may have run.
 */
/**
 * A lock call site: lock_stat's contention and contended points are
 * instruction pointers in the kernel (_RET_IP_, free to take there), and a
 * stack trace here costs microseconds (about 3 us in V8 whatever its depth:
 * at every contention, it was most of what --lockstat=contention cost). So
 * each call of a lock primitive passes its own LockSite, a number from
 * lock_sites() at module load, named after the function making the call
 * (test/unit/lock-sites.test.ts checks that no two calls share one). The
 * label a report prints, `fn (file.ts:line)`, still comes from a stack
 * trace, taken once per site and thread: at the site's first contention,
 * or (full mode) at its first acquisition, where the stack is the caller's.
 */
export type LockSite = number;
/** Every site's name, by LockSite (the same on every thread: modules load in one order). */
export const siteNames: string[] = [];

/** Sites for the lock calls of one module: `at.fn` for the call in fn (`at.fn_2` for its second). */
export function lock_sites<const N extends string>(...names: N[]): { readonly [P in N]: LockSite } {
  const out = {} as Record<N, LockSite>;
  for (const name of names) {
    out[name] = siteNames.length;
    siteNames.push(name);
  }
  return Object.freeze(out);
}
