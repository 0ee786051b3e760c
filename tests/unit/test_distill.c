/* test_distill.c: the distillation losses and adversarial objectives against
 * finite differences, bit reproducibility, and the perturb noise model. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "train/checkpoint.h"
#include "train/distill.h"
#include "train/pairs.h"
#include "train/session.h"
#include "train/align.h"
#include "train/noisy.h"
#include "stream/rec.h"
#include "base/sha256.h"
#include "base/json.h"
#include "text/perturb.h"
#include "text/unicode.h"
#include "base/rng.h"
#include "base/util.h"
#include "cli/cli.h"
#include "kernels/blas.h"

/* ---------------------------------------------------------------- fixtures */

static bert_config tiny_config(int layers) {
  bert_config c;
  memset(&c, 0, sizeof c);
  c.vocab_size = 40;
  c.hidden = 8;
  c.layers = layers;
  c.heads = 2;
  c.intermediate = 16;
  c.max_position = 32;
  c.type_vocab = 2;
  c.ln_eps = 1e-12f;
  c.init_range = 0.2f; /* larger than BERT's 0.02 so the layers matter in the test */
  return c;
}

enum { NB = 3 };
static int src_len[NB] = {6, 7, 5}, tgt_len[NB] = {5, 8, 6};
static uint32_t src_ids[64];
static float tgt_vecs[64 * 8];

static distill_batch make_batch(int d) {
  rng_t r;
  rng_seed(&r, 42);
  size_t N = 0, M = 0;
  for (int b = 0; b < NB; b++) {
    for (int i = 0; i < src_len[b]; i++)
      src_ids[N + i] = i == 0 ? 1 : i == src_len[b] - 1 ? 2 : 3 + (uint32_t)rng_below(&r, 37);
    N += (size_t)src_len[b];
    M += (size_t)tgt_len[b];
  }
  for (size_t k = 0; k < M * (size_t)d; k++) tgt_vecs[k] = (float)rng_normal(&r);
  distill_batch bt = {.B = NB, .src_len = src_len, .src_ids = src_ids, .tgt_len = tgt_len, .tgt_vecs = tgt_vecs};
  return bt;
}

/* The value whose gradient the code computes: OT enters as its entropic
 * value <P,C> - eps H(P) (exact envelope gradient at the optimum). */
static double objective(distill_trainer *t, const distill_batch *b, const float *delta) {
  distill_parts p;
  char err[256];
  if (distill_eval(t, b, delta, &p, NULL, NULL, err, sizeof err) != 0) {
    printf("# eval: %s\n", err);
    return NAN;
  }
  const distill_loss_cfg *c = &distill_trainer_cfg(t)->loss;
  return c->w_ot * p.ot_entropic + c->w_mse * p.mse + c->w_cos * p.cos;
}

/* Central differences on a sample of parameters: max relative error. */
static double fd_max_grad;
static double fd_params(bert_model *m, distill_trainer *t, const distill_batch *b, const float *delta, float w_adv,
                        const float *grads, int samples, uint64_t seed, double *worst_abs) {
  rng_t r;
  rng_seed(&r, seed);
  double worst = 0;
  *worst_abs = 0;
  const double h = 2e-3;
  for (int s = 0; s < samples; s++) {
    /* pick a tensor, then an element; word embeddings: a row that is used */
    const bert_tensor *tt = &m->tensors[rng_below(&r, (uint64_t)m->ntensors)];
    size_t idx;
    if (!strcmp(tt->name, "embeddings.word_embeddings.weight"))
      idx = (size_t)src_ids[rng_below(&r, 18)] * m->cfg.hidden + rng_below(&r, (uint64_t)m->cfg.hidden);
    else if (!strcmp(tt->name, "embeddings.position_embeddings.weight"))
      idx = rng_below(&r, 7 * (uint64_t)m->cfg.hidden);
    else if (!strcmp(tt->name, "embeddings.token_type_embeddings.weight"))
      idx = rng_below(&r, (uint64_t)m->cfg.hidden);
    else if (strstr(tt->name, "pooler"))
      continue;
    else
      idx = rng_below(&r, tt->size);
    float *p = m->params + tt->offset + idx;
    float keep = *p;
    *p = (float)(keep + h);
    double fp = objective(t, b, NULL) + (delta ? w_adv * objective(t, b, delta) : 0);
    *p = (float)(keep - h);
    double fm = objective(t, b, NULL) + (delta ? w_adv * objective(t, b, delta) : 0);
    *p = keep;
    double fd = (fp - fm) / (2 * h), an = grads[tt->offset + idx];
    double ad = fabs(fd - an), rel = ad / fmax(fabs(fd), fabs(an));
    if (ad > 2e-4 && rel > worst) worst = rel;
    if (ad > *worst_abs) *worst_abs = ad;
    if (fabs(fd) > fd_max_grad) fd_max_grad = fabs(fd);
  }
  return worst;
}

static void test_ot_gradient(int layers, distill_adv adv) {
  bert_config c = tiny_config(layers);
  bert_model *m = bert_init(&c, 7);
  distill_cfg dc;
  distill_cfg_defaults(&dc);
  dc.loss.ot.eps = 0.1;
  dc.loss.ot.tol = 1e-11;
  dc.loss.ot.max_iter = 100000;
  dc.adv = adv;
  dc.adv_eps = 0.3;
  dc.adv_alpha = 0.1;
  dc.adv_steps = 2;
  dc.adv_weight = 0.5;
  distill_trainer *t = distill_trainer_new(m, &dc);
  distill_batch b = make_batch(c.hidden);
  distill_step_result res;
  char err[256] = "";
  int rc = distill_compute_grads(t, &b, 99, &res, err, sizeof err);
  CHECK(rc == 0, "compute_grads (layers %d, adv %d) %s", layers, adv, err);
  float *g = xmalloc(m->nparams * sizeof *g);
  memcpy(g, m->grads, m->nparams * sizeof *g);
  float *delta = NULL;
  size_t N = 18;
  if (adv != DISTILL_ADV_NONE) {
    /* the delta the step used, rebuilt the same way */
    delta = xmalloc(N * c.hidden * sizeof *delta);
    rc = distill_attack(t, &b, adv, dc.adv_eps, dc.adv_alpha, dc.adv_steps, 99, delta, err, sizeof err);
    CHECK(rc == 0, "attack %s", err);
    double maxn = 0;
    for (size_t i = 0; i < N; i++) {
      double s = 0;
      for (int k = 0; k < c.hidden; k++) s += (double)delta[i * c.hidden + k] * delta[i * c.hidden + k];
      if (sqrt(s) > maxn) maxn = sqrt(s);
    }
    CHECK(maxn <= dc.adv_eps * (1 + 1e-5), "adv %d: every token inside the ball (max |delta_i| %g, eps %g)", adv,
          maxn, dc.adv_eps);
    double a = objective(t, &b, delta), c0 = objective(t, &b, NULL);
    CHECK(a > c0, "adv %d: the attack raises the loss (%g -> %g)", adv, c0, a);
  }
  double wabs;
  fd_max_grad = 0;
  double worst = fd_params(m, t, &b, delta, (float)dc.adv_weight, g, 60, 5, &wabs);
  CHECK(worst < 2e-2 && fd_max_grad > 1e-2,
        "layers %d adv %d: parameter gradient of L(0)%s matches finite differences (worst rel %.2e, abs %.2e, "
        "largest %.2e)",
        layers, adv, adv ? " + w L(delta)" : "", worst, wabs, fd_max_grad);
  free(g);
  free(delta);
  distill_trainer_free(t);
  bert_free(m);
}

