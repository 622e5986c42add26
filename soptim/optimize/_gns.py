"""Method 'gns': gradient-regularized Newton with an adaptive search on gamma.

The step of Semenov, Jaggi and Doikov [1]_ is

    x+ = x - (H + lam B)^{-1} g,    lam = ||g||_* / gamma,

with ``H`` the Hessian or a positive semidefinite approximation of it, ``B``
a metric and ``||g||_* = sqrt(g^T B^{-1} g)``. For PSD ``H`` the step has
``B``-length at most ``gamma``: gamma is a trust radius, searched by
doubling after an accepted step and halving after a rejected one.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import HessianUpdateStrategy, OptimizeResult

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
from .._numdiff import hessp_operator
from .._validation import (
    as_float_array,
    check_bool,
    check_callable,
    check_choice,
    check_count,
    check_positive,
    reject_complex,
)
from ..backend import get_backend, to_numpy
from ._common import ObjectiveFunction
from ._curvature import (
    DenseCurvature,
    KrylovCurvature,
    LowRankCurvature,
    Metric,
    NonFiniteCurvature,
    OperatorCurvature,
    SparseCurvature,
    UserSolveCurvature,
    is_linear_operator,
    is_sparse,
)

__all__ = ["_minimize_gns", "HESSIAN_MODELS"]

#: Finite-difference values of ``hess`` (scipy's FD_METHODS).
FD_HESS = ("2-point", "3-point", "cs")

#: Values of ``options['hessian']``.
HESSIAN_MODELS = ("exact", "gauss-newton", "fisher", "solve", "fd")

#: Per iteration accepted at its first trial, the remembered rejected gamma grows by this
#: factor: an old rejection stops capping the growth of gamma after a few such iterations.
_REJECTED_FADE = 1.2

#: A step of B-length >= _BINDING * gamma was limited by the radius gamma (for PSD H the
#: length is at most gamma); then larger radii are tried on the same model.
_BINDING = 0.25

#: A Newton step (lam = 0) is tried only when its B-length is at most this many gammas. No cap:
#: the ratio test guards it, and a cap of 4 cost the logistic benchmark 6 iterations instead
#: of 4 (N=20000, d=200) with the same MGH results (31 vs 32 of 38 instances x1/x10).
_NEWTON_REACH = float("inf")

#: First-try acceptances in a row after which a failed Newton attempt is tried again.
_NEWTON_RETRUST = 5

#: A regularized step is also accepted when f falls by this fraction of the decrease its
#: quadratic model predicts (the trust-region ratio test; see Notes).
_RATIO_ACCEPT = 0.1

#: ... and gamma may grow after such an acceptance only when the ratio is at least this and
#: the step reached the radius (the trust-region expansion rule).
_RATIO_GOOD = 0.75

#: Accepted steps in a row without a decrease of f before the run is declared stalled.
_MAX_STALLED = 10

#: Stagnation: over this many accepted steps f fell by at most _STAGNATION_RTOL relative and
#: the gradient norm never went below its earlier minimum (see Notes).
_STAGNATION_WINDOW = 200
_STAGNATION_RTOL = 1e-3

_MESSAGES = {
    STATUS_SUCCESS: "Optimization terminated successfully: gradient norm <= gtol.",
    STATUS_CALLBACK: "`callback` raised `StopIteration`.",
}


def _minimize_gns(
    fun: Callable,
    x0: Any,
    *,
    args: tuple = (),
    jac: Any = None,
    hess: Any = None,
    hessp: Callable | None = None,
    callback: Callable | None = None,
    gtol: float = 1e-5,
    maxiter: int | None = None,
    max_trials: int = 50,
    gamma0: float = 1.0,
    gamma_min: float = 1e-14,
    gamma_max: float = 1e20,
    hessian: str | None = None,
    residuals: Callable | None = None,
    per_sample_grads: Callable | None = None,
    hess_diag: Any = None,
    solve: Callable | None = None,
    metric: Any = None,
    cg_rtol: float | None = None,
    cg_maxiter: int | None = None,
    finite_diff_rel_step: float | None = None,
    newton: bool = True,
    return_all: bool = False,
    disp: bool = False,
    **unknown_options: Any,
) -> OptimizeResult:
    """Minimize with the gradient-normalized regularized Newton method ('gns').

    Each iteration evaluates a curvature model ``H`` once at ``x`` and tries
    ``lam = ||g||_* / gamma`` for a sequence of ``gamma``: solve
    ``(H + lam B) d = -g`` and accept ``x+ = x + d`` when

        f(x) - f(x+) >= ||g(x+)||_*^2 / (8 lam)                       (*)

    then ``gamma`` grows (x2, or x4 after repeated success; larger radii are
    tried on the same model when the radius limited the step) if the first
    trial of the iteration was accepted (see Notes); otherwise
    ``gamma <- gamma / 2`` (never below ``gamma_min``) and try again. The
    accepted trial's ``f`` and gradient are reused by the next iteration, and
    a step that was not accepted is never applied.

    Call it through ``soptim.minimize(fun, x0, method='gns', ...)``.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float`` (``-> (float, grad)`` with ``jac=True``).
    x0 : ndarray, shape (n,)
        Starting point (1-D, finite, floating; NumPy or CuPy). The dtype
        (float32 or float64) is kept.
    args : tuple
        Extra arguments of ``fun``, ``jac``, ``hess``, ``hessp`` and the
        curvature callables.
    jac : callable, bool or None
        Gradient; ``True``: ``fun`` returns ``(f, g)``; ``None``,
        ``'2-point'``, ``'3-point'``: finite differences (central by default).
    hess : callable, {'2-point', '3-point', 'cs'} or HessianUpdateStrategy, optional
        ``hess(x, *args)`` returning a dense array, a sparse matrix or a
        ``LinearOperator`` of shape (n, n). A string means finite-difference
        Hessian-vector products of the gradient (forward, central, or
        complex-step differences of a callable ``jac`` that accepts complex
        input). A ``scipy.optimize.HessianUpdateStrategy`` instance
        (``BFGS()``, ``SR1()``) is a quasi-Newton curvature updated after every
        accepted step and used inside the regularized step (host arrays only).
    hessp : callable, optional
        ``hessp(x, p, *args) -> H p``; the step is then computed matrix-free
        by conjugate gradients (used when ``hess`` is not given).
    callback : callable, optional
        ``callback(intermediate_result)`` (an ``OptimizeResult`` with ``x``,
        ``fun``, ``jac``, ``nit``, ``gamma``, ``lam``, ``ntrials`` and
        ``accepted_by``, the test that accepted the step: ``'newton'``,
        ``'test (*)'`` or ``'ratio'``) or legacy
        ``callback(xk)``, called after every accepted step. Raising
        ``StopIteration`` stops with status 99.
    gtol : float
        Stop when ``||g||_* <= gtol`` (the Euclidean norm of the gradient with
        the default metric). ``minimize``'s ``tol`` sets it. Default 1e-5.
    maxiter : int, optional
        Maximum number of iterations (accepted steps). Default ``200 * n``.
    max_trials : int
        Trial budget of one iteration (values of ``gamma`` tried). When it is
        spent without an acceptable step the method stops with
        ``success=False``. Default 50.
    gamma0 : float
        Initial ``gamma`` (a trust radius in the ``B``-norm). Default 1.
    gamma_min, gamma_max : float
        Floor and ceiling of ``gamma``. A rejected trial at the floor ends the
        run (``success=False``); the ceiling only prevents overflow.
    hessian : {'exact', 'gauss-newton', 'fisher', 'solve', 'fd'}, optional
        Curvature model, inferred when not given: ``'solve'`` if ``solve``
        is given, ``'gauss-newton'`` if ``residuals``, ``'fisher'`` if
        ``per_sample_grads``, ``'exact'`` if ``hess`` or ``hessp``, else
        ``'fd'`` (finite-difference Hessian-vector products of the gradient,
        solved by CG).
    residuals : callable, optional
        Gauss--Newton / generalized Gauss--Newton / low-rank model:
        ``residuals(x, *args) -> J`` or ``(J, w)``, with ``J`` of shape (m, n)
        (dense or sparse) and weights ``w >= 0`` of shape (m,) (default 1);
        ``H = J^T diag(w) J``. For least squares ``f = ||r(x)||^2 / 2``, ``J``
        is the Jacobian of ``r``; for a generalized linear model
        ``f = sum_i phi_i(a_i^T x)``, ``J = A`` and ``w_i = phi_i''``. With
        ``m >= n`` the ``n x n`` matrix is formed once per iteration; with
        ``m < n`` each trial uses the Woodbury identity on the ``m x m`` side.
    per_sample_grads : callable, optional
        Empirical Fisher model: ``per_sample_grads(x, *args) -> G`` of shape
        (N, n), one gradient per row; ``H = G^T G / N`` (solved like
        ``residuals``).
    hess_diag : float or array of shape (n,), optional
        Nonnegative diagonal added to a Gauss--Newton or Fisher model, e.g.
        the exact Hessian ``alpha * I`` of an L2 term ``alpha ||x||^2 / 2``.
    solve : callable, optional
        A user linear solver ``solve(x, rhs, lam, *args) -> d`` returning the
        solution of ``(H(x) + lam B) d = rhs`` for the user's own curvature
        ``H(x)`` (scipy issue 8756). It is called once per trial; a solution
        that is not a descent direction, or ``None``, rejects the trial.
    metric : array of shape (n,) or (n, n), or {'identity', 'hessian'}, optional
        The metric ``B``: a positive diagonal or a symmetric positive definite
        matrix. Default: the identity. ``'hessian'``: the diagonal scaling
        ``B_k = diag(h_k)``, ``h_k = max(h_{k-1}, |diag H(x_k)|)``, as MINPACK
        scales Levenberg--Marquardt (see Notes); then the iterates do not
        depend on a diagonal rescaling of the variables, and ``gtol`` applies
        to the Euclidean norm of the gradient. Used by the models that form
        their matrix (dense or sparse ``hess``, ``HessianUpdateStrategy``,
        ``residuals``, ``per_sample_grads``); the matrix-free ones keep the
        identity.
    cg_rtol : float, optional
        Relative residual tolerance of CG (``hessp``, ``LinearOperator`` and
        ``'fd'`` models). Default ``min(0.5, sqrt(||g||_*))``, the classical
        forcing sequence of inexact Newton methods.
    cg_maxiter : int, optional
        CG iterations per solve. Default ``2 * n``.
    finite_diff_rel_step : float, optional
        Relative step of finite-difference gradients.
    newton : bool
        Try the unregularized Newton step first once the model is trusted
        (dense and formed Gauss--Newton / Fisher models; see Notes). Default
        True; False gives the paper's step only.
    return_all : bool
        Store every iterate (``x0`` first) in ``allvecs``, as scipy does.
    disp : bool
        Print an iteration table and a summary.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x``, ``fun``, ``jac``, ``nit`` (accepted steps), ``nfev``,
        ``njev``, ``nhev`` (evaluations of ``hess``, ``hessp`` or of the
        curvature callable), ``status``, ``success``, ``message``, and
        ``ntrials`` (regularization trials, all iterations), ``gamma`` (final
        gamma), ``lam`` (last accepted regularization, 0 for a Newton
        step), ``allvecs`` with ``return_all``. ``fun`` is a NumPy float.

        ``status``: 0 gradient norm <= gtol; 1 ``maxiter`` reached; 2 no
        acceptable step (trial budget spent, ``gamma`` at its floor, the
        step fell below the rounding level of ``x``, ten accepted steps in
        a row changed ``f`` only at rounding level, or stagnation: see
        Notes); 3 NaN/inf in ``f`` or the
        gradient at ``x0`` (nothing is iterated), in the curvature model or in
        the step; 99 ``StopIteration`` from the callback. Every status but 0
        and 99 comes with an ``OptimizeWarning``.

    Raises
    ------
    ValueError
        Inconsistent curvature options; a curvature callable returning a wrong shape; bad option
        values.
    TypeError
        A curvature option that is not callable; complex ``x0``, or complex
        values from ``fun``, ``jac``, ``hess``, ``hessp`` or a curvature
        callable (the imaginary part would be dropped silently).

    Notes
    -----
    *Indefinite Hessians.* The theory asks for a positive semidefinite ``H``.
    An exact dense Hessian is used as is whenever ``H + lam B`` is positive
    definite (then the step is a descent direction); when Cholesky fails the
    iteration uses ``|H|`` (absolute eigenvalues in the ``B``-metric). Sparse,
    matrix-free and user solvers keep a solution only when it is a descent
    direction and otherwise reject the trial, so that ``lam`` grows. Every
    accepted step satisfies (*), hence decreases ``f``.

    *Ratio test (added to [1]).* Test (*) asks for a small gradient at
    ``x+``; in a narrow curved valley (Rosenbrock from far away) a step along
    the valley ends slightly off its floor, where the gradient across the
    valley is large, so (*) rejects steps that decrease ``f`` well and
    ``gamma`` stays small (Rosenbrock from 10x the classic start: 460
    iterations). A trial is therefore also accepted when ``f`` falls by at
    least 0.1 of the decrease ``(-g.d + lam ||d||_B^2) / 2`` that its
    quadratic model predicts (the trust-region ratio test; the step solves
    the trust-region subproblem of radius ``||d||_B``, so the global
    convergence theory of trust-region methods covers these steps, while the
    paper's covers those accepted by (*)). After such an acceptance
    ``gamma`` grows only when the step reached the radius
    (``||d||_B >= gamma / 4``) with a ratio of at least 0.75, the
    trust-region expansion rule; growing it after every acceptance let
    ``gamma`` run to its ceiling on singular models. Measured on the MGH
    instances of the benchmarks (57, gtol 1e-6): 43 solved in 20151
    iterations before, 48 in 6911 with it, 48 in 4303 with the stagnation
    test below (trust-exact: 47 in 9961; total time 32 s against 94 s, one
    interleaved run on a loaded 2-core VM).

    *Metric from the Hessian diagonal (added to [1]).* With
    ``metric='hessian'`` the metric of iteration ``k`` is ``diag(h_k)``,
    ``h_k`` the running maximum of ``|H_ii|`` (MINPACK's ``lmder`` uses the
    running maximum of the Jacobian column norms, whose squares are the
    diagonal of ``J^T J``); entries are floored at ``sqrt(eps) max(h_k)``.
    The paper's analysis is for a fixed ``B``; a metric that only grows keeps
    every step a descent step accepted by (*) or the ratio test. Measured on
    the same MGH instances it solves 47 in 11292 iterations (the identity:
    48 in 6911; different far starts run off to infinity): it is not the
    default.

    *Rounding.* ``f(x) - f(x+)`` is computed with an absolute error of a few
    ``eps * |f|``; near a minimizer with ``f* != 0`` the decrease of a good
    step falls below that. Test (*) is therefore applied with the rounding
    allowance ``4 eps (|f(x)| + |f(x+)|)`` added to the left side (exact
    arithmetic recovers the test of [1]_), which lets the method reach
    gradient tolerances near ``sqrt(eps)`` relative to the gradient scale. A
    step that leaves ``x`` unchanged in floating point, or ten accepted steps
    in a row that change ``f`` only at rounding level, end the run with status
    2 instead of looping until ``maxiter``.

    *Growing gamma.* [1]_ doubles ``gamma`` after every accepted trial.
    Right after a trial was rejected that doubling re-proposes the rejected
    ``gamma`` at the next iteration, where it usually fails again; so ``gamma``
    grows only after an acceptance at the first trial: by 2, and by 4 once two
    iterations in a row were accepted at their first trial (as trust-region
    methods expand faster after repeated success: from a poor ``gamma0`` each
    doubling would cost an iteration). A growth that would reach the last
    rejected value goes to the geometric mean of ``gamma`` and that value
    instead (a bisection in ``log gamma`` of the largest acceptable value);
    the memory of the rejection fades by a factor 1.2 per first-try
    acceptance. Rejections still halve ``gamma``, so its lower bound (and the
    complexity analysis built on it) is unchanged. Measured on Rosenbrock
    n = 100 (to ``||g|| <= 1e-8``): the paper's rule 288 iterations / 576
    trials, this one 250 / 335; the ill-conditioned logistic regression of the
    benchmarks: 11 -> 9 iterations.

    *Larger radii on the same model.* When the step accepted at the first
    trial has ``B``-length at least ``gamma / 4``, the radius rather than the
    model limited it; since a new model costs far more than a trial, larger
    ``gamma`` (x4 each) are tried on the same model while the step stays at
    the radius, below the last rejected value: a trial that passes (*) and
    lowers ``f`` further replaces the accepted one, a failure of (*) is a
    rejection. Every accepted step still satisfies (*). The ill-conditioned
    logistic regression of the benchmarks: 9 -> 7 iterations (Hessians).

    *Newton steps (added to [1]).* Near a minimizer with a positive
    definite Hessian the regularized step converges only as fast as ``lam =
    ||g|| / gamma`` shrinks; a tuned Newton method takes the plain step there.
    So while the model is trusted (from the start, after an accepted Newton
    step, and after five first-try acceptances in a row once a Newton attempt
    failed) each iteration first tries ``d = -H^{-1} g`` when ``H`` is positive
    definite (one Cholesky, also the only factorization of an iteration whose
    Newton step is accepted); it is accepted when
    ``f`` falls by at least a quarter of the model's predicted decrease
    ``-g.d / 2`` (the trust-region ratio test), and ``gamma`` becomes at least
    ``||d||_B``. A rejected attempt costs one trial and changes no ``gamma``:
    the regularized trials follow as in [1], so the global behaviour is the
    paper's between Newton steps (every step still decreases ``f``), and
    quadratics are solved in 1--2 iterations. ``newton=False`` turns it off.

    *Stagnation (added to [1]).* When over the last 200 accepted steps ``f``
    fell by at most 0.1 % of ``|f|`` and no gradient norm in them went below
    the smallest one seen before, the run stops with status 2 and a message
    that says so (the iterates creep along a flat valley or run off to
    infinity, where ``f`` approaches an infimum it does not attain). On the
    MGH benchmark this ends Meyer and Osborne 1 from 10x the standard start
    (unsolved by every method compared) after 415 and 977 iterations
    instead of 2000; no instance that was solved is stopped.

    *Banded Hessians.* A dense Hessian whose bandwidth ``kd`` is at most
    ``n / 4`` (measured once per iteration; a dense matrix is recognized in
    ``O(n)``) is factorized in band storage by LAPACK, ``O(n kd^2)`` per trial
    instead of ``O(n^3)``: the same matrix (its lower triangle) and the same
    step, as MATLAB's backslash does for banded systems. Rosenbrock's Hessian
    is tridiagonal.

    *Non-finite values.* A trial point where ``f`` or the gradient is NaN or
    inf is rejected like any other trial (the step was too long); NaN/inf in
    the curvature model (``hess``, a ``hessp`` product, a Gauss--Newton or
    Fisher matrix) or in the step stops the run with status 3, a message and
    an ``OptimizeWarning``. An exception raised by the user's ``hess`` or
    ``hessp`` itself is not caught: it propagates unchanged.

    *Finite differences.* Without ``jac``, gradients are central differences
    (``'2-point'``: forward) with scipy's steps; the
    ``'fd'`` curvature is forward differences of the gradient along each
    direction. Every call of ``fun`` is counted in ``nfev``, of ``jac`` in
    ``njev``.

    References
    ----------
    .. [1] A. Semenov, M. Jaggi, N. Doikov. "Gradient-Normalized Smoothness for
       Optimization with Approximate Hessians." ICLR 2026. arXiv:2506.13710.
    .. [2] K. Mishchenko. "Regularized Newton Method with Global O(1/k^2)
       Convergence." SIAM J. Optim. 33(3), 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import rosen, rosen_der, rosen_hess
    >>> import soptim
    >>> res = soptim.minimize(rosen, [-2.0, 2.0], method='gns', jac=rosen_der,
    ...                       hess=rosen_hess, tol=1e-10)
    >>> res.success, np.allclose(res.x, 1.0)
    (True, True)
    """
    check_unknown_options(unknown_options, "gns")
    newton = check_bool("newton", newton)
    return_all = check_bool("return_all", return_all)
    reject_complex("x0", x0)
    be = get_backend(x0)
    xp = be.xp
    x = x0.copy()
    n = x.size
    dtype = x.dtype
    eps = float(np.finfo(np.dtype(str(dtype))).eps)

    gtol = check_positive("gtol", gtol, allow_zero=True)
    maxiter = 200 * n if maxiter is None else check_count("maxiter", maxiter, minimum=0)
    max_trials = check_count("max_trials", max_trials)
    gamma = check_positive("gamma0", gamma0)
    gamma_min = check_positive("gamma_min", gamma_min)
    gamma_max = check_positive("gamma_max", gamma_max)
    if not gamma_min <= gamma <= gamma_max:
        raise ValueError(f"need gamma_min <= gamma0 <= gamma_max, got {gamma_min}, "
                         f"{gamma}, {gamma_max}")
    if cg_rtol is not None:
        cg_rtol = check_positive("cg_rtol", cg_rtol)
    cg_maxiter = 2 * n if cg_maxiter is None else check_count("cg_maxiter", cg_maxiter)
    scaling = None
    if isinstance(metric, str):
        check_choice("metric", metric, ("hessian", "identity"))
        if metric == "hessian":
            scaling = HessianScaling(n, be, dtype)
        metric = None
    B = Metric(metric, n, be, dtype)
    model_name = _select_model(hessian, hess, hessp, residuals, per_sample_grads, solve)
    D = _check_hess_diag(hess_diag, model_name, n, xp, dtype)

    of = ObjectiveFunction(fun, jac, args, finite_diff_rel_step=finite_diff_rel_step)
    counts = {"nhev": 0}
    qn = None
    if model_name == "quasi-newton":
        be.require_host("hess=HessianUpdateStrategy (scipy's quasi-Newton updates)")
        qn = hess
        qn.initialize(n, "hess")
    elif model_name == "fd" and hess == "cs":
        if not callable(jac):
            raise ValueError("hess='cs' needs a callable jac that accepts complex input "
                             "(complex-step differences of the gradient)")
    build = _model_builder(model_name, of, hess, hessp, residuals, per_sample_grads, solve,
                           D, B, args, counts, cg_rtol, cg_maxiter, xp, dtype, jac=jac, qn=qn,
                           scaling=scaling)

    allvecs = [x.copy()] if return_all else None
    f = of.value(x)
    g = of.grad(x) if np.isfinite(f) else None
    if g is None or not bool(to_numpy(xp.isfinite(g).all())):
        # scipy's methods return a result here: so does 'gns' (status 3, a warning)
        what = (f"fun is not finite at x0 (f = {f})" if g is None
                else "the gradient is not finite at x0")
        message = (f"{what}; start from a point where the objective and its gradient are "
                   "finite (check jac if f is finite).")
        result = OptimizeResult(
            x=x, fun=np.float64(f), jac=g, nit=0, nfev=of.nfev, njev=of.njev, nhev=0,
            status=STATUS_NONFINITE, success=False, message=message, ntrials=0,
            gamma=gamma, lam=float("nan"))
        if return_all:
            result["allvecs"] = allvecs
        warn_not_converged(f"gns: {message}", stacklevel=4)
        return result
    gnorm = B.dual_norm(g)

    printer = IterationPrinter(["iter", "f", "||g||", "gamma", "trials"], enabled=disp)
    printer.row(0, f, gnorm, gamma, 0)
    runner = CallbackRunner(callback)
    nit = ntrials = 0
    stalled = 0  # consecutive accepted steps whose decrease of f is at rounding level
    first_try = 0  # consecutive iterations accepted at their first trial
    # Try the Newton step first? From the start, after an accepted Newton step, and after
    # _NEWTON_RETRUST first-try acceptances in a row once a Newton attempt failed.
    trusted = True
    gamma_rejected = float("inf")  # the last rejected gamma, fading (see _grown_gamma)
    lam_acc = float("nan")
    how_acc = ""  # which test accepted the last step: 'newton', 'test (*)' or 'ratio'
    message = ""
    window = deque([(f, gnorm)], maxlen=_STAGNATION_WINDOW + 1)  # (f, ||g||) of recent iterates
    gmin_before = float("inf")  # the smallest ||g|| of the iterates older than the window

    while True:
        if gnorm <= gtol:
            status = STATUS_SUCCESS
            break
        if nit >= maxiter:
            status = STATUS_MAXITER
            message = (f"Maximum number of iterations ({maxiter}) has been exceeded "
                       f"(gradient norm {gnorm:.3e} > gtol {gtol:.1e}); increase maxiter, or "
                       "raise gtol if it is below the attainable accuracy.")
            break

        status = None
        trials = 0
        last_reason = ""
        rhs = -g
        x_old, g_old = x, g
        try:
            model = build(x, g, gnorm)
            # the metric of this iteration: B, or the Hessian-diagonal scaling (metric='hessian')
            Bk = getattr(model, "metric", B)
            gk = gnorm if Bk is B else Bk.dual_norm(g)
            step, evaluated = None, 0
            if newton and trusted and hasattr(model, "newton_step"):
                # Added to [1]: the unregularized Newton step once the model is trusted
                # (see Notes); a failed attempt costs one trial and changes no gamma.
                step, evaluated = _newton_attempt(model, rhs, x, f, g, gamma, of, Bk, eps, xp,
                                                  dtype)
                trials += evaluated  # a trial when f was evaluated at the Newton point
                ntrials += evaluated
            if step is not None:
                x_new, f_new, g_new, gnew_norm, d = step
                flat = f - f_new <= 4.0 * eps * (abs(f) + abs(f_new))
                stalled = stalled + 1 if flat else 0
                x, f, g = x_new, f_new, g_new
                gnorm = gnew_norm if Bk is B else B.dual_norm(g)
                lam_acc = 0.0
                how_acc = "newton"
                first_try += 1
                # the next regularized step may be as long as this Newton step
                gamma = min(max(gamma, Bk.norm(d)), gamma_max)
            newton_trials = trials
            while step is None:
                if trials >= max_trials:
                    status = STATUS_FAILURE
                    message = (f"No acceptable step in {max_trials} regularization trials "
                               f"(gamma={gamma:.3e}, last trial: {last_reason}). Check the "
                               "gradient (jac) and the curvature model, or raise max_trials.")
                    break
                trials += 1
                ntrials += 1
                lam = gk / gamma
                d = model.solve(rhs, lam)
                if d is None:
                    last_reason = "H + lam*B not positive definite along the step"
                elif not bool(to_numpy(xp.isfinite(d).all())):
                    status = STATUS_NONFINITE
                    message = ("NaN or inf in the Newton step (the curvature model or the "
                               "linear solver produced non-finite values).")
                    break
                else:
                    x_new = x + d.astype(dtype, copy=False)
                    if bool(to_numpy((x_new == x).all())):
                        status = STATUS_FAILURE
                        message = (f"The step fell below the rounding level of x (gradient norm "
                                   f"{gnorm:.3e}); gtol={gtol:.1e} is probably below the "
                                   "attainable accuracy, or the gradient (jac) is inaccurate.")
                        break
                    accepted, last_reason, f_new, g_new, gnew_norm = _trial(
                        of, x_new, f, lam, Bk, eps, xp, _predicted_decrease(g, d, lam, Bk))
                    if accepted:
                        # a step accepted by the ratio test alone lets gamma grow only when
                        # it was at the radius with a good ratio (trust-region expansion)
                        binding = Bk.norm(d) >= _BINDING * gamma
                        may_grow = accepted == "test (*)" or (accepted == "ratio, good"
                                                             and binding)
                        # Grow gamma only after a first-try acceptance (growing it right after
                        # a halving re-proposes the rejected trial), and by 4 after two in a
                        # row (gamma far below its working value costs an iteration per
                        # doubling). Rejections halve it as in the paper: same lower bound.
                        first_try = first_try + 1 if trials == newton_trials + 1 else 0
                        if first_try and binding and may_grow:
                            # the radius gamma limited the step: try larger ones on this model
                            (x_new, f_new, g_new, gnew_norm, lam, accepted, gamma,
                             gamma_rejected, extra) = _extrapolate(
                                model, rhs, x, f, gk, gamma, gamma_rejected, gamma_max,
                                (x_new, f_new, g_new, gnew_norm, lam, accepted), of, Bk, eps, xp,
                                dtype)
                            ntrials += extra
                            trials += extra
                        # a decrease within the rounding allowance: f is flat at rounding level
                        flat = f - f_new <= 4.0 * eps * (abs(f) + abs(f_new))
                        stalled = stalled + 1 if flat else 0
                        x, f, g = x_new, f_new, g_new
                        gnorm = gnew_norm if Bk is B else B.dual_norm(g)
                        lam_acc = lam
                        how_acc = "test (*)" if accepted == "test (*)" else "ratio"
                        if first_try and may_grow:
                            gamma = _grown_gamma(gamma, first_try, gamma_rejected, gamma_max)
                            gamma_rejected *= _REJECTED_FADE
                        break
                if gamma <= gamma_min:
                    status = STATUS_FAILURE
                    message = (f"gamma reached its floor gamma_min={gamma_min:.1e} without an "
                               f"acceptable step (last trial: {last_reason}). Check the gradient "
                               "(jac) and the curvature model.")
                    break
                gamma_rejected = gamma
                gamma = max(0.5 * gamma, gamma_min)
        except NonFiniteCurvature as exc:
            # NaN/inf in the Hessian, its products or a factor: stop (status 3). The user's
            # own exceptions from hess/hessp are not caught and propagate unchanged.
            status = STATUS_NONFINITE
            message = (f"{exc} The curvature model (hess, hessp or the curvature option) "
                       "returned non-finite values at the current iterate; check it there, "
                       "or use another curvature model (options['hessian']).")
        if status is not None:
            break

        if step is not None:
            trusted = True
        elif evaluated or first_try >= _NEWTON_RETRUST:
            trusted = first_try >= _NEWTON_RETRUST
        if qn is not None:
            qn.update(to_numpy(x - x_old), to_numpy(g - g_old))
        if allvecs is not None:
            allvecs.append(x.copy())
        nit += 1
        printer.row(nit, f, gnorm, gamma, trials)
        if runner(x, fun=f, jac=g, nit=nit, gamma=gamma, lam=lam_acc, ntrials=ntrials,
                  accepted_by=how_acc):
            status = STATUS_CALLBACK
            break
        if len(window) == window.maxlen:
            gmin_before = min(gmin_before, window[0][1])  # leaves the window now
        window.append((f, gnorm))
        if len(window) == window.maxlen and gnorm > gtol:
            f_old, g_old_min = window[0][0], min(gmin_before, window[0][1])
            decrease = f_old - f
            if (decrease <= _STAGNATION_RTOL * abs(f)
                    and min(gn for _, gn in list(window)[1:]) >= g_old_min):
                status = STATUS_FAILURE
                message = (f"Stagnation: in the last {_STAGNATION_WINDOW} iterations f fell by "
                           f"only {decrease / max(abs(f), 1e-300):.1e} (relative) and the "
                           f"gradient norm stayed above its earlier minimum {g_old_min:.3e} "
                           f"(now {gnorm:.3e}, ||x|| = {be.norm(x):.3e}); the iterates creep "
                           "along a flat valley or run off to infinity. Try another x0, "
                           "options['metric']='hessian', or rescale the variables.")
                break
        if stalled >= _MAX_STALLED and gnorm > gtol:
            status = STATUS_FAILURE
            message = (f"f changed only at rounding level in {stalled} accepted steps; "
                       f"the gradient norm {gnorm:.3e} stays above "
                       f"gtol={gtol:.1e}, which is probably below the attainable accuracy.")
            break

    message = message or _MESSAGES[status]
    result = OptimizeResult(
        x=x, fun=np.float64(f), jac=g, nit=nit, nfev=of.nfev, njev=of.njev, nhev=counts["nhev"],
        status=status, success=status == STATUS_SUCCESS, message=message,
        ntrials=ntrials, gamma=gamma, lam=lam_acc)
    if allvecs is not None:
        result["allvecs"] = allvecs
    if status not in (STATUS_SUCCESS, STATUS_CALLBACK):
        warn_not_converged(f"gns: {message}", stacklevel=4)
    printer.final(result)
    return result


def _grown_gamma(gamma: float, first_try: int, gamma_rejected: float, gamma_max: float) -> float:
    """gamma after an iteration accepted at its first trial (see Notes of ``_minimize_gns``).

    x2, or x4 after two such iterations in a row; but never up to a recently
    rejected value: then the geometric mean of gamma and that value, which
    brackets the largest acceptable gamma as a bisection in log(gamma) would.
    """
    target = (4.0 if first_try >= 2 else 2.0) * gamma
    if target >= gamma_rejected:
        target = max(gamma, float(np.sqrt(gamma * gamma_rejected)))
    return min(target, gamma_max)


def _extrapolate(model, rhs, x, f: float, gnorm: float, gamma: float, gamma_rejected: float,
                 gamma_max: float, best: tuple, of: ObjectiveFunction, B: Metric, eps: float, xp,
                 dtype):
    """Larger trust radii on the same curvature model after a first-try acceptance.

    The accepted step had ``B``-length close to ``gamma``: the radius, not the
    model, limited it, and a new model costs far more than a trial (a Hessian
    against a solve and an evaluation of ``f``). So ``gamma`` is multiplied by
    4 while the step stays at the radius, below the last rejected value; a
    trial that passes test (*) (or the ratio test with a good ratio, the
    trust-region expansion rule) and lowers ``f`` further replaces the
    accepted one. A failure is a rejection like any other (it is remembered);
    a trial that passes but does not lower ``f`` just ends the search.

    Returns ``(x, f, g, ||g||_*, lam, how, gamma, gamma_rejected, trials)``:
    the best point with its ``lam``, the test that accepted it and ``gamma``.
    """
    x_best, f_best, g_best, gn_best, lam_best, how_best = best
    trials = 0
    while True:
        trial_gamma = 4.0 * gamma
        if trial_gamma >= gamma_rejected or trial_gamma > gamma_max:
            break
        lam = gnorm / trial_gamma
        d = model.solve(rhs, lam)
        trials += 1
        if d is None or not bool(to_numpy(xp.isfinite(d).all())):
            gamma_rejected = trial_gamma
            break
        x_new = x + d.astype(dtype, copy=False)
        accepted, _, f_new, g_new, gnew_norm = _trial(of, x_new, f, lam, B, eps, xp,
                                                      _predicted_decrease(-rhs, d, lam, B))
        if accepted not in ("test (*)", "ratio, good"):
            gamma_rejected = trial_gamma
            break
        if not f_new < f_best:
            break
        x_best, f_best, g_best, gn_best, lam_best = x_new, f_new, g_new, gnew_norm, lam
        how_best = accepted
        gamma = trial_gamma
        if B.norm(d) < _BINDING * gamma:  # the model, not the radius, limits the step now
            break
    return x_best, f_best, g_best, gn_best, lam_best, how_best, gamma, gamma_rejected, trials


def _newton_attempt(model, rhs, x, f: float, g, gamma: float, of: ObjectiveFunction, B: Metric,
                    eps: float, xp, dtype):
    """Try the unregularized Newton step ``d = -H^{-1} g`` (``lam = 0``).

    Tried when ``H`` is positive definite (the model's factorization
    succeeds) and the step is within ``_NEWTON_REACH * gamma`` in the
    ``B``-norm (gamma is the trust radius); accepted when the actual
    decrease of ``f`` is at least a quarter of the decrease ``-g.d / 2``
    the quadratic model predicts (the ratio test of trust-region methods,
    with the rounding allowance of test (*)). Returns
    ``((x+, f+, g+, ||g+||_*, d) or None, whether f was evaluated)``.
    """
    d = model.newton_step(rhs)
    if d is None or not bool(to_numpy(xp.isfinite(d).all())):
        return None, 0
    d = d.astype(dtype, copy=False)
    x_new = x + d
    if B.norm(d) > _NEWTON_REACH * gamma or bool(to_numpy((x_new == x).all())):
        return None, 0
    predicted = -0.5 * float(to_numpy(g @ d))
    if not predicted > 0.0:
        return None, 0
    f_new = of.value(x_new, new_point=True)
    if not np.isfinite(f_new):
        return None, 1
    slack = 4.0 * eps * (abs(f) + abs(f_new))
    if f - f_new + slack < 0.25 * predicted:
        return None, 1
    g_new = of.grad(x_new, last_point=True)
    if not bool(to_numpy(xp.isfinite(g_new).all())):
        return None, 1
    return (x_new, f_new, g_new, B.dual_norm(g_new), d), 1


def _predicted_decrease(g, d, lam: float, B: Metric) -> float:
    """Decrease ``-(g.d + d.H d / 2)`` of the quadratic model along a step ``(H + lam B) d = -g``.

    ``d.H d = -g.d - lam ||d||_B^2`` for that step, so no product with ``H`` is
    needed: the value is ``(-g.d + lam ||d||_B^2) / 2``, for the model the solve
    used (``|H|`` when the iteration switched to it).
    """
    return 0.5 * (-float(to_numpy(g @ d)) + lam * B.norm(d) ** 2)


def _trial(of: ObjectiveFunction, x_new, f: float, lam: float, B: Metric, eps: float, xp,
           predicted: float = float("inf")):
    """Evaluate a trial point; accept by test (*) or by the ratio test (see Notes).

    Returns ``(how, reason, f+, g+, ||g+||_*)``: ``how`` is ``""`` for a
    rejection (``reason`` says why), ``"test (*)"``, ``"ratio, good"`` (the
    actual decrease is at least ``_RATIO_GOOD`` of the predicted one) or
    ``"ratio"``.
    """
    f_new = of.value(x_new, new_point=True)
    if not np.isfinite(f_new):
        return "", "f is not finite at the trial point", None, None, None
    slack = 4.0 * eps * (abs(f) + abs(f_new))  # rounding error of the computed f - f_new
    decrease = f - f_new
    if decrease + slack < 0.0:  # no decrease: reject without a gradient evaluation
        return "", "f increased", None, None, None
    g_new = of.grad(x_new, last_point=True)
    if not bool(to_numpy(xp.isfinite(g_new).all())):
        return "", "gradient not finite at the trial point", None, None, None
    gnew_norm = B.dual_norm(g_new)
    if decrease + slack >= gnew_norm ** 2 / (8.0 * lam):
        return "test (*)", "", f_new, g_new, gnew_norm
    if decrease + slack >= _RATIO_GOOD * predicted:
        return "ratio, good", "", f_new, g_new, gnew_norm
    if decrease + slack >= _RATIO_ACCEPT * predicted:
        return "ratio", "", f_new, g_new, gnew_norm
    return "", "insufficient decrease", None, None, None


# -- options ---------------------------------------------------------------------------------

def _select_model(hessian, hess, hessp, residuals, per_sample_grads, solve) -> str:
    for name, f in (("residuals", residuals), ("per_sample_grads", per_sample_grads),
                    ("solve", solve), ("hessp", hessp)):
        check_callable(name, f, optional=True)
    quasi_newton = isinstance(hess, HessianUpdateStrategy)
    if (hess is not None and not callable(hess) and not quasi_newton
            and hess not in FD_HESS):
        raise TypeError("hess must be callable, a HessianUpdateStrategy (e.g. "
                        "scipy.optimize.BFGS()) or one of '2-point', '3-point', 'cs' for "
                        f"method 'gns', got {hess!r}")
    if quasi_newton and hessp is None and hessian in (None, "exact"):
        return "quasi-newton"
    if hessian is not None:
        name = check_choice("hessian", hessian.lower() if isinstance(hessian, str) else hessian,
                            HESSIAN_MODELS)
        need = {"gauss-newton": ("residuals", residuals),
                "fisher": ("per_sample_grads", per_sample_grads),
                "solve": ("solve", solve)}
        if name in need and need[name][1] is None:
            raise ValueError(f"hessian={name!r} needs the option {need[name][0]!r}")
        if name == "exact" and hess is None and hessp is None:
            # scipy's Newton-type methods fall back to finite differences here: so does
            # 'gns', with a warning (the user asked for the exact Hessian)
            warnings.warn("hessian='exact' was requested without hess or hessp; using "
                          "finite-difference Hessian-vector products of the gradient "
                          "(hessian='fd')", RuntimeWarning, stacklevel=4)
            return "fd"
        if name == "exact" and not callable(hess) and hessp is None:
            return "fd"  # hess='2-point' / '3-point': finite-difference products
        return name
    given = [k for k, f in (("solve", solve), ("gauss-newton", residuals),
                            ("fisher", per_sample_grads)) if f is not None]
    if len(given) > 1:
        raise ValueError("several curvature options given (" + ", ".join(given) + "); "
                         "choose one with options['hessian']")
    if given:
        return given[0]
    if callable(hess) or hessp is not None:
        return "exact"
    return "fd"


def _check_hess_diag(hess_diag, model_name: str, n: int, xp, dtype):
    if hess_diag is None:
        return None
    if model_name not in ("gauss-newton", "fisher"):
        raise ValueError("hess_diag is added to a Gauss-Newton or Fisher model only "
                         f"(the curvature model here is {model_name!r})")
    D = as_float_array("hess_diag", hess_diag, ndim=(0, 1), nonnegative=True, dtype=dtype,
                       xp=xp)
    if D.ndim == 0:
        D = xp.full(n, D, dtype=dtype)
    if D.shape != (n,):
        raise ValueError(f"hess_diag must be a scalar or have shape ({n},), got {D.shape}")
    return D


# -- curvature models -------------------------------------------------------------------------

def _model_builder(name, of, hess, hessp, residuals, per_sample_grads, solve, D, B, args,
                   counts, cg_rtol, cg_maxiter, xp, dtype, jac=None, qn=None, scaling=None):
    """Return ``build(x, g, gnorm) -> model`` for the chosen curvature source.

    With ``scaling`` (a :class:`HessianScaling`), the models that know the
    diagonal of their matrix (dense and sparse Hessians, quasi-Newton
    matrices, formed Gauss--Newton / Fisher models) get the scaled diagonal
    metric of the iteration; the others keep ``B``.
    """
    n = B.n

    def metric_for(diag):
        return B if scaling is None else scaling.update(diag)

    def cg_tol(gnorm):
        # Forcing sequence: loose far away, tight (superlinear) near the solution.
        return min(0.5, float(np.sqrt(gnorm))) if cg_rtol is None else cg_rtol

    def check_finite(a, what):
        if not bool(to_numpy(xp.isfinite(a).all())):
            raise NonFiniteCurvature(f"{what} contains NaN or inf at the current iterate.")

    if name == "solve":
        def build(x, g, gnorm):
            counts["nhev"] += 1
            return UserSolveCurvature(solve, x, args)
        return build

    if name in ("gauss-newton", "fisher"):
        sp = B.be.scipy.sparse

        def build(x, g, gnorm):
            counts["nhev"] += 1
            if name == "gauss-newton":
                out = residuals(x, *args)
                J, w = out if isinstance(out, tuple) else (out, None)
                V = _weighted_rows(J, w, n, xp, sp, dtype)
            else:
                G = per_sample_grads(x, *args)
                G = _as_matrix("per_sample_grads", G, n, xp, dtype)
                scale = 1.0 / float(np.sqrt(G.shape[0]))  # a Python float keeps float32
                V = G * scale
            check_finite(V.data if B.be.issparse(V) else V, "the curvature model")
            if scaling is None:
                return LowRankCurvature(V, D, B)
            diag = (V.multiply(V).sum(axis=0) if B.be.issparse(V) else (V * V).sum(axis=0))
            diag = xp.asarray(diag, dtype=dtype).reshape(-1)
            return LowRankCurvature(V, D, metric_for(diag if D is None else diag + D))
        return build

    if name == "quasi-newton":
        def build(x, g, gnorm):
            # scipy's HessianUpdateStrategy (BFGS, SR1, ...) updated after every accepted
            # step; the matrix is dense, so each trial is a Cholesky solve (|H| if indefinite)
            H = xp.asarray(qn.get_matrix(), dtype=dtype)
            return DenseCurvature(H, metric_for(xp.diagonal(H)))
        return build

    if name == "fd":
        if hess == "cs":
            def build(x, g, gnorm):
                # complex-step differences of the user's jac: H v = Im(jac(x + i h v)) / h,
                # exact to rounding for analytic gradients (scipy's hess='cs')
                def hv(v):
                    vn = float(to_numpy(xp.sqrt(v @ v)))
                    if vn == 0.0:
                        return xp.zeros_like(x)
                    h = 1e-20 / vn
                    of.njev += 1
                    gc = xp.asarray(jac(x + (1j * h) * v, *args))
                    return (gc.imag / h).astype(dtype, copy=False).reshape(-1)
                return _matrix_free(hv, B, cg_tol(gnorm), cg_maxiter)
            return build
        method = "3-point" if hess == "3-point" else "2-point"

        def build(x, g, gnorm):
            # Forward ('3-point': central) differences of the gradient along v, with
            # soptim._numdiff's step; forward ones reuse the gradient known at x.
            hv = hessp_operator(of.grad, x, method=method, g0=g if method == "2-point" else None)
            return _matrix_free(hv, B, cg_tol(gnorm), cg_maxiter)
        return build

    # exact: hess (dense / sparse / LinearOperator) or hessp
    def build(x, g, gnorm):
        if callable(hess):
            counts["nhev"] += 1
            H = hess(x, *args)
            reject_complex("hess", H)
            if is_linear_operator(H):
                _check_shape("hess", H.shape, n)

                def hv(v):
                    return xp.asarray(H.matvec(v), dtype=dtype).reshape(-1)
                return _matrix_free(hv, B, cg_tol(gnorm), cg_maxiter)
            if B.be.issparse(H):
                _check_shape("hess", H.shape, n)
                H = H.astype(dtype)
                check_finite(H.data, "the Hessian")
                return SparseCurvature(H, metric_for(xp.asarray(H.diagonal())))
            H = xp.asarray(H, dtype=dtype)
            if H.ndim == 0 and n == 1:
                H = H.reshape(1, 1)
            _check_shape("hess", H.shape, n)
            check_finite(H, "the Hessian")
            return DenseCurvature(H, metric_for(xp.diagonal(H)))
        if hessp is not None:
            def hv(v):
                counts["nhev"] += 1
                out = hessp(x, v, *args)
                reject_complex("hessp", out)
                out = xp.asarray(out, dtype=dtype).reshape(-1)
                if out.shape != (n,):
                    raise ValueError(f"hessp must return an array of shape ({n},), "
                                     f"got {out.shape}")
                return out
            return _matrix_free(hv, B, cg_tol(gnorm), cg_maxiter)
        raise ValueError("hessian='exact' needs hess or hessp")  # guarded by _select_model

    return build


class HessianScaling:
    """Diagonal metric from the curvature's diagonal, as MINPACK scales Levenberg--Marquardt.

    MINPACK's ``lmder`` regularizes with ``D^2``, ``D_j`` the largest norm of
    the ``j``-th Jacobian column seen so far, i.e. ``D_j^2`` the largest
    ``(J^T J)_jj``. Here ``B_k = diag(h_k)``, ``h_k = max(h_{k-1}, |diag H_k|)``:
    the step, the radius ``gamma`` and the dual norm in test (*) then do not
    change when variables are rescaled (``x = S y`` with ``S`` diagonal scales
    ``H_ii`` by ``S_ii^2``), and the metric never shrinks, so a variable whose
    curvature vanishes on the way keeps its earlier scale. Entries below
    ``sqrt(eps) max(h)`` are raised to it (MINPACK uses 1 for a zero column;
    a relative floor keeps the invariance); all-zero diagonals give the
    identity.
    """

    def __init__(self, n: int, be, dtype):
        self.n, self.be, self.dtype = n, be, dtype
        self.h = None
        self.rel_floor = float(np.sqrt(np.finfo(np.dtype(str(dtype))).eps))

    def update(self, diag) -> Metric:
        """Fold ``|diag|`` into the running maximum and return the metric ``diag(h)``."""
        xp = self.be.xp
        a = xp.abs(xp.asarray(diag, dtype=self.dtype).reshape(-1))
        if not bool(to_numpy(xp.isfinite(a).all())):
            raise NonFiniteCurvature("The diagonal of the curvature model contains NaN or inf.")
        self.h = a if self.h is None else xp.maximum(self.h, a)
        top = float(to_numpy(self.h.max())) if self.n else 0.0
        if not top > 0.0:
            return Metric(None, self.n, self.be, self.dtype)
        return Metric.diagonal(xp.maximum(self.h, self.rel_floor * top), self.be)


def _matrix_free(hv, B: Metric, rtol: float, maxiter: int):
    # One Lanczos basis shared by the trials of an iteration when B is the identity
    # or diagonal; a dense metric breaks the shift structure: CG per trial.
    if B.kind == "dense":
        return OperatorCurvature(hv, B, rtol, maxiter)
    return KrylovCurvature(hv, B, rtol, maxiter)


def _check_shape(name: str, shape, n: int) -> None:
    if tuple(shape) != (n, n):
        raise ValueError(f"{name} must return a matrix of shape ({n}, {n}), got {tuple(shape)}")


def _as_matrix(name: str, M, n: int, xp, dtype):
    reject_complex(name, M)
    if is_sparse(M):
        if M.ndim != 2 or M.shape[1] != n:
            raise ValueError(f"{name} must return a matrix with {n} columns, got {M.shape}")
        return M.astype(dtype).tocsr()
    M = xp.asarray(M, dtype=dtype)
    if M.ndim == 1 and M.shape[0] == n:
        M = M.reshape(1, n)
    if M.ndim != 2 or M.shape[1] != n:
        raise ValueError(f"{name} must return an array of shape (m, {n}), got {M.shape}")
    return M


def _weighted_rows(J, w, n: int, xp, sp, dtype):
    """``V = diag(sqrt(w)) J`` for the Gauss--Newton model ``J^T diag(w) J``."""
    J = _as_matrix("residuals", J, n, xp, dtype)
    if w is None:
        return J
    reject_complex("residuals: the weights", w)
    w = xp.asarray(w, dtype=dtype).reshape(-1)
    if w.shape != (J.shape[0],):
        raise ValueError(f"residuals: the weights must have shape ({J.shape[0]},), got "
                         f"{w.shape}")
    if bool(to_numpy((w < 0).any())):
        raise ValueError("residuals: the weights must be nonnegative")
    s = xp.sqrt(w)
    if is_sparse(J):
        return (sp.diags(s) @ J).tocsr()
    return s[:, None] * J
