#!/usr/bin/env bash
# prep-bitext.sh LANG: the training bitext and dictionary of one language.
#
# Gathers every folder under bitext/ that has LANG (the stems per folder are
# columns of pipelines/langs.tsv, since the folders disagree on codes: swa vs
# swh, zho_Hans vs cmn, fil vs tgl, 2-letter tico19 codes, nusax column names),
# in this order: tatoeba-challenge, bible-nt, tico19, ntrex128, nusax (train,
# valid and test CSVs: none of them is one of our evaluation sets).
# Then, in one pass:
#   - text is whitespace-normalised (runs of space/tab -> one space, trimmed);
#   - a pair with an empty side is dropped;
#   - a pair is dropped when either side equals (after normalisation) any
#     sentence of any evaluation set (WORK/data/eval-keys.txt, prep-eval.sh);
#   - exact duplicate pairs are dropped (the first occurrence stays).
# Output:
#   WORK/data/bitext/LANG.tsv.zst   ID<TAB>X<TAB>ENGLISH, ID = SOURCE:KEY
#   WORK/data/bitext/LANG.stats     per source: pairs read; dropped as empty,
#                                   X side in an evaluation set, English side
#                                   (only) in one, duplicate; kept
#   WORK/data/dict/LANG.tsv         X<TAB>ENGLISH word pairs (MUSE train split
#                                   or FreeDict), absent if the language has none
. "$(dirname "$0")/lib.sh"
L=${1:?usage: prep-bitext.sh LANG}
stage_begin prep-bitext "$L"

B=$OTCLIR_DATA/bitext
out=$WORK/data/bitext/$L.tsv.zst
stats=$WORK/data/bitext/$L.stats
keys=$WORK/data/eval-keys.txt
tc=$(langs_field "$L" tatoeba_challenge)
nt=$(langs_field "$L" ntrex)
ti=$(langs_field "$L" tico)
bi=$(langs_field "$L" bible)
nu=$(langs_field "$L" nusax)
dict=$(langs_field "$L" dict)

srcs=()
if [ "$tc" != - ]; then
  IFS=, read -r -a stems <<< "$tc"
  for s in "${stems[@]}"; do srcs+=("$B/tatoeba-challenge/$s-eng.tsv"); done
