/* bert_io.c: BERT, RoBERTa and XLM-R model folders as Hugging Face writes
 * them: config.json, model.safetensors, the vocabulary file; ColBERT's
 * projection; fresh initialisation; copying rows between vocabularies; the
 * optimizer state file. The computation is in bert.c. */
#include "model/bert.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "base/rng.h"
#include "base/sha256.h"
#include "base/util.h"
#include "model/safetensors.h"

/* -------------------------------------------------------------- config */

static int get_int(const json_value *root, const char *key, int required, int def, int min, int *out,
                   char *err, size_t errlen) {
  const json_value *v = json_get(root, key);
  if (!v || v->type == JSON_NULL) {
    if (required) return set_err(err, errlen, "missing \"%s\"", key);
    *out = def;
    return 0;
  }
  long long x;
  if (v->type != JSON_NUMBER || json_to_i64(v, &x) != 0 || x < min || x > (1LL << 30))
    return set_err(err, errlen, "\"%s\" must be an integer >= %d", key, min);
  *out = (int)x;
  return 0;
}

int bert_config_parse(const char *text, size_t len, bert_config *c, char *err, size_t errlen) {
  char jerr[200];
  json_doc *doc = json_parse(text, len, jerr, sizeof jerr);
  if (!doc) return set_err(err, errlen, "not valid JSON: %s", jerr);
  const json_value *r = json_root(doc);
  int rc = -1;
  memset(c, 0, sizeof *c);
  if (r->type != JSON_OBJECT) {
    set_err(err, errlen, "not a JSON object");
    goto done;
  }
  const json_value *mt = json_get(r, "model_type");
  if (mt && mt->type != JSON_STRING) {
    set_err(err, errlen, "\"model_type\" must be a string");
    goto done;
  }
  if (!mt || !strcmp(mt->text, "bert")) c->arch = BERT_ARCH_BERT;
  else if (!strcmp(mt->text, "roberta")) c->arch = BERT_ARCH_ROBERTA;
  else if (!strcmp(mt->text, "xlm-roberta")) c->arch = BERT_ARCH_XLMR;
  else {
    set_err(err, errlen, "model_type \"%s\" is not supported (bert, roberta, xlm-roberta)", mt->text);
    goto done;
  }
  int roberta = c->arch != BERT_ARCH_BERT;
  if (get_int(r, "vocab_size", 1, 0, 1, &c->vocab_size, err, errlen) ||
      get_int(r, "hidden_size", 1, 0, 1, &c->hidden, err, errlen) ||
      get_int(r, "num_hidden_layers", 1, 0, 0, &c->layers, err, errlen) ||
      get_int(r, "num_attention_heads", 1, 0, 1, &c->heads, err, errlen) ||
      get_int(r, "intermediate_size", 1, 0, 1, &c->intermediate, err, errlen) ||
      get_int(r, "max_position_embeddings", 0, 512, 1, &c->max_position, err, errlen) ||
      get_int(r, "type_vocab_size", 0, 2, 1, &c->type_vocab, err, errlen) ||
      get_int(r, "pad_token_id", 0, roberta ? 1 : 0, 0, &c->pad_token_id, err, errlen))
    goto done;
  if (c->hidden % c->heads != 0) {
    set_err(err, errlen, "hidden_size %d is not a multiple of num_attention_heads %d", c->hidden, c->heads);
    goto done;
  }
  c->ln_eps = 1e-12f;
  c->init_range = 0.02f;
  const json_value *v = json_get(r, "layer_norm_eps");
  if (v && (v->type != JSON_NUMBER || json_to_f32(v, &c->ln_eps) != 0 || !(c->ln_eps >= 0))) {
    set_err(err, errlen, "\"layer_norm_eps\" must be a non-negative number");
    goto done;
  }
  v = json_get(r, "initializer_range");
  if (v && (v->type != JSON_NUMBER || json_to_f32(v, &c->init_range) != 0 || !(c->init_range >= 0))) {
    set_err(err, errlen, "\"initializer_range\" must be a non-negative number");
    goto done;
  }
  v = json_get(r, "hidden_act");
  if (v && (v->type != JSON_STRING || strcmp(v->text, "gelu") != 0)) {
    set_err(err, errlen, "hidden_act %s%s%s is not supported (only \"gelu\", the exact erf form)",
           v->type == JSON_STRING ? "\"" : "", v->type == JSON_STRING ? v->text : "(not a string)",
           v->type == JSON_STRING ? "\"" : "");
    goto done;
  }
  v = json_get(r, "position_embedding_type");
  if (v && (v->type != JSON_STRING || strcmp(v->text, "absolute") != 0)) {
    set_err(err, errlen, "position_embedding_type must be \"absolute\"");
    goto done;
  }
  if (roberta) {
    /* fairseq's positions: padding_idx + 1 onwards; rows up to padding_idx unused */
    if (c->pad_token_id >= c->vocab_size) {
      set_err(err, errlen, "pad_token_id %d >= vocab_size %d", c->pad_token_id, c->vocab_size);
      goto done;
    }
    c->pos_offset = c->pad_token_id + 1;
    if (c->max_position <= c->pos_offset) {
      set_err(err, errlen, "max_position_embeddings %d leaves no position after padding_idx %d", c->max_position,
              c->pad_token_id);
      goto done;
    }
  } else if (c->pad_token_id >= c->vocab_size) {
    c->pad_token_id = 0;
  }
  c->has_pooler = 1;
  rc = 0;
done:
  json_free(doc);
  return rc;
}

