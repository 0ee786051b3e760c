/* rank_docs.c: the document collection of `rank`, memory-mapped in place
 * (a zstd file through a decompressed cache file); see rank.h. */
#include "search/rank.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "stream/rec.h"
#include "base/util.h"

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

/* Identity of a file version: a different file or a rewrite gets another key. */
static uint64_t file_key(const struct stat *st) {
  uint64_t h = 0xcbf29ce484222325ULL, v[5] = {(uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size,
                                               (uint64_t)st->st_mtim.tv_sec, (uint64_t)st->st_mtim.tv_nsec};
  return fnv1a(h, v, sizeof v);
}

static int is_zstd(int fd) {
  unsigned char m[4];
  ssize_t k = pread(fd, m, 4, 0);
  return k == 4 && m[0] == 0x28 && m[1] == 0xB5 && m[2] == 0x2F && m[3] == 0xFD;
}

/* Decompress fd (path names it in messages) into a new file at `out`,
 * written under a temporary name and renamed. 0, or -1 + message. */
static int decompress_to(int fd, const char *path, const char *out, char *err, size_t errlen) {
  size_t tlen = strlen(out) + 16;
  char *tmp = xmalloc(tlen);
  snprintf(tmp, tlen, "%s.XXXXXX", out);
  int ofd = mkstemp(tmp);
  if (ofd < 0) {
    set_err(err, errlen, "cannot create the cache file '%s': %s", tmp, strerror(errno));
    free(tmp);
    return -1;
  }
  /* mkstemp makes it private; a cache is as readable as any file we create. */
  mode_t mask = umask(0);
  umask(mask);
  if (fchmod(ofd, 0666 & ~mask) != 0) { /* not fatal: only sharing suffers */
  }
  ZSTD_DCtx *dc = ZSTD_createDCtx();
  size_t inlen = ZSTD_DStreamInSize(), outlen = ZSTD_DStreamOutSize();
  char *ibuf = xmalloc(inlen), *obuf = xmalloc(outlen);
  size_t last = 0;
  int rc = 0;
  off_t pos = 0;
  for (;;) {
    ssize_t k = pread(fd, ibuf, inlen, pos);
    if (k < 0) {
      if (errno == EINTR) continue;
      set_err(err, errlen, "%s: read error: %s", path, strerror(errno));
      rc = -1;
      break;
    }
    if (k == 0) break;
    pos += k;
    ZSTD_inBuffer in = {ibuf, (size_t)k, 0};
    while (in.pos < in.size && rc == 0) {
      ZSTD_outBuffer o = {obuf, outlen, 0};
      last = ZSTD_decompressStream(dc, &o, &in);
      if (ZSTD_isError(last)) {
        set_err(err, errlen, "%s: zstd data corrupt near compressed byte %lld: %s", path,
                (long long)(pos - k + (off_t)in.pos), ZSTD_getErrorName(last));
        rc = -1;
        break;
      }
      for (size_t w = 0; w < o.pos && rc == 0;) {
        ssize_t n = write(ofd, obuf + w, o.pos - w);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          set_err(err, errlen, "cannot write the cache file '%s': %s", tmp, strerror(errno));
          rc = -1;
        } else {
          w += (size_t)n;
        }
      }
    }
    if (rc) break;
  }
  if (rc == 0 && last != 0) {
    set_err(err, errlen, "%s: truncated zstd stream: the compressed file ends inside a zstd frame", path);
    rc = -1;
  }
  if (rc == 0 && close(ofd) != 0) {
    set_err(err, errlen, "cannot write the cache file '%s': %s", tmp, strerror(errno));
    rc = -1;
  } else if (rc != 0) {
    close(ofd);
  }
  if (rc == 0 && rename(tmp, out) != 0) {
    set_err(err, errlen, "cannot rename '%s' to '%s': %s", tmp, out, strerror(errno));
    rc = -1;
  }
  if (rc != 0) unlink(tmp);
  ZSTD_freeDCtx(dc);
  free(ibuf), free(obuf), free(tmp);
  return rc;
}

/* Remove ".BASE.*.rank-cache" files beside the new one: caches of earlier
 * versions of the same file. */
static void remove_stale(const char *dir, const char *base, const char *keep) {
  DIR *dp = opendir(dir);
  if (!dp) return;
  size_t bl = strlen(base);
  struct dirent *e;
  while ((e = readdir(dp))) {
    const char *n = e->d_name;
    size_t nl = strlen(n);
    if (nl != 1 + bl + 1 + 16 + 11 || n[0] != '.' || strncmp(n + 1, base, bl) || n[bl + 1] != '.') continue;
    if (strcmp(n + nl - 11, ".rank-cache") || !strcmp(n, keep)) continue;
    char full[PATH_MAX];
    if (snprintf(full, sizeof full, "%s/%s", dir, n) < (int)sizeof full) unlink(full);
  }
  closedir(dp);
}

