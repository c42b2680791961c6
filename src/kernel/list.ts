/**
 * include/linux/list.h on index arrays: a node is a pfn (page->lru) or a list
 * head placed after the pfns. Callers hold the lock that protects the list
 * (or own it, for per-CPU and local lists). Page nodes tell the oracle when
 * they join or leave a list ("a page is on at most one list").
 *
 * Every operation checks its neighbours before it writes, as the kernel's
 * CONFIG_DEBUG_LIST does (__list_add_valid, __list_del_entry_valid): next
 * points back, prev points on, a node being added is not linked, a node
 * being deleted is not poisoned, and every node index it is about to write
 * through is a node (a page where a page is expected). A failed check is a
 * `list-corruption` violation that stops the machine; this CPU stops
 * touching the list by throwing ListCorruption (cpu_loop catches it and
 * calls list_corruption_unwind). So a corrupted link never makes a write
 * land outside the link arrays, and no walk runs on through other memory.
 * The checks are plain compares on words the operation reads anyway.
 */
import {
  ghost_list_add,
  ghost_list_del,
  is_list_head,
  ListCorruption,
  list_corruption,
  WHERE,
} from '../check/oracle.ts';
import { LC as LC_ } from '../check/violations.ts';
import {
  DISCARD as DISCARD_,
  FAULTREC as FAULTREC_,
  fileBase,
  LOCK_SLOT as LOCK_SLOT_,
  PERCPU as PERCPU_,
  taskBase,
  ZONE as ZONE_,
} from '../shm/layout.ts';
import { K as THIS_CPU } from './k.ts';
import { ClearPageFlag, PageLocked, PG_locked } from './page-flags.ts';
import { arch_spin_is_locked, LOCK, spin_unlock } from './spinlock.ts';

/**
 * This CPU and the layout's (events', checks') constants as module-local
 * consts, which V8's optimizing compiler folds; imported bindings are cells
 * it loads and tests at every use (k.ts).
 */
const K = THIS_CPU;
const LC = LC_;
const DISCARD = DISCARD_;
const FAULTREC = FAULTREC_;
const LOCK_SLOT = LOCK_SLOT_;
const PERCPU = PERCPU_;
const ZONE = ZONE_;

export { ListCorruption };

/**
 * include/linux/poison.h: what list_del leaves in a deleted node's links.
 * Never a node index, so a walk through a deleted node stops at the check.
 */
export const LIST_POISON1 = -0x100;
export const LIST_POISON2 = -0x200;

/** Boot initialises every slot of the head region (the unused ones too). */
export function INIT_LIST_HEAD(head: number): void {
  const { i32, L } = K;
  if (!(head >= L.head_base && head < L.nr_nodes)) {
    list_corruption(LC['bad-head'], head, head, WHERE.unknown);
  }
  i32[L.lru_next + head] = head;
  i32[L.lru_prev + head] = head;
}

export function list_empty(head: number): boolean {
  return K.i32[K.L.lru_next + head] === head;
}
/**
 * The first page of the list, or `head` itself if it is empty both ways (as
 * list_for_each starts): anything else than a page that points back to the
 * head is a corruption. A caller that expects a page and gets the head
 * (a count said non-empty) fails at list_del, which takes pages only.
 */
export function list_first(head: number): number {
  const { i32, L } = K;
  const n = i32[L.lru_next + head]!;
  // One test on the common path; the report (which check failed) out of line,
  // so that the function is small enough for V8 to inline (as below).
  if (
    n === head
      ? i32[L.lru_prev + head] !== head
      : n >>> 0 >= L.nr_pages || i32[L.lru_prev + n] !== head
  ) {
    list_end_corrupt(head, n, L.lru_prev);
  }
  return n;
}
/** list_first/list_last found a bad first (last) node `n` of `head`: report it (throws). */
function list_end_corrupt(head: number, n: number, back: number): never {
  const { i32, L } = K;
  if (n === head || n >>> 0 >= L.nr_pages) list_corruption(LC['first-not-page'], head, n, head);
  if (i32[back + n] !== head) list_corruption(LC['first-back'], head, n, head);
  throw new Error('list_end_corrupt: no check failed');
}
/** The last page of the list, or `head` if it is empty both ways. */
export function list_last(head: number): number {
  const { i32, L } = K;
  const n = i32[L.lru_prev + head]!;
  if (
    n === head
      ? i32[L.lru_next + head] !== head
      : n >>> 0 >= L.nr_pages || i32[L.lru_next + n] !== head
  ) {
    list_end_corrupt(head, n, L.lru_next);
  }
  return n;
}
/**
 * The node after `node` (list_for_each's step). It must point back: a walk
 * from a head whose every step points back returns to the head within
 * nr_nodes steps, so no cycle can hold a walker and no link leads it out.
 */
