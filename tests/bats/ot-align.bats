#!/usr/bin/env bats
# ot-align end to end: JSON -> rec encode (pair) -> ot-align -> plan records / Pharaoh text.
load common
bats_require_minimum_version 1.5.0

setup() {
  T=$BATS_TEST_TMPDIR
  # p1: source token i matches target token perm[i] exactly (1-0 is [CLS]/[SEP] at the ends)
  printf '%s\n' \
    '{"id":"p1","src_lang":"de","tgt_lang":"en","src_ids":[101,5,6,102],"tgt_ids":[101,7,8,9,102],"src_vecs":[[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]],"tgt_vecs":[[1,0,0,0],[0,0,1,0.1],[0,1,0.1,0],[0.2,0,0,1],[0,0,0,1]]}' \
    '{"id":"p2","src_lang":"de","tgt_lang":"en","src_ids":[101,9,102],"tgt_ids":[101,8,102],"src_vecs":[[1,0,0,0],[0,1,1,0],[0,0,0,1]],"tgt_vecs":[[1,0,0,0],[0,1,0.9,0],[0,0,0,1]]}' \
    >"$T/pairs.jsonl"
  rec encode --schema pair --meta src_special_ids=101,102 --meta tgt_special_ids=101,102 \
    --meta src_model=m1 --meta tgt_model=m1 "$T/pairs.jsonl" >"$T/pairs.rec"
}

# N random pairs (stdlib python, fixed seed) of 1..L tokens per side, d = D.
random_pairs() { # N L D SEED
  python3 - "$@" <<'EOF'
import json, random, sys
n, l, d, seed = (int(x) for x in sys.argv[1:5])
r = random.Random(seed)
for i in range(n):
    a, b = r.randint(1, l), r.randint(1, l)
    vec = lambda k: [[round(r.gauss(0, 1), 4) for _ in range(d)] for _ in range(k)]
    print(json.dumps({"id": "r%d" % i, "src_lang": "de", "tgt_lang": "en",
                      "src_ids": [r.randint(1000, 2000) for _ in range(a)],
                      "tgt_ids": [r.randint(1000, 2000) for _ in range(b)],
                      "src_vecs": vec(a), "tgt_vecs": vec(b)}))
EOF
}

@test "--help is a manual on stdout, exit 0; --version; bad usage exits 2" {
  run ot-align --help
  assert_success
  assert_output --partial "Pharaoh"
  assert_output --partial "--threshold"
  assert_output --partial "Exit status"
  run ot-align --version
  assert_success
  run ot-align --no-such-option
  assert_failure 2
  run ot-align --ot-eps 0 "$T/pairs.rec"
  assert_failure 2
  run ot-align --cost manhattan "$T/pairs.rec"
  assert_failure 2
  # the bad value is named, with the choices
  run ot-align --cost l1 "$T/pairs.rec"
  assert_failure 2
  assert_output --partial "--cost: unknown value 'l1' (expected one of: cosine, sqeuclid)"
}

@test "plan records: one per pair with cost, iters, err; --plan rows sum to 1/n" {
  ot-align --plan "$T/pairs.rec" >"$T/out.rec"
  run rec count "$T/out.rec"
  assert_output "2"
  rec dump "$T/out.rec" >"$T/out.jsonl"
  run python3 - "$T/out.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["iters"] >= 1 and r["err"] < 1e-6 and 0 <= r["cost"] <= 2, r
    P = r["plan"]
    n, m = len(P), len(P[0])
    assert all(abs(sum(row) - 1 / n) < 1e-6 for row in P), r["id"]
    assert all(abs(sum(P[i][j] for i in range(n)) - 1 / m) < 1e-6 for j in range(m)), r["id"]
    assert "align" not in r
print("ok")
EOF
  assert_success
  assert_output "ok"
}

@test "--text prints Pharaoh alignments (argmax per row), one line per pair" {
  run ot-align --text "$T/pairs.rec"
  assert_success
  assert_line --index 0 "0-0 1-2 2-1 3-4"
  assert_line --index 1 "0-0 1-1 2-2"
}

@test "--skip-ends and --skip-special leave [CLS]/[SEP] out; indices stay token positions" {
  run ot-align --text --skip-ends "$T/pairs.rec"
  assert_line --index 0 "1-2 2-1"
  assert_line --index 1 "1-1"
  run ot-align --text --skip-special "$T/pairs.rec"
  assert_line --index 0 "1-2 2-1"
  run ot-align --text --skip-ids 101,102 "$T/pairs.rec"
  assert_line --index 0 "1-2 2-1"
  ot-align --skip-ends --plan "$T/pairs.rec" | rec dump | head -1 >"$T/p1.json"
  run python3 -c "import json,sys; P=json.load(open(sys.argv[1]))['plan']; print(sum(P[0]), sum(P[3]), sum(r[0] for r in P), sum(r[4] for r in P))" "$T/p1.json"
  assert_output "0 0 0 0"
}

