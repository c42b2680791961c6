/**
 * The guest side of page host virtual assist (src/kernel/page_hva.ts), single
 * thread, exact states: make_volatile's conditions, make_stable, and
 * page_hva_discard_page.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { recentEvents } from '../../src/check/decode.ts';
import { PAGES_PER_FILE } from '../../src/config.ts';
import { K, set_this_cpu } from '../../src/kernel/context.ts';
import { HS, hw_host_state } from '../../src/kernel/essa.ts';
import { pagecache_slot } from '../../src/kernel/filemap.ts';
import { do_mmap, handle_mm_fault, pte_idx } from '../../src/kernel/memory.ts';
import { alloc_page, discard_pvec_pages, get_page, put_page } from '../../src/kernel/page_alloc.ts';
import {
  page_hva_discard_page,
  page_hva_make_stable,
  page_hva_make_volatile,
} from '../../src/kernel/page_hva.ts';
import {
  ClearPageFlag,
  PG_dirty,
  PG_discarded,
  PG_locked,
  PG_lru,
  PG_state_change,
  PG_uptodate,
  PG_writeback,
  page_count,
  page_flags,
  page_mapcount,
  page_mapping,
  SetPageFlag,
  set_page_mapping,
} from '../../src/kernel/page-flags.ts';
import {
  boot,
  cachePage,
  counter,
  hostDiscard,
  type Machine,
  violations,
  zoneWord,
} from '../helpers/machine.ts';

let m: Machine;
const pte = (task: number, vpage: number) => K.i32[pte_idx(task, vpage)]! - 1;

describe('page_hva_make_volatile(page, offset)', () => {
  beforeEach(() => {
    m = boot({ cpus: 2, pages: 256, files: 4 });
  });

  it('S -> V for a clean, up-to-date, unlocked file page with mapcount == count - offset', () => {
    const p = cachePage(1, 0); // count 1 (the cache), mapcount 0
    const made0 = counter(0, 'pagesMadeVolatile'); // cachePage's put already tried once
    page_hva_make_volatile(p, 1);
    expect(hw_host_state(p)).toBe(HS.Vr);
    expect(page_flags(p) & PG_state_change).toBe(0);
    expect(counter(0, 'pagesMadeVolatile') - made0).toBe(1);
  });

  it('counts the mappings: a page mapped once with the caller holding a reference, offset 2', () => {
    const p = cachePage(1, 0);
    get_page(p); // a pte's reference (mapcount 1) ...
    Atomics.add(K.i32, K.L.page_mapcount + p, 1);
    get_page(p); // ... and the caller's
    page_hva_make_volatile(p, 1); // count 3 - 1 != mapcount 1
    expect(hw_host_state(p)).toBe(HS.Sr);
    page_hva_make_volatile(p, 2); // count 3 - 2 == mapcount 1
    expect(hw_host_state(p)).toBe(HS.Vr);
  });

  const refusals: [string, (p: number) => void, number][] = [
    ['dirty', (p) => SetPageFlag(p, PG_dirty), 1],
    ['locked', (p) => SetPageFlag(p, PG_locked), 1],
    ['under writeback', (p) => SetPageFlag(p, PG_writeback), 1],
    ['not up to date', (p) => ClearPageFlag(p, PG_uptodate), 1],
    ['anonymous', (p) => set_page_mapping(p, -1), 1],
    ['without a mapping', (p) => set_page_mapping(p, 0), 1],
    ['holding an unknown reference', (p) => get_page(p), 1],
    ['with a wrong offset', () => undefined, 0],
    ['with PG_discarded', (p) => SetPageFlag(p, PG_discarded), 1],
  ];
  for (const [what, setup, offset] of refusals) {
    it(`leaves a page ${what} stable`, () => {
      const p = cachePage(2, 3);
      setup(p);
      const flags = page_flags(p);
      const made0 = counter(0, 'pagesMadeVolatile');
      page_hva_make_volatile(p, offset);
      expect(hw_host_state(p)).toBe(HS.Sr);
      expect(page_flags(p)).toBe(flags); // PG_state_change taken and dropped (or never taken)
      expect(counter(0, 'pagesMadeVolatile') - made0).toBe(0);
    });
  }

  it('gives up when PG_state_change is held by someone else, and leaves it to them', () => {
    const p = cachePage(2, 3);
    SetPageFlag(p, PG_state_change);
    page_hva_make_volatile(p, 1);
    expect(hw_host_state(p)).toBe(HS.Sr);
    expect(page_flags(p) & PG_state_change).toBe(PG_state_change);
  });

  it('an anonymous page is never made volatile (alloc_page, mapping < 0)', () => {
    const p = alloc_page();
    set_page_mapping(p, -1);
    SetPageFlag(p, PG_uptodate);
    page_hva_make_volatile(p, 1);
    expect(hw_host_state(p)).toBe(HS.Sr);
  });
});

describe('page_hva_make_stable', () => {
  it('V -> S when resident, no change when stable, fails on Vz and leaves it Vz', () => {
    m = boot({ cpus: 2, pages: 256, files: 4 });
    const p = cachePage(1, 1);
    expect(page_hva_make_stable(p)).toBe(true);
    expect(hw_host_state(p)).toBe(HS.Sr);
    page_hva_make_volatile(p, 1);
    expect(page_hva_make_stable(p)).toBe(true);
    expect(hw_host_state(p)).toBe(HS.Sr);
    page_hva_make_volatile(p, 1);
    hostDiscard(p);
    expect(page_hva_make_stable(p)).toBe(false);
    expect(hw_host_state(p)).toBe(HS.Vz);
  });
});

describe('page_hva_discard_page', () => {
  it('unmaps every pte, removes the page from the LRU and the cache keeping its mapping, drops the cache reference; a second call skips', () => {
    m = boot({ cpus: 2, pages: 256, files: 4 });
    // file 1 mapped by task 0 (cpu 0) in slot 1 and task 2 (cpu 1) in slot 3
    const index = 4;
    do_mmap(0, 1, 1);
    handle_mm_fault(0, 1 * PAGES_PER_FILE + index);
    set_this_cpu(1);
    do_mmap(2, 3, 1);
    handle_mm_fault(2, 3 * PAGES_PER_FILE + index);
    set_this_cpu(0);
    const p = pagecache_slot(1, index);
    expect(pte(0, PAGES_PER_FILE + index)).toBe(p);
    expect(pte(2, 3 * PAGES_PER_FILE + index)).toBe(p);
    expect([page_count(p), page_mapcount(p)]).toEqual([3, 2]);
    expect(hw_host_state(p)).toBe(HS.Vr); // the fault made it volatile (offset 2)
    hostDiscard(p);
    get_page(p); // the caller's reference (the discard fault's)
    const nrLru = zoneWord('nr_lru');

    page_hva_discard_page(p);
    expect(pte(0, PAGES_PER_FILE + index)).toBe(-1);
    expect(pte(2, 3 * PAGES_PER_FILE + index)).toBe(-1);
    expect(page_mapcount(p)).toBe(0);
    expect(page_count(p)).toBe(1); // only the caller's: 2 ptes and the cache dropped
    expect(page_flags(p) & (PG_discarded | PG_lru | PG_locked)).toBe(PG_discarded);
    expect(zoneWord('nr_lru')).toBe(nrLru - 1);
    expect(pagecache_slot(1, index)).toBe(-1);
    expect(page_mapping(p)).toBe(2); // kept
    expect(counter(0, 'discardPages')).toBe(1);
    const evs = recentEvents(m, 0)
      .filter((e) => e.pfn === p)
      .map((e) => e.event);
    expect(evs.slice(-3)).toEqual(['discard-page', 'unmap', 'unmap']);

    // a second discard of the same page (another CPU's fault) only skips
    get_page(p);
    page_hva_discard_page(p);
    expect(page_count(p)).toBe(2);
    expect(counter(0, 'discardPages')).toBe(1);
    expect(recentEvents(m, 0).at(-1)!.event).toBe('discard-skip');
    expect(page_flags(p) & PG_locked).toBe(0);
    put_page(p);

    // the last put parks it
    put_page(p);
    expect(page_count(p)).toBe(0);
    expect(discard_pvec_pages(0)).toEqual([p]);
    expect(violations(m)).toEqual([]);
  });
});
