"""bench/rank.py: the computation of `rank` in numpy and in PyTorch (CPU), for bench/rank.sh.

    rank.py MODE DOCS.f32 ND LD QUERIES.f32 NQ LQ D K THREADS TOP1_OUT

MODE dense (LD = LQ = 1: the single token is the vector) or maxsim (ColBERT:
sum over query tokens of the best cosine over the document's tokens; every
text of a side has the same length, the padded layout those libraries use).
Cosine: rows normalised first (inside the timed region, as rank does it).
Queries in tiles of 1024 token rows, documents in blocks of 2048 token rows, as
rank; top K per query (argpartition + sort / torch.topk). Prints one line per
library: "impl=numpy seconds=S gflops=G" with G = 2 * query rows * doc rows * D / S.
TOP1_OUT gets numpy's best document index per query, one per line.
"""
import os
import sys
import time

mode, docs_path, nd, ld, q_path, nq, lq, d, k, threads, top1_out = sys.argv[1:12]
nd, ld, nq, lq, d, k, threads = map(int, (nd, ld, nq, lq, d, k, threads))
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
import numpy as np  # noqa: E402  (after the thread setting)
import torch  # noqa: E402

torch.set_num_threads(threads)
D_raw = np.fromfile(docs_path, dtype=np.float32).reshape(nd * ld, d)
Q_raw = np.fromfile(q_path, dtype=np.float32).reshape(nq * lq, d)
flops = 2.0 * nq * lq * nd * ld * d
q_tile = max(1, 1024 // lq)          # queries per tile
d_block = max(1, 2048 // ld)         # documents per block


def run_numpy():
    D = D_raw / np.linalg.norm(D_raw, axis=1, keepdims=True)
    Q = Q_raw / np.linalg.norm(Q_raw, axis=1, keepdims=True)
    top = []
    for q0 in range(0, nq, q_tile):
        q1 = min(nq, q0 + q_tile)
        Qt = Q[q0 * lq:q1 * lq]
        scores = np.empty((q1 - q0, nd), dtype=np.float32)
        for b0 in range(0, nd, d_block):
            b1 = min(nd, b0 + d_block)
            S = Qt @ D[b0 * ld:b1 * ld].T
            if mode == "dense":
                scores[:, b0:b1] = S
            else:
                scores[:, b0:b1] = S.reshape(q1 - q0, lq, b1 - b0, ld).max(axis=3).sum(axis=1)
        kk = min(k, nd)
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
        top.append(np.take_along_axis(part, order, axis=1))
    return np.concatenate(top)


def run_torch():
    with torch.no_grad():
        D = torch.from_numpy(D_raw)
        Q = torch.from_numpy(Q_raw)
        D = D / D.norm(dim=1, keepdim=True)
        Q = Q / Q.norm(dim=1, keepdim=True)
        top = []
        for q0 in range(0, nq, q_tile):
            q1 = min(nq, q0 + q_tile)
            Qt = Q[q0 * lq:q1 * lq]
            scores = torch.empty((q1 - q0, nd), dtype=torch.float32)
            for b0 in range(0, nd, d_block):
                b1 = min(nd, b0 + d_block)
                S = Qt @ D[b0 * ld:b1 * ld].T
                if mode == "dense":
                    scores[:, b0:b1] = S
                else:
                    scores[:, b0:b1] = S.view(q1 - q0, lq, b1 - b0, ld).amax(dim=3).sum(dim=1)
            top.append(torch.topk(scores, min(k, nd), dim=1).indices)
        return torch.cat(top).numpy()


for name, fn in (("numpy", run_numpy), ("torch", run_torch)):
    best = None
    for _ in range(2):
        t0 = time.perf_counter()
        top = fn()
        t = time.perf_counter() - t0
        best = t if best is None or t < best else best
    print("impl=%s seconds=%.3f gflops=%.1f" % (name, best, flops / best / 1e9), flush=True)
    if name == "numpy":
        np.savetxt(top1_out, top[:, 0], fmt="%d")
