/**
 * struct pagevec: a small per-CPU vector of pages (here only the series'
 * page_hva_discard_pvecs). Word 0 is `nr`, then PAGEVEC_SIZE pfns.
 * Caller has preemption disabled (get_cpu_var) and owns the vector.
 */
import { ghost_list_del, ghost_pvec_store, oracle_pvec_overflow } from '../check/oracle.ts';
import { K, P } from './context.ts';
import { point } from './smp.ts';

export function pagevec_count(pvec: number): number {
  return K.i32[pvec]!;
}
export function pagevec_page(pvec: number, i: number): number {
  return K.i32[pvec + 1 + i]!;
}
/**
 * Add a page; returns the space left (0: the vector is now full). Two steps:
 * read nr, then store the page and nr + 1. Only preemption being off keeps
 * another task from adding between them (mutant pagevec-without-preempt-off).
 */
export function pagevec_add(pvec: number, pfn: number): number {
  const i32 = K.i32;
  const nr = i32[pvec]!;
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
