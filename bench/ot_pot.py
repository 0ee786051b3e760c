#!/usr/bin/python3
"""POT side of bench/ot.sh: solve the same problems as ot_bench (raw float32 file
written by `ot_bench gen`) with POT, report plans per second.

usage: ot_pot.py N M D COUNT FILE METHOD EPS TOL MIN_SECONDS
METHOD: sinkhorn_log (log-domain, stable like ours) or sinkhorn (plain scaling).
Each plan includes the cost matrix 1 - normalize(S) normalize(T)^T, as in ot_bench.
Prints "plans_per_s=X plans_per_cpu_s=C mean_iters=Y mean_cost=Z" (POT's niter + 1 = update
count; C counts the CPU time of the whole process, steadier than wall time on a loaded machine).
"""
import sys
import time
import warnings

import numpy as np
import ot


def main():
    n, m, d, count = (int(x) for x in sys.argv[1:5])
    path, method = sys.argv[5], sys.argv[6]
    eps, tol, min_seconds = float(sys.argv[7]), float(sys.argv[8]), float(sys.argv[9])
    x = np.fromfile(path, dtype=np.float32).astype(np.float64)
    per = (n + m) * d
    probs = [(x[c * per:c * per + n * d].reshape(n, d), x[c * per + n * d:(c + 1) * per].reshape(m, d))
             for c in range(count)]
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    done, iters, cost = 0, 0, 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    warnings.simplefilter("ignore")
    while True:
        S, T = probs[done % count]
        Sn = S / np.linalg.norm(S, axis=1, keepdims=True)
        Tn = T / np.linalg.norm(T, axis=1, keepdims=True)
        C = 1.0 - Sn @ Tn.T
        P, log = ot.sinkhorn(a, b, C, eps, method=method, numItermax=100000, stopThr=tol, log=True)
        if done < count:
            iters += log["niter"] + 1
            cost += float(np.sum(P * C))
        done += 1
        t = time.perf_counter() - t0
        if done >= count and t >= min_seconds:
            break
    cpu = time.process_time() - c0
    print("plans_per_s=%.4f plans_per_cpu_s=%.4f mean_iters=%.2f mean_cost=%.12f"
          % (done / t, done / cpu, iters / count, cost / count))


if __name__ == "__main__":
    main()
