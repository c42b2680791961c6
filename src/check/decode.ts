/**
 * Read the oracle's records and the flight recorders out of the buffer (main
 * thread) into plain data: violations with their merged interleavings, and
 * the recent events of any CPU.
 */
import { MAX_VIOLATIONS, RING_EVENTS, VIOLATION_CPUS } from '../config.ts';
import { type LockdepSplat, lockdepSplat } from '../kernel/lockdep.ts';
import {
  CTRL,
  EVENT_WORDS,
  HEAD,
  HIST,
  type Layout,
  PERCPU_HEADS,
  ringBase,
  VIOL,
  VIOL_TIME,
  type Views,
  violBase,
} from '../shm/layout.ts';
import { EVENTS } from './events.ts';
import { LIST_CHECKS, VIOLATION_KINDS } from './violations.ts';

export type TraceEvent = {
  t: number;
  cpu: number;
  event: string;
  pfn: number;
  a: number;
  b: number;
  /** Not from a flight recorder: the oracle's record of the frame's last alloc, free or park. */
  oracle?: true;
};

/** The oracle's history slots (HIST order) as the recorder's event names. */
const HIST_EVENTS = ['alloc', 'free', 'park'] as const;
const ORACLE_TEXT: Record<string, string> = {
  alloc: 'allocated pfn %p (generation %a) [oracle record]',
  free: 'freed pfn %p into the allocator [oracle record]',
  park: 'parked pfn %p on a discard pagevec [oracle record]',
};
/** Events that tell the protocol's story besides those on the frame itself. */
const STORY_EVENTS = new Set([
  'ipi-send',
  'ipi-take',
  'rendezvous',
  'splice',
  'splice-percpu',
  'migrate-out',
  'migrate-in',
]);
/** Merged events a violation keeps in its trace (the last ones; the rings hold more). */
const TRACE_KEEP = 1024;
/** Events on the frame shown before its story starts, for context. */
const STORY_CONTEXT = 3;

export type Violation = {
  kind: string;
  description: string;
  cpu: number;
  pfn: number;
  generationAtFault: number;
  generationNow: number;
  /** Kind-specific: the bad page flags, count or mapping found. */
  detail: number;
  atMs: number;
  cpusInvolved: number[];
  /** Flight-recorder lines of the CPUs involved, merged by time. */
  trace: string[];
  /** The interleaving that broke the protocol, top to bottom (see violationStory). */
  story: string[];
  events: TraceEvent[];
  /** list-corruption only (its generations are -1): which list, and what the check found. */
  list?: ListCorruptionInfo;
  /** lockdep-* only: the validator's report (its text is the story). */
  lockdep?: LockdepSplat;
};

export type ListCorruptionInfo = {
  /** The list, named from its head (or the pagevec's CPU): "page_hva_discard_list", "cpu 1 discard pagevec" ... */
  name: string;
  /** Its head node (or -2 - cpu for a CPU's pagevec, -1 unknown). */
  where: number;
  /** LIST_CHECKS name of the check that failed, and what it says. */
  check: string;
  what: string;
};

export function cpuName(cpu: number, nr_cpus: number): string {
  return cpu === nr_cpus ? 'host ' : `cpu${cpu}`.padEnd(5);
}

const REMOVED_TEXT: Record<number, string> = {
  0: 'already discarded: mapping cleared only',
  1: 'removed',
  2: 'removed, host shows Vz: marked PG_discarded',
};

export function describe(e: TraceEvent, nr_cpus = 0): string {
  // rendezvous: `a` is how many targets had started the call when the
  // caller's wait for `started` ended (smp.ts), out of every other CPU.
  if (e.event === 'rendezvous') {
    const of = nr_cpus > 1 ? ` of ${nr_cpus - 1}` : '';
    return `smp_call_function: started ${e.a}${of} (seq ${e.b})`;
  }
  const tmpl =
    (e.oracle ? ORACLE_TEXT[e.event] : undefined) ??
    EVENTS[e.event === '?' ? 0 : EVENTS.findIndex(([n]) => n === e.event)]?.[1] ??
    '?';
  const kind = e.event === 'violation' ? (VIOLATION_KINDS[e.a]?.[0] ?? `#${e.a}`) : String(e.a);
  // a list-corruption's node may be a list head, not a page
  if (kind === 'list-corruption') return `VIOLATION list-corruption at node ${e.pfn}`;
  // remove-cache's b is REMOVED.* of filemap.ts
  const b = e.event === 'remove-cache' ? (REMOVED_TEXT[e.b] ?? String(e.b)) : String(e.b);
  return tmpl.replace('%p', String(e.pfn)).replace('%a', kind).replace('%b', b);
}

