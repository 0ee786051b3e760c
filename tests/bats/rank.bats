#!/usr/bin/env bats
# rank end to end: JSON -> rec encode -> rank -> TREC text / run records.
load common

setup() {
  T=$BATS_TEST_TMPDIR
  # d = 2; token 101/102 are [CLS]/[SEP] (vector [0,1] everywhere, so they
  # change every score unless skipped).
  printf '%s\n' \
    '{"id":"d1","ids":[101,5,102],"vecs":[[0,1],[1,0],[0,1]]}' \
    '{"id":"d2","ids":[101,6,102],"vecs":[[0,1],[0,1],[0,1]]}' \
    '{"id":"d3","ids":[101,7,102],"vecs":[[0,1],[3,3],[0,1]]}' >"$T/docs.jsonl"
  printf '%s\n' \
    '{"id":"q1","ids":[101,5,102],"vecs":[[0,1],[2,0],[0,1]]}' \
    '{"id":"q2","ids":[101,9,102],"vecs":[[0,1],[0,-1],[0,1]]}' >"$T/q.jsonl"
  rec encode --schema vectors --meta model=m1 --meta special_ids=101,102 "$T/docs.jsonl" >"$T/docs.rec"
  rec encode --schema vectors --meta model=m1 --meta special_ids=101,102 "$T/q.jsonl" >"$T/q.rec"
}

# Random collection (stdlib python, fixed seed): N items of 1..L tokens, d = D.
random_vectors() { # N L D SEED PREFIX
  python3 - "$@" <<'EOF'
import json, random, sys
n, l, d, seed, prefix = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
r = random.Random(seed)
for i in range(n):
    t = r.randint(1, l)
    print(json.dumps({"id": "%s%d" % (prefix, i), "ids": [r.randint(1000, 2000) for _ in range(t)],
                      "vecs": [[round(r.gauss(0, 1), 4) for _ in range(d)] for _ in range(t)]}))
EOF
}

@test "rank --help prints the manual, --version the version" {
  run rank --help
  assert_success
  assert_output --partial "maxsim-sym"
  assert_output --partial "Exit status"
  run rank --version
  assert_success
  assert_output --partial "otclir"
}

@test "rank: bad usage exits 2 and says what was wrong" {
  run rank
  assert_failure 2
  assert_line --index 0 "rank: --docs FILE is required"
  assert_output --partial "Usage: rank --docs FILE"
  run rank --docs "$T/docs.rec" --mode colbert
  assert_failure 2
  assert_line --index 0 "rank: --mode: unknown value 'colbert' (expected one of: dense, maxsim, maxsim-sym, ot, bm25, soft-bm25)"
  run rank --docs "$T/docs.rec" --sim l2
  assert_failure 2
  assert_line --index 0 "rank: --sim: unknown value 'l2' (expected one of: cos, dot)"
  run rank --docs "$T/docs.rec" --pool max
  assert_line --index 0 "rank: --pool: unknown value 'max' (expected one of: vec, mean)"
  run rank --docs "$T/docs.rec" --ties up
  assert_line --index 0 "rank: --ties: unknown value 'up' (expected one of: asc, desc)"
  run rank --docs "$T/docs.rec" --ot-base ot
  assert_line --index 0 "rank: --ot-base: unknown value 'ot' (expected one of: dense, maxsim, maxsim-sym)"
  run rank --docs "$T/docs.rec" --trec --tag "x y"
  assert_failure 2
  assert_line --index 0 "rank: --tag: a TREC tag is one word, got 'x y'"
  run rank --docs "$T/docs.rec" -k -1
  assert_failure 2
  assert_line --index 0 --partial "rank: option -k: '-1' is not an integer"
  run rank --docs "$T/docs.rec" --skip-ids 1,,2
  assert_line --index 0 "rank: --skip-ids: expected ids like 101,102, got '1,,2'"
  run rank --docs "$T/docs.rec" --skip-ids 101 --skip-special
  assert_line --index 0 "rank: --skip-special and --skip-ids exclude each other"
  run rank --docs "$T/docs.rec" extra
  assert_line --index 0 --partial "rank: unexpected operand 'extra'"
  run rank --docs "$T/docs.rec" --threads -3
  assert_failure 2
  assert_line --index 0 "rank: option --threads: '-3' is not an integer in [0, 4096]"
  run rank --merge --docs "$T/docs.rec" x.run
  assert_line --index 0 "rank: --merge takes run files, not --docs"
}

