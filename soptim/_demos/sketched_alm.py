"""Demo part for ``method='sketched-alm'``: three HS problems and the PDE-constrained problem.

Known answers: the published optimal values of HS40 (exactly -1/4), HS61
(-143.6461422, seven decimals, so relative errors below ~3e-10 are below the
rounding of the published value) and HS71 (17.0140173, with an inequality, an
equality and bounds; Hock & Schittkowski 1981) and, for the
PDE-constrained control problem (a QP), the exact solution from one sparse
direct solve of its KKT system (computed outside the timed solve). The steps
column counts the outer (augmented-Lagrangian Newton) iterations; the inner
sketch iterations and the KKT residual the solver reports are in the note.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
from scipy.optimize import LinearConstraint

from . import Check, DemoRow

TITLE = "minimize(method='sketched-alm'): constraints by exact augmented-Lagrangian Newton"
STEPS = "outer Newton iterations (the note gives the inner sketch iterations)"


def _note(res, extra: str = "") -> str:
    k = res.n_sketch_iter
    text = (f"{k} sketch iteration{'' if k == 1 else 's'}, KKT residual {res.optimality:.1e}"
            + (f"; {extra}" if extra else ""))
    return text if res.success else f"{text}; {res.message}"


def rows() -> Iterator[DemoRow]:
    from .. import minimize
    from ..optimize._hs_ineq import HS_INEQ_PROBLEMS
    from ..optimize._test_problems import HS_PROBLEMS, hs_constraint, pde_control_problem

    published = {"HS40": "f* = -1/4 exactly",
                 "HS61": "f* = -143.6461422 as published, to 7 decimals (rel. 3.5e-10)"}
    for name, sketch in (("HS40", "block"), ("HS61", "kaczmarz")):
        p = HS_PROBLEMS[name]
        t = time.perf_counter()
        res = minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g,
                       constraints=hs_constraint(p), options={"sketch": sketch, "rng": 0})
        dt = time.perf_counter() - t
        err = abs(res.fun - p.fstar) / abs(p.fstar) if res.success else np.inf
        yield DemoRow(f"{name} (Hock-Schittkowski)", f"sketched-alm {sketch}", dt,
                      (Check("rel. f-f*", err, 1e-6),), steps=str(res.nit),
                      note=_note(res, published[name]))

    p = HS_INEQ_PROBLEMS["HS71"]
    t = time.perf_counter()
    res = minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g, bounds=p.bounds,
                   constraints=p.constraints(), options={"rng": 0})
    dt = time.perf_counter() - t
    err = abs(res.fun - p.fstar) / abs(p.fstar) if res.success else np.inf
    yield DemoRow("HS71 (ineq., eq., bounds)", "sketched-alm block", dt,
                  (Check("rel. f-f*", err, 1e-6),), steps=str(res.nit),
                  note=_note(res, "the inequality and the bounds by an active set; f* = "
                                  "17.0140173 as published, to 7 decimals (rel. 2.9e-9)"))

    N = 24
    prob = pde_control_problem(N)
    x_ref, _ = prob["kkt_solution"]()
    con = LinearConstraint(prob["A"], 0.0, 0.0)
    t = time.perf_counter()
    res = minimize(prob["fun"], prob["x0"], method="sketched-alm", jac=prob["jac"],
                   hess=prob["hess"], constraints=con, options={"rng": 0})
    dt = time.perf_counter() - t
    err = float(np.abs(res.x - x_ref).max() / np.abs(x_ref).max()) if res.success else np.inf
    yield DemoRow(f"PDE control N={N}", "sketched-alm block", dt,
                  (Check("max rel. x", err, 1e-8),), steps=str(res.nit),
                  note=_note(res, f"n = {prob['n']}, m = {prob['m']}; reference: one sparse "
                                  "direct solve of the KKT system"))
