/*
 * rec: encode, decode, inspect, validate and reshape otclir record streams
 *
 * One program with subcommands (encode, dump, cat, head, count, check, schema,
 * shuffle, split, from-tsv). The format and the record types are documented in
 * schemas/README.md; the work is done by lib/rec.c.
 */
#include "base/json.h"
#include "stream/rec.h"
#include "base/rng.h"
#include "base/util.h"
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "Usage: rec encode --schema NAME [--meta K=V]... [--dim D=N]... [--zstd[=L]] [-o FILE] [FILE]\n"
    "       rec dump [FILE]\n"
    "       rec cat [-o FILE] FILE...\n"
    "       rec head -n N [FILE]\n"
    "       rec count [FILE...]\n"
    "       rec check [--expect TYPE] [-q] [FILE...]\n"
    "       rec schema [FILE] | --builtin NAME | --list\n"
    "       rec shuffle --seed S [FILE]\n"
    "       rec split (-n N | -l K) [FILE] PREFIX\n"
    "       rec from-tsv [--no-lang | --lang L] [FILE]\n";

static const char manual[] =
    "rec: encode, decode, inspect, validate and reshape otclir record streams.\n"
    "\n"
    "An otclir stream is binary: a file header, a schema frame (record type,\n"
    "fields, dimensions, metadata), record frames and an end frame with the\n"
    "record count, each frame checksummed (CRC-32C); optionally zstd-compressed\n"
    "as a whole. Every otclir program reads and writes it on stdin/stdout. `rec`\n"
    "converts it from and to JSON Lines and TSV, and checks, cuts and reorders it.\n"
    "The format and the record types are specified in schemas/README.md\n"
    "(installed in PREFIX/share/otclir/schemas).\n"
    "\n"
    "Usage:\n"
    "  rec SUBCOMMAND [OPTIONS] [FILE...]\n"
    "FILE `-` or no FILE means standard input; output goes to standard output\n"
    "unless -o FILE is given (written to a temporary name and renamed when\n"
    "complete, so a failed run never leaves a partial file).\n"
    "\n"
    "Subcommands:\n"
    "  encode --schema NAME [FILE]\n"
    "      JSON Lines to a stream of record type NAME (a built-in type, see\n"
    "      `rec schema --list`, or a path to a schema YAML file). One JSON object\n"
    "      per line; keys are field names; a vector is an array, a matrix an\n"
    "      array of rows. Optional fields may be absent or null. Numbers for f32\n"
    "      fields are rounded once from their decimal text, so\n"
    "      `encode | dump | encode` is bit-exact. Blank lines are skipped.\n"
    "  dump [FILE]\n"
    "      A stream to JSON Lines, fields in schema order, absent optional fields\n"
    "      omitted. Floats are printed with the fewest digits that read back to\n"
    "      the same bits (at most 9 for f32, 17 for f64); with --allow-nonfinite,\n"
    "      NaN and Inf (which JSON lacks) are printed as null.\n"
    "  cat FILE...\n"
    "      Concatenate streams whose schemas (record type, fields, dimensions and\n"
    "      metadata) are identical into one stream.\n"
    "  head -n N [FILE]\n"
    "      The first N records (the rest of the input is not read).\n"
    "  count [FILE...]\n"
    "      Validate and print the number of records (\"N\", or \"N FILE\" per file\n"
    "      when several are given).\n"
    "  check [FILE...]\n"
    "      Validate every frame: magic, version, frame lengths, both CRCs, field\n"
    "      layout, UTF-8 strings, finite floats, record count, end of input. Prints\n"
    "      \"FILE: ok: N TYPE records\" per valid file on stdout and the problem and\n"
    "      its place on stderr. Exit 1 if any file is invalid.\n"
    "  schema [FILE]\n"
    "      Print the schema and metadata of a stream (YAML, the format of\n"
    "      schemas/*.yaml plus a meta: map).\n"
    "  shuffle --seed S [FILE]\n"
    "      Records in a random order determined by S alone (Fisher-Yates with the\n"
    "      otclir RNG, xoshiro256**): same input and seed, same output. The stream\n"
    "      is held in memory.\n"
    "  split (-n N | -l K) [FILE] PREFIX\n"
    "      Write PREFIX-000.rec, PREFIX-001.rec, ...: with -n N, N files taking\n"
    "      records round-robin (record i goes to file i mod N); with -l K,\n"
    "      consecutive runs of K records per file. With --zstd the names end in\n"
    "      .rec.zst. The file names are printed on stdout.\n"
    "  from-tsv [FILE]\n"
    "      TSV lines `id<TAB>lang<TAB>text` to `text` records (with --no-lang:\n"
    "      `id<TAB>text`, lang absent; with --lang L: `id<TAB>text`, lang L).\n"
    "      A trailing CR is removed. A line with the wrong number of columns, an\n"
    "      empty id or invalid UTF-8 is an error naming the line.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE   write the stream to FILE instead of stdout (a name\n"
    "                      ending in .zst turns zstd compression on)\n"
    "      --zstd[=LEVEL]  compress the output with zstd (level 1-19, default 3)\n"
    "      --meta KEY=VAL  set a metadata entry of the output stream (repeatable)\n"
    "      --dim NAME=N    encode: fix a stream dimension (e.g. d=768) that the\n"
    "                      first record cannot tell (repeatable)\n"
    "      --schema NAME   encode: record type or schema YAML file\n"
    "  -n N                head: number of records; split: number of files\n"
    "  -l K                split: records per file\n"
    "      --seed S        shuffle: the seed (required)\n"
    "      --expect TYPE   check: the record type every file must have\n"
    "  -q, --quiet         check: print nothing for valid files\n"
    "      --ignore-meta   cat: allow different metadata, keep the first file's\n"
    "      --allow-nonfinite  accept NaN/Inf in float fields (dump, check, count,\n"
    "                      cat, head, shuffle, split)\n"
    "      --no-lang, --lang L  from-tsv: the two-column form\n"
    "      --builtin NAME  schema: print a built-in schema\n"
    "      --list          schema: list the built-in record types\n"
    "      --help          this manual\n"
    "      --version       version\n"
    "\n"
    "Examples:\n"
    "  rec from-tsv queries.tsv | tokenize --vocab vocab.txt > queries.tok.rec\n"
    "  echo '{\"qid\":\"q1\",\"docid\":\"d7\",\"rank\":1,\"score\":0.5}' | rec encode --schema run | rec dump\n"
    "  rec check --expect vectors docs.vec.rec.zst\n"
    "  rec cat part1.rec part2.rec -o all.rec.zst\n"
    "  rec shuffle --seed 1 pairs.rec | rec split -n 4 - shard\n"
    "\n"
    "Exit status: 0 success, 1 invalid or truncated input or an I/O error (the\n"
    "message names the file, record number and byte offset), 2 bad usage.\n";

