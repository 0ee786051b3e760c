/* test_spm.c: SentencePiece through lib/text (spm.h, tokenizer.h) against
 * the fixtures of tests/fixtures/spm (gen.sh: spm_train models, ids from
 * spm_encode, cross-checked with python3-sentencepiece): every line of
 * input.tsv for the unigram and the BPE model, raw ids and XLM-R's layout;
 * offsets; damaged and foreign models; pruning that keeps the segmentation;
 * and the text input helpers of textin.h. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "base/json.h"
#include "base/util.h"
#include "text/spm.h"
#include "text/textin.h"
#include "text/tokenizer.h"

#define FX "tests/fixtures/spm/"

static char *slurp(const char *path, size_t *len) {
  char *b = read_file(path, len);
  if (!b) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(1);
  }
  return b;
}

/* Lines of a file as pointers into its buffer (LF replaced by NUL). */
static size_t split_lines(char *buf, size_t len, char ***out) {
  size_t n = 0, cap = 1024;
  char **l = xmalloc(cap * sizeof *l);
  for (char *p = buf; p < buf + len;) {
    char *nl = memchr(p, '\n', (size_t)(buf + len - p));
    if (!nl) break;
    *nl = 0;
    if (n == cap) l = xrealloc(l, (cap *= 2) * sizeof *l);
    l[n++] = p;
    p = nl + 1;
  }
  *out = l;
  return n;
}

/* ids of one expected line ("3 10 736") into ids; returns the count */
static size_t parse_ids(const char *s, int *ids, size_t cap) {
  size_t n = 0;
  char *end;
  while (*s && n < cap) {
    ids[n++] = (int)strtol(s, &end, 10);
    s = end;
  }
  return n;
}

/* Every fixture line: raw ids from spm_encode equal the expected ids; the
 * tokenizer gives <s> + (id + 1, unk -> 3) + </s>. */
static void check_model(const char *name) {
  char path[256], err[512];
  snprintf(path, sizeof path, FX "%s.model", name);
  spm_model *m = spm_load(path, err, sizeof err);
  CHECK(m != NULL, "%s loads: %s", name, m ? "ok" : err);
  if (!m) return;
  tok_tokenizer *t = tok_open(path, TOK_XLMR, NULL, err, sizeof err);
  CHECK(t != NULL, "%s opens as an XLM-R tokenizer: %s", name, t ? "ok" : err);
  size_t ilen, elen;
  char *in = slurp(FX "input.tsv", &ilen), **il, **el;
  snprintf(path, sizeof path, FX "expected.%s.txt", name);
  char *ex = slurp(path, &elen);
  size_t ni = split_lines(in, ilen, &il), ne = split_lines(ex, elen, &el);
  CHECK(ni == ne && ni > 2900, "%s: %zu input lines, %zu expected", name, ni, ne);
  spm_pieces p = {0};
  wp_tokens w = {0};
  int want[4096];
  size_t raw_bad = 0, xlmr_bad = 0, span_bad = 0, unk = 0;
  for (size_t k = 0; k < ni && k < ne; k++) {
    const char *text = strchr(il[k], '\t') + 1;
    size_t tl = strlen(text), nw = parse_ids(el[k], want, 4096);
    int ok = spm_encode(m, text, tl, &p, err, sizeof err) == 0 && p.n == nw;
    for (size_t i = 0; ok && i < nw; i++) ok = p.ids[i] == want[i];
    if (!ok && raw_bad++ < 3) fprintf(stderr, "# %s line %zu differs\n", name, k + 1);
    ok = tok_encode(t, text, tl, 0, 1, &w, err, sizeof err) == 0 && w.n == nw + 2 && w.ids[0] == 0 &&
         w.ids[nw + 1] == 2;
    for (size_t i = 0; ok && i < nw; i++) ok = w.ids[i + 1] == (uint32_t)(want[i] == 0 ? 3 : want[i] + 1);
    xlmr_bad += !ok;
    for (size_t i = 0; i < nw; i++) unk += want[i] == 0;
    /* spans: inside the text, in order */
    uint32_t last = 0;
    for (size_t i = 0; i < p.n; i++) {
      if (p.spans[2 * i] > p.spans[2 * i + 1] || p.spans[2 * i + 1] > tl || p.spans[2 * i] < last) span_bad++;
      last = p.spans[2 * i];
    }
  }
  CHECK(raw_bad == 0, "%s: spm ids equal spm_encode's on all %zu lines (%zu differ)", name, ni, raw_bad);
  CHECK(xlmr_bad == 0, "%s: XLM-R layout <s> id+1 (<unk> 3) </s> on all lines (%zu differ)", name, xlmr_bad);
  CHECK(span_bad == 0 && unk > 0, "%s: byte spans inside the text and ordered (%zu bad); %zu unknowns seen", name,
        span_bad, unk);
  spm_pieces_free(&p);
  wp_tokens_free(&w);
  tok_free(t);
  spm_free(m);
  free(il);
  free(el);
  free(in);
  free(ex);
}

