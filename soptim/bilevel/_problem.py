"""Validate and wrap the functions of a bilevel problem.

``BilevelProblem`` checks the starting point, the bounds and the shapes of
everything the user's functions return (once, at the starting point, so that
a mismatch is reported with the argument's name before any iteration), counts
evaluations, supplies central finite differences for missing derivatives
(with a warning that says what they cost), and recognises affine lower-level
constraints so that the exact projections of :mod:`._projection` can be used.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import Bounds, OptimizeWarning

from .._numdiff import approx_jacobian
from .._validation import as_float_array, check_callable, reject_complex
from ..backend import get_backend, to_numpy

__all__ = ["BilevelProblem", "parse_bounds"]


_ACCEPTED = ("scipy.optimize.Bounds, a sequence of one (lo, hi) pair per variable (None for "
             "unbounded), or a pair (lb, ub) of scalars or arrays with one entry per variable")


def _reject_complex(name: str, v: Any) -> None:
    """``reject_complex`` for arrays and for (nested) lists or tuples of numbers."""
    if isinstance(v, (list, tuple)):
        try:
            v = np.asarray(v)
        except (TypeError, ValueError):  # ragged: the shape checks report it
            return
    reject_complex(name, v)


def _is_scalar_bound(v: Any) -> bool:
    return v is None or (not isinstance(v, (str, bytes)) and np.ndim(v) == 0)


def _is_pair(e: Any) -> bool:
    """True for a ``(lo, hi)`` pair of scalars (``None`` allowed), e.g. a row of an (n, 2) array."""
    if isinstance(e, (str, bytes, dict)):
        return False
    if not isinstance(e, (list, tuple)) and np.ndim(e) != 1:
        return False
    return len(e) == 2 and all(_is_scalar_bound(v) for v in e)


def _bound_array(name: str, which: str, part: Any, default: float, size: int) -> np.ndarray:
    """One side of the box as a float64 host array of ``size`` (``None`` entries -> ``default``)."""
    if part is None:
        return np.full(size, default)
    if isinstance(part, (list, tuple)):
        part = [default if v is None else v for v in part]
    raw = np.asarray(part if isinstance(part, list) else to_numpy(part))
    _reject_complex(name, raw)
    numeric = raw.dtype.kind in "biuf" or (
        raw.dtype.kind == "O" and all(isinstance(v, (numbers.Real, np.generic))
                                      and not isinstance(v, np.str_) for v in raw.flat))
    if not numeric:
        raise TypeError(f"{name}: the {which} must be numbers (or None), got {part!r}; "
                        f"accepted: {_ACCEPTED}")
    a = raw.astype(np.float64)
    if a.ndim == 0:
        a = np.full(size, float(a))
    if a.shape != (size,):
        raise ValueError(f"{name} must have {size} entries (one per variable), but its {which} "
                         f"have shape {a.shape}; accepted: {_ACCEPTED}")
    if np.isnan(a).any():
        raise ValueError(f"{name} contains NaN (use None or +-inf for no bound)")
    return a


def parse_bounds(name: str, bounds: Any, size: int, xp) -> tuple[Any, Any]:
    """The box ``bounds`` as two arrays ``(lb, ub)`` of ``size`` on the array module ``xp``.

    Accepted, as in scipy: None (no bounds); ``scipy.optimize.Bounds``; a
    sequence of ``size`` pairs ``(lo, hi)`` with ``None`` for an unbounded side
    (the form of ``scipy.optimize.minimize``); a pair ``(lb, ub)`` of scalars
    (broadcast) or arrays of length ``size`` (the form of ``least_squares``).
    A sequence that fits both readings (two pairs for two variables) is read
    as one pair per variable, as ``scipy.optimize.minimize`` reads it.

    Raises
    ------
    TypeError
        For any other form, naming ``name`` and listing the accepted ones.
    ValueError
        Wrong lengths, NaN, or a lower bound above its upper bound.

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.bilevel._problem import parse_bounds
    >>> lb, ub = parse_bounds("bounds_x", [(0.0, None), (None, 3.0)], 2, np)
    >>> lb.tolist(), ub.tolist()
    ([0.0, -inf], [inf, 3.0])
    >>> lb, ub = parse_bounds("bounds_x", (0.0, [1.0, 2.0, 3.0]), 3, np)
    >>> lb.tolist(), ub.tolist()
    ([0.0, 0.0, 0.0], [1.0, 2.0, 3.0])
    """
    if bounds is None:
        return xp.full(size, -np.inf), xp.full(size, np.inf)
    if isinstance(bounds, Bounds):
        lb, ub = bounds.lb, bounds.ub
    else:
        if not isinstance(bounds, (list, tuple)):
            if isinstance(bounds, (str, bytes, dict)) or np.ndim(bounds) == 0:
                raise TypeError(f"{name} must be {_ACCEPTED}; got {type(bounds).__name__}")
            bounds = list(to_numpy(bounds))  # an array: its rows
        entries = list(bounds)
        if len(entries) == size and all(_is_pair(e) for e in entries):
            lb = [e[0] for e in entries]
            ub = [e[1] for e in entries]
        elif len(entries) == 2:
            lb, ub = entries
        else:
            raise ValueError(f"{name} has {len(entries)} entries: neither {size} (lo, hi) pairs "
                             f"(one per variable) nor a pair (lb, ub); accepted: {_ACCEPTED}")
    lb = _bound_array(name, "lower bounds", lb, -np.inf, size)
    ub = _bound_array(name, "upper bounds", ub, np.inf, size)
    bad = np.flatnonzero(lb > ub)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name} is infeasible: lower bound {lb[i]} > upper bound {ub[i]} "
                         f"at index {i}")
    return xp.asarray(lb), xp.asarray(ub)


class BilevelProblem:
    """The functions of a bilevel problem, validated and counted.

    Parameters
    ----------
    F, f : callable
        Upper and lower objectives ``(x, y) -> float``.
    jac_F, jac_f : callable or None
        ``(x, y) -> (grad_x, grad_y)``; None for central finite differences.
    g, jac_g, h, jac_h : callable or None
        Lower-level constraints ``g(x, y) <= 0`` and ``h(x, y) = 0`` and their
        Jacobians ``(J_x, J_y)`` of shapes ``(p, n)`` and ``(p, m)``.
    x0, y0 : array_like
        Starting point (defines ``n`` and ``m``).
    """

    def __init__(self, F, f, jac_F, jac_f, g, jac_g, h, jac_h, x0, y0):
        check_callable("F", F)
        check_callable("f", f)
        for nm, fn in (("jac_F", jac_F), ("jac_f", jac_f), ("g", g), ("jac_g", jac_g),
                       ("h", h), ("jac_h", jac_h)):
            check_callable(nm, fn, optional=True)
        if jac_g is not None and g is None:
            raise ValueError("jac_g was given without g")
        if jac_h is not None and h is None:
            raise ValueError("jac_h was given without h")
        self.be = get_backend(x0, y0)
        xp = self.xp = self.be.xp
        self.x0 = as_float_array("x0", x0, ndim=1, dtype=np.float64, xp=xp)
        self.y0 = as_float_array("y0", y0, ndim=1, dtype=np.float64, xp=xp)
        if self.x0.size == 0 or self.y0.size == 0:
            raise ValueError("x0 and y0 must not be empty")
        self.n, self.m = int(self.x0.size), int(self.y0.size)
        self._F, self._f, self._g, self._h = F, f, g, h
        self._jF, self._jf, self._jg, self._jh = jac_F, jac_f, jac_g, jac_h
        self.nfev = self.njev = self.ncev = 0
        N = self.n + self.m
        for nm, fn, jac, what in (("jac_F", F, jac_F, "F"), ("jac_f", f, jac_f, "f"),
                                  ("jac_g", g, jac_g, "g"), ("jac_h", h, jac_h, "h")):
            if fn is not None and jac is None:
                warnings.warn(
                    f"{nm} not given: using central finite differences, which cost "
                    f"2 (n + m) = {2 * N} evaluations of {what} per derivative; pass {nm} "
                    "for speed and accuracy", OptimizeWarning, stacklevel=4)
        self.p_g = self._check_constraint("g", g, jac_g)
        self.p_h = self._check_constraint("h", h, jac_h)
        self._check_objective("F", "jac_F", self.F, self.jac_F)
        self._check_objective("f", "jac_f", self.f, self.jac_f)

    # -- checks at the starting point ---------------------------------------
    def _check_objective(self, name, jname, fun, jac):
        try:
            val = fun(self.x0, self.y0)
        except TypeError as exc:
            raise TypeError(f"{name}(x0, y0) failed: {exc}") from None
        if not np.isfinite(val):
            raise ValueError(f"{name}(x0, y0) is not finite ({val}); start from a point "
                             "where both objectives are defined")
        gx, gy = jac(self.x0, self.y0)
        if not (bool(self.xp.isfinite(gx).all()) and bool(self.xp.isfinite(gy).all())):
            raise ValueError(f"{jname}(x0, y0) contains NaN or inf")

    def _check_constraint(self, name, fun, jac):
        if fun is None:
            return 0
        val = self._as_vec(name, fun(self.x0, self.y0))
        if not bool(self.xp.isfinite(val).all()):
            raise ValueError(f"{name}(x0, y0) contains NaN or inf")
        p = int(val.size)
        if jac is not None:
            self._split_jac("jac_" + name, jac(self.x0, self.y0), p)
        return p

    def _as_vec(self, name, v):
        xp = self.xp
        _reject_complex(f"{name}(x, y)", v)
        try:
            v = xp.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name}(x, y) must return an array of floats") from None
        return v.reshape(-1)

    def _as_float(self, name, v) -> float:
        _reject_complex(f"{name}(x, y)", v)
        try:
            a = np.asarray(to_numpy(v), dtype=np.float64)
        except (TypeError, ValueError):
            a = None
        if a is None or a.size != 1:
            raise TypeError(f"{name}(x, y) must return a scalar, got {type(v).__name__}"
                            + ("" if a is None else f" of shape {a.shape}"))
        return float(a.reshape(()))

    def _split_grad(self, name, out):
        try:
            gx, gy = out
        except (TypeError, ValueError):
            raise TypeError(f"{name}(x, y) must return the pair (grad_x, grad_y)") from None
        _reject_complex(f"{name}(x, y) grad_x", gx)
        _reject_complex(f"{name}(x, y) grad_y", gy)
        xp = self.xp
        gx = xp.asarray(gx, dtype=np.float64).reshape(-1) if np.ndim(gx) else gx
        gy = xp.asarray(gy, dtype=np.float64).reshape(-1) if np.ndim(gy) else gy
        if np.ndim(gx) != 1 or gx.shape != (self.n,):
            raise ValueError(f"{name}(x, y) returned grad_x of shape {np.shape(gx)}; expected "
                             f"({self.n},) to match x0")
        if np.ndim(gy) != 1 or gy.shape != (self.m,):
            raise ValueError(f"{name}(x, y) returned grad_y of shape {np.shape(gy)}; expected "
                             f"({self.m},) to match y0")
        return gx, gy

    def _split_jac(self, name, out, p):
        try:
            Jx, Jy = out
        except (TypeError, ValueError):
            raise TypeError(f"{name}(x, y) must return the pair (J_x, J_y)") from None
        _reject_complex(f"{name}(x, y) J_x", Jx)
        _reject_complex(f"{name}(x, y) J_y", Jy)
        xp = self.xp
        Jx = xp.asarray(Jx, dtype=np.float64)
        Jy = xp.asarray(Jy, dtype=np.float64)
        if Jx.ndim == 1 and p == 1:
            Jx = Jx.reshape(1, -1)
        if Jy.ndim == 1 and p == 1:
            Jy = Jy.reshape(1, -1)
        if Jx.shape != (p, self.n):
            raise ValueError(f"{name}(x, y) returned J_x of shape {tuple(Jx.shape)}; expected "
                             f"({p}, {self.n}) (constraints x len(x0))")
        if Jy.shape != (p, self.m):
            raise ValueError(f"{name}(x, y) returned J_y of shape {tuple(Jy.shape)}; expected "
                             f"({p}, {self.m}) (constraints x len(y0))")
        return Jx, Jy

    # -- counted evaluations -------------------------------------------------
    def F(self, x, y) -> float:
        self.nfev += 1
        return self._as_float("F", self._F(x, y))

    def f(self, x, y) -> float:
        self.nfev += 1
        return self._as_float("f", self._f(x, y))

    def jac_F(self, x, y):
        if self._jF is None:
            return self._fd_grad(self.F, x, y)
        self.njev += 1
        return self._split_grad("jac_F", self._jF(x, y))

    def jac_f(self, x, y):
        if self._jf is None:
            return self._fd_grad(self.f, x, y)
        self.njev += 1
        return self._split_grad("jac_f", self._jf(x, y))

    def g(self, x, y):
        self.ncev += 1
        return self._as_vec("g", self._g(x, y))

    def h(self, x, y):
        self.ncev += 1
        return self._as_vec("h", self._h(x, y))

    def jac_g(self, x, y):
        if self._jg is None:
            return self._fd_jac(self.g, x, y, self.p_g)
        return self._split_jac("jac_g", self._jg(x, y), self.p_g)

    def jac_h(self, x, y):
        if self._jh is None:
            return self._fd_jac(self.h, x, y, self.p_h)
        return self._split_jac("jac_h", self._jh(x, y), self.p_h)

    @property
    def has_g(self) -> bool:
        return self._g is not None

    @property
    def has_h(self) -> bool:
        return self._h is not None

    # -- finite differences --------------------------------------------------
    def _fd_jacobian(self, fun: Callable, x, y):
        """Central differences of ``fun(x, y)`` on the stacked vector ``w = (x, y)``.

        Returns the Jacobian ``(p, n + m)`` (``p = 1`` for a scalar ``fun``), at
        the cost of ``2 (n + m)`` evaluations (counted by ``fun`` itself).
        """
        xp, n = self.xp, self.n
        w = xp.concatenate([xp.asarray(x, dtype=np.float64), xp.asarray(y, dtype=np.float64)])

        def stacked(v):
            # Copies: the differencing perturbs one buffer in place, and a user function that
            # returns (a view of) its argument must not see the next perturbation.
            return xp.array(fun(v[:n].copy(), v[n:].copy()), dtype=np.float64)

        return approx_jacobian(stacked, w, method="3-point")

    def _fd_grad(self, fun: Callable, x, y):
        g = self._fd_jacobian(fun, x, y)[0]
        return g[:self.n], g[self.n:]

    def _fd_jac(self, fun: Callable, x, y, p):
        J = self._fd_jacobian(fun, x, y).reshape(p, self.n + self.m)
        return J[:, :self.n], J[:, self.n:]

    # -- structure -----------------------------------------------------------
    def affine_rows(self, which: str, rng: np.random.Generator):
        """``(A, c)`` with ``which(x, y) = A @ [x; y] + c`` if that constraint is affine, else None.

        Affinity is recognised numerically: the Jacobian must be the same at
        the starting point and at two random points, and the linear model must
        reproduce the function there (to rounding).
        """
        fun, jac = (self.g, self.jac_g) if which == "g" else (self.h, self.jac_h)
        exact = (self._jg if which == "g" else self._jh) is not None
        rtol = 1e-10 if exact else 1e-6
        n = self.n
        w0 = np.concatenate([to_numpy(self.x0), to_numpy(self.y0)])
        scale = np.maximum(1.0, np.abs(w0))
        pts = [w0] + [w0 + scale * rng.standard_normal(w0.size) for _ in range(2)]
        xp = self.xp
        vals, jacs = [], []
        with np.errstate(all="ignore"):
            for w in pts:
                x, y = xp.asarray(w[:n]), xp.asarray(w[n:])
                vals.append(np.asarray(to_numpy(fun(x, y)), dtype=np.float64))
                Jx, Jy = jac(x, y)
                jacs.append(np.hstack([to_numpy(Jx), to_numpy(Jy)]))
        A = jacs[0]
        if not all(np.all(np.isfinite(v)) for v in vals) or not np.all(np.isfinite(A)):
            return None
        jscale = 1.0 + np.abs(A).max(initial=0.0)
        for J in jacs[1:]:
            if np.abs(J - A).max(initial=0.0) > rtol * jscale:
                return None
        c = vals[0] - A @ w0
        for w, v in zip(pts[1:], vals[1:]):
            pred = A @ w + c
            if np.abs(pred - v).max(initial=0.0) > rtol * (1.0 + np.abs(v).max(initial=0.0)
                                                           + jscale * np.abs(w).max()):
                return None
        return A, c
