#!/usr/bin/env bash
# bench/embed.sh: the C encoder against PyTorch (Debian python3-torch, CPU)
# on the same model, batches and thread count, in one run; writes
# bench/results/embed.md.
#
#   bench/embed.sh                       BERT-base shape (12 layers, d 768)
#   LAYERS=4 SEQS=32 bench/embed.sh      smaller/faster
#   THREADS=N ROUNDS=N BATCH=N           thread count, alternating rounds, sequences per batch
#
# Measured: inference tokens/s (forward only) and training tokens/s (forward
# + backward of a fixed linear loss, parameter and input-embedding
# gradients), GFLOP/s of useful work (no padding counted), beside the
# cblas_sgemm peak on a [2048 x 768] x [768 x 3072] product measured in the
# same run. The C encoder is built as a shared library (bench/embed_bench.c)
# that bench/embed_torch.py calls through ctypes, so each round runs a C pass
# and then the PyTorch passes in one process under the same machine load;
# ratios are medians over rounds of per-round ratios. PyTorch gets each batch
# padded to its longest sequence with an attention mask (as Hugging Face
# does) and, second, the same sequences length-sorted into batches of the
# same sizes (the least padding possible).
set -euo pipefail
cd "$(dirname "$0")/.."
LAYERS=${LAYERS:-12}; SEQS=${SEQS:-64}; BATCH=${BATCH:-16}; THREADS=${THREADS:-$(nproc)}; ROUNDS=${ROUNDS:-3}
PY=/usr/bin/python3
# PyTorch's OpenMP threads spin while OpenBLAS works (and vice versa); on a
# shared machine passive waiting is PyTorch's fastest setting here (2.4x its
# default on a loaded 2-core box), so the peer gets it unless overridden.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

make -s progs >/dev/null
cc -std=c11 -D_GNU_SOURCE -O2 -march=x86-64-v2 -Ilib -fPIC -shared -o "$tmp/libembedbench.so" bench/embed_bench.c \
  lib/model/bert.c lib/model/safetensors.c lib/base/json.c lib/base/util.c lib/cli/cli.c lib/kernels/blas.c -lopenblas -lm -lpthread

cat > "$tmp/config.json" <<EOF
{"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": $LAYERS, "num_attention_heads": 12,
 "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2,
 "layer_norm_eps": 1e-12, "hidden_act": "gelu"}
EOF
bin/embed --init "$tmp/config.json" --seed 1 --out "$tmp/model"

# Sentence-like lengths (log-normal, median ~24 tokens, 4..160), random ids,
# [CLS]=101 first and [SEP]=102 last; batches of $BATCH in generation order.
$PY - "$SEQS" "$BATCH" > "$tmp/batches.txt" <<'EOF'
import random, sys
random.seed(7)
n, b = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    L = max(4, min(160, int(random.lognormvariate(3.2, 0.6))))
    print(" ".join(["101"] + [str(random.randrange(1000, 30000)) for _ in range(L - 2)] + ["102"]))
    if (i + 1) % b == 0:
        print()
EOF
# the same sequences as a tokens stream, for the embed program end to end
$PY -c '
import json, sys
for k, l in enumerate(open(sys.argv[1])):
    if l.strip(): print(json.dumps({"id": "s%d" % k, "ids": [int(t) for t in l.split()]}))' "$tmp/batches.txt" \
  | bin/rec encode --schema tokens > "$tmp/tokens.rec"

val() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
run() { echo "+ $*" >&2; "$@"; }
inf=$(run $PY bench/embed_torch.py "$tmp/model" "$tmp/batches.txt" "$THREADS" infer "$ROUNDS" --c-lib "$tmp/libembedbench.so")
tr=$(run $PY bench/embed_torch.py "$tmp/model" "$tmp/batches.txt" "$THREADS" train "$ROUNDS" --c-lib "$tmp/libembedbench.so")
t0=$(date +%s.%N)
bin/embed --model "$tmp/model" --threads "$THREADS" --batch-tokens 4096 "$tmp/tokens.rec" > /dev/null
t1=$(date +%s.%N)

line() { echo "$1" | grep -- "$2"; }
tokens=$(line "$inf" "system=c " | val tokens)
prog_tps=$(echo "$tokens $t0 $t1" | awk '{printf "%.1f", $1 / ($3 - $2)}')
peak=$( (line "$inf" peak; line "$tr" peak) | sed 's/.*=//' | sort -g | tail -1)
tps() { line "$1" "system=$2 " | val tokens_per_s; }
gf() { line "$1" "system=$2 " | val gflops; }
ratio() { line "$1" "vs=$2 " | awk '{ split($3, m, "="); split($4, lo, "="); split($5, hi, "="); printf "%s (%s-%s)", m[2], lo[2], hi[2] }'; }

mkdir -p bench/results
{
  echo "# embed: C encoder vs PyTorch $($PY -c 'import torch; print(torch.__version__)') (CPU)"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg) at the end (a shared machine: absolute figures are noisy; C and PyTorch passes alternate in one process, so the ratios see the same load)"
  echo "- Command: \`LAYERS=$LAYERS SEQS=$SEQS BATCH=$BATCH THREADS=$THREADS ROUNDS=$ROUNDS bench/embed.sh\` (PyTorch with OMP_WAIT_POLICY=$OMP_WAIT_POLICY)"
  echo "- Model: BERT shape, $LAYERS layers, hidden 768, 12 heads, intermediate 3072, vocab 30522 (random, \`embed --init\`)"
  echo "- Input: $SEQS sequences, $tokens tokens (log-normal lengths 4..160), batches of $BATCH sequences; $THREADS threads on both sides"
  echo "- sgemm peak (OpenBLAS, 2048x768 by 768x3072, $THREADS threads, best of the measurements): $peak GFLOP/s"
  echo
  echo "| | C (lib/model/bert.c, packed) | PyTorch, padded batches | PyTorch, length-sorted batches | C / PyTorch padded | C / PyTorch sorted |"
  echo "|---|---|---|---|---|---|"
  echo "| inference tokens/s | $(tps "$inf" c) | $(tps "$inf" torch-padded) | $(tps "$inf" torch-sorted) | $(ratio "$inf" torch-padded) | $(ratio "$inf" torch-sorted) |"
  echo "| inference GFLOP/s | $(gf "$inf" c) | $(gf "$inf" torch-padded) | $(gf "$inf" torch-sorted) | | |"
  echo "| forward+backward tokens/s | $(tps "$tr" c) | $(tps "$tr" torch-padded) | $(tps "$tr" torch-sorted) | $(ratio "$tr" torch-padded) | $(ratio "$tr" torch-sorted) |"
  echo "| forward+backward GFLOP/s | $(gf "$tr" c) | $(gf "$tr" torch-padded) | $(gf "$tr" torch-sorted) | | |"
  echo
  echo "Tokens/s and GFLOP/s: the best pass of $ROUNDS; ratios: median (min-max) over the $ROUNDS rounds of the per-round ratios."
  echo "GFLOP/s count useful work only (dense layers and attention products of the real tokens; backward = 2x forward), so padding shows as a lower rate."
  echo "The \`embed\` program end to end (record I/O, length sorting, packing with --batch-tokens 4096): $prog_tps tokens/s."
  echo
  echo "Raw output:"
  echo '```'
  echo "$inf"
  echo "$tr"
  echo '```'
} > bench/results/embed.md
cat bench/results/embed.md
