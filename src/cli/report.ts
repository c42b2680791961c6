/**
 * The human report of a run: configuration echo, per-CPU table, totals,
 * violations with their interleaving, audit, stall state, and one final
 * SUCCESS/FAILURE line.
 */

import { type CoverageRow, undercovered } from '../check/coverage.ts';
import { renderTrace } from '../check/decode.ts';
import type { GuidedReport } from '../check/guided.ts';
import { PARK_HOLD_DEFAULT_US } from '../config.ts';
import { renderLockdep } from '../kernel/lockdep.ts';
import type { RunReport } from '../machine/machine.ts';
import { POINTS } from '../points.ts';
import { secs, secsShort, si, table } from './format.ts';
import { renderLatency, renderLocks } from './lockstat-report.ts';

/** Lines of a violation's merged trace to print (the JSON has them all). */
const TRACE_LINES = 40;
/** Flight-recorder events printed per CPU in a stall report (the JSON has 16). */
const STALL_EVENTS = 8;

export function configLine(r: RunReport): string {
  const c = r.config;
  const delays = c.delaysUs
    .map((us, i) => {
      const span = c.delaySpansUs[i] ?? 0;
      const every = (c.delayEvery?.[i] ?? 1) > 1 ? `@${c.delayEvery[i]}` : '';
      if (span > 0) return `${POINTS[i]![0]}=${us}..${us + span}us${every}`;
      return us > 0 ? `${POINTS[i]![0]}=${us}us${every}` : '';
    })
    .filter(Boolean);
  const widen = [
    c.jitterUs > 0 ? `jitter ${c.jitterUs}us` : '',
    c.stutterMs > 0 ? `stutter ${c.stutterMs}ms` : '',
    c.longHoldUs > 0 ? `long-hold ${c.longHoldUs}us` : '',
    c.parkHoldUs === 0 ? 'no park-hold' : '',
    c.parkHoldUs > 0 && c.parkHoldUs !== PARK_HOLD_DEFAULT_US ? `park-hold ${c.parkHoldUs}us` : '',
    c.migrate ? 'migrate' : '',
    c.ipiDeliveryUs > 0 ? `ipi delivery ${c.ipiDeliveryUs}us` : '',
  ].filter(Boolean);
  return [
    `hvaemu ${c.version}: protocol ${c.protocol}${c.mutant !== 'none' ? ` + mutant ${c.mutant}` : ''}, ${c.cpus} CPUs, ${c.pages} pages, ${c.files} files, ${secs(c.durationMs)}, seed ${c.seed}`,
    `  fault address ${c.faultAddress} (delivery ${c.faultDeliveryUs}us), pagevec ${c.pagevecSize}, host discards ${c.hostDiscardRate}/s, spinlock ${c.spinlock}${c.lockstat ? `, lockstat=${c.lockstat}` : ''}${delays.length ? `, delays ${delays.join(' ')}` : ''}${widen.length ? `, ${widen.join(', ')}` : ''}`,
  ].join('\n');
}

