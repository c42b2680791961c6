/**
 * A CPU corrupts page_hva_discard_list on real workers (test/workers/
 * corrupt-cpu.ts: its tail link names the zone free list's head). The CPU
 * that meets it next stops with a `list-corruption` naming the list, every
 * CPU stops, and the run ends FAILURE (exit 1) without --stop-on-violation:
 * not a STALL, not an ERROR, no report about pages that are list heads, and
 * zone->lock (the word after the host-state array) and the free list's head
 * as they should be. No worker thread is left afterwards.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/config.ts';
import { EXIT, runMachine } from '../../src/machine/machine.ts';
import { HEAD, headNode, LOCK_SLOT, type Views, ZONE } from '../../src/shm/layout.ts';
import { threadsBaseline, threadsSettled } from '../helpers/workers.ts';

const CORRUPT_WORKER = fileURLToPath(new URL('../workers/corrupt-cpu.mjs', import.meta.url));

let threads0 = 0;
beforeAll(async () => {
  threads0 = await threadsBaseline();
});
afterEach(async () => {
  expect(await threadsSettled(threads0)).toBeLessThanOrEqual(threads0);
});

describe('a corrupted discard list on real workers', () => {
  it('ends FAILURE, exit 1, with one list-corruption naming the list; every CPU stopped, no stall', async () => {
    const durationMs = 30_000;
    let views: Views | undefined;
    // A small guest and a one-page vector: every park goes to the list at once.
    const cfg = makeConfig({ cpus: 2, pages: 2048, pagevecSize: 1, durationMs, seed: 9 });
    const r = await runMachine(cfg, {
      cpuWorker: CORRUPT_WORKER,
      onTick: (v) => {
        views ??= v;
      },
    });
    expect(r.error).toBeUndefined();
    expect(r.stall).toBeUndefined();
    expect(r.verdict).toBe('FAILURE');
    expect(EXIT[r.verdict]).toBe(1);
    expect(r.config.stopOnViolation).toBe(false);
    expect(r.endReason).toBe('list corruption');
    expect(r.durationMs).toBeLessThan(durationMs); // the corruption ended the run
    expect(r.violationsTotal).toBe(1);
    const v = r.violations[0]!;
    expect(v.kind).toBe('list-corruption');
    expect(v.list?.name).toBe('page_hva_discard_list');
    expect(v.list?.what).toContain(String(headNode(views!.L, HEAD.free)));
    expect(v.story.length).toBeGreaterThan(1);
    expect(v.story.at(-1)).toContain('VIOLATION list-corruption');
    // the audit ran on a quiescent machine and names only the discard list's break
    expect('skipped' in r.audit).toBe(false);
    expect(r.audit.ok).toBe(false);
    const errors = 'errors' in r.audit ? r.audit.errors : [];
    expect(errors.some((e) => e.includes('page_hva_discard_list'))).toBe(true);
    expect(errors.filter((e) => e.includes('zone free list'))).toEqual([]);
    // nothing was written through the bad link
    const { i32, L } = views!;
    const lock = L.host_state + L.nr_pages; // zone->lock
    expect(lock).toBe(L.zone + ZONE.lock);
    expect(i32[lock + LOCK_SLOT.val]).toBe(i32[lock + LOCK_SLOT.owner]); // not held
    const free = headNode(L, HEAD.free);
    const first = i32[L.lru_next + free]!;
    expect(first >= 0 && first < L.nr_pages).toBe(true);
    expect(i32[L.lru_prev + first]).toBe(free);
    expect(i32[L.lru_next + i32[L.lru_prev + free]!]).toBe(free);
  });
});
