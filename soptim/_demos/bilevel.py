"""Demo part for :mod:`soptim.bilevel`: the LV-HBA paper's lower-level-constrained toy.

The toy (n = 100) couples x and y through the lower-level equality
``1.x + 1.y1 + 1.y2 = 0`` and is linear in ``y2`` (the lower level has many
solutions). Its solution, checked by hand from the KKT conditions, is
``x* = -0.3`` (all components), ``F* = 5`` and lower-level multiplier ``-1``:
one solve, three checks in one row.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from . import Check, DemoRow

TITLE = "soptim.bilevel.minimize: LV-HBA, bilevel with a constrained lower level, Hessian-free"
STEPS = "iterations"


def rows() -> Iterator[DemoRow]:
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
    failed = 0.0 if res.success else float("inf")
    checks = (
        Check("rel. x", float(np.linalg.norm(res.x - x_star) / np.linalg.norm(x_star)) + failed,
              1e-3),
        Check("F = 5: rel. error", abs(float(res.fun) - 5.0) / 5.0 + failed, 1e-3),
        Check("multiplier -1: abs. error",
              float(abs(res.multipliers["lam_h"][0] + 1.0)) + failed, 1e-3),
    )
    yield DemoRow(f"LV-HBA toy n={n}", "bilevel lv-hba", seconds, checks, steps=str(res.nit),
                  note="" if res.success else res.message)
