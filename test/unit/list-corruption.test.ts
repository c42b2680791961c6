/**
 * An oracle that survives corruption: lists and pagevecs corrupted on
 * purpose (a lost link, a node on two lists, a cycle, a pfn out of bounds in
 * a pagevec, a count out of bounds) make the operation that meets them stop
 * with a `list-corruption` violation that names the list, set the stop word,
 * and write nothing outside the report's own regions: not zone->lock (the
 * word after the host-state array), not the links, not the ghost state.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { listName } from '../../src/check/decode.ts';
import { MAX_VIOLATIONS, RING_EVENTS } from '../../src/config.ts';
import { K } from '../../src/kernel/context.ts';
import { HS, page_hva_set_unused } from '../../src/kernel/essa.ts';
import {
  ListCorruption,
  list_add_tail,
  list_corruption_unwind,
  list_del,
  list_first,
  list_last,
  list_next,
  list_splice_init,
} from '../../src/kernel/list.ts';
import { alloc_page, put_page } from '../../src/kernel/page_alloc.ts';
import { PG_discarded, SetPageFlag } from '../../src/kernel/page-flags.ts';
import { pagevec_count, pagevec_page } from '../../src/kernel/pagevec.ts';
import { shrink_discards } from '../../src/kernel/vmscan.ts';
import {
  CTRL,
  DISCARD,
  HEAD,
  headNode,
  LOCK_SLOT,
  PERCPU,
  PERCPU_HEADS,
  percpuHeadNode,
  ZONE,
} from '../../src/shm/layout.ts';
import {
  boot,
  discardList,
  discardLockHeld,
  type Machine,
  percpuWord,
  violations,
} from '../helpers/machine.ts';

let m: Machine;
/** page_hva_discard_list's head node, the zone free list's, CPU 0's splice list's. */
let D: number;
let F: number;
let S: number;
const next = (n: number) => K.i32[K.L.lru_next + n]!;
const prev = (n: number) => K.i32[K.L.lru_prev + n]!;
const setNext = (n: number, v: number) => {
  K.i32[K.L.lru_next + n] = v;
};
const setPrev = (n: number, v: number) => {
  K.i32[K.L.lru_prev + n] = v;
};

/** Take `n` pages off the zone free list and queue them on page_hva_discard_list. */
function parkOnDiscardList(n: number): number[] {
  const pfns: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = list_first(F);
    list_del(p);
    list_add_tail(p, D);
    pfns.push(p);
  }
  return pfns;
}

/**
 * i32 ranges a report may write: the control line, the flight recorders,
 * the violation slots, and the counter blocks at the end of the buffer.
 */
function reportRanges(): [number, number, string][] {
  const L = K.L;
  return [
    [L.ctrl, L.ctrl + CTRL.nr_words, 'ctrl'],
    [L.ring, L.ring + L.ring_stride * L.nr_recorders, 'ring'],
    [2 * L.ring_time, 2 * (L.ring_time + RING_EVENTS * L.nr_recorders), 'ring_time'],
    [L.viol, L.viol + L.viol_stride * MAX_VIOLATIONS, 'viol'],
    [2 * L.viol_time, 2 * (L.viol_time + L.viol_time_stride * MAX_VIOLATIONS), 'viol_time'],
    [2 * L.stats, L.bytes / 4, 'stats, lockstat, latency'],
  ];
}

/** Words that changed since `before` outside the report's ranges and `also` (index: old -> new). */
function writtenOutsideReport(before: Int32Array, also: [number, number, string][] = []): string[] {
  const ranges = [...reportRanges(), ...also];
  const out: string[] = [];
  for (let i = 0; i < before.length; i++) {
    if (before[i] === K.i32[i]) continue;
    if (ranges.some(([a, b]) => i >= a && i < b)) continue;
    out.push(`${i}: ${before[i]} -> ${K.i32[i]}`);
  }
  return out;
}

/**
 * Run `op`, which must meet the corruption: it throws ListCorruption and
 * writes nothing else (but the ranges in `also`: a lock the path took).
 */
function expectCaught(op: () => unknown, also: [number, number, string][] = []): void {
  const before = K.i32.slice();
  expect(op).toThrow(ListCorruption);
  expect(writtenOutsideReport(before, also)).toEqual([]);
  expect(K.i32[K.L.ctrl + CTRL.stop]).toBe(1);
}

/** The one violation: list-corruption, with the list it names and the check that failed. */
function theReport() {
  const v = violations(m);
  expect(v.map((x) => x.kind)).toEqual(['list-corruption']);
  return v[0]!;
}

beforeEach(() => {
  m = boot({ cpus: 1, pages: 256 });
  D = headNode(m.L, HEAD.discard);
  F = headNode(m.L, HEAD.free);
  S = percpuHeadNode(m.L, 0, PERCPU_HEADS.splice);
});