static void check_layout_and_offsets(void) {
  char err[512];
  tok_tokenizer *t = tok_open(FX "unigram.model", TOK_XLMR, NULL, err, sizeof err);
  CHECK(t && tok_size(t) == 8002 && tok_begin_id(t) == 0 && tok_end_id(t) == 2, "vocab_size = pieces + 2 (%u)",
        t ? tok_size(t) : 0);
  CHECK(!strcmp(tok_special_ids(t), "0,2"), "special ids 0,2 (%s)", tok_special_ids(t));
  size_t l;
  CHECK(!strcmp(tok_piece(t, 0, &l), "<s>") && !strcmp(tok_piece(t, 1, &l), "<pad>") &&
            !strcmp(tok_piece(t, 2, &l), "</s>") && !strcmp(tok_piece(t, 3, &l), "<unk>") &&
            !strcmp(tok_piece(t, 8001, &l), "<mask>"),
        "pieces of the fixed ids: <s> <pad> </s> <unk> ... <mask>");
  wp_tokens w = {0};
  const char *text = "Hello world";
  tok_encode(t, text, strlen(text), 0, 1, &w, err, sizeof err);
  int ok = w.n >= 3 && w.offsets[0] == 0 && w.offsets[1] == 0 && w.offsets[2 * (w.n - 1)] == 0;
  /* the spans of the pieces tile the text (leading space of "▁world" included) */
  uint32_t pos = 0;
  for (size_t i = 1; ok && i + 1 < w.n; i++) {
    ok = w.offsets[2 * i] == pos;
    pos = w.offsets[2 * i + 1];
  }
  CHECK(ok && pos == strlen(text), "offsets: <s>/</s> [0,0], pieces tile the text (ends at %u)", pos);
  char *buf = NULL;
  size_t cap = 0;
  tok_decode(t, w.ids, w.n, &buf, &cap, NULL);
  CHECK(strncmp(buf, "<s> \xe2\x96\x81", 7) == 0 && strstr(buf, "</s>"), "decode: '%s'", buf);
  tok_encode(t, text, strlen(text), 3, 0, &w, err, sizeof err);
  CHECK(w.n == 3 && w.ids[0] == 0 && w.ids[2] == 2, "max_len 3: <s> piece </s>");
  tok_encode(t, "", 0, 0, 0, &w, err, sizeof err);
  CHECK(w.n == 2, "empty text: <s> </s>");
  tok_encode(t, "<s>", 3, 0, 0, &w, err, sizeof err);
  int special = 0;
  for (size_t i = 1; i + 1 < w.n; i++) special |= w.ids[i] < 4 && w.ids[i] != 3;
  CHECK(!special, "'<s>' in the text is ordinary text");
  free(buf);
  wp_tokens_free(&w);
  tok_free(t);
}

static void check_bad_models(void) {
  char err[512], tmp[] = "/tmp/otclir-spm-XXXXXX";
  CHECK(mkdtemp(tmp) != NULL, "temporary folder");
  spm_model *m = spm_load(FX "none.model", err, sizeof err);
  CHECK(!m && strstr(err, "none.model"), "missing file: %s", err);
  size_t len;
  char *b = slurp(FX "unigram.model", &len);
  m = spm_from_mem(b, len / 2, "half.model", err, sizeof err);
  CHECK(!m && strstr(err, "half.model") && strstr(err, "not a SentencePiece model"), "truncated: %s", err);
  m = spm_from_mem("hello world\n", 12, "text.model", err, sizeof err);
  CHECK(!m && strstr(err, "text.model"), "a text file: %s", err);
  m = spm_from_mem("", 0, "empty.model", err, sizeof err);
  CHECK(!m && strstr(err, "no pieces"), "empty: %s", err);
  b[100] ^= 0x55; /* inside the first pieces: damaged but often still protobuf */
  m = spm_from_mem(b, len, "flip.model", err, sizeof err);
  CHECK(m == NULL || spm_size(m) > 0, "a flipped byte: refused or parsed consistently (%s)", m ? "parsed" : err);
  spm_free(m);
  free(b);
  tok_tokenizer *t = tok_open(FX "t5layout.model", TOK_XLMR, NULL, err, sizeof err);
  CHECK(!t && strstr(err, "t5layout.model") && strstr(err, "XLM-R's layout"), "T5's special ids refused: %s", err);
  tok_options lo = {.lower = 1};
  t = tok_open(FX "unigram.model", TOK_XLMR, &lo, err, sizeof err);
  CHECK(!t && strstr(err, "lower"), "--lower with SentencePiece refused: %s", err);
  /* a folder: vocab.txt first, then sentencepiece.bpe.model; an empty one is refused */
  char p[512], found[512];
  tok_kind kind;
  snprintf(p, sizeof p, "%s/sentencepiece.bpe.model", tmp);
  FILE *f = fopen(p, "w");
  fclose(f);
  CHECK(tok_find(tmp, found, sizeof found, &kind, err, sizeof err) != 0 && strstr(err, "empty"),
        "an empty sentencepiece.bpe.model: %s", err);
  unlink(p);
  CHECK(tok_find(tmp, found, sizeof found, &kind, err, sizeof err) != 0 && strstr(err, "no vocabulary"),
        "no vocabulary file: %s", err);
  CHECK(symlink(realpath(FX "unigram.model", found), p) == 0, "link a model into the folder");
  t = tok_open_dir(tmp, NULL, err, sizeof err);
  CHECK(t && tok_kind_of(t) == TOK_XLMR, "tok_open_dir finds sentencepiece.bpe.model");
  tok_free(t);
  unlink(p);
  rmdir(tmp);
}

