/* session.c: a training run of distill-step (session.h). */
#include "train/session.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/sha256.h"
#include "base/util.h"
#include "train/checkpoint.h"
#include "train/pairs.h"

void train_opts_defaults(train_opts *o) {
  memset(o, 0, sizeof *o);
  distill_cfg_defaults(&o->dc);
  o->dc.adv_alpha = -1;
  o->epochs = 1;
  o->batch_tokens = 4096;
  o->lr = 1e-3;
  o->sched = DISTILL_SCHED_LINEAR;
  o->seed = 1;
}

char *train_options_key(const train_opts *o) {
  char *s = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&s, &n);
  const distill_cfg *c = &o->dc;
  fprintf(f,
          "loss=ot:%.17g,mse:%.17g,cos:%.17g ot_eps=%.17g ot_iters=%d ot_tol=%.17g ot_newton=%d ot_eps_start=%.17g "
          "keep_special=%d "
          "idf=%d epochs=%d batch_tokens=%ld batch_size=%ld lr=%.17g betas=%.9g,%.9g adam_eps=%.9g wd=%.9g clip=%.9g "
          "warmup=%ld schedule=%d freeze=%d,%d adv=%d adv_eps=%.17g adv_alpha=%.17g adv_steps=%d adv_weight=%.17g "
          "seed=%" PRIu64 " threads=%d",
          c->loss.w_ot, c->loss.w_mse, c->loss.w_cos, c->loss.ot.eps, c->loss.ot.max_iter, c->loss.ot.tol,
          c->loss.ot.newton, c->loss.ot.eps_start, c->loss.keep_special, o->idf, o->epochs, o->batch_tokens, o->batch_size, o->lr,
          c->opt.beta1, c->opt.beta2, c->opt.eps, c->opt.weight_decay, c->opt.clip_norm, o->warmup, (int)o->sched,
          o->freeze_emb, o->freeze_layers, (int)c->adv, c->adv_eps, c->adv_alpha, c->adv_steps, c->adv_weight,
          o->seed, o->threads);
  fclose(f);
  return s;
}

struct train_session {
  train_opts o;
  train_start how;
  char *out, *okey;
  bert_model *m;
  distill_trainer *tr;
  train_input *in;
  train_state st;
  train_idf idf;
  int have_idf;
  train_batch b;
  char model_id[24];
  char *teacher, *src_vocab; /* of the input */
  train_summary sum;
};

static const char *how_name(train_start how) {
  return how == TRAIN_RESUME ? "--resume" : how == TRAIN_CONTINUE ? "--continue" : "--init";
}

/* The input's vocabulary and teacher against the student's and the checkpoint's. */
static int check_identity(train_session *s, const char *from, char *err, size_t errlen) {
  const rec_schema *sc = train_input_schema(s->in);
  const char *sv = rec_meta_get(sc, "src_vocab"), *tm = rec_meta_get(sc, "tgt_model");
  s->src_vocab = sv ? xstrdup(sv) : NULL;
  s->teacher = tm ? xstrdup(tm) : NULL;
  if (sv && s->m->vocab && !s->o.allow_vocab_mismatch) {
    char h[65];
    otc_sha256_hex(s->m->vocab, s->m->vocab_len, h);
    if (strcmp(h, sv) != 0)
      return set_err(err, errlen,
                     "%s: its src_ids were made with another vocabulary than the student's: src_vocab %s, but "
                     "%s/vocab.txt has SHA-256 %s (tokenize with the student's vocab.txt, or "
                     "--allow-vocab-mismatch)",
                     train_input_name(s->in), sv, from, h);
  }
  const char *was = s->st.teacher;
  if (tm && was && strcmp(tm, was) != 0 && !s->o.allow_model_mismatch)
    return set_err(err, errlen,
                   "%s: the teacher vectors come from model %s, but the run in %s was trained against %s "
                   "(--allow-model-mismatch if that is intended)",
                   train_input_name(s->in), tm, from, was);
  return 0;
}

/* First pass over a seekable input: steps per epoch, IDF counts, the input's
 * fingerprint. */
