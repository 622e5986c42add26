"""Known test functions of the Chebyshev-Tucker paper, shared by the tests, the demo and the
benchmarks (vectorized over broadcastable arrays, numpy ufunc style)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import erf

__all__ = ["erf_over_r", "shifted_newton", "gauss10"]


def erf_over_r(a: float, center: Sequence[float] = (0.0, 0.0, 0.0)) -> Callable:
    """``erf(a r)/r`` with ``r = ||x - center||``: the smooth long-range part of ``1/r``.

    At ``r -> 0`` it takes its limit ``2a/sqrt(pi)`` (a two-term series below
    ``r = 1e-6``, where the quotient would lose digits).
    """

    def f(x, y, z):
        r = np.sqrt((x - center[0]) ** 2 + (y - center[1]) ** 2 + (z - center[2]) ** 2)
        small = r < 1e-6
        rs = np.where(small, 1.0, r)
        series = 2 * a / np.sqrt(np.pi) * (1 - (a * r) ** 2 / 3)
        return np.where(small, series, erf(a * rs) / rs)

    return f


def shifted_newton(x, y, z):
    """``1/||x - (2, 0, 0)||``: the Newton kernel with its singularity outside [-1, 1]^3."""
    return 1.0 / np.sqrt((x - 2.0) ** 2 + y**2 + z**2)


def gauss10(x, y, z):
    """``exp(-10 ||x||^2)``: separable, so its Tucker ranks are exactly (1, 1, 1)."""
    return np.exp(-10.0 * (x**2 + y**2 + z**2))