int bert_config_load(const char *path, bert_config *c, char *err, size_t errlen) {
  size_t len;
  char *text = read_file(path, &len);
  if (!text) return set_err(err, errlen, "%s: %s", path, strerror(errno));
  char e[300];
  int rc = bert_config_parse(text, len, c, e, sizeof e);
  free(text);
  if (rc) return set_err(err, errlen, "%s: %s", path, e);
  return 0;
}

void bert_config_write(FILE *f, const bert_config *c) {
  static const char *const arch[] = {"BertModel", "RobertaModel", "XLMRobertaModel"};
  static const char *const type[] = {"bert", "roberta", "xlm-roberta"};
  fprintf(f,
          "{\n"
          "  \"architectures\": [\"%s\"],\n"
          "  \"model_type\": \"%s\",\n"
          "  \"vocab_size\": %d,\n"
          "  \"hidden_size\": %d,\n"
          "  \"num_hidden_layers\": %d,\n"
          "  \"num_attention_heads\": %d,\n"
          "  \"intermediate_size\": %d,\n"
          "  \"hidden_act\": \"gelu\",\n"
          "  \"max_position_embeddings\": %d,\n"
          "  \"type_vocab_size\": %d,\n"
          "  \"layer_norm_eps\": %.9g,\n"
          "  \"initializer_range\": %.9g,\n"
          "  \"pad_token_id\": %d,\n"
          "%s"
          "  \"hidden_dropout_prob\": 0.1,\n"
          "  \"attention_probs_dropout_prob\": 0.1,\n"
          "  \"position_embedding_type\": \"absolute\",\n"
          "  \"torch_dtype\": \"float32\"\n"
          "}\n",
          arch[c->arch], type[c->arch], c->vocab_size, c->hidden, c->layers, c->heads, c->intermediate,
          c->max_position, c->type_vocab, (double)c->ln_eps, (double)c->init_range, c->pad_token_id,
          c->arch != BERT_ARCH_BERT ? "  \"bos_token_id\": 0,\n  \"eos_token_id\": 2,\n" : "");
}

static int is_layernorm(const char *name) { return strstr(name, "LayerNorm.") != NULL; }

bert_model *bert_init(const bert_config *c, uint64_t seed) {
  bert_model *m = bert_new(c);
  rng_t r;
  rng_seed(&r, seed);
  for (int i = 0; i < m->ntensors; i++) {
    const bert_tensor *t = &m->tensors[i];
    float *p = m->params + t->offset;
    if (t->rank == 2) {
      for (size_t k = 0; k < t->size; k++) p[k] = (float)(rng_normal(&r) * c->init_range);
    } else if (is_layernorm(t->name) && strstr(t->name, ".weight")) {
      for (size_t k = 0; k < t->size; k++) p[k] = 1.0f;
    } /* biases stay 0 */
  }
  /* transformers zeroes the padding row of nn.Embedding(padding_idx=pad):
   * the word embeddings, and for RoBERTa the position embeddings too */
  memset(m->p.word_emb + (size_t)c->pad_token_id * c->hidden, 0, (size_t)c->hidden * sizeof(float));
  if (c->arch != BERT_ARCH_BERT)
    memset(m->p.pos_emb + (size_t)c->pad_token_id * c->hidden, 0, (size_t)c->hidden * sizeof(float));
  return m;
}

