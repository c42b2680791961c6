/**
 * The host: discards volatile, resident guest frames (Vr -> Vz) behind the
 * guest's back at a configured rate, scanning frames like a clock hand. It is
 * not a CPU of the guest: it takes no IPIs and touches only host state (and
 * its own flight recorder and counters).
 */
import { performance } from 'node:perf_hooks';
import { EV } from '../check/events.ts';
import { rec } from '../check/recorder.ts';
import { K } from '../kernel/context.ts';
import { HS } from '../kernel/essa.ts';
import { CNT, CTRL } from '../shm/layout.ts';
import { memstat_every } from '../soak/memstat.ts';

/** Frames looked at per tick at most (bounds a tick on a large guest). */
const SCAN_PER_TICK = 8192;

export async function host_loop(): Promise<number> {
  const { i32, L } = K;
  const stop = L.ctrl + CTRL.stop;
  const rate = K.cfg.hostDiscardRate;
  const hs = L.host_state;
  let hand = 0;
  let quota = 0;
  let last = performance.now();
  let discards = 0;
  let ticks = 0;
  // The host thread's heap for the soak's leak check (memstat.ts), written at its tick boundaries.
  const memstat = memstat_every(K.f64, L, L.nr_cpus);
  while (Atomics.load(i32, stop) === 0) {
    const t = performance.now();
    quota = Math.min(quota + ((t - last) / 1000) * rate, rate / 10 + 64);
    last = t;
    for (let scanned = 0; quota >= 1 && scanned < SCAN_PER_TICK; scanned++) {
      // The hand is the host's own (no guest word feeds it): always a frame,
      // so the host-state write below stays in its array.
      const pfn = hand;
      hand = hand + 1 >= L.nr_pages ? 0 : hand + 1;
      if (i32[hs + pfn] !== HS.Vr) continue;
      if (Atomics.compareExchange(i32, hs + pfn, HS.Vr, HS.Vz) !== HS.Vr) continue;
      quota -= 1;
      discards++;
      K.f64[K.stats + CNT.hostDiscards] = discards;
      rec(EV['host-discard'], pfn);
    }
    // Tick about every millisecond; wake at once on stop.
    Atomics.wait(i32, stop, 0, 1);
    // Let the control port breathe now and then.
    if (++ticks % 64 === 0) {
      memstat(t);
      await new Promise((r) => setImmediate(r));
    }
  }
  return discards;
}