/* ---- options shared by the subcommands ---- */

typedef struct {
  const char *output, *schema, *expect, *lang, *builtin;
  int zstd_level, quiet, list, no_lang, ignore_meta, allow_nonfinite;
  long n, l;
  int have_seed;
  uint64_t seed;
  int nmeta, ndim;
  char **meta, **dim;
} opts_t;

enum { O_ZSTD = 256, O_META, O_DIM, O_SCHEMA, O_SEED, O_EXPECT, O_NOLANG, O_LANG, O_BUILTIN, O_LIST, O_IGNMETA,
       O_NONFINITE, O_HELP, O_VERSION };

static const struct option long_opts[] = {
    {"output", required_argument, 0, 'o'}, {"zstd", optional_argument, 0, O_ZSTD},
    {"meta", required_argument, 0, O_META}, {"dim", required_argument, 0, O_DIM},
    {"schema", required_argument, 0, O_SCHEMA}, {"seed", required_argument, 0, O_SEED},
    {"expect", required_argument, 0, O_EXPECT}, {"quiet", no_argument, 0, 'q'},
    {"no-lang", no_argument, 0, O_NOLANG}, {"lang", required_argument, 0, O_LANG},
    {"builtin", required_argument, 0, O_BUILTIN}, {"list", no_argument, 0, O_LIST},
    {"ignore-meta", no_argument, 0, O_IGNMETA}, {"allow-nonfinite", no_argument, 0, O_NONFINITE},
    {"help", no_argument, 0, O_HELP}, {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};

/* Bad usage of a subcommand: say what, then the usage (exit 2). */
#define usage_error(...) die_usage_msg(usage_text, __VA_ARGS__)

static void show_help(void) {
  xfwrite_stdout(manual, sizeof manual - 1);
  otc_close_stdout();
  exit(0);
}

/* ---- output helpers ---- */

static rec_writer *open_output(const opts_t *o, const rec_schema *s) {
  const char *path = o->output ? o->output : "-";
  if (strcmp(path, "-") == 0 && isatty(1))
    die("refusing to write a binary stream to a terminal (redirect it, pipe it, or use -o FILE)");
  rec_write_opts wo = {o->zstd_level};
  rec_writer *w = rec_writer_or_die(path, s, &wo);
  rec_schema *ws = rec_writer_schema(w);
  for (int i = 0; i < o->nmeta; i++) {
    char *eq = strchr(o->meta[i], '=');
    *eq = 0;
    rec_meta_set(ws, o->meta[i], eq + 1);
    *eq = '=';
  }
  if (o->allow_nonfinite) rec_writer_allow_nonfinite(w, true);
  return w;
}

static rec_reader *open_input(const opts_t *o, const char *path) {
  rec_reader *r = rec_open_or_die(path);
  if (o->allow_nonfinite) rec_reader_allow_nonfinite(r, true);
  return r;
}

/* ---- encode ---- */

typedef struct {
  uint8_t *p;
  size_t len, cap;
} bytes_t;

static void bytes_put(bytes_t *b, const void *x, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = b->cap ? b->cap * 2 : 4096;
    while (b->cap < b->len + n) b->cap *= 2;
    b->p = xrealloc(b->p, b->cap);
  }
  memcpy(b->p + b->len, x, n);
  b->len += n;
}