@test "rank: --ot-iter is the old name of --ot-iters (a warning, the same run)" {
  rank --docs "$T/docs.rec" --mode ot --ot-iters 2 --threads 0 <"$T/q.rec" >"$T/new.rec"
  run bash -c "rank --docs '$T/docs.rec' --mode ot --ot-iter 2 < '$T/q.rec' 2>'$T/warn' | cmp - '$T/new.rec'"
  assert_success
  run cat "$T/warn"
  assert_output "rank: warning: --ot-iter is now --ot-iters; the old name is accepted until otclir 0.3 (docs/options.md)"
  # and the cap is used: 2 iterations give other scores than 1000
  run bash -c "rank --docs '$T/docs.rec' --mode ot < '$T/q.rec' | cmp -s - '$T/new.rec'"
  assert_failure
}

@test "rank dense --trec on a hand-computed example (specials skipped)" {
  run bash -c "rank --docs '$T/docs.rec' --skip-special --trec < '$T/q.rec'"
  assert_success
  assert_output "q1 Q0 d1 1 1 otclir-dense
q1 Q0 d3 2 0.7071067690849304 otclir-dense
q1 Q0 d2 3 0 otclir-dense
q2 Q0 d1 1 0 otclir-dense
q2 Q0 d3 2 -0.7071067690849304 otclir-dense
q2 Q0 d2 3 -1 otclir-dense"
}

@test "rank --sim dot, -k 1, --tag" {
  run bash -c "rank --docs '$T/docs.rec' --skip-ids 101,102 --sim dot -k 1 --trec --tag run7 < '$T/q.rec'"
  assert_success
  assert_output "q1 Q0 d3 1 6 run7
q2 Q0 d1 1 0 run7"
}

@test "rank writes run records (rec dump), named by --tag" {
  run bash -c "rank --docs '$T/docs.rec' --skip-special -k 2 --tag myrun < '$T/q.rec' | rec schema"
  assert_success
  assert_output --partial "runid: myrun"
  run bash -c "rank --docs '$T/docs.rec' --skip-special -k 2 < '$T/q.rec' | rec dump"
  assert_success
  assert_output '{"qid":"q1","docid":"d1","rank":1,"score":1}
{"qid":"q1","docid":"d3","rank":2,"score":0.7071067690849304}
{"qid":"q2","docid":"d1","rank":1,"score":0}
{"qid":"q2","docid":"d3","rank":2,"score":-0.7071067690849304}'
}

@test "rank: every mode runs; maxsim-sym by hand" {
  # With the specials kept, q1 = {[0,1],[1,0],[0,1]}, d2 = {[0,1] x 3}:
  # q->d: max over d2 per q token: 1, 0, 1 -> mean 2/3; d->q: 1 each -> 1; sym = 5/6.
  run bash -c "rank --docs '$T/docs.rec' --mode maxsim-sym --trec < '$T/q.rec' | grep '^q1 Q0 d2 '"
  assert_success
  assert_output --regexp '^q1 Q0 d2 [0-9] 0\.8333333'
  for m in dense maxsim maxsim-sym ot; do
    run bash -c "rank --docs '$T/docs.rec' --mode $m --skip-special --trec < '$T/q.rec' | wc -l"
    assert_success
    assert_output 6
  done
}

@test "rank --csls: by hand on two queries (dense dot, K = 1)" {
  # s: q1: d1 2, d2 0, d3 6; q2: d1 0, d2 -1, d3 -3 (specials skipped, dot).
  # r_q1 = 6, r_q2 = 0; r_d1 = 2, r_d2 = 0, r_d3 = 6.
  # q1: d1 4-6-2 = -4, d2 0-6-0 = -6, d3 12-6-6 = 0; q2: d1 0-0-2 = -2, d2 -2-0-0 = -2, d3 -6-0-6 = -12
  # q2's tie d1 = d2 = -2: d1 first (docid ascending); with --ties desc, d2 first.
  run bash -c "rank --docs '$T/docs.rec' --skip-special --sim dot --csls 1 --trec < '$T/q.rec' | cut -d' ' -f1,3,5"
  assert_success
  assert_output "q1 d3 0
q1 d1 -4
q1 d2 -6
q2 d1 -2
q2 d2 -2
q2 d3 -12"
  run bash -c "rank --docs '$T/docs.rec' --skip-special --sim dot --csls 1 --ties desc --trec < '$T/q.rec' | sed -n 4,5p | cut -d' ' -f3"
  assert_output "d2
d1"
}

@test "rank refuses queries of another model or dim" {
  rec encode --schema vectors --meta model=m2 --meta special_ids=101,102 "$T/q.jsonl" >"$T/q2.rec"
  run bash -c "rank --docs '$T/docs.rec' < '$T/q2.rec'"
  assert_failure 1
  assert_output --partial "differ in stream metadata 'model': 'm2' (queries) vs 'm1' (documents)"
  run bash -c "rank --docs '$T/docs.rec' --allow-model-mismatch < '$T/q2.rec' | rec count"
  assert_success
  assert_output 6
  echo '{"id":"q","ids":[5],"vecs":[[1,0,0]]}' | rec encode --schema vectors --meta model=m1 \
    --meta special_ids=101,102 >"$T/q3.rec"
  run bash -c "rank --docs '$T/docs.rec' --allow-model-mismatch < '$T/q3.rec'"
  assert_failure 1
  assert_output --partial "d = 3 but document vectors d = 2"
}