/* Prune on part of the text, then the pruned model must give the same
 * pieces on that part (ids through idmap.tsv). */
static void check_prune(const char *name) {
  char err[512], path[256], dir[] = "/tmp/otclir-prune-XXXXXX";
  CHECK(mkdtemp(dir) != NULL, "temporary folder");
  snprintf(path, sizeof path, FX "%s.model", name);
  tok_tokenizer *t = tok_open(path, TOK_XLMR, NULL, err, sizeof err);
  size_t ilen;
  char *in = slurp(FX "input.tsv", &ilen), **il;
  size_t use = 500, ni = split_lines(in, ilen, &il);
  CHECK(ni > use, "%zu input lines", ni);
  uint64_t *counts = xcalloc(tok_size(t), sizeof *counts);
  wp_tokens w = {0}, w2 = {0};
  tok_count(t, counts);
  for (size_t k = 0; k < use; k++) tok_encode(t, strchr(il[k], '\t') + 1, strlen(strchr(il[k], '\t') + 1), 0, 0, &w, err, sizeof err);
  tok_count(t, NULL);
  size_t kept = 0;
  int rc = tok_prune(t, counts, 1, dir, &kept, err, sizeof err);
  CHECK(rc == 0 && kept > 100 && kept < tok_size(t), "%s: pruned to %zu of %u ids", name, kept, tok_size(t));
  tok_tokenizer *s = tok_open_dir(dir, NULL, err, sizeof err);
  CHECK(s != NULL && tok_size(s) == kept, "%s: the pruned folder opens (%s)", name, s ? "ok" : err);
  /* idmap: old -> new */
  snprintf(path, sizeof path, "%s/idmap.tsv", dir);
  size_t mlen;
  char *map = slurp(path, &mlen), **ml;
  size_t nm = split_lines(map, mlen, &ml);
  uint32_t *o2n = xmalloc(tok_size(t) * sizeof *o2n);
  memset(o2n, 0xff, tok_size(t) * sizeof *o2n);
  int mono = nm == kept;
  for (size_t k = 0; k < nm; k++) {
    unsigned long o = strtoul(ml[k], NULL, 10), n = strtoul(strchr(ml[k], '\t') + 1, NULL, 10);
    mono &= n == k && o < tok_size(t);
    if (o < tok_size(t)) o2n[o] = (uint32_t)n;
  }
  CHECK(mono && o2n[0] == 0 && o2n[1] == 1 && o2n[2] == 2 && o2n[3] == 3 && o2n[tok_size(t) - 1] == kept - 1,
        "%s: idmap.tsv in new id order, specials fixed, <mask> last", name);
  size_t diff = 0;
  for (size_t k = 0; s && k < use; k++) {
    const char *text = strchr(il[k], '\t') + 1;
    tok_encode(t, text, strlen(text), 0, 0, &w, err, sizeof err);
    tok_encode(s, text, strlen(text), 0, 0, &w2, err, sizeof err);
    int same = w.n == w2.n;
    for (size_t i = 0; same && i < w.n; i++) same = o2n[w.ids[i]] == w2.ids[i];
    diff += !same;
  }
  CHECK(s && diff == 0, "%s: the pruned model tokenizes its %zu texts as the full one (%zu differ)", name, use, diff);
  /* never into a model folder */
  snprintf(path, sizeof path, "%s/config.json", dir);
  FILE *f = fopen(path, "w");
  fclose(f);
  rc = tok_prune(t, counts, 1, dir, &kept, err, sizeof err);
  CHECK(rc != 0 && strstr(err, "holds a model"), "%s: a model folder is refused: %s", name, err);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0, "cleanup");
  free(o2n);
  free(ml);
  free(map);
  free(il);
  free(in);
  free(counts);
  wp_tokens_free(&w);
  wp_tokens_free(&w2);
  tok_free(s);
  tok_free(t);
}

