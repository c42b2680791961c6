// piscina's entry for the percpu-2006 schedule test (test/concurrency/percpu-2006.test.ts):
// the pattern of workers/cpu.mjs (tsx's ESM hooks registered here, then the
// TypeScript entry imported as a real ES module).
import { register } from 'tsx/esm/api';

register();
const { default: entry } = await import('./percpu2006.ts');
export default entry;
