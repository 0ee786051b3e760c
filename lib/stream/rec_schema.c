/* rec_schema.c: record schemas. The YAML files in schemas/ are compiled into
 * the library (scripts/embed-schemas) and parsed here with libyaml; the same
 * struct is what the schema frame of a stream encodes (rec.c). */
#include "stream/schema.h"
#include "base/json.h"
#include "base/util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

extern const char *const rec_builtin_schema_text[];

static const char *const type_names[] = {NULL, "u8", "u32", "i32", "f32", "f64", "str"};

const char *rec_type_name(rec_type t) {
  return t >= REC_U8 && t <= REC_STR ? type_names[t] : "?";
}

size_t rec_type_size(rec_type t) {
  switch (t) {
  case REC_U8: return 1;
  case REC_U32: case REC_I32: case REC_F32: return 4;
  case REC_F64: return 8;
  default: return 0;
  }
}

static rec_type type_from_name(const char *s) {
  for (int t = REC_U8; t <= REC_STR; t++)
    if (strcmp(s, type_names[t]) == 0) return (rec_type)t;
  return 0;
}

void rec_schema_free(rec_schema *s) {
  if (!s) return;
  free(s->record);
  for (int i = 0; i < s->nfields; i++) free(s->fields[i].name);
  for (int i = 0; i < s->ndims; i++) free(s->dims[i].name);
  for (int i = 0; i < s->nmeta; i++) {
    free(s->meta_key[i]);
    free(s->meta_val[i]);
  }
  free(s->meta_key);
  free(s->meta_val);
  free(s);
}

rec_schema *rec_schema_copy(const rec_schema *s) {
  rec_schema *c = xcalloc(1, sizeof *c);
  *c = *s;
  c->record = xstrdup(s->record ? s->record : "");
  for (int i = 0; i < s->nfields; i++) c->fields[i].name = xstrdup(s->fields[i].name);
  for (int i = 0; i < s->ndims; i++) c->dims[i].name = xstrdup(s->dims[i].name);
  c->meta_key = c->meta_val = NULL;
  c->nmeta = 0;
  for (int i = 0; i < s->nmeta; i++) rec_meta_append(c, s->meta_key[i], s->meta_val[i]);
  return c;
}

int rec_field_index(const rec_schema *s, const char *name) {
  for (int i = 0; i < s->nfields; i++)
    if (strcmp(s->fields[i].name, name) == 0) return i;
  return -1;
}

int rec_dim_index(const rec_schema *s, const char *name) {
  for (int i = 0; i < s->ndims; i++)
    if (strcmp(s->dims[i].name, name) == 0) return i;
  return -1;
}

int rec_set_dim(rec_schema *s, const char *name, int64_t value) {
  int d = rec_dim_index(s, name);
  if (d < 0 || value < 0 || value > UINT32_MAX) return -1;
  s->dims[d].fixed = value;
  return 0;
}

int64_t rec_get_dim(const rec_schema *s, const char *name) {
  int d = rec_dim_index(s, name);
  return d < 0 ? REC_DIM_UNSET : s->dims[d].fixed;
}

void rec_meta_append(rec_schema *s, const char *key, const char *value) {
  if ((s->nmeta & (s->nmeta - 1)) == 0) { /* capacity: powers of two */
    size_t cap = s->nmeta ? 2 * (size_t)s->nmeta : 1;
    s->meta_key = xrealloc(s->meta_key, cap * sizeof *s->meta_key);
    s->meta_val = xrealloc(s->meta_val, cap * sizeof *s->meta_val);
  }
  s->meta_key[s->nmeta] = xstrdup(key);
  s->meta_val[s->nmeta] = xstrdup(value);
  s->nmeta++;
}

void rec_meta_set(rec_schema *s, const char *key, const char *value) {
  for (int i = 0; i < s->nmeta; i++)
    if (strcmp(s->meta_key[i], key) == 0) {
      free(s->meta_val[i]);
      s->meta_val[i] = xstrdup(value);
      return;
    }
  rec_meta_append(s, key, value);
}

static int cmp_str_ptr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A metadata key that appears twice (sorted, so a frame of 65536 entries
 * costs no more than sorting them), or NULL. */
