/* test_base: the thread pool (base/pool.h) and SHA-256 (base/sha256.h). */
#include <stdatomic.h>
#include <string.h>

#include "base/pool.h"
#include "base/sha256.h"
#include "base/util.h"
#include "check.h"

typedef struct {
  int *hits;
  atomic_int calls;
  int worker_max;
} ctx_t;

static void mark_range(void *p, size_t b, size_t e) {
  ctx_t *c = p;
  atomic_fetch_add(&c->calls, 1);
  for (size_t i = b; i < e; i++) c->hits[i]++;
}

static void mark_item(void *p, size_t i, int worker) {
  ctx_t *c = p;
  c->hits[i]++;
  if (worker > c->worker_max) c->worker_max = worker; /* racy max is fine: only checked <= bound */
}

static void nested(void *p, size_t b, size_t e) {
  ctx_t *c = p;
  for (size_t i = b; i < e; i++) pool_for(4, 1, 4, mark_range, &c[1]); /* runs inline */
}

int main(void) {
  enum { N = 100003 };
  static int hits[N];
  for (int threads = 1; threads <= 5; threads++) {
    memset(hits, 0, sizeof hits);
    ctx_t c = {.hits = hits};
    pool_for(N, 7, threads, mark_range, &c);
    int once = 1;
    for (int i = 0; i < N; i++) once &= hits[i] == 1;
    CHECK(once, "pool_for, %d threads: every item exactly once", threads);
    CHECK(atomic_load(&c.calls) <= threads, "pool_for, %d threads: %d chunks", threads, atomic_load(&c.calls));
    memset(hits, 0, sizeof hits);
    c = (ctx_t){.hits = hits};
    pool_each(N, threads, mark_item, &c);
    once = 1;
    for (int i = 0; i < N; i++) once &= hits[i] == 1;
    CHECK(once, "pool_each, %d threads: every item exactly once", threads);
    CHECK(c.worker_max < threads, "pool_each, %d threads: worker ids below %d", threads, threads);
  }
  memset(hits, 0, sizeof hits);
  ctx_t c = {.hits = hits};
  pool_for(3, 5, 4, mark_range, &c);
  CHECK(hits[0] == 1 && hits[2] == 1 && atomic_load(&c.calls) == 1, "pool_for below min_chunk runs as one chunk");
  static int inner[4];
  ctx_t two[2] = {{.hits = hits}, {.hits = inner}};
  pool_for(8, 1, 4, nested, two);
  CHECK(inner[0] == 8 && inner[3] == 8, "a loop inside a loop runs on its thread (inner item hit %d times)", inner[0]);
  pool_for(0, 1, 4, mark_range, &c);
  pool_each(0, 4, mark_item, &c);
  CHECK(1, "empty loops return");

  char hex[65];
  otc_sha256_hex("", 0, hex);
  CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "sha256('') %s", hex);
  otc_sha256_hex("abc", 3, hex);
  CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "sha256('abc') %s", hex);
  static char m[1000000];
  memset(m, 'a', sizeof m);
  otc_sha256_hex(m, sizeof m, hex);
  CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "sha256(10^6 x 'a') %s", hex);
  const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  otc_sha256_hex(two_blocks, strlen(two_blocks), hex);
  CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "sha256(448-bit message) %s", hex);
  return check_done();
}
