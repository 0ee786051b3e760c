/* distill.c: losses, adversarial objectives and the training step of distill.h. */
#include "train/distill.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"

/* ---------------------------------------------------------------- config */

void distill_loss_defaults(distill_loss_cfg *c) {
  memset(c, 0, sizeof *c);
  c->w_ot = 1;
  ot_options_default(&c->ot);
  c->ot.max_iter = 1000;
  c->ot.newton = DISTILL_OT_NEWTON;
}

int distill_parse_losses(const char *s, distill_loss_cfg *c) {
  double w[3] = {0, 0, 0};
  static const char *names[3] = {"ot", "mse", "cos"};
  if (!*s) return -1;
  while (*s) {
    size_t n = strcspn(s, ",=");
    int k = -1;
    for (int i = 0; i < 3; i++)
      if (strlen(names[i]) == n && !strncmp(s, names[i], n)) k = i;
    if (k < 0) return -1;
    s += n;
    double v = 1;
    if (*s == '=') {
      char *end;
      errno = 0;
      v = strtod(s + 1, &end);
      if (end == s + 1 || errno || !isfinite(v) || v < 0) return -1;
      s = end;
    }
    w[k] = v;
    if (*s == ',') s++;
    else if (*s) return -1;
  }
  if (w[0] + w[1] + w[2] <= 0) return -1;
  c->w_ot = w[0], c->w_mse = w[1], c->w_cos = w[2];
  return 0;
}

void distill_cfg_defaults(distill_cfg *c) {
  memset(c, 0, sizeof *c);
  distill_loss_defaults(&c->loss);
  c->adv = DISTILL_ADV_NONE;
  c->adv_eps = 1.0;
  c->adv_alpha = 0.5;
  c->adv_steps = 3;
  c->adv_weight = 1.0;
  c->opt = adamw_defaults();
}

/* ---------------------------------------------------------------- losses */

struct distill_ws {
  ot_problem *prob;
  ot_result *res;
  size_t cap_b;
  unsigned char *mask;
  size_t cap_mask;
  float *grad;  /* [N][d] OT gradient w.r.t. student rows */
  size_t cap_grad;
  float *plan;
  size_t cap_plan;
  void *otwork;
  size_t cap_otwork;
};

distill_ws *distill_ws_new(void) { return xcalloc(1, sizeof(distill_ws)); }

void distill_ws_free(distill_ws *ws) {
  if (!ws) return;
  free(ws->prob);
  free(ws->res);
  free(ws->mask);
  free(ws->grad);
  free(ws->plan);
  free(ws->otwork);
  free(ws);
}

#define GROW(ptr, cap, need)                                   \
  do {                                                         \
    if ((size_t)(need) > (cap)) {                              \
      (cap) = (size_t)(need) + (size_t)(need) / 2;             \
      free(ptr);                                               \
      (ptr) = xmalloc(xmul((cap), sizeof *(ptr)));             \
    }                                                          \
  } while (0)

/* Mean of the content rows [lo, hi) of X [.][d] into out (double). */
static void mean_rows(const float *X, int lo, int hi, int d, double *out) {
  for (int k = 0; k < d; k++) out[k] = 0;
  for (int i = lo; i < hi; i++)
    for (int k = 0; k < d; k++) out[k] += X[(size_t)i * d + k];
  double inv = 1.0 / (hi - lo);
  for (int k = 0; k < d; k++) out[k] *= inv;
}

