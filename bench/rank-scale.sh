#!/usr/bin/env bash
# bench/rank-scale.sh: how `rank` grows with the collection, and sharded search.
#
# Synthetic collections (`rank_bench gen-rec`: uniform values, d = 128) of
# SIZES documents (default 10k, 100k, 1M):
#   dense   1 token (vector) per document, NQ_DENSE single-vector queries;
#   maxsim  LD = 30 tokens per document, NQ_MAX queries of LQ = 30 tokens.
# For each: wall time of the whole rank process (mapping and validating the
# file, the search, a TREC run of the top K) and its memory: peak resident set
# (VmHWM: it counts the pages of the memory-mapped document file it touched,
# which are page cache, shared and reclaimable) and peak anonymous memory
# (RssAnon sampled every 0.1 s: what rank itself allocates). GFLOP/s =
# 2 x query rows x document rows x d / seconds.
#
# Sharded search: the largest collection of each mode (at most
# SHARD_MAX_DENSE = 1M and SHARD_MAX_MAXSIM = 100k documents: 1M MaxSim
# documents are 15.5 GB, twice that with the shards) is split with `rec split -n SHARDS`, each shard ranked in turn
# with the same options, the runs merged with `rank --merge`, and the merged
# run compared byte for byte with the unsplit one.
#
# A collection is generated once into $OUT (default build/bench/scale) and
# removed at the end unless KEEP=1; one whose file would not fit on the disk
# (with 2 GB to spare) is skipped and said so. Results: bench/results/rank-scale.md.
# Usage: bash bench/rank-scale.sh     (after `make`; SIZES="10000 100000" for a quick run)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-$(nproc)}
SIZES=${SIZES:-"10000 100000 1000000"}
D=128 K=100 LD=30 LQ=30
NQ_DENSE=${NQ_DENSE:-1000} NQ_MAX=${NQ_MAX:-16}
SHARDS=${SHARDS:-4} SHARD_MAX_DENSE=${SHARD_MAX_DENSE:-1000000} SHARD_MAX_MAXSIM=${SHARD_MAX_MAXSIM:-100000}
OUT=${OUT:-build/bench/scale}
mkdir -p "$OUT" bench/results
[ -x bin/rank ] || make -s progs
cc -std=c11 -D_GNU_SOURCE -Ilib -O2 -march=x86-64-v2 -o "$OUT/rank_bench" bench/rank_bench.c build/release/libotclir.a \
  -lzstd -lyaml -lmd -lopenblas -lm -lpthread

# seconds, peak RSS (kB), peak anonymous RSS (kB) of: bash -c "exec CMD"
measure() {
  local t0 t1 pid hwm=0 anon=0 v
  t0=$(date +%s.%N)
  bash -c "exec $1" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    v=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$v" ] && [ "$v" -gt "$anon" ] && anon=$v
    v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$v" ] && [ "$v" -gt "$hwm" ] && hwm=$v
    sleep 0.1
  done
  wait "$pid"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v h="$hwm" -v n="$anon" 'BEGIN{printf "%.2f %d %d\n", b - a, h, n}'
}

gb() { awk -v b="$1" 'BEGIN{printf "%.2f", b / 1e9}'; }
avail() { df --output=avail -B1 "$OUT" | tail -1; }

