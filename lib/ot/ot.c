/* ot.c: stabilised log-domain Sinkhorn (see ot.h for the contract).
 *
 * State: log-domain potentials alpha_i = f_i + log u_i, beta_j = g_j + log v_j
 * (dimensionless, POT's u and v), kernel K_ij = exp(f_i + g_j - C_ij/eps), plan
 * P = diag(u) K diag(v). The Sinkhorn updates are then v = b / K^T u and
 * u = a / K v: two matrix-vector products per iteration and no exp. When a
 * scaling leaves [e^-50, e^50] (or a sum underflows) the scalings
 * are absorbed into f, g and K is rebuilt; a row or column whose kernel still
 * underflows after that gets the exact max-shifted log-sum-exp update. In
 * exact arithmetic every iterate equals POT's sinkhorn_log iterate.
 *
 * Kernel entries below e^KERNEL_FLOOR are stored as 0: with scalings bounded
 * by e^50 every product stays a normal double (subnormal operands cost
 * ~100 cycles each on x86), and such entries weigh < e^-600 in any sum.
 */
#include "ot/ot.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "base/util.h"
#include "kernels/vec.h"

#define KERNEL_FLOOR (-600.0)
/* e^-50 and e^50: the range a residual scaling may take before absorption. */
#define SCALING_MIN 1.9287498479639178e-22
#define SCALING_MAX 5.184705528587072e+21
/* Intermediate eps-scaling stages stop at this marginal error (or tol if larger). */
#define STAGE_TOL 1e-3

void ot_options_default(ot_options *o) {
  memset(o, 0, sizeof *o);
  o->eps = 0.05;
  o->tol = 1e-6;
  o->max_iter = 1000;
  o->check_every = 1;
  o->err_norm = OT_NORM_L1_BOTH;
  o->cost = OT_COST_COSINE;
  o->eps_start = 0;
  o->newton = 0;
  o->threads = 0;
}

const char *ot_strerror(ot_status s) {
  switch (s) {
  case OT_OK: return "ok";
  case OT_ERR_DIM: return "token vectors of the two sides have different dimensions (or a bad size)";
  case OT_ERR_EMPTY: return "empty token set (no token takes part in the marginal)";
  case OT_ERR_NONFINITE: return "NaN or Inf in a token vector or weight";
  case OT_ERR_WEIGHT: return "negative marginal weight";
  case OT_ERR_ZERO_NORM: return "zero vector: cosine cost undefined";
  case OT_ERR_OPTIONS: return "bad options (eps must be > 0 and finite, tol >= 0, max_iter >= 1, check_every >= 1)";
  case OT_ERR_WORKSPACE: return "workspace too small";
  case OT_ERR_NOMEM: return "out of memory";
  case OT_ERR_NUMERIC: return "non-finite value during Sinkhorn iterations";
  case OT_ERR_SIZE: return "problem too large (n * m tokens above OT_MAX_CELLS = 16777216)";
  }
  return "unknown OT error";
}

/* ---- workspace ---- */

typedef struct {
  int *is, *it;       /* compact index -> original token index */
  double *a, *b;      /* normalised weights of the participating tokens */
  double *f, *g;      /* absorbed potentials */
  double *u, *v;      /* residual scalings */
  double *r, *w;      /* K v and K^T u */
  double *ns, *nt;    /* norms (cosine) */
  double *S, *T;      /* participating vectors in double (unit length for cosine) */
  double *C, *K;      /* cost; kernel, overwritten by the plan at the end */
  double *GS, *GT;    /* P T and P^T S for the gradients */
  double *tmp;        /* tentative scalings (max(n, m)) */
  double *H;          /* Newton: the reduced Hessian, min(n, m)^2 (only with o->newton) */
  double *da, *db;    /* Newton: the step in the potentials */
  double *ea, *eb;    /* Newton: exp(t da), exp(t db) of a trial step */
} ot_ws;

static size_t ws_doubles(size_t n, size_t m, size_t d) {
  /* ints for is/it stored in double slots; 5 vectors per side; vectors, C, K, GS, GT */
  return (n + m) + 6 * (n + m) + 2 * (n + m) * d + 2 * n * m + 8;
}

/* The Newton phase's arrays, after the rest. */
static size_t ws_newton_doubles(size_t n, size_t m) {
  size_t k = n < m ? n : m;
  return (n > m ? n : m) + k * k + 2 * (n + m) + 8;
}

size_t ot_workspace_size(int n, int m, int d, const ot_options *o) {
  if (n < 0 || m < 0 || d < 0 || (long)n * m > OT_MAX_CELLS) return 0;
  size_t x = ws_doubles((size_t)n, (size_t)m, (size_t)d);
  if (o && o->newton > 0) x += ws_newton_doubles((size_t)n, (size_t)m);
  return x * sizeof(double);
}

static void ws_layout(ot_ws *w, void *base, size_t n, size_t m, size_t d, int newton) {
  double *p = base;
  w->is = (int *)p;
  w->it = w->is + n;
  p += (n + m + 1) / 2 + 1;
  w->a = p, p += n;
  w->b = p, p += m;
  w->f = p, p += n;
  w->g = p, p += m;
  w->u = p, p += n;
  w->v = p, p += m;
  w->r = p, p += n;
  w->w = p, p += m;
  w->ns = p, p += n;
  w->nt = p, p += m;
  w->S = p, p += n * d;
  w->T = p, p += m * d;
  w->C = p, p += n * m;
  w->K = p, p += n * m;
  w->GS = p, p += n * d;
  w->GT = p, p += m * d;
  w->tmp = p;
  w->H = w->da = w->db = w->ea = w->eb = NULL;
  if (!newton) return;
  p = (double *)base + ws_doubles(n, m, d) + (n > m ? n : m);
  w->H = p, p += (n < m ? n : m) * (n < m ? n : m);
  w->da = p, p += n;
  w->db = p, p += m;
  w->ea = p, p += n;
  w->eb = p;
}

