/**
 * The lock validator (src/kernel/lockdep.ts), single thread: contexts are
 * played with set_this_cpu, local_irq_disable/enable, irq_enter/irq_exit
 * (whose way out runs a softirq handler installed here) and
 * local_bh_disable/enable. Each report must appear exactly at the step that
 * makes the problem possible, once, and give both sides: the CPU, context
 * and call chain where each usage was first seen.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { K, set_this_cpu } from '../../src/kernel/context.ts';
import {
  irq_enter,
  irq_exit,
  local_bh_disable,
  local_bh_enable,
  open_softirq,
  raise_softirq_irqoff,
  SOFTIRQ,
} from '../../src/kernel/irq.ts';
import { lockdep_percpu, PCPU, readLockdep } from '../../src/kernel/lockdep.ts';
import {
  local_irq_disable,
  local_irq_enable,
  preempt_disable,
  preempt_enable,
} from '../../src/kernel/smp.ts';
import {
  LOCK,
  spin_lock,
  spin_lock_bh,
  spin_unlock,
  spin_unlock_bh,
} from '../../src/kernel/spinlock.ts';
import { fileBase, ZONE } from '../../src/shm/layout.ts';
import { lock_sites } from '../../src/stats/lock_sites.ts';
import { boot, type Machine, violationKinds, violations } from '../helpers/machine.ts';

/**
 * lock_stat's call sites of this file's lock calls: `at.any` where a test
 * looks at no site's label (the label is the stack of its first use).
 */
const at = lock_sites('any');

let m: Machine;
const lru = () => K.L.zone + ZONE.lru_lock;
const zone = () => K.L.zone + ZONE.lock;
const queue = () => K.L.net; // NET.queue_lock is word 0 of the device
const tree = (f: number) => fileBase(K.L, f) + K.L.file_tree_lock;

/** What the next softirq run does (installed on TIMER_SOFTIRQ, whose own handler is empty). */
let softirq_work: () => void = () => {};
function test_softirq_handler(): void {
  softirq_work();
}

/** A timer interrupt on this CPU: hardirq `hard`, then on the way out the softirq `soft`. */
function interrupt(hard: () => void, soft: () => void = () => {}): void {
  local_irq_disable();
  irq_enter();
  hard();
  softirq_work = soft;
  raise_softirq_irqoff(SOFTIRQ.TIMER);
  irq_exit(); // __do_softirq: softirq context, interrupts enabled around the handler
  softirq_work = () => {};
  local_irq_enable();
}
const inSoftirq = (soft: () => void) => interrupt(() => {}, soft);
const lockUnlock = (lock: number, cls: number) => {
  spin_lock(lock, cls, at.any);
  spin_unlock(lock, cls);
};
/** The one violation of `kind`, with its splat. */
function only(kind: string) {
  const vs = violations(m).filter((v) => v.kind === kind);
  expect(vs).toHaveLength(1);
  const v = vs[0]!;
  expect(v.lockdep).toBeDefined();
  return { v, text: v.story.join('\n') };
}

beforeEach(() => {
  m = boot({ cpus: 2 });
  open_softirq(SOFTIRQ.TIMER, test_softirq_handler);
});
afterEach(() => {
  open_softirq(SOFTIRQ.TIMER, () => {}); // run_timer_softirq: no timers in this guest
});

