/*
 * tokenize: text to token ids: mBERT WordPiece as Google's reference, XLM-R SentencePiece as the library
 *
 * Reads TSV or a `text` record stream and writes `tokens` or `pair`
 * records; --decode turns ids back into pieces; --prune-vocab writes a
 * vocabulary reduced to the pieces a training text uses. The rules are in
 * lib/text (tokenizer.h, wordpiece.h, spm.h, textin.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "cli/cli.h"
#include "stream/rec.h"
#include "text/textin.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

static const char usage[] =
    "usage: tokenize (--vocab FILE | --spm FILE | --model DIR) [--lower] [--max-len N] [--offsets]\n"
    "                [--lang-column | --lang L] [--line-ids] [--replace] [FILE]\n"
    "       tokenize --pair [--src-lang X] [--tgt-lang Y] [--keep-text] [FILE | SRC_FILE TGT_FILE]\n"
    "       tokenize --decode (--vocab FILE | --spm FILE | --model DIR) [FILE]\n"
    "       tokenize --prune-vocab OUTDIR (--vocab FILE | --spm FILE | --model DIR) [--min-count N] [FILE]\n";

static const char manual[] =
    "tokenize: text to token ids: mBERT WordPiece as Google's reference, XLM-R SentencePiece as the library\n"
    "\n"
    "Usage:\n"
    "  tokenize (--vocab FILE | --spm FILE | --model DIR) [options] [FILE] > tokens.rec\n"
    "  tokenize --pair [options] [FILE | SRC_FILE TGT_FILE] > pairs.rec\n"
    "  tokenize --decode (--vocab FILE | --spm FILE | --model DIR) [FILE] > pieces.tsv\n"
    "  tokenize --prune-vocab OUTDIR (--vocab FILE | --spm FILE | --model DIR) [--min-count N] [FILE]\n"
    "\n"
    "Two tokenizers, chosen by the vocabulary:\n"
    "\n"
    "WordPiece (--vocab vocab.txt; BERT, mBERT, ColBERT): exactly Google's BERT\n"
    "tokenization.py (FullTokenizer): drop NUL, U+FFFD and control/format\n"
    "characters (Cc, Cf) except TAB/LF/CR, joining their neighbours; split at\n"
    "whitespace (Zs, TAB, LF, CR, U+2028/9); each CJK ideograph (Google's ranges,\n"
    "supplementary planes included) is a word; with --lower, lowercase (full\n"
    "mapping, Final_Sigma), NFD and drop nonspacing marks (Mn); each punctuation\n"
    "character (P*, ASCII !-/ :-@ [-` {-~) is a word; then WordPiece, greedy\n"
    "longest match first with ## continuation pieces: a word longer than\n"
    "--max-word-len code points, or with a part that matches nothing, becomes one\n"
    "[UNK]. \"[CLS]\" in the text is ordinary text. Each text becomes\n"
    "[CLS] pieces... [SEP]; an empty text gives [CLS] [SEP].\n"
    "\n"
    "SentencePiece (--spm FILE, or a model folder with sentencepiece.bpe.model or\n"
    "tokenizer.model; XLM-R): the pieces are those of Google's sentencepiece\n"
    "library (Debian's libsentencepiece), id for id as `spm_encode\n"
    "--output_format=id`, numbered as XLM-R (fairseq, Hugging Face's\n"
    "XLMRobertaTokenizer): <s> 0, <pad> 1, </s> 2, <unk> 3, the model's piece k\n"
    "(k >= 3) is k + 1, <mask> is the piece count + 1. Each text becomes\n"
    "<s> pieces... </s>. The model's own normalization applies (--lower is\n"
    "refused); invalid UTF-8 under --replace goes to the library as it is. The\n"
    "model must have XLM-R's special pieces (<unk> 0, <s> 1, </s> 2).\n"
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
    "U+FFFD, which WordPiece's cleaning step drops; --keep-text stores it as\n"
    "U+FFFD, and without NUL bytes; ids and languages must be valid UTF-8\n"
    "without NUL).\n"
    "\n"
    "Output on stdout:\n"
    "  `tokens` records: id, lang (when known), ids (u32 [n]), offsets (u32 [n,2],\n"
    "     with --offsets: byte span [start,end) of each token in the input text;\n"
    "     the begin and end tokens get [0,0]; WordPiece: a piece inside one\n"
    "     character's decomposition gets that character's span).\n"
    "  `pair` records (--pair): id, src_lang, tgt_lang, src_ids, tgt_ids, and with\n"
    "     --keep-text src_text, tgt_text.\n"
    "  Stream metadata: producer, vocab (SHA-256 of the vocabulary file),\n"
    "  special_ids (the begin and end ids ascending: \"101,102\" for mBERT, \"0,2\"\n"
    "  for XLM-R), lower (tgt_lower when a pair's sides differ), max_len,\n"
    "  max_word_len, unicode, and for SentencePiece\n"
    "  tokenizer: sentencepiece-xlmr (--pair: also src_vocab, tgt_vocab,\n"
    "  src_special_ids, tgt_special_ids). embed refuses ids whose vocab differs\n"
    "  from its model's vocabulary file.\n"
    "\n"
    "Options:\n"
    "  --vocab FILE        a BERT vocab.txt (line k = id k)\n"
    "  --spm FILE          a SentencePiece model (XLM-R's sentencepiece.bpe.model)\n"
    "  --model DIR         the model folder's vocabulary: DIR/vocab.txt, else\n"
    "                      DIR/sentencepiece.bpe.model, else DIR/tokenizer.model\n"
    "  --src-vocab FILE, --tgt-vocab FILE, --src-spm FILE, --tgt-spm FILE,\n"
    "  --src-model DIR, --tgt-model DIR\n"
    "                      --pair: a vocabulary per side (e.g. a pruned student\n"
    "                      vocabulary for src, the teacher's for tgt); each\n"
    "                      defaults to --vocab/--spm/--model\n"
    "  --lower             uncased WordPiece vocabularies: lowercase, NFD, drop Mn\n"
    "                      (a --model folder whose tokenizer_config.json says\n"
    "                      \"do_lower_case\": true, as bert-base-uncased and ColBERT\n"
    "                      checkpoints, is lower-cased without it)\n"
    "  --max-len N         keep at most N ids per text, begin and end included\n"
    "                      (N >= 2; pairs: each side); default: no limit\n"
    "  --max-word-len N    WordPiece: longest word in code points before it is\n"
    "                      [UNK] (default 200, Google's; Hugging Face uses 100)\n"
    "  --offsets           add the offsets field\n"
    "  --lang-column       TSV has a language column (id<TAB>lang<TAB>text)\n"
    "  --lang L            set lang of every record to L\n"
    "  --line-ids          TSV has no id column; ids are line numbers\n"
    "  --pair              bitext mode, `pair` records\n"
    "  --src-lang X, --tgt-lang Y   languages of the pair sides (default und, eng)\n"
    "  --keep-text         --pair: also store src_text and tgt_text\n"
    "  --replace           invalid UTF-8 becomes U+FFFD instead of an error\n"
    "  --decode            read a tokens (or pair) stream, write `id<TAB>pieces`\n"
    "                      (pair: `id<TAB>src pieces<TAB>tgt pieces`), pieces\n"
    "                      separated by spaces; the vocabulary must be the one the\n"
    "                      stream was made with (checked by its SHA-256)\n"
    "  --prune-vocab OUTDIR  tokenize the input and write a vocabulary of the\n"
    "                      pieces it uses, and OUTDIR/idmap.tsv: `old_id<TAB>new_id`\n"
    "                      per new id, in new id order (row new_id of a pruned\n"
    "                      embedding matrix is row old_id of the full one).\n"
    "                      WordPiece: OUTDIR/vocab.txt: [PAD] [UNK] [CLS] [SEP]\n"
    "                      [MASK] (those present, in this order), then every piece\n"
    "                      the greedy matcher took, in old id order.\n"
    "                      SentencePiece: OUTDIR/sentencepiece.bpe.model (or\n"
    "                      tokenizer.model): the model with only the special\n"
    "                      pieces, the pieces taken, and those the library needs to\n"
    "                      segment as before (unigram: the lowest- and\n"
    "                      highest-scoring piece; BPE: every intermediate merge).\n"
    "                      Tokenizing the same input with OUTDIR gives the same\n"
    "                      pieces (ids mapped by idmap.tsv); other text may get\n"
    "                      shorter pieces or unknowns. --pair counts both sides.\n"
    "                      OUTDIR is created if needed; an OUTDIR holding a model\n"
    "                      (config.json or model.safetensors) is refused: a\n"
    "                      model's vocabulary is never overwritten.\n"
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
    "  tokenize --model xlm-roberta-base --offsets < queries.tsv > q.rec\n"
    "  tokenize --prune-vocab student --vocab mbert/vocab.txt --pair --line-ids train.tsv\n"
    "  tokenize --pair --src-vocab student/vocab.txt --tgt-model mbert --line-ids train.tsv\n"
    "\n"
    "Exit status: 0 on success, 1 on an error (bad input, a vocabulary without\n"
    "[UNK], [CLS] or [SEP], a damaged SentencePiece model, write error), 2 on bad\n"
    "usage.\n";

static const cli_prog prog = {"tokenize", usage, manual};

static struct {
  int lower, offsets, pair, keep_text, decode, progress, stats, line_ids;
  size_t max_len, max_word_len;
  const char *lang, *src_lang, *tgt_lang, *prune_dir;
  uint64_t min_count;
  ti_layout layout;
  int zstd;
} opt = {.src_lang = "und", .tgt_lang = "eng", .min_count = 1, .layout = TI_TEXT};

static tok_tokenizer *side[2]; /* src (or the only one), tgt */
static uint64_t *counts;
static rec_writer *out;
static int f_id, f_lang, f_ids, f_offsets, f_slang, f_tlang, f_sids, f_tids, f_stext, f_ttext;
static wp_tokens toks[2];
static ti_checker checker;
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
  rec_meta_set(ws, "lower", tok_lower(side[0]) ? "1" : "0");
  if (opt.pair && tok_lower(side[0]) != tok_lower(side[1])) rec_meta_set(ws, "tgt_lower", tok_lower(side[1]) ? "1" : "0");
  snprintf(buf, sizeof buf, "%zu", opt.max_len);
  rec_meta_set(ws, "max_len", buf);
  snprintf(buf, sizeof buf, "%zu", opt.max_word_len ? opt.max_word_len : (size_t)WP_DEFAULT_MAX_WORD_CHARS);
  rec_meta_set(ws, "max_word_len", buf);
  rec_meta_set(ws, "unicode", UC_UNICODE_VERSION);
  if (tok_kind_of(side[0]) == TOK_XLMR || tok_kind_of(side[1]) == TOK_XLMR)
    rec_meta_set(ws, "tokenizer", "sentencepiece-xlmr");
  if (!opt.pair || !strcmp(tok_sha256(side[0]), tok_sha256(side[1]))) {
    rec_meta_set(ws, "vocab", tok_sha256(side[0]));
    rec_meta_set(ws, "special_ids", tok_special_ids(side[0]));
  }
  if (opt.pair) {
    rec_meta_set(ws, "src_vocab", tok_sha256(side[0]));
    rec_meta_set(ws, "tgt_vocab", tok_sha256(side[1]));
    rec_meta_set(ws, "src_special_ids", tok_special_ids(side[0]));
    rec_meta_set(ws, "tgt_special_ids", tok_special_ids(side[1]));
  }
  f_id = rec_field_index(ws, "id"), f_lang = rec_field_index(ws, "lang");
  f_ids = rec_field_index(ws, "ids"), f_offsets = rec_field_index(ws, "offsets");
  f_slang = rec_field_index(ws, "src_lang"), f_tlang = rec_field_index(ws, "tgt_lang");
  f_sids = rec_field_index(ws, "src_ids"), f_tids = rec_field_index(ws, "tgt_ids");
  f_stext = rec_field_index(ws, "src_text"), f_ttext = rec_field_index(ws, "tgt_text");
}

