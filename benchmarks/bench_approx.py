"""soptim.approx.ChebTucker against grid Tucker decompositions and numpy.polynomial.

(1) Build time to a given accuracy for erf(a r)/r on [-1, 1]^3, a = 5 and 10:
    soptim from the function (sampling included) vs tensorly ``tucker`` on the
    full 256^3 grid (sampling excluded) at the rank that reaches the same max
    error, and a plain NumPy HOSVD on that grid at the same rank.
(2) Evaluation throughput at 10^6 random points vs
    ``numpy.polynomial.chebyshev.chebval3d`` on the uncompressed coefficients
    (chebval3d builds (m, m, N) intermediates, so it is run in chunks and on
    2 * 10^4 points; compare the ``track_*_points_per_second`` numbers).

(3) Cross against peers (issue 16): erf(10 r)/r on [-1, 1]^3 at tol 1e-6, soptim's
    ``fit`` (sampling='auto' takes the Tucker cross) against tensorly ``tucker`` on
    the Chebyshev grid of the same degree (sampling excluded, soptim's ranks) and
    teneva's TT-cross on the 65^3 Chebyshev grid (e = 1e-6): seconds and values of f.
(4) 5-D and 6-D functions at tol 1e-6: seconds, values of f, max error.
(5) Executor (issue 17): a fit of a slow Python-level f, serial against a
    ProcessPoolExecutor with 2 workers (equal results).

(6) First use: a fresh process with an empty numba cache (``NUMBA_CACHE_DIR``
    a new temporary folder) that fits erf(5r)/r and evaluates it at 10^3
    points (no compilation: the vectorized path) or 10^6 points (the kernel
    is compiled once, one signature). asv's ``timeraw_`` benchmarks time the
    whole process, imports included.

``python -m benchmarks.bench_approx`` (from the repository root) measures both
sides once and prints the ratios; ``python -m benchmarks.bench_approx cross``
prints the table of (3)-(5), ``python -m benchmarks.bench_approx grid`` the
grid path's max error on random points against tol and ``error_estimate`` for
13 functions in 1-3 D at tol 1e-4..1e-10, ``python -m benchmarks.bench_approx
grid-levels`` the grid level the degree search stops at (values on the grid
and at the random check points) for six cases.
"""

import math
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from soptim.approx import ChebTucker
from soptim.approx._examples import erf_over_r

from ._peers import optional, require

tensorly = optional("tensorly")
teneva = optional("teneva")

CUBE = [(-1.0, 1.0)] * 3
GRID_N = 256
TOL = 1e-6


def _grid_values(f, n=GRID_N):
    g = np.linspace(-1, 1, n)
    return f(g[:, None, None], g[None, :, None], g[None, None, :]), g


def _hosvd_rank(T, ranks):
    """Plain NumPy HOSVD at fixed ranks (leading left singular vectors per unfolding)."""
    U = []
    for l, r in enumerate(ranks):
        A = np.moveaxis(T, l, 0).reshape(T.shape[l], -1)
        R = np.linalg.qr(A.T, mode="r")
        u, _, _ = np.linalg.svd(R.T)
        U.append(u[:, :r])
    core = np.einsum("abc,ai,bj,ck->ijk", T, *U, optimize=True)
    return core, U


def _full(core, U):
    return np.einsum("ijk,ai,bj,ck->abc", core, *U, optimize=True)


def _rel_max(A, B):
    return float(np.abs(A - B).max() / np.abs(B).max())


def _matching_rank(T, target, start=2):
    """Smallest common rank r >= start whose grid HOSVD reaches max error <= target."""
    for r in range(start, 64):
        core, U = _hosvd_rank(T, (r, r, r))
        if _rel_max(_full(core, U), T) <= target:
            return r
    return 64


