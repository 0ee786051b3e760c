/* trec.h: the input side of `score`: TREC runs, relevance information in
 * trec_eval's four formats, and Z-score files, in memory.
 *
 * Runs (trec_eval's "trec_results"): lines `qid iter docid rank score tag`;
 * the iter and rank columns and the line order are ignored, fields after the
 * tag too; the run's tag is the last line's.
 *
 * Relevance information (trec_eval's -R), one line per judgement:
 *   qrels        qid iter docid grade          grade an integer; negative:
 *                                              pooled but unjudged
 *   qrels_jg     qid jg docid grade            one judgement set per jg
 *   prefs        qid jg jsg docid rel_level    preferences (rel_level real)
 *   qrels_prefs  qid jg docid rel_level        a qrels file read as prefs
 * Z-score files (-Z): lines `qid measure mean stddev`.
 *
 * In every file, blank lines and lines whose first field starts with '#'
 * are skipped, and a malformed line is an error naming the file and line.
 * A NUL byte is an error (trec_eval silently stops reading there).
 *
 * Numbers: by default a score must be a whole finite decimal number (the
 * double nearest its text, as strtod and trec_eval's atof give) and a grade
 * a whole integer; text that trec_eval would read as something else
 * (`1.5abc` as 1.5, `abc` as 0, `nan`, `inf`, `1e999` as infinity, a grade
 * `1.5` as 1) is refused. With `compat` they are read exactly as trec_eval
 * reads them (atof, atol).
 *
 * A trec_set owns the topic table (qids interned once, shared by the
 * relevance information and any number of runs, so runs pair by topic
 * index) and the judgements. Files are read whole into one buffer; docids
 * stay in it and compare as byte strings (strcmp order for text without NUL).
 *
 * Errors: functions return 0, or -1 with "FILE: line N: what" in err.
 */
#ifndef OTC_TREC_H
#define OTC_TREC_H

#include <stddef.h>
#include <stdint.h>

/* Relevance of a retrieved document that is not a grade (trec_eval's values). */
#define TREC_NONPOOL (-1)   /* docid absent from the judgements of its topic */
#define TREC_UNJUDGED (-2)  /* judged with a negative grade: pooled, unjudged */

/* Largest |grade| accepted: trec_eval allocates one counter per grade. */
#define TREC_MAX_GRADE 1000000

typedef enum { TREC_QRELS, TREC_QRELS_JG, TREC_PREFS, TREC_QRELS_PREFS } trec_format;
extern const char *const trec_format_names[]; /* "qrels", ..., NULL: -R's values */

typedef struct {
  const char *docid;
  uint64_t hash;            /* trec_hash_docid(docid) */
  uint32_t docid_len;
  int32_t grade;            /* >= 0, or TREC_UNJUDGED for a negative grade */
} trec_judgement;

/* One judgement set of a topic: all its qrels, or one jg of qrels_jg. */
typedef struct {
  const char *name;         /* the jg field (qrels_jg), else the topic's qid */
  uint32_t name_len;
  uint32_t judged_begin, judged_n;   /* in trec_set.judged, sorted by docid */
  int32_t max_grade;        /* largest grade read (negative: none >= 0) */
} trec_jg;

/* One preference line (prefs, qrels_prefs). */
typedef struct {
  const char *jg, *jsg, *docid;
  uint32_t jg_len, jsg_len, docid_len;
  double rel;
} trec_pref;

