/*
 * rec: encode, decode, inspect, validate and reshape otclir record streams
 *
 * One program with subcommands (encode, dump, cat, head, count, check, schema,
 * shuffle, split, from-tsv): a dispatcher over lib/stream (the format:
 * schemas/README.md; JSON Lines: stream/rec_json.h; cat, head, shuffle,
 * split, from-tsv: stream/rec_ops.h).
 */
#include "stream/rec.h"
#include "stream/rec_json.h"
#include "stream/rec_ops.h"
#include "base/util.h"
#include "cli/cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    "FILE `-` or no FILE means standard input (\"stdin\" in messages); output\n"
    "goes to standard output unless -o FILE is given (written to FILE.tmp.PID\n"
    "and renamed when complete, so a failed run never leaves a partial file; a\n"
    "FILE.tmp.PID left by a killed run is removed by the next run writing FILE,\n"
    "never one of a writer still running).\n"
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
       O_NONFINITE };

static const struct option long_opts[] = {
    {"output", required_argument, 0, 'o'}, {"zstd", optional_argument, 0, O_ZSTD},
    {"meta", required_argument, 0, O_META}, {"dim", required_argument, 0, O_DIM},
    {"schema", required_argument, 0, O_SCHEMA}, {"seed", required_argument, 0, O_SEED},
    {"expect", required_argument, 0, O_EXPECT}, {"quiet", no_argument, 0, 'q'},
    {"no-lang", no_argument, 0, O_NOLANG}, {"lang", required_argument, 0, O_LANG},
    {"builtin", required_argument, 0, O_BUILTIN}, {"list", no_argument, 0, O_LIST},
    {"ignore-meta", no_argument, 0, O_IGNMETA}, {"allow-nonfinite", no_argument, 0, O_NONFINITE},
    CLI_OPTIONS_COMMON, {0, 0, 0, 0}};

/* ---- inputs and outputs ---- */

static const char *shown(const char *path) { return strcmp(path, "-") ? path : "stdin"; }

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

static FILE *open_text_input(const char *path) {
  if (strcmp(path, "-") == 0) return stdin;
  FILE *f = fopen(path, "rb");
  if (!f) die_errno("cannot open '%s'", path);
  return f;
}

/* A built-in record type, or a schema YAML file (a name with '/' or .yaml). */
static rec_schema *load_schema_arg(const char *name) {
  char err[400];
  size_t n = strlen(name);
  if (strchr(name, '/') || (n > 5 && strcmp(name + n - 5, ".yaml") == 0)) {
    rec_schema *s = rec_schema_from_yaml_file(name, err, sizeof err);
    if (!s) die("%s", err);
    return s;
  }
  rec_schema *s = rec_schema_builtin(name);
  if (s) return s;
  char list[512] = "";
  for (const char *const *p = rec_schema_builtin_names(); *p; p++) {
    strncat(list, " ", sizeof list - strlen(list) - 1);
    strncat(list, *p, sizeof list - strlen(list) - 1);
  }
  cli_usage_error("unknown schema '%s' (built-in:%s; or a path to a .yaml file)", name, list);
}

/* ---- subcommands ---- */

static int cmd_encode(opts_t *o, int argc, char **argv) {
  if (!o->schema) cli_usage_error("encode: --schema NAME is required");
  if (argc > 1) cli_usage_error("encode: at most one input FILE");
  rec_schema *s = load_schema_arg(o->schema);
  for (int i = 0; i < o->ndim; i++) {
    char *eq = strchr(o->dim[i], '=');
    *eq = 0;
    if (rec_dim_index(s, o->dim[i]) < 0) cli_usage_error("--dim: schema '%s' has no dimension '%s'", s->record, o->dim[i]);
    rec_set_dim(s, o->dim[i], parse_long("--dim", eq + 1, 0, UINT32_MAX));
    *eq = '=';
  }
  const char *path = argc ? argv[0] : "-";
  FILE *in = open_text_input(path);
  rec_writer *w = open_output(o, s);
  char err[1024];
  if (rec_json_encode_file(in, shown(path), s, w, err, sizeof err) < 0) rec_writer_fail(w, err);
  rec_writer_close_or_die(w);
  if (in != stdin) fclose(in);
  rec_schema_free(s);
  return 0;
}

