// piscina's entry for a CPU thread when the sources run through tsx
// (HVAEMU_NO_BUILD=1, or no writable build cache); otherwise piscina loads
// the build's cpu.mjs (src/machine/thread.ts decides, src/build/bundle.mjs
// builds). Node 20 does not pass the parent's ESM loader hooks to workers, so
// register tsx's here, then import the TypeScript entry as a real ES module
// (its imported bindings stay plain module variables; tsx's CommonJS path
// would turn each one into a getter call on the hot path).
import { register } from 'tsx/esm/api';

register();
const { default: entry } = await import('./cpu.ts');
export default entry;
