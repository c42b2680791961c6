/*
 * Native reference of the benchmarks (benchmarks/jobs.ts is the JavaScript
 * side, job for job). Built by benchmarks/run.ts once per CPU count:
 *
 *   cc -O2 -pthread -I build -DBENCH_CPUS=n -o build/bench-cn bench.c -lm
 *
 * and run as `bench-cn JOB IMAGE ARGS...`, where IMAGE is the guest buffer
 * booted by the TypeScript kernel (kernel_boot), so both sides start from the
 * same bytes. Prints one JSON object on stdout.
 *
 *   hotloop IMAGE ITERS RUNS WARMUP      ns per discard cycle, RUNS times
 *   hotloop-fixed IMAGE ITERS OUT        exactly ITERS cycles, then the buffer to OUT
 *   spin1 IMAGE MS                       uncontended spin_lock/unlock, raw CAS lock, atomic add
 *   spin2 IMAGE MS RAW                   2 CPUs on zone->lock (RAW 1: bare CAS lock)
 *   rendezvous IMAGE CALLS WARMUP POLL   smp_call_function latencies, cpu 0 calling (POLL 1: targets poll)
 *   percpu IMAGE MS SPREAD               per-CPU anonymous fault/zap loop on every CPU
 *   clocks IMAGE READS                   ns per clock read (clock_gettime, coarse, rdtsc, atomic add)
 *   counter2 IMAGE MS                    2 CPUs bumping one shared word
 *   linetrip IMAGE MS                    a cache line's round trip between CPU 0 and CPU 1
 */
#define _GNU_SOURCE /* sched_setaffinity (kernel.h defines it too) */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "kernel.h"

static size_t BYTES = L_bytes;

static void load_image(const char *path) {
  void *mem = NULL;
  if (posix_memalign(&mem, 64, BYTES) != 0) die("out of memory", -1);
  memset(mem, 0, BYTES);
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open the boot image", -1);
  size_t n = fread(mem, 1, BYTES, f);
  fclose(f);
  if (n != BYTES) die("boot image size differs from L_bytes (stale build?)", -1);
  I32 = mem;
  F64 = mem;
  struct timespec rt, mono;
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  ORIGIN = (rt.tv_sec * 1e3 + rt.tv_nsec * 1e-6) - (mono.tv_sec * 1e3 + mono.tv_nsec * 1e-6);
}

/* ---- the start barrier (CTRL.nr_ready / CTRL.go, as the machine's) ---------- */

