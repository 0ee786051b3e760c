/* tokenizer.c: WordPiece or SentencePiece (XLM-R layout) behind one
 * interface (see tokenizer.h). */
#include "text/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "base/util.h"
#include "text/spm.h"
#include "text/vocab.h"

/* XLM-R's fixed ids (fairseq's dictionary order) */
enum { XLMR_BOS = 0, XLMR_PAD = 1, XLMR_EOS = 2, XLMR_UNK = 3, XLMR_OFFSET = 1 };
static const char *const xlmr_names[] = {"<s>", "<pad>", "</s>", "<unk>"};

struct tok_tokenizer {
  tok_kind kind;
  char *path;
  char special[32];
  int lower;
  /* WordPiece */
  vocab *v;
  wp_tokenizer *wp;
  /* SentencePiece */
  spm_model *spm;
  spm_pieces pieces;
  uint64_t *counts;
};

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

int tok_find(const char *dir, char *path, size_t pathlen, tok_kind *kind, char *err, size_t errlen) {
  static const struct {
    const char *name;
    tok_kind kind;
  } files[] = {{"vocab.txt", TOK_WORDPIECE}, {"sentencepiece.bpe.model", TOK_XLMR}, {"tokenizer.model", TOK_XLMR}};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    snprintf(path, pathlen, "%s/%s", dir, files[i].name);
    struct stat sb;
    if (stat(path, &sb) != 0) continue;
    if (!S_ISREG(sb.st_mode)) return set_err(err, errlen, "%s: not a regular file", path);
    if (sb.st_size == 0) return set_err(err, errlen, "%s: the vocabulary file is empty", path);
    *kind = files[i].kind;
    return 0;
  }
  snprintf(path, pathlen, "%s/vocab.txt", dir);
  return set_err(err, errlen,
                 "%s: no vocabulary (vocab.txt, sentencepiece.bpe.model or tokenizer.model) in the model folder", path);
}

tok_tokenizer *tok_open(const char *path, tok_kind kind, const tok_options *o, char *err, size_t errlen) {
  tok_tokenizer *t = xcalloc(1, sizeof *t);
  t->kind = kind;
  t->path = xstrdup(path);
  char e[512];
  uint32_t a, b;
  if (kind == TOK_WORDPIECE) {
    if (!(t->v = vocab_load(path, err, errlen))) goto fail;
    wp_options wo = {.lower = o ? o->lower : 0, .max_word_chars = o ? o->max_word_chars : 0};
    if (!(t->wp = wp_new(t->v, &wo, e, sizeof e))) {
      set_err(err, errlen, "%s: %s", path, e);
      goto fail;
    }
    a = wp_cls_id(t->wp), b = wp_sep_id(t->wp);
    t->lower = wo.lower;
  } else {
    if (o && o->lower) {
      set_err(err, errlen, "%s: lower-casing is for WordPiece vocabularies (a SentencePiece model normalizes itself)",
              path);
      goto fail;
    }
    if (!(t->spm = spm_load(path, err, errlen))) goto fail;
    int unk, bos, eos, pad;
    spm_special_ids(t->spm, &unk, &bos, &eos, &pad);
    if (unk != 0 || bos != 1 || eos != 2 || spm_size(t->spm) < 4) {
      set_err(err, errlen,
              "%s: special pieces <unk> %d, <s> %d, </s> %d: only XLM-R's layout (0, 1, 2, and at least one "
              "more piece) is supported",
              path, unk, bos, eos);
      goto fail;
    }
    a = XLMR_BOS, b = XLMR_EOS;
  }
  snprintf(t->special, sizeof t->special, "%u,%u", a < b ? a : b, a < b ? b : a);
  return t;
fail:
  tok_free(t);
  return NULL;
}

/* tokenizer_config.json's do_lower_case (Hugging Face BERT folders, e.g.
 * bert-base-uncased and ColBERT checkpoints made from it): 1, 0, or -1
 * when the file or the key is absent. */
