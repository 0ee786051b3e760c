/* test_search_session: the library side of `rank` (lib/search/io.c,
 * session.c, merge.c), called directly on files: queries read in batches
 * with their record numbers, TREC and run output, one whole search against
 * rank_search's own hits, the skip rules, and the merge of shards into the
 * unsplit run (byte for byte) with its refusals. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "base/rng.h"
#include "base/util.h"
#include "cli/cli.h"
#include "search/rank.h"
#include "search/session.h"
#include "stream/rec.h"

static char dir[] = "/tmp/test_search_session.XXXXXX";
static char *trec_buf;
static size_t trec_len;

static void trec_write(const void *p, size_t n) {
  trec_buf = xrealloc(trec_buf, trec_len + n + 1);
  memcpy(trec_buf + trec_len, p, n);
  trec_len += n;
  trec_buf[trec_len] = 0;
}

static const char *path_of(const char *name) {
  static char buf[8][256];
  static int i;
  char *p = buf[i++ % 8];
  snprintf(p, 256, "%s/%s", dir, name);
  return p;
}

/* A vectors file of n texts (ids PREFIXi, 1..5 tokens; every text starts with
 * token 101 = the special), d dims, records in order `first`.. first+n-1. */
static void write_vectors(const char *path, size_t n, size_t first, size_t d, uint64_t seed, const char *prefix) {
  rng_t r;
  rng_seed(&r, seed);
  rec_schema *s = rec_schema_builtin("vectors");
  rec_set_dim(s, "d", (int64_t)d);
  rec_meta_set(s, "special_ids", "101");
  rec_writer *w = rec_writer_path(path, s, NULL);
  float v[5 * 256];
  uint32_t ids[5];
  for (size_t i = 0; i < n; i++) {
    rng_seed(&r, seed * 1000003 + first + i); /* a text's data do not depend on the file it is in */
    uint32_t nt = 1 + (uint32_t)rng_below(&r, 5);
    for (size_t k = 0; k < nt * d; k++) v[k] = (float)rng_normal(&r);
    for (uint32_t t = 0; t < nt; t++) ids[t] = t ? 1000 + (uint32_t)rng_below(&r, 50) : 101;
    char id[32];
    int len = snprintf(id, sizeof id, "%s%zu", prefix, first + i);
    rec_put_str(w, rec_field_index(s, "id"), id, (size_t)len);
    rec_put(w, rec_field_index(s, "ids"), ids, (uint32_t[]){nt});
    rec_put(w, rec_field_index(s, "vecs"), v, (uint32_t[]){nt, (uint32_t)d});
    rec_write(w);
  }
  rec_writer_close(w);
  rec_schema_free(s);
}

static int same_file(const char *a, const char *b) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
  return system(cmd) == 0;
}

static void test_queries(void) {
  write_vectors(path_of("q.rec"), 10, 0, 8, 1, "q");
  char err[512] = "";
  rec_reader *r = rec_open_path(path_of("q.rec"), err, sizeof err);
  rank_queries qs = {0};
  int a = rank_queries_read(r, &qs, 4, 8, err, sizeof err);
  CHECK(a == 1 && qs.n == 4 && qs.first == 0 && !strcmp(qs.items[3].id, "q3") && qs.items[0].vecs, "first batch of 4");
  rank_queries_read(r, &qs, 4, 8, err, sizeof err);
  int c = rank_queries_read(r, &qs, 4, 8, err, sizeof err);
  CHECK(c == 1 && qs.n == 2 && qs.first == 8 && !strcmp(qs.items[1].id, "q9"), "last batch: 2 queries from record 8");
  CHECK(rank_queries_read(r, &qs, 4, 8, err, sizeof err) == 0 && qs.n == 0, "then the end");
  rec_close(r);
  rank_queries_free(&qs);
  r = rec_open_path(path_of("q.rec"), err, sizeof err);
  CHECK(rank_queries_read(r, &qs, 0, 16, err, sizeof err) == -1 && strstr(err, "query record 0 ('q0'): d = 8, documents have d = 16"),
        "another d: %s", err);
  rec_close(r);
  rank_queries_free(&qs);
  r = rec_open_path(path_of("q.rec"), err, sizeof err);
  CHECK(rank_queries_read(r, &qs, 0, 0, err, sizeof err) == 1 && qs.n == 10 && !qs.items[0].vecs,
        "d = 0 (tokens, bm25): ids only, all at once");
  rec_close(r);
  rank_queries_free(&qs);
}

