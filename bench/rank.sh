#!/usr/bin/env bash
# bench/rank.sh: `rank` throughput (dense and maxsim) against the same
# computation in numpy and PyTorch (CPU), and the OpenBLAS sgemm peak of this
# machine, all in one run.
#
# Data: standard normal vectors, d = 768 (mBERT's width), written once by
# `rank_bench gen` as a `vectors` stream for rank and as raw float32 for
# python. dense: ND single-token documents, NQ queries. maxsim: documents of
# 32 tokens, queries of 16 (fixed lengths, the padded layout numpy/PyTorch
# need; rank does not need them). Cosine similarity, top 100 per query, same
# tiling (1024 query rows x 2048 document rows per product) everywhere.
# GFLOP/s = 2 x query rows x document rows x d / seconds. rank is timed as a
# whole process (reading the queries, mapping the documents, writing a TREC
# run); python only around the computation, data already in memory.
# Writes bench/results/rank.md. Usage: bash bench/rank.sh   (after `make`)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3               # Debian's python3 with python3-numpy and python3-torch
THREADS=${THREADS:-$(nproc)}
D=768 K=100
ND_DENSE=${ND_DENSE:-50000} NQ_DENSE=${NQ_DENSE:-2048}
ND_MAX=${ND_MAX:-1000} LD_MAX=32 NQ_MAX=${NQ_MAX:-256} LQ_MAX=16
out=build/bench
mkdir -p "$out" bench/results
[ -x bin/rank ] || make -s progs
cc -std=c11 -D_GNU_SOURCE -Ilib -O2 -march=x86-64-v2 -o "$out/rank_bench" bench/rank_bench.c lib/libotclir.a \
  -lzstd -lyaml -lopenblas -lm -lpthread

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }

gen() { # N L SEED NAME
  [ -f "$out/$4.rec" ] && [ -f "$out/$4.f32" ] || "$out/rank_bench" gen "$1" "$2" "$D" "$3" "$out/$4"
}
dense_docs=rank_dense_docs_$ND_DENSE dense_q=rank_dense_q_$NQ_DENSE
max_docs=rank_max_docs_$ND_MAX max_q=rank_max_q_$NQ_MAX
gen "$ND_DENSE" 1 11 "$dense_docs"
gen "$NQ_DENSE" 1 12 "$dense_q"
gen "$ND_MAX" "$LD_MAX" 13 "$max_docs"
gen "$NQ_MAX" "$LQ_MAX" 14 "$max_q"

peak_sq=$("$out/rank_bench" peak 4096 4096 "$D" 3 "$THREADS" | field GFLOPs)
peak_tile=$("$out/rank_bench" peak 1024 2048 "$D" 5 "$THREADS" | field GFLOPs)
peak_1t=$("$out/rank_bench" peak 1024 2048 "$D" 5 1 | field GFLOPs)
peak=$(awk -v a="$peak_sq" -v b="$peak_tile" 'BEGIN{print (a > b ? a : b)}')
echo "sgemm peak: 4096x4096x$D $peak_sq, 1024x2048x$D $peak_tile GFLOP/s ($THREADS threads); 1 thread $peak_1t"

time_rank() { # MODE DOCS QUERIES OUT: best wall seconds of 2 runs
  local best="" t0 t1 s
  for _ in 1 2; do
    t0=$(date +%s.%N)
    bin/rank --docs "$2" --mode "$1" -k "$K" --threads "$THREADS" --trec <"$3" >"$4"
    t1=$(date +%s.%N)
    s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}')
    if [ -z "$best" ] || awk -v s="$s" -v b="$best" 'BEGIN{exit !(s < b)}'; then best=$s; fi
  done
  echo "$best"
}

