/* align.c: word alignments from an OT plan (align.h). */
#include "ot/align.h"

size_t ot_hard_alignment(const float *P, int n, int m, const unsigned char *mask_s, const unsigned char *mask_t,
                         double threshold, uint32_t *out) {
  size_t k = 0;
  for (int i = 0; i < n; i++) {
    if (!mask_s[i]) continue;
    const float *row = P + (size_t)i * m;
    double mass = 0;
    int best = -1;
    for (int j = 0; j < m; j++) {
      mass += row[j];
      if (mask_t[j] && (best < 0 || row[j] > row[best])) best = j;
    }
    if (threshold > 0) {
      for (int j = 0; j < m; j++)
        if (mask_t[j] && mass > 0 && row[j] / mass > threshold) out[2 * k] = (uint32_t)i, out[2 * k + 1] = (uint32_t)j, k++;
    } else if (best >= 0 && row[best] > 0) {
      out[2 * k] = (uint32_t)i, out[2 * k + 1] = (uint32_t)best, k++;
    }
  }
  return k;
}
