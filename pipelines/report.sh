#!/usr/bin/env bash
# report.sh [WALL [CPU]]: results/results.tsv, results/results.md and the
# plots, from every scores.tsv under WORK/eval (WALL, CPU: the run's wall and
# CPU seconds, for the header). Each table is a small awk script in
# pipelines/tables/ (what it computes is in its header); this script only
# gathers their inputs and puts the sections in order.
#   results.tsv   task lang group system condition direction measure value
#   tatoeba.{png,svg}          clean accuracy@1 per language and system, 95% CIs
#   robustness-{typo,pgd}.{png,svg}   group means against noise strength, 95% CIs
. "$(dirname "$0")/lib.sh"
stage_begin report
wall=${1:-} cpu=${2:-}
R=$RESULTS TAB=$PIPE/tables
mkdir -p "$R"
scores=()
for L in $LANGS; do for S in $SYSTEMS; do scores+=("$WORK/eval/$L/$S/scores.tsv"); done; done
for S in bm25 lex; do scores+=("$WORK/eval/ir/$S/scores.tsv"); done
[ "$LAREQA" = 1 ] && for S in $LAREQA_SYSTEMS; do scores+=("$WORK/eval/lareqa/$S/scores.tsv"); done
present=()
for f in "${scores[@]}"; do [ -f "$f" ] && present+=("$f"); done
[ ${#present[@]} -gt 0 ] || fail "no scores found under $WORK/eval (has the eval stage run?)"
cmp=$WORK/eval/compare.all.tsv
cat "$WORK"/eval/*/compare.tsv "$WORK/eval/compare.pooled.tsv" 2>/dev/null > "$cmp" || true
ins=("$0" "$TAB"/*.awk "$PIPE/plot-bars.gp" "$PIPE/plot-curves.gp" "${present[@]}" "$cmp")
skip_if_fresh "$R/results.md" "$R/results.tsv" -- "${ins[@]}" && exit 0

T=$R/results.tsv
{ printf 'task\tlang\tgroup\tsystem\tcondition\tdirection\tmeasure\tvalue\n'; cat "${present[@]}"; } > "$(tmp "$T")"
publish "$T"
table() { local t=$1; shift; gawk -f "$TAB/$t.awk" "$@"; }

# truncated: test sentences longer than EVAL_MAX_LEN multilingual BERT pieces
# (they would be cut), per test set
truncated() {
  local f n total=0 cut=0
  for f in "$WORK"/data/tatoeba/*.tsv "$WORK/data/lareqa/questions.tsv"; do
    [ -f "$f" ] || continue
    n=$(cut -f1,"$([ "${f##*/}" = questions.tsv ] && echo 3 || echo 2)" "$f" | tokenize --vocab "$MBERT_VOCAB" | rec dump |
      gawk -v m="$EVAL_MAX_LEN" '{ match($0, /"ids":\[[^]]*\]/); s = substr($0, RSTART, RLENGTH); if (gsub(/,/, ",", s) + 1 > m) c++ } END { print NR, c + 0 }')
    total=$((total + ${n% *})) cut=$((cut + ${n#* }))
  done
  echo "$cut of $total test sentences and questions are longer"
}

# lines FILE: its lines (zstd or not), 0 if it does not exist
lines() { if [ -f "$1" ]; then case $1 in *.zst) unzst "$1" | wc -l ;; *) wc -l < "$1" ;; esac; else echo 0; fi; }

