"""Scale-out: an OT distance matrix, serially and on 2 worker processes.

Problem: a 40 x 40 symmetric distance matrix between 64-bin histograms on [0, 1]
(squared-distance cost, so max M = 1), reg = 1e-2: 780 entropic OT solves.

Contenders:
- ``soptim-serial``: ``soptim.ot.pairwise_distances`` with ``executor=None``;
- ``soptim-2proc``: the same on a ``ProcessPoolExecutor(2)``;
- ``soptim-dask2``: the same on a ``dask.distributed`` ``LocalCluster`` of 2 worker
  processes (skipped without dask);
- ``pot-sklearn-1job`` / ``pot-sklearn-2jobs``: the usual way with the peers,
  ``sklearn.metrics.pairwise_distances(X, metric=<POT sinkhorn2>, n_jobs=...)``
  (POT's Sinkhorn-Knopp, default ``stopThr``; skipped without POT or scikit-learn).
  With ``n_jobs=2`` scikit-learn splits the columns, so it solves all 1600 pairs.

Pools and clusters are started (and their workers warmed up: imports, numba
cache loading) in ``setup``, as a user keeps them for many calls.
``track_max_difference`` is ``max |D - D_serial|`` (0 means equal results).
``python -m benchmarks.bench_dask`` prints the table of one run: contenders
interleaved, best of 3 rounds.
"""

import functools
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ._peers import optional, require

ot = optional("ot")
sklearn_pairwise = optional("sklearn.metrics.pairwise")
distributed = optional("distributed")

N_HIST, N_BINS, REG = 40, 64, 1e-2
CONTENDERS = ["soptim-serial", "soptim-2proc", "soptim-dask2", "pot-sklearn-1job",
              "pot-sklearn-2jobs"]


def make_problem(n_hist=N_HIST, n_bins=N_BINS, seed=0):
    """Random smooth-ish histograms (mixtures of two bumps plus a floor) and their cost."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, n_bins)
    M = (x[:, None] - x[None, :]) ** 2
    c = rng.random((n_hist, 2, 1))
    w = 0.03 + 0.1 * rng.random((n_hist, 2, 1))
    X = np.exp(-((x[None, None, :] - c) / w) ** 2).sum(axis=1) + 1e-3
    return X / X.sum(axis=1, keepdims=True), M


def _pot_metric(a, b, M, reg):
    return ot.sinkhorn2(a, b, M, reg)


class Runner:
    """One contender, with its pool or cluster started and warmed."""

    def __init__(self, name):
        self.name = name
        self.X, self.M = make_problem()
        self._pool = self._cluster = self.executor = None
        if name.startswith("pot"):
            require(ot, "POT")
            require(sklearn_pairwise, "scikit-learn")
        if name == "soptim-2proc":
            self._pool = self.executor = ProcessPoolExecutor(2)
        elif name == "soptim-dask2":
            require(distributed, "dask.distributed")
            self._cluster = distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None)
            self.executor = distributed.Client(self._cluster)
        # warm-up, not timed: worker imports, numba kernels loaded from the disk cache
        self._run(self.X[:6])

    def _run(self, X):
        if self.name.startswith("soptim"):
            from soptim.ot import pairwise_distances

            return pairwise_distances(X, M=self.M, reg=REG, executor=self.executor)
        metric = functools.partial(_pot_metric, M=self.M, reg=REG)
        D = sklearn_pairwise.pairwise_distances(
            X, metric=metric, n_jobs=1 if self.name.endswith("1job") else 2)
        np.fill_diagonal(D, 0.0)  # scikit-learn evaluates metric(x, x): the entropic self-cost
        return D

    def run(self):
        return self._run(self.X)

    def close(self):
        if self.executor is not None and self._cluster is not None:
            self.executor.close()
            self._cluster.close()
        if self._pool is not None:
            self._pool.shutdown()


class TimePairwise:
    """Wall time of the 40 x 40 distance matrix (64 bins, reg 1e-2)."""

    params = CONTENDERS
    param_names = ["contender"]
    timeout = 600
    number = 1
    repeat = 3
    warmup_time = 0

    def setup(self, contender):
        self.runner = Runner(contender)
        self.reference = None

    def teardown(self, contender):
        self.runner.close()

    def time_distance_matrix(self, contender):
        self.runner.run()

    def track_max_difference(self, contender):
        from soptim.ot import pairwise_distances

        X, M = make_problem()
        serial = pairwise_distances(X, M=M, reg=REG)
        return float(np.abs(self.runner.run() - serial).max())

    track_max_difference.unit = "max |D - D_serial|"


def measure(rounds=3):
    """Best-of-``rounds`` seconds per contender (interleaved) and max |D - D_serial|."""
    runners = {}
    for name in CONTENDERS:
        try:
            runners[name] = Runner(name)
        except NotImplementedError as why:
            print(f"{name}: skipped ({why})")
    best = {name: np.inf for name in runners}
    out = {}
    try:
        for k in range(rounds):
            for name, r in runners.items():
                t = time.perf_counter()
                out[name] = r.run()
                best[name] = min(best[name], time.perf_counter() - t)
                print(f"round {k}: {name} {time.perf_counter() - t:.3f} s", flush=True)
    finally:
        for r in runners.values():
            r.close()
    ref = out["soptim-serial"]
    return {name: (best[name], float(np.abs(out[name] - ref).max())) for name in runners}


if __name__ == "__main__":
    res = measure()
    t0 = res["soptim-serial"][0]
    print(f"{N_HIST}x{N_HIST} OT distance matrix, {N_BINS} bins, reg {REG:g} "
          "(best of 3 interleaved rounds)")
    print(f"{'contender':20s} {'seconds':>8s} {'vs soptim-serial':>17s} {'max|D-D_serial|':>16s}")
    for name, (t, diff) in res.items():
        print(f"{name:20s} {t:8.3f} {t0 / t:16.2f}x {diff:16.2e}")
