"""Demo rows for method 'gns' (gradient-normalized regularized Newton)."""

from __future__ import annotations

import time

import numpy as np
import scipy.optimize
from scipy.optimize import rosen, rosen_der, rosen_hess

from ..optimize import minimize
from ..optimize._gns_examples import synthetic_logistic
from . import DemoRow


def _rosenbrock(n: int, x0) -> DemoRow:
    t0 = time.perf_counter()
    res = minimize(rosen, x0, method="gns", jac=rosen_der, hess=rosen_hess, tol=1e-10)
    seconds = time.perf_counter() - t0
    # known answer: x* = (1, ..., 1)
    error = float(np.abs(res.x - 1.0).max()) if res.success else float("inf")
    return DemoRow(f"Rosenbrock n={n}", "gns (exact Hessian)", res.nit, seconds, error, 1e-8,
                   "max |x - 1|")


def _logistic() -> list[DemoRow]:
    N, d, alpha = 2000, 20, 1e-3
    p = synthetic_logistic(N, d, cond_exponent=2, alpha=alpha)
    fg, hess, gauss_newton, per_sample_grads = (p["fg"], p["hess"], p["gauss_newton"],
                                                p["per_sample_grads"])

    # independent reference: scipy's trust-exact run to a gradient norm of 1e-13
    ref = scipy.optimize.minimize(fg, np.zeros(d), jac=True, hess=hess, method="trust-exact",
                                  options={"gtol": 1e-13})
    rows = []
    for label, kw in (("exact Hessian", {"hess": hess}),
                      ("Gauss-Newton", {"options": {"residuals": gauss_newton,
                                                    "hess_diag": alpha}}),
                      ("Fisher", {"options": {"per_sample_grads": per_sample_grads,
                                              "hess_diag": alpha}})):
        t0 = time.perf_counter()
        res = minimize(fg, np.zeros(d), method="gns", jac=True, tol=1e-9, **kw)
        seconds = time.perf_counter() - t0
        error = abs(res.fun - ref.fun) / abs(ref.fun) if res.success else float("inf")
        rows.append(DemoRow(f"logistic regression N={N} d={d}", f"gns ({label})", res.nit,
                            seconds, error, 1e-10, "rel. error f (vs trust-exact)"))
    return rows


def rows() -> list[DemoRow]:
    """Rosenbrock 2-D from (-2, 2) and 100-D, and a logistic regression with three models."""
    x0 = np.full(100, -1.0)
    x0[::2] = -1.2
    return [_rosenbrock(2, np.array([-2.0, 2.0])), _rosenbrock(100, x0)] + _logistic()
