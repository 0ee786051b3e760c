/* perturb.c: the discrete noise model of perturb.h. */
#include "text/perturb.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/rng.h"
#include "base/util.h"
#include "text/unicode.h"

/* ---------------- output buffer ---------------- */

/* One code point of a valid UTF-8 string s[0..len) at *i (advancing it);
 * -1 if the bytes there are not valid UTF-8. */
static int32_t next_cp(const char *s, size_t len, size_t *i) {
  uint32_t cp;
  size_t bad, k = uc_utf8_decode((const unsigned char *)s + *i, len - *i, &cp, &bad);
  if (!k) return -1;
  *i += k;
  return (int32_t)cp;
}

static void buf_reserve(perturb_buf *b, size_t extra) {
  if (b->len + extra + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + extra + 1 > cap) cap *= 2;
    b->buf = xrealloc(b->buf, cap);
    b->cap = cap;
  }
}

static void buf_put_cp(perturb_buf *b, uint32_t cp) {
  buf_reserve(b, 4);
  b->len += uc_utf8_encode(cp, (unsigned char *)b->buf + b->len);
  b->buf[b->len] = 0;
}

void perturb_buf_free(perturb_buf *b) {
  free(b->buf);
  b->buf = NULL;
  b->len = b->cap = 0;
}

/* ---------------- character classes ---------------- */

static bool is_space_cp(uint32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Punctuation peeled off word edges: ASCII punctuation and the common
 * punctuation of other scripts. Not the full Unicode P* class on purpose: a
 * symbol we miss stays in the core, where at worst it receives a typo. */
static bool is_punct_cp(uint32_t c) {
  if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return c == 0xA1 || c == 0xA7 || c == 0xAB || c == 0xB6 || c == 0xB7 || c == 0xBB || c == 0xBF ||
         c == 0x37E || c == 0x387 || (c >= 0x55A && c <= 0x55F) || c == 0x589 || c == 0x5BE || c == 0x5C0 ||
         c == 0x5C3 || c == 0x5C6 || c == 0x5F3 || c == 0x5F4 || c == 0x60C || c == 0x60D || c == 0x61B ||
         c == 0x61F || (c >= 0x66A && c <= 0x66D) || c == 0x6D4 || c == 0x964 || c == 0x965 || c == 0x970 ||
         c == 0xE4F || c == 0xE5A || c == 0xE5B || (c >= 0x10FB && c <= 0x10FB) || (c >= 0x2010 && c <= 0x2027) ||
         (c >= 0x2030 && c <= 0x205E) || (c >= 0x3001 && c <= 0x3003) || (c >= 0x3008 && c <= 0x3011) ||
         (c >= 0x3014 && c <= 0x301F) || (c >= 0xFF01 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) ||
         (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65);
}

static bool is_ascii_letter(uint32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Simple lower-casing for dictionary lookup: ASCII, Latin-1, Latin
 * Extended-A, Greek and Cyrillic capitals (the scripts of the mirror's
 * dictionaries that have case). Fixed tables, so lookups do not depend on the
 * locale of the machine. */
static uint32_t lower_cp(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0xC0) return c;
  if (c <= 0xDE && c != 0xD7) return c + 32;
  if (c >= 0x100 && c <= 0x137 && !(c & 1)) return c + 1;
  if (c >= 0x139 && c <= 0x148 && (c & 1)) return c + 1;
  if (c >= 0x14A && c <= 0x177 && !(c & 1)) return c + 1;
  if (c == 0x178) return 0xFF;
  if (c >= 0x179 && c <= 0x17E && (c & 1)) return c + 1;
  if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
  if (c >= 0x386 && c <= 0x38F) {
    static const uint16_t greek[10] = {0x3AC, 0x387, 0x3AD, 0x3AE, 0x3AF, 0x38B, 0x3CC, 0x38D, 0x3CD, 0x3CE};
    return greek[c - 0x386];
  }
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  if (c >= 0x460 && c <= 0x4FF && !(c & 1) && !(c >= 0x482 && c <= 0x489)) return c + 1;
  return c;
}

static uint32_t upper_cp(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0xDF) return c;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c >= 0x100 && c <= 0x17E && lower_cp(c - 1) == c) return c - 1;
  if (c >= 0x3B1 && c <= 0x3CB && c != 0x3C2) return c - 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  if (c >= 0x461 && c <= 0x4FF && lower_cp(c - 1) == c) return c - 1;
  return c;
}

