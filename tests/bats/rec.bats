#!/usr/bin/env bats
# rec: the stream tool. Round-trips, every bad input of issue 2 (each must
# exit 1 naming the problem and the place), and the CLI conventions.
load common

CORRUPT="$BATS_TEST_DIRNAME/rec-corrupt.py"

setup() {
  T=$BATS_TEST_TMPDIR
  cat > "$T/text.jsonl" <<'EOF'
{"id":"d1","lang":"en","text":"hello world"}
{"id":"d2","text":"no language given"}
{"id":"d3","lang":"de","text":"Grüße, \"quoted\"\ttab \\ backslash 世界 🌍"}
EOF
  cat > "$T/vectors.jsonl" <<'EOF'
{"id":"v1","ids":[101,7,102],"vecs":[[0.1,-0,1.5],[1e-45,3.4028235e+38,-2.5],[0.33333334,1,2]],"vec":[1,2,3]}
{"id":"v2","lang":"fr","ids":[],"vecs":[]}
{"id":"v3","ids":[5],"vecs":[[7,8,9]]}
EOF
  cat > "$T/tokens.jsonl" <<'EOF'
{"id":"t1","lang":"en","ids":[101,2023,102],"offsets":[[0,0],[0,4],[0,0]]}
{"id":"t2","ids":[101,102]}
EOF
  cat > "$T/pair.jsonl" <<'EOF'
{"id":"p1","src_lang":"de","tgt_lang":"en","src_ids":[1,2],"tgt_ids":[3],"src_vecs":[[1,2],[3,4]],"tgt_vecs":[[5,6]],"src_text":"Hallo","tgt_text":"hello"}
{"id":"p2","src_lang":"sw","tgt_lang":"en","src_ids":[9],"tgt_ids":[8,7]}
EOF
  cat > "$T/plan.jsonl" <<'EOF'
{"id":"p1","cost":0.12345678901234566,"iters":17,"err":1e-09,"plan":[[0.25,0.25],[0.5,0]],"align":[[0,0],[1,0]]}
{"id":"p2","cost":3,"iters":0,"err":0}
EOF
  cat > "$T/run.jsonl" <<'EOF'
{"qid":"q1","docid":"doc7","rank":1,"score":12.5}
{"qid":"q1","docid":"doc3","rank":2,"score":-0.001}
EOF
  cat > "$T/trainlog.jsonl" <<'EOF'
{"step":1,"loss":2.5,"ot":2,"adv":0.5,"grad_norm":10.25,"lr":0.003,"tokens_per_s":12345.5,"epoch":0}
EOF
}

# ---- conventions ----

@test "rec --help prints the manual on stdout and exits 0" {
  run rec --help
  assert_success
  assert_output --partial "Usage:"
  assert_output --partial "Exit status"
  assert_output --partial "from-tsv"
}

@test "rec SUBCOMMAND --help also prints the manual" {
  run rec dump --help
  assert_success
  assert_output --partial "Subcommands:"
}

@test "rec --version" {
  run rec --version
  assert_success
  assert_output --regexp '^rec \(otclir\) [0-9]'
}

@test "no subcommand, unknown subcommand, unknown option: usage, exit 2" {
  run rec
  assert_failure 2
  assert_output --partial "Usage: rec encode"
  run rec frobnicate
  assert_failure 2
  assert_output --partial "unknown subcommand 'frobnicate'"
  run rec dump --bogus
  assert_failure 2
  run rec encode
  assert_failure 2
  assert_output --partial "--schema NAME is required"
  run rec encode --schema nosuch
  assert_failure 2
  assert_output --partial "unknown schema 'nosuch'"
  run rec head -n x
  assert_failure 2
  run rec dump --seed 3
  assert_failure 2
  assert_output --partial "dump: option --seed does not apply"
  run rec split -n 0 x y
  assert_failure 2
}

# ---- round-trips ----

@test "encode | dump round-trips every record type exactly" {
  for t in text vectors tokens pair plan run trainlog; do
    rec encode --schema "$t" "$T/$t.jsonl" > "$T/$t.rec"
    run rec dump "$T/$t.rec"
    assert_success
    [ "$output" = "$(cat "$T/$t.jsonl")" ] || { echo "type $t differs:"; echo "$output"; return 1; }
  done
}

