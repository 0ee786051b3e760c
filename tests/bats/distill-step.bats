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
  distill-step --init "$T/student0" --out "$D/full" "${opts[@]}" >"$D/full.rec" 2>/dev/null
  total=$(rec count "$D/full.rec")
  distill-step --init "$T/student0" --out "$D/k" "${opts[@]}" >/dev/null 2>&1 &
  pid=$!
  # the kill lands after a checkpoint of step >= 3 exists: wait for it, freeze
  # the run (SIGSTOP), then SIGKILL it
  step=0
  for _ in $(seq 6000); do
    step=$(sed -n 's/^ *"step": \([0-9]*\),$/\1/p' "$D/k/trainer_state.json" 2>/dev/null || true)
    [ "${step:-0}" -ge 3 ] && break
    sleep 0.01
  done
  kill -STOP $pid 2>/dev/null || true
  kill -9 $pid 2>/dev/null || true
  wait $pid || true
  for f in config.json model.safetensors vocab.txt optimizer.safetensors trainer_state.json; do
    [ -s "$D/k/$f" ] || fail "the checkpoint lacks $f"
  done
  killed_at=$(sed -n 's/^ *"step": \([0-9]*\),$/\1/p' "$D/k/trainer_state.json")
  echo "killed after the checkpoint of step $killed_at of $total"
  [ "$killed_at" -ge 3 ] && [ "$killed_at" -lt "$total" ] || fail "no checkpoint from inside the run (step $killed_at of $total)"
  grep -q '"finished": false' "$D/k/trainer_state.json"
  # the resumed run starts after the checkpoint's step and ends as the full run
  distill-step --out "$D/k" "${opts[@]}" --resume >"$D/rest.rec"
  [ "$(rec dump "$D/rest.rec" | head -1 | sed -n 's/.*"step":\([0-9]*\),.*/\1/p')" -eq $((killed_at + 1)) ]
  [ "$(rec count "$D/rest.rec")" -eq $((total - killed_at)) ]
  cmp "$D/full/model.safetensors" "$D/k/model.safetensors"
  cmp "$D/full/optimizer.safetensors" "$D/k/optimizer.safetensors"
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

@test "--out refuses a folder distill-step did not write, and a file; nothing of theirs is touched" {
  local T=$BATS_FILE_TMPDIR D=$BATS_TEST_TMPDIR
  opts=(--init "$T/student0" --input "$T/pairs.rec" --batch-tokens 4000 --threads 1)
  mkdir "$D/notes" && echo keep >"$D/notes/notes.txt"
  run distill-step "${opts[@]}" --out "$D/notes"
  assert_failure 1
  assert_output --partial "notes.txt"
  [ "$(cat "$D/notes/notes.txt")" = keep ] && [ "$(ls "$D/notes")" = notes.txt ]
  echo data >"$D/plain"
  run distill-step "${opts[@]}" --out "$D/plain"
  assert_failure 1
  assert_output --partial "not a folder"
  [ -f "$D/plain" ] && [ "$(cat "$D/plain")" = data ]
  # a model folder of embed --init is not a checkpoint either
  run distill-step "${opts[@]}" --out "$T/student0"
  assert_failure 1
  assert_output --partial "trainer_state.json"
  # an empty folder, or a previous checkpoint, is replaced
  mkdir "$D/empty"
  distill-step "${opts[@]}" --out "$D/empty" >/dev/null 2>&1
  distill-step "${opts[@]}" --out "$D/empty" >/dev/null 2>&1
  [ -f "$D/empty/trainer_state.json" ]
  # a checkpoint folder that gained a file of someone else's is refused
  echo mine >"$D/empty/README"
  run distill-step "${opts[@]}" --out "$D/empty"
  assert_failure 1
  [ -f "$D/empty/README" ]
}

