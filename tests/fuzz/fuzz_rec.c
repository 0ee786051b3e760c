/* fuzz_rec: libFuzzer harness for the record stream reader (make fuzz).
 * Feeds arbitrary bytes to rec_open_mem and reads every record, so the
 * frame reader, the schema frame decoder, the record decoder and the zstd
 * path all see hostile input. The first byte picks in-place reading (an
 * 8-aligned buffer) or the copying path (a misaligned one); both must reject
 * bad input with a message, never crash, hang or read out of bounds. Another
 * bit makes the harness recompute every frame's CRCs before reading, since
 * random mutations would otherwise almost never get past the checksums to
 * the schema and record decoders. Every record read is then written out the
 * ways `rec` writes them: as JSON (rec_json_write) and through a writer
 * (rec_copy_record: verbatim, or decoded and re-encoded when the reader
 * allowed NaN/Inf and the writer does not), to /dev/null; and the hostile
 * size check runs on its dimensions. */
#include "stream/rec.h"
#include "stream/rec_json.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static void fix_crcs(uint8_t *p, size_t size) {
  size_t off = 8;
  while (off + 16 <= size) {
    uint32_t len = rd32(p + off + 4);
    if (len <= size - off - 16) wr32(p + off + 8, crc32c(0, p + off + 16, len));
    wr32(p + off + 12, crc32c(0, p + off, 12));
    if (len > size - off - 16) break;
    off += 16 + (((size_t)len + 7) & ~(size_t)7);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int misaligned = data[0] & 1, allow = data[0] & 2, fix = data[0] & 4;
  data++;
  size--;
  uint8_t *buf = malloc(size + 8);
  if (!buf) return 0;
  uint8_t *p = buf + (misaligned ? 1 : 0);
  memcpy(p, data, size);
  if (fix) fix_crcs(p, size);
  char err[1024];
  rec_reader *r = rec_open_mem(p, size, "fuzz", err, sizeof err);
  static FILE *devnull;
  static int devnull_fd = -1;
  if (!devnull) devnull = fopen("/dev/null", "w");
  if (devnull_fd < 0) devnull_fd = open("/dev/null", O_WRONLY);
  if (r) {
    if (allow) rec_reader_allow_nonfinite(r, true);
    const rec_schema *s = rec_reader_schema(r);
    rec_writer *w = rec_writer_fd(devnull_fd, "-", s, NULL);
    if (!w) abort(); /* a schema the reader accepted is one a writer accepts */
    rec_record rec;
    volatile uint64_t sink = 0;
    while (rec_read(r, &rec) == 0) {
      rec_json_write(devnull, &rec);
      /* What the reader validated, the writer takes; it refuses only NaN/Inf,
       * which it checks and this reader was told to allow. */
      if (rec_copy_record(w, r, &rec) != 0 &&
          (!allow || (!strstr(rec_writer_error(w), "NaN at") && !strstr(rec_writer_error(w), "Inf at"))))
        abort();
      char serr[300];
      uint64_t f[REC_MAX_RANK] = {0};
      for (int i = 0; i < s->nfields; i++)
        for (int a = 0; a < s->fields[i].rank; a++) f[a] = rec.v[i].shape[a];
      sink += (uint64_t)rec_size_check(r, &rec, "x", f, REC_MAX_RANK, 8, 0, serr, sizeof serr);
      /* touch every byte a consumer would use */
      for (int i = 0; i < s->nfields; i++) {
        if (!rec.v[i].data) continue;
        size_t n = s->fields[i].type == REC_STR ? rec.v[i].count + 1 : rec.v[i].count * rec_type_size(s->fields[i].type);
        const uint8_t *d = rec.v[i].data;
        if (n) sink += d[0] + d[n - 1];
      }
    }
    (void)rec_error(r);
    rec_writer_abort(w);
    rec_close(r);
  } else if (!err[0]) {
    abort(); /* every failure must say why */
  }
  free(buf);
  return 0;
}
