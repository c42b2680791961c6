/** Kinds of violation the oracle reports (docs/protocol.md section 6). */
export const VIOLATION_KINDS = [
  [
    'use-after-reuse',
    'the discard fault handler got a reference to a frame that was freed and reallocated since the fault',
  ],
  [
    'free-in-window',
    "a frame entered the allocator while a CPU's discard-fault window targeted it",
  ],
  ['ref-from-zero', 'a reference count went 0 -> 1 outside the allocator'],
  ['bad-page', 'free_pages_check failed: flags, mapping or count wrong on free'],
  ['bad-alloc', 'the allocator handed out a frame that was not free'],
  ['double-list', 'a page was put on a list while already on one'],
  ['negative-count', 'put_page dropped a reference the page did not have'],
  [
    'lost-page',
    'a page parked in a discard pagevec slot was overwritten by another page (detail: its pfn): lost, count 0 on no list',
  ],
  ['pagevec-overflow', 'pagevec_add on a full vector (its count went past PAGEVEC_SIZE)'],
  ['audit', 'the conservation audit failed'],
  [
    'smp-call-irqs-off',
    'WARN_ON in smp_call_function: called with interrupts disabled or from interrupt context (it can deadlock); detail: 1 interrupts off, 2 in interrupt, 3 both',
  ],
  [
    'bug-on',
    'a BUG_ON of the posted code would fire here (detail: which one, see BUG_ON_SITES in src/kernel/page_hva.ts)',
  ],
  [
    'list-corruption',
    "a list or pagevec check failed (CONFIG_DEBUG_LIST's): a link or a pfn pointed outside the list; the CPU stopped touching it",
  ],
  // the lock validator (src/kernel/lockdep.ts): each the first time it becomes possible; detail: its report slot
  [
    'lockdep-inconsistent',
    'inconsistent lock state: a lock class used in interrupt context is also taken (or held) with that interrupt enabled',
  ],
  [
    'lockdep-circular',
    'possible circular locking dependency: a new lock order closes a cycle in the graph of lock classes',
  ],
  [
    'lockdep-irq-inversion',
    'possible irq lock inversion: an irq-safe lock class is taken before an irq-unsafe one (directly or through the graph)',
  ],
  [
    'lockdep-percpu',
    'per-CPU data used from interrupt context and from process context with that interrupt enabled (preemption off only)',
  ],
  [
    'lockdep-recursive',
    'possible recursive locking: a lock class taken again on a CPU that already holds it (a deadlock if it is the same lock)',
  ],
] as const;

export type ViolationKind = (typeof VIOLATION_KINDS)[number][0];
export const VK = Object.fromEntries(VIOLATION_KINDS.map(([n], i) => [n, i])) as {
  readonly [K in ViolationKind]: number;
};

/**
 * What a `list-corruption` violation found (its VIOL.gen_at_fault; decode.ts
 * renders it): %n is the node checked, %v the value found there.
 */
export const LIST_CHECKS = [
  ['add-not-page', 'list_add: node %n is not a page'],
  ['add-linked', 'list_add: pfn %n is already linked (its next is %v, not LIST_POISON1)'],
  ['add-next', 'list_add: next (node %v) does not point back to prev (node %n)'],
  ['add-prev', 'list_add: prev (node %v) does not point on to next (node %n)'],
  ['del-not-page', 'list_del: node %n is not a page'],
  ['del-poisoned', 'list_del: pfn %n was already deleted (LIST_POISON1)'],
  ['del-next', 'list_del: pfn %n: its next (node %v) does not point back to it'],
  ['del-prev', 'list_del: pfn %n: its prev (node %v) does not point on to it'],
  ['first-not-page', 'list_first/list_last: the head leads to node %v, not a page'],
  ['first-back', 'list_first/list_last: pfn %v does not point back to the head'],
  ['next-back', 'list_next: node %n leads to node %v, which does not point back to it'],
  ['bad-head', 'node %n is not a list head'],
  ['splice-first', 'list_splice_init: the first node (%v) does not point back to the list'],
  ['splice-last', 'list_splice_init: the last node (%v) does not point on to the list'],
  ['splice-at', "list_splice_init: the head's next (node %v) does not point back to it"],
  ['pvec-count', 'pagevec count %v is outside 0..PAGEVEC_SIZE'],
  ['pvec-pfn', 'pagevec slot %n holds %v, not a pfn'],
  ['host-pfn', 'ESSA on %v: not a pfn (the host-state write was refused)'],
  ['ghost-pfn', 'oracle hook on %v: not a pfn (the ghost-state write was refused)'],
] as const;
export type ListCheck = (typeof LIST_CHECKS)[number][0];
export const LC = Object.fromEntries(LIST_CHECKS.map(([n], i) => [n, i])) as {
  readonly [K in ListCheck]: number;
};