/* ---- kernels (fixed summation order: results do not depend on the ISA clone) ---- */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define OT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define OT_CLONES
#endif
/* The helpers below must be inlined into each clone to get its ISA. */
#define OT_INLINE static inline __attribute__((always_inline))

/* w += k * x, in blocks of eight so that -O2 vectorises it (SLP). */
OT_INLINE void axpy8(double *restrict w, const double *restrict k, double x, int m) {
  int j = 0;
  for (; j + 8 <= m; j += 8)
    for (int l = 0; l < 8; l++) w[j + l] += k[j + l] * x;
  for (; j < m; j++) w[j] += k[j] * x;
}

/* Dot product with eight interleaved partial sums, combined pairwise: a
 * fixed order that the compiler can vectorise without reassociating. */
OT_INLINE double dot8(const double *restrict x, const double *restrict y, int m) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int j = 0;
  for (; j + 8 <= m; j += 8)
    for (int l = 0; l < 8; l++) s[l] += x[j + l] * y[j + l];
  double t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; j < m; j++) t += x[j] * y[j];
  return t;
}

/* w = K^T u as a sum of scaled rows: each w_j accumulates over i in order. */
OT_CLONES static void kt_times(const double *restrict K, const double *restrict u, double *restrict w, int n,
                               int m) {
  for (int j = 0; j < m; j++) w[j] = 0;
  for (int i = 0; i < n; i++) {
    axpy8(w, K + (size_t)i * m, u[i], m);
  }
}

/* r = K v */
OT_CLONES static void k_times(const double *restrict K, const double *restrict v, double *restrict r, int n,
                              int m) {
  for (int i = 0; i < n; i++) r[i] = dot8(K + (size_t)i * m, v, m);
}

/* Explicit 4-double vectors (GCC/clang vector extension): two SSE2 ops in
 * the default clone, one AVX op in the avx2 clone; lane-wise the same
 * arithmetic either way. v4d_u is the unaligned, aliasing view for loads
 * and stores. */
typedef double v4d __attribute__((vector_size(32)));
typedef double v4d_u __attribute__((vector_size(32), aligned(8), may_alias));
#define v4_load(p) (*(const v4d_u *)(p))
#define v4_store(p, x) (*(v4d_u *)(p) = (x))
#define OT_HSUM8(lo, hi) (((lo[0] + lo[1]) + (lo[2] + lo[3])) + ((hi[0] + hi[1]) + (hi[2] + hi[3])))

/* Four dot products at once, each with dot8's eight lanes and final order
 * (so each equals dot8 bit for bit): eight independent chains hide the add
 * latency and every load of v serves four rows. */
OT_INLINE void dot8_x4(const double *restrict k0, const double *restrict k1, const double *restrict k2,
                       const double *restrict k3, const double *restrict v, int m, double out[4]) {
  v4d a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
  int j = 0;
  for (; j + 8 <= m; j += 8) {
    v4d va = v4_load(v + j), vb = v4_load(v + j + 4);
    a0 += v4_load(k0 + j) * va, b0 += v4_load(k0 + j + 4) * vb;
    a1 += v4_load(k1 + j) * va, b1 += v4_load(k1 + j + 4) * vb;
    a2 += v4_load(k2 + j) * va, b2 += v4_load(k2 + j + 4) * vb;
    a3 += v4_load(k3 + j) * va, b3 += v4_load(k3 + j + 4) * vb;
  }
  double t0 = OT_HSUM8(a0, b0), t1 = OT_HSUM8(a1, b1), t2 = OT_HSUM8(a2, b2), t3 = OT_HSUM8(a3, b3);
  for (; j < m; j++) {
    double x = v[j];
    t0 += k0[j] * x, t1 += k1[j] * x, t2 += k2[j] * x, t3 += k3[j] * x;
  }
  out[0] = t0, out[1] = t1, out[2] = t2, out[3] = t3;
}

/* w += k0 x0 + k1 x1 + k2 x2 + k3 x3, added in that order (= four axpy8 calls,
 * bit for bit) with one load and store of w. */
OT_INLINE void axpy8_x4(double *restrict w, const double *restrict k0, const double *restrict k1,
                        const double *restrict k2, const double *restrict k3, const double x[4], int m) {
  v4d x0 = {x[0], x[0], x[0], x[0]}, x1 = {x[1], x[1], x[1], x[1]}, x2 = {x[2], x[2], x[2], x[2]},
      x3 = {x[3], x[3], x[3], x[3]};
  int j = 0;
  for (; j + 4 <= m; j += 4) {
    v4d acc = v4_load(w + j);
    acc = acc + v4_load(k0 + j) * x0;
    acc = acc + v4_load(k1 + j) * x1;
    acc = acc + v4_load(k2 + j) * x2;
    acc = acc + v4_load(k3 + j) * x3;
    v4_store(w + j, acc);
  }
  for (; j < m; j++) w[j] = (((w[j] + k0[j] * x[0]) + k1[j] * x[1]) + k2[j] * x[2]) + k3[j] * x[3];
}

