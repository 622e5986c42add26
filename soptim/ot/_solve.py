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
from ..backend import get_backend, to_numpy
from ._kernels import hist_window, solve_backend
from ._problem import Workspace, validate_problem
from ._sinkhorn import batch_kernel_sweeps, sinkhorn_sweeps
from ._sns import NewtonOptions, first_switch, sns_regs, sns_solve, stage_tol

__all__ = ["OTResult", "solve", "METHODS"]

METHODS = ("sns", "sinkhorn")  # the solvers; POT_METHODS maps POT's names onto them
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
    marginals : tuple of arrays
        ``(P 1, P^T 1)``, the row and column sums of the returned plan.
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


def solve(M: Any, a: Any = None, b: Any = None, reg: float | None = None, c: Any = None,
          reg_type: str = "KL", unbalanced: Any = None, unbalanced_type: str = "KL",
          method: str | None = None, n_threads: int = 1, max_iter: int | None = None,
          plan_init: Any = None, potentials_init: Any = None, tol: float | None = None,
          verbose: bool = False, grad: str = "autodiff", *, rng: Any = None,
          warn: bool = True, warmstart: tuple[Any, Any] | None = None,
          **options: Any) -> OTResult:
    """Entropic (or, with ``reg=None``, exact) optimal transport, POT 0.9's ``ot.solve``.

    Solves ``min_P <M, P> + reg * KL(P | a b^T)`` subject to ``P 1 = a``,
    ``P^T 1 = b``, ``P >= 0`` through its dual (the plan is the same for POT's
    ``reg_type='entropy'``; only the reported ``value`` differs).

    Parameters
    ----------
    M : array_like, shape (n, m)
        Cost matrix (finite). NumPy or CuPy; the result lives on the same device.
    a : array_like, shape (n,), optional
        Source masses (nonnegative). Empty or None: uniform ``1/n``.
    b : array_like, shape (m,) or (m, k), optional
        Target masses with the same total as ``a`` (relative tolerance 1e-6; ``b`` is
        then rescaled to ``sum(a)``). Empty or None: uniform. Shape (m, k) solves k
        problems against one cost, reusing one workspace.
    reg : float, optional
        Entropic regularization ``reg > 0`` (POT's convention; the SNS paper's
        ``eta = 1/reg``). None: exact OT by :func:`soptim.ot.emd`.
    c : None
        POT's reference measure of the KL term: only the default ``a b^T`` is solved
        (anything else raises ``ValueError``).
    reg_type : {'KL', 'entropy'}
        Which regularized ``value`` is reported (same plan). Others raise ``ValueError``.
    unbalanced, unbalanced_type : None, str
        Unbalanced OT is not solved: ``unbalanced`` must be None.
    method : str, optional
        ``'sns'`` (default): Sinkhorn warm start, then sparse Newton steps (fast and
        accurate at small ``reg``; at large ``reg`` the warm start converges by itself).
        ``'sinkhorn'``: Sinkhorn sweeps only. POT's names ``'sinkhorn_knopp'``,
        ``'sinkhorn_log'``, ``'sinkhorn_stabilized'``, ``'greenkhorn'`` mean
        ``'sinkhorn'`` and ``'sinkhorn_epsilon_scaling'`` means ``'sns'`` (which scales
        ``reg``): all define the same entropic plan.
    n_threads : int
        Accepted for POT compatibility (numba and BLAS choose their threads).
    max_iter : int, optional
        Most iterations (Sinkhorn sweeps plus Newton steps); default 1000 for
        ``'sns'`` and 10000 for ``'sinkhorn'``.
    plan_init : None
        Not used by the entropic solvers; must be None.
    potentials_init : tuple of arrays, optional
        POT's ``(log_u, log_v)`` to start from (``warmstart`` takes ``(f, g)``).
    tol : float, optional
        Target **L1** marginal error ``||P 1 - a||_1 + ||P^T 1 - b||_1`` relative to
        the total mass ``sum(a)``; default 1e-9.
    verbose : bool
        Print the error of every iteration.
    grad : str
        Accepted for POT compatibility (NumPy/CuPy arrays carry no autodiff graph).
    rng : None, int or numpy.random.Generator
        Accepted for a uniform solver interface; both methods are deterministic.
    warn : bool
        Warn (``OptimizeWarning``) when the tolerance is not reached.
    warmstart : tuple of arrays, optional
        Initial potentials ``(f, g)``, shapes (n,) and (m,) -- or (n, k) and (m, k)
        with a batch ``b``. Only ``f`` matters (the first sweep recomputes ``g``).
    **options
        For ``'sns'``: ``sinkhorn_min`` (5) and ``sinkhorn_max`` (200) warm-start
        sweeps; ``switch_ratio`` (0.95), ``switch_tol`` (1e-3); ``drop0`` (1e-2),
        ``drop_min`` (1e-14), ``max_density`` (1.0), ``cg_maxiter`` (1000), ``armijo``
        (1e-4), ``backtrack`` (0.5), ``max_backtracks`` (30), ``shift`` (1e-3),
        ``max_log_step`` (8: no potential moves by more than this times ``reg`` in one
        Newton step), ``reg_scaling`` (True), ``scaling_start``, ``scaling_factor``, ``stage_tol``;
        for both methods ``kernel`` (True: the kernel-domain fast path, see Notes).
        Unknown options warn.

    Returns
    -------
    OTResult
        POT's attributes ``value`` (the regularized objective of ``reg_type``),
        ``value_linear`` (``<M, P>``), ``plan``, ``potentials`` (POT's
        ``(log_u, log_v)``), ``status``; and soptim's ``cost`` (= ``value_linear``),
        ``reg_cost``, ``dual_potentials`` ``(f, g)``, ``marginal_error`` (L1),
        ``history``, ``n_sinkhorn``, ``n_newton``, ``nit``, ``success``, ``message``,
        timings.

    Raises
    ------
    ValueError
        Negative or non-finite masses, totals that differ, NaN/inf in ``M``, shapes
        that do not match, ``reg <= 0``, ``tol <= 0``, an unknown ``method``, an
        option of POT's ``solve`` that soptim does not solve (named in the message).

    Notes
    -----
    soptim's earlier order ``solve(a, b, M, reg)`` is still understood (recognized by
    a 1-D or empty first argument with a 2-D third one); it returns
    ``potentials = (f, g)`` as before.

    Kernel-domain fast path (automatic, ``kernel=True``): the Sinkhorn sweeps run as
    scaling updates with BLAS mat-vecs on ``exp((f_i + g_j - M_ij)/reg)`` formed once,
    absorbing the scalings into the potentials when they leave ``[1e-50, 1e50]`` (POT's
    stabilized scheme, with a wider range: see :data:`._sinkhorn.TAU`) and handing over
    to log-domain sweeps (a max-shifted logsumexp per entry, stable at any ``reg``)
    when absorptions become frequent, a scaling is not finite, or a kernel row or
    column sum nears the exponential's floor. The Newton steps work in the kernel
    domain too: each Newton stage's first plan ``K0 = exp((f0 + g0 - M)/reg)`` (one
    fused pass that also histograms ``log P`` for the sparsification) is kept as a
    reference kernel, and every later plan -- the line-search trials, the next step's
    plan -- is ``diag(u) K0 diag(v)`` with ``u = exp((f - f0)/reg)``, ``v = exp((g -
    g0)/reg)``: products and sums, no exponential per entry (a third of the pass's
    time; the histogram comes from the reference's sampled log-values plus ``log u_i +
    log v_j``). A scaling beyond ``e^50`` (a long step) makes a new reference by an
    exponential pass; the reference is a second (n, m) buffer, used up to ``2^27``
    entries (see :meth:`._problem.Workspace.newton_plan`). Because kernel sweeps are
    cheap, SNS leaves them for Newton only when the rate of the last 5 sweeps predicts
    more than 300 further sweeps (measured: SNS's Newton stage costs about 150-400
    kernel sweeps on 1000-2000 point problems; see :data:`._sinkhorn.CHEAP_SWEEPS`).

    A batch ``b`` of shape (m, k) with positive masses and no warm start runs the
    first stage's kernel sweeps of all k problems together on one kernel
    ``exp(-M/reg)``, two GEMMs per sweep (:func:`._sinkhorn.batch_kernel_sweeps`);
    each problem leaves the batch when its own solve would stop or hand over, and goes
    on alone with the shared workspace (the cost, its transpose). Results equal those of
    k separate solves up to rounding; the plans are written in place (``plan`` is an
    (n, m, k) view of a (k, n, m) array).

    Rows of ``a`` and columns of ``b`` with zero mass are removed before solving
    and restored as zero rows/columns of the plan; their potentials are the
    unregularized c-transforms ``min_j (M_ij - g_j)`` (finite, never NaN).

    SNS [1]_ runs Sinkhorn until its linear convergence slows, then Newton steps on
    the dual whose Hessian keeps only the largest plan entries (the kept mass adapts
    to the progress), solved by Jacobi-preconditioned CG on the Schur complement with
    an Armijo line search. When ``reg`` is small compared with the spread of ``M``
    the solve is continued over a decreasing ``reg`` schedule (``reg_scaling``,
    ``scaling_start`` = 0.02, ``scaling_factor`` = 8, intermediate stages solved to
    ``stage_tol`` = 1e-3): from the previous stage's potentials Newton converges in a
    few steps. ``history`` then spans all stages. The adaptive kept mass, the
    continuation and the kernel-domain sweeps are additions to the paper.

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
    >>> res = solve(M, reg=0.01)
    >>> res.success, res.marginal_error < 1e-9
    (True, True)
    >>> bool(np.allclose(res.plan.sum(axis=1), 0.2)), bool(res.value >= res.value_linear)
    (True, True)
    """
    if _legacy_order(M, a, b):
        M, a, b = b, M, a
        if reg is None:
            raise ValueError("reg must be given in the order solve(a, b, M, reg)")
        return _solve(a, b, M, reg, _pot_method(method), 1e-9 if tol is None else tol,
                      max_iter, rng, warn, warmstart, options, ("tol", "max_iter"))
    for name, val in (("c", c), ("unbalanced", unbalanced), ("plan_init", plan_init)):
        if val is not None:
            raise ValueError(f"{name} is not supported by soptim.ot.solve (balanced "
                             f"entropic or exact OT only); got {name}={_short(val)}")
    if not isinstance(reg_type, str) or reg_type.lower() not in ("kl", "entropy"):
        raise ValueError(f"reg_type must be 'KL' or 'entropy' (soptim solves entropic OT), "
                         f"got {reg_type!r}")
    check_count("n_threads", n_threads, minimum=1)
    if reg is None:
        return _solve_exact(M, a, b, max_iter)
    if potentials_init is not None:
        if warmstart is not None:
            raise ValueError("give potentials_init (POT's log_u, log_v) or warmstart (f, g), "
                             "not both")
        reg_chk = check_positive("reg", reg)
        warmstart = tuple(as_float_array(f"potentials_init[{k}]", w, dtype=np.float64)
                          * reg_chk for k, w in enumerate(_pair("potentials_init",
                                                                potentials_init)))
    res = _solve(a, b, M, reg, _pot_method(method), 1e-9 if tol is None else tol, max_iter,
                 rng, warn, warmstart, options, ("tol", "max_iter"))
    if check_bool("verbose", verbose):
        print_history(res)
    return pot_result(res, reg, reg_type.lower())