/* One text or pair: check, then count (--prune-vocab) or tokenize and write. */
static void emit(const char *src, const char *kind, uint64_t no, text_item *it) {
  char err[600];
  if (ti_check(&checker, it, err, sizeof err) != 0) die("%s: %s %llu: %s", src, kind, (unsigned long long)no, err);
  n_texts++;
  for (int k = 0; k < it->ntext; k++) {
    n_bytes += it->len[k];
    size_t max_len = opt.prune_dir ? 0 : opt.max_len; /* pruning counts every piece */
    if (tok_encode(side[k], it->text[k], it->len[k], max_len, opt.offsets, &toks[k], err, sizeof err) != 0)
      die("%s: %s %llu: %s", src, kind, (unsigned long long)no, err);
    n_tokens += toks[k].n;
  }
  if (opt.prune_dir) return;
  rec_put_str(out, f_id, it->id, it->idlen);
  uint32_t shape[2] = {(uint32_t)toks[0].n, 2}, shape2 = (uint32_t)toks[1].n;
  if (opt.pair) {
    rec_put_str(out, f_slang, opt.src_lang, strlen(opt.src_lang));
    rec_put_str(out, f_tlang, opt.tgt_lang, strlen(opt.tgt_lang));
    rec_put(out, f_sids, toks[0].ids, shape);
    rec_put(out, f_tids, toks[1].ids, &shape2);
    if (opt.keep_text) rec_put_str(out, f_stext, it->stored[0], it->stored_len[0]);
    if (opt.keep_text) rec_put_str(out, f_ttext, it->stored[1], it->stored_len[1]);
  } else {
    if (it->lang) rec_put_str(out, f_lang, it->lang, it->langlen);
    rec_put(out, f_ids, toks[0].ids, shape);
    if (opt.offsets) rec_put(out, f_offsets, toks[0].offsets, shape);
  }
  rec_write_or_die(out);
}

