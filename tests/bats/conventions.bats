#!/usr/bin/env bats
# Audit: the command-line conventions of issue 2, checked on every program
# (--help, --version, usage errors, option values, closed pipes, /dev/full,
# stdout = data only), and determinism (same input + seed = same bytes; the
# same bytes for any --threads where a program promises it).
# Programs are discovered (every bin/NAME.c), so a new program is audited
# without an edit here, except for its data command in data_cmd below (a
# program without one fails the /dev/full and closed-pipe tests on purpose).
#
# Each test loops over all programs and reports every offender at once.
# KNOWN_BUGS lists failures already reported to their owner on
# .agents/requests.md: a test whose only failures are listed there is
# skipped with the reason; any other failure fails it.
load common
load audit-fixtures

declare -gA KNOWN_BUGS=()

setup_file() {
  audit_make_inputs "$BATS_FILE_TMPDIR"
}

setup() {
  T=$BATS_FILE_TMPDIR
  PROGS=()
  local src n
  for src in "$ROOT"/bin/*.c; do
    n=$(basename "$src" .c)
    PROGS+=("$n")
  done
  [ "${#PROGS[@]}" -ge 8 ] || fail "found only ${#PROGS[@]} programs in $ROOT/bin"
  FAILS=()
  KNOWN=()
}

# A command of PROG that writes data (not the manual) to stdout, into the
# array CMD. The inputs come from audit_make_inputs.
data_cmd() { # PROG
  STDIN=/dev/null
  case $1 in
  rec) CMD=(rec dump "$T/t.rec") ;;
  tokenize) CMD=(tokenize --vocab "$T/voc/vocab.txt" "$T/text.txt") ;;
  embed) CMD=(embed --model "$T/model" --threads 1 "$T/tok.rec") ;;
  ot-align) CMD=(ot-align --threads 1 "$T/pair.rec") ;;
  perturb) CMD=(perturb --typo 0.5 --seed 1 "$T/text.txt") ;;
  distill-step) CMD=(distill-step --init "$T/model" --out "$BATS_TEST_TMPDIR/student" --input "$T/pair.rec"
    --lr 1e-3 --threads 1) ;;
  rank) CMD=(rank --docs "$T/vec.rec" --threads 1) STDIN=$T/vec.rec ;; # queries on stdin only
  score) CMD=(score --qrels "$T/qrels" "$T/run.rec") ;;
  *) return 1 ;;
  esac
}

# Run "$@" with stdout on a pipe whose reader is already gone, and SIGPIPE at
# its default (as a shell leaves it): prints the exit status, then its stderr.
closed_pipe() {
  python3 - "$@" <<'EOF'
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
stdin = open(os.environ.get("STDIN", "/dev/null"), "rb")
p = subprocess.run(sys.argv[1:], stdin=stdin, stdout=w, stderr=subprocess.PIPE)
print(p.returncode)
sys.stdout.write(p.stderr.decode("utf-8", "replace"))
EOF
}

@test "conventions: every bin/NAME.c starts with a ' * NAME: description' comment and is built" {
  local p
  for p in "${PROGS[@]}"; do
    grep -qE "^ \* $p: [^ ]" "$ROOT/bin/$p.c" || flunk "$p" header "bin/$p.c lacks the ' * $p: one-line description' comment"
    [ -x "$BIN/$p" ] || flunk "$p" built "$BIN/$p is not built"
  done
  verdict
}

@test "conventions: --help exits 0, prints a manual to stdout: usage, every option, examples, exit status" {
  local p out err rc opts o shorts c
  for p in "${PROGS[@]}"; do
    rc=0
    out=$("$p" --help 2>"$BATS_TEST_TMPDIR/err") || rc=$?
    err=$(cat "$BATS_TEST_TMPDIR/err")
    [ "$rc" -eq 0 ] || flunk "$p" help "--help exits $rc"
    [ -z "$err" ] || flunk "$p" help "--help writes to stderr: $err"
    [ "$(wc -l <<<"$out")" -ge 20 ] || flunk "$p" help "--help prints fewer than 20 lines"
    grep -qi 'exit status' <<<"$out" || flunk "$p" help "--help has no EXIT STATUS section"
    grep -qi 'usage' <<<"$out" || flunk "$p" help "--help shows no usage line"
    grep -qi 'example' <<<"$out" || flunk "$p" help "--help has no examples"
    # every long option of the getopt_long table
    opts=$(grep -oE '\{ *"[a-z0-9][a-z0-9-]*", *(no_argument|required_argument|optional_argument)' "$ROOT/bin/$p.c" |
      sed -E 's/^\{ *"([^"]*)".*/\1/' | sort -u)
    for o in $opts; do
      grep -qE -- "--$o([^a-z0-9-]|$)" <<<"$out" || flunk "$p" help-options "--help does not mention --$o"
    done
    # every short option of a literal getopt_long option string (one built at
    # run time, as rec's per subcommand, is not read), but -h and -V: the
    # usual aliases of --help and --version, checked above
    shorts=$(grep -oE 'getopt_long\([^,]+, *[^,]+, *"[^"]*"' "$ROOT/bin/$p.c" | sed -E 's/.*"([^"]*)"$/\1/' |
      tr -d ':+hV' | fold -w1 | sort -u)
    for c in $shorts; do
      grep -qE -- "(^|[^a-z0-9-])-$c([^a-zA-Z0-9-]|$)" <<<"$out" || flunk "$p" help-options "--help does not mention -$c"
    done
  done
  verdict
}

