"""Exact OT: soptim ``emd`` / ``emd2`` against POT's ``ot.emd`` / ``ot.emd2``.

Problems (costs scaled to [0, 1]):
- ``random``: uniform random cost;
- ``cloud``: squared Euclidean cost between two uniform 2-D point clouds;
- ``shifted3d``: squared Euclidean cost between 3-D N(0, 1) and N(1, 1) samples
  (the cheapest entries of a row are not its support: the case where the
  candidate list hands over to LEMON's block search);
masses ``uniform`` or ``nonuniform`` (uniform random, normalized), shapes n x n
and n x (3n/2) (``n != m``).

Both solvers return an exact optimal plan (``track_relative_cost_error`` checks
soptim's cost against POT's). Run ``python -m benchmarks.bench_emd`` for the
interleaved best-of-rounds table quoted in the issue:
``python -m benchmarks.bench_emd [random|cloud|shifted3d|all] [rounds] [max_n]``
(``max_n``, default 4000, drops the larger rows: POT takes 25-50 s per solve at
n = 4000 on random costs, so ``all 3 2000`` is the quick table).
"""

import sys
import time

import numpy as np

from ._peers import optional, require

ot = optional("ot")

SIZES = (500, 1000, 2000)
TABLE_SIZES = (500, 1000, 2000, 4000)
KINDS = ("random", "cloud", "shifted3d")


def make_problem(kind, n, masses, rect=False, seed=0):
    rng = np.random.default_rng(seed)
    m = 3 * n // 2 if rect else n
    if kind == "random":
        M = rng.random((n, m))
    elif kind == "shifted3d":
        x, y = rng.normal(size=(n, 3)), rng.normal(size=(m, 3)) + 1.0
        M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        M /= M.max()
    else:
        x, y = rng.random((n, 2)), rng.random((m, 2))
        M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        M /= M.max()
    if masses == "uniform":
        a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    else:
        a, b = rng.random(n) + 1e-3, rng.random(m) + 1e-3
        a, b = a / a.sum(), b / b.sum()
    return a, b, M


def run_solver(solver, a, b, M):
    """Exact OT cost of one solve."""
    if solver == "soptim":
        from soptim.ot import emd2

        return float(emd2(a, b, M))
    return float(ot.emd2(a, b, M, numItermax=10**8))


def _warm_soptim():
    """numba compilation (cached on disk) is not timed."""
    from soptim.ot import emd2

    a, b, M = make_problem("random", 30, "uniform")
    emd2(a, b, M)


class TimeEMD:
    """Wall time of one exact solve (``emd2``)."""

    params = (list(KINDS), list(SIZES), ["uniform", "nonuniform"],
              ["square", "rect"], ["soptim", "pot"])
    param_names = ["problem", "n", "masses", "shape", "solver"]
    timeout = 600
    number = 1
    repeat = 3
    warmup_time = 0

    def setup(self, problem, n, masses, shape, solver):
        require(ot, "POT")  # the peer is needed for the accuracy track too
        self.a, self.b, self.M = make_problem(problem, n, masses, shape == "rect")
        if solver == "soptim":
            _warm_soptim()

    def time_emd2(self, problem, n, masses, shape, solver):
        run_solver(solver, self.a, self.b, self.M)

    def track_relative_cost_error(self, problem, n, masses, shape, solver):
        ref = run_solver("pot", self.a, self.b, self.M)
        return abs(run_solver(solver, self.a, self.b, self.M) - ref) / ref


def table(rounds=3, sizes=TABLE_SIZES, kinds=KINDS, out=sys.stdout):
    """Interleaved best-of-``rounds`` times (s) of both solvers, as a markdown table."""
    require(ot, "POT")
    _warm_soptim()
    print("| problem | masses | n x m | POT emd2 (s) | soptim emd2 (s) | POT / soptim "
          "| rel. cost diff |", file=out)
    print("|---|---|---|---|---|---|---|", file=out)
    for kind in kinds:
        for masses in ("uniform", "nonuniform"):
            for n in sizes:
                for rect in (False, True):
                    a, b, M = make_problem(kind, n, masses, rect)
                    best = {"soptim": np.inf, "pot": np.inf}
                    vals = {}
                    for _ in range(rounds):
                        for solver in ("pot", "soptim"):
                            t0 = time.perf_counter()
                            vals[solver] = run_solver(solver, a, b, M)
                            best[solver] = min(best[solver], time.perf_counter() - t0)
                    diff = abs(vals["soptim"] - vals["pot"]) / vals["pot"]
                    print(f"| {kind} | {masses} | {M.shape[0]} x {M.shape[1]} | "
                          f"{best['pot']:.3f} | {best['soptim']:.3f} | "
                          f"{best['pot'] / best['soptim']:.2f} | {diff:.1e} |", file=out,
                          flush=True)


if __name__ == "__main__":
    part = sys.argv[1] if len(sys.argv) > 1 else "all"
    if part not in KINDS + ("all",):
        raise SystemExit(f"usage: python -m benchmarks.bench_emd [{'|'.join(KINDS)}|all] "
                         "[rounds] [max_n]")
    max_n = int(sys.argv[3]) if len(sys.argv) > 3 else max(TABLE_SIZES)
    table(int(sys.argv[2]) if len(sys.argv) > 2 else 3,
          sizes=tuple(n for n in TABLE_SIZES if n <= max_n),
          kinds=KINDS if part == "all" else (part,))
