/**
 * Named preemption points of the kernel code. Each sits between two steps of
 * kernel code that touch shared state; at each one a CPU with interrupts
 * enabled takes a pending IPI (an instruction boundary, as on hardware), and a
 * configured delay (`--delay POINT=DURATION`) widens the race window there
 * (as do --jitter, and --migrate where preemption is enabled).
 *
 * Ground-level module (beside config and layout): the kernel, the CLI and the
 * layout all read this one table.
 */
export const POINTS = [
  ['fault-to-ref', 'discard fault taken (interrupts off) .. get_page_unless_zero'],
  ['ref-inc', 'plain-inc mutant: count seen non-zero .. count incremented'],
  ['ref-to-discard', 'reference taken .. page_hva_discard_page'],
  ['discard-unmap', 'page_hva_discard_page: PG_discarded set .. ptes cleared'],
  ['discard-uncache', 'ptes cleared .. page removed from the page cache'],
  ['discard-to-put', 'page_hva_discard_page done (page unlocked) .. the discarder puts its ref'],
  ['unmap-to-put', 'pte cleared .. the mapping reference dropped (munmap, truncate)'],
  ['remove-to-put', '__remove_from_page_cache .. page cache reference dropped'],
  ['pvec-add', 'free_hot_cold_page: get_cpu_var .. pagevec_add'],
  ['pvec-store', 'pagevec_add: pvec->nr read .. page stored and nr bumped'],
  ['pvec-flush', 'pagevec full .. page_hva_discard_list_lock taken'],
  ['splice-to-ipi', 'shrink_discards: list spliced .. smp_call_function'],
  ['ipi-to-splice', 'barrier-before-splice mutant: smp_call_function returned .. list spliced'],
  ['ipi-to-free', 'smp_call_function returned .. pages freed from the local list'],
  ['ipi-wait', 'smp_call_function: waiting for started/finished'],
  ['ipi-handler', 'inside the IPI handler (page_hva_sync, or the percpu-2006 splice)'],
  ['alloc', 'buffered_rmqueue: page taken .. prep_new_page'],
  ['free-pcp', 'free_hot_cold_page: normal path, before the per-CPU list'],
  ['find-get', 'find_get_page: reference taken .. page_hva_make_stable'],
  [
    'find-get-pages',
    'find_get_pages[_tag]: a page of the gang lookup referenced .. page_hva_make_stable',
  ],
  ['gup-stable', 'get_user_pages: page pinned (FOLL_GET) .. page_hva_make_stable'],
  ['make-volatile', 'page_hva_make_volatile: checks done .. host state set'],
  ['spin', 'spinning on a held lock'],
  ['lock-held', 'a spinlock just taken, before the critical section (only when widening)'],
  ['reclaim', 'try_to_free_pages: between priority passes'],
  ['shrink-page', 'shrink_list: cond_resched() before the next isolated page'],
  ['op', 'between two workload operations'],
] as const;

export type PointName = (typeof POINTS)[number][0];
export const NR_POINTS = POINTS.length;

/**
 * Where interrupts can land: a CPU takes a pending hardirq (an IPI, the
 * timer, the network device; then softirqs on its way out) at a point only
 * while its interrupts are enabled. `on`: always so in the correct protocol;
 * `off`: never (the discard fault window, an IPI handler, under an
 * irq-disabling lock); `either`: it depends on the caller (the same function
 * runs with and without them). A mutant may turn an `off` into an `on`.
 */
export const IRQS_AT_POINT: Readonly<Record<PointName, 'on' | 'off' | 'either'>> = {
  'fault-to-ref': 'off',
  'ref-inc': 'off',
  'ref-to-discard': 'on',
  'discard-unmap': 'on',
  'discard-uncache': 'on',
  'discard-to-put': 'on',
  'unmap-to-put': 'on',
  'remove-to-put': 'on',
  'pvec-add': 'on',
  'pvec-store': 'on',
  'pvec-flush': 'on',
  'splice-to-ipi': 'on',
  'ipi-to-splice': 'on',
  'ipi-to-free': 'on',
  'ipi-wait': 'on',
  'ipi-handler': 'off',
  alloc: 'on',
  'free-pcp': 'on',
  'find-get': 'on',
  'find-get-pages': 'off',
  'gup-stable': 'on',
  'make-volatile': 'either',
  spin: 'either',
  'lock-held': 'either',
  reclaim: 'on',
  'shrink-page': 'on',
  op: 'on',
};

/** Point id by name: P['fault-to-ref'] === 0. */
export const P = Object.fromEntries(POINTS.map(([name], i) => [name, i])) as {
  readonly [K in PointName]: number;
};

export function pointId(name: string): number | undefined {
  const i = POINTS.findIndex(([n]) => n === name);
  return i < 0 ? undefined : i;
}
