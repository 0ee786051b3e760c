#!/usr/bin/env bats
# Audit: issue 2's "Bad input" rules applied to every program that reads a
# record stream. For each reader, damaged copies of a valid input (cut inside
# a frame, cut right before the end frame, a flipped byte, a cut zstd stream,
# a frame length over the cap, an unknown major version, data after the end frame,
# a wrong record count in the end frame, a metadata key given twice,
# NaN, invalid UTF-8), a stream of the wrong record type, empty input and
# plain text must give exit 1, a message "PROG: ..." naming the place (record,
# byte offset or line), and no output that passes for a complete result: the
# output is empty, or (for stream output) `rec check` rejects it.
# KNOWN_BUGS: see audit-fixtures.bash (key PROG:CASE).
load common
load audit-fixtures

declare -gA KNOWN_BUGS=()

setup_file() {
  local T=$BATS_FILE_TMPDIR b m v
  audit_make_inputs "$T"
  local damage=("$ROOT/tests/bats/audit-damage.py")
  for b in t tok vec pair run; do
    for m in cut-mid cut-end flip huge endcount; do "${damage[@]}" "$T/$b.rec" "$T/$b.$m" "$m"; done
    "${damage[@]}" "$T/$b.rec" "$T/$b.ver" version 2
    cat "$T/$b.rec" "$T/$b.rec" >"$T/$b.twice"
    rec cat --zstd "$T/$b.rec" >"$T/$b.zst"
    head -c $(($(wc -c <"$T/$b.zst") - 10)) "$T/$b.zst" >"$T/$b.zcut"
    # a metadata key twice (issue 14 item 8): the last value must not defeat a guard
    "$ROOT/tests/bats/rec-corrupt.py" "$T/$b.rec" "$T/$b.dupmeta" addmeta model evil model evil2
  done
  # NaN in the first float of the first record's vectors (CRCs valid)
  v=$(rec dump "$T/vec.rec" | head -1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["vecs"][0][0])')
  "${damage[@]}" "$T/vec.rec" "$T/vec.nan" nan "$v"
  v=$(rec dump "$T/pair.rec" | head -1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["tgt_vecs"][0][0])')
  "${damage[@]}" "$T/pair.rec" "$T/pair.nan" nan "$v"
  # invalid UTF-8 in a string field (CRCs valid): "q1" -> "q\xff"
  for b in t vec run; do "${damage[@]}" "$T/$b.rec" "$T/$b.utf8" bytes 7131 71ff; done
  # a token id outside the model's vocabulary
  echo '{"id":"x","ids":[2,1000000,3]}' | rec encode --schema tokens >"$T/tok.badid"
  tokenize --pair --keep-text --vocab "$T/voc/vocab.txt" "$T/bi.tsv" >"$T/pair.novecs"
  # record-level errors: a sequence longer than the model's positions (record 1)
  python3 -c 'import json
print(json.dumps({"id": "a", "ids": [2, 5, 3]}))
print(json.dumps({"id": "long", "ids": [2] + [5] * 200 + [3]}))' | rec encode --schema tokens >"$T/tok.long"
  # d = 2 vectors against the model's d = 8
  echo '{"id":"x","ids":[1,2],"vecs":[[1,0],[0,1]]}' | rec encode --schema vectors >"$T/vec.d2"
  # a pair whose source side has only [CLS] [SEP] (record 1)
  printf 'e0\tHund\tdog\ne1\t\tThe dog\n' | tokenize --pair --vocab "$T/voc/vocab.txt" |
    embed --model "$T/model" --side src | embed --model "$T/model" --side tgt >"$T/pair.emptysrc"
  # TSV: invalid UTF-8 on line 2; an empty id on line 2
  printf 'a\tgut\nb\tbad \xff here\n' >"$T/utf8.tsv"
  printf 'a\tgut\n\tno id\n' >"$T/noid.tsv"
  # qrels with a short line 2
  printf 'q1 0 q1 1\nq2 0 q2\n' >"$T/qrels.bad"
  # a run stream with a docid twice in topic q1 (records 0 and 2)
  rec dump "$T/run.rec" | head -2 >"$T/dup.jsonl"
  rec dump "$T/run.rec" | head -1 >>"$T/dup.jsonl"
  rec encode --schema run "$T/dup.jsonl" >"$T/run.dup"
  # streams named like the expected record type but with another layout
  # (schema files): vecs f64; vecs rows != ids; pair with src/tgt dims
  # swapped; ids i32; docid u32; text u32
  audit_fake_schemas "$T"
  # a vectors stream whose schema fixes d = 2^32-1, with one record of n = 0
  echo '{"id":"x","ids":[],"vecs":[]}' | rec encode --schema vectors --dim d=1234567 >"$T/hostile.0"
  "$ROOT/tests/bats/rec-corrupt.py" "$T/hostile.0" "$T/hostile.rec" replace 0 87d6120000000000 ffffffff00000000
  : >"$T/empty"
  printf 'hello there\nsecond line\n' >"$T/plain.txt"
}