@test "--align adds align pairs to the records; --threshold gives many-to-many" {
  ot-align --align "$T/pairs.rec" | rec dump >"$T/a.jsonl"
  run python3 -c "import json,sys; print([json.loads(l)['align'] for l in open(sys.argv[1])])" "$T/a.jsonl"
  assert_output "[[[0, 0], [1, 2], [2, 1], [3, 4]], [[0, 0], [1, 1], [2, 2]]]"
  # p1 rows 0-2 put 80% of their mass on one target, row 3 splits 40/60 between targets 3 and 4
  run ot-align --text --threshold 0.3 "$T/pairs.rec"
  assert_line --index 0 "0-0 1-2 2-1 3-3 3-4"
  run ot-align --text --threshold 0.7 "$T/pairs.rec"
  assert_line --index 0 "0-0 1-2 2-1"
}

@test "non-convergence: err in the record and one summary warning naming the first ids" {
  run --separate-stderr ot-align --ot-iters 1 --ot-tol 1e-12 "$T/pairs.rec"
  assert_success
  [[ "$stderr" == *"2 of 2 pairs did not converge"* ]]
  [[ "$stderr" == *"'p1', 'p2'"* ]]
  [ "$(grep -c . <<<"$stderr")" -eq 1 ]
  ot-align --ot-iters 1 --ot-tol 1e-12 "$T/pairs.rec" 2>/dev/null | rec dump >"$T/nc.jsonl"
  run python3 -c "import json,sys; print(all(json.loads(l)['err'] > 1e-12 and json.loads(l)['iters'] == 1 for l in open(sys.argv[1])))" "$T/nc.jsonl"
  assert_output "True"
}

@test "output does not depend on the thread count" {
  random_pairs 300 40 16 7 | rec encode --schema pair >"$T/r.rec"
  ot-align --threads 1 --plan --align "$T/r.rec" >"$T/t1.rec"
  ot-align --threads 2 --plan --align "$T/r.rec" >"$T/t2.rec"
  cmp "$T/t1.rec" "$T/t2.rec"
  ot-align --threads 2 --text "$T/r.rec" >"$T/t2.txt"
  [ "$(wc -l <"$T/t2.txt")" -eq 300 ]
}

@test "refuses pairs from different encoders unless --allow-model-mismatch" {
  rec encode --schema pair --meta src_model=student --meta tgt_model=teacher "$T/pairs.jsonl" >"$T/mm.rec"
  run ot-align "$T/mm.rec"
  assert_failure 1
  assert_output --partial "src_model 'student'"
  run ot-align --allow-model-mismatch --text "$T/mm.rec"
  assert_success
}

@test "bad input: errors name the record" {
  # no vectors
  printf '%s\n' '{"id":"nv","src_lang":"de","tgt_lang":"en","src_ids":[5],"tgt_ids":[6]}' |
    rec encode --schema pair >"$T/nv.rec"
  run ot-align "$T/nv.rec"
  assert_failure 1
  assert_output --partial "record 0 (id 'nv'): no src_vecs"
  # a zero vector has no cosine
  printf '%s\n' '{"id":"z","src_lang":"de","tgt_lang":"en","src_ids":[5,6],"tgt_ids":[6],"src_vecs":[[1,0],[0,0]],"tgt_vecs":[[1,1]]}' |
    rec encode --schema pair >"$T/z.rec"
  run ot-align "$T/z.rec"
  assert_failure 1
  assert_output --partial "record 0 (id 'z'): src_vecs token 1"
  # every token left out
  printf '%s\n' '{"id":"e","src_lang":"de","tgt_lang":"en","src_ids":[101,102],"tgt_ids":[101,7,102],"src_vecs":[[1,0],[0,1]],"tgt_vecs":[[1,1],[1,0],[0,1]]}' |
    rec encode --schema pair >"$T/e.rec"
  run ot-align --skip-ends "$T/e.rec"
  assert_failure 1
  assert_output --partial "record 0 (id 'e'): src_vecs: no token takes part"
  # --skip-special without metadata
  rec encode --schema pair "$T/pairs.jsonl" >"$T/nometa.rec"
  run ot-align --skip-special "$T/nometa.rec"
  assert_failure 1
  assert_output --partial "special_ids"
  # wrong record type, truncated stream
  echo '{"qid":"q","docid":"d","rank":1,"score":1}' | rec encode --schema run >"$T/run.rec"
  run ot-align "$T/run.rec"
  assert_failure 1
  head -c 300 "$T/pairs.rec" >"$T/trunc.rec"
  run ot-align "$T/trunc.rec"
  assert_failure 1
}

