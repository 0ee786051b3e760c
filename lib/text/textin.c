/* textin.c: lines, TSV layouts and UTF-8 rules of tokenizer input (textin.h). */
#include "text/textin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "text/unicode.h"

struct line_reader {
  int fd;
  char *name;
  char *buf;
  size_t cap, start, end;
  int eof;
  uint64_t line;
};

line_reader *lr_new(int fd, const char *name, const char *prefix, size_t nprefix) {
  line_reader *r = xcalloc(1, sizeof *r);
  r->fd = fd;
  r->name = xstrdup(name);
  r->cap = 1 << 20;
  while (r->cap < nprefix) r->cap *= 2;
  r->buf = xmalloc(r->cap);
  if (nprefix) memcpy(r->buf, prefix, nprefix);
  r->end = nprefix;
  return r;
}

void lr_free(line_reader *r) {
  if (!r) return;
  free(r->buf);
  free(r->name);
  free(r);
}

uint64_t lr_lineno(const line_reader *r) { return r->line; }
const char *lr_name(const line_reader *r) { return r->name; }

static void strip_cr(const char *line, size_t *len) {
  if (*len && line[*len - 1] == '\r') (*len)--;
}

int lr_next(line_reader *r, const char **line, size_t *len, char *err, size_t errlen) {
  for (;;) {
    char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
    if (nl || (r->eof && r->start < r->end)) {
      *line = r->buf + r->start;
      *len = nl ? (size_t)(nl - *line) : r->end - r->start;
      r->start += *len + (nl != NULL);
      r->line++;
      strip_cr(*line, len);
      return 1;
    }
    if (r->eof) return 0;
    if (r->start > 0) {
      memmove(r->buf, r->buf + r->start, r->end - r->start);
      r->end -= r->start;
      r->start = 0;
    }
    if (r->end == r->cap) r->buf = xrealloc(r->buf, r->cap *= 2);
    ssize_t got = read(r->fd, r->buf + r->end, r->cap - r->end);
    if (got < 0) {
      if (errno == EINTR) continue;
      return set_err(err, errlen, "%s: read error: %s", r->name, strerror(errno));
    }
    if (got == 0) r->eof = 1;
    r->end += (size_t)got;
  }
}

/* Split off the next TAB-separated column; NULL if there is no TAB. */
static const char *cut_tab(const char **p, size_t *len, size_t *col_len) {
  const char *tab = memchr(*p, '\t', *len);
  if (!tab) return NULL;
  const char *col = *p;
  *col_len = (size_t)(tab - col);
  *len -= *col_len + 1;
  *p = tab + 1;
  return col;
}

int ti_split(ti_layout layout, int line_ids, const char *lang, const char *line, size_t len, uint64_t lineno,
             text_item *it, char *err, size_t errlen) {
  const char *p = line, *idcol = line_ids ? "" : "id<TAB>";
  size_t rest = len;
  it->lang = lang;
  it->langlen = lang ? strlen(lang) : 0;
  it->ntext = layout == TI_PAIR ? 2 : 1;
  if (line_ids) {
    it->idlen = (size_t)snprintf(it->idbuf, sizeof it->idbuf, "%llu", (unsigned long long)lineno);
    it->id = it->idbuf;
  } else if (!(it->id = cut_tab(&p, &rest, &it->idlen))) {
    return set_err(err, errlen, "expected %s (no TAB)",
                   layout == TI_PAIR ? "id<TAB>src<TAB>tgt" : layout == TI_LANG_TEXT ? "id<TAB>lang<TAB>text" : "id<TAB>text");
  }
  if (layout == TI_PAIR) {
    if (!(it->text[0] = cut_tab(&p, &rest, &it->len[0])))
      return set_err(err, errlen, "expected %ssrc<TAB>tgt (no TAB after the source text)", idcol);
    it->text[1] = p;
    it->len[1] = rest;
    return 0;
  }
  if (layout == TI_LANG_TEXT && !(it->lang = cut_tab(&p, &rest, &it->langlen)))
    return set_err(err, errlen, "expected %slang<TAB>text (no TAB after the language)", idcol);
  it->text[0] = p;
  it->len[0] = rest;
  return 0;
}

void ti_checker_free(ti_checker *c) {
  free(c->fix[0]);
  free(c->fix[1]);
  c->fix[0] = c->fix[1] = NULL;
  c->cap[0] = c->cap[1] = 0;
}

static int check_field(const char *what, const char *s, size_t len, char *err, size_t errlen) {
  size_t bad = uc_utf8_first_invalid((const unsigned char *)s, len);
  if (bad < len) return set_err(err, errlen, "invalid UTF-8 in the %s at byte %zu of it", what, bad);
  if (memchr(s, 0, len)) return set_err(err, errlen, "NUL byte in the %s", what);
  return 0;
}

int ti_check(ti_checker *c, text_item *it, char *err, size_t errlen) {
  if (it->idlen == 0) return set_err(err, errlen, "empty id");
  if (check_field("id", it->id, it->idlen, err, errlen)) return -1;
  if (it->lang && check_field("language", it->lang, it->langlen, err, errlen)) return -1;
  static const char *const names[2][2] = {{"text", ""}, {"source text", "target text"}};
  for (int k = 0; k < it->ntext; k++) {
    const char *s = it->text[k];
    size_t n = it->len[k], bad = uc_utf8_first_invalid((const unsigned char *)s, n);
    it->stored[k] = s;
    it->stored_len[k] = n;
    if (bad == n && !memchr(s, 0, n)) continue;
    if (bad < n && !c->replace)
      return set_err(err, errlen, "invalid UTF-8 in the %s at byte %zu of it (--replace maps it to U+FFFD)",
                     names[it->ntext - 1][k], bad);
    if (xmul(n, 3) > c->cap[k]) c->fix[k] = xrealloc(c->fix[k], c->cap[k] = n ? n * 3 : 1);
    size_t m = uc_utf8_replace((const unsigned char *)s, n, c->fix[k]), o = 0;
    for (size_t i = 0; i < m; i++)
      if (c->fix[k][i]) c->fix[k][o++] = c->fix[k][i];
    it->stored[k] = (const char *)c->fix[k];
    it->stored_len[k] = o;
  }
  return 0;
}