static int first_pass(train_session *s, uint64_t *per_epoch, char *err, size_t errlen) {
  train_pair p;
  uint64_t pairs = 0;
  size_t B = 0, N = 0;
  int rc;
  if (s->o.idf) train_idf_init(&s->idf, s->m->cfg.vocab_size), s->have_idf = 1;
  *per_epoch = 0;
  while ((rc = train_input_next(s->in, &p, 1, err, errlen)) > 0) {
    if (B && !((s->o.batch_size <= 0 || (long)B < s->o.batch_size) && N + p.n <= (size_t)s->o.batch_tokens)) {
      (*per_epoch)++;
      B = 0, N = 0;
    }
    B++, N += p.n, pairs++;
    if (s->o.idf) train_idf_add(&s->idf, &p);
  }
  if (rc < 0) return -1;
  if (B) (*per_epoch)++;
  if (pairs == 0)
    return set_err(err, errlen, "%s: no usable pairs (%" PRIu64 " skipped)", train_input_name(s->in),
                   train_input_skipped(s->in));
  if (s->o.idf) train_idf_finish(&s->idf);
  return 0;
}

train_session *train_session_open(const train_opts *o, train_start how, const char *from, const char *out, int fd,
                                  const char *name, char *err, size_t errlen) {
  train_session *s = xcalloc(1, sizeof *s);
  s->o = *o;
  if (s->o.dc.adv_alpha < 0) s->o.dc.adv_alpha = s->o.dc.adv_eps / 4;
  if (s->o.threads < 1) s->o.threads = otc_threads();
  s->o.dc.loss.ot.threads = s->o.threads;
  s->how = how;
  s->out = xstrdup(out);
  s->okey = train_options_key(&s->o);
  const char *model_dir = how == TRAIN_RESUME ? out : from;
  char e[1024];

  if (how != TRAIN_RESUME && train_out_check(out, err, errlen) != 0) goto fail;
  if (how != TRAIN_INIT) {
    if (train_state_load(model_dir, &s->st, e, sizeof e) != 0) {
      set_err(err, errlen, "%s: %s", how_name(how), e);
      goto fail;
    }
    if (how == TRAIN_RESUME && strcmp(s->st.options, s->okey) != 0) {
      set_err(err, errlen, "--resume: the options differ from those of the checkpoint in %s\n  checkpoint: %s\n  now:        %s",
              out, s->st.options, s->okey);
      goto fail;
    }
    if (how == TRAIN_CONTINUE) {
      /* the schedule and the seeds go on from the step of `from` */
      uint64_t step = s->st.step;
      char *teacher = s->st.teacher ? xstrdup(s->st.teacher) : NULL;
      train_state_free(&s->st);
      memset(&s->st, 0, sizeof s->st);
      s->st.step = step, s->st.teacher = teacher;
    }
  }
  if (!(s->m = bert_load(model_dir, err, errlen))) goto fail;
  bert_model_id(s->m, s->model_id);
  train_limits lim = {.d = s->m->cfg.hidden,
                      .vocab_size = s->m->cfg.vocab_size,
                      .max_pos = s->m->cfg.max_position,
                      .cut = s->o.dc.loss.keep_special ? 0 : 1};
  if (!(s->in = train_input_open(fd, name, &lim, err, errlen))) goto fail;
  int seekable = train_input_seekable(s->in);
  if (!seekable && s->o.epochs > 1) {
    set_err(err, errlen, "--epochs %d needs to read the input %d times: give a file (--input FILE or < FILE), not a pipe",
            s->o.epochs, s->o.epochs);
    goto fail;
  }
  if (!seekable && s->o.idf) {
    set_err(err, errlen, "--idf needs a first pass over the input: give a file, not a pipe");
    goto fail;
  }
  if (!seekable && s->o.sched != DISTILL_SCHED_CONSTANT && !s->o.total_steps) {
    set_err(err, errlen, "--schedule %s needs the number of steps: give a file (not a pipe) or --total-steps",
            s->o.sched == DISTILL_SCHED_LINEAR ? "linear" : "cosine");
    goto fail;
  }
  if (check_identity(s, model_dir, err, errlen) != 0) goto fail;

  bert_freeze(s->m, s->o.freeze_emb, s->o.freeze_layers);
  s->tr = distill_trainer_new(s->m, &s->o.dc);
  if (how != TRAIN_INIT) {
    char path[4200];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", model_dir);
    adamw_state *opt = distill_trainer_adamw(s->tr);
    if (adamw_load(opt, s->m, path, err, errlen) != 0) goto fail;
    if (opt->step != s->st.step) {
      set_err(err, errlen, "%s: optimizer step %" PRIu64 " != trainer step %" PRIu64, model_dir, opt->step,
              s->st.step);
      goto fail;
    }
  }
  train_remove_stale(out);

  uint64_t per_epoch = 0;
  if (seekable) {
    if (first_pass(s, &per_epoch, err, errlen) != 0) goto fail;
    if (how == TRAIN_RESUME && s->st.have_input_fp &&
        (s->st.input_records != train_input_records(s->in) || s->st.input_fp != train_input_fingerprint(s->in))) {
      set_err(err, errlen,
              "--resume: %s is not the input of the checkpoint in %s (%" PRIu64 " records, fingerprint %016" PRIx64
              "; the checkpoint's: %" PRIu64 " records, %016" PRIx64 ")",
              name, out, train_input_records(s->in), train_input_fingerprint(s->in), s->st.input_records,
              s->st.input_fp);
      goto fail;
    }
    s->st.input_records = train_input_records(s->in);
    s->st.input_fp = train_input_fingerprint(s->in);
    s->st.have_input_fp = 1;
  } else if (how == TRAIN_RESUME) {
    s->st.have_input_fp = 0; /* only the consumed part can be checked */
  }
  uint64_t total = s->o.total_steps ? (uint64_t)s->o.total_steps : per_epoch * (uint64_t)s->o.epochs;
  if (how == TRAIN_CONTINUE && !s->o.total_steps) total += s->st.step;
  if (how == TRAIN_RESUME && s->st.total != total) {
    set_err(err, errlen, "--resume: the run has %" PRIu64 " steps now but %" PRIu64 " in the checkpoint (different input?)",
            total, s->st.total);
    goto fail;
  }
  s->st.total = total;
  s->st.seed = s->o.seed;
  if (how != TRAIN_RESUME) {
    free(s->st.options);
    s->st.options = xstrdup(s->okey);
  }
  if (!s->st.teacher && s->teacher) s->st.teacher = xstrdup(s->teacher);
  free(s->st.src_vocab);
  s->st.src_vocab = s->src_vocab ? xstrdup(s->src_vocab) : NULL;
  train_batch_init(&s->b, s->m->cfg.hidden, s->o.batch_tokens, s->o.batch_size);
  return s;
fail:
  train_session_free(s);
  return NULL;
}