void bert_set_vocab(bert_model *m, const char *text, size_t len, const char *name) {
  free(m->vocab);
  m->vocab = xmalloc(len + 1);
  memcpy(m->vocab, text, len);
  m->vocab[len] = 0;
  m->vocab_len = len;
  snprintf(m->vocab_name, sizeof m->vocab_name, "%s", name ? name : "vocab.txt");
}

/* The name a vocabulary file gets in a model folder. */
static const char *vocab_file_name(const char *path) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  size_t n = strlen(b);
  if (!strcmp(b, "tokenizer.model")) return "tokenizer.model";
  if (n >= 6 && !strcmp(b + n - 6, ".model")) return "sentencepiece.bpe.model";
  return "vocab.txt";
}

int bert_load_vocab(bert_model *m, const char *path, char *err, size_t errlen) {
  size_t len;
  char *text = read_file(path, &len);
  if (!text) return set_err(err, errlen, "%s: %s", path, strerror(errno));
  if (len == 0) {
    free(text);
    return set_err(err, errlen, "%s: the vocabulary file is empty", path);
  }
  free(m->vocab);
  m->vocab = text;
  m->vocab_len = len;
  snprintf(m->vocab_name, sizeof m->vocab_name, "%s", vocab_file_name(path));
  return 0;
}

int bert_vocab_sha256(const bert_model *m, char out[65]) {
  if (!m->vocab) return -1;
  otc_sha256_hex(m->vocab, m->vocab_len, out);
  return 0;
}

int bert_vocab_check(const bert_model *m, const char *dir, const char *key, const char *stream_hash, char *err,
                     size_t errlen) {
  if (!stream_hash) return 0;
  char h[65];
  if (bert_vocab_sha256(m, h) != 0)
    return set_err(err, errlen,
                   "the stream's token ids were made with vocabulary sha256 %s (metadata '%s'), and %s has no "
                   "vocabulary file (vocab.txt, sentencepiece.bpe.model) to check them against; "
                   "--allow-vocab-mismatch embeds them anyway",
                   stream_hash, key, dir);
  if (strcmp(h, stream_hash) == 0) return 0;
  return set_err(err, errlen,
                 "the stream's token ids were made with vocabulary sha256 %s (metadata '%s'), but the model's %s/%s "
                 "has sha256 %s: tokenize with --model %s, or --allow-vocab-mismatch embeds them anyway",
                 stream_hash, key, dir, m->vocab_name, h, dir);
}

int64_t bert_vocab_id(const bert_model *m, const char *piece) {
  if (!m->vocab || strcmp(m->vocab_name, "vocab.txt") != 0) return -1;
  size_t pl = strlen(piece), i = 0;
  int64_t line = 0;
  while (i < m->vocab_len) {
    const char *s = m->vocab + i, *nl = memchr(s, '\n', m->vocab_len - i);
    size_t n = nl ? (size_t)(nl - s) : m->vocab_len - i;
    size_t e = n;
    while (e && (s[e - 1] == '\r' || s[e - 1] == ' ' || s[e - 1] == '\t')) e--; /* Python's strip() */
    size_t b = 0;
    while (b < e && (s[b] == ' ' || s[b] == '\t')) b++;
    if (e - b == pl && !memcmp(s + b, piece, pl)) return line;
    i += n + 1;
    line++;
  }
  return -1;
}

/* ----------------------------------------------------------------- load */

/* HF name from a file name: strip "bert." / "roberta.", map LayerNorm gamma/beta. */
static void canonical_name(const char *in, char *out, size_t outlen) {
  if (strncmp(in, "bert.", 5) == 0) in += 5;
  else if (strncmp(in, "roberta.", 8) == 0) in += 8;
  snprintf(out, outlen, "%s", in);
  size_t n = strlen(out);
  if (strstr(out, "LayerNorm.")) {
    if (n > 6 && strcmp(out + n - 6, ".gamma") == 0) snprintf(out + n - 6, outlen - (n - 6), ".weight");
    else if (n > 5 && strcmp(out + n - 5, ".beta") == 0) snprintf(out + n - 5, outlen - (n - 5), ".bias");
  }
}

