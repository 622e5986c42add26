"""Projections onto the coupled feasible set of a bilevel problem.

LV-HBA keeps its iterates in ``C = {(x, y) : x in X, y in Y, g(x, y) <= 0, h(x, y) = 0}``
and solves its proximal lower-level problem over the *slice*
``C(x) = {theta in Y : g(x, theta) <= 0, h(x, theta) = 0}``. Both are
Euclidean projections onto a set of the same kind, so one projector class
serves both: its rows act on the projected variable and the right-hand side
is passed at call time (for the slice it depends on ``x``).

What is exact and how:

- boxes only, or inequalities that each bound one coordinate (``y <= x``,
  ``|w| <= r``), with or without a box: a clip;
- affine equalities ``A z = b`` without a box: the closed form
  ``z = w - A^T (A A^T)^+ (A w - b)`` with ``(A A^T)^+`` factored once;
- affine inequalities, or affine rows together with a box: the dual of the
  projection, ``min_u 1/2 u^T K K^T u - u^T (K w - c)`` with the inequality
  (and box) multipliers ``u >= 0``, solved exactly by a Lawson-Hanson active-set
  method (the bounds enter as rows of the identity, so the dual has one row per
  affine constraint and per finite bound: meant for small and medium problems);
- nonlinear (convex) ``g`` / ``h``: an inner SLSQP solve of
  ``min 1/2 ||z - w||^2 s.t. g(z) <= 0, h(z) = 0, z in box``.

The multipliers of an exact projection are returned: a projected-gradient
fixed point ``theta = P(theta - t grad)`` gives the lower-level KKT multipliers
as ``u / t``, which is how the solver reads off ``lam``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import scipy.optimize

from ..backend import to_numpy

__all__ = ["InfeasibleSetError", "AffineProjector", "Face", "NonlinearProjector",
           "active_set_qp", "feasible_point"]


class InfeasibleSetError(ValueError):
    """The set to project onto is empty (or numerically so)."""


def active_set_qp(M, r, n_free, *, passive0=None, tol=1e-13, maxiter=None):
    """Solve ``min 1/2 u^T M u - r^T u  s.t.  u[n_free:] >= 0`` exactly.

    Lawson-Hanson active-set iteration generalized to a PSD matrix ``M`` and
    to leading free variables. Each step solves a least-squares system on the
    passive set, so the answer is exact up to rounding.

    Parameters
    ----------
    M : ndarray, shape (p, p)
        Symmetric positive semidefinite.
    r : ndarray, shape (p,)
    n_free : int
        The first ``n_free`` variables are free (equality multipliers).
    passive0 : ndarray of bool, optional
        Warm start: a guess of the variables that are positive at the solution.
    tol : float
        Relative tolerance of the optimality test.
    maxiter : int, optional
        Outer iterations (default ``3 p + 10``).

    Returns
    -------
    u : ndarray
    passive : ndarray of bool
        The final passive set (usable as the next warm start).
    converged : bool

    Examples
    --------
    >>> import numpy as np
    >>> u, _, ok = active_set_qp(np.eye(2), np.array([1.0, -1.0]), 0)
    >>> u, ok
    (array([1., 0.]), True)
    """
    p = r.size
    nonneg = np.arange(p) >= n_free
    passive = ~nonneg
    if passive0 is not None:
        passive = passive | passive0
    u = np.zeros(p)
    if p == 0:
        return u, passive, True
    scale = max(1.0, float(np.abs(r).max()), float(np.abs(M).max()))
    tiny = 1e-14 * scale
    maxiter = 3 * p + 10 if maxiter is None else maxiter

    def solve_passive(P):
        s = np.zeros(p)
        idx = np.flatnonzero(P)
        if idx.size:
            s[idx] = np.linalg.lstsq(M[np.ix_(idx, idx)], r[idx], rcond=None)[0]
        return s

    for _ in range(maxiter):
        for _ in range(p + 1):  # inner loop: keep the passive set nonnegative
            s = solve_passive(passive)
            neg = passive & nonneg & (s <= 0)
            if not neg.any():
                u = s
                break
            den = u[neg] - s[neg]  # >= 0 since s <= 0 <= u there
            step = float(np.min(np.where(den > 0, u[neg] / np.where(den > 0, den, 1.0), 0.0)))
            u = u + step * (s - u)
            passive &= ~(nonneg & (u <= tiny))
            u[~passive] = 0.0
        descent = r - M @ u  # minus the gradient; positive entries want to grow
        cand = nonneg & ~passive & (descent > tol * scale)
        if not cand.any():
            return u, passive, True
        passive[np.argmax(np.where(cand, descent, -np.inf))] = True
    return u, passive, False


class AffineProjector:
    """Exact Euclidean projection onto ``{z : lb <= z <= ub, A z = b, G z <= d}``.

    Parameters
    ----------
    lb, ub : ndarray, shape (N,)
        Bounds (``-inf`` / ``inf`` where absent).
    A_eq : ndarray, shape (p_e, N) or None
    A_in : ndarray, shape (p_i, N) or None
    xp : module
        Array module of the iterates (the closed forms run on it; the
        active-set path runs on the host).

    Notes
    -----
    Call :meth:`project` with the right-hand sides ``b`` and ``d`` (they may
    change between calls, the matrices may not).
    """

    def __init__(self, lb, ub, A_eq=None, A_in=None, xp=np):
        self.xp = xp
        self.N = int(lb.size)
        self.lb, self.ub = lb, ub
        self.A_eq = np.zeros((0, self.N)) if A_eq is None else np.asarray(to_numpy(A_eq))
        self.A_in = np.zeros((0, self.N)) if A_in is None else np.asarray(to_numpy(A_in))
        self.p_eq, self.p_in = self.A_eq.shape[0], self.A_in.shape[0]
        lbh, ubh = np.asarray(to_numpy(lb)), np.asarray(to_numpy(ub))
        self.has_box = bool(np.isfinite(lbh).any() or np.isfinite(ubh).any())
        self._lo_idx = np.flatnonzero(np.isfinite(lbh))
        self._hi_idx = np.flatnonzero(np.isfinite(ubh))
        self._lbh, self._ubh = lbh, ubh
        self._passive = None
        if self.p_eq == 0 and self.p_in == 0:
            self.kind = "box"
        elif self.p_eq == 0 and self._rows_are_bounds():
            # every inequality bounds one coordinate (y <= x, |w| <= r, ...): a clip
            self.kind = "row-box"
        elif self.p_in == 0 and not self.has_box:
            self.kind = "affine-equality"
            # (A A^T)^+ once; rank-deficient rows (repeated constraints) are fine.
            AAt = self.A_eq @ self.A_eq.T
            self._AAt_pinv = xp.asarray(scipy.linalg.pinvh(AAt))
            self._A_dev = xp.asarray(self.A_eq)
        else:
            self.kind = "active-set"
            rows = [self.A_eq, self.A_in]
            if self.has_box:
                eye = np.eye(self.N)
                rows += [-eye[self._lo_idx], eye[self._hi_idx]]
            self._K = np.vstack(rows)
            self._M = self._K @ self._K.T

    def _rows_are_bounds(self) -> bool:
        nz = self.A_in != 0
        if not np.all(nz.sum(axis=1) == 1):
            return False
        cols = np.argmax(nz, axis=1)
        coef = self.A_in[np.arange(self.p_in), cols]
        up, dn = coef > 0, coef < 0
        if np.unique(cols[up]).size != up.sum() or np.unique(cols[dn]).size != dn.sum():
            return False  # two rows bound the same side of one coordinate
        xp = self.xp
        self._up, self._dn = xp.asarray(np.flatnonzero(up)), xp.asarray(np.flatnonzero(dn))
        self._j_up, self._j_dn = xp.asarray(cols[up]), xp.asarray(cols[dn])
        self._coef = xp.asarray(coef)
        return True

    def _row_bounds(self, d_in):
        """Coordinate bounds of the 'row-box' set for right-hand side ``d_in``."""
        xp = self.xp
        bound = xp.asarray(d_in, dtype=self.lb.dtype) / self._coef
        lo, hi = self.lb.copy(), self.ub.copy()
        hi[self._j_up] = xp.minimum(hi[self._j_up], bound[self._up])
        lo[self._j_dn] = xp.maximum(lo[self._j_dn], bound[self._dn])
        return lo, hi, bound

    def project(self, w, b_eq=None, d_in=None):
        """Project ``w``; return ``(z, nu, mu)`` with the equality / inequality multipliers.

        ``z = w - A^T nu - G^T mu - (box terms)``, ``mu >= 0``.

        Raises
        ------
        InfeasibleSetError
            If the projection cannot satisfy the constraints (the set is empty).
        """
        xp = self.xp
        if self.kind == "box":
            return xp.clip(w, self.lb, self.ub), xp.zeros(0), xp.zeros(0)
        if self.kind == "row-box":
            lo, hi, bound = self._row_bounds(d_in)
            if bool(xp.any(lo > hi + 1e-12 * (1.0 + xp.abs(lo) + xp.abs(hi)))):
                raise InfeasibleSetError("the inequality constraints and bounds have no "
                                         "common point")
            z = xp.clip(w, lo, hi)
            mu = xp.zeros(self.p_in, dtype=w.dtype)
            # a row carries the multiplier where it (not the box) is the binding bound
            for rows, j, binding in ((self._up, self._j_up, bound[self._up] <= self.ub[self._j_up]),
                                     (self._dn, self._j_dn,
                                      bound[self._dn] >= self.lb[self._j_dn])):
                m = xp.maximum((w[j] - z[j]) / self._coef[rows], 0.0)
                mu[rows] = xp.where(binding, m, 0.0)
            return z, xp.zeros(0), mu
        if self.kind == "affine-equality":
            b = xp.asarray(b_eq, dtype=w.dtype)
            resid = self._A_dev @ w - b
            nu = self._AAt_pinv @ resid
            z = w - self._A_dev.T @ nu
            # A consistent system leaves no residual; anything left means A z = b has no solution.
            left = float(xp.max(xp.abs(self._A_dev @ z - b)))
            if left > 1e-8 * (1.0 + float(xp.max(xp.abs(b))) + float(xp.max(xp.abs(w)))):
                raise InfeasibleSetError("the affine equality constraints are inconsistent")
            return z, nu, xp.zeros(0)
        wh = np.asarray(to_numpy(w), dtype=np.float64)
        parts = [np.asarray(to_numpy(b_eq), dtype=np.float64).reshape(-1),
                 np.asarray(to_numpy(d_in), dtype=np.float64).reshape(-1)]
        if self.has_box:
            parts += [-self._lbh[self._lo_idx], self._ubh[self._hi_idx]]
        c = np.concatenate(parts)
        u, passive, ok = active_set_qp(self._M, self._K @ wh - c, self.p_eq,
                                       passive0=self._passive)
        z = wh - self._K.T @ u
        if self.has_box:
            z = np.clip(z, self._lbh, self._ubh)
        viol = self._K @ z - c
        viol[self.p_eq:] = np.maximum(viol[self.p_eq:], 0.0)
        scale = 1.0 + np.abs(c).max(initial=0.0) + np.abs(wh).max(initial=0.0)
        if not ok or np.abs(viol).max(initial=0.0) > 1e-7 * scale:
            raise InfeasibleSetError("the affine constraints and bounds have no common point")
        self._passive = passive
        nu = u[:self.p_eq]
        mu = u[self.p_eq:self.p_eq + self.p_in]
        return xp.asarray(z), xp.asarray(nu), xp.asarray(mu)


    def _rows_and_rhs(self, b_eq, d_in):
        parts = [np.asarray(to_numpy(b_eq), dtype=np.float64).reshape(-1),
                 np.asarray(to_numpy(d_in), dtype=np.float64).reshape(-1)]
        if self.has_box:
            parts += [-self._lbh[self._lo_idx], self._ubh[self._hi_idx]]
        return self._K, np.concatenate(parts)

    def face(self, z, b_eq=None, d_in=None, tol=1e-10) -> Face:
        """The face of the set on which ``z`` (a point of the set) lies."""
        xp = self.xp
        if self.kind == "affine-equality":
            return Face("eq", N=self._A_dev, xp=xp)
        if self.kind in ("box", "row-box"):
            lo, hi = (self.lb, self.ub) if self.kind == "box" else self._row_bounds(d_in)[:2]
            scale = 1.0 + float(xp.max(xp.abs(z)))
            at = (z <= lo + tol * scale) | (z >= hi - tol * scale)
            return Face(bytes(np.asarray(to_numpy(at))), free=(~at).astype(z.dtype), xp=xp)
        K, c = self._rows_and_rhs(b_eq, d_in)
        zh = np.asarray(to_numpy(z), dtype=np.float64)
        resid = K @ zh - c
        scale = 1.0 + np.abs(c).max(initial=0.0) + np.abs(zh).max(initial=0.0)
        active = resid >= -tol * scale
        active[:self.p_eq] = True
        return Face(bytes(active), N=K[active], xp=xp)

    def max_step(self, z, d, b_eq=None, d_in=None) -> float:
        """Largest ``t`` with ``z + t d`` in the set (``d`` along the face of ``z``)."""
        xp = self.xp
        if self.kind == "affine-equality":
            return math.inf
        if self.kind in ("box", "row-box"):
            lo, hi = (self.lb, self.ub) if self.kind == "box" else self._row_bounds(d_in)[:2]
            with np.errstate(divide="ignore", invalid="ignore"):
                up = xp.where(d > 0, (hi - z) / d, math.inf)
                lo = xp.where(d < 0, (lo - z) / d, math.inf)
            return max(float(xp.min(xp.minimum(up, lo))), 0.0)
        K, c = self._rows_and_rhs(b_eq, d_in)
        zh = np.asarray(to_numpy(z), dtype=np.float64)
        dh = np.asarray(to_numpy(d), dtype=np.float64)
        Kd = K[self.p_eq:] @ dh
        slack = c[self.p_eq:] - K[self.p_eq:] @ zh
        moving = Kd > 1e-14 * (1.0 + np.abs(Kd).max(initial=0.0))
        if not moving.any():
            return math.inf
        return max(float(np.min(slack[moving] / Kd[moving])), 0.0)


class Face:
    """Directions along the constraints active at a point: ``v -> v - N^T (N N^T)^+ N v``.

    ``key`` identifies the active set (two faces with the same key are the same face).
    """

    def __init__(self, key, N=None, free=None, xp=np):
        self.key = key
        self.xp = xp
        self.free = free  # box-only faces: a mask of the coordinates not at a bound
        if N is not None and N.shape[0]:
            self.N = xp.asarray(N)
            self.NNt_pinv = xp.asarray(scipy.linalg.pinvh(np.asarray(to_numpy(N @ N.T))))
        else:
            self.N = None

    def project(self, v):
        """Project a direction onto the face."""
        if self.free is not None:
            return v * self.free
        if self.N is None:
            return v
        return v - self.N.T @ (self.NNt_pinv @ (self.N @ v))


class NonlinearProjector:
    """Projection onto ``{z in box : g(z) <= 0, h(z) = 0}`` by an inner SLSQP solve (host only).

    Parameters
    ----------
    lb, ub : ndarray
    g, jac_g, h, jac_h : callable or None
        Functions of the stacked variable ``z`` (``jac_*`` return the full
        Jacobian of shape (p, N)).
    """

    def __init__(self, lb, ub, g=None, jac_g=None, h=None, jac_h=None, tol=1e-12):
        self.bounds = scipy.optimize.Bounds(lb, ub)
        self.has_box = bool(np.isfinite(lb).any() or np.isfinite(ub).any())
        self.cons = []
        if g is not None:
            self.cons.append({"type": "ineq", "fun": lambda z: -g(z), "jac": lambda z: -jac_g(z)})
        if h is not None:
            self.cons.append({"type": "eq", "fun": h, "jac": jac_h})
        self.g, self.h = g, h
        self.tol = tol
        self.kind = "slsqp"

    def violation(self, z) -> float:
        """Largest constraint violation at ``z``."""
        v = 0.0
        if self.g is not None:
            v = max(v, float(np.max(self.g(z), initial=0.0)))
        if self.h is not None:
            v = max(v, float(np.max(np.abs(self.h(z)), initial=0.0)))
        return v

    def _restore(self, z):
        """Gauss-Newton steps onto the violated constraints: SLSQP stops at a feasibility of
        about its ``ftol``, and the value-function gap needs a feasible ``y``."""
        for _ in range(10):
            rows, vals = [], []
            if self.g is not None:
                gv = self.g(z)
                bad = gv > 0
                if bad.any():
                    rows.append(self.cons[0]["jac"](z)[bad] * -1.0)
                    vals.append(gv[bad])
            if self.h is not None:
                rows.append(np.atleast_2d(self.cons[-1]["jac"](z)))
                vals.append(self.h(z))
            if not rows or self.violation(z) <= 1e-14 * (1 + np.abs(z).max()):
                break
            J, r = np.vstack(rows), np.concatenate(vals)
            z = np.clip(z - J.T @ np.linalg.lstsq(J @ J.T, r, rcond=None)[0],
                        self.bounds.lb, self.bounds.ub)
        return z

    def project(self, w, start=None):
        """Project ``w``; return ``(z, None, None)`` (multipliers are not needed here).

        ``start`` (e.g. the current feasible iterate) is SLSQP's starting point.
        """
        w = np.asarray(w, dtype=np.float64)
        if self.violation(w) == 0.0 and (not self.has_box or (
                np.all(w >= self.bounds.lb) and np.all(w <= self.bounds.ub))):
            return w.copy(), None, None
        res = scipy.optimize.minimize(
            lambda z: 0.5 * np.dot(z - w, z - w),
            np.clip(w if start is None else start, self.bounds.lb, self.bounds.ub),
            jac=lambda z: z - w, method="SLSQP", bounds=self.bounds if self.has_box else None,
            constraints=self.cons, options={"ftol": self.tol, "maxiter": 500})
        z = self._restore(np.clip(res.x, self.bounds.lb, self.bounds.ub))
        if not np.all(np.isfinite(z)) or self.violation(z) > 1e-9 * (1 + np.abs(z).max()):
            raise InfeasibleSetError("the projection onto {g <= 0, h = 0} failed: "
                                     + str(res.message))
        return z, None, None


def feasible_point(lb, ub, A_eq, b_eq, A_in, b_in):
    """A point of ``{lb <= z <= ub, A_eq z = b_eq, A_in z <= b_in}`` by linear programming.

    Raises
    ------
    InfeasibleSetError
        If HiGHS proves the set empty.
    """
    N = lb.size
    kw = {}
    if A_eq is not None and A_eq.shape[0]:
        kw.update(A_eq=A_eq, b_eq=b_eq)
    if A_in is not None and A_in.shape[0]:
        kw.update(A_ub=A_in, b_ub=b_in)
    bounds = np.column_stack([np.where(np.isfinite(lb), lb, None),
                              np.where(np.isfinite(ub), ub, None)])
    res = scipy.optimize.linprog(np.zeros(N), bounds=bounds, method="highs", **kw)
    if res.status == 2:
        raise InfeasibleSetError("the coupled constraint set C is empty "
                                 "(no x in X, y in Y with g(x, y) <= 0 and h(x, y) = 0)")
    if res.status != 0:
        raise InfeasibleSetError(f"could not find a feasible point: {res.message}")
    return res.x
