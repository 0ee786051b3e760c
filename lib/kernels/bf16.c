/* bf16.c: bfloat16 dense products (kernels/bf16.h). */
#include "kernels/bf16.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "base/util.h"
#include "kernels/blas.h"
#include "kernels/cpu.h"

struct kern_bf16_mat {
  int level, OC, C;
  int OCp, Kp;    /* bf16 levels: OC and C rounded up to 32 */
  float *wf;      /* below avx512bf16: W rounded to bf16, as float [OC][C] */
  uint16_t *wp;   /* bf16 levels: [OCp/16][Kp/2][16][2], the VNNI pair layout of AMX's B tiles */
  void *raw;      /* wp's allocation (wp is 64-byte aligned inside) */
};

#define RUP(x, m) (((x) + (m) - 1) / (m) * (m))
#define MC 256 /* rows of x kept in L2 while a thread's column blocks stream by */

int kern_bf16_level(const kern_bf16_mat *w) { return w->level; }

kern_bf16_mat *kern_bf16_pack(const float *W, int OC, int C) {
  kern_bf16_mat *w = xcalloc(1, sizeof *w);
  w->level = kern_cpu_level();
  w->OC = OC, w->C = C;
  if (w->level < KERN_AVX512BF16) {
    w->wf = xmalloc(xmul(xmul((size_t)OC, (size_t)C), sizeof(float)));
    for (size_t i = 0; i < (size_t)OC * C; i++) w->wf[i] = kern_bf16_to_f32(kern_f32_to_bf16(W[i]));
    return w;
  }
  w->OCp = RUP(OC, 32), w->Kp = RUP(C, 32);
  size_t bytes = xmul(xmul((size_t)w->OCp, (size_t)w->Kp), 2);
  w->raw = xmalloc(bytes + 64);
  w->wp = (uint16_t *)RUP((uintptr_t)w->raw, 64);
  memset(w->wp, 0, bytes);
  size_t half = (size_t)w->Kp / 2;
  for (int n = 0; n < OC; n++)
    for (int k = 0; k < C; k++)
      w->wp[((((size_t)n / 16) * half + (size_t)k / 2) * 16 + (size_t)n % 16) * 2 + (size_t)k % 2] =
          kern_f32_to_bf16(W[(size_t)n * C + k]);
  return w;
}

void kern_bf16_free(kern_bf16_mat *w) {
  if (!w) return;
  free(w->wf);
  free(w->raw);
  free(w);
}

size_t kern_bf16_scratch_bytes(const kern_bf16_mat *w, int N) {
  if (w->level < KERN_AVX512BF16) return xmul(xmul((size_t)N, (size_t)w->C), sizeof(float)) + 64;
  return xmul(xmul((size_t)RUP(N, 32), (size_t)w->Kp), 2) + 64;
}

/* ----------------------------------------------------- below avx512bf16 */

static void gemm_emulated(float *out, const float *x, const kern_bf16_mat *w, const float *bias, int N, float *xr) {
  size_t n = (size_t)N * w->C;
  for (size_t i = 0; i < n; i++) xr[i] = kern_bf16_to_f32(kern_f32_to_bf16(x[i]));
  if (bias)
    for (int r = 0; r < N; r++) memcpy(out + (size_t)r * w->OC, bias, (size_t)w->OC * sizeof(float));
  kern_sgemm(0, 1, N, w->OC, w->C, 1, xr, w->C, w->wf, w->C, bias ? 1 : 0, out, w->OC);
}

/* ------------------------------------------------------------ bf16 levels */

typedef struct {
  float *out;
  const float *x;
  uint16_t *A; /* [Np][Kp] */
  const kern_bf16_mat *w;
  const float *bias;
  int N, Np;
} gctx;

