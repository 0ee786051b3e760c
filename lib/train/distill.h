/* distill.h: OT distillation of a student encoder against a frozen teacher's
 * token vectors (OPTICAL, Huang, Yu and Allan, WSDM 2023), with adversarial
 * training in the student's input-embedding space.
 *
 * Losses, for a batch of B pairs (student tokens s_1..s_n of language X,
 * teacher tokens t_1..t_m of the English side; by default [CLS] and [SEP],
 * the first and last token of each side, take no part):
 *   ot   = 1/B sum_b <P_b, C_b>,  C_ij = 1 - cos(s_i, t_j), P_b the entropic
 *          Sinkhorn plan (ot.h) with marginals uniform or IDF-weighted, held
 *          fixed in the gradient (envelope theorem): dot/ds_i = sum_j P_ij dC_ij/ds_i.
 *          That is the exact gradient of the entropic value <P,C> - eps H(P)
 *          at the optimum, which is what the finite-difference test checks.
 *   mse  = 1/B sum_b (1/d) |mean_i s_i - mean_j t_j|^2      (Reimers & Gurevych 2020)
 *   cos  = 1/B sum_b (1 - cos(mean_i s_i, mean_j t_j))
 *   L(delta) = w_ot ot + w_mse mse + w_cos cos, the student run on its input
 *   word embeddings plus delta (one d-vector per token).
 *
 * Adversarial training, per-token L2 ball of radius eps, g_i = dL/d delta_i,
 * u(g)_i = g_i / |g_i| (0 where g_i = 0), Proj_i(x) = x_i * min(1, eps/|x_i|):
 *   fgsm:   delta = eps u(g(0));                       adv = L(delta)
 *   pgd:    delta_0 uniform in the ball, delta_k = Proj(delta_{k-1} + alpha u(g(delta_{k-1}))),
 *           k = 1..K;                                  adv = L(delta_K)
 *   freelb: delta_0 uniform in the ball, K ascent steps as pgd, each step's
 *           parameter gradient accumulated:             adv = 1/K sum_{k=0}^{K-1} L(delta_k)
 *   total loss = L(0) + adv_weight * adv; delta is treated as a constant in the
 *   parameter gradient (as in every adversarial-training method above).
 */
#ifndef OTC_DISTILL_H
#define OTC_DISTILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/bert.h"
#include "ot/ot.h"

typedef enum { DISTILL_ADV_NONE = 0, DISTILL_ADV_FGSM, DISTILL_ADV_PGD, DISTILL_ADV_FREELB } distill_adv;

typedef struct {
  double w_ot, w_mse, w_cos; /* loss weights */
  ot_options ot;             /* Sinkhorn options (eps, tol, max_iter; cost must be cosine) */
  int keep_special;          /* 1: [CLS]/[SEP] take part in the losses */
} distill_loss_cfg;

/* Defaults: ot = 1, others 0; ot eps 0.05, tol 1e-6, max_iter 1000, Newton
 * steps after 300 Sinkhorn iterations (DISTILL_OT_NEWTON; ot.h). */
#define DISTILL_OT_NEWTON 300
void distill_loss_defaults(distill_loss_cfg *c);
/* Parse "ot=1,cos=0.5" (a bare name means weight 1) into the weights;
 * -1 on a syntax error or unknown loss. */
int distill_parse_losses(const char *s, distill_loss_cfg *c);

/* One batch: B pairs, src ids packed back to back, teacher vectors packed. */
typedef struct {
  int B;
  const int *src_len;        /* [B] n_b (>= 3 without keep_special) */
  const uint32_t *src_ids;   /* [sum n_b] */
  const int *tgt_len;        /* [B] m_b */
  const float *tgt_vecs;     /* [sum m_b][d] */
  const float *src_w;        /* NULL or [sum n_b]: marginal weights (IDF) */
  const float *tgt_w;        /* NULL or [sum m_b] */
} distill_batch;

typedef struct {
  double loss;         /* w-weighted sum (the clean objective L(0), or L(delta) for distill_eval) */
  double ot, mse, cos; /* batch means of each part (ot is computed even when w_ot = 0) */
  double ot_entropic;  /* batch mean of <P,C> - eps H(P) */
  int ot_unconverged;  /* pairs whose Sinkhorn hit max_iter */
} distill_parts;

