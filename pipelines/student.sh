#!/usr/bin/env bash
# student.sh LANG: a student's training data and starting point.
#   LANG = a code of langs.tsv, or "mul": the one multilingual student for
#   LAReQA (LAREQA_PAIRS pairs of each XQuAD-R language with English, plus as
#   many English-English pairs so that English candidates, which it encodes
#   too, stay where the teacher put them).
# Output in WORK/lang/LANG/:
#   train.tsv.zst    ID<TAB>X<TAB>ENGLISH, a seeded sample of MAX_PAIRS pairs
#                    and, with DICT_PAIRS=1, the dictionary's word pairs,
#                    shuffled (distill-step trains in input order)
#   dev.tsv          held-out pairs of the sample (min(DEV_PAIRS, 10%)): the
#                    ablation's development set, in no training sample
#   vocab.txt        the student's vocabulary: multilingual BERT's pieces that
#                    the X side of train.tsv uses (STUDENT_INIT: its own)
#   init/            the untrained student: STUDENT_LAYERS layers, DIM wide,
#                    rows of pieces the teacher also has copied from the
#                    teacher (position/token-type embeddings and LayerNorm
#                    too), the rest random (STUDENT_INIT: that folder)
#   train.pairs.zst  pair records: src_ids (student), tgt_ids and tgt_vecs
#                    (teacher, computed once), src_text/tgt_text
#   eng.tok.zst      the Tatoeba English side in multilingual BERT's word
#                    pieces (BM25's documents)
#   eng.vec.zst      the teacher's token vectors of it
. "$(dirname "$0")/lib.sh"
L=${1:?usage: student.sh LANG|mul}
stage_begin student "$L"
need tokenize embed
T=$(teacher_dir)
O=$WORK/lang/$L
mkdir -p "$O"

# ---- the training sample (and, per language, the held-out dev pairs)
n=$MAX_PAIRS srcs=() dicts=()
if [ "$L" = mul ]; then
  n=$LAREQA_PAIRS
  for x in $(langs_where tasks lareqa); do
    srcs+=("$WORK/data/bitext/$x.tsv.zst")
    [ "$DICT_PAIRS" = 1 ] && [ -f "$WORK/data/dict/$x.tsv" ] && dicts+=("$WORK/data/dict/$x.tsv")
  done
  srcs+=("$WORK/data/english.txt")
else
  srcs=("$WORK/data/bitext/$L.tsv.zst")
  [ "$DICT_PAIRS" = 1 ] && [ -f "$WORK/data/dict/$L.tsv" ] && dicts+=("$WORK/data/dict/$L.tsv")
fi
# bitext_sample: ID<TAB>X<TAB>ENGLISH, a seeded sample of n pairs (of each
# language for mul, plus English-English pairs that keep English where the
# teacher put it)
bitext_sample() {
  local f
  if [ "$L" != mul ]; then unzst "${srcs[@]}" | seeded_shuf -n "$n"; return; fi
  for f in "${srcs[@]}"; do
    case $f in
      *.zst) unzst "$f" | seeded_shuf -n "$n" ;;
      *) seeded_shuf -n "$n" "$f" | awk -F'\t' '{ print "eng:" NR "\t" $0 "\t" $0 }' ;;
    esac
  done
}
# dict_pairs: the dictionaries' entries as word pairs (DICT_PAIRS=1), word-
# level evidence that no sentence pair gives as directly
dict_pairs() {
  local f
  for f in "${dicts[@]}"; do awk -F'\t' -v p="dict.$(basename "$f" .tsv):" '{ print p NR "\t" $1 "\t" $2 }' "$f"; done
}
p=$(stamp "student-$L.sample" "n=$n dict=$DICT_PAIRS dev=$DEV_PAIRS seed=$SEED")
if ! skip_if_fresh "$O/train.tsv.zst" "$O/dev.tsv" -- "${srcs[@]}" "${dicts[@]}" "$p" "$0"; then
  sample=$(tmp "$O/sample.tsv")
  bitext_sample > "$sample"
  # dev: the first min(DEV_PAIRS, 10%) pairs of the sample, never trained on
  # (the ablation chooses settings on them); none for mul
  ndev=0
  [ "$L" != mul ] && ndev=$(awk -v m="$DEV_PAIRS" 'END { n = int(NR / 10); print n < m ? n : m }' "$sample")
  head -n "$ndev" "$sample" > "$(tmp "$O/dev.tsv")"
  { tail -n +"$((ndev + 1))" "$sample"; dict_pairs; } | seeded_shuf | zst > "$(tmp "$O/train.tsv.zst")"
  rm -f "$sample"
  publish "$O/train.tsv.zst" "$O/dev.tsv"
  say "training sample: $(unzst "$O/train.tsv.zst" | wc -l) pairs ($(dict_pairs | wc -l) from the dictionary); dev: $ndev"
