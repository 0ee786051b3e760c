/* OT core: POT agreement on the shared fixture, limits, envelope gradient,
 * batch/thread determinism, bad input. */
#include <float.h>
#include <string.h>

#include "check.h"
#include "base/json.h"
#include "ot/align.h"
#include "ot/ot.h"
#include "base/rng.h"
#include "base/util.h"
#include "cli/cli.h"

/* ---- fixture reading ---- */

typedef struct {
  char id[64];
  int n, m, d;
  float *S, *T;
} ot_case;

static float *json_matrix(const json_value *v, int *rows, int *cols) {
  if (!v || v->type != JSON_ARRAY || v->n == 0 || v->items[0]->type != JSON_ARRAY) return NULL;
  *rows = (int)v->n, *cols = (int)v->items[0]->n;
  float *x = xmalloc(sizeof(float) * v->n * (*cols));
  for (size_t i = 0; i < v->n; i++) {
    if (v->items[i]->n != (size_t)*cols) return free(x), NULL;
    for (int k = 0; k < *cols; k++)
      if (json_to_f32(v->items[i]->items[k], &x[i * *cols + k]) != 0) return free(x), NULL;
  }
  return x;
}

/* Read a JSON Lines file and call fn on each parsed line. */
static int each_line(const char *path, void (*fn)(const json_value *, void *), void *ctx) {
  size_t len;
  char *text = read_file(path, &len);
  if (!text) return -1;
  int lines = 0;
  for (char *p = text; p < text + len;) {
    char *e = memchr(p, '\n', (size_t)(text + len - p));
    if (!e) e = text + len;
    if (e > p) {
      char err[256];
      json_doc *d = json_parse(p, (size_t)(e - p), err, sizeof err);
      if (!d) {
        printf("# %s line %d: %s\n", path, lines + 1, err);
        free(text);
        return -1;
      }
      fn(json_root(d), ctx);
      json_free(d);
      lines++;
    }
    p = e + 1;
  }
  free(text);
  return lines;
}

static ot_case cases[64];
static int ncases;

static void read_input(const json_value *v, void *ctx) {
  (void)ctx;
  ot_case *c = &cases[ncases++];
  snprintf(c->id, sizeof c->id, "%s", json_get(v, "id")->text);
  int d2;
  c->S = json_matrix(json_get(v, "src_vecs"), &c->n, &c->d);
  c->T = json_matrix(json_get(v, "tgt_vecs"), &c->m, &d2);
  if (!c->S || !c->T || d2 != c->d) {
    printf("# bad fixture input %s\n", c->id);
    ncases--;
  }
}

static const ot_case *find_case(const char *id) {
  for (int i = 0; i < ncases; i++)
    if (strcmp(cases[i].id, id) == 0) return &cases[i];
  return NULL;
}

static ot_problem problem_of(const ot_case *c) {
  return (ot_problem){.S = c->S, .T = c->T, .n = c->n, .m = c->m, .ds = c->d, .dt = c->d};
}

/* Independent cost (float64, as the fixture generator): 1 - normalize(S) normalize(T)^T. */
static double cosine_cost(const float *S, const float *T, int i, int j, int d) {
  double ss = 0, tt = 0, st = 0;
  for (int k = 0; k < d; k++) ss += (double)S[i * d + k] * S[i * d + k], tt += (double)T[j * d + k] * T[j * d + k];
  ss = sqrt(ss), tt = sqrt(tt);
  for (int k = 0; k < d; k++) st += (S[i * d + k] / ss) * (T[j * d + k] / tt);
  return 1.0 - st;
}

typedef struct {
  int lines, converged_ok, skipped;
  double worst_plan, worst_cost;
  double emd_by_id_eps[64][3];
} fixture_stats;

