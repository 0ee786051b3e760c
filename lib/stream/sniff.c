/* sniff.c: tell a record stream from text, and give the bytes back (sniff.h). */
#include "stream/sniff.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "stream/rec.h"

typedef struct {
  int in, out;
  unsigned char head[8];
  size_t nhead;
} feeder_arg;

/* Copy the sniffed bytes, then the rest of the input, into the pipe. A read
 * error shows up downstream as truncated input; a reader that went away
 * ends the copy. */
static void *feeder(void *p) {
  feeder_arg *a = p;
  char buf[1 << 16];
  ssize_t n;
  size_t off = 0;
  while (off < a->nhead) {
    n = write(a->out, a->head + off, a->nhead - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      goto done;
    }
    off += (size_t)n;
  }
  for (;;) {
    n = read(a->in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (off = 0; off < (size_t)n;) {
      ssize_t w = write(a->out, buf + off, (size_t)n - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        goto done;
      }
      off += (size_t)w;
    }
  }
done:
  close(a->out);
  free(a);
  return NULL;
}

int rec_sniff_fd(int fd, const char *name, bool *is_stream, char *err, size_t errlen) {
  unsigned char head[8];
  size_t got = 0;
  while (got < sizeof head) {
    ssize_t n = read(fd, head + got, sizeof head - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return set_err(err, errlen, "%s: read: %s", name, strerror(errno));
    if (n == 0) break;
    got += (size_t)n;
  }
  static const unsigned char zstd_magic[4] = {0x28, 0xB5, 0x2F, 0xFD};
  *is_stream = (got >= 7 && memcmp(head, REC_MAGIC, 7) == 0) || (got >= 4 && !memcmp(head, zstd_magic, 4));
  if (lseek(fd, -(off_t)got, SEEK_CUR) >= 0) return fd;
  int p[2];
  if (pipe(p) < 0) return set_err(err, errlen, "%s: pipe: %s", name, strerror(errno));
  feeder_arg *a = xmalloc(sizeof *a);
  a->in = fd;
  a->out = p[1];
  memcpy(a->head, head, got);
  a->nhead = got;
  pthread_t th;
  if (pthread_create(&th, NULL, feeder, a) != 0) {
    close(p[0]), close(p[1]), free(a);
    return set_err(err, errlen, "%s: cannot start the input thread", name);
  }
  pthread_detach(th);
  return p[0];
}
