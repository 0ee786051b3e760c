#!/usr/bin/env bats
# perturb: determinism, rates, each noise type, the input formats, the
# model-based modes and bad input.
load common

setup_file() {
  local T=$BATS_FILE_TMPDIR
  head -400 "$SHARED/data/bitext/tatoeba-challenge/deu-eng.tsv" |
    awk -F'\t' '{printf "s%d\t%s\t%s\n", NR, $1, $2}' >"$T/bi.tsv"
  cut -f1,2 "$T/bi.tsv" >"$T/de.tsv"
  # a small model and pairs with its vocabulary and the teacher side embedded
  head -120 "$T/bi.tsv" >"$T/b120.tsv"
  tokenize --prune-vocab "$T/voc" --vocab "$SHARED/data/vocab/mbert-cased/vocab.txt" --pair "$T/bi.tsv" 2>/dev/null
  local n
  n=$(wc -l <"$T/voc/vocab.txt")
  printf '{"vocab_size": %d, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 64, "hidden_act": "gelu"}\n' "$n" >"$T/m.json"
  embed --init "$T/m.json" --vocab "$T/voc/vocab.txt" --seed 1 --out "$T/model"
  tokenize --pair --keep-text --vocab "$T/voc/vocab.txt" --max-len 64 "$T/b120.tsv" |
    embed --model "$T/model" --side tgt --normalize >"$T/pairs.rec"
}

# Words of the text column (whitespace split), per line, as JSON.
@test "perturb --help prints the manual, --version the version, bad usage exits 2" {
  run perturb --help
  assert_success
  assert_output --partial "NOISE MODEL"
  assert_output --partial "keyboard"
  assert_output --partial "EXIT STATUS"
  run perturb --version
  assert_success
  run perturb
  assert_failure 2
  run perturb --switch 0.1
  assert_failure 2
  run perturb --typo 2
  assert_failure 2
  run perturb --typo 0.1 --typo-kinds fat-finger
  assert_failure 2
  run perturb --worst-of 3 --typo 0.1
  assert_failure 2
}

@test "same seed, same output; another seed, another; ids and line count unchanged" {
  local T=$BATS_FILE_TMPDIR
  a=$(perturb --typo 0.3 --drop 0.1 --swap 0.1 --seed 7 <"$T/de.tsv")
  b=$(perturb --typo 0.3 --drop 0.1 --swap 0.1 --seed 7 <"$T/de.tsv")
  c=$(perturb --typo 0.3 --drop 0.1 --swap 0.1 --seed 8 <"$T/de.tsv")
  [ "$a" = "$b" ]
  [ "$a" != "$c" ]
  diff <(cut -f1 <<<"$a") <(cut -f1 "$T/de.tsv")
  # a record's noise depends on its id only, not on its position
  diff <(perturb --typo 0.3 --seed 7 <"$T/de.tsv" | sort) <(tac "$T/de.tsv" | perturb --typo 0.3 --seed 7 | sort)
  # and by position with --key index
  run diff <(perturb --typo 0.3 --seed 7 --key index <"$T/de.tsv" | sort) <(tac "$T/de.tsv" | perturb --typo 0.3 --seed 7 --key index | sort)
  assert_failure
  # rate 0 is the identity
  diff <(perturb --typo 0 <"$T/de.tsv") "$T/de.tsv"
}

@test "typo rate: about R of the words of 3+ characters get exactly one edit" {
  local T=$BATS_FILE_TMPDIR
  for rate in 0.1 0.3 1; do
    perturb --typo $rate --seed 3 <"$T/de.tsv" | paste "$T/de.tsv" - | python3 -c "
import sys
rate = $rate
changed = eligible = 0
def dist(a, b):  # Damerau-Levenshtein (adjacent swaps)
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1): d[i][0] = i
    for j in range(len(b) + 1): d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i-1][j] + 1, d[i][j-1] + 1, d[i-1][j-1] + (a[i-1] != b[j-1]))
            if i > 1 and j > 1 and a[i-1] == b[j-2] and a[i-2] == b[j-1]:
                d[i][j] = min(d[i][j], d[i-2][j-2] + 1)
    return d[len(a)][len(b)]
for line in sys.stdin:
    _, src, _, out = line.rstrip('\n').split('\t')
    ws, wo = src.split(), out.split()
    assert len(ws) == len(wo), (src, out)
    for a, b in zip(ws, wo):
        core = a.strip('.,;:!?\"\'()[]«»„“”-')
        if len(core) >= 3:
            eligible += 1
        dd = dist(a, b)
        assert dd <= 1, (a, b)
        assert dd == 0 or len(core) >= 3, (a, b)
        changed += dd
