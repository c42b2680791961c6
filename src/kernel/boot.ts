/** Boot the guest in a fresh buffer: memory, page cache. Main thread, before any CPU starts. */
import type { Config } from '../config.ts';
import type { Views } from '../shm/layout.ts';
import { kernel_attach } from './context.ts';
import { filemap_init } from './filemap.ts';
import { mem_init } from './page_alloc.ts';

export function kernel_boot(v: Views, cfg: Config): void {
  kernel_attach(v, cfg, 0);
  mem_init();
  filemap_init();
}
