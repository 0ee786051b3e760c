#!/usr/bin/env bash
# bench/embed.sh: the C encoder against PyTorch (Debian python3-torch, CPU)
# on the same model, batches and thread count, in one run; writes
# bench/results/embed.md.
#
#   bench/embed.sh                       BERT-base shape (12 layers, d 768), 1 and 2 threads
#   LAYERS=4 SEQS=32 bench/embed.sh      smaller/faster
#   THREADS="1 2" ROUNDS=N BATCH=N       thread counts, alternating rounds, sequences per batch
#
# Measured: inference tokens/s (forward only) in float32 and with bfloat16
# dense layers (embed --dtype bf16), and training tokens/s (forward +
# backward of a fixed linear loss, parameter and input-embedding gradients),
# GFLOP/s of useful work (no padding counted), beside the peaks measured in
# the same run: cblas_sgemm and our bf16 product (kernels/bf16.h; Debian's
# OpenBLAS has no cblas_sbgemm) on a [2048 x 768] x [768 x 3072] product.
# The C encoder is built as a shared library (bench/embed_bench.c) that
# bench/embed_torch.py calls through ctypes, so each round runs a C pass and
# then the PyTorch passes in one process under the same machine load; ratios
# are medians over rounds of per-round ratios. PyTorch gets each batch
# padded to its longest sequence with an attention mask (as Hugging Face
# does) and, second, the same sequences length-sorted into batches of the
# same sizes (the least padding possible). The bf16 rows compare the C
# bf16 encoder with PyTorch float32 (the goal's peer) and show PyTorch's own
# bf16 (model cast to bfloat16) beside it; the accuracy of bf16 is the
# cosine of each token's output vector to the C float32 one.
set -euo pipefail
cd "$(dirname "$0")/.."
LAYERS=${LAYERS:-12}; SEQS=${SEQS:-64}; BATCH=${BATCH:-16}; THREADS=${THREADS:-1 2}; ROUNDS=${ROUNDS:-3}
PY=/usr/bin/python3
# PyTorch's OpenMP threads spin while OpenBLAS works (and vice versa); on a
# shared machine passive waiting is PyTorch's fastest setting here (2.4x its
# default on a loaded 2-core box), so the peer gets it unless overridden.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

