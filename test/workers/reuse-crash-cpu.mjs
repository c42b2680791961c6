// piscina's entry for a CPU thread that crashes in a later schedule on purpose
// (test/concurrency/sched-reuse.test.ts): the pattern of workers/cpu.mjs.
import { register } from 'tsx/esm/api';

register();
const { default: entry } = await import('./reuse-crash-cpu.ts');
export default entry;
