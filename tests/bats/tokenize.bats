#!/usr/bin/env bats
# tokenize: the reference fixtures through the program, each rule, bad input.
load common

setup() {
  MBERT=$SHARED/data/vocab/mbert-cased/vocab.txt
  UNCASED=$SHARED/data/vocab/bert-base-uncased/vocab.txt
  FIX=$SHARED/fixtures/tokenize
  T=$BATS_TEST_TMPDIR
}

# pieces of one text: [CLS] ... [SEP]
pieces() { # VOCAB [OPTIONS...] with the text on stdin (without id)
  local v=$1; shift
  sed 's/^/x\t/' | tokenize --vocab "$v" "$@" | tokenize --decode --vocab "$v" | cut -f2-
}
export -f pieces

@test "--help prints the manual, --version the version" {
  run tokenize --help
  assert_success
  assert_output --partial "Usage:"
  assert_output --partial "--prune-vocab OUTDIR"
  assert_output --partial "Exit status"
  run tokenize --version
  assert_success
  assert_output --partial "otclir"
}

@test "bad usage exits 2" {
  run tokenize --no-such-option
  assert_failure 2
  run tokenize
  assert_failure 2
  assert_output --partial "no vocabulary"
  run tokenize --vocab "$MBERT" --max-len 1
  assert_failure 2
  run tokenize --vocab "$MBERT" --keep-text
  assert_failure 2
}

@test "fixture: cased mBERT ids match the reference, 1100 lines" {
  tokenize --vocab "$MBERT" < "$FIX/input.tsv" | rec dump | jq -c '[.id, .ids]' > "$T/got"
  jq -c '[.id, .ids]' "$FIX/expected.cased.jsonl" > "$T/want"
  [ "$(wc -l < "$T/got")" -eq 1100 ]
  cmp "$T/got" "$T/want"
}

@test "fixture: --lower with the uncased vocabulary matches, 1100 lines" {
  tokenize --lower --model "$SHARED/data/vocab/bert-base-uncased" < "$FIX/input.tsv" | rec dump | jq -c '[.id, .ids]' > "$T/got"
  jq -c '[.id, .ids]' "$FIX/expected.lower.jsonl" > "$T/want"
  [ "$(wc -l < "$T/got")" -eq 1100 ]
  cmp "$T/got" "$T/want"
}

@test "stream metadata: vocab sha256, special ids, lower flag, producer" {
  run bash -c "printf 'a\thello\n' | tokenize --vocab '$MBERT' | rec schema"
  assert_success
  assert_output --partial "vocab: fe0fda7c425b48c516fc8f160d594c8022a0808447475c1a7c6d6479763f310c"
  assert_output --partial 'special_ids: "101,102"'
  assert_output --partial "lower: 0"
  assert_output --partial "producer: tokenize"
}

@test "empty text gives [CLS] [SEP]; whitespace-only too" {
  run bash -c "printf 'a\t\nb\t \t\r\n' | tokenize --vocab '$MBERT' | rec dump | jq -c .ids"
  assert_success
  assert_output $'[101,102]\n[101,102]'
}

@test "control and format characters are dropped and join their neighbours" {
  run bash -c "printf 'Ham\x0bburg Ham\xc2\xadburg Ham\xe2\x80\x8bburg Ham\xef\xbb\xbfburg Ham\xef\xbf\xbdburg\n' | pieces '$MBERT'"
  assert_output "[CLS] Hamburg Hamburg Hamburg Hamburg Hamburg [SEP]"
}

@test "Zs, TAB, CR and U+2028 separate words" {
  run bash -c "printf 'the\xc2\xa0the the\xe3\x80\x80the the\tthe the\rthe the\xe2\x80\xa8the\n' | pieces '$MBERT'"
  assert_output "[CLS] the the the the the the the the the the [SEP]"
}

@test "CJK ideographs are words of their own, including plane 2; kana is not split" {
  run bash -c "printf '\xe4\xb8\xad\xe6\x96\x87 \xf0\xa0\x80\x80x \xe3\x81\x82\xe3\x82\x8a\n' | pieces '$MBERT'"
  assert_output "[CLS] 中 文 [UNK] x あり [SEP]"
}

@test "punctuation: P* and the ASCII symbol ranges split, other symbols do not" {
  run bash -c "printf 'a+b a~b \xc2\xbfa\xc2\xbb 5\xe2\x82\xac\n' | pieces '$MBERT'"
  assert_output "[CLS] a + b a ~ b ¿ a » 5 ##€ [SEP]"
}