typedef struct {
  const char *file;
  size_t line;
  const rec_field *f;
} enc_ctx;

static noreturn void enc_die(const enc_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static noreturn void enc_die(const enc_ctx *c, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->f) die("%s: line %zu: field '%s': %s", c->file, c->line, c->f->name, msg);
  die("%s: line %zu: %s", c->file, c->line, msg);
}

static void enc_number(const enc_ctx *c, const json_value *v, rec_type t, bytes_t *out) {
  if (v->type != JSON_NUMBER) enc_die(c, "expected a number, got %s", json_type_name(v->type));
  unsigned long long u;
  long long i;
  switch (t) {
  case REC_U8:
    if (json_to_u64(v, &u) || u > 255) enc_die(c, "'%.*s' is not a u8 (integer 0..255)", (int)v->len, v->text);
    bytes_put(out, &(uint8_t){(uint8_t)u}, 1);
    break;
  case REC_U32:
    if (json_to_u64(v, &u) || u > UINT32_MAX) enc_die(c, "'%.*s' is not a u32", (int)v->len, v->text);
    bytes_put(out, &(uint32_t){(uint32_t)u}, 4);
    break;
  case REC_I32:
    if (json_to_i64(v, &i) || i < INT32_MIN || i > INT32_MAX) enc_die(c, "'%.*s' is not an i32", (int)v->len, v->text);
    bytes_put(out, &(int32_t){(int32_t)i}, 4);
    break;
  case REC_F32: {
    float x;
    if (json_to_f32(v, &x)) enc_die(c, "'%.*s' does not fit an f32", (int)v->len, v->text);
    bytes_put(out, &x, 4);
    break;
  }
  case REC_F64: {
    double x;
    if (json_to_f64(v, &x)) enc_die(c, "'%.*s' does not fit an f64", (int)v->len, v->text);
    bytes_put(out, &x, 8);
    break;
  }
  default: enc_die(c, "internal: not a numeric type");
  }
}

/* Nested arrays to a flat row-major buffer; shape[a] = -1 until the first
 * array at depth a is seen; every later one must agree (rectangular). */
static void enc_array(const enc_ctx *c, const json_value *v, int depth, int rank, rec_type t, int64_t *shape,
                      bytes_t *out) {
  if (depth == rank) {
    enc_number(c, v, t, out);
    return;
  }
  if (v->type != JSON_ARRAY)
    enc_die(c, "expected an array at depth %d (the field has %d dimensions), got %s", depth + 1, rank,
            json_type_name(v->type));
  if (v->n > UINT32_MAX) enc_die(c, "array too long");
  if (shape[depth] < 0) shape[depth] = (int64_t)v->n;
  else if (shape[depth] != (int64_t)v->n)
    enc_die(c, "ragged array: %zu elements at depth %d where an earlier row has %" PRId64, v->n, depth + 1,
            shape[depth]);
  for (size_t k = 0; k < v->n; k++) enc_array(c, v->items[k], depth + 1, rank, t, shape, out);
}

static rec_schema *load_schema_arg(const char *name) {
  rec_schema *s = NULL;
  size_t n = strlen(name);
  if (strchr(name, '/') || (n > 5 && strcmp(name + n - 5, ".yaml") == 0)) {
    size_t len;
    char *text = read_file(name, &len);
    if (!text) die_errno("cannot read schema '%s'", name);
    char err[300];
    s = rec_schema_from_yaml(text, len, err, sizeof err);
    free(text);
    if (!s) die("%s: %s", name, err);
    return s;
  }
  s = rec_schema_builtin(name);
  if (!s) {
    char list[512] = "";
    for (const char *const *p = rec_schema_builtin_names(); *p; p++) {
      strncat(list, " ", sizeof list - strlen(list) - 1);
      strncat(list, *p, sizeof list - strlen(list) - 1);
    }
    fprintf(stderr, "%s: unknown schema '%s' (built-in:%s; or a path to a .yaml file)\n", otc_prog(), name, list);
    exit(OTC_EXIT_USAGE);
  }
  return s;
}

static FILE *open_text_input(const char *path) {
  if (strcmp(path, "-") == 0) return stdin;
  FILE *f = fopen(path, "rb");
  if (!f) die_errno("cannot open '%s'", path);
  return f;
}

