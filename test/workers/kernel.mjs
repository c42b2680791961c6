// piscina's entry for the kernel-level concurrency tests (test/concurrency):
// the pattern of workers/cpu.mjs. Node 20 does not pass the parent's ESM
// loader hooks to workers, so register tsx's here, then import the
// TypeScript entry as a real ES module.
import { register } from 'tsx/esm/api';

register();
const { default: entry } = await import('./kernel.ts');
export default entry;
