/*
 * perturb: seeded noise on text (typos, code-switching, word drop and swap) and adversarial examples
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/distill.h"
#include "text/perturb.h"
#include "stream/rec.h"
#include "base/util.h"
#include "cli/cli.h"
#include "kernels/blas.h"
#include "text/vocab.h"
#include "text/wordpiece.h"

static const char usage[] =
    "usage: perturb [--typo R] [--dict FILE [--switch R]] [--drop R] [--swap R] [--seed N]\n"
    "               [--lang-column | --pair] [--worst-of K --model DIR] [FILE]\n"
    "       perturb --attack fgsm|pgd --model DIR --eps E [--steps K] [FILE]\n";

static void help(void) {
  printf(
      "perturb: seeded noise on text, before tokenize, and adversarial examples for a model.\n"
      "\n"
      "usage: perturb [OPTIONS] [FILE]          (FILE or standard input; '-' = stdin)\n"
      "\n"
      "INPUT AND OUTPUT (the output has the input's format; ids never change)\n"
      "  TSV lines   id<TAB>text                    (default)\n"
      "              id<TAB>lang<TAB>text           (--lang-column)\n"
      "              id<TAB>src<TAB>tgt             (--pair: only src is perturbed)\n"
      "  `text` records (id, lang, text): text is perturbed.\n"
      "  `pair` records with src_text (tokenize --pair --keep-text): src_text is\n"
      "     perturbed and re-tokenized into src_ids with the vocabulary of --model\n"
      "     DIR (its vocab.txt) or --vocab FILE; src_vecs are dropped (stale), the\n"
      "     target side (tgt_ids, tgt_vecs, tgt_text) and the metadata pass through.\n"
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
      "                       within a per-token L2 ball of radius --eps around the\n"
      "                       input word embeddings; fgsm: delta = eps g/|g| per\n"
      "                       token; pgd: random start in the ball, --steps K steps\n"
      "                       delta <- Proj(delta + alpha g/|g|). Output: `tokens`\n"
      "                       records (id, lang = src_lang, ids = src_ids, embeds =\n"
      "                       word embeddings + delta), which `embed` reads in\n"
      "                       place of the ids. Metadata: the input's, plus\n"
      "                       src_vocab/src_special_ids as vocab/special_ids.\n"
      "  --model DIR          the model (student) folder\n"
      "  --loss SPEC          loss to maximise, as distill-step (default ot)\n"
      "  --ot-eps E           Sinkhorn regularisation (default 0.05)\n"
      "  --eps E              attack radius (default 1.0)\n"
      "  --alpha A            pgd step (default eps/4)\n"
      "  --steps K            pgd steps (default 10)\n"
      "  --batch-tokens N     tokens per model batch (default 4096)\n"
      "  --threads N          threads for the model (default all cores)\n"
      "  --help, --version\n"
      "\n"
      "EXAMPLES\n"
      "  perturb --typo 0.3 --seed 7 < queries.tsv | tokenize --vocab V > q.typo.rec\n"
      "  perturb --pair --dict $D/dict/muse/de-en.0-5000.txt --switch 0.2 < bitext.tsv\n"
      "  tokenize --pair --keep-text ... | embed --model T --side tgt \\\n"
      "    | perturb --worst-of 4 --typo 0.3 --model STUDENT | distill-step ...\n"
      "  perturb --attack pgd --model S --eps 0.5 --steps 5 < pairs.rec | embed --model S\n"
      "\n"
      "EXIT STATUS\n"
      "  0 success, 1 error (bad input: file and line or record named), 2 bad usage.\n");
  otc_close_stdout();
  exit(0);
}

typedef struct {
  perturb_opts po;
  int key_by_index;
  int lang_column, pair;
  int stats;
  const char *vocab_path, *model_dir;
  int lower;
  long max_len;
  int worst_of;
  distill_adv attack;
  double eps, alpha;
  int steps;
  long batch_tokens;
  distill_loss_cfg loss;
} opts_t;

static perturb_stats g_stats;

static void run_noise(const opts_t *o, uint64_t key, const char *text, size_t len, perturb_buf *out, const char *where,
                      uint64_t which) {
  size_t bad;
  if (perturb_text(&o->po, key, text, len, out, &g_stats, &bad) != 0)
    die("%s %" PRIu64 ": invalid UTF-8 at byte %zu of the text", where, which, bad + 1);
}

/* ---------------- TSV ---------------- */