/* The row update fused with the next column product, in one pass over K
 * (rows are used twice while they are in L1): r = K v, unew = a / r,
 * w = K^T unew. Returns 0 if a new scaling is out of range (then w is junk).
 * Results equal the plain row-by-row loop bit for bit. */
OT_CLONES static int row_pass(const double *restrict K, const double *restrict v, const double *restrict a,
                              double *restrict r, double *restrict unew, double *restrict w, int n, int m) {
  int ok = 1;
  for (int j = 0; j < m; j++) w[j] = 0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const double *k0 = K + (size_t)i * m, *k1 = k0 + m, *k2 = k1 + m, *k3 = k2 + m;
    double ri[4], ui[4];
    dot8_x4(k0, k1, k2, k3, v, m, ri);
    for (int q = 0; q < 4; q++) {
      ui[q] = a[i + q] / ri[q];
      r[i + q] = ri[q], unew[i + q] = ui[q];
      ok &= ui[q] >= SCALING_MIN && ui[q] <= SCALING_MAX;
    }
    axpy8_x4(w, k0, k1, k2, k3, ui, m);
  }
  for (; i < n; i++) {
    const double *restrict k = K + (size_t)i * m;
    double ri = dot8(k, v, m), ui = a[i] / ri;
    r[i] = ri, unew[i] = ui;
    ok &= ui >= SCALING_MIN && ui <= SCALING_MAX;
    axpy8(w, k, ui, m);
  }
  return ok;
}

/* tmp = b / w (the tentative column scalings); 0 if one is out of range. */
OT_CLONES static int column_scalings(const double *restrict b, const double *restrict w, double *restrict tmp,
                                     int m) {
  int j = 0, ok = 1;
  for (; j + 4 <= m; j += 4)
    for (int l = 0; l < 4; l++) tmp[j + l] = b[j + l] / w[j + l];
  for (; j < m; j++) tmp[j] = b[j] / w[j];
  for (j = 0; j < m; j++) ok &= tmp[j] >= SCALING_MIN && tmp[j] <= SCALING_MAX;
  return ok;
}

static inline double kernel_entry(double x) { return x < KERNEL_FLOOR ? 0.0 : exp(x); }

static void rebuild_kernel(ot_ws *w, int n, int m, double ieps) {
  for (int i = 0; i < n; i++) {
    const double *c = w->C + (size_t)i * m;
    double *k = w->K + (size_t)i * m;
    double fi = w->f[i];
    for (int j = 0; j < m; j++) k[j] = kernel_entry(fi + w->g[j] - c[j] * ieps);
  }
}

/* Fold the scalings into the potentials (u = v = 1 after) and rebuild K. */
static void absorb(ot_ws *w, int n, int m, double ieps) {
  for (int i = 0; i < n; i++) w->f[i] += log(w->u[i]), w->u[i] = 1;
  for (int j = 0; j < m; j++) w->g[j] += log(w->v[j]), w->v[j] = 1;
  rebuild_kernel(w, n, m, ieps);
}

static inline int scaling_ok(double x) { return x >= SCALING_MIN && x <= SCALING_MAX; }

/* Exact log-domain update of column j (u = 1): g_j = log b_j - logsumexp_i(f_i - C_ij/eps). */
static void exact_column(ot_ws *w, int n, int m, int j, double ieps) {
  double mx = -INFINITY;
  for (int i = 0; i < n; i++) {
    double x = w->f[i] - w->C[(size_t)i * m + j] * ieps;
    if (x > mx) mx = x;
  }
  double s = 0;
  for (int i = 0; i < n; i++) s += exp(w->f[i] - w->C[(size_t)i * m + j] * ieps - mx);
  w->g[j] = log(w->b[j]) - (mx + log(s));
  w->v[j] = 1;
  for (int i = 0; i < n; i++)
    w->K[(size_t)i * m + j] = kernel_entry(w->f[i] + w->g[j] - w->C[(size_t)i * m + j] * ieps);
}

static void exact_row(ot_ws *w, int m, int i, double ieps) {
  const double *c = w->C + (size_t)i * m;
  /* max-shifted log-sum-exp, dispatched by CPU (kernels/vec.h) */
  w->f[i] = log(w->a[i]) - kern_logsumexp_d(w->g, c, ieps, (size_t)m);
  w->u[i] = 1;
  double *k = w->K + (size_t)i * m;
  for (int j = 0; j < m; j++) k[j] = kernel_entry(w->f[i] + w->g[j] - c[j] * ieps);
}

/* ---- the solver on the compact problem ---- */

typedef struct {
  double err;
  int iters, converged;
} run_state;

/* Marginal error of P = diag(u) K diag(v), given r = K v (from the last row
 * update) and w = K^T u. */
static double marginal_error(ot_ws *w, int n, int m, ot_norm norm) {
  double col1 = 0, col2 = 0, row1 = 0;
  for (int j = 0; j < m; j++) {
    double e = w->v[j] * w->w[j] - w->b[j];
    col1 += fabs(e), col2 += e * e;
  }
  for (int i = 0; i < n; i++) row1 += fabs(w->u[i] * w->r[i] - w->a[i]);
  return norm == OT_NORM_L2_COL ? sqrt(col2) : col1 + row1;
}

/* rows: u = a / K v, fused with w = K^T u for the error and the next column step */
static void row_step(ot_ws *w, int n, int m, double ieps) {
  if (row_pass(w->K, w->v, w->a, w->r, w->tmp, w->w, n, m)) {
    memcpy(w->u, w->tmp, sizeof(double) * n);
  } else {
    absorb(w, n, m, ieps);
    k_times(w->K, w->v, w->r, n, m);
    for (int i = 0; i < n; i++) {
      double x = w->a[i] / w->r[i];
      if (scaling_ok(x)) w->u[i] = x;
      else exact_row(w, m, i, ieps), w->r[i] = w->a[i];
    }
    kt_times(w->K, w->u, w->w, n, m);
  }
}