/** Render merged events relative to `t0` (ms), marking events on `pfn`. */
export function renderTrace(events: TraceEvent[], nr_cpus: number, t0: number, pfn = -1): string[] {
  return events.map((e) => {
    const dt = ((e.t - t0) * 1000).toFixed(1).padStart(9);
    const mark = pfn >= 0 && e.pfn === pfn ? '*' : ' ';
    return `${dt}us ${mark} ${cpuName(e.cpu, nr_cpus)} ${describe(e, nr_cpus)}`;
  });
}

function readEvent(i32: Int32Array, at: number, t: number, cpu: number): TraceEvent | undefined {
  const ev = i32[at]!;
  if (ev < 0 || ev >= EVENTS.length) return undefined;
  return { t, cpu, event: EVENTS[ev]![0], pfn: i32[at + 1]!, a: i32[at + 2]!, b: i32[at + 3]! };
}

export function decodeViolations(v: Views): { total: number; violations: Violation[] } {
  const { i32, f64, L } = v;
  const total = Atomics.load(i32, L.ctrl + CTRL.nr_violations);
  const violations: Violation[] = [];
  for (let n = 0; n < Math.min(total, MAX_VIOLATIONS); n++) {
    const vb = violBase(L, n);
    const tb = L.viol_time + n * L.viol_time_stride;
    const pfn = i32[vb + VIOL.pfn]!;
    const genNow = i32[vb + VIOL.gen_now]!;
    const kindId = i32[vb + VIOL.kind]!;
    const [kind, description] = VIOLATION_KINDS[kindId] ?? [`#${kindId}`, ''];
    const cpus: number[] = [];
    const events: TraceEvent[] = [];
    for (let k = 0; k < VIOLATION_CPUS; k++) {
      const c = i32[vb + VIOL.cpus + k]!;
      if (c < 0) continue;
      cpus.push(c);
      for (let j = 0; j < RING_EVENTS; j++) {
        const at = vb + VIOL.header_words + (k * RING_EVENTS + j) * EVENT_WORDS;
        const e = readEvent(i32, at, f64[tb + VIOL_TIME.trace + k * RING_EVENTS + j]!, c);
        if (e) events.push(e);
      }
    }
    // The oracle's record of the frame's last alloc, free and park: shown
    // when the recorders copied no longer hold them (or were not copied).
    for (let k = 0; k < HIST.nr; k++) {
      const c = i32[vb + VIOL.hist + k]!;
      const t = f64[tb + VIOL_TIME.hist + k]!;
      const event = HIST_EVENTS[k]!;
      if (c < 0 || !(t > 0)) continue;
      const seen = events.some(
        (e) => e.cpu === c && e.event === event && e.pfn === pfn && Math.abs(e.t - t) < 0.2,
      );
      if (!seen) events.push({ t, cpu: c, event, pfn, a: genNow, b: 0, oracle: true });
    }
    events.sort((a, b) => a.t - b.t);
    const list =
      kind === 'list-corruption'
        ? listCorruptionInfo(L, i32[vb + VIOL.detail]!, i32[vb + VIOL.gen_at_fault]!, pfn, genNow)
        : undefined;
    const splat = kind.startsWith('lockdep-') ? lockdepSplat(v, i32[vb + VIOL.detail]!) : undefined;
    const story = list
      ? renderStory(listStory(events, list.where, L, pfn), L.nr_cpus, pfn)
      : splat
        ? splat.text
        : renderStory(violationStory(events, pfn), L.nr_cpus, pfn);
    const kept = events.slice(-TRACE_KEEP);
    const t0 = kept[0]?.t ?? f64[tb]!;
    violations.push({
      kind,
      description,
      cpu: i32[vb + VIOL.cpu]!,
      pfn,
      generationAtFault: list ? -1 : i32[vb + VIOL.gen_at_fault]!,
      generationNow: list ? -1 : genNow,
      detail: i32[vb + VIOL.detail]!,
      atMs: f64[tb + VIOL_TIME.at]!,
      cpusInvolved: cpus,
      trace: renderTrace(kept, L.nr_cpus, t0, pfn),
      story,
      events: kept,
      ...(list ? { list } : {}),
      ...(splat ? { lockdep: splat } : {}),
    });
  }
  return { total, violations };
}

