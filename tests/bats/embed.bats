#!/usr/bin/env bats
# embed: BERT token vectors from tokens/pair streams, and fresh models.
load common

setup() {
  FX=$SHARED/fixtures/embed
  T=$BATS_TEST_TMPDIR
  rec encode --schema tokens "$FX/inputs.jsonl" > "$T/in.rec"
}

# max |a - b| over the vecs of two JSON Lines dumps (matched by id)
maxdiff() {
  python3 - "$1" "$2" "${3:-vecs}" <<'EOF'
import json, sys
def load(p, key):
    return {r["id"]: r[key] for r in map(json.loads, open(p))}
a, b = load(sys.argv[1], sys.argv[3]), load(sys.argv[2], "vecs")
assert a.keys() == b.keys(), (sorted(a), sorted(b))
w = 0.0
for k in a:
    assert len(a[k]) == len(b[k]), k
    for x, y in zip(a[k], b[k]):
        w = max(w, max(abs(p - q) for p, q in zip(x, y)))
print("%.3g" % w)
EOF
}

# a tiny config: 1 layer, hidden 8, 2 heads, max 8 positions, vocab 12
tiny_config() {
  cat > "$T/tiny.json" <<'EOF'
{"vocab_size": 12, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
 "intermediate_size": 16, "max_position_embeddings": 8, "type_vocab_size": 2,
 "layer_norm_eps": 1e-12, "hidden_act": "gelu"}
EOF
  printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\na\nb\nc\nd\ne\nf\ng\nh\n' > "$T/vocab.txt"
}

@test "embed --help prints the manual, --version, bad usage exits 2" {
  run embed --help
  assert_success
  assert_output --partial "--pool mean|cls"
  assert_output --partial "EXIT STATUS"
  run embed --version
  assert_success
  run embed
  assert_failure 2
  run embed --model "$FX/model" --pool max
  assert_failure 2
}

@test "embed matches the PyTorch last_hidden_state of the fixture (1e-5)" {
  embed --model "$FX/model" "$T/in.rec" | rec dump > "$T/out.jsonl"
  [ "$(wc -l < "$T/out.jsonl")" -eq 20 ]
  run maxdiff "$T/out.jsonl" "$FX/expected.jsonl"
  assert_success
  python3 -c "import sys; sys.exit(0 if float('$output') <= 1e-5 else 1)"
}

@test "embed: records come out in input order whatever the batching; small batches agree" {
  embed --model "$FX/model" --batch-tokens 7 --window-tokens 30 "$T/in.rec" | rec dump > "$T/small.jsonl"
  embed --model "$FX/model" "$T/in.rec" | rec dump > "$T/big.jsonl"
  ids() { python3 -c 'import json,sys; print(" ".join(json.loads(l)["id"] for l in open(sys.argv[1])))' "$1"; }
  [ "$(ids "$T/small.jsonl")" = "$(ids "$FX/expected.jsonl")" ]
  run maxdiff "$T/small.jsonl" "$T/big.jsonl"
  python3 -c "import sys; sys.exit(0 if float('$output') <= 1e-6 else 1)"
}

@test "embed is deterministic for equal input and threads" {
  embed --model "$FX/model" --threads 2 "$T/in.rec" > "$T/a.rec"
  embed --model "$FX/model" --threads 2 < "$T/in.rec" > "$T/b.rec"
  cmp "$T/a.rec" "$T/b.rec"
}

@test "embed metadata: model id, layer, dim; --layer 0" {
  embed --model "$FX/model" "$T/in.rec" > "$T/out.rec"
  run rec schema "$T/out.rec"
  assert_output --regexp "model: bert-[0-9a-f]{16}"
  assert_output --partial "layer: 2"
  assert_output --partial "dim: 64"
  assert_output --partial "d: 64"
  embed --model "$FX/model" --layer 0 "$T/in.rec" > "$T/l0.rec"
  run rec schema "$T/l0.rec"
  assert_output --partial "layer: 0"
  run embed --model "$FX/model" --layer 3 "$T/in.rec"
  assert_failure 1
  assert_output --partial "the model has 2 layers"
}

