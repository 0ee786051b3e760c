/* vec_simd.h: the vector variants of kernels/vec.h, written once over a
 * vector of VW floats and included by vec.c under a GCC target pragma with
 * VW = 8 (AVX2+FMA) and VW = 16 (AVX-512F), VSFX naming the variant. The
 * transcendental functions are glibc's vector math (libmvec: the
 * _ZGV..._expf/_erff/_exp entry points that GCC itself calls when it
 * vectorizes expf). No include guard on purpose. */
#define VCAT_(a, b) a##_##b
#define VCAT(a, b) VCAT_(a, b)
#define VF(name) VCAT(name, VSFX)

#if VW == 16
#define VT __m512
#define VTD __m512d
#define VWD 8
#define V_LOAD _mm512_loadu_ps
#define V_STORE _mm512_storeu_ps
#define V_SET1 _mm512_set1_ps
#define V_ZERO _mm512_setzero_ps
#define V_ADD _mm512_add_ps
#define V_SUB _mm512_sub_ps
#define V_MUL _mm512_mul_ps
#define V_FMA _mm512_fmadd_ps /* a * b + c, one rounding */
#define V_MAX _mm512_max_ps
#define VD_SET1 _mm512_set1_pd
#define VD_ZERO _mm512_setzero_pd
#define VD_LOAD _mm512_loadu_pd
#define VD_STORE _mm512_storeu_pd
#define VD_ADD _mm512_add_pd
#define VD_SUB _mm512_sub_pd
#define VD_MUL _mm512_mul_pd
#define VD_FMA _mm512_fmadd_pd
#define VD_MAX _mm512_max_pd
__m512 _ZGVeN16v_expf(__m512);
__m512 _ZGVeN16v_erff(__m512);
__m512d _ZGVeN8v_exp(__m512d);
#define V_EXP _ZGVeN16v_expf
#define V_ERF _ZGVeN16v_erff
#define VD_EXP _ZGVeN8v_exp
static inline VT VF(loadn)(const float *p, size_t n, VT fill) {
  return _mm512_mask_loadu_ps(fill, (__mmask16)((1u << n) - 1), p);
}
static inline void VF(storen)(float *p, VT v, size_t n) { _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), v); }
static inline VTD VF(loadn_d)(const double *p, size_t n, VTD fill) {
  return _mm512_mask_loadu_pd(fill, (__mmask8)((1u << n) - 1), p);
}
static inline VTD VF(lo_d)(VT v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
static inline VTD VF(hi_d)(VT v) {
  return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}
#else
#define VT __m256
#define VTD __m256d
#define VWD 4
#define V_LOAD _mm256_loadu_ps
#define V_STORE _mm256_storeu_ps
#define V_SET1 _mm256_set1_ps
#define V_ZERO _mm256_setzero_ps
#define V_ADD _mm256_add_ps
#define V_SUB _mm256_sub_ps
#define V_MUL _mm256_mul_ps
#define V_FMA _mm256_fmadd_ps
#define V_MAX _mm256_max_ps
#define VD_SET1 _mm256_set1_pd
#define VD_ZERO _mm256_setzero_pd
#define VD_LOAD _mm256_loadu_pd
#define VD_STORE _mm256_storeu_pd
#define VD_ADD _mm256_add_pd
#define VD_SUB _mm256_sub_pd
#define VD_MUL _mm256_mul_pd
#define VD_FMA _mm256_fmadd_pd
#define VD_MAX _mm256_max_pd
__m256 _ZGVdN8v_expf(__m256);
__m256 _ZGVdN8v_erff(__m256);
__m256d _ZGVdN4v_exp(__m256d);
#define V_EXP _ZGVdN8v_expf
#define V_ERF _ZGVdN8v_erff
#define VD_EXP _ZGVdN4v_exp
static inline __m256i VF(mask)(size_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline VT VF(loadn)(const float *p, size_t n, VT fill) {
  __m256i m = VF(mask)(n);
  return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
static inline void VF(storen)(float *p, VT v, size_t n) { _mm256_maskstore_ps(p, VF(mask)(n), v); }
static inline VTD VF(loadn_d)(const double *p, size_t n, VTD fill) {
  __m256i m = _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)n), _mm256_setr_epi64x(0, 1, 2, 3));
  return _mm256_blendv_pd(fill, _mm256_maskload_pd(p, m), _mm256_castsi256_pd(m));
}
static inline VTD VF(lo_d)(VT v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
static inline VTD VF(hi_d)(VT v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }
#endif

/* Horizontal sum and max in a fixed order (lane 0 + lane 1 + ...: through memory). */
static inline float VF(hsum)(VT v) {
  float t[VW], s = 0;
  V_STORE(t, v);
  for (int i = 0; i < VW; i++) s += t[i];
  return s;
}
static inline double VF(hsum_d)(VTD v) {
  double t[VWD], s = 0;
  VD_STORE(t, v);
  for (int i = 0; i < VWD; i++) s += t[i];
  return s;
}
static inline float VF(hmax)(VT v) {
  float t[VW], s;
  V_STORE(t, v);
  s = t[0];
  for (int i = 1; i < VW; i++) s = t[i] > s ? t[i] : s;
  return s;
}

/* ----------------------------------------------------------------- GELU */

static inline VT VF(gelu1)(VT z) {
  VT h = V_MUL(V_SET1(0.5f), z);
  return V_FMA(h, V_ERF(V_MUL(z, V_SET1((float)SQRT1_2))), h);
}

static void VF(bias_gelu)(float *out, float *pre, const float *x, const float *bias, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * cols;
    float *o = out + r * cols, *pr = pre ? pre + r * cols : NULL;
    size_t c = 0;
    for (; c + VW <= cols; c += VW) {
      VT z = V_LOAD(xr + c);
      if (bias) z = V_ADD(z, V_LOAD(bias + c));
      if (pr) V_STORE(pr + c, z);
      V_STORE(o + c, VF(gelu1)(z));
    }
    if (c < cols) {
      size_t k = cols - c;
      VT z = VF(loadn)(xr + c, k, V_ZERO());
      if (bias) z = V_ADD(z, VF(loadn)(bias + c, k, V_ZERO()));
      if (pr) VF(storen)(pr + c, z, k);
      VF(storen)(o + c, VF(gelu1)(z), k);
    }
  }
}

