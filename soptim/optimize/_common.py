"""The counted objective shared by soptim's own ``minimize`` methods.

Kept close to scipy.optimize's conventions: counted function wrappers
(``nfev``/``njev``) and finite-difference gradients when ``jac`` is None. What
every solver shares (status codes, callbacks, the iteration table) lives in
:mod:`soptim._common`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._numdiff import approx_gradient
from .._validation import check_callable, reject_complex
from ..backend import get_backend, to_numpy

__all__ = ["ObjectiveFunction"]


class ObjectiveFunction:
    """Counted objective ``f`` with its gradient.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float`` or, with ``jac=True``, ``-> (float, grad)``.
    jac : callable, bool, str or None
        Gradient: a callable ``jac(x, *args)``, ``True`` (returned by ``fun``),
        or ``None`` / ``'2-point'`` / ``'3-point'`` for finite differences
        (central differences by default: the gradient must be accurate enough
        to reach tight gradient tolerances).
    args : tuple
        Extra arguments.
    finite_diff_rel_step : float, optional
        Relative step of the finite differences (default ``eps**(1/3)`` for
        central and ``sqrt(eps)`` for forward differences).

    Notes
    -----
    ``nfev`` counts calls of ``fun`` (finite-difference calls included, as
    scipy does), ``njev`` calls of ``jac``. The last point is cached so that
    ``value(x)`` followed by ``grad(x)`` costs one evaluation with ``jac=True``.
    """

    def __init__(self, fun: Callable, jac: Any = None, args: Sequence = (),
                 finite_diff_rel_step: float | None = None):
        check_callable("fun", fun)
        if not (jac is None or jac is True or jac is False or callable(jac)
                or jac in ("2-point", "3-point", "cs")):
            raise TypeError("jac must be callable, True, None or one of "
                            f"'2-point', '3-point', 'cs'; got {jac!r}")
        self._fun = fun
        self._args = tuple(args)
        self._jac_mode = ("fun" if jac is True else "callable" if callable(jac)
                          else "2-point" if jac == "2-point" else "3-point")
        self._jac = jac if callable(jac) else None
        self._rel_step = finite_diff_rel_step
        self.nfev = 0
        self.njev = 0
        self._x = None
        self._f = None
        self._g = None
        self._xp = None  # array module of the iterates, fixed at the first gradient
        self.finite_difference = self._jac_mode in ("2-point", "3-point")

    # -- evaluation --------------------------------------------------------
    def _call_fun(self, x):
        self.nfev += 1
        out = self._fun(x, *self._args)
        if self._jac_mode == "fun":
            try:
                f, g = out
            except (TypeError, ValueError):
                raise TypeError("with jac=True, fun must return a pair (f, grad)") from None
            self.njev += 1
            return _as_scalar(f), self._check_grad(g, x)
        return _as_scalar(out), None

    def _check_grad(self, g, x):
        if self._xp is None:
            self._xp = get_backend(x).xp
        reject_complex("jac", g)  # a cast to x's real dtype would drop the imaginary part
        g = self._xp.asarray(g, dtype=x.dtype).reshape(-1)
        if g.shape != x.shape:
            raise ValueError(f"jac must return an array of shape {x.shape}, got {g.shape}")
        return g

    def _same_x(self, x) -> bool:
        return self._x is not None and self._x.shape == x.shape and bool(
            to_numpy((self._x == x).all()))

    def _at(self, x) -> None:
        """Move the cache to ``x`` (dropping f and g cached at another point)."""
        if not self._same_x(x):
            self._x, self._f, self._g = x.copy(), None, None

    def value(self, x, *, new_point: bool = False) -> float:
        """f(x).

        ``new_point=True``: ``x`` is a point the caller has just built (a trial point),
        so the comparison with the cached point is skipped.
        """
        if new_point:
            self._x, self._f, self._g = x.copy(), None, None
        else:
            self._at(x)
        if self._f is None:
            f, g = self._call_fun(x)
            self._f = f
            if g is not None:
                self._g = g
        return self._f

    def grad(self, x, *, last_point: bool = False):
        """grad f(x) (analytic or by finite differences).

        ``last_point=True``: ``x`` is the point of the last ``value`` call (no cache check).
        """
        if not last_point:
            self._at(x)
        if self._g is None:
            if self._jac_mode == "fun":
                self._f = None
                self.value(x, new_point=last_point)
            elif self._jac_mode == "callable":
                self.njev += 1
                self._g = self._check_grad(self._jac(x, *self._args), x)
            else:
                self._g = self._fd_grad(x)
        return self._g

    def value_and_grad(self, x):
        """(f(x), grad f(x))."""
        return self.value(x), self.grad(x)

    def _fd_grad(self, x):
        # Coordinate differences with scipy's steps (soptim._numdiff); every call of fun
        # is counted in nfev by _fval, and forward differences reuse the cached f(x).
        f0 = self.value(x) if self._jac_mode == "2-point" else None
        return approx_gradient(self._fval, x, method=self._jac_mode, rel_step=self._rel_step,
                               f0=f0)

    def _fval(self, x) -> float:
        self.nfev += 1
        out = self._fun(x, *self._args)
        return _as_scalar(out[0] if self._jac_mode == "fun" else out)


def _as_scalar(f) -> float:
    reject_complex("fun", f)  # float() of a complex NumPy scalar drops the imaginary part
    try:
        a = np.asarray(to_numpy(f), dtype=float)
    except (TypeError, ValueError):
        a = None
    # scipy accepts a 0-d or any size-1 array (e.g. shape (1,)) as the value
    if a is None or a.size != 1:
        shape = "" if a is None else f" of shape {a.shape}"
        raise TypeError("fun must return a scalar (or an array of size 1), got an object of "
                        f"type {type(f).__name__}{shape}") from None
    return float(a.reshape(()))


