/* checkpoint.c: checkpoint folders of distill-step (checkpoint.h). */
#include "train/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "base/util.h"

#define STATE_FORMAT "otclir-distill-state-2"

static const char *const known_files[] = {"config.json", "model.safetensors", "vocab.txt", "optimizer.safetensors",
                                          "trainer_state.json", NULL};

static int is_known(const char *name) {
  for (int k = 0; known_files[k]; k++)
    if (!strcmp(name, known_files[k])) return 1;
  return 0;
}

/* ---------------------------------------------------------------- state */

static void put_string(FILE *f, const char *key, const char *v) {
  fprintf(f, ",\n  \"%s\": ", key);
  if (v) json_write_string(f, v, strlen(v));
  else fputs("null", f);
}

char *train_state_json(const train_state *s) {
  char *out = NULL, fp[24] = "";
  size_t n = 0;
  FILE *f = open_memstream(&out, &n);
  if (s->have_input_fp) snprintf(fp, sizeof fp, "%016" PRIx64, s->input_fp);
  fprintf(f,
          "{\n  \"format\": \"" STATE_FORMAT "\",\n  \"step\": %" PRIu64 ",\n  \"epoch\": %" PRIu64
          ",\n  \"records_in_epoch\": %" PRIu64 ",\n  \"total_steps\": %" PRIu64 ",\n  \"finished\": %s,\n"
          "  \"rng\": \"adversarial starts of step s drawn from splitmix64(seed, s); seed %" PRIu64 "\",\n"
          "  \"input_records\": %" PRIu64 ",\n  \"input_fingerprint\": \"%s\",\n"
          "  \"consumed_fingerprint\": \"%016" PRIx64 "\"",
          s->step, s->epoch, s->pos, s->total, s->finished ? "true" : "false", s->seed, s->input_records, fp,
          s->prefix_fp);
  put_string(f, "teacher", s->teacher);
  put_string(f, "src_vocab", s->src_vocab);
  put_string(f, "options", s->options ? s->options : "");
  fprintf(f, "\n}\n");
  fclose(f);
  return out;
}

static int get_u64(const json_value *root, const char *key, uint64_t *out) {
  unsigned long long v;
  const json_value *x = json_get(root, key);
  if (!x || json_to_u64(x, &v) != 0) return -1;
  *out = v;
  return 0;
}

static int get_hex(const json_value *root, const char *key, uint64_t *out, int *have) {
  const json_value *x = json_get(root, key);
  if (!x || x->type != JSON_STRING) return -1;
  *have = x->len > 0;
  if (!x->len) return 0;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(x->text, &end, 16);
  if (errno || x->len != 16 || *end) return -1;
  *out = v;
  return 0;
}

static char *get_opt_string(const json_value *root, const char *key) {
  const json_value *x = json_get(root, key);
  return x && x->type == JSON_STRING ? xstrdup(x->text) : NULL;
}

int train_state_load(const char *dir, train_state *s, char *err, size_t errlen) {
  char path[4200], e[256];
  memset(s, 0, sizeof *s);
  snprintf(path, sizeof path, "%s/trainer_state.json", dir);
  size_t len;
  char *text = read_file(path, &len);
  if (!text) return set_err(err, errlen, "%s: %s", path, strerror(errno));
  json_doc *doc = json_parse(text, len, e, sizeof e); /* numbers point into text: keep it */
  if (!doc) {
    free(text);
    return set_err(err, errlen, "%s: %s", path, e);
  }
  const json_value *root = json_root(doc);
  const json_value *fmt = json_get(root, "format");
  int rc = 0, have_prefix = 0;
  if (!fmt || fmt->type != JSON_STRING || strcmp(fmt->text, STATE_FORMAT) != 0) {
    rc = set_err(err, errlen, "%s: not a checkpoint of this distill-step (format '%s', expected '" STATE_FORMAT "')",
                 path, fmt && fmt->type == JSON_STRING ? fmt->text : "?");
    goto out;
  }
  const char *keys[5] = {"step", "epoch", "records_in_epoch", "total_steps", "input_records"};
  uint64_t *dst[5] = {&s->step, &s->epoch, &s->pos, &s->total, &s->input_records};
  for (int k = 0; k < 5; k++)
    if (get_u64(root, keys[k], dst[k]) != 0) {
      rc = set_err(err, errlen, "%s: missing or bad \"%s\"", path, keys[k]);
      goto out;
    }
  if (get_hex(root, "input_fingerprint", &s->input_fp, &s->have_input_fp) != 0 ||
      get_hex(root, "consumed_fingerprint", &s->prefix_fp, &have_prefix) != 0 || !have_prefix) {
    rc = set_err(err, errlen, "%s: missing or bad input fingerprints", path);
    goto out;
  }
  const json_value *fin = json_get(root, "finished");
  s->finished = fin && fin->type == JSON_TRUE;
  s->options = get_opt_string(root, "options");
  s->teacher = get_opt_string(root, "teacher");
  s->src_vocab = get_opt_string(root, "src_vocab");
  if (!s->options) rc = set_err(err, errlen, "%s: missing \"options\"", path);
out:
  json_free(doc);
  free(text);
  if (rc) train_state_free(s);
  return rc;
}

void train_state_free(train_state *s) {
  free(s->options), free(s->teacher), free(s->src_vocab);
  s->options = s->teacher = s->src_vocab = NULL;
}

/* ---------------------------------------------------------------- folders */

