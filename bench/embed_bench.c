/* embed_bench.c: time the C encoder (lib/bert.h) on fixed batches, for
 * bench/embed.sh. Not part of the build: the script compiles it, with the
 * encoder's sources, into a shared library that bench/embed_torch.py loads
 * (ctypes) so that C and PyTorch passes alternate in one process under the
 * same machine load: bench_open / bench_pass / bench_sgemm below. Built with
 * -DBENCH_MAIN it is also a standalone program:
 *
 *   embed_bench MODEL_DIR BATCHES_FILE THREADS MODE REPEATS
 *
 * BATCHES_FILE: one sequence per line (space-separated token ids), batches
 * separated by blank lines. MODE: infer (forward only) or train (forward,
 * then backward of L = sum(out * R) for a fixed R, parameter gradients and
 * dL/d(input embeddings)). Prints one line of key=value: tokens, seconds
 * (best of REPEATS passes over all batches), tokens_per_s, gflops (useful
 * FLOPs: no padding; backward counted as 2x forward), and a checksum of the
 * outputs. `sgemm` mode measures cblas_sgemm on an [N x 768] x [768 x 3072]
 * product (the shape of the intermediate dense layer) for the peak;
 * bench_bf16_peak the same product through kernels/bf16.h (our bf16
 * product: Debian's OpenBLAS has no cblas_sbgemm). dtype 1 = bfloat16
 * dense layers (bert_set_dtype; inference only); bench_cosine compares the
 * float32 and bfloat16 outputs token by token. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/bf16.h"
#include "kernels/blas.h"
#include "kernels/cpu.h"
#include "model/bert.h"
#include "base/rng.h"
#include "base/util.h"
#include "cli/cli.h"

typedef struct {
  int B;
  int *len;
  uint32_t *ids;
  int N;
} batch;

static int read_batches(const char *path, batch **out) {
  FILE *f = fopen(path, "r");
  if (!f) die_errno("%s", path);
  int nb = 0, cap = 16;
  batch *bs = xcalloc((size_t)cap, sizeof *bs);
  char *line = NULL;
  size_t lcap = 0;
  ssize_t n;
  batch *cur = NULL;
  while ((n = getline(&line, &lcap, f)) >= 0) {
    char *p = line;
    while (*p == ' ') p++;
    if (*p == '\n' || *p == 0) {
      cur = NULL;
      continue;
    }
    if (!cur) {
      if (nb == cap) bs = xrealloc(bs, (size_t)(cap *= 2) * sizeof *bs);
      cur = &bs[nb++];
      memset(cur, 0, sizeof *cur);
    }
    int len = 0;
    char *end;
    for (;;) {
      unsigned long v = strtoul(p, &end, 10);
      if (end == p) break;
      cur->ids = xrealloc(cur->ids, (size_t)(cur->N + 1) * sizeof *cur->ids);
      cur->ids[cur->N++] = (uint32_t)v;
      len++;
      p = end;
    }
    cur->len = xrealloc(cur->len, (size_t)(cur->B + 1) * sizeof *cur->len);
    cur->len[cur->B++] = len;
  }
  free(line);
  fclose(f);
  *out = bs;
  return nb;
}

/* ---- library interface for ctypes ---- */
typedef struct {
  bert_model *m;
  bert_acts *a;
  batch *bs;
  int nb, train;
  float *R, *dinp;
  double flops;
  long tokens;
} bench;