make -s progs >/dev/null
# The layers the encoder needs, compiled position-independent (the archive
# is not); --no-undefined makes a missing layer a build error here, not a
# dlopen error in Python.
ENC_SRC=(lib/model/*.c lib/kernels/*.c lib/base/*.c lib/cli/*.c lib/stream/*.c build/gen/schemas_gen.c)
ENC_LIBS=(-lopenblas -lzstd -lyaml -lmd -lm -lpthread)
cc -std=c11 -D_GNU_SOURCE -O2 -march=x86-64-v2 -Ilib -Ibuild/gen -fPIC -shared -Wl,--no-undefined \
  -o "$tmp/libembedbench.so" bench/embed_bench.c "${ENC_SRC[@]}" "${ENC_LIBS[@]}"

cat > "$tmp/config.json" <<JSON
{"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": $LAYERS, "num_attention_heads": 12,
 "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2,
 "layer_norm_eps": 1e-12, "hidden_act": "gelu"}
JSON
bin/embed --init "$tmp/config.json" --seed 1 --out "$tmp/model"

# Sentence-like lengths (log-normal, median ~24 tokens, 4..160), random ids,
# [CLS]=101 first and [SEP]=102 last; batches of $BATCH in generation order.
$PY - "$SEQS" "$BATCH" > "$tmp/batches.txt" <<'PYEOF'
import random, sys
random.seed(7)
n, b = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    L = max(4, min(160, int(random.lognormvariate(3.2, 0.6))))
    print(" ".join(["101"] + [str(random.randrange(1000, 30000)) for _ in range(L - 2)] + ["102"]))
    if (i + 1) % b == 0:
        print()
PYEOF
# the same sequences as a tokens stream, for the embed program end to end
$PY -c '
import json, sys
for k, l in enumerate(open(sys.argv[1])):
    if l.strip(): print(json.dumps({"id": "s%d" % k, "ids": [int(t) for t in l.split()]}))' "$tmp/batches.txt" \
  | bin/rec encode --schema tokens > "$tmp/tokens.rec"

val() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
run() { echo "+ $*" >&2; "$@"; }
line() { echo "$1" | grep -- "$2"; }
tps() { line "$1" "system=$2 " | val tokens_per_s; }
gf() { line "$1" "system=$2 " | val gflops; }
ratio() { line "$1" "vs=$2 " | awk '{ split($3, m, "="); split($4, lo, "="); split($5, hi, "="); printf "**%s** (%s-%s)", m[2], lo[2], hi[2] }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }
prog() { # THREADS DTYPE -> tokens/s of the embed program end to end
  local t0 t1
  t0=$(date +%s.%N)
  bin/embed --model "$tmp/model" --threads "$1" --dtype "$2" --batch-tokens 4096 "$tmp/tokens.rec" > /dev/null
  t1=$(date +%s.%N)
  echo "$tokens $t0 $t1" | awk '{printf "%.1f", $1 / ($3 - $2)}'
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
rows="" raw="" peaks=""
for t in $THREADS; do
  inf=$(run $PY bench/embed_torch.py "$tmp/model" "$tmp/batches.txt" "$t" infer "$ROUNDS" --c-lib "$tmp/libembedbench.so")
  bf=$(run $PY bench/embed_torch.py "$tmp/model" "$tmp/batches.txt" "$t" infer-bf16 "$ROUNDS" --c-lib "$tmp/libembedbench.so")
  tr=$(run $PY bench/embed_torch.py "$tmp/model" "$tmp/batches.txt" "$t" train "$ROUNDS" --c-lib "$tmp/libembedbench.so")
  tokens=$(line "$inf" "system=c " | val tokens)
  peak=$( (line "$inf" "peak sgemm"; line "$bf" "peak sgemm"; line "$tr" "peak sgemm") | sed 's/.*=//' | sort -g | tail -1)
  bpeak=$(line "$bf" "peak bf16" | val bf16_gflops)
  level=$(line "$bf" "peak bf16" | sed 's/.*level=//')
  cosmin=$(line "$bf" cosine | val min); cosmean=$(line "$bf" cosine | sed 's/.*mean=//')
  p32=$(prog "$t" f32); p16=$(prog "$t" bf16)
  peaks="$peaks| $t | $peak | $bpeak ($level) |"$'\n'
  rows="$rows| $t | inference, float32 | $(tps "$inf" c) | $(gf "$inf" c) | $(pct "$(gf "$inf" c)" "$peak") of sgemm | $(tps "$inf" torch-padded) | $(tps "$inf" torch-sorted) | $(ratio "$inf" torch-sorted) | $(ratio "$inf" torch-padded) | $p32 |"$'\n'
  rows="$rows| $t | inference, bf16 dense layers | $(tps "$bf" c) | $(gf "$bf" c) | $(pct "$(gf "$bf" c)" "$bpeak") of bf16 product | | $(tps "$bf" torch-sorted) (bf16: $(tps "$bf" torch-sorted-bf16)) | $(ratio "$bf" torch-sorted) (vs torch bf16: $(ratio "$bf" torch-sorted-bf16)) | | $p16 |"$'\n'
  rows="$rows| $t | forward+backward, float32 | $(tps "$tr" c) | $(gf "$tr" c) | $(pct "$(gf "$tr" c)" "$peak") of sgemm | $(tps "$tr" torch-padded) | $(tps "$tr" torch-sorted) | $(ratio "$tr" torch-sorted) | $(ratio "$tr" torch-padded) | |"$'\n'
  cos="$cosmin (mean $cosmean)"
  raw="$raw$inf"$'\n'"$bf"$'\n'"$tr"$'\n'
done

# Where the float32 inference time goes at the last thread count: perf over
# the standalone bench program (4 passes), top symbols (skipped without perf).
profile="(perf not available)"
if command -v perf >/dev/null; then
  cc -std=c11 -D_GNU_SOURCE -DBENCH_MAIN -O2 -g -march=x86-64-v2 -Ilib -Ibuild/gen -o "$tmp/embed_bench" \
    bench/embed_bench.c "${ENC_SRC[@]}" "${ENC_LIBS[@]}"
  "$tmp/embed_bench" "$tmp/model" "$tmp/batches.txt" "$t" infer 1 >/dev/null # warm the page cache
  perf record -q -o "$tmp/perf.data" -- "$tmp/embed_bench" "$tmp/model" "$tmp/batches.txt" "$t" infer 4 >/dev/null 2>&1 &&
    profile=$(perf report -q -i "$tmp/perf.data" --no-children --sort symbol 2>/dev/null | sed 's/ *$//' | head -16) || true
fi

mkdir -p bench/results
{
  echo "# embed: C encoder vs PyTorch $($PY -c 'import torch; print(torch.__version__)') (CPU)"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1); kernels level \`$level\` (kernels/cpu.h); load average $load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (a shared machine: absolute figures are noisy; C and PyTorch passes alternate in one process, so the ratios see the same load)"
  echo "- Command: \`LAYERS=$LAYERS SEQS=$SEQS BATCH=$BATCH THREADS=\"$THREADS\" ROUNDS=$ROUNDS bench/embed.sh\` (PyTorch with OMP_WAIT_POLICY=$OMP_WAIT_POLICY)"
  echo "- Model: BERT shape, $LAYERS layers, hidden 768, 12 heads, intermediate 3072, vocab 30522 (random, \`embed --init\`)"
  echo "- Input: $SEQS sequences, $tokens tokens (log-normal lengths 4..160), batches of $BATCH sequences; the same thread count on both sides"
  echo "- bf16 accuracy: cosine of each token's output vector, C bf16 vs C float32, smallest over the $tokens tokens: $cos"
  echo
  echo "Peaks in the same run ([2048 x 768] x [768 x 3072], best of the measurements), GFLOP/s:"
  echo
  echo "| threads | OpenBLAS sgemm | our bf16 product (kernels/bf16.h) |"
  echo "|---|---|---|"
  printf '%s' "$peaks"
  echo
  echo "| threads | pass | C tokens/s | C GFLOP/s | C share of the peak | PyTorch padded tokens/s | PyTorch length-sorted tokens/s | C / PyTorch sorted | C / PyTorch padded | \`embed\` program tokens/s |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s' "$rows"
  echo
  echo "Tokens/s and GFLOP/s: the best pass of $ROUNDS; ratios: median (min-max) over the $ROUNDS rounds of the per-round ratios."
  echo "GFLOP/s count useful work only (dense layers and attention products of the real tokens; backward = 2x forward), so padding shows as a lower rate."
  echo "The \`embed\` program column: end to end (record I/O, length sorting, packing with --batch-tokens 4096), one run."
  echo
  echo "Profile of float32 inference, $t threads (\`perf record\` over bench/embed_bench.c's program, model load included; percent of samples):"
  echo '```'
  echo "$profile"
  echo '```'
  echo
  echo "Raw output:"
  echo '```'
  printf '%s' "$raw"
  echo '```'
} > bench/results/embed.md
cat bench/results/embed.md