@test "encode | dump | encode is bit-exact, including awkward floats" {
  printf '%s\n' '{"id":"x","ids":[1,2,3,4,5,6],"vecs":[[0.1],[16777217],[1.17549435e-38],[1e-46],[-0.0],[3.14159265358979]]}' > "$T/f.jsonl"
  rec encode --schema vectors "$T/f.jsonl" > "$T/a.rec"
  rec dump "$T/a.rec" | rec encode --schema vectors > "$T/b.rec"
  cmp "$T/a.rec" "$T/b.rec"
  run rec dump "$T/a.rec"
  assert_output '{"id":"x","ids":[1,2,3,4,5,6],"vecs":[[0.1],[16777216],[1.1754944e-38],[0],[-0],[3.1415927]]}'
}

@test "zstd: --zstd and a .zst output name compress; readers detect it" {
  rec encode --schema text --zstd=5 "$T/text.jsonl" > "$T/z.rec"
  rec encode --schema text -o "$T/o.rec.zst" "$T/text.jsonl"
  [ "$(head -c4 "$T/z.rec" | od -An -tx1 | tr -d ' ')" = "28b52ffd" ]
  [ "$(head -c4 "$T/o.rec.zst" | od -An -tx1 | tr -d ' ')" = "28b52ffd" ]
  run rec check "$T/z.rec" "$T/o.rec.zst"
  assert_success
  assert_output --partial "ok: 3 text records (zstd)"
  run rec dump "$T/o.rec.zst"
  assert_output "$(cat "$T/text.jsonl")"
}

@test "metadata: --meta is stored and printed by rec schema" {
  rec encode --schema vectors --meta model=bert-x --meta "layer=12" "$T/vectors.jsonl" > "$T/v.rec"
  run rec schema "$T/v.rec"
  assert_success
  assert_output --partial "record: vectors"
  assert_output --partial "dims: {n: record, d: 3}"
  assert_output --partial "  - {name: vecs, type: f32, shape: [n, d]}"
  assert_output --partial "  model: bert-x"
  assert_output --partial "  layer: 12"
}

@test "cat, head, count, shuffle, split" {
  rec encode --schema text "$T/text.jsonl" > "$T/t.rec"
  rec cat "$T/t.rec" "$T/t.rec" - < "$T/t.rec" > "$T/c.rec"
  run rec count "$T/c.rec"
  assert_output "9"
  run rec count "$T/t.rec" "$T/c.rec"
  assert_output "3 $T/t.rec
9 $T/c.rec"
  run bash -c "rec head -n 2 '$T/c.rec' | rec dump"
  assert_output "$(head -n 2 "$T/text.jsonl")"
  run bash -c "rec head -n 0 '$T/c.rec' | rec count"
  assert_output "0"
  rec shuffle --seed 7 "$T/c.rec" > "$T/s1.rec"
  rec shuffle --seed 7 < "$T/c.rec" > "$T/s2.rec"
  rec shuffle --seed 8 "$T/c.rec" > "$T/s3.rec"
  cmp "$T/s1.rec" "$T/s2.rec"
  ! cmp -s "$T/s1.rec" "$T/s3.rec"
  [ "$(rec dump "$T/s1.rec" | sort)" = "$(rec dump "$T/c.rec" | sort)" ]
  run rec split -n 4 "$T/c.rec" "$T/part"
  assert_success
  assert_line --index 0 "$T/part-000.rec"
  [ "$(rec count "$T/part-000.rec")" = 3 ]
  [ "$(rec count "$T/part-003.rec")" = 2 ]
  [ "$(rec dump "$T/part-001.rec" | head -n1)" = "$(sed -n 2p "$T/text.jsonl")" ]
  run rec split -l 4 --zstd "$T/c.rec" "$T/run"
  assert_output "$T/run-000.rec.zst
$T/run-001.rec.zst
$T/run-002.rec.zst"
  [ "$(rec count "$T/run-002.rec.zst")" = 1 ]
}

@test "cat refuses streams with different schemas or metadata" {
  rec encode --schema text "$T/text.jsonl" > "$T/t.rec"
  rec encode --schema run "$T/run.jsonl" > "$T/r.rec"
  run rec cat "$T/t.rec" "$T/r.rec"
  assert_failure 1
  assert_output --partial "record type 'text' vs 'run'"
  rec encode --schema text --meta producer=a "$T/text.jsonl" > "$T/a.rec"
  run rec cat "$T/t.rec" "$T/a.rec"
  assert_failure 1
  assert_output --partial "metadata"
  run bash -c "rec cat --ignore-meta '$T/t.rec' '$T/a.rec' | rec count"
  assert_output "6"
}

