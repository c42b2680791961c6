/**
 * mm/page_alloc.c (src/kernel/page_alloc.ts), single thread, exact states:
 * the per-CPU lists and the zone, generations, the discard branch of
 * free_hot_cold_page, references.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { K, set_this_cpu } from '../../src/kernel/context.ts';
import { HS, hw_host_state, page_hva_set_volatile } from '../../src/kernel/essa.ts';
import {
  alloc_page,
  discard_pvec_pages,
  get_page,
  get_page_unless_zero,
  put_page,
  zone_batchsize,
} from '../../src/kernel/page_alloc.ts';
import {
  PG_dirty,
  PG_discarded,
  page_count,
  page_flags,
  page_mapping,
  SetPageFlag,
  set_page_mapping,
} from '../../src/kernel/page-flags.ts';
import { page_alloc_cpu_notify } from '../../src/kernel/protocol/percpu-2006.ts';
import { LOCK } from '../../src/kernel/spinlock.ts';
import { DISCARD, PERCPU_HEADS, percpuHeadNode, ZONE } from '../../src/shm/layout.ts';
import {
  boot,
  counter,
  discardList,
  discardListCount,
  discardLockHeld,
  freeList,
  generation,
  hostDiscard,
  hotList,
  listPfns,
  type Machine,
  onGhostList,
  percpuWord,
  violations,
  zoneFree,
  zoneWord,
} from '../helpers/machine.ts';

/**
 * A pass-through spy on the spinlocks: the flush of a full discard pagevec
 * must move its pages while page_hva_discard_list_lock is held.
 */
const probe = vi.hoisted(() => ({
  on: undefined as undefined | ((op: 'lock' | 'unlock', lock: number, cls: number) => void),
}));
vi.mock('../../src/kernel/spinlock.ts', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/kernel/spinlock.ts')>();
  return {
    ...mod,
    spin_lock(lock: number, cls: number, site: number) {
      mod.spin_lock(lock, cls, site);
      probe.on?.('lock', lock, cls);
    },
    spin_unlock(lock: number, cls: number) {
      probe.on?.('unlock', lock, cls);
      mod.spin_unlock(lock, cls);
    },
    spin_lock_irqsave(lock: number, cls: number, site: number, t?: number) {
      const flags = mod.spin_lock_irqsave(lock, cls, site, t);
      probe.on?.('lock', lock, cls);
      return flags;
    },
    spin_unlock_irqrestore(lock: number, cls: number, flags: boolean) {
      probe.on?.('unlock', lock, cls);
      mod.spin_unlock_irqrestore(lock, cls, flags);
    },
  };
});

let m: Machine;

/** An allocated page in the state free_hot_cold_page's discard branch expects. */
function discardedPage(): number {
  const pfn = alloc_page();
  set_page_mapping(pfn, 1); // file 0
  SetPageFlag(pfn, PG_discarded);
  expect(page_hva_set_volatile(pfn)).toBe(true);
  hostDiscard(pfn);
  return pfn;
}

describe('boot (mem_init)', () => {
  it('puts every frame in the zone, unused on the host, with 2.6.15 watermarks and pcp sizes', () => {
    m = boot({ cpus: 2, pages: 256 });
    expect(zoneFree()).toBe(256);
    expect(freeList()).toHaveLength(256);
    for (let pfn = 0; pfn < 256; pfn++) {
      expect(hw_host_state(pfn)).toBe(HS.Ur);
      expect(page_count(pfn)).toBe(0);
    }
    // min_free_kbytes = sqrt(1024 KiB * 16) = 128 KiB = 32 pages
    expect([zoneWord('pages_min'), zoneWord('pages_low'), zoneWord('pages_high')]).toEqual([
      32, 40, 48,
    ]);
    for (const cpu of [0, 1]) {
      expect(percpuWord(cpu, 'irqs_enabled')).toBe(1);
      expect(percpuWord(cpu, 'pcp_hot_batch')).toBe(1);
      expect(percpuWord(cpu, 'pcp_hot_high')).toBe(6);
      expect(percpuWord(cpu, 'pcp_cold_batch')).toBe(1);
      expect(percpuWord(cpu, 'pcp_cold_high')).toBe(2);
      expect(percpuWord(cpu, 'pcp_hot_count')).toBe(0);
    }
  });

  it('zone_batchsize follows 2.6.15 (about pages/1024, capped, as 2^n - 1)', () => {
    expect(zone_batchsize(256)).toBe(1);
    expect(zone_batchsize(8192)).toBe(3);
    expect(zone_batchsize(16384)).toBe(7);
    expect(zone_batchsize(1 << 20)).toBe(63); // capped at 512 KiB: 128/4 = 32 -> fls(48) -> 63
    expect(zone_batchsize(4 << 20)).toBe(63);
  });
});

