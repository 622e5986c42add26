"""Demo rows for soptim.ot: entropic OT distances against known answers."""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import norm

from . import DemoRow


def _w2_gaussians() -> DemoRow:
    # W2 between N(m1, s1^2) and N(m2, s2^2) is sqrt((m1-m2)^2 + (s1-s2)^2)
    from ..ot import wasserstein

    x = np.linspace(-1.0, 2.0, 300)
    m1, s1, m2, s2 = 0.3, 0.1, 0.8, 0.15
    a, b = norm.pdf(x, m1, s1), norm.pdf(x, m2, s2)
    a, b = a / a.sum(), b / b.sum()
    t = time.perf_counter()
    d, res = wasserstein(a, b, p=2, reg=1e-4, grid=x)
    t = time.perf_counter() - t
    exact = np.hypot(m1 - m2, s1 - s2)
    return DemoRow("W2, 1-D Gaussians on 300-pt grid", "ot.wasserstein (SNS)", res.nit, t,
                   abs(d - exact) / exact, 2e-3)


def _w1_histograms() -> DemoRow:
    # W1 on the line is the integral of |CDF_a - CDF_b|
    from ..ot import wasserstein

    n = 200
    rng = np.random.default_rng(0)
    a, b = rng.random(n), rng.random(n)
    a, b = a / a.sum(), b / b.sum()
    exact = np.abs(np.cumsum(a) - np.cumsum(b)).sum() / n
    reg = 1e-3
    t = time.perf_counter()
    d, res = wasserstein(a, b, p=1, reg=reg)
    t = time.perf_counter() - t
    return DemoRow("W1, random 1-D histograms n=200", "ot.wasserstein (SNS)", res.nit, t,
                   abs(d - exact), reg * np.log(n * n), "abs. error")


def _random_assignment() -> list[DemoRow]:
    # the SNS paper's case: n = 500, costs U[0, 1], eta = 1/reg = 1200. With uniform
    # marginals the exact OT cost is the optimal assignment cost / n.
    from ..ot import solve

    n, reg = 500, 1 / 1200
    M = np.random.default_rng(0).random((n, n))
    t = time.perf_counter()
    res = solve(M, reg=reg, tol=1e-10, warn=False)
    t = time.perf_counter() - t
    rows, cols = linear_sum_assignment(M)
    exact = M[rows, cols].sum() / n
    return [
        DemoRow("random assignment n=500, L1 marginals", "ot.solve (SNS)", res.nit, t,
                res.marginal_error, 1e-10, "L1 error"),
        DemoRow("random assignment n=500, cost vs exact", "ot.solve (SNS)", res.nit, t,
                abs(res.cost - exact), reg * np.log(n * n), "abs. error"),
    ]


def _compile_kernels() -> None:
    # numba compiles the OT kernels on their first use (once: cache=True keeps them on
    # disk). A first solve below COMPILE_MIN_SIZE plan entries runs the NumPy twins rather
    # than wait for LLVM; the demo wants the kernels, so it compiles them on a tiny
    # problem (the serial ones, which every problem of this table runs) before timing.
    from ..ot import _kernels, solve

    saved = _kernels.COMPILE_MIN_SIZE
    _kernels.COMPILE_MIN_SIZE = 0
    try:
        solve(np.random.default_rng(0).random((8, 8)), reg=1e-2, warn=False)
    finally:
        _kernels.COMPILE_MIN_SIZE = saved


def rows() -> list[DemoRow]:
    _compile_kernels()
    return [_w2_gaussians(), _w1_histograms(), *_random_assignment()]