int distill_loss(const distill_loss_cfg *c, const distill_batch *b, const float *H, int d, float *dH, float scale,
                 distill_parts *parts, double *per_pair, distill_ws *ws, char *err, size_t errlen) {
  int B = b->B;
  size_t N = 0, M = 0, NM = 0;
  int cut = c->keep_special ? 0 : 1;
  for (int i = 0; i < B; i++) {
    if (b->src_len[i] - 2 * cut < 1 || b->tgt_len[i] - 2 * cut < 1) {
      snprintf(err, errlen, "pair %d: no token besides [CLS]/[SEP] (src %d, tgt %d tokens)", i, b->src_len[i],
               b->tgt_len[i]);
      return -1;
    }
    N += (size_t)b->src_len[i];
    M += (size_t)b->tgt_len[i];
    NM += (size_t)b->src_len[i] * (size_t)b->tgt_len[i];
  }
  GROW(ws->prob, ws->cap_b, B);
  ws->res = xrealloc(ws->res, ws->cap_b * sizeof *ws->res);
  GROW(ws->mask, ws->cap_mask, N + M);
  GROW(ws->grad, ws->cap_grad, N * (size_t)d);
  GROW(ws->plan, ws->cap_plan, NM);

  /* OT problems */
  size_t so = 0, to = 0, po = 0;
  for (int i = 0; i < B; i++) {
    int n = b->src_len[i], m = b->tgt_len[i];
    unsigned char *ms = ws->mask + so, *mt = ws->mask + N + to;
    for (int k = 0; k < n; k++) ms[k] = !(cut && (k == 0 || k == n - 1));
    for (int k = 0; k < m; k++) mt[k] = !(cut && (k == 0 || k == m - 1));
    ot_problem *p = &ws->prob[i];
    memset(p, 0, sizeof *p);
    p->S = H + so * d;
    p->T = b->tgt_vecs + to * d;
    p->n = n, p->m = m, p->ds = p->dt = d;
    p->a = b->src_w ? b->src_w + so : NULL;
    p->b = b->tgt_w ? b->tgt_w + to : NULL;
    p->mask_s = ms, p->mask_t = mt;
    ot_result *r = &ws->res[i];
    memset(r, 0, sizeof *r);
    r->plan = ws->plan + po;
    r->grad_s = c->w_ot > 0 && dH ? ws->grad + so * d : NULL;
    so += (size_t)n, to += (size_t)m, po += (size_t)n * m;
  }
  ot_options o = c->ot;
  o.cost = OT_COST_COSINE;
  size_t need = ot_batch_workspace_size(ws->prob, (size_t)B, &o);
  if (need > ws->cap_otwork) {
    free(ws->otwork);
    ws->cap_otwork = need;
    ws->otwork = xmalloc(need);
  }
  ot_solve_batch(ws->prob, ws->res, (size_t)B, &o, ws->otwork, ws->cap_otwork);

  distill_parts P = {0};
  if (dH) memset(dH, 0, N * (size_t)d * sizeof *dH);
  double *mu = xmalloc(2 * (size_t)d * sizeof *mu), *mv = mu + d;
  so = to = po = 0;
  for (int i = 0; i < B; i++) {
    int n = b->src_len[i], m = b->tgt_len[i];
    ot_result *r = &ws->res[i];
    if (r->status != OT_OK) {
      snprintf(err, errlen, "pair %d: optimal transport: %s%s", i, ot_strerror(r->status),
               r->status == OT_ERR_NONFINITE || r->status == OT_ERR_ZERO_NORM
                   ? (r->bad_side ? " (teacher side)" : " (student side)")
                   : "");
      free(mu);
      return -1;
    }
    double entropy = 0;
    const float *pl = r->plan;
    for (size_t k = 0; k < (size_t)n * m; k++)
      if (pl[k] > 0) entropy -= pl[k] * (log((double)pl[k]) - 1);
    double ot_i = r->cost;
    P.ot += ot_i;
    P.ot_entropic += ot_i - c->ot.eps * entropy;
    P.ot_unconverged += !r->converged;

    /* pooled losses over the content rows */
    int lo = cut, hi = n - cut, tlo = cut, thi = m - cut;
    const float *S = H + so * d;
    mean_rows(S, lo, hi, d, mu);
    mean_rows(b->tgt_vecs + to * d, tlo, thi, d, mv);
    double se = 0, uv = 0, uu = 0, vv = 0;
    for (int k = 0; k < d; k++) {
      double df = mu[k] - mv[k];
      se += df * df;
      uv += mu[k] * mv[k], uu += mu[k] * mu[k], vv += mv[k] * mv[k];
    }
    double mse_i = se / d;
    double nu = sqrt(uu), nv = sqrt(vv);
    double cs = (nu > 0 && nv > 0) ? uv / (nu * nv) : 0;
    double cos_i = 1 - cs;
    P.mse += mse_i;
    P.cos += cos_i;
    double li = c->w_ot * ot_i + c->w_mse * mse_i + c->w_cos * cos_i;
    if (per_pair) per_pair[i] = li;

    if (dH) {
      double s = (double)scale / B;
      float *D = dH + so * d;
      if (c->w_ot > 0) {
        const float *G = r->grad_s;
        for (size_t k = 0; k < (size_t)n * d; k++) D[k] = (float)(s * c->w_ot * G[k]);
      }
      if (c->w_mse > 0 || (c->w_cos > 0 && nu > 0 && nv > 0)) {
        /* dL/d mean_s, spread evenly over the content rows */
        double inv = 1.0 / (hi - lo);
        for (int k = 0; k < d; k++) {
          double g = 0;
          if (c->w_mse > 0) g += c->w_mse * 2 * (mu[k] - mv[k]) / d;
          if (c->w_cos > 0 && nu > 0 && nv > 0) g -= c->w_cos * (mv[k] / (nu * nv) - cs * mu[k] / (nu * nu));
          mu[k] = g * inv * s; /* mu is not needed any more */
        }
        for (int row = lo; row < hi; row++)
          for (int k = 0; k < d; k++) D[(size_t)row * d + k] += (float)mu[k];
      }
    }
    so += (size_t)n, to += (size_t)m, po += (size_t)n * m;
  }
  free(mu);
  P.ot /= B, P.ot_entropic /= B, P.mse /= B, P.cos /= B;
  P.loss = c->w_ot * P.ot + c->w_mse * P.mse + c->w_cos * P.cos;
  if (parts) *parts = P;
  return 0;
}

