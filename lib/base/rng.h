/* rng.h: the one random number generator of otclir (xoshiro256** seeded by
 * splitmix64). Explicit state, no globals: the same seed gives the same stream
 * on every machine, which is what makes runs bit-reproducible. */
#ifndef OTC_RNG_H
#define OTC_RNG_H
#include <math.h>
#include <stdint.h>

typedef struct { uint64_t s[4]; } rng_t;

static inline uint64_t rng_splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static inline void rng_seed(rng_t *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = rng_splitmix64(&seed);
}
static inline uint64_t rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t rng_next(rng_t *r) {
  uint64_t *s = r->s, res = rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rng_rotl(s[3], 45);
  return res;
}
/* Uniform in [0, 1) with 53 random bits. */
static inline double rng_uniform(rng_t *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }
/* Uniform integer in [0, n), unbiased (Lemire's method with rejection). */
static inline uint64_t rng_below(rng_t *r, uint64_t n) {
  if (n <= 1) return 0;
  uint64_t x = rng_next(r);
  __uint128_t m = (__uint128_t)x * n;
  uint64_t l = (uint64_t)m;
  if (l < n) {
    uint64_t t = -n % n;
    while (l < t) { x = rng_next(r); m = (__uint128_t)x * n; l = (uint64_t)m; }
  }
  return (uint64_t)(m >> 64);
}
/* Standard normal (Box-Muller, one value per call; deterministic). */
static inline double rng_normal(rng_t *r) {
  double u1 = rng_uniform(r), u2 = rng_uniform(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
#endif
