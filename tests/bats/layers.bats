#!/usr/bin/env bats
# The architecture as the tree draws it (lib/README.md): layer rules on the
# source, link-time consequences with ldd, generated code that is current.
load common

@test "lib/ follows its layers (tests/check-layers)" {
  run "$ROOT/tests/check-layers" "$ROOT"
  assert_success
  refute_output --partial "not ok"
}

@test "check-layers fails on an include that runs back up" {
  tmp=$(mktemp -d)
  cp -r "$ROOT/lib" "$ROOT/tests" "$tmp/"
  echo '#include "model/bert.h"' >> "$tmp/lib/stream/crc32c.c"
  run "$tmp/tests/check-layers" "$tmp"
  rm -rf "$tmp"
  assert_output --partial "not ok 1"
  assert_output --partial "lib/stream/crc32c.c: includes model/bert.h"
}

@test "rec, tokenize and score do not link OpenBLAS; rank and embed do" {
  for p in rec tokenize score; do
    run ldd "$BIN/$p"
    refute_output --partial blas
  done
  for p in rank embed; do
    run ldd "$BIN/$p"
    assert_output --partial blas
  done
}

@test "the committed Unicode tables equal a fresh generation from the UCD" {
  [ -f /usr/share/unicode/UnicodeData.txt ] || skip "the UCD (Debian unicode-data) is not installed"
  out=$(mktemp -d)
  run "$ROOT/scripts/gen-unicode-tables" /usr/share/unicode "$out"
  assert_success
  cmp "$out/unicode_tables.c" "$ROOT/lib/text/unicode_tables.c"
  cmp "$out/unicode_tables.h" "$ROOT/lib/text/unicode_tables.h"
  rm -rf "$out"
}