static int sinkhorn(ot_ws *w, int n, int m, double eps, double tol, int max_iter, int check_every, ot_norm norm,
                    run_state *st) {
  double ieps = 1.0 / eps;
  int it;
  for (it = 1; it <= max_iter - st->iters; it++) {
    /* columns: v = b / K^T u (w->w is current) */
    if (column_scalings(w->b, w->w, w->tmp, m)) {
      memcpy(w->v, w->tmp, sizeof(double) * m);
    } else {
      absorb(w, n, m, ieps); /* u = v = 1: the previous state folded into f, g */
      kt_times(w->K, w->u, w->w, n, m);
      for (int j = 0; j < m; j++) {
        double x = w->b[j] / w->w[j];
        if (scaling_ok(x)) w->v[j] = x;
        else exact_column(w, n, m, j, ieps);
      }
    }
    row_step(w, n, m, ieps);
    /* the error costs O(n + m): measure it where the rule looks, and at the end */
    int check = (st->iters + it - 1) % check_every == 0;
    if (!check && it < max_iter - st->iters) continue;
    st->err = marginal_error(w, n, m, norm);
    if (!isfinite(st->err)) {
      st->iters += it;
      return -1;
    }
    if (check && st->err < tol) {
      st->iters += it;
      st->converged = 1;
      return 0;
    }
  }
  st->iters += it - 1;
  st->converged = 0;
  return 0;
}

/* ---- Newton steps on the dual (o->newton) ----
 *
 * Sinkhorn is coordinate ascent on the concave dual
 *     Phi(al, be) = sum_i a_i al_i + sum_j b_j be_j - sum_ij exp(al_i + be_j - C_ij/eps)
 * (al = f + log u, be = g + log v; P_ij = exp(al_i + be_j - C_ij/eps)); on
 * problems whose plan is nearly a matching (a token with several exact
 * copies on the other side) its linear rate gets arbitrarily close to 1. A
 * Newton step solves
 *     [ diag(P 1)   P          ] [dal]   [a - P 1  ]
 *     [ P^T         diag(P^T 1)] [dbe] = [b - P^T 1]
 * (the Hessian is singular along (1, -1): the last potential of the smaller
 * side is held fixed) by the Schur complement on the smaller side and a
 * Cholesky factorisation, with a backtracking (Armijo) line search on Phi;
 * then a Sinkhorn row update. Convergence is quadratic near the optimum. A
 * step that cannot be taken (a non-positive pivot, no ascent) ends the
 * Newton phase and plain Sinkhorn iterations continue. */

/* Cholesky of the k x k matrix H (lower triangle, in place); 0 if a pivot is
 * not clearly positive. */
static int cholesky(double *H, int k) {
  double dmax = 0;
  for (int i = 0; i < k; i++) dmax = fmax(dmax, H[(size_t)i * k + i]);
  for (int j = 0; j < k; j++) {
    double *hj = H + (size_t)j * k;
    double x = hj[j];
    for (int l = 0; l < j; l++) x -= hj[l] * hj[l];
    if (!(x > 1e-13 * dmax)) return 0;
    hj[j] = sqrt(x);
    for (int i = j + 1; i < k; i++) {
      double *hi = H + (size_t)i * k, y = hi[j];
      for (int l = 0; l < j; l++) y -= hi[l] * hj[l];
      hi[j] = y / hj[j];
    }
  }
  return 1;
}

/* Solve L L^T x = x in place. */
static void cholesky_solve(const double *L, int k, double *x) {
  for (int i = 0; i < k; i++) {
    const double *li = L + (size_t)i * k;
    double y = x[i];
    for (int l = 0; l < i; l++) y -= li[l] * x[l];
    x[i] = y / li[i];
  }
  for (int i = k - 1; i >= 0; i--) {
    double y = x[i];
    for (int l = i + 1; l < k; l++) y -= L[(size_t)l * k + i] * x[l];
    x[i] = y / L[(size_t)i * k + i];
  }
}

/* The Newton direction into w->da, w->db. The plan is P_ij = u_i K_ij v_j;
 * row sums u_i r_i, column sums v_j w_j (r = K v and w = K^T u are current).
 * Returns 0 if the system cannot be solved. */