describe('inconsistent lock state', () => {
  it('dev->queue_lock taken with bottom halves on, then in softirq: reported at the softirq acquisition, both sides', () => {
    set_this_cpu(0);
    lockUnlock(queue(), LOCK.queue); // tx-lock-without-bh: process context, softirqs on
    expect(violationKinds(m)).toEqual([]);
    set_this_cpu(1);
    let during: string[] = [];
    inSoftirq(() => {
      lockUnlock(queue(), LOCK.queue);
      during = violationKinds(m);
    });
    expect(during).toEqual(['lockdep-inconsistent']);
    // again, on either CPU: reported once
    set_this_cpu(0);
    lockUnlock(queue(), LOCK.queue);
    inSoftirq(() => lockUnlock(queue(), LOCK.queue));
    const { v, text } = only('lockdep-inconsistent');
    expect(v.cpu).toBe(1);
    expect(v.lockdep!.title).toBe('inconsistent lock state');
    expect(text).toContain('inconsistent {SOFTIRQ-ON-W} -> {IN-SOFTIRQ-W} usage.');
    // this side: cpu1 in the TIMER softirq, through our handler
    expect(text).toMatch(/cpu1 \(softirq TIMER, hardirqs on, softirqs off\)/);
    expect(text).toContain('test_softirq_handler');
    expect(text).toContain('__do_softirq');
    // the other side, where SOFTIRQ-ON-W was first seen: cpu0 in process context
    expect(text).toMatch(/state was registered at:\n\s+cpu0 \(process, hardirqs on, softirqs on/);
    expect(text).toContain('lockUnlock');
  });

  it('spin_lock_bh in process context and spin_lock in softirq (net.ts as written): clean', () => {
    spin_lock_bh(queue(), LOCK.queue, at.any);
    spin_unlock_bh(queue(), LOCK.queue);
    inSoftirq(() => lockUnlock(queue(), LOCK.queue));
    local_irq_disable();
    lockUnlock(lru(), LOCK.lru); // __page_cache_release: irqsave
    local_irq_enable();
    inSoftirq(() => {
      local_irq_disable(); // put_page in NET_TX: __page_cache_release's irqsave
      lockUnlock(lru(), LOCK.lru);
      local_irq_enable();
    });
    expect(violationKinds(m)).toEqual([]);
    const c = readLockdep(m, true).classes;
    expect(c[LOCK.queue]!.usage).toEqual(['IN-SOFTIRQ-W', 'HARDIRQ-ON-W']);
    expect(c[LOCK.lru]!.usage).toEqual(['IN-SOFTIRQ-W']);
    expect(c[LOCK.lru]!.first['IN-SOFTIRQ-W']!.context).toBe(
      'softirq TIMER, hardirqs off, softirqs off',
    );
  });

  it('zone->lru_lock used in hardirq, then taken with interrupts on: {IN-HARDIRQ-W} -> {HARDIRQ-ON-W}', () => {
    interrupt(() => lockUnlock(lru(), LOCK.lru));
    expect(violationKinds(m)).toEqual([]);
    set_this_cpu(1);
    lockUnlock(lru(), LOCK.lru); // lru-lock-without-irq
    const { text } = only('lockdep-inconsistent');
    expect(text).toContain('inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage.');
    expect(text).toMatch(/registered at:\n\s+cpu0 \(hardirq, hardirqs off, softirqs off\)/);
  });

  it('mark_held_locks: a lock taken with interrupts off becomes HARDIRQ-ON when they are enabled while it is held', () => {
    interrupt(() => lockUnlock(lru(), LOCK.lru));
    local_irq_disable();
    spin_lock(lru(), LOCK.lru, at.any);
    expect(violationKinds(m)).toEqual([]);
    local_irq_enable(); // trace_hardirqs_on with lru_lock held
    expect(violationKinds(m)).toEqual(['lockdep-inconsistent']);
    spin_unlock(lru(), LOCK.lru);
    expect(only('lockdep-inconsistent').text).toContain('local_irq_enable');
  });

  it('mark_held_locks at local_bh_enable: a lock held across it becomes SOFTIRQ-ON', () => {
    inSoftirq(() => lockUnlock(queue(), LOCK.queue));
    local_bh_disable();
    spin_lock(queue(), LOCK.queue, at.any);
    expect(violationKinds(m)).toEqual([]);
    local_bh_enable();
    expect(violationKinds(m)).toEqual(['lockdep-inconsistent']);
    spin_unlock(queue(), LOCK.queue);
  });
});

describe('possible circular locking dependency', () => {
  it('zone->lock -> lru_lock on cpu0, then lru_lock -> zone->lock on cpu1: reported when the second order is first taken', () => {
    set_this_cpu(0);
    spin_lock(zone(), LOCK.zone, at.any);
    lockUnlock(lru(), LOCK.lru);
    spin_unlock(zone(), LOCK.zone);
    set_this_cpu(1);
    spin_lock(lru(), LOCK.lru, at.any);
    expect(violationKinds(m)).toEqual([]);
    spin_lock(zone(), LOCK.zone, at.any);
    expect(violationKinds(m)).toEqual(['lockdep-circular']);
    spin_unlock(zone(), LOCK.zone);
    spin_unlock(lru(), LOCK.lru);
    const { text } = only('lockdep-circular');
    expect(text).toMatch(/cpu1 \(process[^)]*\)[^\n]*:\n is trying to acquire \(&zone->lock\)/);
    expect(text).toContain('but already holds (&zone->lru_lock)');
    // the existing chain: zone->lock -> lru_lock, first taken on cpu0
    expect(text).toMatch(
      /-> #0 \(&zone->lru_lock\)\S* taken while holding \(&zone->lock\)\S*:\n\s+cpu0/,
    );
  });

  it('the same order again, and a lock taken in an interrupt while another is held, make no cycle', () => {
    spin_lock(zone(), LOCK.zone, at.any);
    lockUnlock(lru(), LOCK.lru);
    spin_unlock(zone(), LOCK.zone);
    spin_lock(zone(), LOCK.zone, at.any);
    lockUnlock(lru(), LOCK.lru);
    spin_unlock(zone(), LOCK.zone);
    // an interrupt's locks depend on nothing the interrupted context holds
    spin_lock(lru(), LOCK.lru, at.any);
    spin_unlock(lru(), LOCK.lru);
    expect(violationKinds(m)).toEqual([]);
    expect(readLockdep(m, true).classes[LOCK.zone]!.before).toEqual(['&zone->lru_lock']);
  });
});

