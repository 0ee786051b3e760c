/*
 * embed: contextual token vectors from a BERT model (and fresh models from a config)
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/bert.h"
#include "stream/rec.h"
#include "base/util.h"
#include "cli/cli.h"
#include "kernels/blas.h"

static const char usage[] =
    "usage: embed --model DIR [--layer L] [--pool mean|cls] [--normalize] [--truncate]\n"
    "             [--side src|tgt] [--batch-tokens N] [--window-tokens N] [--threads N]\n"
    "             [--dtype f32|bf16] [--zstd[=LEVEL]] [--progress] [FILE]\n"
    "       embed --init CONFIG --out DIR [--seed S] [--vocab VOCAB] [--init-from TEACHER_DIR]\n"
    "             [--no-positions]\n";

static void help(void) {
  printf(
      "embed: run a BERT encoder over token ids and write contextual token vectors.\n"
      "\n"
      "usage: embed --model DIR [OPTIONS] [FILE]     (FILE or standard input; '-' = stdin)\n"
      "       embed --init CONFIG --out DIR [OPTIONS]\n"
      "\n"
      "The model is a Hugging Face BERT folder: config.json, model.safetensors (F32,\n"
      "F16 or BF16; HF tensor names, a 'bert.' prefix accepted), vocab.txt. The\n"
      "computation is that of transformers' BertModel (eval mode): word + position +\n"
      "token-type embeddings, LayerNorm (eps from config.json), post-LN layers,\n"
      "attention scaled by 1/sqrt(head size) within each sequence, exact erf GELU.\n"
      "Token type ids are 0; positions are 0..n-1.\n"
      "\n"
      "INPUT AND OUTPUT\n"
      "  `tokens` records (id, lang?, ids[n], embeds[n][d]?) -> `vectors` records\n"
      "     (id, lang?, ids[n], vecs[n][d], vec[d] with --pool). A record with\n"
      "     `embeds` (input embeddings, e.g. from perturb --attack) is run from\n"
      "     those in place of the word-embedding lookup of its ids.\n"
      "  `pair` records with --side src|tgt: src_ids (or tgt_ids) are embedded and\n"
      "     src_vecs (or tgt_vecs) are added; every other field passes through.\n"
      "  Output goes to standard output, records in input order.\n"
      "  Stream metadata: the input's metadata is copied (vocab, special_ids, ...)\n"
      "  and `model` (the model id: bert- + a 64-bit hash of the config and all\n"
      "  weights), `layer`, `dim` and, with --pool, `pooling` are set; in pair mode\n"
      "  they are `src_model`/`src_layer` or `tgt_model`/`tgt_layer`. rank, ot-align\n"
      "  and distill-step compare them to refuse vectors of different models.\n"
      "\n"
      "OPTIONS (embedding)\n"
      "  --model DIR         the model folder\n"
      "  --layer L           output the hidden state after layer L (0 = the embedding\n"
      "                      LayerNorm output; default: the last layer, as\n"
      "                      last_hidden_state); layers above L are not computed\n"
      "  --pool mean|cls     also write `vec`: the mean of the token vectors over the\n"
      "                      non-special tokens (special: the stream's special_ids\n"
      "                      metadata, else [CLS]/[SEP]/[PAD] of the model's\n"
      "                      vocab.txt; all tokens if every token is special), or the\n"
      "                      first ([CLS]) token's vector\n"
      "  --normalize         scale every token vector (and vec, after pooling) to unit\n"
      "                      L2 length\n"
      "  --truncate          a sequence longer than max_position_embeddings keeps its\n"
      "                      first max-1 tokens and its last token ([SEP] stays last);\n"
      "                      ids are written truncated too. Without it: an error.\n"
      "  --side src|tgt      pair mode (see above)\n"
      "  --batch-tokens N    tokens per forward pass (default 8192). Sequences are\n"
      "                      sorted by length within a window and packed into\n"
      "                      batches without padding.\n"
      "  --window-tokens N   tokens read ahead per window (default 65536; at least\n"
      "                      one record). Memory is bounded by one window: about\n"
      "                      N * d * 4 bytes of output plus one batch's activations.\n"
      "  --threads N         threads for OpenBLAS and the model's loops (default: all\n"
      "                      cores). Output is bit-identical for equal input, batch\n"
      "                      options and thread count.\n"
      "  --dtype f32|bf16    precision of the dense layers (default f32). bf16 rounds\n"
      "                      their inputs and weights to bfloat16 and accumulates in\n"
      "                      float32: AMX or AVX512_BF16 where the CPU has them\n"
      "                      (3-7x faster at BERT-base size with AMX), float32 speed\n"
      "                      elsewhere; output vectors within a cosine of 0.9999 of\n"
      "                      f32. Inference only.\n"
      "  --zstd[=LEVEL]      compress the output stream (default level 3)\n"
      "  --progress          report progress on stderr even when it is not a terminal\n"
      "\n"
      "OPTIONS (a fresh model: --init)\n"
      "  --init CONFIG       a config.json (as Hugging Face's BertConfig writes)\n"
      "  --out DIR           the model folder to write (atomically: DIR.tmp.PID, then\n"
      "                      renamed; an existing model folder is replaced)\n"
      "  --seed S            weights ~ normal(0, initializer_range), biases 0,\n"
      "                      LayerNorm 1/0, padding row 0, as transformers initialises\n"
      "                      (default seed 0)\n"
      "  --vocab VOCAB       vocab.txt to store in the folder (at most vocab_size lines)\n"
      "  --init-from DIR     start from a teacher: copy every tensor with the same name\n"
      "                      and shape, and the word-embedding rows of the pieces both\n"
      "                      vocab.txt files contain (matched by string; needs equal\n"
      "                      hidden sizes). Without --vocab the teacher's vocab.txt is\n"
      "                      used when vocab_size agrees.\n"
      "  --no-positions      zero the position and token-type embeddings (a 0-layer\n"
      "                      model then maps each piece to a fixed vector)\n"
      "\n"
      "  --help, --version\n"
      "\n"
      "EXAMPLES\n"
      "  tokenize --vocab mbert/vocab.txt < queries.tsv | embed --model mbert --pool mean > q.rec\n"
      "  tokenize --pair ... | embed --model teacher --side tgt --zstd > pairs.rec.zst\n"
      "  embed --init student.json --vocab pruned.txt --init-from mbert --seed 1 --out student\n"
      "\n"
      "EXIT STATUS\n"
      "  0 success; 1 error (bad model folder naming the tensor, token id >= vocab_size\n"
      "  or a sequence too long naming the record, I/O); 2 bad usage.\n");
  otc_close_stdout();
  exit(0);
}

/* ------------------------------------------------------------ init mode */