typedef struct distill_ws distill_ws;
distill_ws *distill_ws_new(void);
void distill_ws_free(distill_ws *ws);

/* Loss of a batch given the student's outputs H [N][d] (packed as the batch).
 * dH: NULL, or [N][d] overwritten with scale * dL/dH. per_pair: NULL or [B],
 * each pair's weighted loss. Returns 0, or -1 with "pair b: message". */
int distill_loss(const distill_loss_cfg *c, const distill_batch *b, const float *H, int d, float *dH, float scale,
                 distill_parts *parts, double *per_pair, distill_ws *ws, char *err, size_t errlen);

typedef struct {
  distill_loss_cfg loss;
  distill_adv adv;
  double adv_eps, adv_alpha, adv_weight;
  int adv_steps;
  adamw_config opt; /* lr is set per step */
} distill_cfg;

void distill_cfg_defaults(distill_cfg *c);

typedef struct distill_trainer distill_trainer;

/* The trainer uses the model (grads allocated here), owns the activations,
 * the AdamW state and the buffers. */
distill_trainer *distill_trainer_new(bert_model *m, const distill_cfg *c);
void distill_trainer_free(distill_trainer *t);
adamw_state *distill_trainer_adamw(distill_trainer *t);
const distill_cfg *distill_trainer_cfg(const distill_trainer *t);

typedef struct {
  distill_parts clean; /* L(0) and its parts */
  double adv;          /* the adversarial term (0 without --adv) */
  double loss;         /* clean.loss + adv_weight * adv */
  double grad_norm;    /* before clipping (0 from distill_compute_grads) */
  int tokens;          /* student tokens of the batch */
  int ot_problems;     /* Sinkhorn problems solved in the step (every forward pass) */
  int ot_unconverged;  /* of those, stopped at max_iter */
} distill_step_result;

/* Zero the gradients and accumulate those of the total loss into m->grads.
 * seed drives the random starts of pgd/freelb (derive it from the step, so
 * a resumed run draws the same). */
int distill_compute_grads(distill_trainer *t, const distill_batch *b, uint64_t seed, distill_step_result *r,
                          char *err, size_t errlen);
/* distill_compute_grads, then one AdamW step at learning rate lr. */
int distill_train_step(distill_trainer *t, const distill_batch *b, uint64_t seed, float lr, distill_step_result *r,
                       char *err, size_t errlen);

/* L(delta) of a batch (delta NULL = clean). per_pair as distill_loss. When
 * d_input is non-NULL it receives dL/d delta [N][d] (an input-only backward:
 * the parameter gradients are not touched). */
int distill_eval(distill_trainer *t, const distill_batch *b, const float *delta, distill_parts *parts,
                 double *per_pair, float *d_input, char *err, size_t errlen);

/* Embedding-space attack on the batch (no parameter update): fgsm or pgd as
 * in the training objective (pgd from a random start drawn with seed),
 * returning delta [N][d]. */
int distill_attack(distill_trainer *t, const distill_batch *b, distill_adv kind, double eps, double alpha, int steps,
                   uint64_t seed, float *delta, char *err, size_t errlen);

/* Per-token L2 helpers (exposed for tests). */
void distill_normalize_rows(float *g, size_t N, int d);              /* g_i <- g_i/|g_i| */
void distill_project_rows(float *x, size_t N, int d, double eps);     /* |x_i| <= eps */
void distill_random_ball(float *x, size_t N, int d, double eps, uint64_t seed); /* uniform in the ball */

/* Learning-rate schedule: linear warmup over `warmup` steps from 0, then
 * constant, linear decay to 0 at `total`, or cosine decay to 0 at `total`.
 * step counts from 0 (the first update uses step 0). */
typedef enum { DISTILL_SCHED_CONSTANT = 0, DISTILL_SCHED_LINEAR, DISTILL_SCHED_COSINE } distill_sched;
double distill_lr_at(distill_sched s, double lr, uint64_t step, uint64_t warmup, uint64_t total);

#endif