@test "[CLS] in the text is ordinary text" {
  run bash -c "printf '[CLS] ##\n' | pieces '$MBERT'"
  assert_output "[CLS] [ CL ##S ] # # [SEP]"
}

@test "--lower: U+0130, final sigma, accents, Hangul" {
  run bash -c "printf '\xc4\xb0STANBUL \xce\x9f\xce\x94\xce\x9f\xce\xa3 CAF\xc3\x89 CAFE\xcc\x81\n' | pieces '$UNCASED' --lower"
  assert_output "[CLS] istanbul ο ##δ ##ος cafe cafe [SEP]"
  # cased mode keeps composed and decomposed text apart
  run bash -c "printf 'caf\xc3\xa9 cafe\xcc\x81\n' | pieces '$MBERT'"
  assert_output "[CLS] café ca ##fe ##́ [SEP]"
}

@test "a word of more than 200 code points is [UNK]; --max-word-len changes the limit" {
  w200=$(printf 'a%.0s' $(seq 200))
  # 200 code points: 100 pieces "aa ##aa ..."
  run bash -c "printf '%s\n' $w200 | pieces '$MBERT' | wc -w"
  assert_output 102
  run bash -c "printf '%sa\n' $w200 | pieces '$MBERT'"
  assert_output "[CLS] [UNK] [SEP]"
  # code points, not bytes: 200 x U+00E9 (400 bytes) is not [UNK]
  run bash -c "printf '\xc3\xa9%.0s' \$(seq 200) | pieces '$MBERT' | grep -c UNK"
  assert_output 0
  run bash -c "printf 'abcd\n' | pieces '$MBERT' --max-word-len 3"
  assert_output "[CLS] [UNK] [SEP]"
}

@test "a word with a part that matches nothing is one [UNK]" {
  run bash -c "printf 'ok \xe1\x8a\xa0\xe1\x88\x9b\xe1\x88\xad\xe1\x8a\x9b ok\n' | pieces '$MBERT'"
  assert_output "[CLS] ok [UNK] ok [SEP]"
}

@test "--max-len truncates, [CLS] and [SEP] included" {
  run bash -c "printf 'a\tone two three four\n' | tokenize --vocab '$MBERT' --max-len 4 | rec dump | jq -c .ids"
  assert_output "[101,10464,10551,102]"
}

@test "--offsets are byte spans in the original text" {
  run bash -c "printf 'a\t\xc3\xa9t\xc3\xa9, x\n' | tokenize --vocab '$MBERT' --offsets | rec dump | jq -c .offsets"
  assert_success
  assert_output --regexp '^\[\[0,0\],\[0,5\],\[5,6\],\[7,8\],\[0,0\]\]$'
}

@test "--lang-column, --lang and --line-ids" {
  run bash -c "printf 'i1\tdeu\tHallo\n' | tokenize --vocab '$MBERT' --lang-column | rec dump | jq -c '[.id,.lang]'"
  assert_output '["i1","deu"]'
  run bash -c "printf 'Hallo\nWelt\n' | tokenize --vocab '$MBERT' --line-ids --lang deu | rec dump | jq -c '[.id,.lang]'"
  assert_output $'["1","deu"]\n["2","deu"]'
}

@test "text records as input" {
  printf 't1\tdeu\tHallo Welt\n' | rec from-tsv > "$T/text.rec"
  run bash -c "tokenize --vocab '$MBERT' < '$T/text.rec' | tokenize --decode --vocab '$MBERT'"
  assert_success
  assert_output $'t1\t[CLS] Hall ##o Welt [SEP]'
  # through a pipe (not seekable) and from a file argument
  run bash -c "cat '$T/text.rec' | tokenize --vocab '$MBERT' | rec dump | jq -c '[.id,.lang]'"
  assert_output '["t1","deu"]'
  run bash -c "tokenize --vocab '$MBERT' '$T/text.rec' | rec count"
  assert_output 1
}