/* QWERTY neighbours. Rule: keys sit on a staggered grid (row "qwertyuiop" at
 * offset 0.5 key widths, "asdfghjkl" at 0.75, "zxcvbnm" at 1.25); a key's
 * neighbours are its left and right keys in the row and the keys of the
 * adjacent letter rows whose centres are less than one key width away. Digits
 * have their left and right digits. */
static const char *const kb_letters[26] = {
    "qwsz", "ghvn", "dfxv", "ersfxc", "wrsd", "rtdgcv", "tyfhvb", "yugjbn", "uojk",
    "uihknm", "iojlm", "opk", "jkn", "hjbm", "ipkl", "ol", "wa", "etdf",
    "weadzx", "ryfg", "yihj", "fgcb", "qeas", "sdzc", "tugh", "asx"};
static const char *const kb_digits[10] = {"19", "2", "13", "24", "35", "46", "57", "68", "79", "80"};

const char *perturb_keyboard_neighbours(int c) {
  if (c >= 'A' && c <= 'Z') c += 32;
  if (c >= 'a' && c <= 'z') return kb_letters[c - 'a'];
  if (c >= '0' && c <= '9') return kb_digits[c - '0'];
  return "";
}

/* ---------------- dictionary ---------------- */

typedef struct {
  char *word;      /* key, NUL-terminated */
  size_t len;
  uint32_t ntr, cap;
  const char **tr; /* translations */
} dict_entry;

struct perturb_dict {
  dict_entry *slots; /* open addressing, power-of-two size */
  size_t nslots, nwords;
  char **strings;    /* owned copies, freed at the end */
  size_t nstrings, capstrings;
};

static uint64_t fnv1a(const char *s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
  return h;
}

static dict_entry *dict_find(const perturb_dict *d, const char *w, size_t len) {
  size_t mask = d->nslots - 1, i = (size_t)fnv1a(w, len) & mask;
  for (;;) {
    dict_entry *e = &d->slots[i];
    if (!e->word || (e->len == len && memcmp(e->word, w, len) == 0)) return e;
    i = (i + 1) & mask;
  }
}

static char *dict_keep(perturb_dict *d, const char *s, size_t n) {
  if (d->nstrings == d->capstrings) {
    d->capstrings = d->capstrings ? 2 * d->capstrings : 1024;
    d->strings = xrealloc(d->strings, d->capstrings * sizeof *d->strings);
  }
  char *c = xmalloc(n + 1);
  memcpy(c, s, n);
  c[n] = 0;
  return d->strings[d->nstrings++] = c;
}

static void dict_grow(perturb_dict *d) {
  dict_entry *old = d->slots;
  size_t oldn = d->nslots;
  d->nslots = oldn ? 2 * oldn : 1024;
  d->slots = xcalloc(d->nslots, sizeof *d->slots);
  for (size_t i = 0; i < oldn; i++)
    if (old[i].word) *dict_find(d, old[i].word, old[i].len) = old[i];
  free(old);
}

static void dict_add(perturb_dict *d, const char *w, size_t wl, const char *t, size_t tl) {
  if (2 * (d->nwords + 1) > d->nslots) dict_grow(d);
  dict_entry *e = dict_find(d, w, wl);
  if (!e->word) {
    e->word = dict_keep(d, w, wl);
    e->len = wl;
    d->nwords++;
  }
  for (uint32_t k = 0; k < e->ntr; k++)
    if (strlen(e->tr[k]) == tl && memcmp(e->tr[k], t, tl) == 0) return;
  if (e->ntr == e->cap) {
    e->cap = e->cap ? 2 * e->cap : 2;
    e->tr = xrealloc(e->tr, e->cap * sizeof *e->tr);
  }
  e->tr[e->ntr++] = dict_keep(d, t, tl);
}

static void trim(const char **s, size_t *n) {
  while (*n && ((*s)[0] == ' ' || (*s)[0] == '\t' || (*s)[0] == '\r')) (*s)++, (*n)--;
  while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r')) (*n)--;
}

