/* kernels/bf16.h: dense products in bfloat16 for inference,
 * out[N][OC] = bf16(x)[N][C] . bf16(W)^T (+ bias), accumulated in float32.
 *
 * Debian 12's OpenBLAS (0.3.21) is built without BUILD_BFLOAT16: its
 * cblas.h declares cblas_sbgemm but the library does not export it
 * (`nm -D libopenblasp-r0.3.21.so | grep sbgemm` is empty), so the products
 * are our own, one per level of kernels/cpu.h:
 *   amx         AMX-BF16 tiles (TDPBF16PS), 32x32 output blocks
 *   avx512bf16  AVX512_BF16 (VDPBF16PS), 8x32 output blocks
 *   below       float32 cblas_sgemm on the bf16-rounded inputs: the same
 *               numbers up to summation order, at float32 speed
 * The weight matrix is rounded to bf16 (round to nearest even) and laid out
 * once (kern_bf16_pack) for the level in use at that time; x is rounded on
 * each call. Each output element is computed the same way whatever the
 * thread count, so results are bit-identical for one level. */
#ifndef OTC_KERN_BF16_H
#define OTC_KERN_BF16_H

#include <stddef.h>
#include <stdint.h>

typedef struct kern_bf16_mat kern_bf16_mat;

/* W [OC][C] row-major (a dense layer's weight, y = x W^T), copied. */
kern_bf16_mat *kern_bf16_pack(const float *W, int OC, int C);
void kern_bf16_free(kern_bf16_mat *w);
/* Level (kernels/cpu.h) the matrix was packed for. */
int kern_bf16_level(const kern_bf16_mat *w);
/* Bytes of scratch kern_bf16_gemm needs for N rows. */
size_t kern_bf16_scratch_bytes(const kern_bf16_mat *w, int N);
/* out[N][OC] = bf16(x)[N][C] . W^T + bias (bias NULL: none); scratch of
 * kern_bf16_scratch_bytes (64-byte aligned is best). Threads: base/pool.h
 * (otc_threads()), or OpenBLAS's below avx512bf16. */
void kern_bf16_gemm(float *out, const float *x, const kern_bf16_mat *w, const float *bias, int N, void *scratch);

/* Round to nearest even (NaN stays NaN). */
static inline uint16_t kern_f32_to_bf16(float f) {
  union { float f; uint32_t u; } v = {f};
  if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40);
  return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1)) >> 16);
}
static inline float kern_bf16_to_f32(uint16_t h) {
  union { uint32_t u; float f; } v = {(uint32_t)h << 16};
  return v.f;
}

#endif