@test "--pair: TSV and two files, --keep-text, languages" {
  run bash -c "printf 'p1\tHallo\tHello\n' | tokenize --pair --src-lang deu --tgt-lang eng --keep-text --vocab '$MBERT' | rec dump | jq -c '[.id,.src_lang,.tgt_lang,.src_ids,.tgt_ids,.src_text,.tgt_text]'"
  assert_output '["p1","deu","eng",[101,11763,10133,102],[101,31178,102],"Hallo","Hello"]'
  # CRLF: the CR is not part of the stored text
  run bash -c "printf 'p1\tHallo\tHello\r\n' | tokenize --pair --keep-text --vocab '$MBERT' | rec dump | jq -c .tgt_text"
  assert_output '"Hello"'
  printf 'Hallo\nWelt\n' > "$T/s"; printf 'Hello\nworld\n' > "$T/t"
  run bash -c "tokenize --pair --vocab '$MBERT' '$T/s' '$T/t' | tokenize --decode --vocab '$MBERT'"
  assert_output $'1\t[CLS] Hall ##o [SEP]\t[CLS] Hello [SEP]\n2\t[CLS] Welt [SEP]\t[CLS] world [SEP]'
  printf 'x\n' >> "$T/t"
  run tokenize --pair --vocab "$MBERT" "$T/s" "$T/t"
  assert_failure 1
  assert_output --partial "more lines"
}

@test "--pair with a vocabulary per side" {
  run bash -c "printf 'p\tHallo\tHello\n' | tokenize --pair --src-vocab '$MBERT' --tgt-vocab '$UNCASED' --lower | rec dump | jq -c '[.src_ids,.tgt_ids]'"
  assert_output '[[101,21007,10133,102],[101,7592,102]]'
}

@test "invalid UTF-8 is an error naming the line; --replace drops it" {
  run bash -c "printf 'a\tok\nb\tfo\xffo\n' | tokenize --vocab '$MBERT' > /dev/null"
  assert_failure 1
  assert_output --partial "line 2"
  assert_output --partial "invalid UTF-8"
  run bash -c "printf 'fo\xffo\n' | pieces '$MBERT' --replace"
  assert_output "[CLS] f ##oo [SEP]"
  run bash -c "printf 'p\tfo\xffo\tok\n' | tokenize --pair --keep-text --replace --vocab '$MBERT' | rec dump | jq -r .src_text"
  assert_output "fo�o"
  run bash -c "printf 'p\xff\ttext\n' | tokenize --replace --vocab '$MBERT' > /dev/null"
  assert_failure 1
  assert_output --partial "invalid UTF-8 in the id"
}

@test "bad TSV lines: empty id, missing TAB" {
  run bash -c "printf 'a\tok\n\tno id\n' | tokenize --vocab '$MBERT' > /dev/null"
  assert_failure 1
  assert_output --partial "line 2: empty id"
  run bash -c "printf 'no tab here\n' | tokenize --vocab '$MBERT' > /dev/null"
  assert_failure 1
  assert_output --partial "line 1"
  run bash -c "printf 'a\tb\n' | tokenize --pair --vocab '$MBERT' > /dev/null"
  assert_failure 1
  assert_output --partial "line 1"
  run bash -c "printf 'ok\tx\na\\0b\tx\n' | tokenize --vocab '$MBERT' > /dev/null"
  assert_failure 1
  assert_output --partial "line 2: NUL byte in the id"
  # a NUL inside a text is dropped like any control character
  run bash -c "printf 'x\\0y\n' | pieces '$MBERT'"
  assert_output "[CLS] x ##y [SEP]"
}

@test "missing, malformed and incomplete vocabularies are errors" {
  run tokenize --vocab "$T/none.txt" < /dev/null
  assert_failure 1
  assert_output --partial "none.txt"
  : > "$T/empty.txt"
  run tokenize --vocab "$T/empty.txt" < /dev/null
  assert_failure 1
  assert_output --partial "empty vocabulary"
  printf '[UNK]\n[CLS]\n[SEP]\nb\xffad\n' > "$T/bad.txt"
  run tokenize --vocab "$T/bad.txt" < /dev/null
  assert_failure 1
  assert_output --partial "line 4: invalid UTF-8"
  for missing in UNK CLS SEP; do
    printf '[UNK]\n[CLS]\n[SEP]\nx\n' | grep -v "$missing" > "$T/v.txt"
    run tokenize --vocab "$T/v.txt" < /dev/null
    assert_failure 1
    assert_output --partial "no [$missing]"
  done
}

@test "--decode checks the vocabulary against the stream" {
  printf 'a\thello\n' | tokenize --vocab "$MBERT" > "$T/t.rec"
  run tokenize --decode --vocab "$UNCASED" "$T/t.rec"
  assert_failure 1
  assert_output --partial "sha256"
  run bash -c "printf 'a\thello\n' | tokenize --decode --vocab '$MBERT'"
  assert_failure 1
}