static int run_init(const char *config, const char *out, long seed, const char *vocab, const char *from,
                    int no_positions) {
  char err[1024];
  bert_config cfg;
  if (bert_config_load(config, &cfg, err, sizeof err)) die("%s", err);
  bert_model *m = bert_init(&cfg, (uint64_t)seed);
  if (vocab) {
    if (bert_load_vocab(m, vocab, err, sizeof err)) die("%s", err);
    size_t lines = 0;
    for (size_t i = 0; i < m->vocab_len; i++) lines += m->vocab[i] == '\n';
    if (m->vocab_len && m->vocab[m->vocab_len - 1] != '\n') lines++;
    if (lines > (size_t)cfg.vocab_size)
      die("%s: %zu pieces but %s has vocab_size %d", vocab, lines, config, cfg.vocab_size);
  }
  if (from) {
    bert_model *t = bert_load(from, err, sizeof err);
    if (!t) die("%s", err);
    if (t->cfg.hidden != cfg.hidden) die("--init-from %s: hidden size %d, %s has %d", from, t->cfg.hidden, config, cfg.hidden);
    bert_copy_matching(m, t);
    if (!m->vocab && t->vocab && t->cfg.vocab_size == cfg.vocab_size) bert_set_vocab(m, t->vocab, t->vocab_len);
    if (!m->vocab || !t->vocab) die("--init-from %s: both models need a vocab.txt (give --vocab)", from);
    size_t copied;
    if (bert_copy_embeddings(m, t, 0, &copied, err, sizeof err)) die("--init-from %s: %s", from, err);
    bert_free(t);
  }
  if (no_positions) {
    memset(m->p.pos_emb, 0, (size_t)cfg.max_position * cfg.hidden * sizeof(float));
    memset(m->p.type_emb, 0, (size_t)cfg.type_vocab * cfg.hidden * sizeof(float));
  }
  if (bert_save(m, out, err, sizeof err)) die("%s", err);
  bert_free(m);
  return 0;
}