describe('alloc_page / free_hot_cold_page normal path', () => {
  beforeEach(() => {
    m = boot({ cpus: 2, pages: 8192 }); // batch 3, hot high 18
    set_this_cpu(1);
  });

  it('refills an empty per-CPU list with `batch` pages from the zone, then takes from the list', () => {
    expect(percpuWord(1, 'pcp_hot_batch')).toBe(3);
    const p = alloc_page();
    expect(p).toBe(0);
    expect(zoneFree()).toBe(8192 - 3);
    expect(hotList(1)).toEqual([1, 2]);
    expect(percpuWord(1, 'pcp_hot_count')).toBe(2);
    expect(hotList(0)).toEqual([]);
    // the new page: count 1, generation 1, stable on the host, clean, off every list
    expect(page_count(p)).toBe(1);
    expect(generation(p)).toBe(1);
    expect(hw_host_state(p)).toBe(HS.Sr);
    expect(page_flags(p)).toBe(0);
    expect(page_mapping(p)).toBe(0);
    expect(onGhostList(p)).toBe(false);
    expect(counter(1, 'allocs')).toBe(1);
    // the next two come from the per-CPU list: the zone is not touched
    expect(alloc_page()).toBe(1);
    expect(alloc_page()).toBe(2);
    expect(zoneFree()).toBe(8192 - 3);
    expect(percpuWord(1, 'pcp_hot_count')).toBe(0);
    expect(counter(1, 'allocs')).toBe(3);
    expect(violations(m)).toEqual([]);
  });

  it('put_page of the last reference frees to the head of the hot list; the next alloc bumps the generation', () => {
    const p = alloc_page();
    const before = percpuWord(1, 'pcp_hot_count');
    put_page(p);
    expect(page_count(p)).toBe(0);
    expect(hotList(1)[0]).toBe(p);
    expect(percpuWord(1, 'pcp_hot_count')).toBe(before + 1);
    expect(hw_host_state(p)).toBe(HS.Ur);
    expect(onGhostList(p)).toBe(true);
    expect(counter(1, 'frees')).toBe(1);
    expect(alloc_page()).toBe(p); // hot: last in, first out
    expect(generation(p)).toBe(2);
    expect(hw_host_state(p)).toBe(HS.Sr);
  });

  it('bulk-frees `batch` pages from the cold end to the zone when the hot list reaches `high`', () => {
    const pages = Array.from({ length: 18 }, () => alloc_page());
    expect(pages).toEqual(Array.from({ length: 18 }, (_, i) => i));
    expect(percpuWord(1, 'pcp_hot_count')).toBe(0);
    const zone0 = zoneFree();
    for (const p of pages.slice(0, 17)) put_page(p);
    expect(percpuWord(1, 'pcp_hot_count')).toBe(17);
    expect(zoneFree()).toBe(zone0);
    put_page(17); // count reaches high (18): free_pages_bulk(batch = 3)
    expect(percpuWord(1, 'pcp_hot_count')).toBe(15);
    expect(zoneFree()).toBe(zone0 + 3);
    // the three oldest (list tail) went to the head of the zone list
    expect(freeList().slice(0, 3)).toEqual([2, 1, 0]);
    expect(hotList(1)).toEqual(Array.from({ length: 15 }, (_, i) => 17 - i));
    expect(violations(m)).toEqual([]);
  });
});