describe('list-corruption', () => {
  it("names every list from its head node, and a CPU's pagevec", () => {
    const L = boot({ cpus: 2, pages: 256 }).L;
    const pc = (cpu: number, which: number) => listName(L, percpuHeadNode(L, cpu, which));
    expect(listName(L, headNode(L, HEAD.free))).toBe('zone free list');
    expect(listName(L, headNode(L, HEAD.lru))).toBe('LRU');
    expect(listName(L, headNode(L, HEAD.discard))).toBe('page_hva_discard_list');
    expect(pc(1, PERCPU_HEADS.hot)).toBe('cpu 1 pcp hot list');
    expect(pc(0, PERCPU_HEADS.cold)).toBe('cpu 0 pcp cold list');
    expect(pc(1, PERCPU_HEADS.isolate)).toBe('cpu 1 isolate list (shrink_caches)');
    expect(pc(1, PERCPU_HEADS.discard)).toBe('cpu 1 discard list (percpu-2006)');
    expect(listName(L, -3)).toBe('cpu 1 discard pagevec');
    for (const n of [-1, 5, headNode(L, 3), percpuHeadNode(L, 0, PERCPU_HEADS.nr)]) {
      expect(listName(L, n)).toBe('an unknown list (no head reachable)');
    }
  });

  it('a lost link: list_del of the page the forward chain skips', () => {
    const [p0, p1, p2] = parkOnDiscardList(3) as [number, number, number];
    setNext(p0, p2); // p1 lost going forward; p1 and p2 still point back as before
    expectCaught(() => list_del(p1));
    const v = theReport();
    expect(v.list).toEqual({
      name: 'page_hva_discard_list',
      where: D,
      check: 'del-prev',
      what: `list_del: pfn ${p1}: its prev (node ${p0}) does not point on to it`,
    });
    expect(v.pfn).toBe(p1);
    expect(v.generationAtFault).toBe(-1);
    // the other pages are untouched and still deletable: the checks pass where the links agree
    expect([next(p1), prev(p1)]).toEqual([p2, p0]);
  });

  it('a node on two lists: the discard list meets a page the LRU took over', () => {
    const [p0, p1] = parkOnDiscardList(3) as [number, number, number];
    // p1 linked into the (empty) LRU as well, by plain stores, as a bug would
    const lru = headNode(m.L, HEAD.lru);
    setNext(lru, p1);
    setPrev(lru, p1);
    setNext(p1, lru);
    setPrev(p1, lru);
    expectCaught(() => list_del(p0));
    const v = theReport();
    expect(v.list?.name).toBe('page_hva_discard_list'); // found by walking back from p0
    expect(v.list?.check).toBe('del-next');
    expect(v.pfn).toBe(p0);
  });

  it('a cycle: a walk stops at the first node that does not point back, a splice at the tail', () => {
    const [p0, , p2] = parkOnDiscardList(3) as [number, number, number];
    setNext(p2, p0); // the tail leads back to the first page, not to the head
    let steps = 0;
    expectCaught(() => {
      for (let p = list_first(D); p !== D; p = list_next(p)) steps++;
    });
    expect(steps).toBe(3);
    expect(theReport().list).toMatchObject({ name: 'page_hva_discard_list', check: 'next-back' });

    m = boot({ cpus: 1, pages: 256 });
    const [q0, , q2] = parkOnDiscardList(3) as [number, number, number];
    setNext(q2, q0);
    expectCaught(() => list_splice_init(D, S));
    expect(theReport().list).toMatchObject({
      name: 'page_hva_discard_list',
      check: 'splice-last',
      what: `list_splice_init: the last node (${q2}) does not point on to the list`,
    });
    expect(list_last(S)).toBe(S); // the splice list was not touched
  });

  it("a list head where a page is expected (the issue's pfn 16386): list_first and list_last refuse it", () => {
    parkOnDiscardList(2);
    setPrev(D, F); // the discard list's tail link now names the free list's head
    expectCaught(() => list_last(D));
    expect(theReport().list).toMatchObject({
      name: 'page_hva_discard_list',
      check: 'first-not-page',
      what: `list_first/list_last: the head leads to node ${F}, the zone free list head, not a page`,
    });
    m = boot({ cpus: 1, pages: 256 });
    setNext(D, headNode(m.L, HEAD.lru)); // empty list whose next is another head
    expectCaught(() => list_first(D));
    expect(theReport().list).toMatchObject({
      name: 'page_hva_discard_list',
      check: 'first-not-page',
    });
    // empty one way only: list_last must not hand out the head (a caller
    // that is not list_empty's would flag it as a page before its list_del)
    m = boot({ cpus: 1, pages: 256 });
    parkOnDiscardList(2);
    setPrev(D, D);
    expectCaught(() => list_last(D));
    expect(theReport().list).toMatchObject({ check: 'first-not-page' });
  });

  it('shrink_discards on a discard list whose tail names another head: stopped at the splice', () => {
    parkOnDiscardList(3);
    K.i32[K.L.discard + DISCARD.nr_pages] = 3;
    setPrev(D, F);
    const freeBefore = [next(F), prev(F)];
    // shrink_discards took page_hva_discard_list_lock (its words, this CPU's held-locks mask)
    const lock = K.L.discard + DISCARD.lock;
    const mask = K.percpu + PERCPU.locks_held;
    expectCaught(
      () => shrink_discards(),
      [
        [lock, lock + LOCK_SLOT.words, 'page_hva_discard_list_lock'],
        [mask, mask + 1, 'locks_held'],
      ],
    );
    expect(theReport().list).toMatchObject({ name: 'page_hva_discard_list', check: 'splice-last' });
    expect([next(F), prev(F)]).toEqual(freeBefore);
    // it stopped holding page_hva_discard_list_lock; unwinding lets it go
    expect(discardLockHeld()).toBe(true);
    list_corruption_unwind();
    expect(discardLockHeld()).toBe(false);
  });

  it('a pfn out of bounds in a pagevec: the flush stops before any list or host-state write', () => {
    const L = K.L;
    const pvec = K.pvec;
    // the vector holds size-1 pages, and its first slot was overwritten with
    // a list head's index (head_base + 2: for 16384 pages, the 16386 of the report)
    const bad = D;
    K.i32[pvec] = L.pagevec_size - 1;
    for (let i = 0; i < L.pagevec_size - 1; i++) K.i32[pvec + 1 + i] = 100 + i;
    K.i32[pvec + 1] = bad;
    // the page whose park fills the vector: discarded by the host, last reference dropped
    const pfn = alloc_page();
    SetPageFlag(pfn, PG_discarded);
    Atomics.store(K.i32, L.host_state + pfn, HS.Vz);
    const zoneLock = K.i32.slice(L.zone, L.zone + 3);
    const afterHostState = K.i32[L.host_state + L.nr_pages];
    expect(() => put_page(pfn)).toThrow(ListCorruption);
    const v = theReport();
    expect(v.list).toEqual({
      name: 'cpu 0 discard pagevec',
      where: -2,
      check: 'pvec-pfn',
      what: `pagevec slot 0 holds ${bad}, the page_hva_discard_list head, not a pfn`,
    });
    expect(K.i32.slice(L.zone, L.zone + 3)).toEqual(zoneLock);
    expect(K.i32[L.host_state + L.nr_pages]).toBe(afterHostState);
    expect([next(D), prev(D)]).toEqual([D, D]);
    expect(discardList()).toEqual([]);
    // the story tells the park that filled the vector
    expect(v.story.some((l) => l.includes(`parked pfn ${pfn} on the discard pagevec`))).toBe(true);
    expect(v.story.at(-1)).toContain('VIOLATION list-corruption');
    // unwinding: lock released, interrupts on, preemption count back to 0
    list_corruption_unwind();
    expect(discardLockHeld()).toBe(false);
    expect(percpuWord(0, 'preempt_count')).toBe(0);
    expect(percpuWord(0, 'irqs_enabled')).toBe(1);
  });

  it('a pagevec count out of bounds is refused before the slots are read', () => {
    K.i32[K.pvec] = K.L.pagevec_size + 5;
    expectCaught(() => pagevec_count(K.pvec));
    expect(theReport().list).toMatchObject({ name: 'cpu 0 discard pagevec', check: 'pvec-count' });
    m = boot({ cpus: 1, pages: 256 });
    K.i32[K.pvec] = 1;
    K.i32[K.pvec + 1] = -3;
    expectCaught(() => pagevec_page(K.pvec, 0));
    expect(theReport().list?.check).toBe('pvec-pfn');
  });

  it('a host-state write past the array is refused: zone->lock stays as it was', () => {
    const L = K.L;
    expect(L.host_state + L.nr_pages).toBe(L.zone + ZONE.lock); // what the write hit
    expectCaught(() => page_hva_set_unused(L.nr_pages));
    expect(theReport().list).toEqual({
      name: 'the host-state array',
      where: -1,
      check: 'host-pfn',
      what: `ESSA on ${L.nr_pages}, the zone free list head: not a pfn (the host-state write was refused)`,
    });
  });

  it('only the first find is reported; the CPUs that meet the list after it stop too', () => {
    const [p0, p1] = parkOnDiscardList(3) as [number, number, number];
    setNext(p0, D);
    expectCaught(() => list_del(p1));
    expectCaught(() => list_del(p1));
    expect(violations(m)).toHaveLength(1);
    expect(K.i32[K.L.ctrl + CTRL.nr_violations]).toBe(1);
  });

  it('a list_del of a deleted page (LIST_POISON1) and a list_add of a head are refused', () => {
    const [p0] = parkOnDiscardList(1) as [number];
    list_del(p0);
    expectCaught(() => list_del(p0));
    expect(theReport().list).toMatchObject({
      check: 'del-poisoned',
      name: 'an unknown list (no head reachable)',
    });
    m = boot({ cpus: 1, pages: 256 });
    expectCaught(() => list_add_tail(D, S));
    expect(theReport().list).toMatchObject({
      check: 'add-not-page',
      name: "cpu 0 splice list (shrink_discards' pages_to_free)",
    });
  });
});
