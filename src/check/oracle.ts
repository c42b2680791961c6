/**
 * The oracle: ghost state the kernel could not see (docs/protocol.md section 6),
 * kept in its own region of the buffer. Kernel code reaches it only through
 * the hooks below, at the instants the spec names.
 *
 * - ghost_gen[pfn]: a generation bumped on every allocation. The faulting CPU
 *   records (pfn, generation) at the faulting access; when its
 *   get_page_unless_zero succeeds the generation must be unchanged, else the
 *   handler holds a reference to a frame that was freed and reused.
 * - ghost_wtarget[pfn]: how many CPUs are inside a discard-fault window W
 *   (faulting access .. end of the reference attempt) on this frame; a frame
 *   must not enter the allocator while it is non-zero.
 * - ghost_list[pfn]: 1 while the page is on a list, PVEC_TAG + slot while it
 *   is in a discard pagevec's slot (so that overwriting a slot whose page is
 *   still in it, a lost page, is seen when it happens).
 * - ghost_last_alloc/free/park[pfn] and ghost_hist_t: who last allocated,
 *   freed and parked the frame, and when: a violation copies them, so its
 *   report shows those steps even when the flight recorders have moved on.
 *
 * After reporting, the kernel code contains the damage (the handler drops the
 * stray reference instead of discarding someone else's page), so a run can go
 * on and find more.
 */
import {
  MAX_VIOLATIONS as MAX_VIOLATIONS_,
  RING_EVENTS as RING_EVENTS_,
  VIOLATION_CPUS as VIOLATION_CPUS_,
} from '../config.ts';
import { K as THIS_CPU } from '../kernel/k.ts';
import {
  CNT as CNT_,
  CTRL as CTRL_,
  EVENT_WORDS as EVENT_WORDS_,
  FAULTREC as FAULTREC_,
  HEAD as HEAD_,
  HIST as HIST_,
  PERCPU_HEADS as PERCPU_HEADS_,
  ringBase,
  VIOL as VIOL_,
  VIOL_TIME as VIOL_TIME_,
  violBase,
} from '../shm/layout.ts';
import { EV as EV_ } from './events.ts';
import { now, rec } from './recorder.ts';
import { LC as LC_, VK as VK_ } from './violations.ts';

/**
 * This CPU and the layout's (events', checks') constants as module-local
 * consts, which V8's optimizing compiler folds; imported bindings are cells
 * it loads and tests at every use (k.ts).
 */
const K = THIS_CPU;
const MAX_VIOLATIONS = MAX_VIOLATIONS_;
const RING_EVENTS = RING_EVENTS_;
const VIOLATION_CPUS = VIOLATION_CPUS_;
const CNT = CNT_;
const CTRL = CTRL_;
const EVENT_WORDS = EVENT_WORDS_;
const FAULTREC = FAULTREC_;
const HEAD = HEAD_;
const HIST = HIST_;
const PERCPU_HEADS = PERCPU_HEADS_;
const VIOL = VIOL_;
const VIOL_TIME = VIOL_TIME_;
const EV = EV_;
const LC = LC_;
const VK = VK_;

/** The fault record is the task's (K.home): --migrate may move a task whose W has interrupts on (mutant). */
const faultrec = (cpu: number) => K.L.faultrec + cpu * K.L.faultrec_stride;
/** ghost_list value of a page in a pagevec slot: PVEC_TAG + (slot index - L.pvec). */
export const PVEC_TAG = 2;

/**
 * Stamp the frame's last alloc/free/park. The flight-recorder event that
 * follows on this CPU reuses the reading (K.histT): a clock read is a third of
 * the discard path's cost on Node 20.
 */
function hist(pfn: number, what: number): void {
  const t = now();
  K.histT = t;
  K.f64[K.L.ghost_hist_t + pfn * HIST.nr + what] = t;
}

/** The faulting access reads the generation before it reads the host state (see fault.ts). */
export function oracle_access(pfn: number): number {
  if (pfn >>> 0 >= K.L.nr_pages) ghost_pfn_bug(pfn);
  return Atomics.load(K.i32, K.L.ghost_gen + pfn);
}

/**
 * A discard fault on `pfn` was taken (interrupts off): W begins. The
 * (pfn, generation) record is kept for both fault-address kinds; only with
 * the absolute address does the window count in ghost_wtarget: with the
 * virtual one the handler takes its reference through a pte under the pte
 * lock, the pte pins the frame, and a frame freed meanwhile (unmapped first)
 * is no hazard. Checking the generation in both kinds keeps the claim "the
 * pte pins the page" checked rather than assumed.
 */
