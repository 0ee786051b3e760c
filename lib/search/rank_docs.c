/* rank_docs.c: the document collection of `rank`, memory-mapped in place
 * (a zstd file through a decompressed cache file); see rank.h. */
#include "search/rank.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "stream/rec.h"
#include "base/util.h"

/* ---- the mapping's guard: SIGBUS when the file shrinks under us ----
 *
 * A mapped file that another process truncates makes every later access to
 * the vanished pages raise SIGBUS, which would kill the program without a
 * word. The handler below, for addresses inside a guarded mapping, maps zero
 * pages over the rest of it (so the access that faulted, and any later one,
 * reads zeros instead of faulting again) and records the fault; the caller
 * asks rank_docs_intact() before it trusts anything computed from the
 * documents (the program before each output and at the end), and reports the
 * file. A fault elsewhere goes to the previous handler (by default: the
 * process dies of SIGBUS as before). */
#define GUARD_SLOTS 16
static struct {
  _Atomic uintptr_t lo, hi; /* [lo, hi) page-rounded; lo = 0: free slot */
  atomic_int faulted;
} guard[GUARD_SLOTS];
static struct sigaction guard_old;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t page_size;

static void guard_handler(int sig, siginfo_t *si, void *uc) {
  uintptr_t a = (uintptr_t)si->si_addr;
  for (int i = 0; i < GUARD_SLOTS; i++) {
    uintptr_t lo = atomic_load(&guard[i].lo), hi = atomic_load(&guard[i].hi);
    if (!lo || a < lo || a >= hi) continue;
    uintptr_t from = a & ~(page_size - 1);
    /* mmap is a plain system call here: safe in a handler on Linux. */
    mmap((void *)from, hi - from, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    atomic_store(&guard[i].faulted, 1);
    return;
  }
  /* Not ours: restore the previous disposition; the faulting access runs
   * again and gets it. */
  sigaction(SIGBUS, &guard_old, NULL);
  (void)sig, (void)uc;
}

static void guard_install(void) {
  page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = guard_handler;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &guard_old);
}

/* Guard [p, p + len); the slot, or -1 when all are taken (then unguarded). */
static int guard_add(const void *p, size_t len) {
  pthread_once(&guard_once, guard_install);
  pthread_mutex_lock(&guard_lock);
  int slot = -1;
  for (int i = 0; i < GUARD_SLOTS && slot < 0; i++)
    if (!atomic_load(&guard[i].lo)) slot = i;
  if (slot >= 0) {
    atomic_store(&guard[slot].faulted, 0);
    atomic_store(&guard[slot].hi, ((uintptr_t)p + len + page_size - 1) & ~(page_size - 1));
    atomic_store(&guard[slot].lo, (uintptr_t)p);
  }
  pthread_mutex_unlock(&guard_lock);
  return slot;
}

static void guard_remove(int slot) {
  if (slot < 0) return;
  pthread_mutex_lock(&guard_lock);
  atomic_store(&guard[slot].lo, 0);
  pthread_mutex_unlock(&guard_lock);
}

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

/* Refuse a schema whose fixed d no vector could have (a hostile size that
 * would size allocations before any record is read). */
static int check_dim(const rec_schema *s, const char *path, char *err, size_t errlen) {
  int64_t d = rec_get_dim(s, "d");
  if (d > (int64_t)RANK_MAX_D) {
    set_err(err, errlen,
            "%s: schema frame (byte 8): d = %lld is larger than rank's limit of %d dimensions (and a vector of "
            "%lld floats would not fit in a record frame of at most 1 GiB)",
            path, (long long)d, RANK_MAX_D, (long long)d);
    return -1;
  }
  return 0;
}

/* Decompress the zstd stream on fd (path names it in messages) into a new
 * cache file at `out`, record by record through the stream reader: the
 * header and schema are validated (record type, layout, d) before anything is
 * written, every frame (CRCs, layout, UTF-8, finite values) before it is
 * written, and the output may not exceed RANK_CACHE_MAX_RATIO times the
 * compressed size (a decompression bomb stops there; the reader holds at
 * most one frame, <= 1 GiB, in memory). Written under a temporary name that
 * this process holds an flock on (see remove_stale_temps), then renamed.
 * 0, or -1 (the data are bad) / -2 (the cache could not be written there)
 * + message, with nothing left behind. */
