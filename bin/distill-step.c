/*
 * distill-step: train a student encoder by OT distillation against a teacher's token vectors, with adversarial training
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/distill.h"
#include "base/json.h"
#include "stream/rec.h"
#include "base/rng.h"
#include "base/util.h"
#include "cli/cli.h"
#include "kernels/blas.h"

static const char usage[] =
    "usage: distill-step --init DIR --out DIR [--loss ot=1,cos=0.5] [--epochs E] [--lr LR]\n"
    "                    [--adv fgsm|pgd|freelb --adv-eps E ...] [--save-every N] [--resume]\n"
    "                    [--input FILE] [--seed N] [--threads N]   < pairs\n";

static void help(void) {
  printf(
      "distill-step: train a student encoder by optimal-transport distillation\n"
      "against a frozen teacher's token vectors (OPTICAL), with adversarial\n"
      "training in the student's input-embedding space.\n"
      "\n"
      "usage: distill-step --init DIR --out DIR [OPTIONS] [< pairs]\n"
      "\n"
      "INPUT\n"
      "  `pair` records (standard input, or --input FILE) with src_ids (the\n"
      "  student's token ids of language X, [CLS] first and [SEP] last) and\n"
      "  tgt_vecs (the teacher's token vectors of the English side, from\n"
      "  `embed --side tgt`; d must be the student's hidden size); tgt_ids is\n"
      "  used by --idf. A pair with no token besides [CLS]/[SEP] on a side is\n"
      "  skipped (counted on stderr). Training order = input order: shuffle\n"
      "  upstream. --epochs E > 1 reads the input E times, so it must be a file\n"
      "  (--input FILE, or standard input redirected from a file), not a pipe.\n"
      "\n"
      "OUTPUT\n"
      "  One `trainlog` record per optimizer step on standard output: step\n"
      "  (1-based), loss (the total objective), ot (mean OT cost <P,C> of the\n"
      "  clean batch, computed even when its weight is 0), adv (the adversarial\n"
      "  term, 0 without --adv), grad_norm (global L2 norm before clipping), lr,\n"
      "  tokens_per_s (student tokens per second of wall time, reading included),\n"
      "  epoch (0-based), mse (the mse part, with --loss mse).\n"
      "  The student is written to --out at the end and every --save-every steps\n"
      "  as a Hugging Face BERT folder (config.json, model.safetensors,\n"
      "  vocab.txt) plus the checkpoint: optimizer.safetensors (AdamW m, v,\n"
      "  step) and trainer_state.json (step, epoch, records consumed in the\n"
      "  epoch, total steps, seed, the options that shape the run). The folder\n"
      "  is built beside --out and swapped in with one atomic rename\n"
      "  (RENAME_EXCHANGE): a run killed at any instant, SIGKILL included,\n"
      "  leaves the previous checkpoint complete.\n"
      "\n"
      "LOSSES (per batch of B pairs; [CLS]/[SEP] of both sides take no part\n"
      "unless --keep-special; means over content tokens)\n"
      "  ot   1/B sum_b <P_b, C_b>, C_ij = 1 - cos(s_i, t_j) between student token\n"
      "       s_i and teacher token t_j; P_b = the entropic Sinkhorn plan (eps\n"
      "       --ot-eps, log domain) with uniform marginals, or with --idf the\n"
      "       IDF of each token's id, normalised per side. P is held fixed in the\n"
      "       gradient (envelope theorem): d/ds_i = sum_j P_ij dC_ij/ds_i.\n"
      "  mse  1/B sum_b (1/d) |mean_i s_i - mean_j t_j|^2   (Reimers & Gurevych 2020)\n"
      "  cos  1/B sum_b (1 - cos(mean_i s_i, mean_j t_j))  (mse of unit-vector means\n"
      "       collapses: the student wins by shrinking; cos does not)\n"
      "  --loss ot=1,cos=0.5 gives L = 1 ot + 0.5 cos (a bare name: weight 1).\n"
      "  IDF (--idf): idf(w) = ln((1 + P) / (1 + df(w))) + 1, df(w) = pairs whose\n"
      "  side contains id w, P = pairs; computed per side (student ids for\n"
      "  src, teacher tgt_ids for tgt) over the whole input in a first pass.\n"
      "\n"
      "ADVERSARIAL TRAINING (--adv; per-token L2 ball of radius eps around each\n"
      "input word embedding; g_i = dL/d delta_i, u(g)_i = g_i/|g_i|,\n"
      "Proj_i(x) = x_i min(1, eps/|x_i|))\n"
      "  fgsm    delta = eps u(g(0));                         adv = L(delta)\n"
      "  pgd     delta_0 uniform in the ball, K = --adv-steps steps\n"
      "          delta_k = Proj(delta_{k-1} + alpha u(g(delta_{k-1})));  adv = L(delta_K)\n"
      "  freelb  delta_0 uniform in the ball, K ascent steps as pgd, the parameter\n"
      "          gradient of each step's loss accumulated:   adv = 1/K sum_{k<K} L(delta_k)\n"
      "  total loss = L(0) + w adv (w = --adv-weight); delta is a constant for the\n"
      "  parameter gradient. Cost per step, in forward+backward passes: none 1,\n"
      "  fgsm 2, pgd K+2, freelb K+1. The random start of step s is drawn from\n"
      "  (--seed, s), so a resumed run draws the same.\n"
      "\n"
      "OPTIMISATION\n"
      "  AdamW (torch.optim.AdamW semantics, decoupled weight decay on weight\n"
      "  matrices and embeddings, not on biases and LayerNorm), global gradient\n"
      "  clipping, learning rate: linear warmup over --warmup steps from\n"
      "  lr/(warmup+1) to lr, then --schedule constant, linear (to 0 at the last\n"
      "  step) or cosine (to 0). The last step is the total number of batches of\n"
      "  all epochs, counted in a first pass over the input (or --total-steps).\n"
      "  Batches: consecutive pairs while their student tokens fit in\n"
      "  --batch-tokens (a longer pair is a batch of its own) and at most\n"
      "  --batch-size pairs.\n"
      "\n"
      "OPTIONS\n"
      "  --init DIR           the student to start from (a model folder; a teacher\n"
      "                       copy or a fresh `embed --init` model); --model is an\n"
      "                       alias\n"
      "  --out DIR            where the trained student and checkpoints go\n"
      "  --input FILE         read pairs from FILE (default standard input)\n"
      "  --loss SPEC          ot, mse, cos or a weighted sum (default ot)\n"
      "  --ot-eps E           Sinkhorn regularisation (default 0.05)\n"
      "  --ot-iters N         Sinkhorn iteration cap (default 1000)\n"
      "  --ot-tol T           Sinkhorn marginal tolerance (default 1e-6)\n"
      "  --idf                IDF marginals (see LOSSES; needs a seekable input)\n"
      "  --keep-special       [CLS]/[SEP] take part in the losses\n"
      "  --epochs E           passes over the input (default 1)\n"
      "  --batch-tokens N     student tokens per batch (default 4096)\n"
      "  --batch-size N       at most N pairs per batch (default 0: no limit)\n"
      "  --lr LR              peak learning rate (default 1e-3)\n"
      "  --beta1 B, --beta2 B AdamW betas (default 0.9, 0.999)\n"
      "  --adam-eps E         AdamW epsilon (default 1e-8)\n"
      "  --weight-decay W     (default 0.01)\n"
      "  --clip C             gradient clipping norm, 0 = off (default 1.0)\n"
      "  --warmup N           warmup steps (default 0)\n"
      "  --schedule S         constant, linear or cosine (default linear)\n"
      "  --total-steps N      steps of the schedule (needed for a decaying schedule\n"
      "                       when the input is a pipe)\n"
      "  --stop-after N       stop (and save) after step N; the schedule is that of\n"
      "                       the whole run, so --resume continues it exactly\n"
      "  --freeze-embeddings  do not update the embeddings (word, position, type,\n"
      "                       their LayerNorm)\n"
      "  --freeze-layers N    do not update encoder layers 0..N-1\n"
      "  --adv KIND           fgsm, pgd or freelb (default none)\n"
      "  --adv-eps E          ball radius per token (default 1.0)\n"
      "  --adv-alpha A        ascent step (default eps/4)\n"
      "  --adv-steps K        pgd/freelb steps (default 3)\n"
      "  --adv-weight W       weight of the adversarial term (default 1.0)\n"
      "  --seed N             seed of the adversarial random starts (default 1)\n"
      "  --save-every N       checkpoint every N steps (default 0: only at the end)\n"
      "  --continue DIR       start from the checkpoint in DIR (a previous run's\n"
      "                       --out): its model, AdamW state and step count, on a\n"
      "                       new input; the step numbers, the learning-rate\n"
      "                       schedule and the adversarial seeds go on from DIR's\n"
      "                       step, so chained runs (one epoch each, with new\n"
      "                       worst-of-K noise from the latest student) follow one\n"
      "                       schedule. A decaying schedule needs --total-steps =\n"
      "                       the steps of the whole chain.\n"
      "  --resume             continue from the checkpoint in --out (same input\n"
      "                       and options; --init is then not needed). Equal to an\n"
      "                       uninterrupted run, bit for bit, at the same --threads.\n"
      "  --threads N          threads (default all cores); results are bit-identical\n"
      "                       for a given thread count\n"
      "  --progress           progress on stderr even when it is not a terminal\n"
      "  --help, --version\n"
      "\n"
      "EXAMPLES\n"
      "  distill-step --init student0 --out student --loss ot --epochs 3 --lr 3e-3 \\\n"
      "      --input pairs.rec.zst > train.log.rec\n"
      "  distill-step --init s0 --out s1 --adv pgd --adv-eps 0.5 --adv-steps 3 \\\n"
      "      --save-every 200 < pairs.rec > log.rec    # later: add --resume\n"
      "  rec dump log.rec   # the training curve as JSON lines\n"
      "  # one schedule over epochs with fresh worst-of-4 typos from the latest student:\n"
      "  perturb --worst-of 4 --typo 0.3 --model s1 < pairs.rec \\\n"
      "      | distill-step --continue s1 --out s2 --total-steps 3000 > log2.rec\n"
      "\n"
      "EXIT STATUS\n"
      "  0 success, 1 error (bad input: the record is named; a non-finite loss),\n"
      "  2 bad usage.\n");
  otc_close_stdout();
  exit(0);
}

/* ---------------------------------------------------------------- options */