static void run_tsv(const opts_t *o, FILE *in, const char *name) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  uint64_t lineno = 0;
  perturb_buf out = {0};
  int want = (o->lang_column || o->pair) ? 3 : 2;
  char where[4200];
  snprintf(where, sizeof where, "%s: line", name);
  while ((n = getline(&line, &cap, in)) > 0) {
    lineno++;
    size_t len = (size_t)n;
    if (len && line[len - 1] == '\n') len--;
    if (len && line[len - 1] == '\r') len--;
    char *f[4];
    size_t fl[4];
    int nf = 0;
    char *p = line, *end = line + len;
    while (nf < 4) {
      char *tab = memchr(p, '\t', (size_t)(end - p));
      f[nf] = p;
      fl[nf] = (size_t)((tab ? tab : end) - p);
      nf++;
      if (!tab) break;
      p = tab + 1;
    }
    if (nf != want)
      die("%s: line %" PRIu64 ": expected %d tab-separated fields (%s), got %s%d", name, lineno, want,
          o->pair ? "id, src, tgt" : o->lang_column ? "id, lang, text" : "id, text", nf > 3 ? "more than " : "",
          nf > 3 ? 3 : nf);
    if (fl[0] == 0) die("%s: line %" PRIu64 ": empty id", name, lineno);
    int tf = o->pair ? 1 : want - 1;
    size_t bad = perturb_utf8_check(line, len);
    if (bad < len) die("%s: line %" PRIu64 ": invalid UTF-8 at byte %zu", name, lineno, bad + 1);
    uint64_t key = o->key_by_index ? lineno - 1 : perturb_key_of_id(f[0], fl[0]);
    run_noise(o, key, f[tf], fl[tf], &out, where, lineno);
    for (int k = 0; k < nf; k++) {
      if (k) xfwrite_stdout("\t", 1);
      if (k == tf) xfwrite_stdout(out.buf, out.len);
      else xfwrite_stdout(f[k], fl[k]);
    }
    xfwrite_stdout("\n", 1);
  }
  if (ferror(in)) die_errno("%s: read", name);
  free(line);
  perturb_buf_free(&out);
}

/* ---------------- text records ---------------- */

/* A field the mode cannot do without (schema files may lack "required" ones). */
static int need_field(const rec_schema *s, const char *field, const char *name) {
  char err[512]; /* the builtin layout too: the accessors do not check types */
  if (rec_schema_expect(s, (const char *const[]){s->record, NULL}, err, sizeof err) != 0) die("%s: %s", name, err);
  int i = rec_field_index(s, field);
  if (i < 0) die("%s: '%s' stream without field '%s'", name, s->record, field);
  return i;
}

static void copy_meta(rec_schema *dst, const rec_schema *src) {
  for (int i = 0; i < src->nmeta; i++) rec_meta_set(dst, src->meta_key[i], src->meta_val[i]);
}

static void run_text_records(const opts_t *o, rec_reader *r, const char *name) {
  const rec_schema *is = rec_reader_schema(r);
  need_field(is, "id", name);
  need_field(is, "text", name);
  rec_schema *os = rec_schema_builtin("text");
  copy_meta(os, is);
  rec_writer *w = rec_writer_or_die("-", os, NULL);
  int fid = rec_field_index(is, "id"), flang = rec_field_index(is, "lang"), ftext = rec_field_index(is, "text");
  int oid = rec_field_index(os, "id"), olang = rec_field_index(os, "lang"), otext = rec_field_index(os, "text");
  rec_record rec;
  perturb_buf out = {0};
  while (rec_read_or_die(r, &rec)) {
    size_t idl, tl, ll;
    const char *id = rec_str(&rec, fid, &idl);
    const char *text = rec_str(&rec, ftext, &tl);
    uint64_t key = o->key_by_index ? rec.index : perturb_key_of_id(id, idl);
    run_noise(o, key, text, tl, &out, "record", rec.index);
    rec_put_str(w, oid, id, idl);
    if (rec_has(&rec, flang)) {
      const char *lang = rec_str(&rec, flang, &ll);
      rec_put_str(w, olang, lang, ll);
    }
    rec_put_str(w, otext, out.buf, out.len);
    rec_write_or_die(w);
  }
  rec_writer_close_or_die(w);
  rec_schema_free(os);
  perturb_buf_free(&out);
}

/* ---------------- pair records ---------------- */

typedef struct {
  int fid, fsl, ftl, fsi, fti, ftv, fst, ftt; /* input fields */
  int oid, osl, otl, osi, oti, otv, ost, ott; /* output fields */
} pair_fields;

static pair_fields pair_fields_of(const rec_schema *is, const rec_schema *os) {
  pair_fields p;
  p.fid = rec_field_index(is, "id"), p.oid = rec_field_index(os, "id");
  p.fsl = rec_field_index(is, "src_lang"), p.osl = rec_field_index(os, "src_lang");
  p.ftl = rec_field_index(is, "tgt_lang"), p.otl = rec_field_index(os, "tgt_lang");
  p.fsi = rec_field_index(is, "src_ids"), p.osi = rec_field_index(os, "src_ids");
  p.fti = rec_field_index(is, "tgt_ids"), p.oti = rec_field_index(os, "tgt_ids");
  p.ftv = rec_field_index(is, "tgt_vecs"), p.otv = rec_field_index(os, "tgt_vecs");
  p.fst = rec_field_index(is, "src_text"), p.ost = rec_field_index(os, "src_text");
  p.ftt = rec_field_index(is, "tgt_text"), p.ott = rec_field_index(os, "tgt_text");
  return p;
}