export function oracle_fault_begin(pfn: number, gen: number): void {
  const i32 = K.i32;
  if (pfn >>> 0 >= K.L.nr_pages) ghost_pfn_bug(pfn);
  const fr = faultrec(K.home);
  i32[fr + FAULTREC.pfn] = pfn;
  i32[fr + FAULTREC.gen] = gen;
  i32[K.L.ghost_last_fault + pfn] = K.cpu; // whose flight recorder holds this fault
  Atomics.store(i32, fr + FAULTREC.active, 1);
  // A window already open on the frame: two CPUs fault on it at once (a near miss, coverage.ts).
  if (K.absolute && Atomics.add(i32, K.L.ghost_wtarget + pfn, 1) !== 0) {
    K.f64[K.stats + CNT.nmDoubleFault]!++;
  }
}

/**
 * The reference attempt of the discard fault on `pfn` ended; W ends.
 * Returns true if the reference that was taken is to a reused frame (a
 * violation was reported and the caller must drop the reference).
 */
export function oracle_fault_ref(pfn: number, gotRef: boolean): boolean {
  const i32 = K.i32;
  if (pfn >>> 0 >= K.L.nr_pages) ghost_pfn_bug(pfn);
  const fr = faultrec(K.home);
  const genAtFault = i32[fr + FAULTREC.gen]!;
  Atomics.store(i32, fr + FAULTREC.active, 0);
  if (K.absolute) Atomics.sub(i32, K.L.ghost_wtarget + pfn, 1);
  if (!gotRef) return false;
  const genNow = Atomics.load(i32, K.L.ghost_gen + pfn);
  if (genNow === genAtFault) return false;
  report_violation(VK['use-after-reuse'], pfn, genAtFault, genNow);
  return true;
}

/** prep_new_page: the frame leaves the allocator. Returns the new generation. */
export function oracle_alloc(pfn: number): number {
  const i32 = K.i32;
  const L = K.L;
  if (pfn >>> 0 >= L.nr_pages) ghost_pfn_bug(pfn);
  i32[L.ghost_last_alloc + pfn] = K.cpu;
  hist(pfn, HIST.alloc);
  return Atomics.add(i32, L.ghost_gen + pfn, 1) + 1;
}

/** The frame enters the allocator (per-CPU list or zone): no W may target it. */
export function oracle_enter_allocator(pfn: number): void {
  const i32 = K.i32;
  const L = K.L;
  if (pfn >>> 0 >= L.nr_pages) ghost_pfn_bug(pfn);
  i32[L.ghost_last_free + pfn] = K.cpu;
  hist(pfn, HIST.free);
  if (Atomics.load(i32, L.ghost_wtarget + pfn) !== 0) free_in_window(pfn);
}
/** oracle_enter_allocator's report, out of line (the hook runs once a page freed). */
function free_in_window(pfn: number): void {
  const i32 = K.i32;
  const L = K.L;
  // Whose window? ghost_last_fault names the CPU whose flight recorder holds
  // the fault (written before the window opened, so it is there now), even
  // if that window closes while we report. The frame is still in the
  // generation it had at the fault (it is being freed, not yet reallocated).
  const genNow = Atomics.load(i32, L.ghost_gen + pfn);
  let gen = genNow;
  for (let c = 0; c < L.nr_cpus; c++) {
    const fr = faultrec(c);
    if (Atomics.load(i32, fr + FAULTREC.active) && i32[fr + FAULTREC.pfn] === pfn) {
      gen = i32[fr + FAULTREC.gen]!;
      break;
    }
  }
  report_violation(VK['free-in-window'], pfn, gen, genNow, i32[L.ghost_last_fault + pfn]!);
}

export function oracle_ref_from_zero(pfn: number): void {
  if (pfn >>> 0 >= K.L.nr_pages) ghost_pfn_bug(pfn);
  const g = Atomics.load(K.i32, K.L.ghost_gen + pfn);
  report_violation(VK['ref-from-zero'], pfn, g, g);
}
/** A page in a bad state: `detail` is the bad flags, count or mapping (see the kind). */
export function oracle_bad_page(pfn: number, kind: number, detail: number): void {
  if (pfn >>> 0 >= K.L.nr_pages) ghost_pfn_bug(pfn);
  const g = Atomics.load(K.i32, K.L.ghost_gen + pfn);
  report_violation(kind, pfn, g, g, -1, detail);
}