static void barrier(void) {
  a_add(L_ctrl + CTRL_nr_ready, 1);
  while (a_load(L_ctrl + CTRL_go) == 0) a_wait(L_ctrl + CTRL_go, 0, 10);
}
static void release_barrier(int n) {
  while (a_load(L_ctrl + CTRL_nr_ready) < n) sched_yield();
  a_store(L_ctrl + CTRL_go, 1);
  syscall(SYS_futex, &I32[L_ctrl + CTRL_go], FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* ---- the discard hot loop (jobs.ts discard_cycle) ----------------------------- */

static void discard_cycle(void) {
  int pfn = alloc_page(0);
  if (pfn < 0) die("hot loop: allocation failed", -1);
  set_page_mapping(pfn, 1); /* a page cache page of file 0: page_hva_discard_page keeps it */
  TestSetPageDiscarded(pfn);
  put_page(pfn);
  if (I32[L_discard + DISCARD_nr_pages] >= BENCH_shrinkAt) shrink_discards();
}

/* Nanoseconds this thread has run on a CPU (jobs.ts threadCpuNs reads the same counter). */
static double thread_cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static void job_hotloop(long iters, int runs, long warmup) {
  set_this_cpu(0);
  for (long i = 0; i < warmup; i++) discard_cycle();
  double wall[runs], cpu[runs];
  for (int r = 0; r < runs; r++) {
    double c0 = thread_cpu_ns();
    double t0 = perf_now();
    for (long i = 0; i < iters; i++) discard_cycle();
    wall[r] = (perf_now() - t0) * 1e6 / iters;
    cpu[r] = (thread_cpu_ns() - c0) / iters;
  }
  printf("{\"nsPerIter\":[");
  for (int r = 0; r < runs; r++) printf("%s%.3f", r ? "," : "", wall[r]);
  printf("],\"cpuNsPerIter\":[");
  for (int r = 0; r < runs; r++) printf("%s%.3f", r ? "," : "", cpu[r]);
  printf("]}\n");
}

static void job_hotloop_fixed(long iters, const char *out) {
  set_this_cpu(0);
  for (long i = 0; i < iters; i++) discard_cycle();
  FILE *f = fopen(out, "wb");
  if (!f || fwrite(I32, 1, BYTES, f) != BYTES) die("cannot write the dump", -1);
  fclose(f);
  printf("{\"iters\":%ld}\n", iters);
}

/* ---- spinlocks and raw primitives ------------------------------------------- */

static double MS;
static __thread double PER_CPU_SEC; /* the last timed loop's rate per second on the CPU */

/* A scratch line per thread for the raw primitives (not guest memory). */
static _Alignas(64) _Atomic int32_t scratch[2][16];

static double timed_kernel_lock(double ms, long max_ops) {
  int lock = L_zone + ZONE_lock;
  long ops = 0;
  double c0 = thread_cpu_ns();
  double t0 = perf_now(), end = t0 + ms, t;
  for (;;) {
    for (int i = 0; i < BENCH_checkEvery; i++) {
      spin_lock(lock, LOCK_zone);
      spin_unlock(lock, LOCK_zone);
    }
    ops += BENCH_checkEvery;
    if ((t = perf_now()) >= end || ops >= max_ops) break;
  }
  PER_CPU_SEC = ops / (thread_cpu_ns() - c0) * 1e9;
  return ops / (t - t0) * 1e3;
}

static double timed_raw_lock(_Atomic int32_t *w, double ms, long max_ops) {
  long ops = 0;
  double c0 = thread_cpu_ns();
  double t0 = perf_now(), end = t0 + ms, t;
  for (;;) {
    for (int i = 0; i < BENCH_checkEvery; i++) {
      int32_t z;
      do z = 0;
      while (!atomic_compare_exchange_strong(w, &z, 1));
      atomic_store(w, 0);
    }
    ops += BENCH_checkEvery;
    if ((t = perf_now()) >= end || ops >= max_ops) break;
  }
  PER_CPU_SEC = ops / (thread_cpu_ns() - c0) * 1e9;
  return ops / (t - t0) * 1e3;
}

static double timed_add(_Atomic int32_t *w, double ms, long max_ops) {
  long ops = 0;
  double c0 = thread_cpu_ns();
  double t0 = perf_now(), end = t0 + ms, t;
  for (;;) {
    for (int i = 0; i < BENCH_checkEvery; i++) atomic_fetch_add(w, 1);
    ops += BENCH_checkEvery;
    if ((t = perf_now()) >= end || ops >= max_ops) break;
  }
  PER_CPU_SEC = ops / (thread_cpu_ns() - c0) * 1e9;
  return ops / (t - t0) * 1e3;
}

/* Warm-ups: the timed loops themselves, BENCH_spinWarmup operations, as in jobs.ts. */
#define warm_kernel_lock(n) timed_kernel_lock(1e300, (n))
#define warm_raw_lock(w, n) timed_raw_lock((w), 1e300, (n))
#define warm_add(w, n) timed_add((w), 1e300, (n))

static void job_spin1(void) {
  set_this_cpu(0);
  /* warm-up, not counted, as on the JavaScript side */
  warm_kernel_lock(BENCH_spinWarmup);
  warm_raw_lock(&scratch[0][0], BENCH_spinWarmup);
  warm_add(&scratch[1][0], BENCH_spinWarmup);
  double lock = timed_kernel_lock(MS, LONG_MAX), lockCpu = PER_CPU_SEC;
  double raw = timed_raw_lock(&scratch[0][0], MS, LONG_MAX), rawCpu = PER_CPU_SEC;
  double add = timed_add(&scratch[1][0], MS, LONG_MAX), addCpu = PER_CPU_SEC;
  printf("{\"spinLockPerSec\":%.0f,\"rawCasLockPerSec\":%.0f,\"atomicAddPerSec\":%.0f,", lock, raw,
         add);
  printf("\"spinLockPerCpuSec\":%.0f,\"rawCasLockPerCpuSec\":%.0f,\"atomicAddPerCpuSec\":%.0f}\n",
         lockCpu, rawCpu, addCpu);
}

struct spin2_arg {
  int cpu;
  int raw;
  double perSec;
};
static void *spin2_thread(void *p) {
  struct spin2_arg *a = p;
  set_this_cpu(a->cpu);
  if (a->raw) warm_raw_lock(&scratch[a->cpu][0], BENCH_spinWarmup);
  else warm_kernel_lock(BENCH_spinWarmup);
  barrier();
  a->perSec = a->raw ? timed_raw_lock(AT(L_zone + ZONE_lock), MS, LONG_MAX) : timed_kernel_lock(MS, LONG_MAX);
  return NULL;
}
static void job_spin2(int raw) {
  pthread_t th[2];
  struct spin2_arg args[2] = {{0, raw, 0}, {1, raw, 0}};
  for (int c = 0; c < 2; c++) pthread_create(&th[c], NULL, spin2_thread, &args[c]);
  release_barrier(2);
  for (int c = 0; c < 2; c++) pthread_join(th[c], NULL);
  printf("{\"perSec\":[%.0f,%.0f]}\n", args[0].perSec, args[1].perSec);
}

/* ---- smp_call_function round trips -------------------------------------------- */

static long CALLS, WARMUP;
static double *LAT;

static void *rendezvous_caller(void *p) {
  (void)p;
  set_this_cpu(0);
  barrier();
  for (long i = 0; i < WARMUP + CALLS; i++) {
    double t0 = perf_now();
    smp_call_function(FUNC_page_hva_sync, 1);
    double dt = perf_now() - t0;
    if (i >= WARMUP) LAT[i - WARMUP] = dt;
  }
  a_store(L_ctrl + CTRL_stop, 1);
  for (int c = 1; c < L_nr_cpus; c++) a_notify(percpuBase(c) + PERCPU_PENDING, INT_MAX);
  return NULL;
}

static int POLL;

/* A CPU with nothing to do but take IPIs: asleep on its pending word, or polling it (jobs.ts). */
static void *rendezvous_target(void *p) {
  set_this_cpu((int)(intptr_t)p);
  barrier();
  int stop = L_ctrl + CTRL_stop;
  while (a_load(stop) == 0) {
    if (a_load(K.pending) != 0) point(P_op);
    else if (!POLL) a_wait(K.pending, 0, BENCH_idleWaitMs);
  }
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void job_rendezvous(void) {
  LAT = calloc(CALLS, sizeof *LAT);
  pthread_t th[L_nr_cpus];
  pthread_create(&th[0], NULL, rendezvous_caller, NULL);
  for (int c = 1; c < L_nr_cpus; c++)
    pthread_create(&th[c], NULL, rendezvous_target, (void *)(intptr_t)c);
  release_barrier(L_nr_cpus);
  for (int c = 0; c < L_nr_cpus; c++) pthread_join(th[c], NULL);
  qsort(LAT, CALLS, sizeof *LAT, cmp_double);
  printf("{\"calls\":%ld,\"p10Us\":%.3f,\"p50Us\":%.3f,\"p99Us\":%.3f,\"maxUs\":%.3f}\n", CALLS,
         LAT[CALLS / 10] * 1e3, LAT[CALLS / 2] * 1e3, LAT[(long)(CALLS * 0.99)] * 1e3,
         LAT[CALLS - 1] * 1e3);
}

/* ---- the per-CPU workload (jobs.ts percpu_op) ------------------------------------ */

static double OPS[L_nr_cpus], CPU_NS[L_nr_cpus];
static int SPREAD;
static _Atomic int turn; /* jobs.ts percpu_warmup: one CPU after the other */

static void percpu_op(int task, int v) {
  user_access(task, FILE_VPAGES + v);
  zap_anon(task, v);
}

static void *percpu_thread(void *p) {
  int cpu = (int)(intptr_t)p;
  set_this_cpu(cpu);
  int first = cpu * TASKS_PER_CPU;
  while (atomic_load(&turn) != cpu) sched_yield();
  if (SPREAD && cpu > 0)
    for (int i = 0; i < BENCH_percpuSpread; i++) alloc_page(0);
  for (int i = 0; i < BENCH_percpuWarmup; i++) percpu_op(first + (i & 1), (i >> 1) % BENCH_percpuPages);
  atomic_store(&turn, cpu + 1);
  barrier();
  long ops = 0;
  double c0 = thread_cpu_ns();
  double t0 = perf_now(), end = t0 + MS, t;
  for (;;) {
    for (int i = 0; i < BENCH_checkEvery; i++) {
      percpu_op(first + (i & 1), (i >> 1) % BENCH_percpuPages);
    }
    ops += BENCH_checkEvery;
    if ((t = perf_now()) >= end) break;
  }
  OPS[cpu] = ops / (t - t0) * 1e3;
  CPU_NS[cpu] = (thread_cpu_ns() - c0) / ops;
  return NULL;
}

static void job_percpu(void) {
  pthread_t th[L_nr_cpus];
  for (int c = 0; c < L_nr_cpus; c++)
    pthread_create(&th[c], NULL, percpu_thread, (void *)(intptr_t)c);
  release_barrier(L_nr_cpus);
  for (int c = 0; c < L_nr_cpus; c++) pthread_join(th[c], NULL);
  printf("{\"opsPerSec\":[");
  for (int c = 0; c < L_nr_cpus; c++) printf("%s%.0f", c ? "," : "", OPS[c]);
  printf("],\"cpuNsPerOp\":[");
  for (int c = 0; c < L_nr_cpus; c++) printf("%s%.1f", c ? "," : "", CPU_NS[c]);
  printf("]}\n");
}

/* ---- clocks ------------------------------------------------------------------------ */

static double clock_coarse(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}
#if defined(__x86_64__)
#include <x86intrin.h>
static double clock_tsc(void) { return (double)__rdtsc(); }
#endif
static double clock_seq(void) { return atomic_fetch_add(&scratch[1][0], 1); }

static double ns_per_read(double (*read)(void), long reads) {
  double best = 1e30;
  volatile double sink;
  for (int r = 0; r < 3; r++) {
    double t0 = perf_now(), acc = 0;
    for (long i = 0; i < reads; i++) acc += read();
    sink = acc;
    double ns = (perf_now() - t0) * 1e6 / reads;
    if (ns < best) best = ns;
  }
  (void)sink;
  return best;
}

static void job_clocks(long reads) {
  printf("{\"nsPerRead\":{\"clock_gettime(MONOTONIC)\":%.2f", ns_per_read(perf_now, reads));
  printf(",\"clock_gettime(MONOTONIC_COARSE)\":%.2f", ns_per_read(clock_coarse, reads));
#if defined(__x86_64__)
  printf(",\"rdtsc\":%.2f", ns_per_read(clock_tsc, reads));
#endif
  printf(",\"atomic_fetch_add (sequence, 1 thread)\":%.2f}}\n", ns_per_read(clock_seq, reads));
}

static void *counter2_thread(void *p) {
  struct spin2_arg *a = p;
  set_this_cpu(a->cpu);
  warm_add(&scratch[a->cpu][0], BENCH_spinWarmup); /* warm-up */
  barrier();
  a->perSec = timed_add(AT(L_zone + ZONE_lock), MS, LONG_MAX);
  return NULL;
}
static void job_counter2(void) {
  pthread_t th[2];
  struct spin2_arg args[2] = {{0, 0, 0}, {1, 0, 0}};
  for (int c = 0; c < 2; c++) pthread_create(&th[c], NULL, counter2_thread, &args[c]);
  release_barrier(2);
  for (int c = 0; c < 2; c++) pthread_join(th[c], NULL);
  printf("{\"perSec\":[%.0f,%.0f]}\n", args[0].perSec, args[1].perSec);
}

/* ---- a cache line's round trip between the two cores ------------------------------
 *
 * What every line the CPUs of a 2-CPU run share costs to move. Two threads,
 * pinned to CPU 0 and CPU 1 where the OS lets them, hand one line back and
 * forth in batches of LT_BATCH round trips for MS of wall time; the batch
 * times' 10th percentile is the line's latency (a batch in which either
 * thread lost its core is long, and falls above it). On the machine of
 * benchmarks/README.md it has two modes, about 80 and about 350 ns, that
 * last from seconds to minutes whatever this machine runs; the bench's
 * overhead rounds (lib/rounds.ts) leave out a round that straddled a change.
 */

#define LT_BATCH 100
static _Atomic int lt_flag __attribute__((aligned(64)));
static _Atomic int lt_quit __attribute__((aligned(64)));
static void lt_pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  sched_setaffinity(0, sizeof s, &s); /* best effort: unpinned, the figure is only noisier */
}
static void *lt_pong(void *p) {
  (void)p;
  lt_pin(1);
  for (;;) {
    while (atomic_load_explicit(&lt_flag, memory_order_acquire) == 0) {
      if (atomic_load_explicit(&lt_quit, memory_order_relaxed)) return NULL;
    }
    atomic_store_explicit(&lt_flag, 0, memory_order_release);
  }
}
static void job_linetrip(double ms) {
  enum { MAX_BATCHES = 100000 };
  static double ns[MAX_BATCHES];
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) { /* two spinning threads on one core: no figure */
    printf("{\"batches\":0,\"p10Ns\":null,\"p50Ns\":null}\n");
    return;
  }
  pthread_t th;
  pthread_create(&th, NULL, lt_pong, NULL);
  lt_pin(0);
  double start = perf_now();
  long b = 0;
  while (b < MAX_BATCHES && perf_now() - start < ms) {
    double t0 = perf_now();
    for (int i = 0; i < LT_BATCH; i++) {
      atomic_store_explicit(&lt_flag, 1, memory_order_release);
      while (atomic_load_explicit(&lt_flag, memory_order_acquire) != 0) {
      }
    }
    ns[b++] = (perf_now() - t0) * 1e6 / LT_BATCH;
  }
  atomic_store(&lt_quit, 1);
  pthread_join(th, NULL);
  qsort(ns, b, sizeof *ns, cmp_double);
  printf("{\"batches\":%ld,\"p10Ns\":%.1f,\"p50Ns\":%.1f}\n", b, ns[b / 10], ns[b / 2]);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s JOB IMAGE ARGS...\n", argv[0]);
    return 2;
  }
  const char *job = argv[1];
  load_image(argv[2]);
  if (!strcmp(job, "hotloop") && argc == 6) {
    job_hotloop(atol(argv[3]), atoi(argv[4]), atol(argv[5]));
  } else if (!strcmp(job, "hotloop-fixed") && argc == 5) {
    job_hotloop_fixed(atol(argv[3]), argv[4]);
  } else if (!strcmp(job, "spin1") && argc == 4) {
    MS = atof(argv[3]);
    job_spin1();
  } else if (!strcmp(job, "spin2") && argc == 5) {
    MS = atof(argv[3]);
    job_spin2(atoi(argv[4]));
  } else if (!strcmp(job, "rendezvous") && argc == 6) {
    CALLS = atol(argv[3]);
    WARMUP = atol(argv[4]);
    POLL = atoi(argv[5]);
    job_rendezvous();
  } else if (!strcmp(job, "clocks") && argc == 4) {
    job_clocks(atol(argv[3]));
  } else if (!strcmp(job, "counter2") && argc == 4) {
    MS = atof(argv[3]);
    job_counter2();
  } else if (!strcmp(job, "percpu") && argc == 5) {
    MS = atof(argv[3]);
    SPREAD = atoi(argv[4]);
    job_percpu();
  } else if (!strcmp(job, "linetrip") && argc == 4) {
    job_linetrip(atof(argv[3]));
  } else {
    fprintf(stderr, "%s: unknown job or wrong arguments: %s\n", argv[0], job);
    return 2;
  }
  return 0;
}
