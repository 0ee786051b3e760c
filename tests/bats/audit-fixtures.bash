# Small valid inputs for every otclir program, shared by conventions.bats and
# badinput.bats (audit area). audit_make_inputs DIR writes into DIR:
#   bi.tsv     40 German-English pairs (id<TAB>de<TAB>en) from the mirror
#   text.txt   id<TAB>text lines (the German side)
#   voc/       vocabulary pruned from bi.tsv (tokenize --prune-vocab)
#   model/     a tiny BERT (hidden 8, 1 layer) made by embed --init
#   t.rec      text records        tok.rec   tokens (tokenize)
#   vec.rec    vectors (embed)     pair.rec  pair records with src/tgt text, ids, vecs
#   run.rec    run records (rank)  qrels     TREC qrels: qK is relevant to qK
# and the verdict helpers: a test collects failures with flunk and ends with
# verdict; failures listed in the file's KNOWN_BUGS (key PROG:CHECK, value the
# reason, "... (reported to AREA)") make it skip instead, other ones fail it.
audit_make_inputs() {
  local T=$1
  head -40 "$SHARED/data/bitext/tatoeba-challenge/deu-eng.tsv" |
    awk -F'\t' '{printf "q%d\t%s\t%s\n", NR, $1, $2}' >"$T/bi.tsv"
  cut -f1,2 "$T/bi.tsv" >"$T/text.txt"
  tokenize --prune-vocab "$T/voc" --vocab "$SHARED/data/vocab/mbert-cased/vocab.txt" --pair "$T/bi.tsv" 2>/dev/null
  printf '{"vocab_size": %d, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 128, "type_vocab_size": 2, "hidden_act": "gelu"}\n' \
    "$(wc -l <"$T/voc/vocab.txt")" >"$T/tiny.json"
  embed --init "$T/tiny.json" --vocab "$T/voc/vocab.txt" --seed 1 --out "$T/model"
  awk -F'\t' -v OFS='\t' '{print $1, "de", $2}' "$T/text.txt" | rec from-tsv >"$T/t.rec"
  tokenize --vocab "$T/voc/vocab.txt" "$T/t.rec" >"$T/tok.rec"
  embed --model "$T/model" --threads 1 "$T/tok.rec" >"$T/vec.rec"
  tokenize --pair --keep-text --vocab "$T/voc/vocab.txt" "$T/bi.tsv" |
    embed --model "$T/model" --side src --threads 1 |
    embed --model "$T/model" --side tgt --threads 1 >"$T/pair.rec"
  rank --docs "$T/vec.rec" -k 5 --threads 1 <"$T/vec.rec" >"$T/run.rec"
  awk -F'\t' '{print $1, 0, $1, 1}' "$T/text.txt" >"$T/qrels"
}

# Record a failure of PROG on CHECK; known ones go to KNOWN.
# (setup must start each test with FAILS=() KNOWN=().)
flunk() { # PROG CHECK MESSAGE
  if [ -n "${KNOWN_BUGS[$1:$2]:-}" ]; then
    KNOWN+=("$1: ${KNOWN_BUGS[$1:$2]}")
  else
    FAILS+=("$1: $3")
  fi
}

verdict() {
  if [ "${#FAILS[@]}" -gt 0 ]; then
    printf '%s\n' "${FAILS[@]}" >&2
    return 1
  fi
  if [ "${#KNOWN[@]}" -gt 0 ]; then
    skip "known bug: $(printf '%s; ' "${KNOWN[@]}")"
  fi
}