/* Everything of the pair except the source side. */
static void put_pair_rest(rec_writer *w, const pair_fields *p, const rec_record *rec) {
  size_t l;
  const char *s = rec_str(rec, p->fid, &l);
  rec_put_str(w, p->oid, s, l);
  s = rec_str(rec, p->fsl, &l);
  rec_put_str(w, p->osl, s, l);
  s = rec_str(rec, p->ftl, &l);
  rec_put_str(w, p->otl, s, l);
  rec_put(w, p->oti, rec->v[p->fti].data, rec->v[p->fti].shape);
  if (rec_has(rec, p->ftv)) rec_put(w, p->otv, rec->v[p->ftv].data, rec->v[p->ftv].shape);
  if (rec_has(rec, p->ftt)) {
    s = rec_str(rec, p->ftt, &l);
    rec_put_str(w, p->ott, s, l);
  }
}

static vocab *load_vocab_for(const opts_t *o, bert_model **model) {
  char err[512];
  vocab *v = NULL;
  if (o->model_dir) {
    *model = bert_load(o->model_dir, err, sizeof err);
    if (!*model) die("%s", err);
    if (!o->vocab_path) {
      if (!(*model)->vocab) die("%s: the model folder has no vocab.txt (give --vocab)", o->model_dir);
      v = vocab_from_mem((*model)->vocab, (*model)->vocab_len, o->model_dir, err, sizeof err);
      if (!v) die("%s", err);
      return v;
    }
  }
  if (!o->vocab_path) die("pair records need a vocabulary to re-tokenize src_text: give --model DIR or --vocab FILE");
  v = vocab_load(o->vocab_path, err, sizeof err);
  if (!v) die("%s", err);
  return v;
}

typedef struct {
  /* per held record: its fields copied (the reader's buffer moves on) */
  char *id, *sl, *tl, *tt;
  size_t idl, sll, tll, ttl;
  uint32_t *tgt_ids;
  size_t m;
  float *tgt_vecs;
  int has_tt;
  uint64_t key;
  char *src_text;
  size_t stl;
  /* the chosen candidate */
  char *best_text;
  size_t best_len;
  uint32_t *best_ids;
  size_t best_n;
  double best_loss;
} held_t;

static void held_free(held_t *h) {
  free(h->id), free(h->sl), free(h->tl), free(h->tt), free(h->tgt_ids), free(h->tgt_vecs), free(h->src_text);
  free(h->best_text), free(h->best_ids);
  memset(h, 0, sizeof *h);
}

static char *dupn(const char *s, size_t n) {
  char *c = xmalloc(n + 1);
  memcpy(c, s, n);
  c[n] = 0;
  return c;
}

typedef struct {
  const opts_t *o;
  rec_writer *w;
  pair_fields pf;
  wp_tokenizer *tok;
  bert_model *model;
  distill_trainer *tr;
  int d;
  held_t *held;
  int nheld, capheld;
  size_t held_tokens;
} worst_ctx;

