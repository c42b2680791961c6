/**
 * Race coverage (src/check/coverage.ts): the near misses the kernel counts,
 * played step by step on one thread (docs/protocol.md section 4's
 * interleaving, the hazard the discard list defuses), the coverage table,
 * and --mix's parsing.
 */
import { describe, expect, it } from 'vitest';
import {
  coverageTable,
  HAZARD_NAMES,
  HAZARDS,
  protocolHazards,
  sumCoverage,
  undercovered,
} from '../../src/check/coverage.ts';
import { oracle_access, oracle_fault_begin } from '../../src/check/oracle.ts';
import { parseDelaySpans, parseMix, UsageError } from '../../src/cli/parse.ts';
import { renderCoverage, verdictLine } from '../../src/cli/report.ts';
import {
  MIX_DEFAULT,
  MIX_OPS,
  makeConfig,
  PAGES_PER_FILE,
  PROTOCOLS,
  type Protocol,
} from '../../src/config.ts';
import { K, set_this_cpu } from '../../src/kernel/context.ts';
import { do_discard_fault, user_access } from '../../src/kernel/fault.ts';
import { do_mmap, pte_idx, vmtruncate } from '../../src/kernel/memory.ts';
import { local_irq_disable, local_irq_enable } from '../../src/kernel/smp.ts';
import type { RunReport } from '../../src/machine/machine.ts';
import { POINTS } from '../../src/points.ts';
import { renderMatrixCoverage } from '../../src/report/coverage.ts';
import {
  allocate,
  CNT,
  COUNTERS,
  type CounterName,
  computeLayout,
  statsBase,
} from '../../src/shm/layout.ts';
import { makeSampler } from '../../src/soak/stats.ts';
import { boot, counter, hostDiscard, violationKinds } from '../helpers/machine.ts';
import { schemaErrors } from '../helpers/schema.ts';

const nm = (cpu: number, h: keyof typeof HAZARDS) => counter(cpu, HAZARDS[h].counter);

/**
 * CPU A (cpu 0) and CPU C (cpu 2) fault on P (Vz) and open their windows;
 * CPU B (cpu 1) truncates P's file (out of the cache, last put) meanwhile;
 * then A's and C's reference attempts.
 */
function playSection4(protocol: Protocol) {
  const m = boot({ cpus: 3, pages: 256, files: 4, protocol });
  const task = 0;
  const vpage = PAGES_PER_FILE + 4;
  set_this_cpu(0);
  do_mmap(task, 1, 2);
  user_access(task, vpage);
  const P = K.i32[pte_idx(task, vpage)]! - 1;
  hostDiscard(P);
  set_this_cpu(0);
  const gen = oracle_access(P);
  local_irq_disable();
  oracle_fault_begin(P, gen);
  set_this_cpu(2);
  local_irq_disable();
  oracle_fault_begin(P, gen); // a second window on P: double-fault
  set_this_cpu(1);
  vmtruncate(2);
  for (const cpu of [0, 2]) {
    set_this_cpu(cpu);
    do_discard_fault(task, vpage, P);
    local_irq_enable();
  }
  return m;
}

describe('near misses, counted where they happen', () => {
  it('patched: out of the cache, parked and last put inside two windows; both refused', () => {
    const m = playSection4('patched');
    expect(violationKinds(m)).toEqual([]);
    expect(nm(2, 'double-fault')).toBe(1);
    expect(nm(1, 'cache-remove-in-window')).toBe(1);
    expect(nm(1, 'last-put-in-window')).toBe(1);
    expect(nm(1, 'park-in-window')).toBe(1);
    expect(nm(0, 'refused-parked') + nm(2, 'refused-parked')).toBe(2);
    // nothing else happened that the hazards name
    expect(nm(1, 'flush-in-window')).toBe(0);
    expect(nm(1, 'splice-in-window')).toBe(0);
  });

  it('unpatched: the same overlap happens, undefused: the violation follows', () => {
    const m = playSection4('unpatched');
    expect(nm(1, 'last-put-in-window')).toBe(1); // counted, but unpatched does not declare it
    expect(protocolHazards({ protocol: 'unpatched' })).not.toContain('last-put-in-window');
    expect(nm(1, 'park-in-window')).toBe(0); // nothing parks without 5/6
    expect(violationKinds(m)).toContain('free-in-window');
  });

  it('no window open: the same truncate is no near miss', () => {
    boot({ cpus: 2, pages: 256, files: 4 });
    set_this_cpu(0);
    do_mmap(0, 1, 2);
    user_access(0, PAGES_PER_FILE + 4);
    set_this_cpu(1);
    vmtruncate(2);
    for (const h of ['cache-remove-in-window', 'last-put-in-window', 'park-in-window'] as const) {
      expect(nm(1, h)).toBe(0);
    }
  });
});