rows=""
for mode in dense maxsim; do
  if [ "$mode" = dense ]; then nd=$ND_DENSE ld=1 nq=$NQ_DENSE lq=1 dn=$dense_docs qn=$dense_q; else
    nd=$ND_MAX ld=$LD_MAX nq=$NQ_MAX lq=$LQ_MAX dn=$max_docs qn=$max_q; fi
  flops=$(awk -v a="$nq" -v b="$lq" -v c="$nd" -v e="$ld" -v d="$D" 'BEGIN{printf "%.6g", 2*a*b*c*e*d}')
  secs=$(time_rank "$mode" "$out/$dn.rec" "$out/$qn.rec" "$out/rank_${mode}_run.txt")
  ours=$(awk -v f="$flops" -v s="$secs" 'BEGIN{printf "%.1f", f/s/1e9}')
  py=$("$PY" bench/rank.py "$mode" "$out/$dn.f32" "$nd" "$ld" "$out/$qn.f32" "$nq" "$lq" "$D" "$K" \
    "$THREADS" "$out/rank_${mode}_top1.txt")
  np_s=$(grep impl=numpy <<<"$py" | field seconds); np_g=$(grep impl=numpy <<<"$py" | field gflops)
  th_s=$(grep impl=torch <<<"$py" | field seconds); th_g=$(grep impl=torch <<<"$py" | field gflops)
  # top-1 agreement with numpy (documents are "NAME-i")
  agree=$(awk '$4 == 1 {sub(/.*-/, "", $3); print $3}' "$out/rank_${mode}_run.txt" | paste - "$out/rank_${mode}_top1.txt" |
    awk '$1 == $2 {a++} END {printf "%d/%d", a, NR}')
  row=$(awk -v m="$mode" -v nd="$nd" -v ld="$ld" -v nq="$nq" -v lq="$lq" -v f="$flops" -v s="$secs" -v g="$ours" \
    -v p="$peak" -v ns="$np_s" -v ng="$np_g" -v ts="$th_s" -v tg="$th_g" -v ag="$agree" 'BEGIN{
      printf "| %s | %d x %d | %d x %d | %.0f | %.2f s, %.1f (**%.0f%%**) | %.2f s, %.1f (%.0f%%) | %.2f s, %.1f (%.0f%%) | %.2fx / %.2fx | %s |",
        m, nd, ld, nq, lq, f/1e9, s, g, 100*g/p, ns, ng, 100*ng/p, ts, tg, 100*tg/p, ns/s, ts/s, ag }')
  echo "$row"
  rows+="$row"$'\n'
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
load=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "# rank: throughput against numpy and PyTorch, and the sgemm peak"
  echo
  echo "Machine: $(nproc) cores, $cpu; load average at the end: $load (shared machine: figures are noisy,"
  echo "ratios within this one run are what counts). Date: $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo "Command: \`bash bench/rank.sh\` (THREADS=$THREADS, d = $D, top $K, cosine)."
  echo "Versions: $(bin/rank --version), numpy $("$PY" -c 'import numpy; print(numpy.__version__)'), torch $("$PY" -c 'import torch; print(torch.__version__)'), OpenBLAS $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo '?')."
  echo
  echo "OpenBLAS sgemm on this machine, C = A B^T, $THREADS threads: 4096 x 4096 x $D: **$peak_sq GFLOP/s**;"
  echo "1024 x 2048 x $D (rank's tile): $peak_tile GFLOP/s; one thread: $peak_1t GFLOP/s. Peak below = the larger: $peak."
  echo
  echo "| mode | documents x tokens | queries x tokens | GFLOP | rank: time, GFLOP/s (% of peak) | numpy | PyTorch | rank faster than numpy / torch | top-1 = numpy |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s' "$rows"
  echo
  echo "rank's time is the whole process (stdin decoding, mapping and indexing the document file, the"
  echo "per-batch copy and normalisation of document rows, sgemm, the MaxSim reductions, top-k, TREC output);"
  echo "numpy/PyTorch are timed around the computation only (best of 2). Top-1 agreement is with numpy's"
  echo "argmax (a disagreement would be a float32 near-tie)."
} >bench/results/rank.md
cat bench/results/rank.md