static int cmd_encode(opts_t *o, int argc, char **argv) {
  if (!o->schema) usage_error("%s", "encode: --schema NAME is required");
  if (argc > 1) usage_error("%s", "encode: at most one input FILE");
  rec_schema *s = load_schema_arg(o->schema);
  for (int i = 0; i < o->ndim; i++) {
    char *eq = strchr(o->dim[i], '=');
    *eq = 0;
    if (rec_dim_index(s, o->dim[i]) < 0) {
      fprintf(stderr, "%s: --dim: schema '%s' has no dimension '%s'\n", otc_prog(), s->record, o->dim[i]);
      exit(OTC_EXIT_USAGE);
    }
    rec_set_dim(s, o->dim[i], parse_long("--dim", eq + 1, 0, UINT32_MAX));
    *eq = '=';
  }
  const char *path = argc ? argv[0] : "-";
  const char *name = strcmp(path, "-") ? path : "stdin";
  FILE *in = open_text_input(path);
  rec_writer *w = open_output(o, s);
  /* dims fixed so far: the schema's, then the stream dims of the first record */
  int64_t known[REC_MAX_DIMS];
  for (int d = 0; d < s->ndims; d++) known[d] = s->dims[d].fixed;
  bytes_t buf[REC_MAX_FIELDS] = {{0}};
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  ssize_t len;
  char err[300];
  while ((len = getline(&line, &cap, in)) >= 0) {
    lineno++;
    enc_ctx c = {name, lineno, NULL};
    size_t k = 0;
    while (k < (size_t)len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' || line[k] == '\n')) k++;
    if (k == (size_t)len) continue;
    json_doc *doc = json_parse(line, (size_t)len, err, sizeof err);
    if (!doc) enc_die(&c, "invalid JSON: %s", err);
    const json_value *obj = json_root(doc);
    if (obj->type != JSON_OBJECT) enc_die(&c, "expected a JSON object, got %s", json_type_name(obj->type));
    int64_t shapes[REC_MAX_FIELDS][REC_MAX_RANK];
    bool present[REC_MAX_FIELDS] = {0};
    for (size_t m = 0; m < obj->n; m++) {
      int fi = rec_field_index(s, obj->keys[m]);
      if (fi < 0) enc_die(&c, "unknown field '%s' for record type '%s'", obj->keys[m], s->record);
      if (present[fi]) enc_die(&c, "field '%s' given twice", obj->keys[m]);
      const json_value *v = obj->items[m];
      c.f = &s->fields[fi];
      if (v->type == JSON_NULL) {
        if (!c.f->optional) enc_die(&c, "null for a required field");
        c.f = NULL;
        continue;
      }
      present[fi] = true;
      if (c.f->type == REC_STR) {
        if (v->type != JSON_STRING) enc_die(&c, "expected a string, got %s", json_type_name(v->type));
        rec_put_str(w, fi, v->text, v->len);
      } else {
        buf[fi].len = 0;
        for (int a = 0; a < REC_MAX_RANK; a++) shapes[fi][a] = -1;
        enc_array(&c, v, 0, c.f->rank, c.f->type, shapes[fi], &buf[fi]);
      }
      c.f = NULL;
    }
    /* Extents an empty outer array cannot show come from the dims known so
     * far or from another field of this record sharing the dimension. */
    int64_t rdim[REC_MAX_DIMS];
    for (int d = 0; d < s->ndims; d++) rdim[d] = known[d] >= 0 ? known[d] : -1;
    for (int fi = 0; fi < s->nfields; fi++)
      if (present[fi] && s->fields[fi].type != REC_STR)
        for (int a = 0; a < s->fields[fi].rank; a++)
          if (shapes[fi][a] >= 0 && rdim[s->fields[fi].dim[a]] < 0) rdim[s->fields[fi].dim[a]] = shapes[fi][a];
    for (int fi = 0; fi < s->nfields; fi++) {
      if (!present[fi] || s->fields[fi].type == REC_STR) continue;
      uint32_t shape[REC_MAX_RANK];
      for (int a = 0; a < s->fields[fi].rank; a++) {
        int d = s->fields[fi].dim[a];
        int64_t e = shapes[fi][a] >= 0 ? shapes[fi][a] : rdim[d];
        if (e < 0) {
          if (s->dims[d].fixed == REC_DIM_PER_RECORD) e = 0;
          else
            die("%s: line %zu: field '%s': cannot tell dimension '%s' from an empty array; give it with --dim %s=N",
                name, lineno, s->fields[fi].name, s->dims[d].name, s->dims[d].name);
        }
        shape[a] = (uint32_t)e;
      }
      rec_put(w, fi, buf[fi].p ? buf[fi].p : (void *)"", shape);
    }
    if (rec_write(w) < 0) {
      char msg[1024];
      snprintf(msg, sizeof msg, "%s", rec_writer_error(w));
      rec_writer_abort(w);
      die("%s: line %zu: %s", name, lineno, msg);
    }
    if (rec_writer_count(w) == 1)
      for (int d = 0; d < s->ndims; d++)
        if (known[d] == REC_DIM_UNSET) known[d] = rdim[d];
    json_free(doc);
  }
  if (ferror(in)) die_errno("%s: read error", name);
  rec_writer_close_or_die(w);
  free(line);
  for (int i = 0; i < REC_MAX_FIELDS; i++) free(buf[i].p);
  if (in != stdin) fclose(in);
  rec_schema_free(s);
  return 0;
}

/* ---- dump ---- */

/* JSON has no NaN/Inf: with --allow-nonfinite they are dumped as null. */
static void print_f32(FILE *f, float x) {
  char b[32];
  if (!isfinite(x)) {
    fputs("null", f);
    return;
  }
  fmt_float(b, sizeof b, x);
  fputs(b, f);
}

static void print_f64(FILE *f, double x) {
  char b[40];
  if (!isfinite(x)) {
    fputs("null", f);
    return;
  }
  fmt_double(b, sizeof b, x);
  fputs(b, f);
}

static void dump_values(FILE *f, const rec_field *fd, const rec_value *v, int depth, size_t *k) {
  if (depth == fd->rank) {
    const uint8_t *p = (const uint8_t *)v->data;
    size_t i = (*k)++;
    switch (fd->type) {
    case REC_U8: fprintf(f, "%u", p[i]); break;
    case REC_U32: { uint32_t x; memcpy(&x, p + 4 * i, 4); fprintf(f, "%" PRIu32, x); break; }
    case REC_I32: { int32_t x; memcpy(&x, p + 4 * i, 4); fprintf(f, "%" PRId32, x); break; }
    case REC_F32: { float x; memcpy(&x, p + 4 * i, 4); print_f32(f, x); break; }
    case REC_F64: { double x; memcpy(&x, p + 8 * i, 8); print_f64(f, x); break; }
    default: break;
    }
    return;
  }
  putc('[', f);
  for (uint32_t j = 0; j < v->shape[depth]; j++) {
    if (j) putc(',', f);
    dump_values(f, fd, v, depth + 1, k);
  }
  putc(']', f);
}

static int cmd_dump(opts_t *o, int argc, char **argv) {
  if (argc > 1) usage_error("%s", "dump: at most one input FILE");
  rec_reader *r = open_input(o, argc ? argv[0] : "-");
  const rec_schema *s = rec_reader_schema(r);
  static char obuf[1 << 16];
  setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
  rec_record rec;
  while (rec_read_or_die(r, &rec)) {
    putc('{', stdout);
    int first = 1;
    for (int i = 0; i < s->nfields; i++) {
      if (!rec_has(&rec, i)) continue;
      if (!first) putc(',', stdout);
      first = 0;
      json_write_string(stdout, s->fields[i].name, strlen(s->fields[i].name));
      putc(':', stdout);
      if (s->fields[i].type == REC_STR) json_write_string(stdout, rec.v[i].data, rec.v[i].count);
      else {
        size_t k = 0;
        dump_values(stdout, &s->fields[i], &rec.v[i], 0, &k);
      }
    }
    fputs("}\n", stdout);
    if (ferror(stdout)) otc_close_stdout();
  }
  rec_close(r);
  otc_close_stdout();
  return 0;
}

/* ---- cat / head / shuffle / split ---- */

static const char *schema_difference(const rec_schema *a, const rec_schema *b, bool meta) {
  static char why[512];
  if (strcmp(a->record, b->record)) {
    snprintf(why, sizeof why, "record type '%s' vs '%s'", a->record, b->record);
    return why;
  }
  if (a->nfields != b->nfields || a->ndims != b->ndims) return "different fields or dimensions";
  for (int i = 0; i < a->ndims; i++)
    if (strcmp(a->dims[i].name, b->dims[i].name) || a->dims[i].fixed != b->dims[i].fixed) {
      snprintf(why, sizeof why, "dimension '%s' differs", a->dims[i].name);
      return why;
    }
  for (int i = 0; i < a->nfields; i++) {
    const rec_field *x = &a->fields[i], *y = &b->fields[i];
    if (strcmp(x->name, y->name) || x->type != y->type || x->rank != y->rank || x->optional != y->optional ||
        memcmp(x->dim, y->dim, sizeof(int) * (size_t)x->rank)) {
      snprintf(why, sizeof why, "field '%s' differs", x->name);
      return why;
    }
  }
  if (!meta) return NULL;
  if (a->nmeta != b->nmeta) return "different metadata (use --ignore-meta to keep the first file's)";
  for (int i = 0; i < a->nmeta; i++) {
    const char *v = rec_meta_get(b, a->meta_key[i]);
    if (!v || strcmp(v, a->meta_val[i])) {
      snprintf(why, sizeof why, "metadata '%s' differs (use --ignore-meta to keep the first file's)", a->meta_key[i]);
      return why;
    }
  }
  return NULL;
}

static int cmd_cat(opts_t *o, int argc, char **argv) {
  char *dash[] = {"-"};
  if (argc == 0) {
    argc = 1;
    argv = dash;
  }
  rec_reader *first = open_input(o, argv[0]);
  rec_writer *w = open_output(o, rec_reader_schema(first));
  rec_record rec;
  for (int i = 0; i < argc; i++) {
    rec_reader *r = i ? open_input(o, argv[i]) : first;
    if (i) {
      const char *why = schema_difference(rec_reader_schema(first), rec_reader_schema(r), !o->ignore_meta);
      if (why) die("%s: schema differs from %s's: %s", argv[i], argv[0], why);
    }
    while (rec_read_or_die(r, &rec)) {
      rec_put_from(w, &rec);
      rec_write_or_die(w);
    }
    if (i) rec_close(r);
  }
  rec_writer_close_or_die(w);
  rec_close(first);
  return 0;
}

static int cmd_head(opts_t *o, int argc, char **argv) {
  if (o->n < 0) usage_error("%s", "head: -n N is required");
  if (argc > 1) usage_error("%s", "head: at most one input FILE");
  rec_reader *r = open_input(o, argc ? argv[0] : "-");
  rec_writer *w = open_output(o, rec_reader_schema(r));
  rec_record rec;
  for (long k = 0; k < o->n && rec_read_or_die(r, &rec); k++) {
    rec_put_from(w, &rec);
    rec_write_or_die(w);
  }
  rec_writer_close_or_die(w);
  rec_close(r);
  return 0;
}

/* One record held in memory: its field bytes copied into an arena. */
typedef struct {
  size_t off[REC_MAX_FIELDS];
  rec_value v[REC_MAX_FIELDS];
} held_rec;

static int cmd_shuffle(opts_t *o, int argc, char **argv) {
  if (!o->have_seed) usage_error("%s", "shuffle: --seed S is required");
  if (argc > 1) usage_error("%s", "shuffle: at most one input FILE");
  rec_reader *r = open_input(o, argc ? argv[0] : "-");
  const rec_schema *s = rec_reader_schema(r);
  held_rec *recs = NULL;
  size_t n = 0, ncap = 0;
  bytes_t arena = {0};
  rec_record rec;
  while (rec_read_or_die(r, &rec)) {
    if (n == ncap) {
      ncap = ncap ? 2 * ncap : 1024;
      recs = xrealloc(recs, ncap * sizeof *recs);
    }
    held_rec *h = &recs[n++];
    for (int i = 0; i < s->nfields; i++) {
      h->v[i] = rec.v[i];
      if (!rec.v[i].data) continue;
      size_t bytes = s->fields[i].type == REC_STR ? rec.v[i].count : rec.v[i].count * rec_type_size(s->fields[i].type);
      static const uint8_t zero[8];
      if (arena.len & 7) bytes_put(&arena, zero, 8 - (arena.len & 7)); /* keep arrays aligned */
      h->off[i] = arena.len;
      bytes_put(&arena, rec.v[i].data, bytes);
    }
  }
  rng_t g;
  rng_seed(&g, o->seed);
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)rng_below(&g, i);
    held_rec t = recs[i - 1];
    recs[i - 1] = recs[j];
    recs[j] = t;
  }
  rec_writer *w = open_output(o, s);
  for (size_t k = 0; k < n; k++) {
    rec.schema = s;
    rec.index = k;
    for (int i = 0; i < s->nfields; i++) {
      rec.v[i] = recs[k].v[i];
      if (rec.v[i].data) rec.v[i].data = arena.p + recs[k].off[i];
    }
    rec_put_from(w, &rec);
    rec_write_or_die(w);
  }
  rec_writer_close_or_die(w);
  rec_close(r);
  free(recs);
  free(arena.p);
  return 0;
}