static int next_line(line_reader *r, const char **line, size_t *len) {
  char err[600];
  int rc = lr_next(r, line, len, err, sizeof err);
  if (rc < 0) die("%s", err);
  return rc;
}

static void run_tsv(line_reader *r) {
  otc_progress pg;
  progress_init(&pg, "lines", opt.progress);
  const char *line;
  size_t len;
  text_item it;
  char err[300];
  while (next_line(r, &line, &len)) {
    uint64_t no = lr_lineno(r);
    if (ti_split(opt.layout, opt.line_ids, opt.lang, line, len, no, &it, err, sizeof err) != 0)
      die("%s: line %llu: %s", lr_name(r), (unsigned long long)no, err);
    emit(lr_name(r), "line", no, &it);
    if ((no & 1023) == 0) progress_update(&pg, no, 0);
  }
  progress_end(&pg, lr_lineno(r));
}

/* --pair SRC_FILE TGT_FILE: line k of each forms pair k (id k). */
static void run_two_files(line_reader *a, line_reader *b) {
  const char *s, *t;
  size_t ls, lt;
  int more_a, more_b;
  while ((more_a = next_line(a, &s, &ls)) & (more_b = next_line(b, &t, &lt))) {
    text_item it = {.ntext = 2, .text = {s, t}, .len = {ls, lt}, .id = it.idbuf};
    it.idlen = (size_t)snprintf(it.idbuf, sizeof it.idbuf, "%llu", (unsigned long long)lr_lineno(a));
    emit(lr_name(a), "line", lr_lineno(a), &it);
  }
  if (more_a || more_b)
    die("%s has more lines than %s (%llu lines read)", lr_name(more_a ? a : b), lr_name(more_a ? b : a),
        (unsigned long long)lr_lineno(more_a ? b : a));
}