describe('irq lock inversion', () => {
  it('a new edge from a softirq-safe class to a softirq-unsafe one: "SOFTIRQ-safe -> SOFTIRQ-unsafe lock order"', () => {
    inSoftirq(() => lockUnlock(lru(), LOCK.lru)); // lru_lock: IN-SOFTIRQ-W
    lockUnlock(tree(0), LOCK.tree); // tree_lock: taken with softirqs on
    expect(violationKinds(m)).toEqual([]);
    local_irq_disable();
    spin_lock(lru(), LOCK.lru, at.any);
    spin_lock(tree(0), LOCK.tree, at.any); // lru_lock -> tree_lock
    expect(violationKinds(m)).toEqual(['lockdep-irq-inversion']);
    spin_unlock(tree(0), LOCK.tree);
    spin_unlock(lru(), LOCK.lru);
    local_irq_enable();
    const { v, text } = only('lockdep-irq-inversion');
    expect(v.lockdep!.title).toBe('SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected');
    expect(text).toContain('{IN-SOFTIRQ-W} of &zone->lru_lock was registered at:');
    expect(text).toContain('{SOFTIRQ-ON-W} of &mapping->tree_lock was registered at:');
  });

  it('an existing edge, then the first class used in softirq: "possible irq lock inversion dependency"', () => {
    local_irq_disable();
    spin_lock(lru(), LOCK.lru, at.any);
    lockUnlock(tree(0), LOCK.tree); // edge lru_lock -> tree_lock, no irq usage yet
    spin_unlock(lru(), LOCK.lru);
    local_irq_enable();
    lockUnlock(tree(0), LOCK.tree); // tree_lock: SOFTIRQ-ON-W
    expect(violationKinds(m)).toEqual([]);
    set_this_cpu(1);
    inSoftirq(() => lockUnlock(lru(), LOCK.lru));
    const { v, text } = only('lockdep-irq-inversion');
    expect(v.lockdep!.title).toBe('possible irq lock inversion dependency detected');
    expect(text).toContain('marks IN-SOFTIRQ-W');
    expect(text).toMatch(
      /-> #0 \(&mapping->tree_lock\)\S* taken while holding \(&zone->lru_lock\)/,
    );
  });
});

describe('per-CPU data', () => {
  it('the discard pagevec used under preemption-off only and from softirq: lockdep-percpu, both sides', () => {
    preempt_disable(); // get_cpu_var
    lockdep_percpu(PCPU.page_hva_discard_pvecs);
    preempt_enable();
    expect(violationKinds(m)).toEqual([]);
    set_this_cpu(1);
    inSoftirq(() => lockdep_percpu(PCPU.page_hva_discard_pvecs));
    const { v, text } = only('lockdep-percpu');
    expect(v.lockdep!.title).toBe('inconsistent per-CPU data use');
    expect(text).toContain('inconsistent {SOFTIRQ-ON-W} -> {IN-SOFTIRQ-W} usage.');
    expect(text).toContain('uses (per_cpu(page_hva_discard_pvecs))');
    expect(text).toMatch(
      /registered at:\n\s+cpu0 \(process, hardirqs on, softirqs on, preempt off\)/,
    );
  });

  it('the pcp lists under local_irq_save and from softirq, the 2006 list under local_irq_disable and from the IPI: clean', () => {
    local_irq_disable();
    lockdep_percpu(PCPU.per_cpu_pageset);
    lockdep_percpu(PCPU.page_discard_list);
    local_irq_enable();
    inSoftirq(() => {
      local_irq_disable();
      lockdep_percpu(PCPU.per_cpu_pageset);
      local_irq_enable();
    });
    interrupt(() => lockdep_percpu(PCPU.page_discard_list));
    expect(violationKinds(m)).toEqual([]);
    expect(readLockdep(m, true).percpu.map((p) => p.usage)).toEqual([
      [],
      ['IN-SOFTIRQ-W'],
      ['IN-HARDIRQ-W'],
    ]);
  });
});

describe('recursive locking, and --no-lockdep', () => {
  it('a second tree_lock while one is held: lockdep-recursive', () => {
    spin_lock(tree(0), LOCK.tree, at.any);
    expect(violationKinds(m)).toEqual([]);
    spin_lock(tree(1), LOCK.tree, at.any);
    expect(violationKinds(m)).toEqual(['lockdep-recursive']);
    spin_unlock(tree(1), LOCK.tree);
    spin_unlock(tree(0), LOCK.tree);
    expect(only('lockdep-recursive').v.lockdep!.title).toBe('possible recursive locking detected');
  });

  it('with lockdep off nothing is recorded or reported', () => {
    m = boot({ cpus: 2, lockdep: false });
    open_softirq(SOFTIRQ.TIMER, test_softirq_handler);
    lockUnlock(queue(), LOCK.queue);
    inSoftirq(() => lockUnlock(queue(), LOCK.queue));
    expect(violationKinds(m)).toEqual([]);
    const r = readLockdep(m, false);
    expect(r.enabled).toBe(false);
    expect(r.reports).toBe(0);
    expect(r.classes.every((c) => c.usage.length === 0)).toBe(true);
  });
});