static void worst_flush(worst_ctx *c) {
  if (!c->nheld) return;
  const opts_t *o = c->o;
  int K = o->worst_of, d = c->d;
  perturb_buf buf = {0};
  wp_tokens toks = {0};
  /* candidates of all held records, each as its own pair */
  int B = c->nheld * K;
  int *sl = xmalloc((size_t)B * sizeof *sl), *tl = xmalloc((size_t)B * sizeof *tl);
  size_t N = 0, M = 0, capN = 1024;
  uint32_t *ids = xmalloc(capN * sizeof *ids);
  char **texts = xmalloc((size_t)B * sizeof *texts);
  size_t *tlens = xmalloc((size_t)B * sizeof *tlens);
  for (int h = 0; h < c->nheld; h++) M += (size_t)K * c->held[h].m;
  float *tv = xmalloc(xmul(M, (size_t)d * sizeof *tv));
  M = 0;
  for (int h = 0; h < c->nheld; h++) {
    held_t *x = &c->held[h];
    for (int k = 0; k < K; k++) {
      int b = h * K + k;
      run_noise(o, perturb_key_variant(x->key, (uint64_t)k), x->src_text, x->stl, &buf, "record", 0);
      texts[b] = dupn(buf.buf, buf.len);
      tlens[b] = buf.len;
      size_t maxl = (size_t)o->max_len;
      if (maxl > (size_t)c->model->cfg.max_position) maxl = (size_t)c->model->cfg.max_position;
      wp_encode(c->tok, buf.buf, buf.len, maxl, 0, &toks);
      if (N + toks.n > capN) {
        while (N + toks.n > capN) capN *= 2;
        ids = xrealloc(ids, capN * sizeof *ids);
      }
      memcpy(ids + N, toks.ids, toks.n * sizeof *ids);
      sl[b] = (int)toks.n;
      N += toks.n;
      tl[b] = (int)x->m;
      memcpy(tv + M * d, x->tgt_vecs, x->m * (size_t)d * sizeof *tv);
      M += x->m;
    }
  }
  double *loss = xmalloc((size_t)B * sizeof *loss);
  /* a candidate with nothing but [CLS]/[SEP] (all words dropped into [UNK]-free
     nothing) cannot be scored: it is never chosen */
  int *use = xmalloc((size_t)B * sizeof *use), nb = 0;
  size_t off = 0, toff = 0;
  uint32_t *ids2 = xmalloc((N ? N : 1) * sizeof *ids2);
  float *tv2 = xmalloc(xmul(M ? M : 1, (size_t)d * sizeof *tv2));
  int *sl2 = xmalloc((size_t)B * sizeof *sl2), *tl2 = xmalloc((size_t)B * sizeof *tl2);
  size_t n2 = 0, m2 = 0;
  for (int b = 0; b < B; b++) {
    loss[b] = -INFINITY;
    if (sl[b] >= 3 && tl[b] >= 3) {
      memcpy(ids2 + n2, ids + off, (size_t)sl[b] * sizeof *ids2);
      memcpy(tv2 + m2 * d, tv + toff * d, (size_t)tl[b] * d * sizeof *tv2);
      sl2[nb] = sl[b], tl2[nb] = tl[b];
      use[nb++] = b;
      n2 += (size_t)sl[b], m2 += (size_t)tl[b];
    }
    off += (size_t)sl[b], toff += (size_t)tl[b];
  }
  if (nb) {
    distill_batch bt = {.B = nb, .src_len = sl2, .src_ids = ids2, .tgt_len = tl2, .tgt_vecs = tv2};
    double *pp = xmalloc((size_t)nb * sizeof *pp);
    char err[512];
    if (distill_eval(c->tr, &bt, NULL, NULL, pp, NULL, err, sizeof err) != 0) die("record %s: %s", c->held[0].id, err);
    for (int i = 0; i < nb; i++) loss[use[i]] = pp[i];
    free(pp);
  }
  off = 0;
  for (int h = 0; h < c->nheld; h++) {
    held_t *x = &c->held[h];
    int best = 0;
    for (int k = 1; k < K; k++)
      if (loss[h * K + k] > loss[h * K + best]) best = k;
    size_t o0 = 0;
    for (int b = 0; b < h * K + best; b++) o0 += (size_t)sl[b];
    int b = h * K + best;
    rec_put_str(c->w, c->pf.oid, x->id, x->idl);
    rec_put_str(c->w, c->pf.osl, x->sl, x->sll);
    rec_put_str(c->w, c->pf.otl, x->tl, x->tll);
    uint32_t shp[1] = {(uint32_t)sl[b]};
    rec_put(c->w, c->pf.osi, ids + o0, shp);
    shp[0] = (uint32_t)x->m;
    rec_put(c->w, c->pf.oti, x->tgt_ids, shp);
    uint32_t shv[2] = {(uint32_t)x->m, (uint32_t)d};
    rec_put(c->w, c->pf.otv, x->tgt_vecs, shv);
    rec_put_str(c->w, c->pf.ost, texts[b], tlens[b]);
    if (x->has_tt) rec_put_str(c->w, c->pf.ott, x->tt, x->ttl);
    rec_write_or_die(c->w);
    held_free(x);
  }
  for (int b = 0; b < B; b++) free(texts[b]);
  free(texts), free(tlens), free(sl), free(tl), free(ids), free(tv), free(loss), free(use), free(ids2), free(tv2),
      free(sl2), free(tl2);
  perturb_buf_free(&buf);
  wp_tokens_free(&toks);
  c->nheld = 0;
  c->held_tokens = 0;
}

