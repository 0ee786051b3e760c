/*
 * embed: contextual token vectors from a BERT, XLM-R or ColBERT model (and fresh models from a config)
 *
 * Reads `tokens` (or `pair` with --side) records, encodes them in windows
 * (lib/model/embedder.h: checks, batches, the encoder, ColBERT, pooling)
 * and writes `vectors` (or the pair with its vectors), in input order.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli/cli.h"
#include "kernels/blas.h"
#include "model/embedder.h"
#include "stream/rec.h"
#include "text/tokenizer.h"
#include "text/vocab.h"

static const char usage[] =
    "usage: embed --model DIR [--layer L] [--pool mean|cls] [--normalize] [--truncate]\n"
    "             [--colbert query|doc [--query-len N] [--doc-len N]] [--side src|tgt]\n"
    "             [--allow-vocab-mismatch] [--batch-tokens N] [--window-tokens N] [--threads N]\n"
    "             [--dtype f32|bf16] [--zstd[=LEVEL]] [--progress] [FILE]\n"
    "       embed --init CONFIG --out DIR [--seed S] [--vocab VOCAB] [--init-from TEACHER_DIR]\n"
    "             [--no-positions]\n";

static const char manual[] =
    "embed: run a BERT, XLM-R or ColBERT encoder over token ids and write contextual token vectors.\n"
    "\n"
    "usage: embed --model DIR [OPTIONS] [FILE]     (FILE or standard input; '-' = stdin)\n"
    "       embed --init CONFIG --out DIR [OPTIONS]\n"
    "\n"
    "The model is a Hugging Face folder: config.json, model.safetensors (F32, F16\n"
    "or BF16; HF tensor names, 'bert.' and 'roberta.' prefixes accepted) and its\n"
    "vocabulary (vocab.txt, or XLM-R's sentencepiece.bpe.model). model_type\n"
    "bert: transformers' BertModel (eval mode): word + position + token-type\n"
    "embeddings, LayerNorm (eps from config.json), post-LN layers, attention\n"
    "scaled by 1/sqrt(head size) within each sequence, exact erf GELU; positions\n"
    "0..n-1. model_type roberta / xlm-roberta (RobertaModel, XLMRobertaModel;\n"
    "e.g. xlm-roberta-base, xlm-roberta-large): the same with positions from\n"
    "pad_token_id + 1 (fairseq's), as transformers numbers a sequence without\n"
    "<pad> tokens. Token type ids are 0.\n"
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
    "VOCABULARY CHECK\n"
    "  Token ids are only meaningful with the vocabulary they were made with. The\n"
    "  stream's `vocab` metadata (`src_vocab`/`tgt_vocab` with --side), the\n"
    "  SHA-256 tokenize writes, must equal the SHA-256 of the model's vocabulary\n"
    "  file; otherwise embed stops with both hashes and the file. A model folder\n"
    "  without a vocabulary file cannot be checked and is refused for such\n"
    "  streams (an empty vocabulary file is refused when the model loads).\n"
    "  --allow-vocab-mismatch embeds them anyway. Streams without the metadata\n"
    "  (e.g. from rec encode) are not checked.\n"
    "\n"
    "COLBERT (--colbert query|doc)\n"
    "  A ColBERT checkpoint is a BERT folder with the projection `linear.weight`\n"
    "  [dim][hidden] in model.safetensors (colbert-ir/colbertv2.0's HF_ColBERT\n"
    "  layout; a ColBERTv1 checkpoint converted to safetensors alike), and\n"
    "  optionally ColBERT's artifact.metadata (query_maxlen, doc_maxlen,\n"
    "  mask_punctuation, attend_to_mask_tokens, query_token_id, doc_token_id).\n"
    "  The input is tokenize's [CLS] pieces [SEP] with the folder's vocab.txt\n"
    "  (tokenize --model DIR --lower for bert-base-uncased checkpoints). As\n"
    "  ColBERT's encoders: the marker [Q] ([unused0]) or [D] ([unused1]) after\n"
    "  [CLS]; queries truncated to --query-len tokens and padded with [MASK] to\n"
    "  it (not attended to, as attend_to_mask_tokens false; each [MASK] still\n"
    "  gets a vector); documents truncated to --doc-len tokens; the last hidden\n"
    "  state projected by linear.weight; documents lose the tokens of ColBERT's\n"
    "  skiplist (the ids of the ASCII punctuation characters, mask_punctuation);\n"
    "  every vector L2-normalised. The skipped tokens are DROPPED from the\n"
    "  output (ids and vecs alike), as ColBERT's index stores only the kept\n"
    "  ones: so any reader, `rank --mode maxsim` first, scores ColBERT's\n"
    "  sum_i max_j q_i . d_j without knowing a mask, and a document's token\n"
    "  count is the one ColBERT stores. The output's ids are the ids encoded\n"
    "  (with the marker and the [MASK]s), `dim` is the projection's size, the\n"
    "  metadata `colbert` is query or doc, and special_ids is empty: ColBERT\n"
    "  scores [CLS], [SEP] and the markers too (rank --skip-special refuses it).\n"
    "  Nothing can be downloaded here: users bring the checkpoint (converted to\n"
    "  safetensors).\n"
    "\n"
    "OPTIONS (embedding)\n"
    "  --model DIR         the model folder\n"
    "  --layer L           output the hidden state after layer L (0 = the embedding\n"
    "                      LayerNorm output; default: the last layer, as\n"
    "                      last_hidden_state); layers above L are not computed\n"
    "  --pool mean|cls     also write `vec`: the mean of the token vectors over the\n"
    "                      non-special tokens (special: the stream's special_ids\n"
    "                      metadata, else [CLS]/[SEP]/[PAD] of the model's\n"
    "                      vocab.txt or <s>/<pad>/</s> of XLM-R's; an error when\n"
    "                      there is neither; all tokens if every token is\n"
    "                      special), or the first ([CLS]) token's vector\n"
    "  --normalize         scale every token vector (and vec, after pooling) to unit\n"
    "                      L2 length\n"
    "  --truncate          a sequence longer than the model's positions keeps its\n"
    "                      first max-1 tokens and its last token ([SEP] stays last);\n"
    "                      ids are written truncated too. Without it: an error.\n"
    "  --colbert query|doc ColBERT's query or document encoder (see COLBERT)\n"
    "  --query-len N       --colbert query: tokens per query, [MASK]-padded\n"
    "                      (default: artifact.metadata's query_maxlen, else 32)\n"
    "  --doc-len N         --colbert doc: at most N tokens per document (default:\n"
    "                      artifact.metadata's doc_maxlen, else the model's limit)\n"
    "  --side src|tgt      pair mode (see above)\n"
    "  --allow-vocab-mismatch  embed token ids whose vocab metadata differs from\n"
    "                      the model's vocabulary (see VOCABULARY CHECK)\n"
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
    "  --init CONFIG       a config.json (as transformers' BertConfig or\n"
    "                      XLMRobertaConfig writes it)\n"
    "  --out DIR           the model folder to write (atomically: DIR.tmp.PID, then\n"
    "                      renamed; an existing model folder is replaced)\n"
    "  --seed S            weights ~ normal(0, initializer_range), biases 0,\n"
    "                      LayerNorm 1/0, padding rows 0, as transformers initialises\n"
    "                      (default seed 0)\n"
    "  --vocab VOCAB       the vocabulary to store in the folder: a vocab.txt, or a\n"
    "                      SentencePiece model (NAME.model, stored as\n"
    "                      sentencepiece.bpe.model); at most vocab_size ids\n"
    "  --init-from DIR     start from a teacher: copy every tensor with the same name\n"
    "                      and shape, and the word-embedding rows of the pieces both\n"
    "                      vocabularies contain (matched by string; needs equal\n"
    "                      hidden sizes). Without --vocab the teacher's vocabulary\n"
    "                      is used when vocab_size agrees.\n"
    "  --no-positions      zero the position and token-type embeddings (a 0-layer\n"
    "                      model then maps each piece to a fixed vector)\n"
    "\n"
    "  --help, --version\n"
    "\n"
    "EXAMPLES\n"
    "  tokenize --vocab mbert/vocab.txt < queries.tsv | embed --model mbert --pool mean > q.rec\n"
    "  tokenize --pair ... | embed --model teacher --side tgt --zstd > pairs.rec.zst\n"
    "  tokenize --model xlmr < docs.tsv | embed --model xlmr > docs.rec\n"
    "  tokenize --model colbertv2 --lower < q.tsv | embed --model colbertv2 --colbert query > q.rec\n"
    "  tokenize --model colbertv2 --lower < d.tsv | embed --model colbertv2 --colbert doc > d.rec\n"
    "  rank --docs d.rec --mode maxsim < q.rec\n"
    "  embed --init student.json --vocab pruned.txt --init-from mbert --seed 1 --out student\n"
    "\n"
    "EXIT STATUS\n"
    "  0 success; 1 error (bad model folder naming the tensor, token id >= vocab_size\n"
    "  or a sequence too long naming the record, a vocabulary mismatch, I/O); 2 bad\n"
    "  usage.\n";

static const cli_prog prog = {"embed", usage, manual};

/* ------------------------------------------------------------ init mode */

