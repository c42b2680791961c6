// piscina's entry for the parked-frame hold schedule test (test/concurrency/park-hold.test.ts):
// the pattern of workers/cpu.mjs (tsx's ESM hooks registered here, then the
// TypeScript entry imported as a real ES module).
import { register } from 'tsx/esm/api';

register();
const { default: entry } = await import('./park-hold.ts');
export default entry;
