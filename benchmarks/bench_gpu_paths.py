"""The paths issue 19 changed: finite differences, Kaczmarz row steps, and their GPU runs.

Parts (``python -m benchmarks.bench_gpu_paths <part> [rounds]`` prints a markdown table of
interleaved best-of-rounds wall times):

- ``fd``: gradient of a scalar function by central and forward differences,
  ``soptim._numdiff.approx_gradient`` against scipy's ``approx_derivative`` (the peer whose
  steps it follows), host arrays;
- ``kaczmarz``: ``sketch_solve(sketch='kaczmarz')`` on a ``LinearOperator`` (the generic row
  path, the one the GPU takes) against scipy's ``lsqr`` on the same operator, both to a
  relative residual of 1e-8;
- ``gpu`` (needs CuPy and a CUDA device; skipped otherwise): the same solvers on device
  arrays against the host, and entropic OT at n = 10^4 against POT on CuPy arrays.
"""

import sys
import time

import numpy as np
import scipy.sparse.linalg as spla
from scipy.optimize._numdiff import approx_derivative

from soptim import _numdiff
from soptim.backend import cupy_available
from soptim.linalg import sketch_solve

from ._peers import optional, require

ot = optional("ot")
cupy = optional("cupy") if cupy_available() else None

FD_SIZES = (100, 1000)
KACZ_SIZES = (200, 400)


def _chained_rosen(x):
    """A scalar test function returning a Python float (as objectives usually do)."""
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def _x(n, seed=0):
    return np.random.default_rng(seed).uniform(-1.5, 1.5, n)


def run_fd(solver, n, method="3-point"):
    x = _x(n)
    if solver == "soptim":
        return _numdiff.approx_gradient(_chained_rosen, x, method=method)
    return approx_derivative(_chained_rosen, x, method=method)