static int cmd_split(opts_t *o, int argc, char **argv) {
  if ((o->n < 0) == (o->l < 0)) usage_error("%s", "split: exactly one of -n N (files) or -l K (records per file)");
  if (o->n == 0) usage_error("%s", "split: -n must be at least 1");
  if (argc < 1 || argc > 2) usage_error("%s", "split: expected [FILE] PREFIX");
  if (o->output) usage_error("%s", "split: -o does not apply (the outputs are PREFIX-NNN.rec)");
  const char *prefix = argv[argc - 1];
  rec_reader *r = open_input(o, argc == 2 ? argv[0] : "-");
  const rec_schema *s = rec_reader_schema(r);
  const char *ext = o->zstd_level > 0 ? ".rec.zst" : ".rec";
  size_t nw = o->n > 0 ? (size_t)o->n : 0, cur = 0;
  rec_writer **ws = xcalloc(nw ? nw : 1, sizeof *ws);
  char **names = xcalloc(nw ? nw : 1, sizeof *names);
  opts_t fo = *o;
  char path[4096];
  for (size_t k = 0; k < nw; k++) {
    snprintf(path, sizeof path, "%s-%03zu%s", prefix, k, ext);
    fo.output = path;
    ws[k] = open_output(&fo, s);
    names[k] = xstrdup(path);
  }
  /* Shards stay open (under their temporary names) until the whole input has
   * been read and verified: a truncated or corrupt input then leaves no shard
   * behind, not even the complete-looking first ones. */
  size_t cap = nw ? nw : 1;
  rec_record rec;
  uint64_t i = 0;
  while (rec_read_or_die(r, &rec)) {
    rec_writer *w;
    if (nw) w = ws[i % nw];
    else {
      if (i % (uint64_t)o->l == 0) {
        if (cur == cap) {
          cap *= 2;
          ws = xrealloc(ws, cap * sizeof *ws);
          names = xrealloc(names, cap * sizeof *names);
        }
        snprintf(path, sizeof path, "%s-%03zu%s", prefix, cur, ext);
        fo.output = path;
        ws[cur] = open_output(&fo, s);
        names[cur++] = xstrdup(path);
      }
      w = ws[cur - 1];
    }
    rec_put_from(w, &rec);
    rec_write_or_die(w);
    i++;
  }
  for (size_t k = 0; k < (nw ? nw : cur); k++) {
    rec_writer_close_or_die(ws[k]);
    printf("%s\n", names[k]);
    free(names[k]);
  }
  free(ws);
  free(names);
  rec_close(r);
  otc_close_stdout();
  return 0;
}

