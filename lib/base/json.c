#include "base/json.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* Values and strings of one document live in a chain of arena blocks, so a
 * whole parse is freed at once and parsing large fixture arrays allocates
 * only a few times. */
typedef struct arena_block {
  struct arena_block *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
} arena_block;

struct json_doc {
  arena_block *blocks;
  json_value *root;
};

typedef struct {
  json_doc *doc;
  const char *s, *end, *start;
  char *err;
  size_t errlen;
  int depth;
  int failed;
} parser;

static void *arena_alloc(json_doc *d, size_t n) {
  n = (n + 15) & ~(size_t)15;
  arena_block *b = d->blocks;
  if (!b || b->cap - b->used < n) {
    size_t cap = n > 65536 ? n : 65536;
    arena_block *nb = xmalloc(sizeof *nb + cap);
    nb->next = b;
    nb->used = 0;
    nb->cap = cap;
    d->blocks = b = nb;
  }
  void *p = b->data + b->used;
  b->used += n;
  return p;
}

static void fail(parser *p, const char *at, const char *msg) {
  if (p->failed) return;
  p->failed = 1;
  if (p->err && p->errlen) snprintf(p->err, p->errlen, "byte %zu: %s", (size_t)(at - p->start), msg);
}

static void skip_ws(parser *p) {
  while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) p->s++;
}

