/* stream/crc32c.h: CRC-32C (Castagnoli), the checksum of every frame of the
 * record stream (schemas/README.md, section 1). Depends on nothing. */
#ifndef OTC_CRC32C_H
#define OTC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Running CRC: crc32c(crc32c(0, a, n), b, m) = crc32c(0, a||b, n+m). Uses
 * the SSE4.2 instruction when the CPU has it. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
/* The table implementation (what crc32c uses without SSE4.2), for tests. */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len);

#endif
