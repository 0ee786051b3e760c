/* stream/frame.h: calls for this layer's own whole-stream operations
 * (rec_ops.c): record frames as bytes, to copy records without decoding and
 * re-encoding them (rec_copy_record, rec_shuffle), and writers of many
 * outputs. Not for other layers: a frame written here is trusted to have
 * been validated by a reader of a stream with the writer's layout. */
#ifndef OTC_FRAME_H
#define OTC_FRAME_H

#include "stream/rec.h"

/* The payload of the frame of rec, if rec is the record r read last (valid
 * until the next rec_read), with its length and CRC-32C; else NULL. */
const void *rec_reader_frame(const rec_reader *r, const rec_record *rec, uint32_t *len, uint32_t *crc);
/* Did r check that floats are finite (it was not told to allow NaN/Inf)? */
bool rec_reader_finite_checked(const rec_reader *r);
/* Can w take r's record frames verbatim: the same layout (metadata may
 * differ) and r checked what w would check (finite floats)? Cached per r. */
bool rec_writer_can_copy(rec_writer *w, const rec_reader *r);
/* Append a record frame verbatim: header (with this payload CRC), payload,
 * padding. The payload must come from a reader of a stream whose layout is
 * w's (rec_layout_equal) and whose checks include w's. */
int rec_write_frame(rec_writer *w, const void *payload, uint32_t len, uint32_t crc);

/* rec_writer_path for a caller that removed the stale temporaries of the
 * output already (rec_split: one sweep by prefix for all its shards). */
rec_writer *rec_writer_path_swept(const char *path, const rec_schema *s, const rec_write_opts *o);

#endif
