/* crc32c.c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of every frame of the record stream. The SSE4.2 crc32 instruction
 * is used when the CPU has it (checked at run time, since the sanitizer build
 * is compiled without -march); otherwise a slice-by-8 table. Both give the
 * standard check value crc32c("123456789") = 0xE3069283. */
#include "stream/crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define CRC32C_HAVE_X86 1
#endif

static uint32_t crc_table[8][256];
/* The hardware path runs three independent crc32 chains over three adjacent
 * blocks (the instruction has a 3-cycle latency but 1-cycle throughput) and
 * joins them with "append LEN zero bytes" operators, precomputed as tables. */
#define CRC_LONG 8192
#define CRC_SHORT 256
static uint32_t crc_zeros_long[4][256], crc_zeros_short[4][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_use_hw;

static uint32_t gf2_times(const uint32_t *mat, uint32_t v) {
  uint32_t r = 0;
  for (int j = 0; v; j++, v >>= 1)
    if (v & 1) r ^= mat[j];
  return r;
}

/* Tables of the linear map "register after LEN zero bytes", LEN a power of 2. */
static void crc_zeros_tables(uint32_t tab[4][256], size_t len) {
  uint32_t op[32], sq[32];
  for (int j = 0; j < 32; j++) { /* one zero byte */
    uint32_t r = 1u << j;
    op[j] = crc_table[0][r & 0xff] ^ (r >> 8);
  }
  for (size_t n = 1; n < len; n *= 2) {
    for (int j = 0; j < 32; j++) sq[j] = gf2_times(op, op[j]);
    memcpy(op, sq, sizeof op);
  }
  for (int k = 0; k < 4; k++)
    for (uint32_t v = 0; v < 256; v++) tab[k][v] = gf2_times(op, v << (8 * k));
}

static inline uint32_t crc_shift(uint32_t tab[4][256], uint32_t crc) {
  return tab[0][crc & 0xff] ^ tab[1][(crc >> 8) & 0xff] ^ tab[2][(crc >> 16) & 0xff] ^ tab[3][crc >> 24];
}

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    crc_table[0][i] = c;
  }
  for (int i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++) crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
  crc_zeros_tables(crc_zeros_long, CRC_LONG);
  crc_zeros_tables(crc_zeros_short, CRC_SHORT);
#ifdef CRC32C_HAVE_X86
  __builtin_cpu_init();
  crc_use_hw = __builtin_cpu_supports("sse4.2");
#endif
}

/* crc is the running (already inverted) register. */
static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t n) {
  while (n && ((uintptr_t)p & 7)) {
    crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    n--;
  }
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8); /* little-endian host assumed, as everywhere in the format */
    w ^= crc;
    crc = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^ crc_table[5][(w >> 16) & 0xff] ^
          crc_table[4][(w >> 24) & 0xff] ^ crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
          crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

#ifdef CRC32C_HAVE_X86
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n) {
  while (n && ((uintptr_t)p & 7)) {
    crc = _mm_crc32_u8(crc, *p++);
    n--;
  }
  uint64_t c = crc;
#define CRC_3WAY(LEN, TAB)                                                          \
  while (n >= 3 * (LEN)) {                                                          \
    uint64_t c1 = 0, c2 = 0;                                                        \
    for (size_t i = 0; i < (LEN); i += 8) {                                         \
      uint64_t w0, w1, w2;                                                          \
      memcpy(&w0, p + i, 8);                                                        \
      memcpy(&w1, p + (LEN) + i, 8);                                                \
      memcpy(&w2, p + 2 * (LEN) + i, 8);                                            \
      c = _mm_crc32_u64(c, w0);                                                     \
      c1 = _mm_crc32_u64(c1, w1);                                                   \
      c2 = _mm_crc32_u64(c2, w2);                                                   \
    }                                                                               \
    c = crc_shift(TAB, (uint32_t)c) ^ (uint32_t)c1;                                 \
    c = crc_shift(TAB, (uint32_t)c) ^ (uint32_t)c2;                                 \
    p += 3 * (LEN);                                                                 \
    n -= 3 * (LEN);                                                                 \
  }
  CRC_3WAY(CRC_LONG, crc_zeros_long)
  CRC_3WAY(CRC_SHORT, crc_zeros_short)
#undef CRC_3WAY
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
    p += 8;
    n -= 8;
  }
  crc = (uint32_t)c;
  while (n--) crc = _mm_crc32_u8(crc, *p++);
  return crc;
}
#endif

uint32_t crc32c(uint32_t crc, const void *buf, size_t len) {
  pthread_once(&crc_once, crc_init);
#ifdef CRC32C_HAVE_X86
  if (crc_use_hw) return ~crc_hw(~crc, buf, len);
#endif
  return ~crc_sw(~crc, buf, len);
}

uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len) {
  pthread_once(&crc_once, crc_init);
  return ~crc_sw(~crc, buf, len);
}
