/**
 * Same work on both sides? Compare the guest buffer the JavaScript hot loop
 * left with the one the native loop left, from the same booted image after
 * the same number of cycles. Words holding clock readings (flight-recorder
 * times, interrupts-off and rendezvous times, latency histograms) are masked;
 * every other word must be equal. Clock words nobody listed here are found by
 * running the JavaScript side twice: a Float64 that differs between two runs
 * of a deterministic loop holds a time.
 */
import { MAX_VIOLATIONS, RING_EVENTS } from '../../src/config.ts';
import { CNT, CTRL, statsBase, type Views } from '../../src/shm/layout.ts';

/** Float64 regions of the layout (their indices count 8-byte elements). */
const F64_REGIONS = ['call_time', 'ring_time', 'viol_time', 'stats', 'lockstat', 'latency'];

/** Int32 indices whose content is (part of) a clock reading, or emulator control. */
function maskedWords(v: Views): Uint8Array {
  const L = v.L;
  const mask = new Uint8Array(v.i32.length);
  const f64Range = (start: number, n: number) => mask.fill(1, 2 * start, 2 * (start + n));
  f64Range(L.ring_time, RING_EVENTS * L.nr_recorders);
  f64Range(L.viol_time, L.viol_time_stride * MAX_VIOLATIONS);
  if ('call_time' in L) f64Range(L.call_time as number, 1);
  if ('latency' in L) f64Range(L.latency as number, (L.latency_stride as number) * L.nr_cpus);
  for (let rec = 0; rec < L.nr_recorders; rec++) {
    f64Range(statsBase(L, rec) + CNT.irqsOffMaxUs, 1);
    f64Range(statsBase(L, rec) + CNT.rendezvousWaitUs, 1);
  }
  mask[L.ctrl + CTRL.stop] = 1; // the bench harness stops its workers
  return mask;
}

/** The layout region an Int32 index falls in (for messages). */
function regionOf(v: Views, idx: number): string {
  let best = 'start';
  let bestAt = -1;
  for (const [k, val] of Object.entries(v.L)) {
    if (typeof val !== 'number' || k.startsWith('nr_') || k.endsWith('_stride')) continue;
    const at = F64_REGIONS.includes(k) ? 2 * val : val;
    if (at <= idx && at > bestAt && at < v.i32.length) {
      best = k;
      bestAt = at;
    }
  }
  return `${best}+${idx - bestAt}`;
}

/**
 * null when equal outside the masked words, else a description of the
 * differences. `again`: the same JavaScript run a second time.
 */
export function compareBuffers(js: Views, again: Views, native: Uint8Array): string | null {
  if (native.byteLength !== js.sab.byteLength) {
    return `sizes differ: ${js.sab.byteLength} bytes (JS) vs ${native.byteLength} (C)`;
  }
  const c = new Int32Array(native.buffer, native.byteOffset, native.byteLength / 4);
  const mask = maskedWords(js);
  for (let i = 0; i < c.length; i += 2) {
    if (js.i32[i] !== again.i32[i] || js.i32[i + 1] !== again.i32[i + 1]) mask.fill(1, i, i + 2);
  }
  const diffs: string[] = [];
  let n = 0;
  for (let i = 0; i < c.length; i++) {
    if (mask[i] || js.i32[i] === c[i]) continue;
    if (n++ < 6) diffs.push(`${regionOf(js, i)} (i32 ${i}): JS ${js.i32[i]} C ${c[i]}`);
  }
  return n === 0 ? null : `${n} words differ, first: ${diffs.join('; ')}`;
}
