#!/usr/bin/env python3
"""tokenize_ref.py: a plain-Python re-statement of Google's BERT tokenizer
(google-research/bert tokenization.py: BasicTokenizer + WordpieceTokenizer),
the peer of bench/tokenize.sh and the oracle of the differential check in
bench/tokenize-fuzz.py. No PyPI here, so the reference itself (which imports
tensorflow) cannot be installed; this follows its rules step by step, using
CPython's unicodedata and str methods as the reference does.

Usage: tokenize_ref.py VOCAB [--lower] [--max-word-len N] [--pieces] < id<TAB>text
Prints `id<TAB>ids` (space-separated) per line, or the pieces with --pieces.
"""
import sys
import unicodedata


def load_vocab(path):
    vocab = {}
    with open(path, encoding="utf-8", newline="\n") as f:
        for index, line in enumerate(f):
            vocab[line.strip()] = index
    return vocab


def is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text, lower):
    cleaned = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or is_control(ch):
            continue
        cleaned.append(" " if is_whitespace(ch) else ch)
    spaced = []
    for ch in cleaned:
        if is_cjk(ord(ch)):
            spaced += [" ", ch, " "]
        else:
            spaced.append(ch)
    words = []
    for token in "".join(spaced).split():
        if lower:
            token = token.lower()
            token = "".join(c for c in unicodedata.normalize("NFD", token) if unicodedata.category(c) != "Mn")
        current = []
        for ch in token:
            if is_punctuation(ch):
                if current:
                    words.append("".join(current))
                    current = []
                words.append(ch)
            else:
                current.append(ch)
        if current:
            words.append("".join(current))
    return " ".join(words).split()


def wordpiece(word, vocab, max_chars):
    if len(word) > max_chars:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while start < end:
            sub = word[start:end]
            if start > 0:
                sub = "##" + sub
            if sub in vocab:
                found = sub
                break
            end -= 1
        if found is None:
            return ["[UNK]"]
        pieces.append(found)
        start = end
    return pieces


def main():
    args = sys.argv[1:]
    lower = "--lower" in args
    as_pieces = "--pieces" in args
    max_chars = 200
    if "--max-word-len" in args:
        max_chars = int(args[args.index("--max-word-len") + 1])
    vocab = load_vocab(args[0])
    out = sys.stdout
    for line in sys.stdin.buffer:
        line = line.rstrip(b"\n").decode("utf-8")
        ident, text = line.split("\t", 1)
        pieces = ["[CLS]"]
        for w in basic_tokenize(text, lower):
            pieces += wordpiece(w, vocab, max_chars)
        pieces.append("[SEP]")
        if as_pieces:
            out.write(ident + "\t" + " ".join(pieces) + "\n")
        else:
            out.write(ident + "\t" + " ".join(str(vocab[p]) for p in pieces) + "\n")


if __name__ == "__main__":
    main()