void train_session_free(train_session *s) {
  if (!s) return;
  distill_trainer_free(s->tr);
  bert_free(s->m);
  train_input_free(s->in);
  train_state_free(&s->st);
  if (s->have_idf) train_idf_free(&s->idf);
  train_batch_free(&s->b);
  free(s->out), free(s->okey), free(s->teacher), free(s->src_vocab);
  free(s);
}

rec_schema *train_session_log_schema(const train_session *s) {
  rec_schema *ls = rec_schema_builtin("trainlog");
  rec_meta_set(ls, "init_model", s->model_id);
  rec_meta_set(ls, "options", s->okey);
  if (s->teacher) rec_meta_set(ls, "teacher_model", s->teacher);
  return ls;
}

void train_session_summary(const train_session *s, train_summary *out) {
  *out = s->sum;
  out->skipped = train_input_skipped(s->in);
}

static int save(train_session *s, int finished, char *err, size_t errlen) {
  s->st.finished = finished;
  char *js = train_state_json(&s->st);
  int rc = train_checkpoint_save(s->m, distill_trainer_adamw(s->tr), js, s->out, err, errlen);
  free(js);
  return rc;
}

typedef struct {
  int step, loss, ot, adv, gn, lr, tps, epoch, mse, cos, unconv;
} log_fields;

static int write_log(train_session *s, rec_writer *w, const log_fields *f, const distill_step_result *r, double lr,
                     double tps, uint64_t epoch, char *err, size_t errlen) {
  rec_put_u32_scalar(w, f->step, (uint32_t)s->st.step);
  rec_put_f64_scalar(w, f->loss, r->loss);
  rec_put_f64_scalar(w, f->ot, r->clean.ot);
  rec_put_f64_scalar(w, f->adv, r->adv);
  rec_put_f64_scalar(w, f->gn, r->grad_norm);
  rec_put_f64_scalar(w, f->lr, lr);
  rec_put_f64_scalar(w, f->tps, tps);
  rec_put_u32_scalar(w, f->epoch, (uint32_t)epoch);
  if (s->o.dc.loss.w_mse > 0 && f->mse >= 0) rec_put_f64_scalar(w, f->mse, r->clean.mse);
  if (s->o.dc.loss.w_cos > 0 && f->cos >= 0) rec_put_f64_scalar(w, f->cos, r->clean.cos);
  if (f->unconv >= 0) rec_put_u32_scalar(w, f->unconv, (uint32_t)r->ot_unconverged);
  if (rec_write(w) != 0) return set_err(err, errlen, "%s", rec_writer_error(w));
  return 0;
}

/* Resume inside an epoch: read past the pairs the checkpoint consumed,
 * checking that they are the same. The first pair after them is left in *p
 * (*have = 1). */
