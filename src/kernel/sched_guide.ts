/**
 * A guided schedule (config.sched.guide): the controlled scheduler steered
 * toward a recorded story's interleaving. The story of a violation, read top
 * to bottom, is a few runs of events by one CPU each: "cpu0 ... takes the
 * discard fault on P; cpu1 discards P, frees it; VIOLATION". Its pattern is
 * the last event of each run with the run's role ([A, fault], [B,
 * violation]): roles, not CPU numbers, and the frame is not a number either,
 * because another run's interleaving puts the story on other CPUs and frames.
 *
 * At each decision the token's holder reads the events it recorded since its
 * last decision. When one is the pattern's next event (by the CPU bound to
 * its role, or a CPU bound to no role yet; on the frame bound, or any frame
 * before one is), the guide binds the role and the frame and moves on, and
 * from then on prefers the CPU of the next entry's role (a CPU bound to no
 * role if it has none yet): the recorded order of the story, one switch at
 * the end of each run. A part that does not end within `window` steps makes
 * the guide start over; before the first match, and after the whole pattern,
 * the base scheduler (random or pct) decides alone. The state is in the
 * buffer (GUIDE) and only the token's holder touches it, so a guided
 * schedule is a pure function of its config, and replays, as any other.
 */
import { EVENTS } from '../check/events.ts';
import type { Config } from '../config.ts';
import { RING_EVENTS } from '../config.ts';
import { EVENT_WORDS, GUIDE, ringBase, type Views } from '../shm/layout.ts';
import { K } from './context.ts';

/** The event id of a pattern entry's name (-1: unknown, never matched). */
export function guideEventId(name: string): number {
  return EVENTS.findIndex(([n]) => n === name);
}

/** Main thread, in sched_init: the guide's state from the config (none: n = 0). */
export function guide_init(v: Views, cfg: Config): void {
  const { i32, L } = v;
  const g = L.sched_guide;
  const guide = cfg.sched.guide;
  i32.fill(0, g, g + GUIDE.header);
  if (!guide) return;
  const n = Math.min(guide.pattern.length, GUIDE.max);
  i32[g + GUIDE.n] = n;
  i32[g + GUIDE.pos] = 0;
  i32[g + GUIDE.pfn] = -1;
  i32[g + GUIDE.window] = guide.window;
  i32.fill(-1, g + GUIDE.roles, g + GUIDE.roles + GUIDE.max_roles);
  // the events recorded before the schedule (boot) are not the story's
  for (let a = 0; a < L.nr_recorders; a++) i32[g + GUIDE.header + a] = i32[ringBase(L, a)]!;
  const pat = g + GUIDE.header + L.nr_recorders;
  for (let i = 0; i < n; i++) {
    const [role, ev] = guide.pattern[i]!;
    i32[pat + 2 * i] = Math.min(role, GUIDE.max_roles - 1);
    i32[pat + 2 * i + 1] = guideEventId(ev);
  }
}

/** The role `cpu` plays (-1: none). */
function roleOf(i32: Int32Array, g: number, cpu: number): number {
  for (let r = 0; r < GUIDE.max_roles; r++) if (i32[g + GUIDE.roles + r] === cpu) return r;
  return -1;
}

function start_over(i32: Int32Array, g: number): void {
  i32[g + GUIDE.pos] = 0;
  i32[g + GUIDE.pfn] = -1;
  i32.fill(-1, g + GUIDE.roles, g + GUIDE.roles + GUIDE.max_roles);
  i32[g + GUIDE.resets]!++;
}

/**
 * The token's holder `me`, at decision `step`: the actor the guide wants to
 * run (-1: no preference, the base scheduler decides).
 */
export function guide_decide(me: number, step: number): number {
  const i32 = K.i32;
  const L = K.L;
  const g = L.sched_guide;
  const n = i32[g + GUIDE.n]!;
  if (n === 0) return -1;
  const nr = L.nr_cpus;
  const pat = g + GUIDE.header + L.nr_recorders;
  // the events `me` recorded since its last decision
  const ring = ringBase(L, me);
  const head = i32[ring]!;
  for (let seq = Math.max(i32[g + GUIDE.header + me]!, head - RING_EVENTS); seq < head; seq++) {
    const pos = i32[g + GUIDE.pos]!;
    if (pos >= n || me >= nr) break;
    const e = ring + L.ring_events + (seq & (RING_EVENTS - 1)) * EVENT_WORDS;
    if (i32[e] !== i32[pat + 2 * pos + 1]) continue;
    const pfn = i32[e + 1]!;
    const bound = i32[g + GUIDE.pfn]!;
    if (pfn >= 0 && bound >= 0 && pfn !== bound) continue;
    const role = i32[pat + 2 * pos]!;
    const cpu = i32[g + GUIDE.roles + role]!;
    if (cpu >= 0 ? cpu !== me : roleOf(i32, g, me) >= 0) continue;
    i32[g + GUIDE.roles + role] = me;
    if (pfn >= 0 && bound < 0) i32[g + GUIDE.pfn] = pfn;
    i32[g + GUIDE.pos] = pos + 1;
    i32[g + GUIDE.since] = step;
    if (pos + 1 === n) i32[g + GUIDE.matched]!++;
  }
  i32[g + GUIDE.header + me] = head;
  const pos = i32[g + GUIDE.pos]!;
  if (pos === 0 || pos >= n) return -1;
  if (step - i32[g + GUIDE.since]! > i32[g + GUIDE.window]!) {
    start_over(i32, g);
    return -1;
  }
  // the part now running is the next entry's: its role's CPU, or one that plays no role yet
  const cpu = i32[g + GUIDE.roles + i32[pat + 2 * pos]!]!;
  if (cpu >= 0) return cpu;
  for (let k = 1; k <= nr; k++) {
    const c = (me < nr ? me + k : k - 1) % nr;
    if (roleOf(i32, g, c) < 0) return c;
  }
  return -1;
}

/** What the guide did (main thread, for the report). */
export function readGuide(v: Views): { matched: number; resets: number; pos: number } {
  const { i32, L } = v;
  const g = L.sched_guide;
  return {
    matched: i32[g + GUIDE.matched]!,
    resets: i32[g + GUIDE.resets]!,
    pos: i32[g + GUIDE.pos]!,
  };
}
