/**
 * The test's own shared words, beside the machine's buffer: barriers, a
 * release word, a counter that only a lock protects, and an ordered step log
 * that threads append to. Shared by the tests and the test worker entry.
 */

/** Word indices in the scratch Int32Array. */
export const S = {
  go: 0, // 1: start (every worker waits for it)
  ready: 1, // workers at the start barrier
  release: 2, // 1: a held CPU may go on
  done: 3, // workers finished with their part
  counter: 4, // protected by the lock only: plain reads and writes
  nr_steps: 5, // entries in the step log
  steps: 16, // the step log: one code per entry
  nr_steps_max: 1024,
  log: 16 + 1024, // the critical-section log (spin test): 2 entries per entry into the lock
} as const;

/** Step codes of the rendezvous tests. */
export const STEP = {
  target_disabled: 1, // a target turned its interrupts off
  caller_calls: 2, // the caller enters smp_call_function
  main_releases: 3, // the main thread releases the held target
  target_enables: 4, // the held target is about to enable interrupts
  target_enabled: 5, // local_irq_enable returned (the IPI was taken inside it)
  caller_returned: 6, // smp_call_function returned
} as const;
export const STEP_NAMES = Object.fromEntries(Object.entries(STEP).map(([k, v]) => [v, k]));

export function scratch(nr_log_entries = 0): Int32Array<SharedArrayBuffer> {
  return new Int32Array(new SharedArrayBuffer((S.log + nr_log_entries) * 4));
}

/** Append a step (any thread). */
export function step(t: Int32Array, code: number): void {
  const i = Atomics.add(t, S.nr_steps, 1);
  if (i >= S.nr_steps_max) throw new Error('step log full');
  Atomics.store(t, S.steps + i, code);
}

export function steps(t: Int32Array): string[] {
  const n = Atomics.load(t, S.nr_steps);
  return Array.from({ length: n }, (_, i) => STEP_NAMES[Atomics.load(t, S.steps + i)] ?? '?');
}
