/* test_tokenize.c: the tokenizer against the reference fixtures (Google's
 * tokenization.py ids for 1100 lines, cased with the mBERT vocabulary and
 * lowercased with bert-base-uncased), and each rule of the basic tokenizer
 * and WordPiece on small inputs. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "base/json.h"
#include "text/unicode.h"
#include "base/util.h"
#include "cli/cli.h"
#include "base/sha256.h"
#include "text/vocab.h"
#include "text/wordpiece.h"

static char *slurp(const char *path, size_t *len) {
  char *b = read_file(path, len);
  if (!b) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(1);
  }
  return b;
}

/* Compare every line of input.tsv with the expected ids; returns mismatches. */
static int check_fixture(const char *vocab_rel, const char *expected_rel, int lower, size_t *lines) {
  char err[512];
  vocab *v = vocab_load(check_shared(vocab_rel), err, sizeof err);
  CHECK(v != NULL, "load %s: %s", vocab_rel, v ? "ok" : err);
  if (!v) return -1;
  wp_options o = {.lower = lower};
  wp_tokenizer *t = wp_new(v, &o, err, sizeof err);
  size_t ilen, elen;
  char *in = slurp(check_shared("fixtures/tokenize/input.tsv"), &ilen);
  char *ex = slurp(check_shared(expected_rel), &elen);
  wp_tokens out = {0};
  int bad = 0;
  size_t n = 0;
  char *ip = in, *ep = ex;
  while (ip < in + ilen && ep < ex + elen) {
    char *inl = memchr(ip, '\n', (size_t)(in + ilen - ip));
    char *enl = memchr(ep, '\n', (size_t)(ex + elen - ep));
    if (!inl || !enl) break;
    char *tab = memchr(ip, '\t', (size_t)(inl - ip));
    json_doc *d = json_parse(ep, (size_t)(enl - ep), err, sizeof err);
    if (!tab || !d) {
      bad++;
      break;
    }
    const json_value *ids = json_get(json_root(d), "ids");
    const json_value *id = json_get(json_root(d), "id");
    wp_encode(t, tab + 1, (size_t)(inl - tab - 1), 0, 1, &out);
    int same = ids && ids->n == out.n && id && id->len == (size_t)(tab - ip) && !memcmp(id->text, ip, id->len);
    for (size_t k = 0; same && k < out.n; k++) same = ids->items[k]->num == out.ids[k];
    if (!same) {
      if (bad < 5) {
        fprintf(stderr, "# mismatch line %zu (%.*s): got", n + 1, (int)(tab - ip), ip);
        for (size_t k = 0; k < out.n; k++) fprintf(stderr, " %u", out.ids[k]);
        fprintf(stderr, "\n");
      }
      bad++;
    }
    json_free(d);
    n++;
    ip = inl + 1;
    ep = enl + 1;
  }
  *lines = n;
  wp_tokens_free(&out);
  wp_free(t);
  vocab_free(v);
  free(in);
  free(ex);
  return bad;
}