/** The last `n` events of a CPU's (or the host's) flight recorder, oldest first. */
export function recentEvents(v: Views, rec: number, n = RING_EVENTS): TraceEvent[] {
  const { i32, f64, L } = v;
  const ring = ringBase(L, rec);
  const head = Atomics.load(i32, ring);
  const out: TraceEvent[] = [];
  for (let seq = Math.max(0, head - Math.min(n, RING_EVENTS)); seq < head; seq++) {
    const slot = seq & (RING_EVENTS - 1);
    const e = readEvent(
      i32,
      ring + L.ring_events + slot * EVENT_WORDS,
      f64[L.ring_time + rec * RING_EVENTS + slot]!,
      rec,
    );
    if (e) out.push(e);
  }
  return out;
}

/**
 * The part of a violation's merged trace that tells how the protocol broke,
 * to read top to bottom as docs/protocol.md section 4 does: it starts where the
 * fault window that was still open at the violation began, keeps every event
 * on the frame and the rendezvous, splice and migration events of the CPUs
 * involved from then on, with a few earlier frame events for context. For
 * kinds without a window: the frame's last dozen events, and the other
 * events around its last two.
 */
export function violationStory(events: TraceEvent[], pfn: number, maxLines = 40): TraceEvent[] {
  const onPfn = events.filter((e) => e.pfn === pfn);
  // The recorders are copied while their CPUs run on: events after the
  // violation's own may be there too. The window is the one open at it.
  const tViolation = onPfn.find((e) => e.event === 'violation')?.t ?? Number.POSITIVE_INFINITY;
  // A fault on the frame whose reference attempt had not been recorded yet: the open window.
  let start = -1;
  for (let i = onPfn.length - 1; i >= 0; i--) {
    const e = onPfn[i]!;
    if (e.event !== 'fault' || e.t > tViolation) continue;
    const closed = onPfn
      .slice(i + 1)
      .some(
        (f) =>
          f.cpu === e.cpu &&
          f.t < tViolation &&
          (f.event === 'ref-ok' || f.event === 'ref-refused'),
      );
    if (!closed) start = i;
  }
  if (start < 0) {
    // The window may have closed between the oracle's check and its report
    // (the detector was slower than the faulting CPU): the last fault on the
    // frame before the violation is then the one the story starts from.
    for (let i = onPfn.length - 1; i >= 0 && start < 0; i--) {
      const e = onPfn[i]!;
      if (e.event === 'fault' && e.t <= tViolation) start = i;
    }
  }
  let tStart: number;
  let tContext: number;
  if (start >= 0) {
    tStart = onPfn[start]!.t;
    tContext = onPfn[Math.max(0, start - STORY_CONTEXT)]!.t;
  } else {
    // No window: the frame's last steps, and what the CPUs did around the very last ones.
    tStart = onPfn[Math.max(0, onPfn.length - 3)]?.t ?? Number.NEGATIVE_INFINITY;
    tContext = onPfn[Math.max(0, onPfn.length - 12)]?.t ?? tStart;
  }
  // A rendezvous under way in the story is shown whole: its IPIs sent and
  // taken before the window began are part of it.
  const seqs = new Set(
    events.filter((e) => e.t >= tStart && callSeq(e) !== undefined).map((e) => callSeq(e)),
  );
  const story = events.filter(
    (e) =>
      (e.pfn === pfn && e.t >= tContext) ||
      (STORY_EVENTS.has(e.event) && (e.t >= tStart || seqs.has(callSeq(e)))),
  );
  if (story.length <= maxLines) return story;
  // Too long: keep the frame's own events from the window on (the first of
  // them is the fault that opened it), and fill the rest with the latest others.
  const essential = story.filter((e) => e.pfn === pfn && e.t >= tStart);
  if (essential.length >= maxLines) {
    return [essential[0]!, ...essential.slice(-(maxLines - 1))];
  }
  const others = story
    .filter((e) => !(e.pfn === pfn && e.t >= tStart))
    .slice(-(maxLines - essential.length));
  const keep = new Set([...essential, ...others]);
  return story.filter((e) => keep.has(e));
}

/** The smp_call_function sequence number an IPI event belongs to. */
function callSeq(e: TraceEvent): number | undefined {
  if (e.event === 'ipi-send') return e.a;
  if (e.event === 'ipi-take' || e.event === 'rendezvous') return e.b;
  return undefined;
}

/** Numbered lines, times from the first, frame events marked `*`. */
export function renderStory(events: TraceEvent[], nr_cpus: number, pfn: number): string[] {
  const t0 = events[0]?.t ?? 0;
  return renderTrace(events, nr_cpus, t0, pfn).map(
    (line, i) => `${String(i + 1).padStart(3)}. ${line}`,
  );
}

// ---- list-corruption --------------------------------------------------------

