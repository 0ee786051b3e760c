/* sniff.h: input that may be a record stream or text (TSV, JSON Lines). */
#ifndef OTC_SNIFF_H
#define OTC_SNIFF_H

#include <stdbool.h>
#include <stddef.h>

/* Read the first bytes of fd and tell a record stream (or zstd) from text;
 * returns a descriptor that yields the whole input again (fd rewound when
 * seekable, else a pipe fed by a thread), or -1 + message naming `name`. */
int rec_sniff_fd(int fd, const char *name, bool *is_stream, char *err, size_t errlen);

#endif