/* Tokenize and render the pieces joined by spaces (without [CLS]/[SEP]). */
static const vocab *cur_vocab;
static wp_tokenizer *cur_tok;
static const char *pieces(const char *text, size_t len) {
  static char *buf;
  static size_t cap;
  wp_tokens out = {0};
  wp_tokenize(cur_tok, text, len, 0, 0, &out);
  wp_decode(cur_vocab, out.ids, out.n, &buf, &cap, NULL);
  wp_tokens_free(&out);
  return buf;
}
#define PIECES(lit) pieces(lit, sizeof(lit) - 1)
#define EXPECT(lit, want)                                                      \
  do {                                                                         \
    const char *got_ = PIECES(lit);                                            \
    CHECK(strcmp(got_, want) == 0, "%s: %s -> [%s]", #lit, want, got_);        \
  } while (0)

static void use(vocab *v, int lower, size_t maxw) {
  char err[256];
  wp_free(cur_tok);
  cur_vocab = v;
  wp_options o = {.lower = lower, .max_word_chars = maxw};
  cur_tok = wp_new(v, &o, err, sizeof err);
  if (!cur_tok) {
    fprintf(stderr, "%s\n", err);
    exit(1);
  }
}

static vocab *mem_vocab(const char *text) {
  char err[256];
  vocab *v = vocab_from_mem(text, strlen(text), "test", err, sizeof err);
  if (!v) {
    fprintf(stderr, "%s\n", err);
    exit(1);
  }
  return v;
}

static void test_rules_small_vocab(void) {
  /* A made-up vocabulary makes each rule visible in the pieces. */
  vocab *v = mem_vocab(
      "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
      "a\nb\nab\n##b\n##c\nun\n##aff\n##able\naff\n[\n]\nCL\n##S\n#\n,\n.\n$\n+\n<\n=\n>\n^\n|\n~\n`\n"
      "\xe4\xb8\x80\n"              /* 一 U+4E00 */
      "\xf0\xa0\x80\x80\n"          /* U+20000 */
      "\xe3\x81\x82\n"              /* あ U+3042 (kana: not CJK) */
      "\xe3\x81\x82\xe3\x81\x82\n"  /* ああ */
      "5\xe2\x82\xac\n"             /* 5€ */
      "\xc2\xbf\n"                  /* ¿ (Po) */
      "\xe2\x80\x94\n"              /* — (Pd) */
      "\xc2\xab\n\xc2\xbb\n"        /* « » (Pi Pf) */
      "x\xe2\x80\x8by\n"            /* x ZWSP y (never matched: ZWSP is dropped) */
      "xy\n"
      "  spaced  \n");              /* stripped when loading */
  use(v, 0, 0);
  EXPECT("", "");
  EXPECT("   \t\r\n ", "");
  EXPECT("ab", "ab");
  EXPECT("abc", "ab ##c");
  EXPECT("unaffable", "un ##aff ##able");
  EXPECT("abd", "[UNK]");           /* a part matches nothing: one [UNK] for the word */
  EXPECT("ab abd ab", "ab [UNK] ab");
  EXPECT("[CLS]", "[ CL ##S ]");    /* not special */
  EXPECT("##", "# #");
  EXPECT("a,b.", "a , b .");
  EXPECT("$+<=>^|~`", "$ + < = > ^ | ~ `");  /* ASCII symbols Google counts as punctuation */
  EXPECT("\xc2\xbf" "a\xe2\x80\x94" "b", "\xc2\xbf a \xe2\x80\x94 b");
  EXPECT("\xc2\xab" "ab\xc2\xbb", "\xc2\xab ab \xc2\xbb");
  EXPECT("5\xe2\x82\xac", "5\xe2\x82\xac");  /* Sc is not split */
  /* every P* category splits (pieces missing from this vocab show as [UNK]) */
  EXPECT("a\xe3\x80\x8c" "b\xe3\x80\x8d" "a", "a [UNK] b [UNK] a");  /* Ps Pe: 「 」 */
  EXPECT("a\xe2\x80\xbf" "b", "a [UNK] b");                  /* Pc: U+203F */
  EXPECT("a_b", "a [UNK] b");                                 /* Pc, ASCII */
  EXPECT("a\xe3\x80\x81" "b", "a [UNK] b");                  /* Po: ideographic comma */
  EXPECT("a\xc2\xa9" "b", "[UNK]");                           /* So is not split */
  EXPECT("a\xf0\x9f\x98\x80" "b", "[UNK]");                   /* emoji (So) is not split */
  EXPECT("a\xe3\x80\x80" "b\xe2\xba\x80" "a", "a [UNK]");    /* CJK radical U+2E80 is not CJK */
  EXPECT("a\xe4\xb8\x80" "b", "a \xe4\xb8\x80 b");  /* CJK on its own */
  EXPECT("a\xf0\xa0\x80\x80" "b", "a \xf0\xa0\x80\x80 b");  /* supplementary-plane CJK */
  EXPECT("\xe3\x81\x82\xe3\x81\x82", "\xe3\x81\x82\xe3\x81\x82");  /* kana is not split */
  /* cleaning: controls and format characters join their neighbours */
  EXPECT("a\x0b" "b", "ab");
  EXPECT("a\x01" "b", "ab");
  EXPECT("a\xc2\x85" "b", "ab");            /* U+0085 NEL is Cc */
  EXPECT("a\xc2\xad" "b", "ab");            /* soft hyphen (Cf) */
  EXPECT("x\xe2\x80\x8by", "xy");           /* ZWSP (Cf) */
  EXPECT("a\xef\xbf\xbd" "b", "ab");        /* U+FFFD */
  EXPECT("a\0b", "ab");                     /* NUL */
  EXPECT("a\xef\xbb\xbf" "b", "ab");        /* BOM */
  EXPECT("a\xff" "b", "ab");                /* invalid UTF-8 counts as U+FFFD */
  /* whitespace separates */
  EXPECT("a\xc2\xa0" "b", "a b");           /* NBSP (Zs) */
  EXPECT("a\xe3\x80\x80" "b", "a b");       /* U+3000 */
  EXPECT("a\xe1\x9a\x80" "b", "a b");       /* U+1680 */
  EXPECT("a\xe2\x80\xa8" "b\xe2\x80\xa9" "a", "a b a");  /* U+2028/2029: Python's split */
  EXPECT("a\tb\rab\na", "a b ab a");
  EXPECT("spaced", "spaced");
  CHECK(vocab_id(v, "spaced", 6) == 41, "vocab lines are stripped of surrounding whitespace");
  vocab_free(v);
}

/* Build a word of n copies of a UTF-8 character. */
static size_t repeat(char *buf, const char *ch, size_t n) {
  size_t k = strlen(ch), len = 0;
  for (size_t i = 0; i < n; i++, len += k) memcpy(buf + len, ch, k);
  return len;
}

static void test_word_length_limit(void) {
  vocab *v = mem_vocab("[UNK]\n[CLS]\n[SEP]\na\n##a\n\xc3\xa9\n##\xc3\xa9\n");
  static char w[4096];
  wp_tokens out = {0};
  size_t len;
  use(v, 0, 0);
  len = repeat(w, "a", 200);
  wp_tokenize(cur_tok, w, len, 0, 0, &out);
  CHECK(out.n == 200 && out.ids[0] == 3 && out.ids[199] == 4, "200 code points: 200 pieces (got %zu)", out.n);
  out.n = 0;
  len = repeat(w, "a", 201);
  wp_tokenize(cur_tok, w, len, 0, 0, &out);
  CHECK(out.n == 1 && out.ids[0] == 0, "201 code points: one [UNK]");
  out.n = 0;
  len = repeat(w, "\xc3\xa9", 200); /* 400 bytes, 200 code points */
  wp_tokenize(cur_tok, w, len, 0, 0, &out);
  CHECK(out.n == 200, "the limit counts code points, not bytes (got %zu)", out.n);
  out.n = 0;
  len = repeat(w, "a", 100);
  len += repeat(w + len, "\xe2\x80\x8b", 5); /* dropped ZWSPs do not count */
  len += repeat(w + len, "a", 100);
  wp_tokenize(cur_tok, w, len, 0, 0, &out);
  CHECK(out.n == 200, "the limit counts after cleaning (got %zu)", out.n);
  use(v, 0, 100);
  out.n = 0;
  len = repeat(w, "a", 101);
  wp_tokenize(cur_tok, w, len, 0, 0, &out);
  CHECK(out.n == 1 && out.ids[0] == 0, "max_word_chars 100 (Hugging Face's): 101 -> [UNK]");
  out.n = 0;
  len = repeat(w, "a", 100);
  wp_tokenize(cur_tok, w, len, 0, 0, &out);
  CHECK(out.n == 100, "max_word_chars 100: 100 -> 100 pieces");
  wp_tokens_free(&out);
  vocab_free(v);
}

static void test_lower(void) {
  vocab *v = mem_vocab("[UNK]\n[CLS]\n[SEP]\n.\n'\n"
                       "ix\ni\nx\n"
                       "\xce\xb1\n##\xce\xb1\n##\xcf\x82\n##\xcf\x83\n\xcf\x82\n\xcf\x83\n\xce\xb2\n##\xce\xb2\n" /* α ##ς ##σ ς σ β ##β */
                       "\xe1\x84\x92\n##\xe1\x85\xa1\n##\xe1\x86\xab\n" /* ᄒ ##ᅡ ##ᆫ (한 decomposed) */
                       "\xe3\x82\xab\n"          /* カ */
                       "\xe8\xb1\x88\n"          /* U+8C48, the unified form of U+F900 */
                       "a\nab\n##c\ncafe\n"
                       "\xe0\xa4\x95\n"          /* क */
                       "\xe0\xa4\x95\xe0\xa4\xbe\n" /* का (U+093E is Mc: kept) */);
  use(v, 1, 0);
  EXPECT("AB", "ab");
  EXPECT("ABC", "ab ##c");
  EXPECT("\xc4\xb0x", "ix");                   /* U+0130 -> i + U+0307 (SpecialCasing), Mn dropped */
  EXPECT("\xce\x91\xce\xa3", "\xce\xb1 ##\xcf\x82");      /* ΑΣ -> ας: final sigma */
  EXPECT("\xce\xa3\xce\x91\xce\xa3", "\xcf\x83 ##\xce\xb1 ##\xcf\x82");  /* ΣΑΣ -> σας */
  EXPECT("\xce\x91.\xce\xa3", "\xce\xb1 . \xcf\x82");     /* Α.Σ -> α.ς: '.' is case-ignorable, the context is the whole token */
  EXPECT("\xce\x91\xce\xa3.\xce\x92", "\xce\xb1 ##\xcf\x83 . \xce\xb2"); /* ΑΣ.Β -> ασ.β */
  EXPECT("\xce\x91\xce\xa3 \xce\x92", "\xce\xb1 ##\xcf\x82 \xce\xb2");   /* a space ends the context */
  EXPECT("\xce\xa3", "\xcf\x83");                          /* alone: not final */
  EXPECT("\xed\x95\x9c", "\xe1\x84\x92 ##\xe1\x85\xa1 ##\xe1\x86\xab"); /* Hangul syllable -> jamo */
  EXPECT("\xe3\x82\xac", "\xe3\x82\xab");      /* ガ -> カ + U+3099 (Mn, dropped) */
  EXPECT("\xef\xa4\x80", "\xe8\xb1\x88");      /* CJK compatibility ideograph -> unified */
  EXPECT("\xe2\x84\xab", "a");                 /* U+212B ANGSTROM SIGN -> A + ring -> a */
  EXPECT("CAF\xc3\x89", "cafe");               /* precomposed É */
  EXPECT("CAFE\xcc\x81", "cafe");              /* decomposed */
  EXPECT("\xe0\xa4\x95\xe0\xa5\x8d", "\xe0\xa4\x95"); /* virama (Mn) dropped */
  EXPECT("\xe0\xa4\x95\xe0\xa4\xbe", "\xe0\xa4\x95\xe0\xa4\xbe"); /* Mc kept */
  EXPECT("A\xef\xb8\x8f" "B", "ab");           /* VS16 (Mn) dropped, neighbours join */
  /* cased mode does none of this */
  use(v, 0, 0);
  EXPECT("CAF\xc3\x89", "[UNK]");
  EXPECT("\xc4\xb0x", "[UNK]");
  vocab_free(v);
}

static void test_encode_offsets(void) {
  vocab *v = mem_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\n,\nab\n##c\nc\nd\nix\n");
  wp_tokens out = {0};
  use(v, 0, 0);
  wp_encode(cur_tok, "", 0, 0, 1, &out);
  CHECK(out.n == 2 && out.ids[0] == 2 && out.ids[1] == 3, "empty text: [CLS] [SEP]");
  const char *t = "abc, d\x0b" "c";
  wp_encode(cur_tok, t, strlen(t), 0, 1, &out);
  /* [CLS] ab ##c , dc? -> "dc" is not a piece: d ##c */
  static const uint32_t want_ids[] = {2, 5, 6, 4, 8, 6, 3};
  static const uint32_t want_off[] = {0, 0, 0, 2, 2, 3, 3, 4, 5, 6, 7, 8, 0, 0};
  int ok = out.n == 7;
  for (size_t k = 0; ok && k < 7; k++)
    ok = out.ids[k] == want_ids[k] && out.offsets[2 * k] == want_off[2 * k] && out.offsets[2 * k + 1] == want_off[2 * k + 1];
  CHECK(ok, "ids and byte offsets of \"abc, d\\vc\" (a dropped char belongs to no piece)");
  wp_encode(cur_tok, t, strlen(t), 4, 1, &out);
  CHECK(out.n == 4 && out.ids[0] == 2 && out.ids[1] == 5 && out.ids[2] == 6 && out.ids[3] == 3,
        "max_len 4: [CLS] ab ##c [SEP]");
  wp_encode(cur_tok, t, strlen(t), 2, 0, &out);
  CHECK(out.n == 2 && out.ids[1] == 3, "max_len 2: [CLS] [SEP]");
  wp_encode(cur_tok, t, strlen(t), 100, 0, &out);
  CHECK(out.n == 7 && !out.cut, "max_len above the length changes nothing");
  /* cut: pieces were dropped; a text of exactly max_len ids is not cut, also
   * when the limit falls inside a word or the next word is the one dropped */
  int cut[9];
  for (size_t m = 2; m <= 8; m++) {
    wp_encode(cur_tok, t, strlen(t), m, 0, &out);
    cut[m] = out.cut;
  }
  wp_encode(cur_tok, "abc", 3, 4, 0, &out);
  int exact = !out.cut && out.n == 4;
  wp_encode(cur_tok, "abc", 3, 3, 0, &out);
  CHECK(cut[2] && cut[3] && cut[4] && cut[5] && cut[6] && !cut[7] && !cut[8] && exact && out.cut && out.n == 3,
        "cut is set exactly when max_len drops pieces (7 ids: cut at 2..6, not at 7 or 8; \"abc\" at 4: not cut, at 3: cut)");
  wp_encode(cur_tok, t, strlen(t), 0, 0, &out);
  CHECK(!out.cut, "max_len 0: never cut");
  use(v, 1, 0);
  wp_encode(cur_tok, "  \xc4\xb0X", 5, 0, 1, &out);
  CHECK(out.n == 3 && out.ids[1] == 9 && out.offsets[2] == 2 && out.offsets[3] == 5,
        "lower: offsets are spans of the original bytes (\"  \\u0130X\" -> ix [2,5))");
  char *buf = NULL;
  size_t cap = 0, bad = 0;
  uint32_t ids[] = {2, 5, 6, 99, 3};
  size_t n = wp_decode(v, ids, 5, &buf, &cap, &bad);
  CHECK(n == strlen(buf) && strcmp(buf, "[CLS] ab ##c [?99] [SEP]") == 0 && bad == 1, "decode: %s", buf);
  free(buf);
  wp_tokens_free(&out);
  vocab_free(v);
}

static void test_vocab_errors(void) {
  char err[256], hex[65];
  vocab *v;
  CHECK(!vocab_from_mem("", 0, "e", err, sizeof err) && strstr(err, "empty"), "empty vocabulary: %s", err);
  CHECK(!vocab_from_mem("a\nb\xff\n", 5, "e", err, sizeof err) && strstr(err, "line 2"), "invalid UTF-8: %s", err);
  CHECK(!vocab_from_mem("a\nb\0\n", 5, "e", err, sizeof err) && strstr(err, "line 2"), "NUL byte: %s", err);
  CHECK(!vocab_load("/nonexistent/vocab.txt", err, sizeof err) && strstr(err, "/nonexistent/vocab.txt"), "missing file: %s", err);
  v = mem_vocab("[CLS]\n[SEP]\na\n");
  CHECK(!wp_new(v, NULL, err, sizeof err) && strstr(err, "[UNK]"), "no [UNK]: %s", err);
  vocab_free(v);
  v = mem_vocab("[UNK]\n[SEP]\na\n");
  CHECK(!wp_new(v, NULL, err, sizeof err) && strstr(err, "[CLS]"), "no [CLS]: %s", err);
  vocab_free(v);
  v = mem_vocab("[UNK]\n[CLS]\na\n");
  CHECK(!wp_new(v, NULL, err, sizeof err) && strstr(err, "[SEP]"), "no [SEP]: %s", err);
  vocab_free(v);
  v = mem_vocab("[UNK]\n[CLS]\n[SEP]\nx\n\nx\n  \n##x");
  CHECK(vocab_size(v) == 8 && vocab_id(v, "x", 1) == 5, "a repeated piece takes its last id (Python dict), no final newline ok");
  CHECK(vocab_id(v, "##x", 3) == 7 && vocab_id(v, "", 0) == -1, "last line without newline; empty is no piece");
  vocab_free(v);
  otc_sha256_hex("abc", 3, hex);
  CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "sha256(abc)");
  otc_sha256_hex("", 0, hex);
  CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "sha256(empty)");
  v = vocab_load(check_shared("data/vocab/mbert-cased/vocab.txt"), err, sizeof err);
  CHECK(v && !strcmp(vocab_sha256(v), "fe0fda7c425b48c516fc8f160d594c8022a0808447475c1a7c6d6479763f310c"),
        "mBERT vocab sha256 as in the fixture README");
  CHECK(v && vocab_size(v) == 119547 && vocab_id(v, "[UNK]", 5) == 100 && vocab_id(v, "[MASK]", 6) == 103, "mBERT ids");
  vocab_free(v);
}