# data_table: bitext, samples, epochs, training seconds and Sinkhorn problems at the cap
data_table() {
  local L S st sys=()
  for S in $SYSTEMS; do case $S in bm25 | dict-bm25 | lex | dict) ;; *) sys+=("$S") ;; esac; done
  printf '| language | group | bitext pairs | dropped: eval sentence | duplicates | dev | train pairs |'
  for S in "${sys[@]}"; do printf ' %s: s (capped) |' "$S"; done
  printf '\n|---|---|---|---|---|---|---|'
  for S in "${sys[@]}"; do printf -- '---|'; done
  printf '\n'
  for L in $LANGS $([ "$LAREQA" = 1 ] && echo mul); do
    st=$WORK/data/bitext/$L.stats
    if [ "$L" = mul ]; then printf '| mul (LAReQA) | | | | |'
    else
      [ -f "$st" ] || continue
      printf '| %s | %s |' "$L" "$(langs_field "$L" group)"
      awk -F'\t' '$1 == "total" { printf " %d | %d | %d |", $2, $4 + $5, $6 }' "$st"
    fi
    printf ' %s | %s |' "$(lines "$WORK/lang/$L/dev.tsv")" "$(lines "$WORK/lang/$L/train.tsv.zst")"
    for S in "${sys[@]}"; do
      if [ -f "$WORK/models/$L/$S.seconds" ]; then
        printf ' %s (%s) |' "$(cat "$WORK/models/$L/$S.seconds")" \
          "$(for f in "$WORK/models/$L/$S".*log.zst; do unzst "$f" | rec dump; done | gawk 'match($0, /"ot_unconverged":[0-9]+/) { s += substr($0, RSTART + 17, RLENGTH - 17) } END { print s + 0 }')"
      else printf ' |'; fi
    done
    printf '\n'
  done
}

# plots: per-query acc.1 of every X->E run, bootstrapped into 95% CIs; the
# images are published here, their section goes to stdout
plots() {
  command -v gnuplot > /dev/null || { say "gnuplot not installed: no plots (scripts/setup installs gnuplot-nox)"; return 0; }
  local pd=$WORK/plot L S c run g
  mkdir -p "$pd"
  for L in $LANGS; do
    g=$(langs_field "$L" group)
    for S in $SYSTEMS; do for run in "$WORK/eval/$L/$S/"*.x2e.run.zst; do
      [ -f "$run" ] || continue
      c=$(basename "$run" .x2e.run.zst)
      score -c -q -m acc.1 --qrels "$WORK/data/tatoeba/$L.x2e.qrels" "$run" |
        awk -v L="$L" -v S="$S" -v c="$c" -v g="$g" 'BEGIN { OFS = "\t" } $2 != "all" { print L, g, S, c, $3 }'
    done; done
  done > "$pd/perquery.tsv"
  # bars: one key per (language, system), clean; curves: (group, system, strength)
  awk -F'\t' -v OFS='\t' '$4 == "clean" { print $1 SUBSEP $3, $1, $5 }' "$pd/perquery.tsv" | gawk -f "$TAB/bootstrap.awk" -v seed="$SEED" > "$pd/bars.ci"
  awk -F'\t' -v OFS='\t' '{ c = $4; if (c == "clean") { k = "typo"; x = 0; print $2 SUBSEP "pgd" SUBSEP $3 SUBSEP 0, $1, $5 } else if (c ~ /^typo/) { k = "typo"; x = substr(c, 5) } else if (c ~ /^pgd/) { k = "pgd"; x = substr(c, 4) } else next
    print $2 SUBSEP k SUBSEP $3 SUBSEP x, $1, $5 }' "$pd/perquery.tsv" | gawk -f "$TAB/bootstrap.awk" -v seed="$SEED" > "$pd/curves.ci"
  gawk -f "$TAB/plotdata.awk" -v systems="$SYSTEMS" -v langs="$LANGS" -v out="$pd" "$pd/bars.ci" "$pd/curves.ci"
  local png="pngcairo size 1200,560 font ',10'" term fmt kind xlab ns
  gnuplot -e 'set terminal' 2>&1 | grep -q pngcairo || png="png size 1200,560"
  ns=$(wc -w <<< "$SYSTEMS")
  for fmt in png svg; do
    term=$png
    [ $fmt = svg ] && term="svg size 1200,560 font 'sans,10'"
    gnuplot -e "set terminal $term" -e "set output '$(tmp "$R/tatoeba.$fmt")'" -e "ns=$ns" -e "infile='$pd/bars.tsv'" "$PIPE/plot-bars.gp"
    for kind in typo pgd; do
      xlab='typo rate per word'
      [ $kind = pgd ] && xlab='PGD radius per token (x median embedding norm)'
      gnuplot -e "set terminal $term" -e "set output '$(tmp "$R/robustness-$kind.$fmt")'" -e "xlab='$xlab'" \
        -e "low='$pd/$kind-low.tsv'" -e "high='$pd/$kind-high.tsv'" \
        -e "nlow=$(($(wc -l < "$pd/$kind-low.tsv") - 1))" -e "nhigh=$(($(wc -l < "$pd/$kind-high.tsv") - 1))" -e "ns=$(head -1 "$pd/$kind-low.tsv" | awk -F'\t' '{ print (NF - 1) / 3 }')" "$PIPE/plot-curves.gp"
    done
    publish "$R/tatoeba.$fmt" "$R/robustness-typo.$fmt" "$R/robustness-pgd.$fmt"
  done
  {
    echo "## Plots"
    echo
    echo "Error bars: 95% confidence intervals, bootstrap over queries (1,000 replicates; for group means each language's queries are resampled and the language means averaged)."
    echo
    echo "![Tatoeba accuracy@1 per language](tatoeba.svg)"
    echo "![Robustness to typos](robustness-typo.svg)"
    echo "![Robustness to embedding PGD](robustness-pgd.svg)"
  }
}