setup() {
  T=$BATS_FILE_TMPDIR
  FAILS=()
  KNOWN=()
}

# bad PROG CASE KIND INPUT PLACE -- CMD...: run CMD with INPUT on stdin.
#   KIND   stream: output must be empty or fail `rec check`; text: output must
#          be empty; any: a streaming text output (rec dump), partial lines
#          allowed since the exit status and message say it failed
#   PLACE  extended regex the message must match after "PROG: "
bad() {
  local prog=$1 case=$2 kind=$3 input=$4 place=$5 rc=0
  shift 6
  "$@" <"$input" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || rc=$?
  local msg
  msg=$(head -c 300 "$BATS_TEST_TMPDIR/err" | tr '\n' ' ')
  # under ASan/UBSan (make test-asan) a sanitizer report also exits 1
  if grep -qE 'Sanitizer|runtime error:' "$BATS_TEST_TMPDIR/err"; then
    flunk "$prog" "$case" "'$*' < $(basename "$input") ($case): sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error:' "$BATS_TEST_TMPDIR/err")"
    return
  fi
  if [ "$rc" -ne 1 ]; then
    flunk "$prog" "$case" "'$*' < $(basename "$input") ($case) exits $rc, not 1; stderr: '$msg'"
    return
  fi
  grep -qE "^$prog: .*($place)" "$BATS_TEST_TMPDIR/err" ||
    flunk "$prog" "$case" "'$*' < $(basename "$input") ($case): message does not match '$prog: ...($place)': '$msg'"
  if [ -s "$BATS_TEST_TMPDIR/out" ]; then
    case $kind in
    stream) ! rec check "$BATS_TEST_TMPDIR/out" >/dev/null 2>&1 ||
      flunk "$prog" "$case" "'$*' < $(basename "$input") ($case) fails but writes a complete stream ($(rec count "$BATS_TEST_TMPDIR/out") records)" ;;
    text) flunk "$prog" "$case" "'$*' < $(basename "$input") ($case) fails but writes $(wc -c <"$BATS_TEST_TMPDIR/out") bytes of output" ;;
    esac
  fi
}

# good INPUT -- CMD...: the control: CMD works on the valid INPUT (else the
# bad cases prove nothing).
good() {
  local input=$1 rc=0
  shift 2
  "$@" <"$input" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || rc=$?
  [ "$rc" -eq 0 ] || fail "control failed: '$*' < $input exits $rc: $(cat "$BATS_TEST_TMPDIR/err")"
  [ -s "$BATS_TEST_TMPDIR/out" ] || fail "control: '$*' < $input writes nothing"
}

