#include "base/sha256.h"

#include <stdint.h>

#include <sha2.h>

void otc_sha256_hex(const void *data, size_t len, char out[65]) { SHA256Data((const uint8_t *)data, len, out); }