static int is_encoder_name(const char *n) {
  if (strcmp(n, "embeddings.position_ids") == 0) return 0; /* a buffer, not a parameter */
  return strncmp(n, "embeddings.", 11) == 0 || strncmp(n, "encoder.", 8) == 0 || strncmp(n, "pooler.", 7) == 0;
}

/* ColBERT's projection: linear.weight [dim][hidden] (and an optional
 * linear.bias [dim]), kept beside the parameter block. */
static int load_linear(bert_model *m, const st_file *f, const char *path, char *err, size_t errlen) {
  const st_tensor *w = st_find(f, "linear.weight"), *b = st_find(f, "linear.bias");
  if (!w && !b) return 0;
  if (!w) return set_err(err, errlen, "%s: 'linear.bias' without 'linear.weight'", path);
  if (w->rank != 2 || w->shape[1] != (uint64_t)m->cfg.hidden || w->shape[0] < 1 || w->shape[0] > (1u << 20))
    return set_err(err, errlen,
                   "%s: the projection 'linear.weight' has shape [%llu, %llu]; the model's hidden size is %d, so "
                   "ColBERT's layout is [dim, %d]",
                   path, (unsigned long long)w->shape[0], (unsigned long long)(w->rank > 1 ? w->shape[1] : 0),
                   m->cfg.hidden, m->cfg.hidden);
  if (b && (b->rank != 1 || b->shape[0] != w->shape[0]))
    return set_err(err, errlen, "%s: 'linear.bias' has %llu values, 'linear.weight' %llu rows", path,
                   (unsigned long long)b->count, (unsigned long long)w->shape[0]);
  m->linear_out = (int)w->shape[0];
  m->linear_w = xmalloc(xmul(w->count, sizeof(float)));
  if (st_read_f32(f, w, m->linear_w, err, errlen) != 0) return -1;
  if (b) {
    m->linear_b = xmalloc(xmul(b->count, sizeof(float)));
    if (st_read_f32(f, b, m->linear_b, err, errlen) != 0) return -1;
  }
  return 0;
}

bert_model *bert_load(const char *dir, char *err, size_t errlen) {
  char path[4096], e[512];
  bert_config c;
  snprintf(path, sizeof path, "%s/config.json", dir);
  if (bert_config_load(path, &c, err, errlen) != 0) return NULL;
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  st_file *f = st_open(path, err, errlen);
  if (!f) return NULL;
  /* Pooler present? Both tensors or neither. */
  int pw = 0, pb = 0;
  for (int i = 0; i < f->n; i++) {
    char nm[256];
    canonical_name(f->t[i].name, nm, sizeof nm);
    if (strcmp(nm, "pooler.dense.weight") == 0) pw = 1;
    if (strcmp(nm, "pooler.dense.bias") == 0) pb = 1;
  }
  if (pw != pb) {
    set_err(err, errlen, "%s: missing tensor 'pooler.dense.%s'", path, pw ? "bias" : "weight");
    st_close(f);
    return NULL;
  }
  c.has_pooler = pw;
  bert_model *m = bert_new(&c);
  unsigned char *seen = xcalloc((size_t)m->ntensors, 1);
  if (load_linear(m, f, path, err, errlen) != 0) goto fail;
  for (int i = 0; i < f->n; i++) {
    const st_tensor *t = &f->t[i];
    char nm[256];
    canonical_name(t->name, nm, sizeof nm);
    if (!is_encoder_name(nm)) continue;
    const bert_tensor *bt = bert_find_tensor(m, nm);
    if (!bt) {
      set_err(err, errlen, "%s: tensor '%s' does not belong to a model with %s's config (%d layers)", path,
             t->name, dir, c.layers);
      goto fail;
    }
    int k = (int)(bt - m->tensors);
    if (seen[k]) {
      set_err(err, errlen, "%s: tensor '%s' appears twice (with and without a 'bert.' or 'roberta.' prefix?)", path,
              t->name);
      goto fail;
    }
    seen[k] = 1;
    int ok = t->rank == bt->rank && t->shape[0] == (uint64_t)bt->shape[0] &&
             (bt->rank == 1 || t->shape[1] == (uint64_t)bt->shape[1]);
    if (!ok) {
      char got[128] = "", *g = got;
      for (int r = 0; r < t->rank && g < got + sizeof got - 24; r++)
        g += sprintf(g, "%s%llu", r ? ", " : "", (unsigned long long)t->shape[r]);
      if (bt->rank == 2)
        set_err(err, errlen, "%s: tensor '%s' has shape [%s], config.json implies [%d, %d]", path, t->name, got,
               bt->shape[0], bt->shape[1]);
      else
        set_err(err, errlen, "%s: tensor '%s' has shape [%s], config.json implies [%d]", path, t->name, got,
               bt->shape[0]);
      goto fail;
    }
    if (st_read_f32(f, t, m->params + bt->offset, e, sizeof e) != 0) {
      set_err(err, errlen, "%s", e);
      goto fail;
    }
  }
  for (int k = 0; k < m->ntensors; k++)
    if (!seen[k]) {
      set_err(err, errlen, "%s: missing tensor '%s'", path, m->tensors[k].name);
      goto fail;
    }
  free(seen);
  st_close(f);
  static const char *const vocab_files[] = {"vocab.txt", "sentencepiece.bpe.model", "tokenizer.model"};
  for (size_t k = 0; k < sizeof vocab_files / sizeof *vocab_files; k++) {
    snprintf(path, sizeof path, "%s/%s", dir, vocab_files[k]);
    if (access(path, F_OK) != 0) continue;
    if (bert_load_vocab(m, path, err, errlen) != 0) {
      bert_free(m);
      return NULL;
    }
    break;
  }
  return m;
fail:
  free(seen);
  st_close(f);
  bert_free(m);
  return NULL;
}

