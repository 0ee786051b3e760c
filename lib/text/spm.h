/* text/spm.h: SentencePiece models (XLM-R's tokenizer), encoded by Google's
 * sentencepiece library (Debian's libsentencepiece-dev, through the C++
 * shim spm_proc.cc), and the model file itself read and rewritten here in C.
 *
 * A .model file is a serialized protobuf ModelProto: repeated pieces
 * (field 1: piece string, score float, type enum), trainer_spec (2: model
 * type, unk/bos/eos/pad ids), normalizer_spec (3), self_test_data (4),
 * denormalizer_spec (5). spm_load parses the pieces and the trainer spec
 * (refusing a damaged file with a message naming it) and hands the bytes to
 * the library, which does all encoding: ids are exactly those of
 * `spm_encode --output_format=id`.
 *
 * Pruning (spm_subset) writes a ModelProto with only some pieces, in their
 * old order, everything else copied byte for byte except self_test_data
 * (whose expected ids would no longer hold). spm_keep_closure adds what the
 * library needs to segment the kept pieces' text as the full model did:
 *  - unigram: the lowest- and highest-scoring normal pieces (the unknown
 *    penalty is the minimum score - 10, user-defined pieces score by the
 *    maximum), so every kept path keeps its score. The full model's best
 *    path for a text is in the smaller lattice and still the best there.
 *  - BPE: every piece formed on the way to a kept piece (the merges of its
 *    own characters, highest score first, leftmost on ties, as the
 *    library's BPE does). Merges inside a final piece's span happen in the
 *    same order as in a run on that piece alone, so with these the smaller
 *    model makes the same merges.
 *  - every piece that is not of type NORMAL (unknown, control,
 *    user-defined, byte, unused) is kept, so the special ids do not move.
 *
 * No global state; a model may be shared by threads (encoding is const).
 * Errors: -1 / NULL with a message in err; nothing here prints or exits. */
#ifndef OTC_SPM_H
#define OTC_SPM_H

#include <stddef.h>
#include <stdint.h>

enum { SPM_NORMAL = 1, SPM_UNKNOWN = 2, SPM_CONTROL = 3, SPM_USER_DEFINED = 4, SPM_UNUSED = 5, SPM_BYTE = 6 };
enum { SPM_UNIGRAM = 1, SPM_BPE = 2, SPM_WORD = 3, SPM_CHAR = 4 };

typedef struct spm_model spm_model;

/* Load a .model file (name is used in messages). */
spm_model *spm_load(const char *path, char *err, size_t errlen);
spm_model *spm_from_mem(const void *buf, size_t len, const char *name, char *err, size_t errlen);
void spm_free(spm_model *m);

int spm_size(const spm_model *m);                              /* pieces (ids 0..size-1) */
const char *spm_piece(const spm_model *m, int id, size_t *len); /* NUL-terminated */
float spm_score(const spm_model *m, int id);
int spm_piece_type(const spm_model *m, int id);                 /* SPM_NORMAL, ... */
int spm_algorithm(const spm_model *m);                          /* SPM_UNIGRAM, SPM_BPE, ... */
/* trainer_spec's unk_id, bos_id, eos_id, pad_id (defaults 0, 1, 2, -1). */
void spm_special_ids(const spm_model *m, int *unk, int *bos, int *eos, int *pad);
/* Lower-case hex SHA-256 of the file bytes (as sha256sum). */
const char *spm_sha256(const spm_model *m);
const void *spm_bytes(const spm_model *m, size_t *len);

/* Pieces of one text: spm ids and byte spans [spans[2k], spans[2k+1]) in
 * the text (reused across calls; spm_pieces_free releases). */
typedef struct {
  int *ids;
  uint32_t *spans;
  size_t n, cap;
} spm_pieces;
void spm_pieces_free(spm_pieces *p);
/* Replace out's content with the pieces of text[0..len). */
int spm_encode(const spm_model *m, const char *text, size_t len, spm_pieces *out, char *err, size_t errlen);

/* keep[size]: 1 = keep. Adds the pieces the kept ones need (see above). */
void spm_keep_closure(const spm_model *m, unsigned char *keep);
/* A ModelProto with the kept pieces, in *out (malloc'ed, *outlen bytes);
 * old_to_new[size] gets each piece's new id or -1. Returns the new size, or
 * -1 with err (a kept set without the unknown piece). */
int spm_subset(const spm_model *m, const unsigned char *keep, int *old_to_new, char **out, size_t *outlen,
               char *err, size_t errlen);

#endif