static void test_out(void) {
  char err[512] = "";
  rank_out *o = rank_out_new(true, NULL, trec_write, NULL);
  rank_named_hit h[] = {{"d1", 2, 0.5}, {"d22", 3, -1.0 / 3}};
  CHECK(rank_out_start(o, "dense", "otclir-dense", 10, false, err, sizeof err) == 0 &&
            rank_out_query(o, "q1", 2, 0, h, 2, err, sizeof err) == 0,
        "TREC lines written");
  CHECK(!strcmp(trec_buf, "q1 Q0 d1 1 0.5 otclir-dense\nq1 Q0 d22 2 -0.3333333333333333 otclir-dense\n"),
        "TREC text: shortest round-trip scores, the default tag");
  CHECK(rank_out_query(o, "q 2", 3, 7, h, 1, err, sizeof err) == -1 && strstr(err, "query record 7: id 'q 2'"),
        "a spaced qid is refused, naming the record: %s", err);
  rank_named_hit bad[] = {{"a b", 3, 1}};
  CHECK(rank_out_query(o, "q3", 2, 8, bad, 1, err, sizeof err) == -1 && strstr(err, "document id 'a b'"),
        "a spaced docid is refused: %s", err);
  CHECK(rank_out_close(o, err, sizeof err) == 0, "closed");
  /* a run stream file with its metadata */
  o = rank_out_new(false, "myrun", NULL, path_of("o.rec"));
  rank_out_start(o, "maxsim csls", "x", 0, true, err, sizeof err);
  rank_out_query(o, "q1", 2, 0, h, 2, err, sizeof err);
  CHECK(rank_out_close(o, err, sizeof err) == 0, "run stream closed");
  rec_reader *r = rec_open_path(path_of("o.rec"), err, sizeof err);
  const rec_schema *s = r ? rec_reader_schema(r) : NULL;
  CHECK(s && !strcmp(rec_meta_get(s, "rank_mode"), "maxsim csls") && !strcmp(rec_meta_get(s, "runid"), "myrun") &&
            !strcmp(rec_meta_get(s, "rank_k"), "0") && !strcmp(rec_meta_get(s, "rank_ties"), "desc"),
        "metadata rank_mode, runid (the tag given), rank_k, rank_ties");
  rec_record rec;
  int n = 0;
  while (r && rec_read(r, &rec) == 0) n++;
  CHECK(n == 2, "two records");
  rec_close(r);
}

typedef struct {
  char ids[64][16];
  size_t n[64];
  double score[64][64];
  char doc[64][64][16];
} collected;

static void run_whole(const char *docs_path, const char *q_path, const char *out_path, rank_run_opts *ro,
                      rank_run_stats *st, char *err, size_t errlen, int *rc) {
  rank_docs *docs = rank_docs_open(docs_path, ro->search.mode == RANK_BM25 ? "tokens" : "vectors", NULL, err, errlen);
  rec_reader *q = rec_open_path(q_path, err, errlen);
  rank_out *o = rank_out_new(false, NULL, NULL, out_path);
  *rc = docs && q ? rank_run(docs, q, ro, o, st, err, errlen) : -1;
  if (*rc == 0) *rc = rank_out_close(o, err, errlen);
  else rank_out_abort(o);
  rank_docs_close(docs);
  rec_close(q);
}

