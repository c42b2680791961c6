/**
 * A CPU thread entry (as workers/cpu.ts) in which CPU CORRUPT_CPU, once it
 * has counted CORRUPT_AFTER_OPS operations, corrupts page_hva_discard_list as
 * a protocol bug would: under the list's lock, the head's tail link is set to
 * the zone free list's head, a list head where a page belongs (the issue's
 * "pfn 16384"). Unchecked, the next list_add_tail onto the discard list would
 * write into the free list's head and the splice after it would hand a head
 * to the allocator as a page.
 *
 * The hook is inject.ts's: the store of the ops counter in cpu_loop, an
 * operation boundary (no lock held, interrupts on).
 */
import { K } from '../../src/kernel/context.ts';
import { LOCK, spin_lock, spin_unlock } from '../../src/kernel/spinlock.ts';
import machineThread, { type ThreadTask } from '../../src/machine/thread.ts';
import { DISCARD, HEAD, headNode } from '../../src/shm/layout.ts';
import { lock_sites } from '../../src/stats/lock_sites.ts';
import { CORRUPT_AFTER_OPS, CORRUPT_CPU } from '../helpers/corrupt.ts';
import { at_ops } from './inject.ts';

/** lock_stat's call site of this file's lock calls (no test here looks at its label). */
const at = lock_sites('any');

let done = false;

at_ops(CORRUPT_CPU, CORRUPT_AFTER_OPS, () => {
  if (done) return;
  done = true;
  const { i32, L } = K;
  const lock = L.discard + DISCARD.lock;
  spin_lock(lock, LOCK.discard_list, at.any);
  i32[L.lru_prev + headNode(L, HEAD.discard)] = headNode(L, HEAD.free);
  spin_unlock(lock, LOCK.discard_list);
});

export default (task: Omit<ThreadTask, 'role'>) => machineThread({ ...task, role: 'cpu' });