static void run_pair_records(const opts_t *o, rec_reader *r, const char *name) {
  const rec_schema *is = rec_reader_schema(r);
  static const char *const needed[] = {"id", "src_lang", "tgt_lang", "src_ids", "tgt_ids", "src_text"};
  for (size_t k = 0; k < sizeof needed / sizeof *needed; k++) need_field(is, needed[k], name);
  rec_schema *os = rec_schema_builtin("pair");
  copy_meta(os, is);
  int64_t d = rec_get_dim(is, "d");
  if (d > 0) rec_set_dim(os, "d", d);
  pair_fields pf = pair_fields_of(is, os);
  bert_model *model = NULL;
  vocab *v = load_vocab_for(o, &model);
  char err[512];
  wp_options wo = {.lower = o->lower, .max_word_chars = 0};
  wp_tokenizer *tok = wp_new(v, &wo, err, sizeof err);
  if (!tok) die("%s", err);
  rec_writer *w = rec_writer_or_die("-", os, NULL);
  rec_record rec;
  perturb_buf out = {0};
  wp_tokens toks = {0};
  worst_ctx wc = {0};
  if (o->worst_of > 0) {
    if (!model) die("--worst-of needs --model DIR");
    if (d > 0 && d != model->cfg.hidden)
      die("the stream's tgt_vecs have d = %lld but the model's hidden size is %d", (long long)d, model->cfg.hidden);
    distill_cfg dc;
    distill_cfg_defaults(&dc);
    dc.loss = o->loss;
    wc.o = o, wc.w = w, wc.pf = pf, wc.tok = tok, wc.model = model, wc.d = model->cfg.hidden;
    wc.tr = distill_trainer_new(model, &dc);
  }
  while (rec_read_or_die(r, &rec)) {
    if (!rec_has(&rec, pf.fst))
      die("record %" PRIu64 ": no src_text (make the pairs with tokenize --pair --keep-text)", rec.index);
    size_t idl, tl;
    const char *id = rec_str(&rec, pf.fid, &idl);
    const char *text = rec_str(&rec, pf.fst, &tl);
    uint64_t key = o->key_by_index ? rec.index : perturb_key_of_id(id, idl);
    if (o->worst_of > 0) {
      if (!rec_has(&rec, pf.ftv)) die("record %" PRIu64 ": --worst-of needs tgt_vecs (embed --side tgt)", rec.index);
      if (wc.nheld == wc.capheld) {
        wc.capheld = wc.capheld ? 2 * wc.capheld : 64;
        wc.held = xrealloc(wc.held, (size_t)wc.capheld * sizeof *wc.held);
      }
      held_t *x = &wc.held[wc.nheld++];
      memset(x, 0, sizeof *x);
      size_t l;
      const char *s;
      x->id = dupn(id, idl), x->idl = idl;
      s = rec_str(&rec, pf.fsl, &l), x->sl = dupn(s, l), x->sll = l;
      s = rec_str(&rec, pf.ftl, &l), x->tl = dupn(s, l), x->tll = l;
      if ((x->has_tt = rec_has(&rec, pf.ftt))) s = rec_str(&rec, pf.ftt, &l), x->tt = dupn(s, l), x->ttl = l;
      size_t m;
      const uint32_t *ti = rec_u32(&rec, pf.fti, &m);
      x->m = m;
      x->tgt_ids = xmalloc((m ? m : 1) * sizeof *x->tgt_ids);
      memcpy(x->tgt_ids, ti, m * sizeof *ti);
      size_t nv;
      const float *tv = rec_f32(&rec, pf.ftv, &nv);
      if (nv != m * (size_t)wc.d) die("record %" PRIu64 ": tgt_vecs has %zu values, expected %zu x %d", rec.index, nv, m, wc.d);
      x->tgt_vecs = xmalloc(nv * sizeof *tv + 1);
      memcpy(x->tgt_vecs, tv, nv * sizeof *tv);
      x->src_text = dupn(text, tl), x->stl = tl;
      x->key = key;
      size_t bad = perturb_utf8_check(text, tl);
      if (bad < tl) die("record %" PRIu64 ": invalid UTF-8 at byte %zu of src_text", rec.index, bad + 1);
      wc.held_tokens += (size_t)o->worst_of * (tl / 3 + 2);
      if (wc.held_tokens >= (size_t)o->batch_tokens) worst_flush(&wc);
      continue;
    }
    run_noise(o, key, text, tl, &out, "record", rec.index);
    size_t maxl = (size_t)o->max_len;
    if (model && maxl > (size_t)model->cfg.max_position) maxl = (size_t)model->cfg.max_position;
    wp_encode(tok, out.buf, out.len, maxl, 0, &toks);
    put_pair_rest(w, &pf, &rec);
    uint32_t shp[1] = {(uint32_t)toks.n};
    rec_put(w, pf.osi, toks.ids, shp);
    rec_put_str(w, pf.ost, out.buf, out.len);
    rec_write_or_die(w);
  }
  if (o->worst_of > 0) {
    worst_flush(&wc);
    free(wc.held);
    distill_trainer_free(wc.tr);
  }
  rec_writer_close_or_die(w);
  rec_schema_free(os);
  perturb_buf_free(&out);
  wp_tokens_free(&toks);
  wp_free(tok);
  vocab_free(v);
  bert_free(model);
}

/* ---------------- embedding attack ---------------- */

static void attack_flush(const opts_t *o, distill_trainer *tr, bert_model *m, rec_writer *w, int fo_id, int fo_lang,
                         int fo_ids, int fo_emb, char **idv, char **langv, int B, int *sl, uint32_t *ids, int *tl,
                         float *tv, uint64_t first_index) {
  if (!B) return;
  size_t N = 0;
  for (int b = 0; b < B; b++) N += (size_t)sl[b];
  int d = m->cfg.hidden;
  float *delta = xmalloc(xmul(N ? N : 1, (size_t)d * sizeof *delta));
  distill_batch bt = {.B = B, .src_len = sl, .src_ids = ids, .tgt_len = tl, .tgt_vecs = tv};
  char err[512];
  if (distill_attack(tr, &bt, o->attack, o->eps, o->alpha, o->steps, o->po.seed ^ first_index, delta, err, sizeof err))
    die("records from %" PRIu64 ": %s", first_index, err);
  size_t off = 0;
  for (int b = 0; b < B; b++) {
    float *e = delta + off * d;
    for (int i = 0; i < sl[b]; i++)
      for (int k = 0; k < d; k++) e[(size_t)i * d + k] += m->p.word_emb[(size_t)ids[off + (size_t)i] * d + k];
    rec_put_str(w, fo_id, idv[b], strlen(idv[b]));
    rec_put_str(w, fo_lang, langv[b], strlen(langv[b]));
    uint32_t s1[1] = {(uint32_t)sl[b]}, s2[2] = {(uint32_t)sl[b], (uint32_t)d};
    rec_put(w, fo_ids, ids + off, s1);
    rec_put(w, fo_emb, e, s2);
    rec_write_or_die(w);
    off += (size_t)sl[b];
  }
  free(delta);
}

