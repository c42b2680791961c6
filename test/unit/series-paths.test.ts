/**
 * The paths of patches 1/6 and 6/6 as posted, single thread, exact states:
 * __page_hva_discard_page's order (PG_discarded, unmap, early return),
 * find_lock_page and find_get_pages with make_stable / discard / retry,
 * truncate through find_get_pages, get_user_pages' retry, the faulting access
 * re-executed until it completes (and a livelock when it never does), and
 * smp_call_function's WARN_ON.
 */
import { describe, expect, it } from 'vitest';
import { recentEvents } from '../../src/check/decode.ts';
import { PAGES_PER_FILE } from '../../src/config.ts';
import { K, set_this_cpu } from '../../src/kernel/context.ts';
import { HS, hw_host_state } from '../../src/kernel/essa.ts';
import { user_access } from '../../src/kernel/fault.ts';
import {
  find_get_pages,
  find_lock_page,
  pagecache_slot,
  write_cache_page,
  writeback_mapping,
} from '../../src/kernel/filemap.ts';
import { do_mmap, get_user_pages, pte_idx, vmtruncate } from '../../src/kernel/memory.ts';
import { discard_pvec_pages, get_page, put_page } from '../../src/kernel/page_alloc.ts';
import { __page_hva_discard_page } from '../../src/kernel/page_hva.ts';
import {
  PG_dirty,
  PG_discarded,
  PG_locked,
  page_count,
  page_flags,
  page_mapcount,
  page_mapping,
} from '../../src/kernel/page-flags.ts';
import {
  FUNC,
  local_irq_disable,
  local_irq_enable,
  smp_call_function,
} from '../../src/kernel/smp.ts';
import { CTRL, PERCPU, percpuBase } from '../../src/shm/layout.ts';
import {
  boot,
  cachePage,
  hostDiscard,
  type Machine,
  makeDiscarded,
  violationKinds,
  violations,
} from '../helpers/machine.ts';

let m: Machine;
const pte = (task: number, vpage: number) => K.i32[pte_idx(task, vpage)]! - 1;

/** Task `task` maps file `file` in slot 1 and touches `index`: the pfn, volatile (Vr). */
function mapped(task: number, file: number, index: number): number {
  do_mmap(task, 1, file);
  const vpage = PAGES_PER_FILE + index;
  user_access(task, vpage);
  const pfn = pte(task, vpage);
  expect(pfn).toBeGreaterThanOrEqual(0);
  return pfn;
}

describe('__page_hva_discard_page (1/6)', () => {
  it('sets PG_discarded first, unmaps even when already discarded, and only then returns early', () => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
    set_this_cpu(0);
    const p = mapped(0, 2, 3);
    hostDiscard(p);
    get_page(p); // the discard fault's reference
    __page_hva_discard_page(p);
    expect(page_flags(p) & PG_discarded).toBe(PG_discarded);
    expect(pte(0, PAGES_PER_FILE + 3)).toBe(-1);
    expect(pagecache_slot(2, 3)).toBe(-1);
    expect(page_mapping(p)).toBe(3); // kept for later faults
    // A stale mapping of the discarded page (it was being mapped while the
    // first discard ran): the second call must unmap it before returning.
    K.i32[pte_idx(1, PAGES_PER_FILE + 3)] = p + 1;
    do_mmap(1, 1, 2);
    Atomics.add(K.i32, K.L.page_mapcount + p, 1);
    get_page(p); // the stale pte's reference
    __page_hva_discard_page(p);
    expect(pte(1, PAGES_PER_FILE + 3)).toBe(-1);
    expect(page_mapcount(p)).toBe(0);
    expect(page_count(p)).toBe(1); // only the fault's
    const names = recentEvents(m, 0).map((e) => e.event);
    expect(names.filter((n) => n === 'discard-page')).toHaveLength(1);
    expect(names.filter((n) => n === 'discard-skip')).toHaveLength(1);
    put_page(p);
    expect(discard_pvec_pages(0)).toEqual([p]);
    expect(violations(m)).toEqual([]);
  });

  it('reports its BUG_ON(PageDirty) as a violation instead of corrupting the cache', () => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
    const p = cachePage(1, 5);
    makeDiscarded(p, 1);
    Atomics.or(K.i32, K.L.page_flags + p, PG_dirty);
    get_page(p);
    __page_hva_discard_page(p);
    expect(violationKinds(m)).toEqual(['bug-on']);
    expect(violations(m)[0]!.detail).toBe(1);
    expect(pagecache_slot(1, 5)).toBe(p); // left where it was
  });
});