class BuildToAccuracy:
    """Seconds to build an approximation of erf(a r)/r with max relative error ~1e-6."""

    params = [5.0, 10.0]
    param_names = ["a"]
    timeout = 900
    number = 1
    repeat = 1

    def setup_cache(self):
        out = {}
        for a in self.params:
            f = erf_over_r(a)
            ct = ChebTucker.fit(f, CUBE, tol=TOL)
            P = np.random.default_rng(0).uniform(-1, 1, (20000, 3))
            exact = f(*P.T)
            err = float(np.abs(ct.evaluate(P) - exact).max() / np.abs(exact).max())
            T, _ = _grid_values(f)
            rank = _matching_rank(T, err, max(2, min(ct.ranks) - 1))
            out[a] = {"err": err, "ranks": ct.ranks, "grid_rank": rank}
        return out

    def setup(self, cache, a):
        self.f = erf_over_r(a)
        self.rank = cache[a]["grid_rank"]
        if not hasattr(self, "_grid") or self._grid[0] != a:
            self._grid = (a, _grid_values(self.f)[0])
        self.T = self._grid[1]

    def time_soptim_fit(self, cache, a):
        ChebTucker.fit(self.f, CUBE, tol=TOL)

    def time_numpy_hosvd_grid(self, cache, a):
        _hosvd_rank(self.T, (self.rank,) * 3)

    def time_tensorly_tucker_grid(self, cache, a):
        require(tensorly, "tensorly")
        from tensorly.decomposition import tucker

        tucker(self.T, rank=[self.rank] * 3, init="svd", n_iter_max=10)

    def track_soptim_max_rank(self, cache, a):
        return max(cache[a]["ranks"])

    def track_grid_matching_rank(self, cache, a):
        return cache[a]["grid_rank"]


class EvaluationThroughput:
    """Points per second: fused Chebyshev-Tucker kernel vs chebval3d on the full coefficients."""

    timeout = 600
    number = 1
    repeat = 3

    def setup(self):
        self.ct = ChebTucker.fit(erf_over_r(5.0), CUBE, tol=TOL)
        self.C = self.ct.coefficients()
        rng = np.random.default_rng(1)
        self.P = rng.uniform(-1, 1, (10**6, 3))
        self.Q = self.P[:20000]
        self.ct.evaluate(self.P[:10])  # numba compile / cache load outside the timing

    def time_soptim_evaluate_1e6(self):
        self.ct.evaluate(self.P)

    def time_chebval3d_2e4(self):
        _chebval3d_chunked(self.Q, self.C)

    def track_soptim_points_per_second(self):
        t = time.perf_counter()
        self.ct.evaluate(self.P)
        return self.P.shape[0] / (time.perf_counter() - t)

    def track_chebval3d_points_per_second(self):
        t = time.perf_counter()
        _chebval3d_chunked(self.Q, self.C)
        return self.Q.shape[0] / (time.perf_counter() - t)


ERF10 = erf_over_r(10.0)


def _rel_err_random(ct, f, d, n=20000):
    P = np.random.default_rng(7).uniform(-1.0, 1.0, (n, d))
    exact = f(*P.T)
    return float(np.abs(ct.evaluate(P) - exact).max() / np.abs(exact).max())


def _chebgrid_values(f, m, d=3):
    from soptim.approx import chebpts

    x = chebpts(m)
    axes = [x.reshape((1,) * l + (-1,) + (1,) * (d - l - 1)) for l in range(d)]
    return np.broadcast_to(f(*axes), (m,) * d).copy()


def _teneva_cross(f, d=3, n=65, e=1e-6):
    """teneva's TT-cross of f on the n^d Chebyshev grid; returns (coefficients, values of f)."""
    def f_ind(I):
        return f(*teneva.ind_to_poi(I, -1.0, 1.0, n, "cheb").T)

    info = {}
    Y = teneva.cross(f_ind, teneva.rand([n] * d, r=1, seed=0), e=e, nswp=20, info=info)
    return teneva.func_int(teneva.truncate(Y, 1e-8)), info["m"]


class CrossAgainstPeers:
    """erf(10 r)/r on [-1, 1]^3 at 1e-6: soptim's cross vs tensorly Tucker and teneva TT-cross."""

    timeout = 600
    number = 1
    repeat = 3

    def setup_cache(self):
        ct = ChebTucker.fit(ERF10, CUBE, tol=TOL)
        return {"nfev": ct.nfev, "ranks": ct.ranks, "degrees": ct.degrees,
                "err": _rel_err_random(ct, ERF10, 3), "method": ct.method}

    def setup(self, cache):
        m = max(cache["degrees"]) + 1
        self.T = _chebgrid_values(ERF10, m)  # the grid of the same degree, for tensorly

    def time_soptim_fit(self, cache):
        ChebTucker.fit(ERF10, CUBE, tol=TOL)

    def time_tensorly_tucker_same_degree(self, cache):
        require(tensorly, "tensorly")
        from tensorly.decomposition import tucker

        tucker(self.T, rank=list(cache["ranks"]), init="svd", n_iter_max=10)

    def time_teneva_tt_cross(self, cache):
        require(teneva, "teneva")
        _teneva_cross(ERF10)

    def track_soptim_evaluations(self, cache):
        return cache["nfev"]

    def track_grid_evaluations_same_degree(self, cache):
        return (max(cache["degrees"]) + 1) ** 3

    def track_teneva_evaluations(self, cache):
        require(teneva, "teneva")
        return _teneva_cross(ERF10)[1]

    def track_soptim_max_error(self, cache):
        return cache["err"]