static inline VT VF(dgelu1)(VT v) {
  VT cdf = V_MUL(V_SET1(0.5f), V_ADD(V_SET1(1.0f), V_ERF(V_MUL(v, V_SET1((float)SQRT1_2)))));
  VT pdf = V_MUL(V_SET1((float)INV_SQRT_2PI), V_EXP(V_MUL(V_MUL(V_SET1(-0.5f), v), v)));
  return V_FMA(v, pdf, cdf);
}

static void VF(gelu_backward)(float *dx, const float *x, const float *dout, size_t n, int acc) {
  size_t i = 0;
  for (; i + VW <= n; i += VW) {
    VT d = V_MUL(V_LOAD(dout + i), VF(dgelu1)(V_LOAD(x + i)));
    V_STORE(dx + i, acc ? V_ADD(V_LOAD(dx + i), d) : d);
  }
  if (i < n) {
    size_t k = n - i;
    VT d = V_MUL(VF(loadn)(dout + i, k, V_ZERO()), VF(dgelu1)(VF(loadn)(x + i, k, V_ZERO())));
    VF(storen)(dx + i, acc ? V_ADD(VF(loadn)(dx + i, k, V_ZERO()), d) : d, k);
  }
}

/* -------------------------------------------------------------- softmax */

static void VF(softmax_rows)(float *p, size_t rows, size_t cols, size_t ld, float scale) {
  const VT ninf = V_SET1(-INFINITY), sc = V_SET1(scale);
  for (size_t i = 0; i < rows; i++) {
    float *row = p + i * ld;
    VT m = ninf;
    size_t j = 0;
    for (; j + VW <= cols; j += VW) m = V_MAX(m, V_LOAD(row + j));
    if (j < cols) m = V_MAX(m, VF(loadn)(row + j, cols - j, ninf));
    VT mx = V_SET1(VF(hmax)(m)), s = V_ZERO();
    for (j = 0; j + VW <= cols; j += VW) {
      VT e = V_EXP(V_MUL(V_SUB(V_LOAD(row + j), mx), sc));
      V_STORE(row + j, e);
      s = V_ADD(s, e);
    }
    if (j < cols) {
      size_t k = cols - j;
      VT e = V_EXP(V_MUL(V_SUB(VF(loadn)(row + j, k, mx), mx), sc)); /* padding: exp(0), not stored */
      VF(storen)(row + j, e, k);
      s = V_ADD(s, VF(loadn)(row + j, k, V_ZERO()));
    }
    VT inv = V_SET1(1.0f / VF(hsum)(s));
    for (j = 0; j + VW <= cols; j += VW) V_STORE(row + j, V_MUL(V_LOAD(row + j), inv));
    if (j < cols) VF(storen)(row + j, V_MUL(VF(loadn)(row + j, cols - j, V_ZERO()), inv), cols - j);
  }
}

