/**
 * A network device and the two paths of a 2.6.15 guest that touch pages
 * from interrupt context: zero-copy transmit (sendfile) and receive.
 *
 * Transmit. sendfile(2) reads the file through the page cache the way
 * do_generic_mapping_read does (find_get_page, which since 1/6 makes the page
 * stable, or read_cache_page to bring it in), and file_send_actor ->
 * tcp_sendpage hands the page itself to the device: the skb takes its own
 * reference (get_page), then sendfile drops its lookup reference. The device
 * owns the page until it has sent it; its interrupt says so, and the
 * NET_TX softirq (net_tx_action -> dev_kfree_skb) drops the skb's reference.
 * If truncate or reclaim took the page out of the cache meanwhile, that is
 * the last reference: the page is freed from softirq context.
 *
 * Every one of those references is taken on a stable page while someone
 * holds it, so page_hva_make_volatile refuses the page (mapcount != count -
 * offset) until the device lets go: the host cannot discard it, and no page
 * freed here carries PG_discarded. That follows from the modelled code (the
 * `sendfile-without-stable` mutant breaks it), not from a shortcut here.
 *
 * Receive. The device's interrupt also says a packet arrived; NET_RX
 * (net_rx_action) gives the driver a new receive buffer (alloc_page with
 * GFP_ATOMIC: no reclaim in interrupt context) and frees the old one (a
 * consumed packet): a page allocated and freed in softirq on every CPU.
 *
 * The transmit ring is one device's: dev->queue_lock (LOCK.queue) guards it,
 * taken with spin_lock_bh in process context (dev_queue_xmit runs with
 * bottom halves off) and with spin_lock in the softirq, which is how 2.6.15
 * takes a lock shared with a softirq on the same CPU.
 */
import { near_miss } from '../check/coverage.ts';
import { EV } from '../check/events.ts';
import { rec } from '../check/recorder.ts';
import { CNT, IRQ_SOURCE, NET, NET_RING, PERCPU_IRQ } from '../shm/layout.ts';
import { lock_sites } from '../stats/lock_sites.ts';
import { K } from './context.ts';
import { __find_get_page, read_cache_page } from './filemap.ts';
import { open_softirq, raise_softirq_irqoff, SOFTIRQ } from './irq.ts';
import { alloc_page, get_page, put_page } from './page_alloc.ts';
import { page_mapping } from './page-flags.ts';
import { request_irq } from './smp.ts';
import { LOCK, spin_lock, spin_lock_bh, spin_unlock, spin_unlock_bh } from './spinlock.ts';

/** lock_stat's call sites of this file's lock calls (the kernel's _RET_IP_). */
const at = lock_sites('tcp_sendpage', 'tcp_sendpage_2', 'net_tx_action');

const ring = (n: number) => K.L.net + NET.ring + (n & (NET_RING - 1));

/**
 * sendfile of `nr` pages of `file` from `index`: each page found (stable) or
 * read in, handed to the device, and our lookup reference dropped. A full
 * ring ends the send early (the socket would block; we do not wait).
 */
export function do_sendfile(file: number, index: number, nr: number): void {
  for (let i = 0; i < nr; i++) {
    // do_generic_mapping_read: find_get_page, else page_cache_readpage
    const pfn = K.m_sendfile_without_stable
      ? find_page_without_stable(file, index + i)
      : read_cache_page(file, index + i);
    if (pfn < 0) return;
    const sent = tcp_sendpage(pfn);
    put_page(pfn); // page_cache_release: do_generic_mapping_read's reference
    if (!sent) return;
  }
}

/**
 * Mutant sendfile-without-stable: the lookup takes its reference without
 * page_hva_make_stable (2.6.15's find_get_page before 1/6). A page the host
 * discarded goes to the device anyway; someone else's find then discards it
 * (PG_discarded), and the device's reference becomes the last one: the page
 * reaches the discard list from softirq context.
 */
