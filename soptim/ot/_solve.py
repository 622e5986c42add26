"""``soptim.ot.solve``: entropic OT by Sinkhorn-Newton-Sparse or log-domain Sinkhorn."""

from __future__ import annotations

import time
import warnings
from dataclasses import fields
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult, OptimizeWarning

from .._common import (
    STATUS_FAILURE,
    STATUS_MAXITER,
    STATUS_SUCCESS,
    check_unknown_options,
)
from .._validation import (
    as_float_array,
    as_generator,
    check_bool,
    check_count,
    check_interval,
    check_positive,
)
from ._kernels import hist_window, solve_backend
from ._problem import Workspace, validate_problem
from ._sinkhorn import sinkhorn_sweeps
from ._sns import NewtonOptions, sns_solve

__all__ = ["OTResult", "solve", "METHODS"]

METHODS = ("sns", "sinkhorn")
_SNS_OPTIONS = {"sinkhorn_min", "sinkhorn_max", "switch_ratio", "switch_tol", "reg_scaling",
                "scaling_start", "scaling_factor", "stage_tol", "kernel"} | {
    fl.name for fl in fields(NewtonOptions)}
_DEFAULT_MAX_ITER = {"sns": 1000, "sinkhorn": 10000}


class OTResult(OptimizeResult):
    """Result of :func:`solve` (a ``scipy.optimize.OptimizeResult``).

    Attributes
    ----------
    plan : array, shape (n, m)
        Transport plan ``P_ij = exp((f_i + g_j - M_ij)/reg)`` (zero on zero-mass rows and
        columns). With a batch ``b`` of shape (m, k): shape (n, m, k).
    cost : float
        Linear transport cost ``<M, P>`` (POT's ``sinkhorn2`` value).
    reg_cost, fun : float
        Entropic objective ``<M, P> + reg * sum P_ij (log P_ij - 1)`` (``fun`` as in
        scipy: the objective value).
    potentials : tuple of arrays
        Dual potentials ``(f, g)``; ``log_u = f/reg`` and ``log_v = g/reg`` in POT's terms.
    marginal_error : float
        **L1** marginal violation ``||P 1 - a||_1 + ||P^T 1 - b||_1`` of the returned plan.
    history : list of float
        L1 marginal error after every Sinkhorn sweep and Newton step.
    n_sinkhorn, n_newton, nit : int
        Sinkhorn sweeps, Newton steps, and their sum.
    success : bool
        Whether ``marginal_error <= tol * sum(a)``.
    status : int
        0 converged, 1 iteration limit, 2 the solver could not make progress.
    message : str
        Why the solver stopped, and what to try when it failed.
    time_sinkhorn, time_newton : float
        Seconds spent in each stage.
    cg_iterations : int
        Conjugate-gradient iterations of the Newton stage.
    n_plans : int
        Dense O(nm) plan evaluations of the Newton stage (line-search trials included).
    densities : list of float
        Kept fraction of the plan entries at every Newton step.
    """


