"""Demo part for ``method='gns'`` (gradient-normalized regularized Newton).

Known answers: Rosenbrock's minimizer ``(1, ..., 1)``, and for the logistic
regression the optimum found independently by scipy's ``trust-exact`` run to a
gradient norm of 1e-13 (computed before, and outside, the timed solves).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import scipy.optimize
from scipy.optimize import rosen, rosen_der, rosen_hess

from . import Check, DemoRow

TITLE = "minimize(method='gns'): gradient-normalized regularized Newton"
STEPS = "iterations (one Hessian model and one regularized Newton step each)"


def _rosenbrock(label: str, x0: np.ndarray) -> DemoRow:
    from ..optimize import minimize

    t0 = time.perf_counter()
    res = minimize(rosen, x0, method="gns", jac=rosen_der, hess=rosen_hess, tol=1e-10)
    seconds = time.perf_counter() - t0
    error = float(np.abs(res.x - 1.0).max()) if res.success else float("inf")
    return DemoRow(label, "gns, exact Hessian", seconds, (Check("max |x-1|", error, 1e-8),),
                   steps=str(res.nit), note="" if res.success else res.message)


def _logistic() -> Iterator[DemoRow]:
    from ..optimize import minimize
    from ..optimize._gns_examples import synthetic_logistic

    N, d, alpha = 2000, 20, 1e-3
    p = synthetic_logistic(N, d, cond_exponent=2, alpha=alpha)
    fg, hess = p["fg"], p["hess"]
    ref = scipy.optimize.minimize(fg, np.zeros(d), jac=True, hess=hess, method="trust-exact",
                                  options={"gtol": 1e-13})
    models = (("exact Hessian", {"hess": hess}, "reference: scipy trust-exact, gtol 1e-13"),
              ("Gauss-Newton", {"options": {"residuals": p["gauss_newton"],
                                            "hess_diag": alpha}}, ""),
              ("Fisher", {"options": {"per_sample_grads": p["per_sample_grads"],
                                      "hess_diag": alpha}}, ""))
    for label, kw, note in models:
        t0 = time.perf_counter()
        res = minimize(fg, np.zeros(d), method="gns", jac=True, tol=1e-9, **kw)
        seconds = time.perf_counter() - t0
        error = abs(res.fun - ref.fun) / abs(ref.fun) if res.success else float("inf")
        yield DemoRow(f"logistic N={N} d={d}", f"gns, {label}", seconds,
                      (Check("rel. f", error, 1e-10),), steps=str(res.nit),
                      note=note if res.success else res.message)


def rows() -> Iterator[DemoRow]:
    """Rosenbrock 2-D from (-2, 2) and 100-D, then a logistic regression with three models."""
    yield _rosenbrock("Rosenbrock n=2 x0=(-2,2)", np.array([-2.0, 2.0]))
    x0 = np.full(100, -1.0)
    x0[::2] = -1.2
    yield _rosenbrock("Rosenbrock n=100", x0)
    yield from _logistic()