static void test_utf8(void) {
  struct { const char *s; size_t n, want_len, bad; } cases[] = {
      {"\xc3\xa9", 2, 2, 0},         {"\xc0\x80", 2, 0, 1},      {"\xed\xa0\x80", 3, 0, 1},
      {"\xf4\x90\x80\x80", 4, 0, 1}, {"\xe2\x82", 2, 0, 2},      {"\x80", 1, 0, 1},
      {"\xf0\x9f\x98\x80", 4, 4, 0}, {"\xe2\x82" "a", 3, 0, 2},  {"\xf5\x80", 2, 0, 1},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    uint32_t cp;
    size_t bad = 0, got = uc_utf8_decode((const unsigned char *)cases[k].s, cases[k].n, &cp, &bad);
    CHECK(got == cases[k].want_len && (got || bad == cases[k].bad), "utf8 case %zu: length %zu, bad %zu", k, got, bad);
  }
  unsigned char u[4];
  uint32_t cp;
  size_t bad, ok = 1;
  for (uint32_t c = 0; c < 0x110000; c += 7) {
    if (c >= 0xD800 && c < 0xE000) continue;
    size_t n = uc_utf8_encode(c, u);
    if (uc_utf8_decode(u, n, &cp, &bad) != n || cp != c) ok = 0;
  }
  CHECK(ok, "utf8 encode/decode round trip");
  CHECK(uc_utf8_first_invalid((const unsigned char *)"ab\xc3\xa9\xff", 5) == 4, "first invalid byte offset");
}