@test "old option names (--eps, --tol, --max-iter, --eps-scaling) work with a warning naming the new ones" {
  ot-align --ot-eps 0.1 --ot-tol 1e-9 --ot-iters 500 --ot-eps-scaling 1 --plan "$T/pairs.rec" >"$T/new.rec"
  ot-align --eps 0.1 --tol 1e-9 --max-iter 500 --eps-scaling 1 --plan "$T/pairs.rec" >"$T/old.rec" 2>"$T/err"
  cmp "$T/new.rec" "$T/old.rec"
  for o in eps:ot-eps tol:ot-tol max-iter:ot-iters eps-scaling:ot-eps-scaling; do
    grep -q -- "--${o%%:*} is now --${o#*:}" "$T/err"
  done
}

@test "--ot-newton: problems that plain Sinkhorn leaves unconverged at the cap converge within it" {
  random_pairs 40 30 16 3 | rec encode --schema pair >"$T/r.rec"
  run --separate-stderr ot-align --ot-eps 0.01 --ot-iters 30 "$T/r.rec"
  [[ "$stderr" == *"pairs did not converge within 30 iterations"* ]]
  run --separate-stderr ot-align --ot-eps 0.01 --ot-iters 30 --ot-newton 10 --plan "$T/r.rec"
  [ -z "$stderr" ]
  ot-align --ot-eps 0.01 --ot-iters 30 --ot-newton 10 --plan "$T/r.rec" >"$T/nw.rec"
  ot-align --ot-eps 0.01 --ot-iters 100000 --ot-tol 1e-9 --plan "$T/r.rec" >"$T/ref.rec"
  python3 - "$T/nw.rec" "$T/ref.rec" <<'EOF'
import json, subprocess, sys
a = [json.loads(l) for l in subprocess.run(["rec", "dump", sys.argv[1]], capture_output=True, text=True).stdout.splitlines()]
b = [json.loads(l) for l in subprocess.run(["rec", "dump", sys.argv[2]], capture_output=True, text=True).stdout.splitlines()]
assert len(a) == len(b) == 40
assert all(x["err"] < 1e-6 and x["iters"] <= 30 for x in a), [x["iters"] for x in a]
dev = max(abs(p - q) for x, y in zip(a, b) for rp, rq in zip(x["plan"], y["plan"]) for p, q in zip(rp, rq))
assert dev < 1e-6, dev
print("max plan deviation", dev)
EOF
  rec schema "$T/nw.rec" | grep -q "ot_newton"
}

@test "a pair of 40000 x 40000 tokens is refused before its plan is allocated, naming the record" {
  python3 - >"$T/big.jsonl" <<'EOF'
import json
print(json.dumps({"id": "small", "src_lang": "de", "tgt_lang": "en", "src_ids": [1, 2], "tgt_ids": [3, 4],
                  "src_vecs": [[1.0], [2.0]], "tgt_vecs": [[1.0], [3.0]]}))
n = 40000
print(json.dumps({"id": "huge", "src_lang": "de", "tgt_lang": "en", "src_ids": list(range(n)), "tgt_ids": list(range(n)),
                  "src_vecs": [[1.0 + i % 7] for i in range(n)], "tgt_vecs": [[1.0 + i % 5] for i in range(n)]}))
EOF
  rec encode --schema pair "$T/big.jsonl" >"$T/big.rec"
  # under a 1 GB address-space limit (the 6.4 GB plan could not be had); the
  # sanitizer build reserves terabytes of shadow memory, so there no limit
  lim=1000000
  [ -n "${OTCLIR_SANITIZED:-}" ] && lim=unlimited
  run bash -c "ulimit -v $lim; ot-align --threads 1 '$T/big.rec'"
  assert_failure 1
  assert_output --partial "record 1 (id 'huge'): 40000 x 40000 tokens"
  assert_output --partial "OT_MAX_CELLS"
  # 4096 x 4096 is within the limit (sqeuclid: no zero-vector rule for d = 1)
  python3 -c '
import json
n = 4096
print(json.dumps({"id": "edge", "src_lang": "de", "tgt_lang": "en", "src_ids": list(range(n)), "tgt_ids": list(range(n)),
                  "src_vecs": [[i / n] for i in range(n)], "tgt_vecs": [[i / n] for i in range(n)]}))' |
    rec encode --schema pair >"$T/edge.rec"
  run ot-align --threads 1 --cost sqeuclid --ot-eps 0.5 --ot-iters 3 "$T/edge.rec"
  assert_success
}
