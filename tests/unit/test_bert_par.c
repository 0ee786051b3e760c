/* test_bert_par: the encoder's threaded and bfloat16 paths. Forward,
 * backward and an AdamW step bit-identical on 1, 2 and 3 threads (the pool
 * splits rows, columns, chunks and attention heads; OpenBLAS runs serial
 * inside attention items); the bfloat16 forward (bert_set_dtype) on every
 * bf16 level the CPU has, against float32 (cosine of each output vector),
 * deterministic across threads, refused for training. Models: the PyTorch
 * fixture (../shared/fixtures/embed/model, d 64) and a fresh one with sizes
 * that are no multiple of anything (d 40, 4 heads, intermediate 70). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "check.h"
#include "kernels/blas.h"
#include "kernels/cpu.h"
#include "model/bert.h"

enum { B = 9 };
static const int LEN[B] = {1, 2, 5, 7, 12, 17, 20, 33, 60};

typedef struct {
  uint32_t ids[256];
  int N;
  float *R;
} batch;

static void make_batch(batch *b, const bert_model *m, uint64_t seed) {
  rng_t r;
  rng_seed(&r, seed);
  b->N = 0;
  for (int i = 0; i < B; i++)
    for (int t = 0; t < LEN[i]; t++) b->ids[b->N++] = (uint32_t)(rng_uniform(&r) * m->cfg.vocab_size);
  b->R = xmalloc((size_t)b->N * m->cfg.hidden * sizeof(float));
  for (size_t i = 0; i < (size_t)b->N * m->cfg.hidden; i++) b->R[i] = (float)(rng_uniform(&r) * 2 - 1);
}

/* forward (+ backward and one AdamW step when train) on `threads`; returns a
 * malloc'd copy of: output, then (train) d_input, gradients, parameters after the step. */
static float *run(bert_model *m, const batch *b, int threads, int train, size_t *n_out) {
  kern_set_threads(threads);
  size_t d = (size_t)m->cfg.hidden, N = (size_t)b->N;
  size_t n = N * d + (train ? N * d + 2 * m->nparams : 0);
  float *out = xmalloc(n * sizeof(float));
  bert_acts *a = bert_acts_new(m, train);
  bert_input in = {.B = B, .len = LEN, .ids = b->ids};
  char err[256];
  if (bert_forward(m, a, &in, -1, err, sizeof err)) {
    printf("# %s\n", err);
    memset(out, 0, n * sizeof(float));
  } else {
    memcpy(out, bert_output(a), N * d * sizeof(float));
  }
  if (train) {
    float *saved = xmalloc(m->nparams * sizeof(float));
    memcpy(saved, m->params, m->nparams * sizeof(float));
    bert_zero_grads(m);
    bert_backward(m, a, b->R, out + N * d);
    memcpy(out + 2 * N * d, m->grads, m->nparams * sizeof(float));
    adamw_state *s = adamw_new(m);
    adamw_config c = adamw_defaults();
    c.clip_norm = 0.5f;
    bert_adamw_step(m, s, &c);
    memcpy(out + 2 * N * d + m->nparams, m->params, m->nparams * sizeof(float));
    memcpy(m->params, saved, m->nparams * sizeof(float));
    adamw_free(s);
    free(saved);
  }
  bert_acts_free(a);
  *n_out = n;
  return out;
}

/* smallest cosine between corresponding rows of d values */
static double min_cos(const float *a, const float *b, int N, int d) {
  double w = 1;
  for (int i = 0; i < N; i++) {
    double ab = 0, aa = 0, bb = 0;
    for (int k = 0; k < d; k++) {
      ab += (double)a[i * d + k] * b[i * d + k];
      aa += (double)a[i * d + k] * a[i * d + k];
      bb += (double)b[i * d + k] * b[i * d + k];
    }
    double c = ab / sqrt(aa * bb);
    if (!(c >= w)) w = c;
  }
  return w;
}

