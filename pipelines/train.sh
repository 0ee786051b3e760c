#!/usr/bin/env bash
# train.sh LANG SYSTEM: distil one student (LANG = a langs.tsv code or "mul").
#   cos        mean-pool distillation, loss 1 - cos(mean student, mean teacher)
#              (plain MSE against the mean of unit vectors collapses)
#   ot         OT distillation (OPTICAL): <P,C> between the student's token
#              vectors of X and the teacher's of the English side
#   ot-fgsm, ot-pgd, ot-freelb
#              ot + embedding-space adversarial training (ADV_EPS, ADV_STEPS,
#              ADV_WEIGHT): the student's input embeddings perturbed in an L2
#              ball per token, clean loss + weighted adversarial loss
#   ot-wok     ot with discrete adversarial augmentation: each epoch, one of
#              WOK_PARTS parts of the pairs (2: half) get WORST_K noisy versions (typos at WOK_TYPO per
#              word, dictionary code-switching at WOK_SWITCH where LANG has a
#              dictionary) and the one with the highest OT loss under the
#              current student (the previous epoch's) replaces the clean one
#   lex, dict  no training (the teacher itself)
# Output: WORK/models/LANG/SYSTEM/ (model folder), SYSTEM.log.zst (trainlog
# records, one per step; ot-wok: SYSTEM.epochN.log.zst per epoch),
# SYSTEM.seconds (wall time of the training).
. "$(dirname "$0")/lib.sh"
L=${1:?usage: train.sh LANG SYSTEM}
S=${2:?usage: train.sh LANG SYSTEM}
stage_begin "train-$S" "$L"
case $S in lex | dict | bm25 | dict-bm25) exit 0 ;; esac
need distill-step perturb rec
I=$WORK/lang/$L
M=$WORK/models/$L
pairs=$I/train.pairs.zst
# Batches of npairs/MIN_STEPS pairs, so a small bitext still gets MIN_STEPS
# optimizer steps per epoch (Javanese's 1,016 pairs would make 7 steps of
# 4096 tokens), and every epoch has the same number of steps, noisy or
# clean (BATCH_TOKENS only bounds memory; it does not bind at MAX_LEN 64).
npairs=$(unzst "$I/train.tsv.zst" | wc -l)
bsize=$((npairs / MIN_STEPS))
[ "$bsize" -ge 1 ] || bsize=1
# scarce data gets more epochs: at least MIN_EXAMPLES pairs seen in all
min_examples=$MIN_EXAMPLES
[ "$S" = cos ] && min_examples=$COS_MIN_EXAMPLES
epochs=$(( (min_examples + npairs - 1) / npairs ))
[ "$epochs" -ge "$EPOCHS" ] || epochs=$EPOCHS
total_steps=$((epochs * ((npairs + bsize - 1) / bsize)))
batch=(--batch-tokens "$BATCH_TOKENS" --batch-size "$bsize")
common=(--lr "$LR" "${batch[@]}" --seed "$SEED" --threads "$THREADS")
# the embedded students have no positions (student.sh): keep it so, one vector per piece
[ -z "$STUDENT_INIT" ] && [ "$STUDENT_LAYERS" = 0 ] && common+=(--freeze-positions)
ot=(--ot-eps "$OT_EPS")
[ "$OT_MARGINALS" = idf ] && ot+=(--idf)
adv=()
case $S in
  cos) loss=cos=1 ot=() ;;
  ot) loss=ot=1 ;;
  ot-fgsm | ot-pgd | ot-freelb)
    loss=ot=1
    adv=(--adv "${S#ot-}" --adv-eps "$ADV_EPS" --adv-steps "$ADV_STEPS" --adv-weight "$ADV_WEIGHT") ;;
  ot-wok) loss=ot=1 ;;
  *) fail "unknown system '$S' (known: lex dict cos ot ot-fgsm ot-pgd ot-freelb ot-wok)" ;;
esac
dict=$WORK/data/dict/$L.tsv
p=$(stamp "train-$L-$S" "loss=$loss ${adv[*]} ${ot[*]} epochs=$epochs ${common[*]} k=$WORST_K typo=$WOK_TYPO switch=$WOK_SWITCH parts=$WOK_PARTS")
skip_if_fresh "$M/$S" -- "$pairs" "$I/init" "$p" "$0" && exit 0
mkdir -p "$M"
t0=$(date +%s.%N)
if [ "$S" != ot-wok ]; then
  distill-step --init "$I/init" --out "$(tmp "$M/$S")" --loss "$loss" "${ot[@]}" "${adv[@]}" --epochs "$epochs" \
    "${common[@]}" --input "$pairs" | zst > "$(tmp "$M/$S.log.zst")"
else
  noise=(--typo "$WOK_TYPO")
  [ -f "$dict" ] && [ "$L" != mul ] && noise+=(--dict "$dict" --switch "$WOK_SWITCH")
  cur=$I/init
  # WOK_PARTS parts of the pairs (record i goes to part i mod WOK_PARTS), made once
  halves=$(tmp "$M/$S.halves")
  mkdir -p "$halves"
  rec split -n "$WOK_PARTS" "$pairs" "$halves/h" > /dev/null
  for e in $(seq 1 "$epochs"); do
    # One part (in turn: every pair is seen clean and noisy) becomes its
    # worst of WORST_K noisy copies under the current student (the previous
    # epoch's), the others stay clean; shuffled together, so ot-wok takes as
    # many steps as ot. (With 2 parts: the clean part first, then the noisy.)
    noisy=$(tmp "$M/$S.epoch$e.noisy.rec")
    part() { printf '%s/h-%03d.rec' "$halves" "$1"; }
    perturb --worst-of "$WORST_K" --model "$cur" --ot-eps "$OT_EPS" "${noise[@]}" --seed "$((SEED * 1000 + e))" \
      --threads "$THREADS" < "$(part $((e % WOK_PARTS)))" > "$noisy"
    ep=$(tmp "$M/$S.epoch$e.pairs.rec")
    clean=()
    for ((k = 1; k < WOK_PARTS; k++)); do clean+=("$(part $(((e + k) % WOK_PARTS)))"); done
    rec cat "${clean[@]}" "$noisy" | rec shuffle --seed "$((SEED * 1000 + e))" > "$ep"
    rm -f "$noisy"
    next=$(tmp "$M/$S.epoch$e")
    # One distill-step run per epoch (the noise is chosen by the previous
    # epoch's student); --continue carries the AdamW state, the step count
    # and the linear schedule over the whole chain, as in ot's single run.
    from=(--init "$cur")
    [ "$e" -gt 1 ] && from=(--continue "$cur")
    distill-step "${from[@]}" --out "$next" --loss "$loss" "${ot[@]}" --total-steps "$total_steps" "${common[@]}" \
      --input "$ep" | zst > "$(tmp "$M/$S.epoch$e.log.zst")"
    publish "$M/$S.epoch$e.log.zst"
    rm -f "$ep"
    [ "$cur" = "$I/init" ] || rm -rf "$cur"
    cur=$next
    say "epoch $e of $epochs done"
  done
  rm -rf "$halves"
  mv "$cur" "$M/$S.tmp.$$"
fi
awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }' > "$(tmp "$M/$S.seconds")"
[ "$S" = ot-wok ] || publish "$M/$S.log.zst"
publish "$M/$S.seconds" "$M/$S"
say "trained in $(cat "$M/$S.seconds") s"
