"""Demo part for :mod:`soptim.ot`: entropic OT distances against known answers.

Known answers: W2 between two Gaussians in closed form, W1 on the line as the
integral of ``|CDF_a - CDF_b|``, and the exact assignment cost from
``scipy.optimize.linear_sum_assignment`` (computed outside the timed solve).
The entropic tolerances are the regularization's bias bound ``reg log(n m)``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
from scipy.optimize import linear_sum_assignment

from . import Check, DemoRow, Untimed

TITLE = "soptim.ot: entropic optimal transport by Sinkhorn-Newton-Sparse (SNS)"
STEPS = "Sinkhorn sweeps + sparse Newton steps"


def _steps(res) -> str:
    return f"{res.n_sinkhorn}+{res.n_newton}"


def _w2_gaussians() -> DemoRow:
    # W2 between N(m1, s1^2) and N(m2, s2^2) is sqrt((m1-m2)^2 + (s1-s2)^2)
    from scipy.stats import norm  # imported here: scipy.stats is slow to import (--list)

    from ..ot import wasserstein

    x = np.linspace(-1.0, 2.0, 300)
    m1, s1, m2, s2 = 0.3, 0.1, 0.8, 0.15
    a, b = norm.pdf(x, m1, s1), norm.pdf(x, m2, s2)
    a, b = a / a.sum(), b / b.sum()
    reg = 1e-4
    t = time.perf_counter()
    d, res = wasserstein(a, b, p=2, reg=reg, grid=x)
    t = time.perf_counter() - t
    exact = np.hypot(m1 - m2, s1 - s2)
    # the tolerance covers the grid's discretization error too, not only the entropic bias
    return DemoRow("W2, 1-D Gaussians, 300 pts", "ot.wasserstein p=2", t,
                   (Check("rel. W2", abs(d - exact) / exact, 2e-3),), steps=_steps(res),
                   note="reg 1e-4; exact W2 = sqrt(0.5^2 + 0.05^2)")


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
    return DemoRow(f"W1, 1-D histograms n={n}", "ot.wasserstein p=1", t,
                   (Check("abs. W1", abs(d - exact), reg * np.log(n * n)),), steps=_steps(res),
                   note="reg 1e-3, random weights; exact W1 = integral of |CDF_a - CDF_b|")


def _random_assignment() -> DemoRow:
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
    note = "" if res.success else res.message
    return DemoRow(f"random assignment n={n}", "ot.solve, reg 1/1200", t,
                   (Check("abs. cost", abs(res.cost - exact), reg * np.log(n * n)),
                    Check("L1 marginal error", res.marginal_error, 1e-10)),
                   steps=_steps(res), note=note)


def _warm_up() -> Untimed:
    # numba compiles the OT kernels on their first use (once: cache=True keeps them on
    # disk). A first solve below COMPILE_MIN_SIZE plan entries runs the NumPy twins rather
    # than wait for LLVM; the tour wants the kernels, so it compiles (or loads) them on a
    # tiny problem (the serial ones, which every problem of this table runs), untimed.
    from ..ot import _kernels, solve

    t = time.perf_counter()
    saved = _kernels.COMPILE_MIN_SIZE
    _kernels.COMPILE_MIN_SIZE = 0
    try:
        solve(np.random.default_rng(0).random((8, 8)), reg=1e-2, warn=False)
    finally:
        _kernels.COMPILE_MIN_SIZE = saved
    return Untimed("OT kernels warmed up on an 8x8 problem", time.perf_counter() - t)


def rows() -> Iterator[DemoRow | Untimed]:
    yield _warm_up()
    yield _w2_gaussians()
    yield _w1_histograms()
    yield _random_assignment()