static void test_input_gradient(const char *losses) {
  bert_config c = tiny_config(1);
  bert_model *m = bert_init(&c, 3);
  distill_cfg dc;
  distill_cfg_defaults(&dc);
  CHECK(distill_parse_losses(losses, &dc.loss) == 0, "parse %s", losses);
  dc.loss.ot.eps = 0.1;
  dc.loss.ot.tol = 1e-11;
  dc.loss.ot.max_iter = 100000;
  distill_trainer *t = distill_trainer_new(m, &dc);
  distill_batch b = make_batch(c.hidden);
  size_t N = 18, D = N * c.hidden;
  float *delta = xmalloc(D * sizeof *delta), *gin = xmalloc(D * sizeof *gin);
  distill_random_ball(delta, N, c.hidden, 0.2, 11);
  distill_parts p;
  char err[256] = "";
  CHECK(distill_eval(t, &b, delta, &p, NULL, gin, err, sizeof err) == 0, "eval with d_input %s", err);
  rng_t r;
  rng_seed(&r, 1);
  double worst = 0, wabs = 0, big = 0;
  const double h = 2e-3;
  for (int s = 0; s < 40; s++) {
    size_t k = rng_below(&r, D);
    float keep = delta[k];
    delta[k] = (float)(keep + h);
    double fp = objective(t, &b, delta);
    delta[k] = (float)(keep - h);
    double fm = objective(t, &b, delta);
    delta[k] = keep;
    double fd = (fp - fm) / (2 * h), ad = fabs(fd - gin[k]);
    double rel = ad / fmax(fabs(fd), fabs(gin[k]));
    if (ad > 2e-4 && rel > worst) worst = rel;
    if (ad > wabs) wabs = ad;
    if (fabs(fd) > big) big = fabs(fd);
  }
  CHECK(worst < 2e-2 && big > 1e-3, "loss %s: dL/d delta matches finite differences (worst rel %.2e, abs %.2e, largest %.2e)",
        losses, worst, wabs, big);
  free(delta);
  free(gin);
  distill_trainer_free(t);
  bert_free(m);
}

static void test_reproducible(void) {
  bert_config c = tiny_config(1);
  distill_cfg dc;
  distill_cfg_defaults(&dc);
  dc.adv = DISTILL_ADV_FREELB;
  dc.adv_eps = 0.2;
  dc.adv_alpha = 0.1;
  dc.opt.lr = 1e-2f;
  distill_batch b = make_batch(c.hidden);
  double first_loss[2] = {0, 0}, last_loss[2] = {0, 0};
  bert_model *ms[2];
  for (int run = 0; run < 2; run++) {
    bert_model *m = bert_init(&c, 5);
    distill_trainer *t = distill_trainer_new(m, &dc);
    distill_step_result r;
    char err[256];
    for (int step = 0; step < 20; step++) {
      if (distill_train_step(t, &b, 1000 + (uint64_t)step, 1e-2f, &r, err, sizeof err) != 0) {
        CHECK(0, "train step: %s", err);
        break;
      }
      if (step == 0) first_loss[run] = r.clean.ot;
      last_loss[run] = r.clean.ot;
    }
    distill_trainer_free(t);
    ms[run] = m;
  }
  CHECK(memcmp(ms[0]->params, ms[1]->params, ms[0]->nparams * sizeof(float)) == 0,
        "two runs with the same seed give bit-identical parameters");
  CHECK(last_loss[0] < first_loss[0], "20 freelb steps lower the OT loss on a fixed batch (%g -> %g)", first_loss[0],
        last_loss[0]);
  bert_free(ms[0]);
  bert_free(ms[1]);
}

/* N steps, a checkpoint written and read back, N more steps == 2N steps. */
static void test_resume(void) {
  bert_config c = tiny_config(1);
  distill_cfg dc;
  distill_cfg_defaults(&dc);
  dc.adv = DISTILL_ADV_PGD;
  dc.adv_eps = 0.2;
  dc.adv_steps = 2;
  distill_batch b = make_batch(c.hidden);
  char err[512] = "", dir[] = "/tmp/test_distill_ckptXXXXXX", path[600];
  CHECK(mkdtemp(dir) != NULL, "temporary directory");
  snprintf(path, sizeof path, "%s/model", dir);
  distill_step_result r;
  bert_model *full = bert_init(&c, 8);
  distill_trainer *t = distill_trainer_new(full, &dc);
  for (uint64_t s = 0; s < 8; s++) distill_train_step(t, &b, s, 5e-3f, &r, err, sizeof err);
  distill_trainer_free(t);

  bert_model *half = bert_init(&c, 8);
  t = distill_trainer_new(half, &dc);
  for (uint64_t s = 0; s < 4; s++) distill_train_step(t, &b, s, 5e-3f, &r, err, sizeof err);
  int rc = train_checkpoint_save(half, distill_trainer_adamw(t), "{}\n", path, err, sizeof err);
  CHECK(rc == 0, "checkpoint written %s", err);
  /* a second save replaces the first (the exchange path) */
  rc = train_checkpoint_save(half, distill_trainer_adamw(t), "{\"again\": 1}\n", path, err, sizeof err);
  CHECK(rc == 0, "checkpoint replaced %s", err);
  distill_trainer_free(t);
  bert_free(half);

  bert_model *back = bert_load(path, err, sizeof err);
  CHECK(back != NULL, "checkpoint reloads %s", err);
  if (back) {
    t = distill_trainer_new(back, &dc);
    char opath[700];
    snprintf(opath, sizeof opath, "%s/optimizer.safetensors", path);
    CHECK(adamw_load(distill_trainer_adamw(t), back, opath, err, sizeof err) == 0 &&
              distill_trainer_adamw(t)->step == 4,
          "optimizer state reloads at step 4 %s", err);
    for (uint64_t s = 4; s < 8; s++) distill_train_step(t, &b, s, 5e-3f, &r, err, sizeof err);
    CHECK(memcmp(full->params, back->params, full->nparams * sizeof(float)) == 0,
          "4 steps + checkpoint + 4 steps == 8 steps, bit for bit");
    distill_trainer_free(t);
    bert_free(back);
  }
  bert_free(full);
  snprintf(path, sizeof path, "%s/model", dir);
  train_remove_dir(path);
  rmdir(dir);
}

static void test_helpers(void) {
  distill_loss_cfg c;
  distill_loss_defaults(&c);
  CHECK(distill_parse_losses("ot=1,cos=0.5", &c) == 0 && c.w_ot == 1 && c.w_cos == 0.5 && c.w_mse == 0,
        "parse ot=1,cos=0.5");
  CHECK(distill_parse_losses("mse", &c) == 0 && c.w_mse == 1 && c.w_ot == 0, "parse mse");
  CHECK(distill_parse_losses("ot=x", &c) != 0 && distill_parse_losses("kl", &c) != 0 &&
            distill_parse_losses("ot=0", &c) != 0 && distill_parse_losses("ot=-1", &c) != 0,
        "bad loss specs are refused");
  CHECK(distill_lr_at(DISTILL_SCHED_LINEAR, 1, 0, 4, 14) == 0.2, "warmup starts at lr/(warmup+1)");
  CHECK(distill_lr_at(DISTILL_SCHED_LINEAR, 1, 4, 4, 14) == 1, "after warmup: full lr");
  CHECK(fabs(distill_lr_at(DISTILL_SCHED_LINEAR, 1, 9, 4, 14) - 0.5) < 1e-12, "linear decay halfway");
  CHECK(fabs(distill_lr_at(DISTILL_SCHED_COSINE, 1, 9, 4, 14) - 0.5) < 1e-12, "cosine decay halfway");
  CHECK(distill_lr_at(DISTILL_SCHED_CONSTANT, 1, 100, 4, 14) == 1, "constant");
  float x[3 * 4];
  distill_random_ball(x, 3, 4, 0.5, 9);
  int inside = 1;
  for (int i = 0; i < 3; i++) {
    double s = 0;
    for (int k = 0; k < 4; k++) s += x[i * 4 + k] * x[i * 4 + k];
    inside &= sqrt(s) <= 0.5 + 1e-6;
  }
  CHECK(inside, "random start inside the ball");
  for (int k = 0; k < 12; k++) x[k] = (float)(k + 1);
  distill_project_rows(x, 3, 4, 1.0);
  double s = 0;
  for (int k = 0; k < 4; k++) s += x[k] * x[k];
  CHECK(fabs(sqrt(s) - 1) < 1e-6, "projection onto the ball");
  float z[4] = {0, 0, 0, 0};
  distill_normalize_rows(z, 1, 4);
  CHECK(z[0] == 0 && z[3] == 0, "a zero gradient row stays zero");
}

/* ---------------------------------------------------------------- perturb */

/* The code point at s[*i] (valid UTF-8), advancing *i. */
static int32_t cp_at(const char *s, size_t len, size_t *i) {
  uint32_t cp;
  size_t bad, k = uc_utf8_decode((const unsigned char *)s + *i, len - *i, &cp, &bad);
  *i += k ? k : 1;
  return k ? (int32_t)cp : -1;
}