def rational5(*x):
    """``1 / (1 + sum_i (i + 1) x_i^2 / 2)`` in 5-D."""
    return 1.0 / (1.0 + sum(0.5 * (i + 1) * xi**2 for i, xi in enumerate(x)))


_MIX_CENTERS = np.random.default_rng(3).uniform(-0.5, 0.5, (5, 6))


def mixture6(*x):
    """Five Gaussians ``exp(-4 |x - c_j|^2)`` in 6-D."""
    return sum(np.exp(-4.0 * sum((xi - c[i]) ** 2 for i, xi in enumerate(x)))
               for c in _MIX_CENTERS)


HIGH_DIM = {"rational5": (rational5, 5), "mixture6": (mixture6, 6)}


class HighDimensional:
    """5-D and 6-D functions at tol 1e-6 (the full grid would need 10^8 values or more)."""

    params = list(HIGH_DIM)
    param_names = ["f"]
    timeout = 600
    number = 1
    repeat = 3

    def time_soptim_fit(self, name):
        f, d = HIGH_DIM[name]
        ChebTucker.fit(f, [(-1.0, 1.0)] * d, tol=TOL)

    def track_soptim_evaluations(self, name):
        f, d = HIGH_DIM[name]
        return ChebTucker.fit(f, [(-1.0, 1.0)] * d, tol=TOL).nfev

    def track_soptim_max_error(self, name):
        f, d = HIGH_DIM[name]
        return _rel_err_random(ChebTucker.fit(f, [(-1.0, 1.0)] * d, tol=TOL), f, d)


_CHARGES = np.random.default_rng(4).uniform(-0.8, 0.8, (40, 3))


def slow_potential(x, y, z):
    """A Python-level f: ``sum_i erf(3 r_i)/r_i`` over 40 charges, one point at a time.

    Module level so that worker processes can unpickle it.
    """
    X, Y, Z = np.broadcast_arrays(x, y, z)
    out = np.empty(X.shape)
    flat = out.reshape(-1)
    for k, (a, b, c) in enumerate(zip(X.ravel(), Y.ravel(), Z.ravel())):
        s = 0.0
        for cx, cy, cz in _CHARGES:
            r = math.sqrt((a - cx) ** 2 + (b - cy) ** 2 + (c - cz) ** 2)
            s += math.erf(3.0 * r) / r if r > 1e-8 else 6.0 / math.sqrt(math.pi)
        flat[k] = s
    return out


class ExecutorSpeedup:
    """A ChebTucker fit of a slow Python-level f: serial vs 2 worker processes."""

    timeout = 600
    number = 1
    repeat = 3

    def setup(self):
        self.pool = ProcessPoolExecutor(2)
        list(self.pool.map(abs, [1, 2]))  # workers started outside the timing

    def teardown(self):
        self.pool.shutdown()

    def time_fit_serial(self):
        ChebTucker.fit(slow_potential, CUBE, tol=TOL)

    def time_fit_2_processes(self):
        ChebTucker.fit(slow_potential, CUBE, tol=TOL, executor=self.pool)


# run by a fresh interpreter: the empty numba cache must be set before soptim imports
_FIRST_USE = """
import atexit, os, shutil, tempfile, time
cache = tempfile.mkdtemp(prefix="soptim-bench-numba-")
atexit.register(shutil.rmtree, cache, ignore_errors=True)
os.environ["NUMBA_CACHE_DIR"] = cache
import numpy as np
from soptim.approx import ChebTucker
from soptim.approx._examples import erf_over_r
P = np.random.default_rng(0).uniform(-1.0, 1.0, ({n}, 3))
t = time.perf_counter()
ct = ChebTucker.fit(erf_over_r(5.0), [(-1.0, 1.0)] * 3, tol=1e-6)
ct.evaluate(P)
print(time.perf_counter() - t)
"""