describe('--protocol selects the module whose branch free_hot_cold_page runs', () => {
  it("patched is an alias of dec-2005-fixed; both run dec-2005's pagevec branch", () => {
    for (const protocol of ['patched', 'dec-2005', 'dec-2005-fixed'] as const) {
      m = boot({ cpus: 2, pages: 256, protocol });
      expect(K.protocol).toBe(protocol === 'patched' ? 'dec-2005-fixed' : protocol);
      const p = discardedPage();
      put_page(p);
      expect(discard_pvec_pages(0)).toEqual([p]);
    }
    m = boot({ cpus: 2, pages: 256, protocol: 'percpu-2006' });
    expect(K.protocol).toBe('percpu-2006');
    m = boot({ cpus: 2, pages: 256, protocol: 'unpatched' });
    expect(K.protocol).toBe('unpatched');
  });
});

describe('free_hot_cold_page discard branch (dec-2005, patch 5/6)', () => {
  beforeEach(() => {
    m = boot({ cpus: 2, pages: 256 });
  });

  it('parks a PG_discarded page at count 0 in the pagevec, keeping its flag, mapping and Vz', () => {
    const p = discardedPage();
    const hot = hotList(0);
    put_page(p);
    expect(page_count(p)).toBe(0);
    expect(discard_pvec_pages(0)).toEqual([p]);
    expect(page_flags(p) & PG_discarded).toBe(PG_discarded);
    expect(page_mapping(p)).toBe(1);
    expect(hw_host_state(p)).toBe(HS.Vz);
    expect(hotList(0)).toEqual(hot); // not in the allocator
    expect(onGhostList(p)).toBe(true);
    expect(counter(0, 'pagesParked')).toBe(1);
    expect(counter(0, 'frees')).toBe(0);
    expect(discardList()).toEqual([]);
    expect(percpuWord(0, 'preempt_count')).toBe(0); // put_cpu_var
    expect(violations(m)).toEqual([]);
  });

  it('a full pagevec (14) moves to the tail of page_hva_discard_list under its lock', () => {
    const parked = Array.from({ length: 13 }, () => discardedPage());
    for (const p of parked) put_page(p);
    expect(discard_pvec_pages(0)).toEqual(parked);
    expect(discardList()).toEqual([]);
    const log: [string, number][] = [];
    probe.on = (op, lock, cls) => {
      if (lock === m.L.discard + DISCARD.lock) {
        expect(cls).toBe(LOCK.discard_list);
        expect(discardLockHeld()).toBe(true); // held at both ends of the critical section
        log.push([op, discardList().length]);
      }
    };
    const last = discardedPage();
    try {
      put_page(last);
    } finally {
      probe.on = undefined;
    }
    // the list was empty when the lock was taken and held all 14 at unlock
    expect(log).toEqual([
      ['lock', 0],
      ['unlock', 14],
    ]);
    expect(discardList()).toEqual([...parked, last]);
    expect(discardListCount()).toBe(14);
    expect(discard_pvec_pages(0)).toEqual([]);
    expect(discardLockHeld()).toBe(false);
    expect(counter(0, 'pagesParked')).toBe(14);
    expect(counter(0, 'listFlushes')).toBe(1);
    for (const p of [...parked, last]) {
      expect(page_count(p)).toBe(0);
      expect(page_flags(p) & PG_discarded).toBe(PG_discarded);
      expect(onGhostList(p)).toBe(true);
    }
    // a second vector appends after the first
    const more = Array.from({ length: 14 }, () => discardedPage());
    for (const p of more) put_page(p);
    expect(discardList()).toEqual([...parked, last, ...more]);
    expect(discardListCount()).toBe(28);
    expect(violations(m)).toEqual([]);
  });

  it('each CPU parks in its own pagevec', () => {
    const a = discardedPage();
    set_this_cpu(1);
    const b = discardedPage();
    put_page(b);
    set_this_cpu(0);
    put_page(a);
    expect(discard_pvec_pages(0)).toEqual([a]);
    expect(discard_pvec_pages(1)).toEqual([b]);
  });

  it('--pagevec-size 3 flushes at the third page', () => {
    m = boot({ cpus: 2, pages: 256, pagevecSize: 3 });
    const ps = Array.from({ length: 4 }, () => discardedPage());
    put_page(ps[0]!);
    put_page(ps[1]!);
    expect(discard_pvec_pages(0)).toEqual(ps.slice(0, 2));
    expect(discardList()).toEqual([]);
    put_page(ps[2]!);
    expect(discard_pvec_pages(0)).toEqual([]);
    expect(discardList()).toEqual(ps.slice(0, 3));
    put_page(ps[3]!);
    expect(discard_pvec_pages(0)).toEqual([ps[3]]);
  });

  it('--pagevec-size 1 sends every page to the list at once', () => {
    m = boot({ cpus: 2, pages: 256, pagevecSize: 1 });
    const ps = Array.from({ length: 3 }, () => discardedPage());
    for (const [i, p] of ps.entries()) {
      put_page(p);
      expect(discard_pvec_pages(0)).toEqual([]);
      expect(discardList()).toEqual(ps.slice(0, i + 1));
    }
    expect(counter(0, 'listFlushes')).toBe(3);
  });

  it('unpatched: a PG_discarded page goes straight back to the allocator, flag and mapping cleared', () => {
    m = boot({ cpus: 2, pages: 256, protocol: 'unpatched' });
    const p = discardedPage();
    put_page(p);
    expect(discard_pvec_pages(0)).toEqual([]);
    expect(hotList(0)[0]).toBe(p);
    expect(page_flags(p) & PG_discarded).toBe(0);
    expect(page_mapping(p)).toBe(0);
    expect(hw_host_state(p)).toBe(HS.Ur);
    expect(counter(0, 'pagesParked')).toBe(0);
    expect(violations(m)).toEqual([]);
  });
});

