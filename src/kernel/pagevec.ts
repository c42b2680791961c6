/**
 * struct pagevec: a small per-CPU vector of pages (here only the series'
 * page_hva_discard_pvecs). Word 0 is `nr`, then PAGEVEC_SIZE pfns.
 * Caller has preemption disabled (get_cpu_var) and owns the vector.
 *
 * The count and every pfn read out of a vector are checked (0 <= nr <=
 * PAGEVEC_SIZE, 0 <= pfn < nr_pages) before anyone indexes by them: a bad
 * one is a `list-corruption` naming the CPU's pagevec (see list.ts).
 */
import {
  ghost_list_del,
  ghost_pvec_store,
  list_corruption,
  oracle_pvec_overflow,
  WHERE,
} from '../check/oracle.ts';
import { LC as LC_ } from '../check/violations.ts';
import { P as P_ } from '../points.ts';
import { K as THIS_CPU } from './k.ts';
import { point } from './smp.ts';

/**
 * This CPU and the layout's (events', checks') constants as module-local
 * consts, which V8's optimizing compiler folds; imported bindings are cells
 * it loads and tests at every use (k.ts).
 */
const K = THIS_CPU;
const LC = LC_;
const P = P_;

/** The list-corruption `where` of the vector at i32 index `pvec`: its CPU's pagevec. */
export const pvec_where = (pvec: number) =>
  WHERE.pvec - Math.floor((pvec - K.L.pvec) / K.L.pvec_stride);

export function pagevec_count(pvec: number): number {
  const nr = K.i32[pvec]!;
  if (nr >>> 0 > K.L.pagevec_size) pvec_corrupt(LC['pvec-count'], pvec, -1, nr);
  return nr;
}
/** The pfn in slot `i` (< pagevec_count): checked to be a frame. */
export function pagevec_page(pvec: number, i: number): number {
  const pfn = K.i32[pvec + 1 + i]!;
  if (pfn >>> 0 >= K.L.nr_pages) pvec_corrupt(LC['pvec-pfn'], pvec, i, pfn);
  return pfn;
}
/** A bad count or pfn in the vector at `pvec` (out of line: the checks stay small enough to inline). */
function pvec_corrupt(check: number, pvec: number, node: number, found: number): never {
  list_corruption(check, node, found, pvec_where(pvec));
}
/**
 * Add a page; returns the space left (0: the vector is now full). Two steps:
 * read nr, then store the page and nr + 1. Only preemption being off keeps
 * another task from adding between them (mutant pagevec-without-preempt-off).
 */
export function pagevec_add(pvec: number, pfn: number): number {
  const i32 = K.i32;
  const nr = i32[pvec]!;
  if (nr < 0) pvec_corrupt(LC['pvec-count'], pvec, -1, nr);
  point(P['pvec-store']);
  if (nr >= K.L.pagevec_size) {
    // Past the end: the kernel would scribble over memory; report, drop the page.
    oracle_pvec_overflow(pfn, nr);
    return 0;
  }
  ghost_pvec_store(pvec + 1 + nr, pfn);
  i32[pvec + 1 + nr] = pfn;
  i32[pvec] = nr + 1;
  return K.L.pagevec_size - (nr + 1);
}
/** Empty the vector; the pages' lru links are now owned by whoever took them. */
export function pagevec_reinit(pvec: number): void {
  K.i32[pvec] = 0;
}
/** The page leaves the vector for a list (ghost bookkeeping only). */
export function pagevec_release_ghost(pfn: number): void {
  ghost_list_del(pfn);
}