static void run_records(rec_reader *rr, const char *name) {
  const rec_schema *s = rec_reader_schema(rr);
  if (opt.pair) die("%s: --pair reads TSV, not a '%s' record stream", name, s->record);
  char err[512];
  if (rec_schema_expect(s, (const char *const[]){"text", NULL}, err, sizeof err) != 0) die("%s: %s", name, err);
  int fi = rec_field_index(s, "id"), fl = rec_field_index(s, "lang"), ft = rec_field_index(s, "text");
  rec_record rec;
  while (rec_read_or_die(rr, &rec)) {
    text_item it = {.ntext = 1, .lang = opt.lang, .langlen = opt.lang ? strlen(opt.lang) : 0};
    it.id = rec_str(&rec, fi, &it.idlen);
    it.text[0] = rec_str(&rec, ft, &it.len[0]);
    if (!opt.lang && rec_has(&rec, fl)) it.lang = rec_str(&rec, fl, &it.langlen);
    emit(name, "record", rec.index + 1, &it);
  }
}

static void run_decode(rec_reader *rr, const char *name) {
  const rec_schema *s = rec_reader_schema(rr);
  char err[512];
  if (rec_schema_expect(s, (const char *const[]){"tokens", "pair", NULL}, err, sizeof err) != 0)
    die("%s: %s", name, err);
  int pair = !strcmp(s->record, "pair");
  const char *keys[2] = {pair ? "src_vocab" : "vocab", "tgt_vocab"};
  for (int k = 0; k < 1 + pair; k++) {
    const char *want = rec_meta_get(s, keys[k]);
    if (want && strcmp(want, tok_sha256(side[k])) != 0)
      die("%s: the stream was made with vocabulary sha256 %s, the %svocabulary given (%s) is %s", name, want,
          pair ? (k ? "tgt " : "src ") : "", tok_path(side[k]), tok_sha256(side[k]));
  }
  int fi = rec_field_index(s, "id"), fa = rec_field_index(s, pair ? "src_ids" : "ids");
  int fb = pair ? rec_field_index(s, "tgt_ids") : -1;
  rec_record rec;
  char *buf = NULL;
  size_t cap = 0;
  while (rec_read_or_die(rr, &rec)) {
    size_t idlen, n, bad = 0;
    const char *id = rec_str(&rec, fi, &idlen);
    xfwrite_stdout(id, idlen);
    for (int k = 0; k < 1 + pair; k++) {
      const uint32_t *ids = rec_u32(&rec, k ? fb : fa, &n);
      size_t len = tok_decode(side[k], ids, n, &buf, &cap, &bad);
      xfwrite_stdout("\t", 1);
      xfwrite_stdout(buf, len);
    }
    if (bad)
      die("%s: record %llu: %zu ids outside the vocabulary (%u ids)", name, (unsigned long long)rec.index + 1, bad,
          tok_size(side[0]));
    xfwrite_stdout("\n", 1);
  }
  free(buf);
}