@test "embed --pool mean|cls adds vec; --normalize gives unit vectors" {
  embed --model "$FX/model" --pool cls "$T/in.rec" | rec dump > "$T/cls.jsonl"
  python3 - "$T/cls.jsonl" <<'EOF'
import json, sys
for r in map(json.loads, open(sys.argv[1])):
    assert r["vec"] == r["vecs"][0], r["id"]
EOF
  # the fixture model has no vocab.txt: the special ids come from the stream
  rec encode --schema tokens --meta special_ids=0,1 "$FX/inputs.jsonl" |
    embed --model "$FX/model" --pool mean --normalize > "$T/mean.rec"
  run rec schema "$T/mean.rec"
  assert_output --partial "pooling: mean"
  rec dump "$T/mean.rec" | python3 -c '
import json, sys
for r in map(json.loads, sys.stdin):
    for v in r["vecs"] + [r["vec"]]:
        assert abs(sum(x * x for x in v) - 1) < 1e-5, r["id"]'
}

@test "embed --pool mean skips special ids from the stream metadata" {
  tiny_config
  embed --init "$T/tiny.json" --vocab "$T/vocab.txt" --seed 3 --out "$T/tiny"
  echo '{"id": "x", "ids": [2, 4, 5, 3]}' | rec encode --schema tokens > "$T/x.rec"
  embed --model "$T/tiny" --pool mean "$T/x.rec" | rec dump > "$T/x.jsonl"
  python3 - "$T/x.jsonl" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).readline())
v = r["vecs"]
want = [(a + b) / 2 for a, b in zip(v[1], v[2])]   # [CLS]=2, [SEP]=3 of vocab.txt skipped
assert max(abs(a - b) for a, b in zip(want, r["vec"])) < 1e-6, (want, r["vec"])
EOF
}

@test "embed --side tgt|src fills pair vectors and passes the other fields through" {
  cat > "$T/pair.jsonl" <<'EOF'
{"id":"p1","src_lang":"deu","tgt_lang":"eng","src_ids":[310],"tgt_ids":[0,359],"src_text":"x"}
{"id":"p2","src_lang":"fra","tgt_lang":"eng","src_ids":[134,999],"tgt_ids":[943]}
EOF
  rec encode --schema pair "$T/pair.jsonl" | embed --model "$FX/model" --side tgt \
    | embed --model "$FX/model" --side src > "$T/p.rec"
  run rec schema "$T/p.rec"
  assert_output --partial "tgt_model: bert-"
  assert_output --partial "src_layer: 2"
  rec dump "$T/p.rec" > "$T/p.jsonl"
  python3 - "$T/p.jsonl" "$FX/expected.jsonl" <<'EOF'
import json, sys
exp = {r["id"]: r["vecs"] for r in map(json.loads, open(sys.argv[2]))}
p = [json.loads(l) for l in open(sys.argv[1])]
assert p[0]["src_text"] == "x" and p[1]["src_lang"] == "fra"
def close(a, b): return max(abs(x - y) for r, s in zip(a, b) for x, y in zip(r, s)) < 1e-5
assert close(p[0]["src_vecs"], exp["s00"]) and close(p[0]["tgt_vecs"], exp["s02"])
assert close(p[1]["src_vecs"], exp["s03"]) and close(p[1]["tgt_vecs"], exp["s01"])
EOF
  run embed --model "$FX/model" "$T/p.rec"
  assert_failure 1
  assert_output --partial "needs --side"
}

@test "embed: tokens records with embeds use them in place of the word lookup" {
  python3 - "$FX/model/model.safetensors" "$FX/inputs.jsonl" > "$T/emb.jsonl" <<'EOF'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); t = h["embeddings.word_embeddings.weight"]
d = t["shape"][1]; off = 8 + n + t["data_offsets"][0]
row = lambda i: list(struct.unpack("<%df" % d, b[off + 4 * d * i: off + 4 * d * (i + 1)]))
for k, r in enumerate(map(json.loads, open(sys.argv[2]))):
    if k % 2 == 0: r["embeds"] = [row(i) for i in r["ids"]]
    print(json.dumps(r))
