// piscina's entry for the host thread. Node 20 does not pass the parent's ESM
// loader hooks to workers, so register tsx's here, then import the TypeScript
// entry as a real ES module (its imported bindings stay plain module
// variables; tsx's CommonJS path would turn each one into a getter call on
// the hot path).
import { register } from 'tsx/esm/api';

register();
const { default: entry } = await import('./host.ts');
export default entry;