@test "rank detects a truncated or corrupt document file" {
  size=$(stat -c %s "$T/docs.rec")
  head -c $((size - 20)) "$T/docs.rec" >"$T/trunc.rec"
  run bash -c "rank --docs '$T/trunc.rec' < '$T/q.rec'"
  assert_failure 1
  assert_output --partial "trunc.rec"
  assert_output --partial "truncated"
  rec cat --zstd "$T/docs.rec" | head -c 60 >"$T/trunc.rec.zst"
  run bash -c "rank --docs '$T/trunc.rec.zst' < '$T/q.rec'"
  assert_failure 1
  assert_output --partial "truncated zstd stream"
  run rank --docs "$T/missing.rec"
  assert_failure 1
  assert_output --partial "cannot open"
}

@test "rank on a zstd file: decompressed once into a cache, same output" {
  rank --docs "$T/docs.rec" --skip-special --trec <"$T/q.rec" >"$T/plain.txt"
  rec cat --zstd "$T/docs.rec" >"$T/docs.rec.zst"
  run bash -c "rank --docs '$T/docs.rec.zst' --skip-special --trec < '$T/q.rec'"
  assert_success
  assert_output "$(cat "$T/plain.txt")"
  [ "$(find "$T" -maxdepth 1 -name '.docs.rec.zst.*.rank-cache' | wc -l)" -eq 1 ]
  # a rewritten file gets a new cache, and the stale one goes
  old=$(find "$T" -maxdepth 1 -name '.docs.rec.zst.*.rank-cache')
  touch -d '2001-01-01' "$T/docs.rec.zst"
  run bash -c "rank --docs '$T/docs.rec.zst' --skip-special --trec < '$T/q.rec'"
  assert_output "$(cat "$T/plain.txt")"
  [ ! -e "$old" ]
  [ "$(find "$T" -maxdepth 1 -name '.docs.rec.zst.*.rank-cache' | wc -l)" -eq 1 ]
  # a second run reuses it; --cache-dir puts it elsewhere
  mkdir "$T/cache"
  run bash -c "rank --docs '$T/docs.rec.zst' --cache-dir '$T/cache' --skip-special --trec < '$T/q.rec'"
  assert_output "$(cat "$T/plain.txt")"
  [ "$(find "$T/cache" -name 'otclir-*.rank-cache' | wc -l)" -eq 1 ]
}

@test "rank: duplicate document ids, missing special_ids, white space in TREC ids" {
  cat "$T/docs.jsonl" "$T/docs.jsonl" | rec encode --schema vectors >"$T/dup.rec"
  rec encode --schema vectors "$T/q.jsonl" >"$T/qplain.rec"
  run bash -c "rank --docs '$T/dup.rec' < '$T/qplain.rec'"
  assert_failure 1
  assert_output --partial "duplicate document id 'd1'"
  rec encode --schema vectors "$T/docs.jsonl" >"$T/plain.rec"
  run bash -c "rank --docs '$T/plain.rec' --skip-special < '$T/qplain.rec'"
  assert_failure 1
  assert_output --partial "no 'special_ids' metadata"
  echo '{"id":"a b","ids":[5],"vecs":[[1,0]]}' | rec encode --schema vectors >"$T/sp.rec"
  run bash -c "rank --docs '$T/sp.rec' --trec < '$T/qplain.rec'"
  assert_failure 1
  assert_output --partial "white space"
}

@test "rank: bit-identical output for 1, 2 and 3 threads, every mode, with CSLS" {
  random_vectors 150 9 16 1 doc | rec encode --schema vectors >"$T/rd.rec"
  random_vectors 20 6 16 2 q | rec encode --schema vectors >"$T/rq.rec"
  for m in dense maxsim maxsim-sym ot; do
    rank --docs "$T/rd.rec" --mode $m --csls 3 -k 10 --ot-candidates 15 --block-rows 50 --batch-size 7 --threads 1 \
      <"$T/rq.rec" >"$T/t1"
    for t in 2 3; do
      rank --docs "$T/rd.rec" --mode $m --csls 3 -k 10 --ot-candidates 15 --block-rows 50 --batch-size 7 --threads $t \
        <"$T/rq.rec" >"$T/t$t"
      cmp "$T/t1" "$T/t$t"
    done
    run bash -c "rec count < '$T/t1'"
    assert_output 200
  done
}

@test "rank: an empty query set gives an empty run" {
  rec encode --schema vectors --dim d=2 --meta model=m1 --meta special_ids=101,102 </dev/null >"$T/none.rec"
  run bash -c "rank --docs '$T/docs.rec' < '$T/none.rec' | rec count"
  assert_success
  assert_output 0
}