perturb_dict *perturb_dict_load(const char *path, bool reverse, char *err, size_t errlen) {
  size_t len;
  char *text = read_file(path, &len);
  if (!text) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  perturb_dict *d = xcalloc(1, sizeof *d);
  dict_grow(d);
  size_t lineno = 0;
  for (size_t p = 0; p < len;) {
    lineno++;
    const char *line = text + p;
    const char *nl = memchr(line, '\n', len - p);
    size_t n = nl ? (size_t)(nl - line) : len - p;
    p += n + (nl != NULL);
    size_t bad = uc_utf8_first_invalid((const unsigned char *)line, n);
    if (bad < n) {
      snprintf(err, errlen, "%s: line %zu: invalid UTF-8 at byte %zu of the line", path, lineno, bad + 1);
      free(text);
      perturb_dict_free(d);
      return NULL;
    }
    const char *s = line;
    trim(&s, &n);
    if (n == 0 || s[0] == '#') continue;
    const char *sep = memchr(s, '\t', n);
    if (!sep) sep = memchr(s, ' ', n);
    if (!sep) {
      snprintf(err, errlen, "%s: line %zu: expected 'word<TAB>translation' or 'word translation'", path, lineno);
      free(text);
      perturb_dict_free(d);
      return NULL;
    }
    const char *a = s, *b = sep + 1;
    size_t an = (size_t)(sep - s), bn = n - an - 1;
    trim(&a, &an);
    trim(&b, &bn);
    if (!an || !bn) continue;
    if (reverse) dict_add(d, b, bn, a, an);
    else dict_add(d, a, an, b, bn);
  }
  free(text);
  if (d->nwords == 0) {
    snprintf(err, errlen, "%s: no word pairs", path);
    perturb_dict_free(d);
    return NULL;
  }
  return d;
}

void perturb_dict_free(perturb_dict *d) {
  if (!d) return;
  for (size_t i = 0; i < d->nslots; i++) free(d->slots[i].tr);
  for (size_t i = 0; i < d->nstrings; i++) free(d->strings[i]);
  free(d->strings);
  free(d->slots);
  free(d);
}

size_t perturb_dict_words(const perturb_dict *d) { return d ? d->nwords : 0; }

size_t perturb_dict_lookup(const perturb_dict *d, const char *w, size_t len, const char *const **out) {
  if (!d || !len) return 0;
  dict_entry *e = dict_find(d, w, len);
  if (!e->word) return 0;
  *out = e->tr;
  return e->ntr;
}

/* ---------------- keys and streams ---------------- */

uint64_t perturb_key_of_id(const char *id, size_t len) { return fnv1a(id, len); }

uint64_t perturb_key_variant(uint64_t key, uint64_t variant) {
  if (variant == 0) return key; /* candidate 0 equals plain random noise */
  uint64_t x = key ^ (variant * 0xd1b54a32d192ed03ULL);
  return rng_splitmix64(&x);
}

enum { STREAM_SWITCH = 1, STREAM_TYPO, STREAM_DROP, STREAM_SWAP };

static void stream_seed(rng_t *r, uint64_t seed, uint64_t key, uint64_t stream) {
  uint64_t x = seed;
  uint64_t h = rng_splitmix64(&x) ^ key;
  h = rng_splitmix64(&h) ^ stream;
  rng_seed(r, h);
}

int perturb_parse_kinds(const char *s) {
  static const char *names[] = {"insert", "delete", "substitute", "swap", "keyboard"};
  int mask = 0;
  while (*s) {
    size_t n = strcspn(s, ",");
    int found = 0;
    if (n == 3 && !strncmp(s, "all", 3)) mask |= PERTURB_ALL_TYPOS, found = 1;
    for (int k = 0; k < 5 && !found; k++)
      if (strlen(names[k]) == n && !strncmp(s, names[k], n)) mask |= 1 << k, found = 1;
    if (!found) return -1;
    s += n;
    if (*s == ',') s++;
  }
  return mask ? mask : -1;
}

/* ---------------- the noise ---------------- */

typedef struct {
  size_t pre, core, suf, end; /* code point offsets in the input: [pre,core) punct, [core,suf) core, [suf,end) punct */
  size_t sep_end;             /* whitespace after the word: [end, sep_end) */
  size_t cstart, clen;        /* the (possibly modified) core in the pool */
  bool switched;
} word_t;

typedef struct {
  uint32_t *v;
  size_t n, cap;
} cpvec;

static void cp_push(cpvec *a, uint32_t c) {
  if (a->n == a->cap) {
    a->cap = a->cap ? 2 * a->cap : 64;
    a->v = xrealloc(a->v, a->cap * sizeof *a->v);
  }
  a->v[a->n++] = c;
}

