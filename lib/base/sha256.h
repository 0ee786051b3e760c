/* base/sha256.h: SHA-256 as lower-case hex, the identity of a vocabulary
 * or a file (computed by libmd, Debian's libmd-dev). */
#ifndef OTC_SHA256_H
#define OTC_SHA256_H

#include <stddef.h>

/* out: 64 hex digits and a NUL. */
void otc_sha256_hex(const void *data, size_t len, char out[65]);

#endif
