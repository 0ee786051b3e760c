#!/usr/bin/env bash
# Record-stream pipe throughput: a writer process to a reader process moving
# `vectors` records (128 x 768 f32 each), against the same float bytes piped
# raw (no framing, CRC or validation): the ratio is the cost of the format.
# Also `rec cat` in the middle (a third process: it validates every frame and
# copies it verbatim) and zstd level 1. REC_BASELINE=path/to/an/older/rec adds
# that binary's `rec cat` to the same run (e.g. one that re-encoded records).
# Writes bench/results/rec.md. Run from the project root after `make`.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${REC_BENCH_RECORDS:-2000} N=128 D=768
B=build/bench; mkdir -p "$B"
cc -std=c11 -D_GNU_SOURCE -O2 -march=x86-64-v2 -Ilib -o "$B/rec_pipe" bench/rec_pipe.c build/release/libotclir.a -lzstd -lyaml -lmd -lopenblas -lm -lpthread
P=$B/rec_pipe
REPS=${REC_BENCH_REPS:-5}
best() { # best of REPS runs of a pipeline printing "bytes seconds": GB/s
  local best=0
  for _ in $(seq "$REPS"); do
    read -r bytes secs _ < <(bash -c "$1")
    best=$(python3 -c "print(max($best, $bytes / $secs / 1e9))")
  done
  printf '%.2f' "$best"
}
rec=$(best "$P write $R $N $D | $P read")
raw=$(best "$P rawwrite $R $N $D | $P rawread")
cat=$(best "$P write $R $N $D | bin/rec cat | $P read")
zst=$(best "$P write $R $N $D | bin/rec cat --zstd=1 | $P read")
base=""
[ -n "${REC_BASELINE:-}" ] && base=$(best "$P write $R $N $D | $REC_BASELINE cat | $P read")
# The middle stage alone, in CPU time (user + sys, least of REPS runs): on a
# shared machine the wall-clock rates above move with the load, CPU seconds
# much less. `rec cat FILE > /dev/null` with the stream in memory (/dev/shm).
S=${REC_BENCH_TMP:-/dev/shm}/rec-bench.$$.rec
trap 'rm -f "$S"' EXIT
$P write $R $N $D > "$S"
cpu() { # least user+sys seconds of REPS runs of: $1 cat "$S" > /dev/null
  local best=999 t
  for _ in $(seq "$REPS"); do
    t=$( { /usr/bin/time -f '%U %S' "$1" cat "$S" > /dev/null; } 2>&1 | awk '{print $1 + $2}')
    best=$(python3 -c "print(min($best, $t))")
  done
  echo "$best"
}
cpu_cat=$(cpu bin/rec)
cpu_base=""
[ -n "${REC_BASELINE:-}" ] && cpu_base=$(cpu "$REC_BASELINE")
gb=$(python3 -c "print($(stat -c %s "$S") / 1e9)")
ratio=$(python3 -c "print(f'{$rec / $raw:.2f}')")
catratio=$(python3 -c "print(f'{$cat / $rec:.2f}')")
payload=$(python3 -c "print(f'{$R * $N * $D * 4 / 1e9:.2f}')")
out=bench/results/rec.md
{
  echo "# rec: record-stream pipe throughput"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
  echo "- command: \`${REC_BASELINE:+REC_BASELINE=$REC_BASELINE }bash bench/rec.sh\` (REC_BENCH_RECORDS=$R: $R vectors records of $N x $D f32, $payload GB of float payload; best of $REPS)"
  echo "- load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-min load average at the end; the machine is shared)"
  echo
  echo "| pipeline | float payload GB/s |"
  echo "|---|---|"
  echo "| rec writer -> pipe -> rec reader (framing, CRC-32C both sides, NaN/UTF-8 checks) | $rec |"
  echo "| raw floats writer -> pipe -> reader (no format: the pipe's ceiling) | $raw |"
  echo "| rec writer -> \`rec cat\` -> rec reader (three processes, two pipes; frames validated, copied verbatim) | $cat |"
  [ -z "$base" ] || echo "| rec writer -> \`$REC_BASELINE cat\` -> rec reader (the baseline binary, same run) | $base |"
  echo "| rec writer -> \`rec cat --zstd=1\` -> rec reader (compress + decompress; the synthetic floats compress well, so this flatters zstd) | $zst |"
  echo
  echo "Format cost: rec / raw = **$ratio** (1.00 = free). Target: >= 1 GB/s for the rec pipe."
  echo "A filter in the middle: rec cat / rec pipe = **$catratio**."
  echo
  echo "\`rec cat\` alone on the same stream ($(printf '%.2f' "$gb") GB, in /dev/shm, to /dev/null), CPU seconds (user + sys, least of $REPS):"
  echo
  echo "| rec cat | CPU s | GB per CPU s |"
  echo "|---|---|---|"
  echo "| bin/rec (frames validated, copied verbatim) | $cpu_cat | $(python3 -c "print(f'{$gb / max($cpu_cat, 1e-9):.2f}')") |"
  [ -z "$cpu_base" ] || echo "| $REC_BASELINE | $cpu_base | $(python3 -c "print(f'{$gb / max($cpu_base, 1e-9):.2f}')") |"
} > "$out"
cat "$out"
