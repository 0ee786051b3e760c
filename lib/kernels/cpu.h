/* kernels/cpu.h: which instruction set our own kernels use, chosen once at
 * run time (one portable build; no -march=native needed).
 *
 * Levels, each implying the ones before it:
 *   portable    plain C compiled for the build's baseline (x86-64-v2); the
 *               reference every other variant is tested against
 *   avx2        AVX2 + FMA, 8 floats a vector
 *   avx512      AVX-512F, 16 floats a vector
 *   avx512bf16  avx512 + AVX512_BF16 (vdpbf16ps) for the bfloat16 products
 *   amx         avx512bf16 + AMX-BF16 tiles (and the OS's permission to use them)
 * The element-wise kernels (kernels/vec.h) have three variants (portable,
 * avx2, avx512); the bfloat16 products (kernels/bf16.h) have three
 * (portable = float32 sgemm on bf16-rounded inputs, avx512bf16, amx).
 *
 * The level is the best the CPU supports, or the one named by the
 * environment variable OTCLIR_CPU (portable|avx2|avx512|avx512bf16|amx),
 * capped at what the CPU supports (a warning-free cap: asking for more
 * than the machine has gives what it has). Results are bit-identical across
 * runs and thread counts for one level; different levels agree within the
 * tolerances of lib/kernels/README.md. */
#ifndef OTC_KERN_CPU_H
#define OTC_KERN_CPU_H

enum { KERN_PORTABLE, KERN_AVX2, KERN_AVX512, KERN_AVX512BF16, KERN_AMX, KERN_NLEVELS };

/* The level in use (detected, or OTCLIR_CPU, on first call). */
int kern_cpu_level(void);
/* Best level this CPU (and OS) supports. */
int kern_cpu_max(void);
/* Use level (capped at kern_cpu_max()); returns the level now in use. For
 * tests and benchmarks; not to be called while kernels run. */
int kern_cpu_set(int level);
/* "portable", "avx2", ...; NULL outside 0..KERN_NLEVELS-1. */
const char *kern_cpu_name(int level);
/* Level for a name, -1 if unknown. */
int kern_cpu_parse(const char *name);

#endif
