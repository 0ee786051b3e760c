#!/usr/bin/env bats
# distill-step: a tiny student trained on real bitext from the mirror (German
# Tatoeba-challenge pairs), its OT loss going down, bit reproducibility,
# resume equality and a SIGKILLed run.
load common

setup_file() {
  local T=$BATS_FILE_TMPDIR
  head -160 "$SHARED/data/bitext/tatoeba-challenge/deu-eng.tsv" |
    awk -F'\t' '{printf "p%d\t%s\t%s\n", NR, $1, $2}' >"$T/bi.tsv"
  tokenize --prune-vocab "$T/voc" --vocab "$SHARED/data/vocab/mbert-cased/vocab.txt" --pair "$T/bi.tsv" 2>/dev/null
  local n
  n=$(wc -l <"$T/voc/vocab.txt")
  printf '{"vocab_size": %d, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 128, "type_vocab_size": 2, "hidden_act": "gelu"}\n' "$n" >"$T/student.json"
  printf '{"vocab_size": %d, "hidden_size": 16, "num_hidden_layers": 0, "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 128, "type_vocab_size": 2, "hidden_act": "gelu"}\n' "$n" >"$T/teacher.json"
  # the teacher: a fixed random unit vector per piece (a lexical teacher)
  embed --init "$T/teacher.json" --vocab "$T/voc/vocab.txt" --no-positions --seed 3 --out "$T/teacher"
  embed --init "$T/student.json" --vocab "$T/voc/vocab.txt" --seed 4 --out "$T/student0"
  tokenize --pair --keep-text --vocab "$T/voc/vocab.txt" --max-len 64 "$T/bi.tsv" |
    embed --model "$T/teacher" --side tgt --normalize >"$T/pairs.rec"
}

# Mean OT loss of MODEL over all pairs (one batch, no update).
ot_loss() { # MODEL [INPUT]
  distill-step --init "$1" --out "$BATS_TEST_TMPDIR/eval" --input "${2:-$BATS_FILE_TMPDIR/pairs.rec}" \
    --lr 0 --batch-tokens 1000000 --ot-iters 1000 --threads 1 2>/dev/null |
    rec dump | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["ot"])'
}

@test "distill-step --help prints the manual, --version the version, bad usage exits 2" {
  run distill-step --help
  assert_success
  assert_output --partial "RENAME_EXCHANGE"
  assert_output --partial "freelb"
  assert_output --partial "EXIT STATUS"
  run distill-step --version
  assert_success
  assert_output --partial "otclir"
  run distill-step --out x
  assert_failure 2
  run distill-step --init a --out b --loss kl
  assert_failure 2
  run distill-step --init a --out b --adv sometimes
  assert_failure 2
}

@test "a tiny student trained on German-English bitext: the OT loss goes down" {
  local T=$BATS_FILE_TMPDIR D=$BATS_TEST_TMPDIR
  before=$(ot_loss "$T/student0")
  run distill-step --init "$T/student0" --out "$D/s" --input "$T/pairs.rec" --epochs 4 --lr 5e-3 \
    --batch-tokens 512 --threads 1
  assert_success
  after=$(ot_loss "$D/s")
  echo "OT loss before $before, after $after"
  python3 -c "import sys; b, a = $before, $after; sys.exit(0 if a < b - 0.05 else 1)"
  # the log: one trainlog record per step, steps 1..N
  distill-step --init "$T/student0" --out "$D/s2" --input "$T/pairs.rec" --batch-tokens 512 --threads 1 >"$D/log.rec"
  run rec check --expect trainlog "$D/log.rec"
  assert_success
  rec dump "$D/log.rec" | python3 -c '
import json, sys
steps = [json.loads(l) for l in sys.stdin]
assert [s["step"] for s in steps] == list(range(1, len(steps) + 1)), steps
assert all(s["lr"] > 0 and s["grad_norm"] > 0 and s["adv"] == 0 for s in steps)
assert steps[0]["lr"] > steps[-1]["lr"]  # linear decay
'
  [ -f "$D/s/model.safetensors" ] && [ -f "$D/s/optimizer.safetensors" ] && [ -f "$D/s/trainer_state.json" ]
  # the student folder is a model folder embed can use
  tokenize --vocab "$T/voc/vocab.txt" <<<$'q1\tDer Hund schläft.' | embed --model "$D/s" | rec count
}