export function list_next(node: number): number {
  const { i32, L } = K;
  const n = i32[L.lru_next + node]!;
  if (n >>> 0 >= L.nr_nodes || i32[L.lru_prev + n] !== node) list_next_corrupt(node, n);
  return n;
}
function list_next_corrupt(node: number, n: number): never {
  list_corruption(LC['next-back'], node, n, WHERE.find);
}

/**
 * __list_add_valid: `node` is a page whose links are LIST_POISON (deleted)
 * or zero (never linked: boot), `next` points back to `prev`, `prev` on to
 * `next`, and both are node indices (so the writes stay in the link arrays).
 */
function __list_add(node: number, prev: number, next: number, head: number): void {
  const k = K;
  const i32 = k.i32;
  const L = k.L;
  const nextArr = L.lru_next;
  const prevArr = L.lru_prev;
  const nr_nodes = L.nr_nodes;
  const ln = i32[nextArr + node]!;
  const lp = i32[prevArr + node]!;
  if (
    node >>> 0 >= L.nr_pages ||
    !((ln === LIST_POISON1 && lp === LIST_POISON2) || (ln | lp) === 0) ||
    next >>> 0 >= nr_nodes ||
    i32[prevArr + next] !== prev ||
    prev >>> 0 >= nr_nodes ||
    i32[nextArr + prev] !== next
  ) {
    list_add_corrupt(node, prev, next, head);
  }
  ghost_list_add(node);
  i32[nextArr + node] = next;
  i32[prevArr + node] = prev;
  i32[nextArr + prev] = node;
  i32[prevArr + next] = node;
}

/** __list_add_valid failed: report the first check that did, in its order (throws). */
function list_add_corrupt(node: number, prev: number, next: number, head: number): never {
  const { i32, L } = K;
  if (node >>> 0 >= L.nr_pages) list_corruption(LC['add-not-page'], node, node, head);
  const ln = i32[L.lru_next + node]!;
  const lp = i32[L.lru_prev + node]!;
  if (!((ln === LIST_POISON1 && lp === LIST_POISON2) || (ln | lp) === 0)) {
    list_corruption(LC['add-linked'], node, ln, head);
  }
  if (next >>> 0 >= L.nr_nodes || i32[L.lru_prev + next] !== prev) {
    list_corruption(LC['add-next'], prev, next, head);
  }
  list_corruption(LC['add-prev'], next, prev, head);
}

/** Add after the head (stack order). */
export function list_add(node: number, head: number): void {
  __list_add(node, head, K.i32[K.L.lru_next + head]!, head);
}
/** Add before the head (queue order). */
export function list_add_tail(node: number, head: number): void {
  __list_add(node, K.i32[K.L.lru_prev + head]!, head, head);
}

/**
 * __list_del_entry_valid, then unlink and poison. Only pages are deleted;
 * the list is unknown here: a report finds its head from the node.
 */
export function list_del(node: number): void {
  const k = K;
  const i32 = k.i32;
  const L = k.L;
  const nextArr = L.lru_next;
  const prevArr = L.lru_prev;
  const nr_nodes = L.nr_nodes;
  const next = i32[nextArr + node]!;
  const prev = i32[prevArr + node]!;
  if (
    node >>> 0 >= L.nr_pages ||
    next === LIST_POISON1 ||
    next >>> 0 >= nr_nodes ||
    i32[prevArr + next] !== node ||
    prev >>> 0 >= nr_nodes ||
    i32[nextArr + prev] !== node
  ) {
    list_del_corrupt(node);
  }
  i32[nextArr + prev] = next;
  i32[prevArr + next] = prev;
  i32[nextArr + node] = LIST_POISON1;
  i32[prevArr + node] = LIST_POISON2;
  ghost_list_del(node);
}

