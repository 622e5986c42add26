"""Demo rows for ``method='sketched-alm'``: an HS problem and the PDE-constrained problem.

Errors are measured against known answers: the published optimal value of
HS40 (Hock & Schittkowski 1981) and, for the PDE-constrained control problem
(a QP), the exact solution from one sparse direct solve of its KKT system.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from scipy.optimize import LinearConstraint

from . import DemoRow


def rows() -> list[DemoRow]:
    from .. import minimize
    from ..optimize._test_problems import HS_PROBLEMS, hs_constraint, pde_control_problem

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, sketch in (("HS40", "block"), ("HS61", "kaczmarz")):
            p = HS_PROBLEMS[name]
            t = time.perf_counter()
            res = minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g,
                           constraints=hs_constraint(p), options={"sketch": sketch, "rng": 0})
            dt = time.perf_counter() - t
            err = abs(res.fun - p.fstar) / abs(p.fstar) if res.success else np.inf
            out.append(DemoRow(f"{name} (published f*)", f"sketched-alm/{sketch}", res.nit, dt,
                               err, 1e-6))

        N = 24
        prob = pde_control_problem(N)
        x_ref, _ = prob["kkt_solution"]()
        con = LinearConstraint(prob["A"], 0.0, 0.0)
        t = time.perf_counter()
        res = minimize(prob["fun"], prob["x0"], method="sketched-alm", jac=prob["jac"],
                       hess=prob["hess"], constraints=con, options={"rng": 0})
        dt = time.perf_counter() - t
        err = (float(np.abs(res.x - x_ref).max() / np.abs(x_ref).max()) if res.success
               else np.inf)
        out.append(DemoRow(f"PDE control N={N} (direct KKT)", "sketched-alm/block", res.nit, dt,
                           err, 1e-8, measure="max rel. error x"))
    return out