static const char *meta_duplicate(const rec_schema *s) {
  if (s->nmeta < 2) return NULL;
  const char **k = xmalloc((size_t)s->nmeta * sizeof *k);
  memcpy(k, s->meta_key, (size_t)s->nmeta * sizeof *k);
  qsort(k, (size_t)s->nmeta, sizeof *k, cmp_str_ptr);
  const char *dup = NULL;
  for (int i = 1; i < s->nmeta && !dup; i++)
    if (strcmp(k[i - 1], k[i]) == 0) dup = k[i];
  free(k);
  return dup;
}

const char *rec_meta_get(const rec_schema *s, const char *key) {
  for (int i = 0; i < s->nmeta; i++)
    if (strcmp(s->meta_key[i], key) == 0) return s->meta_val[i];
  return NULL;
}

static bool valid_name(const char *s) {
  if (!s || !*s || strlen(s) > 255) return false;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
          *p == '-' || *p == '.'))
      return false;
  return true;
}

int rec_schema_validate(const rec_schema *s, char *err, size_t errlen) {
  if (!valid_name(s->record)) return set_err(err, errlen, "invalid record type name");
  if (s->nfields < 1 || s->nfields > REC_MAX_FIELDS)
    return set_err(err, errlen, "%d fields (between 1 and %d allowed)", s->nfields, REC_MAX_FIELDS);
  if (s->ndims < 0 || s->ndims > REC_MAX_DIMS)
    return set_err(err, errlen, "%d dimensions (at most %d allowed)", s->ndims, REC_MAX_DIMS);
  for (int i = 0; i < s->ndims; i++) {
    if (!valid_name(s->dims[i].name)) return set_err(err, errlen, "dimension %d: invalid name", i);
    for (int j = 0; j < i; j++)
      if (strcmp(s->dims[i].name, s->dims[j].name) == 0)
        return set_err(err, errlen, "dimension '%s' declared twice", s->dims[i].name);
    int64_t v = s->dims[i].fixed;
    if (v < REC_DIM_UNSET || v > UINT32_MAX)
      return set_err(err, errlen, "dimension '%s': invalid value %" PRId64, s->dims[i].name, v);
  }
  for (int i = 0; i < s->nfields; i++) {
    const rec_field *f = &s->fields[i];
    if (!valid_name(f->name)) return set_err(err, errlen, "field %d: invalid name", i);
    for (int j = 0; j < i; j++)
      if (strcmp(f->name, s->fields[j].name) == 0) return set_err(err, errlen, "field '%s' declared twice", f->name);
    if (f->type < REC_U8 || f->type > REC_STR) return set_err(err, errlen, "field '%s': unknown type", f->name);
    if (f->rank < 0 || f->rank > REC_MAX_RANK)
      return set_err(err, errlen, "field '%s': rank %d (at most %d)", f->name, f->rank, REC_MAX_RANK);
    if (f->type == REC_STR && f->rank != 0)
      return set_err(err, errlen, "field '%s': str fields cannot have a shape", f->name);
    for (int a = 0; a < f->rank; a++)
      if (f->dim[a] < 0 || f->dim[a] >= s->ndims)
        return set_err(err, errlen, "field '%s': shape refers to an undeclared dimension", f->name);
    /* Hostile sizes (schemas/README.md 1.2): the fixed dimensions of a field
     * give the bytes of one slice of it; a slice larger than a frame could
     * never be stored, so such a value can only mislead a consumer that
     * allocates from it (d = 2^32-1 in a 216-byte stream). */
    uint64_t slice = rec_type_size(f->type);
    int big = -1; /* the dimension that pushed the slice over the limit */
    for (int a = 0; a < f->rank && f->type != REC_STR; a++) {
      int64_t v = s->dims[f->dim[a]].fixed;
      if (v < 0) continue; /* per record, or not set yet */
      if (v == 0) {
        big = -1;
        break; /* an empty slice, whatever the other dimensions say */
      }
      if (slice > REC_MAX_FRAME / (uint64_t)v) {
        slice = (uint64_t)REC_MAX_FRAME + 1;
        if (big < 0) big = f->dim[a];
      } else
        slice *= (uint64_t)v;
    }
    if (big >= 0)
      return set_err(err, errlen,
                     "field '%s': %s = %" PRId64 " makes its %s arrays larger than the frame limit of %u bytes "
                     "(no record could hold one)",
                     f->name, s->dims[big].name, s->dims[big].fixed, rec_type_name(f->type), REC_MAX_FRAME);
  }
  for (int i = 0; i < s->nmeta; i++)
    if (!s->meta_key[i] || !*s->meta_key[i]) return set_err(err, errlen, "empty metadata key");
  /* Keys are unique (schemas/README.md 1.2): with two `model` entries, which
   * one a consumer's mismatch guard sees would depend on how it searches. */
  const char *dup = meta_duplicate(s);
  if (dup) return set_err(err, errlen, "metadata key '%.200s' appears more than once", dup);
  return 0;
}

