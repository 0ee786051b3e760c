#!/usr/bin/env bash
# Seeds for tests/fuzz/fuzz_rec.c of the reader checks of issue 14 (after
# `make`): a vectors stream with d = 2^32-1, one with a metadata key twice, a
# plan with plan and align, a zstd stream cut before its first block. The
# first byte of a seed is the harness's flag byte (0: aligned, NaN refused,
# CRCs as they are). The older seeds were made the same way by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
S=tests/fuzz/seeds R=bin/rec C=tests/bats/rec-corrupt.py
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
seed() { { printf '\x00'; cat "$2"; } > "$S/$1.seed"; }
echo '{"id":"x","ids":[],"vecs":[]}' | $R encode --schema vectors --dim d=1234567 > "$t/h0"
python3 $C "$t/h0" "$t/h" replace 0 87d6120000000000 ffffffff00000000
seed vectors-hostile-d "$t/h"
printf '%s\n' '{"id":"v1","ids":[101,7,102],"vecs":[[0.1,-0,1.5],[1e-45,3.4028235e+38,-2.5],[0.33333334,1,2]],"vec":[1,2,3]}' \
  '{"id":"v2","lang":"fr","ids":[],"vecs":[]}' '{"id":"v3","ids":[5],"vecs":[[7,8,9]]}' |
  $R encode --schema vectors --meta model=x > "$t/v"
python3 $C "$t/v" "$t/vd" addmeta model evil
seed vectors-dupmeta "$t/vd"
echo '{"id":"p","cost":1,"iters":2,"err":0,"plan":[[0.5,0.5]],"align":[[0,0]]}' | $R encode --schema plan > "$t/p"
seed plan-align "$t/p"
echo '{"id":"a","text":"x"}' | $R encode --schema text --zstd > "$t/z"
head -c 60 "$t/z" > "$t/zc"
seed zstd-cut "$t/zc"
