/*
 * The native reference: the subset of src/kernel and src/check that the
 * benchmarks drive, written in C one function for one function, on the same
 * buffer (struct of arrays, list links as node indices, the same pagevec, the
 * same per-CPU lines) at the offsets of the generated layout.h. Every shared
 * access that is an Atomics call in TypeScript is a C11 seq_cst atomic here;
 * every plain typed-array access is a plain access. Clock reads are
 * clock_gettime(CLOCK_MONOTONIC), what performance.now() reads underneath.
 *
 * Atomics.wait/notify are futex wait/wake; like V8's, a notify with nobody
 * asleep costs no system call.
 *
 * Keep it in step with the TypeScript: the bench checks that a single-thread
 * run of the hot loop leaves this buffer and the JavaScript one identical.
 */
#pragma once
#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"

#define RING_MASK (RING_EVENTS - 1)

static int32_t *I32;
static double *F64;
static double ORIGIN; /* performance.timeOrigin: wall ms at monotonic 0 */

/* "This CPU" (src/kernel/context.ts K): one thread plays one CPU. */
struct kctx {
  int cpu;
  int home;
  int percpu;
  int pending;
  int pvec;
  int stats;
  int ring;
  int lockstat; /* f64 index of this CPU's lock_stat block */
  int lat;      /* f64 index of this CPU's latency block */
  double irqsOffAt;
  int in_reclaim;
};
static __thread struct kctx K;

/* ---- Atomics on the Int32 view ---------------------------------------- */

#define AT(i) ((_Atomic int32_t *)&I32[(i)])
static inline int32_t a_load(int i) { return atomic_load(AT(i)); }
/* A plain load of a shared word (the TypeScript reads it as i32[i]). */
static inline int32_t r_load(int i) { return atomic_load_explicit(AT(i), memory_order_relaxed); }
/* A plain store to a shared word (the TypeScript writes it as i32[i] = v). */
static inline void r_store(int i, int32_t v) { atomic_store_explicit(AT(i), v, memory_order_relaxed); }
static inline void a_store(int i, int32_t v) { atomic_store(AT(i), v); }
static inline int32_t a_add(int i, int32_t v) { return atomic_fetch_add(AT(i), v); }
static inline int32_t a_sub(int i, int32_t v) { return atomic_fetch_sub(AT(i), v); }
static inline int32_t a_or(int i, int32_t v) { return atomic_fetch_or(AT(i), v); }
static inline int32_t a_and(int i, int32_t v) { return atomic_fetch_and(AT(i), v); }
static inline int32_t a_xchg(int i, int32_t v) { return atomic_exchange(AT(i), v); }
/* Atomics.compareExchange: returns the old value. */
static inline int32_t a_cas(int i, int32_t expect, int32_t desired) {
  atomic_compare_exchange_strong(AT(i), &expect, desired);
  return expect;
}

static _Atomic int nr_sleepers;

