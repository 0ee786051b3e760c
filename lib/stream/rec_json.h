/* stream/rec_json.h: records as JSON Lines, the text form of a stream
 * (`rec encode`, `rec dump`). One JSON object per record; keys are field
 * names; a vector is an array, a matrix an array of rows; absent optional
 * fields are omitted (or null on input). Floats are written with the fewest
 * digits that read back to the same bits, and f32 fields are rounded once
 * from their decimal text, so encode | dump | encode is bit-exact. */
#ifndef OTC_REC_JSON_H
#define OTC_REC_JSON_H

#include <stdio.h>

#include "stream/rec.h"

/* Encode every line of `in` (named `name` in messages) as a record of schema
 * s, written with w (a writer of s). Blank lines are skipped. 0 when all of
 * `in` was read; -1 on the first bad line or failed write, with
 * "NAME: line 2: field 'vecs': ragged array: ..." (or the writer's message;
 * rec_writer_errno(w) tells a closed pipe) in err. Extents an empty array
 * cannot show come from stream dims fixed so far, from another field of the
 * record sharing the dimension, or are 0 for a per-record dimension. */
int rec_json_encode_file(FILE *in, const char *name, const rec_schema *s, rec_writer *w, char *err, size_t errlen);

/* One record as a JSON object and a newline. NaN and Inf (which JSON lacks,
 * readable only with rec_reader_allow_nonfinite) are written as null. */
void rec_json_write(FILE *out, const rec_record *rec);
/* Every record of r to out, one line each. 0 at the clean end of the stream;
 * -1 on a read error (the reader's message in err) or when out is in error
 * (a failed write: "write error", errno as left by stdio). */
int rec_json_dump(rec_reader *r, FILE *out, char *err, size_t errlen);

#endif