static json_value *new_value(parser *p, json_type t) {
  json_value *v = arena_alloc(p->doc, sizeof *v);
  memset(v, 0, sizeof *v);
  v->type = t;
  v->offset = (size_t)(p->s - p->start);
  return v;
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Length of a valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, const unsigned char *end) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t n;
  unsigned min, cp;
  if ((c & 0xE0) == 0xC0) { n = 2; min = 0x80; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { n = 3; min = 0x800; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { n = 4; min = 0x10000; cp = c & 0x07; }
  else return 0;
  if ((size_t)(end - s) < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

/* p->s at the opening quote. Decoded bytes never outnumber source bytes. */
static char *parse_string(parser *p, size_t *out_len) {
  const char *q = ++p->s;
  const char *e = q;
  while (e < p->end && *e != '"') e += (*e == '\\' && e + 1 < p->end) ? 2 : 1;
  if (e >= p->end) { fail(p, q - 1, "unterminated string"); return NULL; }
  char *out = arena_alloc(p->doc, (size_t)(e - q) + 1), *o = out;
  while (q < e) {
    unsigned char c = (unsigned char)*q;
    if (c == '\\') {
      char x = q[1];
      q += 2;
      switch (x) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
          unsigned cp, lo;
          if (e - q < 4 || hex4(q, &cp)) { fail(p, q - 2, "bad \\u escape"); return NULL; }
          q += 4;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (e - q < 6 || q[0] != '\\' || q[1] != 'u' || hex4(q + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
              fail(p, q - 6, "unpaired UTF-16 surrogate in \\u escape");
              return NULL;
            }
            q += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail(p, q - 6, "unpaired UTF-16 surrogate in \\u escape");
            return NULL;
          }
          o += put_utf8(o, cp);
          break;
        }
        default: fail(p, q - 2, "bad escape in string"); return NULL;
      }
    } else if (c < 0x20) {
      fail(p, q, "control character in string");
      return NULL;
    } else if (c < 0x80) {
      *o++ = (char)c;
      q++;
    } else {
      size_t n = utf8_seq((const unsigned char *)q, (const unsigned char *)e);
      if (!n) { fail(p, q, "invalid UTF-8 in string"); return NULL; }
      memcpy(o, q, n);
      o += n;
      q += n;
    }
  }
  *o = 0;
  *out_len = (size_t)(o - out);
  p->s = e + 1;
  return out;
}

static json_value *parse_value(parser *p);

static json_value *parse_container(parser *p, int is_obj) {
  json_value *v = new_value(p, is_obj ? JSON_OBJECT : JSON_ARRAY);
  if (++p->depth > 256) { fail(p, p->s, "nesting deeper than 256"); return NULL; }
  p->s++;
  size_t cap = 0, n = 0;
  json_value **items = NULL;
  const char **keys = NULL;
  skip_ws(p);
  if (p->s < p->end && *p->s == (is_obj ? '}' : ']')) {
    p->s++;
    p->depth--;
    return v;
  }
  for (;;) {
    skip_ws(p);
    const char *key = NULL;
    if (is_obj) {
      if (p->s >= p->end || *p->s != '"') { fail(p, p->s, "expected a string key"); goto bad; }
      size_t kl;
      key = parse_string(p, &kl);
      if (!key) goto bad;
      skip_ws(p);
      if (p->s >= p->end || *p->s != ':') { fail(p, p->s, "expected ':'"); goto bad; }
      p->s++;
    }
    json_value *item = parse_value(p);
    if (!item) goto bad;
    if (n == cap) {
      cap = cap ? 2 * cap : 8;
      items = xrealloc(items, cap * sizeof *items);
      if (is_obj) keys = xrealloc(keys, cap * sizeof *keys);
    }
    items[n] = item;
    if (is_obj) keys[n] = key;
    n++;
    skip_ws(p);
    if (p->s < p->end && *p->s == ',') { p->s++; continue; }
    if (p->s < p->end && *p->s == (is_obj ? '}' : ']')) { p->s++; break; }
    fail(p, p->s, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    goto bad;
  }
  /* move the item arrays into the arena so json_free releases everything */
  v->n = n;
  v->items = arena_alloc(p->doc, n * sizeof *items);
  memcpy(v->items, items, n * sizeof *items);
  if (is_obj) {
    v->keys = arena_alloc(p->doc, n * sizeof *keys);
    memcpy(v->keys, keys, n * sizeof *keys);
  }
  free(items);
  free(keys);
  p->depth--;
  return v;
bad:
  free(items);
  free(keys);
  return NULL;
}

static json_value *parse_number(parser *p) {
  const char *s = p->s, *q = s;
  if (q < p->end && *q == '-') q++;
  if (q >= p->end) { fail(p, s, "bad number"); return NULL; }
  if (*q == '0') q++;
  else if (*q >= '1' && *q <= '9') while (q < p->end && *q >= '0' && *q <= '9') q++;
  else { fail(p, s, "bad number"); return NULL; }
  if (q < p->end && *q == '.') {
    q++;
    if (q >= p->end || *q < '0' || *q > '9') { fail(p, s, "bad number"); return NULL; }
    while (q < p->end && *q >= '0' && *q <= '9') q++;
  }
  if (q < p->end && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < p->end && (*q == '+' || *q == '-')) q++;
    if (q >= p->end || *q < '0' || *q > '9') { fail(p, s, "bad number"); return NULL; }
    while (q < p->end && *q >= '0' && *q <= '9') q++;
  }
  json_value *v = new_value(p, JSON_NUMBER);
  v->text = s;
  v->len = (size_t)(q - s);
  char buf[64];
  if (v->len < sizeof buf) {
    memcpy(buf, s, v->len);
    buf[v->len] = 0;
    v->num = strtod(buf, NULL);
  } else {
    char *t = xmalloc(v->len + 1);
    memcpy(t, s, v->len);
    t[v->len] = 0;
    v->num = strtod(t, NULL);
    free(t);
  }
  p->s = q;
  return v;
}

static int literal(parser *p, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(p->end - p->s) >= n && memcmp(p->s, word, n) == 0) {
    p->s += n;
    return 1;
  }
  return 0;
}

static json_value *parse_value(parser *p) {
  skip_ws(p);
  if (p->s >= p->end) { fail(p, p->s, "unexpected end of input"); return NULL; }
  switch (*p->s) {
    case '{': return parse_container(p, 1);
    case '[': return parse_container(p, 0);
    case '"': {
      json_value *v = new_value(p, JSON_STRING);
      size_t len;
      char *s = parse_string(p, &len);
      if (!s) return NULL;
      v->text = s;
      v->len = len;
      return v;
    }
    case 't': { json_value *v = new_value(p, JSON_TRUE); if (literal(p, "true")) return v; break; }
    case 'f': { json_value *v = new_value(p, JSON_FALSE); if (literal(p, "false")) return v; break; }
    case 'n': { json_value *v = new_value(p, JSON_NULL); if (literal(p, "null")) return v; break; }
    default:
      if (*p->s == '-' || (*p->s >= '0' && *p->s <= '9')) return parse_number(p);
  }
  fail(p, p->s, "unexpected character");
  return NULL;
}

