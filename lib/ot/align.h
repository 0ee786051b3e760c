/* align.h: word alignments from an OT plan. */
#ifndef OTC_OT_ALIGN_H
#define OTC_OT_ALIGN_H

#include <stddef.h>
#include <stdint.h>

/* Hard alignment pairs (i, j) of the n x m plan P into out (2 values per
 * pair, at most n pairs for the argmax, n * m with a threshold); returns
 * their count. Rows and columns with mask 0 take no part. threshold = 0:
 * for each source token i the target j with the largest P_ij (ties: the
 * smallest j; none if the row is all 0). threshold T in (0, 1): every (i, j)
 * with P_ij / sum_j' P_ij' > T, the row's mass taken over all columns. */
size_t ot_hard_alignment(const float *P, int n, int m, const unsigned char *mask_s, const unsigned char *mask_t,
                         double threshold, uint32_t *out);

#endif
