/* pairs.c: pair streams for training, batches and IDF weights (pairs.h). */
#include "train/pairs.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/rng.h"
#include "base/util.h"

struct train_input {
  int fd;
  char *name;
  int seekable;
  train_limits lim;
  rec_reader *r;
  int f_src, f_tgt_ids, f_tgt_vecs;
  uint64_t skipped, records, fp;
};

static int open_reader(train_input *in, char *err, size_t errlen) {
  if (in->r) rec_close(in->r);
  in->r = rec_open_fd(in->fd, in->name, err, errlen);
  if (!in->r) return -1;
  in->records = 0, in->fp = 0;
  const rec_schema *s = rec_reader_schema(in->r);
  char e[512];
  if (rec_schema_expect(s, (const char *const[]){"pair", NULL}, e, sizeof e) != 0)
    return set_err(err, errlen, "%s: %s", in->name, e);
  static const char *const need[3] = {"src_ids", "tgt_ids", "tgt_vecs"};
  for (int k = 0; k < 3; k++)
    if (rec_field_index(s, need[k]) < 0)
      return set_err(err, errlen, "%s: 'pair' stream without field '%s'", in->name, need[k]);
  in->f_src = rec_field_index(s, "src_ids");
  in->f_tgt_ids = rec_field_index(s, "tgt_ids");
  in->f_tgt_vecs = rec_field_index(s, "tgt_vecs");
  int64_t d = rec_get_dim(s, "d");
  if (d > 0 && d != in->lim.d)
    return set_err(err, errlen, "%s: the teacher vectors have d = %lld, the student's hidden size is %d", in->name,
                   (long long)d, in->lim.d);
  return 0;
}

train_input *train_input_open(int fd, const char *name, const train_limits *lim, char *err, size_t errlen) {
  struct stat sb;
  if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    set_err(err, errlen, "%s: is a directory", name);
    return NULL;
  }
  train_input *in = xcalloc(1, sizeof *in);
  in->fd = fd;
  in->name = xstrdup(name);
  in->lim = *lim;
  in->seekable = S_ISREG(sb.st_mode) && lseek(fd, 0, SEEK_CUR) == 0;
  if (open_reader(in, err, errlen) != 0) {
    train_input_free(in);
    return NULL;
  }
  return in;
}

void train_input_free(train_input *in) {
  if (!in) return;
  if (in->r) rec_close(in->r);
  free(in->name);
  free(in);
}

int train_input_seekable(const train_input *in) { return in->seekable; }
const char *train_input_name(const train_input *in) { return in->name; }
const rec_schema *train_input_schema(const train_input *in) { return rec_reader_schema(in->r); }
uint64_t train_input_skipped(const train_input *in) { return in->skipped; }
uint64_t train_input_records(const train_input *in) { return in->records; }
uint64_t train_input_fingerprint(const train_input *in) { return in->fp; }

int train_input_rewind(train_input *in, char *err, size_t errlen) {
  if (!in->seekable) return set_err(err, errlen, "%s: a second pass needs a file, not a pipe", in->name);
  if (lseek(in->fd, 0, SEEK_SET) != 0) return set_err(err, errlen, "%s: seek: %s", in->name, strerror(errno));
  return open_reader(in, err, errlen);
}

static uint64_t mix(uint64_t fp, uint64_t x) {
  uint64_t s = fp ^ x;
  return rng_splitmix64(&s);
}

uint64_t train_fingerprint_fold(uint64_t fp, const train_pair *p, int d) {
  fp = mix(fp, p->index);
  fp = mix(fp, ((uint64_t)p->n << 32) | crc32c(0, p->src, p->n * sizeof *p->src));
  fp = mix(fp, ((uint64_t)p->m << 32) | crc32c(0, p->tgt, p->m * sizeof *p->tgt));
  return mix(fp, crc32c(0, p->vecs, p->m * (size_t)d * sizeof *p->vecs));
}