def solve(a: Any, b: Any, M: Any, reg: float, method: str = "sns", tol: float = 1e-9,
          max_iter: int | None = None, rng: Any = None, warn: bool = True,
          warmstart: tuple[Any, Any] | None = None, **options: Any) -> OTResult:
    """Entropic optimal transport between histograms ``a`` and ``b`` with cost ``M``.

    Solves ``min_P <M, P> + reg * sum P_ij (log P_ij - 1)`` subject to
    ``P 1 = a``, ``P^T 1 = b``, ``P >= 0`` through its dual, entirely in the log
    domain (no ``exp(-M/reg)`` kernel, so small ``reg`` neither underflows nor
    produces NaN).

    Parameters
    ----------
    a : array_like, shape (n,)
        Source masses (nonnegative). Empty or None: uniform ``1/n``.
    b : array_like, shape (m,) or (m, k)
        Target masses with the same total as ``a`` (relative tolerance 1e-6; ``b`` is
        then rescaled to ``sum(a)``). Empty or None: uniform. Shape (m, k) solves k
        problems against one cost, reusing one workspace.
    M : array_like, shape (n, m)
        Cost matrix (finite). NumPy or CuPy; the result lives on the same device.
    reg : float
        Entropic regularization ``reg > 0`` (POT's convention; the SNS paper's
        ``eta = 1/reg``).
    method : {'sns', 'sinkhorn'}
        ``'sns'``: Sinkhorn warm start, then sparse Newton steps (fast and accurate at
        small ``reg``; at large ``reg`` the warm start converges by itself and no
        Newton step is taken). ``'sinkhorn'`` (alias ``'sinkhorn_log'``): log-domain
        Sinkhorn only, the stable choice for large ``reg``.
    tol : float
        Target **L1** marginal error ``||P 1 - a||_1 + ||P^T 1 - b||_1`` relative to
        the total mass ``sum(a)`` (the plain L1 error for normalized masses), so that
        masses of any scale are solved to the same accuracy.
    max_iter : int, optional
        Most iterations (Sinkhorn sweeps plus Newton steps); default 1000 for
        ``'sns'`` and 10000 for ``'sinkhorn'``.
    rng : None, int or numpy.random.Generator
        Accepted for a uniform solver interface; both methods are deterministic.
    warn : bool
        Warn (``OptimizeWarning``) when the tolerance is not reached.
    warmstart : tuple of arrays, optional
        Initial potentials ``(f, g)``, shapes (n,) and (m,) -- or (n, k) and (m, k)
        with a batch ``b``. As in POT, the first sweep recomputes ``g`` exactly from
        ``f``, so only ``f`` matters. Default zeros.
    **options
        For ``'sns'``: ``sinkhorn_min`` (5) and ``sinkhorn_max`` (200) warm-start
        sweeps; ``switch_ratio`` (0.95): switch to Newton once a sweep reduces the
        error by less than this factor; ``switch_tol`` (1e-3): or once the relative
        error is below it; ``drop0`` (1e-2) initial and ``drop_min`` (1e-14) smallest
        dropped-mass fraction of the sparsified Hessian; ``max_density`` (1.0);
        ``cg_maxiter`` (1000); ``armijo`` (1e-4); ``backtrack`` (0.5);
        ``max_backtracks`` (30); ``shift`` (1e-3); ``reg_scaling`` (True),
        ``scaling_start``, ``scaling_factor``, ``stage_tol`` (see Notes). Unknown
        options warn.

    Returns
    -------
    OTResult
        ``plan``, ``cost`` (``<M, P>``), ``reg_cost``, ``potentials`` ``(f, g)``,
        ``marginal_error`` (L1), ``history``, ``n_sinkhorn``, ``n_newton``, ``nit``,
        ``success``, ``status``, ``message``.

    Raises
    ------
    ValueError
        Negative or non-finite masses, totals that differ, NaN/inf in ``M``, shapes
        that do not match, ``reg <= 0``, ``tol <= 0``, an unknown ``method``.

    Notes
    -----
    A batch ``b`` of shape (m, k) is solved column by column inside soptim with one
    shared workspace (the cost, its transpose and the plan buffer are set up once);
    Newton steps are not vectorized across the k problems, whose sparsity patterns
    differ.

    Rows of ``a`` and columns of ``b`` with zero mass are removed before solving
    and restored as zero rows/columns of the plan; their potentials are the
    unregularized c-transforms ``min_j (M_ij - g_j)`` (finite, never NaN).

    SNS [1]_ runs log-domain Sinkhorn until its linear convergence slows, then
    Newton steps on the dual whose Hessian keeps only the largest plan entries
    (the kept mass adapts to the progress), solved by Jacobi-preconditioned CG on
    the Schur complement with an Armijo line search. When ``reg`` is small compared
    with the spread of ``M`` the solve is continued over a decreasing ``reg``
    schedule (``reg_scaling``, ``scaling_start`` = 0.02, ``scaling_factor`` = 8,
    intermediate stages solved to ``stage_tol`` = 1e-3): from the previous stage's
    potentials Newton converges in a few steps, where from a cold start at tiny
    ``reg`` it needs many damped ones. ``history`` then spans all stages.

    References
    ----------
    .. [1] X. Tang, M. Shavlovsky, H. Rahmanian, E. Tardini, K. K. Thekumparampil,
       T. Xiao, L. Ying, "Accelerating Sinkhorn algorithm with sparse Newton
       iterations", ICLR 2024, arXiv:2401.12253.

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.ot import solve
    >>> x = np.linspace(0, 1, 5)
    >>> M = (x[:, None] - x[None, :]) ** 2
    >>> res = solve([], [], M, reg=0.01)
    >>> res.success, res.marginal_error < 1e-9
    (True, True)
    >>> bool(np.allclose(res.plan.sum(axis=1), 0.2))
    True
    """
    return _solve(a, b, M, reg, method, tol, max_iter, rng, warn, warmstart, options,
                  ("tol", "max_iter"))


