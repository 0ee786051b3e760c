#!/usr/bin/env bash
# eval.sh LANG SYSTEM: Tatoeba retrieval of one system, clean and perturbed.
# For each condition of CONDITIONS the X side is (perturbed and) encoded:
#   clean     as it is
#   typoR     perturb --typo R: one character edit (insert, delete,
#             substitute, swap, keyboard neighbour) in each word of 3+
#             characters with probability R
#   cs        perturb --dict --switch CS_RATE: words replaced by a dictionary
#             translation (code-switching; languages with a dictionary only)
#   pgdR      an embedding-space PGD attack (PGD_STEPS steps) on the system's
#             own model, maximising each X sentence's OT loss against the
#             teacher's vectors of its English translation, in an L2 ball per
#             token of radius R x the model's median word-embedding norm
# System dict first translates X word by word (perturb --switch 1 with the
# dictionary), then the teacher encodes it; lex and dict use the teacher.
# Retrieval: RANK_MODE with CSLS k=CSLS, X->E (X queries, English documents)
# under every condition, E->X (the reverse) under E2X_CONDITIONS (default
# clean), scored with score: acc.1 (XTREME's accuracy@1), map, recip_rank.
# Output: WORK/eval/LANG/SYSTEM/COND.{x2e,e2x}.run.zst and
#         WORK/eval/LANG/SYSTEM/scores.tsv:
#         task lang group system condition direction measure value
. "$(dirname "$0")/lib.sh"
L=${1:?usage: eval.sh LANG SYSTEM}
S=${2:?usage: eval.sh LANG SYSTEM}
stage_begin "eval-$S" "$L"
need tokenize embed rank score perturb
T=$(teacher_dir)
case $S in
  lex | dict) M=$T ;;
  *) M=$WORK/models/$L/$S ;;
esac
D=$WORK/data/tatoeba/$L
E=$WORK/lang/$L/eng.vec.zst
dict=$WORK/data/dict/$L.tsv
O=$WORK/eval/$L/$S
group=$(langs_field "$L" group)
out=$O/scores.tsv
p=$(stamp "eval-$L-$S" "ot_eps=$OT_EPS conds=$CONDITIONS e2x=$E2X_CONDITIONS mode=$RANK_MODE csls=$CSLS pgd_steps=$PGD_STEPS cs=$CS_RATE seed=$SEED")
ins=("$D.x.tsv" "$D.e.tsv" "$E" "$M" "$p" "$0")
[ -f "$dict" ] && ins+=("$dict")
skip_if_fresh "$out" -- "${ins[@]}" && exit 0
mkdir -p "$O"
if [ "$S" = dict ] && [ ! -f "$dict" ]; then
  say "no dictionary for $L: system dict not applicable"
  : > "$(tmp "$out")"
  publish "$out"
  exit 0
fi

# X side text after the condition's discrete noise (and dict's translation)
x_text() {
  local cond=$1
  case $cond in
    typo*) perturb --typo "${cond#typo}" --seed "$SEED" < "$D.x.tsv" ;;
    cs) perturb --dict "$dict" --switch "$CS_RATE" --seed "$SEED" < "$D.x.tsv" ;;
    *) cat "$D.x.tsv" ;;
  esac | if [ "$S" = dict ]; then perturb --dict "$dict" --switch 1 --seed "$SEED"; else cat; fi
}

scores=$(tmp "$out")
: > "$scores"
norm=$(embedding_norm "$M")
for cond in $CONDITIONS; do
  if [ "$cond" = cs ] && [ ! -f "$dict" ]; then
    say "$cond: no dictionary for $L, skipped"
    continue
  fi
  # uncompressed: rank maps it as it is (a .zst would get a cache file)
  xv=$(tmp "$O/$cond.x.vec")
  # [CLS]/[SEP] take no part in the scores: named by the streams' metadata,
  # except after perturb --attack, whose tokens stream has none; then by id
  # (the same ids in both vocabularies, as in every pruned one: 2,3)
  skip=(--skip-special)
  case $cond in
    pgd*)
      sx=$(special_ids "$M/vocab.txt") se=$(special_ids "$T/vocab.txt")
      [ "$sx" = "$se" ] || fail "$cond: [CLS]/[SEP] ids differ between $M and $T ($sx, $se)"
      skip=(--skip-ids "$sx") ;;
  esac
  case $cond in
    pgd*)
      # the attack needs each X sentence paired with its English translation
      x_text clean | paste - <(cut -f2 "$D.e.tsv") | f_tok_pair "$M/vocab.txt" "$T/vocab.txt" |
        f_embed "$T" --side tgt |
        perturb --attack pgd --model "$M" --ot-eps "$OT_EPS" --eps "$(awk -v r="${cond#pgd}" -v n="$norm" 'BEGIN { print r * n }')" \
          --steps "$PGD_STEPS" --seed "$SEED" --threads "$THREADS" |
        f_embed "$M" > "$xv" ;;
    clean | typo* | cs)
      x_text "$cond" | f_tok "$M/vocab.txt" | f_embed "$M" > "$xv" ;;
    *) fail "unknown condition '$cond' (known: clean typoR cs pgdR)" ;;
  esac
  dirs=(x2e)
  [[ " $E2X_CONDITIONS " == *" $cond "* || "$E2X_CONDITIONS" = all ]] && dirs+=(e2x)
  for dir in "${dirs[@]}"; do
    run=$(tmp "$O/$cond.$dir.run.zst")
    if [ $dir = x2e ]; then
      f_rank "$E" "${skip[@]}" --mode "$RANK_MODE" --csls "$CSLS" < "$xv" | zst > "$run"
    else
      f_rank "$xv" "${skip[@]}" --mode "$RANK_MODE" --csls "$CSLS" < "$E" | zst > "$run"
    fi
    score -c --qrels "$D.$dir.qrels" -m acc.1 -m map -m recip_rank "$run" |
      score_rows "tatoeba\t$L\t$group\t$S\t$cond\t$dir" >> "$scores"
    publish "$O/$cond.$dir.run.zst"
  done
  rm -f "$xv"
  say "$cond: $(awk -F'\t' -v c="$cond" '$5 == c && $7 == "acc.1" { printf "%s %s ", $6, $8 }' "$scores")"
done
publish "$out"
