/* vocab.c: vocab.txt loading and the double-array trie (see vocab.h). */
#include "text/vocab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "text/unicode.h"
#include "base/sha256.h"
#include "base/util.h"

/* A double-array trie: the transition from state s on byte c goes to
 * t = base(s) + c when check[t] == s. Nodes are 8 bytes so that more of the
 * hot part of the trie stays in cache; the top bit of base marks the states
 * where a piece ends, whose id is in a separate array read only then. */
typedef struct {
  uint32_t base;  /* DAT_TERM | base */
  int32_t check;  /* parent state; DAT_FREE for an unused slot */
} dat_node;

#define DAT_TERM 0x80000000u
#define DAT_BASE(x) ((x) & ~DAT_TERM)
#define DAT_FREE (-1)
#define DAT_ROOT_CHECK (-2)

struct vocab {
  uint32_t n;          /* ids */
  char *text;          /* all pieces, NUL-separated */
  size_t *piece_off;   /* n + 1 offsets into text (the last is the end) */
  dat_node *dat;
  int32_t *dat_value;  /* piece id at terminal states */
  size_t dat_size;
  int32_t cont_state;
  char sha256[65];
};

/* ---- double-array construction ---- */
typedef struct {
  const unsigned char *s;
  size_t len;
  uint32_t id;
} dat_key;

typedef struct {
  dat_node *a;
  int32_t *value;
  uint32_t *next_free;  /* union-find: the smallest free slot >= i is find(i) */
  size_t size;          /* allocated slots */
  size_t multi_start;   /* where searches for nodes with several children start */
  uint32_t max_base;
  dat_key *keys, *tmp;
  /* stack of child groups of the frames being built */
  struct dat_group { unsigned label; size_t lo, hi; } *groups;
  size_t ngroups, capgroups;
} dat_builder;

static void dat_reserve(dat_builder *b, size_t need) {
  if (need <= b->size) return;
  size_t ns = b->size ? b->size : 1024;
  while (ns < need) ns *= 2;
  b->a = xrealloc(b->a, xmul(ns, sizeof *b->a));
  b->value = xrealloc(b->value, xmul(ns, sizeof *b->value));
  b->next_free = xrealloc(b->next_free, xmul(ns + 1, sizeof *b->next_free));
  for (size_t i = b->size; i < ns; i++) {
    b->a[i] = (dat_node){0, DAT_FREE};
    b->value[i] = -1;
    b->next_free[i] = (uint32_t)i;
  }
  b->next_free[ns] = (uint32_t)ns;
  b->size = ns;
}

static size_t dat_find_free(dat_builder *b, size_t i) {
  dat_reserve(b, i + 1);
  size_t r = i;
  while (b->next_free[r] != r) r = b->next_free[r];
  while (b->next_free[i] != r) { /* path compression */
    size_t n = b->next_free[i];
    b->next_free[i] = (uint32_t)r;
    i = n;
  }
  return r;
}

static void dat_occupy(dat_builder *b, size_t t, int32_t parent) {
  b->a[t].check = parent;
  b->next_free[t] = (uint32_t)(t + 1);
}

/* keys[lo..hi) share their first `depth` bytes and are all longer than that;
 * give state s their children, then recurse. */
/* Order keys[lo..hi) by their byte at depth, a key that ends right after it
 * first, stably (so equal strings keep id order and the later id wins). The
 * trie is built top-down, so sorting one level per node is a most-significant
 * -digit radix sort: linear in the vocabulary's bytes, no comparisons. */
static unsigned key_bucket(const dat_key *k, size_t depth) {
  return (unsigned)k->s[depth] << 1 | (k->len > depth + 1);
}

static void dat_sort_level(dat_builder *b, size_t lo, size_t hi, size_t depth) {
  dat_key *k = b->keys;
  if (hi - lo < 48) { /* insertion sort: most nodes have a handful of keys */
    for (size_t i = lo + 1; i < hi; i++) {
      dat_key x = k[i];
      unsigned bx = key_bucket(&x, depth);
      size_t j = i;
      while (j > lo && key_bucket(&k[j - 1], depth) > bx) {
        k[j] = k[j - 1];
        j--;
      }
      k[j] = x;
    }
    return;
  }
  size_t count[513] = {0};
  for (size_t i = lo; i < hi; i++) count[key_bucket(&k[i], depth) + 1]++;
  for (int c = 0; c < 512; c++) count[c + 1] += count[c];
  for (size_t i = lo; i < hi; i++) b->tmp[lo + count[key_bucket(&k[i], depth)]++] = k[i];
  memcpy(k + lo, b->tmp + lo, (hi - lo) * sizeof *k);
}