REC_PLACE='record [0-9]+|byte [0-9]+'
# The frame cases of a reader of stream B, KIND output: cut inside a frame,
# before the end frame, flipped byte, cut zstd, a frame length over the cap,
# an unknown major version (the message must say which version it knows),
# two streams concatenated with cat (data after the end frame), an end frame
# whose record count disagrees.
frame_cases() { # PROG KIND B -- CMD...
  local prog=$1 kind=$2 b=$3
  shift 4
  good "$T/$b.rec" -- "$@"
  bad "$prog" cut-mid "$kind" "$T/$b.cut-mid" "$REC_PLACE" -- "$@"
  bad "$prog" cut-end "$kind" "$T/$b.cut-end" "$REC_PLACE" -- "$@"
  bad "$prog" flip "$kind" "$T/$b.flip" "$REC_PLACE" -- "$@"
  bad "$prog" zcut "$kind" "$T/$b.zcut" "$REC_PLACE|zstd" -- "$@"
  bad "$prog" huge "$kind" "$T/$b.huge" "$REC_PLACE" -- "$@"
  bad "$prog" version "$kind" "$T/$b.ver" "byte 0.*version 2.*version 1" -- "$@"
  bad "$prog" trailing "$kind" "$T/$b.twice" "byte [0-9]+.*trailing" -- "$@"
  bad "$prog" endcount "$kind" "$T/$b.endcount" "$REC_PLACE" -- "$@"
  bad "$prog" dupmeta "$kind" "$T/$b.dupmeta" "schema frame \(byte 8\): .*metadata key 'model' appears more than once" -- "$@"
}

# A program that only reads streams: empty input and plain text are errors
# at byte 0; WRONG is a stream of another record type named GOT (the message
# names the input and the type it got).
stream_only_cases() { # PROG KIND WRONG GOT -- CMD...
  local prog=$1 kind=$2 wrong=$3 got=$4
  shift 5
  bad "$prog" wrong-type "$kind" "$wrong" "(stdin|-|byte [0-9]+): .*'$got'" -- "$@"
  bad "$prog" empty "$kind" "$T/empty" "byte 0" -- "$@"
  bad "$prog" text "$kind" "$T/plain.txt" "byte 0.*text" -- "$@"
}

@test "badinput: rec dump, cat, count, check, head, shuffle, schema" {
  local sub
  frame_cases rec any t -- rec dump
  bad rec utf8 any "$T/t.utf8" "$REC_PLACE" -- rec dump
  bad rec empty any "$T/empty" "byte 0" -- rec dump
  bad rec text any "$T/plain.txt" "byte 0.*text" -- rec dump
  for sub in cat "shuffle --seed 1" "head -n 1000"; do
    # shellcheck disable=SC2086
    frame_cases rec stream t -- rec $sub
    # shellcheck disable=SC2086
    bad rec empty stream "$T/empty" "byte 0" -- rec $sub
  done
  frame_cases rec text t -- rec count
  bad rec check-expect text "$T/vec.rec" "'vectors'" -- rec check --expect text
  bad rec nan text "$T/vec.nan" "$REC_PLACE" -- rec check
  bad rec schema-empty text "$T/empty" "byte 0" -- rec schema
  bad rec schema-text text "$T/plain.txt" "byte 0.*text" -- rec schema
  verdict
}

@test "badinput: rec cat -o FILE leaves no file behind when its input is bad" {
  local f
  for f in t.cut-mid t.cut-end t.flip t.zcut empty; do
    rm -f "$BATS_TEST_TMPDIR/o.rec"
    if rec cat -o "$BATS_TEST_TMPDIR/o.rec" "$T/$f" 2>/dev/null; then
      flunk rec cat-o "rec cat -o FILE $f exits 0"
    fi
    [ ! -e "$BATS_TEST_TMPDIR/o.rec" ] || flunk rec cat-o "rec cat -o FILE $f leaves FILE behind"
    [ -z "$(ls "$BATS_TEST_TMPDIR" | grep -v '^out$\|^err$')" ] || flunk rec cat-o "rec cat -o FILE $f leaves a temporary: $(ls "$BATS_TEST_TMPDIR")"
  done
  verdict
}

@test "badinput: rec split leaves no shard behind when its input is bad" {
  local f how
  for f in t.cut-mid t.cut-end t.flip; do
    for how in "-n 2" "-l 10"; do
      rm -rf "$BATS_TEST_TMPDIR/sp" && mkdir "$BATS_TEST_TMPDIR/sp"
      # shellcheck disable=SC2086
      if rec split $how "$T/$f" "$BATS_TEST_TMPDIR/sp/part" >/dev/null 2>&1; then
        flunk rec split "rec split $how $f exits 0"
      fi
      [ -z "$(ls "$BATS_TEST_TMPDIR/sp")" ] ||
        flunk rec split "rec split $how $f (exit 1) leaves $(ls "$BATS_TEST_TMPDIR/sp" | tr '\n' ' ')"
    done
  done
  verdict
}

