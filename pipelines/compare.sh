#!/usr/bin/env bash
# compare.sh LANG: is the adversarial system better than plain OT? For each
# pair B:A of COMPARE (both in SYSTEMS) and each condition both have, the
# per-query X->E runs go through `score --compare` (paired t-test and paired
# randomization test, seeded, on acc.1 per query).
# Output: WORK/eval/LANG/compare.tsv:
#   lang condition A B mean_A mean_B p_t p_randomization
. "$(dirname "$0")/lib.sh"
L=${1:?usage: compare.sh LANG}
stage_begin compare "$L"
need score
E=$WORK/eval/$L
out=$E/compare.tsv
ins=()
pairs=()
for ba in $COMPARE; do
  B=${ba%%:*} A=${ba#*:}
  [[ " $SYSTEMS " == *" $A "* && " $SYSTEMS " == *" $B "* ]] || continue
  pairs+=("$B:$A")
  ins+=("$E/$A/scores.tsv" "$E/$B/scores.tsv")
done
ins+=("$0")
skip_if_fresh "$out" -- "${ins[@]}" && exit 0
res=$(tmp "$out")
: > "$res"
for ba in "${pairs[@]}"; do
  B=${ba%%:*} A=${ba#*:}
  for cond in $CONDITIONS; do
    ra=$E/$A/$cond.x2e.run.zst rb=$E/$B/$cond.x2e.run.zst
    [ -f "$ra" ] && [ -f "$rb" ] || continue
    score -c --qrels "$WORK/data/tatoeba/$L.x2e.qrels" -m acc.1 --seed "$SEED" "$ra" --compare "$rb" |
      score_compare_row "$L" "$cond" "$A" "$B" >> "$res"
  done
done
publish "$out"
