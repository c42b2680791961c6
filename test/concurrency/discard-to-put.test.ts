/**
 * The verdict on the December 2005 series as posted (`--protocol dec-2005`)
 * and on its fix (`dec-2005-fixed`, the default `patched`), played as one
 * schedule on real workers (test/workers/discard-to-put.ts): reclaim (B,
 * cpu 0) isolates P; a CPU (A, cpu 1) discards P, through the discard fault
 * (6/6's do_discard_fault) or through find_get_page whose
 * page_hva_make_stable fails (1/6), and is held at discard-to-put, between
 * page_hva_discard_page and its page_cache_release, while B's shrink_list
 * runs on P; then A puts its reference.
 *
 * - dec-2005: remove_mapping sees count 2 (B's and A's) and a mapping (1/6's
 *   discard keeps it), takes A's reference as the cache's, B's release parks
 *   P, and A's put_page finds the count at 0: negative-count.
 * - dec-2005-fixed: remove_mapping refuses the PG_discarded page; P goes back
 *   on the LRU, and A's put, the last, takes it off and parks it: clean.
 *
 * SHOW_STORY=1 prints dec-2005's violation story (README, Verdicts).
 */
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { audit } from '../../src/check/audit.ts';
import { PAGES_PER_FILE, type Protocol, TASKS_PER_CPU } from '../../src/config.ts';
import { K, set_this_cpu } from '../../src/kernel/context.ts';
import { user_access } from '../../src/kernel/fault.ts';
import { do_mmap, pte_idx } from '../../src/kernel/memory.ts';
import { discard_pvec_pages } from '../../src/kernel/page_alloc.ts';
import { PG_discarded, PG_lru, page_count, page_flags } from '../../src/kernel/page-flags.ts';
import { NR_POINTS, P } from '../../src/points.ts';
import {
  boot,
  cachePage,
  hostDiscard,
  lruList,
  makeDiscarded,
  violations,
} from '../helpers/machine.ts';
import { S, scratch } from '../helpers/scratch.ts';
import { runScriptedCpus, threadsBaseline, threadsSettled } from '../helpers/workers.ts';
import type { DiscardToPutResult, DiscardToPutTask } from '../workers/discard-to-put.ts';

const WORKER = fileURLToPath(new URL('../workers/discard-to-put.mjs', import.meta.url));
const FILE = 2;
const INDEX = 4;

let threads0 = 0;
beforeAll(async () => {
  threads0 = await threadsBaseline();
});
afterEach(async () => {
  expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
});

type Outcome = {
  pfn: number;
  b: DiscardToPutResult;
  a: DiscardToPutResult;
  kinds: string[];
  story: string[];
  m: ReturnType<typeof boot>;
};

async function schedule(protocol: Protocol, path: 'fault' | 'find'): Promise<Outcome> {
  const delaysUs = new Array<number>(NR_POINTS).fill(0);
  delaysUs[P['discard-to-put']] = 1; // widening on: widen_at runs, where A's hook sits
  const m = boot({ cpus: 2, pages: 256, files: 4, protocol, delaysUs });
  // P: file 2, index 4, the only page on the LRU; Vz (the host discarded it).
  const task = 1 * TASKS_PER_CPU; // A's first task
  const vpage = PAGES_PER_FILE + INDEX; // its mapping slot 1
  set_this_cpu(1);
  let pfn: number;
  if (path === 'fault') {
    do_mmap(task, 1, FILE);
    user_access(task, vpage); // page fault: mapped, made volatile
    pfn = K.i32[pte_idx(task, vpage)]! - 1;
    hostDiscard(pfn);
  } else {
    pfn = cachePage(FILE, INDEX);
    makeDiscarded(pfn, 1);
  }
  expect(lruList()).toEqual([pfn]);

  const t = scratch();
  const base = {
    sab: m.sab,
    cfg: m.cfg,
    scratch: t.buffer,
    path,
    task,
    vpage,
    file: FILE,
    index: INDEX,
  };
  const results = await runScriptedCpus<DiscardToPutTask, DiscardToPutResult>(
    WORKER,
    [0, 1].map((cpu) => ({ ...base, cpu })),
    t,
    S.ready,
    S.go,
  );
  set_this_cpu(0);
  const vs = violations(m);
  return {
    pfn,
    b: results[0]!,
    a: results[1]!,
    kinds: vs.map((v) => v.kind),
    story: vs[0]
      ? [`${vs[0].kind} on pfn ${vs[0].pfn}, found by cpu${vs[0].cpu}`, ...vs[0].story]
      : [],
    m,
  };
}

describe.each(['fault', 'find'] as const)('discard-to-put, A discards through %s', (path) => {
  it("dec-2005 as posted: reclaim's remove_mapping drops A's reference; A's put_page is negative-count", async () => {
    const o = await schedule('dec-2005', path);
    if (process.env.SHOW_STORY) console.log(o.story.join('\n'));
    expect(o.b.isolated).toBe(o.pfn);
    expect(o.a.held).toBe(true);
    if (path === 'find') expect(o.a.found).toBe(-1);
    expect(o.b.reclaimed).toBe(1); // remove_mapping took P, B's release parked it
    expect(o.kinds, o.story.join('\n')).toContain('negative-count');
    expect(violations(o.m).find((v) => v.kind === 'negative-count')?.pfn).toBe(o.pfn);
  }, 120_000);

  it("dec-2005-fixed (patched): remove_mapping refuses P; A's put is the last and parks it; clean", async () => {
    const o = await schedule('patched', path);
    expect(K.protocol).toBe('dec-2005-fixed');
    expect(o.b.isolated).toBe(o.pfn);
    expect(o.a.held).toBe(true);
    expect(o.b.reclaimed).toBe(0); // cannot_free: P back on the LRU
    expect(o.kinds, o.story.join('\n')).toEqual([]);
    expect(page_count(o.pfn)).toBe(0);
    expect(page_flags(o.pfn) & (PG_discarded | PG_lru)).toBe(PG_discarded); // off the LRU, parked
    expect(lruList()).not.toContain(o.pfn);
    expect(discard_pvec_pages(1)).toEqual([o.pfn]); // A's last put parked it on A's vector
    expect(audit(o.m).errors).toEqual([]);
  }, 120_000);
});