static void check_expected(const json_value *v, void *ctx) {
  fixture_stats *fs = ctx;
  const char *id = json_get(v, "id")->text;
  const ot_case *c = find_case(id);
  if (!c) {
    CHECK(0, "%s: input case present", id);
    return;
  }
  double eps = json_get(v, "eps")->num, cost_ref = json_get(v, "cost")->num;
  int converged_ref = json_get(v, "converged")->type == JSON_TRUE;
  int niter_ref = (int)json_get(v, "niter")->num;
  const json_value *lu = json_get(v, "log_u"), *lv = json_get(v, "log_v");
  /* POT's rule: float64, every 10th iteration, L2 column error < 1e-10, at most 100000 */
  ot_options o;
  ot_options_default(&o);
  o.eps = eps, o.tol = 1e-10, o.max_iter = 100000, o.check_every = 10, o.err_norm = OT_NORM_L2_COL;
  ot_problem p = problem_of(c);
  float *plan = xmalloc(sizeof(float) * c->n * c->m);
  ot_result r = {.plan = plan};
  ot_solve(&p, &o, &r, NULL, 0);
  /* reference plan from the stored potentials: P_ij = exp(log_u_i + log_v_j - C_ij/eps) */
  double maxref = 0, maxdev = 0;
  for (int i = 0; i < c->n; i++)
    for (int j = 0; j < c->m; j++) {
      double pr = exp(lu->items[i]->num + lv->items[j]->num - cosine_cost(c->S, c->T, i, j, c->d) / eps);
      maxref = fmax(maxref, pr);
      maxdev = fmax(maxdev, fabs(pr - plan[i * c->m + j]));
    }
  double plan_rel = maxdev / maxref, cost_dev = fabs(r.cost - cost_ref);
  fs->worst_plan = fmax(fs->worst_plan, plan_rel);
  fs->worst_cost = fmax(fs->worst_cost, cost_dev);
  fs->lines++;
  CHECK(r.status == OT_OK && plan_rel <= 1e-5 && cost_dev <= 1e-6 && r.converged == converged_ref &&
            r.iters == niter_ref + 1,
        "fixture %s eps %g: plan %.1e, cost %.1e, iters %d (POT %d), converged %d", id, eps, plan_rel, cost_dev,
        r.iters, niter_ref + 1, r.converged);
  free(plan);
}

static void fixture_tests(void) {
  int n = each_line(check_shared("fixtures/ot/inputs.jsonl"), read_input, NULL);
  CHECK(n == 30 && ncases == 30, "fixture inputs read (%d lines, %d cases)", n, ncases);
  fixture_stats fs = {0};
  n = each_line(check_shared("fixtures/ot/expected.jsonl"), check_expected, &fs);
  CHECK(n > 80 && fs.lines == n, "fixture expected lines checked (%d)", n);
  printf("# worst plan deviation %.2e of max entry, worst cost deviation %.2e\n", fs.worst_plan, fs.worst_cost);
}

/* EMD of a case is in expected.jsonl; read it for the limit test. */
typedef struct {
  const char *id;
  double emd;
} emd_lookup;
static void find_emd(const json_value *v, void *ctx) {
  emd_lookup *e = ctx;
  if (strcmp(json_get(v, "id")->text, e->id) == 0) e->emd = json_get(v, "emd")->num;
}

static void limit_eps_to_zero(const char *id) {
  const ot_case *c = find_case(id);
  if (!c) {
    CHECK(0, "%s present", id);
    return;
  }
  emd_lookup e = {id, NAN};
  each_line(check_shared("fixtures/ot/expected.jsonl"), find_emd, &e);
  ot_problem p = problem_of(c);
  const double epss[] = {0.1, 0.03, 0.01, 0.003, 0.001};
  double prev = INFINITY, last = NAN;
  int monotone = 1, converged = 1;
  for (int k = 0; k < 5; k++) {
    ot_options o;
    ot_options_default(&o);
    o.eps = epss[k], o.tol = 1e-9, o.max_iter = 200000;
    ot_result r = {0};
    ot_solve(&p, &o, &r, NULL, 0);
    converged &= r.status == OT_OK && r.converged;
    monotone &= r.cost <= prev + 1e-12 && r.cost >= e.emd - 1e-12;
    prev = r.cost, last = r.cost;
  }
  /* <P_eps, C> - emd <= eps log(nm) (entropy gap bound) */
  double bound = 0.001 * log((double)c->n * c->m);
  CHECK(converged && monotone && last - e.emd <= bound,
        "eps -> 0 (%s): cost decreases to EMD %.10f: at eps 1e-3 gap %.2e <= %.2e", id, e.emd, last - e.emd, bound);
}

