/**
 * Asynchronous waits on a word of the buffer (Atomics.waitAsync, which the
 * ES2022 lib does not declare): the waiting thread's event loop keeps
 * answering its messages, and whoever changes the word notifies it, so the
 * waiter learns at once instead of at its next poll.
 */
type WaitAsync = (
  ta: Int32Array,
  index: number,
  value: number,
  timeoutMs?: number,
) => { async: boolean; value: Promise<string> | string };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** Until the word at `idx` is no longer `value` (and its writer notified), or `ms` passed. */
export async function waitWord(
  i32: Int32Array,
  idx: number,
  value: number,
  ms: number,
): Promise<void> {
  const r = waitAsync(i32, idx, value, ms);
  if (r.async) await r.value;
}
