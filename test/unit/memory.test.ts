/**
 * mm/memory.c and rmap, reduced (src/kernel/memory.ts), single thread, exact
 * states: mmap, faults, munmap, anonymous pages, truncate; references and
 * mapcounts after each step, and the audit agreeing.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { audit } from '../../src/check/audit.ts';
import { PAGES_PER_FILE } from '../../src/config.ts';
import { K, set_this_cpu } from '../../src/kernel/context.ts';
import { HS, hw_host_state } from '../../src/kernel/essa.ts';
import { file_size, pagecache_slot } from '../../src/kernel/filemap.ts';
import {
  do_mmap,
  do_munmap,
  FILE_VPAGES,
  handle_mm_fault,
  pte_idx,
  task_cpu,
  vma_file,
  vmtruncate,
  zap_anon,
} from '../../src/kernel/memory.ts';
import { discard_pvec_pages } from '../../src/kernel/page_alloc.ts';
import {
  PG_discarded,
  PG_lru,
  page_count,
  page_flags,
  page_mapcount,
  page_mapping,
} from '../../src/kernel/page-flags.ts';
import { fileBase } from '../../src/shm/layout.ts';
import {
  boot,
  cachePage,
  counter,
  hostDiscard,
  hotList,
  lruList,
  type Machine,
  makeDiscarded,
  violations,
} from '../helpers/machine.ts';

let m: Machine;
const pte = (task: number, vpage: number) => K.i32[pte_idx(task, vpage)]! - 1;
const refs = (pfn: number) => [page_count(pfn), page_mapcount(pfn)];
const expectClean = () => {
  const a = audit(m);
  expect(a.errors).toEqual([]);
  expect(a.ok).toBe(true);
  expect(violations(m)).toEqual([]);
};

beforeEach(() => {
  m = boot({ cpus: 2, pages: 256, files: 4 });
});

describe('mmap and file faults', () => {
  it('tasks belong to CPUs two by two', () => {
    expect([0, 1, 2, 3].map(task_cpu)).toEqual([0, 0, 1, 1]);
  });

  it('do_mmap fills an empty slot only', () => {
    expect(vma_file(0, 1)).toBe(-1);
    do_mmap(0, 1, 2);
    expect(vma_file(0, 1)).toBe(2);
    do_mmap(0, 1, 3);
    expect(vma_file(0, 1)).toBe(2);
  });

  it('a fault maps the cached page: one reference and one mapcount per pte', () => {
    do_mmap(0, 1, 2);
    handle_mm_fault(0, PAGES_PER_FILE + 5);
    const p = pagecache_slot(2, 5);
    expect(p).toBeGreaterThanOrEqual(0);
    expect(pte(0, PAGES_PER_FILE + 5)).toBe(p);
    expect(refs(p)).toEqual([2, 1]); // cache + pte
    expect(page_mapping(p)).toBe(3);
    expect(lruList()).toEqual([p]);
    // clean, up to date, only the cache and the pte: made volatile
    expect(hw_host_state(p)).toBe(HS.Vr);
    // another task on another CPU maps the same page
    set_this_cpu(1);
    do_mmap(2, 3, 2);
    handle_mm_fault(2, 3 * PAGES_PER_FILE + 5);
    expect(pte(2, 3 * PAGES_PER_FILE + 5)).toBe(p);
    expect(refs(p)).toEqual([3, 2]);
    // a fault on a present pte changes nothing
    handle_mm_fault(2, 3 * PAGES_PER_FILE + 5);
    expect(refs(p)).toEqual([3, 2]);
    expectClean();
  });

  it('a fault where nothing is mapped does nothing (SIGSEGV)', () => {
    handle_mm_fault(0, 2 * PAGES_PER_FILE);
    expect(pte(0, 2 * PAGES_PER_FILE)).toBe(-1);
    expect(lruList()).toEqual([]);
  });

  it('munmap clears the slot and its ptes and drops their references; the cache keeps the page', () => {
    do_mmap(0, 1, 2);
    do_mmap(1, 2, 2);
    for (const i of [0, 1, 2]) handle_mm_fault(0, PAGES_PER_FILE + i);
    handle_mm_fault(1, 2 * PAGES_PER_FILE + 1);
    const ps = [0, 1, 2].map((i) => pagecache_slot(2, i));
    expect(ps.map(refs)).toEqual([
      [2, 1],
      [3, 2],
      [2, 1],
    ]);
    do_munmap(0, 1);
    expect(vma_file(0, 1)).toBe(-1);
    for (const i of [0, 1, 2]) expect(pte(0, PAGES_PER_FILE + i)).toBe(-1);
    expect(ps.map(refs)).toEqual([
      [1, 0],
      [2, 1],
      [1, 0],
    ]);
    expect(ps.map((p) => pagecache_slot(2, ps.indexOf(p)))).toEqual(ps);
    expectClean();
  });

  it('munmap of a page the host discarded does not free it: the cache still holds it', () => {
    do_mmap(0, 1, 2);
    handle_mm_fault(0, PAGES_PER_FILE);
    const p = pagecache_slot(2, 0);
    hostDiscard(p);
    do_munmap(0, 1);
    expect(refs(p)).toEqual([1, 0]);
    expect(page_flags(p) & PG_discarded).toBe(0);
    expectClean();
  });
});

describe('anonymous pages', () => {
  it('a fault allocates a page owned by the pte; zap_anon frees it', () => {
    const vpage = FILE_VPAGES + 3;
    handle_mm_fault(1, vpage);
    const p = pte(1, vpage);
    expect(refs(p)).toEqual([1, 1]);
    expect(page_mapping(p)).toBe(-2); // -(task + 1)
    expect(K.i32[K.L.page_index + p]).toBe(vpage);
    expect(hw_host_state(p)).toBe(HS.Sr);
    expectClean();
    zap_anon(1, 3);
    expect(pte(1, vpage)).toBe(-1);
    expect(refs(p)).toEqual([0, 0]);
    expect(page_mapping(p)).toBe(0);
    expect(hotList(0)[0]).toBe(p);
    expect(hw_host_state(p)).toBe(HS.Ur);
    expectClean();
  });
});

describe('vmtruncate', () => {
  it('unmaps, removes and frees every cached page; parks the discarded one; restores i_size', () => {
    do_mmap(0, 1, 2);
    handle_mm_fault(0, PAGES_PER_FILE + 0); // mapped, Vr
    const mapped = pagecache_slot(2, 0);
    const cached = cachePage(2, 1); // cache only, Sr
    const gone = cachePage(2, 2);
    expect(hw_host_state(mapped)).toBe(HS.Vr);
    expect(hw_host_state(cached)).toBe(HS.Sr);
    expect(hw_host_state(gone)).toBe(HS.Sr);
    makeDiscarded(gone, 1); // volatile, then taken by the host
    const hot = hotList(0);

    set_this_cpu(1); // truncate runs on the other CPU
    vmtruncate(2);
    for (const i of [0, 1, 2]) expect(pagecache_slot(2, i)).toBe(-1);
    expect(K.i32[fileBase(K.L, 2) + K.L.file_nrpages]).toBe(0);
    expect(pte(0, PAGES_PER_FILE)).toBe(-1);
    expect(vma_file(0, 1)).toBe(2); // the vma stays
    for (const p of [mapped, cached, gone]) {
      expect(refs(p)).toEqual([0, 0]);
      expect(page_flags(p) & PG_lru).toBe(0);
    }
    // stable pages went to cpu 1's hot list, the discarded one to its pagevec
    expect(hotList(1)).toEqual([cached, mapped]);
    expect(hotList(0)).toEqual(hot);
    expect(discard_pvec_pages(1)).toEqual([gone]);
    expect(page_flags(gone) & PG_discarded).toBe(PG_discarded);
    expect(file_size(2)).toBe(PAGES_PER_FILE);
    expect(K.i32[fileBase(K.L, 2) + K.L.file_truncate_count]).toBe(1);
    expect(counter(1, 'truncates')).toBe(1);
    expectClean();
  });

  it('unpatched: the discarded page is freed with the others', () => {
    m = boot({ cpus: 2, pages: 256, files: 4, protocol: 'unpatched' });
    const p = cachePage(3, 0);
    makeDiscarded(p, 1);
    vmtruncate(3);
    expect(refs(p)).toEqual([0, 0]);
    expect(discard_pvec_pages(0)).toEqual([]);
    expect(hotList(0)[0]).toBe(p);
    expect(page_flags(p) & PG_discarded).toBe(0);
    expectClean();
  });
});
