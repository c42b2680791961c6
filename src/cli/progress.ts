/** The live progress line of a run on a terminal (stderr, rewritten in place). */
import type { Progress } from '../machine/machine.ts';
import { secs, si } from './format.ts';

export function progressLine(p: Progress): string {
  const t = p.totals;
  const rate = p.elapsedMs > 0 ? (t.ops / p.elapsedMs) * 1000 : 0;
  return `[${secs(p.elapsedMs)}/${secs(p.durationMs)}] ops ${si(t.ops)} (${si(rate)}/s)  faults ${si(t.discardFaults)}  refused ${si(t.refsRefused)}  parked ${si(t.pagesParked)}  freed ${si(t.pagesFreedFromList)}  rdv ${si(t.rendezvous)}  violations ${p.violations}`;
}

export function makeProgressPrinter(stream: NodeJS.WriteStream) {
  let shown = false;
  return {
    /** A line shown until the first progress line replaces it (e.g. while the threads boot). */
    note(text: string) {
      stream.write(`\r\x1b[K${text}`);
      shown = true;
    },
    update(p: Progress) {
      stream.write(`\r\x1b[K${progressLine(p)}`);
      shown = true;
    },
    clear() {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
    },
  };
}
