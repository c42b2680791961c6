/** Flight-recorder event kinds and how each reads in a report. */
export const EVENTS = [
  ['alloc', 'allocated pfn %p (generation %a)'],
  ['free', 'freed pfn %p to the per-CPU list'],
  ['park', 'parked pfn %p on the discard pagevec (%a in it)'],
  ['list-flush', 'moved %a pages from the pagevec to page_hva_discard_list'],
  ['splice', 'shrink_discards spliced %a pages off page_hva_discard_list'],
  ['splice-percpu', "spliced %a pages off this CPU's discard list (percpu-2006)"],
  ['shrink-free', 'shrink_discards freed pfn %p'],
  ['ipi-send', 'smp_call_function: IPIs sent (seq %a)'],
  ['ipi-take', 'took the IPI from cpu %a (seq %b)'],
  ['rendezvous', 'smp_call_function: all %a CPUs started (seq %b)'],
  ['fault', 'discard fault on pfn %p (generation %a), interrupts off'],
  ['ref-ok', 'get_page_unless_zero(pfn %p) took a reference (count was %a)'],
  ['ref-refused', 'get_page_unless_zero(pfn %p) refused: count 0'],
  ['discard-page', 'page_hva_discard_page(pfn %p)'],
  ['discard-skip', 'page_hva_discard_page(pfn %p): already PG_discarded'],
  ['remove-cache', '__remove_from_page_cache(pfn %p) file %a (%b)'],
  ['unmap', 'unmapped pfn %p from task %a'],
  ['map', 'mapped pfn %p in task %a'],
  ['host-discard', 'host discarded pfn %p (Vr -> Vz)'],
  ['reclaim', 'try_to_free_pages (free %a)'],
  ['put-last', 'put_page dropped the last reference to pfn %p'],
  ['truncate', 'truncate file %a'],
  ['violation', 'VIOLATION %a on pfn %p'],
  ['irq-on', 'interrupts enabled'],
  ['migrate-out', 'thread %b (its task) preempted here, leaves for cpu %a (--migrate)'],
  ['migrate-in', 'thread %b (its task) came here from cpu %a (--migrate)'],
  ['livelock', 'LIVELOCK: the access to vpage %b faulted %a times in a row'],
  ['hardirq', 'hardirq: %a interrupt (interrupts off)'],
  ['softirq', 'softirq %a runs (interrupts on)'],
  ['xmit', 'sendfile: pfn %p handed to the network device (ring %a)'],
  ['tx-free', 'NET_TX softirq: the device is done with pfn %p, its reference dropped'],
] as const;

export type EventName = (typeof EVENTS)[number][0];
export const EV = Object.fromEntries(EVENTS.map(([n], i) => [n, i])) as {
  readonly [K in EventName]: number;
};