/** The list whose head node is `where` (or a CPU's pagevec, -2 - cpu), as a report names it. */
export function listName(L: Layout, where: number): string {
  if (where <= -2) return `cpu ${-2 - where} discard pagevec`;
  const h = where - L.head_base;
  if (where < 0 || h < 0 || h >= L.nr_heads) return 'an unknown list (no head reachable)';
  if (h === HEAD.free) return 'zone free list';
  if (h === HEAD.lru) return 'LRU';
  if (h === HEAD.discard) return 'page_hva_discard_list';
  if (h < HEAD.percpu) return 'an unknown list (no head reachable)';
  const cpu = Math.floor((h - HEAD.percpu) / L.percpu_heads_stride);
  const which = (h - HEAD.percpu) % L.percpu_heads_stride;
  const names: Record<number, string> = {
    [PERCPU_HEADS.hot]: 'pcp hot list',
    [PERCPU_HEADS.cold]: 'pcp cold list',
    [PERCPU_HEADS.splice]: "splice list (shrink_discards' pages_to_free)",
    [PERCPU_HEADS.isolate]: 'isolate list (shrink_caches)',
    [PERCPU_HEADS.discard]: 'discard list (percpu-2006)',
  };
  const name = names[which];
  return name ? `cpu ${cpu} ${name}` : 'an unknown list (no head reachable)';
}

function listCorruptionInfo(
  L: Layout,
  where: number,
  check: number,
  node: number,
  found: number,
): ListCorruptionInfo {
  const [name, text] = LIST_CHECKS[check] ?? [`#${check}`, 'check %n: %v'];
  // A frame-indexed word (host or ghost state) refused a bad pfn: no list.
  const frames: Record<string, string> = {
    'host-pfn': 'the host-state array',
    'ghost-pfn': "the oracle's ghost state",
  };
  return {
    name: frames[name] ?? listName(L, where),
    where,
    check: name,
    what: text.replace('%n', nodeLabel(L, node)).replace('%v', nodeLabel(L, found)),
  };
}

/** A node index as a report says it: a list head is named ("2050, the page_hva_discard_list head"). */
function nodeLabel(L: Layout, n: number): string {
  if (n < L.nr_pages) return String(n);
  const name = listName(L, n);
  return name.startsWith('an unknown') ? String(n) : `${n}, the ${name} head`;
}

/** The flight-recorder events that operate on each kind of list. */
const LIST_EVENTS = {
  discard: new Set([
    'park',
    'list-flush',
    'splice',
    'splice-percpu',
    'ipi-send',
    'rendezvous',
    'shrink-free',
  ]),
  alloc: new Set(['alloc', 'free', 'shrink-free', 'reclaim']),
  lru: new Set(['map', 'remove-cache', 'discard-page', 'put-last', 'reclaim', 'truncate']),
} as const;

function listEvents(L: Layout, where: number): ReadonlySet<string> | undefined {
  if (where <= -2) return LIST_EVENTS.discard;
  const h = where - L.head_base;
  if (where < 0 || h < 0 || h >= L.nr_heads) return undefined;
  if (h === HEAD.free) return LIST_EVENTS.alloc;
  if (h === HEAD.lru) return LIST_EVENTS.lru;
  if (h === HEAD.discard) return LIST_EVENTS.discard;
  const which = (h - HEAD.percpu) % L.percpu_heads_stride;
  if (which === PERCPU_HEADS.hot || which === PERCPU_HEADS.cold) return LIST_EVENTS.alloc;
  if (which === PERCPU_HEADS.isolate) return LIST_EVENTS.lru;
  return LIST_EVENTS.discard;
}

/**
 * A list-corruption's story: the last operations on that kind of list in the
 * recorders of every CPU copied (parks, flushes, splices and frees for a
 * discard list; allocations and frees for the free lists; ...), every event
 * on the node checked, and the report itself, oldest first. A list nobody
 * could name gets every CPU's last events.
 */
export function listStory(
  events: TraceEvent[],
  where: number,
  L: Layout,
  node: number,
  maxLines = 40,
): TraceEvent[] {
  const ops = listEvents(L, where);
  const isReport = (e: TraceEvent) =>
    e.event === 'violation' && VIOLATION_KINDS[e.a]?.[0] === 'list-corruption';
  const tReport = events.find(isReport)?.t ?? Number.POSITIVE_INFINITY;
  const story = events.filter(
    (e) =>
      e.t <= tReport &&
      (isReport(e) || (node >= 0 && e.pfn === node) || ops === undefined || ops.has(e.event)),
  );
  return story.slice(-maxLines);
}