/** __list_del_entry_valid failed: report the first check that did, in its order (throws). */
function list_del_corrupt(node: number): never {
  const { i32, L } = K;
  if (node >>> 0 >= L.nr_pages) list_corruption(LC['del-not-page'], node, node, WHERE.find);
  const next = i32[L.lru_next + node]!;
  const prev = i32[L.lru_prev + node]!;
  if (next === LIST_POISON1) list_corruption(LC['del-poisoned'], node, next, WHERE.find);
  if (next >>> 0 >= L.nr_nodes || i32[L.lru_prev + next] !== node) {
    list_corruption(LC['del-next'], node, next, WHERE.find);
  }
  list_corruption(LC['del-prev'], node, prev, WHERE.find);
}

/** Move all nodes of `list` to the front of `head`; reinitialise `list`. */
export function list_splice_init(list: number, head: number): void {
  const { i32, L } = K;
  if (!is_list_head(list)) list_corruption(LC['bad-head'], list, list, WHERE.unknown);
  if (!is_list_head(head)) list_corruption(LC['bad-head'], head, head, WHERE.unknown);
  const first = i32[L.lru_next + list]!;
  const last = i32[L.lru_prev + list]!;
  if (first === list && last === list) return;
  if (first >>> 0 >= L.nr_pages || i32[L.lru_prev + first] !== list) {
    list_corruption(LC['splice-first'], list, first, list);
  }
  if (last >>> 0 >= L.nr_pages || i32[L.lru_next + last] !== list) {
    list_corruption(LC['splice-last'], list, last, list);
  }
  const at = i32[L.lru_next + head]!;
  if (at >>> 0 >= L.nr_nodes || i32[L.lru_prev + at] !== head) {
    list_corruption(LC['splice-at'], head, at, head);
  }
  i32[L.lru_prev + first] = head;
  i32[L.lru_next + head] = first;
  i32[L.lru_next + last] = at;
  i32[L.lru_prev + at] = last;
  i32[L.lru_next + list] = list;
  i32[L.lru_prev + list] = list;
}

/**
 * The CPU that found a corrupted list (cpu_loop caught ListCorruption) lets
 * go of what it held when it stopped mid-operation, so that the other CPUs
 * can finish theirs and stop: every spinlock and page lock it is the holder
 * of (the lock's last-taker word is this CPU and the lock is held), its
 * fault window, interrupts and preemption. An oops in the kernel leaves
 * them held; the emulator must end the run rather than hang in it.
 */
export function list_corruption_unwind(): void {
  const { i32, L } = K;
  const me = K.cpu + 1;
  const release = (lock: number, cls: number) => {
    if (arch_spin_is_locked(i32, lock) && i32[lock + LOCK_SLOT.cpu] === me) spin_unlock(lock, cls);
  };
  release(L.discard + DISCARD.lock, LOCK.discard_list);
  release(L.zone + ZONE.lock, LOCK.zone);
  release(L.zone + ZONE.lru_lock, LOCK.lru);
  for (let f = 0; f < L.nr_files; f++) release(fileBase(L, f) + L.file_tree_lock, LOCK.tree);
  for (let t = 0; t < L.nr_tasks; t++) release(taskBase(L, t) + L.task_pte_lock, LOCK.pte);
  release(L.call_lock, LOCK.call_lock);
  for (let pfn = 0; pfn < L.nr_pages; pfn++) {
    if (i32[L.page_lock_cpu + pfn] === me && PageLocked(pfn)) ClearPageFlag(pfn, PG_locked);
  }
  const fr = L.faultrec + K.home * L.faultrec_stride;
  if (Atomics.exchange(i32, fr + FAULTREC.active, 0) !== 0 && K.absolute) {
    const pfn = i32[fr + FAULTREC.pfn]!;
    if (pfn >>> 0 < L.nr_pages) Atomics.sub(i32, L.ghost_wtarget + pfn, 1);
  }
  i32[K.percpu + PERCPU.preempt_count] = 0;
  i32[K.percpu + PERCPU.irqs_enabled] = 1;
}