/* ----------------------------------------------------------------- save */

static int write_file(const char *path, const void *data, size_t len, char *err, size_t errlen) {
  FILE *f = fopen(path, "wb");
  if (!f) return set_err(err, errlen, "cannot create '%s': %s", path, strerror(errno));
  if ((len && fwrite(data, 1, len, f) != len) || fflush(f) != 0 || fsync(fileno(f)) != 0) {
    int e = errno;
    fclose(f);
    return set_err(err, errlen, "write error on '%s': %s", path, strerror(e));
  }
  if (fclose(f) != 0) return set_err(err, errlen, "write error on '%s': %s", path, strerror(errno));
  return 0;
}

/* Remove a directory we wrote (regular files only, then the directory). */
static void remove_model_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[4096];
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode)) unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

int bert_save(const bert_model *m, const char *dir, char *err, size_t errlen) {
  char tmp[4096], path[4200], old[4096];
  size_t dl = strlen(dir);
  while (dl > 1 && dir[dl - 1] == '/') dl--;
  snprintf(tmp, sizeof tmp, "%.*s.tmp.%ld", (int)dl, dir, (long)getpid());
  snprintf(old, sizeof old, "%.*s.old.%ld", (int)dl, dir, (long)getpid());
  struct stat sb;
  int exists = stat(dir, &sb) == 0;
  if (exists) {
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!S_ISDIR(sb.st_mode) || access(path, F_OK) != 0)
      return set_err(err, errlen, "refusing to replace '%s': it exists and is not a model folder", dir);
  }
  remove_model_dir(tmp);
  if (mkdir(tmp, 0777) != 0) return set_err(err, errlen, "cannot create '%s': %s", tmp, strerror(errno));

  snprintf(path, sizeof path, "%s/config.json", tmp);
  char *cfg = NULL;
  size_t cfglen = 0;
  FILE *cf = open_memstream(&cfg, &cfglen);
  if (!cf) {
    set_err(err, errlen, "open_memstream: %s", strerror(errno));
    goto fail;
  }
  bert_config_write(cf, &m->cfg);
  fclose(cf);
  int rc = write_file(path, cfg, cfglen, err, errlen);
  free(cfg);
  if (rc) goto fail;

  st_write_tensor *w = xcalloc((size_t)m->ntensors + 2, sizeof *w);
  int nw = 0;
  for (int i = 0; i < m->ntensors; i++, nw++) {
    const bert_tensor *t = &m->tensors[i];
    w[i].name = t->name;
    w[i].dtype = ST_F32;
    w[i].rank = t->rank;
    w[i].shape[0] = (uint64_t)t->shape[0];
    w[i].shape[1] = (uint64_t)t->shape[1];
    w[i].data = m->params + t->offset;
  }
  if (m->linear_w) {
    w[nw++] = (st_write_tensor){.name = "linear.weight", .dtype = ST_F32, .rank = 2,
                                .shape = {(uint64_t)m->linear_out, (uint64_t)m->cfg.hidden}, .data = m->linear_w};
    if (m->linear_b)
      w[nw++] = (st_write_tensor){.name = "linear.bias", .dtype = ST_F32, .rank = 1,
                                  .shape = {(uint64_t)m->linear_out}, .data = m->linear_b};
  }
  const char *mk[] = {"format"}, *mv[] = {"pt"};
  snprintf(path, sizeof path, "%s/model.safetensors", tmp);
  rc = st_write(path, w, nw, mk, mv, 1, err, errlen);
  free(w);
  if (rc) goto fail;
  if (m->vocab) {
    snprintf(path, sizeof path, "%s/%s", tmp, m->vocab_name[0] ? m->vocab_name : "vocab.txt");
    if (write_file(path, m->vocab, m->vocab_len, err, errlen)) goto fail;
  }
  if (exists && rename(dir, old) != 0) {
    set_err(err, errlen, "cannot move '%s' aside: %s", dir, strerror(errno));
    goto fail;
  }
  if (rename(tmp, dir) != 0) {
    set_err(err, errlen, "cannot rename '%s' to '%s': %s", tmp, dir, strerror(errno));
    if (exists) rename(old, dir);
    goto fail;
  }
  if (exists) remove_model_dir(old);
  return 0;