@test "badinput: tokenize (text records; TSV otherwise)" {
  local cmd=(tokenize --vocab "$T/voc/vocab.txt")
  frame_cases tokenize stream t -- "${cmd[@]}"
  bad tokenize wrong-type stream "$T/pair.rec" "(stdin|-): .*'pair'" -- "${cmd[@]}"
  bad tokenize utf8 stream "$T/t.utf8" "$REC_PLACE" -- "${cmd[@]}"
  # not a stream, so TSV: a line without a TAB is an error naming the line
  bad tokenize text stream "$T/plain.txt" "line 1" -- "${cmd[@]}"
  # --decode: tokens records to TSV lines, streamed like rec dump
  frame_cases tokenize any tok -- tokenize --decode --vocab "$T/voc/vocab.txt"
  stream_only_cases tokenize any "$T/t.rec" text -- tokenize --decode --vocab "$T/voc/vocab.txt"
  verdict
}

@test "badinput: embed (tokens, and pair with --side)" {
  local cmd=(embed --model "$T/model" --threads 1)
  frame_cases embed stream tok -- "${cmd[@]}"
  stream_only_cases embed stream "$T/t.rec" text -- "${cmd[@]}"
  bad embed bad-id stream "$T/tok.badid" "record 0" -- "${cmd[@]}"
  frame_cases embed stream pair -- "${cmd[@]}" --side src
  bad embed wrong-type-pair stream "$T/tok.rec" "(stdin|-): .*'tokens'" -- "${cmd[@]}" --side src
  verdict
}

@test "badinput: ot-align (pair with vectors)" {
  local cmd=(ot-align --threads 1)
  frame_cases ot-align stream pair -- "${cmd[@]}"
  stream_only_cases ot-align stream "$T/tok.rec" tokens -- "${cmd[@]}"
  bad ot-align nan stream "$T/pair.nan" "$REC_PLACE" -- "${cmd[@]}"
  # a pair stream without vectors (tokenize's output, embed not run)
  bad ot-align no-vecs stream "$T/pair.novecs" "record 0" -- "${cmd[@]}"
  verdict
}

@test "badinput: perturb (text records, pair records; TSV otherwise)" {
  local cmd=(perturb --typo 0.5 --seed 1)
  frame_cases perturb stream t -- "${cmd[@]}"
  bad perturb wrong-type stream "$T/tok.rec" "(stdin|-): .*'tokens'" -- "${cmd[@]}"
  bad perturb utf8 stream "$T/t.utf8" "$REC_PLACE" -- "${cmd[@]}"
  bad perturb text stream "$T/plain.txt" "line 1" -- "${cmd[@]}"
  frame_cases perturb stream pair -- "${cmd[@]}" --model "$T/model"
  frame_cases perturb stream pair -- perturb --worst-of 2 --typo 0.3 --model "$T/model" --threads 1
  frame_cases perturb stream pair -- perturb --attack fgsm --adv-eps 0.5 --model "$T/model" --threads 1
  bad perturb attack-wrong-type stream "$T/t.rec" "(stdin|-): .*'text'" -- perturb --attack fgsm --adv-eps 0.5 --model "$T/model" --threads 1
  bad perturb attack-no-vecs stream "$T/pair.novecs" "record 0|tgt_vecs" -- perturb --attack fgsm --adv-eps 0.5 --model "$T/model" --threads 1
  verdict
}

@test "badinput: distill-step (pair with tgt_vecs, on stdin and --input)" {
  local cmd=(distill-step --init "$T/model" --out "$BATS_TEST_TMPDIR/student" --lr 1e-3 --threads 1)
  frame_cases distill-step stream pair -- "${cmd[@]}"
  stream_only_cases distill-step stream "$T/tok.rec" tokens -- "${cmd[@]}"
  bad distill-step nan stream "$T/pair.nan" "$REC_PLACE" -- "${cmd[@]}"
  bad distill-step no-vecs stream "$T/pair.novecs" "record 0|tgt_vecs" -- "${cmd[@]}"
  bad distill-step input-cut-end stream /dev/null "$REC_PLACE" -- "${cmd[@]}" --input "$T/pair.cut-end"
  bad distill-step input-flip stream /dev/null "$REC_PLACE" -- "${cmd[@]}" --input "$T/pair.flip"
  verdict
}

