/**
 * The parked-frame hold (widen.ts, park_hold; on by default), played as one
 * schedule on real workers (test/workers/park-hold.ts): A's discard-fault
 * window is open on P when B truncates P's file, which parks P and flushes it
 * to the discard list; then A tries its reference and B shrinks the list.
 *
 * - patched: A finds P parked and holds its window open until B's IPI: B's
 *   splice takes P while the window is open (splice-in-window) and its
 *   rendezvous waits for A (ipi-to-window); A's reference is refused, and B
 *   frees P only after A took the IPI: clean. Without the hold A's window
 *   would close at once (refused), before B's splice.
 * - irq-enable-before-ref: A's window has interrupts on; the hold takes B's
 *   IPI inside it and B frees P while the window is open: free-in-window.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { audit } from '../../src/check/audit.ts';
import { type Mutant, PAGES_PER_FILE, TASKS_PER_CPU } from '../../src/config.ts';
import { K, set_this_cpu } from '../../src/kernel/context.ts';
import { user_access } from '../../src/kernel/fault.ts';
import { do_mmap, pte_idx } from '../../src/kernel/memory.ts';
import { NR_POINTS, P } from '../../src/points.ts';
import { boot, counter, hostDiscard, violations } from '../helpers/machine.ts';
import { S, scratch } from '../helpers/scratch.ts';
import { runScriptedCpus, threadsBaseline, threadsSettled } from '../helpers/workers.ts';
import type { ParkHoldResult, ParkHoldTask } from '../workers/park-hold.ts';

const WORKER = fileURLToPath(new URL('../workers/park-hold.mjs', import.meta.url));
const FILE = 2;
const INDEX = 4;

let threads0 = 0;
beforeAll(async () => {
  threads0 = await threadsBaseline();
});
afterEach(async () => {
  expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
});

async function schedule(mutant: Mutant) {
  const delaysUs = new Array<number>(NR_POINTS).fill(0);
  delaysUs[P['fault-to-ref']] = 1; // widening on: widen_at runs, where A's hook sits
  // a hold long enough for B's part under any load; a pagevec of 1: parked is on the list
  const m = boot({
    cpus: 2,
    pages: 256,
    files: 4,
    delaysUs,
    mutant,
    parkHoldUs: 1e6,
    pagevecSize: 1,
  });
  const task = 1 * TASKS_PER_CPU; // A's first task
  const vpage = PAGES_PER_FILE + INDEX; // its mapping slot 1
  set_this_cpu(1);
  do_mmap(task, 1, FILE);
  user_access(task, vpage); // page fault: mapped, made volatile
  const pfn = K.i32[pte_idx(task, vpage)]! - 1;
  hostDiscard(pfn); // Vz: A's next access is a discard fault
  const t = scratch();
  const base = { sab: m.sab, cfg: m.cfg, scratch: t.buffer, task, vpage, file: FILE };
  const [b, a] = await runScriptedCpus<ParkHoldTask, ParkHoldResult>(
    WORKER,
    [0, 1].map((cpu) => ({ ...base, cpu })),
    t,
    S.ready,
    S.go,
  );
  set_this_cpu(0);
  return { m, pfn, a: a!, b: b!, kinds: violations(m).map((v) => v.kind) };
}

describe('the parked-frame hold', () => {
  it("patched: A's window on the parked frame stays open across B's splice and IPI; refused, clean", async () => {
    const o = await schedule('none');
    expect(o.a.stopped).toBe(true);
    expect(o.kinds).toEqual([]);
    expect(counter(0, 'nmFlushInWindow')).toBe(1);
    expect(counter(0, 'nmSpliceInWindow')).toBe(1);
    expect(counter(0, 'nmIpiToWindow')).toBe(1);
    expect(counter(1, 'nmRefusedParked')).toBe(1);
    expect(counter(0, 'pagesFreedFromList')).toBe(1);
    expect(audit(o.m).errors).toEqual([]);
  }, 120_000);

  it('irq-enable-before-ref: the hold takes the IPI inside the window, and B frees P in it', async () => {
    const o = await schedule('irq-enable-before-ref');
    expect(o.a.stopped).toBe(true);
    expect(o.kinds).toContain('free-in-window');
    expect(violations(o.m).find((v) => v.kind === 'free-in-window')?.pfn).toBe(o.pfn);
    expect(counter(1, 'parkHolds')).toBe(1);
  }, 120_000);
});