/* ------------------------------------------------------------ embed mode */

/* A record kept past rec_read: a deep copy of every field. */
typedef struct {
  rec_record r;
  unsigned char *buf;
  const uint32_t *ids;   /* the ids to embed (possibly truncated copy) */
  const float *embeds;   /* input embeddings or NULL */
  int len, truncated;
  uint32_t *trunc_ids;
  float *trunc_embeds;
  float *out;            /* [len][d] */
} item;

static size_t field_bytes(const rec_field *f, const rec_value *v) {
  return f->type == REC_STR ? v->count + 1 : v->count * rec_type_size(f->type);
}

static void store(item *it, const rec_record *in) {
  const rec_schema *s = in->schema;
  size_t total = 0;
  for (int i = 0; i < s->nfields; i++)
    if (in->v[i].data) total += (field_bytes(&s->fields[i], &in->v[i]) + 7) & ~(size_t)7;
  it->buf = xmalloc(total ? total : 1);
  it->r = *in;
  size_t off = 0;
  for (int i = 0; i < s->nfields; i++) {
    if (!in->v[i].data) continue;
    size_t n = field_bytes(&s->fields[i], &in->v[i]);
    memcpy(it->buf + off, in->v[i].data, n);
    it->r.v[i].data = it->buf + off;
    off += (n + 7) & ~(size_t)7;
  }
}

static void item_free(item *it) {
  free(it->buf);
  free(it->trunc_ids);
  free(it->trunc_embeds);
  free(it->out);
  memset(it, 0, sizeof *it);
}

typedef struct {
  bert_model *m;
  bert_acts *acts;
  int nlayers, d, pool, normalize, truncate;
  int f_ids, f_embeds;                /* input fields */
  int f_ids_out, f_out, f_vec;        /* output fields: ids (when truncated), vecs, vec */
  const char *path;
  long batch_tokens;
  unsigned char *special; /* [vocab_size] */
} ctx;

enum { POOL_NONE, POOL_MEAN, POOL_CLS };

static const char *record_name(const item *it, char *buf, size_t n) {
  int f = rec_field_index(it->r.schema, "id");
  const char *id = f >= 0 && it->r.v[f].data ? it->r.v[f].data : NULL;
  if (id) snprintf(buf, n, "record %llu (id '%s')", (unsigned long long)it->r.index, id);
  else snprintf(buf, n, "record %llu", (unsigned long long)it->r.index);
  return buf;
}

/* Validate and (with --truncate) shorten one record's input. */
static void prepare(ctx *c, item *it) {
  const bert_config *cfg = &c->m->cfg;
  char nb[300];
  size_t n;
  it->ids = rec_u32(&it->r, c->f_ids, &n);
  it->embeds = NULL;
  if (c->f_embeds >= 0 && rec_has(&it->r, c->f_embeds)) {
    size_t ne;
    it->embeds = rec_f32(&it->r, c->f_embeds, &ne);
    if (ne != n * (size_t)c->d)
      die("%s: %s: embeds has %zu values, need %zu x %d (the model's hidden size)", c->path,
          record_name(it, nb, sizeof nb), ne, n, c->d);
  }
  if (n == 0) die("%s: %s: no tokens to embed", c->path, record_name(it, nb, sizeof nb));
  if (!it->embeds)
    for (size_t t = 0; t < n; t++)
      if (it->ids[t] >= (uint32_t)cfg->vocab_size)
        die("%s: %s: token %zu: id %u >= vocab_size %d of the model", c->path, record_name(it, nb, sizeof nb), t,
            it->ids[t], cfg->vocab_size);
  if (n > (size_t)cfg->max_position) {
    if (!c->truncate)
      die("%s: %s: %zu tokens, more than max_position_embeddings %d (use --truncate)", c->path,
          record_name(it, nb, sizeof nb), n, cfg->max_position);
    size_t keep = (size_t)cfg->max_position;
    it->trunc_ids = xmalloc(keep * sizeof *it->trunc_ids);
    memcpy(it->trunc_ids, it->ids, (keep - 1) * sizeof *it->ids);
    it->trunc_ids[keep - 1] = it->ids[n - 1];
    if (it->embeds) {
      it->trunc_embeds = xmalloc(keep * c->d * sizeof(float));
      memcpy(it->trunc_embeds, it->embeds, (keep - 1) * c->d * sizeof(float));
      memcpy(it->trunc_embeds + (keep - 1) * c->d, it->embeds + (n - 1) * c->d, c->d * sizeof(float));
      it->embeds = it->trunc_embeds;
    }
    it->ids = it->trunc_ids;
    it->truncated = 1;
    n = keep;
  }
  it->len = (int)n;
}