@test "conventions: --version exits 0 and prints 'NAME (otclir) VERSION' on stdout" {
  local p out rc
  for p in "${PROGS[@]}"; do
    rc=0
    out=$("$p" --version 2>"$BATS_TEST_TMPDIR/err") || rc=$?
    [ "$rc" -eq 0 ] || flunk "$p" version "--version exits $rc"
    [[ $out =~ ^$p\ \(otclir\)\ [0-9]+\.[0-9]+ ]] || flunk "$p" version "--version prints '$out'"
    [ ! -s "$BATS_TEST_TMPDIR/err" ] || flunk "$p" version "--version writes to stderr"
  done
  verdict
}

@test "conventions: an unknown option exits 2 with a short usage on stderr and nothing on stdout" {
  local p rc n
  for p in "${PROGS[@]}"; do
    rc=0
    "$p" --no-such-option-xyz >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || rc=$?
    [ "$rc" -eq 2 ] || flunk "$p" usage "an unknown option exits $rc, not 2"
    [ ! -s "$BATS_TEST_TMPDIR/out" ] || flunk "$p" usage "an unknown option writes to stdout"
    n=$(wc -l <"$BATS_TEST_TMPDIR/err")
    [ "$n" -ge 1 ] && [ "$n" -le 15 ] || flunk "$p" usage "an unknown option prints $n lines on stderr (want a short usage, 1..15)"
    grep -q -- "no-such-option-xyz" "$BATS_TEST_TMPDIR/err" || flunk "$p" usage "the usage error does not name the option"
    grep -qi "usage\|--help" "$BATS_TEST_TMPDIR/err" || flunk "$p" usage "the usage error shows no usage and no pointer to --help"
    head -1 "$BATS_TEST_TMPDIR/err" | grep -q "^$p: " || flunk "$p" usage "stderr does not start with '$p: '"
  done
  verdict
}

@test "conventions: rec SUBCOMMAND --unknown-option exits 2 with 'rec: ...' on stderr" {
  local subs sub rc
  subs=$(rec --no-such-option-xyz 2>&1 | grep -oE '^ *(Usage: )?rec [a-z-]+' | awk '{print $NF}' | sort -u)
  [ "$(wc -w <<<"$subs")" -ge 8 ] || fail "could not read rec's subcommands from its usage: $subs"
  for sub in $subs; do
    rc=0
    rec "$sub" --no-such-option-xyz >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" </dev/null || rc=$?
    [ "$rc" -eq 2 ] || flunk rec "usage-$sub" "'rec $sub --no-such-option-xyz' exits $rc, not 2"
    [ ! -s "$BATS_TEST_TMPDIR/out" ] || flunk rec "usage-$sub" "'rec $sub --no-such-option-xyz' writes to stdout"
    head -1 "$BATS_TEST_TMPDIR/err" | grep -q "^rec: " ||
      flunk rec "usage-$sub" "'rec $sub --no-such-option-xyz': stderr starts with '$(head -1 "$BATS_TEST_TMPDIR/err")', not 'rec: '"
  done
  verdict
}