@test "the input belongs to the student: its vocabulary, the teacher of a continued run, the input of a resumed run" {
  local T=$BATS_FILE_TMPDIR D=$BATS_TEST_TMPDIR
  # a vocabulary of the same size with two pieces exchanged: other ids, other hash
  awk 'NR == 200 { a = $0; next } NR == 201 { print; print a; next } { print }' "$T/voc/vocab.txt" >"$D/v2.txt"
  [ "$(wc -l <"$D/v2.txt")" -eq "$(wc -l <"$T/voc/vocab.txt")" ]
  tokenize --pair --src-vocab "$D/v2.txt" --tgt-vocab "$T/voc/vocab.txt" --max-len 64 "$T/bi.tsv" |
    embed --model "$T/teacher" --side tgt --normalize >"$D/v2.rec"
  run distill-step --init "$T/student0" --out "$D/x" --input "$D/v2.rec" --threads 1
  assert_failure 1
  assert_output --partial "another vocabulary"
  assert_output --partial "$(sha256sum "$D/v2.txt" | cut -c1-64)"
  [ ! -e "$D/x" ]
  run distill-step --init "$T/student0" --out "$D/x" --input "$D/v2.rec" --threads 1 --allow-vocab-mismatch
  assert_success
  # the teacher: pairs embedded by another teacher do not continue a run
  embed --init "$T/teacher.json" --vocab "$T/voc/vocab.txt" --no-positions --seed 9 --out "$D/teacher2"
  tokenize --pair --vocab "$T/voc/vocab.txt" --max-len 64 "$T/bi.tsv" |
    embed --model "$D/teacher2" --side tgt --normalize >"$D/t2.rec"
  opts=(--batch-tokens 500 --threads 1 --total-steps 40)
  distill-step --init "$T/student0" --out "$D/e1" --input "$T/pairs.rec" "${opts[@]}" >/dev/null 2>&1
  run distill-step --continue "$D/e1" --out "$D/e2" --input "$D/t2.rec" "${opts[@]}"
  assert_failure 1
  assert_output --partial "trained against"
  run distill-step --continue "$D/e1" --out "$D/e2" --input "$D/t2.rec" "${opts[@]}" --allow-model-mismatch
  assert_success
  # a resumed run on another input of the same length (the same pairs in
  # another order) is refused: a file
  rec shuffle --seed 3 "$T/pairs.rec" >"$D/sh.rec"
  [ "$(rec count "$D/sh.rec")" -eq "$(rec count "$T/pairs.rec")" ]
  opts=(--epochs 2 --batch-tokens 500 --threads 1 --save-every 2)
  distill-step --init "$T/student0" --out "$D/r" --input "$T/pairs.rec" "${opts[@]}" --stop-after 3 >/dev/null 2>&1
  run distill-step --out "$D/r" --input "$D/sh.rec" "${opts[@]}" --resume
  assert_failure 1
  assert_output --partial "not the input of the checkpoint"
  # ... and a pipe (only the records consumed before the checkpoint can be compared)
  opts=(--batch-tokens 500 --threads 1 --schedule constant --save-every 1)
  cat "$T/pairs.rec" | distill-step --init "$T/student0" --out "$D/p" "${opts[@]}" --stop-after 3 >/dev/null 2>&1
  run bash -c "cat '$D/sh.rec' | distill-step --out '$D/p' ${opts[*]} --resume"
  assert_failure 1
  assert_output --partial "are not those the checkpoint"
  # the same input resumes
  cat "$T/pairs.rec" | distill-step --out "$D/p" "${opts[@]}" --resume | rec count
}

@test "Sinkhorn: every problem is counted in the log (ot_unconverged) and the summary; Newton steps converge" {
  local T=$BATS_FILE_TMPDIR D=$BATS_TEST_TMPDIR
  opts=(--init "$T/student0" --input "$T/pairs.rec" --batch-tokens 800 --threads 1 --adv pgd --adv-steps 2)
  unconverged() { rec dump "$1" | python3 -c 'import json,sys; print(sum(json.loads(l)["ot_unconverged"] for l in sys.stdin))'; }
  # a cap of 20 plain iterations leaves problems unconverged, and says so
  distill-step "${opts[@]}" --out "$D/a" --ot-iters 20 --ot-newton 0 >"$D/a.rec" 2>"$D/a.err"
  n=$(unconverged "$D/a.rec")
  echo "unconverged: $n; $(cat "$D/a.err")"
  [ "$n" -gt 0 ]
  grep -q "problems, $n stopped at --ot-iters 20" "$D/a.err"
  # every forward pass counts: pgd with 2 steps solves 4 batches of problems per step
  pairs=$(rec count "$T/pairs.rec")
  grep -q "Sinkhorn: $((4 * pairs)) problems" "$D/a.err"
  # Newton steps after 10 iterations: all converge within the same cap
  distill-step "${opts[@]}" --out "$D/b" --ot-iters 20 --ot-newton 10 >"$D/b.rec" 2>"$D/b.err"
  cat "$D/b.err"
  grep -q "problems, 0 stopped at --ot-iters 20" "$D/b.err"
  [ "$(unconverged "$D/b.rec")" -eq 0 ]
}