@test "badinput: distill-step writes no student when its input is bad" {
  local f
  for f in pair.cut-mid pair.cut-end pair.flip pair.nan; do
    rm -rf "$BATS_TEST_TMPDIR/student"
    if distill-step --init "$T/model" --out "$BATS_TEST_TMPDIR/student" --lr 1e-3 --threads 1 <"$T/$f" >/dev/null 2>&1; then
      flunk distill-step no-student "distill-step < $f exits 0"
    fi
    [ ! -e "$BATS_TEST_TMPDIR/student" ] || flunk distill-step no-student "distill-step < $f leaves a student in --out"
  done
  verdict
}

@test "badinput: rank (queries on stdin, --docs FILE)" {
  local cmd=(rank --docs "$T/vec.rec" --threads 1)
  frame_cases rank stream vec -- "${cmd[@]}"
  stream_only_cases rank stream "$T/t.rec" text -- "${cmd[@]}"
  bad rank nan stream "$T/vec.nan" "$REC_PLACE" -- "${cmd[@]}"
  bad rank utf8 stream "$T/vec.utf8" "$REC_PLACE" -- "${cmd[@]}"
  frame_cases rank text vec -- "${cmd[@]}" --trec
  local f
  for f in cut-mid cut-end flip zcut nan utf8 dupmeta; do
    bad rank "docs-$f" stream "$T/vec.rec" "vec\.$f: .*($REC_PLACE|zstd)" -- rank --docs "$T/vec.$f" --threads 1
  done
  bad rank docs-wrong-type stream "$T/vec.rec" "t\.rec: .*'text'" -- rank --docs "$T/t.rec" --threads 1
  bad rank docs-empty stream "$T/vec.rec" "empty" -- rank --docs "$T/empty" --threads 1
  bad rank docs-text stream "$T/vec.rec" "plain\.txt: .*text" -- rank --docs "$T/plain.txt" --threads 1
  # issue 14 item 13: d = 2^32-1 in a 256-byte stream, queries and documents
  # alike, is refused before anything is allocated from it
  bad rank docs-hostile-d stream "$T/vec.rec" "hostile\.rec: schema frame \(byte 8\): .*d = 4294967295" -- rank --docs "$T/hostile.rec" --threads 1
  bad rank hostile-d stream "$T/hostile.rec" "stdin: schema frame \(byte 8\): .*d = 4294967295" -- rank --docs "$T/vec.rec" --threads 1
  bad rank hostile-both stream "$T/hostile.rec" "schema frame \(byte 8\): .*d = 4294967295" -- rank --docs "$T/hostile.rec" --threads 1
  verdict
}

@test "badinput: score (run records; TREC text otherwise)" {
  local cmd=(score --qrels "$T/qrels")
  frame_cases score text run -- "${cmd[@]}"
  bad score wrong-type text "$T/vec.rec" "(stdin|-): .*'vectors'" -- "${cmd[@]}"
  bad score utf8 text "$T/run.utf8" "$REC_PLACE" -- "${cmd[@]}"
  bad score text text "$T/plain.txt" "line 1" -- "${cmd[@]}"
  # a stream given as the qrels
  bad score qrels-stream text "$T/run.rec" "line 1|byte 0|stream" -- score --qrels "$T/run.rec"
  verdict
}

