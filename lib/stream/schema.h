/* stream/schema.h: record schemas, the part of the record stream that says
 * what a record holds (record type, fields with types and named dimensions,
 * metadata). The YAML files in schemas/ are compiled in; the schema frame of
 * every stream carries one (format: schemas/README.md, sections 1.2 and 3).
 * Depends on base only; stream/rec.h builds the reader and writer on it. */
#ifndef OTC_SCHEMA_H
#define OTC_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define REC_MAX_FIELDS 32
#define REC_MAX_DIMS 8            /* distinct named dimensions per schema */
#define REC_MAX_RANK 3            /* dimensions per field: scalar, vector, matrix, cube */
#define REC_MAX_FRAME (1u << 30)  /* payload cap: 1 GiB, checked before allocating */

typedef enum { REC_U8 = 1, REC_U32, REC_I32, REC_F32, REC_F64, REC_STR } rec_type;

typedef struct {
  char *name;
  int64_t fixed; /* value fixed for the whole stream, or REC_DIM_PER_RECORD; REC_DIM_UNSET until known */
} rec_dim;
#define REC_DIM_PER_RECORD (-1)
#define REC_DIM_UNSET (-2)

typedef struct {
  char *name;
  rec_type type;
  int rank;                 /* 0 = scalar; REC_STR fields are rank 0 */
  int dim[REC_MAX_RANK];    /* indices into rec_schema.dims */
  bool optional;
} rec_field;

typedef struct rec_schema {
  char *record;             /* record type name: "tokens", "pair", ... */
  int nfields;
  rec_field fields[REC_MAX_FIELDS];
  int ndims;
  rec_dim dims[REC_MAX_DIMS];
  int nmeta;                /* string-to-string metadata, insertion order */
  char **meta_key, **meta_val;
} rec_schema;

/* ---- schemas ---- */
/* The schemas in schemas/NAME.yaml are compiled into the library; look one up
 * by record type name ("tokens"). Returns a new copy, or NULL if unknown. */
rec_schema *rec_schema_builtin(const char *record);
/* Parse a schema from YAML text (the format of schemas/NAME.yaml). NULL + err on error. */
rec_schema *rec_schema_from_yaml(const char *text, size_t len, char *err, size_t errlen);
/* The same from a file: NULL + "PATH: line 3: ..." or "cannot read schema 'PATH': ..." in err. */
rec_schema *rec_schema_from_yaml_file(const char *path, char *err, size_t errlen);
rec_schema *rec_schema_copy(const rec_schema *s);
void rec_schema_free(rec_schema *s);
/* Names of all builtin schemas, NULL-terminated. */
const char *const *rec_schema_builtin_names(void);
/* NULL, or why a schemas/NAME.yaml compiled in did not parse (a build defect;
 * that schema is then left out). */
const char *rec_schema_builtin_error(void);
/* Print a schema and its metadata as YAML (the schemas/NAME.yaml format plus a
 * `meta:` map), e.g. for `rec schema`. */
void rec_schema_print(FILE *f, const rec_schema *s);
/* Check a schema's consistency (names, types, dim references, limits, unique
 * metadata keys); 0 if valid, else -1 with the reason in err. */
int rec_schema_validate(const rec_schema *s, char *err, size_t errlen);
/* Check a stream's schema against the builtin schema of its record type
 * (types, ranks, shared and per-record dimensions of every known field);
 * 0 if it conforms or the type is not builtin, -1 with the reason in err. */
int rec_schema_conforms(const rec_schema *s, char *err, size_t errlen);
/* What every reader checks at open: the record type is one of `records`
 * (NULL-terminated) and the layout conforms to that builtin schema. 0, or -1
 * with "expected a 'x' or 'y' stream, got 'z'" / "schema frame (byte 8): ..."
 * in err (the caller prefixes the input's name). */
int rec_schema_expect(const rec_schema *s, const char *const *records, char *err, size_t errlen);

/* Two streams' schemas: 0 if the record type, dimensions (names and values)
 * and fields (in order) are the same, and with `meta` the metadata too;
 * else -1 with what differs first ("metadata 'model' differs") in why. */
int rec_schema_compare(const rec_schema *a, const rec_schema *b, bool meta, char *why, size_t whylen);
/* The same record frames mean the same thing under both (compare, no metadata). */
bool rec_layout_equal(const rec_schema *a, const rec_schema *b);

int rec_field_index(const rec_schema *s, const char *name);  /* -1 if absent */
int rec_dim_index(const rec_schema *s, const char *name);    /* -1 if absent */
/* Fix a stream dimension (e.g. "d" = 768) before the schema frame is written;
 * -1 if the schema has no such dimension or value is outside 0..2^32-1. */
int rec_set_dim(rec_schema *s, const char *name, int64_t value);
int64_t rec_get_dim(const rec_schema *s, const char *name);  /* fixed value, or REC_DIM_* */
/* Set a metadata entry: replace the value of an existing key, or append. */
void rec_meta_set(rec_schema *s, const char *key, const char *value);
/* Append without looking for the key (decoders; rec_schema_validate refuses
 * a key that appears twice, as every reader must). */
void rec_meta_append(rec_schema *s, const char *key, const char *value);
const char *rec_meta_get(const rec_schema *s, const char *key); /* NULL if absent */
const char *rec_type_name(rec_type t);
size_t rec_type_size(rec_type t);

#endif
