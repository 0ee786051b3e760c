#!/usr/bin/env python3
"""Random differential test of `score` against trec_eval (its reference):
random judgements (all four -R formats; grades -1..4, ties, topics missing
from the run or from the judgements) and random runs, through both programs
with random options (-q -c -J -M -l, measure sets with parameters); with
--compat, scores such as nan, inf, 1e999 and 1.5abc too (score --compat).

A case agrees when both print the same bytes, or both refuse it (score then
prints nothing). A case with a topic judged only with negative grades runs
score with --compat (by default score deliberately counts no grades there,
where trec_eval reuses the previous topic's). Two trec_eval faults are not
compared (see
bench/results/score.md): rbp lines when yaap is computed just before rbp
(uninitialised variables), and prefs_avgjg_Rnonrel* lines (reads past an
array when a level is below 0).

Usage: score_ref.py TREC_EVAL SCORE [--cases N] [--seed S] [--compat] [--keep DIR]
Prints one line per disagreement and a summary `same S refused R different D`.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile


def make_case(rnd, compat):
    docs = ["d%d" % i for i in range(rnd.randint(2, 40))]
    fmt = rnd.choice(["qrels"] * 4 + ["qrels_jg", "prefs", "qrels_prefs"])
    rel, run = [], []
    for t in range(rnd.randint(1, 6)):
        qid = str(rnd.choice([1, 2, 10, 11, 3, 30]) * 7 + t)
        for d in rnd.sample(docs, rnd.randint(1, len(docs))):
            g = rnd.choice([0, 0, 1, 1, 2, 3, -1, 4] if rnd.random() < 0.8 else [0, 1])
            if fmt == "prefs":
                rel.append(f"{qid} {rnd.choice('uv')} {rnd.choice('st')} {d} {max(g, 0)}")
            else:
                rel.append(f"{qid} {rnd.choice('ab') if fmt == 'qrels_jg' else '0'} {d} {g}")
        if rnd.random() < 0.85:
            for i, d in enumerate(rnd.sample(docs, rnd.randint(1, len(docs)))):
                s = rnd.choice([1, 2, 3, 2.5, 0.5, -1]) if rnd.random() < 0.4 else round(rnd.random() * 10, rnd.randint(1, 6))
                if compat and rnd.random() < 0.15:
                    s = rnd.choice(["nan", "-nan", "inf", "1.5abc", "abc", "1e999", "NaN"])
                run.append(f"{qid} Q0 {d} {i + 1} {s} run")
    if fmt == "qrels_jg":  # one judgement per docid and jg
        seen = set()
        rel = [l for l in rel if tuple(l.split()[:3]) not in seen and not seen.add(tuple(l.split()[:3]))]
    rnd.shuffle(run)
    opts = []
    for flag, p in (("-q", 0.5), ("-c", 0.4), ("-J", 0.2)):
        if rnd.random() < p:
            opts.append(flag)
    if rnd.random() < 0.2:
        opts += ["-M", str(rnd.randint(0, 10))]
    if rnd.random() < 0.3:
        opts += ["-l", str(rnd.randint(-1, 3))]
    if fmt in ("prefs", "qrels_prefs"):
        opts += ["-R", fmt, "-m", "all_prefs"]
    elif fmt == "qrels_jg":
        opts += ["-R", fmt, "-m", "qrels_jg", "-m", "P_avgjg.1,3"]
    else:
        opts += rnd.choice([["-m", "all_trec"], ["-m", "all_trec", "-m", "dcg", "-m", "ideal_dcg", "-m", "yaap"],
                            ["-m", "ndcg.1=2,3=0.5", "-m", "P.1,3", "-m", "relstring.4"], ["-m", "official"],
                            ["-m", "Rndcg.2=0", "-m", "G.0=1", "-m", "ndcg_rel.1=5"]])
    return rel, run or ["x Q0 z 1 1 t"], opts


def comparable(out, opts):
    keep = []
    for line in out.splitlines(True):
        if line.startswith(b"prefs_avgjg_Rnonrel") or (line.startswith(b"rbp ") and "yaap" in opts):
            continue
        keep.append(line)
    return b"".join(keep)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trec_eval")
    ap.add_argument("score")
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--compat", action="store_true")
    ap.add_argument("--keep", help="copy disagreeing cases here")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    tmp = tempfile.mkdtemp()
    same = refused = different = 0
    try:
        for case in range(a.cases):
            rel, run, opts = make_case(rnd, a.compat)
            q, r = os.path.join(tmp, "qrels"), os.path.join(tmp, "run")
            open(q, "w").write("\n".join(rel) + "\n")
            open(r, "w").write("\n".join(run) + "\n")
            grades = {}
            for line in rel:
                f = line.split()
                grades.setdefault(f[0], []).append(int(float(f[-1])))
            negative_only = "-R" not in opts and any(max(g) < 0 for g in grades.values())
            te = subprocess.run([a.trec_eval] + opts + [q, r], capture_output=True)
            compat = ["--compat"] if a.compat or negative_only else []
            sc = subprocess.run([a.score] + compat + opts + [q, r], capture_output=True)
            if te.returncode == 0 and sc.returncode == 0 and comparable(te.stdout, opts) == comparable(sc.stdout, opts):
                same += 1
            elif te.returncode != 0 and sc.returncode != 0 and not sc.stdout:
                refused += 1
            else:
                different += 1
                print(f"case {case}: trec_eval exit {te.returncode}, score exit {sc.returncode}: {' '.join(opts)}")
                if a.keep:
                    d = os.path.join(a.keep, f"case{case}")
                    os.makedirs(d, exist_ok=True)
                    shutil.copy(q, d)
                    shutil.copy(r, d)
    finally:
        shutil.rmtree(tmp)
    print(f"same {same} refused {refused} different {different}")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