def timeraw_first_use_fit_evaluate_1e3():
    """Fresh process, empty numba cache: fit + evaluate at 10^3 points (nothing compiles)."""
    return _FIRST_USE.format(n=1000)


timeraw_first_use_fit_evaluate_1e3.timeout = 120


def timeraw_first_use_fit_evaluate_1e6():
    """Fresh process, empty numba cache: fit + evaluate at 10^6 points (the kernel compiles)."""
    return _FIRST_USE.format(n=10**6)


timeraw_first_use_fit_evaluate_1e6.timeout = 300


def first_use_seconds(n, repeat=3):
    """Best of ``repeat`` fresh processes: seconds of fit + evaluate at ``n`` points."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _FIRST_USE.format(n=n)], check=True,
                             capture_output=True, text=True).stdout
        runs.append(float(out.split()[-1]))
    return min(runs)


def _chebval3d_chunked(P, C, chunk=2000):
    from numpy.polynomial.chebyshev import chebval3d

    out = np.empty(P.shape[0])
    for s in range(0, P.shape[0], chunk):
        p = P[s:s + chunk]
        out[s:s + chunk] = chebval3d(p[:, 0], p[:, 1], p[:, 2], C)
    return out


def _best_of(fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():  # pragma: no cover - manual measurement
    for a in BuildToAccuracy.params:
        f = erf_over_r(a)
        ChebTucker.fit(f, CUBE, tol=1e-3)
        t_ct = _best_of(lambda f=f: ChebTucker.fit(f, CUBE, tol=TOL))
        ct = ChebTucker.fit(f, CUBE, tol=TOL)
        P = np.random.default_rng(0).uniform(-1, 1, (20000, 3))
        exact = f(*P.T)
        err = float(np.abs(ct.evaluate(P) - exact).max() / np.abs(exact).max())
        t = time.perf_counter()
        T, _ = _grid_values(f)
        t_sample = time.perf_counter() - t
        r = _matching_rank(T, err, max(2, min(ct.ranks) - 1))
        t_np = _best_of(lambda T=T, r=r: _hosvd_rank(T, (r,) * 3), repeat=1)
        err_np = _rel_max(_full(*_hosvd_rank(T, (r,) * 3)), T)
        print(f"erf({a:g}r)/r: soptim fit {t_ct:.3f} s, degrees {ct.degrees}, ranks {ct.ranks}, "
              f"max rel err {err:.2e} (random points)")
        print(f"  256^3 grid: sampling {t_sample:.2f} s; numpy HOSVD rank {r}: {t_np:.2f} s, "
              f"err {err_np:.2e} (grid) -> ratio {t_np / t_ct:.1f}x")
        if tensorly is not None:
            from tensorly.decomposition import tucker

            t = time.perf_counter()
            core, U = tucker(T, rank=[r] * 3, init="svd", n_iter_max=10)
            t_tl = time.perf_counter() - t
            err_tl = _rel_max(_full(np.asarray(core), [np.asarray(u) for u in U]), T)
            print(f"  tensorly tucker rank {r}: {t_tl:.2f} s, err {err_tl:.2e} (grid) "
                  f"-> ratio {t_tl / t_ct:.1f}x")
    bench = EvaluationThroughput()
    bench.setup()
    t_ct = _best_of(bench.time_soptim_evaluate_1e6)
    t_cv = _best_of(bench.time_chebval3d_2e4, repeat=1)
    pps_ct, pps_cv = 1e6 / t_ct, bench.Q.shape[0] / t_cv
    print(f"evaluation (degrees {bench.ct.degrees}, ranks {bench.ct.ranks}): soptim "
          f"{pps_ct:.3g} pts/s (10^6 points), chebval3d {pps_cv:.3g} pts/s "
          f"(2*10^4 points, chunked) -> ratio {pps_ct / pps_cv:.0f}x")
    for n in (10**3, 10**6):
        print(f"first use (empty numba cache, fresh process): fit + evaluate at {n:.0e} "
              f"points {first_use_seconds(n):.2f} s (best of 3, imports excluded)")


def cross_table(rounds=3):  # pragma: no cover - manual measurement
    """Issues 16/17: the contenders interleaved in each round, best of ``rounds``."""
    ct = ChebTucker.fit(ERF10, CUBE, tol=TOL)
    m = max(ct.degrees) + 1
    T = _chebgrid_values(ERF10, m)
    best = {}

    def timed(key, fn):
        t = time.perf_counter()
        out = fn()
        best[key] = min(best.get(key, np.inf), time.perf_counter() - t)
        return out

    for _ in range(rounds):
        timed("soptim", lambda: ChebTucker.fit(ERF10, CUBE, tol=TOL))
        if tensorly is not None:
            from tensorly.decomposition import tucker

            timed("tensorly", lambda: tucker(T, rank=list(ct.ranks), init="svd", n_iter_max=10))
        if teneva is not None:
            A, ten_m = timed("teneva", lambda: _teneva_cross(ERF10))
    print(f"erf(10r)/r on [-1,1]^3, tol 1e-6 ({ct.method}): soptim {best['soptim']:.3f} s, "
          f"{ct.nfev} values of f, degrees {ct.degrees}, ranks {ct.ranks}, max rel err "
          f"{_rel_err_random(ct, ERF10, 3):.2e} (20,000 random points)")
    if "tensorly" in best:
        print(f"  tensorly tucker on the {m}^3 Chebyshev grid (sampling excluded, "
              f"{m**3} values): {best['tensorly']:.3f} s -> soptim/tensorly "
              f"{best['soptim'] / best['tensorly']:.2f}")
    if "teneva" in best:
        P = np.random.default_rng(7).uniform(-1.0, 1.0, (20000, 3))
        ex = ERF10(*P.T)
        err = float(np.abs(teneva.func_get(P, A, -1.0, 1.0) - ex).max() / np.abs(ex).max())
        print(f"  teneva TT-cross on the 65^3 Chebyshev grid: {best['teneva']:.3f} s, {ten_m} "
              f"values of f, max rel err {err:.2e} -> soptim/teneva "
              f"{best['soptim'] / best['teneva']:.2f}")
    for name, (f, d) in HIGH_DIM.items():
        t = time.perf_counter()
        c = ChebTucker.fit(f, [(-1.0, 1.0)] * d, tol=TOL)
        t1 = time.perf_counter() - t
        t = time.perf_counter()
        ChebTucker.fit(f, [(-1.0, 1.0)] * d, tol=TOL)
        t1 = min(t1, time.perf_counter() - t)
        print(f"{name} ({d}-D), tol 1e-6: {t1:.2f} s, {c.nfev} values of f, degrees {c.degrees}, "
              f"ranks {c.ranks}, max rel err {_rel_err_random(c, f, d, 10000):.2e}, "
              f"estimate {c.error_estimate:.1e}, "
              f"full grid {np.prod([k + 1 for k in c.degrees]):.2g}")
    bench = ExecutorSpeedup()
    bench.setup()
    try:
        times = {}
        for _ in range(rounds):
            for key, kw in (("serial", {}), ("2 processes", {"executor": bench.pool})):
                t = time.perf_counter()
                out = ChebTucker.fit(slow_potential, CUBE, tol=TOL, **kw)
                times[key] = min(times.get(key, np.inf), time.perf_counter() - t)
                times[key + " ct"] = out
        a, b = times["serial ct"], times["2 processes ct"]
        diff = float(np.abs(a.coefficients() - b.coefficients()).max())
        print(f"slow Python-level f ({a.method}, {a.nfev} values): serial "
              f"{times['serial']:.2f} s, 2 processes {times['2 processes']:.2f} s -> "
              f"{times['serial'] / times['2 processes']:.2f}x; max coefficient difference "
              f"{diff:.1e}")
    finally:
        bench.teardown()


GRID_CLASS = {
    "exp(x+y)": (lambda x, y: np.exp(x + y), 2),
    "runge 2-D": (lambda x, y: 1 / (1 + 25 * (x**2 + y**2)), 2),
    "cos(100xy)": (lambda x, y: np.cos(100 * x * y), 2),
    "cos(30(x+y))": (lambda x, y: np.cos(30 * (x + y)), 2),
    "tanh(20(x-y))": (lambda x, y: np.tanh(20 * (x - y)), 2),
    "tanh(50(x+.3y-.1))": (lambda x, y: np.tanh(50 * (x + 0.3 * y - 0.1)), 2),
    "|x-.3| e^y (kink)": (lambda x, y: np.abs(x - 0.3) * np.exp(y), 2),
    "narrow gaussian": (lambda x, y: np.exp(-((x - 0.2) ** 2 + (y + 0.1) ** 2) / 0.01), 2),
    "sin(10x+5yz)": (lambda x, y, z: np.sin(10 * x + 5 * y * z), 3),
    "runge 3-D": (lambda x, y, z: 1 / (1 + 10 * (x**2 + y**2 + z**2)), 3),
    "e^-3r^2 cos(4xy)": (lambda x, y, z: np.exp(-3 * (x**2 + y**2 + z**2)) * np.cos(4 * x * y),
                         3),
    "tanh(40x)": (lambda x: np.tanh(40 * x), 1),
    "sin(50x)": (lambda x: np.sin(50 * x), 1),
}


def grid_table(tols=(1e-4, 1e-6, 1e-8, 1e-10)):  # pragma: no cover - manual measurement
    """Issue 16, grid path: max error on random points against tol and the estimate."""
    import warnings

    print(f"{'function':20s} {'tol':>6s} {'conv':>5s} {'err/tol':>8s} {'est/tol':>8s} "
          f"{'values':>8s} {'seconds':>7s}  degrees / ranks")
    for name, (f, d) in GRID_CLASS.items():
        for tol in tols:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter()
                ct = ChebTucker.fit(f, [(-1.0, 1.0)] * d, tol=tol, sampling="grid",
                                    max_degree=512 if d == 2 else None)
                t = time.perf_counter() - t
            err = _rel_err_random(ct, f, d, n=30000)
            flag = " MISS" if ct.converged and err > tol else ""
            flag += " EST<ERR" if err > ct.error_estimate else ""
            print(f"{name:20s} {tol:6.0e} {ct.converged!s:>5s} {err / tol:8.2f} "
                  f"{ct.error_estimate / tol:8.2f} {ct.nfev:8d} {t:7.2f}  {ct.degrees} / "
                  f"{ct.ranks}{flag}")


GRID_LEVELS = {
    "erf(10r)/r": (ERF10, 3, 1e-6),
    "exp(-r^2)": (lambda x, y, z: np.exp(-(x**2 + y**2 + z**2)), 3, 1e-10),
    "runge 3-D": (GRID_CLASS["runge 3-D"][0], 3, 1e-4),
    "tanh(20(x-y))": (GRID_CLASS["tanh(20(x-y))"][0], 2, 1e-4),
    "sin(10x+5yz)": (GRID_CLASS["sin(10x+5yz)"][0], 3, 1e-8),
    "e^-3r^2 cos(4xy)": (GRID_CLASS["e^-3r^2 cos(4xy)"][0], 3, 1e-6),
}


def grid_levels_table(rounds=3):  # pragma: no cover - manual measurement
    """Issue 16, grid path: the level the degree search stops at (grid values and checks).

    ``grid`` counts the values of ``f`` on the Chebyshev grids (open-grid calls),
    ``checks`` those at random points; seconds: best of ``rounds``.
    """
    print(f"{'function':18s} {'tol':>6s} {'values':>8s} {'grid':>8s} {'checks':>6s} "
          f"{'err/tol':>8s} {'est/tol':>8s} {'seconds':>7s}  degrees / ranks")
    for name, (f, d, tol) in GRID_LEVELS.items():
        counts = {"grid": 0, "checks": 0}

        def counted(*xs, f=f, counts=counts):
            n = int(np.broadcast(*xs).size)
            counts["grid" if np.ndim(xs[0]) == len(xs) > 1 else "checks"] += n
            return f(*xs)

        best = np.inf
        for _ in range(rounds):
            counts.update(grid=0, checks=0)
            t = time.perf_counter()
            ct = ChebTucker.fit(counted, [(-1.0, 1.0)] * d, tol=tol, sampling="grid")
            best = min(best, time.perf_counter() - t)
        err = _rel_err_random(ct, f, d, n=30000)
        print(f"{name:18s} {tol:6.0e} {ct.nfev:8d} {counts['grid']:8d} {counts['checks']:6d} "
              f"{err / tol:8.2f} {ct.error_estimate / tol:8.2f} {best:7.3f}  {ct.degrees} / "
              f"{ct.ranks}")


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["cross"]:
        cross_table()
    elif sys.argv[1:] == ["grid"]:
        grid_table()
    elif sys.argv[1:] == ["grid-levels"]:
        grid_levels_table()
    else:
        main()