# ---- bm25 ----

# Tokens streams by hand: 101/102 are the specials (as tokenize writes them).
bm25_fixture() {
  printf '%s\n' '{"id":"d1","ids":[101,5,6,5,102]}' '{"id":"d2","ids":[101,6,7,102]}' \
    '{"id":"d3","ids":[101,7,102]}' >"$T/bd.jsonl"
  printf '%s\n' '{"id":"q1","ids":[101,5,7,7,102]}' '{"id":"q2","ids":[101,6,102]}' >"$T/bq.jsonl"
  rec encode --schema tokens --meta vocab=v1 --meta special_ids=101,102 "$T/bd.jsonl" >"$T/bd.tok"
  rec encode --schema tokens --meta vocab=v1 --meta special_ids=101,102 "$T/bq.jsonl" >"$T/bq.tok"
}

@test "rank --mode bm25: hand-computed scores as TREC text and run records" {
  bm25_fixture
  # N = 3, avgdl 2 (see tests/unit/test_bm25.c): q1 -> d1 ln(8/3) 3.8/3.08,
  # d3 2 ln(1.6) 1.9/1.72, d2 2 ln(1.6); q2 -> d2 ln(1.6), d1 ln(1.6) 1.9/2.08
  run bash -c "rank --docs '$T/bd.tok' --mode bm25 --trec < '$T/bq.tok' | cut -d' ' -f1,3,4,6"
  assert_success
  assert_output "q1 d1 1 otclir-bm25
q1 d3 2 otclir-bm25
q1 d2 3 otclir-bm25
q2 d2 1 otclir-bm25
q2 d1 2 otclir-bm25"
  run bash -c "rank --docs '$T/bd.tok' --mode bm25 --trec < '$T/bq.tok' | awk '{ printf \"%.9f\\n\", \$5 }'"
  assert_output "$(awk 'BEGIN { l = log(1.6); printf "%.9f\n%.9f\n%.9f\n%.9f\n%.9f\n", log(8/3) * 3.8 / 3.08,
    2 * l * 1.9 / 1.72, 2 * l, l, l * 1.9 / 2.08 }')"
  # the run stream holds the same hits; -k 1; --k1 0 makes d2 and d3 tie for q1
  run bash -c "rank --docs '$T/bd.tok' --mode bm25 -k 1 < '$T/bq.tok' | rec dump | jq -r '.qid + \" \" + .docid'"
  assert_output "q1 d1
q2 d2"
  run bash -c "rank --docs '$T/bd.tok' --mode bm25 --k1 0 --trec < '$T/bq.tok' | sed -n 2,3p | cut -d' ' -f3"
  assert_output "d2
d3"
  run bash -c "rank --docs '$T/bd.tok' --mode bm25 --k1 0 --ties desc --trec < '$T/bq.tok' | sed -n 2,3p | cut -d' ' -f3"
  assert_output "d3
d2"
}

@test "rank --mode bm25 refuses other stream types, another vocabulary, --csls, missing specials" {
  bm25_fixture
  run bash -c "rank --docs '$T/docs.rec' --mode bm25 < '$T/bq.tok'"
  assert_failure 1
  assert_output --partial "docs.rec: expected a 'tokens' stream, got 'vectors'"
  run bash -c "rank --docs '$T/bd.tok' --mode bm25 < '$T/q.rec'"
  assert_failure 1
  assert_output --partial "expected a 'tokens' stream, got 'vectors'"
  rec encode --schema tokens --meta vocab=v2 --meta special_ids=101,102 "$T/bq.jsonl" >"$T/bq2.tok"
  run bash -c "rank --docs '$T/bd.tok' --mode bm25 --allow-model-mismatch < '$T/bq2.tok'"
  assert_failure 1
  assert_output --partial "different vocabularies (stream metadata 'vocab': 'v2' (queries) vs 'v1' (documents))"
  rec encode --schema tokens --meta special_ids=101,102 "$T/bq.jsonl" >"$T/bq3.tok"
  run bash -c "rank --docs '$T/bd.tok' --mode bm25 < '$T/bq3.tok'"
  assert_failure 1
  assert_output --partial "'vocab': unset (queries) vs 'v1' (documents)"
  run bash -c "rank --docs '$T/bd.tok' --mode bm25 --csls 3 < '$T/bq.tok'"
  assert_failure 2
  assert_output --partial "--csls with --mode bm25: CSLS is not defined for bm25"
  run bash -c "rank --docs '$T/docs.rec' --k1 1.2 < '$T/q.rec'"
  assert_failure 2
  assert_output --partial "--k1 and --b apply to --mode bm25 and soft-bm25 only"
  run bash -c "rank --docs '$T/bd.tok' --mode bm25 --b 1.5 < '$T/bq.tok'"
  assert_failure 2
  rec encode --schema tokens --meta vocab=v1 "$T/bd.jsonl" >"$T/bd-nospecial.tok"
  run bash -c "rank --docs '$T/bd-nospecial.tok' --mode bm25 < '$T/bq.tok'"
  assert_failure 1
  assert_output --partial "no 'special_ids' metadata"
  run bash -c "rank --docs '$T/bd-nospecial.tok' --mode bm25 --skip-ids 101,102 --trec < '$T/bq.tok' | cut -d' ' -f3 | paste -sd' '"
  assert_success
  assert_output "d1 d3 d2 d2 d1"
}