/* ---- YAML ---- */

static const char *yscalar(yaml_node_t *n) {
  return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

rec_schema *rec_schema_from_yaml(const char *text, size_t len, char *err, size_t errlen) {
  yaml_parser_t parser;
  yaml_document_t doc;
  rec_schema *s = xcalloc(1, sizeof *s);
  bool have_doc = false;
  int line = 0;
#define FAIL(...)                                                                   \
  do {                                                                              \
    char m_[256];                                                                   \
    snprintf(m_, sizeof m_, __VA_ARGS__);                                           \
    if (line > 0) set_err(err, errlen, "line %d: %s", line, m_);                       \
    else set_err(err, errlen, "%s", m_);                                               \
    goto fail;                                                                      \
  } while (0)
  if (!yaml_parser_initialize(&parser)) FAIL("cannot initialize the YAML parser");
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    line = (int)parser.problem_mark.line + 1;
    FAIL("YAML: %s", parser.problem ? parser.problem : "syntax error");
  }
  have_doc = true;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (!root || root->type != YAML_MAPPING_NODE) FAIL("a schema is a YAML mapping with record, dims, fields");
  yaml_node_t *dims = NULL, *fields = NULL, *meta = NULL;
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
    const char *key = yscalar(k);
    line = (int)k->start_mark.line + 1;
    if (!key) FAIL("keys must be scalars");
    if (strcmp(key, "record") == 0) {
      if (!yscalar(v)) FAIL("record: expected a name");
      free(s->record);
      s->record = xstrdup(yscalar(v));
    } else if (strcmp(key, "dims") == 0) dims = v;
    else if (strcmp(key, "fields") == 0) fields = v;
    else if (strcmp(key, "meta") == 0) meta = v;
    else FAIL("unknown key '%s' (expected record, dims, fields, meta)", key);
  }
  line = 0;
  if (!s->record) FAIL("missing 'record'");
  if (dims && dims->type == YAML_SCALAR_NODE && !*yscalar(dims)) dims = NULL; /* "dims:" with nothing */
  if (dims) {
    if (dims->type != YAML_MAPPING_NODE) FAIL("dims: expected a mapping name: record|stream|INTEGER");
    for (yaml_node_pair_t *p = dims->data.mapping.pairs.start; p < dims->data.mapping.pairs.top; p++) {
      yaml_node_t *k = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
      line = (int)k->start_mark.line + 1;
      const char *name = yscalar(k), *val = yscalar(v);
      if (!name || !val) FAIL("dims: expected name: record|stream|INTEGER");
      if (s->ndims == REC_MAX_DIMS) FAIL("more than %d dimensions", REC_MAX_DIMS);
      int64_t fixed;
      if (strcmp(val, "record") == 0) fixed = REC_DIM_PER_RECORD;
      else if (strcmp(val, "stream") == 0) fixed = REC_DIM_UNSET;
      else {
        char *end;
        long long x = strtoll(val, &end, 10);
        if (end == val || *end || x < 0 || x > UINT32_MAX)
          FAIL("dimension %s: '%s' is not record, stream or a non-negative integer", name, val);
        fixed = x;
      }
      s->dims[s->ndims].name = xstrdup(name);
      s->dims[s->ndims].fixed = fixed;
      s->ndims++;
    }
  }
  if (!fields || fields->type != YAML_SEQUENCE_NODE) FAIL("missing 'fields' (a list)");
  for (yaml_node_item_t *it = fields->data.sequence.items.start; it < fields->data.sequence.items.top; it++) {
    yaml_node_t *f = yaml_document_get_node(&doc, *it);
    line = (int)f->start_mark.line + 1;
    if (f->type != YAML_MAPPING_NODE) FAIL("a field is a mapping {name, type, shape, optional}");
    if (s->nfields == REC_MAX_FIELDS) FAIL("more than %d fields", REC_MAX_FIELDS);
    rec_field *fd = &s->fields[s->nfields];
    memset(fd, 0, sizeof *fd);
    s->nfields++;
    for (yaml_node_pair_t *p = f->data.mapping.pairs.start; p < f->data.mapping.pairs.top; p++) {
      yaml_node_t *k = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
      const char *key = yscalar(k), *val = yscalar(v);
      if (!key) FAIL("field keys must be scalars");
      if (strcmp(key, "name") == 0) {
        if (!val) FAIL("field name must be a scalar");
        free(fd->name);
        fd->name = xstrdup(val);
      } else if (strcmp(key, "type") == 0) {
        if (!val || !(fd->type = type_from_name(val)))
          FAIL("field type '%s' (expected u8, u32, i32, f32, f64, str)", val ? val : "?");
      } else if (strcmp(key, "optional") == 0) {
        if (!val || (strcmp(val, "true") && strcmp(val, "false"))) FAIL("optional: expected true or false");
        fd->optional = strcmp(val, "true") == 0;
      } else if (strcmp(key, "shape") == 0) {
        if (v->type != YAML_SEQUENCE_NODE) FAIL("shape: expected a list of dimension names");
        for (yaml_node_item_t *d = v->data.sequence.items.start; d < v->data.sequence.items.top; d++) {
          const char *dn = yscalar(yaml_document_get_node(&doc, *d));
          if (!dn) FAIL("shape: expected dimension names");
          if (fd->rank == REC_MAX_RANK) FAIL("shape: at most %d dimensions", REC_MAX_RANK);
          int di = rec_dim_index(s, dn);
          if (di < 0) FAIL("shape: dimension '%s' is not declared in dims", dn);
          fd->dim[fd->rank++] = di;
        }
      } else FAIL("unknown field key '%s' (expected name, type, shape, optional)", key);
    }
    if (!fd->name) FAIL("field without a name");
    if (!fd->type) FAIL("field '%s' without a type", fd->name);
  }
  line = 0;
  if (meta) {
    if (meta->type != YAML_MAPPING_NODE) FAIL("meta: expected a mapping");
    for (yaml_node_pair_t *p = meta->data.mapping.pairs.start; p < meta->data.mapping.pairs.top; p++) {
      const char *k = yscalar(yaml_document_get_node(&doc, p->key));
      const char *v = yscalar(yaml_document_get_node(&doc, p->value));
      if (!k || !v) FAIL("meta: expected key: value scalars");
      rec_meta_append(s, k, v); /* a key given twice is refused by rec_schema_validate */
    }
  }
  if (rec_schema_validate(s, err, errlen) != 0) goto fail_quiet;
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  return s;
fail:
fail_quiet:
  if (have_doc) yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  rec_schema_free(s);
  return NULL;
