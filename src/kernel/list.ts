/**
 * include/linux/list.h on index arrays: a node is a pfn (page->lru) or a list
 * head placed after the pfns. Callers hold the lock that protects the list
 * (or own it, for per-CPU and local lists). Page nodes tell the oracle when
 * they join or leave a list ("a page is on at most one list").
 */
import { ghost_list_add, ghost_list_del } from '../check/oracle.ts';
import { K } from './context.ts';

export function INIT_LIST_HEAD(head: number): void {
  const { i32, L } = K;
  i32[L.lru_next + head] = head;
  i32[L.lru_prev + head] = head;
}

export function list_empty(head: number): boolean {
  return K.i32[K.L.lru_next + head] === head;
}
export function list_first(head: number): number {
  return K.i32[K.L.lru_next + head]!;
}
export function list_last(head: number): number {
  return K.i32[K.L.lru_prev + head]!;
}
export function list_next(node: number): number {
  return K.i32[K.L.lru_next + node]!;
}

function __list_add(node: number, prev: number, next: number): void {
  const { i32, L } = K;
  if (node < L.nr_pages) ghost_list_add(node);
  i32[L.lru_next + node] = next;
  i32[L.lru_prev + node] = prev;
  i32[L.lru_next + prev] = node;
  i32[L.lru_prev + next] = node;
}

/** Add after the head (stack order). */
export function list_add(node: number, head: number): void {
  __list_add(node, head, K.i32[K.L.lru_next + head]!);
}
/** Add before the head (queue order). */
export function list_add_tail(node: number, head: number): void {
  __list_add(node, K.i32[K.L.lru_prev + head]!, head);
}

export function list_del(node: number): void {
  const { i32, L } = K;
  const next = i32[L.lru_next + node]!;
  const prev = i32[L.lru_prev + node]!;
  i32[L.lru_next + prev] = next;
  i32[L.lru_prev + next] = prev;
  // LIST_POISON: a walk through a deleted node is caught by the audit.
  i32[L.lru_next + node] = -1;
  i32[L.lru_prev + node] = -1;
  if (node < L.nr_pages) ghost_list_del(node);
}

/** Move all nodes of `list` to the front of `head`; reinitialise `list`. */
export function list_splice_init(list: number, head: number): void {
  if (list_empty(list)) return;
  const { i32, L } = K;
  const first = i32[L.lru_next + list]!;
  const last = i32[L.lru_prev + list]!;
  const at = i32[L.lru_next + head]!;
  i32[L.lru_prev + first] = head;
  i32[L.lru_next + head] = first;
  i32[L.lru_next + last] = at;
  i32[L.lru_prev + at] = last;
  INIT_LIST_HEAD(list);
}