/** A WARN_ON or BUG_ON that concerns no frame (pfn -1): `detail` says which. */
export function oracle_warn(kind: number, detail: number): void {
  report_violation(kind, -1, -1, -1, -1, detail);
}

/** A page node joins a list or pagevec. */
export function ghost_list_add(pfn: number): void {
  if (pfn >>> 0 >= K.L.nr_pages) ghost_pfn_bug(pfn);
  if (Atomics.exchange(K.i32, K.L.ghost_list + pfn, 1) !== 0) {
    oracle_bad_page(pfn, VK['double-list'], 0);
  }
}
export function ghost_list_del(pfn: number): void {
  // A plain store: the page's owner (the holder of its list's lock, or the
  // CPU that took it off a private list) clears it; whoever adds it to a list
  // next got it through a lock or an atomic, and exchanges the word.
  if (pfn >>> 0 >= K.L.nr_pages) ghost_pfn_bug(pfn);
  K.i32[K.L.ghost_list + pfn] = 0;
}

/**
 * pagevec_add is about to store `pfn` in the vector slot at i32 index
 * `slot`: the page joins the vector (parked), and the slot's previous page
 * must have left it. If that page is still recorded in this very slot, two
 * tasks added to one vector at once and it is being overwritten: lost.
 */
export function ghost_pvec_store(slot: number, pfn: number): void {
  const i32 = K.i32;
  const L = K.L;
  if (pfn >>> 0 >= L.nr_pages) ghost_pfn_bug(pfn);
  const tag = PVEC_TAG + (slot - L.pvec);
  const old = i32[slot]!;
  if (
    old !== pfn &&
    old >= 0 &&
    old < L.nr_pages &&
    Atomics.load(i32, L.ghost_list + old) === tag
  ) {
    lost_page(old, pfn);
  }
  if (Atomics.exchange(i32, L.ghost_list + pfn, tag) !== 0) {
    oracle_bad_page(pfn, VK['double-list'], 0);
  }
  i32[L.ghost_last_park + pfn] = K.cpu;
  hist(pfn, HIST.park);
}

/** pagevec_add found the vector already full: `pfn` is not stored (lost). */
/** ghost_pvec_store: the slot's page `old` is still in it (out of line: never on a good run). */
function lost_page(old: number, pfn: number): void {
  const g = Atomics.load(K.i32, K.L.ghost_gen + old);
  report_violation(VK['lost-page'], old, g, g, -1, pfn);
}

export function oracle_pvec_overflow(pfn: number, nr: number): void {
  oracle_bad_page(pfn, VK['pagevec-overflow'], nr);
}

/**
 * Store a violation with the flight recorders of the CPUs involved: this CPU,
 * the frame's last allocator and last freer (and `other` if given; with
 * `everyCpu`, then the other CPUs in order, as far as the slots go).
 */
export function report_violation(
  kind: number,
  pfn: number,
  genAtFault: number,
  genNow: number,
  other = -1,
  detail = 0,
  everyCpu = false,
): void {
  const i32 = K.i32;
  const L = K.L;
  rec(EV.violation, pfn, kind);
  const n = Atomics.add(i32, L.ctrl + CTRL.nr_violations, 1);
  if (K.cfg.stopOnViolation) Atomics.store(i32, L.ctrl + CTRL.stop, 1);
  if (n >= MAX_VIOLATIONS) return;
  const v = violBase(L, n);
  i32[v + VIOL.kind] = kind;
  i32[v + VIOL.cpu] = K.cpu;
  i32[v + VIOL.pfn] = pfn;
  i32[v + VIOL.gen_at_fault] = genAtFault;
  i32[v + VIOL.gen_now] = genNow;
  i32[v + VIOL.detail] = detail;
  // A frame's history only for a frame (a WARN_ON has pfn -1).
  const frame = pfn >= 0 && pfn < L.nr_pages;
  const h = L.ghost_hist_t + pfn * HIST.nr;
  const last = [L.ghost_last_alloc, L.ghost_last_free, L.ghost_last_park].map((r, k) =>
    frame && K.f64[h + k]! > 0 ? i32[r + pfn]! : -1,
  );
  const tbase = L.viol_time + n * L.viol_time_stride;
  for (let k = 0; k < HIST.nr; k++) {
    i32[v + VIOL.hist + k] = last[k]!;
    K.f64[tbase + VIOL_TIME.hist + k] = frame ? K.f64[h + k]! : 0;
  }
  const cpus: number[] = [K.cpu];
  const more = everyCpu ? Array.from({ length: L.nr_cpus }, (_, c) => c) : [];
  for (const c of [other, ...last, ...more]) {
    if (c >= 0 && c < L.nr_recorders && !cpus.includes(c) && cpus.length < VIOLATION_CPUS) {
      cpus.push(c);
    }
  }
  K.f64[tbase + VIOL_TIME.at] = now();
  for (let k = 0; k < VIOLATION_CPUS; k++) {
    const c = cpus[k] ?? -1;
    i32[v + VIOL.cpus + k] = c;
    if (c < 0) continue;
    const ring = ringBase(L, c);
    const head = Atomics.load(i32, ring);
    for (let j = 0; j < RING_EVENTS; j++) {
      const seq = head - RING_EVENTS + j;
      const dst = v + VIOL.header_words + (k * RING_EVENTS + j) * EVENT_WORDS;
      const dstT = tbase + VIOL_TIME.trace + k * RING_EVENTS + j;
      if (seq < 0) {
        i32[dst] = -1;
        continue;
      }
      const slot = seq & (RING_EVENTS - 1);
      const src = ring + L.ring_events + slot * EVENT_WORDS;
      for (let w = 0; w < EVENT_WORDS; w++) i32[dst + w] = i32[src + w]!;
      K.f64[dstT] = K.f64[L.ring_time + c * RING_EVENTS + slot]!;
    }
  }
}