@test "the same seed gives a bit-identical student (pgd, idf, 2 threads)" {
  local T=$BATS_FILE_TMPDIR D=$BATS_TEST_TMPDIR
  opts=(--input "$T/pairs.rec" --epochs 2 --lr 3e-3 --batch-tokens 600 --threads 2 --adv pgd --adv-eps 0.5
    --adv-steps 2 --idf --seed 5)
  distill-step --init "$T/student0" --out "$D/a" "${opts[@]}" >/dev/null
  distill-step --init "$T/student0" --out "$D/b" "${opts[@]}" >/dev/null
  cmp "$D/a/model.safetensors" "$D/b/model.safetensors"
  distill-step --init "$T/student0" --out "$D/c" "${opts[@]/--seed/--warmup}" >/dev/null
  ! cmp -s "$D/a/model.safetensors" "$D/c/model.safetensors"
}

@test "stopped after N steps and resumed equals the uninterrupted run, bit for bit" {
  local T=$BATS_FILE_TMPDIR D=$BATS_TEST_TMPDIR
  for adv in none fgsm freelb; do
    opts=(--input "$T/pairs.rec" --epochs 2 --lr 3e-3 --batch-tokens 500 --threads 1 --adv $adv --adv-eps 0.3
      --save-every 3 --loss ot=1,cos=0.5 --warmup 2 --schedule cosine)
    distill-step --init "$T/student0" --out "$D/full-$adv" "${opts[@]}" >"$D/full.rec"
    distill-step --init "$T/student0" --out "$D/part-$adv" "${opts[@]}" --stop-after 5 >"$D/p1.rec"
    grep -q '"finished": false' "$D/part-$adv/trainer_state.json"
    distill-step --out "$D/part-$adv" "${opts[@]}" --resume >"$D/p2.rec"
    cmp "$D/full-$adv/model.safetensors" "$D/part-$adv/model.safetensors"
    cmp "$D/full-$adv/optimizer.safetensors" "$D/part-$adv/optimizer.safetensors"
    # the two logs together are the uninterrupted log (timing aside)
    strip='import json,sys; [print(json.dumps({k: v for k, v in json.loads(l).items() if k != "tokens_per_s"})) for l in sys.stdin]'
    diff <(rec dump "$D/full.rec" | python3 -c "$strip") <(cat <(rec dump "$D/p1.rec") <(rec dump "$D/p2.rec") | python3 -c "$strip")
  done
  # resuming with other options is refused
  run distill-step --out "$D/part-none" --input "$T/pairs.rec" --epochs 2 --lr 1e-3 --resume
  assert_failure 1
  assert_output --partial "options differ"
}

@test "--continue chains runs on one AdamW state and schedule: two one-epoch runs equal one two-epoch run" {
  local T=$BATS_FILE_TMPDIR D=$BATS_TEST_TMPDIR
  opts=(--lr 3e-3 --batch-tokens 500 --threads 1 --adv freelb --adv-eps 0.3 --adv-steps 2)
  distill-step --init "$T/student0" --out "$D/two" --input "$T/pairs.rec" "${opts[@]}" --epochs 2 >"$D/two.rec"
  steps=$(rec count "$D/two.rec")
  distill-step --init "$T/student0" --out "$D/e1" --input "$T/pairs.rec" "${opts[@]}" --total-steps "$steps" >"$D/e1.rec"
  # the second run reads a pipe: no first pass, the step count comes from --total-steps
  cat "$T/pairs.rec" | distill-step --continue "$D/e1" --out "$D/e2" "${opts[@]}" --total-steps "$steps" >"$D/e2.rec"
  cmp "$D/two/model.safetensors" "$D/e2/model.safetensors"
  rec dump "$D/e2.rec" | head -1 | grep -q "\"step\":$((steps / 2 + 1)),"
  run distill-step --continue "$D/e1" --out "$D/e3" --input "$T/pairs.rec"
  assert_failure 2
  assert_output --partial "--total-steps"
}

