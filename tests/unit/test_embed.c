/* test_embed.c: what `embed` is made of, called directly: the batch packer
 * (model/batch.h), XLM-R folders against their PyTorch fixture
 * (tests/fixtures/xlmr) with load/save as Hugging Face, ColBERT's encoders
 * against theirs (tests/fixtures/colbert), the vocabulary check, special
 * ids for pooling, and the preparation of sequences (model/embedder.h). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "base/json.h"
#include "base/util.h"
#include "kernels/blas.h"
#include "model/batch.h"
#include "model/bert.h"
#include "model/colbert.h"
#include "model/embedder.h"
#include "model/safetensors.h"
#include "text/tokenizer.h"

/* ---- JSON Lines fixtures: {"id", "ids", "vecs"} ---- */

typedef struct {
  int n;
  char id[64][32];
  uint32_t *ids[64];
  int len[64];
  float *vecs[64];
  int rows[64], dim;
} jl;

static void jl_load(jl *f, const char *path, const char *key) {
  size_t len;
  char *text = read_file(path, &len), *p = text, err[200];
  if (!text) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(1);
  }
  while (p < text + len && f->n < 64) {
    char *nl = memchr(p, '\n', (size_t)(text + len - p));
    json_doc *d = json_parse(p, (size_t)(nl - p), err, sizeof err);
    const json_value *r = json_root(d), *v;
    int k = f->n;
    snprintf(f->id[k], 32, "%s", json_get(r, "id")->text);
    if ((v = json_get(r, "ids"))) {
      f->len[k] = (int)v->n;
      f->ids[k] = xmalloc((v->n + 1) * sizeof(uint32_t));
      for (size_t i = 0; i < v->n; i++) f->ids[k][i] = (uint32_t)v->items[i]->num;
    }
    if (key && (v = json_get(r, key))) {
      f->rows[k] = (int)v->n;
      f->dim = (int)v->items[0]->n;
      f->vecs[k] = xmalloc(v->n * f->dim * sizeof(float));
      for (size_t t = 0; t < v->n; t++)
        for (int q = 0; q < f->dim; q++) json_to_f32(v->items[t]->items[q], &f->vecs[k][t * f->dim + q]);
    }
    json_free(d);
    f->n++;
    p = nl + 1;
  }
  free(text);
}

static void jl_free(jl *f) {
  for (int k = 0; k < f->n; k++) free(f->ids[k]), free(f->vecs[k]);
}

static double maxdiff(const float *a, const float *b, size_t n) {
  double w = 0;
  for (size_t i = 0; i < n; i++) w = fmax(w, fabs((double)a[i] - b[i]));
  return w;
}

/* ---- the packer ---- */

static void test_packer(void) {
  int len[] = {5, 1, 3, 5, 2, 9, 1};
  bert_packer p = {0};
  int nb = batch_plan(&p, len, 7, 6, 1);
  int order_ok = 1, budget_ok = 1, seen[7] = {0};
  for (int i = 1; i < 7; i++) order_ok &= len[p.order[i - 1]] < len[p.order[i]] ||
                                          (len[p.order[i - 1]] == len[p.order[i]] && p.order[i - 1] < p.order[i]);
  for (int k = 0; k < nb; k++) {
    size_t t = 0;
    for (int j = 0; j < p.spans[k].count; j++) t += (size_t)len[batch_seq(&p, k, j)], seen[batch_seq(&p, k, j)]++;
    budget_ok &= t == p.spans[k].tokens && (t <= 6 || p.spans[k].count == 1);
  }
  int once = 1;
  for (int i = 0; i < 7; i++) once &= seen[i] == 1;
  CHECK(order_ok, "batch_plan sorts by length, ties in input order");
  CHECK(budget_ok && once && nb == 5, "batches within 6 tokens (a longer sequence alone), each once: %d batches", nb);
  nb = batch_plan(&p, len, 7, 1000, 0);
  CHECK(nb == 1 && p.order[0] == 0 && p.order[6] == 6, "sort = 0 keeps the input order");
  nb = batch_plan(&p, len, 7, 1, 1);
  CHECK(nb == 7, "budget 1: one sequence per batch");
  uint32_t a[] = {7, 8, 9}, b[] = {4}, ty[] = {1, 0, 1};
  float e[2 * 4] = {0};
  bert_seq seqs[] = {{.ids = a, .len = 3, .type_ids = ty}, {.ids = b, .len = 1, .embeds = e}};
  int l2[] = {3, 1};
  batch_plan(&p, l2, 2, 100, 1);
  bert_input in;
  batch_pack(&p, seqs, 0, &in);
  CHECK(in.B == 2 && in.len[0] == 1 && in.len[1] == 3 && in.ids[0] == 0 && in.ids[1] == 7 && in.ids[3] == 9 &&
            in.embeds && in.embeds[0] == e && in.embeds[1] == NULL && in.type_ids && in.type_ids[0] == 0 &&
            in.type_ids[1] == 1 && in.type_ids[3] == 1,
        "batch_pack: packed ids (0 under embeds), embeds pointers, token types");
  batch_free(&p);
}

