/*
 * distill-step: train a student encoder by OT distillation against a teacher's token vectors, with adversarial training
 *
 * The program: options, the input, the summary. The run itself (first pass,
 * batches, steps, checkpoints, the checks of the input against the student)
 * is lib/train/session.c.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "cli/cli.h"
#include "kernels/blas.h"
#include "stream/rec.h"
#include "train/session.h"

static const char usage[] =
    "usage: distill-step --init DIR --out DIR [--loss ot=1,cos=0.5] [--epochs E] [--lr LR]\n"
    "                    [--adv fgsm|pgd|freelb --adv-eps E ...] [--save-every N] [--resume]\n"
    "                    [--input FILE] [--seed N] [--threads N]   < pairs\n";

static const char manual[] =
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
    "  epoch (0-based), mse and cos (their parts, when in --loss), ot_unconverged\n"
    "  (Sinkhorn problems of the step, every forward pass, that stopped at\n"
    "  --ot-iters). A summary line on standard error gives the run's totals.\n"
    "  The student is written to --out at the end and every --save-every steps\n"
    "  as a Hugging Face BERT folder (config.json, model.safetensors,\n"
    "  vocab.txt) plus the checkpoint: optimizer.safetensors (AdamW m, v,\n"
    "  step) and trainer_state.json (step, epoch, records consumed in the\n"
    "  epoch, total steps, seed, the options that shape the run). The folder\n"
    "  is built beside --out and swapped in with one atomic rename\n"
    "  (RENAME_EXCHANGE): a run killed at any instant, SIGKILL included,\n"
    "  leaves the previous checkpoint complete. An existing --out is replaced\n"
    "  only when it is such a checkpoint folder (trainer_state.json and none but\n"
    "  these five files); any other folder, or a file, is refused untouched.\n"
    "  trainer_state.json also holds fingerprints of the input (of all its\n"
    "  pairs when it is a file, and of those consumed in the current epoch),\n"
    "  the teacher (the input's tgt_model) and the input's src_vocab.\n"
    "\n"
    "LOSSES (per batch of B pairs; [CLS]/[SEP] of both sides take no part\n"
    "unless --keep-special; means over content tokens)\n"
    "  ot   1/B sum_b <P_b, C_b>, C_ij = 1 - cos(s_i, t_j) between student token\n"
    "       s_i and teacher token t_j; P_b = the entropic Sinkhorn plan (eps\n"
    "       --ot-eps, log domain) with uniform marginals, or with --idf the\n"
    "       IDF of each token's id, normalised per side. P is held fixed in the\n"
    "       gradient (envelope theorem): d/ds_i = sum_j P_ij dC_ij/ds_i.\n"
    "       A problem not converged after --ot-newton Sinkhorn iterations\n"
    "       continues with Newton steps on the dual (quadratic convergence; a\n"
    "       sentence pair whose plan is nearly a matching can need 10^5 plain\n"
    "       Sinkhorn iterations at eps 0.05).\n"
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
    "  --ot-newton N        Newton steps after N Sinkhorn iterations (default 300;\n"
    "                       0 = plain Sinkhorn)\n"
    "  --ot-eps-scaling X   start each problem at eps X, halving down to --ot-eps\n"
    "                       (default off)\n"
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
    "  --freeze-positions   do not update the position and token-type embeddings\n"
    "                       (a 0-layer student initialised with zero positions,\n"
    "                       embed --init --no-positions, then keeps one vector per\n"
    "                       token id, as the embedded teacher)\n"
    "  --freeze-layers N    do not update encoder layers 0..N-1\n"
    "  --adv KIND           fgsm, pgd or freelb (default none)\n"
    "  --adv-eps E          ball radius per token (default 1.0)\n"
    "  --adv-alpha A        ascent step (default eps/4)\n"
    "  --adv-steps K        pgd/freelb steps (default 3)\n"
    "  --adv-weight W       weight of the adversarial term (default 1.0)\n"
    "  --seed N             seed of the adversarial random starts (default 1)\n"
    "  --allow-vocab-mismatch\n"
    "                       accept a pair stream whose src_vocab differs from the\n"
    "                       SHA-256 of the student's vocab.txt (refused by default:\n"
    "                       ids of another vocabulary train the wrong rows)\n"
    "  --allow-model-mismatch\n"
    "                       accept teacher vectors (the stream's tgt_model) from\n"
    "                       another model than the one the --continue/--resume\n"
    "                       checkpoint was trained against\n"
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
    "                       Another input (by its fingerprint) or other options\n"
    "                       are refused.\n"
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
    "  0 success, 1 error (bad input: the record is named; a non-finite loss; an\n"
    "  input of another vocabulary or teacher; --out not a checkpoint folder),\n"
    "  2 bad usage.\n";

static const cli_prog prog = {"distill-step", usage, manual};

enum {
  O_INIT = 256, O_OUT, O_INPUT, O_LOSS, O_OTEPS, O_OTITERS, O_OTTOL, O_OTNEWTON, O_IDF, O_KEEPSPEC, O_EPOCHS, O_BTOK,
  O_BSIZE, O_LR, O_B1, O_B2, O_AEPS, O_WD, O_CLIP, O_WARMUP, O_SCHED, O_TOTAL, O_STOP, O_FREEZE_EMB, O_FREEZE_POS, O_FREEZE_LAYERS,
  O_ADV, O_ADV_EPS, O_ADV_ALPHA, O_ADV_STEPS, O_ADV_WEIGHT, O_SEED, O_SAVE_EVERY, O_RESUME, O_THREADS, O_PROGRESS,
  O_CONTINUE, O_VOCAB_MM, O_MODEL_MM, O_OTSCALING
};

static const struct option longopts[] = {
    {"init", required_argument, 0, O_INIT},          {"model", required_argument, 0, O_INIT},
    {"out", required_argument, 0, O_OUT},            {"input", required_argument, 0, O_INPUT},
    {"loss", required_argument, 0, O_LOSS},          {"ot-eps", required_argument, 0, O_OTEPS},
    {"ot-iters", required_argument, 0, O_OTITERS},   {"ot-tol", required_argument, 0, O_OTTOL},
    {"ot-newton", required_argument, 0, O_OTNEWTON}, {"ot-eps-scaling", required_argument, 0, O_OTSCALING},
    {"idf", no_argument, 0, O_IDF},
    {"keep-special", no_argument, 0, O_KEEPSPEC},    {"epochs", required_argument, 0, O_EPOCHS},
    {"batch-tokens", required_argument, 0, O_BTOK},  {"batch-size", required_argument, 0, O_BSIZE},
    {"lr", required_argument, 0, O_LR},              {"beta1", required_argument, 0, O_B1},
    {"beta2", required_argument, 0, O_B2},           {"adam-eps", required_argument, 0, O_AEPS},
    {"weight-decay", required_argument, 0, O_WD},    {"clip", required_argument, 0, O_CLIP},
    {"warmup", required_argument, 0, O_WARMUP},      {"schedule", required_argument, 0, O_SCHED},
    {"total-steps", required_argument, 0, O_TOTAL},  {"stop-after", required_argument, 0, O_STOP},
    {"freeze-embeddings", no_argument, 0, O_FREEZE_EMB}, {"freeze-positions", no_argument, 0, O_FREEZE_POS}, {"freeze-layers", required_argument, 0, O_FREEZE_LAYERS},
    {"adv", required_argument, 0, O_ADV},            {"adv-eps", required_argument, 0, O_ADV_EPS},
    {"adv-alpha", required_argument, 0, O_ADV_ALPHA}, {"adv-steps", required_argument, 0, O_ADV_STEPS},
    {"adv-weight", required_argument, 0, O_ADV_WEIGHT}, {"seed", required_argument, 0, O_SEED},
    {"save-every", required_argument, 0, O_SAVE_EVERY}, {"resume", no_argument, 0, O_RESUME},
    {"continue", required_argument, 0, O_CONTINUE},  {"threads", required_argument, 0, O_THREADS},
    {"progress", no_argument, 0, O_PROGRESS},        {"allow-vocab-mismatch", no_argument, 0, O_VOCAB_MM},
    {"allow-model-mismatch", no_argument, 0, O_MODEL_MM}, CLI_OPTIONS_COMMON, {0, 0, 0, 0}};

static void on_step(void *ctx, uint64_t step, uint64_t total) { progress_update(ctx, step, total); }

int main(int argc, char **argv) {
  cli_init(&prog, argv[0]);
  static const char *const schedules[] = {"constant", "linear", "cosine", NULL};
  static const char *const advs[] = {"none", "fgsm", "pgd", "freelb", NULL};
  train_opts o;
  train_opts_defaults(&o);
  const char *init = NULL, *out = NULL, *input = NULL, *cont = NULL;
  int resume = 0, show_progress = 0, c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case O_INIT: init = optarg; break;
    case O_OUT: out = optarg; break;
    case O_INPUT: input = optarg; break;
    case O_LOSS:
      if (distill_parse_losses(optarg, &o.dc.loss) != 0)
        cli_usage_error("--loss: '%s' is not ot, mse, cos or a weighted sum such as ot=1,cos=0.5", optarg);
      break;
    case O_OTEPS: o.dc.loss.ot.eps = parse_double("--ot-eps", optarg, 1e-6, 100); break;
    case O_OTITERS: o.dc.loss.ot.max_iter = (int)parse_long("--ot-iters", optarg, 1, 1000000); break;
    case O_OTTOL: o.dc.loss.ot.tol = parse_double("--ot-tol", optarg, 0, 1); break;
    case O_OTNEWTON: o.dc.loss.ot.newton = (int)parse_long("--ot-newton", optarg, 0, 1000000); break;
    case O_OTSCALING: o.dc.loss.ot.eps_start = parse_double("--ot-eps-scaling", optarg, 1e-6, 100); break;
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
    case O_SCHED: o.sched = (distill_sched)cli_choice("--schedule", optarg, schedules); break;
    case O_TOTAL: o.total_steps = parse_long("--total-steps", optarg, 1, LONG_MAX); break;
    case O_STOP: o.stop_after = parse_long("--stop-after", optarg, 1, LONG_MAX); break;
    case O_FREEZE_EMB: o.freeze_emb |= BERT_FREEZE_EMBEDDINGS; break;
    case O_FREEZE_POS: o.freeze_emb |= BERT_FREEZE_POSITIONS; break;
    case O_FREEZE_LAYERS: o.freeze_layers = (int)parse_long("--freeze-layers", optarg, 0, 10000); break;
    case O_ADV: o.dc.adv = (distill_adv)cli_choice("--adv", optarg, advs); break;
    case O_ADV_EPS: o.dc.adv_eps = parse_double("--adv-eps", optarg, 0, 1e6); break;
    case O_ADV_ALPHA: o.dc.adv_alpha = parse_double("--adv-alpha", optarg, 0, 1e6); break;
    case O_ADV_STEPS: o.dc.adv_steps = (int)parse_long("--adv-steps", optarg, 1, 1000); break;
    case O_ADV_WEIGHT: o.dc.adv_weight = parse_double("--adv-weight", optarg, 0, 1e6); break;
    case O_SEED: o.seed = cli_seed("--seed", optarg); break;
    case O_SAVE_EVERY: o.save_every = parse_long("--save-every", optarg, 0, LONG_MAX); break;
    case O_RESUME: resume = 1; break;
    case O_CONTINUE: cont = optarg; break;
    case O_THREADS: o.threads = cli_threads("--threads", optarg); break;
    case O_PROGRESS: show_progress = 1; break;
    case O_VOCAB_MM: o.allow_vocab_mismatch = 1; break;
    case O_MODEL_MM: o.allow_model_mismatch = 1; break;
    CLI_CASES_COMMON;
    }
  }
  if (optind != argc) cli_usage_error("unexpected operand '%s' (the input is stdin or --input FILE)", argv[optind]);
  if (!out) cli_usage_error("--out DIR is required");
  if (!init && !resume && !cont) cli_usage_error("--init DIR is required (or --resume, --continue)");
  if (init && cont) cli_usage_error("--init and --continue exclude each other");
  if (cont && !resume && o.sched != DISTILL_SCHED_CONSTANT && !o.total_steps)
    cli_usage_error("--continue with a decaying --schedule needs --total-steps (the steps of the whole chain)");
  kern_set_threads(o.threads ? o.threads : otc_threads());

  const char *name = input && strcmp(input, "-") != 0 ? input : "stdin";
  int fd = 0;
  if (input && strcmp(input, "-") != 0 && (fd = open(input, O_RDONLY | O_CLOEXEC)) < 0) die_errno("%s", input);
  char err[2048];
  train_start how = resume ? TRAIN_RESUME : cont ? TRAIN_CONTINUE : TRAIN_INIT;
  train_session *s = train_session_open(&o, how, cont ? cont : init, out, fd, name, err, sizeof err);
  if (!s) die("%s", err);
  rec_schema *ls = train_session_log_schema(s);
  rec_writer *w = rec_writer_or_die("-", ls, NULL);
  rec_schema_free(ls);
  otc_progress pr;
  progress_init(&pr, "steps", show_progress);
  if (train_session_run(s, w, on_step, &pr, err, sizeof err) != 0) {
    rec_writer_abort(w);
    die("%s", err);
  }
  rec_writer_close_or_die(w);
  train_summary sum;
  train_session_summary(s, &sum);
  progress_end(&pr, sum.steps);
  if (sum.skipped) warnx_("skipped %" PRIu64 " pairs with no token besides [CLS]/[SEP] on a side", sum.skipped);
  warnx_("%" PRIu64 " steps; Sinkhorn: %" PRIu64 " problems, %" PRIu64 " stopped at --ot-iters %d%s", sum.steps,
         sum.ot_problems, sum.ot_unconverged, o.dc.loss.ot.max_iter,
         sum.ot_unconverged && o.dc.loss.ot.tol > 0 ? " before the tolerance (raise --ot-iters or --ot-newton)" : "");
  train_session_free(s);
  otc_close_stdout();
  return 0;
}
