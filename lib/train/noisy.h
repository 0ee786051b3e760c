/* noisy.h: perturb's record modes, the noise of text/perturb.h applied to
 * record streams, with a student where one is needed:
 *
 *   text records   the text field perturbed (noisy_text_records);
 *   pair records   src_text perturbed and re-tokenized into src_ids with the
 *                  model's (or --vocab's) vocabulary, src_vecs dropped
 *                  (stale), the target side and the metadata passed through;
 *                  src_vocab / src_special_ids name the vocabulary used
 *                  (noisy_pair_records);
 *   worst of K     the same, keeping of K noisy candidates the one with the
 *                  highest distillation loss under the student (worst.c);
 *   attack         embedding-space FGSM/PGD on src_ids, written as `tokens`
 *                  records with embeds (attack.c).
 *
 * Vocabularies: the ids a student reads must come from its vocab.txt. A pair
 * stream whose src_vocab differs from the student's is refused (both hashes
 * named) unless allow_vocab_mismatch, and so is a --vocab other than the
 * student's for the modes that score with it (worst of K, attack).
 *
 * Output goes to the path `out` ("-" = standard output) through rec's
 * writer. Functions return 0, or -1 with a message naming the stream and
 * the record.
 */
#ifndef OTC_TRAIN_NOISY_H
#define OTC_TRAIN_NOISY_H

#include <stddef.h>
#include <stdint.h>

#include "stream/rec.h"
#include "text/perturb.h"
#include "text/vocab.h"
#include "text/wordpiece.h"
#include "train/distill.h"

typedef struct {
  perturb_opts po;      /* the noise (and its seed) */
  int key_by_index;     /* key = record number instead of the id's hash */
  size_t max_len;       /* re-tokenized src_ids, [CLS]/[SEP] included (also <= the model's positions) */
  int worst_of;         /* K > 0: worst of K candidates */
  distill_adv attack;   /* DISTILL_ADV_FGSM / _PGD: the embedding attack */
  double adv_eps, adv_alpha;
  int adv_relative;     /* adv_eps, adv_alpha are fractions of the model's median word-embedding norm */
  int adv_steps;
  long batch_tokens;    /* tokens per model batch */
  distill_loss_cfg loss; /* the loss the model modes maximise */
  int allow_vocab_mismatch;
} noisy_opts;

/* The student and/or the vocabulary that re-tokenizes. */
typedef struct {
  bert_model *m;        /* NULL without --model */
  const char *model_dir;
  vocab *v;             /* the tokenizer's vocabulary: --vocab FILE, else the model's vocab.txt (NULL: none) */
  wp_tokenizer *tok;
  char special[32];     /* "min(cls,sep),max(cls,sep)" of v, as tokenize writes special_ids */
} noisy_model;

/* model_dir and/or vocab_path (at least one); tokenize: also the
 * tokenizer (lower: its lower casing); without it only the model (the
 * attack). NULL + message on error. */
noisy_model *noisy_model_load(const char *model_dir, const char *vocab_path, int lower, int tokenize, char *err,
                              size_t errlen);
void noisy_model_free(noisy_model *nm);

/* r is the input (name for messages). */
int noisy_text_records(const noisy_opts *o, rec_reader *r, const char *name, const char *out, perturb_stats *st,
                       char *err, size_t errlen);
/* Random noise, or with o->worst_of the worst of K (needs nm->m). */
int noisy_pair_records(const noisy_opts *o, const noisy_model *nm, rec_reader *r, const char *name, const char *out,
                       perturb_stats *st, char *err, size_t errlen);
/* The attack needs nm->m; nm->v is not used (the ids are the stream's). */
int noisy_attack_records(const noisy_opts *o, const noisy_model *nm, rec_reader *r, const char *name,
                         const char *out, char *err, size_t errlen);

/* ---- shared by the modes ---- */

/* The index of a field the mode cannot do without; -1 + message if absent. */
int noisy_need_field(const rec_schema *s, const char *field, const char *name, char *err, size_t errlen);
/* Is the stream's src_vocab (if any) the model's vocabulary? 0, or -1 + a
 * message naming both hashes. */
int noisy_check_vocab(const rec_schema *s, const noisy_model *nm, const noisy_opts *o, const char *name, char *err,
                      size_t errlen);

/* Worst of K over a pair stream (worst.c): keeps the records it needs until
 * their candidates fill a model batch. */
typedef struct noisy_worst noisy_worst;
noisy_worst *noisy_worst_new(const noisy_opts *o, const noisy_model *nm, rec_writer *w, const rec_schema *in,
                             char *err, size_t errlen);
/* Hold one record (copied); scores and writes the held ones when full. */
int noisy_worst_add(noisy_worst *x, const rec_record *rec, char *err, size_t errlen);
/* Score and write what is held. */
int noisy_worst_flush(noisy_worst *x, char *err, size_t errlen);
void noisy_worst_free(noisy_worst *x);

#endif