/* ---------------------------------------------------------------- per-token L2 */

void distill_normalize_rows(float *g, size_t N, int d) {
  for (size_t i = 0; i < N; i++) {
    float *x = g + i * d;
    double s = 0;
    for (int k = 0; k < d; k++) s += (double)x[k] * x[k];
    double inv = s > 0 ? 1.0 / sqrt(s) : 0;
    for (int k = 0; k < d; k++) x[k] = (float)(x[k] * inv);
  }
}

void distill_project_rows(float *x, size_t N, int d, double eps) {
  for (size_t i = 0; i < N; i++) {
    float *r = x + i * d;
    double s = 0;
    for (int k = 0; k < d; k++) s += (double)r[k] * r[k];
    if (s > eps * eps) {
      double f = eps / sqrt(s);
      for (int k = 0; k < d; k++) r[k] = (float)(r[k] * f);
    }
  }
}

void distill_random_ball(float *x, size_t N, int d, double eps, uint64_t seed) {
  rng_t r;
  rng_seed(&r, seed);
  for (size_t i = 0; i < N; i++) {
    float *row = x + i * d;
    double s = 0;
    for (int k = 0; k < d; k++) {
      double z = rng_normal(&r);
      row[k] = (float)z;
      s += z * z;
    }
    /* radius eps * U^(1/d): uniform in the ball, not just on its sphere */
    double rad = eps * pow(rng_uniform(&r), 1.0 / d);
    double f = s > 0 ? rad / sqrt(s) : 0;
    for (int k = 0; k < d; k++) row[k] = (float)(row[k] * f);
  }
}

/* ---------------------------------------------------------------- trainer */

struct distill_trainer {
  bert_model *m;
  distill_cfg cfg;
  bert_acts *acts;
  adamw_state *opt;
  distill_ws *ws;
  float *dH, *dinp, *delta, *gsave;
  size_t cap_n;
  int ot_problems, ot_unconverged; /* since the last distill_compute_grads */
};

distill_trainer *distill_trainer_new(bert_model *m, const distill_cfg *c) {
  distill_trainer *t = xcalloc(1, sizeof *t);
  t->m = m;
  t->cfg = *c;
  if (!m->grads) bert_alloc_grads(m);
  t->acts = bert_acts_new(m, 1);
  t->opt = adamw_new(m);
  t->ws = distill_ws_new();
  return t;
}

void distill_trainer_free(distill_trainer *t) {
  if (!t) return;
  bert_acts_free(t->acts);
  adamw_free(t->opt);
  distill_ws_free(t->ws);
  free(t->dH);
  free(t->dinp);
  free(t->delta);
  free(t->gsave);
  free(t);
}

