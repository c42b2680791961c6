/**
 * page->flags bits (2.6.15 names, plus the series' PG_state_change,
 * PG_discarded, PG_writable). Every change is an Atomics op on page_flags[pfn]:
 * other CPUs test and set bits of the same word concurrently.
 */
import { K as THIS_CPU } from './k.ts';

/** This CPU as a module-local const, which V8 folds (k.ts). */
const K = THIS_CPU;

export const PG_locked = 1 << 0;
export const PG_lru = 1 << 1;
export const PG_dirty = 1 << 2;
export const PG_writeback = 1 << 3;
export const PG_uptodate = 1 << 4;
export const PG_private = 1 << 5;
export const PG_reserved = 1 << 6;
export const PG_state_change = 1 << 7;
export const PG_discarded = 1 << 8;
export const PG_writable = 1 << 9;

/** Flags a page must not carry when it is freed (free_pages_check). */
export const PAGE_FLAGS_CHECK_AT_FREE =
  PG_locked | PG_lru | PG_dirty | PG_writeback | PG_private | PG_reserved | PG_discarded;

/**
 * Reads of struct page words are plain loads, as the kernel's test_bit,
 * atomic_read and page->mapping are: on x86 an Atomics.load is the same mov,
 * but Node 20's V8 calls a builtin for it (~10 ns, benchmarks/README.md), and
 * the hot paths read these words a dozen times per page. Writes stay Atomics,
 * but for page->mapping.
 * A loop that waits on one of these words must make a call or a store each
 * round (point() does) so that the load is not hoisted out of it.
 */
export function page_flags(pfn: number): number {
  // K read once: 27 bytes of bytecode, which V8 inlines wherever it is
  // called (--max-inlined-bytecode-size-small), whatever the caller's budget.
  const k = K;
  return k.i32[pfn + k.L.page_flags]!;
}
export function SetPageFlag(pfn: number, bit: number): void {
  const k = K;
  Atomics.or(k.i32, pfn + k.L.page_flags, bit);
}
export function ClearPageFlag(pfn: number, bit: number): void {
  const k = K;
  Atomics.and(k.i32, pfn + k.L.page_flags, ~bit);
}
/** Returns whether the bit was set before. */
export function TestSetPageFlag(pfn: number, bit: number): boolean {
  const k = K;
  return (Atomics.or(k.i32, pfn + k.L.page_flags, bit) & bit) !== 0;
}
export function TestClearPageFlag(pfn: number, bit: number): boolean {
  const k = K;
  return (Atomics.and(k.i32, pfn + k.L.page_flags, ~bit) & bit) !== 0;
}

export const PageDiscarded = (pfn: number) => (page_flags(pfn) & PG_discarded) !== 0;
export const TestSetPageDiscarded = (pfn: number) => TestSetPageFlag(pfn, PG_discarded);
export const ClearPageDiscarded = (pfn: number) => ClearPageFlag(pfn, PG_discarded);
export const PageLRU = (pfn: number) => (page_flags(pfn) & PG_lru) !== 0;
export const PageLocked = (pfn: number) => (page_flags(pfn) & PG_locked) !== 0;
export const PageDirty = (pfn: number) => (page_flags(pfn) & PG_dirty) !== 0;

/** page->mapping: 0 NULL, file + 1 for page cache pages, -(task + 1) for anonymous pages. */
export function page_mapping(pfn: number): number {
  const k = K; // small enough to inline anywhere: see page_flags
  return k.i32[pfn + k.L.page_mapping]!;
}
/** page->mapping = mapping: a plain store, as in the kernel (no caller orders a later load after it). */
export function set_page_mapping(pfn: number, mapping: number): void {
  K.i32[K.L.page_mapping + pfn] = mapping;
}
export const PageAnon = (pfn: number) => page_mapping(pfn) < 0;
export function page_count(pfn: number): number {
  const k = K; // small enough to inline anywhere: see page_flags
  return k.i32[pfn + k.L.page_count]!;
}
export function page_mapcount(pfn: number): number {
  const k = K;
  return k.i32[pfn + k.L.page_mapcount]!;
}