# The mirror's Cranfield and CISI (tests/fixtures/rank/collection.sh:
# bert-base-uncased word pieces, lowercased), ranked by rank --mode bm25 and
# scored by score, against the average precision of every topic computed by
# an independent Python BM25 over the same ids (gen-bm25.py; its output is
# the committed fixture, made by regen-bm25.sh).
bm25_collection() { # NAME
  local c=$1 F=$ROOT/tests/fixtures/rank
  [ -d "$SHARED/data/ir/$c" ] || { echo "the mirror's data/ir/$c is missing ($SHARED)"; return 1; }
  OTCLIR_SHARED=$SHARED "$F/collection.sh" "$c" "$T"
  rank --docs "$T/$c.docs.tok" --mode bm25 -k 1000 --trec <"$T/$c.q.tok" >"$T/$c.run"
  score -q -m map --qrels "$T/$c.qrels" "$T/$c.run" | awk '{ print $2 "\t" $3 }' | sort >"$T/$c.ap"
  sort "$F/bm25-$c.ap" >"$T/$c.want"
  # every topic (and `all`) present on both sides, each AP within 1e-4
  # (score prints 4 decimals, the fixture 6)
  run join -t $'\t' -a 1 -a 2 -e MISSING -o 0,1.2,2.2 "$T/$c.ap" "$T/$c.want"
  assert_success
  [ "${#lines[@]}" -eq "$2" ] || { echo "${#lines[@]} topics, expected $2"; return 1; }
  run awk -F'\t' '$2 == "MISSING" || $3 == "MISSING" || $2 - $3 > 1e-4 || $3 - $2 > 1e-4 { print "differs:", $0; bad = 1 }
                  END { exit bad }' <<<"$output"
  assert_success
}

@test "rank --mode bm25 on Cranfield: every topic's AP equals an independent BM25's to 1e-4" {
  bm25_collection cranfield 226
  # MAP, nDCG@10 and P@10 as the README reports them
  run score -m map -m ndcg_cut.10 -m P.10 --qrels "$T/cranfield.qrels" "$T/cranfield.run"
  assert_output --partial "map                   	all	0.2719"
}

@test "rank --mode bm25 on CISI: every topic's AP equals an independent BM25's to 1e-4" {
  bm25_collection cisi 77
}

@test "rank: a zero vector where a cosine is taken is an error naming file, record and token" {
  printf '%s\n' '{"id":"d1","ids":[101,5,102],"vecs":[[0,1],[1,0],[0,1]]}' \
    '{"id":"d2","ids":[101,6,102],"vecs":[[0,1],[0,0],[0,1]]}' >"$T/z.jsonl"
  rec encode --schema vectors --meta model=m1 --meta special_ids=101,102 "$T/z.jsonl" >"$T/z.rec"
  for m in maxsim maxsim-sym ot; do
    run bash -c "rank --docs '$T/z.rec' --mode $m --skip-special < '$T/q.rec'"
    assert_failure 1
    assert_output "rank: $T/z.rec: document record 1 ('d2'), token 1: cosine undefined: zero vector"
  done
  # dense: d2's mean without the specials is the zero vector
  run bash -c "rank --docs '$T/z.rec' --skip-special < '$T/q.rec'"
  assert_failure 1
  assert_output --partial "document record 1 ('d2'), mean of its token vectors: cosine undefined: zero vector"
  # with the specials, the mean is not zero; under dot a zero vector is a score of 0
  run bash -c "rank --docs '$T/z.rec' < '$T/q.rec' | rec count"
  assert_success
  assert_output 4
  run bash -c "rank --docs '$T/z.rec' --mode maxsim --sim dot --skip-special --trec < '$T/q.rec' | grep 'q2 Q0 d2'"
  assert_output "q2 Q0 d2 2 0 otclir-maxsim"
  # a query: record number in stdin
  run bash -c "rank --docs '$T/docs.rec' --mode maxsim --skip-special < '$T/z.rec'"
  assert_failure 1
  assert_output --partial "rank: stdin: query record 1 ('d2'), token 1: cosine undefined: zero vector"
}