typedef struct {
  const char *init, *out, *input, *cont;
  distill_cfg dc;
  int idf, epochs;
  long batch_tokens, batch_size;
  double lr;
  long warmup;
  distill_sched sched;
  long total_steps, stop_after, save_every;
  int freeze_emb, freeze_layers;
  uint64_t seed;
  int resume, threads, progress;
} opts_t;

/* The options that shape the trajectory: a resumed run must match them. */
static char *options_key(const opts_t *o) {
  char *s = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&s, &n);
  const distill_cfg *c = &o->dc;
  fprintf(f,
          "loss=ot:%.17g,mse:%.17g,cos:%.17g ot_eps=%.17g ot_iters=%d ot_tol=%.17g keep_special=%d idf=%d "
          "epochs=%d batch_tokens=%ld batch_size=%ld lr=%.17g betas=%.9g,%.9g adam_eps=%.9g wd=%.9g clip=%.9g "
          "warmup=%ld schedule=%d freeze=%d,%d adv=%d adv_eps=%.17g adv_alpha=%.17g adv_steps=%d adv_weight=%.17g "
          "seed=%" PRIu64 " threads=%d",
          c->loss.w_ot, c->loss.w_mse, c->loss.w_cos, c->loss.ot.eps, c->loss.ot.max_iter, c->loss.ot.tol,
          c->loss.keep_special, o->idf, o->epochs, o->batch_tokens, o->batch_size, o->lr, c->opt.beta1, c->opt.beta2,
          c->opt.eps, c->opt.weight_decay, c->opt.clip_norm, o->warmup, (int)o->sched, o->freeze_emb,
          o->freeze_layers, (int)c->adv, c->adv_eps, c->adv_alpha, c->adv_steps, c->adv_weight, o->seed, o->threads);
  fclose(f);
  return s;
}

