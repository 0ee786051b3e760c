/* wordpiece.c: BasicTokenizer + WordpieceTokenizer (see wordpiece.h).
 *
 * Structure: the cased rules need no look-ahead, so cased text is one pass
 * over the bytes (run_basic), with a table lookup per ASCII byte. Lower mode
 * must see a whole whitespace token first (Final_Sigma looks at both
 * neighbours, NFD reorders marks), so it cuts the text into whitespace
 * tokens; an all-ASCII token needs only ASCII lowercasing and takes the same
 * one-pass route, any other goes through lower_chunk (lowercase, decompose,
 * reorder, drop Mn, split). Words are collected as UTF-8 in t->wb and each
 * word is matched against the vocabulary's double-array trie. */
#include "text/wordpiece.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/unicode.h"
#include "base/util.h"

enum { A_WORD, A_DROP, A_SPACE, A_PUNCT };

struct wp_tokenizer {
  const vocab *v;
  int lower;
  size_t max_word_chars;
  uint32_t unk, cls, sep;
  int32_t cont;
  uint8_t ascii_class[128];
  uint8_t ascii_lower[128];
  uint64_t *counts;
  int stop;         /* the limit of the current call is reached */
  size_t limit;
  int offs;         /* offsets wanted in the current call */
  /* the word being collected: UTF-8 bytes, and per code point (offsets only)
   * its byte position in wb and its source span */
  unsigned char *wb;
  size_t wn, wcap, wchars;
  uint32_t *wc_byte, *wc_s, *wc_e;
  size_t wccap;
  /* lower mode: the whitespace token (code points, source spans), then its
   * lowercased + decomposed form */
  uint32_t *ck_cp, *ck_s, *ck_e;
  size_t ckn, ckcap;
  uint32_t *tr_cp, *tr_s, *tr_e;
  size_t trn, trcap;
};

static void grow_u32x3(uint32_t **a, uint32_t **b, uint32_t **c, size_t *cap, size_t need) {
  if (need <= *cap) return;
  size_t n = *cap ? *cap : 64;
  while (n < need) n *= 2;
  *a = xrealloc(*a, xmul(n, sizeof **a));
  *b = xrealloc(*b, xmul(n, sizeof **b));
  *c = xrealloc(*c, xmul(n, sizeof **c));
  *cap = n;
}

static void reserve_word(wp_tokenizer *t, size_t bytes, size_t chars) {
  if (bytes > t->wcap) {
    size_t n = t->wcap ? t->wcap : 256;
    while (n < bytes) n *= 2;
    t->wb = xrealloc(t->wb, n);
    t->wcap = n;
  }
  if (t->offs) grow_u32x3(&t->wc_byte, &t->wc_s, &t->wc_e, &t->wccap, chars);
}

wp_tokenizer *wp_new(const vocab *v, const wp_options *o, char *err, size_t errlen) {
  static const char *const need[3] = {"[UNK]", "[CLS]", "[SEP]"};
  int64_t ids[3];
  for (int k = 0; k < 3; k++) {
    ids[k] = vocab_id(v, need[k], strlen(need[k]));
    if (ids[k] < 0) {
      snprintf(err, errlen, "the vocabulary has no %s token", need[k]);
      return NULL;
    }
  }
  wp_tokenizer *t = xcalloc(1, sizeof *t);
  t->v = v;
  t->lower = o ? o->lower : 0;
  t->max_word_chars = o && o->max_word_chars ? o->max_word_chars : WP_DEFAULT_MAX_WORD_CHARS;
  t->unk = (uint32_t)ids[0];
  t->cls = (uint32_t)ids[1];
  t->sep = (uint32_t)ids[2];
  t->cont = vocab_cont_state(v);
  for (uint32_t c = 0; c < 128; c++) {
    uint32_t f = uc_flags(c), low[UC_MAX_LOWER];
    t->ascii_class[c] = f & UC_DROP ? A_DROP : f & UC_SPACE ? A_SPACE : f & UC_PUNCT ? A_PUNCT : A_WORD;
    int nl = uc_lower_full(c, low);
    t->ascii_lower[c] = nl == 1 && low[0] < 128 ? (uint8_t)low[0] : (uint8_t)c;
  }
  return t;
}

void wp_free(wp_tokenizer *t) {
  if (!t) return;
  free(t->wb);
  free(t->wc_byte), free(t->wc_s), free(t->wc_e);
  free(t->ck_cp), free(t->ck_s), free(t->ck_e);
  free(t->tr_cp), free(t->tr_s), free(t->tr_e);
  free(t);
}