int train_input_next(train_input *in, train_pair *p, int count_skips, char *err, size_t errlen) {
  rec_record rec;
  const train_limits *L = &in->lim;
  for (;;) {
    int rc = rec_read(in->r, &rec);
    if (rc < 0) return set_err(err, errlen, "%s", rec_error(in->r));
    if (rc > 0) return 0;
    in->records++;
    if (!rec_has(&rec, in->f_tgt_vecs))
      return set_err(err, errlen,
                     "%s: record %" PRIu64 ": no tgt_vecs (add the teacher's vectors with embed --side tgt)", in->name,
                     rec.index);
    p->index = rec.index;
    p->src = rec_u32(&rec, in->f_src, &p->n);
    p->tgt = rec_u32(&rec, in->f_tgt_ids, &p->m);
    size_t nv;
    p->vecs = rec_f32(&rec, in->f_tgt_vecs, &nv);
    if (nv != p->m * (size_t)L->d)
      return set_err(err, errlen, "%s: record %" PRIu64 ": tgt_vecs has %zu values for %zu tgt_ids of d = %d",
                     in->name, rec.index, nv, p->m, L->d);
    if (p->n < (size_t)(1 + 2 * L->cut) || p->m < (size_t)(1 + 2 * L->cut)) {
      if (count_skips) in->skipped++;
      continue;
    }
    if (p->n > (size_t)L->max_pos)
      return set_err(err, errlen,
                     "%s: record %" PRIu64 ": %zu src tokens > the student's max_position_embeddings %d (tokenize --max-len)",
                     in->name, rec.index, p->n, L->max_pos);
    for (size_t i = 0; i < p->n; i++)
      if (p->src[i] >= (uint32_t)L->vocab_size)
        return set_err(err, errlen, "%s: record %" PRIu64 ": src id %u >= the student's vocab_size %d (wrong vocabulary?)",
                       in->name, rec.index, p->src[i], L->vocab_size);
    in->fp = train_fingerprint_fold(in->fp, p, L->d);
    return 1;
  }
}

/* ---------------------------------------------------------------- batches */

void train_batch_init(train_batch *b, int d, long max_tokens, long max_pairs) {
  memset(b, 0, sizeof *b);
  b->d = d, b->max_tokens = max_tokens, b->max_pairs = max_pairs;
}

void train_batch_free(train_batch *b) {
  free(b->src_len), free(b->tgt_len), free(b->ids), free(b->vecs), free(b->src_w), free(b->tgt_w);
  memset(b, 0, sizeof *b);
}

void train_batch_clear(train_batch *b) { b->B = 0, b->N = 0, b->M = 0, b->weighted = 0; }

int train_batch_fits(const train_batch *b, size_t n) {
  if (b->B == 0) return 1;
  if (b->max_pairs > 0 && b->B >= b->max_pairs) return 0;
  return b->N + n <= (size_t)b->max_tokens;
}

void train_batch_add(train_batch *b, const train_pair *p, const train_idf *idf) {
  if (b->B == b->cap) {
    b->cap = b->cap ? 2 * b->cap : 64;
    b->src_len = xrealloc(b->src_len, (size_t)b->cap * sizeof *b->src_len);
    b->tgt_len = xrealloc(b->tgt_len, (size_t)b->cap * sizeof *b->tgt_len);
  }
  if (b->N + p->n > b->capN) {
    while (b->N + p->n > b->capN) b->capN = b->capN ? 2 * b->capN : 4096;
    b->ids = xrealloc(b->ids, b->capN * sizeof *b->ids);
    b->src_w = xrealloc(b->src_w, b->capN * sizeof *b->src_w);
  }
  if (b->M + p->m > b->capM) {
    while (b->M + p->m > b->capM) b->capM = b->capM ? 2 * b->capM : 4096;
    b->vecs = xrealloc(b->vecs, xmul(b->capM, (size_t)b->d * sizeof *b->vecs));
    b->tgt_w = xrealloc(b->tgt_w, b->capM * sizeof *b->tgt_w);
  }
  memcpy(b->ids + b->N, p->src, p->n * sizeof *p->src);
  memcpy(b->vecs + b->M * b->d, p->vecs, p->m * (size_t)b->d * sizeof *p->vecs);
  if (idf) {
    for (size_t i = 0; i < p->n; i++) b->src_w[b->N + i] = train_idf_src(idf, p->src[i]);
    for (size_t j = 0; j < p->m; j++) b->tgt_w[b->M + j] = train_idf_tgt(idf, p->tgt[j]);
    b->weighted = 1;
  }
  b->src_len[b->B] = (int)p->n;
  b->tgt_len[b->B] = (int)p->m;
  b->B++;
  b->N += p->n;
  b->M += p->m;
  b->last_index = p->index;
}

