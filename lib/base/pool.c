#include "base/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "base/util.h"

#define POOL_MAX 64

/* One job at a time: the caller publishes it under the lock, bumps the
 * generation and waits until every helper that took part has finished. */
typedef struct {
  void (*range)(void *, size_t, size_t);
  void (*item)(void *, size_t, int);
  void *ctx;
  size_t n, min_chunk;
  int parts; /* threads taking part, caller included */
  atomic_size_t next;
} job_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER; /* one loop at a time */
static int nworkers;  /* started helper threads */
static uint64_t generation;
static int pending;   /* helpers still working on the current job */
static job_t job;

static void run_part(int part) {
  if (job.range) {
    size_t b = job.n * (size_t)part / (size_t)job.parts, e = job.n * (size_t)(part + 1) / (size_t)job.parts;
    if (b < e) job.range(job.ctx, b, e);
  } else {
    for (;;) {
      size_t i = atomic_fetch_add(&job.next, 1);
      if (i >= job.n) break;
      job.item(job.ctx, i, part);
    }
  }
}

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg; /* 1..nworkers */
  uint64_t seen = 0;
  pthread_mutex_lock(&lock);
  for (;;) {
    while (generation == seen) pthread_cond_wait(&wake, &lock);
    seen = generation;
    if (id >= job.parts) continue; /* not needed for this job */
    pthread_mutex_unlock(&lock);
    run_part(id);
    pthread_mutex_lock(&lock);
    if (--pending == 0) pthread_cond_signal(&done);
  }
  return NULL;
}

/* Start helpers up to want - 1; returns how many threads (caller included) can take part. */
static int ensure_workers(int want) {
  if (want > POOL_MAX) want = POOL_MAX;
  while (nworkers < want - 1) {
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &a, worker, (void *)(intptr_t)(nworkers + 1));
    pthread_attr_destroy(&a);
    if (rc != 0) break; /* fewer threads: same results, slower */
    nworkers++;
  }
  return want < nworkers + 1 ? want : nworkers + 1;
}

int pool_workers(int threads) {
  if (threads < 1) threads = otc_threads();
  pthread_mutex_lock(&lock);
  int n = ensure_workers(threads);
  pthread_mutex_unlock(&lock);
  return n;
}

static void run(int parts) {
  pthread_mutex_lock(&lock);
  parts = ensure_workers(parts);
  job.parts = parts;
  pending = parts - 1;
  generation++;
  pthread_cond_broadcast(&wake);
  pthread_mutex_unlock(&lock);
  run_part(0);
  pthread_mutex_lock(&lock);
  while (pending > 0) pthread_cond_wait(&done, &lock);
  pthread_mutex_unlock(&lock);
}

void pool_for(size_t n, size_t min_chunk, int threads, void (*fn)(void *, size_t, size_t), void *ctx) {
  if (threads < 1) threads = otc_threads();
  if (min_chunk < 1) min_chunk = 1;
  size_t parts = (size_t)threads;
  if (parts > n / min_chunk) parts = n / min_chunk;
  if (parts <= 1 || pthread_mutex_trylock(&run_lock) != 0) { /* small, or nested: here */
    if (n) fn(ctx, 0, n);
    return;
  }
  job = (job_t){.range = fn, .ctx = ctx, .n = n, .min_chunk = min_chunk};
  run((int)parts);
  pthread_mutex_unlock(&run_lock);
}

void pool_each(size_t n, int threads, void (*fn)(void *, size_t, int), void *ctx) {
  if (threads < 1) threads = otc_threads();
  if ((size_t)threads > n) threads = (int)n;
  if (threads <= 1 || pthread_mutex_trylock(&run_lock) != 0) {
    for (size_t i = 0; i < n; i++) fn(ctx, i, 0);
    return;
  }
  job = (job_t){.item = fn, .ctx = ctx, .n = n};
  atomic_store(&job.next, 0);
  run(threads);
  pthread_mutex_unlock(&run_lock);
}
