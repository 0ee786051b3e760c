/*
 * perturb: seeded noise on text (typos, code-switching, word drop and swap) and adversarial examples
 *
 * The program: options, the input's kind, the summary. The noise is
 * lib/text/perturb.c; the record modes (text, pair, worst of K, attack)
 * are lib/train/noisy.c, worst.c and attack.c.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "cli/cli.h"
#include "kernels/blas.h"
#include "stream/rec.h"
#include "stream/sniff.h"
#include "text/perturb.h"
#include "train/noisy.h"

static const char usage[] =
    "usage: perturb [--typo R] [--dict FILE [--switch R]] [--drop R] [--swap R] [--seed N]\n"
    "               [--lang-column | --pair] [--worst-of K --model DIR] [FILE]\n"
    "       perturb --attack fgsm|pgd --model DIR --adv-eps E [--adv-steps K] [FILE]\n";

static const char manual[] =
    "perturb: seeded noise on text, before tokenize, and adversarial examples for a model.\n"
    "\n"
    "usage: perturb [OPTIONS] [FILE]          (FILE or standard input; '-' = stdin)\n"
    "\n"
    "INPUT AND OUTPUT (the output has the input's format; ids never change)\n"
    "  TSV lines   id<TAB>text                    (default; a CRLF line stays CRLF)\n"
    "              id<TAB>lang<TAB>text           (--lang-column)\n"
    "              id<TAB>src<TAB>tgt             (--pair: only src is perturbed)\n"
    "  `text` records (id, lang, text): text is perturbed.\n"
    "  `pair` records with src_text (tokenize --pair --keep-text): src_text is\n"
    "     perturbed and re-tokenized into src_ids with the vocabulary of --model\n"
    "     DIR (its vocab.txt) or --vocab FILE; src_vecs are dropped (stale), the\n"
    "     target side (tgt_ids, tgt_vecs, tgt_text) and the metadata pass through,\n"
    "     but for the source side's vocabulary: src_vocab and src_special_ids\n"
    "     name the one that re-tokenized (vocab/special_ids stay only if the\n"
    "     target side has the same).\n"
    "  Record streams and TSV are told apart by the stream's magic bytes.\n"
    "\n"
    "NOISE MODEL\n"
    "  Words: the text is split at whitespace (ASCII space, TAB, CR, LF, VT, FF\n"
    "  and U+00A0 U+1680 U+2000-200A U+2028 U+2029 U+202F U+205F U+3000). The\n"
    "  punctuation at either end of a word (ASCII punctuation and the common\n"
    "  punctuation of other scripts) stays in place; the rest, the core, is\n"
    "  what noise changes, in Unicode code points (UTF-8 safe). Scripts written\n"
    "  without spaces give one word per whitespace-free run.\n"
    "  Order: code-switching, typos (not on switched words), word drop, word\n"
    "  swap. Each noise type draws from its own random stream, seeded by\n"
    "  (--seed, the record's key, the noise type): a record's noise depends\n"
    "  only on the seed and its key, never on its position, other records or\n"
    "  the other noise types' rates. The key is the id (FNV-1a hash of its\n"
    "  bytes) or, with --key index, the 0-based record number.\n"
    "  --typo R   each word of 3 or more code points gets, with probability R,\n"
    "             exactly one typo of a kind drawn uniformly from --typo-kinds:\n"
    "     insert      a character at a uniform position 0..n; it is a uniform\n"
    "                 ASCII letter (case of the preceding character, or of the\n"
    "                 first at position 0) when that character is an ASCII\n"
    "                 letter, otherwise a uniform choice among the word's own\n"
    "                 distinct code points;\n"
    "     delete      the character at a uniform position;\n"
    "     substitute  the character at a uniform position by another: a\n"
    "                 different ASCII letter of the same case for an ASCII\n"
    "                 letter, otherwise one of the word's other distinct code\n"
    "                 points (non-Latin scripts: the word's own alphabet);\n"
    "     swap        two neighbouring different characters, uniform among such\n"
    "                 pairs;\n"
    "     keyboard    an ASCII letter or digit, uniform among those of the word,\n"
    "                 by a uniform QWERTY neighbour (same case). Neighbours:\n"
    "                 keys on a staggered grid (rows qwertyuiop, asdfghjkl,\n"
    "                 zxcvbnm at offsets 0.5, 0.75, 1.25 key widths): left and\n"
    "                 right keys and the keys of adjacent rows whose centres are\n"
    "                 less than one key apart (a: q w s z; g: t y f h v b);\n"
    "                 digits: left and right digit. A word without such a\n"
    "                 character gets a substitute instead.\n"
    "     A kind that finds nothing to do (swap in \"aaa\") leaves the word as is.\n"
    "  --dict FILE --switch R   code-switching: each word found in the\n"
    "             dictionary is replaced, with probability R, by one of its\n"
    "             translations drawn uniformly (duplicates counted once). Lookup:\n"
    "             the core as written, else lower-cased (ASCII, Latin-1, Latin\n"
    "             Extended-A, Greek, Cyrillic), and then the translation's\n"
    "             first letter is capitalised. FILE lines: 'word<TAB>translation'\n"
    "             (FreeDict; a translation may hold spaces) or 'word translation'\n"
    "             (MUSE); column 1 -> column 2, so de-en.txt switches German text\n"
    "             to English; --dict-reverse maps column 2 -> column 1\n"
    "             (en-de.txt, eng-swh.tsv used backwards).\n"
    "  --drop R   each word is deleted with probability R, with the whitespace\n"
    "             after it; if every word was drawn, one (uniform) stays.\n"
    "  --swap R   left to right over the remaining words, each neighbour pair\n"
    "             (i, i+1) exchanges its cores with probability R (then i+2 is\n"
    "             next, so a word moves at most one place); punctuation stays.\n"
    "\n"
    "OPTIONS\n"
    "  --typo R             typo rate per word (0..1)\n"
    "  --typo-kinds LIST    comma list of insert,delete,substitute,swap,keyboard\n"
    "                       (default all)\n"
    "  --dict FILE          bilingual dictionary for code-switching\n"
    "  --dict-reverse       use the dictionary from column 2 to column 1\n"
    "  --switch R           code-switching rate per dictionary word\n"
    "  --drop R             word drop rate\n"
    "  --swap R             word swap rate per neighbour pair\n"
    "  --rate R             shorthand: the rate of --dict when --switch is not\n"
    "                       given, and the typo rate when no other noise is given\n"
    "  --seed N             random seed (default 1)\n"
    "  --key id|index       what keys a record's noise (default id)\n"
    "  --lang-column        TSV input is id<TAB>lang<TAB>text\n"
    "  --pair               TSV input is id<TAB>src<TAB>tgt (src perturbed)\n"
    "  --vocab FILE         vocabulary to re-tokenize pair records (or --model)\n"
    "  --lower              lower-casing tokenizer (uncased vocabularies)\n"
    "  --max-len N          truncate re-tokenized src_ids to N ids (default 512,\n"
    "                       and at most the model's max_position_embeddings)\n"
    "  --stats              counts of words, typos, switches, drops, swaps on stderr\n"
    "\n"
    "ADVERSARIAL MODES (need --model DIR, the current student; pair records\n"
    "with tgt_vecs, the teacher's vectors of the English side)\n"
    "  --worst-of K         draw K noisy versions of src_text (candidate k uses\n"
    "                       key variant k; candidate 0 is the plain random noise)\n"
    "                       and keep the one with the highest distillation loss\n"
    "                       under the model (ties: the lowest k). Needs some noise\n"
    "                       option. Output: pair records as above.\n"
    "  --attack fgsm|pgd    embedding-space attack: maximise the loss of each pair\n"
    "                       within a per-token L2 ball of radius --adv-eps around the\n"
    "                       input word embeddings; fgsm: delta = eps g/|g| per\n"
    "                       token; pgd: random start in the ball, --adv-steps K steps\n"
    "                       delta <- Proj(delta + alpha g/|g|). Output: `tokens`\n"
    "                       records (id, lang = src_lang, ids = src_ids, embeds =\n"
    "                       word embeddings + delta), which `embed` reads in\n"
    "                       place of the ids. Metadata: the input's, plus\n"
    "                       src_vocab/src_special_ids as vocab/special_ids.\n"
    "  --model DIR          the model (student) folder\n"
    "  --loss SPEC          loss to maximise, as distill-step (default ot)\n"
    "  --ot-eps E           Sinkhorn regularisation (default 0.05)\n"
    "  --ot-newton N        Newton steps after N Sinkhorn iterations (default 300;\n"
    "                       0 = plain Sinkhorn, as distill-step)\n"
    "  --adv-eps E          attack radius (default 1.0)\n"
    "  --adv-alpha A        pgd step (default adv-eps/4)\n"
    "  --adv-relative       --adv-eps and --adv-alpha are fractions of the model's\n"
    "                       median word-embedding norm (a model cannot then look\n"
    "                       robust just by growing its embeddings)\n"
    "  --adv-steps K        pgd steps (default 10)\n"
    "  --allow-vocab-mismatch\n"
    "                       with --model: accept a pair stream whose src_vocab is\n"
    "                       not the model's vocab.txt (refused by default: its\n"
    "                       ids are another vocabulary's), and for --worst-of a\n"
    "                       --vocab other than the model's\n"
    "  --batch-tokens N     tokens per model batch (default 4096)\n"
    "  --threads N          threads for the model (default all cores)\n"
    "  --help, --version\n"
    "\n"
    "OLD NAMES (accepted with a warning until otclir 0.3; docs/options.md)\n"
    "  --eps, --alpha, --steps   are --adv-eps, --adv-alpha, --adv-steps\n"
    "\n"
    "EXAMPLES\n"
    "  perturb --typo 0.3 --seed 7 < queries.tsv | tokenize --vocab V > q.typo.rec\n"
    "  perturb --pair --dict $D/dict/muse/de-en.0-5000.txt --switch 0.2 < bitext.tsv\n"
    "  tokenize --pair --keep-text ... | embed --model T --side tgt \\\n"
    "    | perturb --worst-of 4 --typo 0.3 --model STUDENT | distill-step ...\n"
    "  perturb --attack pgd --model S --adv-eps 0.5 --adv-steps 5 < pairs.rec | embed --model S\n"
    "\n"
    "EXIT STATUS\n"
    "  0 success, 1 error (bad input: file and line or record named), 2 bad usage.\n";

static const cli_prog prog = {"perturb", usage, manual};

enum {
  O_TYPO = 256, O_KINDS, O_DICT, O_DICT_REV, O_SWITCH, O_DROP, O_SWAP, O_RATE, O_SEED, O_KEY, O_LANGCOL, O_PAIR,
  O_VOCAB, O_LOWER, O_MAXLEN, O_STATS, O_WORST, O_ATTACK, O_MODEL, O_LOSS, O_OTEPS, O_EPS, O_ALPHA, O_RELATIVE, O_STEPS,
  O_BATCH, O_THREADS, O_VOCAB_MM, O_OLD_EPS, O_OLD_ALPHA, O_OLD_STEPS, O_OTNEWTON
};

static const struct option longopts[] = {
    {"typo", required_argument, 0, O_TYPO},           {"typo-kinds", required_argument, 0, O_KINDS},
    {"dict", required_argument, 0, O_DICT},           {"dict-reverse", no_argument, 0, O_DICT_REV},
    {"switch", required_argument, 0, O_SWITCH},       {"drop", required_argument, 0, O_DROP},
    {"swap", required_argument, 0, O_SWAP},           {"rate", required_argument, 0, O_RATE},
    {"seed", required_argument, 0, O_SEED},           {"key", required_argument, 0, O_KEY},
    {"lang-column", no_argument, 0, O_LANGCOL},       {"pair", no_argument, 0, O_PAIR},
    {"vocab", required_argument, 0, O_VOCAB},         {"lower", no_argument, 0, O_LOWER},
    {"max-len", required_argument, 0, O_MAXLEN},      {"stats", no_argument, 0, O_STATS},
    {"worst-of", required_argument, 0, O_WORST},      {"attack", required_argument, 0, O_ATTACK},
    {"model", required_argument, 0, O_MODEL},         {"loss", required_argument, 0, O_LOSS},
    {"ot-eps", required_argument, 0, O_OTEPS},        {"ot-newton", required_argument, 0, O_OTNEWTON},
    {"adv-eps", required_argument, 0, O_EPS},
    {"adv-alpha", required_argument, 0, O_ALPHA},     {"adv-steps", required_argument, 0, O_STEPS},
    {"adv-relative", no_argument, 0, O_RELATIVE},
    {"batch-tokens", required_argument, 0, O_BATCH},  {"threads", required_argument, 0, O_THREADS},
    {"allow-vocab-mismatch", no_argument, 0, O_VOCAB_MM},
    {"eps", required_argument, 0, O_OLD_EPS},         {"alpha", required_argument, 0, O_OLD_ALPHA},
    {"steps", required_argument, 0, O_OLD_STEPS},     CLI_OPTIONS_COMMON, {0, 0, 0, 0}};

/* TSV lines through lib/text's perturb_tsv_line. */
static void run_tsv(const noisy_opts *o, const perturb_tsv *t, int fd, const char *name, perturb_stats *st) {
  FILE *in = fdopen(fd, "r");
  if (!in) die_errno("%s", name);
  char *line = NULL, err[512];
  size_t cap = 0;
  ssize_t n;
  uint64_t lineno = 0;
  perturb_buf out = {0};
  while ((n = getline(&line, &cap, in)) > 0) {
    if (perturb_tsv_line(&o->po, t, line, (size_t)n, ++lineno, &out, st, err, sizeof err) != 0) die("%s: %s", name, err);
    xfwrite_stdout(out.buf, out.len);
  }
  if (ferror(in)) die_errno("%s: read", name);
  free(line);
  perturb_buf_free(&out);
  fclose(in);
}