static int skip_consumed(train_session *s, train_pair *p, int *have, int count_skips, char *err, size_t errlen) {
  uint64_t fp = 0;
  int rc;
  while ((rc = train_input_next(s->in, p, count_skips, err, errlen)) > 0) {
    if (p->index >= s->st.pos) {
      *have = 1;
      break;
    }
    fp = train_fingerprint_fold(fp, p, s->m->cfg.hidden);
  }
  if (rc < 0) return -1;
  if (fp != s->st.prefix_fp || (rc == 0 && train_input_records(s->in) < s->st.pos))
    return set_err(err, errlen,
                   "--resume: the first %" PRIu64 " records of %s are not those the checkpoint in %s trained on "
                   "(another input?)",
                   s->st.pos, train_input_name(s->in), s->out);
  return 0;
}

int train_session_run(train_session *s, rec_writer *w, train_progress_fn progress, void *ctx, char *err,
                      size_t errlen) {
  const rec_schema *ls = rec_writer_schema(w);
  log_fields f = {rec_field_index(ls, "step"),   rec_field_index(ls, "loss"),         rec_field_index(ls, "ot"),
                  rec_field_index(ls, "adv"),    rec_field_index(ls, "grad_norm"),    rec_field_index(ls, "lr"),
                  rec_field_index(ls, "tokens_per_s"), rec_field_index(ls, "epoch"), rec_field_index(ls, "mse"),
                  rec_field_index(ls, "cos"),    rec_field_index(ls, "ot_unconverged")};
  train_state *st = &s->st;
  int seekable = train_input_seekable(s->in), stopped = 0;
  const char *name = train_input_name(s->in);
  double t_last = now_seconds();
  char e[1024];
  for (uint64_t epoch = st->epoch; epoch < (uint64_t)s->o.epochs && !stopped; epoch++) {
    if (seekable && train_input_rewind(s->in, err, errlen) != 0) return -1;
    int count_skips = epoch == 0 && !seekable;
    train_pair p;
    int have = 0;
    if (epoch == st->epoch && st->pos > 0) {
      if (skip_consumed(s, &p, &have, count_skips, err, errlen) != 0) return -1;
    } else {
      st->prefix_fp = 0;
    }
    for (;;) {
      train_batch_clear(&s->b);
      for (;;) {
        if (!have) {
          int rc = train_input_next(s->in, &p, count_skips, err, errlen);
          if (rc < 0) return -1;
          if (!(have = rc)) break;
        }
        if (!train_batch_fits(&s->b, p.n)) break;
        train_batch_add(&s->b, &p, s->have_idf ? &s->idf : NULL);
        st->prefix_fp = train_fingerprint_fold(st->prefix_fp, &p, s->m->cfg.hidden);
        have = 0;
      }
      if (s->b.B == 0) break;
      distill_batch bt = train_batch_view(&s->b);
      double lr = distill_lr_at(s->o.sched, s->o.lr, st->step, (uint64_t)s->o.warmup, st->total);
      uint64_t sx = s->o.seed ^ 0x5eed5eed5eed5eedULL;
      uint64_t mixed = rng_splitmix64(&sx) ^ st->step;
      uint64_t step_seed = rng_splitmix64(&mixed);
      distill_step_result r;
      if (distill_train_step(s->tr, &bt, step_seed, (float)lr, &r, e, sizeof e) != 0)
        /* "pair k" in the message is the k-th of the batch */
        return set_err(err, errlen, "%s: step %" PRIu64 " (records up to %" PRIu64 "): %s", name, st->step + 1,
                       s->b.last_index, e);
      s->sum.ot_problems += (uint64_t)r.ot_problems;
      s->sum.ot_unconverged += (uint64_t)r.ot_unconverged;
      st->step++;
      s->sum.steps++;
      st->epoch = epoch;
      st->pos = s->b.last_index + 1;
      double now = now_seconds();
      if (write_log(s, w, &f, &r, lr, r.tokens / fmax(now - t_last, 1e-9), epoch, err, errlen) != 0) return -1;
      t_last = now;
      if (progress) progress(ctx, st->step, st->total);
      if (s->o.stop_after && st->step >= (uint64_t)s->o.stop_after) {
        stopped = 1;
        break;
      }
      if (s->o.save_every && st->step % (uint64_t)s->o.save_every == 0 && save(s, 0, err, errlen) != 0) return -1;
    }
    if (!stopped) {
      /* epoch done: the next one starts at its first record */
      st->epoch = epoch + 1;
      st->pos = 0;
      st->prefix_fp = 0;
    }
  }
  return save(s, !stopped, err, errlen);
}
