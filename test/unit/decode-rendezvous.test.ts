/**
 * The rendezvous line of a violation story says how many targets had actually
 * started the call when the caller's wait ended, not how many were expected.
 */
import { describe, expect, it } from 'vitest';
import { describe as describeEvent, recentEvents, renderTrace } from '../../src/check/decode.ts';
import { set_this_cpu } from '../../src/kernel/context.ts';
import { FUNC, smp_call_function, smp_call_function_interrupt } from '../../src/kernel/smp.ts';
import { boot } from '../helpers/machine.ts';

const rdv = (a: number, b = 9) => ({ t: 0, cpu: 0, event: 'rendezvous', pfn: -1, a, b });

describe('the rendezvous event in a report', () => {
  it('reads "started N of M" with M = every other CPU', () => {
    expect(describeEvent(rdv(2), 4)).toBe('smp_call_function: started 2 of 3 (seq 9)');
    expect(describeEvent(rdv(3), 4)).toBe('smp_call_function: started 3 of 3 (seq 9)');
    // without the machine size, the count alone
    expect(describeEvent(rdv(2))).toBe('smp_call_function: started 2 (seq 9)');
    expect(renderTrace([rdv(1, 4)], 3, 0)[0]).toMatch(
      /cpu0 +smp_call_function: started 1 of 2 \(seq 4\)$/,
    );
  });

  it('smp_call_function records the targets that had answered, 0 when it does not wait (no-wait-ipi)', () => {
    const m = boot({ cpus: 3, mutant: 'no-wait-ipi' });
    set_this_cpu(0);
    smp_call_function(FUNC.page_hva_sync, true);
    const first = recentEvents(m, 0).filter((e) => e.event === 'rendezvous');
    expect(first.map((e) => e.a)).toEqual([0]);
    expect(renderTrace(first, 3, first[0]!.t)[0]).toContain('started 0 of 2 (seq 1)');
    // cpu1 takes the IPI of that call late: the caller's record stays as it was.
    set_this_cpu(1);
    smp_call_function_interrupt();
    set_this_cpu(0);
    expect(
      recentEvents(m, 0)
        .filter((e) => e.event === 'rendezvous')
        .map((e) => e.a),
    ).toEqual([0]);
    expect(recentEvents(m, 1).map((e) => e.event)).toContain('ipi-take');
  });
});