/* A random character "like" ref: an ASCII letter of ref's case when ref is an
 * ASCII letter, otherwise one of the word's own code points (distinct from
 * avoid when avoid != 0). Returns 0 when there is no candidate. */
static uint32_t draw_char(rng_t *r, uint32_t ref, const uint32_t *w, size_t n, uint32_t avoid) {
  if (is_ascii_letter(ref)) {
    uint32_t base = (ref >= 'a') ? 'a' : 'A';
    if (!avoid) return base + (uint32_t)rng_below(r, 26);
    uint32_t c = base + (uint32_t)rng_below(r, 25);
    return c >= avoid ? c + 1 : c;
  }
  /* distinct code points of the word other than avoid, in order of first use */
  uint32_t cand[64];
  size_t nc = 0;
  for (size_t i = 0; i < n && nc < 64; i++) {
    if (w[i] == avoid) continue;
    size_t k = 0;
    while (k < nc && cand[k] != w[i]) k++;
    if (k == nc) cand[nc++] = w[i];
  }
  if (!nc) return 0;
  return cand[rng_below(r, nc)];
}

/* One typo on core[0..n) written into out. Returns true if the word changed. */
static bool typo_word(rng_t *r, unsigned kinds, const uint32_t *w, size_t n, cpvec *out) {
  int kind_list[5], nk = 0;
  for (int k = 0; k < 5; k++)
    if (kinds & (1u << k)) kind_list[nk++] = 1 << k;
  int kind = kind_list[rng_below(r, (uint64_t)nk)];
  size_t start = out->n;
  for (size_t i = 0; i < n; i++) cp_push(out, w[i]);
  uint32_t *o = out->v + start;
  if (kind == PERTURB_KEYBOARD) {
    size_t cand = 0;
    for (size_t i = 0; i < n; i++) cand += *perturb_keyboard_neighbours(w[i] < 128 ? (int)w[i] : 0) != 0;
    if (!cand) kind = PERTURB_SUBSTITUTE; /* no key of a QWERTY keyboard in the word */
    else {
      size_t pick = (size_t)rng_below(r, cand), i = 0;
      for (;; i++)
        if (*perturb_keyboard_neighbours(w[i] < 128 ? (int)w[i] : 0) && pick-- == 0) break;
      const char *nb = perturb_keyboard_neighbours((int)w[i]);
      uint32_t c = (uint32_t)nb[rng_below(r, strlen(nb))];
      if (w[i] >= 'A' && w[i] <= 'Z' && c >= 'a') c -= 32;
      o[i] = c;
      return true;
    }
  }
  switch (kind) {
  case PERTURB_INSERT: {
    size_t p = (size_t)rng_below(r, n + 1);
    uint32_t c = draw_char(r, w[p ? p - 1 : 0], w, n, 0);
    cp_push(out, 0);
    o = out->v + start;
    memmove(o + p + 1, o + p, (n - p) * sizeof *o);
    o[p] = c;
    return true;
  }
  case PERTURB_DELETE: {
    size_t p = (size_t)rng_below(r, n);
    memmove(o + p, o + p + 1, (n - p - 1) * sizeof *o);
    out->n--;
    return true;
  }
  case PERTURB_SUBSTITUTE: {
    size_t p = (size_t)rng_below(r, n);
    uint32_t c = draw_char(r, w[p], w, n, w[p]);
    if (!c) return false;
    o[p] = c;
    return true;
  }
  case PERTURB_SWAP: {
    size_t cand = 0;
    for (size_t i = 0; i + 1 < n; i++) cand += w[i] != w[i + 1];
    if (!cand) return false;
    size_t pick = (size_t)rng_below(r, cand), i = 0;
    for (;; i++)
      if (w[i] != w[i + 1] && pick-- == 0) break;
    o[i] = w[i + 1];
    o[i + 1] = w[i];
    return true;
  }
  }
  return false;
}