static void limit_constant_cost(void) {
  /* every source and target vector parallel: C = 0 everywhere */
  int n = 7, m = 5, d = 4;
  float S[7 * 4], T[5 * 4];
  for (int i = 0; i < n; i++)
    for (int k = 0; k < d; k++) S[i * d + k] = (float)(k + 1) * (float)(i + 1);
  for (int j = 0; j < m; j++)
    for (int k = 0; k < d; k++) T[j * d + k] = (float)(k + 1) * 0.5f * (float)(j + 1);
  ot_problem p = {.S = S, .T = T, .n = n, .m = m, .ds = d, .dt = d};
  float plan[35];
  ot_result r = {.plan = plan};
  ot_options o;
  ot_options_default(&o);
  ot_solve(&p, &o, &r, NULL, 0);
  double dev = 0;
  for (int i = 0; i < n * m; i++) dev = fmax(dev, fabs(plan[i] - 1.0 / (n * m)));
  CHECK(r.status == OT_OK && r.converged && dev < 1e-7 && fabs(r.cost) < 1e-6,
        "constant cost gives the uniform plan (dev %.1e, iters %d)", dev, r.iters);
}

static void limit_one_row(void) {
  int m = 9, d = 8;
  float S[8], T[9 * 8], b[9];
  rng_t g;
  rng_seed(&g, 11);
  for (int k = 0; k < d; k++) S[k] = (float)rng_normal(&g);
  double bs = 0;
  for (int j = 0; j < m; j++) {
    for (int k = 0; k < d; k++) T[j * d + k] = (float)rng_normal(&g);
    b[j] = (float)(j + 1), bs += j + 1;
  }
  float plan[9];
  ot_problem p = {.S = S, .T = T, .n = 1, .m = m, .ds = d, .dt = d};
  ot_options o;
  ot_options_default(&o);
  o.eps = 0.01;
  ot_result r = {.plan = plan};
  ot_solve(&p, &o, &r, NULL, 0);
  double dev = 0;
  for (int j = 0; j < m; j++) dev = fmax(dev, fabs(plan[j] - 1.0 / m));
  CHECK(r.status == OT_OK && r.converged && dev < 1e-7, "1 x m: plan row is b (uniform, dev %.1e)", dev);
  p.b = b;
  ot_solve(&p, &o, &r, NULL, 0);
  dev = 0;
  for (int j = 0; j < m; j++) dev = fmax(dev, fabs(plan[j] - b[j] / bs));
  CHECK(r.status == OT_OK && r.converged && dev < 1e-7, "1 x m: plan row is b (weighted, dev %.1e)", dev);
}

/* random problem helpers */
static float *rand_vecs(rng_t *g, int rows, int d) {
  float *x = xmalloc(sizeof(float) * rows * d);
  for (int i = 0; i < rows * d; i++) x[i] = (float)rng_normal(g);
  return x;
}

static void masks_and_weights(void) {
  rng_t g;
  rng_seed(&g, 3);
  int n = 6, m = 8, d = 16;
  float *S = rand_vecs(&g, n, d), *T = rand_vecs(&g, m, d);
  unsigned char ms[6] = {0, 1, 1, 1, 1, 0}, mt[8] = {0, 1, 1, 1, 1, 1, 1, 0};
  float plan[48], plan2[48];
  ot_problem p = {.S = S, .T = T, .n = n, .m = m, .ds = d, .dt = d, .mask_s = ms, .mask_t = mt};
  ot_options o;
  ot_options_default(&o);
  ot_result r = {.plan = plan};
  ot_solve(&p, &o, &r, NULL, 0);
  /* the same problem with the masked tokens removed */
  ot_problem q = {.S = S + d, .T = T + d, .n = 4, .m = 6, .ds = d, .dt = d};
  ot_result r2 = {.plan = plan2};
  ot_solve(&q, &o, &r2, NULL, 0);
  int same = r.status == OT_OK && r.cost == r2.cost && r.iters == r2.iters;
  double outside = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < m; j++) {
      if (ms[i] && mt[j]) same &= plan[i * m + j] == plan2[(i - 1) * 6 + (j - 1)];
      else outside = fmax(outside, fabs(plan[i * m + j]));
    }
  CHECK(same && outside == 0, "masked tokens: zero rows/columns, rest identical to the reduced problem");

  float a[6] = {1, 2, 3, 0, 1, 1}, b[8] = {3, 1, 1, 1, 1, 1, 1, 1};
  ot_problem pw = {.S = S, .T = T, .n = n, .m = m, .ds = d, .dt = d, .a = a, .b = b};
  o.tol = 1e-9;
  ot_solve(&pw, &o, &r, NULL, 0);
  double err = 0;
  for (int i = 0; i < n; i++) {
    double s = 0;
    for (int j = 0; j < m; j++) s += plan[i * m + j];
    err += fabs(s - a[i] / 8.0);
  }
  for (int j = 0; j < m; j++) {
    double s = 0;
    for (int i = 0; i < n; i++) s += plan[i * m + j];
    err += fabs(s - b[j] / 10.0);
  }
  CHECK(r.status == OT_OK && r.converged && err < 1e-6 && r.err < 1e-9,
        "weights (one zero): marginals are the normalised weights (L1 %.1e, reported %.1e)", err, r.err);
  free(S), free(T);
}