static int newton_direction(ot_ws *w, int n, int m) {
  const double *K = w->K, *u = w->u, *v = w->v;
  double *da = w->da, *db = w->db, *H = w->H;
  for (int i = 0; i < n; i++) {
    double d1 = u[i] * w->r[i];
    if (!(d1 > 0) || !isfinite(d1)) return 0;
    da[i] = w->a[i] - d1; /* the gradient first, the step after */
  }
  for (int j = 0; j < m; j++) {
    double d2 = v[j] * w->w[j];
    if (!(d2 > 0) || !isfinite(d2)) return 0;
    db[j] = w->b[j] - d2;
  }
  if (m <= n) {
    /* H = diag(D2) - P^T diag(1/D1) P over columns 0..m-2; rhs = gb - P^T (ga / D1) */
    int k = m - 1;
    for (int j = 0; j < k; j++)
      for (int l = 0; l <= j; l++) H[(size_t)j * k + l] = j == l ? v[j] * w->w[j] : 0;
    double *rhs = w->eb, *p = w->tmp; /* p: row i of the plan */
    for (int j = 0; j < m; j++) rhs[j] = db[j];
    for (int i = 0; i < n; i++) {
      const double *ki = K + (size_t)i * m;
      double inv = 1.0 / (u[i] * w->r[i]), gi = da[i] * inv;
      for (int j = 0; j < m; j++) p[j] = u[i] * ki[j] * v[j];
      for (int j = 0; j < m; j++) rhs[j] -= p[j] * gi;
      for (int j = 0; j < k; j++) {
        double pj = p[j] * inv;
        double *hj = H + (size_t)j * k;
        for (int l = 0; l <= j; l++) hj[l] -= pj * p[l];
      }
    }
    if (k > 0 && !cholesky(H, k)) return 0;
    if (k > 0) cholesky_solve(H, k, rhs);
    /* da = (ga - P db) / D1, with db_{m-1} = 0 */
    for (int i = 0; i < n; i++) {
      const double *ki = K + (size_t)i * m;
      double x = da[i];
      for (int j = 0; j < k; j++) x -= u[i] * ki[j] * v[j] * rhs[j];
      da[i] = x / (u[i] * w->r[i]);
    }
    for (int j = 0; j < k; j++) db[j] = rhs[j];
    db[m - 1] = 0;
  } else {
    /* H = diag(D1) - P diag(1/D2) P^T over rows 0..n-2; rhs = ga - P (gb / D2) */
    int k = n - 1;
    double *rhs = w->ea, *q = w->eb; /* q_j = gb_j / D2_j, then 1 / D2_j */
    for (int j = 0; j < m; j++) q[j] = db[j] / (v[j] * w->w[j]);
    for (int i = 0; i < n; i++) {
      const double *ki = K + (size_t)i * m;
      double x = da[i];
      for (int j = 0; j < m; j++) x -= u[i] * ki[j] * v[j] * q[j];
      rhs[i] = x;
    }
    for (int j = 0; j < m; j++) q[j] = 1.0 / (v[j] * w->w[j]);
    for (int i = 0; i < k; i++) {
      const double *ki = K + (size_t)i * m;
      double *hi = H + (size_t)i * k;
      for (int l = 0; l <= i; l++) {
        const double *kl = K + (size_t)l * m;
        double x = 0;
        for (int j = 0; j < m; j++) x += ki[j] * kl[j] * v[j] * v[j] * q[j];
        x *= u[i] * u[l];
        hi[l] = (i == l ? u[i] * w->r[i] : 0) - x;
      }
    }
    if (k > 0 && !cholesky(H, k)) return 0;
    if (k > 0) cholesky_solve(H, k, rhs);
    /* db = (gb - P^T da) / D2, with da_{n-1} = 0 */
    for (int j = 0; j < m; j++) {
      double x = db[j];
      for (int i = 0; i < k; i++) x -= u[i] * K[(size_t)i * m + j] * v[j] * rhs[i];
      db[j] = x * q[j];
    }
    for (int i = 0; i < k; i++) da[i] = rhs[i];
    da[n - 1] = 0;
  }
  for (int i = 0; i < n; i++)
    if (!isfinite(da[i])) return 0;
  for (int j = 0; j < m; j++)
    if (!isfinite(db[j])) return 0;
  return 1;
}

/* Phi(al + t da, be + t db) - Phi(al, be), from the current plan. */
static double newton_gain(ot_ws *w, int n, int m, double t) {
  double lin = 0, mass1 = 0;
  for (int i = 0; i < n; i++) w->ea[i] = exp(t * w->da[i]), lin += w->a[i] * w->da[i];
  for (int j = 0; j < m; j++) w->eb[j] = exp(t * w->db[j]), lin += w->b[j] * w->db[j];
  /* sum_ij P_ij (ea_i eb_j - 1) = sum_i u_i ea_i (K (v eb))_i - sum_i u_i r_i */
  for (int i = 0; i < n; i++) {
    const double *ki = w->K + (size_t)i * m;
    double x = 0;
    for (int j = 0; j < m; j++) x += ki[j] * w->v[j] * w->eb[j];
    mass1 += w->u[i] * (w->ea[i] * x - w->r[i]);
  }
  return t * lin - mass1;
}

/* Newton iterations until the error is below tol or max_iter runs out; 0,
 * or -1 on a non-finite error. */
static int newton_phase(ot_ws *w, int n, int m, double eps, double tol, int max_iter, ot_norm norm, run_state *st) {
  double ieps = 1.0 / eps;
  while (st->iters < max_iter) {
    if (!newton_direction(w, n, m)) return 0;
    double slope = 0;
    for (int i = 0; i < n; i++) slope += (w->a[i] - w->u[i] * w->r[i]) * w->da[i];
    for (int j = 0; j < m; j++) slope += (w->b[j] - w->v[j] * w->w[j]) * w->db[j];
    if (!(slope > 0)) return 0;
    /* backtracking; the accepted step's factors exp(t da), exp(t db) stay in ea, eb */
    double t = 1;
    int ok = 0;
    for (int k = 0; k < 40 && !ok; k++) {
      ok = newton_gain(w, n, m, t) >= 1e-4 * t * slope;
      if (!ok) t *= 0.5;
    }
    if (!ok) return 0;
    int absorb_needed = 0;
    for (int i = 0; i < n; i++) w->u[i] *= w->ea[i], absorb_needed |= !scaling_ok(w->u[i]);
    for (int j = 0; j < m; j++) w->v[j] *= w->eb[j], absorb_needed |= !scaling_ok(w->v[j]);
    if (absorb_needed) absorb(w, n, m, ieps);
    row_step(w, n, m, ieps);
    st->iters++;
    st->err = marginal_error(w, n, m, norm);
    if (!isfinite(st->err)) return -1;
    if (st->err < tol) {
      st->converged = 1;
      return 0;
    }
  }
  return 0;
}