static int cmd_dump(opts_t *o, int argc, char **argv) {
  if (argc > 1) cli_usage_error("dump: at most one input FILE");
  rec_reader *r = open_input(o, argc ? argv[0] : "-");
  static char obuf[1 << 16];
  setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
  char err[1024];
  int rc = rec_json_dump(r, stdout, err, sizeof err);
  otc_close_stdout(); /* a failed write first: EPIPE ends quietly */
  if (rc < 0) die("%s", err);
  rec_close(r);
  return 0;
}

static int cmd_cat(opts_t *o, int argc, char **argv) {
  char *dash[] = {"-"};
  if (argc == 0) argc = 1, argv = dash;
  rec_reader *first = open_input(o, argv[0]);
  rec_writer *w = open_output(o, rec_reader_schema(first));
  char err[1024], why[300];
  for (int i = 0; i < argc; i++) {
    rec_reader *r = i ? open_input(o, argv[i]) : first;
    if (i && rec_schema_compare(rec_reader_schema(first), rec_reader_schema(r), !o->ignore_meta, why, sizeof why)) {
      snprintf(err, sizeof err, "%s: schema differs from %s's: %s%s", rec_reader_name(r), rec_reader_name(first), why,
               strncmp(why, "metadata", 8) ? "" : " (use --ignore-meta to keep the first file's)");
      rec_writer_fail(w, err);
    }
    if (rec_copy(r, w, UINT64_MAX, err, sizeof err) < 0) rec_writer_fail(w, err);
    if (i) rec_close(r);
  }
  rec_writer_close_or_die(w);
  rec_close(first);
  return 0;
}

static int cmd_head(opts_t *o, int argc, char **argv) {
  if (o->n < 0) cli_usage_error("head: -n N is required");
  if (argc > 1) cli_usage_error("head: at most one input FILE");
  rec_reader *r = open_input(o, argc ? argv[0] : "-");
  rec_writer *w = open_output(o, rec_reader_schema(r));
  char err[1024];
  if (rec_copy(r, w, (uint64_t)o->n, err, sizeof err) < 0) rec_writer_fail(w, err);
  rec_writer_close_or_die(w);
  rec_close(r);
  return 0;
}

static int cmd_shuffle(opts_t *o, int argc, char **argv) {
  if (!o->have_seed) cli_usage_error("shuffle: --seed S is required");
  if (argc > 1) cli_usage_error("shuffle: at most one input FILE");
  rec_reader *r = open_input(o, argc ? argv[0] : "-");
  rec_writer *w = open_output(o, rec_reader_schema(r));
  char err[1024];
  if (rec_shuffle(r, w, o->seed, err, sizeof err) < 0) rec_writer_fail(w, err);
  rec_writer_close_or_die(w);
  rec_close(r);
  return 0;
}

static int cmd_split(opts_t *o, int argc, char **argv) {
  if ((o->n < 0) == (o->l < 0)) cli_usage_error("split: exactly one of -n N (files) or -l K (records per file)");
  if (o->n == 0) cli_usage_error("split: -n must be at least 1");
  if (argc < 1 || argc > 2) cli_usage_error("split: expected [FILE] PREFIX");
  if (o->output) cli_usage_error("split: -o does not apply (the outputs are PREFIX-NNN.rec)");
  rec_reader *r = open_input(o, argc == 2 ? argv[0] : "-");
  rec_schema *s = rec_schema_copy(rec_reader_schema(r));
  for (int i = 0; i < o->nmeta; i++) {
    char *eq = strchr(o->meta[i], '=');
    *eq = 0;
    rec_meta_set(s, o->meta[i], eq + 1);
    *eq = '=';
  }
  rec_write_opts wo = {o->zstd_level};
  rec_split_opts so = {argv[argc - 1], o->zstd_level > 0 ? ".rec.zst" : ".rec", o->n > 0 ? (size_t)o->n : 0,
                       o->l > 0 ? (uint64_t)o->l : 0, s, &wo, o->allow_nonfinite};
  char **names, err[1024];
  size_t nn;
  if (rec_split(r, &so, &names, &nn, err, sizeof err) < 0) die("%s", err);
  for (size_t k = 0; k < nn; k++) {
    printf("%s\n", names[k]);
    free(names[k]);
  }
  free(names);
  rec_schema_free(s);
  rec_close(r);
  otc_close_stdout();
  return 0;
}

