/* rank_bench: data and the sgemm reference for bench/rank.sh.
 *   rank_bench gen N L D SEED PREFIX   N texts of L tokens, d = D, standard normal
 *       values (otclir RNG): PREFIX.rec (`vectors` records, ids "PREFIX-i")
 *       and PREFIX.f32 (the same token rows, raw float32, for numpy/PyTorch).
 *   rank_bench gen-rec N L D SEED PREFIX   the same texts' shape with uniform values
 *       in [-0.5, 0.5) (fast: for bench/rank-scale.sh's millions of texts), only PREFIX.rec.
 *   rank_bench peak M N K REPS THREADS   best GFLOP/s of cblas_sgemm
 *       C[MxN] = A[MxK] B[NxK]^T (rank's layout) on THREADS OpenBLAS threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "stream/rec.h"
#include "base/rng.h"
#include "base/util.h"
#include "cli/cli.h"

static int gen(int argc, char **argv) {
  if (argc != 7) die_usage("rank_bench gen N L D SEED PREFIX\n");
  long n = parse_long("N", argv[2], 1, 100000000), l = parse_long("L", argv[3], 1, 100000),
       d = parse_long("D", argv[4], 1, 100000), seed = parse_long("SEED", argv[5], 0, 1L << 62);
  const char *prefix = argv[6];
  char path[4096];
  snprintf(path, sizeof path, "%s.f32", prefix);
  atomic_file af;
  FILE *raw = atomic_open(&af, path);
  rec_schema *s = rec_schema_builtin("vectors");
  rec_set_dim(s, "d", d);
  rec_meta_set(s, "model", "bench-random");
  snprintf(path, sizeof path, "%s.rec", prefix);
  rec_writer *w = rec_writer_or_die(path, s, NULL);
  const rec_schema *ws = rec_writer_schema(w);
  int f_id = rec_field_index(ws, "id"), f_ids = rec_field_index(ws, "ids"), f_vecs = rec_field_index(ws, "vecs");
  rng_t r;
  rng_seed(&r, (uint64_t)seed);
  float *v = xmalloc(sizeof(float) * (size_t)(l * d));
  uint32_t *ids = xmalloc(sizeof(uint32_t) * (size_t)l);
  const char *base = strrchr(prefix, '/');
  base = base ? base + 1 : prefix;
  for (long i = 0; i < n; i++) {
    for (long k = 0; k < l * d; k++) v[k] = (float)rng_normal(&r);
    for (long t = 0; t < l; t++) ids[t] = 1000 + (uint32_t)rng_below(&r, 100000);
    char id[256];
    int idlen = snprintf(id, sizeof id, "%s-%ld", base, i);
    rec_put_str(w, f_id, id, (size_t)idlen);
    rec_put(w, f_ids, ids, (uint32_t[]){(uint32_t)l});
    rec_put(w, f_vecs, v, (uint32_t[]){(uint32_t)l, (uint32_t)d});
    rec_write_or_die(w);
    if (fwrite(v, sizeof(float), (size_t)(l * d), raw) != (size_t)(l * d)) die_errno("write %s.f32", prefix);
  }
  rec_writer_close_or_die(w);
  atomic_commit(&af);
  rec_schema_free(s);
  free(v), free(ids);
  return 0;
}

static int gen_rec(int argc, char **argv) {
  if (argc != 7) die_usage("rank_bench gen-rec N L D SEED PREFIX\n");
  long n = parse_long("N", argv[2], 1, 100000000), l = parse_long("L", argv[3], 1, 100000),
       d = parse_long("D", argv[4], 1, 100000), seed = parse_long("SEED", argv[5], 0, 1L << 62);
  char path[4096];
  snprintf(path, sizeof path, "%s.rec", argv[6]);
  rec_schema *s = rec_schema_builtin("vectors");
  rec_set_dim(s, "d", d);
  rec_meta_set(s, "model", "bench-random");
  rec_writer *w = rec_writer_or_die(path, s, NULL);
  const rec_schema *ws = rec_writer_schema(w);
  int f_id = rec_field_index(ws, "id"), f_ids = rec_field_index(ws, "ids"), f_vecs = rec_field_index(ws, "vecs");
  rng_t r;
  rng_seed(&r, (uint64_t)seed);
  float *v = xmalloc(sizeof(float) * (size_t)(l * d));
  uint32_t *ids = xmalloc(sizeof(uint32_t) * (size_t)l);
  const char *base = strrchr(argv[6], '/');
  base = base ? base + 1 : argv[6];
  for (long i = 0; i < n; i++) {
    for (long k = 0; k < l * d; k++) v[k] = (float)(rng_next(&r) >> 40) * 0x1.0p-24f - 0.5f;
    for (long t = 0; t < l; t++) ids[t] = 1000 + (uint32_t)rng_below(&r, 100000);
    char id[256];
    int idlen = snprintf(id, sizeof id, "%s-%ld", base, i);
    rec_put_str(w, f_id, id, (size_t)idlen);
    rec_put(w, f_ids, ids, (uint32_t[]){(uint32_t)l});
    rec_put(w, f_vecs, v, (uint32_t[]){(uint32_t)l, (uint32_t)d});
    rec_write_or_die(w);
  }
  rec_writer_close_or_die(w);
  rec_schema_free(s);
  free(v), free(ids);
  return 0;
}

static int peak(int argc, char **argv) {
  if (argc != 7) die_usage("rank_bench peak M N K REPS THREADS\n");
  int m = (int)parse_long("M", argv[2], 1, 1 << 16), n = (int)parse_long("N", argv[3], 1, 1 << 16),
      k = (int)parse_long("K", argv[4], 1, 1 << 16), reps = (int)parse_long("REPS", argv[5], 1, 1000),
      threads = (int)parse_long("THREADS", argv[6], 1, 1024);
  otc_set_threads(threads);
  float *a = xmalloc(sizeof(float) * (size_t)m * k), *b = xmalloc(sizeof(float) * (size_t)n * k),
        *c = xmalloc(sizeof(float) * (size_t)m * n);
  rng_t r;
  rng_seed(&r, 1);
  for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (float)rng_uniform(&r) - 0.5f;
  for (size_t i = 0; i < (size_t)n * k; i++) b[i] = (float)rng_uniform(&r) - 0.5f;
  double best = 0;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, b, k, 0, c, n); /* warm-up */
  for (int i = 0; i < reps; i++) {
    double t0 = now_seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, b, k, 0, c, n);
    double g = 2.0 * m * n * k / (now_seconds() - t0) / 1e9;
    if (g > best) best = g;
  }
  printf("sgemm M=%d N=%d K=%d threads=%d GFLOPs=%.1f checksum=%g\n", m, n, k, threads, best, (double)c[0]);
  free(a), free(b), free(c);
  return 0;
}

int main(int argc, char **argv) {
  otc_init(argv[0]);
  if (argc >= 2 && !strcmp(argv[1], "gen")) return gen(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "gen-rec")) return gen_rec(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "peak")) return peak(argc, argv);
  die_usage("rank_bench gen N L D SEED PREFIX | peak M N K REPS THREADS\n");
}