int train_out_check(const char *dir, char *err, size_t errlen) {
  struct stat sb;
  if (stat(dir, &sb) != 0) {
    if (errno == ENOENT) return 0;
    return set_err(err, errlen, "--out %s: %s", dir, strerror(errno));
  }
  if (!S_ISDIR(sb.st_mode))
    return set_err(err, errlen, "refusing to replace '%s': it exists and is not a folder (choose another --out)", dir);
  DIR *dh = opendir(dir);
  if (!dh) return set_err(err, errlen, "--out %s: %s", dir, strerror(errno));
  struct dirent *e;
  int has_state = 0, entries = 0;
  char other[256] = "";
  while ((e = readdir(dh))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    entries++;
    if (!strcmp(e->d_name, "trainer_state.json")) has_state = 1;
    if (!is_known(e->d_name) && !other[0]) snprintf(other, sizeof other, "%s", e->d_name);
  }
  closedir(dh);
  if (other[0])
    return set_err(err, errlen,
                   "refusing to replace '%s': it holds '%s', which distill-step did not write (choose another --out)",
                   dir, other);
  if (entries && !has_state)
    return set_err(err, errlen,
                   "refusing to replace '%s': it exists and is not a checkpoint of distill-step (no "
                   "trainer_state.json; choose another --out)",
                   dir);
  return 0;
}

/* "NAME.tmp.PID": a temporary that our writers (safetensors, bert_save) leave
 * when killed; returns the length of NAME, or 0. */
static size_t tmp_base(const char *s) {
  const char *t = strstr(s, ".tmp.");
  if (!t || t == s || !t[5]) return 0;
  for (const char *q = t + 5; *q; q++)
    if (*q < '0' || *q > '9') return 0;
  return (size_t)(t - s);
}

void train_remove_dir(const char *dir) {
  DIR *dh = opendir(dir);
  if (!dh) return;
  struct dirent *e;
  char path[4200], base[256];
  while ((e = readdir(dh))) {
    size_t bl = tmp_base(e->d_name);
    snprintf(base, sizeof base, "%.*s", (int)(bl ? bl : strlen(e->d_name)), e->d_name);
    if (!is_known(base)) continue; /* not ours: it stays, and so does the folder */
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(dh);
  rmdir(dir);
}

/* "PID", "PID.tmp.PID" or "PID.old.PID" (bert_save's own temporaries): the PID. */
static long stale_pid(const char *suffix) {
  char *end;
  long pid = strtol(suffix, &end, 10);
  if (end == suffix || pid <= 0) return -1;
  if (*end && strncmp(end, ".tmp.", 5) != 0 && strncmp(end, ".old.", 5) != 0) return -1;
  if (*end) {
    const char *q = end + 5;
    if (!*q) return -1;
    for (; *q; q++)
      if (*q < '0' || *q > '9') return -1;
  }
  return pid;
}

void train_remove_stale(const char *dir) {
  char pat[4200];
  size_t dl = strlen(dir);
  while (dl > 1 && dir[dl - 1] == '/') dl--;
  snprintf(pat, sizeof pat, "%.*s.ckpt.*", (int)dl, dir);
  glob_t g;
  if (glob(pat, 0, NULL, &g) != 0) return;
  for (size_t i = 0; i < g.gl_pathc; i++) {
    long pid = stale_pid(g.gl_pathv[i] + dl + strlen(".ckpt."));
    if (pid < 0) continue; /* not ours */
    if (pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) continue; /* a live run */
    train_remove_dir(g.gl_pathv[i]);
  }
  globfree(&g);
}

static void fsync_path(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

int train_swap_dir(const char *src, const char *dst, char *err, size_t errlen) {
  /* make the new folder's files durable before it becomes visible */
  char path[4200];
  for (int k = 0; known_files[k]; k++) {
    snprintf(path, sizeof path, "%s/%s", src, known_files[k]);
    fsync_path(path);
  }
  fsync_path(src);
  struct stat st;
  if (lstat(dst, &st) != 0) {
    if (rename(src, dst) != 0) return set_err(err, errlen, "%s: rename to %s: %s", src, dst, strerror(errno));
  } else {
    if (train_out_check(dst, err, errlen) != 0) return -1;
    if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_EXCHANGE) != 0)
      return set_err(err, errlen, "%s: exchange with %s: %s", src, dst, strerror(errno));
    train_remove_dir(src); /* now the old folder */
  }
  char parent[4096];
  snprintf(parent, sizeof parent, "%s", dst);
  char *slash = strrchr(parent, '/');
  if (slash) *slash = 0;
  else snprintf(parent, sizeof parent, ".");
  fsync_path(parent[0] ? parent : "/");
  return 0;
}

int train_checkpoint_save(const bert_model *m, const adamw_state *opt, const char *state_json, const char *dir,
                          char *err, size_t errlen) {
  char tmp[4096], path[4200];
  size_t dl = strlen(dir);
  while (dl > 1 && dir[dl - 1] == '/') dl--;
  snprintf(tmp, sizeof tmp, "%.*s.ckpt.%ld", (int)dl, dir, (long)getpid());
  train_remove_dir(tmp);
  if (bert_save(m, tmp, err, errlen) != 0) return -1;
  snprintf(path, sizeof path, "%s/optimizer.safetensors", tmp);
  if (adamw_save(opt, m, path, err, errlen) != 0) goto fail;
  snprintf(path, sizeof path, "%s/trainer_state.json", tmp);
  FILE *f = fopen(path, "w");
  if (!f || fputs(state_json, f) < 0 || fclose(f) != 0) {
    set_err(err, errlen, "%s: %s", path, strerror(errno));
    goto fail;
  }
  if (train_swap_dir(tmp, dir, err, errlen) != 0) goto fail;
  return 0;
fail:
  train_remove_dir(tmp);
  return -1;
}
