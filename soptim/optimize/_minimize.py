"""``soptim.minimize``: scipy's front door, with soptim's methods added.

Validates the inputs once, picks the method, and dispatches either to one of
soptim's private method modules or, for every scipy method name, unchanged to
``scipy.optimize.minimize``.

Host/device rule: soptim's methods run on the backend of ``x0`` (NumPy or
CuPy). scipy's methods run on the host only, so a GPU ``x0`` with a scipy
method (or ``method=None``, or a custom callable, which scipy also feeds
through ``numpy.asarray``) is refused with a ``TypeError`` naming ``x0`` and
the method. It is not converted: ``fun`` and ``jac`` would then receive NumPy
arrays they were not written for and return device arrays scipy cannot take,
so a silent copy would only move the failure deeper into scipy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import scipy.optimize
from scipy.optimize import OptimizeResult

from .._validation import as_float_array, check_callable
from ..backend import get_backend, is_device_array

__all__ = ["minimize", "show_options", "SOPTIM_METHODS", "SCIPY_METHODS"]

#: soptim's own methods: name -> (module, function). Imported lazily.
SOPTIM_METHODS: dict[str, tuple[str, str]] = {
    "gns": ("soptim.optimize._gns", "_minimize_gns"),
    "sketched-alm": ("soptim.optimize._sketched_alm", "_minimize_sketched_alm"),
}

#: Which option ``tol`` sets for each soptim method (scipy does the same per method).
_TOL_OPTION = {"gns": "gtol", "sketched-alm": "tol"}

#: Methods that handle constraints / bounds.
_CONSTRAINED = {"sketched-alm"}

#: scipy.optimize.minimize's methods (scipy 1.17), passed through unchanged.
SCIPY_METHODS = (
    "nelder-mead", "powell", "cg", "bfgs", "newton-cg", "l-bfgs-b", "tnc", "cobyla",
    "cobyqa", "slsqp", "trust-constr", "dogleg", "trust-ncg", "trust-exact", "trust-krylov",
)


def _load(method: str) -> Callable:
    module, name = SOPTIM_METHODS[method]
    return getattr(importlib.import_module(module), name)


def _has_constraints(constraints: Any) -> bool:
    if constraints is None:
        return False
    if isinstance(constraints, (dict, scipy.optimize.LinearConstraint,
                                scipy.optimize.NonlinearConstraint)):
        return True
    return len(constraints) > 0


def _refuse_device_x0(x0: Any, method: Any) -> None:
    """TypeError for a GPU ``x0`` given to a host-only (scipy) method; see the module notes."""
    if not is_device_array(x0):
        return
    if method is None:
        which = "method=None (scipy's default choice: BFGS, L-BFGS-B or SLSQP)"
    elif callable(method):
        which = f"the custom method {getattr(method, '__name__', type(method).__name__)!r}"
    else:
        which = f"method {method!r}"
    raise TypeError(
        f"x0 is a GPU array ({type(x0).__module__}.{type(x0).__name__}), but {which} is "
        "scipy's and runs on the host only (scipy converts x0 with numpy.asarray). Pass "
        "x0 on the host (cupy.asnumpy(x0)) with fun/jac/hess that take and return NumPy "
        "arrays, or use method='gns' (unconstrained) or 'sketched-alm' (constraints "
        "and bounds), which run on the GPU.")


def _check_x0(x0: Any):
    be = get_backend(x0)
    # real floating (float32 kept, integers -> float64; complex is a TypeError naming x0)
    x = as_float_array("x0", x0, finite=False, xp=be.xp)
    if x.ndim == 0:
        x = x.reshape(1)
    if x.ndim != 1:
        raise ValueError(f"x0 must be 1-D, got shape {tuple(x.shape)}")
    if x.size == 0:
        raise ValueError("x0 must not be empty")
    if not be.all_finite(x):
        raise ValueError("x0 contains NaN or inf")
    return x


def minimize(
    fun: Callable,
    x0: Any,
    args: tuple = (),
    method: str | Callable | None = None,
    jac: Callable | bool | str | None = None,
    hess: Any = None,
    hessp: Callable | None = None,
    bounds: Any = None,
    constraints: Any = (),
    tol: float | None = None,
    callback: Callable | None = None,
    options: dict | None = None,
) -> OptimizeResult:
    """Minimize a scalar function: ``scipy.optimize.minimize`` plus soptim's methods.

    Same signature and semantics as :func:`scipy.optimize.minimize`; every
    scipy method name is passed to scipy unchanged, so existing code keeps
    working when ``scipy.optimize`` is replaced by ``soptim``.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float`` (or ``-> (float, grad)`` with ``jac=True``).
    x0 : array_like, shape (n,)
        Initial guess. NumPy or CuPy for soptim's methods (which return the
        same kind); host data for scipy's methods (a CuPy ``x0`` is refused
        there, not copied).
    args : tuple, optional
        Extra arguments of ``fun``, ``jac``, ``hess`` and ``hessp``.
    method : str or callable, optional
        ``'gns'`` (gradient-normalized regularized Newton),
        ``'sketched-alm'`` (equality and inequality constraints, bounds), or
        any scipy method.
        Default (``None``): exactly scipy's choice (BFGS, L-BFGS-B or SLSQP),
        whatever ``hess`` or ``options`` say, so existing code gives scipy's
        answers; name ``'gns'`` to use it.
    jac : callable, bool or str, optional
        Gradient; ``True`` means ``fun`` returns ``(f, g)``; ``None`` uses
        finite differences.
    hess : callable, {'2-point', '3-point', 'cs'} or HessianUpdateStrategy, optional
        Hessian (dense, sparse or ``LinearOperator``), a finite-difference
        scheme, or a quasi-Newton strategy such as ``scipy.optimize.BFGS()``.
    hessp : callable, optional
        Hessian-vector product ``hessp(x, p, *args)``.
    bounds, constraints :
        As in scipy. soptim's ``'sketched-alm'`` handles equality and
        inequality constraints and bounds; ``'gns'`` is unconstrained.
    tol : float, optional
        Termination tolerance; for ``'gns'`` the gradient-norm tolerance
        ``gtol``, for ``'sketched-alm'`` the KKT-residual tolerance.
    callback : callable, optional
        ``callback(intermediate_result)`` or legacy ``callback(xk)``; raising
        ``StopIteration`` stops the solver with status 99.
    options : dict, optional
        Method options; unknown ones are reported by an ``OptimizeWarning``.

    Returns
    -------
    scipy.optimize.OptimizeResult
        With ``x, fun, jac, nit, nfev, njev, nhev, status, success, message``
        and method-specific fields.

    Raises
    ------
    ValueError
        Unknown method, x0 not 1-D or not finite, ``fun`` not finite at x0,
        constraints or bounds given to a method that cannot handle them.
    TypeError
        ``fun`` (or ``jac``, ``hess``, ``callback``) not callable; a GPU
        (CuPy) ``x0`` with one of scipy's methods, which run on the host only
        (soptim's ``'gns'`` and ``'sketched-alm'`` run on the GPU).

    See Also
    --------
    scipy.optimize.minimize

    References
    ----------
    .. [1] A. Semenov, M. Jaggi, N. Doikov. "Gradient-Normalized Smoothness for
       Optimization with Approximate Hessians." ICLR 2026. arXiv:2506.13710.
    .. [2] I. Hong, S. Na, M. W. Mahoney, M. Kolar. "Constrained Optimization via
       Exact Augmented Lagrangian and Randomized Iterative Sketching." ICML 2023.
       arXiv:2305.18379.

    Examples
    --------
    scipy's methods pass straight through:

    >>> from scipy.optimize import rosen
    >>> import soptim
    >>> soptim.minimize(rosen, [-2.0, 2.0], method='BFGS').success
    True

    ``'gns'`` when named: Rosenbrock from (-2, 2) in about 50 iterations
    (``ntrials`` counts the regularization trials):

    >>> from scipy.optimize import rosen_der, rosen_hess
    >>> res = soptim.minimize(rosen, [-2.0, 2.0], method='gns', jac=rosen_der,
    ...                       hess=rosen_hess, tol=1e-10)
    >>> res.x.round(8), res.nit < 60, res.ntrials >= res.nit
    (array([1., 1.]), True, True)
    """
    check_callable("fun", fun)
    if not isinstance(args, tuple):
        args = (args,)
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict, got {type(options).__name__}")
    check_callable("callback", callback, optional=True)

    if callable(method):  # scipy supports custom callables: pass through.
        _refuse_device_x0(x0, method)
        return scipy.optimize.minimize(fun, x0, args, method, jac, hess, hessp, bounds,
                                       constraints, tol, callback, options)
    if method is not None and not isinstance(method, str):
        raise TypeError(f"method must be a string or callable, got {type(method).__name__}")
    meth = method.lower() if method is not None else None

    if meth is None or meth in SCIPY_METHODS:
        _refuse_device_x0(x0, method)
        return scipy.optimize.minimize(fun, x0, args, method, jac, hess, hessp, bounds,
                                       constraints, tol, callback, options)
    if meth not in SOPTIM_METHODS:
        available = ", ".join(sorted(SOPTIM_METHODS) + list(SCIPY_METHODS))
        raise ValueError(f"Unknown solver {method!r}; available methods: {available}")

    x0 = _check_x0(x0)
    if meth not in _CONSTRAINED:
        if _has_constraints(constraints):
            raise ValueError(
                f"method {method!r} does not handle constraints; use "
                "method='sketched-alm', 'trust-constr' or 'SLSQP'")
        if bounds is not None:
            raise ValueError(f"method {method!r} does not handle bounds; use 'L-BFGS-B', "
                             "'sketched-alm', 'trust-constr' or 'TNC'")
    opts = dict(options)
    if tol is not None:
        opts.setdefault(_TOL_OPTION[meth], tol)
    solver = _load(meth)
    if meth in _CONSTRAINED:
        return solver(fun, x0, args=args, jac=jac, hess=hess, hessp=hessp, bounds=bounds,
                      constraints=constraints, callback=callback, **opts)
    return solver(fun, x0, args=args, jac=jac, hess=hess, hessp=hessp, callback=callback,
                  **opts)


#: Arguments of a method function that are ``minimize``'s own, not options.
_NOT_OPTIONS = {"fun", "x0", "args", "jac", "hess", "hessp", "bounds", "constraints",
                "callback"}


def _options_text(method: str) -> str:
    """The ``Options`` section of a soptim method: its docstring's parameters minus minimize's."""
    doc = _load(method).__doc__ or ""
    lines = doc.expandtabs().splitlines()
    indent = min((len(ln) - len(ln.lstrip()) for ln in lines[1:] if ln.strip()), default=0)
    lines = [lines[0].strip()] + [ln[indent:] for ln in lines[1:]]
    start = next(i for i, ln in enumerate(lines) if ln.strip() == "Parameters") + 2
    end = next((i for i in range(start, len(lines))
                if i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}), len(lines))
    out, keep = [], False
    for ln in lines[start:end]:
        if ln and not ln[0].isspace():  # a parameter's header line "name : type"
            names = {n.strip().lstrip("*") for n in ln.split(":")[0].split(",")}
            keep = not names <= _NOT_OPTIONS and "unknown_options" not in names
        if keep:
            out.append(ln)
    while out and not out[-1].strip():
        out.pop()
    return "Options\n-------\n" + "\n".join(out) + "\n"


def show_options(solver: str | None = None, method: str | None = None,
                 disp: bool = True) -> str | None:
    """Show the options of a solver: ``scipy.optimize.show_options`` plus soptim's methods.

    Parameters
    ----------
    solver : str, optional
        ``'minimize'`` for soptim's methods; any other solver name (``'root'``,
        ``'linprog'``, ...) is scipy's. Default: all of them.
    method : str, optional
        A method of ``solver``: ``'gns'`` and ``'sketched-alm'`` are soptim's,
        every other name is passed to scipy. Default: all methods.
    disp : bool
        Print the text (and return None) if True, else return it.

    Returns
    -------
    str or None
        The options text when ``disp`` is False.

    Raises
    ------
    ValueError
        Unknown solver or method (scipy's error for scipy's names).

    Examples
    --------
    >>> import soptim
    >>> text = soptim.show_options("minimize", "gns", disp=False)
    >>> "gtol : float" in text and "fun :" not in text
    True
    """
    meth = method.lower() if isinstance(method, str) else method
    solver_name = solver.lower() if isinstance(solver, str) else solver
    if meth in SOPTIM_METHODS and solver_name in (None, "minimize"):
        text = _options_text(meth)
    elif meth is not None or solver_name not in (None, "minimize"):
        text = scipy.optimize.show_options(solver, method, disp=False)
    else:  # every method: scipy's text, then soptim's methods in scipy's layout
        text = scipy.optimize.show_options(solver, None, disp=False)
        extra = []
        for name in SOPTIM_METHODS:
            title = f"minimize : {name} (soptim)"
            extra.append(f"{title}\n{'=' * len(title)}\n\n{_options_text(name)}")
        text = text.rstrip("\n") + "\n\n" + "\n".join(extra)
    if disp:
        print(text)
        return None
    return text
