// piscina's entry for a CPU thread that corrupts the discard list on purpose
// (test/concurrency/list-corruption.test.ts): the pattern of workers/cpu.mjs.
import { register } from 'tsx/esm/api';

register();
const { default: entry } = await import('./corrupt-cpu.ts');
export default entry;