/* ---------------------------------------------------------------- input */

typedef struct {
  int fd;
  const char *name;
  int seekable;
  rec_reader *r;
  int f_src, f_tgt_ids, f_tgt_vecs;
  int d, vocab_size, max_pos, cut;
  uint64_t skipped;
} input_t;

static void input_open(input_t *in) {
  if (in->r) rec_close(in->r);
  if (in->seekable && lseek(in->fd, 0, SEEK_SET) != 0) die_errno("%s: seek", in->name);
  char err[1024];
  in->r = rec_open_fd(in->fd, in->name, err, sizeof err);
  if (!in->r) die("%s", err);
  const rec_schema *s = rec_reader_schema(in->r);
  if (rec_schema_expect(s, (const char *const[]){"pair", NULL}, err, sizeof err) != 0) die("%s: %s", in->name, err);
  const char *need[3] = {"src_ids", "tgt_ids", "tgt_vecs"};
  for (int k = 0; k < 3; k++)
    if (rec_field_index(s, need[k]) < 0) die("%s: 'pair' stream without field '%s'", in->name, need[k]);
  in->f_src = rec_field_index(s, "src_ids");
  in->f_tgt_ids = rec_field_index(s, "tgt_ids");
  in->f_tgt_vecs = rec_field_index(s, "tgt_vecs");
  int64_t d = rec_get_dim(s, "d");
  if (d > 0 && d != in->d)
    die("%s: the teacher vectors have d = %lld, the student's hidden size is %d", in->name, (long long)d, in->d);
}

/* One pair as the trainer needs it (pointers into the reader's buffer). */
typedef struct {
  const uint32_t *src, *tgt;
  size_t n, m;
  const float *vecs;
  uint64_t index;
} pair_t;

/* Next usable pair: 1 = got one, 0 = end of the stream. Pairs with an empty
 * side are skipped (and counted once, in the first epoch). */
static int input_next(input_t *in, pair_t *p, int count_skips) {
  rec_record rec;
  for (;;) {
    if (!rec_read_or_die(in->r, &rec)) return 0;
    if (!rec_has(&rec, in->f_tgt_vecs))
      die("%s: record %" PRIu64 ": no tgt_vecs (add the teacher's vectors with embed --side tgt)", in->name,
          rec.index);
    p->index = rec.index;
    p->src = rec_u32(&rec, in->f_src, &p->n);
    p->tgt = rec_u32(&rec, in->f_tgt_ids, &p->m);
    size_t nv;
    p->vecs = rec_f32(&rec, in->f_tgt_vecs, &nv);
    if (nv != p->m * (size_t)in->d)
      die("%s: record %" PRIu64 ": tgt_vecs has %zu values for %zu tgt_ids of d = %d", in->name, rec.index, nv, p->m,
          in->d);
    if (p->n < (size_t)(1 + 2 * in->cut) || p->m < (size_t)(1 + 2 * in->cut)) {
      if (count_skips) in->skipped++;
      continue;
    }
    if (p->n > (size_t)in->max_pos)
      die("%s: record %" PRIu64 ": %zu src tokens > the student's max_position_embeddings %d (tokenize --max-len)",
          in->name, rec.index, p->n, in->max_pos);
    for (size_t i = 0; i < p->n; i++)
      if (p->src[i] >= (uint32_t)in->vocab_size)
        die("%s: record %" PRIu64 ": src id %u >= the student's vocab_size %d (wrong vocabulary?)", in->name,
            rec.index, p->src[i], in->vocab_size);
    return 1;
  }
}