static int cmd_count(opts_t *o, int argc, char **argv) {
  char *dash[] = {"-"}, err[1024];
  if (argc == 0) argc = 1, argv = dash;
  for (int i = 0; i < argc; i++) {
    rec_reader *r = open_input(o, argv[i]);
    if (rec_read_all(r, err, sizeof err) < 0) die("%s", err);
    if (argc > 1) printf("%" PRIu64 " %s\n", rec_reader_count(r), shown(argv[i]));
    else printf("%" PRIu64 "\n", rec_reader_count(r));
    rec_close(r);
  }
  otc_close_stdout();
  return 0;
}

static int cmd_check(opts_t *o, int argc, char **argv) {
  char *dash[] = {"-"}, err[1024];
  if (argc == 0) argc = 1, argv = dash;
  int bad = 0;
  for (int i = 0; i < argc; i++) {
    const char *const want[] = {o->expect, NULL};
    rec_reader *r = o->expect ? rec_open_expect_path(argv[i], want, err, sizeof err)
                              : rec_open_path(argv[i], err, sizeof err);
    if (r && o->allow_nonfinite) rec_reader_allow_nonfinite(r, true);
    if (!r || rec_read_all(r, err, sizeof err) < 0) {
      fprintf(stderr, "%s: %s\n", otc_prog(), err);
      bad = 1;
    } else if (!o->quiet)
      printf("%s: ok: %" PRIu64 " %s records%s\n", rec_reader_name(r), rec_reader_count(r),
             rec_reader_schema(r)->record, rec_reader_compressed(r) ? " (zstd)" : "");
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
    if (argc > 1) cli_usage_error("schema: at most one input FILE");
    rec_reader *r = open_input(o, argc ? argv[0] : "-");
    rec_schema_print(stdout, rec_reader_schema(r));
    rec_close(r);
  }
  otc_close_stdout();
  return 0;
}

static int cmd_from_tsv(opts_t *o, int argc, char **argv) {
  if (argc > 1) cli_usage_error("from-tsv: at most one input FILE");
  if (o->no_lang && o->lang) cli_usage_error("from-tsv: --no-lang and --lang exclude each other");
  const char *path = argc ? argv[0] : "-";
  FILE *in = open_text_input(path);
  rec_schema *s = rec_schema_builtin("text");
  rec_writer *w = open_output(o, s);
  rec_tsv_opts to = {o->no_lang || o->lang, o->lang};
  char err[1024];
  if (rec_tsv_to_text(in, shown(path), &to, w, err, sizeof err) < 0) rec_writer_fail(w, err);
  rec_writer_close_or_die(w);
  if (in != stdin) fclose(in);
  rec_schema_free(s);
  return 0;
}

/* ---- main: the subcommand, its options, its run ---- */

typedef struct {
  const char *name;
  int (*run)(opts_t *, int, char **);
  const char *shortopts;
  const char *longopts; /* long options this subcommand accepts, besides --help/--version */
  const char *usage;    /* its usage line, after "rec " */
} subcmd;

#define WRITER_OPTS " output zstd meta allow-nonfinite "
static const subcmd subcmds[] = {
    {"encode", cmd_encode, "o:", WRITER_OPTS "dim schema ",
     "encode --schema NAME [--meta K=V]... [--dim D=N]... [--zstd[=L]] [-o FILE] [FILE]"},
    {"dump", cmd_dump, "", " allow-nonfinite ", "dump [FILE]"},
    {"cat", cmd_cat, "o:", WRITER_OPTS "ignore-meta ", "cat [-o FILE] FILE..."},
    {"head", cmd_head, "o:n:", WRITER_OPTS, "head -n N [FILE]"},
    {"count", cmd_count, "", " allow-nonfinite ", "count [FILE...]"},
    {"check", cmd_check, "q", " expect quiet allow-nonfinite ", "check [--expect TYPE] [-q] [FILE...]"},
    {"schema", cmd_schema, "", " builtin list ", "schema [FILE] | --builtin NAME | --list"},
    {"shuffle", cmd_shuffle, "o:", WRITER_OPTS "seed ", "shuffle --seed S [FILE]"},
    {"split", cmd_split, "n:l:", " zstd meta allow-nonfinite ", "split (-n N | -l K) [FILE] PREFIX"},
    {"from-tsv", cmd_from_tsv, "o:", WRITER_OPTS "no-lang lang ", "from-tsv [--no-lang | --lang L] [FILE]"},
};
#define NSUB (sizeof subcmds / sizeof *subcmds)