# rank with its queries on a FIFO: it maps --docs, then waits for stdin, so
# the file can be changed while it is mapped, before any search.
rank_paused() { # DOCS ARGS...
  mkfifo "$T/qfifo"
  rank --docs "$@" <"$T/qfifo" >"$T/paused.out" 2>"$T/paused.err" &
  pid=$!
  exec 8>"$T/qfifo"
  for _ in $(seq 200); do grep -q "$(basename "$1")" "/proc/$pid/maps" 2>/dev/null && return 0; sleep 0.05; done
  echo "rank did not map $1"; return 1
}

@test "rank: a --docs file truncated or rewritten while mapped is an error naming it, not a SIGBUS" {
  random_vectors 300 9 16 1 doc | rec encode --schema vectors >"$T/big.rec"
  random_vectors 5 6 16 2 q | rec encode --schema vectors >"$T/rq.rec"
  [ "$(stat -c %s "$T/big.rec")" -gt 65536 ]
  rank_paused "$T/big.rec" --mode maxsim --threads 2
  truncate -s 4096 "$T/big.rec"
  cat "$T/rq.rec" >&8
  exec 8>&-
  status=0
  wait $pid || status=$?
  [ "$status" -eq 1 ] || { echo "exit $status (135 = SIGBUS)"; cat "$T/paused.err"; return 1; }
  run cat "$T/paused.err"
  assert_output --partial "rank: $T/big.rec: the file shrank while rank was reading it"
  # the same size, bytes changed in place: noticed before anything is written
  random_vectors 300 9 16 1 doc | rec encode --schema vectors >"$T/big.rec"
  rm "$T/qfifo"
  rank_paused "$T/big.rec" --mode dense --threads 1
  printf 'x' | dd of="$T/big.rec" bs=1 seek=5000 conv=notrunc status=none
  touch -d '+1 minute' "$T/big.rec"
  cat "$T/rq.rec" >&8
  exec 8>&-
  status=0
  wait $pid || status=$?
  assert_equal "$status" 1
  run cat "$T/paused.err"
  assert_output --partial "the file changed while rank was reading it"
  [ ! -s "$T/paused.out" ]
}

@test "rank: a zstd --docs file is validated as it is expanded; a bomb or a bad stream leaves no cache" {
  # 300 copies of a record of 64 zero vectors of d 256 (20 MB) compress to a
  # few KB: past 256 times the compressed size (+ 1 MiB) it is refused
  python3 -c 'import json; print(json.dumps({"id": "z", "ids": [7] * 64, "vecs": [[0] * 256] * 64}))' |
    rec encode --schema vectors >"$T/one.rec"
  rec cat $(for _ in $(seq 300); do echo "$T/one.rec"; done) >"$T/bomb.rec"
  rec cat --zstd "$T/bomb.rec" >"$T/bomb.rec.zst"
  [ "$(stat -c %s "$T/bomb.rec.zst")" -lt 100000 ]
  run bash -c "rank --docs '$T/bomb.rec.zst' --sim dot < '$T/q.rec'"
  assert_failure 1
  assert_output --partial "bomb.rec.zst: record"
  assert_output --partial "expands to more than 256 times its compressed size"
  [ -z "$(find "$T" -name '*rank-cache*')" ]
  # a stream of the wrong type is refused after its schema frame, before any record is written
  echo '{"id":"d1","ids":[5]}' | rec encode --schema tokens >"$T/t.rec"
  rec cat --zstd "$T/t.rec" >"$T/t.rec.zst"
  run bash -c "rank --docs '$T/t.rec.zst' < '$T/q.rec'"
  assert_failure 1
  assert_output --partial "t.rec.zst: expected a 'vectors' stream, got 'tokens'"
  [ -z "$(find "$T" -name '*rank-cache*')" ]
  # a damaged record (compressed by the zstd tool: rec would refuse it) fails
  # as it is expanded, and nothing is left
  cp "$T/docs.rec" "$T/dmg.rec"
  printf '\x55' | dd of="$T/dmg.rec" bs=1 seek=300 conv=notrunc status=none
  zstd -q -f -o "$T/dmg.rec.zst" "$T/dmg.rec"
  run bash -c "rank --docs '$T/dmg.rec.zst' < '$T/q.rec'"
  assert_failure 1
  assert_output --partial "dmg.rec.zst: record"
  [ -z "$(find "$T" -name '*rank-cache*')" ]
}

@test "rank: a cache that fails validation when mapped is removed, and made again" {
  rec cat --zstd "$T/docs.rec" >"$T/docs.rec.zst"
  rank --docs "$T/docs.rec.zst" --skip-special --trec <"$T/q.rec" >"$T/good.txt"
  cache=$(find "$T" -maxdepth 1 -name '.docs.rec.zst.*.rank-cache')
  [ -f "$cache" ]
  printf '\x55' | dd of="$cache" bs=1 seek=300 conv=notrunc status=none
  run bash -c "rank --docs '$T/docs.rec.zst' --skip-special --trec < '$T/q.rec'"
  assert_failure 1
  assert_output --partial "read from the decompressed cache '$cache', now removed"
  [ ! -e "$cache" ]
  run bash -c "rank --docs '$T/docs.rec.zst' --skip-special --trec < '$T/q.rec'"
  assert_success
  assert_output "$(cat "$T/good.txt")"
}