@test "a SIGKILLed run leaves a complete checkpoint that resumes to the uninterrupted result" {
  local T=$BATS_FILE_TMPDIR D=$BATS_TEST_TMPDIR
  opts=(--input "$T/pairs.rec" --epochs 12 --lr 3e-3 --batch-tokens 300 --threads 1 --save-every 1)
  distill-step --init "$T/student0" --out "$D/full" "${opts[@]}" >/dev/null
  distill-step --init "$T/student0" --out "$D/k" "${opts[@]}" >/dev/null &
  pid=$!
  sleep 0.4
  kill -9 $pid 2>/dev/null || true
  wait $pid || true
  if [ -d "$D/k" ]; then
    for f in config.json model.safetensors vocab.txt optimizer.safetensors trainer_state.json; do
      [ -s "$D/k/$f" ]
    done
    distill-step --out "$D/k" "${opts[@]}" --resume >/dev/null
  else
    distill-step --init "$T/student0" --out "$D/k" "${opts[@]}" >/dev/null
  fi
  cmp "$D/full/model.safetensors" "$D/k/model.safetensors"
  # no temporary folder is left behind
  run compgen -G "$D/k.ckpt.*"
  assert_failure
}

@test "adversarial variants report the adversarial term; mse and cos parts are logged" {
  local T=$BATS_FILE_TMPDIR D=$BATS_TEST_TMPDIR
  for adv in fgsm pgd freelb; do
    distill-step --init "$T/student0" --out "$D/$adv" --input "$T/pairs.rec" --batch-tokens 800 --threads 1 \
      --adv $adv --adv-eps 1 --adv-steps 2 --adv-weight 0.5 | rec dump | python3 -c '
import json, sys
for l in sys.stdin:
    s = json.loads(l)
    assert s["adv"] > s["ot"] * 0.999, s   # the attack does not lower the loss
    assert abs(s["loss"] - (s["ot"] + 0.5 * s["adv"])) < 1e-9, s
'
  done
  distill-step --init "$T/student0" --out "$D/m" --input "$T/pairs.rec" --batch-tokens 800 --threads 1 \
    --loss mse=1,cos=1 --freeze-embeddings | rec dump | python3 -c '
import json, sys
for l in sys.stdin:
    s = json.loads(l)
    assert "mse" in s and s["mse"] > 0, s
'
}

@test "distill-step rejects bad input with a clear message" {
  local T=$BATS_FILE_TMPDIR D=$BATS_TEST_TMPDIR
  # several epochs need a seekable input
  run bash -c "cat '$T/pairs.rec' | distill-step --init '$T/student0' --out '$D/x' --epochs 2"
  assert_failure 1
  assert_output --partial "not a pipe"
  # a pipe works for one epoch with a constant schedule
  run bash -c "cat '$T/pairs.rec' | distill-step --init '$T/student0' --out '$D/x' --schedule constant --threads 1 | rec count"
  assert_success
  # pairs without the teacher's vectors
  tokenize --pair --vocab "$T/voc/vocab.txt" "$T/bi.tsv" >"$D/novecs.rec"
  run distill-step --init "$T/student0" --out "$D/x" --input "$D/novecs.rec"
  assert_failure 1
  assert_output --partial "record 0: no tgt_vecs"
  # not a pair stream
  tokenize --vocab "$T/voc/vocab.txt" <<<$'a\tb' >"$D/tok.rec"
  run distill-step --init "$T/student0" --out "$D/x" --input "$D/tok.rec"
  assert_failure 1
  assert_output --partial "expected a 'pair' stream"
  # teacher vectors of another dimension
  embed --init "$T/teacher.json" --out "$D/t8" --seed 1 --vocab "$T/voc/vocab.txt"
  sed 's/"hidden_size": 16/"hidden_size": 8/' "$T/teacher.json" >"$D/t8.json"
  embed --init "$D/t8.json" --out "$D/t8" --seed 1 --vocab "$T/voc/vocab.txt"
  tokenize --pair --vocab "$T/voc/vocab.txt" "$T/bi.tsv" | embed --model "$D/t8" --side tgt >"$D/d8.rec"
  run distill-step --init "$T/student0" --out "$D/x" --input "$D/d8.rec"
  assert_failure 1
  assert_output --partial "d = 8"
  # a truncated stream
  head -c 5000 "$T/pairs.rec" >"$D/trunc.rec"
  run distill-step --init "$T/student0" --out "$D/x" --input "$D/trunc.rec"
  assert_failure 1
  # a missing model folder
  run distill-step --init "$D/nonexistent" --out "$D/x" --input "$T/pairs.rec"
  assert_failure 1
  assert_output --partial "nonexistent"
}
