#!/usr/bin/env bash
# dev.sh LANG SYSTEM: the development score of one student, for the ablation:
# accuracy@1 of X->E retrieval among LANG's held-out dev pairs
# (WORK/lang/LANG/dev.tsv, never trained on), with the Tatoeba retrieval
# (RANK_MODE, CSLS k=CSLS; the X side by the student, English by the teacher),
# for the clean X side and with typos at rate 0.3 (perturb --typo 0.3, as
# the evaluation's typo0.3).
# Output: WORK/dev/LANG/SYSTEM.tsv: lang group system condition measure value
. "$(dirname "$0")/lib.sh"
L=${1:?usage: dev.sh LANG SYSTEM}
S=${2:?usage: dev.sh LANG SYSTEM}
stage_begin "dev-$S" "$L"
need tokenize embed rank score perturb
T=$(teacher_dir)
M=$WORK/models/$L/$S
dev=$WORK/lang/$L/dev.tsv
out=$WORK/dev/$L/$S.tsv
skip_if_fresh "$out" -- "$dev" "$M" "$0" && exit 0
mkdir -p "$WORK/dev/$L"
e=$(tmp "$WORK/dev/$L/$S.e.rec")
awk -F'\t' '{ print "e:" $1 "\t" $3 }' "$dev" | f_tok_eval "$T" | f_embed "$T" > "$e"
: > "$(tmp "$out")"
for cond in clean typo0.3; do
  awk -F'\t' '{ print "x:" $1 "\t" $2 }' "$dev" |
    if [ $cond = clean ]; then cat; else perturb --typo "${cond#typo}" --seed "$SEED"; fi |
    f_tok_eval "$M" | f_embed "$M" |
    f_rank "$e" $(skip_specials) --mode "$RANK_MODE" --csls "$CSLS" -k 1 |
    score -c --qrels <(awk -F'\t' '{ print "x:" $1 " 0 e:" $1 " 1" }' "$dev") -m acc.1 |
    score_rows "$L\t$(langs_field "$L" group)\t$S\t$cond" >> "$(tmp "$out")"
done
rm -f "$e"
publish "$out"
say "dev acc@1 clean / typo0.3: $(cut -f6 "$out" | paste -sd/) ($(wc -l < "$dev") pairs)"
