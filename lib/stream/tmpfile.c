/* tmpfile.c: temporaries of atomic outputs, and the removal of stale ones
 * (stream/tmpfile.h). */
#include "stream/tmpfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* The PID of a name BASE.tmp.N (with prefix: BASE... .tmp.N), or 0 if name
 * is not of that form. */
static long tmp_pid(const char *name, const char *base, size_t blen, bool prefix) {
  if (strncmp(name, base, blen) != 0) return 0;
  const char *t = name + blen;
  if (prefix) {
    const char *u = strstr(t, ".tmp.");
    while (u && strstr(u + 1, ".tmp.")) u = strstr(u + 1, ".tmp.");
    if (!u) return 0;
    t = u;
  }
  if (strncmp(t, ".tmp.", 5) != 0) return 0;
  const char *d = t + 5;
  size_t n = strspn(d, "0123456789");
  if (n == 0 || n > 9 || d[n] || d[0] == '0') return 0;
  return atol(d);
}

static int sweep(const char *path, bool prefix) {
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  size_t blen = strlen(base);
  if (blen == 0) return 0;
  char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup("./");
  if (!dir) return 0;
  DIR *dh = opendir(dir);
  if (!dh) {
    free(dir);
    return 0;
  }
  int removed = 0;
  struct dirent *e;
  while ((e = readdir(dh))) {
    long pid = tmp_pid(e->d_name, base, blen, prefix);
    if (pid <= 0 || pid == (long)getpid()) continue;
    /* A live process with that PID may be its writer (or a stranger that
     * reused the PID: the file then waits for a later run). */
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
    size_t plen = strlen(dir) + strlen(e->d_name) + 1;
    char *p = malloc(plen);
    if (!p) break;
    snprintf(p, plen, "%s%s", dir, e->d_name);
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat a, b;
    /* The lock: a writer holds it while it writes, whatever its PID looks
     * like from here (another PID namespace); taking it means nobody does.
     * Remove the file only if the name still leads to the inode locked. */
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &a) == 0 && S_ISREG(a.st_mode) &&
        lstat(p, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino && unlink(p) == 0)
      removed++;
    if (fd >= 0) close(fd);
    free(p);
  }
  closedir(dh);
  free(dir);
  return removed;
}

int rec_tmp_sweep(const char *path) { return sweep(path, false); }
int rec_tmp_sweep_prefix(const char *prefix) { return sweep(prefix, true); }

int rec_tmp_create(const char *path, char **tmp) {
  rec_tmp_sweep(path);
  return rec_tmp_create_only(path, tmp);
}

int rec_tmp_create_only(const char *path, char **tmp) {
  size_t n = strlen(path) + 32;
  char *t = malloc(n);
  if (!t) return -1;
  snprintf(t, n, "%s.tmp.%ld", path, (long)getpid());
  errno = EAGAIN; /* if every attempt loses its name to a sweeper */
  for (int attempt = 0; attempt < 8; attempt++) {
    int fd = open(t, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) break;
    /* Blocks only while a sweeper looks at a file of our name (it sees our
     * PID alive and lets go). Filesystems without flock: the PID check
     * alone protects the file. */
    if (flock(fd, LOCK_EX) != 0 && errno != ENOLCK && errno != EOPNOTSUPP && errno != EINVAL) {
      int e = errno;
      close(fd);
      errno = e;
      break;
    }
    /* A sweeper that judged a dead earlier owner of our PID may have removed
     * the name between our open and our lock: then create it again. */
    struct stat a, b;
    if (fstat(fd, &a) == 0 && stat(t, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
      *tmp = t;
      return fd;
    }
    close(fd);
    errno = EAGAIN;
  }
  int e = errno;
  free(t);
  errno = e;
  return -1;
}