/* Pieces of a vocabulary file (or a model folder's) in id order, for
 * --init-from's row copies and the vocab_size check. */
static char **vocab_pieces(const char *path, int is_dir, size_t *n) {
  char err[700], file[4200];
  tok_kind kind = strlen(path) > 6 && !strcmp(path + strlen(path) - 6, ".model") ? TOK_XLMR : TOK_WORDPIECE;
  if (is_dir && tok_find(path, file, sizeof file, &kind, err, sizeof err) != 0) die("%s", err);
  if (is_dir) path = file;
  char **p;
  if (kind == TOK_WORDPIECE) { /* any vocab.txt: no [CLS]/[SEP] needed here */
    vocab *v = vocab_load(path, err, sizeof err);
    if (!v) die("%s", err);
    *n = vocab_size(v);
    p = xmalloc(*n * sizeof *p);
    for (size_t i = 0; i < *n; i++) p[i] = xstrdup(vocab_piece(v, (uint32_t)i, NULL));
    vocab_free(v);
    return p;
  }
  tok_tokenizer *t = tok_open(path, kind, NULL, err, sizeof err);
  if (!t) die("%s", err);
  *n = tok_size(t);
  p = xmalloc(*n * sizeof *p);
  for (size_t i = 0; i < *n; i++) p[i] = xstrdup(tok_piece(t, (uint32_t)i, NULL));
  tok_free(t);
  return p;
}

