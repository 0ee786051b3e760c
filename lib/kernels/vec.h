/* kernels/vec.h: the element-wise and row-wise inner loops of the encoder,
 * Sinkhorn and search, each in three variants (portable C, AVX2+FMA,
 * AVX-512) picked at run time by kernels/cpu.h. All of them work on rows
 * independently (a row's result never depends on other rows), so callers
 * can split rows over threads without changing a bit.
 *
 * Numbers: the portable variant is the reference (scalar libm erff/expf,
 * sums in the order of the loops). The vector variants use glibc's vector
 * math (libmvec), FMA, and lane-wise partial sums combined in a fixed
 * order: deterministic, within the tolerances of lib/kernels/README.md of
 * the portable results (tests/unit/test_kernels.c checks each variant the
 * CPU has). Maxima are exact in every variant. */
#ifndef OTC_KERN_VEC_H
#define OTC_KERN_VEC_H

#include <stddef.h>

/* GELU, exact erf form, on rows with a bias: z = x[r][c] + bias[c] (bias
 * NULL: 0); pre (NULL: not kept) receives z, out receives gelu(z). out or
 * pre may alias x. */
void kern_bias_gelu(float *out, float *pre, const float *x, const float *bias, size_t rows, size_t cols);
/* dx (+)= dout * gelu'(x) over n values (accumulate = 0: overwrite). */
void kern_gelu_backward(float *dx, const float *x, const float *dout, size_t n, int accumulate);

/* Row softmax of scaled scores, in place: p[i][j] = exp(scale (s_ij - max_j s_ij)) / sum,
 * rows of cols values with stride ld. */
void kern_softmax_rows(float *p, size_t rows, size_t cols, size_t ld, float scale);
/* Softmax backward, in place over g: g_ij = scale * p_ij (g_ij - sum_k g_ik p_ik). */
void kern_softmax_backward_rows(float *g, const float *p, size_t rows, size_t cols, size_t ld, float scale);

/* LayerNorm over rows of C (biased variance, statistics in double). When
 * bias or res is non-NULL, x is first updated in place, x += bias + res
 * (the residual connection and the preceding dense layer's bias, fused).
 * y = (x - mean) * rstd * w + b; mean[r], rstd[r] kept for the backward. */
void kern_layernorm(float *y, float *mean, float *rstd, float *x, const float *bias, const float *res,
                    const float *w, const float *b, size_t rows, size_t C, double eps);
/* dx (+)= d LayerNorm / dx for rows (accumulate = 0: overwrite). */
void kern_layernorm_backward(float *dx, const float *dout, const float *x, const float *w, const float *mean,
                             const float *rstd, size_t rows, size_t C, int accumulate);
/* Parameter gradients of LayerNorm for the columns [c0, c1) only, summed over
 * all rows in row order: dw[c] += sum_r xhat_rc dout_rc, db[c] += sum_r dout_rc
 * (either may be NULL). Split columns over threads, not rows. */
void kern_layernorm_param_grads(float *dw, float *db, const float *dout, const float *x, const float *mean,
                                const float *rstd, size_t rows, size_t C, size_t c0, size_t c1);
/* acc[c] += sum_r x[r][c] for c in [c0, c1), rows in order (a dense layer's bias gradient). */
void kern_colsum(float *acc, const float *x, size_t rows, size_t ld, size_t c0, size_t c1);

/* log sum_j exp(g[j] - scale * c[j]) over n >= 1 terms, shifted by the
 * maximum (Sinkhorn's log-domain update; double). */
double kern_logsumexp_d(const double *g, const double *c, double scale, size_t n);

/* Maximum of p[0..n), n >= 1 (exact). */
float kern_max(const float *p, size_t n);
/* cm[x] = max(cm[x], row[x]) for x < n. */
void kern_max_into(float *cm, const float *row, size_t n);
/* x /= ||x||_2 (sum of squares in double); a zero vector stays zero. */
void kern_normalize(float *x, size_t n);

#endif