describe('the hazards each protocol declares', () => {
  it('every declared hazard exists and is counted by a counter of the stats block', () => {
    for (const p of PROTOCOLS) {
      const hs = protocolHazards({ protocol: p });
      expect(hs.length).toBeGreaterThan(0);
      for (const h of hs) {
        expect(HAZARD_NAMES).toContain(h);
        expect(COUNTERS as readonly string[]).toContain(HAZARDS[h].counter);
      }
    }
    expect(protocolHazards({ protocol: 'patched' })).toEqual(HAZARD_NAMES);
    expect(protocolHazards({ protocol: 'unpatched' })).not.toContain('park-in-window');
    expect(protocolHazards({ protocol: 'percpu-2006' })).not.toContain('flush-in-window');
  });
});

describe('the coverage table', () => {
  const totals = (over: Partial<Record<CounterName, number>>) =>
    Object.fromEntries(COUNTERS.map((n) => [n, over[n] ?? 1000])) as Record<CounterName, number>;

  it('rates per second, the rarest and the unhit flagged, the floor applied', () => {
    const rows = coverageTable(
      { protocol: 'patched' },
      totals({ nmSpliceInWindow: 3, nmDoubleFault: 0 }),
      2000,
    );
    expect(rows.map((r) => r.hazard)).toEqual(HAZARD_NAMES);
    const by = Object.fromEntries(rows.map((r) => [r.hazard, r]));
    expect(by['park-in-window']).toEqual({
      hazard: 'park-in-window',
      nearMisses: 1000,
      perSecond: 500,
      rare: false,
    });
    expect(by['splice-in-window']!.rare).toBe(true); // under a hundredth of the median
    expect(by['double-fault']!.rare).toBe(true); // none
    expect(undercovered(rows, 0)).toEqual([]);
    expect(undercovered(rows, 4).map((r) => r.hazard)).toEqual([
      'splice-in-window',
      'double-fault',
    ]);
    expect(renderCoverage(rows, 4).join('\n')).toMatch(/double-fault +0 +0 +rare, UNDER 4/);
  });

  it('UNDERCOVERED names the thin hazards in the verdict line', () => {
    const coverage = coverageTable({ protocol: 'patched' }, totals({ nmDoubleFault: 2 }), 1000);
    const r = {
      verdict: 'UNDERCOVERED',
      config: { cpus: 4, minCoverage: 5 },
      durationMs: 1000,
      totals: totals({}),
      coverage,
    } as unknown as RunReport;
    expect(verdictLine(r)).toMatch(
      /^UNDERCOVERED: .*1 hazard\(s\) had fewer than 5 .*double-fault 2/,
    );
  });
});

describe("mutants: the control's coverage", () => {
  const totals = (over: Partial<Record<CounterName, number>>) =>
    Object.fromEntries(COUNTERS.map((n) => [n, over[n] ?? 10])) as Record<CounterName, number>;
  const run = (over: Partial<Record<CounterName, number>>, ms: number) => ({
    coverage: coverageTable({ protocol: 'patched' }, totals(over), ms),
    durationMs: ms,
  });

  it('sums the runs: near misses added, per second over the summed time, the rarest anew', () => {
    const rows = sumCoverage([
      run({ nmSpliceInWindow: 0 }, 1000),
      run({ nmSpliceInWindow: 2 }, 3000),
    ]);
    const by = Object.fromEntries(rows.map((r) => [r.hazard, r]));
    expect(rows.map((r) => r.hazard)).toEqual(HAZARD_NAMES);
    expect(by['park-in-window']).toMatchObject({ nearMisses: 20, perSecond: 5, rare: false });
    expect(by['splice-in-window']).toMatchObject({ nearMisses: 2, perSecond: 0.5, rare: true });
    expect(sumCoverage([{ durationMs: 5 }])).toEqual([]); // a report from before coverage
  });

  it("the matrix prints the control's table and, per hazard, the cells that met it", () => {
    const text = renderMatrixCoverage({
      control: { runs: [run({ nmDoubleFault: 0 }, 2000), run({ nmDoubleFault: 0 }, 2000)] },
      mutants: [run({ nmDoubleFault: 1 }, 100), run({ nmDoubleFault: 0 }, 100), {}],
    }).join('\n');
    expect(text).toMatch(/^coverage of the control/);
    expect(text).toMatch(/double-fault +0 +0 +rare/);
    expect(text).toMatch(/park-in-window +20 +5 /);
    expect(text).toMatch(/cells \(of 2\) with a near miss, per hazard: .*double-fault 1,/);
    expect(text).toMatch(/park-in-window 2/);
  });
});

