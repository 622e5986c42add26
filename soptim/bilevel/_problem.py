"""Validate and wrap the functions of a bilevel problem.

``BilevelProblem`` checks the starting point, the bounds and the shapes of
everything the user's functions return (once, at the starting point, so that
a mismatch is reported with the argument's name before any iteration), counts
evaluations, supplies central finite differences for missing derivatives
(with a warning that says what they cost), and recognises affine lower-level
constraints so that the exact projections of :mod:`._projection` can be used.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import Bounds, OptimizeWarning

from .._validation import as_float_array, check_callable
from ..backend import get_backend, to_numpy

__all__ = ["BilevelProblem", "parse_bounds"]


def parse_bounds(name: str, bounds: Any, size: int, xp) -> tuple[Any, Any]:
    """Turn ``bounds`` (None, ``Bounds`` or a pair ``(lb, ub)``) into two arrays of ``size``."""
    if bounds is None:
        return xp.full(size, -np.inf), xp.full(size, np.inf)
    if isinstance(bounds, Bounds):
        lb, ub = bounds.lb, bounds.ub
    else:
        try:
            lb, ub = bounds
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be scipy.optimize.Bounds or a pair (lb, ub), "
                            f"got {type(bounds).__name__}") from None
    out = []
    for part, default in ((lb, -np.inf), (ub, np.inf)):
        a = np.asarray(to_numpy(part) if part is not None else default, dtype=np.float64)
        if a.ndim == 0:
            a = np.full(size, float(a))
        if a.shape != (size,):
            raise ValueError(f"{name} must have {size} entries (one per variable), "
                             f"got shape {a.shape}")
        if np.isnan(a).any():
            raise ValueError(f"{name} contains NaN")
        out.append(a)
    lb, ub = out
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
        try:
            v = xp.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name}(x, y) must return an array of floats") from None
        return v.reshape(-1)

    def _as_float(self, name, v) -> float:
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
    def _steps(self, w):
        return np.cbrt(np.finfo(np.float64).eps) * np.maximum(1.0, np.abs(w))

    def _fd_grad(self, fun: Callable, x, y):
        xp = self.xp
        w = np.concatenate([to_numpy(x), to_numpy(y)]).astype(np.float64)
        hs = self._steps(w)
        grad = np.empty_like(w)
        for i in range(w.size):
            e = w.copy()
            e[i] += hs[i]
            fp = fun(xp.asarray(e[:self.n]), xp.asarray(e[self.n:]))
            e[i] = w[i] - hs[i]
            fm = fun(xp.asarray(e[:self.n]), xp.asarray(e[self.n:]))
            grad[i] = (fp - fm) / (2 * hs[i])
        grad = xp.asarray(grad)
        return grad[:self.n], grad[self.n:]

    def _fd_jac(self, fun: Callable, x, y, p):
        xp = self.xp
        w = np.concatenate([to_numpy(x), to_numpy(y)]).astype(np.float64)
        hs = self._steps(w)
        J = np.empty((p, w.size))
        for i in range(w.size):
            e = w.copy()
            e[i] += hs[i]
            fp = to_numpy(fun(xp.asarray(e[:self.n]), xp.asarray(e[self.n:])))
            e[i] = w[i] - hs[i]
            fm = to_numpy(fun(xp.asarray(e[:self.n]), xp.asarray(e[self.n:])))
            J[:, i] = (fp - fm) / (2 * hs[i])
        J = xp.asarray(J)
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
