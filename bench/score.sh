#!/bin/bash
# bench/score.sh: `score` against trec_eval 10 itself, in one run, and write
# bench/results/score.md.
#
# trec_eval is built here from $OTCLIR_SHARED/peers/trec_eval (default
# ../shared) into bench/work/score/ (never shipped, never in CI): once with
# its own Makefile (the trec_eval its authors ship: no optimisation flags),
# once with -O2 (the fairest peer).
#  1. trec_eval's test/ folder through both: every input file there, with the
#     command lines that read it (its quicktest, then every judgement file x
#     every results file it can evaluate x option sets, then option edge
#     cases); every difference is listed.
#  2. Random inputs (bench/score_ref.py): 1000 cases of judgements in every
#     format and runs with random options through both; 1000 more with
#     --compat and scores such as nan, inf, 1e999, 1.5abc.
#  3. A generated run of 1M lines (bench/gen-score-run.py): default measures,
#     -m all_trec and -q -m all_trec, identical output first (diff), then the
#     time of each side in one hyperfine run, and the ratio.
#
# Usage: bench/score.sh [--runs N]        (needs gcc, python3, hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5
[ "${1:-}" = --runs ] && runs=$2
shared=${OTCLIR_SHARED:-../shared}
peer=$shared/peers/trec_eval
work=bench/work/score
out=bench/results/score.md
[ -f "$peer/trec_eval.c" ] || { echo "bench/score.sh: no trec_eval source in $peer" >&2; exit 1; }
mkdir -p "$work"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -x bin/score ] || make bin/score
score=$PWD/bin/score

# ---- trec_eval, built here: as shipped, and with -O2 ----
for b in shipped O2; do
  rm -rf "$work/$b" && cp -r "$peer" "$work/$b"
  if [ $b = shipped ]; then (cd "$work/$b" && make -s trec_eval >/dev/null 2>&1)
  else (cd "$work/$b" && make -s CFLAGS='-O2 -I. -w -DVERSIONID=\"10.0-rc3\"' trec_eval >/dev/null 2>&1); fi
done
te=$PWD/$work/shipped/trec_eval te2=$PWD/$work/O2/trec_eval
cflags=$(sed -n 's/^CFLAGS *= *//p' "$peer/Makefile" | tail -1)

# ---- 1. trec_eval's test folder ----
T=$PWD/$work/shipped/test
lines=$tmp/lines
sed -n '/^quicktest:/,/^$/p' "$peer/Makefile" | sed -n 's/^\t\.\/trec_eval \(.*\) | diff - test\/.*$/\1/p' | sed 's|test/||g' >"$lines"
nquick=$(wc -l <"$lines")
qrels_files="qrels.test qrels.test.with-comments qrels.comment.test qrels.rel_level qrels.123 qrels.comments.123 qrels-302.test"
results_files="results.test results.trunc results.comment.test results-302.test"
for q in $qrels_files; do
  for r in $results_files; do
    # the pairs whose topics meet (trec_eval refuses the others: exit 4)
    for o in "-q -m all_trec" "-q -c -m all_trec" "-q -c -J -M 50 -m all_trec" "-q -l 2 -m all_trec" \
      "-q -R qrels_prefs -m all_prefs" "-q -R qrels_jg -m qrels_jg" "-q -Z zscores_file -m all_trec"; do
      echo "$o $q $r"
    done
  done
done >>"$lines"
for p in prefs.test prefs.comment.test; do
  for r in prefs.results.test prefs.rank20 results.test; do
    for o in "-q -R prefs -m all_prefs" "-q -c -R prefs -m all_prefs" "-q -M 5 -J -R prefs -m all_prefs"; do
      echo "$o $p $r"
    done
  done