static void check_model(bert_model *m, const char *name) {
  batch b;
  make_batch(&b, m, 5);
  int d = m->cfg.hidden;
  bert_alloc_grads(m);
  /* float32: every thread count gives the same bits, at every vector level */
  int top = kern_cpu_max() < KERN_AVX512 ? kern_cpu_max() : KERN_AVX512;
  for (int l = KERN_PORTABLE; l <= top; l++) {
    kern_cpu_set(l);
    size_t n1, n2, n3;
    float *r1 = run(m, &b, 1, 1, &n1), *r2 = run(m, &b, 2, 1, &n2), *r3 = run(m, &b, 3, 1, &n3);
    CHECK(memcmp(r1, r2, n1 * sizeof(float)) == 0 && memcmp(r1, r3, n1 * sizeof(float)) == 0,
          "%s, %s: forward, backward (d_input, all gradients) and an AdamW step bit-identical on 1, 2, 3 threads", name,
          kern_cpu_name(l));
    free(r1), free(r2), free(r3);
  }
  kern_cpu_set(KERN_NLEVELS);
  size_t nf;
  float *f32 = run(m, &b, 2, 0, &nf);
  /* bfloat16 */
  float *first = NULL;
  for (int l = KERN_PORTABLE; l <= kern_cpu_max(); l++) {
    if (l == KERN_AVX2 || l == KERN_AVX512) continue; /* same product as portable */
    kern_cpu_set(l);
    bert_set_dtype(m, BERT_BF16);
    size_t n1, n2;
    float *h1 = run(m, &b, 1, 0, &n1), *h2 = run(m, &b, 2, 0, &n2);
    double c = min_cos(h1, f32, b.N, d);
    CHECK(bert_dtype(m) == BERT_BF16 && c >= 0.999 && memcmp(h1, f32, n1 * sizeof(float)) != 0 &&
              memcmp(h1, h2, n1 * sizeof(float)) == 0,
          "%s, %s: bf16 forward differs from float32, by a cosine >= 0.999 for every token (worst %.7f); same on 1 "
          "and 2 threads",
          name, kern_cpu_name(l), c);
    if (!first)
      first = h1;
    else {
      double c2 = min_cos(h1, first, b.N, d);
      CHECK(c2 >= 0.99999, "%s, %s: bf16 agrees with the portable bf16 emulation (worst cosine %.8f)", name,
            kern_cpu_name(l), c2);
      free(h1);
    }
    free(h2);
    bert_set_dtype(m, BERT_F32);
  }
  kern_cpu_set(KERN_NLEVELS);
  size_t n0;
  float *back = run(m, &b, 2, 0, &n0);
  CHECK(bert_dtype(m) == BERT_F32 && memcmp(back, f32, nf * sizeof(float)) == 0,
        "%s: back to float32 gives the float32 output again", name);
  bert_set_dtype(m, BERT_BF16);
  bert_acts *a = bert_acts_new(m, 1);
  bert_input in = {.B = B, .len = LEN, .ids = b.ids};
  char err[256] = "";
  int rc = bert_forward(m, a, &in, -1, err, sizeof err);
  CHECK(rc == -1 && strstr(err, "inference only"), "%s: bf16 with training activations refused: %s", name, err);
  bert_acts_free(a);
  bert_set_dtype(m, BERT_F32);
  free(first), free(back), free(f32), free(b.R);
}

int main(void) {
  char err[512];
  bert_model *m = bert_load(check_shared("fixtures/embed/model"), err, sizeof err);
  CHECK(m != NULL, "fixture model loads: %s", m ? "ok" : err);
  if (m) check_model(m, "fixture d64");
  bert_free(m);
  bert_config c = {.vocab_size = 300, .hidden = 40, .layers = 2, .heads = 4, .intermediate = 70,
                   .max_position = 64, .type_vocab = 2, .ln_eps = 1e-12f, .init_range = 0.2f};
  m = bert_init(&c, 3);
  check_model(m, "odd sizes d40 i70");
  bert_free(m);
  return check_done();
}