/* Encoding in batches equals encoding each sequence alone (float rounding). */
static void test_encode_seqs(void) {
  char err[600];
  bert_model *m = bert_load(check_shared("fixtures/embed/model"), err, sizeof err);
  CHECK(m != NULL, "the embed fixture model loads: %s", m ? "ok" : err);
  if (!m) return;
  jl in = {0}, ex = {0};
  jl_load(&in, check_shared("fixtures/embed/inputs.jsonl"), NULL);
  jl_load(&ex, check_shared("fixtures/embed/expected.jsonl"), "vecs");
  bert_seq seqs[64];
  float *out[64];
  for (int i = 0; i < in.n; i++) {
    seqs[i] = (bert_seq){.ids = in.ids[i], .len = in.len[i]};
    out[i] = xmalloc((size_t)in.len[i] * 64 * sizeof(float));
  }
  bert_acts *a = bert_acts_new(m, 0);
  bert_packer p = {0};
  size_t budgets[] = {1, 7, 30, 8192};
  double worst = 0;
  int ok = 1;
  for (int b = 0; b < 4; b++) {
    ok &= bert_encode_seqs(m, a, &p, seqs, in.n, budgets[b], -1, out, err, sizeof err) == 0;
    for (int i = 0; i < in.n; i++) worst = fmax(worst, maxdiff(out[i], ex.vecs[i], (size_t)in.len[i] * 64));
  }
  CHECK(ok && worst <= 1e-5, "bert_encode_seqs with budgets 1, 7, 30, 8192 matches PyTorch (max diff %.3g)", worst);
  uint32_t bad[] = {5, 1000};
  bert_seq s2[] = {seqs[0], {.ids = bad, .len = 2}};
  CHECK(bert_encode_seqs(m, a, &p, s2, 2, 8192, -1, out, err, sizeof err) != 0 &&
            !strncmp(err, "sequence 1, token 1: id 1000", 28),
        "an error names the caller's sequence: %s", err);
  for (int i = 0; i < in.n; i++) free(out[i]);
  batch_free(&p);
  bert_acts_free(a);
  bert_free(m);
  jl_free(&in);
  jl_free(&ex);
}

/* ---- XLM-R ---- */

static int run_all(bert_model *m, const jl *in, const jl *ex, double *worst) {
  char err[600];
  bert_acts *a = bert_acts_new(m, 0);
  int ok = 1;
  *worst = 0;
  for (int i = 0; i < in->n; i++) {
    bert_input x = {.B = 1, .len = &in->len[i], .ids = in->ids[i]};
    ok &= bert_forward(m, a, &x, -1, err, sizeof err) == 0;
    if (ok) *worst = fmax(*worst, maxdiff(bert_output(a), ex->vecs[i], (size_t)in->len[i] * m->cfg.hidden));
  }
  bert_acts_free(a);
  return ok;
}