/* ---- validation, setup, outputs ---- */

static int finite_rows(const float *X, int rows, int d, int *bad) {
  for (int i = 0; i < rows; i++)
    for (int k = 0; k < d; k++)
      if (!isfinite(X[(size_t)i * d + k])) {
        *bad = i;
        return 0;
      }
  return 1;
}

/* Collect participating tokens and their normalised weights. Returns status. */
static ot_status gather_side(const float *wt, const unsigned char *mask, int count, int *idx, double *out,
                             int *kept, int *bad) {
  double sum = 0;
  int k = 0;
  for (int i = 0; i < count; i++) {
    double x = wt ? (double)wt[i] : 1.0;
    if (wt && !isfinite(wt[i])) return *bad = i, OT_ERR_NONFINITE;
    if (x < 0) return *bad = i, OT_ERR_WEIGHT;
    if ((mask && !mask[i]) || x == 0) continue;
    idx[k] = i;
    out[k++] = x;
    sum += x;
  }
  if (k == 0) return OT_ERR_EMPTY;
  for (int i = 0; i < k; i++) out[i] /= sum;
  *kept = k;
  return OT_OK;
}

/* Participating vectors to double, their norms, and for cosine unit length
 * (x / |x| as the reference computes it, not x * (1/|x|)). */
OT_CLONES static void load_vectors(const float *restrict X, const int *restrict idx, int k, int d,
                                   double *restrict out, double *restrict norms, int cosine, int *zero) {
  *zero = -1;
  for (int i = 0; i < k; i++) {
    const float *x = X + (size_t)idx[i] * d;
    double *y = out + (size_t)i * d;
    for (int l = 0; l < d; l++) y[l] = x[l];
    double nrm = sqrt(dot8(y, y, d));
    norms[i] = nrm;
    if (!cosine) continue;
    if (nrm == 0 || !isfinite(nrm)) {
      if (*zero < 0) *zero = idx[i];
      continue;
    }
    v4d nv = {nrm, nrm, nrm, nrm};
    int l = 0;
    for (; l + 4 <= d; l += 4) v4_store(y + l, v4_load(y + l) / nv);
    for (; l < d; l++) y[l] /= nrm;
  }
}

static int use_gemm(int n, int m, int d) { return (long)n * m * d > OT_GEMM_MIN; }

/* Squared distance with eight interleaved partial sums (as dot8). */
OT_INLINE double sqdist8(const double *restrict x, const double *restrict y, int d) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int l = 0;
  for (; l + 8 <= d; l += 8)
    for (int q = 0; q < 8; q++) s[q] += (x[l + q] - y[l + q]) * (x[l + q] - y[l + q]);
  double t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; l < d; l++) t += (x[l] - y[l]) * (x[l] - y[l]);
  return t;
}

OT_CLONES static void cost_direct(const double *restrict S, const double *restrict T, double *restrict C, int n,
                                  int m, int d, int cosine) {
  for (int i = 0; i < n; i++) {
    const double *s = S + (size_t)i * d;
    double *c = C + (size_t)i * m;
    int j = 0;
    if (cosine)
      for (; j + 4 <= m; j += 4) {
        const double *t = T + (size_t)j * d;
        double dots[4];
        dot8_x4(t, t + d, t + 2 * d, t + 3 * d, s, d, dots);
        for (int q = 0; q < 4; q++) c[j + q] = 1.0 - dots[q];
      }
    for (; j < m; j++) {
      const double *t = T + (size_t)j * d;
      c[j] = cosine ? 1.0 - dot8(t, s, d) : sqdist8(s, t, d);
    }
  }
}

static void cost_matrix(ot_ws *w, int n, int m, int d, ot_cost cost) {
  if (!use_gemm(n, m, d)) {
    cost_direct(w->S, w->T, w->C, n, m, d, cost == OT_COST_COSINE);
    return;
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, d, cost == OT_COST_COSINE ? -1.0 : -2.0, w->S, d,
              w->T, d, 0.0, w->C, m);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < m; j++) {
      double *c = w->C + (size_t)i * m + j;
      if (cost == OT_COST_COSINE) *c = 1.0 + *c;
      else *c = fmax(0.0, w->ns[i] * w->ns[i] + w->nt[j] * w->nt[j] + *c);
    }
}

/* GS = P T and GT = P^T S by rows (the small-problem path). */
OT_CLONES static void plan_products(const double *restrict P, const double *restrict S, const double *restrict T,
                                    double *restrict GS, double *restrict GT, int n, int m, int d) {
  memset(GS, 0, sizeof(double) * (size_t)n * d);
  memset(GT, 0, sizeof(double) * (size_t)m * d);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < m; j++) {
      double pij = P[(size_t)i * m + j];
      if (pij == 0) continue;
      axpy8(GS + (size_t)i * d, T + (size_t)j * d, pij, d);
      axpy8(GT + (size_t)j * d, S + (size_t)i * d, pij, d);
    }
}