// ---- list corruption (CONFIG_DEBUG_LIST) -----------------------------------

/**
 * Thrown by a list or pagevec check that failed (after the violation is
 * stored and the stop word set): the CPU stops touching the list at once.
 * cpu_loop catches it at its operation boundary (list_corruption_unwind).
 */
export class ListCorruption extends Error {
  override name = 'ListCorruption';
}

/** Where a list-corruption was found (VIOL.detail): a head node, or: */
export const WHERE = {
  /** no list: a frame-indexed word, or no head could be reached from the node */
  unknown: -1,
  /** -2 - cpu: that CPU's discard pagevec */
  pvec: -2,
  /** (argument only) the list is not known here: find its head from the node */
  find: -(1 << 30),
} as const;

/** `n` is the node of a list head (layout.ts: HEAD, PERCPU_HEADS). */
export function is_list_head(n: number): boolean {
  const L = K.L;
  const h = n - L.head_base;
  if (!(h >= 0 && h < L.nr_heads)) return false;
  if (h < HEAD.percpu) return h === HEAD.free || h === HEAD.lru || h === HEAD.discard;
  return (h - HEAD.percpu) % L.percpu_heads_stride < PERCPU_HEADS.nr;
}

/**
 * The head of the list `node` is on, found by following its links (next,
 * then prev; prev first with `prevFirst`: the next side is the broken one)
 * through pages only, read-only and bounded; WHERE.unknown if neither way
 * reaches a head. Only the report path runs it.
 */
export function find_list_head(node: number, prevFirst = false): number {
  const { i32, L } = K;
  const ways = prevFirst ? [L.lru_prev, L.lru_next] : [L.lru_next, L.lru_prev];
  for (const links of ways) {
    let n = node;
    for (let steps = 0; steps <= L.nr_nodes; steps++) {
      if (is_list_head(n)) return n;
      if (n >>> 0 >= L.nr_pages) break;
      n = i32[links + n]!;
    }
  }
  return WHERE.unknown;
}

/**
 * A list check failed: report it (the first one only; later finds on a
 * machine already stopping are its echoes), stop every CPU, and throw so
 * that this CPU touches the list no more. `check` is LC.*, `node` the node
 * checked, `found` the value that failed, `where` the list head node or
 * WHERE.* (WHERE.find: look the head up from `node`).
 */
export function list_corruption(check: number, node: number, found: number, where: number): never {
  const { i32, L } = K;
  const head =
    where === WHERE.find
      ? find_list_head(node, check === LC['del-next'] || check === LC['next-back'])
      : where;
  if (Atomics.exchange(i32, L.ctrl + CTRL.list_bug, 1) === 0) {
    report_violation(VK['list-corruption'], node, check, found, -1, head, true);
  }
  Atomics.store(i32, L.ctrl + CTRL.stop, 1);
  throw new ListCorruption(`list corruption (check ${check}) at node ${node} on cpu ${K.cpu}`);
}

/** An oracle hook got a pfn outside the frames: its ghost write is refused. */
function ghost_pfn_bug(pfn: number): never {
  list_corruption(LC['ghost-pfn'], pfn, pfn, WHERE.unknown);
}