static void test_xlmr(void) {
  char err[600], tmp[] = "/tmp/otclir-xlmr-XXXXXX";
  const char *dir = "tests/fixtures/xlmr/model";
  bert_model *m = bert_load(dir, err, sizeof err);
  CHECK(m != NULL, "the XLM-R fixture loads ('roberta.' prefix, lm_head ignored): %s", m ? "ok" : err);
  if (!m) return;
  CHECK(m->cfg.arch == BERT_ARCH_XLMR && m->cfg.pos_offset == 2 && bert_max_tokens(&m->cfg) == 512 &&
            m->cfg.type_vocab == 1 && !m->cfg.has_pooler && !strcmp(m->vocab_name, "sentencepiece.bpe.model"),
        "xlm-roberta: positions from 2, 512 tokens, one token type, no pooler, sentencepiece.bpe.model");
  jl in = {0}, ex = {0};
  jl_load(&in, "tests/fixtures/xlmr/inputs.jsonl", NULL);
  jl_load(&ex, "tests/fixtures/xlmr/expected.jsonl", "vecs");
  double w;
  int ok = run_all(m, &in, &ex, &w);
  CHECK(ok && w <= 1e-5, "XLM-R outputs of %d sequences (1 to 512 tokens) match PyTorch: max diff %.3g", in.n, w);
  /* without the position offset the outputs move: the test can fail */
  m->cfg.pos_offset = 0;
  run_all(m, &in, &ex, &w);
  CHECK(w > 1e-2, "positions from 0 instead of padding_idx + 1 differ by %.3g", w);
  m->cfg.pos_offset = 2;
  uint32_t ids[513] = {0};
  int n513 = 513;
  bert_acts *a = bert_acts_new(m, 0);
  bert_input x = {.B = 1, .len = &n513, .ids = ids};
  CHECK(bert_forward(m, a, &x, -1, err, sizeof err) != 0 && strstr(err, "1..512"), "513 tokens refused: %s", err);
  bert_acts_free(a);
  /* save as transformers' XLMRobertaModel.save_pretrained: no prefix, config, tokenizer file */
  CHECK(mkdtemp(tmp) != NULL, "temporary folder");
  char out[300], path[400];
  snprintf(out, sizeof out, "%s/m", tmp);
  CHECK(bert_save(m, out, err, sizeof err) == 0, "bert_save: %s", err);
  snprintf(path, sizeof path, "%s/config.json", out);
  size_t len;
  char *cfg = read_file(path, &len);
  CHECK(cfg && strstr(cfg, "\"model_type\": \"xlm-roberta\"") && strstr(cfg, "XLMRobertaModel") &&
            strstr(cfg, "\"pad_token_id\": 1") && strstr(cfg, "\"max_position_embeddings\": 514"),
        "config.json: xlm-roberta, XLMRobertaModel, pad 1, 514 positions");
  free(cfg);
  snprintf(path, sizeof path, "%s/model.safetensors", out);
  st_file *f = st_open(path, err, sizeof err);
  CHECK(f && st_find(f, "embeddings.position_embeddings.weight") && !st_find(f, "roberta.embeddings.word_embeddings.weight") &&
            !st_find(f, "lm_head.bias") && !st_find(f, "pooler.dense.weight"),
        "model.safetensors: HF names without prefix, no lm_head, no pooler");
  st_close(f);
  snprintf(path, sizeof path, "%s/sentencepiece.bpe.model", out);
  struct stat sb;
  CHECK(stat(path, &sb) == 0 && (size_t)sb.st_size == m->vocab_len, "sentencepiece.bpe.model is saved with it");
  bert_model *m2 = bert_load(out, err, sizeof err);
  char id1[24], id2[24], h1[65], h2[65];
  bert_model_id(m, id1);
  if (m2) bert_model_id(m2, id2);
  CHECK(m2 && !strcmp(id1, id2) && run_all(m2, &in, &ex, &w) && w <= 1e-5, "reloaded: same model id %s, same outputs",
        id1);
  bert_vocab_sha256(m, h1);
  if (m2) bert_vocab_sha256(m2, h2);
  CHECK(m2 && !strcmp(h1, h2), "the vocabulary hash survives the round trip");
  /* the model id of a RoBERTa model is not that of the same weights as BERT */
  m->cfg.pos_offset = 0;
  bert_model_id(m, id2);
  CHECK(strcmp(id1, id2) != 0, "the position offset is part of the model id");
  m->cfg.pos_offset = 2;
  /* a fresh XLM-R model: padding rows of word and position embeddings zero */
  bert_model *z = bert_init(&m->cfg, 3);
  double s = 0;
  for (int q = 0; q < z->cfg.hidden; q++) s += fabs(z->p.word_emb[z->cfg.hidden + q]) + fabs(z->p.pos_emb[z->cfg.hidden + q]);
  CHECK(s == 0 && z->p.pos_emb[2 * z->cfg.hidden] != 0, "bert_init zeroes word[1] and position[1] (padding_idx), not position[2]");
  bert_free(z);
  bert_free(m2);
  bert_free(m);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  CHECK(system(cmd) == 0, "cleanup");
  jl_free(&in);
  jl_free(&ex);
}