static int folder_lower_case(const char *dir, char *err, size_t errlen) {
  char path[4200], e[200];
  snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
  size_t len;
  char *text = read_file(path, &len);
  if (!text) return -1;
  json_doc *doc = json_parse(text, len, e, sizeof e);
  int rc = -1;
  if (!doc) {
    rc = -2;
    set_err(err, errlen, "%s: not valid JSON: %s", path, e);
  } else {
    const json_value *v = json_get(json_root(doc), "do_lower_case");
    if (v && (v->type == JSON_TRUE || v->type == JSON_FALSE)) rc = v->type == JSON_TRUE;
  }
  json_free(doc);
  free(text);
  return rc;
}

tok_tokenizer *tok_open_dir(const char *dir, const tok_options *o, char *err, size_t errlen) {
  char path[4096];
  tok_kind kind;
  if (tok_find(dir, path, sizeof path, &kind, err, errlen) != 0) return NULL;
  tok_options so = o ? *o : (tok_options){0};
  if (kind == TOK_WORDPIECE && !so.lower) {
    int lc = folder_lower_case(dir, err, errlen);
    if (lc == -2) return NULL;
    if (lc == 1) so.lower = 1;
  }
  return tok_open(path, kind, &so, err, errlen);
}

void tok_free(tok_tokenizer *t) {
  if (!t) return;
  wp_free(t->wp);
  vocab_free(t->v);
  spm_free(t->spm);
  spm_pieces_free(&t->pieces);
  free(t->path);
  free(t);
}

tok_kind tok_kind_of(const tok_tokenizer *t) { return t->kind; }
int tok_lower(const tok_tokenizer *t) { return t->lower; }
const char *tok_path(const tok_tokenizer *t) { return t->path; }
const char *tok_sha256(const tok_tokenizer *t) { return t->v ? vocab_sha256(t->v) : spm_sha256(t->spm); }
uint32_t tok_size(const tok_tokenizer *t) { return t->v ? vocab_size(t->v) : (uint32_t)spm_size(t->spm) + 2; }
uint32_t tok_begin_id(const tok_tokenizer *t) { return t->wp ? wp_cls_id(t->wp) : XLMR_BOS; }
uint32_t tok_end_id(const tok_tokenizer *t) { return t->wp ? wp_sep_id(t->wp) : XLMR_EOS; }
const char *tok_special_ids(const tok_tokenizer *t) { return t->special; }

const char *tok_piece(const tok_tokenizer *t, uint32_t id, size_t *len) {
  if (t->v) return vocab_piece(t->v, id, len);
  uint32_t n = (uint32_t)spm_size(t->spm);
  const char *p = id < 4 ? xlmr_names[id] : id == n + 1 ? "<mask>" : NULL;
  if (p) {
    if (len) *len = strlen(p);
    return p;
  }
  return spm_piece(t->spm, (int)(id - XLMR_OFFSET), len);
}

/* spm id -> model id */
static uint32_t xlmr_id(int s) {
  if (s == 0) return XLMR_UNK;
  if (s == 1) return XLMR_BOS;
  if (s == 2) return XLMR_EOS;
  return (uint32_t)s + XLMR_OFFSET;
}

static void push(wp_tokens *out, int want_offsets, uint32_t id, uint32_t b, uint32_t e) {
  if (out->n == out->cap) {
    out->cap = out->cap ? 2 * out->cap : 64;
    out->ids = xrealloc(out->ids, xmul(out->cap, sizeof *out->ids));
    out->offsets = xrealloc(out->offsets, xmul(out->cap, 2 * sizeof *out->offsets));
  }
  out->ids[out->n] = id;
  if (want_offsets) {
    out->offsets[2 * out->n] = b;
    out->offsets[2 * out->n + 1] = e;
  }
  out->n++;
}