describe('find_lock_page and find_get_pages (1/6)', () => {
  it('find_lock_page discards a page the host discarded and returns NULL; a stable one comes back locked', () => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
    const p = cachePage(1, 2);
    makeDiscarded(p, 1);
    expect(find_lock_page(1, 2)).toBe(-1);
    expect(pagecache_slot(1, 2)).toBe(-1);
    expect(page_flags(p) & PG_discarded).toBe(PG_discarded);
    expect(discard_pvec_pages(0)).toEqual([p]); // the last reference parked it
    const q = cachePage(1, 3);
    expect(find_lock_page(1, 3)).toBe(q);
    expect(page_flags(q) & PG_locked).toBe(PG_locked);
    expect(page_count(q)).toBe(2);
    expect(violations(m)).toEqual([]);
  });

  it('find_get_pages discards the one page it cannot make stable, releases the rest and looks again', () => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
    const pages = [0, 1, 2, 3].map((i) => cachePage(2, i));
    makeDiscarded(pages[2]!, 1);
    const out = new Int32Array(14);
    const n = find_get_pages(2, 0, 14, out);
    expect(Array.from(out.subarray(0, n))).toEqual([pages[0], pages[1], pages[3]]);
    for (const p of [pages[0]!, pages[1]!, pages[3]!]) expect(page_count(p)).toBe(2);
    expect(page_count(pages[2]!)).toBe(0);
    expect(discard_pvec_pages(0)).toEqual([pages[2]]);
    expect(violations(m)).toEqual([]);
  });

  it('find_get_pages_tag (writeback) finds the dirty pages only and cleans them', () => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
    const a = cachePage(3, 1);
    const b = cachePage(3, 6);
    write_cache_page(3, 6);
    expect(page_flags(b) & PG_dirty).toBe(PG_dirty);
    const out = new Int32Array(14);
    const n = find_get_pages(3, 0, 14, out, true);
    expect(Array.from(out.subarray(0, n))).toEqual([b]);
    put_page(b);
    writeback_mapping(3);
    expect(page_flags(b) & PG_dirty).toBe(0);
    expect(page_count(a)).toBe(1);
    expect(page_count(b)).toBe(1);
    expect(violations(m)).toEqual([]);
  });
});

describe('truncate_inode_pages through find_get_pages', () => {
  it('a discarded page is discarded by the lookup, the rest removed; every reference accounted for', () => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
    set_this_cpu(0);
    const p = mapped(0, 2, 4); // mapped by task 0 and volatile
    const others = [0, 9].map((i) => cachePage(2, i));
    hostDiscard(p);
    vmtruncate(2);
    for (let i = 0; i < PAGES_PER_FILE; i++) expect(pagecache_slot(2, i)).toBe(-1);
    expect(page_count(p)).toBe(0);
    expect(discard_pvec_pages(0)).toEqual([p]);
    for (const q of others) expect(page_count(q)).toBe(0);
    expect(violations(m)).toEqual([]);
  });
});

describe('get_user_pages (1/6)', () => {
  it('a pinned page the host discarded is discarded, faulted in anew and pinned stable', () => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
    set_this_cpu(0);
    const p = mapped(0, 2, 7);
    hostDiscard(p);
    const out = new Int32Array(1);
    expect(get_user_pages(0, PAGES_PER_FILE + 7, 1, out)).toBe(1);
    const q = out[0]!;
    expect(q).not.toBe(p);
    expect(hw_host_state(q)).toBe(HS.Sr);
    expect(pte(0, PAGES_PER_FILE + 7)).toBe(q);
    expect(page_count(q)).toBe(3); // cache, pte, the pin
    put_page(q);
    expect(discard_pvec_pages(0)).toEqual([p]);
    expect(violations(m)).toEqual([]);
  });
});

describe('the faulting access is re-executed', () => {
  it('after a discard fault the access runs again and completes on a new page', () => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
    set_this_cpu(0);
    const p = mapped(0, 2, 1);
    hostDiscard(p);
    user_access(0, PAGES_PER_FILE + 1); // discard fault, then page fault, then done
    const q = pte(0, PAGES_PER_FILE + 1);
    expect(q).toBeGreaterThanOrEqual(0);
    expect(q).not.toBe(p);
    const names = recentEvents(m, 0).map((e) => e.event);
    expect(names).toContain('fault');
    expect(names.at(-1)).toBe('map');
    expect(violations(m)).toEqual([]);
  });

  it('an access that can never complete raises the livelock word after --livelock-faults faults', () => {
    m = boot({ cpus: 1, pages: 256, files: 4, livelockFaults: 5 });
    set_this_cpu(0);
    const p = mapped(0, 2, 1);
    hostDiscard(p);
    // A frame whose count reads 0 while a pte maps it: get_page_if_present
    // refuses every time and nothing removes the pte.
    Atomics.store(K.i32, K.L.page_count + p, 0);
    Atomics.store(K.i32, K.L.ctrl + CTRL.stop, 1); // the watchdog has already stopped the run
    user_access(0, PAGES_PER_FILE + 1);
    const pc = percpuBase(K.L, 0);
    expect(K.i32[pc + PERCPU.livelock]).toBe(5);
    expect(K.i32[pc + PERCPU.livelock_vpage]).toBe(PAGES_PER_FILE + 1);
    expect(recentEvents(m, 0).map((e) => e.event)).toContain('livelock');
  });
});

describe('smp_call_function', () => {
  it('WARN_ON(irqs_disabled()): a call with interrupts off is a violation, and the call goes on', () => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
    set_this_cpu(0);
    local_irq_disable();
    smp_call_function(FUNC.page_hva_sync, true);
    local_irq_enable();
    expect(violationKinds(m)).toEqual(['smp-call-irqs-off']);
    smp_call_function(FUNC.page_hva_sync, true);
    expect(violations(m)).toHaveLength(1);
  });
});