static void free_pieces(char **p, size_t n) {
  for (size_t i = 0; i < n; i++) free(p[i]);
  free(p);
}

static int run_init(const char *config, const char *out, uint64_t seed, const char *vocab, const char *from,
                    int no_positions) {
  char err[1024];
  bert_config cfg;
  if (bert_config_load(config, &cfg, err, sizeof err)) die("%s", err);
  bert_model *m = bert_init(&cfg, seed);
  size_t nd = 0, ns = 0;
  char **dp = NULL, **sp = NULL;
  if (vocab) {
    if (bert_load_vocab(m, vocab, err, sizeof err)) die("%s", err);
    dp = vocab_pieces(vocab, 0, &nd);
    if (nd > (size_t)cfg.vocab_size) die("%s: %zu ids but %s has vocab_size %d", vocab, nd, config, cfg.vocab_size);
  }
  if (from) {
    bert_model *t = bert_load(from, err, sizeof err);
    if (!t) die("%s", err);
    if (t->cfg.hidden != cfg.hidden) die("--init-from %s: hidden size %d, %s has %d", from, t->cfg.hidden, config, cfg.hidden);
    bert_copy_matching(m, t);
    if (!m->vocab && t->vocab && t->cfg.vocab_size == cfg.vocab_size) {
      bert_set_vocab(m, t->vocab, t->vocab_len, t->vocab_name);
      dp = vocab_pieces(from, 1, &nd);
    }
    if (!m->vocab || !t->vocab) die("--init-from %s: both models need a vocabulary (give --vocab)", from);
    sp = vocab_pieces(from, 1, &ns);
    size_t copied;
    if (bert_copy_rows_by_piece(m, (const char *const *)dp, nd, t, (const char *const *)sp, ns, &copied, err,
                                sizeof err))
      die("--init-from %s: %s", from, err);
    bert_free(t);
  }
  if (no_positions) {
    memset(m->p.pos_emb, 0, (size_t)cfg.max_position * cfg.hidden * sizeof(float));
    memset(m->p.type_emb, 0, (size_t)cfg.type_vocab * cfg.hidden * sizeof(float));
  }
  if (bert_save(m, out, err, sizeof err)) die("%s", err);
  free_pieces(dp, nd);
  free_pieces(sp, ns);
  bert_free(m);
  return 0;
}

