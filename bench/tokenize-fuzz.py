#!/usr/bin/env python3
"""tokenize-fuzz.py: differential check of bin/tokenize against the Python
re-statement of Google's tokenizer (bench/tokenize_ref.py) on random text
built from the characters the rules treat specially, plus random assigned
code points. Not part of `make test` (it needs minutes, not seconds).

Usage: bench/tokenize-fuzz.py [LINES] [SEED]   (from the project root;
$TOKENIZE names the program, default bin/tokenize, e.g. build/asan/bin/tokenize)
Exit 1 on any difference, printing the first ones."""
import os, random, subprocess, sys, unicodedata

n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
shared = os.environ.get("OTCLIR_SHARED", "../shared")
prog = os.environ.get("TOKENIZE", "bin/tokenize")
special = ("a b c x Z ab ing un ##  . , ' - ! ? $ + < = > ^ | ~ ` [ ] # ( ) \" \u00bf \u2014 \u00ab \u00bb "
           "\u0391 \u03a3 \u03c3 \u03b1 \u0392 \u0130 I i \u0307 \u0301 \u0300 \u0323 \u0345 \u00c9 \u00e9 "
           "\ud55c \uac00 \u30ac \u30ab \u3099 \u4e00 \u9fff \u3400 \U00020000 \U0002a700 \U0002ceb0 \U00030000 "
           "\uf900 \ufa6d \U0002f800 \u212b \u00c5 \u0915 \u094d \u093e \u093c \ufe0f \u034f \u200d \u200b "
           "\u00ad \ufeff \u200e \u180e \u00a0 \u3000 \u1680 \u2028 \u2029 \u0085 \x0b \x0c \x1c \x1f \x01 \x7f "
           "\u0000 \ufffd \r \u20ac \u00a9 \U0001f600 \u2f00 \u1d165 \U0001d165 \U0001d16e \u0f71 \u0f72 \u0f80 "
           "\u1e9e \u00df \ufb01 \u0149 \u1f88 \u03a3\u0301").split(" ")
special += [" ", " ", "\t", "  "]
assigned = [c for c in range(0x20, 0x30000) if not 0xD800 <= c < 0xE000
            and unicodedata.category(chr(c)) != "Cn" and c not in (9, 10)]

def rand_text():
    parts = []
    for _ in range(rng.randint(0, 30)):
        r = rng.random()
        if r < 0.6:
            parts.append(rng.choice(special))
        elif r < 0.8:
            parts.append(chr(rng.choice(assigned)))
        elif r < 0.82:
            parts.append(rng.choice("ab\u00e9\u03a3") * rng.choice([199, 200, 201]))
        else:
            parts.append(" ")
    return "".join(parts).replace("\t", " ").replace("\n", " ")

lines = "".join(f"f{i}\t{rand_text()}\n" for i in range(n)).encode("utf-8", "surrogatepass")
bad = 0
for mode, voc, flag in (("cased", "mbert-cased", []), ("lower", "bert-base-uncased", ["--lower"])):
    v = f"{shared}/data/vocab/{voc}/vocab.txt"
    ref = subprocess.run([sys.executable, "bench/tokenize_ref.py", v, "--pieces"] + flag, input=lines,
                         capture_output=True, check=True).stdout.decode().split("\n")
    rec = subprocess.run([prog, "--vocab", v] + flag, input=lines, capture_output=True, check=True).stdout
    got = subprocess.run([prog, "--decode", "--vocab", v], input=rec, capture_output=True,
                         check=True).stdout.decode().split("\n")
    diff = [(r, g) for r, g in zip(ref, got) if r != g]
    print(f"{mode}: {len(ref) - 1} lines, {len(diff)} differences")
    for r, g in diff[:3]:
        print("  ref:", ascii(r), "\n  got:", ascii(g))
    bad += len(diff) + (len(ref) != len(got))
sys.exit(1 if bad else 0)