#: POT's method names, each mapped to the soptim solver of the same entropic plan.
POT_METHODS = {"sns": "sns", "sinkhorn": "sinkhorn", "sinkhorn_knopp": "sinkhorn",
               "sinkhorn_log": "sinkhorn", "sinkhorn_stabilized": "sinkhorn",
               "greenkhorn": "sinkhorn", "sinkhorn_epsilon_scaling": "sns"}


def _pot_method(method: Any) -> str:
    if method is None:
        return "sns"
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, got {type(method).__name__}")
    if method.lower() not in POT_METHODS:
        raise ValueError(f"method must be one of {tuple(POT_METHODS)}, got {method!r}")
    return POT_METHODS[method.lower()]


def _short(val: Any) -> str:
    r = repr(val)
    return r if len(r) <= 40 else r[:37] + "..."


def _pair(name: str, pair: Any) -> tuple[Any, Any]:
    if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
        raise TypeError(f"{name} must be a pair of arrays, got {type(pair).__name__}")
    return pair[0], pair[1]


def _ndim(x: Any) -> int:
    if x is None:
        return -1
    nd = getattr(x, "ndim", None)
    if nd is not None and not callable(nd):
        return int(nd)
    try:
        return int(np.ndim(x))
    except (TypeError, ValueError):
        return -1