def _solve(a, b, M, reg, method, tol, max_iter, rng, warn, warmstart, options,
           names: tuple[str, str]) -> OTResult:
    """:func:`solve`, with ``names``: what the caller calls ``(tol, max_iter)`` (POT's
    front doors: ``stopThr``, ``numItermax``), for error and result messages."""
    as_generator(rng)
    method = _check_method(method)
    tol = check_positive(names[0], tol)
    a, b, M, reg, be = validate_problem(a, b, M, reg, allow_batch=True)
    if max_iter is None:
        max_iter = _DEFAULT_MAX_ITER[method]
    max_iter = check_count(names[1], max_iter, minimum=1)
    warn = check_bool("warn", warn)
    opts = _split_options(method, options)
    f0, g0 = _check_warmstart(warmstart, b, M.shape, be.xp)
    be = solve_backend(be, M.size, newton=method == "sns")
    ws = Workspace(M, reg, be)  # the kernels announce their compilation when first called
    res = _solve_all(ws, a, b, method, tol, max_iter, opts, f0, g0, names)
    if warn and not res.success:
        warnings.warn(res.message, OptimizeWarning, stacklevel=3)
    return res


def _solve_all(ws, a, b, method, tol, max_iter, opts, f0, g0, names) -> OTResult:
    if b.ndim == 1:
        res = _solve_support(ws, a, b, method, tol, max_iter, opts, f0, g0, names)
    else:
        # one workspace (M, its transpose, the plan buffer) for all k problems
        res = _stack([_solve_support(ws, a, b[:, k], method, tol, max_iter, opts,
                                     None if f0 is None else f0[:, k],
                                     None if g0 is None else g0[:, k], names)
                      for k in range(b.shape[1])], ws.be.xp)
    return res


def _check_warmstart(warmstart, b, shape, xp):
    if warmstart is None:
        return None, None
    try:
        f0, g0 = warmstart
    except (TypeError, ValueError):
        raise TypeError("warmstart must be a pair of potentials (f, g)") from None
    n, m = shape
    extra = b.shape[1:]
    f0 = as_float_array("warmstart[0]", f0, shape=(n, *extra), dtype=np.float64, xp=xp)
    g0 = as_float_array("warmstart[1]", g0, shape=(m, *extra), dtype=np.float64, xp=xp)
    return f0, g0


def _check_method(method: Any) -> str:
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, got {type(method).__name__}")
    m = method.lower()
    if m == "sinkhorn_log":
        m = "sinkhorn"
    if m not in METHODS:
        raise ValueError(f"method must be one of {METHODS + ('sinkhorn_log',)}, got {method!r}")
    return m