static int cmp_len(const void *a, const void *b, void *arg) {
  const item *items = arg;
  int x = *(const int *)a, y = *(const int *)b;
  if (items[x].len != items[y].len) return items[x].len - items[y].len;
  return x - y;
}

/* Embed a window of items: sort by length, pack into batches, forward. */
static void run_window(ctx *c, item *items, int n) {
  int *order = xmalloc((size_t)n * sizeof *order);
  for (int i = 0; i < n; i++) order[i] = i;
  qsort_r(order, (size_t)n, sizeof *order, cmp_len, items);
  int *len = xmalloc((size_t)n * sizeof *len);
  const float **emb = xmalloc((size_t)n * sizeof *emb);
  uint32_t *ids = NULL;
  size_t ids_cap = 0;
  for (int s = 0; s < n;) {
    int e = s;
    size_t tokens = 0;
    while (e < n && (e == s || tokens + (size_t)items[order[e]].len <= (size_t)c->batch_tokens))
      tokens += (size_t)items[order[e++]].len;
    if (tokens > ids_cap) ids = xrealloc(ids, (ids_cap = tokens) * sizeof *ids);
    size_t row = 0;
    int any_emb = 0;
    for (int k = s; k < e; k++) {
      item *it = &items[order[k]];
      len[k - s] = it->len;
      emb[k - s] = it->embeds;
      any_emb |= it->embeds != NULL;
      if (it->embeds) memset(ids + row, 0, (size_t)it->len * sizeof *ids);
      else memcpy(ids + row, it->ids, (size_t)it->len * sizeof *ids);
      row += it->len;
    }
    bert_input in = {.B = e - s, .len = len, .ids = ids, .embeds = any_emb ? emb : NULL};
    char err[512];
    if (bert_forward(c->m, c->acts, &in, c->nlayers, err, sizeof err)) die("%s: %s", c->path, err);
    const float *out = bert_output(c->acts);
    for (int k = s; k < e; k++) {
      item *it = &items[order[k]];
      size_t sz = (size_t)it->len * c->d;
      it->out = xmalloc(sz * sizeof(float));
      memcpy(it->out, out + (size_t)bert_seq_start(c->acts, k - s) * c->d, sz * sizeof(float));
    }
    s = e;
  }
  free(ids);
  free(emb);
  free(len);
  free(order);
}

static void unit(float *v, int d) {
  double s = 0;
  for (int i = 0; i < d; i++) s += (double)v[i] * v[i];
  if (s > 0) {
    float inv = (float)(1.0 / sqrt(s));
    for (int i = 0; i < d; i++) v[i] *= inv;
  }
}

