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
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
} ot_ws;

static size_t ws_doubles(size_t n, size_t m, size_t d) {
  /* ints for is/it stored in double slots; 5 vectors per side; vectors, C, K, GS, GT */
  return (n + m) + 6 * (n + m) + 2 * (n + m) * d + 2 * n * m + 8;
}

size_t ot_workspace_size(int n, int m, int d, const ot_options *o) {
  (void)o;
  if (n < 0 || m < 0 || d < 0) return 0;
  return ws_doubles((size_t)n, (size_t)m, (size_t)d) * sizeof(double);
}

static void ws_layout(ot_ws *w, void *base, size_t n, size_t m, size_t d) {
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
    /* rows: u = a / K v, fused with w = K^T u for the error and the next column step */
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
         isfinite(o->eps_start);
}

ot_status ot_solve(const ot_problem *p, const ot_options *o, ot_result *r, void *work, size_t work_size) {
  ot_options defaults;
  if (!o) ot_options_default(&defaults), o = &defaults;
  r->cost = NAN, r->err = NAN, r->iters = 0, r->converged = 0;
  r->bad_side = 0, r->bad_index = -1;
  if (!options_ok(o)) return r->status = OT_ERR_OPTIONS;
  if (p->n < 0 || p->m < 0 || p->ds <= 0 || p->ds != p->dt) return r->status = OT_ERR_DIM;
  if (p->n == 0 || p->m == 0) return r->bad_side = p->n != 0, r->status = OT_ERR_EMPTY;
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
  ws_layout(&w, work, (size_t)p->n, (size_t)p->m, (size_t)d);
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
    if (sinkhorn(&w, n, m, eps, tol, o->max_iter, o->check_every, o->err_norm, &st) < 0) {
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
  size_t count;
  const ot_options *o;
  char *work;
  size_t slot;
  size_t next; /* atomic */
  size_t failed;
  pthread_mutex_t lock;
} batch_job;

typedef struct {
  batch_job *job;
  int id;
} batch_arg;

static void *batch_worker(void *arg) {
  batch_arg *ba = arg;
  batch_job *job = ba->job;
  void *work = job->work + job->slot * (size_t)ba->id;
  size_t failed = 0;
  for (;;) {
    size_t i = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED);
    if (i >= job->count) break;
    if (ot_solve(&job->p[i], job->o, &job->r[i], work, job->slot) != OT_OK) failed++;
  }
  __atomic_fetch_add(&job->failed, failed, __ATOMIC_RELAXED);
  return NULL;
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
  batch_job job = {.p = p, .r = r, .count = count, .o = o, .work = work, .slot = need / (size_t)threads};
  batch_arg args[threads];
  pthread_t tid[threads];
  int started = 0;
  for (int t = 1; t < threads; t++) {
    args[t] = (batch_arg){&job, t};
    if (pthread_create(&tid[t], NULL, batch_worker, &args[t]) != 0) break;
    started = t;
  }
  args[0] = (batch_arg){&job, 0};
  batch_worker(&args[0]);
  for (int t = 1; t <= started; t++) pthread_join(tid[t], NULL);
  free(own);
  return job.failed;
}