def _legacy_order(M: Any, a: Any, b: Any) -> bool:
    """soptim's first order ``solve(a, b, M, ...)``: a 1-D / empty first argument and a 2-D
    third one (POT's order has the 2-D cost first, so the two never mix up)."""
    return _ndim(M) in (0, 1) or (M is None and _ndim(b) == 2)


def pot_result(res: OTResult, reg: float, reg_type: str) -> OTResult:
    """Add POT's attribute names to a solve result (``value``, ``value_linear``,
    ``potentials`` as POT's ``(log_u, log_v)``; ``dual_potentials`` keeps ``(f, g)``)."""
    xp = get_backend(res.plan).xp
    reg = float(reg)
    f, g = res.potentials
    res.dual_potentials = (f, g)
    res.potentials = (f / reg, g / reg)
    res.value_linear = res.cost
    # on the support log P_ij = (f_i + g_j - M_ij)/reg, so sum P log P needs no O(nm) log:
    # reg * sum P log P = r.f + c.g - <M, P> with the plan's marginals r, c (zero rows and
    # columns contribute nothing)
    r, c = res.marginals
    dual = _to_host((r * f).sum(axis=0) + (c * g).sum(axis=0))
    value = dual  # <M, P> + reg * sum P log P
    if reg_type == "kl":  # minus reg * (r.log a + c.log b), a = r and b = c on the support
        value = value - reg * _to_host(_xlogx(r, xp) + _xlogx(c, xp))
    res.value = value if np.ndim(value) else float(value)
    return res


