/**
 * What the faulty CPU entries of test/workers inject (constants only:
 * importing this file installs nothing).
 */
export const CRASH_CPU = 1;
/** Operations CRASH_CPU counts before its fault. */
export const CRASH_AFTER_OPS = 1000;
export const CRASH_MESSAGE = 'injected fault (test/workers/inject.ts)';
/** The reuse tests' fault: in the third machine (schedule) of a thread, after this many operations. */
export const REUSE_FAULT_MACHINE = 3;
export const REUSE_FAULT_OPS = 20;
