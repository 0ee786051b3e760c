/* bert_kernels.h: the layer kernels of bert.h, written once and instantiated
 * by lib/bert.c for float (the model) and double (the finite-difference
 * tests). Include with KF32 defined to 1 (float) or 0 (double); it sets REAL,
 * SFX (the function-name suffix: none, or _d), GEMM, KERF and KEXP, and the
 * end of this file undefines them all. No include guard on purpose.
 *
 * KF32 is 1 for the float instantiation: its element-wise and row kernels
 * are kernels/vec.h's, dispatched by CPU (portable, AVX2, AVX-512); the
 * double instantiation keeps the plain loops below as the reference.
 *
 * Arithmetic notes: LayerNorm statistics are accumulated in double in both
 * instantiations (a float sum over 768 values loses ~1e-6 relative, the size
 * of the fixture tolerance); softmax subtracts the row maximum.
 */
#if KF32
#define REAL float
#define SFX
#define GEMM cblas_sgemm
#define KERF erff
#define KEXP expf
#else
#define REAL double
#define SFX _d
#define GEMM cblas_dgemm
#define KERF erf
#define KEXP exp
#endif
#define KCAT_(a, b) a##b
#define KCAT(a, b) KCAT_(a, b)
#define KFN(name) KCAT(name, SFX)

void KFN(bert_linear_forward)(REAL *out, const REAL *inp, const REAL *w, const REAL *b, int N, int C,
                              int OC) {
  if (N == 0) return;
  if (b)
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, b, (size_t)OC * sizeof(REAL));
#if KF32
  kern_sgemm(0, 1, N, OC, C, 1, inp, C, w, C, b ? 1 : 0, out, OC);
#else
  GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1, inp, C, w, C, b ? 1 : 0, out, OC);
#endif
}

void KFN(bert_linear_backward)(REAL *dinp, REAL *dw, REAL *db, const REAL *dout, const REAL *inp,
                               const REAL *w, int N, int C, int OC) {
  if (N == 0) return;
  if (dinp) GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1, dout, OC, w, C, 1, dinp, C);
  if (dw) GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1, dout, OC, inp, C, 1, dw, C);
  if (db) {
#if KF32
    kern_colsum(db, dout, (size_t)N, (size_t)OC, 0, (size_t)OC);
#else
    for (int n = 0; n < N; n++) {
      const REAL *g = dout + (size_t)n * OC;
      for (int o = 0; o < OC; o++) db[o] += g[o];
    }
#endif
  }
}

void KFN(bert_layernorm_forward)(REAL *out, REAL *mean, REAL *rstd, const REAL *inp, const REAL *w,
                                 const REAL *b, int N, int C, double eps) {
#if KF32
  kern_layernorm(out, mean, rstd, (REAL *)inp, NULL, NULL, w, b, (size_t)N, (size_t)C, eps);
  return;
#endif
  for (int n = 0; n < N; n++) {
    const REAL *x = inp + (size_t)n * C;
    double s = 0;
    for (int i = 0; i < C; i++) s += x[i];
    double m = s / C, v = 0;
    for (int i = 0; i < C; i++) {
      double t = x[i] - m;
      v += t * t;
    }
    v /= C;
    REAL rs = (REAL)(1.0 / sqrt(v + eps)), mr = (REAL)m;
    REAL *y = out + (size_t)n * C;
    for (int i = 0; i < C; i++) y[i] = (x[i] - mr) * rs * w[i] + b[i];
    mean[n] = mr;
    rstd[n] = rs;
  }
}