@test "from-tsv: three columns, --no-lang, --lang, CRLF; bad lines named" {
  printf 'q1\ten\thello there\r\nq2\tde\tGuten Tag\n' | rec from-tsv > "$T/q.rec"
  run rec dump "$T/q.rec"
  assert_output '{"id":"q1","lang":"en","text":"hello there"}
{"id":"q2","lang":"de","text":"Guten Tag"}'
  run bash -c "printf 'a\tone\n' | rec from-tsv --no-lang | rec dump"
  assert_output '{"id":"a","text":"one"}'
  run bash -c "printf 'a\tone\n' | rec from-tsv --lang sw | rec dump"
  assert_output '{"id":"a","lang":"sw","text":"one"}'
  run bash -c "printf 'q1\ten\tok\nq2\tonly two\n' | rec from-tsv > /dev/null"
  assert_failure 1
  assert_output --partial "stdin: line 2: expected 3 tab-separated columns (id, lang, text), got 2"
  run bash -c "printf 'q1\ten\tbad \xff byte\n' | rec from-tsv > /dev/null"
  assert_failure 1
  assert_output --partial "line 1: column 3: invalid UTF-8"
  run bash -c "printf '\ten\tx\n' | rec from-tsv > /dev/null"
  assert_failure 1
  assert_output --partial "line 1: empty id"
}

@test "encode: bad JSON lines are errors naming the line and field" {
  run bash -c "printf '{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"b\",\"txet\":\"y\"}\n' | rec encode --schema text > /dev/null"
  assert_failure 1
  assert_output --partial "stdin: line 2: unknown field 'txet' for record type 'text'"
  run bash -c "printf '{\"id\":\"a\",\"text\":\n' | rec encode --schema text > /dev/null"
  assert_failure 1
  assert_output --partial "line 1: invalid JSON"
  run bash -c "printf '{\"id\":\"a\"}\n' | rec encode --schema text > /dev/null"
  assert_failure 1
  assert_output --partial "required field 'text' is missing"
  run bash -c "printf '{\"id\":\"a\",\"ids\":[1,2],\"vecs\":[[1,2],[3]]}\n' | rec encode --schema vectors > /dev/null"
  assert_failure 1
  assert_output --partial "field 'vecs': ragged array"
  run bash -c "printf '{\"id\":\"a\",\"ids\":[1,2],\"vecs\":[[1,2]]}\n' | rec encode --schema vectors > /dev/null"
  assert_failure 1
  assert_output --partial "field 'vecs' has n = 1 but field 'ids' has n = 2"
  run bash -c "printf '{\"id\":\"a\",\"ids\":[-1],\"vecs\":[[1]]}\n' | rec encode --schema vectors > /dev/null"
  assert_failure 1
  assert_output --partial "'-1' is not a u32"
  run bash -c "printf '{\"id\":\"a\",\"ids\":[1],\"vecs\":[[1e39]]}\n' | rec encode --schema vectors > /dev/null"
  assert_failure 1
  assert_output --partial "does not fit an f32"
  run bash -c "printf '{\"id\":\"a\",\"text\":\"nul\\\\u0000here\"}\n' | rec encode --schema text > /dev/null"
  assert_failure 1
  assert_output --partial "NUL byte"
}

@test "encode: a schema given as a YAML file; --dim fixes a stream dimension" {
  printf 'record: pts\ndims: {n: record, k: stream}\nfields:\n  - {name: p, type: i32, shape: [n, k]}\n' > "$T/pts.yaml"
  run bash -c "printf '{\"p\":[]}\n{\"p\":[[-1,2]]}\n' | rec encode --schema '$T/pts.yaml' --dim k=2 | rec dump"
  assert_success
  assert_output '{"p":[]}
{"p":[[-1,2]]}'
  run bash -c "printf '{\"p\":[]}\n' | rec encode --schema '$T/pts.yaml' > /dev/null"
  assert_failure 1
  assert_output --partial "cannot tell dimension 'k' from an empty array"
}