static size_t ncp(const char *s) {
  size_t n = 0, i = 0, len = strlen(s);
  while (i < len) cp_at(s, len, &i), n++;
  return n;
}

/* Damerau-Levenshtein (adjacent transposition) distance on code points. */
static int edit_distance(const char *a, const char *b) {
  int32_t A[256], Bv[256];
  int na = 0, nb = 0;
  size_t i = 0, la = strlen(a), lb = strlen(b);
  while (i < la && na < 255) A[na++] = cp_at(a, la, &i);
  i = 0;
  while (i < lb && nb < 255) Bv[nb++] = cp_at(b, lb, &i);
  static int D[257][257];
  for (int x = 0; x <= na; x++) D[x][0] = x;
  for (int y = 0; y <= nb; y++) D[0][y] = y;
  for (int x = 1; x <= na; x++)
    for (int y = 1; y <= nb; y++) {
      int c = A[x - 1] != Bv[y - 1];
      int v = D[x - 1][y] + 1;
      if (D[x][y - 1] + 1 < v) v = D[x][y - 1] + 1;
      if (D[x - 1][y - 1] + c < v) v = D[x - 1][y - 1] + c;
      if (x > 1 && y > 1 && A[x - 1] == Bv[y - 2] && A[x - 2] == Bv[y - 1] && D[x - 2][y - 2] + 1 < v)
        v = D[x - 2][y - 2] + 1;
      D[x][y] = v;
    }
  return D[na][nb];
}

static void test_perturb(void) {
  perturb_opts o;
  memset(&o, 0, sizeof o);
  o.seed = 3;
  o.typo_rate = 1;
  perturb_buf out = {0}, out2 = {0};
  size_t bad;
  const char *kinds[5] = {"insert", "delete", "substitute", "swap", "keyboard"};
  const char *words[4] = {"hello", "Привет", "naïve", "日本語です"};
  for (int k = 0; k < 5; k++) {
    o.typo_kinds = 1u << k;
    int all_one = 1, changed = 0;
    for (int w = 0; w < 4; w++)
      for (uint64_t key = 0; key < 20; key++) {
        perturb_text(&o, key, words[w], strlen(words[w]), &out, NULL, &bad);
        int dist = edit_distance(words[w], out.buf);
        all_one &= dist <= 1;
        changed += dist == 1;
        if (k == 0) all_one &= ncp(out.buf) == ncp(words[w]) + 1;
        if (k == 1) all_one &= ncp(out.buf) == ncp(words[w]) - 1;
      }
    CHECK(all_one && changed >= 60, "typo %s: one edit per word (%d of 80 changed)", kinds[k], changed);
  }
  o.typo_kinds = PERTURB_KEYBOARD;
  perturb_text(&o, 1, "aaaa", 4, &out, NULL, &bad);
  int nb_ok = 1;
  for (int i = 0; i < 4; i++)
    if (out.buf[i] != 'a') nb_ok &= strchr("qwsz", out.buf[i]) != NULL;
  CHECK(nb_ok && strcmp(out.buf, "aaaa") != 0, "keyboard typo uses a QWERTY neighbour: %s", out.buf);
  o.typo_kinds = 0;
  perturb_text(&o, 1, "ab cd, ef!", 10, &out, NULL, &bad);
  CHECK(!strcmp(out.buf, "ab cd, ef!"), "words under 3 code points are never typo'd");
  const char *sent = "  The quick brown fox, jumps over: the lazy dog.  ";
  o.typo_rate = 0.5;
  o.drop_rate = 0.3;
  o.swap_rate = 0.3;
  perturb_text(&o, 77, sent, strlen(sent), &out, NULL, &bad);
  perturb_text(&o, 77, sent, strlen(sent), &out2, NULL, &bad);
  CHECK(!strcmp(out.buf, out2.buf), "same seed and key, same output: '%s'", out.buf);
  o.seed = 4;
  perturb_text(&o, 77, sent, strlen(sent), &out2, NULL, &bad);
  CHECK(strcmp(out.buf, out2.buf) != 0, "another seed, another output: '%s'", out2.buf);
  CHECK(!strncmp(out.buf, "  ", 2) && out.len >= 2 && !strcmp(out.buf + out.len - 2, "  "),
        "leading and trailing whitespace kept");
  /* the typo stream draws for every word of 3+ code points, yet the drop
     decisions stay those of a run without typos ("swap" finds nothing to
     swap in "aaa", so the words themselves stay intact) */
  {
    const char *same = "aaa bbb ccc ddd eee fff ggg hhh iii jjj";
    perturb_opts a;
    memset(&a, 0, sizeof a);
    a.seed = 9;
    a.drop_rate = 0.5;
    perturb_text(&a, 5, same, strlen(same), &out, NULL, &bad);
    a.typo_rate = 1;
    a.typo_kinds = PERTURB_SWAP;
    perturb_text(&a, 5, same, strlen(same), &out2, NULL, &bad);
    CHECK(!strcmp(out.buf, out2.buf) && strlen(out.buf) < strlen(same), "noise streams are independent: '%s'",
          out.buf);
  }
  o.drop_rate = 1;
  o.typo_rate = 0;
  o.swap_rate = 0;
  perturb_text(&o, 1, "one two three", 13, &out, NULL, &bad);
  CHECK(ncp(out.buf) >= 3 && !strchr(out.buf, ' '), "drop rate 1 keeps one word: '%s'", out.buf);
  o.drop_rate = 0;
  o.swap_rate = 1;
  perturb_text(&o, 1, "one two, three four.", 20, &out, NULL, &bad);
  CHECK(!strcmp(out.buf, "two one, four three."), "swap rate 1 exchanges neighbours, punctuation stays: '%s'", out.buf);
  o.swap_rate = 0;
  o.typo_rate = 1;
  CHECK(perturb_text(&o, 1, "ab\xff", 3, &out, NULL, &bad) == -1 && bad == 2, "invalid UTF-8 is reported at byte 2");
  CHECK(perturb_text(&o, 1, "", 0, &out, NULL, &bad) == 0 && out.len == 0, "empty text stays empty");

  /* dictionary */
  char path[] = "/tmp/test_distill_dictXXXXXX";
  int fd = mkstemp(path);
  const char *dtext = "haus\thouse\nhaus\thome\nhaus\thouse\nhund dog\n# comment\n\nkatze\tthe cat\n";
  CHECK(write(fd, dtext, strlen(dtext)) == (ssize_t)strlen(dtext), "write dict");
  close(fd);
  char err[256];
  perturb_dict *d = perturb_dict_load(path, false, err, sizeof err);
  CHECK(d && perturb_dict_words(d) == 3, "dictionary: 3 words");
  const char *const *tr;
  CHECK(perturb_dict_lookup(d, "haus", 4, &tr) == 2 && !strcmp(tr[0], "house") && !strcmp(tr[1], "home"),
        "duplicates kept once, file order");
  perturb_dict *rd = perturb_dict_load(path, true, err, sizeof err);
  CHECK(rd && perturb_dict_lookup(rd, "the cat", 7, &tr) == 1 && !strcmp(tr[0], "katze"), "reverse direction");
  memset(&o, 0, sizeof o);
  o.dict = d;
  o.switch_rate = 1;
  perturb_text(&o, 1, "Der Hund, die Katze.", 20, &out, NULL, &bad);
  CHECK(!strcmp(out.buf, "Der Dog, die The cat."), "code-switching keeps case and punctuation: '%s'", out.buf);
  int seen_home = 0, seen_house = 0;
  for (uint64_t key = 0; key < 40; key++) {
    perturb_text(&o, key, "haus", 4, &out, NULL, &bad);
    seen_home += !strcmp(out.buf, "home");
    seen_house += !strcmp(out.buf, "house");
  }
  CHECK(seen_home > 5 && seen_house > 5 && seen_home + seen_house == 40, "translations drawn uniformly (%d/%d)",
        seen_home, seen_house);
  perturb_dict_free(d);
  perturb_dict_free(rd);
  unlink(path);
  CHECK(perturb_dict_load("/nonexistent/dict", false, err, sizeof err) == NULL && strstr(err, "/nonexistent"),
        "missing dictionary: %s", err);
  CHECK(perturb_parse_kinds("insert,swap") == (PERTURB_INSERT | PERTURB_SWAP) && perturb_parse_kinds("typo") < 0,
        "typo kind lists");
  perturb_buf_free(&out);
  perturb_buf_free(&out2);
}