/* <P, C(S, T)> with P fixed, in double */
static double fixed_plan_cost(const float *plan, const float *S, const float *T, int n, int m, int d,
                              ot_cost cost) {
  double s = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < m; j++) {
      double c;
      if (cost == OT_COST_COSINE) c = cosine_cost(S, T, i, j, d);
      else {
        c = 0;
        for (int k = 0; k < d; k++) c += ((double)S[i * d + k] - T[j * d + k]) * ((double)S[i * d + k] - T[j * d + k]);
      }
      s += plan[i * m + j] * c;
    }
  return s;
}

static void envelope_gradient(ot_cost cost, int n, int m, int d) {
  rng_t g;
  rng_seed(&g, 17 + cost);
  float *S = rand_vecs(&g, n, d), *T = rand_vecs(&g, m, d);
  float *plan = xmalloc(sizeof(float) * n * m), *gs = xmalloc(sizeof(float) * n * d),
        *gt = xmalloc(sizeof(float) * m * d);
  ot_problem p = {.S = S, .T = T, .n = n, .m = m, .ds = d, .dt = d};
  ot_options o;
  ot_options_default(&o);
  o.cost = cost;
  o.eps = cost == OT_COST_COSINE ? 0.05 : 1.0;
  ot_result r = {.plan = plan, .grad_s = gs, .grad_t = gt};
  ot_solve(&p, &o, &r, NULL, 0);
  /* central differences in float inputs (step a power of two: exact perturbation) */
  double worst = 0, scale = 0;
  const float h = 1.0f / 1024;
  for (int side = 0; side < 2; side++) {
    float *X = side ? T : S, *G = side ? gt : gs;
    int rows = side ? m : n;
    for (int t = 0; t < 6; t++) {
      int i = (int)(rng_below(&g, (uint64_t)rows)), k = (int)(rng_below(&g, (uint64_t)d));
      float x0 = X[i * d + k];
      X[i * d + k] = x0 + h;
      double fp = fixed_plan_cost(plan, S, T, n, m, d, cost);
      X[i * d + k] = x0 - h;
      double fm = fixed_plan_cost(plan, S, T, n, m, d, cost);
      X[i * d + k] = x0;
      double fd = (fp - fm) / (2.0 * h);
      worst = fmax(worst, fabs(fd - G[i * d + k]));
      scale = fmax(scale, fabs(fd));
    }
  }
  CHECK(r.status == OT_OK && worst <= 1e-4 * fmax(scale, 1e-3),
        "envelope gradient (%s, %dx%d d%d) matches finite differences with P fixed: max |diff| %.1e (scale %.1e)",
        cost == OT_COST_COSINE ? "cosine" : "sqeuclid", n, m, d, worst, scale);
  free(S), free(T), free(plan), free(gs), free(gt);
}