done >>"$lines"
cat >>"$lines" <<'EOF'
-q -m P.10 -m P.5 qrels.test results.test
-q -m P.5 -m P qrels.test results.test
-q -m all_trec -l -1 qrels.test results.test
-q -m all_trec -l 0 qrels.rel_level results.test
-q -m all_trec -l 3 qrels.rel_level results.test
-q -m all_trec -M 0 -c qrels.test results.test
-q -m all_trec -N 100000 -n qrels.test results.test
-m all_trec -n qrels.test results.test
-q -m set qrels.test results.test
-q -m ndcg.0=1,1=2 -m ndcg_rel.1=3,2=9 -m Rndcg.1=3,2=9 -m G.1=3,2=9 qrels.rel_level results.test
-q -m ndcg.2=0.5,1=2.5 qrels.rel_level results.test
-q -m ndcg.-1=5 qrels.test results.test
-q -m dcg -m ideal_dcg -m yaap qrels.rel_level results.test
-q -m dcg.1=2 -m ideal_dcg.2=5 qrels.rel_level results.test
-q -m rbp.p=0.5 -m rbp_resid.p=0.5 qrels.rel_level results.test
-q -m rbp.1=2,p=0.8 qrels.rel_level results.test
-q -m relstring.5 -m relstring.50 -c qrels.test results.trunc
-q -m relstring.3.7 -m utility.1,-2,0.5,0 -N 5000 qrels.test results.test
-q -m set_F.0.25 -m 11pt_avg.0.8,0.2,0.5 -m iprec_at_recall.0.15,0.33 qrels.test results.test
-q -m Rprec_mult.0.5,1.5,3 -m success.1,3 -m recall.7 -m map_cut.7,77 -m ndcg_cut.3,33 qrels.rel_level results.test
-q -m relative_P.4,400 -m unj.1,3 -m num_nonrel_judged_ret qrels.test results.test
-q -m infAP -m bpref -m gm_bpref -m gm_map -m binG -l 2 qrels.rel_level results.test
-q -m P_avgjg.3,7 -m Rprec_mult_avgjg.0.5 -R qrels_jg -l 2 qrels.123 results.test
-q -m Rndcg -l 0 qrels.test results.test
-q -m iprec_at_recall -m 11pt_avg -c -J qrels.test results.trunc
-q -m all_trec -D 0.302 qrels.test results.test
-m all_trec -c -D 0.302 qrels.test results.test
-q --measure=map --query_eval_wanted --complete_rel_info_wanted qrels.test results.trunc
--measure map --level_for_rel 2 --Judged_docs_only --Max_retrieved_per_topic 20 qrels.rel_level results.test
--measure map --nosummary -q --Number_docs_in_coll 10 qrels.test results.test
--Rel_info_format prefs --measure prefs_simp -q prefs.test prefs.results.test
--Results_format trec_results -m map --Zscore zscores_file qrels.test results.test
-o -m map -m ndcg_cut.10,20,23.4 -m P.5.9 -m P.3,1,2 qrels.test results.test
-m iprec_at_recall..5,.25 -m Rprec_mult..5 -m relstring.0 -q qrels.test results.test
EOF
n=0 same=0 refused=0
diffs=$tmp/diffs
: >"$diffs"
while IFS= read -r l; do
  n=$((n + 1))
  # shellcheck disable=SC2086
  (cd "$T" && "$te" $l) >"$tmp/a" 2>"$tmp/ae" && ra=0 || ra=$?
  # shellcheck disable=SC2086
  (cd "$T" && "$score" $l) >"$tmp/b" 2>"$tmp/be" && rb=0 || rb=$?
  if [ $ra = 0 ] && [ $rb = 0 ] && cmp -s "$tmp/a" "$tmp/b"; then
    same=$((same + 1))
  elif [ $ra != 0 ] && [ $rb != 0 ] && [ ! -s "$tmp/b" ]; then
    same=$((same + 1)) refused=$((refused + 1)) # both refuse (score writes nothing; trec_eval may have printed some topics)
  else
    why="trec_eval exit $ra, score exit $rb"
    if [ $ra -ge 128 ]; then why="trec_eval crashed (signal $((ra - 128)): $(head -c 80 "$tmp/ae" | tr '\n' ' '))"; fi
    diff "$tmp/a" "$tmp/b" | grep '^[<>]' >"$tmp/d" || true
    echo "| \`$l\` | $why | $(wc -l <"$tmp/d") | $(head -2 "$tmp/d" | tr '\t\n' '  ') |" >>"$diffs"
  fi
  if [ $n = "$nquick" ]; then quick_same=$same; fi