@test "rank: temporaries of a cache build that died are removed by the next run, live ones kept" {
  rec cat --zstd "$T/docs.rec" >"$T/docs.rec.zst"
  # what SIGKILL leaves: the temporary of `.NAME.KEY.rank-cache`, unlocked, old
  dead=$T/.docs.rec.zst.0123456789abcdef.rank-cache.AbC123
  live=$T/.docs.rec.zst.fedcba9876543210.rank-cache.XyZ789
  young=$T/.docs.rec.zst.00000000000000ff.rank-cache.Young1
  other=$T/.docs.rec.zst.notours.rank-cache.AbC123
  head -c 5000 /dev/zero | tee "$dead" "$live" "$young" >"$other"
  touch -d '1 hour ago' "$dead" "$live" "$other"
  flock "$live" sleep 60 &
  holder=$!
  for _ in $(seq 100); do flock -n "$live" true 2>/dev/null || break; sleep 0.05; done
  run bash -c "rank --docs '$T/docs.rec.zst' --skip-special < '$T/q.rec' | rec count"
  assert_success
  assert_output 6
  kill $holder
  [ ! -e "$dead" ] || { echo "the dead build's temporary is still there"; return 1; }
  [ -e "$live" ] && [ -e "$young" ] && [ -e "$other" ]
  # in --cache-dir (as in $TMPDIR): otclir-KEY.rank-cache.XXXXXX
  mkdir "$T/cache"
  head -c 5000 /dev/zero >"$T/cache/otclir-0123456789abcdef.rank-cache.Qw3rty"
  touch -d '1 hour ago' "$T/cache/otclir-0123456789abcdef.rank-cache.Qw3rty"
  run bash -c "rank --docs '$T/docs.rec.zst' --cache-dir '$T/cache' --skip-special < '$T/q.rec' | rec count"
  assert_output 6
  [ "$(ls -A "$T/cache")" = "$(cd "$T/cache" && ls -A otclir-*.rank-cache)" ]
}

# A 4 GB address-space limit, so that a huge allocation fails instead of
# paging (not under the sanitizers: ASan reserves terabytes of shadow memory,
# and refuses huge allocations by itself).
memlimit() { [ -n "${OTCLIR_SANITIZED:-}" ] || echo "ulimit -v 4000000;"; }

# (d = 4294967295 itself is refused by every reader: badinput.bats, rec.bats)
@test "rank: hostile sizes: a schema fixing d = 100000 (a valid stream, beyond rank's limit) is refused before allocating" {
  echo '{"id":"q","ids":[],"vecs":[]}' | rec encode --schema vectors --dim d=100000 >"$T/bigd.rec"
  run bash -c "$(memlimit) rank --docs '$T/bigd.rec' < '$T/bigd.rec'"
  assert_failure 1
  assert_output --partial "bigd.rec: schema frame (byte 8): d = 100000 is larger than rank's limit of 65536 dimensions"
  run bash -c "$(memlimit) rank --docs '$T/docs.rec' < '$T/bigd.rec'"
  assert_failure 1
  assert_output --partial "query vectors have d = 100000, more than rank's limit of 65536 dimensions"
  rec cat --zstd "$T/bigd.rec" >"$T/bigd.rec.zst"
  run bash -c "$(memlimit) rank --docs '$T/bigd.rec.zst' < '$T/q.rec'"
  assert_failure 1
  assert_output --partial "d = 100000 is larger than rank's limit"
  [ -z "$(find "$T" -name '*rank-cache*')" ]
  # --csls K far beyond the collection: at most nq values kept per document
  # and ndocs per query, not 10^6 (8 GB for these 1000 documents)
  random_vectors 1000 3 8 1 doc | rec encode --schema vectors >"$T/k.rec"
  run bash -c "$(memlimit) rank --docs '$T/k.rec' --csls 1000000 -k 2 --trec < '$T/k.rec' | wc -l"
  assert_success
  assert_output 2000
  # and the same ranking as K = the number of queries (all of them)
  cmp <(rank --docs "$T/k.rec" --csls 1000000 -k 2 <"$T/k.rec") <(rank --docs "$T/k.rec" --csls 1000 -k 2 <"$T/k.rec")
}

# ---- sharded search ----

