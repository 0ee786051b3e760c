#!/usr/bin/env bash
# ir.sh SYSTEM: English ad hoc retrieval, to show what the teacher is worth
# as a retrieval model before anything is distilled from it.
#   cranfield, cisi   the classic collections (prep-eval.sh): MAP, nDCG@10, P@10
#   lareqa-en         LAReQA restricted to English: the 1,190 English questions
#                     against the English candidates (each with its paragraph,
#                     LAREQA_CONTEXT), relevant = the English answer sentence:
#                     mAP@20 (= MRR here: one relevant each)
# Systems: bm25 (BM25 over multilingual BERT's word pieces) and lex (the
# teacher: soft BM25 over its static token vectors, rank --mode soft-bm25).
# Output: WORK/eval/ir/SYSTEM/scores.tsv rows as eval.sh's (lang en).
. "$(dirname "$0")/lib.sh"
S=${1:?usage: ir.sh SYSTEM}
stage_begin "ir-$S"
need tokenize embed rank score
T=$(teacher_dir)
D=$WORK/data
O=$WORK/eval/ir/$S
case $S in
  bm25) M= ;;
  lex) M=$T ;;
  *) fail "ir.sh: unknown system '$S' (known: bm25 lex)" ;;
esac
out=$O/scores.tsv
p=$(stamp "ir-$S" "context=$LAREQA_CONTEXT")
ins=("$D/ir/cranfield/docs.tsv" "$D/ir/cisi/docs.tsv" "$D/lareqa/qrels" "$p" "$0")
[ -n "$M" ] && ins+=("$M")
skip_if_fresh "$out" -- "${ins[@]}" && exit 0
mkdir -p "$O"

# encode MAXLEN < ID<TAB>text: bm25's tokens or the teacher's vectors
encode() {
  if [ -z "$M" ]; then tokenize --vocab "$MBERT_VOCAB" --max-len "$1"; else tokenize --model "$M" --max-len "$1" | f_embed "$M"; fi
}
search() {
  if [ -z "$M" ]; then f_rank "$1" --mode bm25 -k "$2"; else f_rank "$1" --mode soft-bm25 $(skip_specials) -k "$2"; fi
}
# english_lareqa: the English candidates (with their paragraph) and questions
english_candidates() {
  paste "$D/lareqa/candidates.tsv" "$D/lareqa/context.tsv" |
    awk -F'\t' -v ctx="$LAREQA_CONTEXT" '$2 == "en" { print $1 "\t" $3 (ctx == 1 ? " " $6 : "") }'
}

scores=$(tmp "$out")
: > "$scores"
docs=$(tmp "$O/docs.rec")
for c in cranfield cisi; do
  encode 4096 < "$D/ir/$c/docs.tsv" > "$docs"
  encode 4096 < "$D/ir/$c/queries.tsv" | search "$docs" 1000 | zst > "$(tmp "$O/$c.run.zst")"
  score -c --qrels "$D/ir/$c/qrels" -m map -m ndcg_cut.10 -m P.10 "$(tmp "$O/$c.run.zst")" |
    score_rows "$c\ten\ten\t$S\tclean\tq2d" >> "$scores"
  publish "$O/$c.run.zst"
done
english_candidates | encode 4096 > "$docs"
awk -F'\t' '$2 == "en" { print $1 "\t" $3 }' "$D/lareqa/questions.tsv" | encode "$EVAL_MAX_LEN" | search "$docs" 20 |
  zst > "$(tmp "$O/lareqa-en.run.zst")"
score -c --qrels <(awk '$1 ~ /^en:/ && $3 ~ /^en:/' "$D/lareqa/qrels") -m xtreme_map.20 -m recip_rank "$(tmp "$O/lareqa-en.run.zst")" |
  score_rows "lareqa-en\ten\ten\t$S\tclean\tq2c" >> "$scores"
publish "$O/lareqa-en.run.zst"
rm -f "$docs"
publish "$out"
say "$(awk -F'\t' '$7 == "map" || $7 == "xtreme_map.20" { printf "%s %s %s  ", $1, $7, $8 }' "$out")"