/* ---------------------------------------------------------------- lib/train: pairs, checkpoint, session */

/* A pair stream of n pairs (d = 8) with ids below 40; pair k has k % 5 + 3
 * src tokens and k % 3 + 3 tgt tokens; pair `empty` has only [CLS]/[SEP]
 * on its src side; `flip` changes one teacher value of pair 1. */
static void write_pairs(const char *path, int npairs, int empty, int flip, const char *src_vocab) {
  rec_schema *s = rec_schema_builtin("pair");
  rec_set_dim(s, "d", 8);
  if (src_vocab) rec_meta_set(s, "src_vocab", src_vocab);
  rec_meta_set(s, "tgt_model", "teacher-a");
  rec_writer *w = rec_writer_path(path, s, NULL);
  const rec_schema *ws = rec_writer_schema(w);
  int f_id = rec_field_index(ws, "id"), f_sl = rec_field_index(ws, "src_lang"), f_tl = rec_field_index(ws, "tgt_lang"),
      f_si = rec_field_index(ws, "src_ids"), f_ti = rec_field_index(ws, "tgt_ids"),
      f_tv = rec_field_index(ws, "tgt_vecs");
  rng_t r;
  rng_seed(&r, 77);
  for (int k = 0; k < npairs; k++) {
    uint32_t si[8], ti[8];
    float tv[8 * 8];
    int n = k == empty ? 2 : k % 5 + 3, m = k % 3 + 3;
    for (int i = 0; i < n; i++) si[i] = i == 0 ? 1 : i == n - 1 ? 2 : 3 + (uint32_t)rng_below(&r, 37);
    for (int j = 0; j < m; j++) ti[j] = j == 0 ? 1 : j == m - 1 ? 2 : 3 + (uint32_t)rng_below(&r, 37);
    for (int q = 0; q < m * 8; q++) tv[q] = (float)rng_normal(&r);
    if (k == 1 && flip) tv[3] += 0.5f;
    char id[16];
    snprintf(id, sizeof id, "p%d", k);
    rec_put_str(w, f_id, id, strlen(id));
    rec_put_str(w, f_sl, "deu", 3);
    rec_put_str(w, f_tl, "eng", 3);
    uint32_t s1[1] = {(uint32_t)n}, s2[1] = {(uint32_t)m}, s3[2] = {(uint32_t)m, 8};
    rec_put(w, f_si, si, s1);
    rec_put(w, f_ti, ti, s2);
    rec_put(w, f_tv, tv, s3);
    rec_write(w);
  }
  rec_writer_close(w);
  rec_schema_free(s);
}

static void test_train_pairs(const char *dir) {
  char path[600], path2[600], err[512];
  snprintf(path, sizeof path, "%s/pairs.rec", dir);
  snprintf(path2, sizeof path2, "%s/flip.rec", dir);
  write_pairs(path, 12, 4, 0, NULL);
  write_pairs(path2, 12, 4, 1, NULL);
  train_limits lim = {.d = 8, .vocab_size = 40, .max_pos = 32, .cut = 1};
  int fd = open(path, O_RDONLY);
  train_input *in = train_input_open(fd, path, &lim, err, sizeof err);
  CHECK(in && train_input_seekable(in), "a pair file opens, seekable %s", in ? "" : err);
  if (!in) return;
  train_pair p;
  int got = 0, rc;
  uint64_t last = 0;
  while ((rc = train_input_next(in, &p, 1, err, sizeof err)) > 0) got++, last = p.index;
  CHECK(rc == 0 && got == 11 && train_input_skipped(in) == 1 && train_input_records(in) == 12 && last == 11,
        "11 usable pairs, the one without content tokens skipped and counted");
  uint64_t fp = train_input_fingerprint(in);
  CHECK(train_input_rewind(in, err, sizeof err) == 0 && train_input_next(in, &p, 0, err, sizeof err) == 1 &&
            p.index == 0 && train_input_records(in) == 1,
        "rewind starts a new pass at record 0");
  train_input_free(in);
  close(fd);
  fd = open(path2, O_RDONLY);
  in = train_input_open(fd, path2, &lim, err, sizeof err);
  while (train_input_next(in, &p, 1, err, sizeof err) > 0) {}
  CHECK(train_input_fingerprint(in) != fp && fp != 0, "one teacher value changed: another fingerprint (%016llx)",
        (unsigned long long)fp);
  train_input_free(in);
  close(fd);
  /* a pipe cannot rewind */
  int pp[2];
  CHECK(pipe(pp) == 0, "pipe");
  if (fork() == 0) {
    int f = open(path, O_RDONLY);
    char buf[4096];
    ssize_t k;
    while ((k = read(f, buf, sizeof buf)) > 0)
      if (write(pp[1], buf, (size_t)k) != k) break;
    _exit(0);
  }
  close(pp[1]);
  in = train_input_open(pp[0], "pipe", &lim, err, sizeof err);
  CHECK(in && !train_input_seekable(in) && train_input_rewind(in, err, sizeof err) != 0 && strstr(err, "not a pipe"),
        "a pipe is not seekable: %s", err);
  train_input_free(in);
  close(pp[0]);
  /* the student's limits are checked, naming the record */
  lim.vocab_size = 10;
  fd = open(path, O_RDONLY);
  in = train_input_open(fd, path, &lim, err, sizeof err);
  while ((rc = train_input_next(in, &p, 1, err, sizeof err)) > 0) {}
  CHECK(rc < 0 && strstr(err, "record 0: src id") && strstr(err, "vocab_size 10"), "src id >= vocab_size: %s", err);
  train_input_free(in);
  close(fd);
  lim.vocab_size = 40, lim.d = 16;
  fd = open(path, O_RDONLY);
  CHECK(!train_input_open(fd, path, &lim, err, sizeof err) && strstr(err, "d = 8"), "teacher d differs: %s", err);
  close(fd);
  lim.d = 8;

  /* batches: consecutive pairs within the token and pair limits */
  train_batch b;
  train_batch_init(&b, 8, 12, 3);
  fd = open(path, O_RDONLY);
  in = train_input_open(fd, path, &lim, err, sizeof err);
  int sizes[12], nb = 0, have = 0;
  for (;;) {
    train_batch_clear(&b);
    for (;;) {
      if (!have && !(have = train_input_next(in, &p, 0, err, sizeof err) > 0)) break;
      if (!train_batch_fits(&b, p.n)) break;
      train_batch_add(&b, &p, NULL);
      have = 0;
    }
    if (!b.B) break;
    CHECK(b.B <= 3 && (b.B == 1 || b.N <= 12), "batch %d: %d pairs, %zu tokens", nb, b.B, b.N);
    sizes[nb++] = b.B;
  }
  int sum = 0;
  for (int k = 0; k < nb; k++) sum += sizes[k];
  distill_batch v = train_batch_view(&b);
  CHECK(sum == 11 && v.src_w == NULL, "every usable pair in exactly one batch (%d batches), no weights without IDF",
        nb);
  train_input_free(in);
  close(fd);

  /* IDF: ln((1 + P) / (1 + df)) + 1, an id counted once per pair */
  train_idf x;
  train_idf_init(&x, 40);
  uint32_t a[5] = {1, 7, 7, 9, 2}, t1[3] = {1, 5, 2}, c2[3] = {1, 9, 2}, t2[4] = {1, 5, 5, 2};
  float tv[4 * 8] = {0};
  train_pair p1 = {.src = a, .n = 5, .tgt = t1, .m = 3, .vecs = tv}, p2 = {.src = c2, .n = 3, .tgt = t2, .m = 4, .vecs = tv};
  train_idf_add(&x, &p1);
  train_idf_add(&x, &p2);
  train_idf_finish(&x);
  CHECK(fabsf(train_idf_src(&x, 7) - (float)(log(3.0 / 2.0) + 1)) < 1e-6f &&
            fabsf(train_idf_src(&x, 9) - (float)(log(3.0 / 3.0) + 1)) < 1e-6f &&
            fabsf(train_idf_tgt(&x, 5) - (float)(log(3.0 / 3.0) + 1)) < 1e-6f && train_idf_tgt(&x, 30) == 1.0f &&
            fabsf(train_idf_src(&x, 11) - (float)(log(3.0) + 1)) < 1e-6f,
        "IDF per side: df counts pairs, not occurrences; unseen tgt ids weigh 1");
  train_batch_clear(&b);
  train_batch_add(&b, &p1, &x);
  v = train_batch_view(&b);
  CHECK(v.src_w && v.tgt_w && v.src_w[1] == train_idf_src(&x, 7) && v.tgt_w[1] == train_idf_tgt(&x, 5),
        "a batch with IDF carries the weights");
  train_idf_free(&x);
  train_batch_free(&b);
}

