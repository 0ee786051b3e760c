/*
 * tokenize: multilingual BERT WordPiece tokenization, id for id as Google's reference
 *
 * Reads TSV (`id<TAB>text`, `id<TAB>lang<TAB>text`, `id<TAB>src<TAB>tgt`) or a
 * `text` record stream and writes `tokens` or `pair` records; --decode turns
 * ids back into pieces; --prune-vocab writes a vocabulary reduced to the
 * pieces a training text uses. The rules are in lib/wordpiece.h.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include "stream/rec.h"
#include "text/unicode.h"
#include "base/util.h"
#include "cli/cli.h"
#include "text/vocab.h"
#include "text/wordpiece.h"

static const char usage_text[] =
    "usage: tokenize (--vocab FILE | --model DIR) [--lower] [--max-len N] [--offsets]\n"
    "                [--lang-column | --lang L] [--line-ids] [--replace] [FILE]\n"
    "       tokenize --pair [--src-lang X] [--tgt-lang Y] [--keep-text] [FILE | SRC_FILE TGT_FILE]\n"
    "       tokenize --decode --vocab FILE [FILE]\n"
    "       tokenize --prune-vocab OUTDIR --vocab FILE [--min-count N] [FILE]\n"
    "Try 'tokenize --help' for more.\n";

static const char help_text[] =
    "tokenize: multilingual BERT WordPiece tokenization, id for id as Google's reference\n"
    "\n"
    "Usage:\n"
    "  tokenize (--vocab FILE | --model DIR) [options] [FILE] > tokens.rec\n"
    "  tokenize --pair [options] [FILE | SRC_FILE TGT_FILE] > pairs.rec\n"
    "  tokenize --decode (--vocab FILE | --model DIR) [FILE] > pieces.tsv\n"
    "  tokenize --prune-vocab OUTDIR --vocab FILE [--min-count N] [FILE]\n"
    "\n"
    "Tokenizes text exactly as Google's BERT tokenization.py (FullTokenizer):\n"
    "drop NUL, U+FFFD and control/format characters (Cc, Cf) except TAB/LF/CR,\n"
    "joining their neighbours; split at whitespace (Zs, TAB, LF, CR, U+2028/9);\n"
    "each CJK ideograph (Google's ranges, supplementary planes included) is a\n"
    "word; with --lower, lowercase (full mapping, Final_Sigma), NFD and drop\n"
    "nonspacing marks (Mn); each punctuation character (P*, ASCII !-/ :-@ [-` {-~)\n"
    "is a word; then WordPiece, greedy longest match first with ## continuation\n"
    "pieces: a word longer than --max-word-len code points, or with a part that\n"
    "matches nothing, becomes one [UNK]. \"[CLS]\" in the text is ordinary text.\n"
    "Each text becomes [CLS] pieces... [SEP]; an empty text gives [CLS] [SEP].\n"
    "\n"
    "Input (FILE or stdin): a `text` record stream (detected by its magic; fields\n"
    "id, lang, text), or UTF-8 TSV lines ending in LF:\n"
    "  id<TAB>text             default (the text is everything after the TAB)\n"
    "  id<TAB>lang<TAB>text    with --lang-column\n"
    "  id<TAB>src<TAB>tgt      with --pair\n"
    "  --line-ids drops the id column: the id is the 1-based line number.\n"
    "  A CR before the LF is removed.\n"
    "  --pair with two files: line k of SRC_FILE and of TGT_FILE form pair k.\n"
    "An empty id, a line without the needed TABs, or invalid UTF-8 is an error\n"
    "naming the line (--replace: each invalid sequence of a text counts as\n"
    "U+FFFD, which the cleaning step drops; --keep-text stores it as U+FFFD,\n"
    "and without NUL bytes; ids and languages must be valid UTF-8 without NUL).\n"
    "\n"
    "Output on stdout:\n"
    "  `tokens` records: id, lang (when known), ids (u32 [n]), offsets (u32 [n,2],\n"
    "     with --offsets: byte span [start,end) of each token in the input text;\n"
    "     [CLS]/[SEP] get [0,0]; a piece inside one character's decomposition gets\n"
    "     that character's span).\n"
    "  `pair` records (--pair): id, src_lang, tgt_lang, src_ids, tgt_ids, and with\n"
    "     --keep-text src_text, tgt_text.\n"
    "  Stream metadata: producer, vocab (SHA-256 of vocab.txt), special_ids\n"
    "  ([CLS],[SEP] ids ascending), lower, max_len, max_word_len, unicode\n"
    "  (--pair: also src_vocab, tgt_vocab, src_special_ids, tgt_special_ids).\n"
    "\n"
    "Options:\n"
    "  --vocab FILE        a BERT vocab.txt (line k = id k)\n"
    "  --model DIR         use DIR/vocab.txt\n"
    "  --src-vocab FILE, --tgt-vocab FILE, --src-model DIR, --tgt-model DIR\n"
    "                      --pair: a vocabulary per side (e.g. a pruned student\n"
    "                      vocabulary for src, the teacher's for tgt); each\n"
    "                      defaults to --vocab/--model\n"
    "  --lower             uncased vocabularies: lowercase, NFD, drop Mn\n"
    "  --max-len N         keep at most N ids per text, [CLS] and [SEP] included\n"
    "                      (N >= 2; pairs: each side); default: no limit\n"
    "  --max-word-len N    longest word in code points before it is [UNK]\n"
    "                      (default 200, Google's; Hugging Face uses 100)\n"
    "  --offsets           add the offsets field\n"
    "  --lang-column       TSV has a language column (id<TAB>lang<TAB>text)\n"
    "  --lang L            set lang of every record to L\n"
    "  --line-ids          TSV has no id column; ids are line numbers\n"
    "  --pair              bitext mode, `pair` records\n"
    "  --src-lang X, --tgt-lang Y   languages of the pair sides (default und, eng)\n"
    "  --keep-text         --pair: also store src_text and tgt_text\n"
    "  --replace           invalid UTF-8 becomes U+FFFD (dropped) instead of an error\n"
    "  --decode            read a tokens (or pair) stream, write `id<TAB>pieces`\n"
    "                      (pair: `id<TAB>src pieces<TAB>tgt pieces`), pieces\n"
    "                      separated by spaces; the vocabulary must be the one the\n"
    "                      stream was made with (checked by its SHA-256)\n"
    "  --prune-vocab OUTDIR  tokenize the input with the vocabulary and write\n"
    "                      OUTDIR/vocab.txt: [PAD] [UNK] [CLS] [SEP] [MASK] (those\n"
    "                      present, in this order), then every piece the greedy\n"
    "                      matcher took on the input, in old id order; and\n"
    "                      OUTDIR/idmap.tsv: `old_id<TAB>new_id` per new id, in new\n"
    "                      id order (row new_id of a pruned embedding matrix is row\n"
    "                      old_id of the full one). Tokenizing the same input with\n"
    "                      OUTDIR/vocab.txt gives the same pieces (ids mapped by\n"
    "                      idmap.tsv); other text may get shorter pieces or [UNK]\n"
    "                      where it needs pieces that were dropped. --pair counts\n"
    "                      both sides.\n"
    "  --min-count N       --prune-vocab: keep pieces taken at least N times (1);\n"
    "                      N > 1 breaks the same-pieces guarantee for rare words\n"
    "  --zstd[=LEVEL]      compress the output stream (default level 3)\n"
    "  --progress          report progress on stderr\n"
    "  --stats             at the end, print texts, input bytes, ids and speed on stderr\n"
    "  --help, --version\n"
    "\n"
    "Examples:\n"
    "  cut -f1,2 ../shared/fixtures/tokenize/input.tsv |\n"
    "    tokenize --vocab ../shared/data/vocab/mbert-cased/vocab.txt > tok.rec\n"
    "  tokenize --decode --vocab ../shared/data/vocab/mbert-cased/vocab.txt < tok.rec\n"
    "  tokenize --pair --line-ids --src-lang deu --tgt-lang eng --model mbert \\\n"
    "    ../shared/data/bitext/tatoeba-challenge/deu-eng.tsv > pairs.rec\n"
    "  tokenize --prune-vocab student --vocab mbert/vocab.txt --pair --line-ids train.tsv\n"
    "  tokenize --pair --src-vocab student/vocab.txt --tgt-model mbert --line-ids train.tsv\n"
    "\n"
    "Exit status: 0 on success, 1 on an error (bad input, vocabulary without\n"
    "[UNK], [CLS] or [SEP], write error), 2 on bad usage.\n";

typedef struct {
  vocab *v;
  wp_tokenizer *t;
  char special[32];
} side;

static struct {
  int lower, offsets, lang_column, line_ids, pair, keep_text, replace, decode, progress, stats;
  size_t max_len, max_word_len;
  const char *lang, *src_lang, *tgt_lang, *prune_dir;
  uint64_t min_count;
  int zstd;
} opt = {.src_lang = "und", .tgt_lang = "eng", .min_count = 1};

/* ---- vocabularies ---- */