describe('soak: the coverage of each interval', () => {
  it('stats.jsonl lines carry the near misses of their interval only', () => {
    const cfg = makeConfig({ cpus: 2, pages: 256, files: 4, seed: 1 });
    const v = allocate(computeLayout(cfg));
    const extra = { audits: 0, auditFailures: 0, extraViolations: 0 };
    const s = makeSampler(v, () => [], cfg);
    const bump = (cpu: number, n: CounterName, x: number) => {
      v.f64[statsBase(v.L, cpu) + CNT[n]]! += x;
    };
    bump(0, 'nmDoubleFault', 3);
    bump(1, 'nmDoubleFault', 1);
    bump(1, 'nmSpliceInWindow', 2);
    const a = s.sample(2000, extra);
    const row = (l: typeof a, h: string) => l.coverage!.find((c) => c.hazard === h)!;
    expect(row(a, 'double-fault')).toMatchObject({ nearMisses: 4, perSecond: 2 });
    expect(row(a, 'splice-in-window').nearMisses).toBe(2);
    bump(0, 'nmSpliceInWindow', 5);
    const b = s.sample(3000, extra);
    expect(row(b, 'double-fault')).toMatchObject({ nearMisses: 0, rare: true });
    expect(row(b, 'splice-in-window')).toMatchObject({ nearMisses: 5, perSecond: 5 });
    expect(schemaErrors('soak-stats-line', JSON.parse(JSON.stringify(b)))).toBe('');
    expect(makeSampler(v).sample(4000, extra).coverage).toBeUndefined(); // no protocol given
  });
});

describe('--mix', () => {
  it("keeps the default weights of the operations not named; today's mix sums to 100", () => {
    expect(MIX_OPS.reduce((s, o) => s + MIX_DEFAULT[o], 0)).toBe(100);
    expect(parseMix('truncate=50,burst=0')).toEqual({ ...MIX_DEFAULT, truncate: 50, burst: 0 });
  });
  it('refuses an unknown operation, a bad weight, and all weights 0', () => {
    expect(() => parseMix('reclaim=3')).toThrow(UsageError);
    expect(() => parseMix('read=-1')).toThrow(UsageError);
    expect(() => parseMix('read')).toThrow(/OP=WEIGHT/);
    expect(() => parseMix(MIX_OPS.map((o) => `${o}=0`).join(','))).toThrow(/every weight is 0/);
  });
});

describe('--delay POINT=D@N', () => {
  it('parses @N after a delay or a range; N 1 or absent is every pass', () => {
    const fault = POINTS.findIndex(([n]) => n === 'fault-to-ref');
    const d = parseDelaySpans(['fault-to-ref=1ms@16']);
    expect(d.delaysUs[fault]).toBe(1000);
    expect(d.delayEvery[fault]).toBe(16);
    expect(d.delayEvery.filter((n) => n !== 1)).toEqual([16]);
    const r = parseDelaySpans(['fault-to-ref=10us..30us@4']);
    expect([r.delaysUs[fault], r.delaySpansUs[fault], r.delayEvery[fault]]).toEqual([10, 20, 4]);
    expect(parseDelaySpans(['fault-to-ref=1ms']).delayEvery[fault]).toBe(1);
    expect(() => parseDelaySpans(['fault-to-ref=1ms@0'])).toThrow(/@N is 1 to 1000000/);
    expect(() => parseDelaySpans(['fault-to-ref=1ms@x'])).toThrow(UsageError);
  });
});
