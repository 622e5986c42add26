"""Demo rows for :mod:`soptim.bilevel`: the LV-HBA paper's lower-level-constrained toy.

The toy (n = 100) couples x and y through the lower-level equality
``1.x + 1.y1 + 1.y2 = 0`` and is linear in ``y2`` (the lower level has many
solutions). Its solution, checked by hand from the KKT conditions, is
``x* = -0.3`` (all components), ``F* = 5`` and lower-level multiplier ``-1``.
"""

from __future__ import annotations

import time

import numpy as np

from . import DemoRow


def _toy(n: int):
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

    return F, f, jac_F, jac_f, h, jac_h


def rows() -> list[DemoRow]:
    """Solve the toy at n = 100 and compare with its known solution."""
    from ..bilevel import minimize

    n = 100
    F, f, jac_F, jac_f, h, jac_h = _toy(n)
    t0 = time.perf_counter()
    res = minimize(F, f, np.zeros(n), np.zeros(2 * n), jac_F=jac_F, jac_f=jac_f, h=h,
                   jac_h=jac_h)
    seconds = time.perf_counter() - t0
    x_star = np.full(n, -0.3)
    err_x = float(np.linalg.norm(res.x - x_star) / np.linalg.norm(x_star))
    ok = 0.0 if res.success else np.inf
    return [
        DemoRow("LV-HBA toy n=100: x", "lv-hba", res.nit, seconds, err_x + ok, 1e-3),
        DemoRow("LV-HBA toy n=100: F = 5", "lv-hba", res.nit, seconds,
                abs(res.fun - 5.0) / 5.0 + ok, 1e-3),
        DemoRow("LV-HBA toy n=100: multiplier -1", "lv-hba", res.nit, seconds,
                float(abs(res.multipliers["lam_h"][0] + 1.0)) + ok, 1e-3, measure="abs. error"),
    ]
