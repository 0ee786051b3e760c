#!/usr/bin/env bats
# pipelines/run with TEACHER= a ColBERT checkpoint (the fixture: a small
# random BERT with ColBERT's projection linear.weight, artifact.metadata and
# an uncased vocabulary): the students learn ColBERT's projected document
# vectors, the teacher's streams are ColBERT's, and every stage runs.
load common

colbert_env() {
  export WORK=$BATS_FILE_TMPDIR/work RESULTS=$BATS_FILE_TMPDIR/results
  export TEACHER=$ROOT/tests/fixtures/colbert/model
  export LANGS=swh TEACHER_LANGS=swh LAREQA=0 CORES=2
  export SYSTEMS="bm25 lex ot" CONDITIONS="clean typo0.3 pgd0.3" COMPARE="ot:lex"
  export MAX_PAIRS=200 EPOCHS=1 MIN_EXAMPLES=0 TEST_CAP=50
  unset QUICK ALL STUDENT_INIT
}

setup_file() {
  colbert_env
  "$ROOT/pipelines/run" > "$BATS_FILE_TMPDIR/run.out" 2> "$BATS_FILE_TMPDIR/run.err" ||
    { cat "$BATS_FILE_TMPDIR/run.err" >&3; return 1; }
}

setup() { colbert_env; }

@test "pipelines, ColBERT teacher: the student has the projection's size and learns ColBERT's document vectors" {
  # the fixture projects its hidden size 32 to 8
  run jq -r .hidden_size "$WORK/models/swh/ot/config.json"
  assert_output 8
  # the training pairs carry the teacher's ColBERT document vectors of the
  # English side: the [D] marker ([unused1]) after [CLS], 8 dims, unit norm
  run bash -c "zstd -dc '$WORK/lang/swh/train.pairs.zst' | rec schema"
  assert_output --partial "colbert"
  d=$(awk '$1 == "[unused1]" { print NR - 1 }' "$TEACHER/vocab.txt")
  zstd -dc "$WORK/lang/swh/train.pairs.zst" | rec head -n 20 | rec dump |
    jq -e --argjson d "$d" 'select((.tgt_ids[1] != $d) or (.tgt_vecs[0] | length) != 8 or
      ([.tgt_vecs[] | (map(. * .) | add | sqrt) - 1 | fabs] | max) > 1e-4)' && return 1
  true
}

@test "pipelines, ColBERT teacher: Tatoeba rows for every system; no embedding attack on the checkpoint itself" {
  for s in bm25 lex ot; do
    run grep -cP "^tatoeba\tswh\tlow\t$s\tclean\tx2e\tacc.1\t" "$RESULTS/results.tsv"
    assert_output 1
  done
  run grep -cP "^tatoeba\tswh\tlow\tot\tpgd0.3\tx2e\tacc.1\t" "$RESULTS/results.tsv"
  assert_output 1
  run grep -cP "^tatoeba\tswh\tlow\tlex\tpgd0.3\t" "$RESULTS/results.tsv"
  assert_output 0
  grep -q "pgd0.3: not run on a ColBERT checkpoint" "$BATS_FILE_TMPDIR/run.err"
}
