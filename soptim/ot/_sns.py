"""Newton stage of Sinkhorn-Newton-Sparse (Tang et al., ICLR 2024, Algorithm 1).

Each step: the plan and its marginals (one fused O(nm) pass, which also
histograms ``log P``; after the stage's first, each plan is scaled from a reference
kernel, ``diag(u) K0 diag(v)``, without exponentials -- see
:meth:`._problem.Workspace.newton_plan`), a sparsified Hessian (diagonal blocks exact, the
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
import time
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..backend import to_numpy
from ._kernels import hist_window, newton_direction, select_entries
from ._problem import Workspace
from ._sinkhorn import CHEAP_MAX_FACTOR, sinkhorn_sweeps, slowdown_switch
from ._sparsify import DensityController, choose_threshold

__all__ = ["NewtonOptions", "newton_stage", "sns_solve", "reg_schedule", "SNSOutcome",
           "sns_regs", "first_switch", "stage_tol"]


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
    max_stall: int = 10  # steps at the rounding level without halving the error
    shift: float = 1e-3  # Tikhonov shift of the g-block, times min(err, 1) * mean(c)
    # Largest change of one potential in one step, in units of reg (a scaling changes by at
    # most e^8). Added to the paper: the Newton system is linear in the scalings, and on
    # rows and columns of tiny mass (Gaussian tails 1e-17) it asks for e^2600; one step
    # length for all coordinates then cut every step to 1/32 (grids of 100..600 points at
    # reg 1e-4: 250 -> 76 steps, 10x faster; random and cloud problems: same steps).
    max_log_step: float = 8.0


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
    n_plans: int = 0
    failed: bool = False
    message: str = ""
    densities: list[float] = field(default_factory=list)


def newton_stage(ws: Workspace, a: Any, b: Any, f: Any, g: Any, tol: float, max_steps: int,
                 history: list[float], opts: NewtonOptions) -> NewtonState:
    """Run sparse Newton steps from ``(f, g)`` until the L1 marginal error is <= ``tol``.

    Appends the error of every accepted iterate to ``history``. On return the
    workspace buffer holds the plan at the returned potentials.
    """
    ws.begin_newton()
    try:
        return _newton_steps(ws, a, b, f, g, tol, max_steps, history, opts)
    finally:
        ws.end_newton()


def _newton_steps(ws: Workspace, a: Any, b: Any, f: Any, g: Any, tol: float, max_steps: int,
                  history: list[float], opts: NewtonOptions) -> NewtonState:
    xp = ws.be.xp
    reg = ws.reg
    n, m = ws.shape
    window = hist_window(a, b)
    mass = float(a.sum())
    r, c, total, counts = ws.newton_plan(f, g, window)
    err = _l1(xp, a, r) + _l1(xp, b, c)
    dual = float(a @ f + b @ g) - reg * total
    ctrl = DensityController(drop0=opts.drop0, drop_min=opts.drop_min)
    st = NewtonState(f, g, r, c, total, err)
    min_nnz = n + m
    max_nnz = max(min_nnz, int(opts.max_density * n * m))
    if not math.isfinite(err):
        st.failed, st.message = True, "the starting plan overflows (non-finite marginals)"
        return st
    best, stall = err, 0
    # marginal sums of n or m terms are exact only to about this level
    rounding = 100 * _EPS * mass * math.sqrt(n + m)
    while err > tol and st.nit < max_steps:
        # rows / columns far from their masses (tiny masses: after a reg decrease, or
        # pushed there by a step) get exact scalings before the step (see MAX_LOG_RATIO)
        f, g, r, c, total, counts, rebalanced = _rebalance(ws, a, b, f, g, r, c, total,
                                                           counts, window)
        if rebalanced:
            err = _l1(xp, a, r) + _l1(xp, b, c)
            dual = float(a @ f + b @ g) - reg * total
            if err <= tol:
                break
        thresh, est = choose_threshold(counts, window, ctrl.drop, min_nnz, max_nnz)
        Ps = select_entries(ws.P, thresh, ws.be, nnz_hint=est)
        g1, g2 = a - r, b - c
        rel = err / mass
        shift = opts.shift * min(rel, 1.0) * mass / m
        df, dg, cgit = newton_direction(Ps, r, c, g1, g2, shift, min(0.1, rel),
                                        opts.cg_maxiter, ws.be)
        st.cg_iters += cgit
        df *= reg
        dg *= reg
        # added to the paper: no potential moves by more than max_log_step * reg in one
        # step (see NewtonOptions)
        cap = opts.max_log_step * reg
        xp.clip(df, -cap, cap, out=df)
        xp.clip(dg, -cap, cap, out=dg)
        slope = float(g1 @ df + g2 @ dg)
        scale = abs(float(a @ f)) + abs(float(b @ g)) + reg * total
        t = 1.0
        accepted = False
        # not an ascent direction (CG broke down in rounding): no line search, densify
        for _ in range(opts.max_backtracks if slope > 0 else 0):
            fn, gn = f + t * df, g + t * dg
            rn, cn, totn, countsn = ws.newton_plan(fn, gn, window)
            st.n_plans += 1
            with np.errstate(over="ignore", invalid="ignore"):  # overflowing trials: rejected
                errn = _l1(xp, a, rn) + _l1(xp, b, cn)
                dualn = float(a @ fn + b @ gn) - reg * totn
            if math.isfinite(dualn) and math.isfinite(errn) and (
                    dualn >= dual + opts.armijo * t * slope
                    # below rounding, the dual cannot rank steps: the error can
                    or (errn < err and dualn >= dual - 64 * _EPS * scale)):
                accepted = True
                break
            t *= opts.backtrack
        if not accepted:
            # restore the plan at (f, g) and retry with a denser Hessian
            r, c, total, counts = ws.newton_plan(f, g, window)
            if Ps.nnz < n * m and ctrl.densify():
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
        if err <= 0.5 * best or err > rounding:
            best, stall = min(err, best), 0
        else:
            stall += 1
            if stall >= opts.max_stall:
                st.failed = True
                st.message = (f"no progress in {stall} Newton steps (the error is at the "
                              "rounding level of this problem)")
                break
    st.f, st.g, st.r, st.c, st.total, st.err = f, g, r, c, total, err
    return st


_EPS = float(np.finfo(np.float64).eps)

#: Largest |log(a_i / r_i)| (or |log(b_j / c_j)|) a Newton step starts from. Added to
#: the paper: after a reg decrease, or after a step, rows of tiny mass (Gaussian tails,
#: 1e-17..1e-28) can carry plan sums many orders below their mass; the Newton system,
#: linear in the scalings, then asks for steps of 1e20 that every line-search trial
#: rejects. Exact log-domain scalings of those rows and columns (Sinkhorn half-steps
#: restricted to them, each an exact maximization of the dual in those potentials)
#: bring the ratios back before every step.
MAX_LOG_RATIO = 8.0
_REBALANCE_ROUNDS = 20


def _rebalance(ws: Workspace, a: Any, b: Any, f: Any, g: Any, r: Any, c: Any, total: float,
               counts: Any, window) -> tuple:
    """Rescale the rows / columns whose marginal ratio exceeds :data:`MAX_LOG_RATIO`."""
    xp = ws.be.xp
    reg = ws.reg
    changed = False
    for _ in range(_REBALANCE_ROUNDS):
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = xp.where(a > 0, xp.log(a) - xp.log(r), 0.0)
            lc = xp.where(b > 0, xp.log(b) - xp.log(c), 0.0)
        bad_r = xp.abs(lr) > MAX_LOG_RATIO
        bad_c = xp.abs(lc) > MAX_LOG_RATIO
        if not (bool(bad_r.any()) or bool(bad_c.any())):
            break
        if not (bool(xp.isfinite(lr).all()) and bool(xp.isfinite(lc).all())):
            break  # an empty row or column: nothing to rescale towards
        changed = True
        if bool(bad_r.any()):
            f = f + reg * xp.where(bad_r, lr, 0.0)
            r, c, total, counts = ws.newton_plan(f, g, window)
            with np.errstate(divide="ignore", invalid="ignore"):
                lc = xp.where(b > 0, xp.log(b) - xp.log(c), 0.0)
            bad_c = xp.abs(lc) > MAX_LOG_RATIO
        if bool(bad_c.any()) and bool(xp.isfinite(lc).all()):
            g = g + reg * xp.where(bad_c, lc, 0.0)
            r, c, total, counts = ws.newton_plan(f, g, window)
    return f, g, r, c, total, counts, changed


def _l1(xp: Any, u: Any, v: Any) -> float:
    return float(xp.abs(u - v).sum())


@dataclass
class SNSOutcome:
    """Potentials, marginals and counters of a full SNS run."""

    f: Any
    g: Any
    r: Any
    c: Any
    total: float
    n_sinkhorn: int = 0
    n_newton: int = 0
    cg_iters: int = 0
    n_plans: int = 0
    failed: bool = False
    message: str = ""
    densities: list[float] = field(default_factory=list)
    regs: list[float] = field(default_factory=list)
    time_sinkhorn: float = 0.0
    time_newton: float = 0.0


def reg_schedule(M: Any, reg: float, start: float, factor: float,
                 spread: float | None = None) -> list[float]:
    """Decreasing regularizations ending at ``reg`` (continuation / epsilon-scaling).

    Starts at ``start * (max M - min M)`` and divides by ``factor`` each stage; a
    single stage when ``reg`` is already that large. Newton converges in a few steps
    from the solution of the previous stage, where from a cold start at tiny ``reg``
    it needs many damped steps.
    """
    if spread is None:
        spread = float(to_numpy(M.max() - M.min()))
    reg0 = start * spread
    if not (factor > 1) or reg * factor > reg0:
        return [reg]
    k = int(math.ceil(math.log(reg0 / reg) / math.log(factor)))
    return [reg * factor ** i for i in range(k, 0, -1)] + [reg]


def sns_regs(ws: Workspace, opts: dict) -> list[float]:
    """The ``reg`` schedule of an SNS solve (one stage without ``reg_scaling``)."""
    return (reg_schedule(ws.M, ws.reg, opts.get("scaling_start", 0.02),
                         opts.get("scaling_factor", 8.0), ws.spread)
            if opts.get("reg_scaling", True) else [ws.reg])


def first_switch(mass: float, tol_0: float, budget: int, opts: dict):
    """The warm-start rule of the first stage (:func:`._sinkhorn.slowdown_switch`)."""
    sinkhorn_max = opts.get("sinkhorn_max", 200)
    return slowdown_switch(opts.get("sinkhorn_min", 5), opts.get("switch_ratio", 0.95),
                           opts.get("switch_tol", 1e-3) * mass, min(sinkhorn_max, budget),
                           tol_0, cheap_max=min(CHEAP_MAX_FACTOR * sinkhorn_max,
                                                max(budget // 2, 1)))


def stage_tol(k: int, n_stages: int, tol: float, mass: float, opts: dict) -> float:
    """Tolerance of stage ``k``: ``tol`` at the last, ``stage_tol`` (relative) before."""
    return tol if k == n_stages - 1 else max(tol, opts.get("stage_tol", 1e-3) * mass)


def sns_solve(ws: Workspace, a: Any, b: Any, f0: Any, tol: float, max_iter: int,
              history: list[float], opts: dict, first: Any = None) -> SNSOutcome:
    """Sinkhorn warm start then sparse Newton, over a decreasing ``reg`` schedule.

    Intermediate stages are solved to a loose relative error (``stage_tol``), the
    last one to ``tol``. ``ws.reg`` is restored on return. ``first``: the first stage's
    kernel-domain sweeps, already run (a batch's, see :func:`._sinkhorn.batch_kernel_sweeps`).
    """
    reg = ws.reg
    xp = ws.be.xp
    mass = float(a.sum())
    loga, logb = xp.log(a), xp.log(b)
    regs = sns_regs(ws, opts)
    nopts = NewtonOptions(**{k: v for k, v in opts.items() if k in _NEWTON_FIELDS})
    out = SNSOutcome(f0, None, None, None, 0.0, regs=regs)
    f = f0
    final = False  # whether the last (target reg) stage was reached
    try:
        for k, reg_k in enumerate(regs):
            ws.reg = reg_k
            last = final = k == len(regs) - 1
            tol_k = stage_tol(k, len(regs), tol, mass, opts)
            budget = max_iter - out.n_sinkhorn - out.n_newton
            if k == 0:
                switch = first_switch(mass, tol_k, budget, opts)
            else:
                # from the previous stage's solution Newton is already close: one sweep
                switch = _one_sweep
            t0 = time.perf_counter()
            f, g, ns, converged = sinkhorn_sweeps(ws, a, loga, logb, f, None, budget, tol_k,
                                                  history, switch,
                                                  kernel=opts.get("kernel", True), b=b,
                                                  first=first if k == 0 else None)
            t1 = time.perf_counter()
            out.n_sinkhorn += ns
            out.time_sinkhorn += t1 - t0
            budget -= ns
            if converged and last:
                out.f, out.g = f, g
                out.r, out.c, out.total = ws.plan_at(f, g, hist_window(a, b))
                return out
            if converged:
                continue
            st = newton_stage(ws, a, b, f, g, tol_k, budget, history, nopts)
            out.time_newton += time.perf_counter() - t1
            out.n_newton += st.nit
            out.cg_iters += st.cg_iters
            out.n_plans += st.n_plans + 1
            out.densities += st.densities
            f, g = st.f, st.g
            out.f, out.g, out.r, out.c, out.total = st.f, st.g, st.r, st.c, st.total
            if st.failed and last:
                out.failed, out.message = True, st.message
            if st.err > tol_k and not st.failed:
                break  # out of iterations (a failed intermediate stage goes on to the next)
    finally:
        ws.reg = reg
    if not final:
        # out of iterations at an intermediate stage: report the plan at the target reg
        out.r, out.c, out.total, _ = ws.plan(out.f, out.g, hist_window(a, b))
    return out


def _one_sweep(history: list[float], cheap: bool = False) -> bool:
    return True


_NEWTON_FIELDS = {fl.name for fl in fields(NewtonOptions)}
