/* test_cli: lib/cli's atomic output files (atomic_open / atomic_commit /
 * atomic_abort), on files in a temporary directory and on a FIFO (never on
 * /dev/null itself: a wrong rename would replace the machine's device). */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* The names in dir, sorted, joined by spaces, into buf. */
static const char *listing(const char *dir, char *buf, size_t len) {
  struct dirent **names;
  int n = scandir(dir, &names, NULL, alphasort);
  buf[0] = 0;
  for (int i = 0; i < n; i++) {
    if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
      if (buf[0]) strncat(buf, " ", len - strlen(buf) - 1);
      strncat(buf, names[i]->d_name, len - strlen(buf) - 1);
    }
    free(names[i]);
  }
  free(names);
  return buf;
}

static void put(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
}

static int has(const char *path, const char *text) {
  char buf[256] = {0};
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  return n == strlen(text) && !memcmp(buf, text, n);
}

int main(void) {
  cli_init(&(cli_prog){"test_cli", "usage: test_cli\n", "test_cli\n"}, "test_cli");
  char dir[] = "/tmp/test_cli.XXXXXX", path[600], fifo[600], other[600], names[1024];
  if (!mkdtemp(dir)) return 1;

  /* a regular file: written beside, renamed over PATH on commit */
  snprintf(path, sizeof path, "%s/out.txt", dir);
  put(path, "old\n");
  struct stat before, after;
  stat(path, &before);
  atomic_file af;
  FILE *f = atomic_open(&af, path);
  fputs("new\n", f);
  int tmp_while = af.tmp != NULL && access(af.tmp, F_OK) == 0 && has(path, "old\n");
  atomic_commit(&af);
  stat(path, &after);
  CHECK(tmp_while && has(path, "new\n") && before.st_ino != after.st_ino && !strcmp(listing(dir, names, sizeof names), "out.txt"),
        "regular file: PATH.tmp.PID while writing, renamed over PATH on commit (dir: %s)", names);

  /* a stale temporary of a killed writer (a PID that is no process) is removed */
  snprintf(other, sizeof other, "%s/out.txt.tmp.999999999", dir);
  put(other, "stale\n");
  f = atomic_open(&af, path);
  fputs("again\n", f);
  atomic_commit(&af);
  CHECK(has(path, "again\n") && !strcmp(listing(dir, names, sizeof names), "out.txt"),
        "a stale PATH.tmp.PID of a dead writer is removed (dir: %s)", names);

  /* abort: nothing replaced, no temporary left */
  f = atomic_open(&af, path);
  fputs("never\n", f);
  atomic_abort(&af);
  CHECK(has(path, "again\n") && !strcmp(listing(dir, names, sizeof names), "out.txt"),
        "atomic_abort leaves PATH as it was and no temporary (dir: %s)", names);

  /* a FIFO (as /dev/null: an existing file that is not regular) is written
   * into, never replaced by a renamed temporary */
  snprintf(fifo, sizeof fifo, "%s/pipe", dir);
  if (mkfifo(fifo, 0600) != 0) return 1;
  int rd = open(fifo, O_RDONLY | O_NONBLOCK); /* a reader, so the writer's open does not block */
  f = atomic_open(&af, fifo);
  int no_tmp = af.tmp == NULL;
  fputs("through the pipe\n", f);
  atomic_commit(&af);
  char got[64] = {0};
  ssize_t n = read(rd, got, sizeof got - 1);
  close(rd);
  struct stat st;
  int still_fifo = lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode);
  CHECK(no_tmp && n == 17 && !strcmp(got, "through the pipe\n") && still_fifo &&
            !strcmp(listing(dir, names, sizeof names), "out.txt pipe"),
        "a FIFO is written in place and stays a FIFO, no temporary (read '%.*s', dir: %s)", (int)(n > 0 ? n - 1 : 0),
        got, names);

  /* a directory: an error naming it, in a child (atomic_open exits) */
  char errf[600], msg[256] = {0};
  snprintf(errf, sizeof errf, "%s/stderr.txt", dir);
  pid_t pid = fork();
  if (pid == 0) {
    if (!freopen(errf, "w", stderr)) _exit(3);
    atomic_open(&af, dir);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  FILE *e = fopen(errf, "r");
  if (e) {
    if (!fgets(msg, sizeof msg, e)) msg[0] = 0;
    fclose(e);
  }
  msg[strcspn(msg, "\n")] = 0;
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1 && strstr(msg, "Is a directory"),
        "a directory as PATH: exit 1, '%s'", msg);

  unlink(errf);
  unlink(path);
  unlink(fifo);
  rmdir(dir);
  return check_done();
}
