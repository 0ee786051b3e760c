#!/usr/bin/env bash
# bench/tokenize.sh: bin/tokenize against its peers on the mirror's text, one
# thread, in one run; writes bench/results/tokenize.md.
#
# Inputs (built under build/bench-tokenize from $OTCLIR_SHARED/data):
#   tatoeba.tsv  every line of every tatoeba/tatoeba.* file as id<TAB>text (112 languages)
#   bitext.tsv   both sides of bitext/tatoeba-challenge/*.tsv as id<TAB>text
#                (the first 5,000 pairs of each language file, 151 files)
# Peers on the same inputs:
#   - bench/tokenize_ref.py, a plain-Python re-statement of Google's tokenization.py
#     (the reference itself needs TensorFlow, which is not installable here)
#   - the Hugging Face `tokenizers` Rust library (0.22) through its napi build
#     @anush008/tokenizers (npm), driven by bench/tokenize_hf.js with
#     RAYON_NUM_THREADS=1; skipped when npm cannot install it
# Speeds are input text bytes (after the id column) and ids (with [CLS]/[SEP])
# per second of CPU time (user+sys of the whole process: vocabulary loading,
# reading, writing included), which is robust on a shared machine; wall time
# is reported too. The ids of all three are compared line by line.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${OTCLIR_SHARED:-../shared}
D=build/bench-tokenize
mkdir -p "$D" bench/results
MBERT=$SHARED/data/vocab/mbert-cased/vocab.txt
UNCASED=$SHARED/data/vocab/bert-base-uncased/vocab.txt
[ -x bin/tokenize ] || make bin/tokenize bin/rec >/dev/null

if [ ! -s "$D/tatoeba.tsv" ]; then
  for f in "$SHARED"/data/tatoeba/tatoeba.*; do
    awk -v p="$(basename "$f")" '{print p "." NR "\t" $0}' "$f"
  done > "$D/tatoeba.tsv"
