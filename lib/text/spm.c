/* spm.c: SentencePiece model files (protobuf ModelProto) read, pruned and
 * rewritten; encoding through the library shim (see spm.h). */
#include "text/spm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/sha256.h"
#include "base/util.h"
#include "text/spm_proc.h"

typedef struct {
  size_t off, len;        /* piece bytes in m->text */
  float score;
  int type;
  size_t rec_start, rec_end; /* the whole field-1 entry (tag..payload) in the file */
} spm_entry;

struct spm_model {
  char *name;
  unsigned char *bytes;
  size_t nbytes;
  char sha256[65];
  int n;
  spm_entry *e;
  char *text;             /* pieces, NUL-separated */
  int algo, unk, bos, eos, pad;
  spm_proc *proc;
};

/* ---- protobuf wire format: just what a ModelProto needs ---- */

typedef struct {
  const unsigned char *p, *end;
} pb;

static int pb_varint(pb *b, uint64_t *v) {
  uint64_t x = 0;
  for (int s = 0; s < 70; s += 7) {
    if (b->p >= b->end) return -1;
    unsigned c = *b->p++;
    x |= (uint64_t)(c & 0x7f) << s;
    if (!(c & 0x80)) {
      *v = x;
      return 0;
    }
  }
  return -1;
}

/* One field: its number, wire type and value (varint or fixed in *num;
 * length-delimited payload in *data, *len). 0, or -1 on a damaged field. */