static void VF(softmax_backward_rows)(float *g, const float *p, size_t rows, size_t cols, size_t ld, float scale) {
  for (size_t i = 0; i < rows; i++) {
    const float *pr = p + i * ld;
    float *gr = g + i * ld;
    VT s = V_ZERO();
    size_t j = 0;
    for (; j + VW <= cols; j += VW) s = V_FMA(V_LOAD(gr + j), V_LOAD(pr + j), s);
    if (j < cols) s = V_FMA(VF(loadn)(gr + j, cols - j, V_ZERO()), VF(loadn)(pr + j, cols - j, V_ZERO()), s);
    VT dot = V_SET1(VF(hsum)(s)), sc = V_SET1(scale);
    for (j = 0; j + VW <= cols; j += VW)
      V_STORE(gr + j, V_MUL(V_MUL(V_LOAD(pr + j), V_SUB(V_LOAD(gr + j), dot)), sc));
    if (j < cols) {
      size_t k = cols - j;
      VT v = V_MUL(V_MUL(VF(loadn)(pr + j, k, V_ZERO()), V_SUB(VF(loadn)(gr + j, k, V_ZERO()), dot)), sc);
      VF(storen)(gr + j, v, k);
    }
  }
}

/* ------------------------------------------------------------ LayerNorm */

static void VF(layernorm)(float *y, float *mean, float *rstd, float *x, const float *bias, const float *res,
                          const float *w, const float *b, size_t rows, size_t C, double eps) {
  for (size_t r = 0; r < rows; r++) {
    float *xr = x + r * C;
    const float *rr = res ? res + r * C : NULL;
    VTD s0 = VD_ZERO(), s1 = VD_ZERO();
    size_t i = 0;
    for (; i + VW <= C; i += VW) {
      VT v = V_LOAD(xr + i);
      if (bias) v = V_ADD(v, V_LOAD(bias + i));
      if (rr) v = V_ADD(v, V_LOAD(rr + i));
      if (bias || rr) V_STORE(xr + i, v);
      s0 = VD_ADD(s0, VF(lo_d)(v));
      s1 = VD_ADD(s1, VF(hi_d)(v));
    }
    double tail = 0;
    for (; i < C; i++) {
      float v = xr[i];
      if (bias) v += bias[i];
      if (rr) v += rr[i];
      if (bias || rr) xr[i] = v;
      tail += v;
    }
    double m = (VF(hsum_d)(VD_ADD(s0, s1)) + tail) / (double)C;
    VTD md = VD_SET1(m);
    s0 = VD_ZERO(), s1 = VD_ZERO();
    for (i = 0; i + VW <= C; i += VW) {
      VT v = V_LOAD(xr + i);
      VTD t0 = VD_SUB(VF(lo_d)(v), md), t1 = VD_SUB(VF(hi_d)(v), md);
      s0 = VD_FMA(t0, t0, s0);
      s1 = VD_FMA(t1, t1, s1);
    }
    tail = 0;
    for (; i < C; i++) {
      double t = xr[i] - m;
      tail += t * t;
    }
    double var = (VF(hsum_d)(VD_ADD(s0, s1)) + tail) / (double)C;
    float rs = (float)(1.0 / sqrt(var + eps)), mr = (float)m;
    VT vm = V_SET1(mr), vr = V_SET1(rs);
    float *yr = y + r * C;
    for (i = 0; i + VW <= C; i += VW)
      V_STORE(yr + i, V_FMA(V_MUL(V_SUB(V_LOAD(xr + i), vm), vr), V_LOAD(w + i), V_LOAD(b + i)));
    if (i < C) {
      size_t k = C - i;
      VT v = V_FMA(V_MUL(V_SUB(VF(loadn)(xr + i, k, V_ZERO()), vm), vr), VF(loadn)(w + i, k, V_ZERO()),
                   VF(loadn)(b + i, k, V_ZERO()));
      VF(storen)(yr + i, v, k);
    }
    mean[r] = mr;
    rstd[r] = rs;
  }
}

