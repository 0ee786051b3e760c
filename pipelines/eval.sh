#!/usr/bin/env bash
# eval.sh LANG SYSTEM: Tatoeba retrieval of one system, clean and perturbed.
#
# Systems: lex (the teacher applied to X as it is), dict (X translated word
# by word with the dictionary, then the teacher), bm25 and dict-bm25 (the
# same texts searched with BM25 over multilingual BERT's word pieces), and the
# students (cos, ot, ot-*; WORK/models/LANG/SYSTEM).
# Conditions (CONDITIONS), applied to the X side:
#   clean     as it is
#   typoR     perturb --typo R: one character edit in each word of 3+
#             characters with probability R
#   cs        perturb --dict --switch CS_RATE: words replaced by their
#             dictionary translation (languages with a dictionary only)
#   pgdR      an embedding-space PGD attack (PGD_STEPS steps) on the system's
#             own model, maximising each X sentence's OT loss against the
#             teacher's vectors of its translation, in an L2 ball per token of
#             radius R x the model's median word-embedding norm (perturb --adv-relative;
#             not for the bm25 systems, which have no embeddings)
# Retrieval: RANK_MODE with CSLS k=CSLS for the vector systems, BM25 for the
# bm25 systems; X->E under every condition, E->X under E2X_CONDITIONS; scored
# with acc.1 (XTREME's accuracy@1), map, recip_rank.
# Output: WORK/eval/LANG/SYSTEM/COND.{x2e,e2x}.run.zst and scores.tsv rows
#   task lang group system condition direction measure value
. "$(dirname "$0")/lib.sh"
L=${1:?usage: eval.sh LANG SYSTEM}
S=${2:?usage: eval.sh LANG SYSTEM}
stage_begin "eval-$S" "$L"
need tokenize embed rank score perturb
T=$(teacher_dir)
D=$WORK/data/tatoeba/$L
dict=$WORK/data/dict/$L.tsv
O=$WORK/eval/$L/$S
group=$(langs_field "$L" group)
case $S in
  lex | dict) M=$T kind=vectors E=$WORK/lang/$L/eng.vec.zst ;;
  bm25 | dict-bm25) M=$T kind=tokens E=$WORK/lang/$L/eng.tok.zst ;; # M: unused
  *) M=$WORK/models/$L/$S kind=vectors E=$WORK/lang/$L/eng.vec.zst ;;
esac
out=$O/scores.tsv
p=$(stamp "eval-$L-$S" "conds=$CONDITIONS e2x=$E2X_CONDITIONS mode=$RANK_MODE csls=$CSLS pgd_steps=$PGD_STEPS cs=$CS_RATE ot_eps=$OT_EPS len=$EVAL_MAX_LEN seed=$SEED")
ins=("$D.x.tsv" "$D.e.tsv" "$E" "$M" "$p" "$0")
[ -f "$dict" ] && ins+=("$dict")
skip_if_fresh "$out" -- "${ins[@]}" && exit 0
mkdir -p "$O"
if [[ $S == dict* ]] && [ ! -f "$dict" ]; then
  say "no dictionary for $L: system $S not applicable"
  : > "$(tmp "$out")"
  publish "$out"
  exit 0
fi

# x_text COND: the X side after the condition's noise (and dict's translation)
x_text() {
  case $1 in
    typo*) perturb --typo "${1#typo}" --seed "$SEED" < "$D.x.tsv" ;;
    cs) perturb --dict "$dict" --switch "$CS_RATE" --seed "$SEED" < "$D.x.tsv" ;;
    *) cat "$D.x.tsv" ;;
  esac | if [[ $S == dict* ]]; then perturb --dict "$dict" --switch 1 --seed "$SEED"; else cat; fi
}
# x_attacked RADIUS: X token embeddings after the PGD attack on model M
x_attacked() {
  x_text clean | paste - <(cut -f2 "$D.e.tsv") | f_tok_eval_pair "$M" "$T" |
    f_embed "$T" --side tgt |
    perturb --attack pgd --model "$M" --ot-eps "$OT_EPS" --adv-eps "$1" --adv-relative \
      --adv-steps "$PGD_STEPS" --seed "$SEED" --threads "$THREADS"
}
# search QUERIES DOCS: the run of this system's retrieval ([CLS]/[SEP] left
# out: named by the streams' special_ids metadata, or by id after the attack,
# whose stream has none)
search() {
  if [ $kind = tokens ]; then
    f_rank "$2" --mode bm25 < "$1"
  else
    f_rank "$2" "${skip[@]}" --mode "$RANK_MODE" --csls "$CSLS" < "$1"
  fi
}

scores=$(tmp "$out")
: > "$scores"
for cond in $CONDITIONS; do
  if [ "$cond" = cs ] && [ ! -f "$dict" ]; then continue; fi
  if [[ $cond == pgd* ]] && [ $kind = tokens ]; then continue; fi
  # perturb --attack attacks an encoder's output, not a ColBERT projection
  if [[ $cond == pgd* ]] && is_colbert "$M"; then say "$cond: not run on a ColBERT checkpoint"; continue; fi
  xq=$(tmp "$O/$cond.x.rec") # uncompressed: rank maps it as it is
  read -r -a skip <<< "$(skip_specials)"
  [[ $cond == pgd* && ${#skip[@]} -gt 0 ]] && skip=(--skip-ids "$(special_ids "$M/vocab.txt")")
  case $cond in
    clean | typo* | cs)
      if [ $kind = tokens ]; then
        x_text "$cond" | f_tok_eval "$MBERT_VOCAB" > "$xq"
      else
        x_text "$cond" | f_tok_eval "$M" | f_embed "$M" > "$xq"
      fi ;;
    pgd*) x_attacked "${cond#pgd}" | f_embed "$M" > "$xq" ;;
    *) fail "unknown condition '$cond' (known: clean typoR cs pgdR)" ;;
  esac
  dirs=(x2e)
  [[ " $E2X_CONDITIONS " == *" $cond "* || "$E2X_CONDITIONS" = all ]] && dirs+=(e2x)
  for dir in "${dirs[@]}"; do
    run=$(tmp "$O/$cond.$dir.run.zst")
    if [ $dir = x2e ]; then search "$xq" "$E"; else search <(unzst "$E") "$xq"; fi | zst > "$run"
    score -c --qrels "$D.$dir.qrels" -m acc.1 -m map -m recip_rank "$run" |
      score_rows "tatoeba\t$L\t$group\t$S\t$cond\t$dir" >> "$scores"
    publish "$O/$cond.$dir.run.zst"
  done
  rm -f "$xq"
  say "$cond: $(awk -F'\t' -v c="$cond" '$5 == c && $7 == "acc.1" { printf "%s %s ", $6, $8 }' "$scores")"
done
publish "$out"
