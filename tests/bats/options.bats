#!/usr/bin/env bats
# docs/options.md is the one option vocabulary: every long option in every
# program's getopt table (bin/*.c) is documented there, for that program,
# in exactly one row (one meaning), and the page names no option a program
# does not have.
load common

# "PROG --NAME" for every entry of every program's struct option table
# (CLI_OPTIONS_COMMON expanded from lib/cli/cli.h).
program_options() {
  local f p table
  for f in "$ROOT"/bin/*.c; do
    p=$(basename "$f" .c)
    table=$(awk '/struct option/ {on = 1} on {print} on && /};/ {on = 0}' "$f")
    { grep -o '{"[^"]*"' <<< "$table"
      if grep -q CLI_OPTIONS_COMMON <<< "$table"; then
        grep '#define CLI_OPTIONS_COMMON' "$ROOT/lib/cli/cli.h" | grep -o '{"[^"]*"'
      fi
    } | sed "s/^{\"/$p --/; s/\"\$//"
  done | sort -u
}

# "PROG --NAME" for every option of every table row of docs/options.md: the
# options of a row are the --names in its first cell; its programs are those
# named in a last column headed "program(s)", else the section's program
# (a heading that is a program's name), else every program (section "Every
# program"). One line per row and program, so a pair documented twice shows
# up twice.
documented_options() {
  local progs
  progs=$(cd "$ROOT/bin" && ls *.c | sed 's/\.c$//' | tr '\n' ' ')
  sed 's/\\|/\//g' "$ROOT/docs/options.md" | awk -v PROGS="$progs" '
    function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
    BEGIN { np = split(PROGS, pl, " "); for (i = 1; i <= np; i++) isprog[pl[i]] = 1 }
    /^#/ { sect = $0; sub(/^#+[ \t]*/, "", sect); sect = trim(sect); intable = 0; next }
    /^\|[ \t]*:?-+/ { m = split(prev, c, "|"); progcol = trim(c[m - 1]) ~ /^programs?$/; intable = 1; next }
    /^\|/ {
      prev = $0
      if (!intable) next
      m = split($0, c, "|")
      nt = 0
      if (progcol) {
        k = split(c[m - 1], w, /[^a-z-]+/)
        for (j = 1; j <= k; j++) if (isprog[w[j]] && !(w[j] in seen)) { seen[w[j]] = 1; t[++nt] = w[j] }
        delete seen
      } else if (isprog[sect]) t[++nt] = sect
      else if (sect ~ /^Every program/) for (i = 1; i <= np; i++) t[++nt] = pl[i]
      first = c[2]
      while (match(first, /--[A-Za-z0-9_][A-Za-z0-9_-]*/)) {
        o = substr(first, RSTART, RLENGTH)
        for (i = 1; i <= nt; i++) print t[i], o
        first = substr(first, RSTART + RLENGTH)
      }
      next
    }
    { intable = 0 }'
}

@test "options: every long option of every program is in docs/options.md, for that program" {
  program_options > "$BATS_TEST_TMPDIR/have"
  documented_options | sort -u > "$BATS_TEST_TMPDIR/doc"
  [ "$(wc -l < "$BATS_TEST_TMPDIR/have")" -gt 150 ] # the extraction found the tables
  run comm -23 "$BATS_TEST_TMPDIR/have" "$BATS_TEST_TMPDIR/doc"
  [ -z "$output" ] || { echo "in a getopt table but not in docs/options.md:"; echo "$output"; false; }
}

@test "options: docs/options.md names no option a program does not have, and each in one row" {
  program_options > "$BATS_TEST_TMPDIR/have"
  documented_options | sort > "$BATS_TEST_TMPDIR/doc"
  run comm -13 "$BATS_TEST_TMPDIR/have" <(sort -u "$BATS_TEST_TMPDIR/doc")
  [ -z "$output" ] || { echo "in docs/options.md but in no getopt table:"; echo "$output"; false; }
  run uniq -d "$BATS_TEST_TMPDIR/doc"
  [ -z "$output" ] || { echo "documented in two rows (two meanings?):"; echo "$output"; false; }
}

@test "options: an old name is accepted with a warning naming the new one (rank --batch, distill-step --model)" {
  printf '{"id":"q","ids":[1],"vecs":[[1,0]]}\n' | rec encode --schema vectors > "$BATS_TEST_TMPDIR/q.rec"
  run bash -c "rank --docs '$BATS_TEST_TMPDIR/q.rec' --batch 1 --threads 1 < '$BATS_TEST_TMPDIR/q.rec' 2>&1 >/dev/null"
  assert_success
  assert_output --partial "--batch is now --batch-size"
  run bash -c "rank --docs '$BATS_TEST_TMPDIR/q.rec' --batch-size 1 --threads 1 < '$BATS_TEST_TMPDIR/q.rec' 2>&1 >/dev/null"
  assert_success
  assert_output ""
  run distill-step --model "$BATS_TEST_TMPDIR/none" --out "$BATS_TEST_TMPDIR/o" < /dev/null
  assert_output --partial "--model is now --init"
}