adamw_state *distill_trainer_adamw(distill_trainer *t) { return t->opt; }
const distill_cfg *distill_trainer_cfg(const distill_trainer *t) { return &t->cfg; }

static size_t batch_tokens(const distill_batch *b) {
  size_t N = 0;
  for (int i = 0; i < b->B; i++) N += (size_t)b->src_len[i];
  return N;
}

static void ensure_bufs(distill_trainer *t, size_t N) {
  if (N <= t->cap_n) return;
  size_t d = (size_t)t->m->cfg.hidden;
  t->cap_n = N + N / 2;
  free(t->dH);
  free(t->dinp);
  free(t->delta);
  t->dH = xmalloc(xmul(t->cap_n, d * sizeof(float)));
  t->dinp = xmalloc(xmul(t->cap_n, d * sizeof(float)));
  t->delta = xmalloc(xmul(t->cap_n, d * sizeof(float)));
}

/* Forward with delta (NULL = clean), the loss, and (when grad_scale != 0) the
 * backward of grad_scale * L, with dL/d delta into d_input if non-NULL;
 * input_only: no parameter gradient (attack ascent steps). */
static int fwd_loss_bwd(distill_trainer *t, const distill_batch *b, const float *delta, float grad_scale,
                        float *d_input, int input_only, distill_parts *parts, double *per_pair, char *err,
                        size_t errlen) {
  bert_input in = {0};
  in.B = b->B;
  in.len = b->src_len;
  in.ids = b->src_ids;
  in.delta = delta;
  if (bert_forward(t->m, t->acts, &in, -1, err, errlen) != 0) return -1;
  int d = t->m->cfg.hidden;
  bool back = grad_scale != 0;
  distill_parts own;
  if (!parts) parts = &own;
  if (distill_loss(&t->cfg.loss, b, bert_output(t->acts), d, back ? t->dH : NULL, grad_scale, parts, per_pair, t->ws,
                   err, errlen) != 0)
    return -1;
  t->ot_problems += b->B;
  t->ot_unconverged += parts->ot_unconverged;
  if (back && input_only) bert_backward_input(t->m, t->acts, t->dH, d_input);
  else if (back) bert_backward(t->m, t->acts, t->dH, d_input);
  return 0;
}

int distill_eval(distill_trainer *t, const distill_batch *b, const float *delta, distill_parts *parts,
                 double *per_pair, float *d_input, char *err, size_t errlen) {
  ensure_bufs(t, batch_tokens(b));
  return fwd_loss_bwd(t, b, delta, d_input ? 1.0f : 0.0f, d_input, 1, parts, per_pair, err, errlen);
}

/* delta <- Proj(delta + alpha u(g)) */
static void ascent(float *delta, float *g, size_t N, int d, double alpha, double eps) {
  distill_normalize_rows(g, N, d);
  for (size_t k = 0; k < N * (size_t)d; k++) delta[k] += (float)(alpha * g[k]);
  distill_project_rows(delta, N, d, eps);
}

int distill_attack(distill_trainer *t, const distill_batch *b, distill_adv kind, double eps, double alpha, int steps,
                   uint64_t seed, float *delta, char *err, size_t errlen) {
  size_t N = batch_tokens(b);
  int d = t->m->cfg.hidden;
  ensure_bufs(t, N);
  if (kind == DISTILL_ADV_FGSM) {
    if (fwd_loss_bwd(t, b, NULL, 1, t->dinp, 1, NULL, NULL, err, errlen)) return -1;
    memcpy(delta, t->dinp, N * (size_t)d * sizeof *delta);
    distill_normalize_rows(delta, N, d);
    for (size_t k = 0; k < N * (size_t)d; k++) delta[k] *= (float)eps;
    return 0;
  }
  distill_random_ball(delta, N, d, eps, seed);
  for (int s = 0; s < steps; s++) {
    if (fwd_loss_bwd(t, b, delta, 1, t->dinp, 1, NULL, NULL, err, errlen)) return -1;
    ascent(delta, t->dinp, N, d, alpha, eps);
  }
  return 0;
}

