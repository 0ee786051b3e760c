#!/usr/bin/env bats
# make install / uninstall into a temporary prefix: programs, schemas, one man
# page per program generated from its --help.
load common

setup() { prefix=$(mktemp -d); }
teardown() { rm -rf "$prefix"; }

@test "make install puts programs, schemas and man pages under PREFIX; uninstall removes them" {
  run make -C "$ROOT" --no-print-directory -s install PREFIX="$prefix"
  assert_success
  for src in "$ROOT"/bin/*.c; do
    n=$(basename "$src" .c)
    [ -x "$prefix/bin/$n" ] || fail "missing program $n"
    [ -s "$prefix/share/man/man1/$n.1" ] || fail "missing man page $n.1"
    grep -q "^$n \\\\- " "$prefix/share/man/man1/$n.1" || fail "man page $n.1 has no NAME line for $n"
  done
  [ -s "$prefix/share/otclir/schemas/README.md" ]
  [ -s "$prefix/share/otclir/schemas/pair.yaml" ]
  run "$prefix/bin/rec" --version
  assert_success
  assert_output --partial "otclir"
  run make -C "$ROOT" --no-print-directory -s uninstall PREFIX="$prefix"
  assert_success
  run find "$prefix" -type f
  assert_output ""
}