def _xlogx(x: Any, xp: Any) -> Any:
    pos = x > 0
    return (xp.where(pos, x, 0.0) * xp.log(xp.where(pos, x, 1.0))).sum(axis=0)


def _to_host(x: Any) -> Any:
    return np.asarray(to_numpy(x), dtype=np.float64)


def _solve_exact(M: Any, a: Any, b: Any, max_iter: int | None) -> OTResult:
    """``reg=None``: exact OT through :func:`soptim.ot.emd` (imported when first needed)."""
    try:
        from ._emd import emd
    except ImportError as exc:  # pragma: no cover - the exact solver ships with soptim
        raise ValueError("reg=None asks for exact OT, whose solver (soptim.ot.emd) could not "
                         f"be imported ({exc}); give a regularization reg > 0") from None
    kw = {} if max_iter is None else {"numItermax": check_count("max_iter", max_iter,
                                                                  minimum=1)}
    a = [] if a is None else a
    b = [] if b is None else b
    plan, log = emd(a, b, M, log=True, **kw)
    cost = float(log["cost"])
    code = int(log.get("result_code", 1))
    ok = code == 1
    message = "Optimal exact transport plan." if ok else str(log.get("warning"))
    return OTResult(plan=plan, value=cost, value_linear=cost, cost=cost,
                    potentials=(log["u"], log["v"]), dual_potentials=(log["u"], log["v"]),
                    success=ok, status=STATUS_SUCCESS if ok else STATUS_FAILURE,
                    message=message, log=log)


