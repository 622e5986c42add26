"""Known-answer bilevel problems, shared by the tests, the demo and the benchmarks."""

from __future__ import annotations

import numpy as np

__all__ = ["lower_constrained_toy"]


def lower_constrained_toy(n: int) -> dict:
    """The lower-level-constrained toy of Yao et al. (2024), with its solution.

    ``min 1/2||x - y2||^2 + 1/2||y1 - 1||^2`` over ``y = (y1, y2)`` in
    ``argmin 1/2||y1||^2 - x.y1 + 1.y2  s.t.  1.x + 1.y1 + 1.y2 = 0``.
    The lower level is linear in ``y2``, so ``S(x)`` is not a singleton.

    Solution (checked by hand): ``S(x) = {y1 = x + 1, sum(y2) = -2 sum(x) - n}``
    with multiplier ``lam = -1`` (from the ``y2`` stationarity ``1 + lam = 0``);
    the upper level over ``S(x)`` is a strictly convex QP whose KKT point is
    ``x = -0.3, y1 = 0.7, y2 = -0.4`` and ``F = n/2 (0.1^2 + 0.3^2) = n/20``.

    Returns
    -------
    dict
        ``F, f, jac_F, jac_f, h, jac_h`` (callables), ``x0, y0`` (zeros) and the
        solution ``x_star, y1_star, y2_star, F_star, lam_star``.
    """

    def F(x, y):
        return 0.5 * np.sum((x - y[n:]) ** 2) + 0.5 * np.sum((y[:n] - 1) ** 2)

    def jac_F(x, y):
        return x - y[n:], np.concatenate([y[:n] - 1, y[n:] - x])

    def f(x, y):
        return 0.5 * y[:n] @ y[:n] - x @ y[:n] + y[n:].sum()

    def jac_f(x, y):
        return -y[:n], np.concatenate([y[:n] - x, np.ones(n)])

    def h(x, y):
        return np.array([x.sum() + y.sum()])

    def jac_h(x, y):
        return np.ones((1, n)), np.ones((1, 2 * n))

    return dict(F=F, f=f, jac_F=jac_F, jac_f=jac_f, h=h, jac_h=jac_h,
                x0=np.zeros(n), y0=np.zeros(2 * n),
                x_star=np.full(n, -0.3), y1_star=np.full(n, 0.7), y2_star=np.full(n, -0.4),
                F_star=n / 20.0, lam_star=-1.0)
