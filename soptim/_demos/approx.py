"""Demo part for :mod:`soptim.approx`: ChebTucker fits checked against closed forms.

Errors are relative max errors on 20,000 random points of the box (never on
the sampling grid; the evaluation is not timed), and an integral against its
closed form. A fit does not iterate: its degree, ranks and number of function
values go in the row's note, not in the steps column.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
from scipy.special import erf

from . import Check, DemoRow

TITLE = "soptim.approx.ChebTucker: Chebyshev-Tucker fits of functions on [-1,1]^3"
STEPS = "none (a fit; its degree, Tucker ranks and values of f are in the note)"

_CUBE = [(-1.0, 1.0)] * 3


def _describe(ct, tol: float) -> str:
    ranks = ",".join(str(r) for r in ct.ranks)
    return (f"{ct.method} sampling, degree {max(ct.degrees)}, ranks ({ranks}), "
            f"{ct.n_evaluations} values of f, fit tol {tol:g}")


def _fit_row(name: str, f: Callable, tol: float) -> DemoRow:
    from ..approx import ChebTucker

    t = time.perf_counter()
    ct = ChebTucker.fit(f, _CUBE, tol=tol)
    seconds = time.perf_counter() - t
    P = np.random.default_rng(0).uniform(-1.0, 1.0, (20000, 3))
    exact = f(*P.T)
    err = float(np.abs(ct.evaluate(P) - exact).max() / np.abs(exact).max())
    # tol bounds the degree tail and the Frobenius HOSVD truncation separately
    return DemoRow(name, f"ChebTucker.fit {ct.method}", seconds,
                   (Check("rel. max", err, 2 * tol),), note=_describe(ct, tol))


def rows() -> Iterator[DemoRow]:
    """Fits of the spec's reference functions and one exact integral."""
    from ..approx import ChebTucker
    from ..approx._examples import erf_over_r, gauss10, shifted_newton

    yield _fit_row("1/|x-(2,0,0)| on [-1,1]^3", shifted_newton, 1e-6)
    yield _fit_row("erf(5r)/r on [-1,1]^3", erf_over_r(5.0), 1e-6)
    # the full grid would take 129^3 = 2,146,689 values of f; the cross ~2e4
    yield _fit_row("erf(10r)/r on [-1,1]^3", erf_over_r(10.0), 1e-6)

    tol = 1e-12
    t = time.perf_counter()
    ct = ChebTucker.fit(gauss10, _CUBE, tol=tol)
    value = ct.integrate()
    seconds = time.perf_counter() - t
    exact = (np.sqrt(np.pi / 10.0) * erf(np.sqrt(10.0))) ** 3
    yield DemoRow("integral of exp(-10|x|^2)", "ChebTucker.integrate", seconds,
                  (Check("rel. error", abs(value - exact) / exact, 1e-12),),
                  note="over [-1,1]^3, against its closed form (pi/10)^(3/2) erf(sqrt 10)^3; "
                       "fit and integral timed; " + _describe(ct, tol))