static int decompress_to(int fd, const char *path, off_t zsize, const char *record, const char *out, char *err,
                         size_t errlen) {
  size_t tlen = strlen(out) + 16;
  char *tmp = xmalloc(tlen);
  snprintf(tmp, tlen, "%s.XXXXXX", out);
  int ofd = mkstemp(tmp);
  if (ofd < 0) {
    set_err(err, errlen, "cannot create the cache file '%s': %s", tmp, strerror(errno));
    free(tmp);
    return -2;
  }
  (void)flock(ofd, LOCK_EX | LOCK_NB); /* "being written": released by close or death */
  /* mkstemp makes it private; a cache is as readable as any file we create. */
  mode_t mask = umask(0);
  umask(mask);
  if (fchmod(ofd, 0666 & ~mask) != 0) { /* not fatal: only sharing suffers */
  }
  int rc = -1;
  rec_writer *w = NULL;
  rec_reader *r = NULL;
  if (lseek(fd, 0, SEEK_SET) != 0) {
    set_err(err, errlen, "%s: cannot seek: %s", path, strerror(errno));
    goto done;
  }
  if (!(r = rec_open_fd(fd, path, err, errlen))) goto done;
  char why[512];
  const rec_schema *s = rec_reader_schema(r);
  if (rec_schema_expect(s, (const char *const[]){record, NULL}, why, sizeof why) != 0) {
    set_err(err, errlen, "%s: %s", path, why);
    goto done;
  }
  if (check_dim(s, path, err, errlen) != 0) goto done;
  uint64_t limit = (uint64_t)zsize * RANK_CACHE_MAX_RATIO + ((uint64_t)1 << 20);
  w = rec_writer_fd(ofd, tmp, s, NULL);
  rec_record rec;
  int k;
  while ((k = rec_read(r, &rec)) == 0) {
    if (rec_reader_offset(r) > limit) {
      set_err(err, errlen,
              "%s: record %llu: the stream expands to more than %d times its compressed size (%lld bytes): refused "
              "as a decompression bomb; if the data are genuine, decompress it yourself (rec cat FILE > plain.rec) "
              "and give rank the plain file",
              path, (unsigned long long)rec.index, RANK_CACHE_MAX_RATIO, (long long)zsize);
      goto done;
    }
    rec_put_from(w, &rec);
    if (rec_write(w) != 0) {
      set_err(err, errlen, "cannot write the cache file '%s': %s", tmp, rec_writer_error(w));
      rc = -2;
      goto done;
    }
  }
  if (k < 0) {
    set_err(err, errlen, "%s", rec_error(r));
    goto done;
  }
  rec_writer *wc = w;
  w = NULL;
  rc = -2; /* from here on, failures are the cache's place */
  if (rec_writer_close(wc) != 0) {
    set_err(err, errlen, "cannot write the cache file '%s': %s", tmp, rec_writer_error(NULL));
    goto done;
  }
  if (close(ofd) != 0) {
    ofd = -1;
    set_err(err, errlen, "cannot write the cache file '%s': %s", tmp, strerror(errno));
    goto done;
  }
  ofd = -1;
  if (rename(tmp, out) != 0) {
    set_err(err, errlen, "cannot rename '%s' to '%s': %s", tmp, out, strerror(errno));
    goto done;
  }
  rc = 0;
done:
  if (w) rec_writer_abort(w); /* not ours to close: the fd is */
  rec_close(r);
  if (ofd >= 0) close(ofd);
  if (rc != 0) unlink(tmp);
  free(tmp);
  return rc;
}

/* name = PREFIX + 16 hex digits + ".rank-cache" + (temp ? "." + 6 chars : "") */
static bool cache_name(const char *name, const char *prefix, bool temp) {
  size_t pl = strlen(prefix), nl = strlen(name), want = pl + 16 + 11 + (temp ? 7 : 0);
  if (nl != want || strncmp(name, prefix, pl)) return false;
  for (size_t i = pl; i < pl + 16; i++)
    if (!strchr("0123456789abcdef", name[i])) return false;
  if (strncmp(name + pl + 16, ".rank-cache", 11)) return false;
  return !temp || name[pl + 27] == '.';
}

/* Remove what earlier runs left in dir under our names: caches of earlier
 * versions of the file (PREFIX*.rank-cache but `keep`, beside the file only)
 * and the temporaries of builds that died (SIGKILL, power loss). A temporary
 * is stale when nobody holds its flock (its writer is gone: the lock dies
 * with the process) and it is older than RANK_STALE_SECONDS (so a build that
 * has just created its file and not yet locked it is left alone). Only
 * regular files of our own user are touched. */
