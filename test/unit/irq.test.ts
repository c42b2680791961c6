/**
 * Interrupt context (src/kernel/irq.ts, smp.ts's do_IRQ, net.ts), single
 * thread, exact states: a pending interrupt is taken at a preemption point
 * only with interrupts on, as a hardirq that runs softirqs on its way out;
 * bottom halves off hold softirqs back until local_bh_enable; the network
 * device's completion drops sendfile's page references in softirq, where a
 * page's last put_page can run; and what the series' "stable while held" rule
 * keeps out of there.
 */
import { describe, expect, it } from 'vitest';
import { recentEvents } from '../../src/check/decode.ts';
import { K, P, set_this_cpu } from '../../src/kernel/context.ts';
import { HS, hw_host_state } from '../../src/kernel/essa.ts';
import { find_get_page, pagecache_slot } from '../../src/kernel/filemap.ts';
import {
  in_interrupt,
  in_softirq,
  local_bh_disable,
  local_bh_enable,
  open_softirq,
  preempt_count,
  raise_softirq_irqoff,
} from '../../src/kernel/irq.ts';
import { vmtruncate } from '../../src/kernel/memory.ts';
import { do_sendfile } from '../../src/kernel/net.ts';
import { discard_pvec_pages } from '../../src/kernel/page_alloc.ts';
import { page_hva_make_volatile } from '../../src/kernel/page_hva.ts';
import { PG_discarded, page_count, page_flags } from '../../src/kernel/page-flags.ts';
import {
  FUNC,
  local_irq_disable,
  local_irq_enable,
  point,
  smp_call_function,
} from '../../src/kernel/smp.ts';
import '../../src/kernel/timer.ts';
import {
  NET,
  PENDING,
  PERCPU,
  PERCPU_IRQ,
  PERCPU_PENDING,
  percpuBase,
} from '../../src/shm/layout.ts';
import {
  boot,
  cachePage,
  counter,
  hostDiscard,
  type Machine,
  violationKinds,
  violations,
} from '../helpers/machine.ts';

let m: Machine;
const raise = (cpu: number, bit: number) =>
  Atomics.or(K.i32, percpuBase(K.L, cpu) + PERCPU_PENDING, bit);
const pending = (cpu: number) => K.i32[percpuBase(K.L, cpu) + PERCPU_PENDING]!;
const events = (cpu: number) => recentEvents(m, cpu).map((e) => e.event);

describe('external interrupts at preemption points', () => {
  it('the timer is taken at a point with interrupts on: a hardirq, then TIMER_SOFTIRQ on its way out', () => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
    set_this_cpu(0);
    raise(0, PENDING.timer);
    local_irq_disable();
    point(P.op); // interrupts off: it waits
    expect(pending(0)).toBe(PENDING.timer);
    expect(counter(0, 'hardirqs')).toBe(0);
    local_irq_enable(); // an instruction boundary with interrupts on
    expect(pending(0)).toBe(0);
    expect(counter(0, 'hardirqs')).toBe(1);
    expect(counter(0, 'softirqs')).toBe(1);
    expect(events(0).slice(-2)).toEqual(['hardirq', 'softirq']);
    expect(preempt_count()).toBe(0);
  });

  it('softirqs run with interrupts on and in softirq context; bottom halves off hold them back', () => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
    set_this_cpu(0);
    const seen: { inSoftirq: boolean; irqsOn: boolean; inInterrupt: boolean }[] = [];
    open_softirq(0, () =>
      seen.push({
        inSoftirq: in_softirq(),
        irqsOn: K.i32[K.percpu + PERCPU.irqs_enabled] !== 0,
        inInterrupt: in_interrupt(),
      }),
    );
    try {
      local_bh_disable();
      raise(0, PENDING.timer);
      raise_softirq_irqoff(0); // as a handler would
      point(P.op); // the hardirq runs, but irq_exit sees bottom halves off
      expect(counter(0, 'hardirqs')).toBe(1);
      expect(seen).toEqual([]);
      local_bh_enable(); // pending softirqs run here
      expect(seen).toEqual([{ inSoftirq: true, irqsOn: true, inInterrupt: true }]);
      expect(preempt_count()).toBe(0);
    } finally {
      open_softirq(0, () => {});
    }
  });
});