/* Spot checks of the generated tables against facts of the UCD and the
 * edges of Google's CJK ranges (the whole tables were compared once with
 * CPython 3.11's unicodedata/str.lower: identical on every code point
 * assigned in Unicode 14). */
static void test_tables(void) {
  static const struct { uint32_t lo, hi; } cjk[] = {{0x4E00, 0x9FFF},   {0x3400, 0x4DBF},   {0x20000, 0x2A6DF},
                                                   {0x2A700, 0x2B73F}, {0x2B740, 0x2B81F}, {0x2B820, 0x2CEAF},
                                                   {0xF900, 0xFAFF},   {0x2F800, 0x2FA1F}};
  int ok = 1;
  for (size_t k = 0; k < sizeof cjk / sizeof *cjk; k++) {
    ok &= (uc_flags(cjk[k].lo) & UC_CJK) && (uc_flags(cjk[k].hi) & UC_CJK);
    ok &= !(uc_flags(cjk[k].lo - 1) & UC_CJK) || k == 4 || k == 5; /* 2B740.. and 2B820.. adjoin their predecessor */
    ok &= !(uc_flags(cjk[k].hi + 1) & UC_CJK) || k == 3 || k == 4;
  }
  CHECK(ok, "CJK flags: the eight ranges, edges included, and nothing next to them");
  CHECK(uc_flags(0x2B900) & UC_CJK, "U+2B900 is CJK (Google: 2B820-2CEAF; Hugging Face's 2B920 is a typo)");
  CHECK(!(uc_flags(0x3042) & UC_CJK) && !(uc_flags(0xAC00) & UC_CJK) && !(uc_flags(0x2CEB0) & UC_CJK) &&
            !(uc_flags(0x30000) & UC_CJK) && !(uc_flags(0x2E80) & UC_CJK) && !(uc_flags(0x3001) & UC_CJK),
        "not CJK: kana, Hangul, Ext F/G, radicals, CJK punctuation");
  CHECK((uc_flags(0x3000) & UC_SPACE) && (uc_flags(0xA0) & UC_SPACE) && (uc_flags(0x2028) & UC_SPACE) &&
            (uc_flags(0x2029) & UC_SPACE) && !(uc_flags(0x85) & UC_SPACE) && (uc_flags(0x85) & UC_DROP) &&
            !(uc_flags(0x200B) & UC_SPACE) && (uc_flags(0x200B) & UC_DROP) && !(uc_flags('\t') & UC_DROP),
        "space and drop flags");
  CHECK(uc_ccc(0x301) == 230 && uc_ccc(0x345) == 240 && uc_ccc(0x323) == 220 && uc_ccc('a') == 0, "combining classes");
  uint32_t d[UC_MAX_DECOMP], l[UC_MAX_LOWER];
  int n = uc_decompose(0x1E09, d); /* ḉ -> c + cedilla + acute (recursive) */
  CHECK(n == 3 && d[0] == 'c' && d[1] == 0x327 && d[2] == 0x301, "recursive decomposition of U+1E09");
  n = uc_decompose(0xD4DB, d); /* Hangul LVT */
  CHECK(n == 3 && d[0] == 0x1111 && d[1] == 0x1171 && d[2] == 0x11B6, "Hangul syllable U+D4DB -> L V T");
  n = uc_lower_full(0x130, l);
  CHECK(n == 2 && l[0] == 'i' && l[1] == 0x307, "U+0130 lowercases to i + U+0307");
  n = uc_lower_full(0x1F88, l);
  CHECK(n == 1 && l[0] == 0x1F80, "U+1F88 lowercases to U+1F80");
  uint32_t s[] = {'a', 0x301, 0x327, 'b'};
  uc_canonical_order(s, 4);
  CHECK(s[1] == 0x327 && s[2] == 0x301, "canonical ordering puts ccc 202 before 230");
}