frac = changed / eligible
print('rate', rate, 'observed', frac, 'of', eligible)
# a few typos leave a word unchanged (a swap in 'aaa'); binomial slack 4 sd
sd = (rate * (1 - rate) / eligible) ** 0.5
assert frac <= rate + 4 * sd + 1e-9 and frac >= rate - 4 * sd - 0.02, frac
"
  done
}

@test "each typo kind, word drop and word swap" {
  local T=$BATS_FILE_TMPDIR
  for kind in insert delete substitute swap keyboard; do
    out=$(perturb --typo 1 --typo-kinds $kind --seed 1 <<<$'x\tkeyboard')
    [ "$out" != $'x\tkeyboard' ]
  done
  [ "$(perturb --typo 1 --typo-kinds insert <<<$'x\tabc' | cut -f2 | wc -m)" -eq 5 ]
  [ "$(perturb --typo 1 --typo-kinds delete <<<$'x\tabc' | cut -f2 | wc -m)" -eq 3 ]
  # keyboard: the letter is replaced by a QWERTY neighbour of it
  out=$(perturb --typo 1 --typo-kinds keyboard <<<$'x\tggg' | cut -f2)
  [[ "$out" =~ ^g*[tyfhvb]g*$ ]]
  # words under three characters never change
  [ "$(perturb --typo 1 <<<$'x\tab cd ef')" = $'x\tab cd ef' ]
  # non-Latin text stays valid UTF-8 with the same scripts
  out=$(perturb --typo 1 --seed 2 <<<$'x\tПривет мир こんにちは')
  python3 -c "
import sys
s = sys.argv[1].split('\t')[1]
assert all(ord(c) > 127 or c == ' ' for c in s), s
" "$out"
  # drop: fewer words, never none
  out=$(perturb --drop 1 <<<$'x\tone two three four')
  [ "$(cut -f2 <<<"$out" | wc -w)" -eq 1 ]
  out=$(perturb --drop 0.5 --seed 3 <"$T/de.tsv" | cut -f2 | wc -w)
  orig=$(cut -f2 "$T/de.tsv" | wc -w)
  [ "$out" -lt $((orig * 6 / 10)) ] && [ "$out" -gt $((orig * 4 / 10)) ]
  # swap: neighbours exchange, punctuation stays
  [ "$(perturb --swap 1 <<<$'x\tone two, three four.')" = $'x\ttwo one, four three.' ]
}

@test "dictionary code-switching with the mirror's MUSE and FreeDict lists" {
  local T=$BATS_FILE_TMPDIR
  run perturb --dict "$SHARED/data/dict/muse/de-en.0-5000.txt" --switch 1 --stats <<<$'x\tDer Hund und die Katze sind im Haus.'
  assert_success
  assert_output --partial "and"
  assert_output --partial "switched"
  # rate: about half of the dictionary words switch at 0.5
  perturb --dict "$SHARED/data/dict/muse/de-en.0-5000.txt" --rate 0.5 --stats <"$T/de.tsv" 2>"$T/stats" >/dev/null
  cat "$T/stats"
  # FreeDict, used backwards (English -> Swahili)
  run perturb --dict "$SHARED/data/dict/freedict/swh-eng.tsv" --dict-reverse --switch 1 <<<$'x\tforgive me'
  assert_success
  assert_output --regexp $'^x\t(achilia|samehe) me$'
  run perturb --dict "$T/missing.txt" --switch 1 <<<$'x\ty'
  assert_failure 1
  assert_output --partial "missing.txt"
}

@test "bitext TSV (--pair): only the source side changes; text records in, text records out" {
  local T=$BATS_FILE_TMPDIR
  perturb --pair --typo 0.5 <"$T/bi.tsv" >"$T/out.tsv"
  diff <(cut -f1,3 "$T/out.tsv") <(cut -f1,3 "$T/bi.tsv")
  ! diff -q <(cut -f2 "$T/out.tsv") <(cut -f2 "$T/bi.tsv")
  # the lang column stays
  awk -F'\t' '{print $1 "\tdeu\t" $2}' "$T/de.tsv" | perturb --lang-column --typo 0.5 | cut -f2 | sort -u | grep -qx deu
  # records: the same noise as the TSV path
  rec from-tsv --lang deu "$T/de.tsv" | perturb --typo 0.3 --seed 4 | rec dump >"$T/rec.jsonl"
  python3 -c "
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
tsv = [l.rstrip('\n').split('\t') for l in open(sys.argv[2])]
assert len(recs) == len(tsv)
for r, (i, t) in zip(recs, tsv):
    assert r['id'] == i and r['text'] == t and r['lang'] == 'deu', (r, i, t)
" "$T/rec.jsonl" <(perturb --typo 0.3 --seed 4 <"$T/de.tsv")
}