void *bench_open(const char *model, const char *batches, int threads, int train, int dtype) {
  kern_set_threads(threads);
  char err[1024];
  bench *b = xcalloc(1, sizeof *b);
  b->m = bert_load(model, err, sizeof err);
  if (!b->m) die("%s", err);
  b->nb = read_batches(batches, &b->bs);
  b->train = train;
  int d = b->m->cfg.hidden, maxN = 0;
  for (int i = 0; i < b->nb; i++) {
    b->tokens += b->bs[i].N;
    if (b->bs[i].N > maxN) maxN = b->bs[i].N;
    b->flops += bert_forward_flops(&b->m->cfg, b->bs[i].B, b->bs[i].len);
  }
  if (train) b->flops *= 3;
  b->R = xmalloc((size_t)maxN * d * sizeof(float));
  b->dinp = xmalloc((size_t)maxN * d * sizeof(float));
  rng_t r;
  rng_seed(&r, 1);
  for (long i = 0; i < (long)maxN * d; i++) b->R[i] = (float)(rng_uniform(&r) * 2 - 1);
  if (dtype) bert_set_dtype(b->m, BERT_BF16);
  b->a = bert_acts_new(b->m, train);
  if (train) bert_alloc_grads(b->m);
  return b;
}

/* One pass over all batches; returns seconds. */
double bench_pass(void *h) {
  bench *b = h;
  char err[512];
  double t0 = now_seconds();
  for (int i = 0; i < b->nb; i++) {
    bert_input in = {.B = b->bs[i].B, .len = b->bs[i].len, .ids = b->bs[i].ids};
    if (bert_forward(b->m, b->a, &in, -1, err, sizeof err)) die("%s", err);
    if (b->train) {
      bert_zero_grads(b->m);
      bert_backward(b->m, b->a, b->R, b->dinp);
    }
  }
  return now_seconds() - t0;
}

double bench_flops(void *h) { return ((bench *)h)->flops; }
long bench_tokens(void *h) { return ((bench *)h)->tokens; }

const char *bench_cpu(void) { return kern_cpu_name(kern_cpu_level()); }

/* Smallest and mean cosine between the float32 and bfloat16 output vectors
 * of every token of every batch (out: [2]). */
void bench_cosine(const char *model, const char *batches, int threads, double *out) {
  kern_set_threads(threads);
  char err[1024];
  bert_model *m = bert_load(model, err, sizeof err);
  if (!m) die("%s", err);
  batch *bs;
  int nb = read_batches(batches, &bs), d = m->cfg.hidden;
  bert_acts *a = bert_acts_new(m, 0);
  double worst = 1, sum = 0;
  long n = 0;
  for (int i = 0; i < nb; i++) {
    bert_input in = {.B = bs[i].B, .len = bs[i].len, .ids = bs[i].ids};
    bert_set_dtype(m, BERT_F32);
    if (bert_forward(m, a, &in, -1, err, sizeof err)) die("%s", err);
    float *f = xmalloc((size_t)bs[i].N * d * sizeof(float));
    memcpy(f, bert_output(a), (size_t)bs[i].N * d * sizeof(float));
    bert_set_dtype(m, BERT_BF16);
    if (bert_forward(m, a, &in, -1, err, sizeof err)) die("%s", err);
    const float *h = bert_output(a);
    for (int t = 0; t < bs[i].N; t++) {
      double ab = 0, aa = 0, bb = 0;
      for (int k = 0; k < d; k++) {
        double x = f[(size_t)t * d + k], y = h[(size_t)t * d + k];
        ab += x * y, aa += x * x, bb += y * y;
      }
      double c = ab / sqrt(aa * bb);
      worst = c < worst ? c : worst;
      sum += c, n++;
    }
    free(f);
  }
  out[0] = worst;
  out[1] = sum / n;
  bert_acts_free(a);
  bert_free(m);
}

double bench_bf16_peak(int threads) {
  kern_set_threads(threads);
  int M = 2048, K = 768, N = 3072;
  float *a = xmalloc((size_t)M * K * 4), *bm = xmalloc((size_t)N * K * 4), *c = xmalloc((size_t)M * N * 4);
  for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 7) * 0.1f;
  for (size_t i = 0; i < (size_t)N * K; i++) bm[i] = (float)(i % 5) * 0.1f;
  kern_bf16_mat *w = kern_bf16_pack(bm, N, K);
  void *scr = xmalloc(kern_bf16_scratch_bytes(w, M));
  double best = 1e30;
  for (int r = 0; r < 3; r++) {
    double t0 = now_seconds();
    kern_bf16_gemm(c, a, w, NULL, M, scr);
    double t = now_seconds() - t0;
    if (t < best) best = t;
  }
  kern_bf16_free(w);
  free(a), free(bm), free(c), free(scr);
  return 2.0 * M * N * K / best / 1e9;
}

