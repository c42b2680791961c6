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
] as const;

export type ViolationKind = (typeof VIOLATION_KINDS)[number][0];
export const VK = Object.fromEntries(VIOLATION_KINDS.map(([n], i) => [n, i])) as {
  readonly [K in ViolationKind]: number;
};