int perturb_text(const perturb_opts *o, uint64_t key, const char *text, size_t len, perturb_buf *out,
                 perturb_stats *stats, size_t *bad) {
  cpvec cps = {0}, pool = {0};
  out->len = 0;
  buf_reserve(out, len);
  out->buf[0] = 0;
  for (size_t i = 0; i < len;) {
    size_t at = i;
    int32_t c = next_cp(text, len, &i);
    if (c < 0) {
      if (bad) *bad = at;
      free(cps.v);
      return -1;
    }
    cp_push(&cps, (uint32_t)c);
  }
  const uint32_t *t = cps.v;
  size_t n = cps.n;

  /* words */
  size_t lead = 0;
  while (lead < n && is_space_cp(t[lead])) lead++;
  word_t *w = NULL;
  size_t nw = 0, capw = 0;
  for (size_t i = lead; i < n;) {
    word_t x = {0};
    x.pre = i;
    while (i < n && !is_space_cp(t[i])) i++;
    x.end = i;
    while (i < n && is_space_cp(t[i])) i++;
    x.sep_end = i;
    x.core = x.pre;
    while (x.core < x.end && is_punct_cp(t[x.core])) x.core++;
    x.suf = x.end;
    while (x.suf > x.core && is_punct_cp(t[x.suf - 1])) x.suf--;
    x.cstart = pool.n;
    for (size_t k = x.core; k < x.suf; k++) cp_push(&pool, t[k]);
    x.clen = x.suf - x.core;
    if (nw == capw) w = xrealloc(w, (capw = capw ? 2 * capw : 32) * sizeof *w);
    w[nw++] = x;
  }
  if (stats) stats->words += nw;

  rng_t r;
  /* code-switching */
  if (o->dict && o->switch_rate > 0) {
    stream_seed(&r, o->seed, key, STREAM_SWITCH);
    perturb_buf tmp = {0};
    for (size_t k = 0; k < nw; k++) {
      if (!w[k].clen) continue;
      tmp.len = 0;
      for (size_t j = 0; j < w[k].clen; j++) buf_put_cp(&tmp, pool.v[w[k].cstart + j]);
      const char *const *tr;
      size_t ntr = perturb_dict_lookup(o->dict, tmp.buf, tmp.len, &tr);
      bool lowered = false;
      if (!ntr) {
        uint32_t first = pool.v[w[k].cstart];
        tmp.len = 0;
        for (size_t j = 0; j < w[k].clen; j++) buf_put_cp(&tmp, lower_cp(pool.v[w[k].cstart + j]));
        ntr = perturb_dict_lookup(o->dict, tmp.buf, tmp.len, &tr);
        lowered = lower_cp(first) != first;
      }
      if (!ntr || rng_uniform(&r) >= o->switch_rate) continue;
      const char *s = tr[ntr == 1 ? 0 : rng_below(&r, ntr)];
      size_t sl = strlen(s);
      w[k].cstart = pool.n;
      for (size_t i = 0; i < sl;) cp_push(&pool, (uint32_t)next_cp(s, sl, &i));
      w[k].clen = pool.n - w[k].cstart;
      /* "Haus" found as "haus": keep the capital on the translation */
      if (lowered && w[k].clen) pool.v[w[k].cstart] = upper_cp(pool.v[w[k].cstart]);
      w[k].switched = true;
      if (stats) stats->switched++;
    }
    perturb_buf_free(&tmp);
  }

  /* typos */
  if (o->typo_rate > 0) {
    stream_seed(&r, o->seed, key, STREAM_TYPO);
    unsigned kinds = o->typo_kinds ? o->typo_kinds : PERTURB_ALL_TYPOS;
    for (size_t k = 0; k < nw; k++) {
      if (w[k].clen < 3 || w[k].switched) continue;
      if (rng_uniform(&r) >= o->typo_rate) continue;
      size_t start = pool.n;
      /* the source may move when pool grows: copy it first */
      uint32_t small[64], *src = w[k].clen <= 64 ? small : xmalloc(w[k].clen * sizeof *src);
      memcpy(src, pool.v + w[k].cstart, w[k].clen * sizeof *src);
      if (typo_word(&r, kinds, src, w[k].clen, &pool)) {
        w[k].cstart = start;
        w[k].clen = pool.n - start;
        if (stats) stats->typos++;
      } else {
        pool.n = start;
      }
      if (src != small) free(src);
    }
  }

  /* word drop: one word always stays, so no text becomes empty */
  size_t *keep = xmalloc((nw ? nw : 1) * sizeof *keep), nk = 0;
  if (o->drop_rate > 0 && nw) {
    stream_seed(&r, o->seed, key, STREAM_DROP);
    for (size_t k = 0; k < nw; k++)
      if (rng_uniform(&r) >= o->drop_rate) keep[nk++] = k;
    if (nk == 0) keep[nk++] = (size_t)rng_below(&r, nw);
    if (stats) stats->dropped += nw - nk;
  } else {
    for (size_t k = 0; k < nw; k++) keep[nk++] = k;
  }

  /* word swap: exchange the cores of neighbours, punctuation stays in place */
  if (o->swap_rate > 0) {
    stream_seed(&r, o->seed, key, STREAM_SWAP);
    for (size_t i = 0; i + 1 < nk; i++) {
      if (rng_uniform(&r) >= o->swap_rate) continue;
      word_t *a = &w[keep[i]], *b = &w[keep[i + 1]];
      size_t cs = a->cstart, cl = a->clen;
      a->cstart = b->cstart, a->clen = b->clen;
      b->cstart = cs, b->clen = cl;
      if (stats) stats->swapped++;
      i++;
    }
  }

  /* write */
  for (size_t i = 0; i < lead; i++) buf_put_cp(out, t[i]);
  for (size_t j = 0; j < nk; j++) {
    const word_t *x = &w[keep[j]];
    if (j) {
      const word_t *p = &w[keep[j - 1]];
      for (size_t i = p->end; i < p->sep_end; i++) buf_put_cp(out, t[i]);
    }
    for (size_t i = x->pre; i < x->core; i++) buf_put_cp(out, t[i]);
    for (size_t i = 0; i < x->clen; i++) buf_put_cp(out, pool.v[x->cstart + i]);
    for (size_t i = x->suf; i < x->end; i++) buf_put_cp(out, t[i]);
  }
  if (nw)
    for (size_t i = w[nw - 1].end; i < w[nw - 1].sep_end; i++) buf_put_cp(out, t[i]);
  free(keep);
  free(w);
  free(cps.v);
  free(pool.v);
  return 0;
}

