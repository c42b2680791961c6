/**
 * What test/workers/corrupt-cpu.ts injects (constants only: importing this
 * file installs nothing).
 */
export const CORRUPT_CPU = 1;
/** Operations CORRUPT_CPU counts before it corrupts page_hva_discard_list. */
export const CORRUPT_AFTER_OPS = 2000;