static char *model_vocab_path(const char *dir) {
  size_t n = strlen(dir) + 16;
  char *p = xmalloc(n);
  snprintf(p, n, "%s/vocab.txt", dir);
  return p;
}

static void side_load(side *s, const char *path) {
  char err[512];
  s->v = vocab_load(path, err, sizeof err);
  if (!s->v) die("%s", err);
  wp_options o = {.lower = opt.lower, .max_word_chars = opt.max_word_len};
  s->t = wp_new(s->v, &o, err, sizeof err);
  if (!s->t) die("%s: %s", path, err);
  uint32_t a = wp_cls_id(s->t), b = wp_sep_id(s->t);
  snprintf(s->special, sizeof s->special, "%u,%u", a < b ? a : b, a < b ? b : a);
}

static void side_free(side *s) {
  wp_free(s->t);
  vocab_free(s->v);
}

/* ---- line input ---- */

typedef struct {
  int fd;
  const char *name;
  char *buf;
  size_t cap, start, end;
  int eof;
  uint64_t line;
} line_reader;

static void lr_init(line_reader *r, int fd, const char *name, const char *prefix, size_t nprefix) {
  memset(r, 0, sizeof *r);
  r->fd = fd;
  r->name = name;
  r->cap = 1 << 20;
  r->buf = xmalloc(r->cap);
  if (nprefix) memcpy(r->buf, prefix, nprefix);
  r->end = nprefix;
}