static int pb_field(pb *b, uint32_t *field, int *wire, uint64_t *num, const unsigned char **data, size_t *len) {
  uint64_t tag;
  if (pb_varint(b, &tag) != 0 || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return -1;
  *field = (uint32_t)(tag >> 3);
  *wire = (int)(tag & 7);
  switch (*wire) {
  case 0: return pb_varint(b, num);
  case 1:
    if (b->end - b->p < 8) return -1;
    memcpy(num, b->p, 8);
    b->p += 8;
    return 0;
  case 5: {
    if (b->end - b->p < 4) return -1;
    uint32_t x;
    memcpy(&x, b->p, 4);
    *num = x;
    b->p += 4;
    return 0;
  }
  case 2: {
    uint64_t n;
    if (pb_varint(b, &n) != 0 || n > (uint64_t)(b->end - b->p)) return -1;
    *data = b->p;
    *len = (size_t)n;
    b->p += n;
    return 0;
  }
  default: return -1; /* groups (3, 4) and unknown wire types */
  }
}

static int parse_piece(spm_model *m, const unsigned char *data, size_t len, spm_entry *e, size_t *textcap,
                       size_t *textlen) {
  pb b = {data, data + len};
  const unsigned char *s = NULL;
  size_t slen = 0;
  int have = 0;
  e->type = SPM_NORMAL;
  e->score = 0;
  while (b.p < b.end) {
    uint32_t f;
    int w;
    uint64_t num = 0;
    const unsigned char *d = NULL;
    size_t dl = 0;
    if (pb_field(&b, &f, &w, &num, &d, &dl) != 0) return -1;
    if (f == 1 && w == 2) {
      s = d;
      slen = dl;
      have = 1;
    } else if (f == 2 && w == 5) {
      uint32_t x = (uint32_t)num;
      memcpy(&e->score, &x, 4);
    } else if (f == 3 && w == 0) {
      e->type = (int)num;
    }
  }
  if (!have || memchr(s, 0, slen)) return -1;
  if (*textlen + slen + 1 > *textcap) {
    while (*textlen + slen + 1 > *textcap) *textcap = *textcap ? 2 * *textcap : 1 << 16;
    m->text = xrealloc(m->text, *textcap);
  }
  e->off = *textlen;
  e->len = slen;
  memcpy(m->text + *textlen, s, slen);
  m->text[*textlen + slen] = 0;
  *textlen += slen + 1;
  return 0;
}

static int parse_trainer(spm_model *m, const unsigned char *data, size_t len) {
  pb b = {data, data + len};
  while (b.p < b.end) {
    uint32_t f;
    int w;
    uint64_t num = 0;
    const unsigned char *d = NULL;
    size_t dl = 0;
    if (pb_field(&b, &f, &w, &num, &d, &dl) != 0) return -1;
    if (w != 0) continue;
    int v = (int)(int32_t)(uint32_t)num; /* int32: negatives are 10-byte varints */
    switch (f) {
    case 3: m->algo = v; break;
    case 40: m->unk = v; break;
    case 41: m->bos = v; break;
    case 42: m->eos = v; break;
    case 43: m->pad = v; break;
    }
  }
  return 0;
}

static int parse_model(spm_model *m, char *err, size_t errlen) {
  pb b = {m->bytes, m->bytes + m->nbytes};
  int cap = 0;
  size_t textcap = 0, textlen = 0;
  m->algo = SPM_UNIGRAM;
  m->unk = 0, m->bos = 1, m->eos = 2, m->pad = -1;
  while (b.p < b.end) {
    size_t start = (size_t)(b.p - m->bytes);
    uint32_t f;
    int w;
    uint64_t num = 0;
    const unsigned char *d = NULL;
    size_t dl = 0;
    if (pb_field(&b, &f, &w, &num, &d, &dl) != 0)
      return set_err(err, errlen, "%s: not a SentencePiece model (damaged protobuf at byte %zu)", m->name, start);
    if (f == 1 && w == 2) {
      if (m->n == cap) m->e = xrealloc(m->e, xmul((size_t)(cap = cap ? 2 * cap : 1024), sizeof *m->e));
      spm_entry *e = &m->e[m->n];
      if (parse_piece(m, d, dl, e, &textcap, &textlen) != 0)
        return set_err(err, errlen, "%s: not a SentencePiece model (piece %d at byte %zu is damaged)", m->name, m->n,
                       start);
      e->rec_start = start;
      e->rec_end = (size_t)(b.p - m->bytes);
      m->n++;
    } else if (f == 2 && w == 2) {
      if (parse_trainer(m, d, dl) != 0)
        return set_err(err, errlen, "%s: not a SentencePiece model (damaged trainer_spec)", m->name);
    }
  }
  if (m->n == 0) return set_err(err, errlen, "%s: not a SentencePiece model (no pieces)", m->name);
  return 0;
}

spm_model *spm_from_mem(const void *buf, size_t len, const char *name, char *err, size_t errlen) {
  spm_model *m = xcalloc(1, sizeof *m);
  m->name = xstrdup(name);
  m->bytes = xmalloc(len ? len : 1);
  memcpy(m->bytes, buf, len);
  m->nbytes = len;
  otc_sha256_hex(m->bytes, len, m->sha256);
  char e[400];
  if (parse_model(m, err, errlen) != 0) goto fail;
  if (!(m->proc = spm_proc_new(m->bytes, m->nbytes, e, sizeof e))) {
    set_err(err, errlen, "%s: the sentencepiece library cannot load it: %s", name, e);
    goto fail;
  }
  if (spm_proc_size(m->proc) != m->n) {
    set_err(err, errlen, "%s: %d pieces read, the sentencepiece library counts %d", name, m->n,
            spm_proc_size(m->proc));
    goto fail;
  }
  return m;
fail:
  spm_free(m);
  return NULL;
}

spm_model *spm_load(const char *path, char *err, size_t errlen) {
  size_t len;
  char *buf = read_file(path, &len);
  if (!buf) {
    set_err(err, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  spm_model *m = spm_from_mem(buf, len, path, err, errlen);
  free(buf);
  return m;
}

void spm_free(spm_model *m) {
  if (!m) return;
  if (m->proc) spm_proc_free(m->proc);
  free(m->name);
  free(m->bytes);
  free(m->e);
  free(m->text);
  free(m);
}

int spm_size(const spm_model *m) { return m->n; }

const char *spm_piece(const spm_model *m, int id, size_t *len) {
  if (len) *len = m->e[id].len;
  return m->text + m->e[id].off;
}

float spm_score(const spm_model *m, int id) { return m->e[id].score; }
int spm_piece_type(const spm_model *m, int id) { return m->e[id].type; }
int spm_algorithm(const spm_model *m) { return m->algo; }

void spm_special_ids(const spm_model *m, int *unk, int *bos, int *eos, int *pad) {
  if (unk) *unk = m->unk;
  if (bos) *bos = m->bos;
  if (eos) *eos = m->eos;
  if (pad) *pad = m->pad;
}

const char *spm_sha256(const spm_model *m) { return m->sha256; }

const void *spm_bytes(const spm_model *m, size_t *len) {
  *len = m->nbytes;
  return m->bytes;
}

/* ---- encoding ---- */

void spm_pieces_free(spm_pieces *p) {
  free(p->ids);
  free(p->spans);
  memset(p, 0, sizeof *p);
}

static void sink(void *ctx, int id, uint32_t begin, uint32_t end) {
  spm_pieces *p = ctx;
  if (p->n == p->cap) {
    p->cap = p->cap ? 2 * p->cap : 64;
    p->ids = xrealloc(p->ids, xmul(p->cap, sizeof *p->ids));
    p->spans = xrealloc(p->spans, xmul(p->cap, 2 * sizeof *p->spans));
  }
  p->ids[p->n] = id;
  p->spans[2 * p->n] = begin;
  p->spans[2 * p->n + 1] = end;
  p->n++;
}

int spm_encode(const spm_model *m, const char *text, size_t len, spm_pieces *out, char *err, size_t errlen) {
  out->n = 0;
  char e[400];
  if (spm_proc_encode(m->proc, text, len, sink, out, e, sizeof e) != 0)
    return set_err(err, errlen, "%s: %s", m->name, e);
  for (size_t i = 0; i < out->n; i++)
    if (out->ids[i] < 0 || out->ids[i] >= m->n)
      return set_err(err, errlen, "%s: the library returned id %d outside the model", m->name, out->ids[i]);
  return 0;
}

/* ---- pruning ---- */

/* Open addressing over the pieces the library's BPE merges into (normal,
 * user-defined and unused pieces). */
typedef struct {
  int *slot;
  size_t mask;
} piece_map;

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
  return h;
}

static void map_build(const spm_model *m, piece_map *pm) {
  size_t cap = 16;
  while (cap < (size_t)m->n * 2) cap *= 2;
  pm->slot = xmalloc(cap * sizeof *pm->slot);
  memset(pm->slot, 0xff, cap * sizeof *pm->slot);
  pm->mask = cap - 1;
  for (int i = 0; i < m->n; i++) {
    int t = m->e[i].type;
    if (t != SPM_NORMAL && t != SPM_USER_DEFINED && t != SPM_UNUSED) continue;
    size_t h = hash_bytes(m->text + m->e[i].off, m->e[i].len) & pm->mask;
    while (pm->slot[h] >= 0) {
      const spm_entry *o = &m->e[pm->slot[h]];
      if (o->len == m->e[i].len && !memcmp(m->text + o->off, m->text + m->e[i].off, o->len)) break;
      h = (h + 1) & pm->mask;
    }
    if (pm->slot[h] < 0) pm->slot[h] = i; /* the first id of a duplicate wins */
  }
}

static int map_find(const spm_model *m, const piece_map *pm, const char *s, size_t n) {
  size_t h = hash_bytes(s, n) & pm->mask;
  while (pm->slot[h] >= 0) {
    const spm_entry *o = &m->e[pm->slot[h]];
    if (o->len == n && !memcmp(m->text + o->off, s, n)) return pm->slot[h];
    h = (h + 1) & pm->mask;
  }
  return -1;
}

static size_t utf8_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4; }

/* BPE on one piece's characters: mark every symbol formed on the way. */
static void bpe_marks(const spm_model *m, const piece_map *pm, int id, unsigned char *keep, size_t *start,
                      size_t *end) {
  const char *s = m->text + m->e[id].off;
  size_t n = m->e[id].len, k = 0;
  for (size_t i = 0; i < n; k++) {
    size_t l = utf8_len((unsigned char)s[i]);
    if (i + l > n) l = n - i;
    start[k] = i;
    end[k] = i + l;
    i += l;
  }
  while (k > 1) {
    int best = -1;
    size_t at = 0;
    for (size_t j = 0; j + 1 < k; j++) {
      int c = map_find(m, pm, s + start[j], end[j + 1] - start[j]);
      if (c >= 0 && (best < 0 || m->e[c].score > m->e[best].score)) {
        best = c;
        at = j;
      }
    }
    if (best < 0) break;
    keep[best] = 1;
    end[at] = end[at + 1];
    memmove(start + at + 1, start + at + 2, (k - at - 2) * sizeof *start);
    memmove(end + at + 1, end + at + 2, (k - at - 2) * sizeof *end);
    k--;
  }
}

void spm_keep_closure(const spm_model *m, unsigned char *keep) {
  int lo = -1, hi = -1;
  for (int i = 0; i < m->n; i++) {
    if (m->e[i].type != SPM_NORMAL) {
      keep[i] = 1;
      continue;
    }
    if (lo < 0 || m->e[i].score < m->e[lo].score) lo = i;
    if (hi < 0 || m->e[i].score > m->e[hi].score) hi = i;
  }
  if (m->algo == SPM_BPE) {
    piece_map pm;
    map_build(m, &pm);
    size_t longest = 1;
    for (int i = 0; i < m->n; i++)
      if (m->e[i].len > longest) longest = m->e[i].len;
    size_t *start = xmalloc(longest * sizeof *start), *end = xmalloc(longest * sizeof *end);
    for (int i = 0; i < m->n; i++)
      if (keep[i] && m->e[i].type == SPM_NORMAL) bpe_marks(m, &pm, i, keep, start, end);
    free(start);
    free(end);
    free(pm.slot);
  } else if (lo >= 0) {
    keep[lo] = keep[hi] = 1;
  }
}

int spm_subset(const spm_model *m, const unsigned char *keep, int *old_to_new, char **out, size_t *outlen,
               char *err, size_t errlen) {
  if (m->unk < 0 || m->unk >= m->n || !keep[m->unk])
    return set_err(err, errlen, "%s: a pruned model must keep the unknown piece", m->name);
  char *buf = xmalloc(m->nbytes ? m->nbytes : 1);
  size_t o = 0;
  int k = 0, next = 0;
  pb b = {m->bytes, m->bytes + m->nbytes};
  while (b.p < b.end) {
    size_t start = (size_t)(b.p - m->bytes);
    uint32_t f;
    int w;
    uint64_t num;
    const unsigned char *d;
    size_t dl;
    pb_field(&b, &f, &w, &num, &d, &dl); /* parsed once already: cannot fail */
    size_t stop = (size_t)(b.p - m->bytes);
    if (f == 1 && w == 2) {
      old_to_new[k] = keep[k] ? next++ : -1;
      if (keep[k++]) {
        memcpy(buf + o, m->bytes + start, stop - start);
        o += stop - start;
      }
    } else if (f != 4) { /* self_test_data's expected ids would not hold */
      memcpy(buf + o, m->bytes + start, stop - start);
      o += stop - start;
    }
  }
  *out = buf;
  *outlen = o;
  return next;
}
