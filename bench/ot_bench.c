/* ot_bench: driver for bench/ot.sh (built there against lib/libotclir.a).
 *
 *   ot_bench gen N M D COUNT SEED FILE      write COUNT problems (raw float32: S then T per problem)
 *   ot_bench run N M D COUNT FILE THREADS RULE EPS TOL
 *        solve them in one ot_solve_batch call, repeated until >= 1 s; print
 *        "plans_per_s=X plans_per_cpu_s=C mean_iters=Y mean_cost=Z setup_us=U iter_us=I"
 *        (setup_us: CPU time per plan of everything but the iterations; iter_us: CPU
 *        time per iteration; RULE: pot = POT's stop rule:
 *        L2 column error checked every 10th iteration; l1 = ot.h default: L1 error
 *        of both marginals, every iteration)
 *   ot_bench gen-copy N D COUNT SEED FILE   N x N problems of random normal vectors but for one
 *        target token that equals a source token (the case that makes Sinkhorn slow in
 *        training: a plan nearly a matching with unequal masses)
 *   ot_bench hard N D COUNT FILE MAXIT NEWTON
 *        solve them one by one (eps 0.05, tol 1e-6, the L1 rule of distill-step) with
 *        max_iter MAXIT and Newton steps after NEWTON iterations (0 = plain Sinkhorn);
 *        print "plans_per_cpu_s=C mean_iters=Y max_iters=X unconverged=U mean_cost=Z"
 *   ot_bench limits                         exp throughput, memory bandwidth, matvec rate
 *
 * The data imitate token vectors of a sentence pair: T random normal, each
 * source token a noisy copy of a random target token, so costs spread over
 * [0, 1.3] like contextual embeddings of translations do.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ot/ot.h"
#include "base/rng.h"
#include "base/util.h"
#include "cli/cli.h"

static float *load(const char *path, size_t count) {
  FILE *f = fopen(path, "rb");
  if (!f) die_errno("%s", path);
  float *x = xmalloc(count * sizeof(float));
  if (fread(x, sizeof(float), count, f) != count) die("%s: short file", path);
  fclose(f);
  return x;
}

static volatile double sink;

/* CPU seconds of the whole process (all threads): steadier than wall time on
 * a machine shared with other jobs. */
static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef double v4d __attribute__((vector_size(32)));
typedef double v4d_u __attribute__((vector_size(32), aligned(8), may_alias));

/* Sum of a buffer with eight independent AVX2 accumulators: bound by the
 * memory (or cache) read bandwidth, not by the add latency. */
__attribute__((target("avx2"))) static double read_sum(const double *k, size_t n) {
  v4d s[8] = {{0}};
  for (size_t i = 0; i + 32 <= n; i += 32)
    for (int q = 0; q < 8; q++) s[q] += *(const v4d_u *)(k + i + 4 * q);
  double t = 0;
  for (int q = 0; q < 8; q++) t += s[q][0] + s[q][1] + s[q][2] + s[q][3];
  return t;
}

/* All in CPU time, like the Sinkhorn figures they are compared with. */
static void limits(void) {
  /* exp throughput: independent exps over an array (libm, double) */
  size_t n = 1 << 16;
  double *x = xmalloc(n * sizeof(double)), *y = xmalloc(n * sizeof(double));
  for (size_t i = 0; i < n; i++) x[i] = -40.0 * (double)i / (double)n;
  int reps = 0;
  double t0 = cpu_seconds(), t;
  do {
    for (size_t i = 0; i < n; i++) y[i] = exp(x[i] + reps * 1e-9);
    reps++;
  } while ((t = cpu_seconds() - t0) < 0.5);
  sink = y[n / 2];
  printf("exp_ns=%.3f\n", t * 1e9 / ((double)reps * n));
  free(x), free(y);
  /* memory bandwidth: memcpy of 256 MiB (read + write counted) */
  size_t big = (size_t)256 << 20;
  char *a = xmalloc(big), *b = xmalloc(big);
  memset(a, 1, big), memset(b, 2, big);
  reps = 0, t0 = cpu_seconds();
  do {
    memcpy(b, a, big);
    a[reps % 64]++;
    reps++;
  } while ((t = cpu_seconds() - t0) < 1.0);
  printf("memcpy_GBps=%.2f\n", 2.0 * big * reps / t / 1e9);
  /* read bandwidth of a buffer the size of a 512x512 double kernel (2 MiB) */
  size_t kn = 512 * 512;
  double *k = (double *)a, s = 0;
  reps = 0, t0 = cpu_seconds();
  do {
    s += read_sum(k, kn);
    reps++;
  } while ((t = cpu_seconds() - t0) < 0.5);
  sink = s;
  printf("read2MiB_GBps=%.2f\n", 8.0 * kn * reps / t / 1e9);
  free(a), free(b);
}