static void test_train_checkpoint(const char *dir) {
  char p[600], f[800], err[512];
  snprintf(p, sizeof p, "%s/ck", dir);
  CHECK(train_out_check(p, err, sizeof err) == 0, "an absent --out is fine");
  mkdir(p, 0777);
  CHECK(train_out_check(p, err, sizeof err) == 0, "an empty folder is fine");
  snprintf(f, sizeof f, "%s/notes.txt", p);
  FILE *fh = fopen(f, "w");
  fputs("mine\n", fh);
  fclose(fh);
  CHECK(train_out_check(p, err, sizeof err) != 0 && strstr(err, "notes.txt"), "a folder with other files: %s", err);
  train_remove_dir(p);
  CHECK(access(f, F_OK) == 0, "removing a checkpoint folder leaves other files (and the folder)");
  unlink(f);
  snprintf(f, sizeof f, "%s/config.json", p);
  fh = fopen(f, "w");
  fputs("{}\n", fh);
  fclose(fh);
  CHECK(train_out_check(p, err, sizeof err) != 0 && strstr(err, "trainer_state.json"),
        "a model folder without trainer_state.json: %s", err);
  train_remove_dir(p);
  CHECK(access(p, F_OK) != 0, "a folder of known files only is removed");
  fh = fopen(p, "w");
  fclose(fh);
  CHECK(train_out_check(p, err, sizeof err) != 0 && strstr(err, "not a folder"), "a plain file: %s", err);
  unlink(p);
  /* the state round trip */
  train_state st = {.step = 7, .epoch = 1, .pos = 12, .total = 30, .seed = 5, .options = "a \"b\"",
                    .input_records = 40, .have_input_fp = 1, .input_fp = 0x0123456789abcdefULL,
                    .prefix_fp = 42, .teacher = "t-1", .src_vocab = NULL};
  char *js = train_state_json(&st);
  mkdir(p, 0777);
  snprintf(f, sizeof f, "%s/trainer_state.json", p);
  fh = fopen(f, "w");
  fputs(js, fh);
  fclose(fh);
  free(js);
  train_state back;
  int rc = train_state_load(p, &back, err, sizeof err);
  CHECK(rc == 0 && back.step == 7 && back.epoch == 1 && back.pos == 12 && back.total == 30 &&
            back.input_records == 40 && back.have_input_fp && back.input_fp == st.input_fp && back.prefix_fp == 42 &&
            !strcmp(back.options, st.options) && !strcmp(back.teacher, "t-1") && !back.src_vocab,
        "trainer_state.json round trip %s", rc ? err : "");
  if (!rc) train_state_free(&back);
  fh = fopen(f, "w");
  fputs("{\"format\": \"otclir-distill-state-1\", \"step\": 3}\n", fh);
  fclose(fh);
  CHECK(train_state_load(p, &back, err, sizeof err) != 0 && strstr(err, "format"), "an older state: %s", err);
  train_remove_dir(p);
  /* stale temporaries of dead runs go, a live run's stay */
  char stale[700], live[700];
  snprintf(stale, sizeof stale, "%s.ckpt.999999999", p);
  snprintf(live, sizeof live, "%s.ckpt.%ld", p, (long)getppid());
  mkdir(stale, 0777), mkdir(live, 0777);
  snprintf(f, sizeof f, "%s/optimizer.safetensors.tmp.999999999", stale);
  fh = fopen(f, "w");
  fclose(fh);
  train_remove_stale(p);
  CHECK(access(stale, F_OK) != 0 && access(live, F_OK) == 0, "stale DIR.ckpt.PID of a dead run removed, a live one kept");
  rmdir(live);
}

/* A run of the session: 2 epochs straight, and stopped after 3 steps then
 * resumed: the same model, optimizer and log (timing aside). */
static void test_train_session(const char *dir) {
  char init[600], pairs[600], other[600], a[600], b[600], err[1024];
  snprintf(init, sizeof init, "%s/init", dir);
  snprintf(pairs, sizeof pairs, "%s/pairs.rec", dir);
  snprintf(other, sizeof other, "%s/flip.rec", dir);
  snprintf(a, sizeof a, "%s/a", dir);
  snprintf(b, sizeof b, "%s/b", dir);
  bert_config c = tiny_config(1);
  bert_model *m0 = bert_init(&c, 3);
  bert_save(m0, init, err, sizeof err);
  bert_free(m0);
  train_opts o;
  train_opts_defaults(&o);
  o.epochs = 2, o.batch_tokens = 12, o.threads = 1, o.lr = 1e-2, o.save_every = 2;
  o.dc.adv = DISTILL_ADV_PGD, o.dc.adv_eps = 0.3, o.dc.adv_steps = 2;
  double loss_full[32];
  int nfull = 0;
  for (int run = 0; run < 3; run++) {
    /* run 0: straight; run 1: stop after 3; run 2: resume */
    train_opts oo = o;
    if (run == 1) oo.stop_after = 3;
    int fd = open(pairs, O_RDONLY);
    train_session *s = train_session_open(&oo, run == 2 ? TRAIN_RESUME : TRAIN_INIT, init, run ? b : a, fd, pairs,
                                          err, sizeof err);
    CHECK(s != NULL, "session %d opens %s", run, s ? "" : err);
    if (!s) return;
    char logp[700];
    snprintf(logp, sizeof logp, "%s/log%d.rec", dir, run);
    rec_schema *ls = train_session_log_schema(s);
    rec_writer *w = rec_writer_path(logp, ls, NULL);
    rec_schema_free(ls);
    int rc = train_session_run(s, w, NULL, NULL, err, sizeof err);
    CHECK(rc == 0, "session %d runs %s", run, rc ? err : "");
    rec_writer_close(w);
    train_summary sum;
    train_session_summary(s, &sum);
    if (run == 0)
      CHECK(sum.skipped == 1 && sum.ot_problems == 4 * 11 * 2 && sum.ot_unconverged == 0,
            "summary: %llu skipped, %llu problems (pgd: 4 passes x 11 pairs x 2 epochs), %llu unconverged",
            (unsigned long long)sum.skipped, (unsigned long long)sum.ot_problems,
            (unsigned long long)sum.ot_unconverged);
    train_session_free(s);
    close(fd);
    rec_reader *rr = rec_open_path(logp, err, sizeof err);
    int fl = rec_field_index(rec_reader_schema(rr), "loss"), fu = rec_field_index(rec_reader_schema(rr), "ot_unconverged");
    rec_record rec;
    int ok = 1;
    while (rec_read(rr, &rec) == 0) {
      if (run == 0 && nfull < 32) loss_full[nfull++] = rec_f64_scalar(&rec, fl);
      if (run == 2) ok &= rec.index + 3 < (uint64_t)nfull && rec_f64_scalar(&rec, fl) == loss_full[rec.index + 3];
      ok &= rec_has(&rec, fu);
    }
    rec_close(rr);
    if (run == 2) CHECK(ok, "the resumed log continues the straight one, loss for loss");
  }
  char fa[700], fb[700];
  for (int k = 0; k < 2; k++) {
    const char *name = k ? "optimizer.safetensors" : "model.safetensors";
    snprintf(fa, sizeof fa, "%s/%s", a, name);
    snprintf(fb, sizeof fb, "%s/%s", b, name);
    size_t la, lb;
    char *xa = read_file(fa, &la), *xb = read_file(fb, &lb);
    CHECK(xa && xb && la == lb && !memcmp(xa, xb, la), "stopped + resumed == straight: %s, bit for bit", name);
    free(xa), free(xb);
  }
  /* resuming with another input of the same length is refused; so are other options */
  train_opts oo = o;
  oo.stop_after = 3;
  int fd = open(pairs, O_RDONLY);
  train_session *s = train_session_open(&oo, TRAIN_INIT, init, b, fd, pairs, err, sizeof err);
  char logp[700];
  snprintf(logp, sizeof logp, "%s/stop.rec", dir); /* a file: rec_writer_path renames into place */
  rec_schema *ls = train_session_log_schema(s);
  rec_writer *w = rec_writer_path(logp, ls, NULL);
  rec_schema_free(ls);
  train_session_run(s, w, NULL, NULL, err, sizeof err);
  rec_writer_close(w);
  train_session_free(s);
  close(fd);
  fd = open(other, O_RDONLY);
  s = train_session_open(&o, TRAIN_RESUME, NULL, b, fd, other, err, sizeof err);
  CHECK(!s && strstr(err, "not the input of the checkpoint"), "resume on another input: %s", err);
  train_session_free(s);
  close(fd);
  fd = open(pairs, O_RDONLY);
  oo = o;
  oo.lr = 2e-2;
  s = train_session_open(&oo, TRAIN_RESUME, NULL, b, fd, pairs, err, sizeof err);
  CHECK(!s && strstr(err, "options differ"), "resume with another --lr: refused");
  close(fd);
  /* the vocabulary: a stream made with another vocabulary than the student's */
  bert_model *mv = bert_load(init, err, sizeof err);
  bert_set_vocab(mv, "[PAD]\n", 6, "vocab.txt");
  char vdir[600], h[65], sv[700];
  snprintf(vdir, sizeof vdir, "%s/withvocab", dir);
  bert_save(mv, vdir, err, sizeof err);
  bert_free(mv);
  otc_sha256_hex("[PAD]\n", 6, h);
  snprintf(sv, sizeof sv, "%s/sv.rec", dir);
  write_pairs(sv, 6, -1, 0, "0000000000000000000000000000000000000000000000000000000000000000");
  fd = open(sv, O_RDONLY);
  snprintf(fa, sizeof fa, "%s/v1", dir);
  s = train_session_open(&o, TRAIN_INIT, vdir, fa, fd, sv, err, sizeof err);
  CHECK(!s && strstr(err, "another vocabulary") && strstr(err, h), "another vocabulary: %s", err);
  close(fd);
  write_pairs(sv, 6, -1, 0, h);
  fd = open(sv, O_RDONLY);
  s = train_session_open(&o, TRAIN_INIT, vdir, fa, fd, sv, err, sizeof err);
  CHECK(s != NULL, "the student's own vocabulary %s", s ? "" : err);
  train_session_free(s);
  close(fd);
}