EOF
  rec encode --schema tokens "$T/emb.jsonl" | embed --model "$FX/model" | rec dump > "$T/out.jsonl"
  run maxdiff "$T/out.jsonl" "$FX/expected.jsonl"
  python3 -c "import sys; sys.exit(0 if float('$output') <= 1e-5 else 1)"
}

@test "embed: a token id >= vocab_size is an error naming the record" {
  printf '{"id":"a","ids":[1,2]}\n{"id":"bad","ids":[5,1000]}\n' | rec encode --schema tokens > "$T/bad.rec"
  run embed --model "$FX/model" "$T/bad.rec"
  assert_failure 1
  assert_output --partial "record 1 (id 'bad'): token 1: id 1000 >= vocab_size 1000"
}

@test "embed: too long is an error; --truncate keeps the first max-1 tokens and the last" {
  tiny_config
  embed --init "$T/tiny.json" --out "$T/tiny"
  echo '{"id":"long","ids":[2,4,5,6,7,8,9,10,11,4,3]}' | rec encode --schema tokens > "$T/long.rec"
  run embed --model "$T/tiny" "$T/long.rec"
  assert_failure 1
  assert_output --partial "record 0 (id 'long'): 11 tokens, more than max_position_embeddings 8"
  run bash -c "embed --model '$T/tiny' --truncate '$T/long.rec' | rec dump"
  assert_success
  assert_output --partial '"ids":[2,4,5,6,7,8,9,3]'
}

@test "embed --init: same seed same folder, loads in embed, HF layout" {
  tiny_config
  embed --init "$T/tiny.json" --vocab "$T/vocab.txt" --seed 5 --out "$T/m1"
  embed --init "$T/tiny.json" --vocab "$T/vocab.txt" --seed 5 --out "$T/m2"
  embed --init "$T/tiny.json" --vocab "$T/vocab.txt" --seed 6 --out "$T/m3"
  [ -f "$T/m1/config.json" ] && [ -f "$T/m1/model.safetensors" ]
  cmp "$T/m1/vocab.txt" "$T/vocab.txt"
  cmp "$T/m1/model.safetensors" "$T/m2/model.safetensors"
  ! cmp -s "$T/m1/model.safetensors" "$T/m3/model.safetensors"
  run ls "$T"
  refute_output --partial ".tmp."
  python3 - "$T/m1/model.safetensors" <<'EOF'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
h = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])
assert h["__metadata__"] == {"format": "pt"}
assert h["encoder.layer.0.attention.self.query.weight"]["shape"] == [8, 8]
assert h["embeddings.LayerNorm.weight"]["dtype"] == "F32" and len(h) == 1 + 5 + 16 + 2
EOF
  echo '{"id":"a","ids":[2,4,3]}' | rec encode --schema tokens | embed --model "$T/m1" | rec count
}

