"""bench/rank.py: the computation of `rank` in numpy or PyTorch (CPU), for bench/rank.sh.

    rank.py IMPL MODE DOCS.f32 ND LD QUERIES.f32 NQ LQ D K THREADS TOP1_OUT

IMPL numpy or torch. MODE dense (LD = LQ = 1: the single token is the vector)
or maxsim (ColBERT: sum over query tokens of the best cosine over the
document's tokens; every text of a side has the same length, the padded
layout those libraries use). Cosine: rows normalised first (inside the timed
region, as rank does it). Queries in tiles of 1024 token rows, documents in
blocks of 2048 token rows, as rank; top K per query (argpartition + sort, or
torch.topk). One timed run (bench/rank.sh interleaves runs and keeps the
best); prints "impl=IMPL seconds=S gflops=G", G = 2 * query rows * document
rows * D / S. TOP1_OUT gets the best document index per query, one a line.
"""
import os
import sys
import time

impl, mode, docs_path, nd, ld, q_path, nq, lq, d, k, threads, top1_out = sys.argv[1:13]
nd, ld, nq, lq, d, k, threads = map(int, (nd, ld, nq, lq, d, k, threads))
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
import numpy as np  # noqa: E402  (after the thread setting)

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
    import torch
    torch.set_num_threads(threads)
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


if impl == "torch":
    import torch  # noqa: F401  (imported before timing: its start-up is not the computation)
fn = {"numpy": run_numpy, "torch": run_torch}[impl]
t0 = time.perf_counter()
top = fn()
t = time.perf_counter() - t0
print("impl=%s seconds=%.3f gflops=%.1f" % (impl, t, flops / t / 1e9), flush=True)
np.savetxt(top1_out, top[:, 0], fmt="%d")