export function renderReport(r: RunReport): string {
  const out: string[] = [configLine(r), ''];
  const sec = Math.max(r.durationMs, 1) / 1000;
  const rows: (string | number)[][] = [
    ['CPU', 'ops', 'ops/s', 'faults', 'refused', 'parked', 'freed', 'IPIs', 'rdv', 'irqs-off max'],
  ];
  for (const c of r.cpus) {
    rows.push([
      `cpu${c.cpu}`,
      si(c.ops),
      si(c.ops / sec),
      si(c.discardFaults),
      si(c.refsRefused),
      si(c.pagesParked),
      si(c.pagesFreedFromList),
      si(c.ipisTaken),
      si(c.rendezvous),
      `${Math.round(c.irqsOffMaxUs)}us`,
    ]);
  }
  const t = r.totals;
  rows.push([
    'total',
    si(t.ops),
    si(t.ops / sec),
    si(t.discardFaults),
    si(t.refsRefused),
    si(t.pagesParked),
    si(t.pagesFreedFromList),
    si(t.ipisTaken),
    si(t.rendezvous),
    `${Math.round(t.irqsOffMaxUs)}us`,
  ]);
  out.push(table(rows));
  out.push(
    '',
    `host discards ${si(t.hostDiscards)}, pages made volatile ${si(t.pagesMadeVolatile)}, discarded by the guest ${si(t.discardPages)} (${si(t.findGetPageDiscarded)} found by find_get_page), direct reclaims ${si(t.reclaims)}, truncates ${si(t.truncates)}, allocation failures ${si(t.allocFailures)}`,
    `interrupts: ${si(t.hardirqs)} hardirqs (IPIs ${si(t.ipisTaken)}), ${si(t.softirqs)} softirqs, ${si(t.irqFrees)} pages freed from interrupt context, ${si(t.sendfilePages)} pages sent by sendfile`,
    `process: ${r.process.threads} threads, ${r.process.cpuOverWall.toFixed(2)} cores busy (user+sys over wall)`,
  );
  out.push('', ...renderCoverage(r.coverage, r.config.minCoverage));
  if (r.config.parkHoldUs > 0 && t.parkHolds !== undefined) {
    out.push(
      `parked-frame hold (up to ${r.config.parkHoldUs / 1000}ms a window; --no-park-hold: off): ${si(t.parkHolds)} windows held open for the splice, ${Math.round(t.parkHoldUs / 1000)}ms in all`,
    );
  }
  if (r.guided) out.push('', ...renderGuided(r.guided));
  if (r.lockdep) out.push('', ...renderLockdep(r.lockdep));
  if (r.locks.length > 0) out.push('', renderLocks(r.locks, r.config.lockstat));
  if (r.latency) out.push('', renderLatency(r.latency));

  if (r.violations.length > 0) {
    out.push(
      '',
      `VIOLATIONS: ${r.violationsTotal} (${r.violations.length} kept; first after ${secs(r.firstViolationMs ?? 0)})`,
    );
    r.violations.forEach((v, i) => {
      out.push(
        '',
        v.lockdep
          ? `[${i + 1}] ${v.kind}: ${v.lockdep.title}, found by cpu${v.cpu}`
          : v.list
            ? `[${i + 1}] ${v.kind} on ${v.list.name}, found by cpu${v.cpu}: ${v.list.what}`
            : `[${i + 1}] ${v.kind} on pfn ${v.pfn}, found by cpu${v.cpu}: generation ${v.generationAtFault} at the fault, ${v.generationNow} now${v.detail ? `, detail ${v.detail}` : ''}`,
        `    ${v.description}`,
        v.lockdep
          ? "    the lock validator's report (lockdep splat):"
          : v.list
            ? `    the last operations on it, cpu ${v.cpusInvolved.join(', ')} merged by time (* = on node ${v.pfn}; every event in the JSON's trace):`
            : `    how it happened, cpu ${v.cpusInvolved.join(', ')} merged by time (* = on pfn ${v.pfn}; every event in the JSON's trace):`,
      );
      for (const line of v.lockdep ? v.story : v.story.slice(-TRACE_LINES)) out.push(`    ${line}`);
    });
  } else {
    out.push('', 'violations: none');
  }

  const a = r.audit;
  if ('skipped' in a) {
    out.push('', `audit: skipped (${a.skipped})`);
  } else {
    out.push(
      '',
      `audit: ${a.ok ? 'ok' : 'FAILED'}: ${a.free} free + ${a.perCpuLists} per-CPU + ${a.inUse} in use + ${a.parkedOnList} parked + ${a.inPagevecs} in pagevecs = ${a.accounted} of ${a.nrPages}`,
    );
    for (const e of a.errors) out.push(`  ${e}`);
    for (const w of a.warnings ?? []) out.push(`  warning: ${w}`);
    if (!a.ok && r.violations.some((v) => v.list)) {
      out.push(
        '  (after a list-corruption the CPUs that met the list stopped mid-operation: the audit sees what they held)',
      );
    }
  }

  if (r.stall) {
    const when =
      r.stall.atMs !== undefined && r.stall.stuckSinceMs !== undefined
        ? ` (seen ${secs(r.stall.atMs)} into the run, stuck since ${secs(r.stall.stuckSinceMs)})`
        : '';
    out.push('', `STALL: ${r.stall.reason}${when}`);
    const cd = r.stall.call;
    out.push(
      `  smp_call_function: call_lock ${cd.callLockHeld ? `held, caller cpu${cd.caller}` : 'free'}, started ${cd.started}/${cd.targets}, finished ${cd.finished}/${cd.targets}, seq ${cd.seq}`,
    );
    out.push(...renderOwed(r.stall, r.config.cpus));
    out.push('  every CPU:');
    for (const c of r.stall.cpus) out.push(...renderCpuState(c, r.config.cpus, '  '));
  }
  if (r.error)
    out.push(
      '',
      `ERROR in ${r.error.cpu >= 0 ? `cpu${r.error.cpu}` : 'the machine'}: ${r.error.message}`,
      r.error.stack ?? '',
    );

  out.push('', verdictLine(r));
  return out.join('\n');
}

/**
 * The coverage table: each hazard of the protocol run, its near misses (a
 * dangerous overlap that happened and was defused) and their rate; RARE
 * marks the rarest, and with --min-coverage, those under the floor.
 */
export function renderCoverage(rows: readonly CoverageRow[], floor: number): string[] {
  if (rows.length === 0) return ['coverage: the protocol declares no hazard'];
  const lines: (string | number)[][] = [['hazard', 'near misses', 'per second', '']];
  for (const c of rows) {
    const under = floor > 0 && c.nearMisses < floor;
    lines.push([
      c.hazard,
      si(c.nearMisses),
      si(c.perSecond),
      [c.rare ? 'rare' : '', under ? `UNDER ${si(floor)}` : ''].filter(Boolean).join(', '),
    ]);
  }
  const under = undercovered(rows, floor).length;
  const head =
    floor > 0
      ? `coverage (near misses per hazard; --min-coverage ${si(floor)}: ${under === 0 ? 'every hazard reached it' : `${under} hazard(s) below`}):`
      : 'coverage (near misses per hazard):';
  return [head, table(lines)];
}

