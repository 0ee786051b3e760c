#!/usr/bin/env bash
# ablation.sh: what makes OT distillation work, measured on held-out dev pairs.
#
#   pipelines/ablation.sh            every setting below, LANGS languages
#   ABLATION="ot-idf-0.3 cos" pipelines/ablation.sh      some of them
#
# Each setting trains one student per language (system ot or cos, the
# settings' variables in the environment) in its own work folder
# WORK/ablation/SETTING (sharing WORK's data and teacher; run pipelines/run,
# or at least its prep and teacher stages, first) and scores it on the
# language's dev pairs (dev.sh: X->E accuracy@1 among the pairs that
# student.sh held out of every training sample). No test set is touched.
# The second list tries adversarial recipes on top of the default OT setting
# (worst-of-K: K, typo rate, the share of pairs made noisy, epochs; the
# embedding-space objectives: radius), scored on the dev pairs clean and with
# typos at 0.3: the question is whether a recipe cuts OT's typo drop.
# Output: results/ablation.md and results/ablation.tsv
#   setting system lang group dev_acc1 dev_typo_acc1 train_seconds
. "$(dirname "$0")/lib.sh"
stage_begin ablation
need tokenize embed distill-step rank score rec
t0=$(date +%s)

# SETTING:SYSTEM:VARIABLES: every setting states all the knobs it is compared
# on (config.sh's defaults are the winners: ot-idf-0.5+epochs for the OT
# family, plain cos for cos)
base="DICT_PAIRS=0 MIN_EXAMPLES=0 COS_MIN_EXAMPLES=0"
SETTINGS=(
  "cos:cos:$base"
  "ot-uniform-0.05:ot:$base OT_MARGINALS=uniform OT_EPS=0.05"
  "ot-uniform-0.3:ot:$base OT_MARGINALS=uniform OT_EPS=0.3"
  "ot-idf-0.05:ot:$base OT_MARGINALS=idf OT_EPS=0.05"
  "ot-idf-0.1:ot:$base OT_MARGINALS=idf OT_EPS=0.1"
  "ot-idf-0.3:ot:$base OT_MARGINALS=idf OT_EPS=0.3"
  "ot-idf-0.5:ot:$base OT_MARGINALS=idf OT_EPS=0.5"
  "ot-idf-0.3+epochs:ot:DICT_PAIRS=0 MIN_EXAMPLES=10000 OT_MARGINALS=idf OT_EPS=0.3"
  "ot-idf-0.3+dict:ot:DICT_PAIRS=1 MIN_EXAMPLES=0 OT_MARGINALS=idf OT_EPS=0.3"
  "ot-idf-0.3+dict+epochs:ot:DICT_PAIRS=1 MIN_EXAMPLES=10000 OT_MARGINALS=idf OT_EPS=0.3"
  "ot-idf-0.7:ot:$base OT_MARGINALS=idf OT_EPS=0.7"
  "ot-idf-0.5+epochs:ot:DICT_PAIRS=0 MIN_EXAMPLES=10000 OT_MARGINALS=idf OT_EPS=0.5"
  "ot-idf-0.5+dict+epochs:ot:DICT_PAIRS=1 MIN_EXAMPLES=10000 OT_MARGINALS=idf OT_EPS=0.5"
  "ot-idf-0.5+2x-epochs:ot:DICT_PAIRS=0 MIN_EXAMPLES=20000 OT_MARGINALS=idf OT_EPS=0.5"
  "cos+epochs:cos:DICT_PAIRS=0 COS_MIN_EXAMPLES=10000"
  "cos+dict:cos:DICT_PAIRS=1 COS_MIN_EXAMPLES=0"
  "cos+dict+epochs:cos:DICT_PAIRS=1 COS_MIN_EXAMPLES=10000"
)
# the setting config.sh's defaults are (the adversarial recipes build on it)
DEFAULT_SETTING=ot-idf-0.5+epochs
# adversarial recipes, each on the default OT setting
ot="DICT_PAIRS=0 MIN_EXAMPLES=10000 OT_MARGINALS=idf OT_EPS=0.5"
SETTINGS+=(
  "wok-k4-typo0.3-half:ot-wok:$ot WORST_K=4 WOK_TYPO=0.3 WOK_PARTS=2"
  "wok-k1-typo0.3-half:ot-wok:$ot WORST_K=1 WOK_TYPO=0.3 WOK_PARTS=2"
  "wok-k8-typo0.3-half:ot-wok:$ot WORST_K=8 WOK_TYPO=0.3 WOK_PARTS=2"
  "wok-k4-typo0.1-half:ot-wok:$ot WORST_K=4 WOK_TYPO=0.1 WOK_PARTS=2"
  "wok-k4-typo0.3-quarter:ot-wok:$ot WORST_K=4 WOK_TYPO=0.3 WOK_PARTS=4"
  "wok-k4-typo0.3-all:ot-wok:$ot WORST_K=4 WOK_TYPO=0.3 WOK_PARTS=1"
  "wok-k4-typo0.3-half+2x-epochs:ot-wok:DICT_PAIRS=0 MIN_EXAMPLES=20000 OT_MARGINALS=idf OT_EPS=0.5 WORST_K=4 WOK_TYPO=0.3 WOK_PARTS=2"
  "fgsm-0.05:ot-fgsm:$ot ADV_EPS=0.05"
  "fgsm-0.2:ot-fgsm:$ot ADV_EPS=0.2"
  "pgd-0.2:ot-pgd:$ot ADV_EPS=0.2"
  "freelb-0.2:ot-freelb:$ot ADV_EPS=0.2"
)
want=${ABLATION:-}
read -r -a langs <<< "$LANGS"
A=$WORK/ablation
mkdir -p "$A"
tsv=$(tmp "$RESULTS/ablation.tsv")
printf 'setting\tsystem\tlang\tgroup\tdev_acc1\tdev_typo_acc1\ttrain_seconds\n' > "$tsv"
rows=$(tmp "$A/rows")
: > "$rows"
for entry in "${SETTINGS[@]}"; do
  IFS=: read -r name system vars <<< "$entry"
  [ -z "$want" ] || [[ " $want " == *" $name "* ]] || continue
  W=$A/$name
  mkdir -p "$W/models"
  ln -sfn "$WORK/data" "$W/data"
  ln -sfn "$(teacher_dir)" "$W/models/teacher"
  say "== $name ($system: $vars)"
  (
    export WORK=$W
    for v in $vars; do export "${v?}"; done
    fanout "ablation-student" "$PIPE/student.sh {}" ::: "${langs[@]}"
    fanout "ablation-train" "$PIPE/train.sh {} $system" ::: "${langs[@]}"
    fanout "ablation-dev" "$PIPE/dev.sh {} $system" ::: "${langs[@]}"
  )
done
# every setting that has results (also from earlier runs), in table order
for entry in "${SETTINGS[@]}"; do
  IFS=: read -r name system vars <<< "$entry"
  W=$A/$name
  for L in "${langs[@]}"; do
    [ -f "$W/dev/$L/$system.tsv" ] || continue
    awk -F'\t' -v s="$name" -v sys="$system" -v secs="$(cat "$W/models/$L/$system.seconds")" \
      '$5 == "acc.1" { v[$4] = $6; l = $1; g = $2 } END { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s, sys, l, g, v["clean"], v["typo0.3"], secs }' "$W/dev/$L/$system.tsv" >> "$tsv"
  done
done
rm -f "$rows"
publish "$RESULTS/ablation.tsv"
"$PIPE/tables/ablation.awk" -v elapsed="$(( $(date +%s) - t0 ))" -v langs="$LANGS" -v deflt="$DEFAULT_SETTING" "$RESULTS/ablation.tsv" > "$(tmp "$RESULTS/ablation.md")"
publish "$RESULTS/ablation.md"
say "results/ablation.md written; $(( $(date +%s) - t0 )) s"
