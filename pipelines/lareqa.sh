#!/usr/bin/env bash
# lareqa.sh SYSTEM: LAReQA on XQuAD-R, as XTREME-R scores it: every question
# of the 11 languages against one pool of the 13,014 candidate sentences of
# all of them; relevant = the sentence holding the answer in each language;
# xtreme_map.20 (mAP@20: precision at each relevant hit in the top 20, over
# min(relevant, 20)), mean over all questions and per question language.
#
# A candidate is its sentence followed by its paragraph (LAREQA_CONTEXT=1, as
# XTREME-R encodes the answer sentence with its context; 0: the sentence
# alone). Systems:
#   bm25       BM25 over multilingual BERT's word pieces (the question as it is)
#   dict-bm25  the question translated word by word into English with its
#              language's dictionary first
#   lex        the teacher (soft BM25 over its static vectors)
#   others     the multilingual student WORK/models/mul/SYSTEM (student.sh mul)
#              encodes questions and candidates; soft BM25 (rank --mode
#              soft-bm25, --match-threshold LAREQA_TAU)
# Conditions (LAREQA_CONDITIONS): clean, typoR on the questions.
# With LAREQA_CONTEXT=1 the clean questions are also run against the
# sentences alone (task lareqa-sent), to show what the paragraph changes.
# Output: WORK/eval/lareqa/SYSTEM/COND.run.zst, scores.tsv (rows as eval.sh's;
# lang "all" or the question language).
. "$(dirname "$0")/lib.sh"
S=${1:?usage: lareqa.sh SYSTEM}
stage_begin "lareqa-$S" mul
need tokenize embed rank score perturb
T=$(teacher_dir)
Q=$WORK/data/lareqa
O=$WORK/eval/lareqa/$S
case $S in
  bm25 | dict-bm25) M= kind=tokens V=$MBERT_VOCAB ;;
  lex) M=$T kind=vectors V=$T ;;
  *) M=$WORK/models/mul/$S kind=vectors V=$M ;;
esac
out=$O/scores.tsv
p=$(stamp "lareqa-$S" "conds=$LAREQA_CONDITIONS context=$LAREQA_CONTEXT tau=$LAREQA_TAU seed=$SEED")
ins=("$Q/questions.tsv" "$Q/candidates.tsv" "$Q/context.tsv" "$Q/qrels" "$p" "$0")
[ -n "$M" ] && ins+=("$M")
skip_if_fresh "$out" -- "${ins[@]}" && exit 0
mkdir -p "$O"

# candidates: ID<TAB>sentence [paragraph]
candidates() {
  if [ "$LAREQA_CONTEXT" = 1 ]; then
    paste "$Q/candidates.tsv" "$Q/context.tsv" | awk -F'\t' '$1 != $4 { exit 1 } { print $1 "\t" $3 " " $6 }' ||
      fail "$Q/candidates.tsv and context.tsv are not line-aligned"
  else
    cut -f1,3 "$Q/candidates.tsv"
  fi
}
# questions COND: ID<TAB>question after the condition (and dict's translation)
questions() {
  cut -f1,3 "$Q/questions.tsv" |
    case $1 in
      clean) cat ;;
      typo*) perturb --typo "${1#typo}" --seed "$SEED" ;;
      *) fail "unknown LAReQA condition '$1' (known: clean typoR)" ;;
    esac | if [ "$S" = dict-bm25 ]; then translate_questions; else cat; fi
}
# translate_questions: each language's questions through its dictionary
translate_questions() {
  local t x
  t=$(tmp "$O/q")
  mkdir -p "$t"
  awk -F'\t' -v d="$t" '{ split($1, k, ":"); print > (d "/" k[1] ".tsv") }'
  for f in "$t"/*.tsv; do
    x=$(langs_iso "$(basename "$f" .tsv)")
    if [ -n "$x" ] && [ -f "$WORK/data/dict/$x.tsv" ]; then
      perturb --dict "$WORK/data/dict/$x.tsv" --switch 1 --seed "$SEED" < "$f"
    else
      cat "$f"
    fi
  done
  rm -rf "$t"
}
# encode: tokens (bm25 systems) or vectors of the system's model
encode() {
  local v
  mapfile -t v < <(voc "$V")
  if [ $kind = tokens ]; then tokenize "${v[@]}" --max-len "$1"; else tokenize "${v[@]}" --max-len "$1" | f_embed "$M"; fi
}
search() {
  if [ $kind = tokens ]; then f_rank "$1" --mode bm25 -k 20; else f_rank "$1" --mode soft-bm25 $(skip_specials) --match-threshold "$LAREQA_TAU" -k 20; fi
}

docs=$(tmp "$O/candidates.rec") # uncompressed: rank maps it as it is
candidates | encode 4096 > "$docs"
scores=$(tmp "$out")
: > "$scores"
for cond in $LAREQA_CONDITIONS; do
  run=$(tmp "$O/$cond.run.zst")
  questions "$cond" | encode "$EVAL_MAX_LEN" | search "$docs" | zst > "$run"
  score -c --qrels "$Q/qrels" -m xtreme_map.20 "$run" | score_rows "lareqa\tall\tall\t$S\t$cond\tq2c" >> "$scores"
  score -c --qrels "$Q/qrels" -q -m xtreme_map.20 "$run" | per_language_means "lareqa\t%s\tall\t$S\t$cond\tq2c\txtreme_map.20" >> "$scores"
  publish "$O/$cond.run.zst"
  say "$cond: mAP@20 $(awk -F'\t' -v c="$cond" '$2 == "all" && $5 == c { print $8 }' "$scores")"
done
# the same clean questions against candidates without their paragraph
# (task lareqa-sent): what the paragraph adds or takes away
if [ "$LAREQA_CONTEXT" = 1 ]; then
  LAREQA_CONTEXT=0 candidates | encode 4096 > "$docs"
  run=$(tmp "$O/clean.sentence.run.zst")
  questions clean | encode "$EVAL_MAX_LEN" | search "$docs" | zst > "$run"
  score -c --qrels "$Q/qrels" -m xtreme_map.20 "$run" | score_rows "lareqa-sent\tall\tall\t$S\tclean\tq2c" >> "$scores"
  publish "$O/clean.sentence.run.zst"
fi
rm -f "$docs"
publish "$out"