@test "output files are atomic: no file is left by a failed run" {
  run bash -c "printf '{\"id\":\"a\",\"text\":\"x\"}\nnot json\n' | rec encode --schema text -o '$T/out.rec'"
  assert_failure 1
  [ ! -e "$T/out.rec" ]
  [ -z "$(ls "$T" | grep 'out.rec')" ]
}

# wait_for FILE: up to 10 s for FILE to exist
wait_for() {
  local i
  for i in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done
  return 1
}

@test "rec cat -o F killed by SIGKILL: the next run of F removes its F.tmp.PID, never a live writer's" {
  rec encode --schema text "$T/text.jsonl" > "$T/t.rec"
  hdr=$(( $(rec encode --schema text < /dev/null | wc -c) - 24 ))  # header + schema frame
  mkfifo "$T/in1" "$T/in2"
  # run 1: blocked reading records, then killed (no exit handler runs)
  rec cat -o "$T/out.rec" "$T/in1" 3>&- & pid1=$!   # (fd 3 is bats' own)
  exec 7>"$T/in1"
  head -c "$hdr" "$T/t.rec" >&7
  wait_for "$T/out.rec.tmp.$pid1"
  kill -9 "$pid1"
  wait "$pid1" || true
  exec 7>&-
  [ -e "$T/out.rec.tmp.$pid1" ]       # the debris of issue 14 item 12
  # run 2: a live writer of the same output, blocked the same way
  rec cat -o "$T/out.rec" "$T/in2" 3>&- & pid2=$!
  exec 8>"$T/in2"
  head -c "$hdr" "$T/t.rec" >&8
  wait_for "$T/out.rec.tmp.$pid2"
  # run 3, to completion: removes run 1's temporary, leaves run 2's alone
  touch "$T/out.rec.tmp.notapid"
  run rec cat -o "$T/out.rec" "$T/t.rec"
  assert_success
  [ ! -e "$T/out.rec.tmp.$pid1" ]
  [ -e "$T/out.rec.tmp.$pid2" ]
  [ -e "$T/out.rec.tmp.notapid" ]
  [ "$(rec count "$T/out.rec")" = 3 ]
  # run 2 finishes normally: its temporary was intact
  tail -c +$((hdr + 1)) "$T/t.rec" >&8
  exec 8>&-
  wait "$pid2"
  [ ! -e "$T/out.rec.tmp.$pid2" ]
  run rec dump "$T/out.rec"
  assert_output "$(cat "$T/text.jsonl")"
}

@test "-o onto an existing FIFO (or device) writes into it, never renames a temporary over it" {
  rec encode --schema text "$T/text.jsonl" > "$T/t.rec"
  mkfifo "$T/pipe"
  timeout 10 bash -c 'rec count < "$1"' _ "$T/pipe" > "$T/n" 3>&- &   # (timed: a broken writer leaves it waiting)
  run rec cat -o "$T/pipe" "$T/t.rec"
  assert_success
  wait
  [ -p "$T/pipe" ]
  [ "$(cat "$T/n")" = 3 ]
  run rec cat -o "$T" "$T/t.rec"
  assert_failure 1
  assert_output --partial "cannot write to '$T': Is a directory"
}

@test "a reader that stops early ends the writer quietly (EPIPE)" {
  yes '{"id":"a","text":"some text"}' | head -n 200000 | rec encode --schema text > "$T/big.rec"
  run bash -c "set -o pipefail; rec dump '$T/big.rec' | head -n 1"
  assert_success
  run bash -c "set -o pipefail; rec cat '$T/big.rec' | rec head -n 1 | rec count"
  assert_success
  assert_output "1"
}

# ---- bad input: each gives its message, the place, exit 1 ----

@test "bad magic: text input gets a hint" {
  run rec dump "$T/text.jsonl"
  assert_failure 1
  assert_output --partial "rec: $T/text.jsonl: byte 0: not an otclir record stream (bad magic); it looks like JSON text"
  run bash -c "printf 'q1\ten\thello\n' | rec count"
  assert_failure 1
  assert_output --partial "it looks like text"
  run bash -c "head -c 100 /dev/zero | rec count"
  assert_failure 1
  assert_output --partial "not an otclir record stream (bad magic)"
}