static void dat_build(dat_builder *b, int32_t s, size_t lo, size_t hi, size_t depth) {
  size_t g0 = b->ngroups;
  dat_sort_level(b, lo, hi, depth);
  for (size_t i = lo; i < hi;) {
    unsigned label = b->keys[i].s[depth];
    size_t j = i + 1;
    while (j < hi && b->keys[j].s[depth] == label) j++;
    if (b->ngroups == b->capgroups) {
      b->capgroups = b->capgroups ? 2 * b->capgroups : 1024;
      b->groups = xrealloc(b->groups, xmul(b->capgroups, sizeof *b->groups));
    }
    b->groups[b->ngroups++] = (struct dat_group){label, i, j};
    i = j;
  }
  size_t ng = b->ngroups - g0;
  unsigned first = b->groups[g0].label;
  /* base: every base + label free (base >= 1, so no child lands on the root).
   * A one-child node takes the first hole; nodes with more children start at
   * multi_start, which moves past regions where such searches kept failing. */
  size_t start = first + 1;
  if (ng > 1 && b->multi_start > start) start = b->multi_start;
  size_t pos = dat_find_free(b, start), tries = 0;
  uint32_t base;
  for (;; pos = dat_find_free(b, pos + 1), tries++) {
    dat_reserve(b, pos + 257);
    base = (uint32_t)(pos - first);
    size_t g;
    for (g = 1; g < ng; g++)
      if (b->a[base + b->groups[g0 + g].label].check != DAT_FREE) break;
    if (g == ng) break;
  }
  if (ng > 1 && tries > 32) b->multi_start = pos;
  b->a[s].base = (b->a[s].base & DAT_TERM) | base;
  if (base > b->max_base) b->max_base = base;
  for (size_t g = 0; g < ng; g++) dat_occupy(b, base + b->groups[g0 + g].label, s);
  for (size_t g = 0; g < ng; g++) {
    struct dat_group gr = b->groups[g0 + g];
    uint32_t t = base + gr.label;
    size_t l = gr.lo;
    /* a key ending here comes first in its group; a duplicate string's
     * later id overwrites the earlier one */
    while (l < gr.hi && b->keys[l].len == depth + 1) {
      b->value[t] = (int32_t)b->keys[l++].id;
      b->a[t].base |= DAT_TERM;
    }
    if (l < gr.hi) dat_build(b, (int32_t)t, l, gr.hi, depth + 1);
  }
  b->ngroups = g0;
}

static int is_py_space_at(const unsigned char *s, size_t n, size_t *len) {
  uint32_t cp;
  size_t bad;
  size_t k = uc_utf8_decode(s, n, &cp, &bad);
  if (!k || !(uc_flags(cp) & UC_PYSPACE)) return 0;
  *len = k;
  return 1;
}

/* Python str.strip(): whitespace is str.isspace. */
static void py_strip(const unsigned char **s, size_t *n) {
  const unsigned char *p = *s;
  size_t len = *n, k;
  while (len && is_py_space_at(p, len, &k)) p += k, len -= k;
  while (len) {
    size_t back = 1;
    while (back < len && back < 4 && (p[len - back] & 0xC0) == 0x80) back++;
    if (is_py_space_at(p + len - back, back, &k) && k == back) len -= back;
    else break;
  }
  *s = p;
  *n = len;
}

