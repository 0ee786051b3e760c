/* rec_ops.c: whole-stream operations (stream/rec_ops.h). */
#include "stream/rec_ops.h"
#include "stream/frame.h"
#include "stream/tmpfile.h"
#include "base/rng.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

int rec_read_all(rec_reader *r, char *err, size_t errlen) {
  rec_record rec;
  int rc;
  while ((rc = rec_read(r, &rec)) == 0) {}
  return rc < 0 ? set_err(err, errlen, "%s", rec_error(r)) : 0;
}

/* One record of r (just read) to w: its frame verbatim where it can be. */
static int copy_one(rec_writer *w, const rec_reader *r, const rec_record *rec, char *err, size_t errlen) {
  if (rec_copy_record(w, r, rec) < 0) return set_err(err, errlen, "%s", rec_writer_error(w));
  return 0;
}

int rec_copy(rec_reader *r, rec_writer *w, uint64_t max, char *err, size_t errlen) {
  rec_record rec;
  for (uint64_t k = 0; k < max; k++) {
    int rc = rec_read(r, &rec);
    if (rc < 0) return set_err(err, errlen, "%s", rec_error(r));
    if (rc == 1) break;
    if (copy_one(w, r, &rec, err, errlen) < 0) return -1;
  }
  return 0;
}

/* ---- shuffle: the record frames held in one arena, written verbatim ---- */

typedef struct {
  size_t off;
  uint32_t len, crc;
} held_frame;

typedef struct {
  uint8_t *p;
  size_t len, cap;
} arena_t;

static size_t arena_put(arena_t *a, const void *x, size_t n) {
  size_t at = (a->len + 7) & ~(size_t)7;
  if (at + n > a->cap) {
    size_t c = a->cap ? a->cap : 1 << 16;
    while (c < at + n) c *= 2;
    a->p = xrealloc(a->p, c);
    a->cap = c;
  }
  if (n) memcpy(a->p + at, x, n);
  a->len = at + n;
  return at;
}

int rec_shuffle(rec_reader *r, rec_writer *w, uint64_t seed, char *err, size_t errlen) {
  if (!rec_writer_can_copy(w, r))
    return set_err(err, errlen, "%s: shuffle: the output's layout (or NaN/Inf policy) differs from the input's",
                   rec_reader_name(r));
  held_frame *recs = NULL;
  size_t n = 0, ncap = 0;
  arena_t arena = {0};
  rec_record rec;
  int rc;
  while ((rc = rec_read(r, &rec)) == 0) {
    if (n == ncap) {
      ncap = ncap ? 2 * ncap : 1024;
      recs = xrealloc(recs, ncap * sizeof *recs);
    }
    held_frame *h = &recs[n++];
    const void *p = rec_reader_frame(r, &rec, &h->len, &h->crc);
    h->off = arena_put(&arena, p, h->len);
  }
  if (rc < 0) {
    rc = set_err(err, errlen, "%s", rec_error(r));
    goto done;
  }
  rc = 0;
  rng_t g;
  rng_seed(&g, seed);
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)rng_below(&g, i);
    held_frame t = recs[i - 1];
    recs[i - 1] = recs[j];
    recs[j] = t;
  }
  for (size_t k = 0; k < n && rc == 0; k++)
    if (rec_write_frame(w, arena.p + recs[k].off, recs[k].len, recs[k].crc) < 0)
      rc = set_err(err, errlen, "%s", rec_writer_error(w));
done:
  free(recs);
  free(arena.p);
  return rc;
}

/* ---- split ---- */

typedef struct {
  rec_writer **ws;
  char **names;
  size_t n, cap;
} shards;

/* Open shard number sh->n: PREFIX-NNNEXT. */
static int open_shard(shards *sh, const rec_split_opts *o, char *err, size_t errlen) {
  if (sh->n == sh->cap) {
    sh->cap = sh->cap ? 2 * sh->cap : 4;
    sh->ws = xrealloc(sh->ws, sh->cap * sizeof *sh->ws);
    sh->names = xrealloc(sh->names, sh->cap * sizeof *sh->names);
  }
  size_t len = strlen(o->prefix) + strlen(o->ext) + 32;
  char *name = xmalloc(len);
  snprintf(name, len, "%s-%03zu%s", o->prefix, sh->n, o->ext);
  rec_writer *w = rec_writer_path_swept(name, o->schema, o->opts);
  if (!w) {
    free(name);
    return set_err(err, errlen, "%s", rec_writer_error(NULL));
  }
  if (o->allow_nonfinite) rec_writer_allow_nonfinite(w, true);
  sh->ws[sh->n] = w;
  sh->names[sh->n++] = name;
  return 0;
}