/* An existing cache is reused only if it is a regular file of ours: in a
 * shared temporary directory anyone could have put a file by that name. */
static int usable_cache(const char *path) {
  struct stat cs;
  return lstat(path, &cs) == 0 && S_ISREG(cs.st_mode) && cs.st_uid == geteuid() && access(path, R_OK) == 0;
}

/* The cache of a compressed file: reuse or make it. Returns a malloc'ed path. */
static char *cache_for(int fd, const char *path, const struct stat *st, const char *cache_dir, char *err,
                       size_t errlen) {
  uint64_t key = file_key(st);
  char *dircopy = xstrdup(path), *slash = strrchr(dircopy, '/');
  const char *dir = ".", *base = path;
  if (slash) {
    *slash = 0;
    dir = slash == dircopy ? "/" : dircopy;
    base = slash + 1;
  }
  char name[PATH_MAX], full[PATH_MAX];
  snprintf(name, sizeof name, ".%s.%016llx.rank-cache", base, (unsigned long long)key);
  int fits = snprintf(full, sizeof full, "%s/%s", dir, name) < (int)sizeof full;
  if (fits && !cache_dir && usable_cache(full)) {
    free(dircopy);
    return xstrdup(full);
  }
  if (fits && !cache_dir && access(dir, W_OK) == 0 && decompress_to(fd, path, full, err, errlen) == 0) {
    remove_stale(dir, base, name);
    free(dircopy);
    return xstrdup(full);
  }
  free(dircopy);
  /* Beside the file failed or was not allowed: the temporary directory. The
   * key also covers the absolute path there, shared by every file. */
  char real[PATH_MAX];
  if (!realpath(path, real)) snprintf(real, sizeof real, "%s", path);
  key = fnv1a(key, real, strlen(real));
  const char *tdir = cache_dir ? cache_dir : getenv("TMPDIR");
  if (!tdir || !*tdir) tdir = "/tmp";
  if (snprintf(full, sizeof full, "%s/otclir-%016llx.rank-cache", tdir, (unsigned long long)key) >= (int)sizeof full) {
    set_err(err, errlen, "cache path too long in '%s'", tdir);
    return NULL;
  }
  if (usable_cache(full)) return xstrdup(full);
  if (decompress_to(fd, path, full, err, errlen) != 0) return NULL;
  return xstrdup(full);
}