@test "bad magic: zstd data that does not decompress, or is not a stream inside" {
  printf '\x28\xb5\x2f\xfd\x01\x02\x03\x04\x05\x06\x07\x08' > "$T/junk.zst"
  run rec check "$T/junk.zst"
  assert_failure 1
  assert_output --partial "zstd decompression failed"
  echo '{"a":1}' | zstd -q -c > "$T/json.zst"
  run rec dump "$T/json.zst"
  assert_failure 1
  assert_output --partial "bad magic inside zstd-compressed data"
  rec encode --schema text --zstd "$T/text.jsonl" | head -c 60 > "$T/trunc.zst"
  run rec dump "$T/trunc.zst"
  assert_failure 1
  assert_output --partial "truncated"
}

@test "empty input" {
  run bash -c "rec dump < /dev/null"
  assert_failure 1
  assert_output --partial "stdin: byte 0: empty input"
}

@test "unknown major version: the message lists the known version" {
  rec encode --schema text "$T/text.jsonl" > "$T/t.rec"
  python3 "$CORRUPT" "$T/t.rec" "$T/v2.rec" version 2
  run rec dump "$T/v2.rec"
  assert_failure 1
  assert_output --partial "unsupported stream format version 2 (this reader knows version 1)"
}

@test "wrong record type for the consumer: rec check --expect" {
  rec encode --schema text "$T/text.jsonl" > "$T/t.rec"
  run rec check --expect vectors "$T/t.rec"
  assert_failure 1
  assert_output --partial "$T/t.rec: expected a 'vectors' stream, got 'text'"
  run rec check --expect text -q "$T/t.rec"
  assert_success
  assert_output ""
}

@test "CRC mismatch in a record payload names the record and byte offset" {
  rec encode --schema text "$T/text.jsonl" > "$T/t.rec"
  python3 "$CORRUPT" "$T/t.rec" "$T/bad.rec" stale 2 6e6f206c616e6775616765 6e6f206c616e6775616766
  run rec check "$T/bad.rec"
  assert_failure 1
  assert_output --regexp "bad.rec: record 1 \(byte [0-9]+\): payload CRC-32C mismatch in record frame"
  run rec dump "$T/bad.rec"
  assert_failure 1
  assert_line --index 0 '{"id":"d1","lang":"en","text":"hello world"}'
}

@test "a flipped length byte is caught by the frame header CRC" {
  rec encode --schema text "$T/text.jsonl" > "$T/t.rec"
  off=$(( $(rec encode --schema text < /dev/null | wc -c) - 24 + 4 ))
  python3 "$CORRUPT" "$T/t.rec" "$T/bad.rec" flip "$off"
  run rec count "$T/bad.rec"
  assert_failure 1
  assert_output --partial "record 0 (byte $((off - 4))): frame header CRC-32C mismatch"
}

@test "oversized frame length is refused before allocating" {
  rec encode --schema text "$T/text.jsonl" > "$T/t.rec"
  python3 "$CORRUPT" "$T/t.rec" "$T/big.rec" setlen 1 4000000000
  run rec count "$T/big.rec"
  assert_failure 1
  assert_output --regexp "record 0 \(byte [0-9]+\): record frame length 4000000000 exceeds the limit of 1073741824 bytes"
}

@test "truncated frame" {
  rec encode --schema text "$T/text.jsonl" > "$T/t.rec"
  head -c 150 "$T/t.rec" > "$T/cut.rec"
  run rec dump "$T/cut.rec"
  assert_failure 1
  assert_output --partial "truncated stream: input ends inside a record frame"
  run bash -c "head -c 190 '$T/t.rec' | rec count"
  assert_failure 1
  assert_output --partial "truncated stream"
}

@test "missing end frame (upstream stage died) is an error, not a short stream" {
  rec encode --schema text "$T/text.jsonl" > "$T/t.rec"
  size=$(wc -c < "$T/t.rec")
  head -c $((size - 24)) "$T/t.rec" > "$T/noend.rec"
  run rec count "$T/noend.rec"
  assert_failure 1
  assert_output --partial "record 3 (byte $((size - 24))): truncated stream: input ends after 3 records without an end frame"
  run bash -c "set -o pipefail; cat '$T/noend.rec' | rec cat | rec count"
  assert_failure 1
  assert_output --partial "without an end frame"
}

