/* json.h: a small JSON parser (RFC 8259) into a tree, for JSON Lines input
 * (rec encode), config.json, safetensors headers and test fixtures.
 * Numbers keep their source text so that a float32 field is parsed with
 * strtof from the decimal itself (no double rounding). */
#ifndef OTC_JSON_H
#define OTC_JSON_H
#include <stddef.h>

typedef enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;
struct json_value {
  json_type type;
  size_t offset;        /* byte offset of the value in the parsed text (for messages) */
  double num;           /* JSON_NUMBER: value as double */
  const char *text;     /* JSON_NUMBER: source text (not NUL-terminated), JSON_STRING: decoded UTF-8, NUL-terminated */
  size_t len;           /* JSON_NUMBER: source text length; JSON_STRING: byte length (may contain NUL) */
  json_value **items;   /* JSON_ARRAY: elements; JSON_OBJECT: values */
  const char **keys;    /* JSON_OBJECT: keys (decoded, NUL-terminated) */
  size_t n;             /* JSON_ARRAY / JSON_OBJECT: count */
};

typedef struct json_doc json_doc; /* owns every value of one parse (arena) */

/* Parse one JSON text (surrounding whitespace allowed). On error returns NULL
 * and writes "byte N: message" to err. Strings must be valid UTF-8; escapes
 * including surrogate pairs are decoded; depth is capped at 256. */
json_doc *json_parse(const char *text, size_t len, char *err, size_t errlen);
const json_value *json_root(const json_doc *d);
void json_free(json_doc *d);

/* Object member by key (last one wins), or NULL. */
const json_value *json_get(const json_value *obj, const char *key);
const char *json_type_name(json_type t);

/* Number conversions from the source text; return 0 on success, -1 when the
 * number is not representable (not an integer, out of range, overflow to inf). */
int json_to_f32(const json_value *v, float *out);
int json_to_f64(const json_value *v, double *out);
int json_to_u64(const json_value *v, unsigned long long *out);
int json_to_i64(const json_value *v, long long *out);

/* Append s (len bytes) as a JSON string literal with quotes to the FILE. */
#include <stdio.h>
void json_write_string(FILE *f, const char *s, size_t len);

/* Read a whole file into memory (NUL-terminated; *len excludes the NUL).
 * Returns NULL and sets errno on failure. */
char *read_file(const char *path, size_t *len);

#endif