rank_docs *rank_docs_open(const char *path, const char *record, const char *cache_dir, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    set_err(err, errlen, "cannot open '%s': %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    set_err(err, errlen, "'%s' is not a regular file (the documents are memory-mapped)", path);
    close(fd);
    return NULL;
  }
  rank_docs *dc = xcalloc(1, sizeof *dc);
  if (is_zstd(fd)) {
    dc->mapped = cache_for(fd, path, &st, cache_dir, err, errlen);
    close(fd);
    if (!dc->mapped) goto fail;
    dc->from_cache = true;
    fd = open(dc->mapped, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
      set_err(err, errlen, "cannot open the cache file '%s': %s", dc->mapped, strerror(errno));
      if (fd >= 0) close(fd);
      goto fail;
    }
  } else {
    dc->mapped = xstrdup(path);
  }
  if (st.st_size == 0) {
    set_err(err, errlen, "%s: empty file: expected an otclir record stream", path);
    close(fd);
    goto fail;
  }
  dc->maplen = (size_t)st.st_size;
  dc->map = mmap(NULL, dc->maplen, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (dc->map == MAP_FAILED) {
    dc->map = NULL;
    set_err(err, errlen, "cannot map '%s': %s", dc->mapped, strerror(errno));
    goto fail;
  }
  dc->reader = rec_open_mem(dc->map, dc->maplen, path, err, errlen);
  if (!dc->reader) goto fail;
  const rec_schema *s = rec_reader_schema(dc->reader);
  dc->schema = s;
  char why[512];
  bool vectors = !strcmp(record, "vectors");
  if (rec_schema_expect(s, (const char *const[]){record, NULL}, why, sizeof why) != 0) {
    set_err(err, errlen, "%s: %s", path, why);
    goto fail;
  }
  int f_id = rec_field_index(s, "id"), f_ids = rec_field_index(s, "ids"),
      f_vecs = vectors ? rec_field_index(s, "vecs") : -1, f_vec = vectors ? rec_field_index(s, "vec") : -1;
  if (f_id < 0 || f_ids < 0 || (vectors && f_vecs < 0)) {
    set_err(err, errlen, "%s: the %s schema lacks id, ids%s", path, record, vectors ? " or vecs" : "");
    goto fail;
  }
  int64_t d = vectors ? rec_get_dim(s, "d") : 0;
  dc->d = d > 0 ? (size_t)d : 0;
  size_t cap = 1024;
  dc->items = xmalloc(cap * sizeof *dc->items);
  rec_record r;
  int rc;
  while ((rc = rec_read(dc->reader, &r)) == 0) {
    if (dc->n == cap) dc->items = xrealloc(dc->items, (cap *= 2) * sizeof *dc->items);
    rank_item *it = &dc->items[dc->n++];
    size_t idlen, nids, nvecs;
    it->id = rec_str(&r, f_id, &idlen);
    it->idlen = idlen;
    it->ids = rec_u32(&r, f_ids, &nids);
    it->n = (uint32_t)nids;
    it->vecs = vectors ? rec_f32(&r, f_vecs, &nvecs) : NULL;
    it->vec = rec_has(&r, f_vec) ? rec_f32(&r, f_vec, NULL) : NULL;
    if (vectors && dc->d == 0) dc->d = r.v[f_vecs].shape[1];
  }
  if (rc < 0) {
    set_err(err, errlen, "%s", rec_error(dc->reader));
    goto fail;
  }
  return dc;
fail:
  if (dc->from_cache && dc->mapped && err && errlen) {
    size_t used = strlen(err);
    snprintf(err + used, errlen - used, " (read from the decompressed cache '%s')", dc->mapped);
  }
  rank_docs_close(dc);
  return NULL;
}

void rank_docs_close(rank_docs *dc) {
  if (!dc) return;
  if (dc->reader) rec_close(dc->reader);
  if (dc->map) munmap(dc->map, dc->maplen);
  free(dc->items);
  free(dc->mapped);
  free(dc);
}

static const char *const identity_keys[] = {"model", "layer", "pooling", "vocab", "special_ids", NULL};

int rank_meta_check(const rec_schema *q, size_t dq, const rec_schema *d, size_t dd, bool allow_model,
                    bool uses_pooled, char *err, size_t errlen) {
  if (dq && dd && dq != dd) {
    set_err(err, errlen, "query vectors have d = %zu but document vectors d = %zu: they come from different encoders",
            dq, dd);
    return -1;
  }
  if (allow_model) return 0;
  for (int i = 0; identity_keys[i]; i++) {
    if (!uses_pooled && !strcmp(identity_keys[i], "pooling")) continue;
    const char *a = rec_meta_get(q, identity_keys[i]), *b = rec_meta_get(d, identity_keys[i]);
    if (!a && !b) continue;
    if (a && b && !strcmp(a, b)) continue;
    set_err(err, errlen,
            "queries and documents differ in stream metadata '%s': %s%s%s (queries) vs %s%s%s (documents); "
            "--allow-model-mismatch compares them anyway",
            identity_keys[i], a ? "'" : "", a ? a : "unset", a ? "'" : "", b ? "'" : "", b ? b : "unset", b ? "'" : "");
    return -1;
  }
  return 0;
}

int rank_bm25_meta_check(const rec_schema *q, const rec_schema *d, char *err, size_t errlen) {
  const char *a = rec_meta_get(q, "vocab"), *b = rec_meta_get(d, "vocab");
  if ((!a && !b) || (a && b && !strcmp(a, b))) return 0;
  set_err(err, errlen,
          "queries and documents were tokenized with different vocabularies (stream metadata 'vocab': %s%s%s "
          "(queries) vs %s%s%s (documents)): their token ids do not name the same word pieces",
          a ? "'" : "", a ? a : "unset", a ? "'" : "", b ? "'" : "", b ? b : "unset", b ? "'" : "");
  return -1;
}

int rank_parse_ids(const char *s, uint32_t **ids, size_t *n) {
  size_t cap = 4, k = 0;
  uint32_t *v = xmalloc(cap * sizeof *v);
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    if (*p < '0' || *p > '9') goto bad;
    unsigned long long x = strtoull(p, &end, 10);
    if (errno || x > UINT32_MAX) goto bad;
    if (k == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
    v[k++] = (uint32_t)x;
    p = end;
    if (*p == ',') {
      p++;
      if (!*p) goto bad;
    } else if (*p) {
      goto bad;
    }
  }
  if (!k) goto bad;
  *ids = v;
  *n = k;
  return 0;
bad:
  free(v);
  return -1;
}