/* ---------------- TSV lines ---------------- */

int perturb_tsv_line(const perturb_opts *o, const perturb_tsv *t, const char *line, size_t len, uint64_t lineno,
                     perturb_buf *out, perturb_stats *stats, char *err, size_t errlen) {
  /* every output line ends with LF, and with CRLF when the input line did */
  const char *eol = "\n";
  if (len && line[len - 1] == '\n') len--;
  if (len && line[len - 1] == '\r') len--, eol = "\r\n";
  int want = t->fields;
  const char *f[4];
  size_t fl[4];
  int nf = 0;
  const char *p = line, *end = line + len;
  while (nf < 4) {
    const char *tab = memchr(p, '\t', (size_t)(end - p));
    f[nf] = p;
    fl[nf] = (size_t)((tab ? tab : end) - p);
    nf++;
    if (!tab) break;
    p = tab + 1;
  }
  if (nf != want)
    return set_err(err, errlen, "line %" PRIu64 ": expected %d tab-separated fields (%s), got %s%d", lineno, want,
                   t->names, nf > 3 ? "more than " : "", nf > 3 ? 3 : nf);
  if (fl[0] == 0) return set_err(err, errlen, "line %" PRIu64 ": empty id", lineno);
  size_t bad = uc_utf8_first_invalid((const unsigned char *)line, len);
  if (bad < len) return set_err(err, errlen, "line %" PRIu64 ": invalid UTF-8 at byte %zu", lineno, bad + 1);
  uint64_t key = t->key_by_index ? lineno - 1 : perturb_key_of_id(f[0], fl[0]);
  perturb_buf noisy = {0};
  if (perturb_text(o, key, f[t->text_field], fl[t->text_field], &noisy, stats, &bad) != 0) {
    perturb_buf_free(&noisy);
    return set_err(err, errlen, "line %" PRIu64 ": invalid UTF-8 at byte %zu of the text", lineno, bad + 1);
  }
  out->len = 0;
  for (int k = 0; k < nf; k++) {
    const char *x = k == t->text_field ? noisy.buf : f[k];
    size_t xl = k == t->text_field ? noisy.len : fl[k];
    buf_reserve(out, xl + 3);
    if (k) out->buf[out->len++] = '\t';
    memcpy(out->buf + out->len, x, xl);
    out->len += xl;
  }
  buf_reserve(out, 2);
  memcpy(out->buf + out->len, eol, strlen(eol) + 1);
  out->len += strlen(eol);
  perturb_buf_free(&noisy);
  return 0;
}