@test "trailing data after the end frame (concatenated files)" {
  rec encode --schema text "$T/text.jsonl" > "$T/t.rec"
  cat "$T/t.rec" "$T/t.rec" > "$T/twice.rec"
  run rec count "$T/twice.rec"
  assert_failure 1
  assert_output --partial "trailing data after the end frame (concatenated streams? join them with 'rec cat')"
}

@test "invalid UTF-8 in a str field" {
  rec encode --schema text "$T/text.jsonl" > "$T/t.rec"
  python3 "$CORRUPT" "$T/t.rec" "$T/bad.rec" replace 1 68656c6c6f 68c0af6c6f
  run rec dump "$T/bad.rec"
  assert_failure 1
  assert_output --regexp "record 0 \(byte [0-9]+\): field 'text': invalid UTF-8 at string offset 1"
}

@test "NaN and Inf where finite numbers are required" {
  rec encode --schema vectors "$T/vectors.jsonl" > "$T/v.rec"
  python3 "$CORRUPT" "$T/v.rec" "$T/nan.rec" replace 3 0000e040 0000c07f
  run rec check "$T/nan.rec"
  assert_failure 1
  assert_output --regexp "record 2 \(byte [0-9]+\): field 'vecs': NaN at element 0"
  python3 "$CORRUPT" "$T/v.rec" "$T/inf.rec" replace 1 0000c03f 0000807f
  run rec dump "$T/inf.rec"
  assert_failure 1
  assert_output --partial "record 0"
  assert_output --partial "field 'vecs': Inf at element 2"
  run rec check --allow-nonfinite "$T/inf.rec"
  assert_success
  run rec dump --allow-nonfinite "$T/inf.rec"
  assert_success
  assert_line --index 0 '{"id":"v1","ids":[101,7,102],"vecs":[[0.1,-0,null],[1e-45,3.4028235e+38,-2.5],[0.33333334,1,2]],"vec":[1,2,3]}'
}

@test "a schema frame that repeats a metadata key is refused by every reader, naming the key" {
  rec encode --schema text --meta model=good "$T/text.jsonl" > "$T/m.rec"
  python3 "$CORRUPT" "$T/m.rec" "$T/dup.rec" addmeta model evil
  for sub in check dump count schema cat; do
    run rec $sub "$T/dup.rec"
    assert_failure 1
    assert_output --partial "dup.rec: schema frame (byte 8): invalid schema frame: metadata key 'model' appears more than once"
  done
  python3 "$CORRUPT" "$T/m.rec" "$T/two.rec" addmeta layer 3
  run rec check "$T/two.rec"
  assert_success
}

@test "hostile sizes: a stream dimension no frame could hold, a record dimension beyond its frame" {
  # the 256-byte stream of issue 14 item 13: vectors with d = 2^32-1 and one empty record
  echo '{"id":"x","ids":[],"vecs":[]}' | rec encode --schema vectors --dim d=1234567 > "$T/h.rec"
  python3 "$CORRUPT" "$T/h.rec" "$T/hostile.rec" replace 0 87d6120000000000 ffffffff00000000
  for sub in check dump count schema; do
    run rec $sub "$T/hostile.rec"
    assert_failure 1
    assert_output --partial "hostile.rec: schema frame (byte 8): invalid schema frame: field 'vecs': d = 4294967295 makes its f32 arrays larger than the frame limit of 1073741824 bytes"
  done
  run rec encode --schema vectors --dim d=4294967295 < /dev/null
  assert_failure 1
  assert_output --partial "d = 4294967295 makes its f32 arrays larger than the frame limit"
  # a plan without plan/align whose n says 40000 (records store unused dimensions as 0)
  echo '{"id":"p","cost":1,"iters":2,"err":0}' | rec encode --schema plan > "$T/p.rec"
  python3 "$CORRUPT" "$T/p.rec" "$T/p2.rec" replace 1 0f0000000000000000000000 0f00000000000000409c0000
  run rec check "$T/p2.rec"
  assert_failure 1
  assert_output --regexp "p2.rec: record 0 \(byte [0-9]+\): dimension 'n' = 40000 but no field of the record uses it"
}

@test "a missing or unreadable file" {
  run rec dump "$T/nonexistent.rec"
  assert_failure 1
  assert_output --partial "cannot open '$T/nonexistent.rec'"
}
