// piscina's entry for a CPU thread that gets stuck on purpose (test/concurrency):
// the pattern of workers/cpu.mjs.
import { register } from 'tsx/esm/api';

register();
const { default: entry } = await import('./hang-cpu.ts');
export default entry;