@test "conventions: a malformed number or id list in an option exits 2 naming the option" {
  local p o v rc args
  for p in "${PROGS[@]}"; do
    # options read with parse_long/parse_double (util.h), and id lists
    for o in $(grep -ohE 'parse_(long|double)\("[^"]+"' "$ROOT/bin/$p.c" | sed -E 's/.*\("//; s/"$//' | sort -u) \
      $(grep -qE '\{ *"skip-ids"' "$ROOT/bin/$p.c" && echo --skip-ids); do
      for v in abc 1x nan; do
        [ "$o" = --skip-ids ] && v=101,$v
        # the program's data command plus the bad option, so that nothing
        # but the option is wrong
        data_cmd "$p" || { flunk "$p" value "no data command known to the audit"; continue 2; }
        args=("${CMD[@]:1}" "$o" "$v")
        if [ "$p" = rec ]; then
          case $o in
          -n) args=(head -n "$v") ;;
          -l) args=(split -l "$v" - "$BATS_TEST_TMPDIR/part") ;;
          --dim) args=(encode --schema tokens --dim "n=$v") ;;
          *) args=(cat "$o" "$v") ;;
          esac
        fi
        rc=0
        "$p" "${args[@]}" <"$STDIN" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || rc=$?
        [ "$rc" -eq 2 ] || flunk "$p" "value$o" "'$p ${args[*]}' exits $rc, not 2: $(head -1 "$BATS_TEST_TMPDIR/err")"
        [ ! -s "$BATS_TEST_TMPDIR/out" ] || flunk "$p" "value$o" "'$p ${args[*]}' writes to stdout"
        grep -q -- "^$p: .*${o#-}" "$BATS_TEST_TMPDIR/err" ||
          flunk "$p" "value$o" "'$p ${args[*]}' does not name the option: $(head -1 "$BATS_TEST_TMPDIR/err")"
      done
    done
  done
  verdict
}

@test "conventions: PROG --help | head -1 ends quietly (the program's own status, pipefail)" {
  local p st
  set -o pipefail
  for p in "${PROGS[@]}"; do
    "$p" --help 2>"$BATS_TEST_TMPDIR/err" | head -1 >/dev/null && st=("${PIPESTATUS[@]}") || st=("${PIPESTATUS[@]}")
    [ "${st[0]}" -eq 0 ] || flunk "$p" pipe "'$p --help | head -1': $p exits ${st[0]}"
    [ ! -s "$BATS_TEST_TMPDIR/err" ] || flunk "$p" pipe "'$p --help | head -1' prints on stderr: $(cat "$BATS_TEST_TMPDIR/err")"
  done
  verdict
}

@test "conventions: a closed output pipe ends the program quietly, status 0 (manual and data)" {
  local p res
  for p in "${PROGS[@]}"; do
    res=$(STDIN=/dev/null closed_pipe "$p" --help)
    [ "$res" = 0 ] || flunk "$p" pipe "--help into a closed pipe: status/stderr '$res' (want 0, silent)"
    data_cmd "$p" || { flunk "$p" pipe "no data command known to the audit"; continue; }
    res=$(STDIN=$STDIN closed_pipe "${CMD[@]}")
    [ "$res" = 0 ] || flunk "$p" pipe "'${CMD[*]}' into a closed pipe: status/stderr '$res' (want 0, silent)"
  done
  verdict
}