const vocab *wp_vocab(const wp_tokenizer *t) { return t->v; }
uint32_t wp_unk_id(const wp_tokenizer *t) { return t->unk; }
uint32_t wp_cls_id(const wp_tokenizer *t) { return t->cls; }
uint32_t wp_sep_id(const wp_tokenizer *t) { return t->sep; }
void wp_count_pieces(wp_tokenizer *t, uint64_t *counts) { t->counts = counts; }

void wp_tokens_free(wp_tokens *t) {
  free(t->ids);
  free(t->offsets);
  memset(t, 0, sizeof *t);
}

static void push_token(wp_tokens *out, int offs, uint32_t id, uint32_t s, uint32_t e) {
  if (out->n == out->cap) {
    out->cap = out->cap ? 2 * out->cap : 64;
    out->ids = xrealloc(out->ids, xmul(out->cap, sizeof *out->ids));
    if (offs || out->offsets) out->offsets = xrealloc(out->offsets, xmul(out->cap, 2 * sizeof *out->offsets));
  }
  out->ids[out->n] = id;
  if (offs) {
    out->offsets[2 * out->n] = s;
    out->offsets[2 * out->n + 1] = e;
  }
  out->n++;
}

/* Source span of the word's code points [c0, c1). Spans are not monotonic
 * after canonical reordering, hence min/max. */
static void char_span(const wp_tokenizer *t, size_t c0, size_t c1, uint32_t *s, uint32_t *e) {
  uint32_t lo = UINT32_MAX, hi = 0;
  for (size_t c = c0; c < c1; c++) {
    if (t->wc_s[c] < lo) lo = t->wc_s[c];
    if (t->wc_e[c] > hi) hi = t->wc_e[c];
  }
  *s = lo;
  *e = hi;
}

/* WordPiece on the collected word, then reset it. */
static void flush_word(wp_tokenizer *t, wp_tokens *out) {
  if (t->wn == 0) return;
  size_t first = out->n;
  uint32_t s = 0, e = 0;
  if (t->wchars <= t->max_word_chars) {
    size_t start = 0, cc = 0;
    int32_t state = VOCAB_ROOT;
    while (start < t->wn) {
      size_t m = 0;
      int32_t id = state < 0 ? -1 : vocab_longest(t->v, state, t->wb + start, t->wn - start, &m);
      if (id < 0) goto unk;
      if (t->counts) t->counts[id]++;
      if (t->offs) {
        size_t c0 = cc;
        while (cc < t->wchars && t->wc_byte[cc] < start + m) cc++;
        char_span(t, c0, cc, &s, &e);
      }
      push_token(out, t->offs, (uint32_t)id, s, e);
      start += m;
      state = t->cont;
    }
    goto done;
  }
unk:
  out->n = first;
  if (t->offs) char_span(t, 0, t->wchars, &s, &e);
  push_token(out, t->offs, t->unk, s, e);
done:
  t->wn = 0;
  t->wchars = 0;
  if (t->limit && out->n >= t->limit) t->stop = 1;
}

static inline void push_char(wp_tokenizer *t, const unsigned char *bytes, size_t k, uint32_t s, uint32_t e) {
  if (t->offs) {
    t->wc_byte[t->wchars] = (uint32_t)t->wn;
    t->wc_s[t->wchars] = s;
    t->wc_e[t->wchars] = e;
  }
  memcpy(t->wb + t->wn, bytes, k);
  t->wn += k;
  t->wchars++;
}

/* The one-pass route over text[from, to): cased text, or in lower mode an
 * all-ASCII whitespace token (lowercased by table). Word bytes never exceed
 * source bytes here, so the caller's reservation of len suffices. */
static void run_basic(wp_tokenizer *t, const unsigned char *s, size_t from, size_t to, int lower, wp_tokens *out) {
  for (size_t i = from; i < to && !t->stop;) {
    unsigned c = s[i];
    if (c < 0x80) {
      switch (t->ascii_class[c]) {
      case A_WORD: {
        unsigned char b = lower ? t->ascii_lower[c] : (unsigned char)c;
        if (t->offs) {
          push_char(t, &b, 1, (uint32_t)i, (uint32_t)i + 1);
        } else {
          t->wb[t->wn++] = b;
          t->wchars++;
        }
        break;
      }
      case A_DROP: break;
      case A_SPACE: flush_word(t, out); break;
      default: /* A_PUNCT */
        flush_word(t, out);
        if (t->stop) return;
        push_char(t, s + i, 1, (uint32_t)i, (uint32_t)i + 1);
        flush_word(t, out);
      }
      i++;
      continue;
    }
    uint32_t cp;
    size_t bad, k = uc_utf8_decode(s + i, to - i, &cp, &bad);
    if (!k) { /* U+FFFD, dropped */
      i += bad;
      continue;
    }
    uint32_t f = uc_flags(cp);
    if (f & UC_DROP) {
    } else if (f & UC_SPACE) {
      flush_word(t, out);
    } else if (f & (UC_CJK | UC_PUNCT)) {
      flush_word(t, out);
      if (t->stop) return;
      push_char(t, s + i, k, (uint32_t)i, (uint32_t)(i + k));
      flush_word(t, out);
    } else {
      push_char(t, s + i, k, (uint32_t)i, (uint32_t)(i + k));
    }
    i += k;
  }
  flush_word(t, out);
}