static void check_textin(void) {
  char err[300];
  text_item it;
  const char *line = "id7\tdeu\tHallo Welt";
  CHECK(ti_split(TI_LANG_TEXT, 0, NULL, line, strlen(line), 1, &it, err, sizeof err) == 0 && it.idlen == 3 &&
            it.langlen == 3 && it.len[0] == 10 && it.ntext == 1,
        "id<TAB>lang<TAB>text");
  line = "only\ttext\twith\ttabs";
  CHECK(ti_split(TI_TEXT, 0, NULL, line, strlen(line), 1, &it, err, sizeof err) == 0 && it.len[0] == 14,
        "the text is everything after the first TAB");
  line = "src\ttgt";
  CHECK(ti_split(TI_PAIR, 1, NULL, line, strlen(line), 42, &it, err, sizeof err) == 0 && !strcmp(it.id, "42") &&
            it.ntext == 2 && it.len[0] == 3 && it.len[1] == 3,
        "--pair --line-ids: the id is the line number");
  CHECK(ti_split(TI_PAIR, 0, NULL, "a\tb", 3, 1, &it, err, sizeof err) != 0 && strstr(err, "no TAB after the source"),
        "a pair without its target: %s", err);
  CHECK(ti_split(TI_TEXT, 0, NULL, "nothing", 7, 1, &it, err, sizeof err) != 0 && strstr(err, "id<TAB>text"),
        "no TAB: %s", err);
  ti_checker c = {0};
  ti_split(TI_TEXT, 0, NULL, "\tx", 2, 1, &it, err, sizeof err);
  CHECK(ti_check(&c, &it, err, sizeof err) != 0 && !strcmp(err, "empty id"), "empty id: %s", err);
  ti_split(TI_PAIR, 0, NULL, "p\tfo\xffo\tok", 9, 1, &it, err, sizeof err);
  CHECK(ti_check(&c, &it, err, sizeof err) != 0 && strstr(err, "source text at byte 2"), "invalid UTF-8: %s", err);
  c.replace = 1;
  CHECK(ti_check(&c, &it, err, sizeof err) == 0 && it.stored_len[0] == 6 &&
            !memcmp(it.stored[0], "fo\xef\xbf\xbdo", 6),
        "--replace stores U+FFFD");
  ti_split(TI_TEXT, 0, NULL, "a\xff\tx", 4, 1, &it, err, sizeof err);
  CHECK(ti_check(&c, &it, err, sizeof err) != 0 && strstr(err, "in the id"), "ids are never repaired: %s", err);
  ti_checker_free(&c);
  /* lines: CRLF, NUL bytes, a last line without LF, a long line */
  int p[2];
  CHECK(pipe(p) == 0, "pipe");
  char *big = xmalloc(3 << 20);
  memset(big, 'x', 3 << 20);
  if (fork() == 0) {
    close(p[0]);
    (void)!write(p[1], "a\r\nb\0c\n", 7);
    for (size_t o = 0; o < (size_t)(3 << 20);) o += (size_t)write(p[1], big + o, (3 << 20) - o);
    (void)!write(p[1], "\nlast", 5);
    _exit(0);
  }
  close(p[1]);
  line_reader *r = lr_new(p[0], "pipe", NULL, 0);
  const char *l;
  size_t n;
  int ok = lr_next(r, &l, &n, err, sizeof err) == 1 && n == 1 && l[0] == 'a';
  ok = ok && lr_next(r, &l, &n, err, sizeof err) == 1 && n == 3 && l[1] == 0;
  ok = ok && lr_next(r, &l, &n, err, sizeof err) == 1 && n == (size_t)(3 << 20);
  ok = ok && lr_next(r, &l, &n, err, sizeof err) == 1 && n == 4 && !memcmp(l, "last", 4);
  ok = ok && lr_next(r, &l, &n, err, sizeof err) == 0 && lr_lineno(r) == 4;
  CHECK(ok, "lines: CR before LF removed, NUL kept, a 3 MB line, a last line without LF");
  lr_free(r);
  close(p[0]);
  free(big);
}

int main(void) {
  check_model("unigram");
  check_model("bpe");
  check_layout_and_offsets();
  check_bad_models();
  check_prune("unigram");
  check_prune("bpe");
  check_textin();
  return check_done();
}