@test "embed --init --no-positions and --init-from copy a teacher's shared pieces" {
  tiny_config
  embed --init "$T/tiny.json" --vocab "$T/vocab.txt" --seed 1 --out "$T/teacher"
  # the student's vocabulary: a subset in another order plus a new piece
  printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\nh\nzz\nb\n' > "$T/svocab.txt"
  sed 's/"vocab_size": 12/"vocab_size": 7/' "$T/tiny.json" > "$T/student.json"
  embed --init "$T/student.json" --vocab "$T/svocab.txt" --init-from "$T/teacher" --no-positions --seed 2 --out "$T/student"
  python3 - "$T/teacher/model.safetensors" "$T/student/model.safetensors" <<'EOF'
import json, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    def get(name):
        t = h[name]; s, e = t["data_offsets"]
        return list(struct.unpack("<%df" % ((e - s) // 4), b[8 + n + s: 8 + n + e]))
    return get
t, s = load(sys.argv[1]), load(sys.argv[2])
tw, sw = t("embeddings.word_embeddings.weight"), s("embeddings.word_embeddings.weight")
row = lambda w, i: w[8 * i: 8 * i + 8]
assert row(sw, 4) == row(tw, 11) and row(sw, 6) == row(tw, 5) and row(sw, 2) == row(tw, 2)  # h, b, [CLS]
assert row(sw, 5) != row(tw, 5)                                                            # zz: fresh
assert set(s("embeddings.position_embeddings.weight")) == {0.0}
assert set(s("embeddings.token_type_embeddings.weight")) == {0.0}
assert s("encoder.layer.0.output.dense.weight") == t("encoder.layer.0.output.dense.weight")
EOF
}

@test "embed: bad model folders give errors naming the file or tensor" {
  run embed --model "$T/nope" "$T/in.rec"
  assert_failure 1
  assert_output --partial "nope/config.json"
  mkdir "$T/trunc"
  cp "$FX/model/config.json" "$T/trunc/"
  head -c 100000 "$FX/model/model.safetensors" > "$T/trunc/model.safetensors"
  run embed --model "$T/trunc" "$T/in.rec"
  assert_failure 1
  assert_output --partial "truncated"
  mkdir "$T/wrong"
  cp "$FX/model/model.safetensors" "$T/wrong/"
  sed 's/"intermediate_size": 256/"intermediate_size": 128/' "$FX/model/config.json" > "$T/wrong/config.json"
  run embed --model "$T/wrong" "$T/in.rec"
  assert_failure 1
  assert_output --regexp "tensor 'encoder.layer.0.intermediate.dense.(weight|bias)' has shape \[256(, 64)?\], config.json implies \[128(, 64)?\]"
}

@test "embed: an empty tokens stream gives an empty vectors stream" {
  printf '' | rec encode --schema tokens > "$T/empty.rec"
  run bash -c "embed --model '$FX/model' '$T/empty.rec' | rec count"
  assert_success
  assert_output "0"
}

@test "embed: bad enum values are named (--pool max, --side both, --colbert x) (issue 14)" {
  run embed --model "$FX/model" --pool max "$T/in.rec"
  assert_failure 2
  assert_output --partial "--pool: unknown value 'max' (expected one of: mean, cls)"
  run embed --model "$FX/model" --side both "$T/in.rec"
  assert_failure 2
  assert_output --partial "--side: unknown value 'both' (expected one of: src, tgt)"
  run embed --model "$FX/model" --colbert x "$T/in.rec"
  assert_failure 2
  assert_output --partial "--colbert: unknown value 'x' (expected one of: query, doc)"
}

@test "embed refuses token ids made with another vocabulary; --allow-vocab-mismatch embeds them (issue 14)" {
  tiny_config
  embed --init "$T/tiny.json" --vocab "$T/vocab.txt" --seed 3 --out "$T/tiny"
  printf 'a\tb c\n' | tokenize --vocab "$T/vocab.txt" > "$T/ok.rec"
  embed --model "$T/tiny" "$T/ok.rec" | rec count
  # the same ids, but the stream says another vocabulary (same size) made them
  sed 's/^a$/A/' "$T/vocab.txt" > "$T/other.txt"
  printf 'a\tb c\n' | tokenize --vocab "$T/other.txt" > "$T/other.rec"
  run embed --model "$T/tiny" "$T/other.rec"
  assert_failure 1
  assert_output --partial "$(sha256sum < "$T/other.txt" | cut -d' ' -f1)"
  assert_output --partial "$(sha256sum < "$T/vocab.txt" | cut -d' ' -f1)"
  assert_output --partial "tiny/vocab.txt"
  run bash -c "embed --model '$T/tiny' --allow-vocab-mismatch '$T/other.rec' | rec count"
  assert_success
  assert_output 1
  # pair streams: the side's own hash (tgt_vocab)
  printf 'p\tb\tc\n' | tokenize --pair --src-vocab "$T/vocab.txt" --tgt-vocab "$T/other.txt" > "$T/pair.rec"
  embed --model "$T/tiny" --side src "$T/pair.rec" | rec count
  run embed --model "$T/tiny" --side tgt "$T/pair.rec"
  assert_failure 1
  assert_output --partial "'tgt_vocab'"
}

@test "embed: a model folder with an empty or missing vocab.txt is refused where a vocabulary is needed (issue 14)" {
  tiny_config
  embed --init "$T/tiny.json" --seed 3 --out "$T/novocab"
  printf 'a\tb c\n' | tokenize --vocab "$T/vocab.txt" > "$T/t.rec"
  run embed --model "$T/novocab" "$T/t.rec"
  assert_failure 1
  assert_output --partial "no vocabulary file"
  # without special_ids metadata --pool mean would include [CLS]/[SEP]
  echo '{"id":"x","ids":[2,4,3]}' | rec encode --schema tokens > "$T/x.rec"
  run embed --model "$T/novocab" --pool mean "$T/x.rec"
  assert_failure 1
  assert_output --partial "special"
  embed --init "$T/tiny.json" --vocab "$T/vocab.txt" --seed 3 --out "$T/empty"
  : > "$T/empty/vocab.txt"
  run embed --model "$T/empty" "$T/x.rec"
  assert_failure 1
  assert_output --partial "empty/vocab.txt: the vocabulary file is empty"
}

@test "XLM-R: embed matches PyTorch's XLMRobertaModel on the fixture (1e-5), tokenize --model feeds it" {
  X=$ROOT/tests/fixtures/xlmr
  rec encode --schema tokens "$X/inputs.jsonl" | embed --model "$X/model" | rec dump > "$T/x.jsonl"
  run maxdiff "$T/x.jsonl" "$X/expected.jsonl"
  assert_success
  python3 -c "import sys; sys.exit(0 if float('$output') <= 1e-5 else 1)"
  # the tokenizer's ids for the fixture texts are the generator's (python3-sentencepiece)
  tokenize --model "$X/model" "$X/texts.tsv" | embed --model "$X/model" | rec dump > "$T/t.jsonl"
  jq -c '[.id, .ids]' "$T/t.jsonl" > "$T/got"
  head -16 "$X/inputs.jsonl" | jq -c '[.id, .ids]' > "$T/want"
  cmp "$T/got" "$T/want"
  # 512 tokens fit (positions 2..513); 513 do not
  jq -c 'select(.id == "long512") | .ids += [5] | .id = "long513"' "$X/inputs.jsonl" | rec encode --schema tokens > "$T/513.rec"
  run embed --model "$X/model" "$T/513.rec"
  assert_failure 1
  assert_output --partial "513 tokens, more than the model's 512 positions"
}

@test "XLM-R: embed --init writes an XLMRobertaModel folder; --vocab takes a SentencePiece model; --init-from copies shared pieces" {
  X=$ROOT/tests/fixtures/xlmr
  jq '.num_hidden_layers = 1' "$X/model/config.json" > "$T/x.json"
  embed --init "$T/x.json" --vocab "$ROOT/tests/fixtures/spm/unigram.model" --seed 1 --out "$T/fresh"
  [ -s "$T/fresh/sentencepiece.bpe.model" ] && [ ! -e "$T/fresh/vocab.txt" ]
  jq -e '.model_type == "xlm-roberta" and .architectures == ["XLMRobertaModel"] and .pad_token_id == 1' "$T/fresh/config.json"
  printf 'a\tHello world\n' | tokenize --model "$T/fresh" | embed --model "$T/fresh" --pool mean | rec count
  # a student on a pruned SentencePiece vocabulary, initialised from the teacher:
  # on the pruning text it computes exactly the teacher's vectors
  tokenize --spm "$ROOT/tests/fixtures/spm/unigram.model" --prune-vocab "$T/pv" "$X/texts.tsv"
  n=$(wc -l < "$T/pv/idmap.tsv")
  jq ".vocab_size = $n" "$X/model/config.json" > "$T/s.json"
  embed --init "$T/s.json" --vocab "$T/pv/sentencepiece.bpe.model" --init-from "$X/model" --seed 2 --out "$T/student"
  tokenize --model "$T/student" "$X/texts.tsv" | embed --model "$T/student" | rec dump > "$T/s.jsonl"
  head -16 "$X/expected.jsonl" > "$T/e16.jsonl"
  run maxdiff "$T/s.jsonl" "$T/e16.jsonl"
  assert_success
  python3 -c "import sys; sys.exit(0 if float('$output') <= 1e-5 else 1)"
}

@test "ColBERT: embed --colbert query|doc matches a PyTorch re-statement of ColBERT's encoders (1e-5)" {
  C=$ROOT/tests/fixtures/colbert
  for side in queries docs; do
    mode=$([ $side = queries ] && echo query || echo doc)
    tokenize --model "$C/model" --lower "$C/$side.tsv" | embed --model "$C/model" --colbert $mode > "$T/$side.rec"
    rec dump "$T/$side.rec" > "$T/$side.jsonl"
    jq -c '[.id, .ids]' "$T/$side.jsonl" > "$T/got"
    jq -c '[.id, .ids]' "$C/expected.$side.jsonl" > "$T/want"
    cmp "$T/got" "$T/want"
    run maxdiff "$T/$side.jsonl" "$C/expected.$side.jsonl"
    assert_success
    python3 -c "import sys; sys.exit(0 if float('$output') <= 1e-5 else 1)"
  done
  run rec schema "$T/queries.rec"
  assert_output --partial "colbert: query"
  assert_output --partial "dim: 8"
  assert_output --partial 'special_ids: ""'
  # --query-len overrides artifact.metadata's query_maxlen
  run bash -c "tokenize --model '$C/model' --lower '$C/queries.tsv' | embed --model '$C/model' --colbert query --query-len 20 | rec dump | jq -c '.ids | length' | sort -u"
  assert_output 20
}

@test "ColBERT: rank --mode maxsim over embed's output is ColBERT's score (1e-5)" {
  C=$ROOT/tests/fixtures/colbert
  # no --lower: the folder's tokenizer_config.json says do_lower_case
  tokenize --model "$C/model" "$C/docs.tsv" | embed --model "$C/model" --colbert doc > "$T/d.rec"
  tokenize --model "$C/model" "$C/queries.tsv" > "$T/q.tok"
  run rec schema "$T/q.tok"
  assert_output --partial "lower: 1"
  embed --model "$C/model" --colbert query < "$T/q.tok" > "$T/q.rec"
  rank --docs "$T/d.rec" --mode maxsim -k 100 --trec < "$T/q.rec" > "$T/run"
  [ "$(wc -l < "$T/run")" -eq 120 ]
  awk '{ print $1 "\t" $3 "\t" $5 }' "$T/run" > "$T/got"
  run python3 - "$T/got" "$C/scores.tsv" <<'EOF'
import sys
load = lambda p: {(a, b): float(s) for a, b, s in (l.split("\t") for l in open(p))}
g, w = load(sys.argv[1]), load(sys.argv[2])
assert g.keys() == w.keys()
print("%.3g" % max(abs(g[k] - w[k]) for k in w))
EOF
  assert_success
  python3 -c "import sys; sys.exit(0 if float('$output') <= 1e-5 else 1)"
  # the special ids are empty: rank --skip-special refuses rather than changing the score
  run rank --docs "$T/d.rec" --mode maxsim --skip-special < "$T/q.rec"
  assert_failure
}

@test "ColBERT: a folder without the projection is refused naming it" {
  echo '{"id":"x","ids":[2,4,3]}' | rec encode --schema tokens > "$T/x.rec"
  run embed --model "$FX/model" --colbert query "$T/x.rec"
  assert_failure 1
  assert_output --partial "no ColBERT projection ('linear.weight'"
}

@test "XLM-R: a folder with a missing tensor is an error naming the file and the tensor" {
  X=$ROOT/tests/fixtures/xlmr
  mkdir "$T/x"
  cp "$X/model/config.json" "$X/model/sentencepiece.bpe.model" "$T/x/"
  python3 - "$X/model/model.safetensors" "$T/x/model.safetensors" <<'EOF'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
drop = "roberta.encoder.layer.1.output.dense.bias"
keep = sorted(k for k in h if k not in ("__metadata__", drop))
out, blobs, off = {}, [], 0
for k in keep:
    s, e = h[k]["data_offsets"]
    blobs.append(b[8 + n + s: 8 + n + e])
    out[k] = dict(h[k], data_offsets=[off, off + e - s])
    off += e - s
hb = json.dumps(out).encode()
hb += b" " * (-len(hb) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))
EOF
  echo '{"id":"x","ids":[0,5,2]}' | rec encode --schema tokens > "$T/x.rec"
  run embed --model "$T/x" "$T/x.rec"
  assert_failure 1
  assert_output --partial "x/model.safetensors: missing tensor 'encoder.layer.1.output.dense.bias'"
}