static void VF(layernorm_backward)(float *dx, const float *dout, const float *x, const float *w, const float *mean,
                                   const float *rstd, size_t rows, size_t C, int acc) {
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * C, *g = dout + r * C;
    VT vm = V_SET1(mean[r]), vr = V_SET1(rstd[r]);
    VTD a0 = VD_ZERO(), a1 = VD_ZERO(), b0 = VD_ZERO(), b1 = VD_ZERO();
    size_t i = 0;
    for (; i < C; i += VW) {
      size_t k = C - i < VW ? C - i : VW;
      VT xv = k == VW ? V_LOAD(xr + i) : VF(loadn)(xr + i, k, vm); /* padding: norm 0 */
      VT gv = k == VW ? V_LOAD(g + i) : VF(loadn)(g + i, k, V_ZERO());
      VT wv = k == VW ? V_LOAD(w + i) : VF(loadn)(w + i, k, V_ZERO());
      VT norm = V_MUL(V_SUB(xv, vm), vr), dn = V_MUL(wv, gv);
      VTD d0 = VF(lo_d)(dn), d1 = VF(hi_d)(dn);
      a0 = VD_ADD(a0, d0), a1 = VD_ADD(a1, d1);
      b0 = VD_FMA(d0, VF(lo_d)(norm), b0), b1 = VD_FMA(d1, VF(hi_d)(norm), b1);
    }
    VT mdn = V_SET1((float)(VF(hsum_d)(VD_ADD(a0, a1)) / (double)C));
    VT mdnn = V_SET1((float)(VF(hsum_d)(VD_ADD(b0, b1)) / (double)C));
    float *d = dx + r * C;
    for (i = 0; i < C; i += VW) {
      size_t k = C - i < VW ? C - i : VW;
      VT xv = k == VW ? V_LOAD(xr + i) : VF(loadn)(xr + i, k, vm);
      VT gv = k == VW ? V_LOAD(g + i) : VF(loadn)(g + i, k, V_ZERO());
      VT wv = k == VW ? V_LOAD(w + i) : VF(loadn)(w + i, k, V_ZERO());
      VT norm = V_MUL(V_SUB(xv, vm), vr), dn = V_MUL(wv, gv);
      VT v = V_MUL(vr, V_SUB(V_SUB(dn, mdn), V_MUL(norm, mdnn)));
      if (k == VW)
        V_STORE(d + i, acc ? V_ADD(V_LOAD(d + i), v) : v);
      else
        VF(storen)(d + i, acc ? V_ADD(VF(loadn)(d + i, k, V_ZERO()), v) : v, k);
    }
  }
}

static void VF(layernorm_param_grads)(float *dw, float *db, const float *dout, const float *x, const float *mean,
                                      const float *rstd, size_t rows, size_t C, size_t c0, size_t c1) {
  /* Columns in strips of 4 vectors kept in registers across all rows. */
  for (size_t c = c0; c < c1; c += 4 * VW) {
    size_t width = c1 - c < 4 * VW ? c1 - c : 4 * VW;
    VT aw[4], ab[4];
    for (int u = 0; u < 4; u++) aw[u] = V_ZERO(), ab[u] = V_ZERO();
    for (size_t r = 0; r < rows; r++) {
      const float *xr = x + r * C + c, *g = dout + r * C + c;
      VT vm = V_SET1(mean[r]), vr = V_SET1(rstd[r]);
      for (int u = 0; u < 4 && (size_t)u * VW < width; u++) {
        size_t k = width - (size_t)u * VW < VW ? width - (size_t)u * VW : VW;
        VT xv = k == VW ? V_LOAD(xr + u * VW) : VF(loadn)(xr + u * VW, k, vm);
        VT gv = k == VW ? V_LOAD(g + u * VW) : VF(loadn)(g + u * VW, k, V_ZERO());
        ab[u] = V_ADD(ab[u], gv);
        aw[u] = V_FMA(V_MUL(V_SUB(xv, vm), vr), gv, aw[u]);
      }
    }
    for (int u = 0; u < 4 && (size_t)u * VW < width; u++) {
      size_t k = width - (size_t)u * VW < VW ? width - (size_t)u * VW : VW;
      float *pw = dw ? dw + c + u * VW : NULL, *pb = db ? db + c + u * VW : NULL;
      if (pw) VF(storen)(pw, V_ADD(VF(loadn)(pw, k, V_ZERO()), aw[u]), k);
      if (pb) VF(storen)(pb, V_ADD(VF(loadn)(pb, k, V_ZERO()), ab[u]), k);
    }
  }
}

