/* align.h: OT plans and word alignments for a stream of `pair` records with
 * src_vecs and tgt_vecs (ot-align's work).
 *
 * Each record is one Sinkhorn problem (ot.h) between its two token sets;
 * tokens can be left out (the first and last of each side, the stream's
 * special ids, given ids). Records are solved in batches (at most
 * ALIGN_BATCH records and ALIGN_BATCH_CELLS plan entries, and always at
 * least one record) on o->ot.threads threads, each problem by one thread,
 * so the output does not depend on the thread count. A record whose plan
 * would exceed OT_MAX_CELLS entries is refused, naming it, before anything
 * of its size is allocated.
 *
 * Output: one `plan` record per pair (id, cost, iters, err, optionally the
 * plan and the alignment pairs), or with text one Pharaoh line ("i-j i-j")
 * per pair handed to a callback. Errors name the record ("record 3 (id
 * 'p4'): ...").
 */
#ifndef OTC_TRAIN_ALIGN_H
#define OTC_TRAIN_ALIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ot/ot.h"
#include "stream/rec.h"

#define ALIGN_BATCH 128                 /* records solved together */
#define ALIGN_BATCH_CELLS (1L << 24)     /* plan entries held by one batch */
#define ALIGN_REPORTED_IDS 5             /* non-converged ids kept for the summary */

typedef struct {
  ot_options ot;
  bool want_plan, want_align, text, skip_ends, skip_special, allow_mismatch;
  double threshold;      /* 0 = argmax per source token */
  const char *skip_ids;  /* comma-separated ids left out on both sides, or NULL */
  const char *cost_name; /* for the metadata: "cosine" or "sqeuclid" */
} align_opts;

/* Is s a comma-separated list of ids (decimal, < 2^32)? */
bool align_ids_valid(const char *s);

typedef struct align_job align_job;

/* Check the stream's metadata (the two sides from one model and layer,
 * unless allow_mismatch; the special ids --skip-special needs) and, unless
 * o->text, open the plan writer on `out` ("-" = standard output). NULL +
 * message on error. */
align_job *align_open(const align_opts *o, rec_reader *r, const char *name, const char *out, char *err,
                      size_t errlen);
/* Solve every record; text lines go to emit(ctx, line, len). 0, or -1 +
 * message naming the record (the writer is then abandoned). */
typedef void (*align_emit_fn)(void *ctx, const char *line, size_t len);
typedef void (*align_progress_fn)(void *ctx, uint64_t done);
int align_run(align_job *j, align_emit_fn emit, align_progress_fn progress, void *ctx, char *err, size_t errlen);
/* The system error behind a failed write of the plan stream (EPIPE: the
 * reader went away, a quiet end for the program), or 0. */
int align_write_errno(const align_job *j);

typedef struct {
  uint64_t pairs, nonconverged;
  char *first_ids[ALIGN_REPORTED_IDS]; /* ids of the first non-converged pairs (owned by the job) */
} align_summary;
const align_summary *align_job_summary(const align_job *j);
void align_free(align_job *j);

#endif