json_doc *json_parse(const char *text, size_t len, char *err, size_t errlen) {
  json_doc *d = xcalloc(1, sizeof *d);
  parser p = {.doc = d, .s = text, .end = text + len, .start = text, .err = err, .errlen = errlen};
  if (err && errlen) err[0] = 0;
  d->root = parse_value(&p);
  if (d->root) {
    skip_ws(&p);
    if (p.s != p.end) {
      fail(&p, p.s, "trailing characters after the JSON value");
      d->root = NULL;
    }
  }
  if (!d->root) {
    json_free(d);
    return NULL;
  }
  return d;
}

const json_value *json_root(const json_doc *d) { return d->root; }

void json_free(json_doc *d) {
  if (!d) return;
  arena_block *b = d->blocks;
  while (b) {
    arena_block *n = b->next;
    free(b);
    b = n;
  }
  free(d);
}

const json_value *json_get(const json_value *obj, const char *key) {
  if (!obj || obj->type != JSON_OBJECT) return NULL;
  for (size_t i = obj->n; i-- > 0;)
    if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
  return NULL;
}

const char *json_type_name(json_type t) {
  static const char *const names[] = {"null", "false", "true", "number", "string", "array", "object"};
  return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

/* Copy the number's source text into buf so strto* see a terminated string. */
static const char *num_text(const json_value *v, char *buf, size_t cap) {
  if (!v || v->type != JSON_NUMBER || v->len >= cap) return NULL;
  memcpy(buf, v->text, v->len);
  buf[v->len] = 0;
  return buf;
}

int json_to_f32(const json_value *v, float *out) {
  char buf[512];
  const char *s = num_text(v, buf, sizeof buf);
  if (!s) return -1;
  errno = 0;
  float f = strtof(s, NULL);
  if (isinf(f)) return -1; /* overflow; underflow to subnormal/0 is a valid rounding */
  *out = f;
  return 0;
}

int json_to_f64(const json_value *v, double *out) {
  char buf[512];
  const char *s = num_text(v, buf, sizeof buf);
  if (!s) return -1;
  double f = strtod(s, NULL);
  if (isinf(f)) return -1;
  *out = f;
  return 0;
}

int json_to_u64(const json_value *v, unsigned long long *out) {
  char buf[64];
  const char *s = num_text(v, buf, sizeof buf);
  if (!s || s[0] == '-' || strpbrk(s, ".eE")) return -1;
  errno = 0;
  unsigned long long x = strtoull(s, NULL, 10);
  if (errno) return -1;
  *out = x;
  return 0;
}

int json_to_i64(const json_value *v, long long *out) {
  char buf[64];
  const char *s = num_text(v, buf, sizeof buf);
  if (!s || strpbrk(s, ".eE")) return -1;
  errno = 0;
  long long x = strtoll(s, NULL, 10);
  if (errno) return -1;
  *out = x;
  return 0;
}

void json_write_string(FILE *f, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  putc('"', f);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
      case '"': fputs("\\\"", f); break;
      case '\\': fputs("\\\\", f); break;
      case '\n': fputs("\\n", f); break;
      case '\r': fputs("\\r", f); break;
      case '\t': fputs("\\t", f); break;
      case '\b': fputs("\\b", f); break;
      case '\f': fputs("\\f", f); break;
      default:
        if (c < 0x20) {
          char e[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
          fputs(e, f);
        } else {
          putc(c, f);
        }
    }
  }
  putc('"', f);
}

char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = xmalloc(cap);
  for (;;) {
    if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
    size_t r = fread(buf + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0) break;
  }
  int bad = ferror(f);
  int e = errno;
  fclose(f);
  if (bad) {
    free(buf);
    errno = e ? e : EIO;
    return NULL;
  }
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}
