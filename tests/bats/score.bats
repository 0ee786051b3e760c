#!/usr/bin/env bats
# score: trec_eval agreement (trec_eval 10's own quicktest, byte for byte,
# against the outputs it ships; every row of fixtures/trec_eval/cases.tsv),
# input handling, errors, --compare and --groups.
load common

setup() {
  TMP=$(mktemp -d)
  printf '1 0 r1 1\n1 0 r2 2\n1 0 n1 0\n2 0 a 1\n2 0 b 0\n' >"$TMP/qrels"
  printf '1 Q0 r1 1 3.0 runA\n1 Q0 n1 2 2.0 runA\n1 Q0 r2 3 1.0 runA\n2 Q0 b 1 2 runA\n2 Q0 a 2 1 runA\n' >"$TMP/run"
}
teardown() { rm -rf "$TMP"; }

@test "score --help prints the manual, --version the version" {
  run score --help
  assert_success
  assert_output --partial "Usage: score"
  assert_output --partial "xtreme_map.k"
  assert_output --partial "map_cut"
  assert_output --partial "Exit status"
  run score --version
  assert_success
  assert_output --partial "score (otclir)"
}

@test "score: bad usage exits 2" {
  run score
  assert_failure 2
  run score --qrels "$TMP/qrels" -m no_such_measure "$TMP/run"
  assert_failure 2
  assert_output --partial "unknown measure"
  run score --qrels "$TMP/qrels" -m P.0 "$TMP/run"
  assert_failure 2
}

@test "score passes trec_eval 10's quicktest byte for byte (its 15 lines, its shipped outputs)" {
  run "$ROOT/tests/fixtures/score/quicktest.sh" "$BIN/score" "$SHARED/peers/trec_eval"
  echo "$output" | grep -v '^ok' || true
  assert_success
  assert_line "1..15"
  refute_output --partial "not ok"
}

@test "the quicktest check fails on a difference, a missing peer or a missing line" {
  # A score that changes one byte of one output must fail the check.
  printf '#!/bin/bash\n"%s" "$@" | sed "s/^map  /mAp  /"\n' "$BIN/score" >"$TMP/score-bad"
  chmod +x "$TMP/score-bad"
  run "$ROOT/tests/fixtures/score/quicktest.sh" "$TMP/score-bad" "$SHARED/peers/trec_eval"
  assert_failure
  assert_output --partial "not ok"
  run "$ROOT/tests/fixtures/score/quicktest.sh" "$BIN/score" "$TMP/no-such-peer"
  assert_failure
  mkdir -p "$TMP/peer" && cp -r "$SHARED/peers/trec_eval/test" "$TMP/peer/"
  sed '/-R prefs/d' "$SHARED/peers/trec_eval/Makefile" >"$TMP/peer/Makefile"
  run "$ROOT/tests/fixtures/score/quicktest.sh" "$BIN/score" "$TMP/peer"
  assert_failure
  assert_output --partial "expected 15 quicktest lines"
}

@test "score reproduces every row of the trec_eval fixture; the check fails without it" {
  run "$ROOT/tests/fixtures/score/check-trec-eval-cases.sh" "$BIN/score" "$SHARED/fixtures/trec_eval"
  echo "$output" | grep -v '^ok' || true
  assert_success
  refute_output --partial "not ok"
  assert_line "1..29"
  run "$ROOT/tests/fixtures/score/check-trec-eval-cases.sh" "$BIN/score" "$TMP/no-such-fixture"
  assert_failure
}

@test "score reads the run from stdin and accepts trec_eval's argument order" {
  run score --qrels "$TMP/qrels" -m map -m num_ret <"$TMP/run"
  assert_success
  assert_line --regexp '^map +	all	0\.6667$'
  assert_line --regexp '^num_ret +	all	5$'
  run score -m map "$TMP/qrels" "$TMP/run"
  assert_success
  assert_line --regexp '^map +	all	0\.6667$'
}