/* ---------------------------------------------------------------- batches */

typedef struct {
  int B, cap;
  int *src_len, *tgt_len;
  uint32_t *ids;
  size_t N, capN;
  float *vecs, *src_w, *tgt_w;
  size_t M, capM;
  int d;
  uint64_t records; /* records (incl. skipped) consumed up to and including this batch's last */
} batch_t;

static void batch_add(batch_t *b, const pair_t *p, const float *idf_src, size_t nidf_src, const float *idf_tgt,
                      size_t nidf_tgt) {
  if (b->B == b->cap) {
    b->cap = b->cap ? 2 * b->cap : 64;
    b->src_len = xrealloc(b->src_len, (size_t)b->cap * sizeof *b->src_len);
    b->tgt_len = xrealloc(b->tgt_len, (size_t)b->cap * sizeof *b->tgt_len);
  }
  if (b->N + p->n > b->capN) {
    while (b->N + p->n > b->capN) b->capN = b->capN ? 2 * b->capN : 4096;
    b->ids = xrealloc(b->ids, b->capN * sizeof *b->ids);
    b->src_w = xrealloc(b->src_w, b->capN * sizeof *b->src_w);
  }
  if (b->M + p->m > b->capM) {
    while (b->M + p->m > b->capM) b->capM = b->capM ? 2 * b->capM : 4096;
    b->vecs = xrealloc(b->vecs, xmul(b->capM, (size_t)b->d * sizeof *b->vecs));
    b->tgt_w = xrealloc(b->tgt_w, b->capM * sizeof *b->tgt_w);
  }
  memcpy(b->ids + b->N, p->src, p->n * sizeof *p->src);
  memcpy(b->vecs + b->M * b->d, p->vecs, p->m * (size_t)b->d * sizeof *p->vecs);
  if (idf_src) {
    for (size_t i = 0; i < p->n; i++) b->src_w[b->N + i] = p->src[i] < nidf_src ? idf_src[p->src[i]] : 1.0f;
    for (size_t j = 0; j < p->m; j++) b->tgt_w[b->M + j] = p->tgt[j] < nidf_tgt ? idf_tgt[p->tgt[j]] : 1.0f;
  }
  b->src_len[b->B] = (int)p->n;
  b->tgt_len[b->B] = (int)p->m;
  b->B++;
  b->N += p->n;
  b->M += p->m;
}

static void batch_clear(batch_t *b) { b->B = 0, b->N = 0, b->M = 0; }

/* Does a pair of n tokens still fit into the batch? */
static int fits(const batch_t *b, size_t n, const opts_t *o) {
  if (b->B == 0) return 1;
  if (o->batch_size > 0 && b->B >= o->batch_size) return 0;
  return b->N + n <= (size_t)o->batch_tokens;
}

/* ---------------------------------------------------------------- state */

typedef struct {
  uint64_t step, epoch, pos, total;
  char *options;
} state_t;

static char *state_json(const state_t *s, uint64_t seed, int finished) {
  char *out = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&out, &n);
  fprintf(f,
          "{\n  \"format\": \"otclir-distill-state-1\",\n  \"step\": %" PRIu64 ",\n  \"epoch\": %" PRIu64
          ",\n  \"records_in_epoch\": %" PRIu64 ",\n  \"total_steps\": %" PRIu64 ",\n  \"finished\": %s,\n"
          "  \"rng\": \"adversarial starts of step s drawn from splitmix64(seed, s); seed %" PRIu64 "\",\n"
          "  \"options\": ",
          s->step, s->epoch, s->pos, s->total, finished ? "true" : "false", seed);
  json_write_string(f, s->options, strlen(s->options));
  fprintf(f, "\n}\n");
  fclose(f);
  return out;
}

static void state_load(const char *dir, state_t *s) {
  char path[4200], err[256];
  snprintf(path, sizeof path, "%s/trainer_state.json", dir);
  size_t len;
  char *text = read_file(path, &len);
  if (!text) die_errno("--resume: %s", path);
  json_doc *doc = json_parse(text, len, err, sizeof err);
  if (!doc) die("%s: %s", path, err);
  const json_value *root = json_root(doc);
  unsigned long long v;
  const char *keys[4] = {"step", "epoch", "records_in_epoch", "total_steps"};
  uint64_t *dst[4] = {&s->step, &s->epoch, &s->pos, &s->total};
  for (int k = 0; k < 4; k++) {
    const json_value *x = json_get(root, keys[k]);
    if (!x || json_to_u64(x, &v) != 0) die("%s: missing or bad \"%s\"", path, keys[k]);
    *dst[k] = v;
  }
  const json_value *o = json_get(root, "options");
  if (!o || o->type != JSON_STRING) die("%s: missing \"options\"", path);
  s->options = xstrdup(o->text);
  json_free(doc);
  free(text);
}

/* ---------------------------------------------------------------- main */

enum {
  O_INIT = 256, O_OUT, O_INPUT, O_LOSS, O_OTEPS, O_OTITERS, O_OTTOL, O_IDF, O_KEEPSPEC, O_EPOCHS, O_BTOK, O_BSIZE,
  O_LR, O_B1, O_B2, O_AEPS, O_WD, O_CLIP, O_WARMUP, O_SCHED, O_TOTAL, O_STOP, O_FREEZE_EMB, O_FREEZE_LAYERS, O_ADV,
  O_ADV_EPS, O_ADV_ALPHA, O_ADV_STEPS, O_ADV_WEIGHT, O_SEED, O_SAVE_EVERY, O_RESUME, O_THREADS, O_PROGRESS,
  O_CONTINUE
};