describe('sendfile and the network device', () => {
  it("the device's completion drops the last reference of a truncated page in softirq", () => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
    set_this_cpu(0);
    const p = cachePage(2, 5);
    do_sendfile(2, 5, 1);
    expect(page_count(p)).toBe(2); // the cache's and the device's
    expect(counter(0, 'sendfilePages')).toBe(1);
    vmtruncate(2);
    expect(pagecache_slot(2, 5)).toBe(-1);
    expect(page_count(p)).toBe(1); // only the device holds it now
    raise(0, PENDING.net);
    point(P.op); // the device's interrupt: NET_TX frees the page, NET_RX gets a buffer
    expect(counter(0, 'irqFrees')).toBe(1);
    // Freed normally (it never carried PG_discarded) to the hot list, where
    // NET_RX's GFP_ATOMIC allocation took it straight back as its buffer.
    const evs = recentEvents(m, 0)
      .filter((e) => e.pfn === p)
      .map((e) => e.event);
    expect(evs.slice(-4)).toEqual(['tx-free', 'put-last', 'free', 'alloc']);
    expect(K.i32[percpuBase(K.L, 0) + PERCPU_IRQ.rx_page]).toBe(p + 1);
    expect(page_count(p)).toBe(1);
    expect(K.i32[K.L.net + NET.head]).toBe(K.i32[K.L.net + NET.tail]);
    expect(events(0)).toContain('tx-free');
    expect(violations(m)).toEqual([]);
  });

  it("the device's completion count only moves forward (a CPU whose interrupt read an older tail)", () => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
    set_this_cpu(0);
    const p = cachePage(2, 5);
    do_sendfile(2, 5, 1); // tail 1
    const net = K.L.net;
    // Another CPU's interrupt and NET_TX already completed slot 0 and, in a
    // later round, slots up to 3: done 3, head 3. This CPU's interrupt read
    // tail 1 before that; here tail stands at 1 as it read it.
    K.i32[net + NET.done] = 3;
    K.i32[net + NET.head] = 3;
    raise(0, PENDING.net);
    point(P.op);
    expect(K.i32[net + NET.done]).toBe(3); // not back to 1
    expect(K.i32[net + NET.head]).toBe(3); // NET_TX ran past nothing
    expect(page_count(p)).toBe(2); // the device's reference was not dropped twice
    expect(violations(m)).toEqual([]);
  });

  it('stable while held: a page the device holds cannot be made volatile, so the host cannot discard it', () => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
    set_this_cpu(0);
    const p = cachePage(1, 3);
    do_sendfile(1, 3, 1);
    page_hva_make_volatile(p, 1); // the cache's reference is known, the device's is not
    expect(hw_host_state(p)).toBe(HS.Sr);
    raise(0, PENDING.net);
    point(P.op);
    page_hva_make_volatile(p, 1); // the device let go: now it may
    expect(hw_host_state(p)).toBe(HS.Vr);
    expect(violations(m)).toEqual([]);
  });

  it('mutant sendfile-without-stable: a discarded page reaches the discard pagevec from softirq', () => {
    m = boot({ cpus: 1, pages: 256, files: 4, mutant: 'sendfile-without-stable' });
    set_this_cpu(0);
    const p = cachePage(1, 3);
    page_hva_make_volatile(p, 1);
    hostDiscard(p);
    do_sendfile(1, 3, 1); // no make_stable: the device gets a discarded page
    expect(page_count(p)).toBe(2);
    expect(find_get_page(1, 3)).toBe(-1); // someone else's lookup discards it
    expect(page_flags(p) & PG_discarded).toBe(PG_discarded);
    expect(page_count(p)).toBe(1);
    raise(0, PENDING.net);
    point(P.op);
    expect(page_count(p)).toBe(0);
    expect(counter(0, 'irqFrees')).toBe(1);
    expect(discard_pvec_pages(0)).toEqual([p]); // parked from softirq
  });
});

describe('smp_call_function from interrupt context', () => {
  it('WARN_ON: from a softirq it is a smp-call-irqs-off violation with detail 2', () => {
    m = boot({ cpus: 1, pages: 256, files: 4 });
    set_this_cpu(0);
    open_softirq(0, () => smp_call_function(FUNC.page_hva_sync, true));
    try {
      raise_softirq_irqoff(0);
      raise(0, PENDING.timer);
      point(P.op);
      expect(violationKinds(m)).toContain('smp-call-irqs-off');
      expect(violations(m).find((v) => v.kind === 'smp-call-irqs-off')!.detail).toBe(2);
    } finally {
      open_softirq(0, () => {});
    }
  });
});