def print_history(res: OTResult) -> None:
    """The L1 error of every iteration (``verbose=True``)."""
    print(f"{'It.':>5s}|{'L1 err':>12s}")
    print("-" * 19)
    hist = res.history
    runs = hist if hist and isinstance(hist[0], list) else [hist]
    for run in runs:
        for k, e in enumerate(run):
            print(f"{k:5d}|{e:12.4e}")


def _solve(a, b, M, reg, method, tol, max_iter, rng, warn, warmstart, options,
           names: tuple[str, str]) -> OTResult:
    """:func:`solve`, with ``names``: what the caller calls ``(tol, max_iter)`` (POT's
    front doors: ``stopThr``, ``numItermax``), for error and result messages."""
    if rng is not None:  # deterministic solvers: only checked (a fresh Generator costs ~0.1 ms)
        as_generator(rng)
    method = _check_method(method)
    # POT runs numItermax iterations for stopThr=0 (and warns): allowed at its doors
    tol = check_positive(names[0], tol, allow_zero=names[0] == "stopThr")
    a, b, M, reg, be, bounds = validate_problem(a, b, M, reg, allow_batch=True, bounds=True)
    if max_iter is None:
        max_iter = _DEFAULT_MAX_ITER[method]
    max_iter = check_count(names[1], max_iter, minimum=1)
    warn = check_bool("warn", warn)
    opts = _split_options(method, options)
    f0, g0 = _check_warmstart(warmstart, b, M.shape, be.xp)
    be = solve_backend(be, M.size, newton=method == "sns")
    ws = Workspace(M, reg, be, bounds)  # the kernels announce their compilation when first called
    res = _solve_all(ws, a, b, method, tol, max_iter, opts, f0, g0, names)
    if warn and not res.success:
        warnings.warn(res.message, OptimizeWarning, stacklevel=3)
    return res


def _solve_all(ws, a, b, method, tol, max_iter, opts, f0, g0, names) -> OTResult:
    if b.ndim == 1:
        res = _solve_support(ws, a, b, method, tol, max_iter, opts, f0, g0, names)
    else:
        # one workspace (M, its transpose, the plan buffer) for all k problems, and
        # their first kernel-domain sweeps together (one kernel, GEMMs)
        firsts = _batch_start(ws, a, b, method, tol, max_iter, opts, f0)
        n, m = ws.shape
        k = b.shape[1]
        # plan j is written in place into plans[j] (contiguous); the result's plan is
        # the (n, m, k) view of it, so stacking copies nothing
        plans = ws.be.xp.empty((k, n, m))
        results = []
        for j in range(k):
            buf = plans[j]
            ws.use_buffer(buf)
            res_j = _solve_support(ws, a, b[:, j], method, tol, max_iter, opts,
                                   None if f0 is None else f0[:, j],
                                   None if g0 is None else g0[:, j], names,
                                   None if firsts is None else firsts[j])
            if res_j.plan is not buf:  # zero masses: a plan of its own
                buf[...] = res_j.plan
            res_j.plan = None
            results.append(res_j)
        res = _stack(results, ws.be.xp, plans.transpose(1, 2, 0))
    return res


def _batch_start(ws, a, b, method, tol, max_iter, opts, f0):
    """The first stage's kernel-domain sweeps of all k problems at once, or None.

    Only for cold starts (one kernel ``exp(-M/reg)`` serves every problem) with every
    mass positive (the problems then share their support). Each problem is then
    continued alone from where it left the batch.
    """
    if f0 is not None or not opts.get("kernel", True) or not bool((a > 0).all()) \
            or not bool((b > 0).all()):
        return None
    mass = float(a.sum())
    tol = tol * mass
    reg = ws.reg
    t0 = time.perf_counter()
    try:
        if method == "sns":
            regs = sns_regs(ws, opts)
            ws.reg = regs[0]
            tol_0 = stage_tol(0, len(regs), tol, mass, opts)
            firsts = batch_kernel_sweeps(ws, a, b, max_iter, tol_0,
                                         first_switch(mass, tol_0, max_iter, opts))
        else:
            firsts = batch_kernel_sweeps(ws, a, b, max_iter, tol, None)
    finally:
        ws.reg = reg
    if firsts is not None:
        share = (time.perf_counter() - t0) / len(firsts)
        for col in firsts:
            col.seconds = share
    return firsts


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
    return _pot_method(method)


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
    "max_log_step": lambda name, v: check_positive(name, v),
}