@test "--prune-vocab: the pruned vocabulary tokenizes its text as the full one" {
  cut -f1,2 "$FIX/input.tsv" > "$T/train.tsv"
  tokenize --vocab "$MBERT" --prune-vocab "$T/small" "$T/train.tsv"
  [ "$(head -5 "$T/small/vocab.txt" | tr '\n' ' ')" = "[PAD] [UNK] [CLS] [SEP] [MASK] " ]
  [ "$(wc -l < "$T/small/vocab.txt")" -eq "$(wc -l < "$T/small/idmap.tsv")" ]
  [ "$(wc -l < "$T/small/vocab.txt")" -lt 20000 ]
  # full ids mapped through idmap == ids with the pruned vocabulary
  tokenize --vocab "$MBERT" "$T/train.tsv" | rec dump | jq -c .ids > "$T/full"
  tokenize --vocab "$T/small/vocab.txt" "$T/train.tsv" | rec dump | jq -c .ids > "$T/small.ids"
  jq -nc --rawfile m "$T/small/idmap.tsv" '
    ($m | split("\n") | map(select(length > 0) | split("\t")) | map({key: .[0], value: (.[1] | tonumber)}) | from_entries) as $map
    | inputs | map($map[tostring])' "$T/full" > "$T/mapped"
  [ "$(wc -l < "$T/mapped")" -eq 1100 ]
  cmp "$T/mapped" "$T/small.ids"
}

@test "--zstd output, --model DIR without vocab.txt, --stats" {
  run bash -c "printf 'a\thello\n' | tokenize --zstd --vocab '$MBERT' | rec dump | jq -c .ids"
  assert_success
  assert_output "[101,61694,10133,102]"
  mkdir -p "$T/model"
  run tokenize --model "$T/model" < /dev/null
  assert_failure 1
  assert_output --partial "model/vocab.txt"
  run bash -c "printf 'a\thello\n' | tokenize --stats --vocab '$MBERT' 2>&1 >/dev/null"
  assert_success
  assert_output --regexp "1 texts, 5 bytes of text, 4 ids"
}

# ---- SentencePiece (XLM-R) ----
# tests/fixtures/spm: models trained by spm_train on mirror text of many
# scripts, ids of 2964 lines from spm_encode (gen.sh)

# XLM-R ids of a tokens stream back to spm ids, one line per record
spm_ids() { rec dump | jq -r '.ids[1:-1] | map(if . == 3 then 0 else . - 1 end | tostring) | join(" ")'; }

@test "--spm: ids equal spm_encode's on every fixture line (unigram and BPE), XLM-R layout" {
  SPM=$ROOT/tests/fixtures/spm
  for m in unigram bpe; do
    tokenize --spm "$SPM/$m.model" "$SPM/input.tsv" > "$T/$m.rec"
    [ "$(rec count "$T/$m.rec")" -eq 2964 ]
    spm_ids < "$T/$m.rec" > "$T/$m.ids"
    cmp "$T/$m.ids" "$SPM/expected.$m.txt"
    # every text is <s> ... </s>
    [ "$(rec dump "$T/$m.rec" | jq -c 'select(.ids[0] != 0 or .ids[-1] != 2)' | wc -l)" -eq 0 ]
  done
  run rec schema "$T/unigram.rec"
  assert_output --partial "vocab: $(sha256sum "$SPM/unigram.model" | cut -d' ' -f1)"
  assert_output --partial 'special_ids: "0,2"'
  assert_output --partial "tokenizer: sentencepiece-xlmr"
}

@test "--model DIR finds sentencepiece.bpe.model; offsets, --max-len, --decode" {
  mkdir -p "$T/xlmr"
  cp "$ROOT/tests/fixtures/spm/unigram.model" "$T/xlmr/sentencepiece.bpe.model"
  run bash -c "printf 'a\tHello world\n' | tokenize --model '$T/xlmr' --offsets | rec dump | jq -c '[.ids[0], .ids[-1], .offsets[0], .offsets[1][0], .offsets[-2][1]]'"
  assert_output "[0,2,[0,0],0,11]"
  run bash -c "printf 'a\tHello world\n' | tokenize --model '$T/xlmr' --max-len 3 | rec dump | jq -c '.ids | length'"
  assert_output 3
  run bash -c "printf 'a\tHello world\n' | tokenize --model '$T/xlmr' | tokenize --decode --model '$T/xlmr'"
  assert_output $'a\t<s> \xe2\x96\x81He l lo \xe2\x96\x81wo r l d </s>'
  # a WordPiece vocabulary cannot decode it
  run bash -c "printf 'a\tHello\n' | tokenize --model '$T/xlmr' | tokenize --decode --vocab '$MBERT'"
  assert_failure 1
  assert_output --partial "sha256"
}

