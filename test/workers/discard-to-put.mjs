// piscina's entry for the discard-to-put schedule test (test/concurrency/discard-to-put.test.ts):
// the pattern of workers/cpu.mjs (tsx's ESM hooks registered here, then the
// TypeScript entry imported as a real ES module).
import { register } from 'tsx/esm/api';

register();
const { default: entry } = await import('./discard-to-put.ts');
export default entry;
