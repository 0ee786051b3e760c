#!/usr/bin/env bash
# teacher.sh: the English teacher (skipped when TEACHER=DIR brings one).
#
# The embedded default is a lexical late-interaction teacher: a BERT with 0
# layers whose output for a word piece is LayerNorm(its embedding row), a
# fixed random direction per piece (position and token-type embeddings are
# zero, so a piece means the same wherever it stands). Scored by soft BM25
# (rank --mode soft-bm25) such vectors match a piece only with itself: the
# teacher is BM25 over its pieces, a retrieval model (ir.sh measures it on
# Cranfield, CISI and LAReQA-en). Students learn to put X's pieces where
# their English translations' pieces are.
# Vocabulary: multilingual BERT's, restricted to the pieces of the English
# side of the bitext of TEACHER_LANGS (default all 41 languages: the same
# teacher whatever LANGS says), so a student's piece is "shared" when English text uses it too.
# Output: WORK/models/teacher/ (config.json, model.safetensors, vocab.txt),
#         WORK/data/english.txt (the English training text, deduplicated).
. "$(dirname "$0")/lib.sh"
stage_begin teacher
if [ -n "$TEACHER" ]; then
  [ -f "$TEACHER/config.json" ] || fail "TEACHER=$TEACHER has no config.json"
  say "using the given teacher $TEACHER"
  exit 0
fi
need tokenize embed
T=$WORK/models/teacher
eng=$WORK/data/english.txt
bitext=()
for L in $TEACHER_LANGS; do bitext+=("$WORK/data/bitext/$L.tsv.zst"); done
p=$(stamp teacher "dim=$DIM seed=$SEED vocab=$MBERT_VOCAB langs=$TEACHER_LANGS")

if ! skip_if_fresh "$eng" -- "${bitext[@]}" "$0"; then
  unzst "${bitext[@]}" | cut -f3 | sort -u > "$(tmp "$eng")"
  publish "$eng"
  say "English training text: $(wc -l < "$eng") sentences"
fi
if ! skip_if_fresh "$T" -- "$eng" "$MBERT_VOCAB" "$p" "$0"; then
  mkdir -p "$WORK/models"
  pv=$(tmp "$WORK/models/teacher.vocab")
  f_prune "$pv" "$eng"
  v=$pv/vocab.txt
  cfg=$(tmp "$WORK/models/teacher.config.json")
  model_config "$(wc -l < "$v")" "$DIM" 0 8192 > "$cfg"  # no positions: any length
  embed --init "$cfg" --vocab "$v" --seed "$SEED" --no-positions --out "$(tmp "$T")"
  publish "$T"
  rm -rf "$pv" "$cfg"
  say "$(wc -l < "$T/vocab.txt") pieces x $DIM, 0 layers"
fi