#undef FAIL
}

rec_schema *rec_schema_from_yaml_file(const char *path, char *err, size_t errlen) {
  size_t len;
  char *text = read_file(path, &len);
  if (!text) {
    set_err(err, errlen, "cannot read schema '%s': %s", path, strerror(errno));
    return NULL;
  }
  char why[300];
  rec_schema *s = rec_schema_from_yaml(text, len, why, sizeof why);
  free(text);
  if (!s) set_err(err, errlen, "%s: %s", path, why);
  return s;
}

/* ---- builtins ---- */

static rec_schema **builtins;
static const char **builtin_names;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;
static char builtin_error[300];

/* A schemas/NAME.yaml that does not parse is a build defect: it is left out
 * (rec_schema_builtin_error says why) and test_rec fails on it. */
static void load_builtins(void) {
  size_t n = 0, k = 0;
  while (rec_builtin_schema_text[n]) n++;
  builtins = xcalloc(n + 1, sizeof *builtins);
  builtin_names = xcalloc(n + 1, sizeof *builtin_names);
  for (size_t i = 0; i < n; i++) {
    char err[256];
    const char *t = rec_builtin_schema_text[i];
    rec_schema *b = rec_schema_from_yaml(t, strlen(t), err, sizeof err);
    if (!b) {
      if (!builtin_error[0]) snprintf(builtin_error, sizeof builtin_error, "built-in schema %zu: %s", i, err);
      continue;
    }
    builtins[k] = b;
    builtin_names[k++] = b->record;
  }
}