# Streams whose record type has a builtin name but another layout, written
# from schema files (a stream is self-describing, so anyone can write these):
#   fake.vec-f64     vectors with vecs f64          fake.vec-rows  vectors with 3 ids, 2 vec rows
#   fake.vec-novecs  vectors without vecs           fake.pair-swapped  pair with src_vecs [m][d], tgt_vecs [n][d]
#   fake.tok-i32     tokens with ids i32            fake.run-u32   run with docid u32
#   fake.text-u32    text with text u32             fake.tok-extra tokens plus a field 'source' (valid)
audit_fake_schemas() {
  local T=$1 e='[1,0,0,0,0,0,0,0]' f='[0,1,0,0,0,0,0,0]' g='[0,0,1,0,0,0,0,0]'
  printf '%s\n' 'record: vectors' 'dims: {n: record, d: stream}' 'fields:' '  - {name: id, type: str}' \
    '  - {name: ids, type: u32, shape: [n]}' '  - {name: vecs, type: f64, shape: [n, d]}' >"$T/vec-f64.yaml"
  printf '%s\n' 'record: vectors' 'dims: {n: record, m: record, d: stream}' 'fields:' '  - {name: id, type: str}' \
    '  - {name: ids, type: u32, shape: [n]}' '  - {name: vecs, type: f32, shape: [m, d]}' >"$T/vec-rows.yaml"
  printf '%s\n' 'record: vectors' 'dims: {n: record}' 'fields:' '  - {name: id, type: str}' \
    '  - {name: ids, type: u32, shape: [n]}' >"$T/vec-novecs.yaml"
  printf '%s\n' 'record: pair' 'dims: {n: record, m: record, d: stream}' 'fields:' '  - {name: id, type: str}' \
    '  - {name: src_lang, type: str}' '  - {name: tgt_lang, type: str}' \
    '  - {name: src_ids, type: u32, shape: [n]}' '  - {name: tgt_ids, type: u32, shape: [m]}' \
    '  - {name: src_vecs, type: f32, shape: [m, d]}' '  - {name: tgt_vecs, type: f32, shape: [n, d]}' >"$T/pair-swapped.yaml"
  printf '%s\n' 'record: tokens' 'dims: {n: record}' 'fields:' '  - {name: id, type: str}' \
    '  - {name: ids, type: i32, shape: [n]}' >"$T/tok-i32.yaml"
  printf '%s\n' 'record: run' 'dims: {}' 'fields:' '  - {name: qid, type: str}' '  - {name: docid, type: u32}' \
    '  - {name: rank, type: u32}' '  - {name: score, type: f64}' >"$T/run-u32.yaml"
  printf '%s\n' 'record: text' 'dims: {}' 'fields:' '  - {name: id, type: str}' '  - {name: lang, type: str}' \
    '  - {name: text, type: u32}' >"$T/text-u32.yaml"
  # and one that is fine: a builtin layout plus a field of its own
  printf '%s\n' 'record: tokens' 'dims: {n: record}' 'fields:' '  - {name: id, type: str}' \
    '  - {name: ids, type: u32, shape: [n]}' '  - {name: source, type: str}' >"$T/tok-extra.yaml"
  echo '{"id":"x","ids":[2,5,3],"source":"audit"}' | rec encode --schema "$T/tok-extra.yaml" >"$T/fake.tok-extra"
  echo "{\"id\":\"x\",\"ids\":[1,2],\"vecs\":[$e,$f]}" | rec encode --schema "$T/vec-f64.yaml" >"$T/fake.vec-f64"
  echo "{\"id\":\"x\",\"ids\":[1,2,3],\"vecs\":[$e,$f]}" | rec encode --schema "$T/vec-rows.yaml" >"$T/fake.vec-rows"
  echo '{"id":"x","ids":[1,2]}' | rec encode --schema "$T/vec-novecs.yaml" >"$T/fake.vec-novecs"
  echo "{\"id\":\"x\",\"src_lang\":\"de\",\"tgt_lang\":\"en\",\"src_ids\":[2,5,3],\"tgt_ids\":[2,3],\"src_vecs\":[$e,$f],\"tgt_vecs\":[$e,$f,$g]}" |
    rec encode --schema "$T/pair-swapped.yaml" >"$T/fake.pair-swapped"
  echo '{"id":"x","ids":[2,5,3]}' | rec encode --schema "$T/tok-i32.yaml" >"$T/fake.tok-i32"
  echo '{"qid":"q1","docid":7,"rank":1,"score":0.5}' | rec encode --schema "$T/run-u32.yaml" >"$T/fake.run-u32"
  echo '{"id":"x","lang":"de","text":5}' | rec encode --schema "$T/text-u32.yaml" >"$T/fake.text-u32"
}
