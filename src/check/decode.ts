/**
 * Read the oracle's records and the flight recorders out of the buffer (main
 * thread) into plain data: violations with their merged interleavings, and
 * the recent events of any CPU.
 */
import { MAX_VIOLATIONS, RING_EVENTS, VIOLATION_CPUS } from '../config.ts';
import { CTRL, EVENT_WORDS, ringBase, VIOL, type Views, violBase } from '../shm/layout.ts';
import { EVENTS } from './events.ts';
import { VIOLATION_KINDS } from './violations.ts';

export type TraceEvent = {
  t: number;
  cpu: number;
  event: string;
  pfn: number;
  a: number;
  b: number;
};

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
  events: TraceEvent[];
};

export function cpuName(cpu: number, nr_cpus: number): string {
  return cpu === nr_cpus ? 'host ' : `cpu${cpu}`.padEnd(5);
}

export function describe(e: TraceEvent): string {
  const tmpl = EVENTS[e.event === '?' ? 0 : EVENTS.findIndex(([n]) => n === e.event)]?.[1] ?? '?';
  const kind = e.event === 'violation' ? (VIOLATION_KINDS[e.a]?.[0] ?? `#${e.a}`) : String(e.a);
  return tmpl.replace('%p', String(e.pfn)).replace('%a', kind).replace('%b', String(e.b));
}

/** Render merged events relative to `t0` (ms), marking events on `pfn`. */
export function renderTrace(events: TraceEvent[], nr_cpus: number, t0: number, pfn = -1): string[] {
  return events.map((e) => {
    const dt = ((e.t - t0) * 1000).toFixed(1).padStart(9);
    const mark = pfn >= 0 && e.pfn === pfn ? '*' : ' ';
    return `${dt}us ${mark} ${cpuName(e.cpu, nr_cpus)} ${describe(e)}`;
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
        const e = readEvent(i32, at, f64[tb + 1 + k * RING_EVENTS + j]!, c);
        if (e) events.push(e);
      }
    }
    events.sort((a, b) => a.t - b.t);
    const pfn = i32[vb + VIOL.pfn]!;
    const t0 = events[0]?.t ?? f64[tb]!;
    violations.push({
      kind,
      description,
      cpu: i32[vb + VIOL.cpu]!,
      pfn,
      generationAtFault: i32[vb + VIOL.gen_at_fault]!,
      generationNow: i32[vb + VIOL.gen_now]!,
      detail: i32[vb + VIOL.detail]!,
      atMs: f64[tb]!,
      cpusInvolved: cpus,
      trace: renderTrace(events, L.nr_cpus, t0, pfn),
      events,
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