distill_batch train_batch_view(const train_batch *b) {
  return (distill_batch){.B = b->B,
                         .src_len = b->src_len,
                         .src_ids = b->ids,
                         .tgt_len = b->tgt_len,
                         .tgt_vecs = b->vecs,
                         .src_w = b->weighted ? b->src_w : NULL,
                         .tgt_w = b->weighted ? b->tgt_w : NULL};
}

/* ---------------------------------------------------------------- IDF */

void train_idf_init(train_idf *x, int src_vocab) {
  memset(x, 0, sizeof *x);
  x->nsrc = (size_t)src_vocab;
  x->df_src = xcalloc(x->nsrc ? x->nsrc : 1, sizeof *x->df_src);
}

void train_idf_add(train_idf *x, const train_pair *p) {
  x->pairs++;
  /* each id once per pair: count it where it first occurs */
  for (size_t i = 0; i < p->n; i++) {
    size_t k = 0;
    while (k < i && p->src[k] != p->src[i]) k++;
    if (k == i && p->src[i] < x->nsrc) x->df_src[p->src[i]]++;
  }
  for (size_t j = 0; j < p->m; j++)
    if (p->tgt[j] >= x->ntgt) {
      size_t nn = (size_t)p->tgt[j] + 1;
      x->df_tgt = xrealloc(x->df_tgt, nn * sizeof *x->df_tgt);
      memset(x->df_tgt + x->ntgt, 0, (nn - x->ntgt) * sizeof *x->df_tgt);
      x->ntgt = nn;
    }
  if (p->m > x->capseen) x->seen = xrealloc(x->seen, (x->capseen = p->m) * sizeof *x->seen);
  size_t ns = 0;
  for (size_t j = 0; j < p->m; j++) {
    size_t k = 0;
    while (k < ns && x->seen[k] != p->tgt[j]) k++;
    if (k == ns) x->seen[ns++] = p->tgt[j], x->df_tgt[p->tgt[j]]++;
  }
}

void train_idf_finish(train_idf *x) {
  free(x->idf_src), free(x->idf_tgt);
  x->idf_src = xmalloc((x->nsrc ? x->nsrc : 1) * sizeof *x->idf_src);
  x->idf_tgt = xmalloc((x->ntgt ? x->ntgt : 1) * sizeof *x->idf_tgt);
  for (size_t i = 0; i < x->nsrc; i++) x->idf_src[i] = (float)(log((1.0 + x->pairs) / (1.0 + x->df_src[i])) + 1);
  for (size_t i = 0; i < x->ntgt; i++) x->idf_tgt[i] = (float)(log((1.0 + x->pairs) / (1.0 + x->df_tgt[i])) + 1);
}

void train_idf_free(train_idf *x) {
  free(x->df_src), free(x->df_tgt), free(x->idf_src), free(x->idf_tgt), free(x->seen);
  memset(x, 0, sizeof *x);
}

float train_idf_src(const train_idf *x, uint32_t id) { return id < x->nsrc ? x->idf_src[id] : 1.0f; }
float train_idf_tgt(const train_idf *x, uint32_t id) { return id < x->ntgt ? x->idf_tgt[id] : 1.0f; }
