"""Equality constraints ``c(x) = 0`` from every form scipy accepts, as one object.

scipy's ``minimize`` takes constraints as ``{'type': 'eq', 'fun', 'jac', 'args'}``
dicts, ``NonlinearConstraint(fun, lb, ub, jac, hess)`` and
``LinearConstraint(A, lb, ub)``, alone or in a list. :class:`EqualityConstraints`
turns them into ``c(x)`` (``fun(x) - lb`` for the scipy classes), the Jacobian
``J(x)`` (dense, or sparse when any part is sparse), and the Hessian of
``v^T c``: the user's ``hess(x, v)`` where given, zero for linear parts, and
otherwise central finite differences of Jacobian-transpose products
``J(x)^T v``. Missing Jacobians are central finite differences of ``c``.
Inequalities (``'ineq'`` dicts, ``lb != ub``) are rejected with a ValueError
that names the scipy methods that handle them.

:class:`GeneralConstraints` (issue 15) takes the same forms with inequalities
too and splits their rows into equalities ``c(x) = 0`` and inequalities
``g(x) <= 0`` (``lb - fun <= 0`` and ``fun - ub <= 0`` for the finite sides of
each row; ``-fun <= 0`` for ``'ineq'`` dicts), for the active-set method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sps
from scipy.optimize import LinearConstraint, NonlinearConstraint
from scipy.sparse.linalg import LinearOperator

from .._numdiff import approx_hessp, approx_jacobian
from .._validation import check_callable, reject_complex
from ..backend import get_backend, to_numpy

__all__ = ["EqualityConstraints", "GeneralConstraints", "INEQUALITY_MESSAGE",
           "has_inequalities"]

INEQUALITY_MESSAGE = (
    "method 'sketched-alm' handles equality constraints only (dicts with type 'eq', "
    "NonlinearConstraint or LinearConstraint with lb == ub); {what}. For inequality "
    "constraints or bounds use method='trust-constr' (or 'SLSQP')."
)

_FD_STRINGS = ("2-point", "3-point", "cs")


class _Part:
    """One user constraint, as ``c(x) = fun(x) - offset`` with Jacobian and Hessian rules."""

    def __init__(self, index: int, fun: Callable, jac: Any, hess: Any, args: tuple,
                 offset: Any, linear_A: Any = None, rel_step: float | None = None):
        self.index = index
        self._fun = fun
        self._jac = jac if callable(jac) else None
        self._hess = hess if callable(hess) else None
        self.args = args
        self.offset = offset
        self.A = linear_A
        self.rel_step = rel_step
        self.m = 0

    def __repr__(self) -> str:
        return f"constraint {self.index}"

    @property
    def linear(self) -> bool:
        return self.A is not None


class EqualityConstraints:
    """The equality constraints of a problem, normalized.

    Parameters
    ----------
    constraints : dict, NonlinearConstraint, LinearConstraint or a sequence of them
    x0 : ndarray, shape (n,)
        Where the constraints are first evaluated (sizes and shapes are
        checked there).
    finite_diff_rel_step : float, optional
        Relative step of the finite differences.

    Attributes
    ----------
    m : int
        Number of constraints (rows of ``c``).
    sizes : list of int
        Rows contributed by each user constraint (to split multipliers).
    nfev, njev, nhev : int
        Calls of the constraint functions, Jacobians and Hessians (finite
        differences count their function or Jacobian calls).

    Raises
    ------
    ValueError
        Inequality constraints, bad shapes, NaN or inf at ``x0``, no constraint.
    TypeError
        Unknown constraint objects, non-callable ``fun``.
    """

    _allow_ineq = False

    def __init__(self, constraints: Any, x0: Any, finite_diff_rel_step: float | None = None):
        if isinstance(constraints, (dict, NonlinearConstraint, LinearConstraint)):
            constraints = [constraints]
        if constraints is None:
            constraints = []
        try:
            constraints = list(constraints)
        except TypeError:
            raise TypeError("constraints must be a dict, NonlinearConstraint, LinearConstraint "
                            f"or a sequence of them, got {type(constraints).__name__}") from None
        if not constraints and not self._allow_ineq:
            raise ValueError("method 'sketched-alm' needs at least one equality constraint; "
                             "for unconstrained problems use method='gns' or 'trust-ncg'")
        self.be = get_backend(x0)
        self.xp = self.be.xp
        self.n = int(x0.shape[0])
        self.rel_step = finite_diff_rel_step
        self.nfev = 0
        self.njev = 0
        self.nhev = 0
        self.parts = [self._make_part(k, con) for k, con in enumerate(constraints)]
        x0h = to_numpy(x0)
        for part in self.parts:
            self._check_part(part, x0, x0h)
            # setup copies to the backend of x0, once: c(x) = fun(x) - offset, A x - offset
            if part.offset is not None:
                part.offset = self.be.to_device(part.offset)
            if part.A is not None:
                part.A = self.be.to_device(part.A)
        self.sizes = [p.m for p in self.parts]
        self.m = int(sum(self.sizes))
        self.linear = all(p.linear for p in self.parts)
        self.sparse = any(p.A is not None and self.be.issparse(p.A) for p in self.parts)

    # -- construction -------------------------------------------------------
    def _make_part(self, k: int, con: Any) -> _Part:
        rel = self.rel_step
        if isinstance(con, dict):
            ctype = str(con.get("type", "")).lower()
            if ctype == "ineq" and not self._allow_ineq:
                raise ValueError(INEQUALITY_MESSAGE.format(
                    what=f"constraint {k} is an inequality {{'type': 'ineq'}}"))
            if ctype not in ("eq", "ineq"):
                raise ValueError(f"constraint {k}: 'type' must be 'eq' (or 'ineq'), got "
                                 f"{con.get('type')!r}")
            unknown = set(con) - {"type", "fun", "jac", "args"}
            if unknown:
                raise ValueError(f"constraint {k}: unknown keys {sorted(unknown)}")
            fun = con.get("fun")
            check_callable(f"constraint {k}: 'fun'", fun)
            jac = con.get("jac")
            if jac is not None and not callable(jac) and jac not in _FD_STRINGS:
                raise TypeError(f"constraint {k}: 'jac' must be callable or None, got "
                                f"{type(jac).__name__}")
            args = con.get("args", ())
            args = args if isinstance(args, tuple) else (args,)
            part = _Part(k, fun, jac, None, args, None, rel_step=rel)
            part.sides = (0.0, np.inf if ctype == "ineq" else 0.0)
            return part
        if isinstance(con, LinearConstraint):
            A = con.A
            A = A.tocsr().astype(np.float64) if sps.issparse(A) else np.atleast_2d(
                np.asarray(to_numpy(A), dtype=np.float64))
            if A.ndim != 2 or A.shape[1] != self.n:
                raise ValueError(f"constraint {k}: LinearConstraint A must have shape "
                                 f"(m, {self.n}), got {A.shape}")
            data = A.data if sps.issparse(A) else A
            if not np.isfinite(data).all():
                raise ValueError(f"constraint {k}: LinearConstraint A contains NaN or inf")
            lb = self._rhs(k, con.lb, con.ub, A.shape[0])
            part = _Part(k, None, None, None, (), lb, linear_A=A, rel_step=rel)
            part.sides = (con.lb, con.ub)
            part.m = A.shape[0]
            return part
        if isinstance(con, NonlinearConstraint):
            check_callable(f"constraint {k}: NonlinearConstraint fun", con.fun)
            jac, hess = con.jac, con.hess
            if not (callable(jac) or jac in _FD_STRINGS or jac is None):
                raise TypeError(f"constraint {k}: NonlinearConstraint jac must be callable or "
                                f"one of {_FD_STRINGS}, got {type(jac).__name__}")
            # a quasi-Newton HessianUpdateStrategy or a string: use finite differences
            part = _Part(k, con.fun, jac, hess, (), None,
                         rel_step=con.finite_diff_rel_step if con.finite_diff_rel_step
                         is not None else rel)
            part.nlc = con
            part.sides = (con.lb, con.ub)
            return part
        raise TypeError(f"constraint {k} must be a dict, NonlinearConstraint or "
                        f"LinearConstraint, got {type(con).__name__}")

    def _rhs(self, k: int, lb: Any, ub: Any, m: int) -> np.ndarray:
        """The offset of a part: its lb == ub (equality path) or zero (split later)."""
        if self._allow_ineq:
            return np.zeros(m)
        return self._equality_rhs(k, lb, ub, m)

    @staticmethod
    def _equality_rhs(k: int, lb: Any, ub: Any, m: int) -> np.ndarray:
        lb = np.broadcast_to(np.asarray(to_numpy(lb), dtype=np.float64), (m,))
        ub = np.broadcast_to(np.asarray(to_numpy(ub), dtype=np.float64), (m,))
        if not (np.all(lb == ub) and np.all(np.isfinite(lb))):
            raise ValueError(INEQUALITY_MESSAGE.format(
                what=f"constraint {k} has lb != ub (an inequality or a range)"))
        return lb.copy()

    def _check_part(self, part: _Part, x0: Any, x0h: np.ndarray) -> None:
        if part.linear:
            return
        c = self._raw_fun(part, x0)
        if c.ndim != 1:
            raise ValueError(f"{part}: fun must return a scalar or a 1-D array, got shape "
                             f"{tuple(c.shape)}")
        part.m = int(c.shape[0])
        if hasattr(part, "nlc"):
            part.offset = self._rhs(part.index, part.nlc.lb, part.nlc.ub, part.m)
        if not bool(to_numpy(self.xp.isfinite(c).all())):
            raise ValueError(f"{part}: fun returned NaN or inf at x0")
        J = self._part_jac(part, x0)
        data = J.data if self.be.issparse(J) else J
        if not bool(to_numpy(self.xp.isfinite(data).all())):
            raise ValueError(f"{part}: jac returned NaN or inf at x0")

    # -- evaluation -----------------------------------------------------------
    def _raw_fun(self, part: _Part, x) -> Any:
        self.nfev += 1
        out = part._fun(x, *part.args)
        reject_complex(f"{part}: fun", out)
        c = self.xp.asarray(out, dtype=x.dtype)
        if c.ndim == 0:
            c = c.reshape(1)
        return c

    def _part_fun(self, part: _Part, x) -> Any:
        if part.linear:
            return part.A @ x - part.offset
        c = self._raw_fun(part, x)
        if c.shape != (part.m,):
            raise ValueError(f"{part}: fun returned shape {tuple(c.shape)}, expected ({part.m},)")
        if part.offset is not None:
            c = c - part.offset
        return c

    def _part_jac(self, part: _Part, x) -> Any:
        if part.linear:
            return part.A
        if part._jac is not None:
            self.njev += 1
            J = part._jac(x, *part.args)
            reject_complex(f"{part}: jac", J)
            if isinstance(J, LinearOperator):
                raise TypeError(f"{part}: jac must return a dense or sparse matrix, not a "
                                "LinearOperator")
            if self.be.issparse(J):
                J = self.be.to_device(J.tocsr()).astype(np.float64)
            else:
                J = self.xp.asarray(J, dtype=x.dtype)
                if J.ndim == 1 and part.m == 1:
                    J = J.reshape(1, -1)
                elif J.ndim == 1 and self.n == 1:
                    J = J.reshape(-1, 1)
            if J.shape != (part.m, self.n):
                raise ValueError(f"{part}: jac returned shape {tuple(J.shape)}, expected "
                                 f"({part.m}, {self.n})")
            return J
        return self._fd_jac(part, x)

    def _fd_jac(self, part: _Part, x) -> Any:
        """Central differences of ``c`` (dense), every call of ``fun`` counted in ``nfev``."""
        return approx_jacobian(lambda z: self._raw_fun(part, z), x, method="3-point",
                               rel_step=part.rel_step)

    def fun(self, x) -> Any:
        """c(x), all constraints stacked, shape (m,)."""
        return self.xp.concatenate([self.xp.asarray(self._part_fun(p, x)) for p in self.parts])

    def jac(self, x) -> Any:
        """J(x), shape (m, n): sparse CSR when any part is sparse, dense otherwise."""
        be = self.be
        blocks = [self._part_jac(p, x) for p in self.parts]
        if any(be.issparse(B) for B in blocks):
            sp = be.scipy.sparse  # the sparse module of x's backend: no host round trip
            return sp.vstack([B if be.issparse(B) else sp.csr_matrix(B) for B in blocks],
                             format="csr")
        return self.xp.concatenate([self.xp.asarray(B) for B in blocks], axis=0)

    def split(self, v) -> list:
        """Split a stacked vector (multipliers or values) into one array per user constraint."""
        out, s = [], 0
        for size in self.sizes:
            out.append(v[s:s + size])
            s += size
        return out

    def hess_terms(self, x, v) -> list:
        """The Hessian of ``v^T c`` at x as a list of terms.

        Each term is a matrix (dense or sparse, the user's ``hess(x, v)``) or a
        callable ``p -> H p`` (a LinearOperator's matvec, or central finite
        differences of ``J^T v``). Linear parts contribute nothing.
        """
        terms = []
        for part, vp in zip(self.parts, self.split(v)):
            if part.linear:
                continue
            if part._hess is not None:
                self.nhev += 1
                H = part._hess(x, vp)
                if isinstance(H, LinearOperator):
                    terms.append(H.matvec)
                else:
                    H = (self.be.to_device(H.tocsr()) if self.be.issparse(H)
                         else self.xp.asarray(H, dtype=x.dtype))
                    if H.shape != (self.n, self.n):
                        raise ValueError(f"{part}: hess returned shape {tuple(H.shape)}, "
                                         f"expected ({self.n}, {self.n})")
                    terms.append(H)
            else:
                terms.append(self._fd_hessp(part, x, vp))
        return terms

    def _fd_hessp(self, part: _Part, x, v) -> Callable:
        """``p -> (J(x + h p)^T v - J(x - h p)^T v) / (2 h)``: central differences."""

        def jtv(z):
            return self._part_jac(part, z).T @ v

        def hvp(p):
            return approx_hessp(jtv, x, p, method="3-point", rel_step=part.rel_step)

        return hvp


def has_inequalities(constraints: Any) -> bool:
    """Whether scipy-style ``constraints`` hold an inequality (``'ineq'`` or ``lb != ub``).

    Only the declared sides are inspected (no function is called); a malformed
    entry counts as "no" so that the equality path reports it with its own error.
    """
    if isinstance(constraints, (dict, NonlinearConstraint, LinearConstraint)):
        constraints = [constraints]
    try:
        items = list(constraints) if constraints is not None else []
    except TypeError:
        return False
    for con in items:
        if isinstance(con, dict):
            if str(con.get("type", "")).lower() == "ineq":
                return True
        elif isinstance(con, (NonlinearConstraint, LinearConstraint)):
            try:
                lb = np.asarray(to_numpy(con.lb), dtype=np.float64)
                ub = np.asarray(to_numpy(con.ub), dtype=np.float64)
                if not np.array_equal(*np.broadcast_arrays(lb, ub)):
                    return True
            except (TypeError, ValueError):
                return False
    return False


class GeneralConstraints(EqualityConstraints):
    """Equality and inequality constraints, split into ``c(x) = 0`` and ``g(x) <= 0``.

    The rows of all user constraints are stacked as raw values ``v(x)`` (the
    ``fun`` of each constraint, ``A x`` for linear ones) with sides
    ``lb <= v <= ub``. Rows with ``lb == ub`` are equalities ``c = v - lb``; each
    finite side of the other rows is one inequality, ``lb - v <= 0`` (first all
    lower sides) and ``v - ub <= 0`` (then all upper sides). ``'ineq'`` dicts
    have the sides ``0 <= fun < inf``.

    Attributes
    ----------
    m_eq, m_in : int
        Number of equality rows and of inequality rows.
    sizes : list of int
        Raw rows of each user constraint (the multipliers ``v`` of the result).

    Raises
    ------
    ValueError
        ``lb > ub``, NaN sides, an equality row at an infinite value, plus those
        of :class:`EqualityConstraints`. (A row with both sides infinite is
        allowed: it never binds and gives no inequality.)
    """

    _allow_ineq = True

    def __init__(self, constraints: Any, x0: Any, finite_diff_rel_step: float | None = None):
        super().__init__(constraints, x0, finite_diff_rel_step)
        lbs, ubs = [], []
        for part in self.parts:
            lo, hi = part.sides
            try:
                lo = np.broadcast_to(np.asarray(to_numpy(lo), dtype=np.float64), (part.m,))
                hi = np.broadcast_to(np.asarray(to_numpy(hi), dtype=np.float64), (part.m,))
            except ValueError:
                raise ValueError(f"{part}: lb and ub must be scalars or have shape "
                                 f"({part.m},)") from None
            if np.isnan(lo).any() or np.isnan(hi).any():
                raise ValueError(f"{part}: lb and ub must not contain NaN")
            if (lo > hi).any():
                raise ValueError(f"{part}: lb > ub in some rows (an infeasible constraint)")
            if (np.isinf(lo) & (lo == hi)).any():
                raise ValueError(f"{part}: lb == ub == inf (an equality at infinity)")
            lbs.append(lo)
            ubs.append(hi)
        lb = np.concatenate(lbs) if lbs else np.zeros(0)
        ub = np.concatenate(ubs) if ubs else np.zeros(0)
        eq = lb == ub
        self.eq_idx = np.flatnonzero(eq)
        self.lo_idx = np.flatnonzero(~eq & np.isfinite(lb))
        self.up_idx = np.flatnonzero(~eq & np.isfinite(ub))
        self.m_eq = int(self.eq_idx.size)
        self.m_in = int(self.lo_idx.size + self.up_idx.size)
        to = self.be.to_device
        self._lb_eq, self._lb_lo, self._ub_up = (to(lb[self.eq_idx]), to(lb[self.lo_idx]),
                                                 to(ub[self.up_idx]))
        self._idx = tuple(to(i) for i in (self.eq_idx, self.lo_idx, self.up_idx))

    def evaluate(self, x) -> tuple:
        """``(c, g, Jc, Jg)`` at x: equality values, inequality values and their Jacobians."""
        xp = self.xp
        if not self.parts:
            z = xp.zeros(0)
            return z, z, xp.zeros((0, self.n)), xp.zeros((0, self.n))
        v, J = self.fun(x), self.jac(x)
        ie, il, iu = self._idx
        c = v[ie] - self._lb_eq
        g = xp.concatenate([self._lb_lo - v[il], v[iu] - self._ub_up])
        if self.be.issparse(J):
            sp = self.be.scipy.sparse
            Jc = J[ie]
            Jg = sp.vstack([-J[il], J[iu]], format="csr")
        else:
            Jc = J[ie]
            Jg = xp.concatenate([-J[il], J[iu]], axis=0)
        return c, g, Jc, Jg

    def raw_multipliers(self, lam, mu) -> Any:
        """Multipliers of the raw rows (trust-constr's ``v``): ``lam`` on equality rows,
        ``mu_upper - mu_lower`` on inequality rows, so that ``grad_x L = grad f + J_v^T v``."""
        xp = self.xp
        ie, il, iu = self._idx
        w = xp.zeros(self.m)
        if self.m_eq:
            w[ie] = lam
        nlo = self.lo_idx.size
        if nlo:
            w[il] = -mu[:nlo]
        if self.up_idx.size:
            w[iu] = w[iu] + mu[nlo:]
        return w

    def raw_values(self, c, g) -> Any:
        """The constraint values ``fun(x)`` of the raw rows, rebuilt from ``c`` and ``g``."""
        xp = self.xp
        ie, il, iu = self._idx
        v = xp.zeros(self.m)
        if self.m_eq:
            v[ie] = c + self._lb_eq
        nlo = self.lo_idx.size
        if nlo:
            v[il] = self._lb_lo - g[:nlo]
        if self.up_idx.size:
            v[iu] = g[nlo:] + self._ub_up
        return v