@test "score reads a run record stream (plain and zstd)" {
  printf '{"qid":"1","docid":"r1","rank":1,"score":3}\n{"qid":"1","docid":"r2","rank":2,"score":1}\n{"qid":"2","docid":"a","rank":1,"score":1}\n' |
    rec encode --schema run >"$TMP/run.rec"
  run score --qrels "$TMP/qrels" -m map -m num_ret "$TMP/run.rec"
  assert_success
  assert_line --regexp '^map +	all	1\.0000$'
  assert_line --regexp '^num_ret +	all	3$'
  zstd -q -c "$TMP/run.rec" >"$TMP/run.rec.zst"
  run score --qrels "$TMP/qrels" -m map <"$TMP/run.rec.zst"
  assert_success
  assert_line --regexp '^map +	all	1\.0000$'
}

@test "score: a malformed line names the file and the line" {
  printf '1 Q0 r1 1 3.0 t\n1 Q0 n1 2\n' >"$TMP/bad"
  run score --qrels "$TMP/qrels" "$TMP/bad"
  assert_failure 1
  assert_output --partial "$TMP/bad: line 2:"
  printf '1 0 r1 1\n1 0 r2 high\n' >"$TMP/badq"
  run score --qrels "$TMP/badq" "$TMP/run"
  assert_failure 1
  assert_output --partial "$TMP/badq: line 2:"
}

@test "score: empty inputs are refused like trec_eval refuses them, naming the file" {
  : >"$TMP/empty"
  run score "$TMP/empty" "$TMP/run"
  assert_failure 1
  assert_output --partial "$TMP/empty: cannot read qrels file"
  refute_output --partial "num_q"
  printf '# no judgement\n\n' >"$TMP/comments"
  run score "$TMP/comments" "$TMP/run"
  assert_failure 1
  assert_output --partial "$TMP/comments: cannot read qrels file"
  run score -c "$TMP/qrels" "$TMP/empty"
  assert_failure 1
  assert_output --partial "$TMP/empty: cannot read run"
}

@test "score: nan, inf and 1e999 are one rule: refused; --compat reads them as trec_eval (atof)" {
  for s in nan inf 1e999 -1e400 1.5abc abc; do
    printf '1 Q0 r1 1 3.0 t\n1 Q0 n1 2 %s t\n2 Q0 a 1 1 t\n' "$s" >"$TMP/odd"
    run score -m map "$TMP/qrels" "$TMP/odd"
    assert_failure 1
    assert_output --partial "$TMP/odd: line 2: score '$s' is not a finite number"
  done
  printf '1 Q0 r1 1 3.0 t\n1 Q0 n1 2 1e999 t\n1 Q0 r2 3 1.5abc t\n2 Q0 a 1 1 t\n' >"$TMP/odd"
  run score --compat -q -m relstring "$TMP/qrels" "$TMP/odd"
  assert_success
  assert_line --regexp "^relstring +	1	'012'$"
}

@test "score: the largest grade (1000000) is evaluated, not a hang (gains were quadratic in the grade)" {
  # trec_eval 10 spends > 30 s here (measured); score took hours before the
  # fix. The timeout only separates finishing from hanging.
  printf '1 0 d1 1000000\n1 0 d2 1\n' >"$TMP/qbig"
  printf '1 Q0 d2 1 3.0 r\n1 Q0 d1 2 2.0 r\n1 Q0 d3 3 1.0 r\n' >"$TMP/rbig"
  run timeout 60 score -m ndcg -m ndcg_cut.10 "$TMP/qbig" "$TMP/rbig"
  assert_success
  # (1 + 1e6 / log2 3) / (1e6 + 1 / log2 3)
  assert_line --regexp '^ndcg +	all	0.6309$'
  assert_line --regexp '^ndcg_cut_10 +	all	0.6309$'
  run timeout 60 score -m ndcg.1000000=2 "$TMP/qbig" "$TMP/rbig"
  assert_success
  # gains 2 and 1: (1 + 2 / log2 3) / (2 + 1 / log2 3)
  assert_line --regexp '^ndcg_1000000=2 +	all	0.8597$'
}

@test "score: blank lines in qrels are skipped (trec_eval refuses them)" {
  printf '1 0 r1 1\n\n1 0 r2 2\n   \n1 0 n1 0\n2 0 a 1\n2 0 b 0\n\n' >"$TMP/qblank"
  run score -m num_rel "$TMP/qblank" "$TMP/run"
  assert_success
  assert_line --regexp '^num_rel +	all	3$'
}