/* The pieces of a word that ends as [UNK] must be kept: "abd" is [UNK] with
 * the full vocabulary (ab, then no ##d), but with only the emitted pieces
 * (a, x, ##bd) it would become a ##bd. */
static void test_prune_unk_words(void) {
  vocab *v = mem_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nab\nx\n##bd\nunused\n");
  char err[256];
  wp_tokenizer *t = wp_new(v, NULL, err, sizeof err);
  uint64_t counts[10] = {0};
  uint32_t n2o[10], o2n[10];
  wp_tokens out = {0};
  wp_count_pieces(t, counts);
  wp_encode(t, "abd a xbd", 9, 0, 0, &out);
  CHECK(out.n == 6 && out.ids[1] == 1 && counts[6] == 1 && counts[9] == 0,
        "the abandoned piece 'ab' of an [UNK] word is counted, unused pieces are not");
  size_t m = vocab_prune(v, counts, 1, n2o, o2n);
  CHECK(m == 9 && o2n[6] != UINT32_MAX && o2n[9] == UINT32_MAX, "pruned: specials + a ab x ##bd (%zu)", m);
  vocab *small = mem_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nab\nx\n##bd\n");
  wp_tokenizer *t2 = wp_new(small, NULL, err, sizeof err);
  wp_tokens out2 = {0};
  wp_encode(t2, "abd a xbd", 9, 0, 0, &out2);
  CHECK(out2.n == 6 && out2.ids[1] == 1, "and 'abd' stays [UNK] with the pruned vocabulary");
  vocab *naive = mem_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nx\n##bd\n");
  wp_tokenizer *t3 = wp_new(naive, NULL, err, sizeof err);
  wp_encode(t3, "abd", 3, 0, 0, &out2);
  CHECK(out2.n == 4, "(without 'ab' it would become a ##bd)");
  wp_tokens_free(&out);
  wp_tokens_free(&out2);
  wp_free(t), wp_free(t2), wp_free(t3);
  vocab_free(v), vocab_free(small), vocab_free(naive);
}