def _solve_support(ws: Workspace, a, b, method, tol, max_iter, opts, f0, g0,
                   names, first=None) -> OTResult:
    """Solve on the support of (a, b) and restore zero rows/columns."""
    xp = ws.be.xp
    ia, ib = a > 0, b > 0
    if bool(ia.all()) and bool(ib.all()):
        return _solve_core(ws, a, b, method, tol, max_iter, opts, f0, g0, names, first)
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
    r, c = res.marginals
    rf, cf = xp.zeros(n), xp.zeros(m)
    rf[ia], cf[ib] = r, c
    res.plan = P
    res.potentials = (f, g)
    res.marginals = (rf, cf)
    return res


def _solve_core(ws: Workspace, a, b, method, tol, max_iter, opts, f0, g0,
                names, first=None) -> OTResult:
    """One problem; ``first``: its first kernel-domain sweeps, run in a batch."""
    xp = ws.be.xp
    reg = ws.reg
    tol_name, iter_name = names
    # the stopping test is relative to the total mass: masses summing to 1e-8 get the
    # accuracy of masses summing to 1 (an absolute test would stop at once)
    mass = float(xp.sum(a))
    tol_rel, tol = tol, tol * mass
    history: list[float] = [] if first is None else list(first.history)
    if f0 is None:
        f0 = xp.zeros(ws.shape[0])
    newton = None
    if method == "sinkhorn":
        t0 = time.perf_counter()
        f, g, n_sink, converged = sinkhorn_sweeps(ws, a, xp.log(a), xp.log(b), f0, None,
                                                  max_iter, tol, history,
                                                  kernel=opts.get("kernel", True), b=b,
                                                  first=first)
        r, c, total = ws.plan_at(f, g, hist_window(a, b))
        n_newton, cg_iters, densities, n_plans = 0, 0, [], 1
        t_sink, t_newton = time.perf_counter() - t0, 0.0
    else:
        newton = sns_solve(ws, a, b, f0, tol, max_iter, history, opts, first)
        f, g, r, c, total = newton.f, newton.g, newton.r, newton.c, newton.total
        n_sink, n_newton, cg_iters = newton.n_sinkhorn, newton.n_newton, newton.cg_iters
        densities, t_sink, t_newton = newton.densities, newton.time_sinkhorn, newton.time_newton
        n_plans = newton.n_plans
    if first is not None:
        t_sink += first.seconds
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
        plan=P, cost=cost, reg_cost=reg_cost, fun=reg_cost, potentials=(f, g), marginals=(r, c),
        marginal_error=err, history=history, n_sinkhorn=int(n_sink), n_newton=int(n_newton),
        nit=int(n_sink + n_newton), success=success, status=status, message=message,
        time_sinkhorn=t_sink, time_newton=t_newton, cg_iterations=int(cg_iters),
        n_plans=int(n_plans), densities=list(densities),
    )


def _stack(results: list[OTResult], xp, plan) -> OTResult:
    """Batch result: arrays stacked along a last axis of length k (``plan``: the plans)."""
    ok = all(r.success for r in results)
    bad = [i for i, r in enumerate(results) if not r.success]
    msg = (f"All {len(results)} problems converged." if ok else
           f"Problems {bad} of {len(results)} did not converge; first: {results[bad[0]].message}")
    return OTResult(
        plan=plan,
        cost=np.array([r.cost for r in results]),
        reg_cost=np.array([r.reg_cost for r in results]),
        fun=np.array([r.fun for r in results]),
        potentials=(xp.stack([r.potentials[0] for r in results], axis=-1),
                    xp.stack([r.potentials[1] for r in results], axis=-1)),
        marginals=(xp.stack([r.marginals[0] for r in results], axis=-1),
                   xp.stack([r.marginals[1] for r in results], axis=-1)),
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