/* Next line without its LF (NUL bytes allowed); NULL at the end. Memory is
 * the longest line, not the input. */
static char *lr_next(line_reader *r, size_t *len) {
  for (;;) {
    char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
    if (nl) {
      char *line = r->buf + r->start;
      *len = (size_t)(nl - line);
      r->start += *len + 1;
      r->line++;
      return line;
    }
    if (r->eof) {
      if (r->start == r->end) return NULL;
      char *line = r->buf + r->start;
      *len = r->end - r->start;
      r->start = r->end;
      r->line++;
      return line;
    }
    if (r->start > 0) {
      memmove(r->buf, r->buf + r->start, r->end - r->start);
      r->end -= r->start;
      r->start = 0;
    }
    if (r->end == r->cap) {
      r->cap *= 2;
      r->buf = xrealloc(r->buf, r->cap);
    }
    ssize_t got = read(r->fd, r->buf + r->end, r->cap - r->end);
    if (got < 0) {
      if (errno == EINTR) continue;
      die_errno("%s: read error", r->name);
    }
    if (got == 0) r->eof = 1;
    r->end += (size_t)got;
  }
}

/* ---- output ---- */

static rec_writer *out;
static int f_id, f_lang, f_ids, f_offsets, f_src_lang, f_tgt_lang, f_src_ids, f_tgt_ids, f_src_text, f_tgt_text;
static side src_side, tgt_side;
static wp_tokens toks, toks2;
static unsigned char *fixbuf[2]; /* repaired text per side (--replace --keep-text) */
static size_t fixcap[2];
static uint64_t *counts;
static uint64_t n_texts, n_bytes, n_tokens;

static void open_output(void) {
  rec_schema *s = rec_schema_builtin(opt.pair ? "pair" : "tokens");
  if (!s) die("the builtin schema '%s' is missing", opt.pair ? "pair" : "tokens");
  rec_write_opts wo = {.zstd_level = opt.zstd};
  out = rec_writer_or_die("-", s, &wo);
  rec_schema_free(s);
  rec_schema *ws = rec_writer_schema(out);
  char buf[64];
  rec_meta_set(ws, "producer", "tokenize (otclir " OTC_VERSION ")");
  rec_meta_set(ws, "lower", opt.lower ? "1" : "0");
  snprintf(buf, sizeof buf, "%zu", opt.max_len);
  rec_meta_set(ws, "max_len", buf);
  snprintf(buf, sizeof buf, "%zu", opt.max_word_len ? opt.max_word_len : (size_t)WP_DEFAULT_MAX_WORD_CHARS);
  rec_meta_set(ws, "max_word_len", buf);
  rec_meta_set(ws, "unicode", UC_UNICODE_VERSION);
  if (!opt.pair || !strcmp(vocab_sha256(src_side.v), vocab_sha256(tgt_side.v))) {
    rec_meta_set(ws, "vocab", vocab_sha256(src_side.v));
    rec_meta_set(ws, "special_ids", src_side.special);
  }
  if (opt.pair) {
    rec_meta_set(ws, "src_vocab", vocab_sha256(src_side.v));
    rec_meta_set(ws, "tgt_vocab", vocab_sha256(tgt_side.v));
    rec_meta_set(ws, "src_special_ids", src_side.special);
    rec_meta_set(ws, "tgt_special_ids", tgt_side.special);
  }
  f_id = rec_field_index(ws, "id");
  f_lang = rec_field_index(ws, "lang");
  f_ids = rec_field_index(ws, "ids");
  f_offsets = rec_field_index(ws, "offsets");
  f_src_lang = rec_field_index(ws, "src_lang");
  f_tgt_lang = rec_field_index(ws, "tgt_lang");
  f_src_ids = rec_field_index(ws, "src_ids");
  f_tgt_ids = rec_field_index(ws, "tgt_ids");
  f_src_text = rec_field_index(ws, "src_text");
  f_tgt_text = rec_field_index(ws, "tgt_text");
}