def _split_options(method: str, options: dict) -> dict:
    known = _SNS_OPTIONS if method == "sns" else {"kernel"}
    unknown = {k: v for k, v in options.items() if k not in known}
    check_unknown_options(unknown, method)
    return {k: _OPTION_CHECKS[k](k, v) for k, v in options.items() if k in known}


def _count(minimum: int):
    return lambda name, v: check_count(name, v, minimum=minimum)


def _interval(lo: float, hi: float, closed: str):
    return lambda name, v: check_interval(name, v, lo, hi, closed=closed)


#: How each SNS option is checked (and converted): the message names the option.
_OPTION_CHECKS = {
    "sinkhorn_min": _count(0),
    "sinkhorn_max": _count(1),
    "switch_ratio": lambda name, v: check_positive(name, v),
    "switch_tol": lambda name, v: check_positive(name, v, allow_zero=True),
    "reg_scaling": check_bool,
    "kernel": check_bool,
    "scaling_start": lambda name, v: check_positive(name, v),
    "scaling_factor": _interval(1.0, np.inf, "neither"),
    "stage_tol": lambda name, v: check_positive(name, v),
    "drop0": _interval(0.0, 1.0, "right"),
    "drop_min": _interval(0.0, 1.0, "right"),
    "max_density": _interval(0.0, 1.0, "right"),
    "cg_maxiter": _count(1),
    "armijo": _interval(0.0, 1.0, "neither"),
    "backtrack": _interval(0.0, 1.0, "neither"),
    "max_backtracks": _count(1),
    "max_stall": _count(1),
    "shift": lambda name, v: check_positive(name, v, allow_zero=True),
}


def _solve_support(ws: Workspace, a, b, method, tol, max_iter, opts, f0, g0,
                   names) -> OTResult:
    """Solve on the support of (a, b) and restore zero rows/columns."""
    xp = ws.be.xp
    ia, ib = a > 0, b > 0
    if bool(ia.all()) and bool(ib.all()):
        return _solve_core(ws, a, b, method, tol, max_iter, opts, f0, g0, names)
    sub = Workspace(ws.M[ia][:, ib], ws.reg, ws.be)
    res = _solve_core(sub, a[ia], b[ib], method, tol, max_iter, opts,
                      None if f0 is None else f0[ia], None if g0 is None else g0[ib], names)
    n, m = ws.shape
    P = xp.zeros((n, m))
    rows = xp.nonzero(ia)[0]
    cols = xp.nonzero(ib)[0]
    P[rows[:, None], cols[None, :]] = res.plan
    fs, gs = res.potentials
    f = xp.empty(n)
    g = xp.empty(m)
    f[ia], g[ib] = fs, gs
    # c-transforms: finite potentials for points that carry no mass
    if not bool(ia.all()):
        f[~ia] = (ws.M[~ia][:, ib] - gs[None, :]).min(axis=1)
    if not bool(ib.all()):
        g[~ib] = (ws.M[:, ~ib] - f[:, None]).min(axis=0)
    res.plan = P
    res.potentials = (f, g)
    return res