static void save(const bert_model *m, distill_trainer *t, const opts_t *o, const state_t *st, int finished) {
  char *js = state_json(st, o->seed, finished), err[1024];
  if (distill_checkpoint_save(m, distill_trainer_adamw(t), js, o->out, err, sizeof err) != 0) die("%s", err);
  free(js);
}

int main(int argc, char **argv) {
  otc_init(argv[0]);
  static const struct option lo[] = {
      {"help", no_argument, 0, 'h'},
      {"version", no_argument, 0, 'V'},
      {"init", required_argument, 0, O_INIT},
      {"model", required_argument, 0, O_INIT},
      {"out", required_argument, 0, O_OUT},
      {"input", required_argument, 0, O_INPUT},
      {"loss", required_argument, 0, O_LOSS},
      {"ot-eps", required_argument, 0, O_OTEPS},
      {"ot-iters", required_argument, 0, O_OTITERS},
      {"ot-tol", required_argument, 0, O_OTTOL},
      {"idf", no_argument, 0, O_IDF},
      {"keep-special", no_argument, 0, O_KEEPSPEC},
      {"epochs", required_argument, 0, O_EPOCHS},
      {"batch-tokens", required_argument, 0, O_BTOK},
      {"batch-size", required_argument, 0, O_BSIZE},
      {"lr", required_argument, 0, O_LR},
      {"beta1", required_argument, 0, O_B1},
      {"beta2", required_argument, 0, O_B2},
      {"adam-eps", required_argument, 0, O_AEPS},
      {"weight-decay", required_argument, 0, O_WD},
      {"clip", required_argument, 0, O_CLIP},
      {"warmup", required_argument, 0, O_WARMUP},
      {"schedule", required_argument, 0, O_SCHED},
      {"total-steps", required_argument, 0, O_TOTAL},
      {"stop-after", required_argument, 0, O_STOP},
      {"freeze-embeddings", no_argument, 0, O_FREEZE_EMB},
      {"freeze-layers", required_argument, 0, O_FREEZE_LAYERS},
      {"adv", required_argument, 0, O_ADV},
      {"adv-eps", required_argument, 0, O_ADV_EPS},
      {"adv-alpha", required_argument, 0, O_ADV_ALPHA},
      {"adv-steps", required_argument, 0, O_ADV_STEPS},
      {"adv-weight", required_argument, 0, O_ADV_WEIGHT},
      {"seed", required_argument, 0, O_SEED},
      {"save-every", required_argument, 0, O_SAVE_EVERY},
      {"resume", no_argument, 0, O_RESUME},
      {"continue", required_argument, 0, O_CONTINUE},
      {"threads", required_argument, 0, O_THREADS},
      {"progress", no_argument, 0, O_PROGRESS},
      {0, 0, 0, 0}};
  opts_t o;
  memset(&o, 0, sizeof o);
  distill_cfg_defaults(&o.dc);
  o.epochs = 1;
  o.batch_tokens = 4096;
  o.lr = 1e-3;
  o.sched = DISTILL_SCHED_LINEAR;
  o.seed = 1;
  o.dc.adv_alpha = -1;
  int c;
  while ((c = getopt_long(argc, argv, "hV", lo, NULL)) != -1) {
    switch (c) {
    case 'h': help(); break;
    case 'V': print_version(); break;
    case O_INIT: o.init = optarg; break;
    case O_OUT: o.out = optarg; break;
    case O_INPUT: o.input = optarg; break;
    case O_LOSS:
      if (distill_parse_losses(optarg, &o.dc.loss) != 0)
        die_usage("distill-step: --loss: ot, mse, cos or a weighted sum such as ot=1,cos=0.5\n");
      break;
    case O_OTEPS: o.dc.loss.ot.eps = parse_double("--ot-eps", optarg, 1e-6, 100); break;
    case O_OTITERS: o.dc.loss.ot.max_iter = (int)parse_long("--ot-iters", optarg, 1, 1000000); break;
    case O_OTTOL: o.dc.loss.ot.tol = parse_double("--ot-tol", optarg, 0, 1); break;
    case O_IDF: o.idf = 1; break;
    case O_KEEPSPEC: o.dc.loss.keep_special = 1; break;
    case O_EPOCHS: o.epochs = (int)parse_long("--epochs", optarg, 1, 1000000); break;
    case O_BTOK: o.batch_tokens = parse_long("--batch-tokens", optarg, 1, 1L << 30); break;
    case O_BSIZE: o.batch_size = parse_long("--batch-size", optarg, 0, 1L << 30); break;
    case O_LR: o.lr = parse_double("--lr", optarg, 0, 100); break;
    case O_B1: o.dc.opt.beta1 = (float)parse_double("--beta1", optarg, 0, 0.999999); break;
    case O_B2: o.dc.opt.beta2 = (float)parse_double("--beta2", optarg, 0, 0.999999999); break;
    case O_AEPS: o.dc.opt.eps = (float)parse_double("--adam-eps", optarg, 0, 1); break;
    case O_WD: o.dc.opt.weight_decay = (float)parse_double("--weight-decay", optarg, 0, 10); break;
    case O_CLIP: o.dc.opt.clip_norm = (float)parse_double("--clip", optarg, 0, 1e9); break;
    case O_WARMUP: o.warmup = parse_long("--warmup", optarg, 0, LONG_MAX); break;
    case O_SCHED:
      if (!strcmp(optarg, "constant")) o.sched = DISTILL_SCHED_CONSTANT;
      else if (!strcmp(optarg, "linear")) o.sched = DISTILL_SCHED_LINEAR;
      else if (!strcmp(optarg, "cosine")) o.sched = DISTILL_SCHED_COSINE;
      else die_usage("distill-step: --schedule: constant, linear or cosine\n");
      break;
    case O_TOTAL: o.total_steps = parse_long("--total-steps", optarg, 1, LONG_MAX); break;
    case O_STOP: o.stop_after = parse_long("--stop-after", optarg, 1, LONG_MAX); break;
    case O_FREEZE_EMB: o.freeze_emb = 1; break;
    case O_FREEZE_LAYERS: o.freeze_layers = (int)parse_long("--freeze-layers", optarg, 0, 10000); break;
    case O_ADV:
      if (!strcmp(optarg, "fgsm")) o.dc.adv = DISTILL_ADV_FGSM;
      else if (!strcmp(optarg, "pgd")) o.dc.adv = DISTILL_ADV_PGD;
      else if (!strcmp(optarg, "freelb")) o.dc.adv = DISTILL_ADV_FREELB;
      else if (!strcmp(optarg, "none")) o.dc.adv = DISTILL_ADV_NONE;
      else die_usage("distill-step: --adv: fgsm, pgd, freelb or none\n");
      break;
    case O_ADV_EPS: o.dc.adv_eps = parse_double("--adv-eps", optarg, 0, 1e6); break;
    case O_ADV_ALPHA: o.dc.adv_alpha = parse_double("--adv-alpha", optarg, 0, 1e6); break;
    case O_ADV_STEPS: o.dc.adv_steps = (int)parse_long("--adv-steps", optarg, 1, 1000); break;
    case O_ADV_WEIGHT: o.dc.adv_weight = parse_double("--adv-weight", optarg, 0, 1e6); break;
    case O_SEED: o.seed = (uint64_t)parse_long("--seed", optarg, 0, LONG_MAX); break;
    case O_SAVE_EVERY: o.save_every = parse_long("--save-every", optarg, 0, LONG_MAX); break;
    case O_RESUME: o.resume = 1; break;
    case O_CONTINUE: o.cont = optarg; break;
    case O_THREADS: o.threads = (int)parse_long("--threads", optarg, 1, 4096); break;
    case O_PROGRESS: o.progress = 1; break;
    default: die_usage(usage);
    }
  }
  if (optind != argc)
    die_usage_msg(usage, "unexpected operand '%s' (the input is stdin or --input FILE)", argv[optind]);
  if (!o.out) die_usage("distill-step: --out DIR is required\n");
  if (!o.init && !o.resume && !o.cont) die_usage("distill-step: --init DIR is required (or --resume, --continue)\n");
  if (!!o.init + !!o.cont > 1) die_usage("distill-step: --init and --continue exclude each other\n");
  if (o.dc.adv_alpha < 0) o.dc.adv_alpha = o.dc.adv_eps / 4;
  if (!o.threads) o.threads = otc_ncores();
  kern_set_threads(o.threads);
  o.dc.loss.ot.threads = o.threads;

  /* the input */
  input_t in = {0};
  in.name = o.input ? o.input : "stdin";
  in.fd = 0;
  if (o.input && strcmp(o.input, "-") != 0) {
    in.fd = open(o.input, O_RDONLY);
    if (in.fd < 0) die_errno("%s", o.input);
  }
  struct stat sb;
  if (fstat(in.fd, &sb) == 0 && S_ISDIR(sb.st_mode)) die("%s: is a directory", in.name);
  in.seekable = fstat(in.fd, &sb) == 0 && S_ISREG(sb.st_mode) && lseek(in.fd, 0, SEEK_CUR) == 0;
  if (!in.seekable && o.epochs > 1)
    die("--epochs %d needs to read the input %d times: give a file (--input FILE or < FILE), not a pipe", o.epochs,
        o.epochs);
  if (!in.seekable && o.idf) die("--idf needs a first pass over the input: give a file, not a pipe");
  if (o.cont && !o.resume && o.sched != DISTILL_SCHED_CONSTANT && !o.total_steps)
    die_usage("distill-step: --continue with a decaying --schedule needs --total-steps (the steps of the whole chain)\n");
  if (!in.seekable && o.sched != DISTILL_SCHED_CONSTANT && !o.total_steps)
    die("--schedule %s needs the number of steps: give a file (not a pipe) or --total-steps",
        o.sched == DISTILL_SCHED_LINEAR ? "linear" : "cosine");

  /* the model */
  char err[1024];
  state_t st = {0};
  char *okey = options_key(&o);
  bert_model *m;
  if (o.resume) {
    state_load(o.out, &st);
    if (strcmp(st.options, okey) != 0)
      die("--resume: the options differ from those of the checkpoint in %s\n  checkpoint: %s\n  now:        %s", o.out,
          st.options, okey);
    m = bert_load(o.out, err, sizeof err);
  } else if (o.cont) {
    state_t prev = {0};
    state_load(o.cont, &prev);
    st.step = prev.step; /* the schedule and the seeds go on from here */
    free(prev.options);
    m = bert_load(o.cont, err, sizeof err);
  } else {
    m = bert_load(o.init, err, sizeof err);
  }
  if (!m) die("%s", err);
  in.d = m->cfg.hidden;
  in.vocab_size = m->cfg.vocab_size;
  in.max_pos = m->cfg.max_position;
  in.cut = o.dc.loss.keep_special ? 0 : 1;
  bert_freeze(m, o.freeze_emb, o.freeze_layers);
  distill_trainer *tr = distill_trainer_new(m, &o.dc);
  if (o.resume || o.cont) {
    char path[4200];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", o.resume ? o.out : o.cont);
    if (adamw_load(distill_trainer_adamw(tr), m, path, err, sizeof err) != 0) die("%s", err);
    if (distill_trainer_adamw(tr)->step != st.step)
      die("%s: optimizer step %" PRIu64 " != trainer step %" PRIu64, o.resume ? o.out : o.cont,
          distill_trainer_adamw(tr)->step, st.step);
  }
  /* stale temporaries of killed runs */
  {
    char pat[4200];
    snprintf(pat, sizeof pat, "%s.ckpt.*", o.out);
    glob_t g;
    if (glob(pat, 0, NULL, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; i++) distill_remove_dir(g.gl_pathv[i]);
      globfree(&g);
    }
  }

  /* first pass: batches per epoch and document frequencies */
  float *idf_src = NULL, *idf_tgt = NULL;
  size_t nidf_src = 0, nidf_tgt = 0;
  uint64_t per_epoch = 0;
  batch_t b = {0};
  b.d = in.d;
  if (in.seekable) {
    input_open(&in);
    pair_t p;
    uint64_t pairs = 0, *df_s = NULL, *df_t = NULL;
    size_t B = 0, N = 0;
    if (o.idf) {
      nidf_src = (size_t)m->cfg.vocab_size;
      df_s = xcalloc(nidf_src, sizeof *df_s);
    }
    uint32_t *seen = NULL;
    size_t capseen = 0;
    while (input_next(&in, &p, 1)) {
      if (B && !((o.batch_size <= 0 || (long)B < o.batch_size) && N + p.n <= (size_t)o.batch_tokens)) {
        per_epoch++;
        B = 0, N = 0;
      }
      B++, N += p.n;
      pairs++;
      if (o.idf) {
        /* count each id once per pair: mark with the pair number */
        for (size_t i = 0; i < p.n; i++) df_s[p.src[i]]++;
        for (size_t i = 0; i < p.n; i++)
          for (size_t k = 0; k < i; k++)
            if (p.src[k] == p.src[i]) {
              df_s[p.src[i]]--;
              break;
            }
        for (size_t j = 0; j < p.m; j++) {
          if (p.tgt[j] >= nidf_tgt) {
            size_t nn = (size_t)p.tgt[j] + 1;
            df_t = xrealloc(df_t, nn * sizeof *df_t);
            memset(df_t + nidf_tgt, 0, (nn - nidf_tgt) * sizeof *df_t);
            nidf_tgt = nn;
          }
        }
        if (p.m > capseen) seen = xrealloc(seen, (capseen = p.m) * sizeof *seen);
        size_t ns = 0;
        for (size_t j = 0; j < p.m; j++) {
          size_t k = 0;
          while (k < ns && seen[k] != p.tgt[j]) k++;
          if (k == ns) seen[ns++] = p.tgt[j], df_t[p.tgt[j]]++;
        }
      }
    }
    if (B) per_epoch++;
    if (pairs == 0) die("%s: no usable pairs (%" PRIu64 " skipped)", in.name, in.skipped);
    if (o.idf) {
      idf_src = xmalloc(nidf_src * sizeof *idf_src);
      idf_tgt = xmalloc((nidf_tgt ? nidf_tgt : 1) * sizeof *idf_tgt);
      for (size_t i = 0; i < nidf_src; i++) idf_src[i] = (float)(log((1.0 + pairs) / (1.0 + df_s[i])) + 1);
      for (size_t i = 0; i < nidf_tgt; i++) idf_tgt[i] = (float)(log((1.0 + pairs) / (1.0 + df_t[i])) + 1);
      free(df_s);
      free(df_t);
      free(seen);
    }
  }
  uint64_t total = o.total_steps ? (uint64_t)o.total_steps : per_epoch * (uint64_t)o.epochs;
  if (o.cont && !o.resume && !o.total_steps) total += st.step;
  if (o.resume && st.total != total)
    die("--resume: the run has %" PRIu64 " steps now but %" PRIu64 " in the checkpoint (different input?)", total,
        st.total);
  st.total = total;
  if (!o.resume) st.options = xstrdup(okey);

  /* the log */
  rec_schema *ls = rec_schema_builtin("trainlog");
  char mid[24];
  bert_model_id(m, mid);
  rec_meta_set(ls, "init_model", mid);
  rec_meta_set(ls, "options", okey);
  rec_writer *w = rec_writer_or_die("-", ls, NULL);
  int f_step = rec_field_index(ls, "step"), f_loss = rec_field_index(ls, "loss"), f_ot = rec_field_index(ls, "ot"),
      f_adv = rec_field_index(ls, "adv"), f_gn = rec_field_index(ls, "grad_norm"), f_lr = rec_field_index(ls, "lr"),
      f_tps = rec_field_index(ls, "tokens_per_s"), f_epoch = rec_field_index(ls, "epoch"),
      f_mse = rec_field_index(ls, "mse"), f_cos = rec_field_index(ls, "cos");

  otc_progress prog;
  progress_init(&prog, "steps", o.progress);
  uint64_t unconverged = 0;
  double t_last = now_seconds();
  int stopped = 0;
  for (uint64_t epoch = st.epoch; epoch < (uint64_t)o.epochs && !stopped; epoch++) {
    input_open(&in);
    uint64_t pos = 0; /* records consumed in this epoch (read ones, usable or skipped) */
    pair_t p;
    int have = 0;
    if (epoch == st.epoch && st.pos > 0) {
      /* resume: skip the records the checkpoint had consumed */
      rec_record rec;
      while (pos < st.pos) {
        if (!rec_read_or_die(in.r, &rec)) die("--resume: %s has fewer than %" PRIu64 " records", in.name, st.pos);
        pos++;
      }
    }
    for (;;) {
      batch_clear(&b);
      uint64_t last_index = 0;
      for (;;) {
        if (!have) {
          have = input_next(&in, &p, epoch == 0 && !in.seekable);
          if (!have) break;
        }
        if (!fits(&b, p.n, &o)) break;
        batch_add(&b, &p, idf_src, nidf_src, idf_tgt, nidf_tgt);
        last_index = p.index;
        have = 0;
      }
      if (b.B == 0) break;
      pos = last_index + 1;
      distill_batch bt = {.B = b.B,
                          .src_len = b.src_len,
                          .src_ids = b.ids,
                          .tgt_len = b.tgt_len,
                          .tgt_vecs = b.vecs,
                          .src_w = o.idf ? b.src_w : NULL,
                          .tgt_w = o.idf ? b.tgt_w : NULL};
      double lr = distill_lr_at(o.sched, o.lr, st.step, (uint64_t)o.warmup, total);
      uint64_t sx = o.seed ^ 0x5eed5eed5eed5eedULL;
      uint64_t mixed = rng_splitmix64(&sx) ^ st.step;
      uint64_t step_seed = rng_splitmix64(&mixed);
      distill_step_result r;
      if (distill_train_step(tr, &bt, step_seed, (float)lr, &r, err, sizeof err) != 0) {
        /* name the records: "pair k" in the message is the k-th of the batch */
        die("%s: step %" PRIu64 " (records up to %" PRIu64 "): %s", in.name, st.step + 1, last_index, err);
      }
      unconverged += (uint64_t)r.clean.ot_unconverged;
      st.step++;
      st.epoch = epoch;
      st.pos = pos;
      double now = now_seconds();
      rec_put_u32_scalar(w, f_step, (uint32_t)st.step);
      rec_put_f64_scalar(w, f_loss, r.loss);
      rec_put_f64_scalar(w, f_ot, r.clean.ot);
      rec_put_f64_scalar(w, f_adv, r.adv);
      rec_put_f64_scalar(w, f_gn, r.grad_norm);
      rec_put_f64_scalar(w, f_lr, lr);
      rec_put_f64_scalar(w, f_tps, r.tokens / fmax(now - t_last, 1e-9));
      rec_put_u32_scalar(w, f_epoch, (uint32_t)epoch);
      if (o.dc.loss.w_mse > 0 && f_mse >= 0) rec_put_f64_scalar(w, f_mse, r.clean.mse);
      if (o.dc.loss.w_cos > 0 && f_cos >= 0) rec_put_f64_scalar(w, f_cos, r.clean.cos);
      rec_write_or_die(w);
      t_last = now;
      progress_update(&prog, st.step, total);
      if (o.stop_after && st.step >= (uint64_t)o.stop_after) {
        stopped = 1;
        break;
      }
      if (o.save_every && st.step % (uint64_t)o.save_every == 0) save(m, tr, &o, &st, 0);
    }
    if (!stopped) {
      /* epoch done: the next one starts at its first record */
      st.epoch = epoch + 1;
      st.pos = 0;
    }
  }
  progress_end(&prog, st.step);
  save(m, tr, &o, &st, !stopped);
  rec_writer_close_or_die(w);
  if (in.skipped) warnx_("skipped %" PRIu64 " pairs with no token besides [CLS]/[SEP] on a side", in.skipped);
  if (unconverged && o.dc.loss.ot.tol > 0)
    warnx_("%" PRIu64 " Sinkhorn problems stopped at --ot-iters %d before the tolerance (raise --ot-iters or --ot-eps)",
           unconverged, o.dc.loss.ot.max_iter);
  rec_close(in.r);
  rec_schema_free(ls);
  distill_trainer_free(tr);
  bert_free(m);
  free(okey);
  free(st.options);
  free(idf_src);
  free(idf_tgt);
  free(b.src_len), free(b.tgt_len), free(b.ids), free(b.vecs), free(b.src_w), free(b.tgt_w);
  otc_close_stdout();
  return 0;
}
