/* cpu.c: run-time choice of the kernels' instruction set (kernels/cpu.h). */
#include "kernels/cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

static const char *const names[KERN_NLEVELS] = {"portable", "avx2", "avx512", "avx512bf16", "amx"};

const char *kern_cpu_name(int level) { return level >= 0 && level < KERN_NLEVELS ? names[level] : NULL; }

int kern_cpu_parse(const char *name) {
  for (int i = 0; i < KERN_NLEVELS; i++)
    if (name && strcmp(name, names[i]) == 0) return i;
  return -1;
}

#if defined(__x86_64__)
static unsigned long long xcr0(void) {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
}

/* Linux keeps AMX tile data off until a process asks (arch_prctl). */
#define OTC_ARCH_REQ_XCOMP_PERM 0x1023
#define OTC_XFEATURE_XTILEDATA 18

static int detect(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return KERN_PORTABLE;
  int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1;
  if (!osxsave) return KERN_PORTABLE;
  unsigned long long x = xcr0();
  if ((x & 6) != 6) return KERN_PORTABLE; /* SSE and AVX state */
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return KERN_PORTABLE;
  int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1;
  int amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1;
  unsigned a1 = 0, b1, c1, d1;
  __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
  int avx512bf16 = (a1 >> 5) & 1;
  if (!(avx2 && fma)) return KERN_PORTABLE;
  if (!avx512f || (x & 0xe0) != 0xe0) return KERN_AVX2; /* opmask, ZMM state */
  if (!avx512bf16) return KERN_AVX512;
  if (!(amx_bf16 && amx_tile) || (x & 0x60000) != 0x60000 ||
      syscall(SYS_arch_prctl, OTC_ARCH_REQ_XCOMP_PERM, OTC_XFEATURE_XTILEDATA) != 0)
    return KERN_AVX512BF16;
  return KERN_AMX;
}
#else
static int detect(void) { return KERN_PORTABLE; }
#endif

static atomic_int max_level = -1, cur_level = -1;

int kern_cpu_max(void) {
  int m = atomic_load_explicit(&max_level, memory_order_acquire);
  if (m < 0) {
    m = detect();
    atomic_store_explicit(&max_level, m, memory_order_release);
  }
  return m;
}

int kern_cpu_set(int level) {
  int m = kern_cpu_max();
  if (level < 0) level = 0;
  if (level > m) level = m;
  atomic_store_explicit(&cur_level, level, memory_order_release);
  return level;
}

int kern_cpu_level(void) {
  int l = atomic_load_explicit(&cur_level, memory_order_acquire);
  if (l >= 0) return l;
  int want = kern_cpu_parse(getenv("OTCLIR_CPU"));
  return kern_cpu_set(want >= 0 ? want : KERN_NLEVELS - 1);
}