int distill_compute_grads(distill_trainer *t, const distill_batch *b, uint64_t seed, distill_step_result *r,
                          char *err, size_t errlen) {
  const distill_cfg *c = &t->cfg;
  size_t N = batch_tokens(b);
  int d = t->m->cfg.hidden;
  ensure_bufs(t, N);
  memset(r, 0, sizeof *r);
  r->tokens = (int)N;
  t->ot_problems = t->ot_unconverged = 0;
  float w = (float)c->adv_weight;
  distill_parts ap;
  bert_zero_grads(t->m);
  switch (c->adv) {
  case DISTILL_ADV_NONE:
    if (fwd_loss_bwd(t, b, NULL, 1, NULL, 0, &r->clean, NULL, err, errlen)) return -1;
    break;
  case DISTILL_ADV_FGSM:
    if (fwd_loss_bwd(t, b, NULL, 1, t->dinp, 0, &r->clean, NULL, err, errlen)) return -1;
    memcpy(t->delta, t->dinp, N * (size_t)d * sizeof(float));
    distill_normalize_rows(t->delta, N, d);
    for (size_t k = 0; k < N * (size_t)d; k++) t->delta[k] *= (float)c->adv_eps;
    if (fwd_loss_bwd(t, b, t->delta, w, NULL, 0, &ap, NULL, err, errlen)) return -1;
    r->adv = ap.loss;
    break;
  case DISTILL_ADV_PGD:
    /* the ascent steps' parameter gradients are not part of the objective */
    distill_random_ball(t->delta, N, d, c->adv_eps, seed);
    for (int s = 0; s < c->adv_steps; s++) {
      if (fwd_loss_bwd(t, b, t->delta, 1, t->dinp, 1, NULL, NULL, err, errlen)) return -1;
      ascent(t->delta, t->dinp, N, d, c->adv_alpha, c->adv_eps);
    }
    if (fwd_loss_bwd(t, b, NULL, 1, NULL, 0, &r->clean, NULL, err, errlen)) return -1;
    if (fwd_loss_bwd(t, b, t->delta, w, NULL, 0, &ap, NULL, err, errlen)) return -1;
    r->adv = ap.loss;
    break;
  case DISTILL_ADV_FREELB: {
    if (fwd_loss_bwd(t, b, NULL, 1, NULL, 0, &r->clean, NULL, err, errlen)) return -1;
    distill_random_ball(t->delta, N, d, c->adv_eps, seed);
    int K = c->adv_steps > 0 ? c->adv_steps : 1;
    for (int s = 0; s < K; s++) {
      if (fwd_loss_bwd(t, b, t->delta, w / K, t->dinp, 0, &ap, NULL, err, errlen)) return -1;
      r->adv += ap.loss / K;
      if (s + 1 < K) ascent(t->delta, t->dinp, N, d, c->adv_alpha, c->adv_eps);
    }
    break;
  }
  }
  r->loss = r->clean.loss + (c->adv != DISTILL_ADV_NONE ? c->adv_weight * r->adv : 0);
  r->ot_problems = t->ot_problems;
  r->ot_unconverged = t->ot_unconverged;
  return 0;
}

int distill_train_step(distill_trainer *t, const distill_batch *b, uint64_t seed, float lr, distill_step_result *r,
                       char *err, size_t errlen) {
  if (distill_compute_grads(t, b, seed, r, err, errlen)) return -1;
  adamw_config oc = t->cfg.opt;
  oc.lr = lr;
  r->grad_norm = bert_adamw_step(t->m, t->opt, &oc);
  if (!isfinite(r->grad_norm) || !isfinite(r->loss)) {
    snprintf(err, errlen, "the loss or the gradient is not finite (loss %g, gradient norm %g): lower --lr?", r->loss,
             r->grad_norm);
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------- schedule */

double distill_lr_at(distill_sched s, double lr, uint64_t step, uint64_t warmup, uint64_t total) {
  if (warmup > 0 && step < warmup) return lr * (double)(step + 1) / (double)(warmup + 1);
  if (s == DISTILL_SCHED_CONSTANT || total <= warmup) return lr;
  double p = (double)(step - warmup) / (double)(total - warmup);
  if (p > 1) p = 1;
  if (s == DISTILL_SCHED_LINEAR) return lr * (1 - p);
  return lr * 0.5 * (1 + cos(3.141592653589793 * p));
}