@test "conventions: writing data to /dev/full exits 1 with 'PROG: ...write error...'" {
  local p rc
  for p in "${PROGS[@]}"; do
    data_cmd "$p" || { flunk "$p" full "no data command known to the audit"; continue; }
    # the command must work at all, else the test below proves nothing
    "${CMD[@]}" <"$STDIN" >"$BATS_TEST_TMPDIR/out" 2>/dev/null || flunk "$p" full "'${CMD[*]}' fails on valid input"
    [ -s "$BATS_TEST_TMPDIR/out" ] || flunk "$p" full "'${CMD[*]}' writes no data"
    rc=0
    "${CMD[@]}" <"$STDIN" >/dev/full 2>"$BATS_TEST_TMPDIR/err" || rc=$?
    [ "$rc" -eq 1 ] || flunk "$p" full "'${CMD[*]}' > /dev/full exits $rc, not 1"
    ! grep -qE 'Sanitizer|runtime error:' "$BATS_TEST_TMPDIR/err" || flunk "$p" full "'${CMD[*]}' > /dev/full: sanitizer report"
    grep -qE "^$p: .*write error" "$BATS_TEST_TMPDIR/err" || flunk "$p" full "'${CMD[*]}' > /dev/full says '$(head -c 200 "$BATS_TEST_TMPDIR/err")'"
  done
  verdict
}

@test "conventions: every other way of writing data to /dev/full also exits 1 with a write error" {
  local spec prog in rc D=$BATS_TEST_TMPDIR
  # PROG STDIN COMMAND... (one per line; quoted words, $T expanded by eval)
  while IFS= read -r spec; do
    eval "set -- $spec"
    prog=$1 in=$2
    shift 2
    rc=0
    "$@" <"$in" >/dev/full 2>"$D/err" || rc=$?
    [ "$rc" -eq 1 ] || flunk "$prog" full-more "'$*' > /dev/full exits $rc, not 1"
    grep -qE "^$prog: .*write error" "$D/err" || flunk "$prog" full-more "'$*' > /dev/full says '$(head -c 200 "$D/err")'"
  done <<'EOF'
rec /dev/null rec cat "$T/t.rec"
rec /dev/null rec count "$T/t.rec"
rec /dev/null rec check "$T/t.rec"
rec /dev/null rec schema "$T/t.rec"
rec /dev/null rec schema --list
rec /dev/null rec head -n 2 "$T/t.rec"
rec /dev/null rec shuffle --seed 1 "$T/t.rec"
rec /dev/null rec from-tsv --lang de "$T/text.txt"
tokenize /dev/null tokenize --decode --vocab "$T/voc/vocab.txt" "$T/tok.rec"
tokenize /dev/null tokenize --pair --vocab "$T/voc/vocab.txt" "$T/bi.tsv"
embed /dev/null embed --model "$T/model" --side tgt --threads 1 "$T/pair.rec"
ot-align /dev/null ot-align --text --align --threads 1 "$T/pair.rec"
perturb /dev/null perturb --typo 0.3 "$T/t.rec"
rank "$T/vec.rec" rank --docs "$T/vec.rec" --trec --threads 1
score /dev/null score -q --qrels "$T/qrels" "$T/run.rec"
EOF
  verdict
}

@test "conventions: --help and --version to /dev/full exit 1 with 'PROG: ...write error...'" {
  local p rc a
  for p in "${PROGS[@]}"; do
    for a in --help --version; do
      rc=0
      "$p" "$a" >/dev/full 2>"$BATS_TEST_TMPDIR/err" || rc=$?
      [ "$rc" -eq 1 ] || flunk "$p" full-help "'$p $a > /dev/full' exits $rc, not 1"
      grep -qE "^$p: .*write error" "$BATS_TEST_TMPDIR/err" || flunk "$p" full-help "'$p $a > /dev/full' says '$(head -c 200 "$BATS_TEST_TMPDIR/err")'"
    done
  done
  verdict
}