/* ------------------------------------------------------------ embed mode */

/* A record kept past rec_read (a deep copy) and its sequence. */
typedef struct {
  rec_record r;
  unsigned char *buf;
  emb_item e;
} item;

static size_t field_bytes(const rec_field *f, const rec_value *v) {
  return f->type == REC_STR ? v->count + 1 : v->count * rec_type_size(f->type);
}

static void store(item *it, const rec_record *in) {
  const rec_schema *s = in->schema;
  size_t total = 0, off = 0;
  for (int i = 0; i < s->nfields; i++)
    if (in->v[i].data) total += (field_bytes(&s->fields[i], &in->v[i]) + 7) & ~(size_t)7;
  it->buf = xmalloc(total ? total : 1);
  it->r = *in;
  for (int i = 0; i < s->nfields; i++) {
    if (!in->v[i].data) continue;
    size_t n = field_bytes(&s->fields[i], &in->v[i]);
    memcpy(it->buf + off, in->v[i].data, n);
    it->r.v[i].data = it->buf + off;
    off += (n + 7) & ~(size_t)7;
  }
}

static const char *record_name(const item *it) {
  static char buf[300];
  int f = rec_field_index(it->r.schema, "id");
  const char *id = f >= 0 && it->r.v[f].data ? it->r.v[f].data : NULL;
  if (id) snprintf(buf, sizeof buf, "record %llu (id '%s')", (unsigned long long)it->r.index, id);
  else snprintf(buf, sizeof buf, "record %llu", (unsigned long long)it->r.index);
  return buf;
}

typedef struct {
  const char *path;
  int f_ids, f_embeds, f_ids_out, f_out, f_vec, dim;
  emb_options o;
} ctx;

/* Copy a record and prepare its sequence. */
static void take(ctx *c, const bert_model *m, item *it, const rec_record *r) {
  store(it, r);
  memset(&it->e, 0, sizeof it->e);
  it->e.ids = rec_u32(&it->r, c->f_ids, &it->e.n);
  if (c->f_embeds >= 0 && rec_has(&it->r, c->f_embeds)) {
    size_t ne;
    it->e.embeds = rec_f32(&it->r, c->f_embeds, &ne);
    if (ne != it->e.n * (size_t)m->cfg.hidden)
      die("%s: %s: embeds has %zu values, need %zu x %d (the model's hidden size)", c->path, record_name(it), ne,
          it->e.n, m->cfg.hidden);
  }
  char err[600];
  if (emb_prepare(m, &c->o, &it->e, err, sizeof err) != 0) die("%s: %s: %s", c->path, record_name(it), err);
}

static void put(ctx *c, rec_writer *w, item *it) {
  rec_put_from(w, &it->r);
  uint32_t shape[2] = {(uint32_t)it->e.out_n, (uint32_t)c->dim};
  if (it->e.ids_changed) rec_put(w, c->f_ids_out, it->e.out_ids, shape);
  rec_put(w, c->f_out, it->e.vecs, shape);
  if (c->o.pool) rec_put(w, c->f_vec, it->e.vec, &shape[1]);
  rec_write_or_die(w);
  emb_item_free(&it->e);
  free(it->buf);
}

