#!/usr/bin/env bash
# compare.sh LANG | pooled: is system B better than A? For each pair B:A of
# COMPARE (both in SYSTEMS) and each condition both have, the X->E runs go
# through `score --compare` (paired t-test and paired randomization test,
# seeded, on acc.1 per query): per language (LANG), or with every query of
# a resource group's languages pooled into one test (pooled: the groups low
# and high of LANGS).
# Output: WORK/eval/LANG/compare.tsv or WORK/eval/compare.pooled.tsv:
#   lang-or-group condition A B mean_A mean_B p_t p_randomization
. "$(dirname "$0")/lib.sh"
L=${1:?usage: compare.sh LANG|pooled}
stage_begin compare "$L"
need score rec
if [ "$L" = pooled ]; then
  pooled=1 out=$WORK/eval/compare.pooled.tsv
  read -r -a langs <<< "$LANGS"
else
  pooled=0 out=$WORK/eval/$L/compare.tsv langs=("$L")
fi
E=$WORK/eval/$L
ins=()
pairs=()
for ba in $COMPARE; do
  B=${ba%%:*} A=${ba#*:}
  [[ " $SYSTEMS " == *" $A "* && " $SYSTEMS " == *" $B "* ]] || continue
  pairs+=("$B:$A")
  for x in "${langs[@]}"; do ins+=("$WORK/eval/$x/$A/scores.tsv" "$WORK/eval/$x/$B/scores.tsv"); done
done
ins+=("$0")
skip_if_fresh "$out" -- "${ins[@]}" && exit 0
res=$(tmp "$out")
: > "$res"
# compare LABEL COND A B LANG...: one paired test over the LANGs' queries
# (the languages where both runs exist)
compare() {
  local label=$1 cond=$2 a=$3 b=$4 x ra=() rb=() q=()
  shift 4
  for x in "$@"; do
    [ -f "$WORK/eval/$x/$a/$cond.x2e.run.zst" ] && [ -f "$WORK/eval/$x/$b/$cond.x2e.run.zst" ] || continue
    ra+=("$WORK/eval/$x/$a/$cond.x2e.run.zst") rb+=("$WORK/eval/$x/$b/$cond.x2e.run.zst")
    q+=("$WORK/data/tatoeba/$x.x2e.qrels")
  done
  [ ${#ra[@]} -gt 0 ] || return 0
  score -c --qrels <(cat "${q[@]}") -m acc.1 --seed "$SEED" <(rec cat "${ra[@]}") --compare <(rec cat "${rb[@]}") |
    score_compare_row "$label" "$cond" "$a" "$b" >> "$res"
}
for ba in "${pairs[@]}"; do
  B=${ba%%:*} A=${ba#*:}
  for cond in $CONDITIONS; do
    if [ $pooled = 0 ]; then compare "$L" "$cond" "$A" "$B" "$L"; continue; fi
    for grp in low high; do
      members=()
      for x in "${langs[@]}"; do [ "$(langs_field "$x" group)" = $grp ] && members+=("$x"); done
      [ ${#members[@]} -gt 0 ] && compare "$grp" "$cond" "$A" "$B" "${members[@]}"
    done
  done
done
publish "$out"