fail:
  remove_model_dir(tmp);
  return -1;
}

/* ------------------------------------------------------------------- id */

void bert_model_id(const bert_model *m, char out[24]) {
  /* FNV-1a over 32-bit words, then a splitmix finaliser: fast enough for
   * mBERT's 178M parameters (a fraction of a second) and stable across
   * load/save since the block is stored exactly. */
  uint64_t h = 0xcbf29ce484222325ULL;
  const bert_config *c = &m->cfg;
  int dims[] = {c->vocab_size, c->hidden, c->layers, c->heads, c->intermediate, c->max_position, c->type_vocab};
  for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) h = (h ^ (uint32_t)dims[i]) * 0x100000001b3ULL;
  uint32_t eps;
  memcpy(&eps, &c->ln_eps, 4);
  h = (h ^ eps) * 0x100000001b3ULL;
  for (int i = 0; i < m->ntensors; i++) {
    const bert_tensor *t = &m->tensors[i];
    const uint32_t *w = (const uint32_t *)(m->params + t->offset);
    for (size_t k = 0; k < t->size; k++) h = (h ^ w[k]) * 0x100000001b3ULL;
  }
  /* only when present, so that plain BERT models keep their ids */
  if (c->pos_offset) h = (h ^ (uint32_t)c->pos_offset ^ 0x9e3779b9u) * 0x100000001b3ULL;
  if (m->linear_w) {
    size_t n = (size_t)m->linear_out * (size_t)c->hidden;
    const uint32_t *w = (const uint32_t *)m->linear_w;
    for (size_t k = 0; k < n; k++) h = (h ^ w[k]) * 0x100000001b3ULL;
    if (m->linear_b)
      for (int k = 0; k < m->linear_out; k++) h = (h ^ ((const uint32_t *)m->linear_b)[k]) * 0x100000001b3ULL;
  }
  uint64_t x = h;
  uint64_t z = rng_splitmix64(&x);
  snprintf(out, 24, "bert-%016llx", (unsigned long long)z);
}

/* ------------------------------------------------------- copy embeddings */

typedef struct {
  const char *s;
  size_t len;
  int idx;
} piece;

static int cmp_piece(const void *a, const void *b) {
  const piece *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  if (c) return c;
  if (x->len != y->len) return x->len < y->len ? -1 : 1;
  return x->idx - y->idx;
}

/* Copy rows for pieces both lists hold (first occurrence in src wins). */
static void copy_rows(bert_model *dst, piece *dp, int nd, const bert_model *src, piece *sp, int ns, size_t *copied) {
  int d = dst->cfg.hidden;
  if (ns > src->cfg.vocab_size) ns = src->cfg.vocab_size;
  if (nd > dst->cfg.vocab_size) nd = dst->cfg.vocab_size;
  qsort(sp, (size_t)ns, sizeof *sp, cmp_piece);
  for (int i = 0; i < nd; i++) {
    /* binary search for the first occurrence of dp[i] among source pieces */
    int lo = 0, hi = ns;
    piece key = dp[i];
    key.idx = -1;
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      if (cmp_piece(&sp[mid], &key) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo < ns && sp[lo].len == dp[i].len && memcmp(sp[lo].s, dp[i].s, dp[i].len) == 0) {
      memcpy(dst->p.word_emb + (size_t)dp[i].idx * d, src->p.word_emb + (size_t)sp[lo].idx * d,
             (size_t)d * sizeof(float));
      (*copied)++;
    }
  }
}