int tok_encode(tok_tokenizer *t, const char *text, size_t len, size_t max_len, int want_offsets, wp_tokens *out,
               char *err, size_t errlen) {
  if (t->wp) {
    wp_encode(t->wp, text, len, max_len, want_offsets, out);
    return 0;
  }
  if (max_len && max_len < 2) max_len = 2;
  if (spm_encode(t->spm, text, len, &t->pieces, err, errlen) != 0) return -1;
  if (t->counts)
    for (size_t i = 0; i < t->pieces.n; i++) t->counts[xlmr_id(t->pieces.ids[i])]++;
  out->n = 0;
  push(out, want_offsets, XLMR_BOS, 0, 0);
  size_t keep = t->pieces.n;
  if (max_len && keep > max_len - 2) keep = max_len - 2;
  for (size_t i = 0; i < keep; i++)
    push(out, want_offsets, xlmr_id(t->pieces.ids[i]), t->pieces.spans[2 * i], t->pieces.spans[2 * i + 1]);
  push(out, want_offsets, XLMR_EOS, 0, 0);
  return 0;
}

void tok_count(tok_tokenizer *t, uint64_t *counts) {
  if (t->wp) wp_count_pieces(t->wp, counts);
  else t->counts = counts;
}

size_t tok_decode(const tok_tokenizer *t, const uint32_t *ids, size_t n, char **buf, size_t *cap, size_t *bad) {
  if (t->v) return wp_decode(t->v, ids, n, buf, cap, bad);
  size_t len = 0;
  uint32_t nv = tok_size(t);
  for (size_t k = 0; k < n; k++) {
    char tmp[32];
    const char *p;
    size_t pl;
    if (ids[k] < nv) {
      p = tok_piece(t, ids[k], &pl);
    } else {
      pl = (size_t)snprintf(tmp, sizeof tmp, "[?%u]", (unsigned)ids[k]);
      p = tmp;
      if (bad) (*bad)++;
    }
    if (len + pl + 2 > *cap) {
      size_t c = *cap ? *cap : 256;
      while (c < len + pl + 2) c *= 2;
      *buf = xrealloc(*buf, c);
      *cap = c;
    }
    if (k) (*buf)[len++] = ' ';
    memcpy(*buf + len, p, pl);
    len += pl;
  }
  if (!*cap) *buf = xrealloc(*buf, *cap = 1);
  (*buf)[len] = 0;
  return len;
}

/* ---- pruning ---- */

/* Write data to path through "path.tmp.PID", renamed when complete. */
static int write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) return set_err(err, errlen, "cannot create '%s': %s", tmp, strerror(errno));
  int bad = (len && fwrite(data, 1, len, f) != len) || fflush(f) != 0 || fsync(fileno(f)) != 0;
  int e = errno;
  if (fclose(f) != 0 && !bad) bad = 1, e = errno;
  if (bad || rename(tmp, path) != 0) {
    if (!bad) e = errno;
    unlink(tmp);
    return set_err(err, errlen, "cannot write '%s': %s", path, strerror(e));
  }
  return 0;
}

static int prepare_dir(const char *dir, char *err, size_t errlen) {
  static const char *const model_files[] = {"config.json", "model.safetensors"};
  char p[4200];
  for (size_t i = 0; i < 2; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, model_files[i]);
    if (access(p, F_OK) == 0)
      return set_err(err, errlen,
                     "%s holds a model (%s): a pruned vocabulary never overwrites a model's; give a new folder", dir,
                     model_files[i]);
  }
  if (mkdir(dir, 0777) != 0 && errno != EEXIST)
    return set_err(err, errlen, "%s: cannot create the directory: %s", dir, strerror(errno));
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return set_err(err, errlen, "%s: not a directory", dir);
  return 0;
}

/* "old<TAB>new\n" per new id */
static char *idmap_text(const uint32_t *new_to_old, size_t m, size_t *len) {
  char *buf = NULL;
  size_t cap = 0;
  FILE *f = open_memstream(&buf, &cap);
  if (!f) return NULL;
  for (size_t k = 0; k < m; k++) fprintf(f, "%u\t%zu\n", new_to_old[k], k);
  fclose(f);
  *len = cap;
  return buf;
}

