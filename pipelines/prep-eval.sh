#!/usr/bin/env bash
# prep-eval.sh LANG...: the evaluation sets, from the mirror.
#
# Tatoeba (per LANG, from tatoeba/tatoeba.LANG-eng.{LANG,eng}; line i of one
# side translates line i of the other):
#   WORK/data/tatoeba/LANG.x.tsv    LANG.x.I<TAB>sentence in LANG
#   WORK/data/tatoeba/LANG.e.tsv    LANG.e.I<TAB>English sentence
#   WORK/data/tatoeba/LANG.x2e.qrels, LANG.e2x.qrels   TREC qrels: the only
#       relevant document of query line I is line I of the other side, as
#       XTREME computes accuracy@1 (an identical duplicate sentence on another
#       line counts as a miss there too).
# LAReQA on XQuAD-R, as XTREME-R defines it (WORK/data/lareqa/):
#   questions.tsv   LL:QID<TAB>LL<TAB>question, every question of every language
#   candidates.tsv  LL:A.P.S<TAB>LL<TAB>sentence: sentence S of paragraph P of
#                   article A, all 11 languages in ONE pool (13,014 sentences)
#   qrels           question LL:QID is answered by the sentence containing its
#                   answer (the last sentence whose break starts at or before
#                   answer_start) in every one of the 11 languages (same QID)
#   groups          qid<TAB>language, for score --groups
#   context.tsv     LL:A.P.S<TAB>LL<TAB>the sentence's paragraph (XTREME-R
#                   encodes each candidate together with its paragraph)
# English ad hoc retrieval (WORK/data/ir/{cranfield,cisi}/): docs.tsv and
#   queries.tsv (ID<TAB>text: Cranfield's .W, CISI's .T and .W; Cranfield's
#   queries numbered 1..225 in file order, as its judgements number them)
#   and qrels (Cranfield: grades 1-4 -> relevance 4-1, "-1" lines dropped;
#   CISI: every listed pair relevant).
# Exclusion keys: WORK/data/eval-keys.txt, every sentence of every evaluation
#   set (all 112 Tatoeba files, both sides; XQuAD-R sentences and questions of
#   all languages), whitespace-normalised, for prep-bitext.sh.
. "$(dirname "$0")/lib.sh"
stage_begin prep-eval

D=$WORK/data
TAT=$OTCLIR_DATA/tatoeba
XQ=$OTCLIR_DATA/xquad-r
[ -d "$TAT" ] || fail "no Tatoeba folder at $TAT (set OTCLIR_SHARED or OTCLIR_DATA)"
TEST_CAP=${TEST_CAP:-0}
cap=$(stamp prep-eval.cap "$TEST_CAP")

# ---- Tatoeba, per language
for L in "$@"; do
  LANG_ID=$L
  x=$TAT/tatoeba.$L-eng.$L e=$TAT/tatoeba.$L-eng.eng
  [ -f "$x" ] && [ -f "$e" ] || fail "no Tatoeba test files $x / $e"
  o=$D/tatoeba/$L
  skip_if_fresh "$o.x.tsv" "$o.e.tsv" "$o.x2e.qrels" "$o.e2x.qrels" -- "$x" "$e" "$cap" "$0" && continue
  nx=$(wc -l < "$x") ne=$(wc -l < "$e")
  [ "$nx" -eq "$ne" ] || fail "$x has $nx lines, $e has $ne: not line-aligned"
  n=$nx
  [ "$TEST_CAP" -gt 0 ] && [ "$TEST_CAP" -lt "$n" ] && n=$TEST_CAP
  head -n "$n" "$x" | tr -d '\r' | awk -v p="$L.x." '{ gsub(/\t/, " "); print p (NR - 1) "\t" $0 }' > "$(tmp "$o.x.tsv")"
  head -n "$n" "$e" | tr -d '\r' | awk -v p="$L.e." '{ gsub(/\t/, " "); print p (NR - 1) "\t" $0 }' > "$(tmp "$o.e.tsv")"
  awk -v L="$L" -v n="$n" 'BEGIN { for (i = 0; i < n; i++) print L ".x." i " 0 " L ".e." i " 1" }' > "$(tmp "$o.x2e.qrels")"
  awk -v L="$L" -v n="$n" 'BEGIN { for (i = 0; i < n; i++) print L ".e." i " 0 " L ".x." i " 1" }' > "$(tmp "$o.e2x.qrels")"
  publish "$o.x.tsv" "$o.e.tsv" "$o.x2e.qrels" "$o.e2x.qrels"
  say "tatoeba: $n pairs"
done
LANG_ID=