/* The place of the current input item in messages ("line 12", "record 3"),
 * formatted only when needed. */
static const char *loc_kind = "line";
static uint64_t loc_no;
static const char *where(void) {
  static char buf[48];
  snprintf(buf, sizeof buf, "%s %llu", loc_kind, (unsigned long long)loc_no);
  return buf;
}

/* Validate a field's UTF-8; with --replace
 * (text fields only: replaceable = 1 + side) returns a repaired copy for
 * storing, valid until the next call for that side. */
static const char *check_utf8(const char *src, const char *what, const char *s, size_t *len,
                              int replaceable) {
  size_t bad = uc_utf8_first_invalid((const unsigned char *)s, *len);
  const char *nul = memchr(s, 0, *len);
  if (bad == *len && !nul) return s;
  if (bad < *len && (!replaceable || !opt.replace))
    die("%s: %s: invalid UTF-8 in the %s at byte %zu of it%s", src, where(), what, bad,
        replaceable ? " (--replace maps it to U+FFFD)" : "");
  if (!replaceable) die("%s: %s: NUL byte in the %s", src, where(), what);
  /* a stored text (--keep-text) gets U+FFFD for invalid bytes and loses its
   * NUL bytes (record strings exclude NUL); both vanish in tokenization anyway */
  int k = replaceable - 1;
  if (xmul(*len, 3) > fixcap[k]) {
    fixcap[k] = *len * 3;
    fixbuf[k] = xrealloc(fixbuf[k], fixcap[k]);
  }
  size_t n = uc_utf8_replace((const unsigned char *)s, *len, fixbuf[k]), o = 0;
  for (size_t i = 0; i < n; i++)
    if (fixbuf[k][i]) fixbuf[k][o++] = fixbuf[k][i];
  *len = o;
  return (const char *)fixbuf[k];
}

static void count_text(side *sd, const char *text, size_t len) {
  wp_count_pieces(sd->t, counts);
  wp_encode(sd->t, text, len, 0, 0, &toks);
  wp_count_pieces(sd->t, NULL);
  n_tokens += toks.n;
}

static void emit_text(const char *src, const char *id, size_t idlen, const char *lang,
                      size_t langlen, const char *text, size_t tlen) {
  if (idlen == 0) die("%s: %s: empty id", src, where());
  check_utf8(src, "id", id, &idlen, 0);
  if (lang) check_utf8(src, "language", lang, &langlen, 0);
  size_t keep = tlen;
  check_utf8(src, "text", text, &keep, 1); /* tokenization drops invalid bytes itself */
  n_texts++;
  n_bytes += tlen;
  if (opt.prune_dir) {
    count_text(&src_side, text, tlen);
    return;
  }
  wp_encode(src_side.t, text, tlen, opt.max_len, opt.offsets, &toks);
  n_tokens += toks.n;
  rec_put_str(out, f_id, id, idlen);
  if (lang) rec_put_str(out, f_lang, lang, langlen);
  uint32_t shape[2] = {(uint32_t)toks.n, 2};
  rec_put(out, f_ids, toks.ids, shape);
  if (opt.offsets) rec_put(out, f_offsets, toks.offsets, shape);
  rec_write_or_die(out);
}

static void emit_pair(const char *src, const char *id, size_t idlen, const char *s, size_t slen,
                      const char *t, size_t tlen) {
  if (idlen == 0) die("%s: %s: empty id", src, where());
  check_utf8(src, "id", id, &idlen, 0);
  n_texts++;
  n_bytes += slen + tlen;
  size_t ks = slen, kt = tlen;
  const char *fs = check_utf8(src, "source text", s, &ks, 1);
  const char *ft = check_utf8(src, "target text", t, &kt, 2);
  if (opt.prune_dir) {
    count_text(&src_side, s, slen);
    count_text(&tgt_side, t, tlen);
    return;
  }
  rec_put_str(out, f_id, id, idlen);
  rec_put_str(out, f_src_lang, opt.src_lang, strlen(opt.src_lang));
  rec_put_str(out, f_tgt_lang, opt.tgt_lang, strlen(opt.tgt_lang));
  if (opt.keep_text) rec_put_str(out, f_src_text, fs, ks);
  wp_encode(src_side.t, s, slen, opt.max_len, 0, &toks);
  uint32_t shape = (uint32_t)toks.n;
  rec_put(out, f_src_ids, toks.ids, &shape);
  wp_encode(tgt_side.t, t, tlen, opt.max_len, 0, &toks2);
  uint32_t shape2 = (uint32_t)toks2.n;
  rec_put(out, f_tgt_ids, toks2.ids, &shape2);
  if (opt.keep_text) rec_put_str(out, f_tgt_text, ft, kt);
  n_tokens += toks.n + toks2.n;
  rec_write_or_die(out);
}