md=$(tmp "$R/results.md")
{
  echo "# Results"
  echo
  echo "Made by \`pipelines/run\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'))${wall:+: wall time **${wall} s ($(awk -v s="$wall" 'BEGIN { printf "%.1f", s / 60 }') min)**}${cpu:+, CPU time ${cpu} s (user + system of every stage)}."
  echo "Languages: $LANGS. Systems: $SYSTEMS. Conditions: $CONDITIONS."
  echo "Settings: DIM=$DIM, STUDENT_LAYERS=$STUDENT_LAYERS, EPOCHS=$EPOCHS, MIN_EXAMPLES=$MIN_EXAMPLES (cos: $COS_MIN_EXAMPLES), OT_MARGINALS=$OT_MARGINALS, OT_EPS=$OT_EPS, DICT_PAIRS=$DICT_PAIRS, LR=$LR, MAX_PAIRS=$MAX_PAIRS, ADV_EPS=$ADV_EPS, ADV_STEPS=$ADV_STEPS, WORST_K=$WORST_K, WOK_TYPO=$WOK_TYPO, RANK_MODE=$RANK_MODE, CSLS=$CSLS, LAREQA_CONTEXT=$LAREQA_CONTEXT, LAREQA_PAIRS=$LAREQA_PAIRS, SEED=$SEED${TEACHER:+, TEACHER=$TEACHER}${STUDENT_INIT:+, STUDENT_INIT=$STUDENT_INIT}."
  echo
  if [[ " $SYSTEMS " == *" ot "* && "$SYSTEMS" == *ot-* ]]; then
    echo "## The question: does adversarial training make OT distillation robust?"
    echo
    echo "Each adversarial variant against plain ot, Tatoeba accuracy@1 X->E (%), group means over the languages; p: paired randomization test over all the group's queries pooled (score --compare)."
    echo
    table adversarial -v systems="$SYSTEMS" -v cmp="$WORK/eval/compare.pooled.tsv" "$T"
    echo
    [ -f "$R/ablation.md" ] && echo "Recipes tried on the dev pairs (worst-of-K with K 1/4/8, typo rates, the share of pairs made noisy, epochs; FGSM/PGD/FreeLB radii): [ablation.md](ablation.md), section *Adversarial recipes*." && echo
  fi
  if grep -q '^cranfield' "$T"; then
    echo "## The teacher is a retrieval model: English ad hoc retrieval"
    echo
    echo "bm25: BM25 (k1 0.9, b 0.4) over multilingual BERT's word pieces. teacher: the embedded teacher's static token vectors scored by soft BM25 (rank --mode soft-bm25; with static vectors a query piece matches only itself, so this is BM25 over the teacher's pieces). LAReQA-en: the English questions against the English candidates$([ "$LAREQA_CONTEXT" = 1 ] && echo ' (each with its paragraph)'), mAP@20 (= MRR: one relevant each)."
    echo
    table ir "$T"
    echo
  fi
  echo "## Tatoeba accuracy@1 (clean), X->E / E->X"
  echo
  table tatoeba -v systems="$SYSTEMS" -v langs="$LANGS" "$T"
  echo
  echo "bm25: X searched as it is over English with BM25 (multilingual BERT's pieces); dict-bm25 and dict: X translated word by word with the dictionary first (languages with one); lex: the teacher applied to X. 95% confidence intervals of every bar: tatoeba.svg."
  echo
  if [[ " $SYSTEMS " == *" ot "* ]]; then
    echo "### The students against their goals"
    echo
    table goals -v langs="$LANGS" -v cmp="$cmp" "$T"
    echo
  fi
  echo "## Robustness: accuracy@1 X->E, group means per condition"
  echo
  echo "In parentheses the relative change against clean over the same languages (cs needs a dictionary; pgd needs embeddings, so the bm25 systems have none)."
  echo
  table robustness -v systems="$SYSTEMS" -v conds="$CONDITIONS" "$T"
  echo
  if [ -s "$cmp" ]; then
    echo "## Significance (score --compare, acc.1 X->E)"
    echo
    echo "Every query of a group's languages pooled into one paired test (per language: [significance.tsv](significance.tsv), columns lang condition A B mean_A mean_B p_t p_randomization). p: two-sided paired t test and paired randomization test (10,000 sign flips, seeded)."
    echo
    echo "| group | condition | B vs A | A | B | B - A | p (t) | p (randomization) |"
    echo "|---|---|---|---|---|---|---|---|"
    awk -F'\t' '$1 == "low" || $1 == "high" { printf "| %s | %s | %s vs %s | %.1f | %.1f | %+.1f | %s | %s |\n", $1, $2, $4, $3, 100 * $5, 100 * $6, 100 * ($6 - $5), $7, $8 }' "$cmp"
    echo
  fi
  if grep -q '^lareqa	' "$T"; then
    echo "## LAReQA (XQuAD-R), mAP@20"
    echo
    echo "Every question of the 11 languages against the one pool of 13,014 candidates; a candidate is $([ "$LAREQA_CONTEXT" = 1 ] && echo 'its sentence followed by its paragraph' || echo 'its sentence'). Vector systems: soft BM25 (match threshold $LAREQA_TAU) with one multilingual student (student.sh mul). Per question language: clean questions."
    echo
    table lareqa -v systems="$LAREQA_SYSTEMS" -v conds="$LAREQA_CONDITIONS" "$T"
    echo
  fi
  if [ -f "$R/ablation.md" ]; then
    echo "## Ablation"
    echo
    echo "What the defaults were chosen by (held-out dev pairs, no test set): [ablation.md](ablation.md), made by \`pipelines/ablation.sh\`."
    echo
  fi
  echo "## Training data, truncation and cost"
  echo
  echo "Bitext from every folder under bitext/, duplicates removed, every pair with a side in an evaluation set dropped; a seeded sample of at most MAX_PAIRS, minus the held-out dev pairs. Test text is tokenized up to EVAL_MAX_LEN=$EVAL_MAX_LEN pieces: $(truncated). Sinkhorn: problems of the whole training that stopped at the iteration cap (distill-step's ot_unconverged)."
  echo
  data_table
  echo
  plots
} > "$md"
publish "$R/results.md"
if [ -s "$cmp" ]; then cp "$cmp" "$(tmp "$R/significance.tsv")" && publish "$R/significance.tsv"; fi
say "wrote $R/results.md, $R/results.tsv"