done <"$lines"

# ---- 2. random inputs ----
python3 bench/score_ref.py "$te" "$score" --cases 1000 --seed 1 >"$tmp/rand" || true
python3 bench/score_ref.py "$te" "$score" --cases 1000 --seed 2 --compat >"$tmp/rand-compat" || true

# ---- 3. one million lines ----
data=$work/data
[ -f "$data/run" ] || python3 bench/gen-score-run.py "$data" >&2
nlines=$(wc -l <"$data/run")
: >"$tmp/agree"
for mode in "" "-m all_trec" "-q -m all_trec"; do
  # shellcheck disable=SC2086
  "$te" $mode "$data/qrels" "$data/run" >"$tmp/te.out"
  # shellcheck disable=SC2086
  "$score" $mode "$data/qrels" "$data/run" >"$tmp/sc.out"
  # shellcheck disable=SC2086
  "$te2" $mode "$data/qrels" "$data/run" >"$tmp/te2.out"
  if cmp -s "$tmp/te.out" "$tmp/sc.out"; then r="identical ($(wc -l <"$tmp/sc.out") lines)"; else
    r="DIFFERENT: $( (diff "$tmp/te.out" "$tmp/sc.out" || true) | grep -c '^[<>]') lines differ"; fi
  if ! cmp -s "$tmp/te.out" "$tmp/te2.out"; then
    diff "$tmp/te.out" "$tmp/te2.out" | grep '^<' >"$tmp/o2" || true
    r="$r; trec_eval -O2 differs from its shipped build in $(wc -l <"$tmp/o2") lines ($(cut -f1 "$tmp/o2" | sort -u | tr -s ' <\n' ' '))"
  fi
  echo "| \`score ${mode:-(default)}\` | $r |" >>"$tmp/agree"
done

hyperfine --style basic --warmup 1 --runs "$runs" --export-json "$tmp/h.json" \
  -n "trec_eval (default)" "$te $data/qrels $data/run" \
  -n "trec_eval -O2 (default)" "$te2 $data/qrels $data/run" \
  -n "score (default)" "$score $data/qrels $data/run" \
  -n "trec_eval -m all_trec" "$te -m all_trec $data/qrels $data/run" \
  -n "trec_eval -O2 -m all_trec" "$te2 -m all_trec $data/qrels $data/run" \
  -n "score -m all_trec" "$score -m all_trec $data/qrels $data/run" \
  -n "trec_eval -q -m all_trec" "$te -q -m all_trec $data/qrels $data/run" \
  -n "trec_eval -O2 -q -m all_trec" "$te2 -q -m all_trec $data/qrels $data/run" \
  -n "score -q -m all_trec" "$score -q -m all_trec $data/qrels $data/run" >&2

python3 - "$tmp/h.json" "$out" "$nlines" "$runs" "$n" "$same" "$nquick" "$quick_same" "$diffs" "$cflags" "$peer" "$tmp/agree" "$refused" "$tmp/rand" "$tmp/rand-compat" <<'EOF'
import json, os, sys, datetime
h, out, lines, runs, n, same, nquick, quick_same, diffs, cflags, peer, agreef, refused, rand, randc = sys.argv[1:]
def summary(path):
    text = open(path).read().strip().splitlines()
    return "`" + text[-1] + "`" + ("".join("\n  - " + l for l in text[:-1][:10]))
agree = open(agreef).read()
res = {r["command"]: r for r in json.load(open(h))["results"]}
def cpu(r): return r["user"] + r["system"]
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
load = " ".join(open("/proc/loadavg").read().split()[:3])
rows, ratios = [], []
for mode in ("(default)", "-m all_trec", "-q -m all_trec"):
    t, t2, s = res[f"trec_eval {mode}"], res[f"trec_eval -O2 {mode}"], res[f"score {mode}"]
    for name, r in ((f"trec_eval {mode}", t), (f"trec_eval -O2 {mode}", t2), (f"score {mode}", s)):
        rows.append(f"| {name} | {r['mean']:.3f} ± {r['stddev'] or 0:.3f} | {cpu(r):.3f} |")
    ratios.append(f"| {mode} | **{t['mean'] / s['mean']:.1f}x** | {cpu(t) / cpu(s):.1f}x | {t2['mean'] / s['mean']:.1f}x | {cpu(t2) / cpu(s):.1f}x |")