static void batch_determinism(void) {
  rng_t g;
  rng_seed(&g, 5);
  enum { B = 23 };
  ot_problem p[B];
  float *vecs[2 * B];
  for (int b = 0; b < B; b++) {
    int n = 1 + (int)rng_below(&g, 40), m = 1 + (int)rng_below(&g, 40), d = 24;
    if (b == 7) n = 110, m = 100, d = 128; /* above OT_GEMM_MIN: the dgemm path */
    vecs[2 * b] = rand_vecs(&g, n, d), vecs[2 * b + 1] = rand_vecs(&g, m, d);
    p[b] = (ot_problem){.S = vecs[2 * b], .T = vecs[2 * b + 1], .n = n, .m = m, .ds = d, .dt = d};
  }
  ot_options o;
  ot_options_default(&o);
  ot_result single[B], batch1[B], batch2[B];
  int same_single = 1, same_threads = 1;
  float *bufs[3][B][3];
  for (int v = 0; v < 3; v++)
    for (int b = 0; b < B; b++) {
      bufs[v][b][0] = xcalloc((size_t)p[b].n * p[b].m, sizeof(float));
      bufs[v][b][1] = xcalloc((size_t)p[b].n * p[b].ds, sizeof(float));
      bufs[v][b][2] = xcalloc((size_t)p[b].m * p[b].ds, sizeof(float));
      ot_result *r = v == 0 ? &single[b] : v == 1 ? &batch1[b] : &batch2[b];
      *r = (ot_result){.plan = bufs[v][b][0], .grad_s = bufs[v][b][1], .grad_t = bufs[v][b][2]};
    }
  for (int b = 0; b < B; b++) ot_solve(&p[b], &o, &single[b], NULL, 0);
  o.threads = 1;
  size_t ws = ot_batch_workspace_size(p, B, &o);
  void *work = xmalloc(ws);
  size_t failed1 = ot_solve_batch(p, batch1, B, &o, work, ws);
  free(work);
  o.threads = 2;
  size_t failed2 = ot_solve_batch(p, batch2, B, &o, NULL, 0);
  for (int b = 0; b < B; b++) {
    size_t np = (size_t)p[b].n * p[b].m, ns = (size_t)p[b].n * p[b].ds, nt = (size_t)p[b].m * p[b].ds;
    for (int v = 1; v < 3; v++) {
      ot_result *x = v == 1 ? &batch1[b] : &batch2[b];
      int same = x->cost == single[b].cost && x->err == single[b].err && x->iters == single[b].iters &&
                 memcmp(bufs[v][b][0], bufs[0][b][0], np * 4) == 0 &&
                 memcmp(bufs[v][b][1], bufs[0][b][1], ns * 4) == 0 &&
                 memcmp(bufs[v][b][2], bufs[0][b][2], nt * 4) == 0;
      if (v == 1) same_single &= same;
      else same_threads &= same;
    }
  }
  CHECK(failed1 == 0 && same_single, "batch (1 thread, caller workspace) is bit-identical to single solves");
  CHECK(failed2 == 0 && same_threads, "batch on 2 threads is bit-identical to 1 thread and single solves");
  for (int v = 0; v < 3; v++)
    for (int b = 0; b < B; b++)
      for (int k = 0; k < 3; k++) free(bufs[v][b][k]);
  for (int b = 0; b < 2 * B; b++) free(vecs[b]);
}

static void small_eps_and_scaling(void) {
  const ot_case *c = find_case("c14_realistic_32x27_d32");
  if (!c) return;
  ot_problem p = problem_of(c);
  ot_options o;
  ot_options_default(&o);
  o.eps = 1e-3, o.max_iter = 1000000, o.tol = 1e-6;
  ot_result r = {0}, r2 = {0};
  ot_solve(&p, &o, &r, NULL, 0);
  o.eps_start = 0.1;
  ot_solve(&p, &o, &r2, NULL, 0);
  CHECK(r.status == OT_OK && r.converged && isfinite(r.cost) && r2.status == OT_OK && r2.converged &&
            fabs(r.cost - r2.cost) < 1e-5,
        "eps 1e-3 is stable: cost %.8f (%d iterations); eps-scaling from 0.1: %.8f (%d iterations)", r.cost,
        r.iters, r2.cost, r2.iters);
  o.eps = 1e-4, o.eps_start = 0;
  ot_solve(&p, &o, &r, NULL, 0);
  CHECK(r.status == OT_OK && isfinite(r.cost) && isfinite(r.err), "eps 1e-4: finite (err %.1e after %d)", r.err,
        r.iters);
}

/* A sentence pair of the kind training meets (one student token equals a
 * teacher token, every other cost about 1): plain Sinkhorn at eps 0.05 needs
 * ~45,000 iterations (seed 25); Newton steps after 100 converge in a few. */