@test "badinput: record-level and line-level errors name the record or the line" {
  bad embed too-long stream "$T/tok.long" "record 1" -- embed --model "$T/model" --threads 1
  bad rank dim-queries stream "$T/vec.d2" "d = 2" -- rank --docs "$T/vec.rec" --threads 1
  bad rank dim-docs stream "$T/vec.rec" "d = 2" -- rank --docs "$T/vec.d2" --threads 1
  bad ot-align empty-side stream "$T/pair.emptysrc" "record 1" -- ot-align --skip-ends --threads 1
  bad tokenize tsv-utf8 stream "$T/utf8.tsv" "line 2" -- tokenize --vocab "$T/voc/vocab.txt"
  bad tokenize tsv-noid stream "$T/noid.tsv" "line 2" -- tokenize --vocab "$T/voc/vocab.txt"
  # TSV in, TSV out: lines before the bad one may be out already (as with
  # any line filter); the exit status says it failed
  bad perturb tsv-utf8 any "$T/utf8.tsv" "line 2" -- perturb --typo 0.5
  bad score qrels-line text "$T/run.rec" "qrels\.bad: line 2" -- score --qrels "$T/qrels.bad"
  bad score dup-docid text "$T/run.dup" "record 2" -- score --qrels "$T/qrels"
  verdict
}

@test "badinput: a damaged FILE operand is named in the message" {
  local f
  for f in cut-mid cut-end flip; do
    bad rec "file-$f" any /dev/null "t\.$f: .*($REC_PLACE)" -- rec dump "$T/t.$f"
    # rec check reports each file; the valid one gets its "ok" line
    bad rec "check-$f" any /dev/null "t\.$f: .*($REC_PLACE)" -- rec check "$T/t.rec" "$T/t.$f"
    bad tokenize "file-$f" stream /dev/null "t\.$f: .*($REC_PLACE)" -- tokenize --vocab "$T/voc/vocab.txt" "$T/t.$f"
    bad embed "file-$f" stream /dev/null "tok\.$f: .*($REC_PLACE)" -- embed --model "$T/model" --threads 1 "$T/tok.$f"
    bad ot-align "file-$f" stream /dev/null "pair\.$f: .*($REC_PLACE)" -- ot-align --threads 1 "$T/pair.$f"
    bad perturb "file-$f" stream /dev/null "t\.$f: .*($REC_PLACE)" -- perturb --typo 0.5 "$T/t.$f"
    bad score "file-$f" text /dev/null "run\.$f: .*($REC_PLACE)" -- score --qrels "$T/qrels" "$T/run.$f"
  done
  verdict
}

@test "badinput: a stream named like the expected type but with another layout is refused" {
  bad rank layout-f64 stream "$T/fake.vec-f64" "record 0|vecs|schema" -- rank --allow-model-mismatch --docs "$T/vec.rec" --threads 1
  bad rank layout-rows stream "$T/fake.vec-rows" "record 0|vecs|schema" -- rank --allow-model-mismatch --docs "$T/vec.rec" --threads 1
  bad rank layout-rows-skip stream "$T/fake.vec-rows" "record 0|vecs|schema" -- rank --allow-model-mismatch --skip-ids 2 --docs "$T/vec.rec" --threads 1
  bad rank layout-rows-docs stream "$T/vec.rec" "record 0|vecs|schema" -- rank --allow-model-mismatch --docs "$T/fake.vec-rows" --threads 1
  bad rank layout-novecs stream "$T/fake.vec-novecs" "vecs" -- rank --allow-model-mismatch --docs "$T/vec.rec" --threads 1
  bad ot-align layout-swapped stream "$T/fake.pair-swapped" "record 0|src_vecs|schema" -- ot-align --threads 1
  bad distill-step layout-swapped stream "$T/fake.pair-swapped" "record 0|tgt_vecs|schema" -- distill-step --init "$T/model" --out "$BATS_TEST_TMPDIR/s" --threads 1
  bad embed layout-i32 stream "$T/fake.tok-i32" "record 0|ids|schema" -- embed --model "$T/model" --threads 1
  bad score layout-u32 text "$T/fake.run-u32" "record 0|docid|schema" -- score --qrels "$T/qrels"
  bad tokenize layout-u32 stream "$T/fake.text-u32" "record 0|text|schema" -- tokenize --vocab "$T/voc/vocab.txt"
  bad perturb layout-u32 stream "$T/fake.text-u32" "record 0|text|schema" -- perturb --typo 0.5
  # a field the program does not know is no reason to refuse a stream
  embed --model "$T/model" --threads 1 <"$T/fake.tok-extra" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" ||
    flunk embed layout-extra "embed refuses a tokens stream with an extra field: $(head -c 200 "$BATS_TEST_TMPDIR/err")"
  verdict
}