int main(int argc, char **argv) {
  cli_init(&prog, argv[0]);
  static const char *const keys[] = {"id", "index", NULL}, *const attacks[] = {"fgsm", "pgd", NULL};
  noisy_opts o;
  memset(&o, 0, sizeof o);
  o.po.seed = 1, o.max_len = 512, o.adv_eps = 1.0, o.adv_alpha = -1, o.adv_steps = 10, o.batch_tokens = 4096;
  distill_loss_defaults(&o.loss);
  double rate = -1, sw = -1;
  const char *dict_path = NULL, *vocab_path = NULL, *model_dir = NULL;
  int dict_rev = 0, lang_column = 0, pair = 0, lower = 0, stats = 0, have_noise = 0, c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case O_TYPO: o.po.typo_rate = parse_double("--typo", optarg, 0, 1), have_noise = 1; break;
    case O_KINDS: {
      int k = perturb_parse_kinds(optarg);
      if (k < 0) cli_usage_error("--typo-kinds: '%s' is not a comma list of insert,delete,substitute,swap,keyboard", optarg);
      o.po.typo_kinds = (unsigned)k;
      break;
    }
    case O_DICT: dict_path = optarg; break;
    case O_DICT_REV: dict_rev = 1; break;
    case O_SWITCH: sw = parse_double("--switch", optarg, 0, 1); break;
    case O_DROP: o.po.drop_rate = parse_double("--drop", optarg, 0, 1), have_noise = 1; break;
    case O_SWAP: o.po.swap_rate = parse_double("--swap", optarg, 0, 1), have_noise = 1; break;
    case O_RATE: rate = parse_double("--rate", optarg, 0, 1); break;
    case O_SEED: o.po.seed = cli_seed("--seed", optarg); break;
    case O_KEY: o.key_by_index = cli_choice("--key", optarg, keys); break;
    case O_LANGCOL: lang_column = 1; break;
    case O_PAIR: pair = 1; break;
    case O_VOCAB: vocab_path = optarg; break;
    case O_LOWER: lower = 1; break;
    case O_MAXLEN: o.max_len = (size_t)parse_long("--max-len", optarg, 3, 1 << 20); break;
    case O_STATS: stats = 1; break;
    case O_WORST: o.worst_of = (int)parse_long("--worst-of", optarg, 1, 1024); break;
    case O_ATTACK: o.attack = cli_choice("--attack", optarg, attacks) ? DISTILL_ADV_PGD : DISTILL_ADV_FGSM; break;
    case O_MODEL: model_dir = optarg; break;
    case O_LOSS:
      if (distill_parse_losses(optarg, &o.loss) != 0) cli_usage_error("--loss: '%s' is not e.g. ot, cos, ot=1,cos=0.5", optarg);
      break;
    case O_OTEPS: o.loss.ot.eps = parse_double("--ot-eps", optarg, 1e-6, 100); break;
    case O_OTNEWTON: o.loss.ot.newton = (int)parse_long("--ot-newton", optarg, 0, 1000000); break;
    case O_OLD_EPS: cli_renamed("--eps", "--adv-eps"); /* fall through */
    case O_EPS: o.adv_eps = parse_double("--adv-eps", optarg, 0, 1e6); break;
    case O_OLD_ALPHA: cli_renamed("--alpha", "--adv-alpha"); /* fall through */
    case O_ALPHA: o.adv_alpha = parse_double("--adv-alpha", optarg, 0, 1e6); break;
    case O_RELATIVE: o.adv_relative = 1; break;
    case O_OLD_STEPS: cli_renamed("--steps", "--adv-steps"); /* fall through */
    case O_STEPS: o.adv_steps = (int)parse_long("--adv-steps", optarg, 1, 100000); break;
    case O_BATCH: o.batch_tokens = parse_long("--batch-tokens", optarg, 1, 1L << 30); break;
    case O_THREADS: kern_set_threads(cli_threads("--threads", optarg)); break;
    case O_VOCAB_MM: o.allow_vocab_mismatch = 1; break;
    CLI_CASES_COMMON;
    }
  }
  if (optind + 1 < argc) cli_usage_error("unexpected operand '%s' (at most one input FILE)", argv[optind + 1]);
  const char *path = optind < argc ? argv[optind] : "-";
  if (lang_column && pair) cli_usage_error("--lang-column and --pair exclude each other");
  if (sw >= 0 && !dict_path) cli_usage_error("--switch needs --dict FILE");
  if (dict_path) {
    o.po.switch_rate = sw >= 0 ? sw : rate >= 0 ? rate : 0;
    if (o.po.switch_rate <= 0 && sw < 0) cli_usage_error("--dict needs a rate (--switch R or --rate R)");
    have_noise = 1;
  } else if (rate >= 0 && !have_noise) {
    o.po.typo_rate = rate;
    have_noise = 1;
  }
  if (o.attack && o.worst_of) cli_usage_error("--attack and --worst-of exclude each other");
  if ((o.attack || o.worst_of) && !model_dir) cli_usage_error("--attack and --worst-of need --model DIR");
  if (!o.attack && !have_noise) cli_usage_error("no noise asked for (--typo, --dict, --drop, --swap, --attack)");
  if (o.adv_alpha < 0) o.adv_alpha = o.adv_eps / 4;
  kern_set_threads(otc_threads());

  char err[2048];
  perturb_dict *dict = NULL;
  if (dict_path && !(o.po.dict = dict = perturb_dict_load(dict_path, dict_rev, err, sizeof err))) die("%s", err);
  int fd = 0;
  if (strcmp(path, "-") != 0) {
    struct stat sb;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) die_errno("%s", path);
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) die("%s: is a directory", path);
  }
  const char *name = strcmp(path, "-") ? path : "stdin";
  bool is_rec;
  int in = rec_sniff_fd(fd, name, &is_rec, err, sizeof err);
  if (in < 0) die("%s", err);
  perturb_stats st = {0};
  if (is_rec) {
    rec_reader *r = rec_open_fd(in, name, err, sizeof err);
    if (!r) die("%s", err);
    const char *type = rec_reader_schema(r)->record;
    int is_pair = !strcmp(type, "pair"), rc = 0;
    noisy_model *nm = NULL;
    if (o.attack || is_pair) {
      nm = noisy_model_load(model_dir, vocab_path, lower, !o.attack, err, sizeof err);
      if (!nm) die("%s", err);
    }
    if (o.attack) rc = noisy_attack_records(&o, nm, r, name, "-", err, sizeof err);
    else if (is_pair) rc = noisy_pair_records(&o, nm, r, name, "-", &st, err, sizeof err);
    else if (!strcmp(type, "text") && o.worst_of) die("--worst-of needs pair records (with src_text and tgt_vecs), got 'text'");
    else if (!strcmp(type, "text")) rc = noisy_text_records(&o, r, name, "-", &st, err, sizeof err);
    else die("%s: expected 'text' or 'pair' records, or TSV; got a '%s' stream", name, type);
    if (rc != 0) die("%s", err);
    noisy_model_free(nm);
    rec_close(r);
  } else {
    if (o.attack || o.worst_of) die("%s: --attack and --worst-of read pair records, not TSV", name);
    perturb_tsv t = {.fields = lang_column || pair ? 3 : 2,
                     .text_field = lang_column ? 2 : 1,
                     .key_by_index = o.key_by_index,
                     .names = pair ? "id, src, tgt" : lang_column ? "id, lang, text" : "id, text"};
    run_tsv(&o, &t, in, name, &st);
  }
  if (stats)
    fprintf(stderr, "perturb: words %" PRIu64 ", typos %" PRIu64 ", switched %" PRIu64 ", dropped %" PRIu64
                    ", swapped %" PRIu64 "\n",
            st.words, st.typos, st.switched, st.dropped, st.swapped);
  perturb_dict_free(dict);
  otc_close_stdout();
  return 0;
}