/* Write a 32x32 block of results (buf, row stride 32) at (m, n0), clipped to N x OC, plus bias. */
static void put_block(const gctx *g, const float *buf, int m, int n0) {
  int rows = g->N - m < 32 ? g->N - m : 32, cols = g->w->OC - n0 < 32 ? g->w->OC - n0 : 32;
  for (int r = 0; r < rows; r++) {
    float *o = g->out + (size_t)(m + r) * g->w->OC + n0;
    const float *s = buf + r * 32;
    if (g->bias)
      for (int c = 0; c < cols; c++) o[c] = s[c] + g->bias[n0 + c];
    else
      memcpy(o, s, (size_t)cols * sizeof(float));
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Rows [b, e) of x to bf16 rows of Kp (zeros past C); rows past N are zero. */
__attribute__((target("avx512f,avx512bf16"))) static void convert_rows(void *p, size_t b, size_t e) {
  gctx *g = p;
  int C = g->w->C, Kp = g->w->Kp;
  for (size_t r = b; r < e; r++) {
    uint16_t *a = g->A + r * (size_t)Kp;
    if ((int)r >= g->N) {
      memset(a, 0, (size_t)Kp * 2);
      continue;
    }
    const float *xr = g->x + r * (size_t)C;
    for (int k = 0; k < Kp; k += 32) {
      int n = C - k;
      __mmask16 m0 = n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
      __mmask16 m1 = n >= 32 ? 0xffff : n <= 16 ? 0 : (__mmask16)((1u << (n - 16)) - 1);
      __m512 lo = _mm512_maskz_loadu_ps(m0, xr + k), hi = _mm512_maskz_loadu_ps(m1, xr + k + 16);
      _mm512_storeu_si512((void *)(a + k), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
  }
}

/* 32 rows x 32 columns (column blocks 2cb, 2cb+1) with VDPBF16PS, 8 rows at a time. */
__attribute__((target("avx512f,avx512bf16"))) static void block_dp(const gctx *g, int m, int cb, float *buf) {
  int Kp = g->w->Kp;
  size_t half = (size_t)Kp / 2;
  const uint16_t *b0 = g->w->wp + (size_t)(2 * cb) * half * 32, *b1 = b0 + half * 32;
  for (int r0 = 0; r0 < 32; r0 += 8) {
    __m512 acc[8][2];
    for (int r = 0; r < 8; r++) acc[r][0] = _mm512_setzero_ps(), acc[r][1] = _mm512_setzero_ps();
    const uint16_t *a = g->A + (size_t)(m + r0) * Kp;
    for (size_t p = 0; p < half; p++) {
      __m512bh B0 = (__m512bh)_mm512_load_si512((const void *)(b0 + p * 32));
      __m512bh B1 = (__m512bh)_mm512_load_si512((const void *)(b1 + p * 32));
      for (int r = 0; r < 8; r++) {
        int32_t pair;
        memcpy(&pair, a + (size_t)r * Kp + 2 * p, 4);
        __m512bh A = (__m512bh)_mm512_set1_epi32(pair);
        acc[r][0] = _mm512_dpbf16_ps(acc[r][0], A, B0);
        acc[r][1] = _mm512_dpbf16_ps(acc[r][1], A, B1);
      }
    }
    for (int r = 0; r < 8; r++) {
      _mm512_storeu_ps(buf + (r0 + r) * 32, acc[r][0]);
      _mm512_storeu_ps(buf + (r0 + r) * 32 + 16, acc[r][1]);
    }
  }
}

typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tile_config;

/* 32 rows x 32 columns with AMX: C tiles 0-3, A tiles 4-5, B tiles 6-7. */
__attribute__((target("amx-tile,amx-bf16"))) static void block_amx(const gctx *g, int m, int cb, float *buf) {
  int Kp = g->w->Kp;
  size_t half = (size_t)Kp / 2;
  const uint16_t *b0 = g->w->wp + (size_t)(2 * cb) * half * 32, *b1 = b0 + half * 32;
  const uint16_t *a0 = g->A + (size_t)m * Kp, *a1 = a0 + (size_t)16 * Kp;
  __asm__ volatile("" ::: "memory"); /* A and B are complete */
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int k = 0; k < Kp; k += 32) {
    _tile_loadd(4, a0 + k, Kp * 2);
    _tile_loadd(5, a1 + k, Kp * 2);
    _tile_loadd(6, b0 + (size_t)k * 16, 64);
    _tile_loadd(7, b1 + (size_t)k * 16, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, buf, 128);
  _tile_stored(1, buf + 16, 128);
  _tile_stored(2, buf + 16 * 32, 128);
  _tile_stored(3, buf + 16 * 32 + 16, 128);
  __asm__ volatile("" ::: "memory"); /* buf is read next */
}

__attribute__((target("amx-tile"))) static void amx_begin(void) {
  /* GCC 12's tile builtins do not tell the optimizer that they read or
   * write memory: a static config and memory barriers keep the stores. */
  static const tile_config c = {.palette = 1,
                                .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
                                .rows = {16, 16, 16, 16, 16, 16, 16, 16}};
  __asm__ volatile("" ::: "memory");
  _tile_loadconfig(&c);
}
__attribute__((target("amx-tile"))) static void amx_end(void) { _tile_release(); }

/* Column-block pairs [b, e) for all rows: rows in slabs of MC (kept in L2). */
static void gemm_cols(void *p, size_t b, size_t e) {
  gctx *g = p;
  int amx = g->w->level >= KERN_AMX;
  float buf[32 * 32] __attribute__((aligned(64)));
  if (amx) amx_begin();
  for (int mb = 0; mb < g->Np; mb += MC) {
    int me = mb + MC < g->Np ? mb + MC : g->Np;
    for (size_t cb = b; cb < e; cb++)
      for (int m = mb; m < me; m += 32) {
        if (amx)
          block_amx(g, m, (int)cb, buf);
        else
          block_dp(g, m, (int)cb, buf);
        put_block(g, buf, m, (int)cb * 32);
      }
  }
  if (amx) amx_end();
}
#endif

void kern_bf16_gemm(float *out, const float *x, const kern_bf16_mat *w, const float *bias, int N, void *scratch) {
  if (N <= 0) return;
  void *s = (void *)RUP((uintptr_t)scratch, 64);
#if defined(__x86_64__) && defined(__GNUC__)
  if (w->level >= KERN_AVX512BF16) {
    gctx g = {.out = out, .x = x, .A = s, .w = w, .bias = bias, .N = N, .Np = RUP(N, 32)};
    pool_for((size_t)g.Np, 32, 0, convert_rows, &g);
    pool_for((size_t)w->OCp / 32, 1, 0, gemm_cols, &g);
    return;
  }
#endif
  gemm_emulated(out, x, w, bias, N, s);
}