void KFN(bert_layernorm_backward)(REAL *dinp, REAL *dw, REAL *db, const REAL *dout, const REAL *inp,
                                  const REAL *w, const REAL *mean, const REAL *rstd, int N, int C) {
#if KF32
  kern_layernorm_backward(dinp, dout, inp, w, mean, rstd, (size_t)N, (size_t)C, 1);
  kern_layernorm_param_grads(dw, db, dout, inp, mean, rstd, (size_t)N, (size_t)C, 0, (size_t)C);
  return;
#endif
  for (int n = 0; n < N; n++) {
    const REAL *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
    REAL m = mean[n], rs = rstd[n];
    double sum_dn = 0, sum_dn_n = 0;
    for (int i = 0; i < C; i++) {
      REAL norm = (x[i] - m) * rs, dn = w[i] * g[i];
      sum_dn += dn;
      sum_dn_n += (double)dn * norm;
    }
    REAL mdn = (REAL)(sum_dn / C), mdnn = (REAL)(sum_dn_n / C);
    REAL *dx = dinp + (size_t)n * C;
    for (int i = 0; i < C; i++) {
      REAL norm = (x[i] - m) * rs, dn = w[i] * g[i];
      if (db) db[i] += g[i];
      if (dw) dw[i] += norm * g[i];
      dx[i] += rs * (dn - mdn - norm * mdnn);
    }
  }
}

#define KSQRT1_2 0.70710678118654752440
#define KINV_SQRT_2PI 0.39894228040143267794

void KFN(bert_gelu_forward)(REAL *out, const REAL *inp, size_t n) {
#if KF32
  kern_bias_gelu(out, NULL, inp, NULL, 1, n);
  return;
#endif
  for (size_t i = 0; i < n; i++) {
    REAL x = inp[i];
    out[i] = (REAL)0.5 * x * ((REAL)1 + KERF(x * (REAL)KSQRT1_2));
  }
}

void KFN(bert_gelu_backward)(REAL *dinp, const REAL *inp, const REAL *dout, size_t n) {
#if KF32
  kern_gelu_backward(dinp, inp, dout, n, 1);
  return;
#endif
  for (size_t i = 0; i < n; i++) {
    REAL x = inp[i];
    REAL cdf = (REAL)0.5 * ((REAL)1 + KERF(x * (REAL)KSQRT1_2));
    REAL pdf = (REAL)KINV_SQRT_2PI * KEXP((REAL)-0.5 * x * x);
    dinp[i] += dout[i] * (cdf + x * pdf);
  }
}

void KFN(bert_residual_forward)(REAL *out, const REAL *a, const REAL *b, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* One (sequence, head) of attention: rows of Q, K, V have stride 3d inside
 * qkv; the head's output columns have stride d inside out. */
static void KFN(attention_head_forward)(REAL *out, REAL *P, const REAL *qkv, int T, int d, int dh, int h) {
  const REAL *Q = qkv + h * dh, *K = qkv + d + h * dh, *V = qkv + 2 * d + h * dh;
  REAL scale = (REAL)(1.0 / sqrt((double)dh));
#if KF32
  GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, 1, Q, 3 * d, K, 3 * d, 0, P, T);
  kern_softmax_rows(P, (size_t)T, (size_t)T, (size_t)T, scale);
#else
  GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, scale, Q, 3 * d, K, 3 * d, 0, P, T);
  for (int i = 0; i < T; i++) {
    REAL *row = P + (size_t)i * T, mx = row[0];
    for (int j = 1; j < T; j++)
      if (row[j] > mx) mx = row[j];
    REAL s = 0;
    for (int j = 0; j < T; j++) {
      row[j] = KEXP(row[j] - mx);
      s += row[j];
    }
    REAL inv = (REAL)1 / s;
    for (int j = 0; j < T; j++) row[j] *= inv;
  }
#endif
  GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T, 1, P, T, V, 3 * d, 0, out + h * dh, d);
}

static void KFN(attention_head_backward)(REAL *dqkv, REAL *dP, const REAL *dout, const REAL *qkv,
                                         const REAL *P, int T, int d, int dh, int h) {
  const REAL *Q = qkv + h * dh, *K = qkv + d + h * dh, *V = qkv + 2 * d + h * dh;
  REAL *dQ = dqkv + h * dh, *dK = dqkv + d + h * dh, *dV = dqkv + 2 * d + h * dh;
  const REAL *dO = dout + h * dh;
  REAL scale = (REAL)(1.0 / sqrt((double)dh));
  /* dP = dO V^T; dV += P^T dO */
  GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, 1, dO, d, V, 3 * d, 0, dP, T);
  GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, T, 1, P, T, dO, d, 1, dV, 3 * d);
  /* softmax backward: dS = P * (dP - sum_j dP P), times the score scale */
#if KF32
  kern_softmax_backward_rows(dP, P, (size_t)T, (size_t)T, (size_t)T, scale);