fi

# ---- vocabulary and the untrained student
pi=$(stamp "student-$L.init" "dim=$DIM layers=$STUDENT_LAYERS positions=$STUDENT_POSITIONS static=1 seed=$SEED init=$STUDENT_INIT teacher=$T")
if [ -n "$STUDENT_INIT" ]; then
  [ -f "$STUDENT_INIT/vocab.txt" ] || fail "STUDENT_INIT=$STUDENT_INIT has no vocab.txt"
  if ! skip_if_fresh "$O/init" "$O/vocab.txt" -- "$STUDENT_INIT" "$pi" "$0"; then
    cp -r "$STUDENT_INIT" "$(tmp "$O/init")"
    cp "$STUDENT_INIT/vocab.txt" "$(tmp "$O/vocab.txt")"
    publish "$O/init" "$O/vocab.txt"
  fi
elif ! skip_if_fresh "$O/init" "$O/vocab.txt" -- "$O/train.tsv.zst" "$T" "$pi" "$0"; then
  xs=$(tmp "$O/x.txt")
  unzst "$O/train.tsv.zst" | cut -f2 > "$xs"
  pv=$(tmp "$O/pruned")
  f_prune "$pv" "$xs"
  cp "$pv/vocab.txt" "$(tmp "$O/vocab.txt")"
  cfg=$(tmp "$O/config.json")
  model_config "$(wc -l < "$pv/vocab.txt")" "$(model_dim "$T")" "$STUDENT_LAYERS" "$STUDENT_POSITIONS" > "$cfg"
  # no positions: the 0-layer student maps each piece to one vector, as the
  # teacher does (train.sh keeps them at zero with --freeze-positions)
  # the teacher's rows of the shared pieces as the start (not from a ColBERT
  # teacher: its vectors are the projection's, not its embeddings')
  from=(--init-from "$T")
  is_colbert "$T" && from=()
  embed --init "$cfg" --vocab "$pv/vocab.txt" --seed "$SEED" "${from[@]}" --no-positions --out "$(tmp "$O/init")"
  rm -rf "$xs" "$cfg" "$pv"
  publish "$O/vocab.txt" "$O/init"
  say "student: $(wc -l < "$O/vocab.txt") pieces, $STUDENT_LAYERS layers"
fi

# ---- tokenized training pairs with the teacher's English vectors
if ! skip_if_fresh "$O/train.pairs.zst" -- "$O/train.tsv.zst" "$O/vocab.txt" "$T" "$pi" "$0"; then
  unzst "$O/train.tsv.zst" | f_tok_pair "$O/vocab.txt" "$T" | f_embed "$T" --side tgt |
    zst > "$(tmp "$O/train.pairs.zst")"
  publish "$O/train.pairs.zst"
  say "training pairs encoded"
fi

# ---- the English Tatoeba side (documents for X->E, queries for E->X): the
# teacher's word pieces (for BM25) and its vectors
if [ "$L" != mul ]; then
  e=$WORK/data/tatoeba/$L.e.tsv
  pe=$(stamp "student-$L.eng" "len=$EVAL_MAX_LEN bm25=$MBERT_VOCAB")
  if ! skip_if_fresh "$O/eng.tok.zst" "$O/eng.vec.zst" -- "$e" "$T" "$pe" "$0"; then
    f_tok_eval "$MBERT_VOCAB" < "$e" | zst > "$(tmp "$O/eng.tok.zst")"
    f_tok_eval "$T" < "$e" | f_embed "$T" | zst > "$(tmp "$O/eng.vec.zst")"
    publish "$O/eng.tok.zst" "$O/eng.vec.zst"
  fi
fi
