/* trec.h: TREC qrels and runs in memory, the input side of `score`.
 *
 * Qrels lines are `qid iter docid grade`; run lines are
 * `qid iter docid rank score tag` (trec_eval's formats: the iter and rank
 * columns are ignored, the line order too; extra fields after the tag are
 * ignored). Blank lines and lines starting with '#' are skipped in both.
 *
 * A trec_set owns the topic table (qids interned once, shared by the qrels
 * and any number of runs, so two runs are paired by topic index) and the
 * judgements. Files are read whole into one buffer; docids stay in that
 * buffer (no per-line allocation) and are compared as byte strings, which is
 * strcmp order for text without NUL bytes.
 *
 * Scores are parsed exactly (the double nearest the decimal text, as strtod
 * and trec_eval's atof give): ties depend on exact equality.
 *
 * Errors: loaders return 0, or -1 with "FILE: line N: what" in err.
 */
#ifndef OTC_TREC_H
#define OTC_TREC_H

#include <stddef.h>
#include <stdint.h>

/* Relevance of a retrieved document that is not a grade (trec_eval's values). */
#define TREC_NONPOOL (-1)   /* docid absent from the qrels of its topic */
#define TREC_UNJUDGED (-2)  /* in the qrels with a negative grade: pooled, unjudged */

typedef struct {
  const char *docid;
  uint64_t hash;            /* trec_hash_docid(docid) */
  uint32_t docid_len;
  int32_t grade;            /* >= 0, or TREC_UNJUDGED for a negative grade */
} trec_judgement;

typedef struct {
  char *qid;                /* NUL-terminated, owned */
  uint32_t qid_len;
  int in_qrels;
  uint32_t judged_begin, judged_n;   /* range in trec_set.judged, in file order */
  int32_t max_grade;        /* largest non-negative grade, -1 if none */
} trec_topic;

typedef struct {
  const char *docid;        /* into a run buffer; its line is found on demand */
  double score;
  uint32_t docid_len;
  uint32_t topic;
} trec_entry;

/* A buffer entries point into: a text file (malloc'd or mapped), or a chunk
   of copied docids each preceded by its 8-byte record number. */
typedef struct {
  char *p;
  size_t len;
  size_t maplen;            /* > 0: mmap'd with this length */
  int chunk;
} trec_buf;

typedef struct trec_run {
  char *name;               /* file name used in messages ("-" for stdin) */
  trec_entry *e;            /* grouped by topic after trec_run_finish */
  size_t n, cap;
  size_t *topic_begin;      /* [ntopics+1] offsets into e, after finish */
  uint32_t ntopics;         /* topics covered by topic_begin */
  char *tag;                /* tag (6th field) of the last line, "" if none */
  trec_buf *bufs;           /* what the entries point into */
  size_t nbufs;
  size_t chunk_used;        /* bytes used in bufs[nbufs-1] when it is a chunk */
  int chunk_open;
} trec_run;

typedef struct trec_set {
  trec_topic *topic;
  uint32_t ntopics, cap;
  uint32_t *slot;           /* open-addressing qid index (UINT32_MAX = empty) */
  uint32_t nslots;
  trec_judgement *judged;   /* after qrels: grouped by topic, sorted by docid */
  size_t njudged, judged_cap;
  uint32_t *jtopic;         /* topic of each judgement while loading */
  uint64_t *jline;          /* line of each judgement while loading */
  uint32_t *qrels_order;    /* qrels topics in strcmp order of qid */
  uint32_t nqrels_topics;
  char *qrels_name;
  trec_buf *bufs;
  size_t nbufs;
} trec_set;

void trec_set_init(trec_set *s);
void trec_set_free(trec_set *s);
/* Intern a qid: its topic index, creating the topic if new. */
uint32_t trec_topic_intern(trec_set *s, const char *qid, size_t len);
/* Index of a qid, or UINT32_MAX. */
uint32_t trec_topic_find(const trec_set *s, const char *qid, size_t len);

/* Load qrels (path, or "-" for stdin). Call once, before loading runs.
 * A docid judged twice in one topic is an error. */
int trec_qrels_load(trec_set *s, const char *path, char *err, size_t errlen);
/* The same from a buffer of len bytes (copied); name is used in messages. */
int trec_qrels_parse(trec_set *s, const char *buf, size_t len, const char *name,
                     char *err, size_t errlen);
/* Grade of docid in topic, or TREC_NONPOOL (a linear scan: for tests). */
int32_t trec_grade(const trec_set *s, uint32_t topic, const char *docid, size_t len);

/* The hash of a docid used by every docid table here. */
uint64_t trec_hash_docid(const char *docid, size_t len);

/* A hash index of one topic's judgements, small enough to stay in cache
   while that topic's ranking is looked up (the evaluator's inner loop). */
typedef struct {
  uint64_t *slot;           /* (hash high 32 bits << 32) | (judgement + 1); 0 = empty */
  size_t cap;
  const trec_judgement *j;  /* the topic's judgements */
} trec_judged_index;
/* Build the index of a topic; returns -1, or the position (in the topic's
   judgements) of the first docid judged twice. */
long trec_judged_index_build(trec_judged_index *ix, const trec_set *s, uint32_t topic);
/* Grade of a docid whose trec_hash_docid is h, or TREC_NONPOOL. */
int32_t trec_judged_index_grade(const trec_judged_index *ix, const char *docid, uint32_t len,
                                uint64_t h);
void trec_judged_index_free(trec_judged_index *ix);

void trec_run_init(trec_run *r, const char *name);
void trec_run_free(trec_run *r);
/* Parse a TREC text run held in b (the run takes ownership; b->p[b->len]
 * must be a NUL byte, as trec_read_file gives). */
int trec_run_parse_owned(trec_set *s, trec_run *r, trec_buf *b, char *err, size_t errlen);
/* Line (text) or record number (streams) of an entry, 1-based; 0 if unknown. */
uint64_t trec_run_entry_line(const trec_run *r, const trec_entry *e);
/* Where an entry came from, as messages say it: "line N" (text, 1-based) or
 * "record N" (record streams, 0-based like every rec reader). */
void trec_run_entry_place(const trec_run *r, const trec_entry *e, char *buf, size_t n);
/* Add one retrieved document (strings are copied); for record streams. */
void trec_run_add(trec_set *s, trec_run *r, const char *qid, size_t qlen, const char *docid,
                  size_t dlen, double score, const char *tag, uint64_t line);
/* Group entries by topic, keeping file order within a topic. Call after the
 * last add/parse; topics interned later are not covered. */
void trec_run_finish(const trec_set *s, trec_run *r);

/* Parse a score exactly as strtod would; 0 and the value, or -1 if the text
 * (all of [p, end)) is not a number or is NaN. */
int trec_parse_score(const char *p, const char *end, double *out);

/* Read a whole file ("-" = stdin) into a buffer with a NUL after the data:
 * a regular file is memory-mapped (no copy), anything else read. -1 with
 * err on failure. */
int trec_read_file(const char *path, trec_buf *b, char *err, size_t errlen);
void trec_buf_free(trec_buf *b);

/* Sort entries by score descending, ties by docid in descending byte order
 * (trec_eval's ranking; the rank column and line order play no part). */
void trec_sort_ranking(trec_entry *e, size_t n);

/* Compare docids as strcmp would. */
int trec_docid_cmp(const char *a, uint32_t alen, const char *b, uint32_t blen);

#endif