static void write_item(ctx *c, rec_writer *w, item *it, float *vec) {
  int d = c->d, n = it->len;
  if (c->pool == POOL_CLS) {
    memcpy(vec, it->out, d * sizeof(float));
  } else if (c->pool == POOL_MEAN) {
    double *acc = xcalloc((size_t)d, sizeof *acc);
    int cnt = 0;
    for (int pass = 0; pass < 2 && cnt == 0; pass++) /* pass 1: all tokens if all are special */
      for (int t = 0; t < n; t++) {
        if (pass == 0 && c->special && it->ids[t] < (uint32_t)c->m->cfg.vocab_size && c->special[it->ids[t]])
          continue;
        for (int i = 0; i < d; i++) acc[i] += it->out[(size_t)t * d + i];
        cnt++;
      }
    for (int i = 0; i < d; i++) vec[i] = (float)(acc[i] / cnt);
    free(acc);
  }
  if (c->normalize) {
    for (int t = 0; t < n; t++) unit(it->out + (size_t)t * d, d);
    if (c->pool) unit(vec, d);
  }
  rec_put_from(w, &it->r);
  uint32_t shape[2] = {(uint32_t)n, (uint32_t)d};
  if (it->truncated) rec_put(w, c->f_ids_out, it->ids, shape);
  rec_put(w, c->f_out, it->out, shape);
  if (c->pool) rec_put(w, c->f_vec, vec, &shape[1]);
  rec_write_or_die(w);
}

/* Special token ids for mean pooling: the stream's special_ids metadata
 * ("101,102"), else the model vocabulary's [CLS], [SEP], [PAD]. */
static unsigned char *special_ids(const bert_model *m, const rec_schema *s, const char *path) {
  unsigned char *sp = xcalloc((size_t)m->cfg.vocab_size, 1);
  const char *meta = rec_meta_get(s, "special_ids");
  if (meta) {
    const char *p = meta;
    while (*p) {
      char *end;
      unsigned long v = strtoul(p, &end, 10);
      if (end == p) die("%s: metadata special_ids '%s' is not a comma-separated id list", path, meta);
      if (v < (unsigned long)m->cfg.vocab_size) sp[v] = 1;
      p = *end == ',' ? end + 1 : end;
      if (*end && *end != ',') die("%s: metadata special_ids '%s' is not a comma-separated id list", path, meta);
    }
    return sp;
  }
  if (m->vocab) {
    size_t i = 0, line = 0;
    while (i < m->vocab_len && line < (size_t)m->cfg.vocab_size) {
      size_t j = i;
      while (j < m->vocab_len && m->vocab[j] != '\n') j++;
      size_t e = j > i && m->vocab[j - 1] == '\r' ? j - 1 : j;
      static const char *names[] = {"[CLS]", "[SEP]", "[PAD]"};
      for (int k = 0; k < 3; k++)
        if (e - i == strlen(names[k]) && memcmp(m->vocab + i, names[k], e - i) == 0) sp[line] = 1;
      i = j + 1;
      line++;
    }
  }
  return sp;
}