vocab *vocab_from_mem(const char *buf, size_t len, const char *name, char *err, size_t errlen) {
  const unsigned char *u = (const unsigned char *)buf;
  if (len == 0) {
    snprintf(err, errlen, "%s: empty vocabulary", name);
    return NULL;
  }
  const void *nul = memchr(buf, 0, len);
  if (nul) {
    size_t off = (size_t)((const char *)nul - buf), line = 1;
    for (size_t i = 0; i < off; i++) line += buf[i] == '\n';
    snprintf(err, errlen, "%s: line %zu: NUL byte in vocabulary", name, line);
    return NULL;
  }
  size_t bad = uc_utf8_first_invalid(u, len);
  if (bad < len) {
    size_t line = 1;
    for (size_t i = 0; i < bad; i++) line += buf[i] == '\n';
    snprintf(err, errlen, "%s: line %zu: invalid UTF-8 (byte %zu)", name, line, bad);
    return NULL;
  }
  size_t nlines = 0;
  for (size_t i = 0; i < len; i++) nlines += buf[i] == '\n';
  if (buf[len - 1] != '\n') nlines++;
  if (nlines > INT32_MAX / 2) {
    snprintf(err, errlen, "%s: too many lines (%zu)", name, nlines);
    return NULL;
  }
  vocab *v = xcalloc(1, sizeof *v);
  v->n = (uint32_t)nlines;
  v->text = xmalloc(len + 1);
  v->piece_off = xmalloc(xmul(nlines + 1, sizeof *v->piece_off));
  dat_key *keys = xmalloc(xmul(nlines, sizeof *keys));
  size_t nkeys = 0, tpos = 0, id = 0;
  for (size_t i = 0; i < len && id < nlines;) {
    const unsigned char *line = u + i;
    const unsigned char *eol = memchr(line, '\n', len - i);
    size_t llen = eol ? (size_t)(eol - line) : len - i;
    i += llen + 1;
    py_strip(&line, &llen);
    v->piece_off[id] = tpos;
    memcpy(v->text + tpos, line, llen);
    if (llen) keys[nkeys++] = (dat_key){(const unsigned char *)v->text + tpos, llen, (uint32_t)id};
    tpos += llen;
    v->text[tpos++] = 0;
    id++;
  }
  v->piece_off[id] = tpos;
  otc_sha256_hex(buf, len, v->sha256);

  dat_builder b = {0};
  b.keys = keys;
  b.tmp = xmalloc(xmul(nkeys ? nkeys : 1, sizeof *b.tmp));
  dat_reserve(&b, 1024);
  dat_occupy(&b, 0, DAT_ROOT_CHECK);
  if (nkeys) dat_build(&b, 0, 0, nkeys, 0);
  /* every base + any byte stays inside the array: lookups need no bounds check */
  dat_reserve(&b, (size_t)b.max_base + 257);
  v->dat = b.a;
  v->dat_value = b.value;
  v->dat_size = b.size;
  free(b.next_free);
  free(b.groups);
  free(b.tmp);
  free(keys);
  v->cont_state = VOCAB_ROOT;
  for (int k = 0; k < 2 && v->cont_state >= 0; k++) {
    int32_t t = (int32_t)(DAT_BASE(v->dat[v->cont_state].base) + '#');
    v->cont_state = v->dat[t].check == v->cont_state ? t : -1;
  }
  return v;
}

vocab *vocab_load(const char *path, char *err, size_t errlen) {
  size_t len;
  char *buf = read_file(path, &len);
  if (!buf) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  vocab *v = vocab_from_mem(buf, len, path, err, errlen);
  free(buf);
  return v;
}

void vocab_free(vocab *v) {
  if (!v) return;
  free(v->text);
  free(v->piece_off);
  free(v->dat);
  free(v->dat_value);
  free(v);
}

uint32_t vocab_size(const vocab *v) { return v->n; }

const char *vocab_piece(const vocab *v, uint32_t id, size_t *len) {
  if (len) *len = v->piece_off[id + 1] - v->piece_off[id] - 1;
  return v->text + v->piece_off[id];
}

const char *vocab_sha256(const vocab *v) { return v->sha256; }

int32_t vocab_cont_state(const vocab *v) { return v->cont_state; }

int32_t vocab_longest(const vocab *v, int32_t state, const unsigned char *s, size_t n, size_t *matched) {
  const dat_node *a = v->dat;
  int32_t best = -1;
  size_t best_len = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t t = DAT_BASE(a[state].base) + s[i];
    if (a[t].check != state) break;
    state = (int32_t)t;
    if (a[t].base & DAT_TERM) {
      best = v->dat_value[t];
      best_len = i + 1;
    }
  }
  *matched = best_len;
  return best;
}

int64_t vocab_id(const vocab *v, const char *piece, size_t len) {
  const dat_node *a = v->dat;
  int32_t state = VOCAB_ROOT;
  if (len == 0) return -1;
  for (size_t i = 0; i < len; i++) {
    uint32_t t = DAT_BASE(a[state].base) + (unsigned char)piece[i];
    if (a[t].check != state) return -1;
    state = (int32_t)t;
  }
  return a[state].base & DAT_TERM ? v->dat_value[state] : -1;
}