@test "pair records: re-tokenized src; worst-of-K keeps the hardest; attack writes embeds embed reads" {
  local T=$BATS_FILE_TMPDIR
  # random noise on pair records, re-tokenized with the model's vocabulary
  perturb --typo 0.5 --model "$T/model" <"$T/pairs.rec" >"$T/rand.rec"
  rec check --expect pair "$T/rand.rec"
  tokenize --decode <"$T/rand.rec" | head -3
  # worst of 4: higher mean loss under the model than plain random noise
  perturb --worst-of 4 --typo 0.5 --model "$T/model" <"$T/pairs.rec" >"$T/worst.rec"
  loss() { distill-step --init "$T/model" --out "$BATS_TEST_TMPDIR/e" --input "$1" --lr 0 --batch-tokens 1000000 \
    --threads 1 2>/dev/null | rec dump | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["ot"])'; }
  r=$(loss "$T/rand.rec")
  w=$(loss "$T/worst.rec")
  echo "random $r worst-of-4 $w"
  python3 -c "import sys; sys.exit(0 if $w > $r else 1)"
  # deterministic
  perturb --worst-of 4 --typo 0.5 --model "$T/model" <"$T/pairs.rec" | cmp - "$T/worst.rec"
  # attack: tokens records with embeds; embed accepts them
  perturb --attack pgd --model "$T/model" --adv-eps 0.5 --adv-steps 3 <"$T/pairs.rec" >"$T/att.rec"
  rec check --expect tokens "$T/att.rec"
  [ "$(embed --model "$T/model" <"$T/att.rec" | rec count)" -eq 120 ]
  # eps 0 reproduces the clean vectors
  perturb --attack fgsm --model "$T/model" --adv-eps 0 <"$T/pairs.rec" | embed --model "$T/model" | rec dump >"$T/a0.jsonl"
  rec dump "$T/pairs.rec" | python3 -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l); print(json.dumps({"id": r["id"], "ids": r["src_ids"]}))' |
    rec encode --schema tokens | embed --model "$T/model" | rec dump >"$T/c0.jsonl"
  python3 -c "
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
c = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(c) == 120
err = max(abs(x - y) for ra, rc in zip(a, c) for va, vc in zip(ra['vecs'], rc['vecs']) for x, y in zip(va, vc))
assert err < 1e-5, err
" "$T/a0.jsonl" "$T/c0.jsonl"
  # --adv-relative: fgsm moves each token by exactly eps, here 0.5 x the
  # median word-embedding norm, computed independently from the safetensors
  perturb --attack fgsm --model "$T/model" --adv-eps 0 <"$T/pairs.rec" | rec dump >"$T/e0.jsonl"
  perturb --attack fgsm --model "$T/model" --adv-eps 0.5 --adv-relative <"$T/pairs.rec" | rec dump >"$T/er.jsonl"
  python3 - "$T/model/model.safetensors" "$T/e0.jsonl" "$T/er.jsonl" <<'PY'
import array, json, math, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n))
    t = next(v for k, v in h.items() if k.endswith("word_embeddings.weight"))
    rows, dim = t["shape"]
    f.seek(8 + n + t["data_offsets"][0])
    a = array.array("f")
    a.frombytes(f.read(t["data_offsets"][1] - t["data_offsets"][0]))
med = sorted(math.sqrt(sum(x * x for x in a[i * dim:(i + 1) * dim])) for i in range(rows))[rows // 2]
moved = []
for l0, lr in zip(open(sys.argv[2]), open(sys.argv[3])):
    e0, er = json.loads(l0)["embeds"], json.loads(lr)["embeds"]
    moved += [math.sqrt(sum((x - y) ** 2 for x, y in zip(u, v))) for u, v in zip(e0, er)]
moved = [m for m in moved if m > 0]
assert len(moved) > 100, len(moved)
assert all(abs(m - 0.5 * med) < 1e-3 * med for m in moved), (med, min(moved), max(moved))
PY
  # model modes need pair records with the teacher's vectors
  run perturb --worst-of 2 --typo 0.1 --model "$T/model" "$T/de.tsv"
  assert_failure 1
}