@test "--pair with a SentencePiece source and a WordPiece target" {
  run bash -c "printf 'p\tHallo Welt\tHello\n' | tokenize --pair --src-spm '$ROOT/tests/fixtures/spm/unigram.model' --tgt-vocab '$MBERT' | rec schema"
  assert_output --partial "src_special_ids: \"0,2\""
  assert_output --partial "tgt_special_ids: \"101,102\""
  run bash -c "printf 'p\tHallo Welt\tHello\n' | tokenize --pair --src-spm '$ROOT/tests/fixtures/spm/unigram.model' --tgt-vocab '$MBERT' | rec dump | jq -c '[.src_ids[0], .tgt_ids]'"
  assert_output "[0,[101,31178,102]]"
}

@test "--prune-vocab with SentencePiece: the pruned model tokenizes its text as the full one" {
  SPM=$ROOT/tests/fixtures/spm
  head -600 "$SPM/input.tsv" > "$T/train.tsv"
  for m in unigram bpe; do
    tokenize --spm "$SPM/$m.model" --prune-vocab "$T/p$m" "$T/train.tsv"
    [ -s "$T/p$m/sentencepiece.bpe.model" ]
    full=$([ $m = unigram ] && echo 8002 || echo 4002) # pieces + <pad> and <mask>
    [ "$(wc -l < "$T/p$m/idmap.tsv")" -lt $((full * 2 / 3)) ]
    tokenize --spm "$SPM/$m.model" "$T/train.tsv" | rec dump | jq -c .ids > "$T/full"
    tokenize --model "$T/p$m" "$T/train.tsv" | rec dump | jq -c .ids > "$T/small.ids"
    jq -nc --rawfile m "$T/p$m/idmap.tsv" '
      ($m | split("\n") | map(select(length > 0) | split("\t")) | map({key: .[0], value: (.[1] | tonumber)}) | from_entries) as $map
      | inputs | map($map[tostring])' "$T/full" > "$T/mapped"
    [ "$(wc -l < "$T/mapped")" -eq 600 ]
    cmp "$T/mapped" "$T/small.ids"
  done
}

@test "SentencePiece: a damaged or foreign model is an error naming the file; --lower is refused" {
  SPM=$ROOT/tests/fixtures/spm
  head -c 5000 "$SPM/unigram.model" > "$T/cut.model"
  run tokenize --spm "$T/cut.model" < /dev/null
  assert_failure 1
  assert_output --partial "cut.model: not a SentencePiece model"
  run tokenize --spm "$SPM/t5layout.model" < /dev/null
  assert_failure 1
  assert_output --partial "t5layout.model"
  assert_output --partial "XLM-R's layout"
  run tokenize --spm "$SPM/unigram.model" --lower < /dev/null
  assert_failure 1
  assert_output --partial "lower-casing is for WordPiece"
}

@test "--prune-vocab never overwrites a model's vocabulary (issue 14)" {
  mkdir -p "$T/model"
  printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n' > "$T/model/vocab.txt"
  echo '{}' > "$T/model/config.json"
  cp "$T/model/vocab.txt" "$T/before"
  run bash -c "printf 'a\thello\n' | tokenize --vocab '$MBERT' --prune-vocab '$T/model'"
  assert_failure 1
  assert_output --partial "holds a model (config.json)"
  cmp "$T/before" "$T/model/vocab.txt"
  [ ! -e "$T/model/idmap.tsv" ]
}

@test "tokenize links libsentencepiece; rec, score and rank do not" {
  run ldd "$BIN/tokenize"
  assert_output --partial libsentencepiece
  for p in rec score rank; do
    run ldd "$BIN/$p"
    refute_output --partial libsentencepiece
    # (the sanitizer runtime brings libstdc++ into every program of that build)
    [ -n "${OTCLIR_SANITIZED:-}" ] || refute_output --partial libstdc++
  done
}