int rec_split(rec_reader *r, const rec_split_opts *o_in, char ***names_out, size_t *nnames, char *err,
              size_t errlen) {
  /* The stale temporaries of all PREFIX-... outputs go in one sweep, not one
   * reading of the directory per shard (`split -l 1` makes a shard per record). */
  char pfx[4096];
  snprintf(pfx, sizeof pfx, "%s-", o_in->prefix);
  rec_tmp_sweep_prefix(pfx);
  const rec_split_opts *o = o_in;
  shards sh = {0};
  int rc = 0;
  /* Shards stay open (under their temporary names) until the whole input has
   * been read and verified: a truncated or corrupt input then leaves no shard
   * behind, not even the complete-looking first ones. Round-robin over N
   * files writes N files, empty ones included. */
  for (size_t k = 0; k < o->nfiles && rc == 0; k++) rc = open_shard(&sh, o, err, errlen);
  rec_record rec;
  for (uint64_t i = 0; rc == 0; i++) {
    int got = rec_read(r, &rec);
    if (got < 0) rc = set_err(err, errlen, "%s", rec_error(r));
    if (got != 0) break;
    if (!o->nfiles && i % o->per_file == 0) rc = open_shard(&sh, o, err, errlen);
    size_t k = o->nfiles ? (size_t)(i % o->nfiles) : sh.n - 1;
    if (rc == 0) rc = copy_one(sh.ws[k], r, &rec, err, errlen);
  }
  for (size_t k = 0; k < sh.n; k++) {
    if (rc == 0) {
      if (rec_writer_close(sh.ws[k]) < 0) rc = set_err(err, errlen, "%s", rec_writer_error(NULL));
    } else
      rec_writer_abort(sh.ws[k]);
  }
  if (rc == 0) {
    *names_out = sh.names;
    *nnames = sh.n;
  } else {
    for (size_t k = 0; k < sh.n; k++) free(sh.names[k]);
    free(sh.names);
  }
  free(sh.ws);
  return rc;
}

/* ---- from TSV ---- */

int rec_tsv_to_text(FILE *in, const char *name, const rec_tsv_opts *o, rec_writer *w, char *err, size_t errlen) {
  rec_schema *s = rec_schema_builtin("text");
  int fid = rec_field_index(s, "id"), flang = rec_field_index(s, "lang"), ftext = rec_field_index(s, "text");
  rec_schema_free(s);
  int ncols = o->two_columns ? 2 : 3;
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  ssize_t len;
  int rc = 0;
  while (rc == 0 && (len = getline(&line, &cap, in)) >= 0) {
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
      rc = set_err(err, errlen, "%s: line %zu: expected %d tab-separated columns (%s), got %d", name, lineno, ncols,
                   ncols == 3 ? "id, lang, text" : "id, text", n);
      break;
    }
    for (int k = 0; k < n && rc == 0; k++) {
      size_t bad = utf8_check(col[k], clen[k]);
      const char *nul = memchr(col[k], 0, clen[k]);
      if (bad != clen[k] || nul)
        rc = set_err(err, errlen, "%s: line %zu: column %d: %s at byte %zu of the column", name, lineno, k + 1,
                     bad != clen[k] ? "invalid UTF-8" : "NUL byte", bad != clen[k] ? bad : (size_t)(nul - col[k]));
    }
    if (rc == 0 && clen[0] == 0) rc = set_err(err, errlen, "%s: line %zu: empty id", name, lineno);
    if (rc) break;
    rec_put_str(w, fid, col[0], clen[0]);
    if (ncols == 3) rec_put_str(w, flang, col[1], clen[1]);
    else if (o->lang) rec_put_str(w, flang, o->lang, strlen(o->lang));
    rec_put_str(w, ftext, col[ncols - 1], clen[ncols - 1]);
    if (rec_write(w) < 0) rc = set_err(err, errlen, "%s: line %zu: %s", name, lineno, rec_writer_error(w));
  }
  if (rc == 0 && ferror(in)) rc = set_err(err, errlen, "%s: read error", name);
  free(line);
  return rc;
}