static void remove_stale(const char *dir, const char *prefix, const char *keep, bool old_caches) {
  DIR *dp = opendir(dir);
  if (!dp) return;
  struct dirent *e;
  time_t now = time(NULL);
  while ((e = readdir(dp))) {
    const char *n = e->d_name;
    bool temp = cache_name(n, prefix, true);
    if (!temp && !(old_caches && cache_name(n, prefix, false) && strcmp(n, keep))) continue;
    char full[PATH_MAX];
    if (snprintf(full, sizeof full, "%s/%s", dir, n) >= (int)sizeof full) continue;
    struct stat st;
    if (lstat(full, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) continue;
    if (temp) {
      if (now - st.st_mtime < RANK_STALE_SECONDS) continue;
      int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) continue;
      bool free_ = flock(fd, LOCK_EX | LOCK_NB) == 0;
      if (free_) unlink(full);
      close(fd);
    } else {
      unlink(full);
    }
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
static char *cache_for(int fd, const char *path, const struct stat *st, const char *record, const char *cache_dir,
                       char *err, size_t errlen) {
  uint64_t key = file_key(st);
  char *dircopy = xstrdup(path), *slash = strrchr(dircopy, '/');
  const char *dir = ".", *base = path;
  if (slash) {
    *slash = 0;
    dir = slash == dircopy ? "/" : dircopy;
    base = slash + 1;
  }
  char name[PATH_MAX], full[PATH_MAX], prefix[PATH_MAX];
  snprintf(prefix, sizeof prefix, ".%s.", base);
  snprintf(name, sizeof name, ".%s.%016llx.rank-cache", base, (unsigned long long)key);
  int fits = snprintf(full, sizeof full, "%s/%s", dir, name) < (int)sizeof full;
  if (fits && !cache_dir && usable_cache(full)) {
    free(dircopy);
    return xstrdup(full);
  }
  if (fits && !cache_dir && access(dir, W_OK) == 0) {
    remove_stale(dir, prefix, name, true);
    int rc = decompress_to(fd, path, st->st_size, record, full, err, errlen);
    if (rc != -2) { /* made, or the data are bad: no other place would do better */
      free(dircopy);
      return rc == 0 ? xstrdup(full) : NULL;
    }
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
  remove_stale(tdir, "otclir-", "", false);
  if (decompress_to(fd, path, st->st_size, record, full, err, errlen) != 0) return NULL;
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
  dc->fd = -1;
  dc->guard = -1;
  dc->path = xstrdup(path);
  if (is_zstd(fd)) {
    dc->mapped = cache_for(fd, path, &st, record, cache_dir, err, errlen);
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
  dc->fd = fd;
  dc->st = st;
  if (st.st_size == 0) {
    set_err(err, errlen, "%s: empty file: expected an otclir record stream", path);
    goto fail;
  }
  dc->maplen = (size_t)st.st_size;
  dc->map = mmap(NULL, dc->maplen, PROT_READ, MAP_PRIVATE, fd, 0);
  if (dc->map == MAP_FAILED) {
    dc->map = NULL;
    set_err(err, errlen, "cannot map '%s': %s", dc->mapped, strerror(errno));
    goto fail;
  }
  dc->guard = guard_add(dc->map, dc->maplen);
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
  if (vectors && check_dim(s, path, err, errlen) != 0) goto fail;
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
  if (rank_docs_intact(dc, err, errlen) != 0) goto fail;
  return dc;
fail:
  if (dc->map && rank_docs_intact(dc, why, sizeof why) != 0) set_err(err, errlen, "%s", why);
  if (dc->from_cache && dc->mapped && err && errlen) {
    /* A cache that fails is removed: the next run makes it again. */
    size_t used = strlen(err);
    bool removed = dc->map && unlink(dc->mapped) == 0;
    snprintf(err + used, errlen - used, " (read from the decompressed cache '%s'%s)", dc->mapped,
             removed ? ", now removed" : "");
  }
  rank_docs_close(dc);
  return NULL;
}

int rank_docs_intact(const rank_docs *dc, char *err, size_t errlen) {
  struct stat now;
  bool faulted = dc->guard >= 0 && atomic_load(&guard[dc->guard].faulted);
  bool changed = dc->fd >= 0 && fstat(dc->fd, &now) == 0 &&
                 (now.st_size != dc->st.st_size || now.st_mtim.tv_sec != dc->st.st_mtim.tv_sec ||
                  now.st_mtim.tv_nsec != dc->st.st_mtim.tv_nsec);
  if (!faulted && !changed) return 0;
  set_err(err, errlen,
          "%s: the file %s while rank was reading it (%s; rank memory-maps its documents, so a stage that "
          "rewrites the file in place must finish before rank starts, or write a new file and rename it)",
          dc->from_cache ? dc->mapped : dc->path, faulted ? "shrank" : "changed",
          faulted ? "truncated by another process: pages of it vanished" : "modified in place by another process");
  return -1;
}

void rank_docs_close(rank_docs *dc) {
  if (!dc) return;
  if (dc->reader) rec_close(dc->reader);
  guard_remove(dc->guard);
  if (dc->map) munmap(dc->map, dc->maplen);
  if (dc->fd >= 0) close(dc->fd);
  free(dc->items);
  free(dc->mapped);
  free(dc->path);
  free(dc);
}

static const char *const identity_keys[] = {"model", "layer", "pooling", "vocab", "special_ids", NULL};

int rank_meta_check(const rec_schema *q, size_t dq, const rec_schema *d, size_t dd, bool allow_model,
                    bool uses_pooled, char *err, size_t errlen) {
  if (dq > RANK_MAX_D || dd > RANK_MAX_D) {
    set_err(err, errlen, "%s vectors have d = %zu, more than rank's limit of %d dimensions",
            dq > RANK_MAX_D ? "query" : "document", dq > RANK_MAX_D ? dq : dd, RANK_MAX_D);
    return -1;
  }
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