function find_page_without_stable(file: number, index: number): number {
  const pfn = __find_get_page(file, index);
  if (pfn >= 0) return pfn;
  return read_cache_page(file, index);
}

/** tcp_sendpage -> dev_queue_xmit: the skb's reference on the page, on the device's ring. */
function tcp_sendpage(pfn: number): boolean {
  const { i32, L } = K;
  const lock = L.net + NET.queue_lock;
  get_page(pfn); // the skb's frag reference
  if (K.m_tx_lock_without_bh) spin_lock(lock, LOCK.queue, at.tcp_sendpage);
  else spin_lock_bh(lock, LOCK.queue, at.tcp_sendpage_2);
  const tail = i32[L.net + NET.tail]!;
  const ok = tail - i32[L.net + NET.head]! < NET_RING;
  if (ok) {
    i32[ring(tail)] = pfn;
    Atomics.store(i32, L.net + NET.tail, tail + 1);
  }
  if (K.m_tx_lock_without_bh) spin_unlock(lock, LOCK.queue);
  else spin_unlock_bh(lock, LOCK.queue);
  if (!ok) {
    put_page(pfn); // dropped: the queue is full
    return false;
  }
  rec(EV.xmit, pfn, tail & (NET_RING - 1));
  K.f64[K.stats + CNT.sendfilePages]!++;
  return true;
}

/**
 * The device's interrupt (hardirq, interrupts off): everything queued so far
 * has been sent, and a packet has arrived.
 */
function net_interrupt(): void {
  const { i32, L } = K;
  // `done` only moves forward. Two CPUs' interrupts race here:
  //
  //   cpu X                      cpu Y
  //   tail read: 10
  //                              tail read: 12, done = 12
  //                              NET_TX frees 10, 11: head = 12
  //   done = 10  (a plain store would move it back, and NET_TX would
  //               run past tail, freeing slots the device gave back)
  const tail = Atomics.load(i32, L.net + NET.tail);
  for (;;) {
    const done = Atomics.load(i32, L.net + NET.done);
    if (((tail - done) | 0) <= 0) break;
    if (Atomics.compareExchange(i32, L.net + NET.done, done, tail) === done) break;
  }
  raise_softirq_irqoff(SOFTIRQ.NET_TX);
  raise_softirq_irqoff(SOFTIRQ.NET_RX);
}

/** NET_TX softirq: drop the skb references of the pages the device is done with. */
function net_tx_action(): void {
  const { i32, L } = K;
  const lock = L.net + NET.queue_lock;
  for (;;) {
    spin_lock(lock, LOCK.queue, at.net_tx_action); // softirq context: bottom halves are off already
    const head = i32[L.net + NET.head]!;
    const more = ((Atomics.load(i32, L.net + NET.done) - head) | 0) > 0;
    const pfn = more ? i32[ring(head)]! : -1;
    if (more) Atomics.store(i32, L.net + NET.head, head + 1);
    spin_unlock(lock, LOCK.queue);
    if (!more) return;
    rec(EV['tx-free'], pfn);
    if (page_mapping(pfn) === 0) near_miss(CNT.nmTxFreeUncached); // truncate or reclaim took it
    put_page(pfn); // dev_kfree_skb: the last reference if the page left the cache
  }
}

/** NET_RX softirq: a new receive buffer for the driver (GFP_ATOMIC), the consumed one freed. */
function net_rx_action(): void {
  const i32 = K.i32;
  const slot = K.percpu + PERCPU_IRQ.rx_page;
  const old = i32[slot]! - 1;
  const pfn = alloc_page(false, true);
  i32[slot] = pfn + 1;
  if (old >= 0) put_page(old);
}

// The driver's handlers, installed in every thread that loads this module
// (a function cannot cross threads; each CPU thread has its own table).
request_irq(IRQ_SOURCE.net, net_interrupt);
open_softirq(SOFTIRQ.NET_TX, net_tx_action);
open_softirq(SOFTIRQ.NET_RX, net_rx_action);