static void run_attack(const opts_t *o, rec_reader *r, const char *name) {
  const rec_schema *is = rec_reader_schema(r);
  if (strcmp(is->record, "pair") != 0)
    die("%s: --attack reads pair records (src_ids, tgt_vecs), got a '%s' stream", name, is->record);
  char err[512];
  if (rec_schema_expect(is, (const char *const[]){"pair", NULL}, err, sizeof err) != 0) die("%s: %s", name, err);
  static const char *const needed[] = {"id", "src_lang", "src_ids", "tgt_vecs"};
  for (size_t k = 0; k < sizeof needed / sizeof *needed; k++) need_field(is, needed[k], name);
  bert_model *m = bert_load(o->model_dir, err, sizeof err);
  if (!m) die("%s", err);
  int d = m->cfg.hidden;
  int64_t sd = rec_get_dim(is, "d");
  if (sd > 0 && sd != d) die("the stream's tgt_vecs have d = %lld but the model's hidden size is %d", (long long)sd, d);
  distill_cfg dc;
  distill_cfg_defaults(&dc);
  dc.loss = o->loss;
  distill_trainer *tr = distill_trainer_new(m, &dc);
  rec_schema *os = rec_schema_builtin("tokens");
  copy_meta(os, is);
  /* the source side's identity, under the names a tokens stream uses */
  const char *sv = rec_meta_get(is, "src_vocab"), *ss = rec_meta_get(is, "src_special_ids");
  if (sv) rec_meta_set(os, "vocab", sv);
  if (ss) rec_meta_set(os, "special_ids", ss);
  char mid[24];
  bert_model_id(m, mid);
  rec_meta_set(os, "attack_model", mid);
  char desc[128];
  snprintf(desc, sizeof desc, "%s eps=%g steps=%d alpha=%g", o->attack == DISTILL_ADV_FGSM ? "fgsm" : "pgd", o->eps,
           o->steps, o->alpha);
  rec_meta_set(os, "attack", desc);
  rec_set_dim(os, "d", d);
  rec_writer *w = rec_writer_or_die("-", os, NULL);
  int fid = rec_field_index(is, "id"), fsl = rec_field_index(is, "src_lang"), fsi = rec_field_index(is, "src_ids"),
      ftv = rec_field_index(is, "tgt_vecs");
  int oid = rec_field_index(os, "id"), olang = rec_field_index(os, "lang"), oids = rec_field_index(os, "ids"),
      oemb = rec_field_index(os, "embeds");
  int cap = 256, B = 0;
  char **idv = xmalloc((size_t)cap * sizeof *idv), **langv = xmalloc((size_t)cap * sizeof *langv);
  int *sl = xmalloc((size_t)cap * sizeof *sl), *tl = xmalloc((size_t)cap * sizeof *tl);
  size_t N = 0, M = 0, capN = 4096, capM = 4096;
  uint32_t *ids = xmalloc(capN * sizeof *ids);
  float *tv = xmalloc(capM * (size_t)d * sizeof *tv);
  uint64_t first = 0;
  rec_record rec;
  while (rec_read_or_die(r, &rec)) {
    if (!rec_has(&rec, ftv)) die("record %" PRIu64 ": --attack needs tgt_vecs (embed --side tgt)", rec.index);
    size_t n, nv, l;
    const uint32_t *si = rec_u32(&rec, fsi, &n);
    const float *t = rec_f32(&rec, ftv, &nv);
    size_t m_ = nv / (size_t)d;
    if (n < 3 || m_ < 3) die("record %" PRIu64 ": nothing to attack (a side has no token besides [CLS]/[SEP])", rec.index);
    for (size_t i = 0; i < n; i++)
      if (si[i] >= (uint32_t)m->cfg.vocab_size)
        die("record %" PRIu64 ": src id %u >= vocab_size %d", rec.index, si[i], m->cfg.vocab_size);
    if (B == 0) first = rec.index;
    if (B == cap) {
      cap *= 2;
      idv = xrealloc(idv, (size_t)cap * sizeof *idv), langv = xrealloc(langv, (size_t)cap * sizeof *langv);
      sl = xrealloc(sl, (size_t)cap * sizeof *sl), tl = xrealloc(tl, (size_t)cap * sizeof *tl);
    }
    const char *s = rec_str(&rec, fid, &l);
    idv[B] = dupn(s, l);
    s = rec_str(&rec, fsl, &l);
    langv[B] = dupn(s, l);
    while (N + n > capN) ids = xrealloc(ids, (capN *= 2) * sizeof *ids);
    while (M + m_ > capM) tv = xrealloc(tv, (capM *= 2) * (size_t)d * sizeof *tv);
    memcpy(ids + N, si, n * sizeof *si);
    memcpy(tv + M * d, t, nv * sizeof *t);
    sl[B] = (int)n, tl[B] = (int)m_;
    N += n, M += m_;
    B++;
    if (N >= (size_t)o->batch_tokens) {
      attack_flush(o, tr, m, w, oid, olang, oids, oemb, idv, langv, B, sl, ids, tl, tv, first);
      for (int b = 0; b < B; b++) free(idv[b]), free(langv[b]);
      B = 0, N = 0, M = 0;
    }
  }
  attack_flush(o, tr, m, w, oid, olang, oids, oemb, idv, langv, B, sl, ids, tl, tv, first);
  for (int b = 0; b < B; b++) free(idv[b]), free(langv[b]);
  rec_writer_close_or_die(w);
  free(idv), free(langv), free(sl), free(tl), free(ids), free(tv);
  rec_schema_free(os);
  distill_trainer_free(tr);
  bert_free(m);
}

