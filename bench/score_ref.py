#!/usr/bin/env python3
"""The peer of bench/score.sh: the same measures as
`score -m map -m P.5,10 -m ndcg_cut.10 -m recip_rank -m recall.100`,
restated in numpy (no trec_eval binary is available here), with trec_eval's
rules: ranking by score descending, ties by docid descending; topics are the
qrels topics in string order; grade >= 1 is relevant; negative grades are
unjudged; ndcg gains are the grades. Prints trec_eval's summary lines.

Usage: score_ref.py QRELS RUN
"""
import sys

import numpy as np


def read_columns(path, ncols):
    with open(path, "rb") as f:
        tok = f.read().split()
    if len(tok) % ncols:
        sys.exit(f"{path}: not {ncols} fields per line")
    return np.array(tok, dtype=object).reshape(-1, ncols)


def main():
    qrels_path, run_path = sys.argv[1], sys.argv[2]
    q = read_columns(qrels_path, 4)
    r = read_columns(run_path, 6)

    # Topics: the qrels topics in bytewise (strcmp) order.
    topics, q_topic = np.unique(q[:, 0].astype(bytes), return_inverse=True)
    q_grade = q[:, 3].astype(np.int64)
    q_doc = q[:, 2].astype(bytes)
    nt = len(topics)

    r_qid = r[:, 0].astype(bytes)
    r_doc = r[:, 2].astype(bytes)
    r_score = r[:, 4].astype(bytes).astype(np.float64)
    # Run topics without qrels are ignored.
    t_idx = np.searchsorted(topics, r_qid)
    t_idx[t_idx >= nt] = 0
    keep = topics[t_idx] == r_qid
    r_topic, r_doc, r_score = t_idx[keep], r_doc[keep], r_score[keep]
    if len(np.unique(r_topic)) != nt:
        sys.exit("a qrels topic has no run line")

    # Ranking: topic, then score descending, then docid descending.
    _, doc_rank = np.unique(r_doc, return_inverse=True)
    order = np.lexsort((-doc_rank, -r_score, r_topic))
    r_topic, r_doc = r_topic[order], r_doc[order]
    start = np.r_[0, np.flatnonzero(np.diff(r_topic)) + 1]
    counts = np.diff(np.r_[start, len(r_topic)])
    rank = np.arange(len(r_topic)) - np.repeat(start, counts)  # 0-based

    # Grades of retrieved documents: join on (topic, docid).
    qkey = np.char.add(np.char.add(topics[q_topic], b"\x00"), q_doc)
    rkey = np.char.add(np.char.add(topics[r_topic], b"\x00"), r_doc)
    qorder = np.argsort(qkey)
    qkey_sorted = qkey[qorder]
    pos = np.searchsorted(qkey_sorted, rkey)
    pos[pos >= len(qkey_sorted)] = 0
    found = qkey_sorted[pos] == rkey
    grade = np.where(found, q_grade[qorder][pos], -1)
    rel = grade >= 1

    num_rel = np.bincount(q_topic, weights=(q_grade >= 1), minlength=nt)
    cum_rel = np.cumsum(rel)
    rel_so_far = cum_rel - np.repeat(np.r_[0, cum_rel][start], counts)
    prec_at_rel = np.where(rel, rel_so_far / (rank + 1.0), 0.0)
    ap = np.bincount(r_topic, weights=prec_at_rel, minlength=nt)
    ap = np.divide(ap, num_rel, out=np.zeros(nt), where=num_rel > 0)

    def hits_at(k):
        return np.bincount(r_topic, weights=rel & (rank < k), minlength=nt)

    first = np.full(nt, np.inf)
    np.minimum.at(first, r_topic[rel], rank[rel])
    rr = np.where(np.isfinite(first), 1.0 / (first + 1.0), 0.0)

    gain = np.where(grade > 0, grade, 0)
    disc = 1.0 / np.log2(rank + 2.0)
    dcg10 = np.bincount(r_topic, weights=np.where(rank < 10, gain * disc, 0.0), minlength=nt)
    # Ideal: each topic's grades sorted descending, first 10.
    qo = np.lexsort((-q_grade, q_topic))
    qt, qg = q_topic[qo], np.maximum(q_grade[qo], 0)
    qstart = np.r_[0, np.flatnonzero(np.diff(qt)) + 1]
    qrank = np.arange(len(qt)) - np.repeat(qstart, np.diff(np.r_[qstart, len(qt)]))
    idcg10 = np.bincount(qt, weights=np.where(qrank < 10, qg / np.log2(qrank + 2.0), 0.0), minlength=nt)
    ndcg10 = np.divide(dcg10, idcg10, out=np.zeros(nt), where=idcg10 > 0)

    recall100 = np.divide(hits_at(100), num_rel, out=np.zeros(nt), where=num_rel > 0)
    out = [("map", ap), ("recip_rank", rr), ("P_5", hits_at(5) / 5.0), ("P_10", hits_at(10) / 10.0),
           ("recall_100", recall100), ("ndcg_cut_10", ndcg10)]
    for name, v in out:
        print(f"{name:<22}\tall\t{v.mean():6.4f}")


if __name__ == "__main__":
    main()
