/**
 * docs/protocol.md section 5's verdict on "[patch 8/9] Guest page hinting:
 * discarded page list" as posted in September 2006 (`--protocol
 * percpu-2006`, src/kernel/protocol/percpu-2006.ts: free_hot_cold_page puts
 * a discarded page on this CPU's page_discard_list, and page_shrink_discards
 * gathers the lists with on_each_cpu, each CPU splicing its own inside the
 * IPI handler), played as one schedule on real workers (see
 * test/workers/percpu2006.ts): S reclaims, Y takes its IPI and then faults
 * on P, X parks P and only then takes its IPI.
 *
 * - With IPI delivery latency (--ipi-delivery) that order happens, and P is
 *   freed while Y's fault window is open: free-in-window. The IPI a CPU took
 *   is a barrier for the pages parked before it, not for those another CPU
 *   parks after it (barrier-before-splice in disguise).
 * - With instant delivery X takes its IPI at a preemption point before it
 *   parks P (the last one is __page_cache_release's local_irq_restore, just
 *   before the discard branch), so P waits for the next pass: clean.
 * - The default protocol (`patched`, dec-2005) under the same schedule:
 *   clean (P goes to the global list after S spliced it; it waits for the
 *   next pass's IPIs).
 *
 * X's IPI arrives at a random time; attempts where it came too early to
 * show the hazard's order are retried (a bounded number of times).
 */
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PAGES_PER_FILE, type Protocol, TASKS_PER_CPU } from '../../src/config.ts';
import { K, set_this_cpu } from '../../src/kernel/context.ts';
import { user_access } from '../../src/kernel/fault.ts';
import { find_get_page } from '../../src/kernel/filemap.ts';
import { do_mmap, pte_idx } from '../../src/kernel/memory.ts';
import { page_count } from '../../src/kernel/page-flags.ts';
import { NR_POINTS, P } from '../../src/points.ts';
import { boot, cachePage, hostDiscard, makeDiscarded, violations } from '../helpers/machine.ts';
import { S, scratch } from '../helpers/scratch.ts';
import { runScriptedCpus, threadsBaseline, threadsSettled } from '../helpers/workers.ts';
import type { ScheduleResult, ScheduleTask } from '../workers/percpu2006.ts';

const WORKER = fileURLToPath(new URL('../workers/percpu2006.mjs', import.meta.url));
/** Y's fault window: longer than any IPI delivery below, so S frees P inside it. */
const WINDOW_US = 600_000;
const DELIVERY_US = 300_000;
const MARGIN_MS = 40;
const ATTEMPTS = 10;

let threads0 = 0;
beforeAll(async () => {
  threads0 = await threadsBaseline();
});
afterEach(async () => {
  expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
});

type Outcome = {
  ipiFirst: boolean;
  kinds: string[];
  pfn: number;
  countAfter: number;
  story: string[];
};

async function schedule(protocol: Protocol, ipiDeliveryUs: number): Promise<Outcome> {
  const delaysUs = new Array<number>(NR_POINTS).fill(0);
  delaysUs[P['fault-to-ref']] = WINDOW_US;
  const m = boot({
    cpus: 3,
    pages: 256,
    files: 4,
    protocol,
    pagevecSize: 1,
    ipiDeliveryUs,
    delaysUs,
  });
  // P: file 2, index 4, mapped by Y's first task, volatile, then discarded by the host.
  const task = 2 * TASKS_PER_CPU;
  const vpage = PAGES_PER_FILE + 4;
  set_this_cpu(2);
  do_mmap(task, 1, 2);
  user_access(task, vpage); // page fault: mapped, made volatile
  const pfn = K.i32[pte_idx(task, vpage)]! - 1;
  hostDiscard(pfn);
  // A page already parked on S's side, so that shrink_discards has work and sends IPIs.
  set_this_cpu(0);
  const q = cachePage(3, 0);
  makeDiscarded(q, 1);
  expect(find_get_page(3, 0)).toBe(-1);

  const t = scratch();
  const base = {
    sab: m.sab,
    cfg: m.cfg,
    scratch: t.buffer,
    task,
    vpage,
    file: 2,
    index: 4,
    marginMs: MARGIN_MS,
  };
  const results = await runScriptedCpus<ScheduleTask, ScheduleResult>(
    WORKER,
    [0, 1, 2].map((cpu) => ({ ...base, cpu })),
    t,
    S.ready,
    S.go,
  );
  set_this_cpu(0);
  const vs = violations(m);
  return {
    ipiFirst: results[1]!.ipiFirst,
    kinds: vs.filter((v) => v.pfn === pfn).map((v) => v.kind),
    pfn,
    countAfter: page_count(pfn),
    story: vs[0]?.story ?? [],
  };
}

/** Run the schedule until X's IPI came late enough to show the hazard's order. */
async function lateX(protocol: Protocol): Promise<Outcome> {
  let o: Outcome | undefined;
  for (let i = 0; i < ATTEMPTS && (!o || o.ipiFirst); i++)
    o = await schedule(protocol, DELIVERY_US);
  expect(o!.ipiFirst, `X's IPI came first in all ${ATTEMPTS} attempts`).toBe(false);
  return o!;
}

describe('percpu-2006', () => {
  it("with IPI delivery latency: X parks P after Y took its IPI, P is freed inside Y's window", async () => {
    const o = await lateX('percpu-2006');
    if (process.env.SHOW_STORY) console.log(o.story.join('\n'));
    expect(o.kinds, o.story.join('\n')).toContain('free-in-window');
  }, 240_000);

  it('with instant delivery: X takes its IPI before it parks P; clean', async () => {
    const o = await schedule('percpu-2006', 0);
    expect(o.ipiFirst).toBe(true);
    expect(o.kinds).toEqual([]);
    expect(o.countAfter).toBe(0); // parked for the next round
  }, 120_000);

  it('patched (dec-2005-fixed), same schedule with IPI delivery latency: clean', async () => {
    const o = await lateX('patched');
    expect(o.kinds).toEqual([]);
    expect(o.countAfter).toBe(0);
  }, 240_000);
});
