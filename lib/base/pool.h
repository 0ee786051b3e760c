/* base/pool.h: the one thread pool. Every parallel loop in otclir runs here.
 *
 * Workers are started once (lazily, up to otc_threads() - 1 of them) and
 * wait between loops, so a loop costs a wake-up, not a thread creation. The
 * calling thread always takes part. Loops do not nest: a loop body must not
 * start another loop (it would run it on the calling thread alone).
 *
 * Determinism: pool_for hands out contiguous chunks fixed by (n, threads,
 * min_chunk); pool_each hands out single items in any order. Either way the
 * caller must make each item's result independent of which thread computes
 * it and of the order (write to item-owned memory, reduce afterwards in a
 * fixed order): then the output is bit-identical for every thread count.
 */
#ifndef OTC_POOL_H
#define OTC_POOL_H

#include <stddef.h>

/* fn(ctx, begin, end) over [0, n) cut into at most `threads` contiguous
 * chunks of at least min_chunk items (threads < 1: otc_threads()). */
void pool_for(size_t n, size_t min_chunk, int threads, void (*fn)(void *ctx, size_t begin, size_t end), void *ctx);

/* fn(ctx, i, worker) for every i in [0, n), items claimed one at a time by
 * `threads` workers (threads < 1: otc_threads()); worker in [0, threads)
 * names the worker, for per-worker scratch memory. */
void pool_each(size_t n, int threads, void (*fn)(void *ctx, size_t i, int worker), void *ctx);

/* Workers actually available (for sizing per-worker scratch): min(threads, pool size). */
int pool_workers(int threads);

#endif