/* ---- count / check / schema ---- */

static int cmd_count(opts_t *o, int argc, char **argv) {
  char *dash[] = {"-"};
  if (argc == 0) {
    argc = 1;
    argv = dash;
  }
  rec_record rec;
  for (int i = 0; i < argc; i++) {
    rec_reader *r = open_input(o, argv[i]);
    while (rec_read_or_die(r, &rec)) {}
    if (argc > 1) printf("%" PRIu64 " %s\n", rec_reader_count(r), argv[i]);
    else printf("%" PRIu64 "\n", rec_reader_count(r));
    rec_close(r);
  }
  otc_close_stdout();
  return 0;
}

static int cmd_check(opts_t *o, int argc, char **argv) {
  char *dash[] = {"-"};
  if (argc == 0) {
    argc = 1;
    argv = dash;
  }
  int bad = 0;
  for (int i = 0; i < argc; i++) {
    char err[1024];
    rec_reader *r = rec_open_path(argv[i], err, sizeof err);
    if (!r) {
      fprintf(stderr, "%s: %s\n", otc_prog(), err);
      bad = 1;
      continue;
    }
    if (o->allow_nonfinite) rec_reader_allow_nonfinite(r, true);
    const char *type = rec_reader_schema(r)->record;
    char why[512];
    if (o->expect && rec_schema_expect(rec_reader_schema(r), (const char *const[]){o->expect, NULL}, why, sizeof why)) {
      fprintf(stderr, "%s: %s: %s\n", otc_prog(), strcmp(argv[i], "-") ? argv[i] : "stdin", why);
      bad = 1;
      rec_close(r);
      continue;
    }
    rec_record rec;
    int rc;
    while ((rc = rec_read(r, &rec)) == 0) {}
    if (rc < 0) {
      fprintf(stderr, "%s: %s\n", otc_prog(), rec_error(r));
      bad = 1;
    } else if (!o->quiet)
      printf("%s: ok: %" PRIu64 " %s records%s\n", strcmp(argv[i], "-") ? argv[i] : "stdin", rec_reader_count(r), type,
             rec_reader_compressed(r) ? " (zstd)" : "");
    rec_close(r);
  }
  otc_close_stdout();
  return bad ? OTC_EXIT_FAIL : 0;
}

