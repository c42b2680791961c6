/**
 * The s390 ESSA-like instructions through which the guest sees and changes
 * the host's state of a frame (docs/protocol.md section 1). Guest code never reads
 * host_state directly; the hypervisor (src/host) changes it behind the guest's
 * back with compare-and-swap.
 *
 * Encoding: usage * 4 + content; usage S 0, U 1, V 2, P 3; content r 0, p 1, z 2.
 */
import { list_corruption, WHERE } from '../check/oracle.ts';
import { LC as LC_ } from '../check/violations.ts';
import { K as THIS_CPU } from './k.ts';

/**
 * This CPU and the layout's (events', checks') constants as module-local
 * consts, which V8's optimizing compiler folds; imported bindings are cells
 * it loads and tests at every use (k.ts).
 */
const K = THIS_CPU;
const LC = LC_;

export const HS = {
  Sr: 0,
  Sp: 1,
  Sz: 2,
  Ur: 4,
  Uz: 6,
  Vr: 8,
  Vz: 10,
  Pr: 12,
} as const;
export const HS_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(HS).map(([k, v]) => [v, k]),
);

/**
 * The host-state word of `pfn`, checked to be a frame: past the end of the
 * array lies zone->lock. A bad pfn is a `list-corruption` (it came off a
 * list or vector that the checks there did not see broken, or from a pte).
 */
function hs(pfn: number): number {
  if (pfn >>> 0 >= K.L.nr_pages) list_corruption(LC['host-pfn'], pfn, pfn, WHERE.unknown);
  return K.L.host_state + pfn;
}

/** The frame's host state as the hardware sees it on an access. */
export function hw_host_state(pfn: number): number {
  return Atomics.load(K.i32, hs(pfn));
}
/** SET_STABLE: the allocator hands the frame out; content resident (zero) from now on. */
export function page_hva_set_stable(pfn: number): void {
  Atomics.store(K.i32, hs(pfn), HS.Sr);
}
/** SET_UNUSED: the frame is back in the allocator (arch_free_page). */
export function page_hva_set_unused(pfn: number): void {
  Atomics.store(K.i32, hs(pfn), HS.Ur);
}
/** SET_VOLATILE: S -> V; the host may now discard the content. */
export function page_hva_set_volatile(pfn: number): boolean {
  return Atomics.compareExchange(K.i32, hs(pfn), HS.Sr, HS.Vr) === HS.Sr;
}
/** SET_STABLE_IF_RESIDENT: V -> S atomically; fails on Vz (the host discarded it). */
export function page_hva_set_stable_if_resident(pfn: number): boolean {
  const idx = hs(pfn);
  for (;;) {
    const s = Atomics.load(K.i32, idx);
    if (s === HS.Vz) return false;
    if (s !== HS.Vr) return true;
    if (Atomics.compareExchange(K.i32, idx, HS.Vr, HS.Sr) === HS.Vr) return true;
  }
}
/** page_hva_discarded(page): the host shows Vz. */
export function page_hva_discarded(pfn: number): boolean {
  return Atomics.load(K.i32, hs(pfn)) === HS.Vz;
}