/* Gradients of <P,C> with P (in w->K) fixed, scattered to the caller's buffers. */
static void gradients(ot_ws *w, int n, int m, int d, ot_cost cost, const ot_problem *p, float *gs, float *gt) {
  const double *P = w->K;
  if (use_gemm(n, m, d)) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, m, 1.0, P, m, w->T, d, 0.0, w->GS, d);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, d, n, 1.0, P, m, w->S, d, 0.0, w->GT, d);
  } else {
    plan_products(P, w->S, w->T, w->GS, w->GT, n, m, d);
  }
  /* qs_i = sum_j P_ij k_ij, qt_j = sum_i P_ij k_ij, with k = cos (cosine) or 1 (sqeuclid) */
  double *qs = w->r, *qt = w->w;
  for (int i = 0; i < n; i++) qs[i] = 0;
  for (int j = 0; j < m; j++) qt[j] = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < m; j++) {
      double pij = P[(size_t)i * m + j];
      double k = cost == OT_COST_COSINE ? 1.0 - w->C[(size_t)i * m + j] : 1.0;
      qs[i] += pij * k, qt[j] += pij * k;
    }
  if (gs) {
    memset(gs, 0, sizeof(float) * (size_t)p->n * d);
    for (int i = 0; i < n; i++) {
      float *out = gs + (size_t)w->is[i] * d;
      const double *x = w->S + (size_t)i * d, *g = w->GS + (size_t)i * d;
      for (int l = 0; l < d; l++)
        out[l] = cost == OT_COST_COSINE ? (float)(-(g[l] - qs[i] * x[l]) / w->ns[i])
                                        : (float)(2.0 * (qs[i] * x[l] - g[l]));
    }
  }
  if (gt) {
    memset(gt, 0, sizeof(float) * (size_t)p->m * d);
    for (int j = 0; j < m; j++) {
      float *out = gt + (size_t)w->it[j] * d;
      const double *x = w->T + (size_t)j * d, *g = w->GT + (size_t)j * d;
      for (int l = 0; l < d; l++)
        out[l] = cost == OT_COST_COSINE ? (float)(-(g[l] - qt[j] * x[l]) / w->nt[j])
                                        : (float)(2.0 * (qt[j] * x[l] - g[l]));
    }
  }
}

static int options_ok(const ot_options *o) {
  return o->eps > 0 && isfinite(o->eps) && o->tol >= 0 && !isnan(o->tol) && o->max_iter >= 1 &&
         o->check_every >= 1 && (o->err_norm == OT_NORM_L1_BOTH || o->err_norm == OT_NORM_L2_COL) &&
         (o->cost == OT_COST_COSINE || o->cost == OT_COST_SQEUCLID) && o->eps_start >= 0 &&
         isfinite(o->eps_start) && o->newton >= 0;
}

