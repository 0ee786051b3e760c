/* session.h: a training run of distill-step, from the options to the last
 * checkpoint: the student (from --init, --continue or the --resume
 * checkpoint), the pair input and its first pass (steps per epoch, IDF,
 * fingerprint), the checks that the input belongs to the student (its
 * vocabulary, the teacher of a continued run, the input of a resumed one),
 * the epochs of batches, one trainlog record per step and the checkpoints.
 *
 * A resumed run equals the uninterrupted one bit for bit (same --threads):
 * the checkpoint holds the step, the epoch and the records consumed in it,
 * the options that shape the trajectory and fingerprints of the input; the
 * random starts of step s are drawn from (seed, s).
 */
#ifndef OTC_TRAIN_SESSION_H
#define OTC_TRAIN_SESSION_H

#include <stdint.h>

#include "stream/rec.h"
#include "train/distill.h"

typedef struct {
  distill_cfg dc;           /* losses, Sinkhorn, adversarial objective, AdamW */
  int idf;                  /* IDF marginals (needs a seekable input) */
  int epochs;
  long batch_tokens, batch_size;
  double lr;
  long warmup;
  distill_sched sched;
  long total_steps;         /* 0: counted in the first pass */
  long stop_after;          /* 0: run to the end */
  long save_every;          /* 0: only at the end */
  int freeze_emb, freeze_layers;
  uint64_t seed;
  int threads;
  int allow_vocab_mismatch; /* accept src ids of another vocabulary than the student's */
  int allow_model_mismatch; /* accept a teacher other than the one of the continued run */
} train_opts;

/* distill-step's defaults: ot loss, 1 epoch, 4096 tokens, lr 1e-3, linear
 * schedule, seed 1, adv_alpha = -1 (then adv_eps / 4). */
void train_opts_defaults(train_opts *o);
/* The options that shape the trajectory, as one line (a resumed run must
 * give the same). */
char *train_options_key(const train_opts *o);

typedef enum { TRAIN_INIT, TRAIN_CONTINUE, TRAIN_RESUME } train_start;

typedef struct train_session train_session;

/* Everything up to the first step: `from` is the --init or --continue folder
 * (ignored for TRAIN_RESUME, which reads `out`); the input is fd (name for
 * messages). NULL + message on any error. */
train_session *train_session_open(const train_opts *o, train_start how, const char *from, const char *out, int fd,
                                  const char *name, char *err, size_t errlen);
void train_session_free(train_session *s);

/* The trainlog schema with the run's metadata (the caller owns it). */
rec_schema *train_session_log_schema(const train_session *s);

typedef void (*train_progress_fn)(void *ctx, uint64_t step, uint64_t total);
/* Train to the end (or --stop-after), one record per step into log, and
 * save the checkpoint. 0, or -1 + message naming the records. */
int train_session_run(train_session *s, rec_writer *log, train_progress_fn progress, void *ctx, char *err,
                      size_t errlen);

typedef struct {
  uint64_t steps;          /* steps of this run */
  uint64_t skipped;        /* pairs without a token besides [CLS]/[SEP] on a side */
  uint64_t ot_problems;    /* Sinkhorn problems solved (every forward pass) */
  uint64_t ot_unconverged; /* of those, stopped at the iteration cap */
} train_summary;
void train_session_summary(const train_session *s, train_summary *out);

#endif