/* Split off the next TAB-separated column; NULL if there is no TAB. */
static const char *cut_tab(const char **p, size_t *len, size_t *col_len) {
  const char *tab = memchr(*p, '\t', *len);
  if (!tab) return NULL;
  const char *col = *p;
  *col_len = (size_t)(tab - col);
  *len -= *col_len + 1;
  *p = tab + 1;
  return col;
}

static void run_tsv(line_reader *r) {
  otc_progress pg;
  progress_init(&pg, "lines", opt.progress);
  char idbuf[24];
  size_t len;
  const char *line;
  while ((line = lr_next(r, &len))) {
    if (len && line[len - 1] == '\r') len--; /* CRLF files: invisible to tokenization, but not to --keep-text */
    loc_no = r->line;
    const char *p = line, *id = idbuf, *lang = opt.lang;
    size_t idlen, langlen = opt.lang ? strlen(opt.lang) : 0, rest = len;
    if (opt.line_ids) {
      idlen = (size_t)snprintf(idbuf, sizeof idbuf, "%llu", (unsigned long long)r->line);
    } else if (!(id = cut_tab(&p, &rest, &idlen))) {
      die("%s: %s: expected %s (no TAB)", r->name, where(),
          opt.pair ? "id<TAB>src<TAB>tgt" : opt.lang_column ? "id<TAB>lang<TAB>text" : "id<TAB>text");
    }
    if (opt.pair) {
      size_t slen;
      const char *s = cut_tab(&p, &rest, &slen);
      if (!s) die("%s: %s: expected %ssrc<TAB>tgt (no TAB after the source text)", r->name, where(), opt.line_ids ? "" : "id<TAB>");
      emit_pair(r->name, id, idlen, s, slen, p, rest);
    } else {
      if (opt.lang_column && !(lang = cut_tab(&p, &rest, &langlen)))
        die("%s: %s: expected %slang<TAB>text (no TAB after the language)", r->name, where(), opt.line_ids ? "" : "id<TAB>");
      emit_text(r->name, id, idlen, lang, langlen, p, rest);
    }
    if ((r->line & 1023) == 0) progress_update(&pg, r->line, 0);
  }
  progress_end(&pg, r->line);
}

static void run_two_files(line_reader *a, line_reader *b) {
  char idbuf[24];
  size_t la, lb;
  const char *s, *t;
  for (;;) {
    s = lr_next(a, &la);
    t = lr_next(b, &lb);
    if (!s || !t) break;
    if (la && s[la - 1] == '\r') la--;
    if (lb && t[lb - 1] == '\r') lb--;
    loc_no = a->line;
    size_t idlen = (size_t)snprintf(idbuf, sizeof idbuf, "%llu", (unsigned long long)a->line);
    emit_pair(a->name, idbuf, idlen, s, la, t, lb);
  }
  if (s || t)
    die("%s has more lines than %s (%llu lines read)", s ? a->name : b->name, s ? b->name : a->name,
        (unsigned long long)(s ? b->line : a->line));
}

static void run_records(rec_reader *rr, const char *name) {
  const rec_schema *s = rec_reader_schema(rr);
  if (opt.pair) die("%s: --pair reads TSV, not a '%s' record stream", name, s->record);
  char err[512];
  if (rec_schema_expect(s, (const char *const[]){"text", NULL}, err, sizeof err) != 0) die("%s: %s", name, err);
  int fi = rec_field_index(s, "id"), fl = rec_field_index(s, "lang"), ft = rec_field_index(s, "text");
  rec_record rec;
  loc_kind = "record";
  while (rec_read_or_die(rr, &rec)) {
    size_t idlen, tlen, llen = 0;
    const char *id = rec_str(&rec, fi, &idlen), *text = rec_str(&rec, ft, &tlen), *lang = NULL;
    if (opt.lang) {
      lang = opt.lang;
      llen = strlen(lang);
    } else if (rec_has(&rec, fl)) {
      lang = rec_str(&rec, fl, &llen);
    }
    loc_no = rec.index + 1;
    emit_text(name, id, idlen, lang, llen, text, tlen);
  }
}

