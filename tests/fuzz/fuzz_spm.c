/* fuzz_spm: libFuzzer harness for SentencePiece model files (text/spm.h).
 * Feeds arbitrary bytes to spm_from_mem: the C reader of the ModelProto
 * (varints, lengths, nested pieces and trainer_spec) must reject damage with
 * a message, never crash or read out of bounds; a model that loads is then
 * pruned (spm_keep_closure, spm_subset with every other piece kept) and the
 * subset reloaded, and it encodes a short text. `make fuzz` builds and runs
 * it after fuzz_rec and fuzz_trec (FUZZ_SECONDS each; not in CI); it links
 * with clang++ for UBSan's vptr runtime (the archive has C++). */
#include "text/spm.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  spm_model *m = spm_from_mem(data, size, "fuzz.model", err, sizeof err);
  if (!m) return 0;
  int n = spm_size(m);
  unsigned char *keep = calloc((size_t)n, 1);
  int *o2n = malloc((size_t)n * sizeof *o2n);
  for (int i = 0; i < n; i += 2) keep[i] = 1;
  spm_keep_closure(m, keep);
  char *out = NULL;
  size_t len = 0;
  if (spm_subset(m, keep, o2n, &out, &len, err, sizeof err) >= 0) {
    spm_model *s = spm_from_mem(out, len, "subset.model", err, sizeof err);
    spm_free(s);
  }
  spm_pieces p = {0};
  spm_encode(m, "Hello w\xc3\xb6rld 123", 16, &p, err, sizeof err);
  spm_pieces_free(&p);
  free(out);
  free(o2n);
  free(keep);
  spm_free(m);
  return 0;
}