/* ---------------- main ---------------- */

enum {
  O_TYPO = 256, O_KINDS, O_DICT, O_DICT_REV, O_SWITCH, O_DROP, O_SWAP, O_RATE, O_SEED, O_KEY, O_LANGCOL, O_PAIR,
  O_VOCAB, O_LOWER, O_MAXLEN, O_STATS, O_WORST, O_ATTACK, O_MODEL, O_LOSS, O_OTEPS, O_EPS, O_ALPHA, O_STEPS,
  O_BATCH, O_THREADS
};

int main(int argc, char **argv) {
  otc_init(argv[0]);
  static const struct option lo[] = {
      {"help", no_argument, 0, 'h'},          {"version", no_argument, 0, 'V'},
      {"typo", required_argument, 0, O_TYPO}, {"typo-kinds", required_argument, 0, O_KINDS},
      {"dict", required_argument, 0, O_DICT}, {"dict-reverse", no_argument, 0, O_DICT_REV},
      {"switch", required_argument, 0, O_SWITCH}, {"drop", required_argument, 0, O_DROP},
      {"swap", required_argument, 0, O_SWAP}, {"rate", required_argument, 0, O_RATE},
      {"seed", required_argument, 0, O_SEED}, {"key", required_argument, 0, O_KEY},
      {"lang-column", no_argument, 0, O_LANGCOL}, {"pair", no_argument, 0, O_PAIR},
      {"vocab", required_argument, 0, O_VOCAB}, {"lower", no_argument, 0, O_LOWER},
      {"max-len", required_argument, 0, O_MAXLEN}, {"stats", no_argument, 0, O_STATS},
      {"worst-of", required_argument, 0, O_WORST}, {"attack", required_argument, 0, O_ATTACK},
      {"model", required_argument, 0, O_MODEL}, {"loss", required_argument, 0, O_LOSS},
      {"ot-eps", required_argument, 0, O_OTEPS}, {"eps", required_argument, 0, O_EPS},
      {"alpha", required_argument, 0, O_ALPHA}, {"steps", required_argument, 0, O_STEPS},
      {"batch-tokens", required_argument, 0, O_BATCH}, {"threads", required_argument, 0, O_THREADS},
      {0, 0, 0, 0}};
  opts_t o;
  memset(&o, 0, sizeof o);
  o.po.seed = 1;
  o.max_len = 512;
  o.eps = 1.0;
  o.alpha = -1;
  o.steps = 10;
  o.batch_tokens = 4096;
  distill_loss_defaults(&o.loss);
  double rate = -1, sw = -1;
  const char *dict_path = NULL;
  int dict_rev = 0, threads = 0, have_noise = 0;
  int c;
  while ((c = getopt_long(argc, argv, "hV", lo, NULL)) != -1) {
    switch (c) {
    case 'h': help(); break;
    case 'V': print_version(); break;
    case O_TYPO: o.po.typo_rate = parse_double("--typo", optarg, 0, 1), have_noise = 1; break;
    case O_KINDS: {
      int k = perturb_parse_kinds(optarg);
      if (k < 0) die_usage("perturb: --typo-kinds: a comma list of insert,delete,substitute,swap,keyboard\n");
      o.po.typo_kinds = (unsigned)k;
      break;
    }
    case O_DICT: dict_path = optarg; break;
    case O_DICT_REV: dict_rev = 1; break;
    case O_SWITCH: sw = parse_double("--switch", optarg, 0, 1); break;
    case O_DROP: o.po.drop_rate = parse_double("--drop", optarg, 0, 1), have_noise = 1; break;
    case O_SWAP: o.po.swap_rate = parse_double("--swap", optarg, 0, 1), have_noise = 1; break;
    case O_RATE: rate = parse_double("--rate", optarg, 0, 1); break;
    case O_SEED: o.po.seed = (uint64_t)parse_long("--seed", optarg, 0, LONG_MAX); break;
    case O_KEY:
      if (!strcmp(optarg, "id")) o.key_by_index = 0;
      else if (!strcmp(optarg, "index")) o.key_by_index = 1;
      else die_usage("perturb: --key: id or index\n");
      break;
    case O_LANGCOL: o.lang_column = 1; break;
    case O_PAIR: o.pair = 1; break;
    case O_VOCAB: o.vocab_path = optarg; break;
    case O_LOWER: o.lower = 1; break;
    case O_MAXLEN: o.max_len = parse_long("--max-len", optarg, 3, 1 << 20); break;
    case O_STATS: o.stats = 1; break;
    case O_WORST: o.worst_of = (int)parse_long("--worst-of", optarg, 1, 1024); break;
    case O_ATTACK:
      if (!strcmp(optarg, "fgsm")) o.attack = DISTILL_ADV_FGSM;
      else if (!strcmp(optarg, "pgd")) o.attack = DISTILL_ADV_PGD;
      else die_usage("perturb: --attack: fgsm or pgd\n");
      break;
    case O_MODEL: o.model_dir = optarg; break;
    case O_LOSS:
      if (distill_parse_losses(optarg, &o.loss) != 0) die_usage("perturb: --loss: e.g. ot, cos, ot=1,cos=0.5\n");
      break;
    case O_OTEPS: o.loss.ot.eps = parse_double("--ot-eps", optarg, 1e-6, 100); break;
    case O_EPS: o.eps = parse_double("--eps", optarg, 0, 1e6); break;
    case O_ALPHA: o.alpha = parse_double("--alpha", optarg, 0, 1e6); break;
    case O_STEPS: o.steps = (int)parse_long("--steps", optarg, 1, 100000); break;
    case O_BATCH: o.batch_tokens = parse_long("--batch-tokens", optarg, 1, 1L << 30); break;
    case O_THREADS: threads = (int)parse_long("--threads", optarg, 1, 4096); break;
    default: die_usage(usage);
    }
  }
  if (optind + 1 < argc) die_usage_msg(usage, "unexpected operand '%s' (at most one input FILE)", argv[optind + 1]);
  const char *path = optind < argc ? argv[optind] : "-";
  if (o.lang_column && o.pair) die_usage("perturb: --lang-column and --pair exclude each other\n");
  if (sw >= 0 && !dict_path) die_usage("perturb: --switch needs --dict FILE\n");
  if (dict_path) {
    o.po.switch_rate = sw >= 0 ? sw : rate >= 0 ? rate : 0;
    if (o.po.switch_rate <= 0 && sw < 0) die_usage("perturb: --dict needs a rate (--switch R or --rate R)\n");
    have_noise = 1;
  } else if (rate >= 0 && !have_noise) {
    o.po.typo_rate = rate;
    have_noise = 1;
  }
  if (o.attack && o.worst_of) die_usage("perturb: --attack and --worst-of exclude each other\n");
  if ((o.attack || o.worst_of) && !o.model_dir) die_usage("perturb: --attack and --worst-of need --model DIR\n");
  if (!o.attack && !have_noise) die_usage("perturb: no noise asked for (--typo, --dict, --drop, --swap, --attack)\n");
  if (o.alpha < 0) o.alpha = o.eps / 4;
  kern_set_threads(threads > 0 ? threads : otc_ncores());

  char err[1024];
  perturb_dict *dict = NULL;
  if (dict_path) {
    dict = perturb_dict_load(dict_path, dict_rev, err, sizeof err);
    if (!dict) die("%s", err);
    o.po.dict = dict;
  }

  int fd = 0;
  if (strcmp(path, "-") != 0) {
    fd = open(path, O_RDONLY);
    if (fd < 0) die_errno("%s", path);
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) die("%s: is a directory", path);
  }
  const char *name = strcmp(path, "-") ? path : "stdin";
  bool is_rec;
  int in = perturb_peek_input(fd, name, &is_rec);
  if (is_rec) {
    rec_reader *r = rec_open_fd(in, name, err, sizeof err);
    if (!r) die("%s", err);
    const char *type = rec_reader_schema(r)->record;
    if (o.attack) run_attack(&o, r, name);
    else if (!strcmp(type, "text")) {
      if (o.worst_of) die("--worst-of needs pair records (with src_text and tgt_vecs), got 'text'");
      run_text_records(&o, r, name);
    } else if (!strcmp(type, "pair"))
      run_pair_records(&o, r, name);
    else
      die("%s: expected 'text' or 'pair' records, or TSV; got a '%s' stream", name, type);
    rec_close(r);
  } else {
    if (o.attack || o.worst_of) die("%s: --attack and --worst-of read pair records, not TSV", name);
    FILE *f = fdopen(in, "r");
    if (!f) die_errno("%s", name);
    run_tsv(&o, f, name);
    fclose(f);
  }
  if (o.stats)
    fprintf(stderr, "perturb: words %" PRIu64 ", typos %" PRIu64 ", switched %" PRIu64 ", dropped %" PRIu64
                    ", swapped %" PRIu64 "\n",
            g_stats.words, g_stats.typos, g_stats.switched, g_stats.dropped, g_stats.swapped);
  perturb_dict_free(dict);
  otc_close_stdout();
  return 0;
}