const percpuDiscardList = (cpu: number) => listPfns(percpuHeadNode(K.L, cpu, PERCPU_HEADS.discard));

describe('free_hot_cold_page discard branch (percpu-2006, patch 8/9 of September 2006)', () => {
  beforeEach(() => {
    m = boot({ cpus: 2, pages: 256, protocol: 'percpu-2006' });
  });

  it("puts a PG_discarded page at count 0 straight on this CPU's page_discard_list: no pagevec, no count", () => {
    const p = discardedPage();
    const q = discardedPage();
    const hot = hotList(0);
    put_page(p);
    put_page(q);
    expect(percpuDiscardList(0)).toEqual([p, q]); // list_add_tail
    expect(discard_pvec_pages(0)).toEqual([]);
    expect(discardList()).toEqual([]);
    for (const x of [p, q]) {
      expect(page_count(x)).toBe(0);
      expect(page_flags(x) & PG_discarded).toBe(PG_discarded);
      expect(page_mapping(x)).toBe(1);
      expect(hw_host_state(x)).toBe(HS.Vz);
      expect(onGhostList(x)).toBe(true);
    }
    expect(hotList(0)).toEqual(hot);
    expect(percpuWord(0, 'irqs_enabled')).toBe(1); // local_irq_enable after the add
    expect(counter(0, 'pagesParked')).toBe(2);
    expect(counter(0, 'listFlushes')).toBe(0);
    expect(violations(m)).toEqual([]);
  });

  it("each CPU parks on its own list; page_alloc_cpu_notify (CPU_DEAD) splices a dead CPU's onto this one's", () => {
    const a = discardedPage();
    set_this_cpu(1);
    const b = discardedPage();
    put_page(b);
    set_this_cpu(0);
    put_page(a);
    expect(percpuDiscardList(0)).toEqual([a]);
    expect(percpuDiscardList(1)).toEqual([b]);
    page_alloc_cpu_notify(1);
    expect(percpuDiscardList(1)).toEqual([]);
    expect(percpuDiscardList(0)).toEqual([b, a]);
    expect(percpuWord(0, 'irqs_enabled')).toBe(1);
  });
});

