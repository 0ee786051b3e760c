/* safetensors.h: read and write the safetensors format
 * (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON header {"NAME": {"dtype": "F32", "shape":
 * [..], "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}},
 * then the raw little-endian data, offsets relative to its start.
 *
 * Reading validates what the format promises, so that a damaged or hostile
 * file gives an error naming the tensor instead of a wrong model: header
 * length within the file and at most 100 MB, a JSON object, known dtype,
 * shape product * dtype size == byte span, spans sorted contiguously from 0
 * with no hole or overlap, and the last span ending exactly at the end of the
 * file. The file is mapped read-only; tensor data is converted on request.
 * Writing produces F32 tensors with sorted names and aligned data (the header
 * is space-padded to a multiple of 8 bytes, as the reference writer does),
 * atomically (temporary file, then rename).
 */
#ifndef OTC_SAFETENSORS_H
#define OTC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_HEADER (100u * 1000u * 1000u) /* the reference implementation's cap */
#define ST_MAX_RANK 8

typedef enum {
  ST_BOOL, ST_U8, ST_I8, ST_I16, ST_U16, ST_F16, ST_BF16, ST_I32, ST_U32, ST_F32,
  ST_F64, ST_I64, ST_U64, ST_F8_E4M3, ST_F8_E5M2
} st_dtype;

typedef struct {
  char *name;
  st_dtype dtype;
  int rank;
  uint64_t shape[ST_MAX_RANK];
  uint64_t count;       /* elements: product of shape (1 for rank 0) */
  uint64_t begin, end;  /* byte span relative to the data section */
} st_tensor;

typedef struct {
  char *path;
  const unsigned char *map; /* whole file, read-only mapping */
  size_t size;
  size_t data_start;        /* 8 + header length */
  int n;
  st_tensor *t;             /* in header order */
  int nmeta;
  char **meta_key, **meta_val;
} st_file;

const char *st_dtype_name(st_dtype d);
size_t st_dtype_size(st_dtype d);

/* Open and validate. NULL on error with "PATH: message" (naming the tensor
 * where one is at fault) in err. */
st_file *st_open(const char *path, char *err, size_t errlen);
void st_close(st_file *f);
const st_tensor *st_find(const st_file *f, const char *name); /* NULL if absent */
const char *st_meta(const st_file *f, const char *key);      /* NULL if absent */

/* Convert a tensor to float (F32 copied, F16 and BF16 widened exactly, F64
 * rounded); out holds t->count floats. Other dtypes: -1, "PATH: tensor
 * 'NAME': unsupported dtype I64 (need F32, F16, BF16 or F64)". */
int st_read_f32(const st_file *f, const st_tensor *t, float *out, char *err, size_t errlen);

/* Half-precision conversions (exact; NaN/Inf preserved). */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t h);
uint16_t st_f32_to_f16(float f);   /* round to nearest even (for tests) */
uint16_t st_f32_to_bf16(float f);  /* round to nearest even (for tests) */

/* One tensor to write. dtype ST_F32 (data: count floats) or, for tests,
 * ST_F16 / ST_BF16 / any dtype with raw bytes (data: count*size bytes). */
typedef struct {
  const char *name;
  st_dtype dtype;
  int rank;
  uint64_t shape[ST_MAX_RANK];
  const void *data;
} st_write_tensor;

/* Write n tensors (sorted by name in the file) and nmeta key/value pairs of
 * __metadata__ to path, atomically. 0 on success, -1 with err. */
int st_write(const char *path, const st_write_tensor *t, int n, const char *const *meta_key,
             const char *const *meta_val, int nmeta, char *err, size_t errlen);

#endif