const char *rec_schema_builtin_error(void) {
  pthread_once(&builtin_once, load_builtins);
  return builtin_error[0] ? builtin_error : NULL;
}

rec_schema *rec_schema_builtin(const char *record) {
  pthread_once(&builtin_once, load_builtins);
  for (size_t i = 0; builtins[i]; i++)
    if (strcmp(builtins[i]->record, record) == 0) return rec_schema_copy(builtins[i]);
  return NULL;
}

const char *const *rec_schema_builtin_names(void) {
  pthread_once(&builtin_once, load_builtins);
  return builtin_names;
}

/* ---- printing ---- */

static void print_yaml_string(FILE *f, const char *s) {
  bool plain = *s && strcspn(s, ":#{}[],&*!|>'\"%@`\n\t\\") == strlen(s) && s[0] != ' ' && s[0] != '-' &&
               s[strlen(s) - 1] != ' ' && strcmp(s, "true") && strcmp(s, "false") && strcmp(s, "null");
  if (plain) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
    else if (*p == '\n') fputs("\\n", f);
    else if (*p == '\t') fputs("\\t", f);
    else if (*p < 0x20) fprintf(f, "\\x%02x", *p);
    else fputc(*p, f);
  }
  fputc('"', f);
}

void rec_schema_print(FILE *f, const rec_schema *s) {
  fprintf(f, "record: %s\ndims: {", s->record);
  for (int i = 0; i < s->ndims; i++) {
    fprintf(f, "%s%s: ", i ? ", " : "", s->dims[i].name);
    if (s->dims[i].fixed == REC_DIM_PER_RECORD) fputs("record", f);
    else if (s->dims[i].fixed == REC_DIM_UNSET) fputs("stream", f);
    else fprintf(f, "%" PRId64, s->dims[i].fixed);
  }
  fputs("}\nfields:\n", f);
  for (int i = 0; i < s->nfields; i++) {
    const rec_field *fd = &s->fields[i];
    fprintf(f, "  - {name: %s, type: %s", fd->name, rec_type_name(fd->type));
    if (fd->rank) {
      fputs(", shape: [", f);
      for (int a = 0; a < fd->rank; a++) fprintf(f, "%s%s", a ? ", " : "", s->dims[fd->dim[a]].name);
      fputc(']', f);
    }
    if (fd->optional) fputs(", optional: true", f);
    fputs("}\n", f);
  }
  if (s->nmeta) {
    fputs("meta:\n", f);
    for (int i = 0; i < s->nmeta; i++) {
      fputs("  ", f);
      print_yaml_string(f, s->meta_key[i]);
      fputs(": ", f);
      print_yaml_string(f, s->meta_val[i]);
      fputc('\n', f);
    }
  }
}

/* ---- comparing two streams' schemas ---- */

bool rec_layout_equal(const rec_schema *a, const rec_schema *b) {
  return rec_schema_compare(a, b, false, NULL, 0) == 0;
}

int rec_schema_compare(const rec_schema *a, const rec_schema *b, bool meta, char *why, size_t whylen) {
  if (strcmp(a->record, b->record))
    return set_err(why, whylen, "record type '%s' vs '%s'", a->record, b->record);
  if (a->nfields != b->nfields || a->ndims != b->ndims)
    return set_err(why, whylen, "different fields or dimensions");
  for (int i = 0; i < a->ndims; i++)
    if (strcmp(a->dims[i].name, b->dims[i].name) || a->dims[i].fixed != b->dims[i].fixed)
      return set_err(why, whylen, "dimension '%s' differs", a->dims[i].name);
  for (int i = 0; i < a->nfields; i++) {
    const rec_field *x = &a->fields[i], *y = &b->fields[i];
    if (strcmp(x->name, y->name) || x->type != y->type || x->rank != y->rank || x->optional != y->optional ||
        memcmp(x->dim, y->dim, sizeof(int) * (size_t)x->rank))
      return set_err(why, whylen, "field '%s' differs", x->name);
  }
  if (!meta) return 0;
  if (a->nmeta != b->nmeta) return set_err(why, whylen, "metadata differs: %d vs %d entries", a->nmeta, b->nmeta);
  for (int i = 0; i < a->nmeta; i++) {
    const char *v = rec_meta_get(b, a->meta_key[i]);
    if (!v || strcmp(v, a->meta_val[i])) return set_err(why, whylen, "metadata '%s' differs", a->meta_key[i]);
  }
  return 0;
}