rows="" shard_rows="" skipped=""
for mode in dense maxsim; do
  if [ "$mode" = dense ]; then ld=1 nq=$NQ_DENSE lq=1 smax=$SHARD_MAX_DENSE; else ld=$LD nq=$NQ_MAX lq=$LQ smax=$SHARD_MAX_MAXSIM; fi
  q=$OUT/q_${mode}
  [ -f "$q.rec" ] || "$OUT/rank_bench" gen-rec "$nq" "$lq" "$D" 7 "$q"
  largest=""
  for n in $SIZES; do
    docs=$OUT/docs_${mode}_$n
    need=$(awk -v n="$n" -v l="$ld" -v d="$D" 'BEGIN{printf "%.0f", n * (l * (4 * d + 4) + 48) + 2e9}')
    if [ ! -f "$docs.rec" ] && [ "$(avail)" -lt "$need" ]; then
      skipped+="- $mode, $n documents: not run, the file needs $(gb "$need") GB with the margin, $(gb "$(avail)") GB free."$'\n'
      continue
    fi
    [ -f "$docs.rec" ] || { echo "generating $mode $n" >&2; "$OUT/rank_bench" gen-rec "$n" "$ld" "$D" 11 "$docs"; }
    size=$(stat -c %s "$docs.rec")
    read -r secs hwm anon < <(measure "bin/rank --docs '$docs.rec' --mode $mode -k $K --threads $THREADS --trec < '$q.rec' > '$docs.run'")
    flops=$(awk -v a="$nq" -v b="$lq" -v c="$n" -v e="$ld" -v d="$D" 'BEGIN{printf "%.6g", 2*a*b*c*e*d}')
    row=$(awk -v m="$mode" -v n="$n" -v ld="$ld" -v nq="$nq" -v lq="$lq" -v sz="$size" -v s="$secs" -v f="$flops" \
      -v h="$hwm" -v a="$anon" 'BEGIN{printf "| %s | %d | %d | %.2f | %d x %d | %.2f | %.1f | %.2f | %.0f |",
        m, n, ld, sz/1e9, nq, lq, s, f/s/1e9, h/1048576, a/1024}')
    echo "$row" >&2
    rows+="$row"$'\n'
    [ "$n" -le "$smax" ] && largest=$n
  done

  # sharded: the largest collection of this mode, SHARDS shards, merged
  [ -n "$largest" ] || continue
  n=$largest docs=$OUT/docs_${mode}_$n
  rm -f "$OUT"/shard_${mode}-*
  if [ "$(avail)" -lt "$(( $(stat -c %s "$docs.rec") + 2000000000 ))" ]; then
    skipped+="- sharded $mode, $n documents: not run, no room for the shards."$'\n'
    continue
  fi
  bin/rec split -n "$SHARDS" "$docs.rec" "$OUT/shard_${mode}" >/dev/null
  bin/rank --docs "$docs.rec" --mode $mode -k $K --threads "$THREADS" <"$q.rec" >"$OUT/whole_$mode.rec"
  tsum=0 tmax=0 amax=0
  for f in "$OUT"/shard_${mode}-*.rec; do
    read -r s h a < <(measure "bin/rank --docs '$f' --mode $mode -k $K --threads $THREADS < '$q.rec' > '${f%.rec}.run'")
    tsum=$(awk -v x="$tsum" -v y="$s" 'BEGIN{print x + y}')
    tmax=$(awk -v x="$tmax" -v y="$s" 'BEGIN{print (y > x) ? y : x}')
    amax=$(awk -v x="$amax" -v y="$h" 'BEGIN{print (y > x) ? y : x}')
  done
  read -r ms mh ma < <(measure "bin/rank --merge $OUT/shard_${mode}-*.run < '$q.rec' > '$OUT/merged_$mode.rec'")
  same=no
  cmp -s "$OUT/whole_$mode.rec" "$OUT/merged_$mode.rec" && same=yes
  row=$(awk -v m="$mode" -v n="$n" -v k="$SHARDS" -v ts="$tsum" -v tm="$tmax" -v h="$amax" -v ms="$ms" -v mh="$ma" -v same="$same" \
    'BEGIN{printf "| %s | %d | %d | %.2f | %.2f | %.2f | %.2f | %.0f | %s |", m, n, k, ts, tm, h/1048576, ms, mh/1024, same}')
  echo "$row" >&2
  shard_rows+="$row"$'\n'
  rm -f "$OUT"/shard_${mode}-*
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
{
  echo "# rank at scale: time and memory against collection size; sharded search"
  echo
  echo "Machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo) GB RAM, shared with other jobs;"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). Date: $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo "Command: \`bash bench/rank-scale.sh\` (THREADS=$THREADS, SIZES=\"$SIZES\", d = $D, top $K, cosine, TREC output)."
  echo "$(bin/rank --version), OpenBLAS $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo '?')."
  echo
  echo "| mode | documents | tokens/doc | file GB | queries x tokens | time s | GFLOP/s | peak RSS GB | peak anonymous MB |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s' "$rows"
  [ -z "$skipped" ] || { echo; printf '%s' "$skipped"; }
  echo
  echo "Time is the whole process, one run each (file already in the page cache when it fits: it was just"
  echo "written). Peak RSS counts the document file's pages that rank touched: they belong to the page cache"
  echo "(shared, dropped under memory pressure, and reused by the next run); what rank allocates is the"
  echo "anonymous part (per document: a 48-byte item and 8 bytes of tie order and row count; per thread: one block of"
  echo "document rows and one product tile; per batch: the query rows and heaps of k hits)."
  echo
  echo "## Sharded search: rec split -n $SHARDS, rank each shard, rank --merge"
  echo
  echo "| mode | documents | shards | shards' time summed s | slowest shard s | shard peak RSS GB | merge s | merge peak anonymous MB | merged = unsplit (cmp) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s' "$shard_rows"
  echo
  echo "Shards ran one after the other here, each with $THREADS threads; on $SHARDS machines the search takes"
  echo "the slowest shard's time plus the merge (which reads only the runs: $SHARDS x queries x $K records)."
} >bench/results/rank-scale.md
[ "${KEEP:-0}" = 1 ] || rm -f "$OUT"/docs_* "$OUT"/q_* "$OUT"/whole_* "$OUT"/merged_*
cat bench/results/rank-scale.md