/** --guided: how long each arm ran, and the last choices. */
export function renderGuided(g: GuidedReport): string[] {
  const ran = g.arms.filter((a) => a.intervals > 0);
  const last = g.log.slice(-5);
  return [
    `guided: ${g.choices} choices every ${g.intervalMs}ms (epsilon ${g.epsilon}), target ${g.target ?? 'the rarest hazard so far'}`,
    `  arms run: ${ran.map((a) => `${a.label} ${a.intervals}x`).join(', ')}`,
    ...last.map(
      (c) =>
        `  at ${secs(c.atMs)}: ${c.label} for ${c.target}${c.rate !== null ? ` (${si(c.rate)}/s)` : ''}`,
    ),
  ];
}

type StallCpu = NonNullable<RunReport['stall']>['cpus'][number];

/** A CPU's state in a stall report, and its last flight-recorder events. */
function renderCpuState(c: StallCpu, nr_cpus: number, indent: string): string[] {
  const last = c.lastEvents.slice(-STALL_EVENTS);
  const t0 = last[0]?.t ?? 0;
  return [
    `${indent}cpu${c.cpu}: ${c.state}, irqs ${c.irqsEnabled ? 'on' : 'OFF'}, preempt ${c.preemptCount}, at ${c.point}, IPI ${c.pendingCall ? `PENDING (call seq ${c.pendingCall.seq} from cpu${c.pendingCall.from})` : 'none'}, locks [${c.locksHeld.join(', ')}], ${si(c.ops)} ops${c.stutterHeld ? ', held by --stutter' : ''}`,
    ...renderTrace(last, nr_cpus, t0).map((line) => `${indent}    ${line}`),
  ];
}

/** Who owes the response the stall waits for, each with what it was doing; a wait-for circle. */
export function renderOwed(stall: NonNullable<RunReport['stall']>, nr_cpus: number): string[] {
  const o = stall.owed;
  if (!o) return [];
  if (o.owed.length === 0) {
    return ['  owed by: no other CPU (the stuck CPU waits neither at a rendezvous nor at a lock)'];
  }
  const out: string[] = [];
  const shown = new Set<number>();
  for (const x of o.owed) {
    out.push(`  owed by cpu${x.cpu} (${x.owes}, cpu${x.waiter} waits): ${x.why}`);
    const c = stall.cpus.find((s) => s.cpu === x.cpu);
    if (c && !shown.has(x.cpu)) out.push(...renderCpuState(c, nr_cpus, '    '));
    shown.add(x.cpu);
  }
  if (o.cycle) {
    const [first, ...rest] = o.cycle;
    out.push(`  DEADLOCK: cpu${first} ${rest.map((c) => `waits for cpu${c}`).join(', which ')}`);
  }
  return out;
}

export function verdictLine(r: RunReport): string {
  const t = r.totals;
  const what = `${r.config.cpus} CPUs ran ${secs(r.durationMs)}, ${si(t.ops)} ops, ${si(t.discardFaults)} discard faults, ${si(t.refsRefused)} refused, ${si(t.pagesFreedFromList)} freed from the discard list`;
  switch (r.verdict) {
    case 'SUCCESS':
      return `SUCCESS: ${what}; no violation, audit clean${r.config.minCoverage > 0 ? `, every hazard had ${si(r.config.minCoverage)}+ near misses` : ''}`;
    case 'UNDERCOVERED': {
      const thin = undercovered(r.coverage, r.config.minCoverage);
      return `UNDERCOVERED: no violation, but ${thin.length} hazard(s) had fewer than ${si(r.config.minCoverage)} near misses (${thin.map((c) => `${c.hazard} ${c.nearMisses}`).join(', ')}): "no violation" proves little there; ${what}`;
    }
    case 'FAILURE':
      return `FAILURE: ${r.violationsTotal} violation(s)${'skipped' in r.audit || r.audit.ok ? '' : ', audit failed'}; ${what}`;
    case 'STALL':
      return `STALL: ${r.stall?.reason ?? ''}; ${what}`;
    case 'ERROR':
      return `ERROR: ${r.error?.message ?? ''}`;
    case 'INTERRUPTED':
      return `${interruptedLine(r.durationMs, r.config.durationMs, r.violationsTotal)}; ${what}`;
  }
}

/** `INTERRUPTED after 1.1s of 60s (no violation so far)`: the verdict of a run a signal stopped. */
export function interruptedLine(ranMs: number, durationMs: number, violations: number): string {
  const found =
    violations === 0
      ? 'no violation so far'
      : `${violations} violation${violations === 1 ? '' : 's'} so far`;
  return `INTERRUPTED after ${secsShort(ranMs)} of ${secsShort(durationMs)} (${found})`;
}
