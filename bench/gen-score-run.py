#!/usr/bin/env python3
"""Make a synthetic TREC run and qrels for bench/score.sh.

Usage: gen-score-run.py OUTDIR [--topics 1000] [--depth 1000] [--seed 7]

OUTDIR/run: TOPICS x DEPTH lines `qid Q0 docid rank score tag` (scores with
17 significant digits, some ties); OUTDIR/qrels: about 300 judgements per
topic, grades 0-3 and a few negative, half of them on retrieved documents.
"""
import argparse
import os
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--topics", type=int, default=1000)
    ap.add_argument("--depth", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    os.makedirs(a.outdir, exist_ok=True)
    with open(os.path.join(a.outdir, "run"), "w") as run, open(os.path.join(a.outdir, "qrels"), "w") as qrels:
        for t in range(a.topics):
            qid = str(301 + t)
            docs = rnd.sample(range(5_000_000), a.depth + 150)
            ret, extra = docs[:a.depth], docs[a.depth:]
            score = 30.0
            lines = []
            for r, d in enumerate(ret):
                if rnd.random() > 0.05:  # 5% ties with the previous score
                    score -= rnd.random() * 0.05
                lines.append(f"{qid} Q0 DOC{d:07d} {r + 1} {score:.17g} bench\n")
            run.writelines(lines)
            judged = rnd.sample(ret, 150) + extra
            for d in judged:
                g = rnd.choice((0, 0, 0, 1, 1, 2, 3, -1)) 
                qrels.write(f"{qid} 0 DOC{d:07d} {g}\n")


if __name__ == "__main__":
    main()