fi
[ "$bi" = - ] || srcs+=("$B/bible-nt/$bi-eng.tsv")
[ "$ti" = - ] || srcs+=("$B/tico19/en-$ti/tico19-test.$ti" "$B/tico19/en-$ti/tico19-test.en")
[ "$nt" = - ] || srcs+=("$B/ntrex128/newstest2019-ref.$nt.txt" "$B/ntrex128/newstest2019-src.eng.txt")
[ "$nu" = - ] || srcs+=("$B"/nusax/{train,valid,test}.csv)
[ ${#srcs[@]} -gt 0 ] || fail "no bitext source in langs.tsv"
for f in "${srcs[@]}"; do [ -f "$f" ] || fail "bitext source $f is missing from the mirror"; done

# one stream of SOURCE:KEY<TAB>X<TAB>ENGLISH from every source, in a fixed order
gather() {
  local s f
  if [ "$tc" != - ]; then
    for s in "${stems[@]}"; do
      f=$B/tatoeba-challenge/$s-eng.tsv
      tr -d '\r' < "$f" | awk -F'\t' -v p="tc.$s:" 'NF >= 2 { print p NR "\t" $1 "\t" $2 }'
    done
  fi
  if [ "$bi" != - ]; then
    tr -d '\r' < "$B/bible-nt/$bi-eng.tsv" | awk -F'\t' 'NF >= 3 { print "bible:" $1 "\t" $2 "\t" $3 }'
  fi
  if [ "$ti" != - ]; then
    paste "$B/tico19/en-$ti/tico19-test.$ti" "$B/tico19/en-$ti/tico19-test.en" |
      tr -d '\r' | awk -F'\t' '{ print "tico:" NR "\t" $1 "\t" $2 }'
  fi
  if [ "$nt" != - ]; then
    paste "$B/ntrex128/newstest2019-ref.$nt.txt" "$B/ntrex128/newstest2019-src.eng.txt" |
      tr -d '\r' | awk -F'\t' '{ print "ntrex:" NR "\t" $1 "\t" $2 }'
  fi
  if [ "$nu" != - ]; then
    # CSV with quoted fields and line breaks inside them: csv-columns.awk
    local sp
    for sp in train valid test; do
      gawk -f "$PIPE/csv-columns.awk" -v cols="$nu,english" -v prefix="nusax.$sp" "$B/nusax/$sp.csv"
    done
  fi
}

# the sources' line counts must agree where files are line-aligned
check_aligned() {
  local a=$1 b=$2 na nb
  na=$(wc -l < "$a") nb=$(wc -l < "$b")
  [ "$na" -eq "$nb" ] || fail "$a ($na lines) and $b ($nb lines) are not line-aligned"
}
[ "$ti" = - ] || check_aligned "$B/tico19/en-$ti/tico19-test.$ti" "$B/tico19/en-$ti/tico19-test.en"
[ "$nt" = - ] || check_aligned "$B/ntrex128/newstest2019-ref.$nt.txt" "$B/ntrex128/newstest2019-src.eng.txt"

if ! skip_if_fresh "$out" "$stats" -- "${srcs[@]}" "$keys" "$LANGS_TSV" "$0" "$PIPE/csv-columns.awk"; then
  gather | awk -F'\t' -v keys="$keys" -v stats="$(tmp "$stats")" '
    function norm(s) { gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s }
    BEGIN { while ((getline k < keys) > 0) ev[k] = 1; close(keys) }
    {
      src = $1; sub(/:.*/, "", src)
      if (!(src in nread)) order[++nsrc] = src
      nread[src]++
      x = norm($2); e = norm($3)
      if (x == "" || e == "") { empty[src]++; next }
      if (x in ev) { evx[src]++; next }
      if (e in ev) { eve[src]++; next }
      k = x "\t" e
      if (k in seen) { dup[src]++; next }
      seen[k] = 1; kept[src]++
      print $1 "\t" x "\t" e
    }
    END {
      print "source\tread\tempty\teval_x\teval_eng\tduplicate\tkept" > stats
      for (i = 1; i <= nsrc; i++) {
        s = order[i]
        printf "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", s, nread[s], empty[s], evx[s], eve[s], dup[s], kept[s] > stats
        t[1] += nread[s]; t[2] += empty[s]; t[3] += evx[s]; t[4] += eve[s]; t[5] += dup[s]; t[6] += kept[s]
      }
      printf "total\t%d\t%d\t%d\t%d\t%d\t%d\n", t[1], t[2], t[3], t[4], t[5], t[6] > stats
    }' | zst > "$(tmp "$out")"
  publish "$stats" "$out"
  say "bitext: $(awk -F'\t' '$1 == "total" { printf "%d read, %d kept; dropped: %d X side and %d English side in an evaluation set, %d duplicates, %d empty", $2, $7, $4, $5, $6, $3 }' "$stats")"
fi

# ---- dictionary (system 2 and code-switching)
dout=$WORK/data/dict/$L.tsv
case $dict in
  -) rm -f "$dout" ;;
  muse:*) dsrc=$OTCLIR_DATA/dict/muse/${dict#muse:}-en.0-5000.txt ;;
  freedict:*) dsrc=$OTCLIR_DATA/dict/freedict/${dict#freedict:} ;;
  freedict-rev:*) dsrc=$OTCLIR_DATA/dict/freedict/${dict#freedict-rev:} ;;
  *) fail "unknown dict spec '$dict' in langs.tsv" ;;
esac
if [ "$dict" != - ] && ! skip_if_fresh "$dout" -- "$dsrc" "$LANGS_TSV" "$0"; then
  rev=0
  case $dict in freedict-rev:*) rev=1 ;; esac
  # MUSE separates with a space or a tab, FreeDict with a tab (translations
  # may contain spaces): split at the first tab, else the first space.
  tr -d '\r' < "$dsrc" | awk -v rev="$rev" '
    { i = index($0, "\t"); if (!i) i = index($0, " "); if (!i) next
      a = substr($0, 1, i - 1); b = substr($0, i + 1)
      if (a == "" || b == "") next
      if (rev) { t = a; a = b; b = t }
      if (!((a "\t" b) in seen)) { seen[a "\t" b] = 1; print a "\t" b } }' > "$(tmp "$dout")"
  publish "$dout"
  say "dictionary: $(wc -l < "$dout") word pairs from $dict"
fi
