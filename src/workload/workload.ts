/**
 * What the tasks of one CPU do: a seeded mix of system calls and user
 * accesses that exercises every path of the protocol. Reads fill the page
 * cache until direct reclaim runs; mapped file pages become volatile and the
 * host discards them; touching them raises discard faults; munmap and
 * truncate free discarded pages onto the discard list.
 *
 * Every task maps file 0 ("libc") in slot 0 for good and touches it often,
 * as every process touches its shared library text: when the host discards
 * one of those pages, several CPUs fault on it at once, and the first one to
 * discard it frees it while the others are still inside their fault window.
 * Half the other file choices fall on a small hot set, so that CPUs map the
 * same pages and race on them.
 */

import { guidedMix, guidedStretch } from '../check/guided.ts';
import {
  ANON_VPAGES,
  MAP_SLOTS,
  MIX_OPS,
  type MixOp,
  PAGES_PER_FILE,
  TASKS_PER_CPU,
} from '../config.ts';
import { K } from '../kernel/context.ts';
import { set_window_stretch, user_access } from '../kernel/fault.ts';
import { read_cache_page, write_cache_page, writeback_mapping } from '../kernel/filemap.ts';
import {
  do_mmap,
  do_munmap,
  FILE_VPAGES,
  get_user_pages,
  vma_file,
  vmtruncate,
  zap_anon,
} from '../kernel/memory.ts';
import { do_sendfile } from '../kernel/net.ts';
import { put_page } from '../kernel/page_alloc.ts';
import '../kernel/timer.ts'; // the tick's handlers
import { page_hva_make_volatile } from '../kernel/page_hva.ts';
import { CTRL } from '../shm/layout.ts';

const HOT_FILES = 16;
const LIBC_FILE = 0;
const LIBC_SLOT = 0;
const LIBC_HOT_PAGES = 4;

const GUP_PAGES = 4;
const SENDFILE_PAGES = 4;
const gup_pages = new Int32Array(GUP_PAGES);

let rng = 1;
let firstTask = 0;

/** xorshift32 */
function rand(): number {
  rng ^= rng << 13;
  rng ^= rng >>> 17;
  rng ^= rng << 5;
  return rng >>> 0;
}

export function workload_init(seed: number, cpu: number): void {
  rng = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(cpu + 1, 0xc2b2ae35)) >>> 0 || 1;
  for (let i = 0; i < 8; i++) rand();
  firstTask = cpu * TASKS_PER_CPU;
  arm = 0;
  mix_init(K.cfg.mix);
  set_window_stretch(0, 0);
  for (let t = firstTask; t < firstTask + TASKS_PER_CPU; t++) do_mmap(t, LIBC_SLOT, LIBC_FILE);
}

function pick_file(): number {
  const nr = K.L.nr_files;
  const r = rand();
  return r & 1 ? (r >>> 1) % Math.min(HOT_FILES, nr) : (r >>> 1) % nr;
}

/**
 * --mix: the operations in MIX_OPS order and their cumulative weights; an
 * operation is drawn with probability weight / total. The default weights
 * (MIX_DEFAULT) are the fixed percentages this workload had before --mix,
 * drawn in the same order, so a default run makes the same choices.
 */
const OP = Object.fromEntries(MIX_OPS.map((o, i) => [o, i])) as { readonly [K in MixOp]: number };
const cumulative = new Uint32Array(MIX_OPS.length);
let totalWeight = 100;

function mix_init(mix: Readonly<Record<MixOp, number>>): void {
  let sum = 0;
  MIX_OPS.forEach((o, i) => {
    sum += mix[o];
    cumulative[i] = sum;
  });
  totalWeight = sum;
}

function pick_op(): number {
  const r = rand() % totalWeight;
  let i = 0;
  while (r >= cumulative[i]!) i++;
  return i;
}

/** A mapped file slot other than libc's (mmap a file there first if it is empty). */
function mapped_slot(task: number): number {
  const slot = 1 + (rand() % (MAP_SLOTS - 1));
  if (vma_file(task, slot) < 0) do_mmap(task, slot, pick_file());
  return slot;
}

/** --guided: the mix arm this CPU's table was built for (src/check/guided.ts). */
let arm = 0;

/** One operation of a task of this CPU (process context, interrupts enabled). */
export function workload_op(): void {
  // A plain load: the main thread's choice is seen here or at a later operation.
  const chosen = K.i32[K.L.ctrl + CTRL.guided_arm]!;
  if (chosen !== arm) {
    arm = chosen;
    mix_init(guidedMix(K.cfg.mix, arm));
    const s = guidedStretch(arm);
    set_window_stretch(s.ms, s.every);
  }
  const task = firstTask + (rand() % TASKS_PER_CPU);
  switch (pick_op()) {
    case OP.libc:
      user_access(task, LIBC_SLOT * PAGES_PER_FILE + (rand() % LIBC_HOT_PAGES));
      return;
    case OP.access: {
      // touch a page of a file mapping
      const slot = mapped_slot(task);
      user_access(task, slot * PAGES_PER_FILE + (rand() % PAGES_PER_FILE));
      return;
    }
    case OP.read: {
      // read(2): through the page cache, then the page may become volatile
      const pfn = read_cache_page(pick_file(), rand() % PAGES_PER_FILE);
      if (pfn >= 0) {
        page_hva_make_volatile(pfn, 2);
        put_page(pfn);
      }
      return;
    }
    case OP.anon: {
      // anonymous memory: touch (fault in) or free
      const vpage = FILE_VPAGES + (rand() % ANON_VPAGES);
      if (rand() % 3 === 0) zap_anon(task, vpage - FILE_VPAGES);
      else user_access(task, vpage);
      return;
    }
    case OP.write:
      write_cache_page(pick_file(), rand() % PAGES_PER_FILE);
      return;
    case OP.writeback:
      // writeback of a file: its dirty pages (find_get_pages_tag) cleaned,
      // after which they may become volatile
      writeback_mapping(pick_file());
      return;
    case OP.munmap: {
      // munmap a slot, mmap another file there
      const slot = 1 + (rand() % (MAP_SLOTS - 1));
      do_munmap(task, slot);
      do_mmap(task, slot, pick_file());
      return;
    }
    case OP.truncate:
      // truncate is rare (one op in 1000 by default): it frees a whole file
      // at once, and memory should be won back mostly by direct reclaim
      if (rand() % 10 === 0) vmtruncate(1 + (rand() % (K.L.nr_files - 1)));
      return;
    case OP.sendfile:
      // sendfile(2) of a few pages of a file to a socket: the network device
      // holds them until its interrupt's NET_TX softirq drops them
      do_sendfile(pick_file(), rand() % (PAGES_PER_FILE - SENDFILE_PAGES), SENDFILE_PAGES);
      return;
    case OP.gup: {
      // direct I/O from a mapped buffer: get_user_pages pins (and makes
      // stable) up to 4 pages of a file mapping for the I/O, then releases them
      const slot = mapped_slot(task);
      const first = rand() % (PAGES_PER_FILE - GUP_PAGES + 1);
      const n = get_user_pages(task, slot * PAGES_PER_FILE + first, GUP_PAGES, gup_pages);
      for (let i = 0; i < n; i++) put_page(gup_pages[i]!);
      return;
    }
    default: {
      // burst: a sequential pass over a whole mapping
      const slot = mapped_slot(task);
      for (let i = 0; i < PAGES_PER_FILE; i++) user_access(task, slot * PAGES_PER_FILE + i);
    }
  }
}
