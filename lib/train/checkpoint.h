/* checkpoint.h: the training checkpoint, a folder distill-step writes and
 * nothing else does:
 *
 *   config.json, model.safetensors, vocab.txt   the student (a model folder)
 *   optimizer.safetensors                       AdamW m, v and step
 *   trainer_state.json                          where the run is (train_state)
 *
 * It is built in DIR.ckpt.PID and swapped in with one atomic rename
 * (renameat2 RENAME_EXCHANGE), so a run killed at any instant, SIGKILL
 * included, leaves the previous checkpoint complete. An existing DIR is
 * replaced only when it is such a folder (trainer_state.json, and no file
 * but the five above): a folder holding anything else, or a plain file, is
 * refused, never emptied.
 */
#ifndef OTC_TRAIN_CHECKPOINT_H
#define OTC_TRAIN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "model/bert.h"

/* trainer_state.json (format "otclir-distill-state-2"). */
typedef struct {
  uint64_t step;   /* optimizer steps done */
  uint64_t epoch;  /* the epoch in progress (= epochs when finished) */
  uint64_t pos;    /* records of that epoch consumed */
  uint64_t total;  /* steps of the whole schedule */
  uint64_t seed;
  int finished;
  char *options;   /* the options that shape the trajectory (a resumed run must give the same) */
  /* the input: fingerprints (pairs.h) of all its usable pairs (a file; records
     = its record count) and of those consumed in the epoch in progress */
  uint64_t input_records;
  int have_input_fp;
  uint64_t input_fp, prefix_fp;
  char *teacher;   /* tgt_model of the input (the teacher's id), NULL if unknown */
  char *src_vocab; /* src_vocab of the input, NULL if unknown */
} train_state;

/* The JSON text (malloc'd). */
char *train_state_json(const train_state *s);
/* Read DIR/trainer_state.json; -1 + message naming the file. */
int train_state_load(const char *dir, train_state *s, char *err, size_t errlen);
void train_state_free(train_state *s);

/* May DIR be written as a checkpoint? 0 when it does not exist or is a
 * checkpoint folder; -1 + message otherwise (a file, a folder with other
 * files, an unreadable path). */
int train_out_check(const char *dir, char *err, size_t errlen);

/* Remove a checkpoint folder (its known files, then the folder; a folder
 * with other files stays). */
void train_remove_dir(const char *dir);
/* Remove DIR.ckpt.PID folders of runs that are no longer alive. */
void train_remove_stale(const char *dir);

/* Atomically replace folder dst by folder src (RENAME_EXCHANGE, then
 * removal of the old one; a rename when dst does not exist). */
int train_swap_dir(const char *src, const char *dst, char *err, size_t errlen);

/* Write the checkpoint (model, optimizer, state_json as given) to dir. */
int train_checkpoint_save(const bert_model *m, const adamw_state *opt, const char *state_json, const char *dir,
                          char *err, size_t errlen);

#endif
