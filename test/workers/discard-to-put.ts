/**
 * One CPU of the discard-to-put schedule (test/concurrency/discard-to-put.test.ts),
 * on the real kernel code, ordered through the scratch buffer with no sleeps:
 *
 *   B (cpu 0, reclaim)                   A (cpu 1, the discarder)
 *   isolate_lru_pages(1): P, count +1
 *   phase 1 ----------------------------> touches P (discard fault, do_discard_fault)
 *                                         or finds it (find_get_page, make_stable fails):
 *                                         page_hva_discard_page(P): PG_discarded, unmap,
 *                                         out of the tree (mapping kept), the cache's
 *                                         reference dropped, unlock
 *                                         at discard-to-put: phase 2, waits
 *   shrink_list(): trylock P, <----------
 *   remove_mapping ...
 *   phase 3 ----------------------------> put_page(P) (page_cache_release)
 *
 * A is held at the preemption point discard-to-put by a hook on this
 * thread's view of the point delays (phases.ts, stopAtPoint), so the code A
 * runs is do_discard_fault / find_get_page unchanged. Every wait is on a
 * scratch word (Atomics.wait, woken by Atomics.notify) with a deadline.
 */
import { K, kernel_attach } from '../../src/kernel/context.ts';
import { user_access } from '../../src/kernel/fault.ts';
import { find_get_page } from '../../src/kernel/filemap.ts';
import { list_empty, list_first } from '../../src/kernel/list.ts';
import { isolate_lru_pages, shrink_list } from '../../src/kernel/vmscan.ts';
import { P } from '../../src/points.ts';
import { attach, computeLayout, PERCPU_HEADS, percpuHeadNode } from '../../src/shm/layout.ts';
import { S } from '../helpers/scratch.ts';
import { type ScriptedCpuTask, setPhase, startBarrier, stopAtPoint, waitPhase } from './phases.ts';

export const PH = { isolated: 1, discarded: 2, reclaimed: 3 } as const;
export const B = 0;
export const A = 1;

export type DiscardToPutTask = ScriptedCpuTask & {
  /** A's path to the discard: the discard fault on (task, vpage), or find_get_page(file, index). */
  path: 'fault' | 'find';
  task: number;
  vpage: number;
  file: number;
  index: number;
};

export type DiscardToPutResult = {
  cpu: number;
  /** B: the page isolate_lru_pages took, and what shrink_list freed. */
  isolated: number;
  reclaimed: number;
  /** A: stopped at discard-to-put (the hook ran), and find_get_page's result. */
  held: boolean;
  found: number;
};

/** Hold this CPU at the first discard-to-put it passes until reclaim is done. */
function holdAtDiscardToPut(t: Int32Array, res: DiscardToPutResult): void {
  stopAtPoint(P['discard-to-put'], () => {
    res.held = true;
    setPhase(t, PH.discarded);
    waitPhase(t, PH.reclaimed);
  });
}

export default function discardToPutCpu(task: DiscardToPutTask): DiscardToPutResult {
  kernel_attach(attach(task.sab, computeLayout(task.cfg)), task.cfg, task.cpu);
  const t = new Int32Array(task.scratch);
  const res: DiscardToPutResult = {
    cpu: task.cpu,
    isolated: -1,
    reclaimed: -1,
    held: false,
    found: -2,
  };
  startBarrier(t);
  if (task.cpu === B) {
    isolate_lru_pages(1);
    const isolate = percpuHeadNode(K.L, K.home, PERCPU_HEADS.isolate);
    if (!list_empty(isolate)) res.isolated = list_first(isolate);
    setPhase(t, PH.isolated);
    waitPhase(t, PH.discarded);
    res.reclaimed = shrink_list();
    setPhase(t, PH.reclaimed);
  } else {
    holdAtDiscardToPut(t, res);
    waitPhase(t, PH.isolated);
    if (task.path === 'fault') user_access(task.task, task.vpage);
    else res.found = find_get_page(task.file, task.index);
    if (!res.held) setPhase(t, PH.reclaimed); // never reached the point: let B go on
  }
  Atomics.add(t, S.done, 1);
  return res;
}