static void VF(colsum)(float *acc, const float *x, size_t rows, size_t ld, size_t c0, size_t c1) {
  for (size_t c = c0; c < c1; c += 4 * VW) {
    size_t width = c1 - c < 4 * VW ? c1 - c : 4 * VW;
    VT a[4];
    for (int u = 0; u < 4; u++) a[u] = V_ZERO();
    for (size_t r = 0; r < rows; r++)
      for (int u = 0; u < 4 && (size_t)u * VW < width; u++) {
        size_t k = width - (size_t)u * VW < VW ? width - (size_t)u * VW : VW;
        const float *p = x + r * ld + c + u * VW;
        a[u] = V_ADD(a[u], k == VW ? V_LOAD(p) : VF(loadn)(p, k, V_ZERO()));
      }
    for (int u = 0; u < 4 && (size_t)u * VW < width; u++) {
      size_t k = width - (size_t)u * VW < VW ? width - (size_t)u * VW : VW;
      VF(storen)(acc + c + u * VW, V_ADD(VF(loadn)(acc + c + u * VW, k, V_ZERO()), a[u]), k);
    }
  }
}

/* ------------------------------------------------------ Sinkhorn, search */

static double VF(logsumexp_d)(const double *g, const double *c, double scale, size_t n) {
  VTD sc = VD_SET1(scale), ninf = VD_SET1(-INFINITY), m = ninf;
  size_t j = 0;
  for (; j + VWD <= n; j += VWD) m = VD_MAX(m, VD_SUB(VD_LOAD(g + j), VD_MUL(VD_LOAD(c + j), sc)));
  if (j < n)
    m = VD_MAX(m, VD_SUB(VF(loadn_d)(g + j, n - j, ninf), VD_MUL(VF(loadn_d)(c + j, n - j, VD_ZERO()), sc)));
  double t[VWD], mx;
  VD_STORE(t, m);
  mx = t[0];
  for (int u = 1; u < VWD; u++) mx = t[u] > mx ? t[u] : mx;
  VTD vm = VD_SET1(mx), s = VD_ZERO();
  for (j = 0; j + VWD <= n; j += VWD)
    s = VD_ADD(s, VD_EXP(VD_SUB(VD_SUB(VD_LOAD(g + j), VD_MUL(VD_LOAD(c + j), sc)), vm)));
  if (j < n) /* padding: -inf, exp gives 0 */
    s = VD_ADD(s, VD_EXP(VD_SUB(VD_SUB(VF(loadn_d)(g + j, n - j, ninf),
                                       VD_MUL(VF(loadn_d)(c + j, n - j, VD_ZERO()), sc)), vm)));
  return mx + log(VF(hsum_d)(s));
}

static float VF(max)(const float *p, size_t n) {
  VT m = V_SET1(p[0]);
  size_t x = 0;
  for (; x + VW <= n; x += VW) m = V_MAX(m, V_LOAD(p + x));
  if (x < n) m = V_MAX(m, VF(loadn)(p + x, n - x, V_SET1(p[0])));
  return VF(hmax)(m);
}

static void VF(max_into)(float *cm, const float *row, size_t n) {
  size_t x = 0;
  for (; x + VW <= n; x += VW) V_STORE(cm + x, V_MAX(V_LOAD(row + x), V_LOAD(cm + x)));
  for (; x < n; x++) cm[x] = row[x] > cm[x] ? row[x] : cm[x];
}

static void VF(normalize)(float *x, size_t n) {
  VTD s0 = VD_ZERO(), s1 = VD_ZERO();
  size_t i = 0;
  for (; i < n; i += VW) {
    size_t k = n - i < VW ? n - i : VW;
    VT v = k == VW ? V_LOAD(x + i) : VF(loadn)(x + i, k, V_ZERO());
    VTD d0 = VF(lo_d)(v), d1 = VF(hi_d)(v);
    s0 = VD_FMA(d0, d0, s0), s1 = VD_FMA(d1, d1, s1);
  }
  double s = VF(hsum_d)(VD_ADD(s0, s1));
  if (s <= 0) return;
  double inv = 1.0 / sqrt(s);
  for (i = 0; i < n; i++) x[i] = (float)(x[i] * inv);
}

#undef VCAT_
#undef VCAT
#undef VF
#undef VWD
#undef VT
#undef VTD
#undef V_LOAD
#undef V_STORE
#undef V_SET1
#undef V_ZERO
#undef V_ADD
#undef V_SUB
#undef V_MUL
#undef V_FMA
#undef V_MAX
#undef V_EXP
#undef V_ERF
#undef VD_SET1
#undef VD_ZERO
#undef VD_LOAD
#undef VD_STORE
#undef VD_ADD
#undef VD_SUB
#undef VD_MUL
#undef VD_FMA
#undef VD_MAX
#undef VD_EXP