static void test_configs(void) {
  bert_config c;
  char err[300];
  const char *base = "\"vocab_size\": 10, \"hidden_size\": 4, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
                     "\"intermediate_size\": 8";
  char j[600];
  snprintf(j, sizeof j, "{%s, \"model_type\": \"roberta\", \"max_position_embeddings\": 6}", base);
  CHECK(bert_config_parse(j, strlen(j), &c, err, sizeof err) == 0 && c.arch == BERT_ARCH_ROBERTA &&
            c.pad_token_id == 1 && c.pos_offset == 2 && bert_max_tokens(&c) == 4,
        "roberta: pad_token_id defaults to 1, positions from 2");
  snprintf(j, sizeof j, "{%s, \"model_type\": \"distilbert\"}", base);
  CHECK(bert_config_parse(j, strlen(j), &c, err, sizeof err) != 0 && strstr(err, "distilbert"), "%s", err);
  snprintf(j, sizeof j, "{%s, \"model_type\": \"xlm-roberta\", \"max_position_embeddings\": 2}", base);
  CHECK(bert_config_parse(j, strlen(j), &c, err, sizeof err) != 0 && strstr(err, "no position"), "%s", err);
  snprintf(j, sizeof j, "{%s}", base);
  CHECK(bert_config_parse(j, strlen(j), &c, err, sizeof err) == 0 && c.arch == BERT_ARCH_BERT && c.pos_offset == 0,
        "no model_type: BERT, positions from 0");
}

/* ---- vocabulary checks and special ids ---- */