/* ---- conformance to the builtin schema of the same record type ---- */

static void print_shape(char *buf, size_t cap, const rec_schema *s, const rec_field *f) {
  size_t n = 0;
  buf[0] = 0;
  for (int a = 0; a < f->rank && n < cap; a++) {
    int k = snprintf(buf + n, cap - n, "[%s]", s->dims[f->dim[a]].name);
    if (k < 0) break;
    n += (size_t)k;
  }
}

/* A stream may name its dimensions as it likes and carry extra fields, but
 * every field the builtin schema knows must have the builtin's type and rank,
 * fields that share a dimension in the builtin must share one in the stream
 * (ids and vecs of a vectors record have the same n), per-record dimensions
 * must stay per-record, and literal dimensions (the 2 of an offsets pair)
 * must keep their value. Without this a program could index past an array
 * whose length it takes from another field. */
int rec_schema_conforms(const rec_schema *s, char *err, size_t errlen) {
  pthread_once(&builtin_once, load_builtins);
  const rec_schema *b = NULL;
  for (size_t i = 0; builtins[i]; i++)
    if (strcmp(builtins[i]->record, s->record) == 0) b = builtins[i];
  if (!b) return 0; /* a record type of the user's own: nothing to compare with */
  int map[REC_MAX_DIMS];
  for (int i = 0; i < REC_MAX_DIMS; i++) map[i] = -1;
  for (int i = 0; i < b->nfields; i++) {
    const rec_field *bf = &b->fields[i];
    int j = rec_field_index(s, bf->name);
    if (j < 0) {
      if (bf->optional) continue;
      return set_err(err, errlen, "'%s' stream without its required field '%s'", s->record, bf->name);
    }
    const rec_field *sf = &s->fields[j];
    char want[64], got[64];
    print_shape(want, sizeof want, b, bf);
    print_shape(got, sizeof got, s, sf);
    if (sf->type != bf->type || sf->rank != bf->rank)
      return set_err(err, errlen, "'%s' stream: field '%s' is %s%s, expected %s%s", s->record, bf->name,
                  rec_type_name(sf->type), got, rec_type_name(bf->type), want);
    for (int a = 0; a < bf->rank; a++) {
      int bd = bf->dim[a], sd = sf->dim[a];
      int64_t bv = b->dims[bd].fixed, sv = s->dims[sd].fixed;
      bool same_kind = bv == REC_DIM_PER_RECORD ? sv == REC_DIM_PER_RECORD
                       : bv >= 0                 ? sv == bv
                                                 : sv != REC_DIM_PER_RECORD; /* stream dim: fixed or unset */
      bool consistent = map[bd] < 0 ? true : map[bd] == sd;
      for (int o = 0; o < REC_MAX_DIMS && consistent; o++)
        if (o != bd && map[o] == sd) consistent = false;
      if (!same_kind || !consistent)
        return set_err(err, errlen, "'%s' stream: field '%s' has shape %s, expected %s", s->record, bf->name, got,
                    want);
      map[bd] = sd;
    }
  }
  return 0;
}

int rec_schema_expect(const rec_schema *s, const char *const *records, char *err, size_t errlen) {
  for (const char *const *p = records; *p; p++) {
    if (strcmp(s->record, *p) != 0) continue;
    char why[448];
    if (rec_schema_conforms(s, why, sizeof why) != 0) return set_err(err, errlen, "schema frame (byte 8): %s", why);
    return 0;
  }
  char want[256] = "";
  size_t n = 0;
  for (const char *const *p = records; *p; p++) {
    int k = snprintf(want + n, sizeof want - n, "%s'%s'", p == records ? "" : p[1] ? ", " : " or ", *p);
    if (k < 0 || (size_t)k >= sizeof want - n) break;
    n += (size_t)k;
  }
  return set_err(err, errlen, "expected a %s stream, got '%s'", want, s->record);
}