@test "conventions: stdout carries data only: each filter's output is a valid stream of its record type, named in --help" {
  local D=$BATS_TEST_TMPDIR spec prog type in rc
  # PROG TYPE STDIN COMMAND... (one per line; quoted words, $T expanded by eval)
  while IFS= read -r spec; do
    eval "set -- $spec"
    prog=$1 type=$2 in=$3
    shift 3
    rc=0
    "$@" >"$D/out" 2>"$D/err" <"$in" || rc=$?
    [ "$rc" -eq 0 ] || { flunk "$prog" stdout "'$*' exits $rc: $(head -c 200 "$D/err")"; continue; }
    rec check --expect "$type" "$D/out" >/dev/null 2>"$D/err" ||
      flunk "$prog" stdout "'$*': stdout is not a valid '$type' stream: $(head -c 200 "$D/err")"
    # the manual names the record types it writes (rec takes any type)
    [ "$prog" = rec ] || "$prog" --help | grep -qw -- "$type" || flunk "$prog" help-types "--help never names its output record type '$type'"
  done <<'EOF'
rec text /dev/null rec cat "$T/t.rec" "$T/t.rec"
rec pair /dev/null rec shuffle --seed 1 "$T/pair.rec"
rec tokens /dev/null rec head -n 3 "$T/tok.rec"
tokenize tokens /dev/null tokenize --vocab "$T/voc/vocab.txt" "$T/text.txt"
tokenize pair /dev/null tokenize --pair --vocab "$T/voc/vocab.txt" "$T/bi.tsv"
embed vectors /dev/null embed --model "$T/model" --threads 1 "$T/tok.rec"
embed pair /dev/null embed --model "$T/model" --side src --threads 1 "$T/pair.rec"
ot-align plan /dev/null ot-align --threads 1 --plan --align "$T/pair.rec"
perturb text /dev/null perturb --typo 0.5 "$T/t.rec"
perturb pair /dev/null perturb --typo 0.5 --model "$T/model" "$T/pair.rec"
perturb tokens /dev/null perturb --attack fgsm --adv-eps 0.5 --model "$T/model" --threads 1 "$T/pair.rec"
distill-step trainlog /dev/null distill-step --init "$T/model" --out "$D/student" --input "$T/pair.rec" --lr 1e-3 --threads 1
rank run "$T/vec.rec" rank --docs "$T/vec.rec" --threads 1
embed vectors /dev/null embed --model "$T/model" --threads 1 --progress "$T/tok.rec"
embed vectors /dev/null embed --model "$T/model" --threads 1 --zstd=3 "$T/tok.rec"
ot-align plan /dev/null ot-align --threads 1 --progress "$T/pair.rec"
rank run "$T/vec.rec" rank --docs "$T/vec.rec" --threads 1 --progress
EOF
  verdict
}

# ---- determinism: same input + seed (+ threads) = the same bytes ----

# same_bytes PROG CHECK A B: files A and B must be byte-identical.
same_bytes() {
  cmp -s "$3" "$4" || flunk "$1" "$2" "$2: $(basename "$3") and $(basename "$4") differ"
}