/* ---- decode ---- */

static void run_decode(rec_reader *rr, const char *name) {
  const rec_schema *s = rec_reader_schema(rr);
  char err[512];
  if (rec_schema_expect(s, (const char *const[]){"tokens", "pair", NULL}, err, sizeof err) != 0)
    die("%s: %s", name, err);
  int pair = !strcmp(s->record, "pair");
  const char *keys[2] = {pair ? "src_vocab" : "vocab", "tgt_vocab"};
  side *sides[2] = {&src_side, &tgt_side};
  for (int k = 0; k < (pair ? 2 : 1); k++) {
    const char *want = rec_meta_get(s, keys[k]);
    if (want && strcmp(want, vocab_sha256(sides[k]->v)) != 0)
      die("%s: the stream was made with vocabulary sha256 %s, the %svocabulary given is %s", name, want,
          pair ? (k ? "tgt " : "src ") : "", vocab_sha256(sides[k]->v));
  }
  int fi = rec_field_index(s, "id");
  int fa = rec_field_index(s, pair ? "src_ids" : "ids"), fb = pair ? rec_field_index(s, "tgt_ids") : -1;
  rec_record rec;
  char *buf = NULL;
  size_t cap = 0;
  while (rec_read_or_die(rr, &rec)) {
    size_t idlen, n, bad = 0;
    const char *id = rec_str(&rec, fi, &idlen);
    xfwrite_stdout(id, idlen);
    for (int k = 0; k < (pair ? 2 : 1); k++) {
      const uint32_t *ids = rec_u32(&rec, k ? fb : fa, &n);
      size_t len = wp_decode(sides[k]->v, ids, n, &buf, &cap, &bad);
      xfwrite_stdout("\t", 1);
      xfwrite_stdout(buf, len);
    }
    if (bad) die("%s: record %llu: %zu ids outside the vocabulary (%u ids)", name, (unsigned long long)rec.index + 1,
                 bad, vocab_size(src_side.v));
    xfwrite_stdout("\n", 1);
  }
  free(buf);
}

/* ---- prune ---- */

static void write_pruned(const char *dir) {
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) die_errno("%s: cannot create the directory", dir);
  vocab *v = src_side.v;
  uint32_t n = vocab_size(v);
  uint32_t *n2o = xmalloc(xmul(n, sizeof *n2o)), *o2n = xmalloc(xmul(n, sizeof *o2n));
  size_t m = vocab_prune(v, counts, opt.min_count, n2o, o2n);
  size_t plen = strlen(dir) + 32;
  char *path = xmalloc(plen);
  atomic_file af;
  snprintf(path, plen, "%s/vocab.txt", dir);
  FILE *f = atomic_open(&af, path);
  for (size_t k = 0; k < m; k++) {
    size_t pl;
    const char *p = vocab_piece(v, n2o[k], &pl);
    fwrite(p, 1, pl, f);
    fputc('\n', f);
  }
  atomic_commit(&af);
  snprintf(path, plen, "%s/idmap.tsv", dir);
  f = atomic_open(&af, path);
  for (size_t k = 0; k < m; k++) fprintf(f, "%u\t%zu\n", n2o[k], k);
  atomic_commit(&af);
  fprintf(stderr, "%s: %s: kept %zu of %u pieces (%llu texts, %llu tokens)\n", otc_prog(), dir, m, n,
          (unsigned long long)n_texts, (unsigned long long)n_tokens);
  free(path);
  free(n2o);
  free(o2n);
}

/* ---- main ---- */

/* Read up to 8 bytes to tell a record stream (or zstd) from TSV. */
static size_t sniff(int fd, const char *name, char *head) {
  size_t got = 0;
  while (got < 8) {
    ssize_t k = read(fd, head + got, 8 - got);
    if (k < 0) {
      if (errno == EINTR) continue;
      die_errno("%s: read error", name);
    }
    if (k == 0) break;
    got += (size_t)k;
  }
  return got;
}

static int is_stream_magic(const char *h, size_t n) {
  return (n >= 7 && !memcmp(h, REC_MAGIC "\0", 7)) || (n >= 4 && !memcmp(h, "\x28\xB5\x2F\xFD", 4));
}

/* Give the sniffed bytes back: rewind a seekable input, else feed a pipe
 * from a child process (the rest of the input is copied through). */