def kaczmarz_problem(M, seed=0):
    """A well-conditioned dense SPD system, given as a LinearOperator."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((M, M)))
    K = Q @ np.diag(np.linspace(1.0, 4.0, M)) @ Q.T
    r = K @ rng.standard_normal(M)
    return K, r


def run_kaczmarz(solver, K, r):
    op = spla.aslinearoperator(K)
    if solver == "soptim":
        res = sketch_solve(op, r, sketch="kaczmarz", rng=0, rtol=1e-8)
        x = res.x
    else:
        x = spla.lsqr(op, r, atol=1e-10, btol=1e-8, iter_lim=100_000)[0]
    return float(np.linalg.norm(K @ x - r) / np.linalg.norm(r))


class TimeFiniteDifferences:
    params = (list(FD_SIZES), ["3-point", "2-point"], ["soptim", "scipy"])
    param_names = ["n", "method", "solver"]
    number = 1
    repeat = 3

    def time_gradient(self, n, method, solver):
        run_fd(solver, n, method)


class TimeKaczmarzOperator:
    params = (list(KACZ_SIZES), ["soptim", "scipy-lsqr"])
    param_names = ["M", "solver"]
    number = 1
    repeat = 3

    def setup(self, M, solver):
        self.K, self.r = kaczmarz_problem(M)

    def time_solve(self, M, solver):
        run_kaczmarz(solver, self.K, self.r)


class TimeDevice:
    """The device runs (skipped without CuPy and a CUDA device)."""

    params = (["sinkhorn2-1e4", "kaczmarz-dense-2000", "fd-1000"], ["soptim", "peer"])
    param_names = ["case", "solver"]
    number = 1
    repeat = 3
    timeout = 600

    def setup(self, case, solver):
        require(cupy, "CuPy with a CUDA device")
        if case.startswith("sinkhorn"):
            require(ot, "POT")
        self.case = _device_case(case)

    def time_run(self, case, solver):
        self.case[solver]()
        cupy.cuda.Device().synchronize()


def _device_case(case):
    """``{'soptim': f, 'peer': f}`` for one device case."""
    cp = cupy
    if case == "sinkhorn2-1e4":
        from soptim import ot as sot

        n = 10_000
        rng = np.random.default_rng(0)
        X, Y = cp.asarray(rng.random((n, 2))), cp.asarray(rng.random((n, 2)))
        M = sot.dist(X, Y)
        a = cp.full(n, 1.0 / n)
        return {"soptim": lambda: sot.sinkhorn2(a, a, M, 0.01, stopThr=1e-9),
                "peer": lambda: ot.sinkhorn2(a, a, M, 0.01, stopThr=1e-9,
                                             method="sinkhorn_log", numItermax=100_000)}
    if case == "kaczmarz-dense-2000":
        K, r = kaczmarz_problem(2000)
        Kd, rd = cp.asarray(K), cp.asarray(r)
        return {"soptim": lambda: sketch_solve(Kd, rd, sketch="kaczmarz", rng=0, rtol=1e-8),
                "peer": lambda: sketch_solve(K, r, sketch="kaczmarz", rng=0, rtol=1e-8)}
    if case == "fd-1000":
        x = cp.asarray(_x(1000))

        def f(z):
            return float(cp.sum(100.0 * (z[1:] - z[:-1] ** 2) ** 2 + (1.0 - z[:-1]) ** 2))

        return {"soptim": lambda: _numdiff.approx_gradient(f, x),
                "peer": lambda: _numdiff.approx_gradient(_chained_rosen, _x(1000))}
    raise ValueError(case)


def _best(fns, rounds):
    """Interleaved best-of-``rounds`` wall times of the callables in ``fns``."""
    best = dict.fromkeys(fns, np.inf)
    out = {}
    for name, fn in fns.items():  # warm-up (numba kernels, cuRAND, CUDA contexts)
        out[name] = fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            out[name] = fn()
            if cupy is not None:
                cupy.cuda.Device().synchronize()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best, out


def table(part, rounds=3, out=sys.stdout):
    if part == "fd":
        print("| n | method | scipy approx_derivative (s) | soptim approx_gradient (s) | "
              "scipy / soptim | max abs diff |", file=out)
        print("|---|---|---|---|---|---|", file=out)
        for n in FD_SIZES:
            for method in ("3-point", "2-point"):
                best, vals = _best({s: (lambda s=s, n=n, method=method: run_fd(s, n, method))
                                    for s in ("scipy", "soptim")}, rounds)
                diff = float(np.abs(vals["soptim"] - vals["scipy"]).max())
                print(f"| {n} | {method} | {best['scipy']:.4f} | {best['soptim']:.4f} | "
                      f"{best['scipy'] / best['soptim']:.2f} | {diff:.1e} |", file=out,
                      flush=True)
    elif part == "kaczmarz":
        print("| M | scipy lsqr (s) | soptim kaczmarz (s) | lsqr / soptim | rel. residual "
              "lsqr, soptim |", file=out)
        print("|---|---|---|---|---|", file=out)
        for M in KACZ_SIZES:
            K, r = kaczmarz_problem(M)
            best, vals = _best({s: (lambda s=s, K=K, r=r: run_kaczmarz(s, K, r))
                                for s in ("scipy-lsqr", "soptim")}, rounds)
            print(f"| {M} | {best['scipy-lsqr']:.3f} | {best['soptim']:.3f} | "
                  f"{best['scipy-lsqr'] / best['soptim']:.2f} | {vals['scipy-lsqr']:.1e}, "
                  f"{vals['soptim']:.1e} |", file=out, flush=True)
    elif part == "gpu":
        if cupy is None:
            print("gpu: skipped (needs CuPy and a CUDA device)", file=out)
            return
        print("| case | peer (s) | soptim on the GPU (s) | peer / soptim |", file=out)
        print("|---|---|---|---|", file=out)
        for case in TimeDevice.params[0]:
            if case.startswith("sinkhorn") and ot is None:
                print(f"| {case} | POT missing | | |", file=out)
                continue
            best, _ = _best(_device_case(case), rounds)
            print(f"| {case} | {best['peer']:.3f} | {best['soptim']:.3f} | "
                  f"{best['peer'] / best['soptim']:.2f} |", file=out, flush=True)
    else:
        raise SystemExit(f"unknown part {part!r}: fd, kaczmarz or gpu")


if __name__ == "__main__":
    table(sys.argv[1] if len(sys.argv) > 1 else "fd",
          int(sys.argv[2]) if len(sys.argv) > 2 else 3)
