"""LV-HBA: bilevel optimization through the proximal Lagrangian value function.

The bilevel problem

    min_{x in X, y in Y} F(x, y)   s.t.  y in S(x) = argmin_{y' in Y} {f(x, y') : g(x, y') <= 0,
                                                                      h(x, y') = 0}

is rewritten (Yao et al., 2024) with the proximal value function of the lower
level,

    V(x, y) = min { f(x, theta) + ||theta - y||^2/(2 gamma1) :
                    theta in Y, g(x, theta) <= 0, h(x, theta) = 0 },

as ``min F(x, y) s.t. G(x, y) = f(x, y) - V(x, y) <= 0, (x, y) in C``. ``G >= 0`` on
``C`` and ``G = 0`` exactly when ``y`` solves the lower level, so ``G`` (the
value-function gap) certifies lower-level optimality. Its gradient needs no
Hessian: ``grad_x G = grad_x f(x, y) - grad_x f(x, theta) - J_x(x, theta)^T lam`` and
``grad_y G = grad_y f(x, y) - (y - theta)/gamma1``, with ``(theta, lam)`` the
primal-dual solution of the proximal lower level.

The published method takes one fixed step on each of ``theta``, ``lam``,
``(x, y)`` and the auxiliary multiplier ``z`` per iteration, with a penalty
``c_k = (k+1)^0.3``. Here each piece is made to converge on its own:

- the proximal lower level is solved to high accuracy at every outer point
  (warm-started, so a few steps), by accelerated projected gradient on the
  slice ``C(x)`` when the constraints are affine (exact projections; the
  multipliers come out of the projection), or by an augmented Lagrangian in
  which ``z`` is the multiplier estimate (the published ``z`` step, taken to
  its fixed point ``z = lam``) when they are not;
- the outer problem ``min F + c G`` over ``C`` is solved by spectral projected
  gradient (Barzilai-Borwein step sizes, a curvature estimate, with a
  nonmonotone Armijo backtracking on the penalized merit), switching to
  L-BFGS steps along the current face of ``C`` whenever the projected-gradient
  step does not change the face; when ``C`` is a box (no coupled
  constraints), by L-BFGS-B. The quasi-Newton metric is what copes with the
  conditioning of the penalized problem, which grows like ``c``;
- the penalty is increased geometrically (``c <- 10 c`` from ``c = 10``) each
  time the penalized problem is stationary, until the gap is below its
  tolerance.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize
from scipy.optimize import OptimizeResult

from .._common import (
    STATUS_CALLBACK,
    STATUS_FAILURE,
    STATUS_MAXITER,
    STATUS_NONFINITE,
    STATUS_SUCCESS,
    CallbackRunner,
    IterationPrinter,
    check_unknown_options,
    warn_not_converged,
)
from .._validation import (
    check_bool,
    check_choice,
    check_count,
    check_interval,
    check_positive,
)
from ..backend import to_numpy
from ._problem import BilevelProblem, parse_bounds
from ._projection import AffineProjector, InfeasibleSetError, NonlinearProjector, feasible_point

__all__ = ["minimize", "BilevelResult", "DEFAULT_OPTIONS"]

#: Default options of ``method='lv-hba'`` (see :func:`minimize`).
DEFAULT_OPTIONS: dict[str, Any] = {
    "gamma1": 10.0,
    "gamma2": 1.0,
    "c0": 10.0,
    "penalty_growth": 10.0,
    "c_max": 1e12,
    "gtol": 1e-6,
    "gap_tol": 1e-10,
    "maxiter": 5000,
    "inner_maxiter": 2000,
    "memory": 10,
    "lbfgs_memory": 10,
    "constraints": "auto",
    "disp": False,
}


class BilevelResult(OptimizeResult):
    """Result of :func:`soptim.bilevel.minimize` (an ``OptimizeResult``).

    Attributes
    ----------
    x, y : ndarray
        Upper- and lower-level variables.
    fun : float
        Upper objective ``F(x, y)``.
    lower_fun : float
        Lower objective ``f(x, y)``.
    lower_gap : float
        Value-function gap ``f(x, y) - V(x, y) >= 0``; zero exactly when ``y``
        solves the lower level at ``x`` (the certificate of lower-level
        optimality). Values below rounding are reported as 0.
    multipliers : dict
        ``'lam_g'``, ``'lam_h'``: lower-level multipliers of ``g <= 0``
        (``>= 0``) and ``h = 0`` (free) at ``theta``; ``'z_g'``, ``'z_h'``: the
        auxiliary multipliers ``z`` of the reformulation (equal to ``lam`` at
        a converged inner solve).
    theta : ndarray
        Proximal lower-level point (``theta = y`` at a solution).
    penalty : float
        Final penalty parameter ``c``.
    stationarity : float
        Projected-gradient norm (max-norm) of ``F + c G`` on ``C``.
    nit, inner_nit : int
        Outer iterations and total inner (lower-level) iterations.
    nfev, njev : int
        Evaluations of ``F`` and ``f`` (finite differences included), and of
        their gradients.
    status : int
        0 converged, 1 iteration limit, 2 failure (infeasible lower level,
        stalled line search, penalty limit), 3 non-finite values, 99 stopped by
        the callback.
    success : bool
    message : str
    """


@dataclass
class _Point:
    """Everything known at an outer iterate ``w = (x, y)`` for penalty ``c``."""

    w: Any
    F: float
    f: float
    V: float
    gF: Any
    gG: Any
    theta: Any
    lam_g: Any
    lam_h: Any
    inner_ok: bool
    gap: float

    def merit(self, c: float) -> float:
        return self.F + c * self.gap

    def grad(self, c: float):
        return self.gF + c * self.gG


def _norm_inf(xp, a) -> float:
    return float(xp.max(xp.abs(a))) if a.size else 0.0


class _ProxLowerLevel:
    """The proximal lower level ``min_{theta in C(x)} f(x, theta) + ||theta - y||^2/(2 gamma1)``.

    Returns ``theta`` and the multipliers ``lam_g >= 0``, ``lam_h`` of the
    coupled constraints. Accelerated projected gradient with a backtracked
    Lipschitz estimate, momentum for strong convexity ``1/gamma1`` and
    gradient restart; for nonlinear constraints an augmented-Lagrangian outer
    loop on the multipliers (``z``).
    """

    def __init__(self, prob: BilevelProblem, gamma1: float, gamma2: float, maxiter: int,
                 slice_proj, affine: dict | None, lby, uby):
        self.prob, self.gamma1, self.gamma2 = prob, gamma1, gamma2
        self.maxiter = maxiter
        self.slice_proj = slice_proj
        self.affine = affine
        self.lby, self.uby = lby, uby
        self.L = 1.0 + 1.0 / gamma1
        self.nit = 0
        xp = prob.xp
        self.z_g = xp.zeros(prob.p_g)
        self.z_h = xp.zeros(prob.p_h)

    # -- accelerated projected gradient ---------------------------------------
    def _apg(self, grad: Callable, proj: Callable, theta, tol: float):
        """Return (theta, proj_extra, converged) for a smooth strongly convex objective."""
        xp = self.prob.xp
        mu = 1.0 / self.gamma1
        L = self.L
        theta, extra = proj(theta, 1.0)[0], None
        z, gz = theta, grad(theta)
        converged = False
        for _ in range(self.maxiter):
            self.nit += 1
            for _ in range(60):  # backtracking on the Lipschitz estimate
                new, extra = proj(z - gz / L, L)
                d = new - z
                gnew = grad(new)
                dd = float(xp.sum(d * d))
                if float(xp.sum((gnew - gz) * d)) <= L * dd * (1 + 1e-10) or dd == 0.0:
                    break
                L *= 2.0
            if _norm_inf(xp, d) * L <= tol:
                theta, converged = new, True
                # One plain step from the solution: its projection multipliers are the KKT ones.
                new, extra = proj(theta - gnew / L, L)
                theta = new
                break
            q = math.sqrt(min(mu / L, 1.0))
            beta = (1.0 - q) / (1.0 + q)
            if float(xp.sum((z - new) * (new - theta))) > 0:  # restart: momentum points uphill
                z, gz = new, gnew
            else:
                z = new + beta * (new - theta)
                gz = grad(z)
            theta = new
            L = max(L * 0.8, 1e-12)
        self.L = L
        return theta, extra, converged

    # -- the two modes -------------------------------------------------------
    def solve(self, x, y, theta, tol: float):
        if self.affine is not None:
            return self._solve_affine(x, y, theta, tol)
        return self._solve_al(x, y, theta, tol)

    def _solve_affine(self, x, y, theta, tol):
        prob, g1, A = self.prob, self.gamma1, self.affine
        b_eq = A["b_eq"] - A["Ah_x"] @ x
        d_in = A["d_in"] - A["Ag_x"] @ x

        def grad(t):
            return prob.jac_f(x, t)[1] + (t - y) / g1

        def proj(u, L):
            z, nu, mu = self.slice_proj.project(u, b_eq, d_in)
            return z, (nu, mu, L)

        theta, (nu, mu, L), ok = self._apg(grad, proj, theta, tol)
        lam_h, lam_g = L * nu, L * mu  # fixed point of P(theta - grad/L): grad + J^T (L u) = 0
        self.z_g, self.z_h = lam_g, lam_h
        return theta, lam_g, lam_h, ok

    def _solve_al(self, x, y, theta, tol):
        prob, g1, g2 = self.prob, self.gamma1, self.gamma2
        xp = prob.xp
        lby, uby = self.lby, self.uby
        z_g, z_h = self.z_g, self.z_h
        ok = False

        def proj(u, L):
            return xp.clip(u, lby, uby), None

        for _ in range(100):
            def grad(t, z_g=z_g, z_h=z_h):
                out = prob.jac_f(x, t)[1] + (t - y) / g1
                if prob.has_g:
                    out = out + prob.jac_g(x, t)[1].T @ xp.maximum(z_g + g2 * prob.g(x, t), 0.0)
                if prob.has_h:
                    out = out + prob.jac_h(x, t)[1].T @ (z_h + g2 * prob.h(x, t))
                return out

            theta, _, inner_ok = self._apg(grad, proj, theta, tol)
            lam_g = xp.maximum(z_g + g2 * prob.g(x, theta), 0.0) if prob.has_g else z_g
            lam_h = z_h + g2 * prob.h(x, theta) if prob.has_h else z_h
            change = max(_norm_inf(xp, lam_g - z_g), _norm_inf(xp, lam_h - z_h)) / g2
            z_g, z_h = lam_g, lam_h
            if inner_ok and change <= tol:  # primal feasibility of the proximal lower level
                ok = True
                break
        self.z_g, self.z_h = z_g, z_h
        return theta, z_g, z_h, ok


def _lbfgs_apply(xp, pairs, grad):
    """L-BFGS two-loop recursion: an approximation of ``H^{-1} grad`` from the stored pairs."""
    q = grad
    alphas = []
    for s, yv, rho in reversed(pairs):
        a = rho * float(xp.sum(s * q))
        alphas.append(a)
        q = q - a * yv
    _, yv, rho = pairs[-1]
    q = q / (rho * float(xp.sum(yv * yv)))
    for (s, yv, rho), a in zip(pairs, reversed(alphas)):
        b = rho * float(xp.sum(yv * q))
        q = q + (a - b) * s
    return q


def _options(options: dict | None) -> dict:
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict, got {type(options).__name__}")
    unknown = {k: v for k, v in options.items() if k not in DEFAULT_OPTIONS}
    check_unknown_options(unknown, "lv-hba")
    opts = dict(DEFAULT_OPTIONS)
    opts.update({k: v for k, v in options.items() if k in DEFAULT_OPTIONS})
    for name in ("gamma1", "gamma2", "c0", "c_max", "gtol", "gap_tol"):
        opts[name] = check_positive(f"options[{name!r}]", opts[name])
    opts["penalty_growth"] = check_interval("options['penalty_growth']", opts["penalty_growth"],
                                            1.0, math.inf, closed="neither")
    for name in ("maxiter", "inner_maxiter", "memory", "lbfgs_memory"):
        opts[name] = check_count(f"options[{name!r}]", opts[name],
                                 minimum=0 if name == "lbfgs_memory" else 1)
    check_choice("options['constraints']", opts["constraints"], ("auto", "affine", "nonlinear"))
    opts["disp"] = check_bool("options['disp']", opts["disp"])
    return opts


def minimize(F: Callable, f: Callable, x0: Any, y0: Any, *, jac_F: Callable | None = None,
             jac_f: Callable | None = None, g: Callable | None = None,
             jac_g: Callable | None = None, h: Callable | None = None,
             jac_h: Callable | None = None, bounds_x: Any = None, bounds_y: Any = None,
             method: str = "lv-hba", callback: Callable | None = None,
             options: dict | None = None) -> BilevelResult:
    r"""Solve a bilevel problem with a constrained, possibly non-strongly-convex lower level.

    ``min_{x in X, y in Y} F(x, y)  s.t.  y in argmin_{y' in Y} {f(x, y') : g(x, y') <= 0,
    h(x, y') = 0}`` (optimistic formulation: among the lower-level solutions
    the one best for ``F`` is chosen), by LV-HBA: a penalty on the proximal
    Lagrangian value-function gap, with Hessian-free gradients. The lower
    level must be convex in ``y`` (``f`` convex, ``g`` convex, ``h`` affine in
    ``y``); ``F`` may be nonconvex (a stationary point is found).

    Parameters
    ----------
    F, f : callable
        Upper and lower objectives ``F(x, y) -> float``, ``f(x, y) -> float``.
    x0, y0 : array_like, shape (n,) and (m,)
        Starting point (projected onto the feasible set ``C`` first).
    jac_F, jac_f : callable, optional
        ``jac_F(x, y) -> (grad_x, grad_y)``, shapes ``(n,)`` and ``(m,)``.
        When missing, central finite differences on the stacked vector
        ``(x, y)`` are used (with scipy's steps), at a
        cost of ``2 (n + m)`` evaluations per gradient (a warning says so).
    g, h : callable, optional
        Lower-level constraints ``g(x, y) <= 0`` and ``h(x, y) = 0`` coupling
        ``x`` and ``y``; each returns an array of length ``p``.
    jac_g, jac_h : callable, optional
        ``jac_g(x, y) -> (J_x, J_y)`` of shapes ``(p, n)`` and ``(p, m)``
        (finite differences with a warning when missing).
    bounds_x, bounds_y : optional
        Boxes ``X`` and ``Y``, in any of scipy's forms:
        ``scipy.optimize.Bounds``; a sequence of one ``(lo, hi)`` pair per
        variable, ``None`` for an unbounded side (``scipy.optimize.minimize``'s
        form); or a pair ``(lb, ub)`` of scalars (broadcast) or arrays
        (``least_squares``' form), ``+-inf`` or ``None`` for none. A
        sequence that fits both readings (two pairs for two variables) is
        read as one pair per variable, as ``scipy.optimize.minimize`` does.
    method : {'lv-hba'}
        The only method.
    callback : callable, optional
        ``callback(intermediate_result)`` (an ``OptimizeResult`` with ``x``,
        ``y``, ``fun``, ``lower_gap``, ``penalty``, ``nit``) or the legacy
        ``callback(xk)``; raise ``StopIteration`` to stop (status 99).
    options : dict, optional
        ``gamma1`` (10.0)
            Proximal parameter of the value function.
        ``gamma2`` (1.0)
            Augmented-Lagrangian parameter of the inner solve (nonlinear
            constraints only; the value function does not depend on it).
        ``c0`` (10.0), ``penalty_growth`` (10.0), ``c_max`` (1e12)
            Penalty schedule: the penalized problem ``min F + c G`` is solved
            for ``c = c0, 10 c0, 100 c0, ...`` (warm-started) until the gap
            test passes; reaching ``c_max`` first is a failure.
        ``gtol`` (1e-6)
            Stationarity: max-norm of the projected gradient of ``F + c G``
            on ``C``, relative to ``max(1, ||grad F||_inf)``.
        ``gap_tol`` (1e-10)
            Lower-level optimality: ``lower_gap <= gap_tol * max(1, |f|)``.
            The gap decreases like ``1/c^2`` while the distance to the
            bilevel solution decreases like ``1/c``: the default gives
            relative errors of about ``1e-5`` on well-scaled problems.
        ``maxiter`` (5000), ``inner_maxiter`` (2000)
            Outer iterations; iterations of one inner (lower-level) solve.
        ``memory`` (10)
            Length of the nonmonotone line search's memory.
        ``lbfgs_memory`` (10)
            Curvature pairs of the quasi-Newton steps taken along the current
            face of ``C`` (when the projected-gradient step stays on it); 0
            gives plain spectral projected gradient.
        ``constraints`` ('auto')
            ``'affine'``, ``'nonlinear'`` or ``'auto'``: affine ``g`` / ``h``
            are recognised by checking that the Jacobians are constant and
            the linear model exact at the start and at two random points.
        ``disp`` (False)
            Print one line per penalty level.

    Returns
    -------
    BilevelResult
        See :class:`BilevelResult`; ``lower_gap`` certifies that ``y``
        solves the lower level and ``multipliers['lam_h']`` /
        ``['lam_g']`` are its multipliers.

    Raises
    ------
    ValueError
        Shape mismatches between ``x0`` / ``y0`` and what the functions
        return, NaN or inf in the inputs or at the starting point, bounds
        with ``lb > ub``, bad options.
    TypeError
        Non-callables, non-numeric or complex inputs (``x0``, ``y0``, bounds,
        or values returned by the functions), options of the wrong type, or
        device (CuPy) arrays where a projection runs on the host only (see
        Notes).

    Notes
    -----
    Projections onto ``C = {x in X, y in Y, g <= 0, h = 0}`` (and onto its
    slices at fixed ``x``, used by the inner solve):

    - boxes, and affine inequalities whose rows each involve one variable
      (``y_j <= u_j``; for the inner solve at fixed ``x`` also ``y <= x``,
      ``|w| <= x``): a clip; affine equalities without a box: a closed
      form. These run on CuPy arrays too (the method then runs on the GPU;
      a box-only ``C`` is solved by SciPy's L-BFGS-B when the arrays are in
      host memory, by the projected-gradient loop otherwise);
    - affine inequalities, or affine constraints with a box: the dual QP
      (one variable per constraint and finite bound) solved exactly by an
      active-set method, on the host; the set is first checked non-empty by
      a linear program (an empty ``C`` gives ``success=False``);
    - nonlinear convex ``g`` (and nonlinear ``h``, locally): an inner SLSQP
      projection, on the host; the inner lower-level solve then uses an
      augmented Lagrangian whose multiplier estimate is the auxiliary ``z``.

    The last two raise ``TypeError`` for CuPy input rather than copying
    silently. The stopping rule needs both tests, so a point with a small
    gap but not stationary, or stationary for a too-small penalty, is not
    returned as converged.

    References
    ----------
    .. [1] W. Yao, C. Yu, S. Zeng, J. Zhang, "Constrained Bi-Level
       Optimization: Proximal Lagrangian Value function Approach and
       Hessian-free Algorithm", ICLR 2024, arXiv:2401.16164.
    .. [2] E. G. Birgin, J. M. Martinez, M. Raydan, "Nonmonotone spectral
       projected gradient methods on convex sets", SIAM J. Optim. 10 (2000).

    Examples
    --------
    The lower level ``min_y (y - x)^2/2 s.t. y <= 1`` gives ``y = min(x, 1)``;
    the upper level pulls both to 2, so the answer is ``x = 2``, ``y = 1``
    (the constraint is active, its multiplier ``x - y = 1``):

    >>> import numpy as np
    >>> from soptim.bilevel import minimize
    >>> res = minimize(
    ...     lambda x, y: 0.5 * ((x[0] - 2) ** 2 + (y[0] - 2) ** 2),
    ...     lambda x, y: 0.5 * (y[0] - x[0]) ** 2, [0.0], [0.0],
    ...     jac_F=lambda x, y: (x - 2, y - 2), jac_f=lambda x, y: (x - y, y - x),
    ...     g=lambda x, y: y - 1, jac_g=lambda x, y: (np.zeros((1, 1)), np.ones((1, 1))))
    >>> res.success, round(float(res.x[0]), 4), round(float(res.y[0]), 4)
    (True, 2.0, 1.0)
    >>> round(float(res.multipliers['lam_g'][0]), 6)
    1.0
    """
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, got {type(method).__name__}")
    if method.lower() != "lv-hba":
        raise ValueError(f"Unknown method {method!r}; available: 'lv-hba'")
    opts = _options(options)
    runner = CallbackRunner(callback)
    prob = BilevelProblem(F, f, jac_F, jac_f, g, jac_g, h, jac_h, x0, y0)
    xp, n, m = prob.xp, prob.n, prob.m
    lbx, ubx = parse_bounds("bounds_x", bounds_x, n, xp)
    lby, uby = parse_bounds("bounds_y", bounds_y, m, xp)
    lb = xp.concatenate([lbx, lby])
    ub = xp.concatenate([ubx, uby])
    t_start = time.perf_counter()

    # -- structure of the constraints and the projections ---------------------
    rng = np.random.default_rng(0)
    affine = None
    A_g = A_h = None
    if opts["constraints"] != "nonlinear":
        rows_g = prob.affine_rows("g", rng) if prob.has_g else (np.zeros((0, n + m)), np.zeros(0))
        rows_h = prob.affine_rows("h", rng) if prob.has_h else (np.zeros((0, n + m)), np.zeros(0))
        if rows_g is not None and rows_h is not None:
            (A_g, c_g), (A_h, c_h) = rows_g, rows_h
        elif opts["constraints"] == "affine":
            which = "g" if rows_g is None else "h"
            raise ValueError(f"options['constraints'] is 'affine' but {which} is not affine "
                             "(its Jacobian changes or its linear model is inexact)")
    try:
        if A_g is not None:
            joint = AffineProjector(lb, ub, A_eq=A_h, A_in=A_g, xp=xp)
            slice_proj = AffineProjector(lby, uby, A_eq=A_h[:, n:], A_in=A_g[:, n:], xp=xp)
            if "active-set" in (joint.kind, slice_proj.kind):
                prob.be.require_host("the projection onto affine inequalities (or affine "
                                     "constraints with bounds), an active-set QP,")
            affine = {"b_eq": xp.asarray(-c_h), "d_in": xp.asarray(-c_g),
                      "Ah_x": xp.asarray(A_h[:, :n]), "Ag_x": xp.asarray(A_g[:, :n])}
            w = xp.concatenate([prob.x0, prob.y0])
            if joint.kind == "active-set":
                # An empty C would make the projection fail less clearly: a linear program
                # proves emptiness (only the existence of a point matters).
                feasible_point(to_numpy(lb), to_numpy(ub), A_h, -c_h, A_g, -c_g)
            w = joint.project(w, affine["b_eq"], affine["d_in"])[0]
        else:
            prob.be.require_host("the SLSQP projection onto nonlinear constraints")
            joint = _nonlinear_joint(prob, to_numpy(lb), to_numpy(ub))
            slice_proj = None
            w = joint.project(np.concatenate([prob.x0, prob.y0]))[0]
    except InfeasibleSetError as exc:
        return _infeasible_result(prob, str(exc))

    gamma1 = float(opts["gamma1"])
    inner = _ProxLowerLevel(prob, gamma1, float(opts["gamma2"]), opts["inner_maxiter"],
                            slice_proj, affine, lby, uby)

    def project(v, start=None):
        if affine is not None:
            return joint.project(v, affine["b_eq"], affine["d_in"])[0]
        return joint.project(v, start)[0]

    def evaluate(v, theta, c: float, gscale: float) -> _Point | None:
        x, y = v[:n], v[n:]
        with np.errstate(all="ignore"):
            Fv, fv = prob.F(x, y), prob.f(x, y)
            if not (math.isfinite(Fv) and math.isfinite(fv)):
                return None
            gFx, gFy = prob.jac_F(x, y)
            gfx, gfy = prob.jac_f(x, y)
            # The inner solve must be accurate enough that c * (error of grad G) << gtol.
            tol = max(0.01 * opts["gtol"] * gscale / c, 1e-13 * (1.0 + _norm_inf(xp, gfy)))
            theta, lam_g, lam_h, ok = inner.solve(x, y, theta, tol)
            ftx, fty = prob.jac_f(x, theta)
            prox = float(xp.sum((theta - y) ** 2)) / (2 * gamma1)
            f_theta = prob.f(x, theta)
            extra = 0.0
            gVx = ftx
            if affine is not None:
                if A_g.shape[0]:
                    gVx = gVx + affine["Ag_x"].T @ lam_g
                if A_h.shape[0]:
                    gVx = gVx + affine["Ah_x"].T @ lam_h
            else:
                if prob.has_g:
                    extra += float(xp.sum(lam_g * prob.g(x, theta)))
                    gVx = gVx + prob.jac_g(x, theta)[0].T @ lam_g
                if prob.has_h:
                    extra += float(xp.sum(lam_h * prob.h(x, theta)))
                    gVx = gVx + prob.jac_h(x, theta)[0].T @ lam_h
            gG = xp.concatenate([gfx - gVx, gfy - (y - theta) / gamma1])
            gF = xp.concatenate([gFx, gFy])
            V = f_theta + prox + extra
            gap = _gap(fv, f_theta, prox, extra, xp.sum((gfy + fty) * (y - theta)))
        pt = _Point(v, Fv, fv, V, gF, gG, theta, lam_g, lam_h, ok, gap)
        if not (math.isfinite(V) and bool(xp.isfinite(gG).all())
                and bool(xp.isfinite(gF).all())):
            return None
        return pt

    c = float(opts["c0"])
    growth = float(opts["penalty_growth"])
    gtol, gap_tol = float(opts["gtol"]), float(opts["gap_tol"])
    printer = IterationPrinter(["nit", "penalty", "F", "gap", "stationarity"],
                               enabled=bool(opts["disp"]))

    pt = evaluate(w, xp.clip(w[n:], lby, uby), c, 1.0)
    if pt is None:
        return _nonfinite_result(prob, w, "non-finite values at the projected starting point")
    gscale = max(1.0, _norm_inf(xp, pt.gF))
    hist = [pt.merit(c)]
    alpha = 1.0 / max(1.0, _norm_inf(xp, pt.grad(c)))
    status, message = STATUS_MAXITER, "maximum number of iterations reached"
    stat = math.inf
    nit = 0
    # With C a box, scipy's L-BFGS-B solves each penalized problem: its curvature pairs undo the
    # conditioning of F + c G (which grows like c) far better than spectral steps; the
    # projected-gradient loop below then only checks (and if needed polishes) the result.
    use_lbfgsb = affine is not None and joint.kind == "box" and prob.be.on_host
    level_runs = 0
    use_face_qn = affine is not None and not use_lbfgsb and opts["lbfgs_memory"] > 0
    pairs: list = []
    face_key = None
    while nit < opts["maxiter"]:
        nit += 1
        if use_lbfgsb and level_runs < 3:  # a restart clears curvature pairs spoilt by rounding
            level_runs += 1
            pt, k = _lbfgsb_level(evaluate, pt, c, gscale, gtol, opts["maxiter"] - nit,
                                  to_numpy(lb), to_numpy(ub))
            nit += k
        grad = pt.grad(c)
        if affine is None:
            # Curved boundary: BB steps grow along it, and projecting far-away points is both
            # inaccurate and useless; keep the trial step within a modest radius.
            alpha = min(alpha, 10.0 * (1.0 + _norm_inf(xp, pt.w)) / max(_norm_inf(xp, grad),
                                                                       1e-300))
        try:
            target = project(pt.w - alpha * grad, pt.w)
        except InfeasibleSetError as exc:
            status, message = STATUS_FAILURE, f"projection onto C failed: {exc}"
            break
        d = target - pt.w
        stat = _norm_inf(xp, d) / alpha
        gscale = max(1.0, _norm_inf(xp, pt.gF))
        if stat <= gtol * gscale:
            # The penalized problem is solved: stop if y solves the lower level, else raise c.
            # |gap|: a negative gap means y is not feasible for the lower level (to rounding).
            gap = abs(pt.gap)
            printer.row(nit, c, pt.F, gap, stat)
            if gap <= gap_tol * max(1.0, abs(pt.f)):
                if pt.inner_ok:
                    status, message = STATUS_SUCCESS, ("Optimization terminated successfully: "
                                                       "stationary and value-function gap "
                                                       "below gap_tol.")
                else:
                    status, message = STATUS_FAILURE, (
                        "the proximal lower-level solve did not converge at the final point, "
                        "so the gap certificate is unreliable; raise options['inner_maxiter'] "
                        "or check that f is convex in y")
                break
            if c * growth > opts["c_max"]:
                status, message = STATUS_FAILURE, (
                    f"the value-function gap {gap:.3g} is above gap_tol at the largest penalty "
                    f"c_max = {opts['c_max']:.3g}; the lower level may not be solvable near x "
                    "(check that it is convex in y), or raise c_max / gap_tol")
                break
            c *= growth
            alpha /= growth
            level_runs = 0
            pairs.clear()  # curvature pairs of the previous penalty
            hist = [pt.merit(c)]
            continue
        qn_face = None
        if use_face_qn:
            # Where the projected-gradient step stays on the current face of C, take a
            # quasi-Newton step along that face (the penalized problem's conditioning grows
            # like c; spectral steps alone do not undo it); where it changes face, take it.
            face = joint.face(pt.w, affine["b_eq"], affine["d_in"])
            if face.key != joint.face(target, affine["b_eq"], affine["d_in"]).key:
                pairs.clear()
            else:
                if face.key != face_key:
                    pairs.clear()
                    face_key = face.key
                gf = face.project(grad)
                d_qn = -face.project(_lbfgs_apply(xp, pairs, gf) if pairs else alpha * gf)
                slope_qn = float(xp.sum(grad * d_qn))
                if slope_qn < 0:
                    t_max = joint.max_step(pt.w, d_qn, affine["b_eq"], affine["d_in"])
                    d = d_qn * min(1.0, t_max)
                    qn_face = face
        slope = float(xp.sum(grad * d))
        ref = max(hist[-opts["memory"]:])
        noise = 1e3 * np.finfo(float).eps * (abs(pt.F) + c * (abs(pt.f) + abs(pt.V)))
        t, new = 1.0, None
        for _ in range(50):
            trial = pt.w + t * d
            if affine is None and prob.has_h:
                try:
                    trial = project(trial, pt.w)
                except InfeasibleSetError:
                    t *= 0.5
                    continue
            new = evaluate(trial, pt.theta, c, gscale)
            if new is not None and new.merit(c) <= ref + 1e-4 * t * slope + noise:
                break
            t *= 0.5
            new = None
        if new is None:
            status, message = STATUS_FAILURE, (
                "the line search found no decrease of the penalized merit F + c G "
                f"(c = {c:.3g}, stationarity {stat:.3g}); the functions or their gradients may "
                "be inconsistent (check jac_F / jac_f), or loosen gtol")
            break
        s = new.w - pt.w
        yv = new.grad(c) - grad
        sy = float(xp.sum(s * yv))
        alpha = float(xp.sum(s * s)) / sy if sy > 0 else alpha * 10.0
        alpha = min(max(alpha, 1e-14), 1e14)
        if qn_face is not None:
            yf = qn_face.project(yv)
            syf = float(xp.sum(s * yf))
            if syf > 1e-12 * math.sqrt(float(xp.sum(s * s)) * float(xp.sum(yf * yf))):
                pairs.append((s, yf, 1.0 / syf))
                del pairs[:-opts["lbfgs_memory"]]
        pt = new
        hist.append(pt.merit(c))
        if runner(pt.w[:n], y=pt.w[n:], fun=pt.F, lower_gap=max(pt.gap, 0.0), penalty=c,
                  nit=nit):
            status, message = STATUS_CALLBACK, "`callback` raised StopIteration."
            break

    x, y = pt.w[:n], pt.w[n:]
    gap = pt.gap
    res = BilevelResult(
        x=x, y=y, fun=pt.F, lower_fun=pt.f, lower_gap=max(gap, 0.0),
        multipliers={"lam_g": pt.lam_g, "lam_h": pt.lam_h, "z_g": inner.z_g, "z_h": inner.z_h},
        theta=pt.theta, penalty=c, stationarity=stat, nit=nit, inner_nit=inner.nit,
        nfev=prob.nfev, njev=prob.njev, status=status, success=status == STATUS_SUCCESS,
        message=message, time=time.perf_counter() - t_start)
    printer.final(res)
    if status not in (STATUS_SUCCESS, STATUS_CALLBACK):
        warn_not_converged("soptim.bilevel.minimize: " + message)
    return res


def _gap(f_y: float, f_theta: float, prox: float, extra: float, trapezoid) -> float:
    """The value-function gap ``f(x, y) - V(x, y)``, without cancellation near a solution.

    ``V = f(x, theta) + prox + extra`` (``extra``: the multiplier terms of the
    augmented-Lagrangian mode). Near the solution set ``f(x, y)`` and ``f(x, theta)`` agree
    to many digits, and their difference times a large penalty would make the merit too
    noisy for a line search; there ``f(x, y) - f(x, theta)`` is taken by the trapezoidal
    rule on the y-gradients (already computed; exact for quadratic lower levels, error
    O(|y - theta|^3)), which has no cancellation.
    """
    direct = f_y - (f_theta + prox + extra)
    if abs(direct) > 1e-6 * (1.0 + abs(f_y)):
        return direct
    return 0.5 * float(trapezoid) - prox - extra


def _lbfgsb_level(evaluate: Callable, pt: _Point, c: float, gscale: float, gtol: float,
                  budget: int, lb, ub) -> tuple[_Point, int]:
    """Minimize ``F + c G`` over the box ``C`` with L-BFGS-B from ``pt``; return the best point."""
    best = [pt]

    def merit_and_grad(v):
        new = evaluate(np.asarray(v), best[0].theta, c, gscale)
        if new is None:
            return math.inf, np.zeros_like(v)
        if new.merit(c) <= best[0].merit(c):
            best[0] = new
        return new.merit(c), np.asarray(new.grad(c))

    if budget < 1:
        return pt, 0
    res = scipy.optimize.minimize(
        merit_and_grad, np.asarray(pt.w), jac=True, method="L-BFGS-B",
        bounds=scipy.optimize.Bounds(lb, ub),
        options={"maxiter": budget, "gtol": 0.1 * gtol * gscale, "ftol": 0.0, "maxls": 40})
    return best[0], int(res.nit)


def _nonlinear_joint(prob: BilevelProblem, lb, ub) -> NonlinearProjector:
    n = prob.n

    def split(fun):
        return lambda z: np.asarray(to_numpy(fun(z[:n], z[n:])), dtype=np.float64)

    def split_jac(jac):
        def J(z):
            Jx, Jy = jac(z[:n], z[n:])
            return np.hstack([to_numpy(Jx), to_numpy(Jy)])
        return J

    return NonlinearProjector(
        lb, ub,
        g=split(prob.g) if prob.has_g else None, jac_g=split_jac(prob.jac_g) if prob.has_g
        else None,
        h=split(prob.h) if prob.has_h else None, jac_h=split_jac(prob.jac_h) if prob.has_h
        else None)


def _failed(prob: BilevelProblem, x, y, status: int, message: str) -> BilevelResult:
    xp = prob.xp
    warn_not_converged("soptim.bilevel.minimize: " + message, stacklevel=4)
    return BilevelResult(
        x=x, y=y, fun=math.nan, lower_fun=math.nan, lower_gap=math.nan,
        multipliers={"lam_g": xp.full(prob.p_g, math.nan), "lam_h": xp.full(prob.p_h, math.nan),
                     "z_g": xp.full(prob.p_g, math.nan), "z_h": xp.full(prob.p_h, math.nan)},
        theta=xp.full(prob.m, math.nan), penalty=math.nan, stationarity=math.nan, nit=0,
        inner_nit=0, nfev=prob.nfev, njev=prob.njev, status=status, success=False,
        message=message)


def _infeasible_result(prob: BilevelProblem, why: str) -> BilevelResult:
    return _failed(prob, prob.x0, prob.y0, STATUS_FAILURE,
                   f"the lower level is infeasible: {why}; check g, h and the bounds")


def _nonfinite_result(prob: BilevelProblem, w, why: str) -> BilevelResult:
    return _failed(prob, w[:prob.n], w[prob.n:], STATUS_NONFINITE, why)
