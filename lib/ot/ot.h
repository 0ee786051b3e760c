/* ot.h: entropic optimal transport between two token sets (Sinkhorn).
 *
 * A problem is two sets of token vectors, S (n x ds) and T (m x dt, dt must
 * equal ds), with marginal weights a (n) and b (m), uniform by default. The
 * cost is C_ij = 1 - cos(s_i, t_j) (default) or |s_i - t_j|^2, and the solver
 * returns the plan of
 *
 *     min_P  <P, C> - eps H(P)   s.t.  P 1 = a,  P^T 1 = b,  P >= 0
 *
 * (the problem POT's ot.sinkhorn solves; H(P) = -sum P_ij (log P_ij - 1)).
 *
 * Algorithm: log-domain Sinkhorn started from zero potentials, each iteration
 *     log v_j = log b_j - logsumexp_i(log u_i - C_ij/eps)      (columns first)
 *     log u_i = log a_i - logsumexp_j(log v_j - C_ij/eps)      (then rows)
 * as in POT's sinkhorn_log, so the iterates are POT's. It is evaluated in the
 * stabilised form (potentials absorbed into a kernel exp((f_i+g_j-C_ij)/eps)
 * that is rebuilt when the residual scalings leave [e^-50, e^50], and exact
 * max-shifted log-sum-exp for any row or column that underflows), so an
 * iteration costs two matrix-vector products (fused into one pass over the
 * kernel) instead of 2nm exps, and eps down to 1e-3 (and below) is stable.
 * All arithmetic is double; the plan and gradients are returned as float.
 *
 * Stopping: after iteration 1 and then every check_every iterations (POT:
 * 10), the marginal error is compared with tol; the default error is the L1
 * error of both marginals, sum_i |P1 - a|_i + sum_j |P^T 1 - b|_j. With
 * err_norm = OT_NORM_L2_COL it is POT's ||P^T 1 - b||_2 (row sums are exact
 * after the row update). The error of the returned plan is always computed.
 *
 * Convergence: Sinkhorn's linear rate tends to 1 when the plan is nearly a
 * matching with unequal masses (a token with several exact copies on the
 * other side): at eps 0.05 some sentence pairs need 10^4-10^5 iterations,
 * from any eps-scaling start. With o->newton = N, such a problem takes
 * Newton steps on the dual after N iterations: the Schur complement of the
 * dual Hessian on the smaller side (Cholesky), a backtracking line search on
 * the dual objective, then a Sinkhorn row update; convergence is quadratic
 * (a few steps to 1e-6). A step costs about min(n,m) / 2 Sinkhorn
 * iterations. The returned plan is the same optimum to within tol.
 *
 * Masks and weights: a token with mask 0 (e.g. [CLS], [SEP], padding) or
 * weight 0 takes no part in the problem: its plan row/column and gradient are
 * zero. Weights of the remaining tokens are normalised to sum 1 on each side.
 * Every vector, masked or not, must be finite (a NaN is a bug upstream).
 *
 * Envelope gradient: at the optimum of the entropic problem, the derivative
 * of <P,C> is taken with P held fixed (no differentiation through the
 * iterations), i.e. d<P,C>/ds_i = sum_j P_ij dC_ij/ds_i with, for cosine,
 *     dC_ij/ds_i = -(t^_j - cos_ij s^_i) / |s_i|     (x^ = x/|x|)
 * and for squared Euclidean dC_ij/ds_i = 2 (s_i - t_j); symmetric for t_j.
 *
 * Determinism: a problem is solved by one thread with a fixed order of
 * operations, so results are bit-identical for any thread count and between
 * ot_solve and ot_solve_batch. The inner loops have AVX2 clones picked at run
 * time; their sums run in the same fixed order with no FMA contraction, so
 * every x86-64 machine gives the same bits. Large problems (n*m*d above
 * OT_GEMM_MIN, a choice that depends on the sizes only) use cblas_dgemm for
 * the cost matrix and the gradient; those bits depend on OpenBLAS's kernel
 * for the CPU.
 *
 * Thread safety: all functions are reentrant; nothing global is kept.
 */
#ifndef OTC_OT_H
#define OTC_OT_H

#include <stddef.h>

typedef enum { OT_COST_COSINE = 0, OT_COST_SQEUCLID = 1 } ot_cost;
typedef enum { OT_NORM_L1_BOTH = 0, OT_NORM_L2_COL = 1 } ot_norm;