/* Canonical ordering of the decomposed token, carrying the source spans along. */
static void order_marks(wp_tokenizer *t) {
  uint32_t *cp = t->tr_cp, *ss = t->tr_s, *se = t->tr_e;
  for (size_t i = 1; i < t->trn; i++) {
    uint32_t c = uc_ccc(cp[i]);
    if (c == 0) continue;
    uint32_t x = cp[i], xs = ss[i], xe = se[i];
    size_t j = i;
    while (j > 0) {
      uint32_t p = uc_ccc(cp[j - 1]);
      if (p == 0 || p <= c) break;
      cp[j] = cp[j - 1], ss[j] = ss[j - 1], se[j] = se[j - 1];
      j--;
    }
    cp[j] = x, ss[j] = xs, se[j] = xe;
  }
}

/* Lower mode, a whitespace token that is not all ASCII, starting at i (not
 * at a space). Returns where the token ends. */
static size_t lower_chunk(wp_tokenizer *t, const unsigned char *s, size_t len, size_t i, wp_tokens *out) {
  t->ckn = 0;
  while (i < len) {
    uint32_t cp;
    size_t bad, k = uc_utf8_decode(s + i, len - i, &cp, &bad);
    if (!k) {
      i += bad;
      continue;
    }
    uint32_t f = uc_flags(cp);
    if (f & UC_DROP) {
      i += k;
      continue;
    }
    if (f & UC_SPACE) break;
    if (f & UC_CJK) {
      if (t->ckn) break;
    }
    grow_u32x3(&t->ck_cp, &t->ck_s, &t->ck_e, &t->ckcap, t->ckn + 1);
    t->ck_cp[t->ckn] = cp, t->ck_s[t->ckn] = (uint32_t)i, t->ck_e[t->ckn] = (uint32_t)(i + k);
    t->ckn++;
    i += k;
    if (f & UC_CJK) break;
  }
  /* str.lower() of the token, then NFD */
  t->trn = 0;
  for (size_t c = 0; c < t->ckn; c++) {
    uint32_t low[UC_MAX_LOWER], dec[UC_MAX_DECOMP];
    int nl;
    if (t->ck_cp[c] == 0x3A3) {
      low[0] = uc_lower_sigma_is_final(t->ck_cp, t->ckn, c) ? 0x3C2 : 0x3C3;
      nl = 1;
    } else {
      nl = uc_lower_full(t->ck_cp[c], low);
    }
    for (int a = 0; a < nl; a++) {
      int nd = uc_decompose(low[a], dec);
      grow_u32x3(&t->tr_cp, &t->tr_s, &t->tr_e, &t->trcap, t->trn + (size_t)nd);
      for (int d = 0; d < nd; d++) {
        t->tr_cp[t->trn] = dec[d], t->tr_s[t->trn] = t->ck_s[c], t->tr_e[t->trn] = t->ck_e[c];
        t->trn++;
      }
    }
  }
  order_marks(t);
  reserve_word(t, 4 * t->trn + 4, t->trn + 1);
  /* drop Mn, then split at punctuation (and whitespace, as the final
   * whitespace_tokenize would) */
  for (size_t c = 0; c < t->trn && !t->stop; c++) {
    uint32_t cp = t->tr_cp[c], f = uc_flags(cp);
    unsigned char u[4];
    if (f & UC_MN) continue;
    size_t k = uc_utf8_encode(cp, u);
    if (f & UC_PYSPACE) {
      flush_word(t, out);
    } else if (f & UC_PUNCT) {
      flush_word(t, out);
      if (t->stop) break;
      push_char(t, u, k, t->tr_s[c], t->tr_e[c]);
      flush_word(t, out);
    } else {
      push_char(t, u, k, t->tr_s[c], t->tr_e[c]);
    }
  }
  flush_word(t, out);
  return i;
}