@test "determinism: perturb, rec shuffle, rank twice with the same seed give identical bytes" {
  local D=$BATS_TEST_TMPDIR i
  for i in 1 2; do
    perturb --typo 0.3 --drop 0.1 --swap 0.1 --seed 7 "$T/text.txt" >"$D/p$i.tsv"
    perturb --typo 0.3 --drop 0.1 --swap 0.1 --seed 7 "$T/t.rec" >"$D/p$i.rec"
    perturb --typo 0.3 --seed 7 --model "$T/model" "$T/pair.rec" >"$D/pp$i.rec"
    perturb --attack pgd --adv-eps 0.5 --adv-steps 2 --seed 4 --model "$T/model" --threads 1 "$T/pair.rec" >"$D/pa$i.rec"
    perturb --worst-of 2 --typo 0.3 --seed 4 --model "$T/model" --threads 1 "$T/pair.rec" >"$D/pw$i.rec"
    rec shuffle --seed 5 "$T/pair.rec" >"$D/s$i.rec"
    rank --docs "$T/vec.rec" --mode maxsim-sym -k 10 <"$T/vec.rec" >"$D/r$i.rec"
  done
  perturb --typo 0.3 --drop 0.1 --swap 0.1 --seed 8 "$T/text.txt" >"$D/p3.tsv"
  rec shuffle --seed 6 "$T/pair.rec" >"$D/s3.rec"
  same_bytes perturb perturb-tsv "$D/p1.tsv" "$D/p2.tsv"
  same_bytes perturb perturb-text "$D/p1.rec" "$D/p2.rec"
  same_bytes perturb perturb-pair "$D/pp1.rec" "$D/pp2.rec"
  same_bytes perturb perturb-attack "$D/pa1.rec" "$D/pa2.rec"
  same_bytes perturb perturb-worst-of "$D/pw1.rec" "$D/pw2.rec"
  same_bytes rec shuffle "$D/s1.rec" "$D/s2.rec"
  same_bytes rank rank "$D/r1.rec" "$D/r2.rec"
  # and the seed matters (else the above proves nothing)
  ! cmp -s "$D/p1.tsv" "$D/p3.tsv" || flunk perturb seed "perturb --seed 7 and --seed 8 give the same output"
  ! cmp -s "$D/s1.rec" "$D/s3.rec" || flunk rec seed "rec shuffle --seed 5 and --seed 6 give the same order"
  ! cmp -s "$D/p1.tsv" "$T/text.txt" || flunk perturb noop "perturb --typo 0.3 changed nothing"
  verdict
}

@test "determinism: distill-step twice with the same seed writes the same student and log" {
  local D=$BATS_TEST_TMPDIR i
  for i in 1 2; do
    distill-step --init "$T/model" --out "$D/s$i" --input "$T/pair.rec" --lr 1e-3 --batch-tokens 300 \
      --adv pgd --seed 3 --threads 1 2>/dev/null | rec dump |
      python3 -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l); r.pop("tokens_per_s", None); print(json.dumps(r, sort_keys=True))' >"$D/log$i.jsonl"
  done
  [ "$(wc -l <"$D/log1.jsonl")" -ge 2 ] || fail "distill-step made fewer than 2 steps"
  same_bytes distill-step distill-log "$D/log1.jsonl" "$D/log2.jsonl"
  same_bytes distill-step distill-model "$D/s1/model.safetensors" "$D/s2/model.safetensors"
  same_bytes distill-step distill-optimizer "$D/s1/optimizer.safetensors" "$D/s2/optimizer.safetensors"
  ! cmp -s "$D/s1/model.safetensors" "$T/model/model.safetensors" || flunk distill-step noop "the student did not change"
  verdict
}

@test "determinism: --threads 1, 2 and 3 give identical output (embed, ot-align, rank)" {
  local D=$BATS_TEST_TMPDIR n m
  for n in 1 2 3; do
    embed --model "$T/model" --threads $n --batch-tokens 200 "$T/tok.rec" >"$D/e$n.rec"
    embed --model "$T/model" --threads $n --side src "$T/pair.rec" >"$D/ep$n.rec"
    ot-align --threads $n --plan --align "$T/pair.rec" >"$D/o$n.rec"
    for m in dense maxsim maxsim-sym ot; do
      rank --docs "$T/vec.rec" --mode $m -k 10 --threads $n <"$T/vec.rec" >"$D/r$m$n.rec"
    done
    rank --docs "$T/vec.rec" --csls 3 -k 10 --threads $n <"$T/vec.rec" >"$D/rcsls$n.rec"
  done
  for n in 2 3; do
    same_bytes embed embed "$D/e1.rec" "$D/e$n.rec"
    same_bytes embed embed-pair "$D/ep1.rec" "$D/ep$n.rec"
    same_bytes ot-align ot-align "$D/o1.rec" "$D/o$n.rec"
    for m in dense maxsim maxsim-sym ot csls; do
      same_bytes rank "threads-$m" "$D/r${m}1.rec" "$D/r$m$n.rec"
    done
  done
  verdict
}
