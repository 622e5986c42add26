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


def rows() -> list[DemoRow]:
    """Solve the toy at n = 100 and compare with its known solution."""
    from ..bilevel import minimize
    from ..bilevel._examples import lower_constrained_toy

    n = 100
    p = lower_constrained_toy(n)
    t0 = time.perf_counter()
    res = minimize(p["F"], p["f"], p["x0"], p["y0"], jac_F=p["jac_F"], jac_f=p["jac_f"],
                   h=p["h"], jac_h=p["jac_h"])
    seconds = time.perf_counter() - t0
    x_star = p["x_star"]
    err_x = float(np.linalg.norm(res.x - x_star) / np.linalg.norm(x_star))
    ok = 0.0 if res.success else np.inf
    return [
        DemoRow("LV-HBA toy n=100: x", "lv-hba", res.nit, seconds, err_x + ok, 1e-3),
        DemoRow("LV-HBA toy n=100: F = 5", "lv-hba", res.nit, seconds,
                abs(res.fun - 5.0) / 5.0 + ok, 1e-3),
        DemoRow("LV-HBA toy n=100: multiplier -1", "lv-hba", res.nit, seconds,
                float(abs(res.multipliers["lam_h"][0] + 1.0)) + ok, 1e-3, measure="abs. error"),
    ]