ot_status ot_solve(const ot_problem *p, const ot_options *o, ot_result *r, void *work, size_t work_size) {
  ot_options defaults;
  if (!o) ot_options_default(&defaults), o = &defaults;
  r->cost = NAN, r->err = NAN, r->iters = 0, r->converged = 0;
  r->bad_side = 0, r->bad_index = -1;
  if (!options_ok(o)) return r->status = OT_ERR_OPTIONS;
  if (p->n < 0 || p->m < 0 || p->ds <= 0 || p->ds != p->dt) return r->status = OT_ERR_DIM;
  if (p->n == 0 || p->m == 0) return r->bad_side = p->n != 0, r->status = OT_ERR_EMPTY;
  if ((long)p->n * p->m > OT_MAX_CELLS) return r->status = OT_ERR_SIZE;
  int d = p->ds, bad;
  if (!finite_rows(p->S, p->n, d, &bad)) return r->bad_side = 0, r->bad_index = bad, r->status = OT_ERR_NONFINITE;
  if (!finite_rows(p->T, p->m, d, &bad)) return r->bad_side = 1, r->bad_index = bad, r->status = OT_ERR_NONFINITE;

  size_t need = ot_workspace_size(p->n, p->m, d, o);
  void *own = NULL;
  if (!work) {
    own = work = malloc(need);
    if (!own) return r->status = OT_ERR_NOMEM;
  } else if (work_size < need) {
    return r->status = OT_ERR_WORKSPACE;
  }
  ot_ws w;
  ws_layout(&w, work, (size_t)p->n, (size_t)p->m, (size_t)d, o->newton > 0);
  int n, m;
  ot_status s = gather_side(p->a, p->mask_s, p->n, w.is, w.a, &n, &bad);
  if (s != OT_OK) {
    r->bad_side = 0, r->bad_index = s == OT_ERR_EMPTY ? -1 : bad;
    goto out;
  }
  s = gather_side(p->b, p->mask_t, p->m, w.it, w.b, &m, &bad);
  if (s != OT_OK) {
    r->bad_side = 1, r->bad_index = s == OT_ERR_EMPTY ? -1 : bad;
    goto out;
  }
  int cosine = o->cost == OT_COST_COSINE, zero;
  load_vectors(p->S, w.is, n, d, w.S, w.ns, cosine, &zero);
  if (zero >= 0) {
    s = OT_ERR_ZERO_NORM, r->bad_side = 0, r->bad_index = zero;
    goto out;
  }
  load_vectors(p->T, w.it, m, d, w.T, w.nt, cosine, &zero);
  if (zero >= 0) {
    s = OT_ERR_ZERO_NORM, r->bad_side = 1, r->bad_index = zero;
    goto out;
  }
  cost_matrix(&w, n, m, d, o->cost);

  /* Start from POT's zero potentials, with a column shift that keeps K <= 1. */
  double eps = o->eps_start > o->eps ? o->eps_start : o->eps;
  double ieps = 1.0 / eps;
  for (int i = 0; i < n; i++) w.f[i] = 0, w.u[i] = 1;
  for (int j = 0; j < m; j++) {
    double mn = INFINITY;
    for (int i = 0; i < n; i++) mn = fmin(mn, w.C[(size_t)i * m + j]);
    w.g[j] = mn * ieps, w.v[j] = 1;
  }
  rebuild_kernel(&w, n, m, ieps);
  kt_times(w.K, w.u, w.w, n, m);

  run_state st = {NAN, 0, 0};
  for (;;) {
    int final = eps <= o->eps;
    double tol = final ? o->tol : fmax(o->tol, STAGE_TOL);
    /* with o->newton, the final stage switches to Newton steps after that many
       Sinkhorn iterations, and back to Sinkhorn if a Newton step fails */
    int cap = o->max_iter, stage0 = st.iters;
    if (final && o->newton > 0 && stage0 + o->newton < cap) cap = stage0 + o->newton;
    int rc = sinkhorn(&w, n, m, eps, tol, cap, o->check_every, o->err_norm, &st);
    if (rc == 0 && cap < o->max_iter && !st.converged) {
      rc = newton_phase(&w, n, m, eps, tol, o->max_iter, o->err_norm, &st);
      if (rc == 0 && !st.converged)
        rc = sinkhorn(&w, n, m, eps, tol, o->max_iter, o->check_every, o->err_norm, &st);
    }
    if (rc < 0) {
      s = OT_ERR_NUMERIC;
      goto out;
    }
    if (final || st.iters >= o->max_iter) {
      if (!final) st.converged = 0;
      break;
    }
    /* next stage: same potentials in cost units, smaller eps */
    double next = fmax(o->eps, eps * 0.5);
    for (int i = 0; i < n; i++) w.f[i] = (w.f[i] + log(w.u[i])) * eps / next, w.u[i] = 1;
    for (int j = 0; j < m; j++) w.g[j] = (w.g[j] + log(w.v[j])) * eps / next, w.v[j] = 1;
    eps = next, ieps = 1.0 / eps;
    rebuild_kernel(&w, n, m, ieps);
    kt_times(w.K, w.u, w.w, n, m);
  }
  if (eps > o->eps) st.converged = 0; /* max_iter hit before the final stage */

  /* P = diag(u) K diag(v), in place; cost = <P, C> */
  double cost = 0;
  for (int i = 0; i < n; i++) {
    double *k = w.K + (size_t)i * m;
    const double *c = w.C + (size_t)i * m;
    for (int j = 0; j < m; j++) {
      k[j] = w.u[i] * k[j] * w.v[j];
      cost += k[j] * c[j];
    }
  }
  if (!isfinite(cost)) {
    s = OT_ERR_NUMERIC;
    goto out;
  }
  r->cost = cost, r->err = st.err, r->iters = st.iters, r->converged = st.converged;
  if (r->plan) {
    memset(r->plan, 0, sizeof(float) * (size_t)p->n * p->m);
    for (int i = 0; i < n; i++)
      for (int j = 0; j < m; j++) r->plan[(size_t)w.is[i] * p->m + w.it[j]] = (float)w.K[(size_t)i * m + j];
  }
  if (r->grad_s || r->grad_t) gradients(&w, n, m, d, o->cost, p, r->grad_s, r->grad_t);
  s = OT_OK;
out:
  free(own);
  return r->status = s;
}

/* ---- batch ---- */

size_t ot_batch_workspace_size(const ot_problem *p, size_t count, const ot_options *o) {
  int threads = o && o->threads > 0 ? o->threads : otc_threads();
  if (threads < 1) threads = 1;
  if ((size_t)threads > count) threads = count ? (int)count : 1;
  size_t mx = 0;
  for (size_t i = 0; i < count; i++) {
    size_t s = ot_workspace_size(p[i].n, p[i].m, p[i].ds, o);
    if (s > mx) mx = s;
  }
  return xmul(mx, (size_t)threads);
}

typedef struct {
  const ot_problem *p;
  ot_result *r;
  const ot_options *o;
  char *work;
  size_t slot;
  size_t failed; /* atomic */
} batch_job;

/* One problem on worker w's slot of the workspace (pool_each). */
static void batch_item(void *ctx, size_t i, int w) {
  batch_job *job = ctx;
  if (ot_solve(&job->p[i], job->o, &job->r[i], job->work + job->slot * (size_t)w, job->slot) != OT_OK)
    __atomic_fetch_add(&job->failed, 1, __ATOMIC_RELAXED);
}

size_t ot_solve_batch(const ot_problem *p, ot_result *r, size_t count, const ot_options *o, void *work,
                      size_t work_size) {
  ot_options defaults;
  if (!o) ot_options_default(&defaults), o = &defaults;
  if (count == 0) return 0;
  int threads = o->threads > 0 ? o->threads : otc_threads();
  if (threads < 1) threads = 1;
  if ((size_t)threads > count) threads = (int)count;
  size_t need = ot_batch_workspace_size(p, count, o);
  void *own = NULL;
  if (!work || work_size < need) {
    if (work) { /* too small: every problem reports it */
      for (size_t i = 0; i < count; i++) r[i].status = OT_ERR_WORKSPACE, r[i].iters = 0;
      return count;
    }
    own = work = xmalloc(need ? need : 1);
  }
  batch_job job = {.p = p, .r = r, .o = o, .work = work, .slot = need / (size_t)threads};
  pool_each(count, threads, batch_item, &job);
  free(own);
  return job.failed;
}