typedef struct {
  double eps;         /* entropic regularisation, > 0, in cost units (default 0.05) */
  double tol;         /* stop when the marginal error < tol (default 1e-6); 0 = run max_iter */
  int max_iter;       /* maximum Sinkhorn iterations (one = a column and a row update; default 1000) */
  int check_every;    /* test the stop rule after iteration 1, 1+k, 1+2k, ... (default 1; POT: 10) */
  ot_norm err_norm;   /* how the marginal error is measured (default OT_NORM_L1_BOTH) */
  ot_cost cost;       /* default OT_COST_COSINE */
  double eps_start;   /* eps-scaling: 0 = off (default); else start at eps_start and halve the
                         regularisation per stage down to eps. Intermediate stages stop at a marginal
                         error of max(tol, 1e-3); their iterations count in iters and max_iter (if
                         max_iter runs out in such a stage, its plan is returned with converged = 0). */
  int newton;         /* 0 = off (default: the iterates are POT's). N > 0: a problem not converged
                         after N Sinkhorn iterations at the final eps continues with Newton steps on
                         the dual (see Convergence below); each counts as one iteration in iters and
                         max_iter. Problems that converge within N iterations are unchanged. */
  int threads;        /* ot_solve_batch only: worker threads, <= 0 = otc_threads() (default 0) */
} ot_options;

/* Fill o with the defaults above. */
void ot_options_default(ot_options *o);

typedef struct {
  const float *S;             /* n x ds, row-major: row i = source token i */
  const float *T;             /* m x dt, row-major */
  int n, m, ds, dt;           /* dt must equal ds */
  const float *a, *b;         /* marginal weights (n, m), >= 0; NULL = uniform */
  const unsigned char *mask_s, *mask_t; /* nonzero = token takes part; NULL = all */
} ot_problem;

typedef enum {
  OT_OK = 0,
  OT_ERR_DIM,        /* ds != dt, or a size < 0 or d == 0 */
  OT_ERR_EMPTY,      /* n or m is 0, or every token of a side is masked out / has weight 0 */
  OT_ERR_NONFINITE,  /* NaN or Inf in a vector or a weight (bad_side/bad_index say where) */
  OT_ERR_WEIGHT,     /* a negative weight */
  OT_ERR_ZERO_NORM,  /* cosine cost of a zero vector (bad_side/bad_index) */
  OT_ERR_OPTIONS,    /* eps <= 0 or not finite, tol < 0, max_iter < 1, check_every < 1, ... */
  OT_ERR_WORKSPACE,  /* the caller's workspace is smaller than ot_workspace_size() */
  OT_ERR_NOMEM,      /* internal allocation failed (only when work == NULL) */
  OT_ERR_NUMERIC,    /* non-finite value during the iterations (should not happen) */
  OT_ERR_SIZE,       /* n * m > OT_MAX_CELLS: refused before anything is allocated */
} ot_status;

/* Caller-owned outputs go in plan/grad_s/grad_t (NULL = not wanted); the
 * solver fills the rest. */
typedef struct {
  float *plan;       /* in: n x m buffer or NULL; out: P (row i = source token i) */
  float *grad_s;     /* in: n x ds buffer or NULL; out: d<P,C>/dS with P fixed */
  float *grad_t;     /* in: m x dt buffer or NULL; out: d<P,C>/dT with P fixed */
  double cost;       /* <P, C> (transport cost of the entropic plan, no entropy term) */
  double err;        /* marginal error of the returned plan, measured as options.err_norm */
  int iters;         /* Sinkhorn iterations done */
  int converged;     /* 1 if the stop rule fired (err < tol), 0 if max_iter was reached */
  ot_status status;  /* OT_OK or the error; on error the other outputs are unspecified */
  int bad_side;      /* on OT_ERR_NONFINITE/ZERO_NORM/WEIGHT/EMPTY: 0 = S or a, 1 = T or b */
  int bad_index;     /*   and the token index; -1 otherwise */
} ot_result;

/* A message for a status ("NaN or Inf in a token vector", ...). */
const char *ot_strerror(ot_status s);

/* Bytes of workspace one solve of this size needs (8-byte aligned start). */
size_t ot_workspace_size(int n, int m, int d, const ot_options *o);

/* Solve one problem. work may be NULL (allocated and freed inside) or at
 * least ot_workspace_size(n, m, ds, o) bytes. Returns r->status. */
ot_status ot_solve(const ot_problem *p, const ot_options *o, ot_result *r, void *work, size_t work_size);

/* Workspace for ot_solve_batch: one slot of the largest problem per thread. */
size_t ot_batch_workspace_size(const ot_problem *p, size_t count, const ot_options *o);

/* Solve count independent problems on o->threads threads (each problem by one
 * thread; results identical to ot_solve). work may be NULL or at least
 * ot_batch_workspace_size() bytes. Returns the number of problems whose
 * status is not OT_OK (each result carries its own status). */
size_t ot_solve_batch(const ot_problem *p, ot_result *r, size_t count, const ot_options *o, void *work,
                      size_t work_size);

/* The largest problem solved: n * m <= OT_MAX_CELLS token pairs (e.g. 4096 x
 * 4096). Its workspace is about 16 n m bytes (256 MiB at the limit) plus the
 * vectors; larger problems get OT_ERR_SIZE before any allocation, and
 * ot_workspace_size() returns 0 for them. Token sequences of a BERT encoder
 * (512 positions) are far below it. */
#define OT_MAX_CELLS (1L << 24)

/* Above this n*m*d the cost matrix and gradients go through cblas_dgemm. */
#define OT_GEMM_MIN (64L * 64L * 256L)

#endif