/* The output schema and fields; the vocabulary check. */
static rec_schema *output_schema(ctx *c, const bert_model *m, const char *model, const char *side,
                                 const rec_schema *is, int allow_vocab, int layer) {
  char err[1200], model_id[24], num[3][24];
  bert_model_id(m, model_id);
  snprintf(num[0], 24, "%d", layer < 0 ? m->cfg.layers : layer);
  snprintf(num[1], 24, "%d", c->dim);
  static const char *const pools[] = {NULL, "mean", "cls"}, *const cbs[] = {NULL, "query", "doc"};
  char key[3][16], f_in[16], f_out[16];
  snprintf(f_in, 16, "%s", side ? side : ""), snprintf(key[0], 16, "%s%svocab", side ? side : "", side ? "_" : "");
  const char *vh = rec_meta_get(is, key[0]);
  if (!allow_vocab && bert_vocab_check(m, model, key[0], vh, err, sizeof err) != 0) die("%s: %s", c->path, err);
  rec_schema *os = side ? rec_schema_copy(is) : rec_schema_builtin("vectors");
  if (!os) die("no builtin 'vectors' schema");
  if (!side)
    for (int i = 0; i < is->nmeta; i++) rec_meta_set(os, is->meta_key[i], is->meta_val[i]);
  snprintf(f_in, 16, "%s%sids", side ? side : "", side ? "_" : "");
  snprintf(f_out, 16, "%s%svecs", side ? side : "", side ? "_" : "");
  snprintf(key[1], 16, "%s%smodel", side ? side : "", side ? "_" : "");
  snprintf(key[2], 16, "%s%slayer", side ? side : "", side ? "_" : "");
  c->f_ids = rec_field_index(is, f_in), c->f_embeds = side ? -1 : rec_field_index(is, "embeds");
  c->f_ids_out = rec_field_index(os, f_in), c->f_out = rec_field_index(os, f_out), c->f_vec = rec_field_index(os, "vec");
  if (c->f_ids < 0 || c->f_out < 0) die("%s: pair stream without %s/%s fields", c->path, f_in, f_out);
  int64_t dd = rec_get_dim(is, "d");
  if (dd >= 0 && dd != c->dim) /* a pair's src_vecs and tgt_vecs share d */
    die("%s: the stream's %s have d = %lld but %s gives %d", c->path, side ? "vectors" : "embeds", (long long)dd,
        model, c->dim);
  rec_set_dim(os, "d", c->dim);
  rec_meta_set(os, key[1], model_id);
  rec_meta_set(os, key[2], num[0]);
  if (!side) rec_meta_set(os, "dim", num[1]);
  if (c->o.pool) rec_meta_set(os, "pooling", pools[c->o.pool]);
  if (!side && (c->o.normalize || c->o.colbert)) rec_meta_set(os, "normalized", "1");
  if (c->o.colbert) rec_meta_set(os, side ? (strcmp(side, "src") ? "tgt_colbert" : "src_colbert") : "colbert", cbs[c->o.colbert]);
  /* ColBERT scores every token: no special ids (rank --skip-special refuses the empty list) */
  if (c->o.colbert) rec_meta_set(os, side ? (strcmp(side, "src") ? "tgt_special_ids" : "src_special_ids") : "special_ids", "");
  return os;
}