/* ---------------------------------------------------------------- perturb's modes (lib/text TSV, lib/train noisy) */

static void test_tsv_lines(void) {
  perturb_opts o;
  memset(&o, 0, sizeof o);
  o.seed = 3, o.typo_rate = 1;
  perturb_tsv t = {.fields = 2, .text_field = 1, .names = "id, text"};
  perturb_buf out = {0}, plain = {0};
  char err[256];
  size_t bad;
  const char *crlf = "x1\tthe quick brown fox\r\n";
  CHECK(perturb_tsv_line(&o, &t, crlf, strlen(crlf), 1, &out, NULL, err, sizeof err) == 0 &&
            out.len > 4 && !strcmp(out.buf + out.len - 2, "\r\n") && !strncmp(out.buf, "x1\t", 3),
        "a CRLF line stays CRLF: '%.*s'", (int)out.len - 2, out.buf);
  perturb_text(&o, perturb_key_of_id("x1", 2), "the quick brown fox", 19, &plain, NULL, &bad);
  CHECK(out.len == 3 + plain.len + 2 && !memcmp(out.buf + 3, plain.buf, plain.len),
        "the CR is not part of the text: the same noise as without it");
  CHECK(perturb_tsv_line(&o, &t, "x1\tabc def", 10, 7, &out, NULL, err, sizeof err) == 0 &&
            out.buf[out.len - 1] == '\n' && out.buf[out.len - 2] != '\r',
        "a last line without a newline gets LF");
  CHECK(perturb_tsv_line(&o, &t, "x1\ta\tb\n", 7, 3, &out, NULL, err, sizeof err) != 0 &&
            strstr(err, "line 3: expected 2 tab-separated fields (id, text), got 3"),
        "wrong field count: %s", err);
  CHECK(perturb_tsv_line(&o, &t, "\tabc\n", 5, 4, &out, NULL, err, sizeof err) != 0 && strstr(err, "line 4: empty id"),
        "empty id: %s", err);
  CHECK(perturb_tsv_line(&o, &t, "x\tab\xff\n", 6, 5, &out, NULL, err, sizeof err) != 0 &&
            strstr(err, "line 5: invalid UTF-8 at byte 5"),
        "invalid UTF-8: %s", err);
  perturb_tsv t3 = {.fields = 3, .text_field = 2, .key_by_index = 1, .names = "id, lang, text"};
  CHECK(perturb_tsv_line(&o, &t3, "x\tdeu\tabc def\n", 14, 1, &out, NULL, err, sizeof err) == 0 &&
            !strncmp(out.buf, "x\tdeu\t", 6),
        "--lang-column: the third field is the text");
  perturb_buf_free(&out);
  perturb_buf_free(&plain);
}

/* A model with a 40-piece vocabulary: [PAD] [UNK] [CLS] [SEP] [MASK] and
 * w0..w34. */