static int cmd_schema(opts_t *o, int argc, char **argv) {
  if (o->list) {
    for (const char *const *p = rec_schema_builtin_names(); *p; p++) printf("%s\n", *p);
  } else if (o->builtin) {
    rec_schema *s = load_schema_arg(o->builtin);
    rec_schema_print(stdout, s);
    rec_schema_free(s);
  } else {
    if (argc > 1) usage_error("%s", "schema: at most one input FILE");
    rec_reader *r = open_input(o, argc ? argv[0] : "-");
    rec_schema_print(stdout, rec_reader_schema(r));
    rec_close(r);
  }
  otc_close_stdout();
  return 0;
}

/* ---- from-tsv ---- */

static int cmd_from_tsv(opts_t *o, int argc, char **argv) {
  if (argc > 1) usage_error("%s", "from-tsv: at most one input FILE");
  if (o->no_lang && o->lang) usage_error("%s", "from-tsv: --no-lang and --lang exclude each other");
  const char *path = argc ? argv[0] : "-";
  const char *name = strcmp(path, "-") ? path : "stdin";
  FILE *in = open_text_input(path);
  rec_schema *s = rec_schema_builtin("text");
  rec_writer *w = open_output(o, s);
  int fid = rec_field_index(s, "id"), flang = rec_field_index(s, "lang"), ftext = rec_field_index(s, "text");
  int ncols = o->no_lang || o->lang ? 2 : 3;
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, in)) >= 0) {
    lineno++;
    if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
    if (len > 0 && line[len - 1] == '\r') line[--len] = 0;
    char *col[3];
    size_t clen[3];
    int n = 0;
    char *p = line, *end = line + len;
    for (;;) {
      char *tab = memchr(p, '\t', (size_t)(end - p));
      if (n < 3) {
        col[n] = p;
        clen[n] = (size_t)((tab ? tab : end) - p);
      }
      n++;
      if (!tab) break;
      p = tab + 1;
    }
    if (n != ncols) {
      rec_writer_abort(w);
      die("%s: line %zu: expected %d tab-separated columns (%s), got %d", name, lineno, ncols,
          ncols == 3 ? "id, lang, text" : "id, text", n);
    }
    for (int k = 0; k < n; k++) {
      size_t bad = utf8_check(col[k], clen[k]);
      if (bad != clen[k] || memchr(col[k], 0, clen[k])) {
        rec_writer_abort(w);
        die("%s: line %zu: column %d: %s at byte %zu of the column", name, lineno, k + 1,
            bad != clen[k] ? "invalid UTF-8" : "NUL byte",
            bad != clen[k] ? bad : (size_t)((char *)memchr(col[k], 0, clen[k]) - col[k]));
      }
    }
    if (clen[0] == 0) {
      rec_writer_abort(w);
      die("%s: line %zu: empty id", name, lineno);
    }
    rec_put_str(w, fid, col[0], clen[0]);
    if (ncols == 3) rec_put_str(w, flang, col[1], clen[1]);
    else if (o->lang) rec_put_str(w, flang, o->lang, strlen(o->lang));
    rec_put_str(w, ftext, col[ncols - 1], clen[ncols - 1]);
    rec_write_or_die(w);
  }
  if (ferror(in)) die_errno("%s: read error", name);
  rec_writer_close_or_die(w);
  free(line);
  if (in != stdin) fclose(in);
  rec_schema_free(s);
  return 0;
}