/* Pruning: the pieces counted on a text (including the pieces of words that
 * end as [UNK]) tokenize that text exactly as the full vocabulary does. */
static void test_prune(void) {
  char err[256];
  vocab *full = vocab_load(check_shared("data/vocab/mbert-cased/vocab.txt"), err, sizeof err);
  size_t ilen;
  char *in = slurp(check_shared("fixtures/tokenize/input.tsv"), &ilen);
  uint32_t n = vocab_size(full);
  uint64_t *counts = xcalloc(n, sizeof *counts);
  uint32_t *n2o = xmalloc(n * sizeof *n2o), *o2n = xmalloc(n * sizeof *o2n);
  wp_tokenizer *t = wp_new(full, NULL, err, sizeof err);
  wp_tokens out = {0}, out2 = {0};
  wp_count_pieces(t, counts);
  for (char *p = in; p < in + ilen;) {
    char *nl = memchr(p, '\n', (size_t)(in + ilen - p)), *tab = memchr(p, '\t', (size_t)(nl - p));
    wp_encode(t, tab + 1, (size_t)(nl - tab - 1), 0, 0, &out);
    p = nl + 1;
  }
  wp_count_pieces(t, NULL);
  size_t m = vocab_prune(full, counts, 1, n2o, o2n);
  CHECK(m > 5 && m < n && n2o[0] == 0 && n2o[1] == 100 && n2o[2] == 101 && n2o[3] == 102 && n2o[4] == 103,
        "pruned to %zu pieces, specials first in order [PAD] [UNK] [CLS] [SEP] [MASK]", m);
  /* the pruned vocab.txt text */
  size_t cap = 16, len = 0;
  char *txt = xmalloc(cap);
  for (size_t k = 0; k < m; k++) {
    size_t pl;
    const char *pc = vocab_piece(full, n2o[k], &pl);
    while (len + pl + 2 > cap) txt = xrealloc(txt, cap *= 2);
    memcpy(txt + len, pc, pl);
    len += pl;
    txt[len++] = '\n';
  }
  vocab *small = vocab_from_mem(txt, len, "pruned", err, sizeof err);
  wp_tokenizer *t2 = wp_new(small, NULL, err, sizeof err);
  size_t lines = 0, same = 0, unk_lines = 0;
  for (char *p = in; p < in + ilen; lines++) {
    char *nl = memchr(p, '\n', (size_t)(in + ilen - p)), *tab = memchr(p, '\t', (size_t)(nl - p));
    wp_encode(t, tab + 1, (size_t)(nl - tab - 1), 0, 0, &out);
    wp_encode(t2, tab + 1, (size_t)(nl - tab - 1), 0, 0, &out2);
    int eq = out.n == out2.n;
    for (size_t k = 0; eq && k < out.n; k++) {
      eq = o2n[out.ids[k]] == out2.ids[k];
      if (out.ids[k] == 100) unk_lines++;
    }
    same += eq;
    p = nl + 1;
  }
  CHECK(lines == 1100 && same == lines && unk_lines > 0,
        "pruned vocabulary reproduces the full one's tokens on its text: %zu/%zu lines (%zu [UNK])", same, lines, unk_lines);
  wp_tokens_free(&out);
  wp_tokens_free(&out2);
  wp_free(t);
  wp_free(t2);
  vocab_free(small);
  vocab_free(full);
  free(txt), free(in), free(counts), free(n2o), free(o2n);
}

int main(void) {
  size_t lines;
  int bad = check_fixture("data/vocab/mbert-cased/vocab.txt", "fixtures/tokenize/expected.cased.jsonl", 0, &lines);
  CHECK(bad == 0 && lines == 1100, "cased fixture: %zu lines, %d mismatches", lines, bad);
  bad = check_fixture("data/vocab/bert-base-uncased/vocab.txt", "fixtures/tokenize/expected.lower.jsonl", 1, &lines);
  CHECK(bad == 0 && lines == 1100, "lower fixture: %zu lines, %d mismatches", lines, bad);
  test_rules_small_vocab();
  test_word_length_limit();
  test_lower();
  test_encode_offsets();
  test_vocab_errors();
  test_utf8();
  test_tables();
  test_prune_unk_words();
  test_prune();
  wp_free(cur_tok);
  return check_done();
}
