/* batch.c: token-budget batches for the encoder (see batch.h). */
#include "model/batch.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static int cmp_len(const void *a, const void *b, void *arg) {
  const int *len = arg;
  int x = *(const int *)a, y = *(const int *)b;
  if (len[x] != len[y]) return len[x] < len[y] ? -1 : 1;
  return (x > y) - (x < y);
}

int batch_plan(bert_packer *p, const int *len, int n, size_t budget, int sort) {
  if (budget < 1) budget = 1;
  if ((size_t)n > p->cap_n) {
    p->cap_n = (size_t)n;
    p->order = xrealloc(p->order, xmul(p->cap_n, sizeof *p->order));
    p->spans = xrealloc(p->spans, xmul(p->cap_n, sizeof *p->spans));
  }
  p->n = n;
  for (int i = 0; i < n; i++) p->order[i] = i;
  if (sort && n > 1) qsort_r(p->order, (size_t)n, sizeof *p->order, cmp_len, (void *)len);
  p->nbatches = 0;
  for (int s = 0; s < n;) {
    int e = s;
    size_t tokens = 0;
    while (e < n && (e == s || tokens + (size_t)len[p->order[e]] <= budget)) tokens += (size_t)len[p->order[e++]];
    p->spans[p->nbatches++] = (batch_span){s, e - s, tokens};
    s = e;
  }
  return p->nbatches;
}

void batch_pack(bert_packer *p, const bert_seq *seqs, int k, bert_input *in) {
  const batch_span *sp = &p->spans[k];
  if (sp->tokens > p->cap_tokens) {
    p->cap_tokens = sp->tokens;
    p->ids = xrealloc(p->ids, xmul(p->cap_tokens, sizeof *p->ids));
    p->type_ids = xrealloc(p->type_ids, xmul(p->cap_tokens, sizeof *p->type_ids));
  }
  if ((size_t)sp->count > p->cap_seqs) {
    p->cap_seqs = (size_t)sp->count;
    p->len = xrealloc(p->len, xmul(p->cap_seqs, sizeof *p->len));
    p->embeds = xrealloc(p->embeds, xmul(p->cap_seqs, sizeof *p->embeds));
  }
  size_t row = 0;
  int any_emb = 0, any_type = 0;
  for (int j = 0; j < sp->count; j++) {
    const bert_seq *s = &seqs[p->order[sp->first + j]];
    p->len[j] = s->len;
    p->embeds[j] = s->embeds;
    any_emb |= s->embeds != NULL;
    any_type |= s->type_ids != NULL;
    if (s->embeds) memset(p->ids + row, 0, (size_t)s->len * sizeof *p->ids);
    else memcpy(p->ids + row, s->ids, (size_t)s->len * sizeof *p->ids);
    if (s->type_ids) memcpy(p->type_ids + row, s->type_ids, (size_t)s->len * sizeof *p->type_ids);
    else memset(p->type_ids + row, 0, (size_t)s->len * sizeof *p->type_ids);
    row += (size_t)s->len;
  }
  *in = (bert_input){.B = sp->count, .len = p->len, .ids = p->ids, .embeds = any_emb ? p->embeds : NULL,
                     .type_ids = any_type ? p->type_ids : NULL};
}

void batch_free(bert_packer *p) {
  free(p->order);
  free(p->spans);
  free(p->ids);
  free(p->type_ids);
  free(p->len);
  free(p->embeds);
  memset(p, 0, sizeof *p);
}

int batch_error(const bert_packer *p, int k, int B, const char *e, char *err, size_t errlen) {
  /* bert_forward says "sequence J, token T: ..." or "sequence J: ..." with J
   * the position in the batch: name the caller's sequence instead */
  int j = 0;
  const char *rest = e;
  if (!strncmp(e, "sequence ", 9)) {
    char *end;
    j = (int)strtol(e + 9, &end, 10);
    rest = end;
  }
  if (j < 0 || j >= B) j = 0;
  return set_err(err, errlen, "sequence %d%s%s", batch_seq(p, k, j), rest == e ? ": " : "", rest);
}

int bert_encode_seqs(bert_model *m, bert_acts *a, bert_packer *p, const bert_seq *seqs, int n, size_t budget,
                     int nlayers, float *const *out, char *err, size_t errlen) {
  int *len = xmalloc((n ? (size_t)n : 1) * sizeof *len);
  for (int i = 0; i < n; i++) len[i] = seqs[i].len;
  int nb = batch_plan(p, len, n, budget, 1);
  free(len);
  size_t d = (size_t)m->cfg.hidden;
  for (int k = 0; k < nb; k++) {
    bert_input in;
    batch_pack(p, seqs, k, &in);
    char e[400];
    if (bert_forward(m, a, &in, nlayers, e, sizeof e) != 0) return batch_error(p, k, in.B, e, err, errlen);
    const float *o = bert_output(a);
    for (int j = 0; j < in.B; j++) {
      int i = batch_seq(p, k, j);
      memcpy(out[i], o + (size_t)bert_seq_start(a, j) * d, (size_t)seqs[i].len * d * sizeof(float));
    }
  }
  return 0;
}
