#!/usr/bin/env bats
# pipelines/run end to end on a tiny configuration (one language, a few
# hundred pairs, one epoch, a 100-pair test set): results appear with sane
# values, a second run skips every completed stage, and a failing stage names
# itself and its language.
load common

smoke_env() {
  export WORK=$BATS_FILE_TMPDIR/work RESULTS=$BATS_FILE_TMPDIR/results
  export LANGS=swh TEACHER_LANGS=swh LAREQA=0 CORES=2
  export SYSTEMS="lex dict ot ot-fgsm ot-wok" CONDITIONS="clean typo0.3 pgd0.3" COMPARE="ot-wok:ot"
  export MAX_PAIRS=300 EPOCHS=1 TEST_CAP=100 DIM=64 WORST_K=2 PGD_STEPS=2
  unset QUICK ALL TEACHER STUDENT_INIT
}

setup_file() {
  smoke_env
  "$ROOT/pipelines/run" > "$BATS_FILE_TMPDIR/run1.out" 2> "$BATS_FILE_TMPDIR/run1.err" ||
    { cat "$BATS_FILE_TMPDIR/run1.err" >&3; return 1; }
}

setup() { smoke_env; }

@test "pipelines: results.md, results.tsv and the plots appear" {
  [ -s "$RESULTS/results.md" ]
  [ -s "$RESULTS/results.tsv" ]
  for f in tatoeba robustness-typo robustness-pgd; do
    [ -s "$RESULTS/$f.png" ]
    [ -s "$RESULTS/$f.svg" ]
  done
  run grep -c '^| swh | low |' "$RESULTS/results.md"
  assert_success
}

@test "pipelines: every system and condition has sane acc.1 values in both directions" {
  for s in lex dict ot ot-fgsm ot-wok; do
    for c in clean typo0.3 pgd0.3; do
      dirs="x2e"
      [ "$c" = clean ] && dirs="x2e e2x"
      for d in $dirs; do
        run awk -F'\t' -v s="$s" -v c="$c" -v d="$d" \
          '$2 == "swh" && $4 == s && $5 == c && $6 == d && $7 == "acc.1" { print $8; n++ }
           END { exit n != 1 }' "$RESULTS/results.tsv"
        assert_success
        # a probability; clean queries find some of 100 (lexical overlap alone does)
        awk -v v="$output" -v c="$c" 'BEGIN { exit !(v >= 0 && v <= 1 && (c != "clean" || v > 0)) }'
      done
    done
  done
  # the dictionary baseline exists for Swahili (FreeDict)
  run grep -c $'\tswh\tlow\tdict\tclean\tx2e\tacc.1\t' "$RESULTS/results.tsv"
  assert_output 1
}

@test "pipelines: the bitext excludes evaluation sentences and reports the count" {
  run awk -F'\t' '$1 == "total" { print $4 + $5 }' "$WORK/data/bitext/swh.stats"
  assert_success
  [ "$output" -gt 0 ]
  # no Tatoeba Swahili test sentence is left in the training bitext
  run bash -c "zstd -dc '$WORK/data/bitext/swh.tsv.zst' | cut -f2 | grep -cxFf <(cut -f2 '$WORK/data/tatoeba/swh.x.tsv')"
  assert_output 0
}

@test "pipelines: a second run skips every completed stage" {
  before=$(stat -c %Y "$WORK/models/swh/ot/model.safetensors")
  cp "$RESULTS/results.tsv" "$BATS_FILE_TMPDIR/results.before"
  run "$ROOT/pipelines/run"
  assert_success
  refute_output --partial "trained in"
  refute_output --regexp "eval-[a-z-]+ \[swh\]: clean"
  [ "$(grep -c "up to date, skipped" <<< "$output")" -gt 8 ]
  [ "$(stat -c %Y "$WORK/models/swh/ot/model.safetensors")" = "$before" ]
  cmp "$RESULTS/results.tsv" "$BATS_FILE_TMPDIR/results.before"
}

@test "pipelines: a failing stage names the stage and the language, and the rerun resumes" {
  # bad data: a truncated training stream, newer than the models trained on it
  f=$WORK/lang/swh/train.pairs.zst
  cp "$f" "$BATS_FILE_TMPDIR/pairs.good"
  head -c 2000 "$BATS_FILE_TMPDIR/pairs.good" > "$f"
  run "$ROOT/pipelines/run"
  assert_failure
  assert_output --regexp "pipelines: train-ot[a-z-]* \[swh\]: failed"
  # repaired, the next run redoes only what depends on it
  cp "$BATS_FILE_TMPDIR/pairs.good" "$f"
  run "$ROOT/pipelines/run"
  assert_success
  assert_output --partial "trained in"
  refute_output --partial "pieces x"
}