# ---- LAReQA (XQuAD-R)
Q=$D/lareqa
xq_files=("$XQ"/*.json)
[ -f "${xq_files[0]}" ] || fail "no XQuAD-R files in $XQ"
if ! skip_if_fresh "$Q/questions.tsv" "$Q/candidates.tsv" "$Q/context.tsv" "$Q/qrels" "$Q/groups" -- "${xq_files[@]}" "$0"; then
  mkdir -p "$Q"
  raw=$(tmp "$Q/raw.tsv")
  for f in "${xq_files[@]}"; do
    # C: candidate sentence; Q: question; A: the sentence holding its answer
    jq -r --arg L "$(basename "$f" .json)" '
      .data | to_entries[] | .key as $a | .value.paragraphs | to_entries[] | .key as $p | .value as $para
      | ( $para.sentences | to_entries[] | ["C", "\($L):\($a).\($p).\(.key)", $L, .value, ($para.context | gsub("[\\t\\n\\r]+"; " "))] ),
        ( $para.qas[] | . as $q | $q.answers[0].answer_start as $s
          | ([ $para.sentence_breaks | to_entries[] | select(.value[0] <= $s) | .key ] | last) as $i
          | if $i == null then error("question \($q.id): answer_start \($s) before the first sentence") else . end
          | ["Q", "\($L):\($q.id)", $L, $q.question],
            ["A", $q.id, $L, "\($L):\($a).\($p).\($i)"] )
      | @tsv' "$f"
  done > "$raw"
  awk -F'\t' '$1 == "C" { print $2 "\t" $3 "\t" $4 }' "$raw" > "$(tmp "$Q/candidates.tsv")"
  awk -F'\t' '$1 == "C" { print $2 "\t" $3 "\t" $5 }' "$raw" > "$(tmp "$Q/context.tsv")"
  awk -F'\t' '$1 == "Q" { print $2 "\t" $3 "\t" $4 }' "$raw" > "$(tmp "$Q/questions.tsv")"
  awk -F'\t' '$1 == "Q" { print $2 "\t" $3 }' "$raw" > "$(tmp "$Q/groups")"
  # every language's question QID -> the answer sentences of QID in all languages
  awk -F'\t' '
    $1 == "A" { ans[$2] = ans[$2] " " $4; langs[$2] = langs[$2] " " $3; if (!($2 in seen)) { order[++n] = $2; seen[$2] = 1 } }
    END {
      for (k = 1; k <= n; k++) {
        q = order[k]; nl = split(langs[q], L, " "); na = split(ans[q], A, " ")
        for (i = 1; i <= nl; i++) for (j = 1; j <= na; j++) print L[i] ":" q " 0 " A[j] " 1"
      }
    }' "$raw" > "$(tmp "$Q/qrels")"
  rm -f "$raw"
  publish "$Q/candidates.tsv" "$Q/context.tsv" "$Q/questions.tsv" "$Q/groups" "$Q/qrels"
  say "lareqa: $(wc -l < "$Q/questions.tsv") questions, $(wc -l < "$Q/candidates.tsv") candidates, $(wc -l < "$Q/qrels") qrels lines"
fi

# ---- English ad hoc retrieval: Cranfield and CISI (SMART format)
# smart FIELDS RENUMBER FILE: ID<TAB>text of the fields (.T, .W, ...) named
# in FIELDS, white space collapsed; RENUMBER=1 numbers the entries 1, 2, ...
smart() {
  tr -d '\r' < "$3" | awk -v fields="$1" -v renum="$2" '
    function flush() { if (id != "") { gsub(/[ \t]+/, " ", txt); sub(/^ /, "", txt); sub(/ $/, "", txt); print id "\t" txt } }
    /^\.I / { flush(); n++; id = renum ? n : $2 + 0; txt = ""; keep = 0; next }
    /^\.[A-Z]( |$)/ { keep = index(fields, substr($1, 2, 1)) > 0; next }
    keep { txt = txt " " $0 }
    END { flush() }'
}
IR=$OTCLIR_DATA/ir
for c in cranfield cisi; do
  o=$D/ir/$c
  case $c in
    cranfield) src=("$IR/cranfield/cran.all.1400" "$IR/cranfield/cran.qry" "$IR/cranfield/cranqrel") ;;
    cisi) src=("$IR/cisi/CISI.ALL" "$IR/cisi/CISI.QRY" "$IR/cisi/CISI.REL") ;;
  esac
  skip_if_fresh "$o/docs.tsv" "$o/queries.tsv" "$o/qrels" -- "${src[@]}" "$0" && continue
  mkdir -p "$o"
  case $c in
    cranfield)
      smart W 0 "${src[0]}" > "$(tmp "$o/docs.tsv")"
      smart W 1 "${src[1]}" > "$(tmp "$o/queries.tsv")"
      tr -d '\r' < "${src[2]}" | awk '$3 >= 1 && $3 <= 4 { print $1, 0, $2, 5 - $3 }' > "$(tmp "$o/qrels")" ;;
    cisi)
      smart TW 0 "${src[0]}" > "$(tmp "$o/docs.tsv")"
      smart W 0 "${src[1]}" > "$(tmp "$o/queries.tsv")"
      tr -d '\r' < "${src[2]}" | awk '{ print $1, 0, $2, 1 }' > "$(tmp "$o/qrels")" ;;
  esac
  publish "$o/docs.tsv" "$o/queries.tsv" "$o/qrels"
  say "$c: $(wc -l < "$o/docs.tsv") documents, $(wc -l < "$o/queries.tsv") queries, $(cut -d' ' -f1 "$o/qrels" | sort -u | wc -l) judged"
done

# ---- exclusion keys: every evaluation sentence, whitespace-normalised
K=$D/eval-keys.txt
if ! skip_if_fresh "$K" -- "$TAT" "$Q/questions.tsv" "$Q/candidates.tsv" "$0"; then
  { cat "$TAT"/tatoeba.*-eng.*; cut -f3 "$Q/questions.tsv" "$Q/candidates.tsv"; } |
    tr -d '\r' | awk '{ gsub(/[ \t]+/, " "); sub(/^ /, ""); sub(/ $/, ""); if ($0 != "") print }' |
    sort -u > "$(tmp "$K")"
  publish "$K"
  say "evaluation sentences to exclude from training: $(wc -l < "$K")"
fi
