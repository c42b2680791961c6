/**
 * The conservation audit at a quiescent point (no CPU inside kernel code):
 * every frame is in exactly one place, every list is well linked, and every
 * reference is accounted for.
 *
 *   free (zone) + per-CPU lists + in use + parked on the discard list
 *     + in discard pagevecs = all frames
 *
 * and, for each frame in use, page_count == (in the page cache ? 1 : 0) +
 * the ptes that map it, with page_mapcount == those ptes. The host agrees:
 * a free frame is unused (U), a frame in use is not, a parked frame (on a
 * discard list or in a pagevec) is discarded (Vz) and has PG_discarded.
 *
 * How long pages stay parked is a statistic, never an error: a pagevec that
 * is not full keeps its pages until it fills, by design. The audit reports
 * the oldest parked page's age and how many were parked longer than a bound
 * (`parked`), and a warning when any were.
 *
 * The walks trust no word they read: every link and every pagevec pfn is
 * bounds-checked before it indexes anything, and a cycle ends the walk.
 */
import { NR_VPAGES, PAGES_PER_FILE } from '../config.ts';
import { HS, HS_NAMES } from '../kernel/essa.ts';
import { PG_discarded } from '../kernel/page-flags.ts';
import {
  DISCARD,
  HEAD,
  HIST,
  headNode,
  NET,
  NET_RING,
  PERCPU,
  PERCPU_HEADS,
  PERCPU_IRQ,
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
  /** Pages parked (discard lists and pagevecs): the oldest one's age, and how many are older than boundMs. */
  parked?: { oldestAgeMs: number; overBound: number; boundMs: number };
  /** Not errors: things a reader should know (pages parked longer than the bound). */
  warnings?: string[];
};

/** Default bound on how long a page stays parked before the audit warns (ms). */
export const PARKED_BOUND_MS = 1000;

export type AuditOptions = {
  /** Wall-clock ms (the recorder's now()) to age parked pages against; default now. */
  nowMs?: number;
  boundMs?: number;
};

const MAX_ERRORS = 20;
/** ESSA usage of a host state (HS: usage * 4 + content); U is unused. */
const USAGE_U = HS.Ur >> 2;

export function audit(v: Views, opts: AuditOptions = {}): Audit {
  const { i32, f64, L } = v;
  const nowMs = opts.nowMs ?? performance.timeOrigin + performance.now();
  const boundMs = opts.boundMs ?? PARKED_BOUND_MS;
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
    if (i32[L.lru_prev + head] !== prev) {
      err(`${name}: the head's prev link is ${i32[L.lru_prev + head]}, not its last node ${prev}`);
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
    if (nr < 0 || nr > L.pagevec_size) {
      err(`cpu ${cpu}'s pagevec: count ${nr} outside 0..${L.pagevec_size}`);
      continue;
    }
    for (let i = 0; i < nr; i++) {
      const pfn = i32[pvec + 1 + i]!;
      if (pfn < 0 || pfn >= L.nr_pages) {
        err(`cpu ${cpu}'s pagevec: slot ${i} holds ${pfn}, not a pfn`);
        continue;
      }
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

  // References: page cache slots, ptes, the pages the network device holds
  // (sent, not yet completed) and each CPU's receive buffer (net.ts).
  const refs = new Int32Array(L.nr_pages);
  const maps = new Int32Array(L.nr_pages);
  const ref = (pfn: number, what: string) => {
    if (pfn >= 0 && pfn < L.nr_pages) refs[pfn]!++;
    else err(`${what} holds ${pfn}, not a pfn`);
  };
  for (let n = i32[L.net + NET.head]!; n !== i32[L.net + NET.tail]!; n++) {
    ref(i32[L.net + NET.ring + (n & (NET_RING - 1))]!, 'the network transmit ring');
  }
  for (let cpu = 0; cpu < L.nr_cpus; cpu++) {
    const rx = i32[percpuBase(L, cpu) + PERCPU_IRQ.rx_page]! - 1;
    if (rx >= 0) ref(rx, `cpu ${cpu}'s receive buffer`);
  }
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
  let oldestAgeMs = 0;
  let overBound = 0;
  for (let pfn = 0; pfn < L.nr_pages; pfn++) {
    const count = i32[L.page_count + pfn]!;
    const place = where[pfn]!;
    const hs = i32[L.host_state + pfn]!;
    const parked = place === 2 || place === 3;
    if (parked) {
      if (hs !== HS.Vz)
        err(`pfn ${pfn} is on the ${PLACES[place]} but its host state is ${hsName(hs)}, not Vz`);
      if ((i32[L.page_flags + pfn]! & PG_discarded) === 0) {
        err(`pfn ${pfn} is on the ${PLACES[place]} without PG_discarded`);
      }
      const t = f64[L.ghost_hist_t + pfn * HIST.nr + HIST.park]!;
      if (t > 0) {
        const age = nowMs - t;
        if (age > oldestAgeMs) oldestAgeMs = age;
        if (age > boundMs) overBound++;
      }
    } else if (place === 0 || place === 1) {
      if (hs >> 2 !== USAGE_U)
        err(
          `pfn ${pfn} is on the ${PLACES[place]} but its host state is ${hsName(hs)}, not unused (U)`,
        );
    } else if (count > 0 && hs >> 2 === USAGE_U) {
      err(`pfn ${pfn} is in use (count ${count}) but its host state is ${hsName(hs)} (unused)`);
    }
    if (count > 0) {
      inUse++;
      if (place !== -1) err(`pfn ${pfn} has count ${count} but is on the ${PLACES[place]}`);
      if (count !== refs[pfn]) {
        err(`pfn ${pfn}: count ${count}, but ${refs[pfn]} references (cache, ptes, network) found`);
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
      if (discarded && !parked && place !== -1) {
        err(`pfn ${pfn}: PG_discarded but on the ${PLACES[place]}`);
      }
    }
  }
  const accounted = free + perCpuLists + inUse + parkedOnList + inPagevecs;
  if (accounted !== L.nr_pages) {
    err(
      `conservation: ${free} free + ${perCpuLists} per-CPU + ${inUse} in use + ${parkedOnList} parked + ${inPagevecs} in pagevecs = ${accounted}, not ${L.nr_pages}`,
    );
  }
  const warnings: string[] = [];
  if (overBound > 0) {
    warnings.push(
      `${overBound} page(s) parked longer than ${boundMs} ms (oldest ${Math.round(oldestAgeMs)} ms): a pagevec that is not full keeps its pages until it fills, and the discard list until the next reclaim`,
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
    parked: { oldestAgeMs, overBound, boundMs },
    warnings,
  };
}

function hsName(hs: number): string {
  return HS_NAMES[hs] ?? `#${hs}`;
}