static void test_vocab(void) {
  char err[800], tmp[] = "/tmp/otclir-voc-XXXXXX";
  CHECK(mkdtemp(tmp) != NULL, "temporary folder");
  bert_config c = {.vocab_size = 6, .hidden = 4, .layers = 0, .heads = 1, .intermediate = 4, .max_position = 8,
                   .type_vocab = 1, .ln_eps = 1e-12f, .init_range = 0.02f};
  bert_model *m = bert_init(&c, 1);
  CHECK(bert_vocab_check(m, tmp, "vocab", NULL, err, sizeof err) == 0, "no vocab metadata: nothing to check");
  CHECK(bert_vocab_check(m, tmp, "vocab", "abc", err, sizeof err) != 0 && strstr(err, "no vocabulary file"),
        "a model without a vocabulary cannot check: %s", err);
  unsigned char *sp = emb_special_mask(m, NULL, err, sizeof err);
  CHECK(!sp && strstr(err, "special"), "mean pooling without special_ids or vocabulary refused: %s", err);
  sp = emb_special_mask(m, "1,4", err, sizeof err);
  CHECK(sp && sp[1] && sp[4] && !sp[0] && !sp[2], "special ids from the metadata");
  free(sp);
  CHECK(!emb_special_mask(m, "1;4", err, sizeof err), "a bad special_ids list: %s", err);
  bert_set_vocab(m, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nx\ny\n", 28, NULL);
  char h[65];
  bert_vocab_sha256(m, h);
  CHECK(bert_vocab_check(m, tmp, "vocab", h, err, sizeof err) == 0, "the model's own hash passes");
  const char *other = "fe0fda7c425b48c516fc8f160d594c8022a0808447475c1a7c6d6479763f310c";
  CHECK(bert_vocab_check(m, tmp, "tgt_vocab", other, err, sizeof err) != 0 && strstr(err, other) && strstr(err, h) &&
            strstr(err, "/vocab.txt") && strstr(err, "'tgt_vocab'") && strstr(err, "--allow-vocab-mismatch"),
        "another vocabulary: both hashes, the key and the file: %s", err);
  sp = emb_special_mask(m, NULL, err, sizeof err);
  CHECK(sp && sp[0] && sp[2] && sp[3] && !sp[1] && !sp[4], "special ids from vocab.txt: [PAD] [CLS] [SEP]");
  free(sp);
  CHECK(bert_vocab_id(m, "y") == 5 && bert_vocab_id(m, "z") == -1, "bert_vocab_id");
  /* an empty vocab.txt is refused when the model loads */
  char out[300], path[400];
  snprintf(out, sizeof out, "%s/m", tmp);
  CHECK(bert_save(m, out, err, sizeof err) == 0, "save");
  snprintf(path, sizeof path, "%s/vocab.txt", out);
  FILE *f = fopen(path, "w");
  fclose(f);
  bert_model *m2 = bert_load(out, err, sizeof err);
  CHECK(!m2 && strstr(err, "vocab.txt: the vocabulary file is empty"), "an empty vocab.txt: %s", err);
  bert_free(m);
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  CHECK(system(cmd) == 0, "cleanup");
}

/* ---- ColBERT ---- */

static void test_colbert(void) {
  char err[800];
  const char *dir = "tests/fixtures/colbert/model";
  bert_model *m = bert_load(dir, err, sizeof err);
  CHECK(m && m->linear_out == 8 && m->linear_w, "the ColBERT fixture loads with its projection [8, 32]: %s",
        m ? "ok" : err);
  if (!m) return;
  colbert_config cb;
  CHECK(colbert_config_load(&cb, m, dir, err, sizeof err) == 0 && cb.query_len == 16 && cb.doc_len == 40 &&
            cb.q_marker == 1 && cb.d_marker == 2 && !cb.attend_to_mask && cb.skip[bert_vocab_id(m, ",")] &&
            cb.skip[bert_vocab_id(m, ".")] && !cb.skip[bert_vocab_id(m, "[CLS]")],
        "settings from artifact.metadata; [unused0] 1, [unused1] 2; punctuation in the skiplist");
  uint32_t ids[] = {101, 7, 8, 9, 102}, out[64];
  size_t real, n = colbert_ids(&cb, COLBERT_QUERY, ids, 5, out, &real);
  CHECK(n == 16 && real == 6 && out[0] == 101 && out[1] == 1 && out[2] == 7 && out[5] == 102 && out[6] == cb.mask_id &&
            out[15] == cb.mask_id,
        "query: [CLS] [Q] pieces [SEP] then [MASK] to 16");
  uint32_t longq[30];
  for (int i = 0; i < 30; i++) longq[i] = 200 + (uint32_t)i;
  n = colbert_ids(&cb, COLBERT_QUERY, longq, 30, out, &real);
  CHECK(n == 16 && real == 16 && out[1] == 1 && out[2] == 201 && out[14] == 213 && out[15] == 229,
        "a long query: [CLS] [Q] first 13 pieces, its last token");
  n = colbert_ids(&cb, COLBERT_DOC, ids, 5, out, &real);
  CHECK(n == 6 && real == 6 && out[1] == 2 && out[5] == 102, "document: [CLS] [D] pieces [SEP], no padding");
  /* the fixture through the tokenizer and emb_run */
  tok_options lo = {.lower = 1};
  char vpath[300];
  snprintf(vpath, sizeof vpath, "%s/vocab.txt", dir);
  tok_tokenizer *t = tok_open(vpath, TOK_WORDPIECE, &lo, err, sizeof err);
  static const char *const names[] = {"queries", "docs"};
  for (int mode = COLBERT_QUERY; mode <= COLBERT_DOC; mode++) {
    char p[300];
    snprintf(p, sizeof p, "tests/fixtures/colbert/expected.%s.jsonl", names[mode - 1]);
    jl ex = {0};
    jl_load(&ex, p, "vecs");
    snprintf(p, sizeof p, "tests/fixtures/colbert/%s.tsv", names[mode - 1]);
    size_t len;
    char *text = read_file(p, &len), *line = text;
    emb_item items[64] = {{0}};
    wp_tokens w[64] = {{0}};
    emb_options o = {.nlayers = -1, .batch_tokens = 8192, .colbert = mode, .cb = &cb};
    int ok = 1;
    for (int i = 0; i < ex.n; i++) {
      char *nl = strchr(line, '\n'), *tab = strchr(line, '\t');
      tok_encode(t, tab + 1, (size_t)(nl - tab - 1), 0, 0, &w[i], err, sizeof err);
      items[i].ids = w[i].ids;
      items[i].n = w[i].n;
      ok &= emb_prepare(m, &o, &items[i], err, sizeof err) == 0;
      line = nl + 1;
    }
    bert_packer pk = {0};
    bert_acts *a = bert_acts_new(m, 0);
    ok &= emb_run(m, a, &pk, &o, items, ex.n, err, sizeof err) == 0;
    double worst = 0;
    int same_ids = 1;
    for (int i = 0; ok && i < ex.n; i++) {
      same_ids &= items[i].out_n == (size_t)ex.len[i] && !memcmp(items[i].out_ids, ex.ids[i], ex.len[i] * 4);
      if (same_ids) worst = fmax(worst, maxdiff(items[i].vecs, ex.vecs[i], items[i].out_n * 8));
    }
    CHECK(ok && same_ids && worst <= 1e-5, "ColBERT %s: ids and vectors of %d texts match PyTorch (max diff %.3g)",
          names[mode - 1], ex.n, worst);
    if (mode == COLBERT_QUERY) { /* attending to the [MASK]s changes the vectors: the masking is tested */
      cb.attend_to_mask = 1;
      for (int i = 0; i < ex.n; i++) free(items[i].vecs), items[i].vecs = NULL; /* emb_run allocates them anew */
      emb_run(m, a, &pk, &o, items, ex.n, err, sizeof err);
      worst = 0;
      for (int i = 0; i < ex.n; i++) worst = fmax(worst, maxdiff(items[i].vecs, ex.vecs[i], items[i].out_n * 8));
      CHECK(worst > 1e-3, "with attend_to_mask_tokens the query vectors move by %.3g", worst);
      cb.attend_to_mask = 0;
    }
    for (int i = 0; i < ex.n; i++) emb_item_free(&items[i]), wp_tokens_free(&w[i]);
    batch_free(&pk);
    bert_acts_free(a);
    free(text);
    jl_free(&ex);
  }
  tok_free(t);
  colbert_config_free(&cb);
  bert_free(m);
}

static void test_colbert_bad(void) {
  char err[800], tmp[] = "/tmp/otclir-cb-XXXXXX";
  CHECK(mkdtemp(tmp) != NULL, "temporary folder");
  bert_model *m = bert_load("tests/fixtures/colbert/model", err, sizeof err);
  if (!m) return;
  char out[300], cmd[1200];
  snprintf(out, sizeof out, "%s/m", tmp);
  CHECK(bert_save(m, out, err, sizeof err) == 0, "save the ColBERT model (with linear.weight)");
  bert_model *m2 = bert_load(out, err, sizeof err);
  char i1[24], i2[24];
  bert_model_id(m, i1);
  if (m2) bert_model_id(m2, i2);
  CHECK(m2 && m2->linear_out == 8 && !strcmp(i1, i2), "the projection round-trips (model id %s)", i1);
  bert_free(m2);
  /* a projection whose input is not the hidden size: linear.weight [8, 31] */
  snprintf(cmd, sizeof cmd, "%s/model.safetensors", out);
  st_file *f = st_open(cmd, err, sizeof err);
  int nt = f ? f->n : 0;
  st_write_tensor *wt = xcalloc((size_t)nt, sizeof *wt);
  float **bufs = xcalloc((size_t)nt, sizeof *bufs);
  for (int i = 0; i < nt; i++) {
    const st_tensor *t = &f->t[i];
    bufs[i] = xmalloc(t->count * sizeof(float));
    st_read_f32(f, t, bufs[i], err, sizeof err);
    wt[i] = (st_write_tensor){.name = t->name, .dtype = ST_F32, .rank = t->rank, .data = bufs[i]};
    for (int r = 0; r < t->rank; r++) wt[i].shape[r] = t->shape[r];
    if (!strcmp(t->name, "linear.weight")) wt[i].shape[0] = 8, wt[i].shape[1] = 31, wt[i].rank = 2;
  }
  char path2[400];
  snprintf(path2, sizeof path2, "%s/bad.safetensors", tmp);
  CHECK(st_write(path2, wt, nt, NULL, NULL, 0, err, sizeof err) == 0, "write a bad projection");
  st_close(f);
  for (int i = 0; i < nt; i++) free(bufs[i]);
  free(bufs);
  free(wt);
  snprintf(cmd, sizeof cmd, "mv '%s' '%s/model.safetensors'", path2, out);
  CHECK(system(cmd) == 0, "install it");
  m2 = bert_load(out, err, sizeof err);
  CHECK(!m2 && strstr(err, "linear.weight") && strstr(err, "[8, 31]") && strstr(err, "model.safetensors"),
        "a projection that does not match the hidden size: %s", err);
  colbert_config cb;
  bert_model *plain = bert_load(check_shared("fixtures/embed/model"), err, sizeof err);
  CHECK(plain && colbert_config_load(&cb, plain, "plain", err, sizeof err) != 0 && strstr(err, "linear.weight"),
        "a folder without a projection: %s", err);
  bert_free(plain);
  bert_free(m);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  CHECK(system(cmd) == 0, "cleanup");
}

/* ---- sequence preparation ---- */

static void test_prepare(void) {
  char err[300];
  bert_config c = {.vocab_size = 10, .hidden = 4, .layers = 0, .heads = 1, .intermediate = 4, .max_position = 4,
                   .type_vocab = 1, .ln_eps = 1e-12f, .init_range = 0.02f};
  bert_model *m = bert_init(&c, 1);
  emb_options o = {.nlayers = -1, .batch_tokens = 100};
  uint32_t ids[] = {2, 5, 6, 7, 8, 3};
  emb_item it = {.ids = ids, .n = 6};
  CHECK(emb_prepare(m, &o, &it, err, sizeof err) != 0 && strstr(err, "6 tokens, more than max_position_embeddings 4"),
        "too long: %s", err);
  emb_item_free(&it);
  o.truncate = 1;
  it = (emb_item){.ids = ids, .n = 6};
  CHECK(emb_prepare(m, &o, &it, err, sizeof err) == 0 && it.len == 4 && it.ids_changed && it.out_ids[2] == 6 &&
            it.out_ids[3] == 3,
        "--truncate: the first 3 and the last");
  emb_item_free(&it);
  uint32_t bad[] = {2, 10};
  it = (emb_item){.ids = bad, .n = 2};
  CHECK(emb_prepare(m, &o, &it, err, sizeof err) != 0 && strstr(err, "token 1: id 10 >= vocab_size 10"), "%s", err);
  emb_item_free(&it);
  it = (emb_item){.ids = bad, .n = 0};
  CHECK(emb_prepare(m, &o, &it, err, sizeof err) != 0 && strstr(err, "no tokens"), "%s", err);
  emb_item_free(&it);
  bert_free(m);
}

int main(void) {
  kern_set_threads(1);
  test_packer();
  test_encode_seqs();
  test_configs();
  test_xlmr();
  test_vocab();
  test_colbert();
  test_colbert_bad();
  test_prepare();
  return check_done();
}