int main(int argc, char **argv) {
  otc_init("ot_bench");
  if (argc >= 2 && strcmp(argv[1], "limits") == 0) {
    limits();
    return 0;
  }
  if (argc == 8 && strcmp(argv[1], "gen") == 0) {
    int n = atoi(argv[2]), m = atoi(argv[3]), d = atoi(argv[4]), count = atoi(argv[5]);
    rng_t g;
    rng_seed(&g, strtoull(argv[6], NULL, 10));
    FILE *f = fopen(argv[7], "wb");
    if (!f) die_errno("%s", argv[7]);
    float *S = xmalloc(sizeof(float) * n * d), *T = xmalloc(sizeof(float) * m * d);
    for (int c = 0; c < count; c++) {
      for (int j = 0; j < m * d; j++) T[j] = (float)rng_normal(&g);
      for (int i = 0; i < n; i++) {
        int j = (int)rng_below(&g, (uint64_t)m);
        for (int k = 0; k < d; k++) S[i * d + k] = T[j * d + k] + 0.8f * (float)rng_normal(&g);
      }
      fwrite(S, sizeof(float), (size_t)n * d, f);
      fwrite(T, sizeof(float), (size_t)m * d, f);
    }
    if (fclose(f) != 0) die_errno("%s", argv[7]);
    free(S), free(T);
    return 0;
  }
  if (argc == 7 && strcmp(argv[1], "gen-copy") == 0) {
    int n = atoi(argv[2]), d = atoi(argv[3]), count = atoi(argv[4]);
    rng_t g;
    rng_seed(&g, strtoull(argv[5], NULL, 10));
    FILE *f = fopen(argv[6], "wb");
    if (!f) die_errno("%s", argv[6]);
    float *S = xmalloc(sizeof(float) * n * d), *T = xmalloc(sizeof(float) * n * d);
    for (int c = 0; c < count; c++) {
      for (int k = 0; k < n * d; k++) S[k] = (float)rng_normal(&g);
      for (int k = 0; k < n * d; k++) T[k] = k < d ? S[k] : (float)rng_normal(&g);
      fwrite(S, sizeof(float), (size_t)n * d, f);
      fwrite(T, sizeof(float), (size_t)n * d, f);
    }
    if (fclose(f) != 0) die_errno("%s", argv[6]);
    free(S), free(T);
    return 0;
  }
  if (argc == 8 && strcmp(argv[1], "hard") == 0) {
    int n = atoi(argv[2]), d = atoi(argv[3]), count = atoi(argv[4]);
    size_t per = (size_t)2 * n * d;
    float *x = load(argv[5], per * count);
    ot_options o;
    ot_options_default(&o);
    o.max_iter = atoi(argv[6]), o.newton = atoi(argv[7]);
    double iters = 0, cost = 0, c0 = cpu_seconds();
    int maxit = 0, unconv = 0;
    for (int c = 0; c < count; c++) {
      ot_problem p = {.S = x + per * c, .T = x + per * c + (size_t)n * d, .n = n, .m = n, .ds = d, .dt = d};
      ot_result r = {0};
      ot_solve(&p, &o, &r, NULL, 0);
      iters += r.iters, cost += r.cost, unconv += !r.converged;
      if (r.iters > maxit) maxit = r.iters;
    }
    double cpu = cpu_seconds() - c0;
    printf("plans_per_cpu_s=%.2f mean_iters=%.1f max_iters=%d unconverged=%d mean_cost=%.12f\n", count / cpu,
           iters / count, maxit, unconv, cost / count);
    free(x);
    return 0;
  }
  if (argc == 11 && strcmp(argv[1], "run") == 0) {
    int n = atoi(argv[2]), m = atoi(argv[3]), d = atoi(argv[4]), count = atoi(argv[5]);
    int threads = atoi(argv[7]);
    size_t per = (size_t)(n + m) * d;
    float *x = load(argv[6], per * count);
    ot_problem *p = xcalloc(count, sizeof *p);
    ot_result *r = xcalloc(count, sizeof *r);
    for (int c = 0; c < count; c++)
      p[c] = (ot_problem){.S = x + per * c, .T = x + per * c + (size_t)n * d, .n = n, .m = m, .ds = d, .dt = d};
    ot_options o;
    ot_options_default(&o);
    otc_set_threads(threads);
    o.threads = threads;
    o.eps = atof(argv[9]), o.tol = atof(argv[10]);
    if (strcmp(argv[8], "pot") == 0) o.err_norm = OT_NORM_L2_COL, o.check_every = 10;
    o.max_iter = 100000;
    size_t ws = ot_batch_workspace_size(p, count, &o);
    void *work = xmalloc(ws);
    int reps = 0;
    double t0 = now_seconds(), c0 = cpu_seconds(), t;
    do {
      ot_solve_batch(p, r, count, &o, work, ws);
      reps++;
    } while ((t = now_seconds() - t0) < 1.0);
    double cpu = cpu_seconds() - c0;
    double iters = 0, cost = 0;
    for (int c = 0; c < count; c++) iters += r[c].iters, cost += r[c].cost;
    /* setup (cost matrix, kernel, outputs) plus one iteration, per plan, to
     * tell the time spent in the iterations themselves */
    ot_options o1 = o;
    o1.max_iter = 1;
    int reps1 = 0;
    double c1 = cpu_seconds(), cpu1;
    do {
      ot_solve_batch(p, r, count, &o1, work, ws);
      reps1++;
    } while ((cpu1 = cpu_seconds() - c1) < 0.3);
    double setup = cpu1 / ((double)reps1 * count), per_plan = cpu / ((double)reps * count);
    printf("plans_per_s=%.2f plans_per_cpu_s=%.2f mean_iters=%.2f mean_cost=%.12f setup_us=%.3f iter_us=%.4f\n",
           (double)reps * count / t, (double)reps * count / cpu, iters / count, cost / count, setup * 1e6,
           (per_plan - setup) * 1e6 / (iters / count));
    free(work), free(p), free(r), free(x);
    return 0;
  }
  fprintf(stderr, "usage: see the comment at the top of bench/ot_bench.c\n");
  return 2;
}
