"""Newton stage of Sinkhorn-Newton-Sparse (Tang et al., ICLR 2024, Algorithm 1).

Each step: the plan and its marginals (one fused O(nm) pass, which also
histograms ``log P``), a sparsified Hessian (diagonal blocks exact, the
off-diagonal block ``P`` reduced to its largest entries), a Newton direction
by preconditioned CG on the Schur complement, and a backtracking Armijo line
search on the dual (each trial is one fused plan pass, whose output is the
next step's plan when accepted).

Beyond the paper: the kept fraction is adapted from the observed progress
(:class:`._sparsify.DensityController`), and a step the line search rejects
makes the Hessian denser before anything else -- near 1e-12 a fixed budget of
entries is what stalls SNS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ._kernels import hist_window, newton_direction, select_entries
from ._problem import Workspace
from ._sparsify import DensityController, choose_threshold

__all__ = ["NewtonOptions", "newton_stage"]


@dataclass
class NewtonOptions:
    """Tuning of the Newton stage (all have working defaults)."""

    drop0: float = 1e-2  # initial dropped-mass fraction of the sparsified Hessian
    drop_min: float = 1e-14  # floor: the Hessian is then essentially exact
    max_density: float = 1.0  # cap on kept entries / (n m)
    cg_maxiter: int = 1000
    armijo: float = 1e-4  # sufficient-increase constant c1
    backtrack: float = 0.5
    max_backtracks: int = 30
    shift: float = 1e-3  # Tikhonov shift of the g-block, times min(err, 1) * mean(c)


@dataclass
class NewtonState:
    """Where the Newton stage stopped (the plan buffer of the workspace matches f, g)."""

    f: Any
    g: Any
    r: Any
    c: Any
    total: float
    err: float
    nit: int = 0
    cg_iters: int = 0
    failed: bool = False
    message: str = ""
    densities: list[float] = field(default_factory=list)


def newton_stage(ws: Workspace, a: Any, b: Any, f: Any, g: Any, tol: float, max_steps: int,
                 history: list[float], opts: NewtonOptions) -> NewtonState:
    """Run sparse Newton steps from ``(f, g)`` until the L1 marginal error is <= ``tol``.

    Appends the error of every accepted iterate to ``history``. On return the
    workspace buffer holds the plan at the returned potentials.
    """
    xp = ws.be.xp
    reg = ws.reg
    n, m = ws.shape
    window = hist_window(a, b)
    mass = float(a.sum())
    r, c, total, counts = ws.plan(f, g, window)
    err = _l1(xp, a, r) + _l1(xp, b, c)
    dual = float(a @ f + b @ g) - reg * total
    ctrl = DensityController(drop0=opts.drop0, drop_min=opts.drop_min)
    st = NewtonState(f, g, r, c, total, err)
    min_nnz = n + m
    max_nnz = max(min_nnz, int(opts.max_density * n * m))
    if not math.isfinite(err):
        st.failed, st.message = True, "the starting plan overflows (non-finite marginals)"
        return st
    while err > tol and st.nit < max_steps:
        thresh, _ = choose_threshold(counts, window, ctrl.drop, min_nnz, max_nnz)
        Ps = select_entries(ws.P, thresh, ws.be)
        g1, g2 = a - r, b - c
        rel = err / mass
        shift = opts.shift * min(rel, 1.0) * mass / m
        df, dg, cgit = newton_direction(Ps, r, c, g1, g2, shift, min(0.1, rel),
                                        opts.cg_maxiter, ws.be)
        st.cg_iters += cgit
        df *= reg
        dg *= reg
        slope = float(g1 @ df + g2 @ dg)
        scale = abs(float(a @ f)) + abs(float(b @ g)) + reg * total
        t = 1.0
        accepted = False
        for _ in range(opts.max_backtracks):
            fn, gn = f + t * df, g + t * dg
            rn, cn, totn, countsn = ws.plan(fn, gn, window)
            errn = _l1(xp, a, rn) + _l1(xp, b, cn)
            dualn = float(a @ fn + b @ gn) - reg * totn
            if math.isfinite(dualn) and math.isfinite(errn) and (
                    dualn >= dual + opts.armijo * t * slope
                    # below rounding, the dual cannot rank steps: the error can
                    or (errn < err and dualn >= dual - 64 * 2.2e-16 * scale)):
                accepted = True
                break
            t *= opts.backtrack
        if not accepted:
            # restore the plan at (f, g) and retry with a denser Hessian
            r, c, total, counts = ws.plan(f, g, window)
            if ctrl.densify():
                continue
            st.failed = True
            st.message = ("the line search found no ascent step with an exact Hessian "
                          "(rounding limits the attainable marginal error)")
            break
        ctrl.update(errn / err, t)
        st.densities.append(Ps.nnz / (n * m))
        f, g, r, c, total, counts = fn, gn, rn, cn, totn, countsn
        err, dual = errn, dualn
        st.nit += 1
        history.append(err)
    st.f, st.g, st.r, st.c, st.total, st.err = f, g, r, c, total, err
    return st


def _l1(xp: Any, u: Any, v: Any) -> float:
    return float(xp.abs(u - v).sum())
