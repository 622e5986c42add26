"""Demo rows for soptim.approx: ChebTucker fits checked against closed forms.

Errors are relative max errors on 20,000 random points of the box (never on
the sampling grid), and an integral against its closed form.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.special import erf

from ..approx._examples import erf_over_r, gauss10, shifted_newton
from . import DemoRow

__all__ = ["rows"]

_CUBE = [(-1.0, 1.0)] * 3


def _fit_row(name: str, f, tol: float) -> DemoRow:
    from soptim.approx import ChebTucker

    t = time.perf_counter()
    ct = ChebTucker.fit(f, _CUBE, tol=tol)
    seconds = time.perf_counter() - t
    P = np.random.default_rng(0).uniform(-1.0, 1.0, (20000, 3))
    exact = f(*P.T)
    err = float(np.abs(ct.evaluate(P) - exact).max() / np.abs(exact).max())
    method = (f"ChebTucker {ct.method} deg {max(ct.degrees)} ranks {ct.ranks}, "
              f"{ct.n_evaluations} values of f")
    # tol bounds the degree tail and the Frobenius HOSVD truncation separately
    return DemoRow(name, method, max(ct.degrees), seconds, err, 2 * tol,
                   measure="rel. max err")


def rows() -> list[DemoRow]:
    """Fits of the spec's reference functions and one exact integral."""
    from soptim.approx import ChebTucker

    out = [
        _fit_row("1/|x-(2,0,0)| on [-1,1]^3, tol 1e-6", shifted_newton, 1e-6),
        _fit_row("erf(5r)/r on [-1,1]^3, tol 1e-6", erf_over_r(5.0), 1e-6),
        # the full grid would take 129^3 = 2,146,689 values of f; the cross ~2e4
        _fit_row("erf(10r)/r on [-1,1]^3, tol 1e-6", erf_over_r(10.0), 1e-6),
    ]
    t = time.perf_counter()
    ct = ChebTucker.fit(gauss10, _CUBE, tol=1e-12)
    value = ct.integrate()
    seconds = time.perf_counter() - t
    exact = (np.sqrt(np.pi / 10.0) * erf(np.sqrt(10.0))) ** 3
    out.append(DemoRow("int exp(-10|x|^2) over [-1,1]^3", f"ChebTucker ranks {ct.ranks}",
                       max(ct.degrees), seconds, abs(value - exact) / exact, 1e-12))
    return out