/* ---- main ---- */

typedef struct {
  const char *name;
  int (*run)(opts_t *, int, char **);
  const char *shortopts;
  const char *longopts; /* long options this subcommand accepts, besides --help/--version */
} subcmd;

#define WRITER_OPTS " output zstd meta allow-nonfinite "
static const subcmd subcmds[] = {
    {"encode", cmd_encode, "o:", WRITER_OPTS "dim schema "},
    {"dump", cmd_dump, "", " allow-nonfinite "},
    {"cat", cmd_cat, "o:", WRITER_OPTS "ignore-meta "},
    {"head", cmd_head, "o:n:", WRITER_OPTS},
    {"count", cmd_count, "", " allow-nonfinite "},
    {"check", cmd_check, "q", " expect quiet allow-nonfinite "},
    {"schema", cmd_schema, "", " builtin list "},
    {"shuffle", cmd_shuffle, "o:", WRITER_OPTS "seed "},
    {"split", cmd_split, "n:l:", " zstd meta allow-nonfinite "},
    {"from-tsv", cmd_from_tsv, "o:", WRITER_OPTS "no-lang lang "},
};

int main(int argc, char **argv) {
  otc_init(argv[0]);
  if (argc < 2) die_usage(usage_text);
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) show_help();
  if (!strcmp(argv[1], "--version")) print_version();
  const subcmd *sc = NULL;
  for (size_t i = 0; i < sizeof subcmds / sizeof *subcmds; i++)
    if (!strcmp(argv[1], subcmds[i].name)) sc = &subcmds[i];
  if (!sc) usage_error("unknown subcommand '%s'", argv[1]);
  opts_t o = {0};
  o.n = o.l = -1;
  o.meta = xcalloc((size_t)argc, sizeof *o.meta);
  o.dim = xcalloc((size_t)argc, sizeof *o.dim);
  char shortopts[16];
  snprintf(shortopts, sizeof shortopts, "%s", sc->shortopts);
  /* getopt names argv[0] in its messages: keep "rec", not the subcommand */
  argv[1] = (char *)otc_prog();
  argv++;
  argc--;
  int c, li;
  while ((c = getopt_long(argc, argv, shortopts, long_opts, (li = -1, &li))) != -1) {
    if (li >= 0 && c != O_HELP && c != O_VERSION) {
      char key[40];
      snprintf(key, sizeof key, " %s ", long_opts[li].name);
      if (!strstr(sc->longopts, key)) {
        fprintf(stderr, "%s: %s: option --%s does not apply\n", otc_prog(), sc->name, long_opts[li].name);
        die_usage(usage_text);
      }
    }
    switch (c) {
    case 'o': o.output = optarg; break;
    case 'n': o.n = parse_long("-n", optarg, 0, LONG_MAX); break;
    case 'l': o.l = parse_long("-l", optarg, 1, LONG_MAX); break;
    case 'q': o.quiet = 1; break;
    case O_ZSTD: o.zstd_level = rec_parse_zstd_level(optarg); break;
    case O_META:
      if (!strchr(optarg, '=') || optarg[0] == '=') usage_error("--meta: expected KEY=VALUE, got '%s'", optarg);
      o.meta[o.nmeta++] = optarg;
      break;
    case O_DIM:
      if (!strchr(optarg, '=') || optarg[0] == '=') usage_error("--dim: expected NAME=N, got '%s'", optarg);
      o.dim[o.ndim++] = optarg;
      break;
    case O_SCHEMA: o.schema = optarg; break;
    case O_SEED: {
      char *end;
      errno = 0;
      unsigned long long v = strtoull(optarg, &end, 10);
      if (errno || end == optarg || *end || optarg[0] == '-') usage_error("--seed: '%s' is not a non-negative integer", optarg);
      o.seed = v;
      o.have_seed = 1;
      break;
    }
    case O_EXPECT: o.expect = optarg; break;
    case O_NOLANG: o.no_lang = 1; break;
    case O_LANG: o.lang = optarg; break;
    case O_BUILTIN: o.builtin = optarg; break;
    case O_LIST: o.list = 1; break;
    case O_IGNMETA: o.ignore_meta = 1; break;
    case O_NONFINITE: o.allow_nonfinite = 1; break;
    case O_HELP: show_help(); break;
    case O_VERSION: print_version(); break;
    default: die_usage(usage_text);
    }
  }
  int rc = sc->run(&o, argc - optind, argv + optind);
  free(o.meta);
  free(o.dim);
  return rc;
}