static const char *model_with_vocab(const char *dir, char *vocab_text, size_t cap) {
  static char path[700];
  size_t n = (size_t)snprintf(vocab_text, cap, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
  for (int k = 0; k < 35; k++) n += (size_t)snprintf(vocab_text + n, cap - n, "w%d\n", k);
  bert_config c = tiny_config(1);
  bert_model *m = bert_init(&c, 11);
  bert_set_vocab(m, vocab_text, n, "vocab.txt");
  snprintf(path, sizeof path, "%s/vmodel", dir);
  char err[256];
  if (bert_save(m, path, err, sizeof err) != 0) printf("# %s\n", err);
  bert_free(m);
  return path;
}

/* Pairs with src_text over w0..w34 and teacher vectors of d = 8. */
static void write_text_pairs(const char *path, int npairs, const char *src_vocab, const char *tgt_vocab) {
  rec_schema *s = rec_schema_builtin("pair");
  rec_set_dim(s, "d", 8);
  if (src_vocab) rec_meta_set(s, "src_vocab", src_vocab);
  if (tgt_vocab) rec_meta_set(s, "tgt_vocab", tgt_vocab);
  if (src_vocab && tgt_vocab && !strcmp(src_vocab, tgt_vocab)) rec_meta_set(s, "vocab", src_vocab);
  rec_writer *w = rec_writer_path(path, s, NULL);
  const rec_schema *ws = rec_writer_schema(w);
  rng_t r;
  rng_seed(&r, 5);
  for (int k = 0; k < npairs; k++) {
    char text[256], id[16];
    size_t tl = 0;
    int words = 3 + k % 4;
    for (int i = 0; i < words; i++) tl += (size_t)snprintf(text + tl, sizeof text - tl, "%sw%d", i ? " " : "", (int)rng_below(&r, 35));
    uint32_t ids[2] = {2, 3}, ti[5] = {2, 7, 8, 9, 3};
    float tv[5 * 8];
    for (int q = 0; q < 40; q++) tv[q] = (float)rng_normal(&r);
    snprintf(id, sizeof id, "t%d", k);
    rec_put_str(w, rec_field_index(ws, "id"), id, strlen(id));
    rec_put_str(w, rec_field_index(ws, "src_lang"), "deu", 3);
    rec_put_str(w, rec_field_index(ws, "tgt_lang"), "eng", 3);
    uint32_t s1[1] = {2}, s2[1] = {5}, s3[2] = {5, 8};
    rec_put(w, rec_field_index(ws, "src_ids"), ids, s1);
    rec_put(w, rec_field_index(ws, "tgt_ids"), ti, s2);
    rec_put(w, rec_field_index(ws, "tgt_vecs"), tv, s3);
    rec_put_str(w, rec_field_index(ws, "src_text"), text, tl);
    rec_write(w);
  }
  rec_writer_close(w);
  rec_schema_free(s);
}

/* The OT loss of each pair of a pair stream under the model (one batch each). */
static int pair_losses(const char *path, bert_model *m, double *out, int max) {
  distill_cfg dc;
  distill_cfg_defaults(&dc);
  distill_trainer *t = distill_trainer_new(m, &dc);
  char err[512];
  rec_reader *r = rec_open_path(path, err, sizeof err);
  const rec_schema *s = rec_reader_schema(r);
  int fs = rec_field_index(s, "src_ids"), ft = rec_field_index(s, "tgt_vecs"), n = 0;
  rec_record rec;
  while (n < max && rec_read(r, &rec) == 0) {
    size_t ns, nv;
    const uint32_t *ids = rec_u32(&rec, fs, &ns);
    const float *tv = rec_f32(&rec, ft, &nv);
    int sl = (int)ns, tl = (int)(nv / 8);
    distill_batch b = {.B = 1, .src_len = &sl, .src_ids = ids, .tgt_len = &tl, .tgt_vecs = tv};
    out[n] = -1;
    if (sl >= 3) distill_eval(t, &b, NULL, NULL, &out[n], NULL, err, sizeof err);
    n++;
  }
  rec_close(r);
  distill_trainer_free(t);
  return n;
}

static void test_noisy(const char *dir) {
  char vtext[1024], err[1024], in[600], outp[600], out2[600], vpath[800];
  const char *mdir = model_with_vocab(dir, vtext, sizeof vtext);
  char h[65];
  otc_sha256_hex(vtext, strlen(vtext), h);
  noisy_opts o;
  memset(&o, 0, sizeof o);
  o.po.seed = 4, o.po.typo_rate = 0.5, o.po.drop_rate = 0.2, o.max_len = 64, o.batch_tokens = 200;
  distill_loss_defaults(&o.loss);
  snprintf(in, sizeof in, "%s/tp.rec", dir);
  snprintf(outp, sizeof outp, "%s/tp.out.rec", dir);
  snprintf(out2, sizeof out2, "%s/tp.out2.rec", dir);
  /* --vocab only: re-tokenized, the new vocabulary's hash in src_vocab, the both-sides key gone */
  write_text_pairs(in, 30, "1111111111111111111111111111111111111111111111111111111111111111",
                   "1111111111111111111111111111111111111111111111111111111111111111");
  snprintf(vpath, sizeof vpath, "%s/vocab.txt", mdir);
  noisy_model *nv = noisy_model_load(NULL, vpath, 0, 1, err, sizeof err);
  CHECK(nv != NULL, "a vocabulary alone loads %s", nv ? "" : err);
  rec_reader *r = rec_open_path(in, err, sizeof err);
  perturb_stats st = {0};
  int rc = noisy_pair_records(&o, nv, r, in, outp, &st, err, sizeof err);
  rec_close(r);
  CHECK(rc == 0 && st.words > 0, "random noise on pair records %s", rc ? err : "");
  r = rec_open_path(outp, err, sizeof err);
  const rec_schema *os = rec_reader_schema(r);
  const char *sv = rec_meta_get(os, "src_vocab"), *sp = rec_meta_get(os, "src_special_ids");
  CHECK(sv && !strcmp(sv, h) && sp && !strcmp(sp, "2,3") && !rec_meta_get(os, "vocab") &&
            rec_meta_get(os, "tgt_vocab")[0] == '1',
        "src_vocab %s, src_special_ids %s: the vocabulary that re-tokenized; vocab dropped", sv ? sv : "-",
        sp ? sp : "-");
  int fs = rec_field_index(os, "src_ids"), fv = rec_field_index(os, "src_vecs"), ok = 1, nrec = 0;
  rec_record rec;
  while (rec_read(r, &rec) == 0) {
    size_t n;
    const uint32_t *ids = rec_u32(&rec, fs, &n);
    ok &= n >= 2 && ids[0] == 2 && ids[n - 1] == 3 && !rec_has(&rec, fv);
    nrec++;
  }
  rec_close(r);
  CHECK(ok && nrec == 30, "re-tokenized: [CLS] ... [SEP], no stale src_vecs, every record");
  noisy_model_free(nv);
  /* --model: a stream of another vocabulary is refused, the model's own is fine */
  noisy_model *nm = noisy_model_load(mdir, NULL, 0, 1, err, sizeof err);
  r = rec_open_path(in, err, sizeof err);
  rc = noisy_pair_records(&o, nm, r, in, outp, &st, err, sizeof err);
  rec_close(r);
  CHECK(rc != 0 && strstr(err, "another vocabulary") && strstr(err, h), "--model: another vocabulary refused: %s", err);
  write_text_pairs(in, 30, h, h);
  /* worst of 3: deterministic, and never below the random candidate (candidate 0) */
  double lr[30], lw[30];
  r = rec_open_path(in, err, sizeof err);
  rc = noisy_pair_records(&o, nm, r, in, outp, &st, err, sizeof err); /* random = candidate 0 */
  rec_close(r);
  pair_losses(outp, nm->m, lr, 30);
  o.worst_of = 3;
  for (int k = 0; k < 2; k++) {
    r = rec_open_path(in, err, sizeof err);
    rc |= noisy_pair_records(&o, nm, r, in, k ? out2 : outp, &st, err, sizeof err);
    rec_close(r);
  }
  size_t la, lb;
  char *xa = read_file(outp, &la), *xb = read_file(out2, &lb);
  CHECK(rc == 0 && xa && xb && la == lb && !memcmp(xa, xb, la), "worst of 3: the same bytes twice %s", rc ? err : "");
  free(xa), free(xb);
  int n = pair_losses(outp, nm->m, lw, 30), higher = 0, never_lower = 1;
  for (int k = 0; k < n; k++) never_lower &= lw[k] >= lr[k], higher += lw[k] > lr[k];
  CHECK(n == 30 && never_lower && higher > 5, "the kept candidate's loss >= candidate 0's for every pair (%d higher)",
        higher);
  /* the attack at eps 0 writes the word embeddings themselves */
  o.worst_of = 0, o.attack = DISTILL_ADV_FGSM, o.adv_eps = 0, o.adv_steps = 1;
  write_pairs(in, 8, -1, 0, h);
  r = rec_open_path(in, err, sizeof err);
  rc = noisy_attack_records(&o, nm, r, in, outp, err, sizeof err);
  rec_close(r);
  r = rec_open_path(outp, err, sizeof err);
  os = rec_reader_schema(r);
  int fi = rec_field_index(os, "ids"), fe = rec_field_index(os, "embeds");
  ok = rc == 0 && !strcmp(os->record, "tokens") && rec_meta_get(os, "vocab") && !strcmp(rec_meta_get(os, "vocab"), h);
  nrec = 0;
  while (ok && rec_read(r, &rec) == 0) {
    size_t ni, ne;
    const uint32_t *ids = rec_u32(&rec, fi, &ni);
    const float *e = rec_f32(&rec, fe, &ne);
    ok &= ne == ni * 8;
    for (size_t i = 0; i < ni && ok; i++) ok &= !memcmp(e + i * 8, nm->m->p.word_emb + (size_t)ids[i] * 8, 8 * sizeof(float));
    nrec++;
  }
  rec_close(r);
  CHECK(ok && nrec == 8, "--attack fgsm at eps 0: tokens records whose embeds are the word embeddings %s", rc ? err : "");
  noisy_model_free(nm);
  /* text records: the same noise as perturb_text, keyed by the id */
  rec_schema *ts = rec_schema_builtin("text");
  snprintf(in, sizeof in, "%s/t.rec", dir);
  rec_writer *w = rec_writer_path(in, ts, NULL);
  const rec_schema *tws = rec_writer_schema(w);
  rec_put_str(w, rec_field_index(tws, "id"), "q1", 2);
  rec_put_str(w, rec_field_index(tws, "text"), "alpha beta gamma delta", 22);
  rec_write(w);
  rec_writer_close(w);
  rec_schema_free(ts);
  o.attack = DISTILL_ADV_NONE;
  r = rec_open_path(in, err, sizeof err);
  rc = noisy_text_records(&o, r, in, outp, &st, err, sizeof err);
  rec_close(r);
  perturb_buf pb = {0};
  size_t bad;
  perturb_text(&o.po, perturb_key_of_id("q1", 2), "alpha beta gamma delta", 22, &pb, NULL, &bad);
  r = rec_open_path(outp, err, sizeof err);
  size_t tl = 0;
  const char *got = rec_read(r, &rec) == 0 ? rec_str(&rec, rec_field_index(rec_reader_schema(r), "text"), &tl) : "";
  CHECK(rc == 0 && tl == pb.len && !memcmp(got, pb.buf, tl), "text records: '%s'", pb.buf);
  rec_close(r);
  perturb_buf_free(&pb);
}

/* ot-align's job on a pair stream: one plan record per pair, batches by
 * plan entries, records named in errors, the size limit. */
static void emit_count(void *ctx, const char *line, size_t len) {
  (void)line, (void)len;
  (*(int *)ctx)++;
}

static void test_align_job(const char *dir) {
  char in[600], outp[600], err[1024];
  snprintf(in, sizeof in, "%s/av.rec", dir);
  snprintf(outp, sizeof outp, "%s/av.plan.rec", dir);
  /* 300 pairs of 1..40 tokens a side, d = 4, src/tgt vectors random */
  rec_schema *s = rec_schema_builtin("pair");
  rec_meta_set(s, "src_model", "m1");
  rec_meta_set(s, "tgt_model", "m1");
  rec_writer *w = rec_writer_path(in, s, NULL);
  const rec_schema *ws = rec_writer_schema(w);
  rng_t r;
  rng_seed(&r, 9);
  for (int k = 0; k < 300; k++) {
    int n = 1 + (int)rng_below(&r, 40), m = 1 + (int)rng_below(&r, 40);
    float S[160], T[160];
    for (int q = 0; q < 4 * n; q++) S[q] = (float)rng_normal(&r);
    for (int q = 0; q < 4 * m; q++) T[q] = (float)rng_normal(&r);
    char id[16];
    snprintf(id, sizeof id, "a%d", k);
    rec_put_str(w, rec_field_index(ws, "id"), id, strlen(id));
    rec_put_str(w, rec_field_index(ws, "src_lang"), "de", 2);
    rec_put_str(w, rec_field_index(ws, "tgt_lang"), "en", 2);
    uint32_t ids[40] = {0}, s1[1] = {(uint32_t)n}, s2[1] = {(uint32_t)m}, s3[2] = {(uint32_t)n, 4}, s4[2] = {(uint32_t)m, 4};
    rec_put(w, rec_field_index(ws, "src_ids"), ids, s1);
    rec_put(w, rec_field_index(ws, "tgt_ids"), ids, s2);
    rec_put(w, rec_field_index(ws, "src_vecs"), S, s3);
    rec_put(w, rec_field_index(ws, "tgt_vecs"), T, s4);
    rec_write(w);
  }
  rec_writer_close(w);
  rec_schema_free(s);
  align_opts o;
  memset(&o, 0, sizeof o);
  ot_options_default(&o.ot);
  o.ot.threads = 2, o.want_align = true;
  rec_reader *rd = rec_open_path(in, err, sizeof err);
  align_job *j = align_open(&o, rd, in, outp, err, sizeof err);
  int rc = j ? align_run(j, NULL, NULL, NULL, err, sizeof err) : -1;
  CHECK(rc == 0 && align_job_summary(j)->pairs == 300, "300 pairs aligned in batches of %d %s", ALIGN_BATCH,
        rc ? err : "");
  align_free(j);
  rec_close(rd);
  /* each record equals a single solve */
  rd = rec_open_path(outp, err, sizeof err);
  rec_reader *ri = rec_open_path(in, err, sizeof err);
  rec_record a, b;
  int same = 1, cnt = 0;
  while (rec_read(rd, &a) == 0) {
    double cost = rec_f64_scalar(&a, rec_field_index(rec_reader_schema(rd), "cost"));
    if (rec_read(ri, &b) != 0) break;
    const rec_schema *is = rec_reader_schema(ri);
    size_t ns, nt;
    const float *S = rec_f32(&b, rec_field_index(is, "src_vecs"), &ns), *T = rec_f32(&b, rec_field_index(is, "tgt_vecs"), &nt);
    ot_problem p = {.S = S, .T = T, .n = (int)ns / 4, .m = (int)nt / 4, .ds = 4, .dt = 4};
    ot_options oo;
    ot_options_default(&oo);
    ot_result res = {0};
    ot_solve(&p, &oo, &res, NULL, 0);
    same &= res.cost == cost;
    cnt++;
  }
  rec_close(rd), rec_close(ri);
  CHECK(same && cnt == 300, "every plan record's cost is the single solve's, bit for bit");
  /* text mode: one line per pair through the callback */
  int lines = 0;
  o.text = true;
  rd = rec_open_path(in, err, sizeof err);
  j = align_open(&o, rd, in, NULL, err, sizeof err);
  rc = align_run(j, emit_count, NULL, &lines, err, sizeof err);
  CHECK(rc == 0 && lines == 300, "--text: %d lines", lines);
  align_free(j);
  rec_close(rd);
  /* different encoders are refused */
  s = rec_schema_builtin("pair");
  rec_meta_set(s, "src_model", "student");
  rec_meta_set(s, "tgt_model", "teacher");
  snprintf(in, sizeof in, "%s/mm.rec", dir);
  w = rec_writer_path(in, s, NULL);
  rec_writer_close(w);
  rec_schema_free(s);
  rd = rec_open_path(in, err, sizeof err);
  o.text = false;
  j = align_open(&o, rd, in, outp, err, sizeof err);
  CHECK(!j && strstr(err, "src_model 'student'") && strstr(err, "--allow-model-mismatch"), "model mismatch: %s", err);
  rec_close(rd);
  /* 5000 x 4000 tokens: refused by its sizes, named */
  s = rec_schema_builtin("pair");
  snprintf(in, sizeof in, "%s/big.rec", dir);
  w = rec_writer_path(in, s, NULL);
  ws = rec_writer_schema(w);
  float *X = xcalloc(5000, sizeof *X);
  uint32_t *ids = xcalloc(5000, sizeof *ids);
  for (int i = 0; i < 5000; i++) X[i] = 1.0f + (float)(i % 3);
  uint32_t sn[1] = {5000}, sm[1] = {4000}, vn[2] = {5000, 1}, vm[2] = {4000, 1};
  rec_put_str(w, rec_field_index(ws, "id"), "big", 3);
  rec_put_str(w, rec_field_index(ws, "src_lang"), "de", 2);
  rec_put_str(w, rec_field_index(ws, "tgt_lang"), "en", 2);
  rec_put(w, rec_field_index(ws, "src_ids"), ids, sn);
  rec_put(w, rec_field_index(ws, "tgt_ids"), ids, sm);
  rec_put(w, rec_field_index(ws, "src_vecs"), X, vn);
  rec_put(w, rec_field_index(ws, "tgt_vecs"), X, vm);
  rec_write(w);
  rec_writer_close(w);
  rec_schema_free(s);
  free(X), free(ids);
  rd = rec_open_path(in, err, sizeof err);
  j = align_open(&o, rd, in, outp, err, sizeof err);
  rc = align_run(j, NULL, NULL, NULL, err, sizeof err);
  CHECK(rc != 0 && strstr(err, "record 0 (id 'big'): 5000 x 4000 tokens") && strstr(err, "OT_MAX_CELLS"),
        "the size limit: %s", err);
  align_free(j);
  rec_close(rd);
}

int main(void) {
  kern_set_threads(1);
  test_helpers();
  test_perturb();
  test_tsv_lines();
  test_input_gradient("ot");
  test_input_gradient("mse=1,cos=1");
  test_ot_gradient(0, DISTILL_ADV_NONE);
  test_ot_gradient(1, DISTILL_ADV_NONE);
  test_ot_gradient(1, DISTILL_ADV_FGSM);
  test_ot_gradient(1, DISTILL_ADV_PGD);
  test_reproducible();
  test_resume();
  char dir[] = "/tmp/test_train_XXXXXX";
  if (mkdtemp(dir)) {
    test_train_pairs(dir);
    test_train_checkpoint(dir);
    test_train_session(dir);
    test_noisy(dir);
    test_align_job(dir);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("# could not remove %s\n", dir);
  }
  return check_done();
}