static void newton_steps(void) {
  int n = 7, m = 7, d = 128;
  float *S = xmalloc(sizeof(float) * n * d), *T = xmalloc(sizeof(float) * m * d);
  rng_t r;
  rng_seed(&r, 25);
  for (int i = 0; i < n * d; i++) S[i] = (float)rng_normal(&r);
  for (int j = 0; j < m; j++)
    for (int k = 0; k < d; k++) T[j * d + k] = j == 0 ? S[k] : (float)rng_normal(&r);
  ot_problem p = {.S = S, .T = T, .n = n, .m = m, .ds = d, .dt = d};
  float P1[49], P2[49], P3[49];
  ot_options o;
  ot_options_default(&o);
  ot_result plain = {.plan = P1}, capped = {.plan = P3}, nw = {.plan = P2};
  o.max_iter = 1000;
  ot_solve(&p, &o, &capped, NULL, 0);
  o.max_iter = 1000000, o.tol = 1e-9;
  ot_solve(&p, &o, &plain, NULL, 0);
  ot_options_default(&o);
  o.newton = 100;
  size_t ws = ot_workspace_size(n, m, d, &o);
  void *work = xmalloc(ws);
  ot_solve(&p, &o, &nw, work, ws);
  double dp = 0;
  for (int k = 0; k < n * m; k++) dp = fmax(dp, fabs(P1[k] - P2[k]));
  CHECK(!capped.converged && capped.iters == 1000 && plain.converged && plain.iters > 10000,
        "plain Sinkhorn: not converged after 1000 iterations (err %.1e); %d iterations to 1e-9", capped.err,
        plain.iters);
  CHECK(nw.status == OT_OK && nw.converged && nw.iters > 100 && nw.iters <= 110 && nw.err < 1e-6,
        "Newton after 100 iterations: converged at %d (err %.1e)", nw.iters, nw.err);
  CHECK(fabs(nw.cost - plain.cost) < 1e-6 && dp < 1e-6, "the same optimum: cost %.9f vs %.9f, plan %.1e", nw.cost,
        plain.cost, dp);
  ot_result small = {0};
  CHECK(ot_solve(&p, &o, &small, work, ot_workspace_size(n, m, d, NULL)) == OT_ERR_WORKSPACE,
        "Newton needs the larger workspace of ot_workspace_size(.., o)");
  /* problems that converge within N iterations are untouched by the option */
  const ot_case *c = find_case("c14_realistic_32x27_d32");
  if (c) {
    ot_problem q = problem_of(c);
    float A[32 * 27], B[32 * 27];
    ot_result ra = {.plan = A}, rb = {.plan = B};
    ot_options_default(&o);
    ot_solve(&q, &o, &ra, NULL, 0);
    o.newton = ra.iters;
    ot_solve(&q, &o, &rb, NULL, 0);
    CHECK(ra.converged && ra.iters == rb.iters && ra.cost == rb.cost && !memcmp(A, B, sizeof A),
          "converged within N = %d iterations: bit-identical with and without Newton", ra.iters);
  }
  /* both Schur complements (on the smaller side): 7 x 9 and 9 x 7, Newton from iteration 2 */
  for (int t = 0; t < 2; t++) {
    int nn = t ? 9 : 7, mm = t ? 7 : 9;
    float *X = xmalloc(sizeof(float) * nn * d), *Y = xmalloc(sizeof(float) * mm * d), Q1[63], Q2[63];
    for (int i = 0; i < nn * d; i++) X[i] = (float)rng_normal(&r);
    for (int i = 0; i < mm * d; i++) Y[i] = i < d ? X[i] : (float)rng_normal(&r);
    ot_problem q = {.S = X, .T = Y, .n = nn, .m = mm, .ds = d, .dt = d};
    ot_result ra = {.plan = Q1}, rb = {.plan = Q2};
    ot_options_default(&o);
    o.max_iter = 1000000, o.tol = 1e-10;
    ot_solve(&q, &o, &ra, NULL, 0);
    ot_options_default(&o);
    o.newton = 2, o.tol = 1e-9;
    ot_solve(&q, &o, &rb, NULL, 0);
    double dq = 0;
    for (int k = 0; k < nn * mm; k++) dq = fmax(dq, fabs(Q1[k] - Q2[k]));
    CHECK(ra.converged && rb.converged && rb.iters < 20 && dq < 1e-8, "%d x %d: Newton from iteration 2 converges "
          "at %d (plain: %d), plan %.1e", nn, mm, rb.iters, ra.iters, dq);
    free(X), free(Y);
  }
  /* a bad option value */
  ot_options_default(&o);
  o.newton = -1;
  CHECK(ot_solve(&p, &o, &small, NULL, 0) == OT_ERR_OPTIONS, "newton < 0 rejected");
  free(work), free(S), free(T);
}

