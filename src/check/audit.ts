/**
 * The conservation audit at a quiescent point (no CPU inside kernel code):
 * every frame is in exactly one place, every list is well linked, and every
 * reference is accounted for.
 *
 *   free (zone) + per-CPU lists + in use + parked on the discard list
 *     + in discard pagevecs = all frames
 *
 * and, for each frame in use, page_count == (in the page cache ? 1 : 0) +
 * the ptes that map it, with page_mapcount == those ptes.
 */
import { NR_VPAGES, PAGES_PER_FILE } from '../config.ts';
import { PG_discarded } from '../kernel/page-flags.ts';
import {
  DISCARD,
  HEAD,
  headNode,
  PERCPU,
  PERCPU_HEADS,
  percpuBase,
  percpuHeadNode,
  pvecBase,
  taskBase,
  type Views,
  ZONE,
} from '../shm/layout.ts';

export type Audit = {
  ok: boolean;
  nrPages: number;
  free: number;
  perCpuLists: number;
  inUse: number;
  parkedOnList: number;
  inPagevecs: number;
  accounted: number;
  errors: string[];
};

const MAX_ERRORS = 20;

export function audit(v: Views): Audit {
  const { i32, L } = v;
  const errors: string[] = [];
  const err = (s: string) => {
    if (errors.length < MAX_ERRORS) errors.push(s);
  };
  const where = new Int32Array(L.nr_pages).fill(-1); // place code per pfn
  const PLACES = ['zone free list', 'per-CPU list', 'discard list', 'discard pagevec', 'LRU'];

  /** Walk a list; returns its length. */
  const walk = (head: number, place: number, name: string): number => {
    let n = 0;
    let prev = head;
    let node = i32[L.lru_next + head]!;
    while (node !== head) {
      if (node < 0 || node >= L.nr_pages) {
        err(`${name}: bad link ${node} after ${prev}`);
        return n;
      }
      if (i32[L.lru_prev + node] !== prev) err(`${name}: pfn ${node} prev link broken`);
      if (where[node] !== -1 && place !== 4) {
        err(`pfn ${node} on ${name} and on ${PLACES[where[node]!]}`);
      }
      if (place !== 4) where[node] = place;
      prev = node;
      node = i32[L.lru_next + node]!;
      if (++n > L.nr_pages) {
        err(`${name}: cycle`);
        return n;
      }
    }
    return n;
  };

  const free = walk(headNode(L, HEAD.free), 0, 'zone free list');
  if (free !== i32[L.zone + ZONE.free_pages]) {
    err(`zone free list has ${free} pages, free_pages says ${i32[L.zone + ZONE.free_pages]}`);
  }
  let perCpuLists = 0;
  let inPagevecs = 0;
  let parkedPerCpu = 0; // percpu-2006's per-CPU discard lists
  for (let cpu = 0; cpu < L.nr_cpus; cpu++) {
    const pc = percpuBase(L, cpu);
    for (const [which, countWord, name] of [
      [PERCPU_HEADS.hot, PERCPU.pcp_hot_count, 'hot'],
      [PERCPU_HEADS.cold, PERCPU.pcp_cold_count, 'cold'],
    ] as const) {
      const n = walk(percpuHeadNode(L, cpu, which), 1, `cpu ${cpu} ${name} list`);
      if (n !== i32[pc + countWord]) {
        err(`cpu ${cpu} ${name} list has ${n} pages, pcp->count says ${i32[pc + countWord]}`);
      }
      perCpuLists += n;
    }
    for (const which of [PERCPU_HEADS.splice, PERCPU_HEADS.isolate]) {
      const head = percpuHeadNode(L, cpu, which);
      if (i32[L.lru_next + head] !== head) err(`cpu ${cpu}: a local list is not empty at rest`);
    }
    const nd = walk(percpuHeadNode(L, cpu, PERCPU_HEADS.discard), 2, `cpu ${cpu} discard list`);
    if (nd !== i32[pc + PERCPU.nr_discard]) {
      err(
        `cpu ${cpu} discard list has ${nd} pages, its counter says ${i32[pc + PERCPU.nr_discard]}`,
      );
    }
    parkedPerCpu += nd;
    const pvec = pvecBase(L, cpu);
    const nr = i32[pvec]!;
    for (let i = 0; i < nr; i++) {
      const pfn = i32[pvec + 1 + i]!;
      if (where[pfn] !== -1)
        err(`pfn ${pfn} in cpu ${cpu}'s pagevec and on ${PLACES[where[pfn]!]}`);
      where[pfn] = 3;
      inPagevecs++;
    }
  }
  const onGlobalList = walk(headNode(L, HEAD.discard), 2, 'page_hva_discard_list');
  if (onGlobalList !== i32[L.discard + DISCARD.nr_pages]) {
    err(
      `discard list has ${onGlobalList} pages, its counter says ${i32[L.discard + DISCARD.nr_pages]}`,
    );
  }
  const parkedOnList = onGlobalList + parkedPerCpu;
  walk(headNode(L, HEAD.lru), 4, 'LRU');

  // References: page cache slots and ptes.
  const refs = new Int32Array(L.nr_pages);
  const maps = new Int32Array(L.nr_pages);
  for (let s = 0; s < L.nr_files * PAGES_PER_FILE; s++) {
    const pfn = i32[L.pagecache + s]! - 1;
    if (pfn >= 0) refs[pfn]!++;
  }
  for (let t = 0; t < L.nr_tasks; t++) {
    const base = taskBase(L, t) + L.task_pte;
    for (let vp = 0; vp < NR_VPAGES; vp++) {
      const pfn = i32[base + vp]! - 1;
      if (pfn >= 0) {
        refs[pfn]!++;
        maps[pfn]!++;
      }
    }
  }

  let inUse = 0;
  for (let pfn = 0; pfn < L.nr_pages; pfn++) {
    const count = i32[L.page_count + pfn]!;
    const place = where[pfn]!;
    if (count > 0) {
      inUse++;
      if (place !== -1) err(`pfn ${pfn} has count ${count} but is on the ${PLACES[place]}`);
      if (count !== refs[pfn]) {
        err(`pfn ${pfn}: count ${count}, but ${refs[pfn]} references (cache + ptes) found`);
      }
      if (i32[L.page_mapcount + pfn] !== maps[pfn]) {
        err(`pfn ${pfn}: mapcount ${i32[L.page_mapcount + pfn]}, but ${maps[pfn]} ptes map it`);
      }
    } else if (count < 0) {
      err(`pfn ${pfn}: negative count ${count}`);
    } else {
      if (place === -1) err(`pfn ${pfn}: count 0 and on no list (leaked)`);
      if (refs[pfn]! > 0) err(`pfn ${pfn}: count 0 but still referenced by cache or pte`);
      const discarded = (i32[L.page_flags + pfn]! & PG_discarded) !== 0;
      if ((place === 2 || place === 3) !== discarded) {
        err(`pfn ${pfn}: PG_discarded ${discarded} but on the ${PLACES[place]}`);
      }
    }
  }
  const accounted = free + perCpuLists + inUse + parkedOnList + inPagevecs;
  if (accounted !== L.nr_pages) {
    err(
      `conservation: ${free} free + ${perCpuLists} per-CPU + ${inUse} in use + ${parkedOnList} parked + ${inPagevecs} in pagevecs = ${accounted}, not ${L.nr_pages}`,
    );
  }
  return {
    ok: errors.length === 0,
    nrPages: L.nr_pages,
    free,
    perCpuLists,
    inUse,
    parkedOnList,
    inPagevecs,
    accounted,
    errors,
  };
}
