// Worker entry for lockstat-sites.test.ts: Node 20 gives workers no ESM loader
// hooks, so register tsx's here, then run the TypeScript body.
import { register } from 'tsx/esm/api';

register();
await import('./lockstat-sites.ts');