double bench_sgemm(int threads) {
  kern_set_threads(threads);
  int M = 2048, K = 768, N = 3072;
  float *a = xmalloc((size_t)M * K * 4), *bm = xmalloc((size_t)N * K * 4), *c = xmalloc((size_t)M * N * 4);
  for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 7) * 0.1f;
  for (size_t i = 0; i < (size_t)N * K; i++) bm[i] = (float)(i % 5) * 0.1f;
  double best = 1e30;
  for (int r = 0; r < 3; r++) {
    double t0 = now_seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, a, K, bm, K, 0, c, N);
    double t = now_seconds() - t0;
    if (t < best) best = t;
  }
  free(a), free(bm), free(c);
  return 2.0 * M * N * K / best / 1e9;
}

#ifdef BENCH_MAIN
int main(int argc, char **argv) {
  otc_init(argv[0]);
  if (argc == 4 && strcmp(argv[1], "sgemm") == 0) {
    int threads = atoi(argv[2]);
    printf("sgemm M=2048 N=3072 K=768 threads=%d gflops=%.2f\n", threads, bench_sgemm(threads));
    return 0;
  }
  if (argc != 6) die("usage: embed_bench MODEL BATCHES THREADS infer|train REPEATS | sgemm THREADS REPEATS");
  int threads = atoi(argv[3]), train = strcmp(argv[4], "train") == 0, reps = atoi(argv[5]);
  kern_set_threads(threads);
  char err[1024];
  bert_model *m = bert_load(argv[1], err, sizeof err);
  if (!m) die("%s", err);
  batch *bs;
  int nb = read_batches(argv[2], &bs);
  int d = m->cfg.hidden, maxN = 0;
  long tokens = 0;
  double flops = 0;
  for (int i = 0; i < nb; i++) {
    tokens += bs[i].N;
    if (bs[i].N > maxN) maxN = bs[i].N;
    flops += bert_forward_flops(&m->cfg, bs[i].B, bs[i].len);
  }
  if (train) flops *= 3;
  float *R = xmalloc((size_t)maxN * d * sizeof(float)), *dinp = xmalloc((size_t)maxN * d * sizeof(float));
  rng_t r;
  rng_seed(&r, 1);
  for (long i = 0; i < (long)maxN * d; i++) R[i] = (float)(rng_uniform(&r) * 2 - 1);
  bert_acts *a = bert_acts_new(m, train);
  if (train) bert_alloc_grads(m);
  double best = 1e30, checksum = 0;
  for (int rep = 0; rep < reps; rep++) {
    checksum = 0;
    double t0 = now_seconds();
    for (int i = 0; i < nb; i++) {
      bert_input in = {.B = bs[i].B, .len = bs[i].len, .ids = bs[i].ids};
      if (bert_forward(m, a, &in, -1, err, sizeof err)) die("%s", err);
      const float *o = bert_output(a);
      for (long k = 0; k < (long)bs[i].N * d; k += 97) checksum += o[k];
      if (train) {
        bert_zero_grads(m);
        bert_backward(m, a, R, dinp);
        checksum += dinp[0];
      }
    }
    double t = now_seconds() - t0;
    if (t < best) best = t;
  }
  printf("mode=%s threads=%d batches=%d tokens=%ld seconds=%.4f tokens_per_s=%.1f gflops=%.2f checksum=%.6g\n",
         train ? "train" : "infer", threads, nb, tokens, best, tokens / best, flops / best / 1e9, checksum);
  bert_acts_free(a);
  bert_free(m);
  return 0;
}
#endif