#else
  for (int i = 0; i < T; i++) {
    const REAL *p = P + (size_t)i * T;
    REAL *g = dP + (size_t)i * T, dot = 0;
    for (int j = 0; j < T; j++) dot += g[j] * p[j];
    for (int j = 0; j < T; j++) g[j] = p[j] * (g[j] - dot) * scale;
  }
#endif
  /* dQ += dS K; dK += dS^T Q */
  GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T, 1, dP, T, K, 3 * d, 1, dQ, 3 * d);
  GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, T, 1, dP, T, Q, 3 * d, 1, dK, 3 * d);
}

void KFN(bert_attention_forward)(REAL *out, REAL *probs, const REAL *qkv, int B, const int *len, int H,
                                 int d) {
  int dh = d / H;
  size_t row = 0, poff = 0;
  for (int b = 0; b < B; b++) {
    int T = len[b];
    for (int h = 0; h < H; h++)
      KFN(attention_head_forward)(out + row * d, probs + poff + (size_t)h * T * T, qkv + row * 3 * d, T, d,
                                  dh, h);
    row += T;
    poff += (size_t)H * T * T;
  }
}

void KFN(bert_attention_backward)(REAL *dqkv, REAL *dprobs, const REAL *dout, const REAL *qkv,
                                  const REAL *probs, int B, const int *len, int H, int d) {
  int dh = d / H;
  size_t row = 0, poff = 0;
  for (int b = 0; b < B; b++) {
    int T = len[b];
    for (int h = 0; h < H; h++) {
      size_t o = poff + (size_t)h * T * T;
      KFN(attention_head_backward)(dqkv + row * 3 * d, dprobs + o, dout + row * d, qkv + row * 3 * d,
                                   probs + o, T, d, dh, h);
    }
    row += T;
    poff += (size_t)H * T * T;
  }
}

void KFN(bert_embeddings_forward)(REAL *out, int B, const int *len, const uint32_t *ids,
                                  const REAL *const *embeds, const REAL *delta, const uint32_t *type_ids,
                                  const REAL *word, const REAL *pos, const REAL *type, int d) {
  size_t row = 0;
  for (int b = 0; b < B; b++) {
    const REAL *given = embeds ? embeds[b] : NULL;
    for (int t = 0; t < len[b]; t++, row++) {
      const REAL *w = given ? given + (size_t)t * d : word + (size_t)ids[row] * d;
      const REAL *p = pos + (size_t)t * d, *ty = type + (size_t)(type_ids ? type_ids[row] : 0) * d;
      REAL *y = out + row * d;
      if (delta) {
        const REAL *dl = delta + row * d;
        for (int i = 0; i < d; i++) y[i] = (w[i] + dl[i]) + ty[i] + p[i];
      } else {
        for (int i = 0; i < d; i++) y[i] = w[i] + ty[i] + p[i];
      }
    }
  }
}

void KFN(bert_embeddings_backward)(REAL *dword, REAL *dpos, REAL *dtype, REAL *dinput, const REAL *dout,
                                   int B, const int *len, const uint32_t *ids, const REAL *const *embeds,
                                   const uint32_t *type_ids, int d) {
  size_t row = 0;
  for (int b = 0; b < B; b++) {
    int lookup = !(embeds && embeds[b]);
    for (int t = 0; t < len[b]; t++, row++) {
      const REAL *g = dout + row * d;
      if (dpos) {
        REAL *dp = dpos + (size_t)t * d, *dt = dtype + (size_t)(type_ids ? type_ids[row] : 0) * d;
        for (int i = 0; i < d; i++) {
          dp[i] += g[i];
          dt[i] += g[i];
        }
      }
      if (dword && lookup) {
        REAL *dw = dword + (size_t)ids[row] * d;
        for (int i = 0; i < d; i++) dw[i] += g[i];
      }
      if (dinput) memcpy(dinput + row * d, g, (size_t)d * sizeof(REAL));
    }
  }
}

#undef KFN
#undef KCAT
#undef KCAT_
#undef KSQRT1_2
#undef KINV_SQRT_2PI
#undef KF32
#undef REAL
#undef SFX
#undef GEMM
#undef KERF
#undef KEXP
