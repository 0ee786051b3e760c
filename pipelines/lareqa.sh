#!/usr/bin/env bash
# lareqa.sh SYSTEM: LAReQA on XQuAD-R, as XTREME-R scores it: every question
# of the 11 languages against one pool of the 13,014 candidate sentences of
# all of them; relevant = the sentence holding the answer in each language;
# xtreme_map.20 (mAP@20: precision at each relevant hit in the top 20, over
# min(relevant, 20)), mean over all questions, and per question language.
# One multilingual student (WORK/models/mul/SYSTEM, see student.sh mul)
# encodes every question and candidate; lex uses the teacher. Sentences are
# mean-pooled over their word pieces and unit-normalised; the search is dense
# cosine with CSLS (k=CSLS) against hubness (maxsim over 13,090 x 13,014 token
# sets does not fit the budget).
# Conditions (LAREQA_CONDITIONS): clean, typoR on the questions only.
# Output: WORK/eval/lareqa/SYSTEM/COND.run.zst, scores.tsv (as eval.sh's,
# the language column "all" or the question language).
. "$(dirname "$0")/lib.sh"
S=${1:?usage: lareqa.sh SYSTEM}
stage_begin "lareqa-$S" mul
need tokenize embed rank score perturb
T=$(teacher_dir)
case $S in
  lex) M=$T ;;
  *) M=$WORK/models/mul/$S ;;
esac
Q=$WORK/data/lareqa
O=$WORK/eval/lareqa/$S
out=$O/scores.tsv
p=$(stamp "lareqa-$S" "conds=$LAREQA_CONDITIONS seed=$SEED")
skip_if_fresh "$out" -- "$Q/questions.tsv" "$Q/candidates.tsv" "$Q/qrels" "$M" "$p" "$0" && exit 0
mkdir -p "$O"
cv=$(tmp "$O/candidates.vec")   # uncompressed: rank maps it as it is
cut -f1,3 "$Q/candidates.tsv" | f_tok "$M/vocab.txt" | f_embed "$M" --pool mean --normalize > "$cv"
scores=$(tmp "$out")
: > "$scores"
for cond in $LAREQA_CONDITIONS; do
  run=$(tmp "$O/$cond.run.zst")
  cut -f1,3 "$Q/questions.tsv" |
    case $cond in
      clean) cat ;;
      typo*) perturb --typo "${cond#typo}" --seed "$SEED" ;;
      *) fail "unknown LAReQA condition '$cond' (known: clean typoR)" ;;
    esac | f_tok "$M/vocab.txt" | f_embed "$M" --pool mean --normalize |
    f_rank "$cv" --mode dense --csls "$CSLS" -k 20 | zst > "$run"
  score -c --qrels "$Q/qrels" -m xtreme_map.20 "$run" |
    score_rows "lareqa\tall\tall\t$S\t$cond\tq2c" >> "$scores"
  score -c --qrels "$Q/qrels" -q -m xtreme_map.20 "$run" |
    awk -F'\t' -v s="$S" -v c="$cond" '$2 != "all" { split($2, q, ":"); sum[q[1]] += $3; n[q[1]]++ }
      END { for (l in sum) printf "lareqa\t%s\tall\t%s\t%s\tq2c\txtreme_map.20\t%.4f\n", l, s, c, sum[l] / n[l] }' |
    sort >> "$scores"
  publish "$O/$cond.run.zst"
  say "$cond: mAP@20 $(awk -F'\t' -v c="$cond" '$2 == "all" && $5 == c { print $8 }' "$scores")"
done
rm -f "$cv"
publish "$out"
