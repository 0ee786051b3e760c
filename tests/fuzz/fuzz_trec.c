/* fuzz_trec: libFuzzer harness for score's readers and evaluator (make fuzz).
 * The input is split at its first 0xff byte (or halved) into relevance
 * information and a run; a third part after a second 0xff becomes a Z-score
 * file and a groups file. The first byte picks the relevance format, --compat
 * (trec_eval's atof/atol reading: NaN scores and all), -c, -J, -M and -l.
 * Every parser must refuse bad input with a message; whatever parses is
 * evaluated with every measure the format allows and printed, so the
 * measures and the preference forms see hostile rankings too. Nothing may
 * crash, hang or read out of bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/score.h"
#include "eval/trec.h"

static const char *const nick[] = {"all_trec", "qrels_jg", "all_prefs", "all_prefs"};
static const char *const extra[] = {"dcg.1=2,-1=3 ideal_dcg yaap relstring.3.5 P.2,1 ndcg_cut.1,9 utility.1,2,3,4 "
                                    "rbp.p=0.5,2=7 11pt_avg.0.5,0.1 Rprec_mult.0.3 xtreme_map.2 acc.1",
                                    "P_avgjg.1,3 Rprec_mult_avgjg.0.5,2", "", ""};

static size_t part(const uint8_t *d, size_t n) {
  const uint8_t *sep = memchr(d, 0xff, n);
  return sep ? (size_t)(sep - d) : n / 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  int flags = data[0];
  trec_format fmt = (trec_format)(flags & 3);
  data++;
  size--;
  size_t nq = part(data, size), rest = size - nq - (nq < size);
  const uint8_t *run = data + nq + (nq < size);
  size_t nr = part(run, rest), rest2 = rest - nr - (nr < rest);
  const uint8_t *more = run + nr + (nr < rest);
  char err[1024];
  trec_set s;
  trec_run r;
  trec_set_init(&s);
  trec_run_init(&r, "run");
  score_opts o;
  score_opts_default(&o);
  o.compat = flags >> 2 & 1;
  o.complete = flags >> 3 & 1;
  o.judged_only = flags >> 4 & 1;
  o.max_docs = flags >> 5 & 1 ? 3 : o.max_docs;
  o.relevance_level = (flags >> 6) - 1;
  trec_buf b = {.p = malloc(nr + 1), .len = nr};
  memcpy(b.p, run, nr);
  b.p[nr] = 0;
  int ok = !trec_relinfo_parse(&s, (const char *)data, nq, "qrels", fmt, o.compat, err, sizeof err);
  if (ok) ok = !trec_run_parse_owned(&s, &r, &b, o.compat, err, sizeof err) && !trec_run_finish(&s, &r, err, sizeof err);
  else free(b.p);
  trec_zscores z;
  int zok = !trec_zscores_parse(&z, (const char *)more, rest2, "z", o.compat, err, sizeof err);
  score_selection sel = {0};
  char args[512];
  snprintf(args, sizeof args, "%s %s", nick[fmt], extra[fmt]);
  for (char *t = strtok(args, " "); t; t = strtok(NULL, " ")) score_select(&sel, t, err, sizeof err);
  score_result res;
  if (ok && !score_select_finish(&sel, o.compat, err, sizeof err) &&
      !score_evaluate(&s, &r, &sel, &o, zok ? &z : NULL, &res, err, sizeof err)) {
    FILE *f = fopen("/dev/null", "w");
    score_print(f, &sel, &res, 1, 1);
    score_groups g;
    if (!score_groups_parse(&g, (const char *)more, rest2, "groups", &s, &res, err, sizeof err)) {
      score_print_groups(f, &sel, &res, &g);
      score_groups_free(&g);
    }
    fclose(f);
    score_result_free(&res);
  }
  if (zok) trec_zscores_free(&z);
  score_selection_free(&sel);
  trec_run_free(&r);
  trec_set_free(&s);
  return 0;
}