/* ---- input: a record stream or TSV, told apart by the first bytes ---- */

static size_t sniff(int fd, const char *name, char *head) {
  size_t got = 0;
  while (got < 8) {
    ssize_t k = read(fd, head + got, 8 - got);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) die_errno("%s: read error", name);
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

static void run_input(const char *path) {
  const char *name = path ? path : "stdin";
  int fd = open_input(path);
  char head[8];
  size_t nh = opt.decode ? 0 : sniff(fd, name, head); /* --decode: the reader's messages say what is wrong */
  if (opt.decode || is_stream_magic(head, nh)) {
    char err[512];
    rec_reader *rr = rec_open_fd(nh ? unsniff(fd, head, nh) : fd, name, err, sizeof err);
    if (!rr) die("%s", err);
    if (!opt.decode && !opt.prune_dir) open_output();
    opt.decode ? run_decode(rr, name) : run_records(rr, name);
    rec_close(rr);
  } else {
    line_reader *r = lr_new(fd, name, head, nh);
    if (!opt.prune_dir) open_output();
    run_tsv(r);
    lr_free(r);
  }
}

/* ---- main ---- */

typedef struct {
  const char *path;
  tok_kind kind;
  int dir;
} vocab_arg;

static tok_tokenizer *open_side(const vocab_arg *a) {
  char err[700];
  tok_options o = {.lower = opt.lower, .max_word_chars = opt.max_word_len};
  tok_tokenizer *t = a->dir ? tok_open_dir(a->path, &o, err, sizeof err) : tok_open(a->path, a->kind, &o, err, sizeof err);
  if (!t) die("%s", err);
  return t;
}

int main(int argc, char **argv) {
  cli_init(&prog, argv[0]);
  enum { O_VOCAB = 256, O_SPM = O_VOCAB + 3, O_MODEL = O_SPM + 3, O_LOWER = O_MODEL + 3, O_MAX_LEN, O_MAX_WORD,
         O_OFFSETS, O_LANG_COLUMN, O_LANG, O_LINE_IDS, O_PAIR, O_SRC_LANG, O_TGT_LANG, O_KEEP_TEXT, O_REPLACE,
         O_DECODE, O_PRUNE, O_MIN_COUNT, O_ZSTD, O_PROGRESS, O_STATS };
  static const struct option longopts[] = {
      {"vocab", required_argument, 0, O_VOCAB},         {"src-vocab", required_argument, 0, O_VOCAB + 1},
      {"tgt-vocab", required_argument, 0, O_VOCAB + 2}, {"spm", required_argument, 0, O_SPM},
      {"src-spm", required_argument, 0, O_SPM + 1},     {"tgt-spm", required_argument, 0, O_SPM + 2},
      {"model", required_argument, 0, O_MODEL},         {"src-model", required_argument, 0, O_MODEL + 1},
      {"tgt-model", required_argument, 0, O_MODEL + 2}, {"lower", no_argument, 0, O_LOWER},
      {"max-len", required_argument, 0, O_MAX_LEN},     {"max-word-len", required_argument, 0, O_MAX_WORD},
      {"offsets", no_argument, 0, O_OFFSETS},           {"lang-column", no_argument, 0, O_LANG_COLUMN},
      {"lang", required_argument, 0, O_LANG},           {"line-ids", no_argument, 0, O_LINE_IDS},
      {"pair", no_argument, 0, O_PAIR},                 {"src-lang", required_argument, 0, O_SRC_LANG},
      {"tgt-lang", required_argument, 0, O_TGT_LANG},   {"keep-text", no_argument, 0, O_KEEP_TEXT},
      {"replace", no_argument, 0, O_REPLACE},           {"decode", no_argument, 0, O_DECODE},
      {"prune-vocab", required_argument, 0, O_PRUNE},   {"min-count", required_argument, 0, O_MIN_COUNT},
      {"zstd", optional_argument, 0, O_ZSTD},           {"progress", no_argument, 0, O_PROGRESS},
      {"stats", no_argument, 0, O_STATS},               CLI_OPTIONS_COMMON, {0, 0, 0, 0}};
  vocab_arg va[3] = {{0}}; /* both sides, src, tgt */
  int c, lang_column = 0;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case O_VOCAB: case O_VOCAB + 1: case O_VOCAB + 2: va[c - O_VOCAB] = (vocab_arg){optarg, TOK_WORDPIECE, 0}; break;
    case O_SPM: case O_SPM + 1: case O_SPM + 2: va[c - O_SPM] = (vocab_arg){optarg, TOK_XLMR, 0}; break;
    case O_MODEL: case O_MODEL + 1: case O_MODEL + 2: va[c - O_MODEL] = (vocab_arg){optarg, 0, 1}; break;
    case O_LOWER: opt.lower = 1; break;
    case O_MAX_LEN: opt.max_len = (size_t)parse_long("--max-len", optarg, 2, INT32_MAX); break;
    case O_MAX_WORD: opt.max_word_len = (size_t)parse_long("--max-word-len", optarg, 1, INT32_MAX); break;
    case O_OFFSETS: opt.offsets = 1; break;
    case O_LANG_COLUMN: lang_column = 1; break;
    case O_LANG: opt.lang = optarg; break;
    case O_LINE_IDS: opt.line_ids = 1; break;
    case O_PAIR: opt.pair = 1; break;
    case O_SRC_LANG: opt.src_lang = optarg; break;
    case O_TGT_LANG: opt.tgt_lang = optarg; break;
    case O_KEEP_TEXT: opt.keep_text = 1; break;
    case O_REPLACE: checker.replace = 1; break;
    case O_DECODE: opt.decode = 1; break;
    case O_PRUNE: opt.prune_dir = optarg; break;
    case O_MIN_COUNT: opt.min_count = (uint64_t)parse_long("--min-count", optarg, 1, INT64_MAX); break;
    case O_ZSTD: opt.zstd = rec_parse_zstd_level(optarg); break;
    case O_PROGRESS: opt.progress = 1; break;
    case O_STATS: opt.stats = 1; break;
    CLI_CASES_COMMON;
    }
  }
  int nfiles = argc - optind;
  for (int k = 1; k < 3; k++)
    if (!va[k].path) va[k] = va[0];
  if (!va[1].path) cli_usage_error("no vocabulary: give --vocab FILE, --spm FILE or --model DIR");
  if (!va[2].path && opt.pair) cli_usage_error("no target vocabulary: give --tgt-vocab, --tgt-spm or --tgt-model");
  if (!va[2].path) va[2] = va[1];
  if (nfiles > (opt.pair && !opt.decode ? 2 : 1))
    cli_usage_error("unexpected operand '%s' (one input FILE, or two with --pair)", argv[argc - 1]);
  if (nfiles == 2 && !opt.pair) cli_usage_error("two input files need --pair");
  if (opt.pair && (lang_column || opt.lang || opt.offsets))
    cli_usage_error("--pair takes --src-lang/--tgt-lang; --lang, --lang-column and --offsets are for single texts");
  if (opt.keep_text && !opt.pair) cli_usage_error("--keep-text is for --pair");
  if (opt.decode && opt.prune_dir) cli_usage_error("--decode and --prune-vocab exclude each other");
  opt.layout = opt.pair ? TI_PAIR : lang_column ? TI_LANG_TEXT : TI_TEXT;

  double t0 = now_seconds();
  int two = (opt.pair || opt.decode) && strcmp(va[1].path, va[2].path) != 0;
  side[0] = open_side(&va[1]);
  side[1] = two ? open_side(&va[2]) : side[0];
  if (opt.prune_dir) {
    if (two) die("--prune-vocab --pair needs one vocabulary for both sides");
    counts = xcalloc(tok_size(side[0]), sizeof *counts);
    tok_count(side[0], counts);
  }
  if (nfiles == 2) {
    line_reader *a = lr_new(open_input(argv[optind]), argv[optind], NULL, 0);
    line_reader *b = lr_new(open_input(argv[optind + 1]), argv[optind + 1], NULL, 0);
    if (!opt.prune_dir) open_output();
    run_two_files(a, b);
    lr_free(a);
    lr_free(b);
  } else {
    run_input(nfiles == 1 ? argv[optind] : NULL);
  }
  if (opt.prune_dir) {
    char err[700];
    size_t kept;
    if (tok_prune(side[0], counts, opt.min_count, opt.prune_dir, &kept, err, sizeof err) != 0) die("%s", err);
    fprintf(stderr, "%s: %s: kept %zu of %u pieces (%llu texts, %llu tokens)\n", otc_prog(), opt.prune_dir, kept,
            tok_size(side[0]), (unsigned long long)n_texts, (unsigned long long)n_tokens);
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
  wp_tokens_free(&toks[0]);
  wp_tokens_free(&toks[1]);
  if (two) tok_free(side[1]);
  tok_free(side[0]);
  ti_checker_free(&checker);
  free(counts);
  return 0;
}
