// Entry of a bench worker (a plain worker_threads Worker). Like
// workers/cpu.mjs: register tsx's ESM hooks, which Node 20 does not pass on
// to workers, then import the TypeScript entry as a real ES module.
import { register } from 'tsx/esm/api';

register();
await import('./bench.ts');
