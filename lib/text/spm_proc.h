/* text/spm_proc.h: the C face of spm_proc.cc, the shim over Google's
 * sentencepiece library. Internal to text/spm.c (use text/spm.h). */
#ifndef OTC_SPM_PROC_H
#define OTC_SPM_PROC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spm_proc spm_proc;

/* A processor from the bytes of a .model file (a serialized ModelProto).
 * NULL with the library's message in err. */
spm_proc *spm_proc_new(const void *buf, size_t len, char *err, size_t errlen);
void spm_proc_free(spm_proc *p);
int spm_proc_size(const spm_proc *p);

/* Encode text[0..len) as SentencePieceProcessor::Encode does (the ids of
 * spm_encode --output_format=id); sink gets each piece's id and its byte
 * span [begin, end) in text, in order. 0, or -1 with err. Thread-safe for
 * one processor (the library's Encode is const). */
typedef void (*spm_proc_sink)(void *ctx, int id, uint32_t begin, uint32_t end);
int spm_proc_encode(const spm_proc *p, const char *text, size_t len, spm_proc_sink sink, void *ctx, char *err,
                    size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