static int prune_wordpiece(const tok_tokenizer *t, const uint64_t *counts, uint64_t min_count, const char *dir,
                           uint32_t *n2o, size_t *kept, char *err, size_t errlen) {
  uint32_t n = vocab_size(t->v);
  uint32_t *o2n = xmalloc(xmul(n, sizeof *o2n));
  size_t m = vocab_prune(t->v, counts, min_count, n2o, o2n);
  free(o2n);
  char *text = NULL;
  size_t len = 0, cap = 0;
  FILE *f = open_memstream(&text, &cap);
  if (!f) return set_err(err, errlen, "open_memstream: %s", strerror(errno));
  for (size_t k = 0; k < m; k++) {
    size_t pl;
    const char *p = vocab_piece(t->v, n2o[k], &pl);
    fwrite(p, 1, pl, f);
    fputc('\n', f);
  }
  fclose(f);
  len = cap;
  char path[4200];
  snprintf(path, sizeof path, "%s/vocab.txt", dir);
  int rc = write_atomic(path, text, len, err, errlen);
  free(text);
  *kept = m;
  return rc;
}

static int prune_spm(const tok_tokenizer *t, const uint64_t *counts, uint64_t min_count, const char *dir,
                     uint32_t *n2o, size_t *kept, char *err, size_t errlen) {
  int n = spm_size(t->spm);
  unsigned char *keep = xcalloc((size_t)n, 1);
  int *o2n = xmalloc((size_t)n * sizeof *o2n);
  for (int s = 3; s < n; s++) {
    uint64_t c = counts[(uint32_t)s + XLMR_OFFSET];
    keep[s] = c > 0 && c >= min_count;
  }
  keep[0] = keep[1] = keep[2] = 1;
  spm_keep_closure(t->spm, keep);
  char *bytes = NULL;
  size_t nbytes = 0;
  int m = spm_subset(t->spm, keep, o2n, &bytes, &nbytes, err, errlen);
  int rc = -1;
  if (m < 0) goto done;
  if (o2n[0] != 0 || o2n[1] != 1 || o2n[2] != 2) {
    set_err(err, errlen, "%s: the special pieces moved in the pruned model", t->path);
    goto done;
  }
  size_t k = 0;
  for (uint32_t i = 0; i < 4; i++) n2o[k++] = i;
  for (int s = 3; s < n; s++)
    if (o2n[s] >= 0) n2o[k++] = (uint32_t)s + XLMR_OFFSET;
  n2o[k++] = (uint32_t)n + 1; /* <mask> */
  *kept = k;
  char path[4200];
  const char *name = strcmp(base_name(t->path), "tokenizer.model") == 0 ? "tokenizer.model" : "sentencepiece.bpe.model";
  snprintf(path, sizeof path, "%s/%s", dir, name);
  rc = write_atomic(path, bytes, nbytes, err, errlen);
done:
  free(bytes);
  free(keep);
  free(o2n);
  return rc;
}

int tok_prune(const tok_tokenizer *t, const uint64_t *counts, uint64_t min_count, const char *dir, size_t *kept,
              char *err, size_t errlen) {
  if (prepare_dir(dir, err, errlen) != 0) return -1;
  uint32_t *n2o = xmalloc(xmul(tok_size(t), sizeof *n2o));
  int rc = t->v ? prune_wordpiece(t, counts, min_count, dir, n2o, kept, err, errlen)
                : prune_spm(t, counts, min_count, dir, n2o, kept, err, errlen);
  if (rc == 0) {
    size_t len = 0;
    char *text = idmap_text(n2o, *kept, &len), path[4200];
    snprintf(path, sizeof path, "%s/idmap.tsv", dir);
    rc = text ? write_atomic(path, text, len, err, errlen) : set_err(err, errlen, "open_memstream failed");
    free(text);
  }
  free(n2o);
  return rc;
}
