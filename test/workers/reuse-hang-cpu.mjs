// piscina's entry for a CPU thread that hangs in a later schedule on purpose
// (test/concurrency/sched-reuse.test.ts): the pattern of workers/cpu.mjs.
import { register } from 'tsx/esm/api';

register();
const { default: entry } = await import('./reuse-hang-cpu.ts');
export default entry;