int main(int argc, char **argv) {
  /* one manual; the usage is every subcommand's line, or the chosen one's */
  static char usage_all[1024], usage_one[256];
  size_t n = 0;
  for (size_t i = 0; i < NSUB; i++)
    n += (size_t)snprintf(usage_all + n, sizeof usage_all - n, "%s rec %s\n", i ? "      " : "Usage:", subcmds[i].usage);
  static cli_prog prog = {"rec", usage_all, manual};
  cli_init(&prog, argv[0]);
  if (argc < 2) cli_usage();
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) cli_help();
  if (!strcmp(argv[1], "--version")) cli_version();
  const subcmd *sc = NULL;
  for (size_t i = 0; i < NSUB; i++)
    if (!strcmp(argv[1], subcmds[i].name)) sc = &subcmds[i];
  if (!sc) cli_usage_error("unknown subcommand '%s'", argv[1]);
  snprintf(usage_one, sizeof usage_one, "Usage: rec %s\n", sc->usage);
  prog.usage = usage_one;
  opts_t o = {.n = -1, .l = -1};
  o.meta = xcalloc((size_t)argc, sizeof *o.meta);
  o.dim = xcalloc((size_t)argc, sizeof *o.dim);
  argv[1] = (char *)otc_prog(); /* getopt names argv[0] in its messages: "rec", not the subcommand */
  argv++, argc--;
  int c, li;
  while ((c = getopt_long(argc, argv, sc->shortopts, long_opts, (li = -1, &li))) != -1) {
    if (li >= 0 && c != CLI_OPT_HELP && c != CLI_OPT_VERSION) {
      char key[40];
      snprintf(key, sizeof key, " %s ", long_opts[li].name);
      if (!strstr(sc->longopts, key)) cli_usage_error("%s: option --%s does not apply", sc->name, long_opts[li].name);
    }
    switch (c) {
    case 'o': o.output = optarg; break;
    case 'n': o.n = parse_long("-n", optarg, 0, LONG_MAX); break;
    case 'l': o.l = parse_long("-l", optarg, 1, LONG_MAX); break;
    case 'q': o.quiet = 1; break;
    case O_ZSTD: o.zstd_level = rec_parse_zstd_level(optarg); break;
    case O_META:
      if (!strchr(optarg, '=') || optarg[0] == '=') cli_usage_error("--meta: expected KEY=VALUE, got '%s'", optarg);
      o.meta[o.nmeta++] = optarg;
      break;
    case O_DIM:
      if (!strchr(optarg, '=') || optarg[0] == '=') cli_usage_error("--dim: expected NAME=N, got '%s'", optarg);
      o.dim[o.ndim++] = optarg;
      break;
    case O_SCHEMA: o.schema = optarg; break;
    case O_SEED: o.seed = cli_seed("--seed", optarg), o.have_seed = 1; break;
    case O_EXPECT: o.expect = optarg; break;
    case O_NOLANG: o.no_lang = 1; break;
    case O_LANG: o.lang = optarg; break;
    case O_BUILTIN: o.builtin = optarg; break;
    case O_LIST: o.list = 1; break;
    case O_IGNMETA: o.ignore_meta = 1; break;
    case O_NONFINITE: o.allow_nonfinite = 1; break;
    CLI_CASES_COMMON;
    }
  }
  int rc = sc->run(&o, argc - optind, argv + optind);
  free(o.meta);
  free(o.dim);
  return rc;
}