/* Atomics.wait(i32, i, v, ms) */
static void a_wait(int i, int32_t v, double ms) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ms / 1000);
  ts.tv_nsec = (long)((ms - ts.tv_sec * 1000.0) * 1e6);
  atomic_fetch_add(&nr_sleepers, 1);
  syscall(SYS_futex, &I32[i], FUTEX_WAIT_PRIVATE, v, &ts, NULL, 0);
  atomic_fetch_sub(&nr_sleepers, 1);
}
/* Atomics.notify(i32, i[, n]) */
static void a_notify(int i, int n) {
  if (atomic_load(&nr_sleepers) == 0) return;
  syscall(SYS_futex, &I32[i], FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* performance.now() */
static inline double perf_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static void die(const char *what, int pfn) {
  fprintf(stderr, "native: %s (pfn %d, cpu %d)\n", what, pfn, K.cpu);
  exit(3);
}

/* ---- layout helpers (src/shm/layout.ts) --------------------------------- */

static inline int headNode(int h) { return L_head_base + h; }
static inline int percpuHeadNode(int cpu, int which) {
  return L_percpu_heads + cpu * L_percpu_heads_stride + which;
}
static inline int percpuBase(int cpu) { return L_percpu + cpu * L_percpu_stride; }
static inline int pvecBase(int cpu) { return L_pvec + cpu * L_pvec_stride; }
static inline int taskBase(int task) { return L_task + task * L_task_stride; }
static inline int ringBase(int rec) { return L_ring + rec * L_ring_stride; }
static inline int statsBase(int rec) { return L_stats + rec * L_stats_stride; }

static void set_this_cpu(int cpu) {
  K.cpu = cpu;
  K.home = cpu;
  K.lockstat = L_lockstat + cpu * L_lockstat_stride;
  K.lat = L_latency + cpu * L_latency_stride;
  K.stats = statsBase(cpu);
  K.ring = ringBase(cpu);
  K.percpu = percpuBase(cpu);
  K.pending = K.percpu + PERCPU_PENDING;
  K.pvec = pvecBase(cpu);
}

/* ---- check/recorder.ts -------------------------------------------------- */

static inline double now_wall(void) { return ORIGIN + perf_now(); }

static inline void rec_t(int ev, int pfn, int a, int b, double t) {
  int ring = K.ring;
  int n = I32[ring];
  int slot = n & RING_MASK;
  int e = ring + L_ring_events + slot * EVENT_WORDS;
  I32[e] = ev;
  I32[e + 1] = pfn;
  I32[e + 2] = a;
  I32[e + 3] = b;
  F64[L_ring_time + K.cpu * RING_EVENTS + slot] = t;
  r_store(ring, n + 1);
}
static inline void rec(int ev, int pfn, int a, int b) { rec_t(ev, pfn, a, b, now_wall()); }

/* ---- check/oracle.ts (the hooks the benchmarked paths pass) -------------- */

static void oracle_bad_page(int pfn, int kind) {
  (void)kind;
  die("oracle: bad page", pfn);
}
static __thread double hist_t; /* K.histT: the recorder event after a stamp reuses it */
static inline void hist(int pfn, int what) {
  hist_t = now_wall();
  F64[L_ghost_hist_t + pfn * HIST_nr + what] = hist_t;
}
static inline int oracle_alloc(int pfn) {
  I32[L_ghost_last_alloc + pfn] = K.cpu;
  hist(pfn, HIST_alloc);
  return a_add(L_ghost_gen + pfn, 1) + 1;
}
static inline void oracle_enter_allocator(int pfn) {
  I32[L_ghost_last_free + pfn] = K.cpu;
  hist(pfn, HIST_free);
  if (a_load(L_ghost_wtarget + pfn) == 0) return;
  die("oracle: free in window", pfn);
}
static inline void ghost_list_add(int pfn) {
  if (a_xchg(L_ghost_list + pfn, 1) != 0) oracle_bad_page(pfn, VK_double_list);
}
static inline void ghost_list_del(int pfn) { r_store(L_ghost_list + pfn, 0); }
static inline void ghost_pvec_store(int slot, int pfn) {
  int tag = PVEC_TAG + (slot - L_pvec);
  int old = I32[slot];
  if (old != pfn && old >= 0 && old < L_nr_pages && a_load(L_ghost_list + old) == tag) {
    die("oracle: lost page", old);
  }
  if (a_xchg(L_ghost_list + pfn, tag) != 0) oracle_bad_page(pfn, VK_double_list);
  I32[L_ghost_last_park + pfn] = K.cpu;
  hist(pfn, HIST_park);
}

/* ---- check/coverage.ts: the near-miss counters (plain reads, as there) ---- */

static inline void near_miss(int cnt) { F64[K.stats + cnt]++; }
static inline void near_miss_if_window(int pfn, int cnt) {
  if ((unsigned)pfn < (unsigned)L_nr_pages && r_load(L_ghost_wtarget + pfn) != 0) near_miss(cnt);
}

/* ---- kernel/list.ts ------------------------------------------------------ */

static inline void INIT_LIST_HEAD(int head) {
  I32[L_lru_next + head] = head;
  I32[L_lru_prev + head] = head;
}
static inline int list_empty(int head) { return I32[L_lru_next + head] == head; }
static inline int list_first(int head) { return I32[L_lru_next + head]; }
static inline int list_last(int head) { return I32[L_lru_prev + head]; }
static inline int list_next(int node) {
  int n = I32[L_lru_next + node];
  if ((unsigned)n >= (unsigned)L_nr_nodes || I32[L_lru_prev + n] != node) die("list_next: back", node);
  return n;
}

/* list.ts's CONFIG_DEBUG_LIST checks, the same comparisons (a failure ends the bench). */
static inline void __list_add(int node, int prev, int next) {
  if ((unsigned)node >= (unsigned)L_nr_pages) die("list_add: not a page", node);
  int ln = I32[L_lru_next + node], lp = I32[L_lru_prev + node];
  if (!((ln == LIST_POISON1 && lp == LIST_POISON2) || (ln | lp) == 0)) die("list_add: linked", node);
  if ((unsigned)next >= (unsigned)L_nr_nodes || I32[L_lru_prev + next] != prev) die("list_add: next", node);
  if ((unsigned)prev >= (unsigned)L_nr_nodes || I32[L_lru_next + prev] != next) die("list_add: prev", node);
  ghost_list_add(node);
  I32[L_lru_next + node] = next;
  I32[L_lru_prev + node] = prev;
  I32[L_lru_next + prev] = node;
  I32[L_lru_prev + next] = node;
}
static inline void list_add(int node, int head) { __list_add(node, head, I32[L_lru_next + head]); }
static inline void list_add_tail(int node, int head) {
  __list_add(node, I32[L_lru_prev + head], head);
}
static inline void list_del(int node) {
  if ((unsigned)node >= (unsigned)L_nr_pages) die("list_del: not a page", node);
  int next = I32[L_lru_next + node];
  int prev = I32[L_lru_prev + node];
  if (next == LIST_POISON1) die("list_del: deleted twice", node);
  if ((unsigned)next >= (unsigned)L_nr_nodes || I32[L_lru_prev + next] != node) die("list_del: next", node);
  if ((unsigned)prev >= (unsigned)L_nr_nodes || I32[L_lru_next + prev] != node) die("list_del: prev", node);
  I32[L_lru_next + prev] = next;
  I32[L_lru_prev + next] = prev;
  I32[L_lru_next + node] = LIST_POISON1;
  I32[L_lru_prev + node] = LIST_POISON2;
  ghost_list_del(node);
}
static inline void list_splice_init(int list, int head) {
  if (list_empty(list)) return;
  int first = I32[L_lru_next + list];
  int last = I32[L_lru_prev + list];
  int at = I32[L_lru_next + head];
  I32[L_lru_prev + first] = head;
  I32[L_lru_next + head] = first;
  I32[L_lru_next + last] = at;
  I32[L_lru_prev + at] = last;
  INIT_LIST_HEAD(list);
}

/* ---- kernel/pagevec.ts ---------------------------------------------------- */

static inline int pagevec_count(int pvec) { return I32[pvec]; }
static inline int pagevec_page(int pvec, int i) { return I32[pvec + 1 + i]; }
static inline void pagevec_reinit(int pvec) { I32[pvec] = 0; }
static inline void pagevec_release_ghost(int pfn) { ghost_list_del(pfn); }

/* ---- kernel/page-flags.ts, essa.ts --------------------------------------- */

static inline int page_flags(int pfn) { return r_load(L_page_flags + pfn); }
static inline void SetPageFlag(int pfn, int bit) { a_or(L_page_flags + pfn, bit); }
static inline void ClearPageFlag(int pfn, int bit) { a_and(L_page_flags + pfn, ~bit); }
static inline int TestSetPageFlag(int pfn, int bit) {
  return (a_or(L_page_flags + pfn, bit) & bit) != 0;
}
static inline int TestClearPageFlag(int pfn, int bit) {
  return (a_and(L_page_flags + pfn, ~bit) & bit) != 0;
}
static inline int PageDiscarded(int pfn) { return (page_flags(pfn) & PG_discarded) != 0; }
static inline int TestSetPageDiscarded(int pfn) { return TestSetPageFlag(pfn, PG_discarded); }
static inline void ClearPageDiscarded(int pfn) { ClearPageFlag(pfn, PG_discarded); }
static inline int page_mapping(int pfn) { return r_load(L_page_mapping + pfn); }
static inline int page_count(int pfn) { return r_load(L_page_count + pfn); }
static inline void set_page_mapping(int pfn, int m) { r_store(L_page_mapping + pfn, m); }
static inline int PageAnon(int pfn) { return page_mapping(pfn) < 0; }

static inline void page_hva_set_stable(int pfn) { a_store(L_host_state + pfn, HS_Sr); }
static inline void page_hva_set_unused(int pfn) { a_store(L_host_state + pfn, HS_Ur); }
static inline int hw_host_state(int pfn) { return a_load(L_host_state + pfn); }

/* ---- stats/latency.ts ---------------------------------------------------------- */

/* Quarter microseconds, linear below LAT_HIST_linear, then LAT_HIST_sub buckets an octave. */
static inline int hist_bucket(double us) {
  double q4 = us * Q_PER_US;
  if (!(q4 >= 1)) return 0;
  if (q4 >= (double)(1u << LAT_HIST_max_exp)) return LAT_HIST_buckets - 1;
  int q = (int)q4;
  if (q < LAT_HIST_linear) return q;
  int e = 31 - __builtin_clz((unsigned)q);
  int e0 = __builtin_ctz(LAT_HIST_linear); /* log2(linear) */
  return LAT_HIST_linear + LAT_HIST_sub * (e - e0) + ((q >> (e - 2)) & 3);
}
static inline void latency_irqs_off(double us) { F64[K.lat + LATENCY_irqs_off + hist_bucket(us)]++; }
static inline void latency_ipi_sent(void) { F64[L_call_time] = now_wall(); }
static inline void latency_ipi_response(void) {
  double us = (now_wall() - F64[L_call_time]) * 1000;
  F64[K.lat + LATENCY_response + hist_bucket(us)]++;
  if (us > F64[K.lat + LATENCY_response_max_us]) F64[K.lat + LATENCY_response_max_us] = us;
}
static inline void latency_call(double us) {
  F64[K.lat + LATENCY_call + hist_bucket(us)]++;
  if (us > F64[K.lat + LATENCY_call_max_us]) F64[K.lat + LATENCY_call_max_us] = us;
}

/* ---- kernel/smp.ts ---------------------------------------------------------- */

static void smp_call_function_interrupt(void);

static inline int irqs_disabled(void) { return I32[K.percpu + PERCPU_irqs_enabled] == 0; }
static inline void local_irq_disable(void) {
  if (I32[K.percpu + PERCPU_irqs_enabled] == 0) return;
  I32[K.percpu + PERCPU_irqs_enabled] = 0;
  K.irqsOffAt = perf_now();
}
static inline void local_irq_enable(void) {
  if (I32[K.percpu + PERCPU_irqs_enabled] != 0) return;
  double offUs = (perf_now() - K.irqsOffAt) * 1000;
  int m = K.stats + CNT_irqsOffMaxUs;
  if (offUs > F64[m]) F64[m] = offUs;
  latency_irqs_off(offUs);
  I32[K.percpu + PERCPU_irqs_enabled] = 1;
  if (r_load(K.pending) != 0) smp_call_function_interrupt();
}
static inline int local_irq_save(void) {
  int was = !irqs_disabled();
  local_irq_disable();
  return was;
}
static inline void local_irq_restore(int was) {
  if (was) local_irq_enable();
}
static inline void preempt_disable(void) { I32[K.percpu + PERCPU_preempt_count]++; }
static inline void preempt_enable(void) { I32[K.percpu + PERCPU_preempt_count]--; }
static inline int in_interrupt(void) {
  return (I32[K.percpu + PERCPU_preempt_count] & (HARDIRQ_MASK | SOFTIRQ_MASK)) != 0;
}

/* No race-window widening in a benchmark (K.widen is false). */
static inline void point(int p) {
  I32[K.percpu + PERCPU_point] = p;
  if (I32[K.percpu + PERCPU_irqs_enabled] != 0 && r_load(K.pending) != 0) {
    smp_call_function_interrupt();
  }
}

static inline void cpu_relax(int spins) {
  if (spins < RELAX_spins) return;
  a_wait(K.pending, 0, spins < RELAX_shortSpins ? RELAX_shortMs : RELAX_longMs);
}
/* smp.ts call_relax: the rendezvous caller sleeps on the count it waits for */
static inline void call_relax(int word, int n, int spins) {
  if (spins < RELAX_spins) return;
  a_wait(word, n, RELAX_callMs);
}

static inline int pagevec_add(int pvec, int pfn) {
  int nr = I32[pvec];
  point(P_pvec_store);
  if (nr >= L_pagevec_size) die("pagevec overflow", pfn);
  ghost_pvec_store(pvec + 1 + nr, pfn);
  I32[pvec + 1 + nr] = pfn;
  I32[pvec] = nr + 1;
  return L_pagevec_size - (nr + 1);
}

/* ---- stats/lockstat.ts: the always-on counting hooks ------------------------ */

static inline void lock_contended(int cpuWord, int cls) {
  int r = K.lockstat + cls * LOCKSTAT_nr_fields;
  F64[r + LOCKSTAT_contentions]++;
  int last = I32[cpuWord];
  if (last != 0 && last != K.cpu + 1) F64[r + LOCKSTAT_con_bounces]++;
}
static inline void lock_acquired(int cpuWord, int cls) {
  int r = K.lockstat + cls * LOCKSTAT_nr_fields;
  F64[r + LOCKSTAT_acquisitions]++;
  int me = K.cpu + 1;
  int last = I32[cpuWord];
  if (last != me) {
    I32[cpuWord] = me;
    if (last != 0) F64[r + LOCKSTAT_acq_bounces]++;
  }
}

/* ---- kernel/spinlock.ts (pv, the default kind; no --lockstat timing) ----------- */

/* spinlock.ts pv_wait: with interrupts enabled, publish the word slept on for the IPI sender */
static void pv_wait(int lock) {
  if (irqs_disabled()) {
    a_wait(lock, 2, PV_WAIT_offMs);
    return;
  }
  int sleep = K.percpu + PERCPU_SLEEP;
  a_store(sleep, lock);
  if (a_load(K.pending) == 0) a_wait(lock, 2, PV_WAIT_onMs);
  I32[sleep] = 0;
}
static void spin_lock_slow(int lock) {
  int spins = 0;
  for (;;) {
    point(P_spin);
    int v = a_load(lock);
    if (v == 0) {
      if (a_cas(lock, 0, spins >= PV_SPINS ? 2 : 1) == 0) return;
      continue;
    }
    spins++;
    if (spins >= PV_SPINS) {
      if (v == 2 || a_cas(lock, 1, 2) == 1) pv_wait(lock);
    }
  }
}
static inline int arch_spin_trylock(int lock) { return a_cas(lock + LOCK_SLOT_val, 0, 1) == 0; }
static inline void spin_lock(int lock, int cls) {
  if (!arch_spin_trylock(lock)) {
    lock_contended(lock + LOCK_SLOT_cpu, cls);
    spin_lock_slow(lock);
  }
  lock_acquired(lock + LOCK_SLOT_cpu, cls);
  I32[K.percpu + PERCPU_locks_held] |= 1 << cls;
}
/* spin_is_locked: plain reads (tas/pv keep `owner` 0) */
static inline int arch_spin_is_locked(int lock) {
  return I32[lock + LOCK_SLOT_val] != I32[lock + LOCK_SLOT_owner];
}
static inline void spin_unlock(int lock, int cls) {
  I32[K.percpu + PERCPU_locks_held] &= ~(1 << cls);
  if (a_xchg(lock + LOCK_SLOT_val, 0) == 2) a_notify(lock + LOCK_SLOT_val, 1);
}

/* ---- smp_call_function ------------------------------------------------------ */

/* coverage.ts near_miss_ipi_targets: targets inside a fault window, which the rendezvous waits out */
static inline void near_miss_ipi_targets(void) {
  for (int c = 0; c < L_nr_cpus; c++) {
    if (c == K.home) continue;
    if (a_load(L_faultrec + c * L_faultrec_stride + FAULTREC_active) != 0) near_miss(CNT_nmIpiToWindow);
  }
}

static void smp_call_function_interrupt(void) {
  if ((a_load(K.pending) & PENDING_ipi) == 0) return; /* smp.ts: another source woke us */
  a_and(K.pending, ~PENDING_ipi);
  I32[K.percpu + PERCPU_irqs_enabled] = 0;
  int call = L_call;
  int seq = a_load(call + CALL_seq);
  int caller = a_load(call + CALL_caller);
  int func = a_load(call + CALL_func);
  int nr_targets = L_nr_cpus - 1;
  rec(EV_ipi_take, -1, caller, seq);
  latency_ipi_response();
  if (a_add(call + CALL_started, 1) + 1 == nr_targets) a_notify(call + CALL_started, INT_MAX);
  if (func == FUNC_page_hva_sync) point(P_ipi_handler);
  if (a_add(call + CALL_finished, 1) + 1 == nr_targets) a_notify(call + CALL_finished, INT_MAX);
  F64[K.stats + CNT_ipisTaken]++;
  I32[K.percpu + PERCPU_irqs_enabled] = 1;
}

static void smp_call_function(int func, int wait) {
  int nr_targets = L_nr_cpus - 1;
  double t0 = perf_now();
  spin_lock(L_call_lock, LOCK_call_lock);
  int call = L_call;
  a_store(call + CALL_func, func);
  a_store(call + CALL_wait, wait ? 1 : 0);
  a_store(call + CALL_started, 0);
  a_store(call + CALL_finished, 0);
  a_store(call + CALL_caller, K.cpu);
  a_store(call + CALL_info, 0);
  int seq = a_add(call + CALL_seq, 1) + 1;
  rec(EV_ipi_send, -1, seq, 0);
  latency_ipi_sent();
  near_miss_ipi_targets();
  for (int c = 0; c < L_nr_cpus; c++) {
    if (c == K.cpu) continue;
    int pending = percpuBase(c) + PERCPU_PENDING;
    a_or(pending, PENDING_ipi);
    a_notify(pending, INT_MAX);
    int sleep = a_load(percpuBase(c) + PERCPU_SLEEP);
    if (sleep != 0) a_notify(sleep, INT_MAX);
  }
  int spins = 0, n;
  while ((n = a_load(call + CALL_started)) != nr_targets) {
    point(P_ipi_wait);
    call_relax(call + CALL_started, n, spins++);
  }
  rec(EV_rendezvous, -1, nr_targets, seq);
  if (wait) {
    while ((n = a_load(call + CALL_finished)) != nr_targets) {
      point(P_ipi_wait);
      call_relax(call + CALL_finished, n, spins++);
    }
  }
  spin_unlock(L_call_lock, LOCK_call_lock);
  F64[K.stats + CNT_rendezvous]++;
  double us = (perf_now() - t0) * 1000;
  F64[K.stats + CNT_rendezvousWaitUs] += us;
  latency_call(us);
}

/* ---- kernel/page_alloc.ts ------------------------------------------------- */

static void free_hot_cold_page(int pfn, int cold);
static void shrink_discards(void);
static int try_to_free_pages(void);

static inline int get_page_unless_zero(int pfn) {
  int idx = L_page_count + pfn;
  for (;;) {
    int c = a_load(idx);
    if (c == 0) return 0;
    if (a_cas(idx, c, c + 1) == c) return 1;
  }
}

/* 2.6.15: lru_lock always (isolate_lru_pages clears PG_lru before it looks at the count);
   free only if the count is still 0 under it. */
static int __page_cache_release(int pfn) {
  int flags = local_irq_save();
  spin_lock(L_zone + ZONE_lru_lock, LOCK_lru);
  if (TestClearPageFlag(pfn, PG_lru)) die("__page_cache_release of an LRU page: not in this benchmark", pfn);
  int free = page_count(pfn) == 0;
  spin_unlock(L_zone + ZONE_lru_lock, LOCK_lru);
  local_irq_restore(flags);
  return free;
}

static void put_page(int pfn) {
  int old = a_sub(L_page_count + pfn, 1);
  if (old > 1) return;
  if (old <= 0) die("put_page: negative count", pfn);
  rec(EV_put_last, pfn, 0, 0);
  near_miss_if_window(pfn, CNT_nmLastPutInWindow);
  if (in_interrupt()) F64[K.stats + CNT_irqFrees]++;
  if (__page_cache_release(pfn)) free_hot_cold_page(pfn, 0);
}

static int rmqueue_bulk(int count, int list) {
  int zone = L_zone;
  int free = headNode(HEAD_free);
  spin_lock(zone + ZONE_lock, LOCK_zone);
  int n = 0;
  for (; n < count && I32[zone + ZONE_free_pages] > 0; n++) {
    int pfn = list_first(free);
    list_del(pfn);
    list_add_tail(pfn, list);
    I32[zone + ZONE_free_pages]--;
  }
  spin_unlock(zone + ZONE_lock, LOCK_zone);
  return n;
}

static void prep_new_page(int pfn) {
  int count = page_count(pfn);
  int bad = page_flags(pfn) & PAGE_FLAGS_CHECK_AT_FREE;
  if (count != 0 || bad != 0 || page_mapping(pfn) != 0) oracle_bad_page(pfn, VK_bad_alloc);
  a_store(L_page_flags + pfn, 0);
  set_page_mapping(pfn, 0);
  a_store(L_page_mapcount + pfn, 0);
  int gen = oracle_alloc(pfn);
  page_hva_set_stable(pfn);
  a_store(L_page_count + pfn, 1);
  rec_t(EV_alloc, pfn, gen, 0, hist_t);
}

static int buffered_rmqueue(int cold) {
  int pc = K.percpu;
  int countIdx = pc + (cold ? PERCPU_pcp_cold_count : PERCPU_pcp_hot_count);
  int list = percpuHeadNode(K.cpu, cold ? PERCPU_HEADS_cold : PERCPU_HEADS_hot);
  int pfn = -1;
  int flags = local_irq_save();
  if (I32[countIdx] == 0) {
    int batch = I32[pc + (cold ? PERCPU_pcp_cold_batch : PERCPU_pcp_hot_batch)];
    I32[countIdx] += rmqueue_bulk(batch, list);
  }
  if (I32[countIdx] > 0) {
    pfn = list_first(list);
    list_del(pfn);
    I32[countIdx]--;
  }
  local_irq_restore(flags);
  if (pfn < 0) return -1;
  point(P_alloc);
  prep_new_page(pfn);
  return pfn;
}

static int alloc_page(int cold) {
  int zone = L_zone;
  for (int tries = 0;; tries++) {
    if (tries > 0 || r_load(zone + ZONE_free_pages) < I32[zone + ZONE_pages_low]) {
      try_to_free_pages();
    }
    int pfn = buffered_rmqueue(cold);
    if (pfn >= 0) {
      F64[K.stats + CNT_allocs]++;
      return pfn;
    }
    if (tries >= 2) {
      F64[K.stats + CNT_allocFailures]++;
      return -1;
    }
  }
}

static void free_pages_check(int pfn) {
  int bad = page_flags(pfn) & PAGE_FLAGS_CHECK_AT_FREE;
  int count = page_count(pfn);
  int mapping = page_mapping(pfn);
  if (bad == 0 && count == 0 && mapping == 0) return;
  oracle_bad_page(pfn, VK_bad_page);
}

static void free_pages_bulk(int count, int list) {
  int zone = L_zone;
  int free = headNode(HEAD_free);
  spin_lock(zone + ZONE_lock, LOCK_zone);
  for (int i = 0; i < count; i++) {
    int pfn = list_last(list);
    list_del(pfn);
    list_add(pfn, free);
  }
  I32[zone + ZONE_free_pages] += count;
  spin_unlock(zone + ZONE_lock, LOCK_zone);
}

/* kernel/protocol/dec-2005.ts (the default protocol; unpatched.ts when !BENCH_PATCHED) */
static int free_hot_cold_page_discarded(int pfn) {
  if (!BENCH_PATCHED) {
    ClearPageDiscarded(pfn);
    set_page_mapping(pfn, 0);
    return 0;
  }
  preempt_disable();
  int pvec = K.pvec;
  point(P_pvec_add);
  int left = pagevec_add(pvec, pfn);
  near_miss_if_window(pfn, CNT_nmParkInWindow);
  rec_t(EV_park, pfn, pagevec_count(pvec), 0, hist_t);
  F64[K.stats + CNT_pagesParked]++;
  if (left == 0) {
    point(P_pvec_flush);
    int lock = L_discard + DISCARD_lock;
    if (arch_spin_is_locked(lock)) near_miss(CNT_nmDiscardLockContended);
    spin_lock(lock, LOCK_discard_list);
    int n = pagevec_count(pvec);
    int list = headNode(HEAD_discard);
    for (int i = 0; i < n; i++) {
      int page = pagevec_page(pvec, i);
      pagevec_release_ghost(page);
      near_miss_if_window(page, CNT_nmFlushInWindow);
      list_add_tail(page, list);
    }
    I32[L_discard + DISCARD_nr_pages] += n;
    spin_unlock(lock, LOCK_discard_list);
    pagevec_reinit(pvec);
    rec(EV_list_flush, -1, n, 0);
    F64[K.stats + CNT_listFlushes]++;
  }
  preempt_enable();
  return 1;
}

static void free_hot_cold_page(int pfn, int cold) {
  if (PageDiscarded(pfn) && free_hot_cold_page_discarded(pfn)) return;
  point(P_free_pcp);
  page_hva_set_unused(pfn);
  if (PageAnon(pfn)) set_page_mapping(pfn, 0);
  free_pages_check(pfn);
  oracle_enter_allocator(pfn);
  rec_t(EV_free, pfn, 0, 0, hist_t);
  int pc = K.percpu;
  int countIdx = pc + (cold ? PERCPU_pcp_cold_count : PERCPU_pcp_hot_count);
  int list = percpuHeadNode(K.cpu, cold ? PERCPU_HEADS_cold : PERCPU_HEADS_hot);
  int flags = local_irq_save();
  list_add(pfn, list);
  I32[countIdx]++;
  if (I32[countIdx] >= I32[pc + (cold ? PERCPU_pcp_cold_high : PERCPU_pcp_hot_high)]) {
    int batch = I32[pc + (cold ? PERCPU_pcp_cold_batch : PERCPU_pcp_hot_batch)];
    free_pages_bulk(batch, list);
    I32[countIdx] -= batch;
  }
  local_irq_restore(flags);
  F64[K.stats + CNT_frees]++;
}

static inline void free_cold_page(int pfn) { free_hot_cold_page(pfn, 1); }

/* ---- kernel/protocol/dec-2005.ts, kernel/vmscan.ts ----------------------------- */

static void shrink_discards(void) {
  if (!BENCH_PATCHED) return;
  int local = percpuHeadNode(K.home, PERCPU_HEADS_splice);
  int lock = L_discard + DISCARD_lock;
  if (arch_spin_is_locked(lock)) near_miss(CNT_nmDiscardLockContended);
  spin_lock(lock, LOCK_discard_list);
  list_splice_init(headNode(HEAD_discard), local);
  int n = I32[L_discard + DISCARD_nr_pages];
  I32[L_discard + DISCARD_nr_pages] = 0;
  spin_unlock(lock, LOCK_discard_list);
  if (!list_empty(local)) {
    rec(EV_splice, -1, n, 0);
    F64[K.stats + CNT_splices]++;
    for (int p = list_first(local); p != local; p = list_next(p)) near_miss_if_window(p, CNT_nmSpliceInWindow);
    point(P_splice_to_ipi);
    smp_call_function(FUNC_page_hva_sync, 1);
  }
  if (list_empty(local)) return;
  point(P_ipi_to_free);
  while (!list_empty(local)) {
    int pfn = list_first(local);
    list_del(pfn);
    ClearPageDiscarded(pfn);
    set_page_mapping(pfn, 0);
    rec(EV_shrink_free, pfn, 0, 0);
    free_cold_page(pfn);
    F64[K.stats + CNT_pagesFreedFromList]++;
  }
}

/* shrink_caches over an empty LRU: the benchmarked paths never put a page on it. */
static int shrink_caches(int priority) {
  (void)priority;
  if (a_load(L_zone + ZONE_nr_lru) != 0) die("shrink_caches: the LRU is not in this benchmark", -1);
  return 0;
}

static int try_to_free_pages(void) {
  if (K.in_reclaim) return 0;
  K.in_reclaim = 1;
  F64[K.stats + CNT_reclaims]++;
  rec(EV_reclaim, -1, a_load(L_zone + ZONE_free_pages), 0);
  int nr_reclaimed = 0;
  for (int priority = DEF_PRIORITY; priority >= 0; priority--) {
    shrink_discards();
    nr_reclaimed += shrink_caches(priority);
    if (nr_reclaimed >= SWAP_CLUSTER_MAX) break;
    point(P_reclaim);
  }
  K.in_reclaim = 0;
  return nr_reclaimed;
}

/* ---- kernel/memory.ts, fault.ts: anonymous memory ------------------------------ */

static inline int pte_lock(int task) { return taskBase(task) + L_task_pte_lock; }
static inline int pte_idx(int task, int vpage) { return taskBase(task) + L_task_pte + vpage; }
static inline int task_cpu(int task) { return task / TASKS_PER_CPU; }

static __thread int zapped[NR_VPAGES];

static int zap_pte(int task, int vpage) {
  int idx = pte_idx(task, vpage);
  int pte = I32[idx];
  if (pte == 0) return -1;
  a_store(idx, 0);
  a_sub(L_page_mapcount + pte - 1, 1);
  return pte - 1;
}

static void flush_tlb_page(int task) {
  int cpu = task_cpu(task);
  if (cpu == K.home) return;
  int idx = percpuBase(cpu) + PERCPU_in_access;
  int spins = 0;
  while (a_load(idx) != 0) cpu_relax(spins++);
}

static void put_zapped(int task, int n) {
  if (n == 0) return;
  flush_tlb_page(task);
  for (int i = 0; i < n; i++) {
    int pfn = zapped[i];
    rec(EV_unmap, pfn, task, 0);
    point(P_unmap_to_put);
    put_page(pfn);
  }
}

static void zap_anon(int task, int vpage) {
  int lock = pte_lock(task);
  spin_lock(lock, LOCK_pte);
  int pfn = zap_pte(task, FILE_VPAGES + vpage);
  spin_unlock(lock, LOCK_pte);
  if (pfn >= 0) {
    zapped[0] = pfn;
    put_zapped(task, 1);
  }
}

static void do_anonymous_page(int task, int vpage) {
  int pfn = alloc_page(0);
  if (pfn < 0) return;
  set_page_mapping(pfn, -(task + 1));
  a_store(L_page_index + pfn, vpage);
  int lock = pte_lock(task);
  spin_lock(lock, LOCK_pte);
  int idx = pte_idx(task, vpage);
  int ok = I32[idx] == 0;
  if (ok) {
    a_store(L_page_mapcount + pfn, 1);
    a_store(idx, pfn + 1);
  }
  spin_unlock(lock, LOCK_pte);
  if (!ok) put_page(pfn);
}

static void handle_mm_fault(int task, int vpage) {
  if (vpage >= FILE_VPAGES) {
    do_anonymous_page(task, vpage);
    return;
  }
  die("handle_mm_fault: file pages are not in this benchmark", -1);
}

static void user_access(int task, int vpage) {
  int inAccess = percpuBase(K.home) + PERCPU_in_access; /* K.inAccess */
  a_store(inAccess, 1);
  int pte = a_load(pte_idx(task, vpage));
  if (pte == 0) {
    a_store(inAccess, 0);
    handle_mm_fault(task, vpage);
    return;
  }
  int pfn = pte - 1;
  (void)a_load(L_ghost_gen + pfn); /* oracle_access */
  if (hw_host_state(pfn) != HS_Vz) {
    a_store(inAccess, 0);
    return;
  }
  die("user_access: discard faults are not in this benchmark", pfn);
}