static int unsniff(int fd, const char *head, size_t n) {
  if (lseek(fd, -(off_t)n, SEEK_CUR) >= 0) return fd;
  int p[2];
  if (pipe(p) != 0) die_errno("pipe");
  pid_t pid = fork();
  if (pid < 0) die_errno("fork");
  if (pid == 0) {
    close(p[0]);
    close(STDOUT_FILENO); /* so that the downstream sees EOF when the parent is done */
    char buf[1 << 16];
    if (write(p[1], head, n) != (ssize_t)n) _exit(1);
    for (;;) {
      ssize_t k = read(fd, buf, sizeof buf);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) _exit(k < 0);
      for (ssize_t o = 0; o < k;) {
        ssize_t w = write(p[1], buf + o, (size_t)(k - o));
        if (w <= 0) _exit(1);
        o += w;
      }
    }
  }
  close(p[1]);
  return p[0];
}

static int open_input(const char *path) {
  if (!path || !strcmp(path, "-")) return 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die_errno("%s", path);
  return fd;
}

int main(int argc, char **argv) {
  otc_init(argv[0]);
  enum { O_VOCAB = 256, O_MODEL, O_SRC_VOCAB, O_TGT_VOCAB, O_SRC_MODEL, O_TGT_MODEL, O_LOWER, O_MAX_LEN, O_MAX_WORD,
         O_OFFSETS, O_LANG_COLUMN, O_LANG, O_LINE_IDS, O_PAIR, O_SRC_LANG, O_TGT_LANG, O_KEEP_TEXT, O_REPLACE,
         O_DECODE, O_PRUNE, O_MIN_COUNT, O_ZSTD, O_PROGRESS, O_STATS, O_HELP, O_VERSION };
  static const struct option longopts[] = {
      {"vocab", required_argument, 0, O_VOCAB},         {"model", required_argument, 0, O_MODEL},
      {"src-vocab", required_argument, 0, O_SRC_VOCAB}, {"tgt-vocab", required_argument, 0, O_TGT_VOCAB},
      {"src-model", required_argument, 0, O_SRC_MODEL}, {"tgt-model", required_argument, 0, O_TGT_MODEL},
      {"lower", no_argument, 0, O_LOWER},               {"max-len", required_argument, 0, O_MAX_LEN},
      {"max-word-len", required_argument, 0, O_MAX_WORD}, {"offsets", no_argument, 0, O_OFFSETS},
      {"lang-column", no_argument, 0, O_LANG_COLUMN},   {"lang", required_argument, 0, O_LANG},
      {"line-ids", no_argument, 0, O_LINE_IDS},         {"pair", no_argument, 0, O_PAIR},
      {"src-lang", required_argument, 0, O_SRC_LANG},   {"tgt-lang", required_argument, 0, O_TGT_LANG},
      {"keep-text", no_argument, 0, O_KEEP_TEXT},       {"replace", no_argument, 0, O_REPLACE},
      {"decode", no_argument, 0, O_DECODE},             {"prune-vocab", required_argument, 0, O_PRUNE},
      {"min-count", required_argument, 0, O_MIN_COUNT}, {"zstd", optional_argument, 0, O_ZSTD},
      {"progress", no_argument, 0, O_PROGRESS},         {"stats", no_argument, 0, O_STATS},
      {"help", no_argument, 0, O_HELP},
      {"version", no_argument, 0, O_VERSION},           {0, 0, 0, 0}};
  const char *vocab_path = NULL, *src_path = NULL, *tgt_path = NULL;
  char *owned[3] = {0};
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case O_VOCAB: vocab_path = optarg; break;
    case O_MODEL: vocab_path = owned[0] = model_vocab_path(optarg); break;
    case O_SRC_VOCAB: src_path = optarg; break;
    case O_TGT_VOCAB: tgt_path = optarg; break;
    case O_SRC_MODEL: src_path = owned[1] = model_vocab_path(optarg); break;
    case O_TGT_MODEL: tgt_path = owned[2] = model_vocab_path(optarg); break;
    case O_LOWER: opt.lower = 1; break;
    case O_MAX_LEN: opt.max_len = (size_t)parse_long("--max-len", optarg, 2, INT32_MAX); break;
    case O_MAX_WORD: opt.max_word_len = (size_t)parse_long("--max-word-len", optarg, 1, INT32_MAX); break;
    case O_OFFSETS: opt.offsets = 1; break;
    case O_LANG_COLUMN: opt.lang_column = 1; break;
    case O_LANG: opt.lang = optarg; break;
    case O_LINE_IDS: opt.line_ids = 1; break;
    case O_PAIR: opt.pair = 1; break;
    case O_SRC_LANG: opt.src_lang = optarg; break;
    case O_TGT_LANG: opt.tgt_lang = optarg; break;
    case O_KEEP_TEXT: opt.keep_text = 1; break;
    case O_REPLACE: opt.replace = 1; break;
    case O_DECODE: opt.decode = 1; break;
    case O_PRUNE: opt.prune_dir = optarg; break;
    case O_MIN_COUNT: opt.min_count = (uint64_t)parse_long("--min-count", optarg, 1, INT64_MAX); break;
    case O_ZSTD: opt.zstd = rec_parse_zstd_level(optarg); break;
    case O_PROGRESS: opt.progress = 1; break;
    case O_STATS: opt.stats = 1; break;
    case O_HELP: fputs(help_text, stdout); otc_close_stdout(); return 0;
    case O_VERSION: print_version();
    default: die_usage(usage_text);
    }
  }
  int nfiles = argc - optind;
  if (!src_path) src_path = vocab_path;
  if (!tgt_path) tgt_path = vocab_path;
  if (!src_path || (opt.pair && !tgt_path)) {
    fprintf(stderr, "%s: no vocabulary: give --vocab FILE or --model DIR\n", otc_prog());
    die_usage(usage_text);
  }
  if (nfiles > (opt.pair && !opt.decode ? 2 : 1))
    die_usage_msg(usage_text, "unexpected operand '%s' (one input FILE, or two with --pair)", argv[argc - 1]);
  if (opt.pair && (opt.lang_column || opt.lang || opt.offsets)) {
    fprintf(stderr, "%s: --pair takes --src-lang/--tgt-lang; --lang, --lang-column and --offsets are for single texts\n", otc_prog());
    die_usage(usage_text);
  }
  if (opt.keep_text && !opt.pair) {
    fprintf(stderr, "%s: --keep-text is for --pair\n", otc_prog());
    die_usage(usage_text);
  }
  if (opt.decode && opt.prune_dir) die_usage(usage_text);

  double t0 = now_seconds();
  side_load(&src_side, src_path);
  int same_vocab = !strcmp(src_path, tgt_path);
  if (opt.pair || opt.decode) {
    if (same_vocab) {
      tgt_side = src_side;
    } else {
      side_load(&tgt_side, tgt_path);
    }
  } else {
    tgt_side = src_side;
    same_vocab = 1;
  }

  if (opt.prune_dir) {
    if (!same_vocab) die("--prune-vocab --pair needs one vocabulary for both sides");
    counts = xcalloc(vocab_size(src_side.v), sizeof *counts);
  }

  if (nfiles == 2) {
    if (!opt.pair) die_usage(usage_text);
    line_reader a, b;
    lr_init(&a, open_input(argv[optind]), argv[optind], NULL, 0);
    lr_init(&b, open_input(argv[optind + 1]), argv[optind + 1], NULL, 0);
    if (!opt.prune_dir) open_output();
    run_two_files(&a, &b);
    free(a.buf);
    free(b.buf);
  } else {
    const char *name = nfiles == 1 ? argv[optind] : "stdin";
    int fd = open_input(nfiles == 1 ? argv[optind] : NULL);
    char head[8];
    /* --decode takes only streams: the reader's own messages say what is wrong */
    size_t nh = opt.decode ? 0 : sniff(fd, name, head);
    if (opt.decode || is_stream_magic(head, nh)) {
      char err[512];
      int rfd = nh ? unsniff(fd, head, nh) : fd;
      rec_reader *rr = rec_open_fd(rfd, name, err, sizeof err);
      if (!rr) die("%s", err);
      if (opt.decode) {
        run_decode(rr, name);
      } else {
        if (!opt.prune_dir) open_output();
        run_records(rr, name);
      }
      rec_close(rr);
    } else {
      line_reader r;
      lr_init(&r, fd, name, head, nh);
      if (!opt.prune_dir) open_output();
      run_tsv(&r);
      free(r.buf);
    }
  }
  if (opt.prune_dir) {
    write_pruned(opt.prune_dir);
  } else if (out) {
    rec_writer_close_or_die(out);
  }
  otc_close_stdout();
  if (opt.stats) {
    double dt = now_seconds() - t0;
    fprintf(stderr, "%s: %llu texts, %llu bytes of text, %llu ids, %.3f s, %.1f MB/s, %.0f ids/s\n", otc_prog(),
            (unsigned long long)n_texts, (unsigned long long)n_bytes, (unsigned long long)n_tokens, dt,
            dt > 0 ? n_bytes / dt / 1e6 : 0.0, dt > 0 ? n_tokens / dt : 0.0);
  }
  wp_tokens_free(&toks);
  wp_tokens_free(&toks2);
  if (!same_vocab) side_free(&tgt_side);
  side_free(&src_side);
  free(counts);
  free(fixbuf[0]);
  free(fixbuf[1]);
  for (int k = 0; k < 3; k++) free(owned[k]);
  return 0;
}