static void hard_alignments(void) {
  /* rows: 0 -> col 2; 1 -> cols 0/1 split 50/50 (tie: smallest j); 2 masked; 3 -> col 1 70%, col 2 30% */
  float P[4 * 3] = {0.1f, 0.1f, 0.8f, 0.5f, 0.5f, 0.0f, 0.9f, 0.0f, 0.1f, 0.0f, 0.7f, 0.3f};
  unsigned char ms[4] = {1, 1, 0, 1}, mt[3] = {1, 1, 1};
  uint32_t out[24];
  size_t k = ot_hard_alignment(P, 4, 3, ms, mt, 0, out);
  CHECK(k == 3 && out[0] == 0 && out[1] == 2 && out[2] == 1 && out[3] == 0 && out[4] == 3 && out[5] == 1,
        "argmax per source row, ties to the smallest j, masked rows skipped");
  k = ot_hard_alignment(P, 4, 3, ms, mt, 0.25, out);
  CHECK(k == 5 && out[2] == 1 && out[3] == 0 && out[4] == 1 && out[5] == 1 && out[8] == 3 && out[9] == 2,
        "threshold 0.25: many-to-many by share of the row's mass (%zu pairs)", k);
  mt[2] = 0;
  k = ot_hard_alignment(P, 4, 3, ms, mt, 0, out);
  CHECK(k == 3 && out[1] == 0 && out[5] == 1, "a masked target column is never chosen");
  float Z[3] = {0, 0, 0};
  unsigned char one[1] = {1}, three[3] = {1, 1, 1};
  CHECK(ot_hard_alignment(Z, 1, 3, one, three, 0, out) == 0, "an all-zero row aligns nothing");
}