int main(int argc, char **argv) {
  cli_init(&prog, argv[0]);
  enum { O_MODEL = 256, O_LAYER, O_POOL, O_NORMALIZE, O_TRUNCATE, O_SIDE, O_BATCH, O_WINDOW, O_THREADS, O_ZSTD,
         O_PROGRESS, O_INIT, O_OUT, O_SEED, O_VOCAB, O_FROM, O_NOPOS, O_ALLOW_VOCAB, O_COLBERT, O_QLEN, O_DLEN, O_DTYPE };
  static const struct option longopts[] = {
      {"model", required_argument, 0, O_MODEL}, {"layer", required_argument, 0, O_LAYER},
      {"pool", required_argument, 0, O_POOL}, {"normalize", no_argument, 0, O_NORMALIZE},
      {"truncate", no_argument, 0, O_TRUNCATE}, {"side", required_argument, 0, O_SIDE},
      {"batch-tokens", required_argument, 0, O_BATCH}, {"window-tokens", required_argument, 0, O_WINDOW},
      {"threads", required_argument, 0, O_THREADS}, {"zstd", optional_argument, 0, O_ZSTD},
      {"progress", no_argument, 0, O_PROGRESS}, {"init", required_argument, 0, O_INIT},
      {"out", required_argument, 0, O_OUT}, {"seed", required_argument, 0, O_SEED},
      {"vocab", required_argument, 0, O_VOCAB}, {"init-from", required_argument, 0, O_FROM},
      {"no-positions", no_argument, 0, O_NOPOS}, {"allow-vocab-mismatch", no_argument, 0, O_ALLOW_VOCAB},
      {"colbert", required_argument, 0, O_COLBERT}, {"query-len", required_argument, 0, O_QLEN},
      {"doc-len", required_argument, 0, O_DLEN}, {"dtype", required_argument, 0, O_DTYPE}, CLI_OPTIONS_COMMON,
      {0, 0, 0, 0}};
  static const char *const pools[] = {"none", "mean", "cls", NULL}, *const sides[] = {"src", "tgt", NULL};
  static const char *const cbs[] = {"none", "query", "doc", NULL}, *const dtypes[] = {"f32", "bf16", NULL};
  int dtype = BERT_F32;
  const char *model = NULL, *side = NULL, *init = NULL, *out = NULL, *vocab = NULL, *from = NULL;
  long layer = -1, window_tokens = 65536, qlen = 0, dlen = -1;
  uint64_t seed = 0;
  int threads = 0, progress = 0, no_positions = 0, allow_vocab = 0, c;
  ctx cx = {.o = {.nlayers = -1, .batch_tokens = 8192}};
  rec_write_opts wo = {0};
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case O_MODEL: model = optarg; break;
    case O_LAYER: layer = parse_long("--layer", optarg, 0, 100000); break;
    case O_POOL: cx.o.pool = cli_choice("--pool", optarg, pools + 1) + 1; break;
    case O_NORMALIZE: cx.o.normalize = 1; break;
    case O_TRUNCATE: cx.o.truncate = 1; break;
    case O_SIDE: side = sides[cli_choice("--side", optarg, sides)]; break;
    case O_BATCH: cx.o.batch_tokens = (size_t)parse_long("--batch-tokens", optarg, 1, 1L << 24); break;
    case O_WINDOW: window_tokens = parse_long("--window-tokens", optarg, 1, 1L << 28); break;
    case O_THREADS: threads = cli_threads("--threads", optarg); break;
    case O_ZSTD: wo.zstd_level = rec_parse_zstd_level(optarg); break;
    case O_PROGRESS: progress = 1; break;
    case O_INIT: init = optarg; break;
    case O_OUT: out = optarg; break;
    case O_SEED: seed = cli_seed("--seed", optarg); break;
    case O_VOCAB: vocab = optarg; break;
    case O_FROM: from = optarg; break;
    case O_NOPOS: no_positions = 1; break;
    case O_ALLOW_VOCAB: allow_vocab = 1; break;
    case O_COLBERT: cx.o.colbert = cli_choice("--colbert", optarg, cbs + 1) + 1; break;
    case O_QLEN: qlen = parse_long("--query-len", optarg, 3, 1 << 20); break;
    case O_DLEN: dlen = parse_long("--doc-len", optarg, 3, 1 << 20); break;
    case O_DTYPE: dtype = cli_choice("--dtype", optarg, dtypes) ? BERT_BF16 : BERT_F32; break;
    CLI_CASES_COMMON;
    }
  }
  if (init) {
    if (optind != argc) cli_usage_error("unexpected operand '%s' (--init takes no input)", argv[optind]);
    if (!out || model) cli_usage_error("--init needs --out DIR and excludes --model");
    return run_init(init, out, seed, vocab, from, no_positions);
  }
  if (argc - optind > 1) cli_usage_error("unexpected operand '%s' (at most one input FILE)", argv[optind + 1]);
  if (!model) cli_usage_error("--model DIR (or --init CONFIG) is required");
  if (out || vocab || from || no_positions) cli_usage_error("--out, --vocab, --init-from and --no-positions go with --init");
  if (side && cx.o.pool) cli_usage_error("--pool applies to tokens input (vectors output), not to --side");
  if (cx.o.colbert && (cx.o.pool || layer >= 0)) cli_usage_error("--colbert excludes --pool and --layer");
  if (!cx.o.colbert && (qlen || dlen >= 0)) cli_usage_error("--query-len and --doc-len go with --colbert");
  cx.path = optind < argc ? argv[optind] : "-";
  cx.o.nlayers = (int)layer;
  kern_set_threads(threads);

  char err[1200];
  bert_model *m = bert_load(model, err, sizeof err);
  if (!m) die("%s", err);
  if (layer > m->cfg.layers) die("--layer %ld: the model has %d layers", layer, m->cfg.layers);
  bert_set_dtype(m, dtype);
  colbert_config cb = {0};
  if (cx.o.colbert) {
    if (colbert_config_load(&cb, m, model, err, sizeof err) != 0) die("%s", err);
    if (qlen) cb.query_len = (int)qlen;
    if (dlen >= 0) cb.doc_len = (int)dlen;
    if (cb.query_len > bert_max_tokens(&m->cfg)) die("--query-len %d: the model has %d positions", cb.query_len, bert_max_tokens(&m->cfg));
    cx.o.cb = &cb;
  }
  cx.dim = emb_dim(m, &cx.o);

  static const char *const kinds[] = {"tokens", "pair", NULL};
  rec_reader *in = side ? rec_open_expect(cx.path, "pair") : rec_open_expect_any(cx.path, kinds);
  const rec_schema *is = rec_reader_schema(in);
  if (!side && strcmp(is->record, "tokens") != 0) die("%s: a 'pair' stream needs --side src|tgt", cx.path);
  rec_schema *os = output_schema(&cx, m, model, side, is, allow_vocab, (int)layer);
  unsigned char *special = NULL;
  if (cx.o.pool == EMB_POOL_MEAN && !(special = emb_special_mask(m, rec_meta_get(is, "special_ids"), err, sizeof err)))
    die("%s: %s (%s)", cx.path, err, model);
  cx.o.special = special;
  rec_writer *w = rec_writer_or_die("-", os, &wo);
  rec_schema_free(os);

  bert_acts *acts = bert_acts_new(m, 0);
  bert_packer pk = {0};
  otc_progress pg;
  progress_init(&pg, "records", progress);
  size_t cap = 256;
  item *items = xcalloc(cap, sizeof *items);
  emb_item *seqs = NULL;
  uint64_t done = 0;
  for (int eof = 0; !eof;) {
    int n = 0;
    size_t tokens = 0;
    rec_record r;
    while (tokens < (size_t)window_tokens && !(eof = !rec_read_or_die(in, &r))) {
      if ((size_t)n == cap) items = xrealloc(items, (cap *= 2) * sizeof *items);
      take(&cx, m, &items[n], &r);
      tokens += items[n++].e.len;
    }
    if (n == 0) break;
    seqs = xrealloc(seqs, (size_t)n * sizeof *seqs);
    for (int i = 0; i < n; i++) seqs[i] = items[i].e;
    if (emb_run(m, acts, &pk, &cx.o, seqs, n, err, sizeof err) != 0) { /* "sequence I, ...": name record I */
      char *rest;
      long i = strtol(err + 9, &rest, 10);
      die("%s: %s%s", cx.path, record_name(&items[i >= 0 && i < n ? i : 0]), rest);
    }
    for (int i = 0; i < n; i++) {
      items[i].e = seqs[i];
      put(&cx, w, &items[i]);
    }
    progress_update(&pg, done += (uint64_t)n, 0);
  }
  progress_end(&pg, done);
  rec_writer_close_or_die(w);
  rec_close(in);
  free(items);
  free(seqs);
  free(special);
  colbert_config_free(&cb);
  batch_free(&pk);
  bert_acts_free(acts);
  bert_free(m);
  return 0;
}