typedef struct {
  char *qid;                /* NUL-terminated, owned */
  uint32_t qid_len;
  int in_qrels;             /* has relevance information */
  uint32_t jg_begin, jg_n;  /* qrels, qrels_jg: its judgement sets */
  uint32_t pref_begin, pref_n; /* prefs, qrels_prefs: its lines, by docid */
  long num_rel_pos;         /* judgements with grade > 0, over every jg */
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
  trec_format format;
  trec_topic *topic;
  uint32_t ntopics, cap;
  uint32_t *slot;           /* open-addressing qid index (UINT32_MAX = empty) */
  uint32_t nslots;
  trec_judgement *judged;   /* grouped by topic, then jg, sorted by docid */
  size_t njudged;
  trec_jg *jg;
  uint32_t njg;
  trec_pref *pref;          /* grouped by topic, sorted by docid (stable) */
  size_t npref;
  uint32_t *qrels_order;    /* topics with relevance information, strcmp order */
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

/* Load relevance information (path, or "-" for stdin) in the given format.
 * Call once, before loading runs. A docid judged twice in one judgement set
 * is an error; so is a file without any judgement (trec_eval: "Cannot read
 * qrels file"). compat: numbers as trec_eval reads them (see above). */
int trec_relinfo_load(trec_set *s, const char *path, trec_format fmt, int compat, char *err,
                      size_t errlen);
/* The same from a buffer of len bytes (copied); name is used in messages. */
int trec_relinfo_parse(trec_set *s, const char *buf, size_t len, const char *name,
                       trec_format fmt, int compat, char *err, size_t errlen);
/* Grade of docid in a topic's first judgement set, or TREC_NONPOOL (a linear
   scan: for tests). */
int32_t trec_grade(const trec_set *s, uint32_t topic, const char *docid, size_t len);

/* The hash of a docid used by every docid table here. */
uint64_t trec_hash_docid(const char *docid, size_t len);

/* A hash index of one judgement set, small enough to stay in cache while a
   ranking is looked up (the evaluator's inner loop). */
typedef struct {
  uint64_t *slot;           /* (hash high 32 bits << 32) | (judgement + 1); 0 = empty */
  size_t cap;
  const trec_judgement *j;  /* the set's judgements */
} trec_judged_index;
/* Build the index of judgement set jg; returns -1, or the position (in the
   set) of the first docid judged twice. */
long trec_judged_index_build(trec_judged_index *ix, const trec_set *s, uint32_t jg);
/* Grade of a docid whose trec_hash_docid is h, or TREC_NONPOOL. */
int32_t trec_judged_index_grade(const trec_judged_index *ix, const char *docid, uint32_t len,
                                uint64_t h);
void trec_judged_index_free(trec_judged_index *ix);

void trec_run_init(trec_run *r, const char *name);
void trec_run_free(trec_run *r);
/* Parse a TREC text run held in b (the run takes ownership; b->p[b->len]
 * must be a NUL byte, as trec_read_file gives). compat: scores by atof. */
int trec_run_parse_owned(trec_set *s, trec_run *r, trec_buf *b, int compat, char *err,
                         size_t errlen);
/* Line (text) or record number (streams) of an entry, 1-based; 0 if unknown. */
uint64_t trec_run_entry_line(const trec_run *r, const trec_entry *e);
/* Where an entry came from, as messages say it: "line N" (text, 1-based) or
 * "record N" (record streams, 0-based like every rec reader). */
void trec_run_entry_place(const trec_run *r, const trec_entry *e, char *buf, size_t n);
/* Add one retrieved document (strings are copied); for record streams. */
void trec_run_add(trec_set *s, trec_run *r, const char *qid, size_t qlen, const char *docid,
                  size_t dlen, double score, const char *tag, uint64_t line);
/* Group entries by topic, keeping file order within a topic. Call after the
 * last add/parse; topics interned later are not covered. A run without any
 * line is an error (trec_eval: "Cannot read results file"). */
int trec_run_finish(const trec_set *s, trec_run *r, char *err, size_t errlen);

/* Parse a score: 0 and the value, or -1. Strict: all of [p, end) is a finite
 * decimal number (the double strtod gives). compat: atof's reading of the
 * text (a number prefix, 0 if none; nan and inf allowed). */
int trec_parse_score(const char *p, const char *end, int compat, double *out);

/* Read a whole file ("-" = stdin) into a buffer with a NUL after the data:
 * a regular file is memory-mapped (no copy), anything else read. -1 with
 * err on failure. */
int trec_read_file(const char *path, trec_buf *b, char *err, size_t errlen);
void trec_buf_free(trec_buf *b);

/* Tie order of equal scores: trec_eval ranks qrels and qrels_jg runs by
   docid descending, prefs runs by docid ascending. */
typedef enum { TREC_TIES_DESC, TREC_TIES_ASC } trec_ties;
/* Sort entries by score descending, ties by docid (trec_eval's ranking; the
 * rank column and line order play no part). Scores that are NaN (compat
 * only) order as trec_eval's qsort leaves them. */
void trec_sort_ranking(trec_entry *e, size_t n, trec_ties ties);

/* Compare docids as strcmp would. */
int trec_docid_cmp(const char *a, uint32_t alen, const char *b, uint32_t blen);

/* glibc's qsort as trec_eval's results depend on it: a top-down merge sort
 * (left half n/2), stable, taking the left element unless cmp > 0. Used
 * where trec_eval's comparators are not a total order (NaN scores, gains
 * compared as (int)(a - b)), so that the order comes out the same. */
void trec_msort(void *base, size_t n, size_t size,
                int (*cmp)(const void *, const void *, void *), void *ctx);

/* ---- Z-scores (-Z): per topic and measure name, a mean and a deviation ---- */
typedef struct {
  const char *qid, *meas;   /* into buf, NUL-terminated */
  double mean, stddev;
} trec_zscore;
typedef struct {
  trec_zscore *z;           /* sorted by (qid, measure) */
  size_t n;
  size_t *q_begin;          /* [nq+1]: ranges of one qid in z */
  size_t nq;
  char *buf;
} trec_zscores;
/* Load a Z-score file (lines `qid measure mean stddev`); compat: numbers by atof. */
int trec_zscores_load(trec_zscores *z, const char *path, int compat, char *err, size_t errlen);
int trec_zscores_parse(trec_zscores *z, const char *buf, size_t len, const char *name, int compat,
                       char *err, size_t errlen);
void trec_zscores_free(trec_zscores *z);
/* trec_eval's conversion of one value: (v - mean) / stddev; v == mean with a
 * zero deviation gives 0; a topic or measure without an entry, or a zero
 * deviation otherwise, gives -1000000 (TREC_ZSCORE_MISSING). The lookup
 * repeats trec_eval's binary search, which also looks one entry past the
 * topic's own (the next topic's first). */
#define TREC_ZSCORE_MISSING (-1000000.0)
double trec_zscore_convert(const trec_zscores *z, const char *qid, const char *meas, double v);

#endif