@test "perturb rejects bad input naming the line or record" {
  local T=$BATS_FILE_TMPDIR
  run perturb --typo 0.1 <<<$'a\tok\nb\tbad \xff byte'
  assert_failure 1
  assert_output --partial "line 2"
  assert_output --partial "UTF-8"
  run perturb --typo 0.1 <<<$'a\tone\ttwo'
  assert_failure 1
  assert_output --partial "line 1: expected 2"
  run perturb --pair --typo 0.1 <<<$'a\tone'
  assert_failure 1
  assert_output --partial "expected 3"
  run perturb --typo 0.1 <<<$'\tno id'
  assert_failure 1
  assert_output --partial "empty id"
  tokenize --vocab "$SHARED/data/vocab/mbert-cased/vocab.txt" <<<$'a\tb' >"$T/tok.rec"
  run perturb --typo 0.1 "$T/tok.rec"
  assert_failure 1
  assert_output --partial "'tokens'"
  head -c 60 "$T/tok.rec" >"$T/trunc.rec"
  run perturb --typo 0.1 "$T/trunc.rec"
  assert_failure 1
  run perturb --typo 0.1 "$T/nonexistent"
  assert_failure 1
  assert_output --partial "nonexistent"
}

@test "CRLF lines keep their CR; a last line without a newline gets one" {
  printf 'a\tone two three four\r\nb\tfive six seven\r\nc\teight nine ten' >"$BATS_TEST_TMPDIR/crlf.tsv"
  perturb --typo 0.5 --seed 2 "$BATS_TEST_TMPDIR/crlf.tsv" >"$BATS_TEST_TMPDIR/out.tsv"
  [ "$(grep -c $'\r$' "$BATS_TEST_TMPDIR/out.tsv")" -eq 2 ]
  [ "$(wc -l <"$BATS_TEST_TMPDIR/out.tsv")" -eq 3 ]
  # the CR is not part of the text: the same noise as the LF file
  diff <(tr -d '\r' <"$BATS_TEST_TMPDIR/out.tsv") <(tr -d '\r' <"$BATS_TEST_TMPDIR/crlf.tsv" | perturb --typo 0.5 --seed 2)
}

@test "vocabularies: --vocab writes the new vocabulary's hash; --model refuses another vocabulary's ids" {
  local T=$BATS_FILE_TMPDIR D=$BATS_TEST_TMPDIR
  head -60 "$T/bi.tsv" >"$D/b.tsv"
  tokenize --prune-vocab "$D/voc" --vocab "$SHARED/data/vocab/mbert-cased/vocab.txt" --pair "$D/b.tsv" 2>/dev/null
  V=$SHARED/data/vocab/mbert-cased/vocab.txt
  tokenize --pair --keep-text --vocab "$V" "$D/b.tsv" >"$D/p.rec"
  # re-tokenized with the pruned vocabulary: src_vocab and src_special_ids say so
  perturb --typo 0.3 --vocab "$D/voc/vocab.txt" "$D/p.rec" >"$D/q.rec"
  rec schema "$D/q.rec" >"$D/q.schema"
  grep -q "src_vocab.*$(sha256sum "$D/voc/vocab.txt" | cut -c1-64)" "$D/q.schema"
  grep -q "tgt_vocab.*$(sha256sum "$V" | cut -c1-64)" "$D/q.schema"
  # the both-sides key of the input no longer holds: it is gone
  rec schema "$D/p.rec" | grep -qE '^ *vocab'
  ! grep -qE '^ *vocab' "$D/q.schema"
  # a model whose vocabulary is not the stream's refuses it (naming both hashes)
  n=$(wc -l <"$D/voc/vocab.txt")
  printf '{"vocab_size": %d, "hidden_size": 8, "num_hidden_layers": 0, "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 64}\n' "$n" >"$D/m.json"
  embed --init "$D/m.json" --vocab "$D/voc/vocab.txt" --seed 1 --out "$D/model"
  run perturb --typo 0.3 --model "$D/model" "$D/p.rec"
  assert_failure 1
  assert_output --partial "another vocabulary"
  assert_output --partial "$(sha256sum "$V" | cut -c1-64)"
  run perturb --attack fgsm --model "$D/model" --threads 1 "$D/p.rec"
  assert_failure 1
  assert_output --partial "another vocabulary"
  perturb --typo 0.3 --model "$D/model" --allow-vocab-mismatch "$D/p.rec" | rec count
}

@test "old option names: --eps, --alpha, --steps work as --adv-eps, --adv-alpha, --adv-steps, with a warning" {
  local T=$BATS_FILE_TMPDIR D=$BATS_TEST_TMPDIR
  perturb --attack pgd --model "$T/model" --adv-eps 0.3 --adv-alpha 0.1 --adv-steps 2 --threads 1 <"$T/pairs.rec" >"$D/new.rec"
  perturb --attack pgd --model "$T/model" --eps 0.3 --alpha 0.1 --steps 2 --threads 1 <"$T/pairs.rec" >"$D/old.rec" 2>"$D/err"
  cmp "$D/new.rec" "$D/old.rec"
  grep -q -- "--eps is now --adv-eps" "$D/err"
  grep -q -- "--steps is now --adv-steps" "$D/err"
  run perturb --key sideways --typo 0.1
  assert_failure 2
  assert_output --partial "'sideways'"
}
