/* rec_pipe: the two ends of the record-stream throughput benchmark
 * (bench/rec.sh). `rec_pipe write R N D` writes R `vectors` records of N x D
 * floats to stdout; `rec_pipe read` reads a stream from stdin, touches every
 * float and prints "PAYLOAD_BYTES SECONDS". The `raw` variants move the same
 * float bytes with no framing, checksums or validation: the pipe's own ceiling. */
#include "stream/rec.h"
#include "base/util.h"
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1 << 20)

int main(int argc, char **argv) {
  otc_init(argv[0]);
  if (argc == 5 && (!strcmp(argv[1], "write") || !strcmp(argv[1], "rawwrite"))) {
    long R = atol(argv[2]), N = atol(argv[3]), D = atol(argv[4]);
    size_t nf = (size_t)N * (size_t)D;
    float *vecs = xmalloc(nf * sizeof *vecs);
    uint32_t *ids = xmalloc((size_t)N * sizeof *ids);
    for (size_t i = 0; i < nf; i++) vecs[i] = (float)(i % 1000) * 0.001f;
    for (long i = 0; i < N; i++) ids[i] = (uint32_t)i;
    if (!strcmp(argv[1], "rawwrite")) {
      for (long r = 0; r < R; r++) xwrite_fd(1, vecs, nf * sizeof *vecs);
      return 0;
    }
    rec_schema *s = rec_schema_builtin("vectors");
    rec_set_dim(s, "d", D);
    rec_writer *w = rec_writer_fd(1, "-", s, NULL);
    int fid = rec_field_index(s, "id"), fids = rec_field_index(s, "ids"), fv = rec_field_index(s, "vecs");
    uint32_t sh1[1] = {(uint32_t)N}, sh2[2] = {(uint32_t)N, (uint32_t)D};
    for (long r = 0; r < R; r++) {
      rec_put_str(w, fid, "doc", 3);
      rec_put(w, fids, ids, sh1);
      rec_put(w, fv, vecs, sh2);
      rec_write_or_die(w);
    }
    rec_writer_close_or_die(w);
    return 0;
  }
  if (argc == 2 && !strcmp(argv[1], "read")) {
    rec_reader *r = rec_open_or_die("-");
    double t0 = now_seconds();
    int fv = rec_field_index(rec_reader_schema(r), "vecs");
    rec_record rec;
    size_t bytes = 0;
    float acc = 0;
    while (rec_read_or_die(r, &rec)) {
      size_t n;
      const float *v = rec_f32(&rec, fv, &n);
      for (size_t i = 0; i < n; i += 16) acc += v[i];
      bytes += n * sizeof(float);
    }
    printf("%zu %.6f %g\n", bytes, now_seconds() - t0, (double)acc * 0);
    rec_close(r);
    return 0;
  }
  if (argc == 2 && !strcmp(argv[1], "rawread")) {
    char *buf = xmalloc(CHUNK);
    double t0 = now_seconds();
    size_t bytes = 0;
    float acc = 0;
    ssize_t k;
    while ((k = read(0, buf, CHUNK)) > 0) {
      for (ssize_t i = 0; i + 4 <= k; i += 64) { float x; memcpy(&x, buf + i, 4); acc += x; }
      bytes += (size_t)k;
    }
    printf("%zu %.6f %g\n", bytes, now_seconds() - t0, (double)acc * 0);
    return 0;
  }
  fprintf(stderr, "usage: rec_pipe write|rawwrite RECORDS N D | read | rawread\n");
  return 2;
}