@test "score: trec_eval's long options, -n, -o, -D and -R/-T values" {
  run score --measure map --query_eval_wanted --nosummary "$TMP/qrels" "$TMP/run"
  assert_success
  assert_line --regexp '^map +	1	0\.8333$'
  refute_output --partial "all"
  run score -o -m map -D 0.2 "$TMP/qrels" "$TMP/run"
  assert_success
  assert_line --regexp '^map +	all	0\.5000$'
  run score -R nope "$TMP/qrels" "$TMP/run"
  assert_failure 2
  assert_output --partial "-R: unknown value 'nope'"
  run score -T trec_results -m num_q "$TMP/qrels" "$TMP/run"
  assert_success
}

@test "score: a qrels topic missing from the run fails unless -c" {
  printf '1 Q0 r1 1 3.0 t\n' >"$TMP/one"
  run score --qrels "$TMP/qrels" -m map "$TMP/one"
  assert_failure 1
  assert_output --partial "topic '2'"
  run score -c --qrels "$TMP/qrels" -m map -m num_q "$TMP/one"
  assert_success
  assert_line --regexp '^num_q +	all	2$'
  assert_line --regexp '^map +	all	0\.2500$'
}

@test "score: a docid twice in a topic is an error" {
  printf '1 Q0 r1 1 3.0 t\n1 Q0 r1 2 2.0 t\n2 Q0 a 1 1 t\n' >"$TMP/dup"
  run score --qrels "$TMP/qrels" "$TMP/dup"
  assert_failure 1
  assert_output --partial "'r1' occurs twice in topic '1'"
  assert_output --partial "line 2"
}

@test "score --compare: both means, difference, p-values; seeded" {
  printf '1 Q0 r2 1 3.0 B\n1 Q0 r1 2 2.0 B\n2 Q0 a 1 2 B\n' >"$TMP/runB"
  run score --qrels "$TMP/qrels" -m map -m P.1 "$TMP/run" --compare "$TMP/runB" --seed 3
  assert_success
  assert_line --index 0 "measure	mean_a	mean_b	diff	p_ttest	p_rand"
  assert_line --regexp '^map	0\.6667	1\.0000	\+0\.3333	[0-9.e-]+	[0-9.e-]+$'
  first=$output
  run score --qrels "$TMP/qrels" -m map -m P.1 "$TMP/run" --compare "$TMP/runB" --seed 3
  assert_equal "$output" "$first"
}

@test "score --groups: per-group summaries and their macro average" {
  printf '1\tde\n2\tfr\n' >"$TMP/groups"
  run score --qrels "$TMP/qrels" -m map -m num_q "$TMP/run" --groups "$TMP/groups"
  assert_success
  assert_line --regexp '^map +	all	0\.6667$'
  assert_line --regexp '^map +	group=de	0\.8333$'
  assert_line --regexp '^map +	group=fr	0\.5000$'
  assert_line --regexp '^num_q +	group=de	1$'
  assert_line --regexp '^map +	macro	0\.6667$'
  printf '1\tde\n' >"$TMP/partial"
  run score --qrels "$TMP/qrels" -m map "$TMP/run" --groups "$TMP/partial"
  assert_failure 1
  assert_output --partial "topic '2' has no group"
}

@test "score --groups: a malformed file is refused before anything is written to stdout" {
  for bad in '1\tde\n2 fr\n' '1\tde\n1\tfr\n2\tde\n' '1\tde\n2\t\n' '1\tde\textra\n2\tfr\n'; do
    printf "$bad" >"$TMP/groups.bad"
    score --qrels "$TMP/qrels" -q -m map "$TMP/run" --groups "$TMP/groups.bad" >"$TMP/out" 2>"$TMP/err" && fail "accepted: $bad"
    [ ! -s "$TMP/out" ] || fail "stdout written before the error: $(head -3 "$TMP/out")"
    grep -q "groups.bad" "$TMP/err" || fail "the error does not name the file: $(cat "$TMP/err")"
  done
}

@test "score: XTREME-R measures" {
  run score --qrels "$TMP/qrels" -m acc.1 -m xtreme_map.1 -q "$TMP/run"
  assert_success
  assert_line --regexp '^acc_1 +	1	1\.0000$'
  assert_line --regexp '^acc_1 +	2	0\.0000$'
  assert_line --regexp '^xtreme_map_1 +	1	1\.0000$'
  assert_line --regexp '^acc_1 +	all	0\.5000$'
}
