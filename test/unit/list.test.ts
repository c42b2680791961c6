/**
 * include/linux/list.h on index arrays (src/kernel/list.ts): exact links after
 * each operation, and the oracle's "a page is on at most one list".
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { K } from '../../src/kernel/context.ts';
import {
  INIT_LIST_HEAD,
  LIST_POISON1,
  LIST_POISON2,
  ListCorruption,
  list_add,
  list_add_tail,
  list_del,
  list_empty,
  list_first,
  list_last,
  list_splice_init,
} from '../../src/kernel/list.ts';
import { pagevec_add } from '../../src/kernel/pagevec.ts';
import { PERCPU_HEADS, percpuHeadNode } from '../../src/shm/layout.ts';
import {
  boot,
  freeList,
  listPfns,
  type Machine,
  onGhostList,
  violations,
} from '../helpers/machine.ts';

let m: Machine;
/** Two scratch lists: CPU 0's splice and isolate heads (empty at rest). */
let A: number;
let B: number;
const next = (n: number) => K.i32[K.L.lru_next + n]!;
const prev = (n: number) => K.i32[K.L.lru_prev + n]!;

/** Take pages 0..n-1 off the zone free list so that the test owns them. */
function takePages(n: number): number[] {
  const pfns = Array.from({ length: n }, (_, i) => i);
  for (const p of pfns) list_del(p);
  return pfns;
}

beforeEach(() => {
  m = boot({ cpus: 1 });
  A = percpuHeadNode(m.L, 0, PERCPU_HEADS.splice);
  B = percpuHeadNode(m.L, 0, PERCPU_HEADS.isolate);
});

describe('list.ts', () => {
  it('boot leaves every frame on the zone free list in pfn order', () => {
    expect(freeList()).toEqual(Array.from({ length: 256 }, (_, i) => i));
    expect(list_empty(A)).toBe(true);
    expect(next(A)).toBe(A);
    expect(prev(A)).toBe(A);
  });

  it('list_add adds at the head (stack order), list_add_tail at the tail (queue order)', () => {
    const [p0, p1, p2, p3] = takePages(4) as [number, number, number, number];
    list_add(p0, A);
    list_add(p1, A);
    list_add_tail(p2, A);
    list_add_tail(p3, A);
    expect(listPfns(A)).toEqual([p1, p0, p2, p3]);
    expect(list_first(A)).toBe(p1);
    expect(list_last(A)).toBe(p3);
    // every prev link is the reverse of the next links
    expect([prev(p1), prev(p0), prev(p2), prev(p3), prev(A)]).toEqual([A, p1, p0, p2, p3]);
    for (const p of [p0, p1, p2, p3]) expect(onGhostList(p)).toBe(true);
  });

  it('list_del unlinks, poisons the node and tells the oracle', () => {
    const [p0, p1, p2] = takePages(3) as [number, number, number];
    for (const p of [p0, p1, p2]) list_add_tail(p, A);
    list_del(p1);
    expect(listPfns(A)).toEqual([p0, p2]);
    expect(next(p0)).toBe(p2);
    expect(prev(p2)).toBe(p0);
    expect(next(p1)).toBe(LIST_POISON1);
    expect(prev(p1)).toBe(LIST_POISON2);
    expect(onGhostList(p1)).toBe(false);
    list_del(p0);
    list_del(p2);
    expect(list_empty(A)).toBe(true);
    expect(prev(A)).toBe(A);
  });

  it('list_splice_init moves all nodes, in order, to the front of the head and reinitialises the source', () => {
    const [p0, p1, p2, p3, p4] = takePages(5) as [number, number, number, number, number];
    list_add_tail(p0, A);
    list_add_tail(p1, A);
    list_add_tail(p2, A);
    list_add_tail(p3, B);
    list_add_tail(p4, B);
    list_splice_init(A, B);
    expect(listPfns(B)).toEqual([p0, p1, p2, p3, p4]);
    expect([prev(p0), prev(p3), prev(B)]).toEqual([B, p2, p4]);
    expect(list_empty(A)).toBe(true);
    expect(prev(A)).toBe(A);
    // splicing an empty list changes nothing
    list_splice_init(A, B);
    expect(listPfns(B)).toEqual([p0, p1, p2, p3, p4]);
    // splice onto an empty list
    list_splice_init(B, A);
    expect(listPfns(A)).toEqual([p0, p1, p2, p3, p4]);
    expect(list_empty(B)).toBe(true);
    INIT_LIST_HEAD(A); // (the pages are abandoned with the test)
    expect(violations(m)).toEqual([]);
  });

  it('a page put on a second list while linked is a list-corruption on that list; nothing moves', () => {
    const [p0, p1] = takePages(2) as [number, number];
    list_add(p0, A);
    list_add(p1, A);
    expect(violations(m)).toEqual([]);
    expect(() => list_add(p0, B)).toThrow(ListCorruption);
    const v = violations(m);
    expect(v.map((x) => [x.kind, x.pfn, x.cpu, x.list?.name, x.list?.check])).toEqual([
      ['list-corruption', p0, 0, 'cpu 0 isolate list (shrink_caches)', 'add-linked'],
    ]);
    expect(listPfns(A)).toEqual([p1, p0]);
    expect(list_empty(B)).toBe(true);
  });

  it('a page the oracle sees on a list, but with poisoned links, is reported as double-list', () => {
    const [p0] = takePages(1) as [number];
    K.i32[K.L.ghost_list + p0] = 1; // the oracle's word only: links say deleted
    list_add(p0, A);
    expect(violations(m).map((x) => [x.kind, x.pfn])).toEqual([['double-list', p0]]);
  });

  it('a page on a list put in a pagevec is reported as double-list', () => {
    // pfn 5 is still on the zone free list
    expect(onGhostList(5)).toBe(true);
    pagevec_add(K.pvec, 5);
    expect(violations(m).map((x) => [x.kind, x.pfn])).toEqual([['double-list', 5]]);
  });
});