static void bad_input(void) {
  float S[6] = {1, 0, 0, 0, 1, 0}, T[6] = {1, 1, 0, 0, 1, 1};
  ot_options o;
  ot_options_default(&o);
  ot_result r = {0};
  ot_problem p = {.S = S, .T = T, .n = 2, .m = 2, .ds = 3, .dt = 3};
  CHECK(ot_solve(&p, &o, &r, NULL, 0) == OT_OK, "good input solves");
  p.dt = 2, p.m = 3;
  CHECK(ot_solve(&p, &o, &r, NULL, 0) == OT_ERR_DIM, "different dims: %s", ot_strerror(r.status));
  p = (ot_problem){.S = S, .T = T, .n = 0, .m = 2, .ds = 3, .dt = 3};
  CHECK(ot_solve(&p, &o, &r, NULL, 0) == OT_ERR_EMPTY, "empty source set: %s", ot_strerror(r.status));
  p.n = 2, p.m = 0;
  CHECK(ot_solve(&p, &o, &r, NULL, 0) == OT_ERR_EMPTY, "empty target set");
  unsigned char none[2] = {0, 0};
  p.m = 2, p.mask_t = none;
  CHECK(ot_solve(&p, &o, &r, NULL, 0) == OT_ERR_EMPTY && r.bad_side == 1, "all target tokens masked out");
  p.mask_t = NULL;
  S[4] = NAN;
  CHECK(ot_solve(&p, &o, &r, NULL, 0) == OT_ERR_NONFINITE && r.bad_side == 0 && r.bad_index == 1,
        "NaN in source token 1 is reported with its place");
  S[4] = 1, T[2] = INFINITY;
  CHECK(ot_solve(&p, &o, &r, NULL, 0) == OT_ERR_NONFINITE && r.bad_side == 1 && r.bad_index == 0,
        "Inf in target token 0 is reported with its place");
  T[2] = 0;
  o.eps = 0;
  CHECK(ot_solve(&p, &o, &r, NULL, 0) == OT_ERR_OPTIONS, "eps = 0 rejected");
  o.eps = -1;
  CHECK(ot_solve(&p, &o, &r, NULL, 0) == OT_ERR_OPTIONS, "eps < 0 rejected");
  o.eps = NAN;
  CHECK(ot_solve(&p, &o, &r, NULL, 0) == OT_ERR_OPTIONS, "eps NaN rejected");
  ot_options_default(&o);
  o.max_iter = 0;
  CHECK(ot_solve(&p, &o, &r, NULL, 0) == OT_ERR_OPTIONS, "max_iter 0 rejected");
  ot_options_default(&o);
  float Z[6] = {1, 0, 0, 0, 0, 0};
  p.S = Z;
  CHECK(ot_solve(&p, &o, &r, NULL, 0) == OT_ERR_ZERO_NORM && r.bad_side == 0 && r.bad_index == 1,
        "zero vector with cosine cost rejected with its place");
  o.cost = OT_COST_SQEUCLID;
  CHECK(ot_solve(&p, &o, &r, NULL, 0) == OT_OK, "zero vector is fine with squared Euclidean cost");
  p.S = S;
  float a[2] = {1, -1};
  p.a = a;
  CHECK(ot_solve(&p, &o, &r, NULL, 0) == OT_ERR_WEIGHT && r.bad_index == 1, "negative weight rejected");
  p.a = NULL;
  char small[16];
  CHECK(ot_solve(&p, &o, &r, small, sizeof small) == OT_ERR_WORKSPACE, "short workspace rejected");
  /* a hostile size is refused before anything is allocated (the workspace
     of 40000 x 40000 would be 25 GB): d = 1 keeps the inputs small */
  int big = 40000;
  float *X = xmalloc(sizeof(float) * big);
  for (int i = 0; i < big; i++) X[i] = 1.0f + (float)i;
  ot_problem pb = {.S = X, .T = X, .n = big, .m = big, .ds = 1, .dt = 1};
  ot_options_default(&o);
  CHECK(ot_solve(&pb, &o, &r, NULL, 0) == OT_ERR_SIZE && ot_workspace_size(big, big, 1, &o) == 0,
        "40000 x 40000 refused: %s", ot_strerror(r.status));
  pb.n = 4096, pb.m = 4097;
  CHECK(ot_workspace_size(4096, 4096, 1, &o) > 0 && ot_solve(&pb, &o, &r, NULL, 0) == OT_ERR_SIZE,
        "the limit is n * m <= OT_MAX_CELLS (4096 x 4096 allowed, 4096 x 4097 not)");
  ot_result rb[2] = {{0}, {0}};
  ot_problem pp[2] = {p, pb};
  CHECK(ot_solve_batch(pp, rb, 2, &o, NULL, 0) == 1 && rb[0].status == OT_OK && rb[1].status == OT_ERR_SIZE,
        "a batch solves the others and reports the oversized problem");
  free(X);
}

static void non_convergence(void) {
  const ot_case *c = find_case("c27_random_24x24_d32");
  if (!c) return;
  ot_problem p = problem_of(c);
  ot_options o;
  ot_options_default(&o);
  o.eps = 0.01, o.max_iter = 5, o.tol = 1e-12;
  ot_result r = {0};
  ot_solve(&p, &o, &r, NULL, 0);
  CHECK(r.status == OT_OK && !r.converged && r.iters == 5 && r.err > 1e-12 && isfinite(r.cost),
        "max_iter reached: converged 0, iters 5, err %.1e reported", r.err);
}

int main(void) {
  otc_init("test_ot");
  fixture_tests();
  limit_eps_to_zero("c12_realistic_20x18_d32");
  limit_eps_to_zero("c06_random_5x7_d32");
  limit_constant_cost();
  limit_one_row();
  masks_and_weights();
  envelope_gradient(OT_COST_COSINE, 9, 13, 16);
  envelope_gradient(OT_COST_SQEUCLID, 9, 13, 16);
  envelope_gradient(OT_COST_COSINE, 70, 60, 300); /* dgemm path */
  batch_determinism();
  small_eps_and_scaling();
  non_convergence();
  newton_steps();
  hard_alignments();
  bad_input();
  for (int i = 0; i < ncases; i++) free(cases[i].S), free(cases[i].T);
  return check_done();
}