def _solve_core(ws: Workspace, a, b, method, tol, max_iter, opts, f0, g0,
                names) -> OTResult:
    xp = ws.be.xp
    reg = ws.reg
    tol_name, iter_name = names
    # the stopping test is relative to the total mass: masses summing to 1e-8 get the
    # accuracy of masses summing to 1 (an absolute test would stop at once)
    mass = float(xp.sum(a))
    tol_rel, tol = tol, tol * mass
    history: list[float] = []
    if f0 is None:
        f0 = xp.zeros(ws.shape[0])
    newton = None
    if method == "sinkhorn":
        t0 = time.perf_counter()
        f, g, n_sink, converged = sinkhorn_sweeps(ws, a, xp.log(a), xp.log(b), f0, None,
                                                  max_iter, tol, history,
                                                  kernel=opts.get("kernel", True), b=b)
        r, c, total = ws.plan_at(f, g, hist_window(a, b))
        n_newton, cg_iters, densities, n_plans = 0, 0, [], 1
        t_sink, t_newton = time.perf_counter() - t0, 0.0
    else:
        newton = sns_solve(ws, a, b, f0, tol, max_iter, history, opts)
        f, g, r, c, total = newton.f, newton.g, newton.r, newton.c, newton.total
        n_sink, n_newton, cg_iters = newton.n_sinkhorn, newton.n_newton, newton.cg_iters
        densities, t_sink, t_newton = newton.densities, newton.time_sinkhorn, newton.time_newton
        n_plans = newton.n_plans
    P = ws.take_plan()
    err = float(xp.abs(r - a).sum() + xp.abs(c - b).sum())
    cost = float(xp.vdot(ws.M, P))
    reg_cost = float(r @ f + c @ g) - reg * total
    success = bool(err <= tol) and bool(np.isfinite(err))
    rel = err / mass
    if success:
        status, message = STATUS_SUCCESS, (
            f"Converged: relative L1 marginal error {rel:.3e} <= {tol_name} = {tol_rel:.1e}.")
    elif newton is not None and newton.failed:
        status = STATUS_FAILURE
        message = (f"SNS stopped at relative L1 marginal error {rel:.3e} > {tol_name} = "
                   f"{tol_rel:.1e}: {newton.message}. Try a larger {tol_name} or reg.")
    else:
        status = STATUS_MAXITER
        message = (f"{'SNS' if method == 'sns' else 'Sinkhorn'} did not converge: relative L1 "
                   f"marginal error {rel:.3e} > {tol_name} = {tol_rel:.1e} after "
                   f"{n_sink + n_newton} iterations ({iter_name}). Increase {iter_name}, "
                   + ("or use method='sns' (Newton steps converge fast at small reg)."
                      if method == "sinkhorn" else f"increase reg, or loosen {tol_name}."))
    if not (np.isfinite(cost) and np.isfinite(reg_cost)):
        success, status = False, STATUS_FAILURE
        message = (f"The plan is not finite (L1 marginal error {err:.3e}): the potentials "
                   "overflowed. Increase reg or rescale M.")
    return OTResult(
        plan=P, cost=cost, reg_cost=reg_cost, fun=reg_cost, potentials=(f, g),
        marginal_error=err, history=history, n_sinkhorn=int(n_sink), n_newton=int(n_newton),
        nit=int(n_sink + n_newton), success=success, status=status, message=message,
        time_sinkhorn=t_sink, time_newton=t_newton, cg_iterations=int(cg_iters),
        n_plans=int(n_plans), densities=list(densities),
    )


def _stack(results: list[OTResult], xp) -> OTResult:
    """Batch result: arrays stacked along a last axis of length k."""
    ok = all(r.success for r in results)
    bad = [i for i, r in enumerate(results) if not r.success]
    msg = (f"All {len(results)} problems converged." if ok else
           f"Problems {bad} of {len(results)} did not converge; first: {results[bad[0]].message}")
    return OTResult(
        plan=xp.stack([r.plan for r in results], axis=-1),
        cost=np.array([r.cost for r in results]),
        reg_cost=np.array([r.reg_cost for r in results]),
        fun=np.array([r.fun for r in results]),
        potentials=(xp.stack([r.potentials[0] for r in results], axis=-1),
                    xp.stack([r.potentials[1] for r in results], axis=-1)),
        marginal_error=np.array([r.marginal_error for r in results]),
        history=[r.history for r in results],
        n_sinkhorn=np.array([r.n_sinkhorn for r in results]),
        n_newton=np.array([r.n_newton for r in results]),
        nit=np.array([r.nit for r in results]),
        success=ok, status=max(r.status for r in results), message=msg,
        time_sinkhorn=sum(r.time_sinkhorn for r in results),
        time_newton=sum(r.time_newton for r in results),
        cg_iterations=int(sum(r.cg_iterations for r in results)),
        n_plans=int(sum(r.n_plans for r in results)),
        densities=[r.densities for r in results],
    )