int main(int argc, char **argv) {
  otc_init(argv[0]);
  enum {
    O_MODEL = 256, O_LAYER, O_POOL, O_NORMALIZE, O_TRUNCATE, O_SIDE, O_BATCH, O_WINDOW, O_THREADS, O_ZSTD,
    O_PROGRESS, O_INIT, O_OUT, O_SEED, O_VOCAB, O_FROM, O_NOPOS, O_HELP, O_VERSION, O_DTYPE
  };
  static const struct option longopts[] = {
      {"model", required_argument, 0, O_MODEL}, {"layer", required_argument, 0, O_LAYER},
      {"pool", required_argument, 0, O_POOL}, {"normalize", no_argument, 0, O_NORMALIZE},
      {"truncate", no_argument, 0, O_TRUNCATE}, {"side", required_argument, 0, O_SIDE},
      {"batch-tokens", required_argument, 0, O_BATCH}, {"window-tokens", required_argument, 0, O_WINDOW},
      {"threads", required_argument, 0, O_THREADS}, {"zstd", optional_argument, 0, O_ZSTD},
      {"progress", no_argument, 0, O_PROGRESS}, {"init", required_argument, 0, O_INIT},
      {"out", required_argument, 0, O_OUT}, {"seed", required_argument, 0, O_SEED},
      {"vocab", required_argument, 0, O_VOCAB}, {"init-from", required_argument, 0, O_FROM},
      {"no-positions", no_argument, 0, O_NOPOS}, {"help", no_argument, 0, O_HELP},
      {"version", no_argument, 0, O_VERSION}, {"dtype", required_argument, 0, O_DTYPE}, {0, 0, 0, 0}};
  int dtype = BERT_F32;
  const char *model = NULL, *side = NULL, *init = NULL, *out = NULL, *vocab = NULL, *from = NULL;
  long layer = -1, batch_tokens = 8192, window_tokens = 65536, seed = 0;
  int pool = POOL_NONE, normalize = 0, truncate = 0, threads = 0, force_progress = 0, no_positions = 0;
  rec_write_opts wo = {0};
  int opt;
  while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (opt) {
    case O_MODEL: model = optarg; break;
    case O_LAYER: layer = parse_long("--layer", optarg, 0, 100000); break;
    case O_POOL:
      if (strcmp(optarg, "mean") == 0) pool = POOL_MEAN;
      else if (strcmp(optarg, "cls") == 0) pool = POOL_CLS;
      else die_usage(usage);
      break;
    case O_NORMALIZE: normalize = 1; break;
    case O_TRUNCATE: truncate = 1; break;
    case O_SIDE:
      if (strcmp(optarg, "src") != 0 && strcmp(optarg, "tgt") != 0) die_usage(usage);
      side = optarg;
      break;
    case O_BATCH: batch_tokens = parse_long("--batch-tokens", optarg, 1, 1L << 24); break;
    case O_WINDOW: window_tokens = parse_long("--window-tokens", optarg, 1, 1L << 28); break;
    case O_THREADS: threads = (int)parse_long("--threads", optarg, 1, 4096); break;
    case O_ZSTD: wo.zstd_level = rec_parse_zstd_level(optarg); break;
    case O_PROGRESS: force_progress = 1; break;
    case O_INIT: init = optarg; break;
    case O_OUT: out = optarg; break;
    case O_SEED: seed = parse_long("--seed", optarg, 0, __LONG_MAX__); break;
    case O_VOCAB: vocab = optarg; break;
    case O_FROM: from = optarg; break;
    case O_NOPOS: no_positions = 1; break;
    case O_DTYPE:
      if (strcmp(optarg, "f32") == 0) dtype = BERT_F32;
      else if (strcmp(optarg, "bf16") == 0) dtype = BERT_BF16;
      else die_usage_msg(usage, "--dtype: unknown value '%s' (expected f32 or bf16)", optarg);
      break;
    case O_HELP: help(); break;
    case O_VERSION: print_version();
    default: die_usage(usage);
    }
  }
  if (init) {
    if (optind != argc) die_usage_msg(usage, "unexpected operand '%s' (--init takes no input)", argv[optind]);
    if (!out || model) die_usage_msg(usage, "--init needs --out DIR and excludes --model");
    return run_init(init, out, seed, vocab, from, no_positions);
  }
  if (argc - optind > 1) die_usage_msg(usage, "unexpected operand '%s' (at most one input FILE)", argv[optind + 1]);
  if (!model) die_usage_msg(usage, "--model DIR (or --init CONFIG) is required");
  if (out || vocab || from || no_positions) die_usage_msg(usage, "--out, --vocab, --init-from and --no-positions go with --init");
  const char *path = optind < argc ? argv[optind] : "-";
  kern_set_threads(threads);

  char err[1024];
  bert_model *m = bert_load(model, err, sizeof err);
  if (!m) die("%s", err);
  if (layer > m->cfg.layers) die("--layer %ld: the model has %d layers", layer, m->cfg.layers);
  bert_set_dtype(m, dtype);

  static const char *const kinds[] = {"tokens", "pair", NULL};
  rec_reader *in = side ? rec_open_expect(path, "pair") : rec_open_expect_any(path, kinds);
  const rec_schema *is = rec_reader_schema(in);
  if (!side && strcmp(is->record, "tokens") != 0)
    die("%s: a 'pair' stream needs --side src|tgt", path);

  ctx c = {.m = m, .nlayers = (int)layer, .d = m->cfg.hidden, .pool = pool, .normalize = normalize,
           .truncate = truncate, .path = path, .batch_tokens = batch_tokens, .f_embeds = -1};
  c.acts = bert_acts_new(m, 0);
  char model_id[24], layer_s[24], dim_s[24];
  bert_model_id(m, model_id);
  snprintf(layer_s, sizeof layer_s, "%d", layer < 0 ? m->cfg.layers : (int)layer);
  snprintf(dim_s, sizeof dim_s, "%d", m->cfg.hidden);

  rec_schema *os;
  if (side) {
    if (pool) die_usage("embed: --pool applies to tokens input (vectors output), not to --side\n");
    os = rec_schema_copy(is);
    char f_in[16], f_out[16], k_model[16], k_layer[16];
    snprintf(f_in, sizeof f_in, "%s_ids", side);
    snprintf(f_out, sizeof f_out, "%s_vecs", side);
    snprintf(k_model, sizeof k_model, "%s_model", side);
    snprintf(k_layer, sizeof k_layer, "%s_layer", side);
    c.f_ids = rec_field_index(is, f_in);
    c.f_ids_out = rec_field_index(os, f_in);
    c.f_out = rec_field_index(os, f_out);
    if (c.f_ids < 0 || c.f_out < 0) die("%s: pair stream without %s/%s fields", path, f_in, f_out);
    int64_t dd = rec_get_dim(is, "d");
    if (dd >= 0 && dd != m->cfg.hidden)
      die("%s: the stream's vectors have d = %lld but %s has hidden size %d", path, (long long)dd, model,
          m->cfg.hidden);
    rec_set_dim(os, "d", m->cfg.hidden);
    rec_meta_set(os, k_model, model_id);
    rec_meta_set(os, k_layer, layer_s);
  } else {
    os = rec_schema_builtin("vectors");
    if (!os) die("no builtin 'vectors' schema");
    for (int i = 0; i < is->nmeta; i++) rec_meta_set(os, is->meta_key[i], is->meta_val[i]);
    c.f_ids = rec_field_index(is, "ids");
    c.f_embeds = rec_field_index(is, "embeds");
    c.f_ids_out = rec_field_index(os, "ids");
    c.f_out = rec_field_index(os, "vecs");
    c.f_vec = rec_field_index(os, "vec");
    int64_t dd = rec_get_dim(is, "d");
    if (dd >= 0 && dd != m->cfg.hidden)
      die("%s: the stream's embeds have d = %lld but %s has hidden size %d", path, (long long)dd, model,
          m->cfg.hidden);
    rec_set_dim(os, "d", m->cfg.hidden);
    rec_meta_set(os, "model", model_id);
    rec_meta_set(os, "layer", layer_s);
    rec_meta_set(os, "dim", dim_s);
    if (pool) rec_meta_set(os, "pooling", pool == POOL_MEAN ? "mean" : "cls");
    if (normalize) rec_meta_set(os, "normalized", "1");
  }
  if (pool == POOL_MEAN) c.special = special_ids(m, is, path);
  rec_writer *w = rec_writer_or_die("-", os, &wo);
  rec_schema_free(os);

  otc_progress prog;
  progress_init(&prog, "records", force_progress);
  size_t cap = 256;
  item *items = xcalloc(cap, sizeof *items);
  float *vec = xmalloc((size_t)m->cfg.hidden * sizeof(float));
  uint64_t done = 0;
  int eof = 0;
  while (!eof) {
    int n = 0;
    size_t tokens = 0;
    rec_record r;
    while (tokens < (size_t)window_tokens) {
      if (!rec_read_or_die(in, &r)) {
        eof = 1;
        break;
      }
      if ((size_t)n == cap) {
        items = xrealloc(items, 2 * cap * sizeof *items);
        memset(items + cap, 0, cap * sizeof *items);
        cap *= 2;
      }
      store(&items[n], &r);
      prepare(&c, &items[n]);
      tokens += (size_t)items[n].len;
      n++;
    }
    if (n == 0) break;
    run_window(&c, items, n);
    for (int i = 0; i < n; i++) {
      write_item(&c, w, &items[i], vec);
      item_free(&items[i]);
    }
    done += (uint64_t)n;
    progress_update(&prog, done, 0);
  }
  progress_end(&prog, done);
  rec_writer_close_or_die(w);
  rec_close(in);
  free(vec);
  free(items);
  free(c.special);
  bert_acts_free(c.acts);
  bert_free(m);
  return 0;
}