describe('references', () => {
  beforeEach(() => {
    m = boot({ cpus: 2, pages: 256 });
  });

  it('get_page_unless_zero refuses a count of 0 and increments any other', () => {
    const free = freeList()[0]!;
    expect(get_page_unless_zero(free)).toBe(false);
    expect(page_count(free)).toBe(0);
    const p = alloc_page();
    expect(get_page_unless_zero(p)).toBe(true);
    expect(page_count(p)).toBe(2);
    expect(violations(m)).toEqual([]);
  });

  it('put_page frees only on the last reference', () => {
    const p = alloc_page();
    get_page(p);
    const hot = hotList(0);
    put_page(p);
    expect(page_count(p)).toBe(1);
    expect(hotList(0)).toEqual(hot);
    put_page(p);
    expect(page_count(p)).toBe(0);
    expect(hotList(0)).toEqual([p, ...hot]);
  });

  it('put_page on a page with no reference reports negative-count and leaves the count at 0', () => {
    const p = alloc_page();
    put_page(p);
    const hot = hotList(0);
    put_page(p);
    expect(page_count(p)).toBe(0);
    expect(hotList(0)).toEqual(hot); // not freed twice
    const v = violations(m);
    expect(v.map((x) => [x.kind, x.pfn, x.cpu, x.detail])).toEqual([['negative-count', p, 0, 0]]);
  });

  it('__page_cache_release (2.6.15) takes lru_lock and frees only if the count is still 0 under it', () => {
    // isolate_lru_pages' get_page_testone raises a count of 0 for a moment,
    // and a discard fault may take a reference then: played here as a
    // reference that appears while put_page is on its way to lru_lock.
    const p = alloc_page();
    const hot = hotList(0);
    let raised = false;
    probe.on = (op, lock, cls) => {
      if (op === 'lock' && lock === m.L.zone + ZONE.lru_lock && !raised) {
        expect(cls).toBe(LOCK.lru);
        expect(page_count(p)).toBe(0);
        Atomics.add(K.i32, K.L.page_count + p, 1);
        raised = true;
      }
    };
    try {
      put_page(p);
    } finally {
      probe.on = undefined;
    }
    expect(raised).toBe(true);
    expect(page_count(p)).toBe(1);
    expect(hotList(0)).toEqual(hot); // not freed: the new holder frees it
    put_page(p);
    expect(hotList(0)[0]).toBe(p);
    expect(violations(m)).toEqual([]);
  });

  it('get_page on a free page reports ref-from-zero', () => {
    const free = freeList()[0]!;
    get_page(free);
    expect(violations(m).map((x) => [x.kind, x.pfn])).toEqual([['ref-from-zero', free]]);
  });

  it('free_pages_check reports a page freed with a mapping or bad flags, and repairs it', () => {
    const p = alloc_page();
    set_page_mapping(p, 3); // a file page still in the cache
    put_page(p);
    const q = alloc_page();
    SetPageFlag(q, PG_dirty);
    put_page(q);
    expect(violations(m).map((x) => [x.kind, x.pfn, x.detail])).toEqual([
      ['bad-page', p, 3],
      ['bad-page', q, PG_dirty],
    ]);
    expect(page_mapping(p)).toBe(0);
    expect(page_flags(q)).toBe(0);
  });

  it('an anonymous page loses its mapping on free without a report', () => {
    const p = alloc_page();
    set_page_mapping(p, -1); // anon, task 0
    put_page(p);
    expect(page_mapping(p)).toBe(0);
    expect(violations(m)).toEqual([]);
  });

  it('the allocator reports a frame that was not free (bad-alloc)', () => {
    const next = freeList()[0]!;
    Atomics.store(K.i32, K.L.page_count + next, 1); // someone holds a "free" frame
    expect(alloc_page()).toBe(next);
    expect(violations(m).map((x) => [x.kind, x.pfn])).toEqual([['bad-alloc', next]]);
  });
});
