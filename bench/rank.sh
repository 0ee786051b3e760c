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
# The machine is shared, so each figure is the best of ROUNDS rounds, and a
# round runs sgemm, rank, numpy and PyTorch back to back (interleaved), so
# that load changes hit all of them alike.
# Writes bench/results/rank.md. Usage: bash bench/rank.sh   (after `make`)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3               # Debian's python3 with python3-numpy and python3-torch
THREADS=${THREADS:-$(nproc)}
ROUNDS=${ROUNDS:-3}
D=768 K=100
ND_DENSE=${ND_DENSE:-50000} NQ_DENSE=${NQ_DENSE:-2048}
ND_MAX=${ND_MAX:-1000} LD_MAX=32 NQ_MAX=${NQ_MAX:-256} LQ_MAX=16
out=build/bench
mkdir -p "$out" bench/results
[ -x bin/rank ] || make -s progs
cc -std=c11 -D_GNU_SOURCE -Ilib -O2 -march=x86-64-v2 -o "$out/rank_bench" bench/rank_bench.c build/release/libotclir.a \
  -lzstd -lyaml -lmd -lopenblas -lm -lpthread

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }
min() { awk -v a="$1" -v b="$2" 'BEGIN{print (a == "" || b + 0 < a + 0) ? b : a}'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN{print (a == "" || b + 0 > a + 0) ? b : a}'; }

gen() { # N L SEED NAME
  [ -f "$out/$4.rec" ] && [ -f "$out/$4.f32" ] || "$out/rank_bench" gen "$1" "$2" "$D" "$3" "$out/$4"
}
dense_docs=rank_dense_docs_$ND_DENSE dense_q=rank_dense_q_$NQ_DENSE
max_docs=rank_max_docs_$ND_MAX max_q=rank_max_q_$NQ_MAX
gen "$ND_DENSE" 1 11 "$dense_docs"
gen "$NQ_DENSE" 1 12 "$dense_q"
gen "$ND_MAX" "$LD_MAX" 13 "$max_docs"
gen "$NQ_MAX" "$LQ_MAX" 14 "$max_q"

peak_tile=$("$out/rank_bench" peak 1024 2048 "$D" 5 "$THREADS" | field GFLOPs)
peak_1t=$("$out/rank_bench" peak 1024 2048 "$D" 5 1 | field GFLOPs)

time_rank() { # MODE DOCS QUERIES OUT: wall seconds of one run
  local t0 t1
  t0=$(date +%s.%N)
  bin/rank --docs "$2" --mode "$1" -k "$K" --threads "$THREADS" --trec <"$3" >"$4"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}'
}

rows="" peak_all=""
for mode in dense maxsim; do
  if [ "$mode" = dense ]; then nd=$ND_DENSE ld=1 nq=$NQ_DENSE lq=1 dn=$dense_docs qn=$dense_q; else
    nd=$ND_MAX ld=$LD_MAX nq=$NQ_MAX lq=$LQ_MAX dn=$max_docs qn=$max_q; fi
  flops=$(awk -v a="$nq" -v b="$lq" -v c="$nd" -v e="$ld" -v d="$D" 'BEGIN{printf "%.6g", 2*a*b*c*e*d}')
  peak="" secs="" np_s="" th_s=""
  for round in $(seq "$ROUNDS"); do
    peak=$(max "$peak" "$("$out/rank_bench" peak 4096 4096 "$D" 2 "$THREADS" | field GFLOPs)")
    secs=$(min "$secs" "$(time_rank "$mode" "$out/$dn.rec" "$out/$qn.rec" "$out/rank_${mode}_run.txt")")
    for impl in numpy torch; do
      s=$("$PY" bench/rank.py "$impl" "$mode" "$out/$dn.f32" "$nd" "$ld" "$out/$qn.f32" "$nq" "$lq" "$D" "$K" \
        "$THREADS" "$out/rank_${mode}_top1_$impl.txt" | field seconds)
      if [ "$impl" = numpy ]; then np_s=$(min "$np_s" "$s"); else th_s=$(min "$th_s" "$s"); fi
    done
    echo "$mode round $round: sgemm peak $peak GFLOP/s; best so far: rank $secs s, numpy $np_s s, torch $th_s s" >&2
  done
  peak_all=$(max "$peak_all" "$peak")
  # top-1 agreement with numpy (documents are "NAME-i")
  agree=$(awk '$4 == 1 {sub(/.*-/, "", $3); print $3}' "$out/rank_${mode}_run.txt" |
    paste - "$out/rank_${mode}_top1_numpy.txt" | awk '$1 == $2 {a++} END {printf "%d/%d", a, NR}')
  row=$(awk -v m="$mode" -v nd="$nd" -v ld="$ld" -v nq="$nq" -v lq="$lq" -v f="$flops" -v s="$secs" -v p="$peak" \
    -v ns="$np_s" -v ts="$th_s" -v ag="$agree" 'BEGIN{
      g = f/s/1e9; ng = f/ns/1e9; tg = f/ts/1e9;
      printf "| %s | %d x %d | %d x %d | %.0f | %.1f | %.2f s, %.1f (**%.0f%%**) | %.2f s, %.1f (%.0f%%) | %.2f s, %.1f (%.0f%%) | %.2fx / %.2fx | %s |",
        m, nd, ld, nq, lq, f/1e9, p, s, g, 100*g/p, ns, ng, 100*ng/p, ts, tg, 100*tg/p, ns/s, ts/s, ag }')
  echo "$row"
  rows+="$row"$'\n'
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
load=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "# rank: throughput against numpy and PyTorch, and the sgemm peak"
  echo
  echo "Machine: $(nproc) cores, $cpu (OpenBLAS picks its Haswell/AVX2 sgemm kernel here); load average at"
  echo "the end: $load (a shared machine: absolute figures are noisy, ratios within one run are what counts)."
  echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'). Command: \`bash bench/rank.sh\` (THREADS=$THREADS, ROUNDS=$ROUNDS, d = $D, top $K, cosine)."
  echo "Versions: $(bin/rank --version), numpy $("$PY" -c 'import numpy; print(numpy.__version__)'), torch $("$PY" -c 'import torch; print(torch.__version__)'), OpenBLAS $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo '?')."
  echo
  echo "sgemm peak: OpenBLAS cblas_sgemm C = A B^T, 4096 x 4096 x $D on $THREADS threads, best of the rounds of each"
  echo "mode (column \"peak\"; overall $peak_all GFLOP/s). For reference, rank's tile 1024 x 2048 x $D: $peak_tile GFLOP/s on"
  echo "$THREADS threads, $peak_1t on one."
  echo
  echo "| mode | documents x tokens | queries x tokens | GFLOP | sgemm peak GFLOP/s | rank: time, GFLOP/s (% of peak) | numpy | PyTorch | rank faster than numpy / torch | top-1 = numpy |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s' "$rows"
  echo
  echo "rank's time is the whole process (stdin decoding, mapping and validating the document file, the"
  echo "per-batch copy and normalisation of document rows, sgemm, the MaxSim reductions, top-k, TREC output);"
  echo "numpy/PyTorch are timed around the computation only. Each time is the best of $ROUNDS interleaved rounds."
  echo "Top-1 agreement: rank's first document against numpy's argmax (a disagreement would be a float32 near-tie)."
} >bench/results/rank.md
cat bench/results/rank.md