void wp_tokenize(wp_tokenizer *t, const char *text, size_t len, int want_offsets, size_t limit, wp_tokens *out) {
  const unsigned char *s = (const unsigned char *)text;
  t->offs = want_offsets;
  t->limit = limit;
  t->stop = limit && out->n >= limit;
  t->wn = t->wchars = 0;
  reserve_word(t, len + 4, len + 1);
  if (!t->lower) {
    if (!t->stop) run_basic(t, s, 0, len, 0, out);
    return;
  }
  size_t i = 0;
  while (i < len && !t->stop) {
    unsigned c = s[i];
    if (c < 0x80) {
      if (t->ascii_class[c] == A_SPACE) {
        i++;
        continue;
      }
      size_t j = i;
      while (j < len && s[j] < 0x80 && t->ascii_class[s[j]] != A_SPACE) j++;
      int ascii_token = 1;
      if (j < len && s[j] >= 0x80) {
        /* the token is all ASCII only if a space or CJK character ends it here */
        uint32_t cp;
        size_t bad, k = uc_utf8_decode(s + j, len - j, &cp, &bad);
        ascii_token = k && (uc_flags(cp) & (UC_SPACE | UC_CJK));
      }
      if (ascii_token) {
        run_basic(t, s, i, j, 1, out);
        i = j;
        continue;
      }
    } else {
      uint32_t cp;
      size_t bad, k = uc_utf8_decode(s + i, len - i, &cp, &bad);
      if (k && (uc_flags(cp) & UC_SPACE)) {
        i += k;
        continue;
      }
    }
    i = lower_chunk(t, s, len, i, out);
  }
}

void wp_encode(wp_tokenizer *t, const char *text, size_t len, size_t max_len, int want_offsets, wp_tokens *out) {
  out->n = 0;
  if (max_len && max_len < 2) max_len = 2;
  push_token(out, want_offsets, t->cls, 0, 0);
  /* limit max_len: one piece beyond what is kept tells a cut text from one
   * of exactly max_len ids */
  wp_tokenize(t, text, len, want_offsets, max_len, out);
  out->cut = max_len && out->n > max_len - 1;
  if (out->cut) out->n = max_len - 1;
  push_token(out, want_offsets, t->sep, 0, 0);
}

size_t wp_join_pieces(wp_piece_fn *piece, const void *ctx, size_t nv, const uint32_t *ids, size_t n, char **buf,
                      size_t *cap, size_t *bad) {
  size_t len = 0;
  for (size_t k = 0; k < n; k++) {
    char tmp[32];
    const char *p;
    size_t pl;
    if (ids[k] < nv) {
      p = piece(ctx, ids[k], &pl);
    } else {
      pl = (size_t)snprintf(tmp, sizeof tmp, "[?%u]", (unsigned)ids[k]);
      p = tmp;
      if (bad) (*bad)++;
    }
    size_t need = len + pl + 2;
    if (need > *cap) {
      size_t c = *cap ? *cap : 256;
      while (c < need) c *= 2;
      *buf = xrealloc(*buf, c);
      *cap = c;
    }
    if (k) (*buf)[len++] = ' ';
    memcpy(*buf + len, p, pl);
    len += pl;
  }
  if (!*cap) {
    *buf = xrealloc(*buf, 1);
    *cap = 1;
  }
  (*buf)[len] = 0;
  return len;
}

static const char *vocab_piece_of(const void *v, uint32_t id, size_t *len) { return vocab_piece(v, id, len); }

size_t wp_decode(const vocab *v, const uint32_t *ids, size_t n, char **buf, size_t *cap, size_t *bad) {
  return wp_join_pieces(vocab_piece_of, v, vocab_size(v), ids, n, buf, cap, bad);
}

size_t vocab_prune(const vocab *v, const uint64_t *counts, uint64_t min_count, uint32_t *new_to_old,
                   uint32_t *old_to_new) {
  static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  uint32_t n = vocab_size(v);
  size_t m = 0;
  for (uint32_t i = 0; i < n; i++) old_to_new[i] = UINT32_MAX;
  for (size_t k = 0; k < sizeof specials / sizeof *specials; k++) {
    int64_t id = vocab_id(v, specials[k], strlen(specials[k]));
    if (id >= 0 && old_to_new[id] == UINT32_MAX) {
      old_to_new[id] = (uint32_t)m;
      new_to_old[m++] = (uint32_t)id;
    }
  }
  for (uint32_t i = 0; i < n; i++) {
    if (old_to_new[i] != UINT32_MAX || counts[i] == 0 || counts[i] < min_count) continue;
    old_to_new[i] = (uint32_t)m;
    new_to_old[m++] = i;
  }
  return m;
}