fi
if [ ! -s "$D/bitext.tsv" ]; then
  for f in "$SHARED"/data/bitext/tatoeba-challenge/*.tsv; do
    head -n 5000 "$f" | awk -F'\t' -v p="$(basename "$f" .tsv)" '{print p ".s" NR "\t" $1; print p ".t" NR "\t" $2}'
  done > "$D/bitext.tsv"
fi

HF_DIR=$D/npm
if [ ! -d "$HF_DIR/node_modules/@anush008/tokenizers" ] && command -v npm >/dev/null; then
  (mkdir -p "$HF_DIR" && cd "$HF_DIR" && npm install --silent --no-audit --no-fund @anush008/tokenizers@0.6.0 >/dev/null 2>&1) || true
fi
have_hf=0
[ -d "$HF_DIR/node_modules/@anush008/tokenizers" ] && have_hf=1

text_bytes() { LC_ALL=C awk -F'\t' '{n += length($0) - length($1) - 1} END {print n}' "$1"; }
# cpu_time CMD...: runs CMD, stdout to $OUT; sets CPU (user+sys) and WALL
cpu_time() {
  local t
  t=$( { /usr/bin/time -f '%U %S %e' "$@" > "$OUT"; } 2>&1 | tail -1)
  CPU=$(echo "$t" | awk '{printf "%.3f", $1 + $2}')
  WALL=$(echo "$t" | awk '{print $3}')
}
rate() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a / b}'; }

results=()
for input in tatoeba bitext; do
  IN=$D/$input.tsv
  bytes=$(text_bytes "$IN"); lines=$(wc -l < "$IN")
  for mode in cased lower; do
    if [ $mode = cased ]; then V=$MBERT; L=(); else V=$UNCASED; L=(--lower); fi
    OUT=$D/c.$input.$mode.rec; cpu_time bin/tokenize --vocab "$V" "${L[@]}" "$IN"
    c_cpu=$CPU; c_wall=$WALL
    bin/rec dump "$OUT" | jq -r '.id + "\t" + (.ids | map(tostring) | join(" "))' > "$D/c.$input.$mode.ids"
    ids=$(awk -F'\t' '{n += split($2, a, " ")} END {print n}' "$D/c.$input.$mode.ids")
    OUT=$D/py.$input.$mode.ids; cpu_time python3 bench/tokenize_ref.py "$V" "${L[@]}" < "$IN"
    py_cpu=$CPU; py_wall=$WALL
    py_diff=$(paste -d'\n' "$D/c.$input.$mode.ids" "$D/py.$input.$mode.ids" | paste - - | awk -F'\t' '$1 != $3 || $2 != $4' | wc -l)
    row="| $input | $mode | $lines | $(rate "$bytes" 1000000) | $(rate "$bytes" "$c_cpu" | awk '{printf "%.1f", $1 / 1e6}') | $(rate "$ids" "$c_cpu" | awk '{printf "%.2f", $1 / 1e6}') | ${c_cpu} (${c_wall}) | ${py_cpu} (${py_wall}) | $(rate "$py_cpu" "$c_cpu")x | $py_diff"
    if [ $have_hf = 1 ]; then
      OUT=$D/hf.$input.$mode.ids
      cpu_time env RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false NODE_PATH="$HF_DIR/node_modules" \
        HF_TIMING_FILE="$D/hf.timing" node bench/tokenize_hf.js "$V" "$IN" "${L[@]}"
      hf_cpu=$CPU; hf_wall=$WALL; hf_loop=$(awk '{printf "%.3f", $1}' "$D/hf.timing")
      hf_diff=$(paste -d'\n' "$D/c.$input.$mode.ids" "$OUT" | paste - - | awk -F'\t' '$1 != $3 || $2 != $4' | wc -l)
      row="$row | ${hf_cpu} (${hf_wall}) | ${hf_loop} | $(rate "$hf_loop" "$c_cpu")x | $hf_diff |"
    else
      row="$row | not installed | | | |"
    fi
    results+=("$row")
    echo "$row"
  done
done

# pair mode on the whole bitext folder of Tatoeba-Challenge (C only)
cat "$SHARED"/data/bitext/tatoeba-challenge/*.tsv > "$D/pairs.tsv"
pbytes=$(LC_ALL=C awk '{n += length($0)} END {print n}' "$D/pairs.tsv")
OUT=/dev/null; cpu_time bin/tokenize --pair --line-ids --vocab "$MBERT" "$D/pairs.tsv"
pair_row="bitext/tatoeba-challenge/*.tsv, all $(wc -l < "$D/pairs.tsv") pairs, $(rate "$pbytes" 1000000) MB: \`tokenize --pair --line-ids --vocab mbert\` ${CPU} s CPU (${WALL} s wall), $(rate "$pbytes" "$CPU" | awk '{printf "%.1f", $1 / 1e6}') MB/s"

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
{
  echo "# tokenize benchmark"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores, $cpu; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- command: \`bash bench/tokenize.sh\` (one thread each; CPU = user+sys seconds of the whole process, wall in parentheses)"
  echo "- MB/s and Mids/s: bin/tokenize, per CPU second of the whole process; Python/tokenize = ratio of whole-process CPU; HF loop = CPU of HF's tokenizing loop alone (encodeBatch + getIds, without node start-up, file reading and vocabulary set-up), and HF loop/tokenize compares it with tokenize's whole process (so it flatters HF); diff = lines whose ids differ from bin/tokenize's"
  echo "- peers: Python = bench/tokenize_ref.py (Google's rules re-stated, CPython $(python3 -c 'import sys, unicodedata; print(sys.version.split()[0], "unicodedata", unicodedata.unidata_version)')); HF = Hugging Face tokenizers 0.22 (Rust, napi build @anush008/tokenizers 0.6.0, node $(node --version 2>/dev/null || echo none)), BertNormalizer + BertPreTokenizer + WordPiece(max 200), encodeBatch of 2000, RAYON_NUM_THREADS=1"
  echo
  echo "| input | mode | lines | text MB | tokenize MB/s | tokenize Mids/s | tokenize CPU s | Python CPU s | Python/tokenize | diff | HF CPU s | HF loop CPU s | HF loop/tokenize | diff |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${results[@]}"
  echo
  echo "Pair mode: $pair_row"
} > bench/results/tokenize.md
rm -f "$D"/c.* "$D"/py.* "$D"/hf.* "$D/pairs.tsv"  # keep only the built inputs
cat bench/results/tokenize.md