static void test_run_and_merge(void) {
  size_t d = 64;
  write_vectors(path_of("d.rec"), 120, 0, d, 2, "doc");
  write_vectors(path_of("s0.rec"), 50, 0, d, 2, "doc"); /* the same texts, in three shards */
  write_vectors(path_of("s1.rec"), 1, 50, d, 2, "doc");
  write_vectors(path_of("s2.rec"), 69, 51, d, 2, "doc");
  write_vectors(path_of("q.rec"), 9, 0, d, 3, "q");
  for (int m = 0; m < 3; m++) {
    rank_run_opts ro = {0};
    rank_opts_default(&ro.search);
    ro.search.mode = (rank_mode)m;
    ro.search.k = 7;
    ro.search.threads = 2;
    ro.skip_special = m == 2;
    rank_run_stats st;
    char err[512] = "";
    int rc;
    run_whole(path_of("d.rec"), path_of("q.rec"), path_of("whole.rec"), &ro, &st, err, sizeof err, &rc);
    CHECK(rc == 0 && st.docs == 120 && st.queries == 9, "%s: the whole search (%s)", rank_mode_name(ro.search.mode), err);
    char *shards[3] = {xstrdup(path_of("r0.rec")), xstrdup(path_of("r1.rec")), xstrdup(path_of("r2.rec"))};
    for (int i = 0; i < 3; i++) {
      char name[16];
      snprintf(name, sizeof name, "s%d.rec", i);
      rank_run_opts so = ro;
      run_whole(path_of(name), path_of("q.rec"), shards[i], &so, &st, err, sizeof err, &rc);
    }
    rec_reader *q = rec_open_path(path_of("q.rec"), err, sizeof err);
    rank_out *o = rank_out_new(false, NULL, NULL, path_of("merged.rec"));
    rc = rank_merge((const char *const *)shards, 3, q, 0, o, &st, err, sizeof err);
    if (rc == 0) rc = rank_out_close(o, err, sizeof err);
    else rank_out_abort(o);
    rec_close(q);
    CHECK(rc == 0 && same_file(path_of("whole.rec"), path_of("merged.rec")),
          "%s: shards of 50, 1 and 69 documents merge into the whole run, byte for byte (%s)",
          rank_mode_name(ro.search.mode), err);
    if (m == 0) {
      /* shards given twice overlap; a k above the shards' is refused */
      const char *twice[2] = {shards[0], shards[0]};
      q = rec_open_path(path_of("q.rec"), err, sizeof err);
      o = rank_out_new(false, NULL, NULL, path_of("bad.rec"));
      CHECK(rank_merge(twice, 2, q, 0, o, &st, err, sizeof err) == -1 && strstr(err, "disjoint"), "overlap: %s", err);
      rank_out_abort(o);
      rec_close(q);
      q = rec_open_path(path_of("q.rec"), err, sizeof err);
      o = rank_out_new(false, NULL, NULL, path_of("bad.rec"));
      CHECK(rank_merge((const char *const *)shards, 3, q, 8, o, &st, err, sizeof err) == -1 && strstr(err, "kept only its 7 best"),
            "k above the shards': %s", err);
      rank_out_abort(o);
      rec_close(q);
    }
    for (int i = 0; i < 3; i++) free(shards[i]);
  }
  /* skip rules: --skip-special needs the metadata; bm25 needs tokens */
  rank_run_opts ro = {0};
  rank_opts_default(&ro.search);
  ro.skip_special = true;
  rank_run_stats st;
  char err[512] = "";
  int rc;
  rec_schema *s = rec_schema_builtin("vectors");
  rec_set_dim(s, "d", 4);
  rec_writer *w = rec_writer_path(path_of("nometa.rec"), s, NULL);
  rec_put_str(w, rec_field_index(s, "id"), "x", 1);
  rec_put(w, rec_field_index(s, "ids"), (uint32_t[]){5}, (uint32_t[]){1});
  rec_put(w, rec_field_index(s, "vecs"), (float[]){1, 0, 0, 0}, (uint32_t[]){1, 4});
  rec_write(w);
  rec_writer_close(w);
  rec_schema_free(s);
  run_whole(path_of("nometa.rec"), path_of("nometa.rec"), path_of("o.rec"), &ro, &st, err, sizeof err, &rc);
  CHECK(rc == -1 && strstr(err, "--skip-special: the document stream has no 'special_ids' metadata"), "%s", err);
  ro.skip_special = false;
  run_whole(path_of("nometa.rec"), path_of("nometa.rec"), path_of("o.rec"), &ro, &st, err, sizeof err, &rc);
  CHECK(rc == 0 && st.queries == 1 && st.empty_queries == 0, "without skipping: one query, one hit (%s)", err);
  ro.search.mode = RANK_BM25;
  run_whole(path_of("nometa.rec"), path_of("nometa.rec"), path_of("o.rec"), &ro, &st, err, sizeof err, &rc);
  CHECK(rc == -1 && strstr(err, "expected a 'tokens' stream, got 'vectors'"), "bm25 on vectors: %s", err);
}

int main(void) {
  otc_init("test_search_session");
  if (!mkdtemp(dir)) return 1;
  test_queries();
  test_out();
  test_run_and_merge();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0, "cleanup");
  free(trec_buf);
  return check_done();
}