int bert_copy_rows_by_piece(bert_model *dst, const char *const *dst_pieces, size_t nd, const bert_model *src,
                            const char *const *src_pieces, size_t ns, size_t *copied, char *err, size_t errlen) {
  *copied = 0;
  if (src->cfg.hidden != dst->cfg.hidden)
    return set_err(err, errlen, "hidden sizes differ (%d in the source, %d here)", src->cfg.hidden, dst->cfg.hidden);
  piece *dp = xmalloc((nd ? nd : 1) * sizeof *dp), *sp = xmalloc((ns ? ns : 1) * sizeof *sp);
  for (size_t i = 0; i < nd; i++) dp[i] = (piece){dst_pieces[i], strlen(dst_pieces[i]), (int)i};
  for (size_t i = 0; i < ns; i++) sp[i] = (piece){src_pieces[i], strlen(src_pieces[i]), (int)i};
  copy_rows(dst, dp, (int)nd, src, sp, (int)ns, copied);
  free(dp);
  free(sp);
  return 0;
}

int bert_copy_matching(bert_model *dst, const bert_model *src) {
  int n = 0;
  for (int i = 1; i < dst->ntensors; i++) { /* tensor 0 is the word embeddings */
    const bert_tensor *t = &dst->tensors[i], *u = bert_find_tensor(src, t->name);
    if (!u || u->rank != t->rank || u->shape[0] != t->shape[0] || u->shape[1] != t->shape[1]) continue;
    memcpy(dst->params + t->offset, src->params + u->offset, t->size * sizeof(float));
    n++;
  }
  return n;
}

/* ------------------------------------------------- optimizer state files */

int adamw_save(const adamw_state *s, const bert_model *m, const char *path, char *err, size_t errlen) {
  int n = m->ntensors;
  st_write_tensor *w = xcalloc((size_t)2 * n, sizeof *w);
  char (*names)[100] = xcalloc((size_t)2 * n, sizeof *names);
  for (int i = 0; i < n; i++) {
    const bert_tensor *t = &m->tensors[i];
    for (int k = 0; k < 2; k++) {
      st_write_tensor *x = &w[2 * i + k];
      snprintf(names[2 * i + k], 100, "%s.%s", k ? "v" : "m", t->name);
      x->name = names[2 * i + k];
      x->dtype = ST_F32;
      x->rank = t->rank;
      x->shape[0] = (uint64_t)t->shape[0];
      x->shape[1] = (uint64_t)t->shape[1];
      x->data = (k ? s->v : s->m) + t->offset;
    }
  }
  char step[32];
  snprintf(step, sizeof step, "%llu", (unsigned long long)s->step);
  const char *mk[] = {"format", "step"}, *mv[] = {"otclir-adamw", step};
  int rc = st_write(path, w, 2 * n, mk, mv, 2, err, errlen);
  free(names);
  free(w);
  return rc;
}

int adamw_load(adamw_state *s, const bert_model *m, const char *path, char *err, size_t errlen) {
  st_file *f = st_open(path, err, errlen);
  if (!f) return -1;
  const char *step = st_meta(f, "step");
  char *end;
  if (!step || (s->step = strtoull(step, &end, 10), *end)) {
    st_close(f);
    return set_err(err, errlen, "%s: no valid \"step\" in __metadata__", path);
  }
  for (int i = 0; i < m->ntensors; i++) {
    const bert_tensor *t = &m->tensors[i];
    for (int k = 0; k < 2; k++) {
      char nm[128];
      snprintf(nm, sizeof nm, "%s.%s", k ? "v" : "m", t->name);
      const st_tensor *x = st_find(f, nm);
      if (!x || x->count != t->size) {
        st_close(f);
        return set_err(err, errlen, "%s: %s tensor '%s'", path, x ? "wrong size of" : "missing", nm);
      }
      if (st_read_f32(f, x, (k ? s->v : s->m) + t->offset, err, errlen) != 0) {
        st_close(f);
        return -1;
      }
    }
  }
  st_close(f);
  return 0;
}