difftab = open(diffs).read()
md = f"""# score benchmark: against trec_eval 10

- Date: {datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC')}
- Machine: {os.cpu_count()} cores, {model}; load average {load} when measured
  (other jobs share the machine: wall times are inflated, CPU times are steadier)
- Command: `bench/score.sh --runs {runs}` (hyperfine, {runs} runs after 1 warm-up, all in one run)
- Peer: trec_eval 10.0-rc3 from `{peer}`, built here twice: with its own
  Makefile (`{cflags}`: no optimisation, as shipped) and with `-O2`.

## trec_eval's test folder

Every input file of trec_eval's `test/` folder, through trec_eval (shipped
build) and score: its quicktest ({nquick} lines), then every judgement file
x every results file x 7 option sets (qrels, -c, -c -J -M 50, -l 2,
-R qrels_prefs, -R qrels_jg, -Z), the prefs files x 3 results x 3 option
sets, and 35 lines of option edge cases. A line agrees when both print the
same bytes, or both refuse it (score then prints nothing).

**{same} of {n} command lines agree** (quicktest: {quick_same} of {nquick}): {int(same) - int(refused)} with
identical output, {refused} refused by both (topics missing from the run,
formats a measure cannot read).
Differences:

| command line (in test/) | status | lines differing | first lines (< trec_eval, > score) |
|---|---|---|---|
{difftab}
The trec_eval faults behind such differences, kept as deliberate differences
(also in `score --help`; the last two do not show among the lines above,
but in the random cases below and with gains given to rbp, `-m rbp.3=5`):
- `dcg`, `ideal_dcg` and `ndcg` share one parameter block in trec_eval
  (m_ndcg.c), so two of them with parameters are freed twice: trec_eval
  aborts before its output is flushed. score gives each its own parameters.
- `rbp`: trec_eval scales the gains with two variables it never
  initialises; whatever the stack holds decides: the build (see the -O2
  rows below), gains given (`rbp.3=5`) and the measure computed just before
  it (`-m all_trec -m yaap`). score starts them at 0, which reproduces every
  rbp value trec_eval ships and every one of the shipped build on all_trec.
- `prefs_avgjg_Rnonrel(_ret)` where a preference level is below 0 (with
  `-R qrels_prefs`, a -1 grade): trec_eval takes as many "non-relevant"
  documents from its last class as there are relevant ones, and that class
  (the -1 one) is smaller: it reads past it. score stops at its end.

## Random inputs

`bench/score_ref.py` (seeded): random judgements in all four formats, random
runs, random options (-q -c -J -M -l, measure sets with parameters), through
trec_eval (shipped build) and score. A case with a topic judged only with
negative grades runs score with --compat (a documented difference otherwise);
rbp lines after yaap and prefs_avgjg_Rnonrel* lines are not compared (the
trec_eval faults above).

- 1000 cases: {summary(rand)}
- 1000 cases with nan, inf, 1e999, 1.5abc among the scores, score --compat: {summary(randc)}

## One million lines

Data: `bench/gen-score-run.py`: {lines} run lines (1000 topics x 1000
documents, scores with 17 significant digits, 5% ties), 300000 judgements.

| output | agreement with trec_eval (shipped build) |
|---|---|
{agree}
| command | wall s (mean ± sd) | CPU s (user+sys) |
|---|---|---|
""" + "\n".join(rows) + f"""

| measures | trec_eval / score, wall | CPU | trec_eval -O2 / score, wall | CPU |
|---|---|---|---|---|
""" + "\n".join(ratios) + "\n"
open(out, "w").write(md)
print(md)
EOF