@test "rank --merge: shards (round robin and runs) merge into exactly the unsplit run, every mergeable mode" {
  # d 128: where OpenBLAS's small-matrix kernels would round differently
  random_vectors 300 9 128 5 doc | rec encode --schema vectors --meta special_ids=1000 >"$T/sd.rec"
  random_vectors 25 6 128 6 q | rec encode --schema vectors --meta special_ids=1000 >"$T/sq.rec"
  rec split -n 3 "$T/sd.rec" "$T/rr" >/dev/null
  rec split -l 37 "$T/sd.rec" "$T/run" >/dev/null
  [ "$(ls "$T"/run-*.rec | wc -l)" -eq 9 ]
  n=0
  for args in "--mode dense" "--mode maxsim" "--mode maxsim-sym" "--mode maxsim --sim dot -k 0" \
    "--mode maxsim-sym --skip-special -k 7 --ties desc" "--mode dense --pool mean -k 300 --block-rows 20"; do
    rank --docs "$T/sd.rec" $args <"$T/sq.rec" >"$T/whole.rec"
    rank --docs "$T/sd.rec" $args --trec <"$T/sq.rec" >"$T/whole.txt"
    for split in rr run; do
      rm -f "$T"/$split-*.run
      for f in "$T"/$split-*.rec; do rank --docs "$f" $args <"$T/sq.rec" >"${f%.rec}.run"; done
      rank --merge "$T"/$split-*.run <"$T/sq.rec" >"$T/merged.rec"
      cmp "$T/whole.rec" "$T/merged.rec" || { echo "run streams differ: $args ($split)"; return 1; }
      rank --merge --trec "$T"/$split-*.run <"$T/sq.rec" >"$T/merged.txt"
      cmp "$T/whole.txt" "$T/merged.txt" || { echo "TREC text differs: $args ($split)"; return 1; }
      n=$((n + 1))
    done
  done
  [ "$n" -eq 12 ]
  [ "$(rec count "$T/whole.rec")" -gt 0 ]
  # a smaller -k from the same shards is the unsplit run at that k
  rank --docs "$T/sd.rec" --mode maxsim -k 5 <"$T/sq.rec" >"$T/whole5.rec"
  for f in "$T"/rr-*.rec; do rank --docs "$f" --mode maxsim -k 100 <"$T/sq.rec" >"${f%.rec}.run"; done
  run bash -c "rank --merge -k 5 '$T'/rr-*.run < '$T/sq.rec' | cmp - '$T/whole5.rec'"
  assert_success
}

@test "rank --merge refuses what it cannot merge exactly, with the reason" {
  random_vectors 60 5 16 7 doc | rec encode --schema vectors >"$T/sd.rec"
  random_vectors 4 4 16 8 q | rec encode --schema vectors >"$T/sq.rec"
  rec split -n 2 "$T/sd.rec" "$T/s" >/dev/null
  for f in "$T"/s-*.rec; do rank --docs "$f" --csls 3 <"$T/sq.rec" >"${f%.rec}.csls"; done
  run bash -c "rank --merge '$T'/s-*.csls < '$T/sq.rec'"
  assert_failure 1
  assert_output --partial "made with --csls cannot be merged: CSLS's r_q is the mean of a query's K best similarities over ALL documents"
  for f in "$T"/s-*.rec; do rank --docs "$f" --mode ot <"$T/sq.rec" >"${f%.rec}.ot"; done
  run bash -c "rank --merge '$T'/s-*.ot < '$T/sq.rec'"
  assert_failure 1
  assert_output --partial "'ot' runs cannot be merged"
  for f in "$T"/s-*.rec; do rank --docs "$f" -k 4 <"$T/sq.rec" >"${f%.rec}.k4"; done
  run bash -c "rank --merge -k 5 '$T'/s-*.k4 < '$T/sq.rec'"
  assert_failure 1
  assert_output --partial "-k 5: a shard kept only its 4 best"
  # the same shard twice: not disjoint
  run bash -c "rank --merge '$T/s-000.k4' '$T/s-000.k4' < '$T/sq.rec'"
  assert_failure 1
  assert_output --partial "shards must hold disjoint documents"
  # different modes; queries in another order
  rank --docs "$T/s-001.rec" --mode maxsim -k 4 <"$T/sq.rec" >"$T/s-001.max"
  run bash -c "rank --merge '$T/s-000.k4' '$T/s-001.max' < '$T/sq.rec'"
  assert_failure 1
  assert_output --partial "runs of different modes ('dense', 'maxsim')"
  rec shuffle --seed 3 "$T/sq.rec" >"$T/sq-shuf.rec"
  run bash -c "rank --merge '$T'/s-*.k4 < '$T/sq-shuf.rec'"
  assert_failure 1
  assert_output --partial "is not among the queries on stdin, or not in their order"
  # bm25 (collection statistics)
  bm25_fixture
  rank --docs "$T/bd.tok" --mode bm25 <"$T/bq.tok" >"$T/b.run"
  run bash -c "rank --merge '$T/b.run' < '$T/bq.tok'"
  assert_failure 1
  assert_output --partial "'bm25' runs cannot be merged: idf, N and avgdl are statistics of the whole collection"
}