@test "badinput: a directory or a missing file as input is an error naming it" {
  local d=$BATS_TEST_TMPDIR/adir what path
  mkdir -p "$d"
  for what in adir missing; do
    path=$BATS_TEST_TMPDIR/$what
    bad rec "$what" text /dev/null "$what" -- rec dump "$path"
    bad tokenize "$what" stream /dev/null "$what" -- tokenize --vocab "$T/voc/vocab.txt" "$path"
    bad embed "$what" stream /dev/null "$what" -- embed --model "$T/model" --threads 1 "$path"
    bad ot-align "$what" stream /dev/null "$what" -- ot-align --threads 1 "$path"
    bad perturb "$what" stream /dev/null "$what" -- perturb --typo 0.5 "$path"
    bad distill-step "$what" stream /dev/null "$what" -- distill-step --init "$T/model" --out "$BATS_TEST_TMPDIR/s" --threads 1 --input "$path"
    bad rank "$what" stream "$T/vec.rec" "$what" -- rank --docs "$path" --threads 1
    bad score "$what" text /dev/null "$what" -- score --qrels "$T/qrels" "$path"
    bad score "qrels-$what" text /dev/null "$what" -- score --qrels "$path" "$T/run.rec"
  done
  verdict
}

# Records damaged below the checksums (random bytes, CRCs recomputed): a
# reader may accept one whose bytes still make sense, but must never crash,
# hang or report a sanitizer error; exit 0 (then the output is a valid stream
# or text) or exit 1 with "PROG: ...".
@test "badinput: records damaged under valid CRCs never crash a reader (4 seeds)" {
  local s b rc D=$BATS_TEST_TMPDIR spec prog in
  for b in t tok pair vec run; do rec head -n 3 "$T/$b.rec" >"$D/$b.small"; done
  for s in 1 2 3 4; do
    for b in t tok pair vec run; do "$ROOT/tests/bats/audit-damage.py" "$D/$b.small" "$D/m.$b" mutate "$s"; done
    while IFS= read -r spec; do
      eval "set -- $spec"
      prog=$1 in=$2
      shift 2
      rc=0
      timeout 60 "$@" <"$in" >"$D/out" 2>"$D/err" || rc=$?
      if grep -qE 'Sanitizer|runtime error:' "$D/err"; then
        flunk "$prog" "mutate-$s" "'$*' < $(basename "$in") (mutate seed $s): $(grep -m1 -E 'Sanitizer|runtime error:' "$D/err")"
      elif [ "$rc" -gt 1 ]; then
        flunk "$prog" "mutate-$s" "'$*' < $(basename "$in") (mutate seed $s) exits $rc: $(head -c 200 "$D/err")"
      elif [ "$rc" -eq 1 ] && ! grep -q "^$prog: " "$D/err"; then
        flunk "$prog" "mutate-$s" "'$*' < $(basename "$in") (mutate seed $s) exits 1 without a '$prog: ' message"
      fi
    done <<'EOF'
tokenize "$D/m.t" tokenize --vocab "$T/voc/vocab.txt"
perturb "$D/m.t" perturb --typo 0.5
embed "$D/m.tok" embed --model "$T/model" --threads 1
embed "$D/m.pair" embed --model "$T/model" --side src --threads 1
ot-align "$D/m.pair" ot-align --threads 1 --align
perturb "$D/m.pair" perturb --attack fgsm --adv-eps 0.5 --model "$T/model" --threads 1
distill-step "$D/m.pair" distill-step --init "$T/model" --out "$D/st" --threads 1
rank "$D/m.vec" rank --docs "$T/vec.rec" --threads 1 --allow-model-mismatch
rank "$T/vec.rec" rank --docs "$D/m.vec" --threads 1 --allow-model-mismatch --mode maxsim
score "$D/m.run" score --qrels "$T/qrels"
tokenize "$D/m.tok" tokenize --decode --vocab "$T/voc/vocab.txt"
EOF
  done
  verdict
}
