"""Inequalities and bounds in ``method='sketched-alm'``: active-set SQP, exact augmented Lagrangian.

For ``min f(x)  s.t.  c(x) = 0,  g(x) <= 0,  lo <= x <= hi`` (Na, Anitescu & Kolar,
Math. Programming 2023, [1]_): the primal-dual iterate ``(x, lam, mu)`` moves along
the Newton step of the KKT conditions on the *identified* active set

    A = {i : g_i(x) >= -mu_i / mu_p}

(the constraints where the augmented Lagrangian's ``w_i = max(g_i, -mu_i / mu_p)``
equals ``g_i``): the rows of A are linearized as equalities, the multipliers of
the others are set to zero, and the step length comes from Armijo backtracking on
a differentiable exact augmented Lagrangian merit (below). The merit's penalties
move when the step is not a descent direction, as in the equality path.

Bounds are handled on x directly, not as constraint rows: the iterates stay in
the box (the start point is projected into it, trial points are projected), and
the variables whose projected Lagrangian gradient ``x - P(x - grad_x L)`` is
clipped by a bound are fixed at it (an active set on x, Bertsekas' projected
Newton rule); the Newton system is solved for the free variables only, so a
bound removes a variable instead of adding a row.

The identified sets are refined on the step's linearized outcome; where that does
not settle, small dense problems take the step of the QP subproblem solved exactly
(Goldfarb & Idnani's dual active-set method, :func:`_dense_qp`). A run that stops
with the constraints violated is called infeasible only when a phase-1 LP finds the
linearized constraints inconsistent with the box (:func:`_phase1_violation`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import Bounds, OptimizeResult, OptimizeWarning

from .._common import (
    STATUS_CALLBACK,
    STATUS_FAILURE,
    STATUS_MAXITER,
    STATUS_SUCCESS,
    CallbackRunner,
    IterationPrinter,
    check_unknown_options,
    warn_not_converged,
)
from .._numdiff import approx_hessp
from .._validation import as_generator, check_choice, check_count
from ..backend import Backend, get_backend, to_numpy
from ..linalg._sketch import SKETCHES, SketchProjector
from ._common import ObjectiveFunction
from ._curvature import is_linear_operator, is_sparse
from ._eq_constraints import GeneralConstraints
from ._sketched_alm import (
    DENSE_KKT_SIZE,
    NONMONOTONE_MEMORY,
    _assemble,
    _check_options,
    _DenseKKT,
    _kkt_matrix,
)

__all__ = ["_minimize_active_set", "parse_bounds"]

#: Iterations with a penalty above this and no feasibility progress: declared infeasible.
INFEASIBLE_PENALTY = 1e10
#: Exchange rounds of ``_refined_newton`` after which the QP subproblem is solved exactly
#: (where it can be): the HS set takes the same steps as with the exact step only after all
#: rounds, the tight-box random QPs about 35% less time (the rounds seldom settle there).
EXACT_QP_ROUNDS = 6


def parse_bounds(bounds: Any, n: int, be: Backend) -> tuple[Any, Any]:
    """``(lo, hi)`` arrays of shape (n,) from a ``Bounds`` or a sequence of ``(lo, hi)`` pairs.

    ``None`` in a pair means no bound on that side. Raises ValueError for a wrong
    length, NaN, or ``lo > hi`` (an empty box: the problem is infeasible).
    """
    if isinstance(bounds, Bounds):
        try:
            lo = np.broadcast_to(np.asarray(to_numpy(bounds.lb), dtype=np.float64), (n,))
            hi = np.broadcast_to(np.asarray(to_numpy(bounds.ub), dtype=np.float64), (n,))
        except ValueError:
            raise ValueError(f"bounds: Bounds.lb and Bounds.ub must be scalars or have "
                             f"shape ({n},)") from None
    else:
        try:
            pairs = list(bounds)
        except TypeError:
            raise TypeError("bounds must be a scipy.optimize.Bounds or a sequence of (lo, hi) "
                            f"pairs, got {type(bounds).__name__}") from None
        if len(pairs) != n:
            raise ValueError(f"bounds must have one (lo, hi) pair per variable: got {len(pairs)} "
                             f"pairs for {n} variables")
        lo, hi = np.empty(n), np.empty(n)
        for i, pair in enumerate(pairs):
            try:
                a, b = pair
            except (TypeError, ValueError):
                raise ValueError(f"bounds[{i}] must be a (lo, hi) pair, got {pair!r}") from None
            lo[i] = -np.inf if a is None else float(a)
            hi[i] = np.inf if b is None else float(b)
    if np.isnan(lo).any() or np.isnan(hi).any():
        raise ValueError("bounds must not contain NaN (use None or +-inf for no bound)")
    if (lo > hi).any():
        i = int(np.flatnonzero(lo > hi)[0])
        raise ValueError(f"bounds: lo > hi for variable {i} ({lo[i]} > {hi[i]}): the box is "
                         "empty, the problem is infeasible")
    return be.to_device(np.array(lo)), be.to_device(np.array(hi))


def _givens(a: float, b: float) -> tuple[float, float, float]:
    """``(c, s, r)`` with ``[[c, s], [-s, c]] @ [a, b] = [r, 0]``."""
    r = math.hypot(a, b)
    if r == 0.0:
        return 1.0, 0.0, 0.0
    return a / r, b / r, r


def _dense_qp(G, a, CE, bE, CI, bI, max_iter: int | None = None):
    """Exact solution of a small strictly convex QP (Goldfarb & Idnani's dual active-set method).

    ``min 1/2 x^T G x + a^T x  s.t.  CE x = bE,  CI x >= bI`` with G symmetric positive
    definite (host arrays). Returns ``(x, uE, uI, status)``: the minimizer and the
    multipliers (``G x + a = CE^T uE + CI^T uI``, ``uI >= 0``), status ``'optimal'``;
    or ``(None, None, None, status)`` with status ``'infeasible'`` (a constraint that no
    dual step can bring into the active set: the constraints are inconsistent),
    ``'not-pd'`` (G has no Cholesky factor) or ``'maxiter'``.

    The method (Goldfarb & Idnani 1983, the form of their paper's Algorithm 1, with
    ``J = L^{-T} Q`` and the upper-triangular ``R`` updated by Givens rotations on each
    addition / deletion) starts from the unconstrained minimizer, takes the equalities
    into the active set first, then repeatedly adds the most violated inequality, with
    partial steps that drop active inequalities whose multiplier would turn negative. Every
    iterate is the minimizer on its active set, so the result is exact to rounding, and
    the dual objective grows at each step, so no active set repeats (finite termination).
    """
    n = int(G.shape[0])
    mE, mI = int(CE.shape[0]), int(CI.shape[0])
    try:
        L = np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        return None, None, None, "not-pd"
    J = np.linalg.inv(L).T  # J = L^{-T}: J^T G J = I
    R = np.zeros((n, n))
    x = -J @ (J.T @ a)
    active: list[int] = []  # rows: 0..mE-1 equalities, mE.. inequalities
    u = np.zeros(0)
    rows = np.concatenate([CE, CI], axis=0) if mE + mI else np.zeros((0, n))
    rhs = np.concatenate([bE, bI])
    rnorm = np.maximum(np.abs(rows).sum(axis=1), 1e-300)
    scale = 1.0 + float(np.abs(rhs).max()) if rhs.size else 1.0
    eps = 1e-12 * scale
    max_iter = max_iter or 10 * (n + mE + mI) + 50

    def _dependent(d, q):  # the row lies in the span of the active rows
        return float(np.linalg.norm(d[q:])) <= 1e-11 * max(float(np.linalg.norm(d)), 1e-300)

    def step_dirs(npv):
        d = J.T @ npv
        q = len(active)
        z = J[:, q:] @ d[q:]
        r = np.linalg.solve(np.triu(R[:q, :q]), d[:q]) if q else np.zeros(0)
        return d, z, r

    def add(d):
        nonlocal J
        q = len(active)
        for j in range(n - 1, q, -1):  # zero d[q+1:] by rotations of J's columns
            c, s, rr = _givens(d[j - 1], d[j])
            if s == 0.0:
                continue
            d[j - 1], d[j] = rr, 0.0
            Jj1, Jj = J[:, j - 1].copy(), J[:, j].copy()
            J[:, j - 1], J[:, j] = c * Jj1 + s * Jj, -s * Jj1 + c * Jj
        R[:q + 1, q] = d[:q + 1]
        if abs(R[q, q]) <= 1e-14 * max(1.0, float(np.abs(d).max())):
            return False  # dependent on the active rows
        return True

    def drop(k):
        nonlocal J
        q = len(active)
        R[:, k:q - 1] = R[:, k + 1:q].copy()
        R[:, q - 1] = 0.0
        for j in range(k, q - 1):  # restore the triangle
            c, s, rr = _givens(R[j, j], R[j + 1, j])
            if s != 0.0:
                Rj, Rj1 = R[j, j:].copy(), R[j + 1, j:].copy()
                R[j, j:], R[j + 1, j:] = c * Rj + s * Rj1, -s * Rj + c * Rj1
                Jj, Jj1 = J[:, j].copy(), J[:, j + 1].copy()
                J[:, j], J[:, j + 1] = c * Jj + s * Jj1, -s * Jj + c * Jj1
            R[j + 1, j] = 0.0
        del active[k]

    for i in range(mE):  # the equalities: full steps, never dropped
        npv = rows[i]
        d, z, r = step_dirs(npv)
        viol = rhs[i] - npv @ x
        zn = float(z @ npv)
        if _dependent(d, len(active)):
            if abs(viol) > 1e-9 * (scale + rnorm[i] * float(np.abs(x).max(initial=0.0))):
                return None, None, None, "infeasible"
            continue  # a dependent equality, consistent: skip it
        t = viol / zn
        x = x + t * z
        u = u - t * r if u.size else u
        if not add(d):
            continue
        active.append(i)
        u = np.append(u, t)
    for _ in range(max_iter):
        s_all = rows[mE:] @ x - bI if mI else np.zeros(0)
        s_all = s_all / rnorm[mE:]
        if mI:
            s_all[[k - mE for k in active if k >= mE]] = 0.0
        p = int(np.argmin(s_all)) if mI else -1
        if p < 0 or s_all[p] >= -eps:
            uE = np.zeros(mE)
            uI = np.zeros(mI)
            for k, uk in zip(active, u):
                if k < mE:
                    uE[k] = uk
                else:
                    uI[k - mE] = uk
            return x, uE, uI, "optimal"
        ip = mE + p
        up = 0.0
        npv = rows[ip]
        while True:
            d, z, r = step_dirs(npv)
            q = len(active)
            t1, kdrop = np.inf, -1
            for k in range(q):
                if active[k] >= mE and r[k] > 1e-14 * max(1.0, float(np.abs(r).max())):
                    tk = u[k] / r[k]
                    if tk < t1:
                        t1, kdrop = tk, k
            zn = float(z @ npv)
            t2 = np.inf
            if not _dependent(d, q) and zn > 0:
                t2 = (bI[p] - npv @ x) / zn
            t = min(t1, t2)
            if not np.isfinite(t):
                return None, None, None, "infeasible"
            if np.isfinite(t2):
                x = x + t * z
            u = u - t * r if q else u
            up += t
            if t == t2:
                if add(d):
                    active.append(ip)
                    u = np.append(u, up)
                break
            u = np.delete(u, kdrop)
            drop(kdrop)
    return None, None, None, "maxiter"


def _phase1_violation(Jc, c, Jg, gin, dlo, dhi) -> float | None:
    """The least l1 violation of the linearized constraints within the box, by an LP.

    ``min sum(p + q) + sum(w)  s.t.  Jc d + p - q = -c,  Jg d - w <= -g,
    dlo <= d <= dhi,  p, q, w >= 0`` (HiGHS through scipy's ``linprog``; host arrays,
    dense or sparse). 0 when the linearization is consistent; None when the LP solver
    does not finish.
    """
    import scipy.sparse as sps
    from scipy.optimize import linprog

    n, me, mi = int(dlo.size), int(c.size), int(gin.size)
    if me + mi == 0:
        return 0.0
    Jc, Jg = sps.csr_matrix(Jc), sps.csr_matrix(Jg)
    ie, ii = sps.identity(me, format="csr"), sps.identity(mi, format="csr")
    A_eq = sps.hstack([Jc, ie, -ie, sps.csr_matrix((me, mi))], format="csr") if me else None
    A_ub = sps.hstack([Jg, sps.csr_matrix((mi, 2 * me)), -ii], format="csr") if mi else None
    cost = np.r_[np.zeros(n), np.ones(2 * me + mi)]
    bnds = [(None if not np.isfinite(a) else a, None if not np.isfinite(b) else b)
            for a, b in zip(dlo, dhi)] + [(0.0, None)] * (2 * me + mi)
    res = linprog(cost, A_ub=A_ub, b_ub=-gin if mi else None, A_eq=A_eq,
                  b_eq=-c if me else None, bounds=bnds, method="highs")
    if res.status != 0:
        return None
    return max(float(res.fun), 0.0)


class _PortableDenseKKT:
    """Exact dense KKT steps without host LAPACK (the GPU's arrays, or LAPACK missing).

    The same shift rule as the LAPACK path's :class:`_DenseKKT` (try 0, then
    ``max(1e-4 scale, last / 3)`` multiplied by 100 the first time, 8 after, until the
    test passes, two geometric bisections of the bracket and the doubling of the upper
    end), with its inertia test replaced by the equivalent one (Gould 1985) that array
    libraries provide: the reduced Hessian ``Z^T (B + shift I) Z`` (Z a null-space basis
    of the independent rows of J, from an SVD) has a Cholesky factor. So from the same
    start both paths take the same shifted Newton steps, up to rounding (before, the
    non-LAPACK path shifted B only along the step's negative curvature, and HS44 from
    the collection's start stopped at another KKT point, HS34 did not converge).
    """

    def __init__(self, be: Backend):
        self.be = be
        self.last_shift = 0.0

    def available(self, B) -> bool:
        return not is_sparse(B) and B.dtype == np.float64

    def analyze(self, B, J, c, scale: float):
        """``(rows, c_range, shift, K)`` as :meth:`_DenseKKT.analyze` (K: the shifted matrix)."""
        xp, be = self.be.xp, self.be
        n, m = int(B.shape[0]), int(J.shape[0])
        rows = []
        if m:
            _u, sv, vt = xp.linalg.svd(J, full_matrices=True)
            r = int((to_numpy(sv) > 1e-10 * max(1.0, float(sv[0]))).sum())
            if r == m:
                rows = list(range(m))
            else:  # greedy: a row stays when it raises the rank of those kept
                for i in range(m):
                    trial = rows + [i]
                    if int(np.linalg.matrix_rank(to_numpy(J[trial]))) == len(trial):
                        rows = trial
                    if len(rows) == r:
                        break
            Z = vt[r:].T
        else:
            r, Z = 0, xp.eye(n)
        rows_a = xp.asarray(np.array(rows, dtype=np.int64))
        c_range = c
        if r < m:
            T = J @ J[rows_a].T
            Qt, _ = xp.linalg.qr(T)
            c_range = Qt @ (Qt.T @ c)
        Jr = J[rows_a]
        ZBZ = Z.T @ B @ Z
        ZZ = Z.T @ Z

        def factor(shift):
            ok = Z.shape[1] == 0 or be.cholesky(ZBZ + shift * ZZ) is not None
            return ok, shift

        def matrix(shift):
            K = xp.zeros((n + r, n + r))
            K[:n, :n] = B + shift * xp.eye(n)
            K[n:, :n] = Jr
            K[:n, n:] = Jr.T
            return K

        ok, _ = factor(0.0)
        if ok:
            self.last_shift = 0.0
            return rows_a, c_range, 0.0, matrix(0.0)
        lo, hi = 0.0, max(1e-4 * scale, self.last_shift / 3.0)
        for _ in range(60):
            ok, _ = factor(hi)
            if ok:
                break
            lo, hi = hi, hi * (8.0 if self.last_shift else 100.0)
        if lo > 0.0:
            for _ in range(2):
                mid = math.sqrt(lo * hi)
                if factor(mid)[0]:
                    hi = mid
                else:
                    lo = mid
            hi *= 2.0
        self.last_shift = hi
        return rows_a, c_range, hi, matrix(hi)

    def solve(self, K, rhs):
        xp = self.be.xp
        return xp.linalg.solve(K, rhs)


class _Point:
    """Everything evaluated at one primal-dual point ``(x, lam, mu)``."""

    __slots__ = ("x", "lam", "mu", "f", "g0", "c", "gin", "Jc", "Jg", "gL", "r", "clip",
                 "comp", "kkt", "viol", "B", "grad")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)
        self.B = None
        self.grad = None


class _ActiveSetALM:
    """The iteration (state kept between steps)."""

    def __init__(self, fun, x0, *, args, jac, hess, hessp, bounds, constraints, callback,
                 tol, maxiter, sketch, block_size, rng, accel, row_sampling, mu0, nu0,
                 delta0, theta, beta, rho, lam0, max_sketch_iter, max_penalty_updates,
                 max_linesearch, finite_diff_rel_step, disp):
        self.be = get_backend(x0)
        self.xp = xp = self.be.xp
        x0 = x0.astype(np.float64) if x0.dtype != np.float64 else x0
        self.n = n = int(x0.shape[0])
        if bounds is not None:
            self.lo, self.hi = parse_bounds(bounds, n, self.be)
        else:
            self.lo, self.hi = xp.full(n, -np.inf), xp.full(n, np.inf)
        self.has_bounds = bounds is not None
        self.x0 = xp.clip(x0, self.lo, self.hi)  # the iterates stay in the box
        self.obj = ObjectiveFunction(fun, jac, args, finite_diff_rel_step)
        self.args = tuple(args)
        self.hess, self.hessp = hess, hessp
        self.rel_step = finite_diff_rel_step
        self.nhev = 0
        self.cons = GeneralConstraints(constraints, self.x0, finite_diff_rel_step)
        self.m_eq, self.m_in = self.cons.m_eq, self.cons.m_in
        self.callback = CallbackRunner(callback)
        self.printer = IterationPrinter(["nit", "f", "kkt", "viol", "|A|", "mu", "nu",
                                         "alpha"], enabled=disp)
        self.tol, self.maxiter = float(tol), int(maxiter)
        self.sketch, self.block_size = sketch, block_size
        self.rng = as_generator(rng)
        self.accel = check_count("accel", accel, minimum=0)
        self.row_sampling = check_choice("row_sampling", row_sampling, ("norm", "uniform"))
        self.mu, self.nu, self.delta = float(mu0), float(nu0), float(delta0)
        self.theta, self.beta, self.rho = float(theta), float(beta), float(rho)
        self.max_penalty_updates = int(max_penalty_updates)
        self.max_linesearch = int(max_linesearch)
        self.max_sketch_iter = max_sketch_iter
        self.direct = sketch == "block" and block_size is None
        self._dkkt = _DenseKKT(self.be)
        self._pkkt = _PortableDenseKKT(self.be)
        self.n_sketch = 0
        self.lam0 = None
        if lam0 is not None:
            lam0 = xp.asarray(lam0, dtype=np.float64).reshape(-1)
            if lam0.shape != (self.m_eq,):
                raise ValueError(f"lam0 must have shape ({self.m_eq},) (one multiplier per "
                                 f"equality row), got {tuple(lam0.shape)}")
            self.lam0 = lam0
        f0 = self.obj.value(self.x0)
        if not np.isfinite(f0):
            raise ValueError(f"fun is not finite at x0 (projected into the bounds; got {f0})")

    # -- evaluations -----------------------------------------------------------
    def _point(self, x, lam, mu) -> _Point | None:
        """Evaluate at ``(x, lam, mu)``; None where something is not finite."""
        xp, be = self.xp, self.be
        f = self.obj.value(x)
        if not np.isfinite(f):
            return None
        g0 = self.obj.grad(x)
        c, gin, Jc, Jg = self.cons.evaluate(x)
        for a in (g0, c, gin):
            if not be.all_finite(a):
                return None
        for Jm in (Jc, Jg):
            if not be.all_finite(Jm.data if is_sparse(Jm) else Jm):
                return None
        gL = g0 + Jc.T @ lam + Jg.T @ mu
        proj = xp.clip(x - gL, self.lo, self.hi)
        r = x - proj
        clip = (proj != x - gL)  # a bound fixes these variables (Bertsekas' rule)
        comp = xp.minimum(-gin, mu)  # natural residual of 0 <= mu, g <= 0, mu g = 0
        kkt = math.sqrt(float(r @ r) + float(c @ c) + float(comp @ comp))
        viol = max(float(xp.abs(c).max()) if c.size else 0.0,
                   float(gin.max()) if gin.size else 0.0, 0.0)
        return _Point(x=x, lam=lam, mu=mu, f=f, g0=g0, c=c, gin=gin, Jc=Jc, Jg=Jg, gL=gL,
                      r=r, clip=clip, comp=comp, kkt=kkt, viol=viol)

    def _hessian(self, s: _Point):
        """The Hessian of the Lagrangian at s (dense, sparse or an operator)."""
        if s.B is not None:
            return s.B
        xp = self.xp
        if self.hess is not None:
            self.nhev += 1
            H = self.hess(s.x, *self.args)
            if is_linear_operator(H):
                terms = [H.matvec]
            else:
                H = (self.be.to_device(H.tocsr()) if is_sparse(H)
                     else xp.asarray(H, dtype=np.float64))
                if H.shape != (self.n, self.n):
                    raise ValueError(f"hess must return shape ({self.n}, {self.n}), got "
                                     f"{tuple(H.shape)}")
                terms = [H]
        elif self.hessp is not None:
            x = s.x

            def hvp(p):
                self.nhev += 1
                return xp.asarray(self.hessp(x, p, *self.args), dtype=np.float64).reshape(-1)
            terms = [hvp]
        else:
            x = s.x

            def fd_hvp(p):  # central differences of the gradient (counted in nfev / njev)
                return approx_hessp(self.obj.grad, x, p, method="3-point",
                                    rel_step=self.rel_step)
            terms = [fd_hvp]
        if self.cons.parts:
            w = self.cons.raw_multipliers(s.lam, s.mu)
            terms = terms + self.cons.hess_terms(s.x, w)
        s.B = _assemble(terms, self.n, self.be)
        return s.B

    def _hvp(self, s: _Point, p):
        B = self._hessian(s)
        return B.matvec(p) if is_linear_operator(B) else B @ p

    # -- the merit -----------------------------------------------------------------
    def _active(self, s: _Point):
        """The identified active set ``g_i >= -mu_i / mu_p`` (a boolean mask)."""
        return s.gin >= -s.mu / self.mu

    def _merit(self, s: _Point) -> float:
        """``f + lam^T c + mu_p/2 ||c||^2 + sum psi(g_i, mu_i) + nu/2 (||r||^2 + ||g mu||^2)``.

        ``psi(g, m) = m w + mu_p/2 w^2`` with ``w = max(g, -m / mu_p)`` (the augmented
        Lagrangian of an inequality), r the projected Lagrangian gradient.
        """
        xp = self.xp
        w = xp.maximum(s.gin, -s.mu / self.mu)
        gm = s.gin * s.mu
        return float(s.f + s.lam @ s.c + 0.5 * self.mu * (s.c @ s.c)
                     + s.mu @ w + 0.5 * self.mu * (w @ w)
                     + 0.5 * self.nu * (s.r @ s.r + gm @ gm))

    def _merit_grads(self, s: _Point) -> tuple:
        """The merit's gradient in ``(x, lam, mu)`` as two parts, ``G_mu + nu G_Q``.

        ``G_mu``: of ``f + lam^T c + mu_p/2 ||c||^2 + sum psi``; ``G_Q``: of
        ``1/2 (||r||^2 + ||g mu||^2)`` (one Hessian product). Kept apart so that
        the descent test can tell which penalty to move.
        """
        xp = self.xp
        act = self._active(s)
        w = xp.where(act, s.gin, -s.mu / self.mu)
        psi_g = xp.where(act, s.mu + self.mu * s.gin, 0.0)  # d psi / d g
        rf = xp.where(s.clip, 0.0, s.r)  # where r = grad_x L: its derivative goes through L
        rc = xp.where(s.clip, s.r, 0.0)  # where r = x - bound
        gm = s.gin * s.mu
        Hrf = self._hvp(s, rf) if bool(to_numpy(xp.any(rf != 0))) else xp.zeros(self.n)
        g_mu = (s.g0 + s.Jc.T @ (s.lam + self.mu * s.c) + s.Jg.T @ psi_g, s.c, w)
        g_q = (Hrf + rc + s.Jg.T @ (gm * s.mu), s.Jc @ rf, s.Jg @ rf + gm * s.gin)
        return g_mu, g_q

    def _merit_grad(self, s: _Point) -> tuple:
        """The gradient of the merit in ``(x, lam, mu)``."""
        g_mu, g_q = self._merit_grads(s)
        return tuple(a + self.nu * b for a, b in zip(g_mu, g_q))

    # -- the Newton step on the identified active set --------------------------------
    def _newton(self, s: _Point, act, bset=None):
        """``((dx, dlam, dmu), info)``: the Newton step of the KKT conditions on the active set.

        Free variables F (not fixed by a bound), rows: the equalities and the
        identified inequalities, linearized; off-A multipliers go to zero; a fixed
        variable moves to its bound. ``bset = (fixed, target)`` gives the fixed
        variables and the bound each goes to (default: the projected-Newton rule of
        ``_fixed_set``), with ``weight`` the order in which ``_fixed_set`` frees
        variables. ``info = (fixed, target, zq)``: the fixed set used and the
        gradient of the model's Lagrangian at the step, ``g + B dx + J_A^T y`` (minus
        the bound multipliers of the linearized problem, nonzero on fixed variables
        only). ``(None, None)`` when no finite step is found.
        """
        xp, be = self.xp, self.be
        B = self._hessian(s)
        act_idx = xp.flatnonzero(act)
        sp = be.scipy.sparse
        if is_sparse(s.Jc) or is_sparse(s.Jg):
            Jall = sp.vstack([sp.csr_matrix(s.Jc), sp.csr_matrix(s.Jg)[act_idx]], format="csr")
        else:
            Jall = xp.concatenate([s.Jc, s.Jg[act_idx]], axis=0)
        if bset is None:
            fixed, target = self._fixed_set(s, Jall), s.x - s.r  # x - r = P(x - grad_x L)
        else:
            fixed, target, weight = bset
            fixed = self._fixed_set(s, Jall, fixed, weight)
        dx = xp.where(fixed, target - s.x, 0.0)
        free = xp.flatnonzero(~fixed)
        nf = int(free.size)
        crhs = xp.concatenate([s.c, s.gin[act_idx]]) + Jall @ dx
        grhs = s.g0 + (B.matvec(dx) if is_linear_operator(B) else B @ dx)
        k = int(Jall.shape[0])
        if nf == 0:
            y = xp.zeros(k)
        else:
            JF = Jall[:, free]
            sol = self._kkt_solve(B, free, JF, grhs[free], crhs, s)
            if sol is None:
                return None, None
            dxf, y = sol
            dx[free] = dxf
        lam_new = y[:self.m_eq]
        mu_new = xp.zeros(self.m_in)
        mu_new[act_idx] = y[self.m_eq:]
        out = (dx, lam_new - s.lam, mu_new - s.mu)
        if not all(be.all_finite(v) for v in out):
            return None, None
        info = None
        if self.has_bounds:
            Bdx = B.matvec(dx) if is_linear_operator(B) else B @ dx
            zq = s.g0 + Bdx + Jall.T @ y
            info = (fixed, target, xp.where(fixed, zq, 0.0))
        return out, info

    def _refined_newton(self, s: _Point, act, bounds_too: bool = True):
        """The Newton step, with the identified sets refined on the linearized problem.

        Added to the paper's single identification (which cycles on problems with many
        inequalities, e.g. random QPs): the identification rule is applied again to the
        step's outcome, ``A' = {i : g_i + grad g_i^T dx >= -mu_new_i / mu_p}``, and the
        step recomputed on A' until the sets repeat (a primal-dual active-set iteration,
        Hintermüller, Ito & Kunisch 2002, on the quadratic model; when it settles, the
        step solves the SQP subproblem). With ``bounds_too`` the bounds' fixed set is
        refined in the same rounds by the same rule for bounds: a free variable that the
        step takes past a bound is fixed at it, a fixed one whose model multiplier
        (``zq`` of ``_newton``) has the wrong sign is freed. The full exchange can cycle
        (random QPs with tight bounds); from the first repeat on, only the most violated
        condition is exchanged per round (a one-at-a-time active-set move). The step
        returned is the first one whose outcome is consistent with its sets, else the
        one with the smallest violation of the model's KKT sign conditions. At most
        ``2 (m_in + n_bounds) + 5`` rounds; after ``EXACT_QP_ROUNDS`` rounds without a
        consistent step, or when the rounds cycle, the step of the QP subproblem solved
        exactly (``_exact_qp_step``) where the problem is small and dense. When the new
        fixed set leaves too few free variables for the active rows, ``_fixed_set`` frees
        first the variables fixed before whose model multiplier is smallest, the newly
        fixed ones last.
        """
        xp = self.xp
        d, info = self._newton(s, act)
        refine_bounds = bounds_too and info is not None
        if d is None or not (self.m_in or refine_bounds):
            return d
        rounds = 2 * (self.m_in + (self.n if refine_bounds else 0)) + 5
        fixed = info[0] if refine_bounds else xp.zeros(self.n, dtype=bool)
        seen = {bytes(to_numpy(act)) + bytes(to_numpy(fixed))}
        best, best_v = d, np.inf
        single = False
        tried = False
        for it in range(rounds):
            dx, _dl, dmu = d
            mu_new = s.mu + dmu
            # violations of the model's conditions, each >= 0 (0: consistent)
            glin = s.gin + s.Jg @ dx
            v_row = xp.where(act, xp.maximum(-mu_new, 0.0), xp.maximum(glin, 0.0))
            if refine_bounds:
                fixed, target, zq = info
                xn = s.x + dx
                at_lo = fixed & (target <= self.lo)
                at_hi = fixed & (target >= self.hi) & ~at_lo
                v_bnd = xp.where(at_lo, xp.maximum(-zq, 0.0),
                                 xp.where(at_hi, xp.maximum(zq, 0.0),
                                          xp.maximum(xp.maximum(self.lo - xn,
                                                                xn - self.hi), 0.0)))
            else:
                v_bnd = xp.zeros(self.n)
            viol = float(v_row.sum()) + float(v_bnd.sum())
            if viol < best_v:
                best, best_v = d, viol
            if viol == 0.0:
                return d
            if it >= EXACT_QP_ROUNDS and not tried:  # many exchanges: solve the QP exactly
                tried = True
                exact = self._exact_qp_step(s)
                if exact is not None:
                    return exact
            # the exchange: all violated conditions; once sets repeat, one per round, the
            # most violated one that leads to sets not seen before
            if single:
                allv = to_numpy(xp.concatenate([v_row, v_bnd]))
                order = [int(i) for i in np.argsort(-allv, kind="stable") if allv[i] > 0]
            else:
                order = [None]
            new_act = bset = None
            for pick in order:
                if pick is None:
                    flip_r, flip_b = v_row > 0, v_bnd > 0
                else:
                    flip_r = xp.zeros(self.m_in, dtype=bool)
                    flip_b = xp.zeros(self.n, dtype=bool)
                    if pick < self.m_in:
                        flip_r[pick] = True
                    else:
                        flip_b[pick - self.m_in] = True
                cand_act = act ^ flip_r
                cand_fixed = fixed ^ flip_b if refine_bounds else fixed
                key = bytes(to_numpy(cand_act)) + bytes(to_numpy(cand_fixed))
                if key not in seen:
                    new_act = cand_act
                    break
            if new_act is None:
                if single:
                    break
                single = True  # the full exchange repeats: one at a time from here
                continue
            seen.add(key)
            if refine_bounds:
                xn = s.x + dx
                # a variable newly fixed goes to the bound the step passed
                new_target = xp.where(fixed, target, xp.where(xn < self.lo, self.lo, self.hi))
                az = xp.abs(zq)
                top = 2.0 * float(az.max()) + 1.0
                weight = xp.where(fixed, az, top + v_bnd)  # free the least certain first
                bset = (cand_fixed, new_target, weight)
            d_new, info_new = self._newton(s, new_act, bset)
            if d_new is None:
                break
            d, act, info = d_new, new_act, info_new
        # the rounds did not settle (sets cycle): the step of the exact QP subproblem
        exact = None if tried else self._exact_qp_step(s)
        return best if exact is None else exact

    def _exact_qp_step(self, s: _Point):
        """The step of the linearized problem solved exactly, for small dense problems.

        ``min g^T dx + 1/2 dx^T B dx  s.t.  c + Jc dx = 0,  g + Jg dx <= 0,
        lo <= x + dx <= hi`` by Goldfarb & Idnani's dual active-set method
        (:func:`_dense_qp`, on the host), with B shifted by a multiple of I until it has a
        Cholesky factor (a convexified model where B is indefinite). Added to the paper
        as the fallback of ``_refined_newton`` when its exchange rounds do not settle: the
        active sets of the step are then exact (random convex QPs with tight boxes where
        the rounds never found consistent sets). None when the problem is large, sparse
        or given by an operator, the QP is infeasible, or the method does not finish.
        """
        be = self.be
        B = self._hessian(s)
        k = self.m_eq + self.m_in
        if is_linear_operator(B) or self.n > DENSE_KKT_SIZE or k > 2 * DENSE_KKT_SIZE:
            return None
        G = to_numpy(B.toarray() if is_sparse(B) else B)
        G = 0.5 * (G + G.T)
        dens = [to_numpy(J.toarray() if is_sparse(J) else J) for J in (s.Jc, s.Jg)]
        x, lo, hi = to_numpy(s.x), to_numpy(self.lo), to_numpy(self.hi)
        flo, fhi = np.flatnonzero(np.isfinite(lo)), np.flatnonzero(np.isfinite(hi))
        eye = np.eye(self.n)
        CI = np.concatenate([-dens[1], eye[flo], -eye[fhi]], axis=0)
        bI = np.concatenate([to_numpy(s.gin), lo[flo] - x[flo], x[fhi] - hi[fhi]])
        scale = max(1.0, float(np.abs(np.diag(G)).max(initial=0.0)))
        shift = 0.0
        for _ in range(30):
            dx, uE, uI, status = _dense_qp(G + shift * eye, to_numpy(s.g0), dens[0],
                                           -to_numpy(s.c), CI, bI)
            if status != "not-pd":
                break
            shift = max(1e-4 * scale, 10.0 * shift)
        if dx is None:
            return None
        self.n_sketch += 1
        dx = np.clip(x + dx, lo, hi) - x
        out = (be.to_device(dx), be.to_device(-uE) - s.lam, be.to_device(uI[:self.m_in]) - s.mu)
        return out if all(be.all_finite(v) for v in out) else None

    def _fixed_set(self, s: _Point, Jall, fixed=None, weight=None):
        """The variables a bound fixes: those where ``x - P(x - grad_x L)`` is clipped
        (or the given mask ``fixed``, freed in the order of increasing ``weight``).

        Added to the projected-Newton rule: while the active constraint rows have a
        lower rank on the free variables than on all of them (the multiplier estimates
        fix too many variables, so the linearized constraints cannot be met), the fixed
        variable with the smallest ``|grad_x L|`` (the least certain one) is freed.
        Checked on small dense Jacobians only.
        """
        xp = self.xp
        fixed = (s.clip if fixed is None else fixed).copy()
        k = int(Jall.shape[0])
        if k == 0 or not bool(to_numpy(fixed.any())) or is_sparse(Jall) or (
                self.n + k > DENSE_KKT_SIZE):
            return fixed
        full_rank = int(np.linalg.matrix_rank(to_numpy(Jall)))
        weight = xp.abs(s.gL) if weight is None else weight
        while bool(to_numpy(fixed.any())):
            JF = to_numpy(Jall[:, ~fixed])
            if JF.shape[1] and int(np.linalg.matrix_rank(JF)) >= full_rank:
                break
            i = int(to_numpy(xp.argmin(xp.where(fixed, weight, np.inf))))
            fixed[i] = False
        return fixed

    def _restrict(self, B, free):
        """B on the free variables (``B[F][:, F]``), dense or sparse; an operator stays one."""
        if is_linear_operator(B):
            xp, n = self.xp, self.n

            def mv(p):
                full = xp.zeros(n)
                full[free] = xp.asarray(p).reshape(-1)
                return B.matvec(full)[free]
            k = int(free.size)
            return self.be.linear_operator((k, k), mv, rmatvec=mv, dtype=np.float64)
        if int(free.size) == self.n:
            return B
        return B[free][:, free]

    def _kkt_solve(self, B, free, JF, grhs, crhs, s):
        """Solve ``[[B_FF, JF^T], [JF, 0]] [dx; y] = -[grhs; crhs]`` (y: new multipliers).

        Small problems with host LAPACK: one LDL^T with the inertia test and shift of the
        equality path (exact); otherwise, or with a non-default sketch, the KKT matrix is
        sketched by :class:`SketchProjector` to the adaptive accuracy of the equality
        path, with a shift of B when the curvature along the step is negative.
        """
        xp, be = self.xp, self.be
        BF = self._restrict(B, free)
        nf, k = int(free.size), int(JF.shape[0])
        dense = nf + k <= DENSE_KKT_SIZE and not is_linear_operator(BF)
        dkkt = self._dkkt if self._dkkt.available(BF) else self._pkkt
        if dense and self.direct:
            Bd = BF.toarray() if is_sparse(BF) else BF
            Jd = JF.toarray() if is_sparse(JF) else JF
            scale = max(1.0, float(xp.abs(Bd).max()) if Bd.size else 1.0)
            rows, c_range, _shift, factor = dkkt.analyze(Bd, Jd, crhs, scale)
            rhs = -xp.concatenate([grhs, c_range[rows]])
            sol = dkkt.solve(factor, rhs)
            if not be.all_finite(sol):
                return None
            self.n_sketch += 1
            y = xp.zeros(k)
            y[rows] = sol[nf:]
            return sol[:nf], y
        if is_linear_operator(BF):
            scale = 1.0
        else:
            diag = BF.diagonal() if is_sparse(BF) else xp.diag(BF)
            scale = max(1.0, float(xp.abs(diag).max()) if diag.size else 1.0)
        rhs = -xp.concatenate([grhs, crhs])
        shift = 0.0
        kkt = max(s.kkt, 1e-300)
        target = max(self.delta * min(self.theta, kkt) * kkt, 0.1 * self.tol, 1e-14 * kkt)
        for _ in range(30):
            K = _kkt_matrix(BF, JF, shift, be, dense and not is_linear_operator(BF))
            z = self._sketch_solve(K, rhs, target)
            if z is None:
                return None
            dxf = z[:nf]
            Bdx = BF.matvec(dxf) if is_linear_operator(BF) else BF @ dxf
            curv = float(dxf @ Bdx) + shift * float(dxf @ dxf)
            if curv >= -1e-12 * scale * float(dxf @ dxf):
                return dxf, z[nf:]
            shift = max(2 * shift, 1e-4 * scale)  # negative curvature: shift B, solve again
        return None

    def _sketch_solve(self, K, rhs, target):
        """``K z = rhs`` by sketch-and-project; a direct solve when the sketch is 'block'
        without a block size (its single block is the whole system)."""
        xp, be = self.xp, self.be
        if self.direct and not is_linear_operator(K):
            if be.issparse(K):
                z = be.spsolve(be.solver_format(K), rhs)
            else:
                z = xp.linalg.lstsq(K, rhs, rcond=None)[0]
            self.n_sketch += 1
            return z if be.all_finite(z) else None
        proj = SketchProjector(K, sketch=self.sketch, block_size=self.block_size, rng=self.rng,
                               accel=self.accel, row_sampling=self.row_sampling)
        M = int(K.shape[0])
        budget = self.max_sketch_iter or (max(20_000, 200 * M) if self.sketch == "kaczmarz"
                                          else 2000)
        z = xp.zeros(M)
        res = -rhs.copy()
        z, res, steps, ok = proj.run(z, res, rhs, target, int(budget))
        self.n_sketch += steps
        if not ok and self.max_sketch_iter is None:
            # the default budget is spent far from the accuracy the step needs (an
            # ill-conditioned KKT matrix for this sketch): as the equality path does,
            # switch to exact solves for the rest of the run rather than crawl
            warnings.warn(
                f"sketched-alm: sketch={self.sketch!r} did not reach the accuracy the Newton "
                f"step needs within {int(budget)} steps; switching to exact solves for the "
                "rest of the run. Give max_sketch_iter to keep the sketch.",
                OptimizeWarning, stacklevel=9)
            self.direct = True
            return self._sketch_solve(K, rhs, target)
        return z if be.all_finite(z) else None

    # -- the iteration --------------------------------------------------------------
    def _initial(self):
        xp = self.xp
        x = self.x0.copy()
        lam = self.lam0.copy() if self.lam0 is not None else xp.zeros(self.m_eq)
        mu = xp.zeros(self.m_in)
        s = self._point(x, lam, mu)
        if s is None:
            raise ValueError("fun, jac or the constraints are not finite at x0")
        if self.lam0 is None and self.m_eq and self.n + self.m_eq <= DENSE_KKT_SIZE:
            # least-squares multipliers of the equalities on the free variables
            free = ~s.clip
            Jd = s.Jc.toarray() if is_sparse(s.Jc) else s.Jc
            lam = xp.linalg.lstsq(Jd[:, free].T, -s.g0[free], rcond=None)[0]
            if self.be.all_finite(lam):
                s = self._point(x, lam, mu) or s
        return s

    def solve(self) -> OptimizeResult:
        s = self._initial()
        nit, status, message, alpha = 0, STATUS_MAXITER, "", 0.0
        self.printer.row(0, s.f, s.kkt, s.viol, int(self._active(s).sum()), self.mu, self.nu,
                         alpha)
        ls_failures = stuck = 0
        while True:
            if s.kkt <= self.tol:
                status = STATUS_SUCCESS
                message = "Optimization terminated successfully: KKT residual <= tol."
                break
            if nit >= self.maxiter:
                status = STATUS_MAXITER
                message = (f"Maximum number of iterations ({self.maxiter}) reached with KKT "
                           f"residual {s.kkt:.3e} > tol: raise maxiter or loosen tol.")
                break
            stuck = stuck + 1 if self._infeasible_stationary(s) else 0
            if self.mu > INFEASIBLE_PENALTY or stuck >= 3:
                why = ("the iterates stopped at a stationary point of the violation" if stuck >= 3
                       else f"the penalty on the violation grew to {self.mu:.3g}")
                status, message = STATUS_FAILURE, self._failure_message(s, why)
                break
            step = self._step(s)
            if step is None:
                ls_failures += 1
                if ls_failures > 3:
                    status = STATUS_FAILURE
                    message = ("Line search failed: no sufficient decrease of the augmented "
                               "Lagrangian along the active-set Newton step or the merit's "
                               "gradient; the problem may be badly scaled.")
                    if s.viol > max(self.tol, 1e-6):
                        message = self._failure_message(
                            s, "the line search found no decrease of the merit")
                    break
                self.mu *= self.rho ** 2
                self.nu /= self.rho
                continue
            ls_failures = 0
            s, alpha = step
            nit += 1
            self.printer.row(nit, s.f, s.kkt, s.viol, int(self._active(s).sum()), self.mu,
                             self.nu, alpha)
            if self.callback(s.x, fun=s.f, optimality=s.kkt, nit=nit, constr_violation=s.viol):
                status, message = STATUS_CALLBACK, "Stopped by the callback (StopIteration)."
                break
        return self._result(s, nit, status, message)

    def _step(self, s: _Point):
        """One iteration: the Newton step if it is a descent direction of the merit (after
        penalty updates), else the merit's projected steepest descent; Armijo on the merit."""
        xp = self.xp
        d = act = None
        saved = (self.mu, self.nu)
        for _ in range(self.max_penalty_updates + 1):
            new_act = self._active(s)
            if act is None or bool(to_numpy(xp.any(new_act != act))):
                act = new_act
                d = self._refined_newton(s, act)
            if d is None:
                break
            g_mu, g_q = self._merit_grads(s)
            dm = sum(float(a @ b) for a, b in zip(g_mu, d))
            dq = sum(float(a @ b) for a, b in zip(g_q, d))
            if dm + self.nu * dq <= -0.5 * self.nu * s.kkt ** 2:
                grad = tuple(a + self.nu * b for a, b in zip(g_mu, g_q))
                t = self._line_search(s, d, grad, dm + self.nu * dq)
                if t is not None:
                    return t
                break
            # not a descent direction: the paper raises mu_p and lowers nu; here only the
            # one that helps moves (nu when dq + kkt^2/2 > 0 and the rest already descends)
            down_nu = dq + 0.5 * s.kkt ** 2 > 0.0
            up_mu = not (down_nu and dm < 0.0)
            if up_mu:
                self.mu *= self.rho ** 2
            if down_nu:
                self.nu /= self.rho
        # no penalties make the Newton step usable here: keep the old ones (a failed search
        # must not inflate them) but for one raise of mu_p, so that over such iterations
        # the violation weighs more, and descend the merit along its projected gradient
        self.mu, self.nu = saved[0] * self.rho ** 2, saved[1]
        gx, gl, gm = self._merit_grad(s)
        d = (-gx, -gl, -gm)
        dmerit = -(float(gx @ gx) + float(gl @ gl) + float(gm @ gm))
        if dmerit >= 0.0:
            return None
        return self._line_search(s, d, (gx, gl, gm), dmerit, scale=True)

    def _line_search(self, s: _Point, d, grad, dmerit: float, scale: bool = False):
        """Projected Armijo backtracking: ``phi(z_t) <= phi(z) + beta grad^T (z_t - z)``."""
        xp = self.xp
        dx, dl, dm = d
        gx, gl, gm = grad
        m0 = self._merit(s)
        slack = 20 * np.finfo(np.float64).eps * (abs(s.f) + abs(m0))
        # non-monotone for unit Newton steps (as the equality path; not in the paper): the
        # reference is the largest merit of the last few accepted iterates, so that unit
        # steps that raise the merit for a while (curved valleys) are kept; shortened
        # steps must decrease it (else far from a solution the merit can climb for good)
        hist = [] if scale else getattr(self, "_history", [])
        m_ref = max([m0] + [self._merit(h) for h in hist])
        alpha = 1.0
        if scale:  # a gradient step: start where its length is about that of x
            nd = math.sqrt(-dmerit)
            alpha = min(1.0, max(1.0, float(xp.abs(s.x).max()) if self.n else 1.0) / nd)
        for _ in range(self.max_linesearch):
            x = xp.clip(s.x + alpha * dx, self.lo, self.hi)
            t = self._point(x, s.lam + alpha * dl, s.mu + alpha * dm)
            if t is not None:
                pred = float(gx @ (x - s.x)) + alpha * (float(gl @ dl) + float(gm @ dm))
                mt = self._merit(t)
                ref = m_ref if alpha == 1.0 else m0  # only unit steps may raise the merit
                if np.isfinite(mt) and pred < 0 and mt <= ref + self.beta * pred + slack:
                    self._history = (hist + [s])[-NONMONOTONE_MEMORY:]
                    return t, alpha
            alpha *= 0.5
        return None

    def _infeasible_stationary(self, s: _Point) -> bool:
        """Whether x is a stationary point of the violation ``1/2 (||c||^2 + ||g_+||^2)``
        on the box while the constraints are violated (the sign of an infeasible problem)."""
        if s.viol <= max(1e-6, 100 * self.tol):
            return False
        xp = self.xp
        gp = xp.maximum(s.gin, 0.0)
        dtheta = s.Jc.T @ s.c + s.Jg.T @ gp
        rt = s.x - xp.clip(s.x - dtheta, self.lo, self.hi)
        theta = math.sqrt(float(s.c @ s.c) + float(gp @ gp))
        return float(xp.abs(rt).max()) <= 1e-8 * max(1.0, theta)

    def _failure_message(self, s: _Point, reason: str) -> str:
        """Why the run stops at s with the constraints violated: 'infeasible' only when a
        phase-1 LP finds the linearized constraints inconsistent with the box at s.

        A stationary point of the violation with a positive violation always passes that
        test (the linearized violation is convex, minimized at the step 0), so the
        verdict of an infeasible problem stays; a failure of the active-set iteration on
        a problem whose linearization can be met is reported as such instead.
        """
        x = to_numpy(s.x)
        p1 = _phase1_violation(to_numpy(s.Jc), to_numpy(s.c), to_numpy(s.Jg),
                               to_numpy(s.gin), to_numpy(self.lo) - x, to_numpy(self.hi) - x)
        l1 = float(np.abs(to_numpy(s.c)).sum()) + float(to_numpy(s.gin).clip(0.0).sum())
        if p1 is not None and p1 > max(1e-9, 1e-6 * l1):
            return (f"The constraints appear infeasible: {reason}, with constraint violation "
                    f"{s.viol:.3e}, and at that point the linearized constraints with the "
                    f"bounds are inconsistent (a phase-1 LP's least l1 violation is "
                    f"{p1:.3e}); check the constraints and bounds for consistency, or try "
                    "another starting point.")
        check = ("a phase-1 LP meets the linearized constraints with the bounds there, so "
                 "the problem need not be infeasible" if p1 is not None else
                 "the phase-1 LP on the linearized constraints did not finish")
        return (f"The active-set iteration did not settle: {reason}, with constraint violation "
                f"{s.viol:.3e}; {check}. Try another starting point, an exact hess, a larger "
                "mu0 or a larger maxiter.")

    def _result(self, s: _Point, nit: int, status: int, message: str) -> OptimizeResult:
        xp = self.xp
        success = status == STATUS_SUCCESS
        if success and s.viol > max(10 * self.tol, 1e-8):
            success, status = False, STATUS_FAILURE
            message = self._failure_message(
                s, "the KKT residual is below tol but the violation is not")
        if not success and status != STATUS_CALLBACK:
            warn_not_converged("sketched-alm: " + message, stacklevel=7)
        cons = self.cons
        w = cons.raw_multipliers(s.lam, s.mu) if cons.parts else xp.zeros(0)
        v = cons.split(w) if cons.parts else []
        values = cons.split(cons.raw_values(s.c, s.gin)) if cons.parts else []
        gLc = s.g0 + s.Jc.T @ s.lam + s.Jg.T @ s.mu
        lag = gLc.copy()
        if self.has_bounds:
            # bound multipliers (trust-constr's last v): minus grad_x L where a bound holds
            # it, i.e. where the projection clips x - grad_x L (x may lie within the KKT
            # residual of the bound there, not on it)
            at_bound = s.clip
            vb = xp.where(at_bound, -gLc, 0.0)
            v = list(v) + [vb]
            lag = gLc + vb
        res = OptimizeResult(
            x=s.x, fun=s.f, jac=s.g0, v=v, lam=s.lam, mu=s.mu, constr=values,
            lagrangian_grad=lag, constr_violation=s.viol, optimality=s.kkt,
            active=to_numpy(self._active(s)), nit=nit, nfev=self.obj.nfev, njev=self.obj.njev,
            nhev=self.nhev, constr_nfev=cons.nfev, constr_njev=cons.njev,
            constr_nhev=cons.nhev, n_sketch_iter=self.n_sketch, mu_penalty=self.mu,
            nu=self.nu, status=status, success=success, message=message,
            method="sketched-alm")
        self.printer.final(res)
        return res


def _minimize_active_set(
    fun: Callable,
    x0: Any,
    *,
    args: tuple,
    jac: Any,
    hess: Any,
    hessp: Callable | None,
    bounds: Any,
    constraints: Any,
    callback: Callable | None,
    tol: float,
    maxiter: int,
    sketch: str,
    block_size: int | None,
    rng: Any,
    accel: int,
    row_sampling: str,
    mu0: float,
    nu0: float,
    delta0: float,
    theta: float,
    beta: float,
    rho: float,
    lam0: Any,
    max_sketch_iter: int | None,
    max_penalty_updates: int,
    max_linesearch: int,
    finite_diff_rel_step: float | None,
    disp: bool,
    **unknown_options: Any,
) -> OptimizeResult:
    """Inequalities and bounds in 'sketched-alm': active-set SQP on an exact augmented Lagrangian.

    Reached through ``soptim.minimize(..., method='sketched-alm')`` whenever
    ``bounds`` or an inequality constraint is given (its only caller, which
    passes every option: their defaults are stated once, there); the options are those of
    the equality path (``tol``, ``maxiter``, ``sketch``, ``block_size``,
    ``rng``, ``accel``, ``row_sampling``, ``mu0``, ``nu0``, ``delta0``,
    ``theta``, ``beta``, ``rho``, ``lam0`` (equality rows only),
    ``max_sketch_iter``, ``max_penalty_updates``, ``max_linesearch``,
    ``finite_diff_rel_step``, ``disp``).

    Parameters
    ----------
    fun, x0, args, jac, hess, hessp, callback :
        As for the equality path (:func:`_minimize_sketched_alm`).
    bounds : Bounds or sequence of (lo, hi) pairs, optional
        ``None`` or ``+-inf`` for a missing side. ``x0`` is projected into the box
        and every iterate stays in it.
    constraints : dict, NonlinearConstraint, LinearConstraint or a list of them
        Any mix of equalities and inequalities: ``{'type': 'eq' | 'ineq'}``
        dicts (``'ineq'`` means ``fun(x) >= 0``), ``NonlinearConstraint`` and
        ``LinearConstraint`` with any ``lb <= ub`` (infinite sides allowed,
        ``lb == ub`` rows are equalities).
    tol : float
        Stop when the KKT residual ``||(x - P(x - grad_x L), c, min(-g, mu))||_2
        <= tol`` (P the projection on the box; default 1e-8).

    Returns
    -------
    OptimizeResult
        ``x``, ``fun``, ``jac``; ``v``: one multiplier array per constraint with
        trust-constr's convention (``grad f + sum_i J_i^T v_i = 0``, ``v`` of a
        row is ``mu_upper - mu_lower``; an ``'ineq'`` dict's ``v <= 0``), plus a
        last array for the bounds when bounds are given, as trust-constr does;
        ``lagrangian_grad`` (that sum); ``constr`` (the constraint functions'
        values); ``constr_violation`` (max of ``|c|`` and ``g_+``; the bounds hold
        exactly); ``optimality`` (the KKT residual); ``lam``/``mu`` (equality and
        inequality multipliers of the split rows), ``active`` (the identified
        active inequality rows), ``nit``, evaluation counts, ``n_sketch_iter``,
        ``status`` (0 converged, 1 maxiter, 2 failure: infeasible or line search,
        99 callback), ``success``, ``message``. An infeasible
        problem ends with ``success=False``, a message saying so and an
        ``OptimizeWarning``.

    Notes
    -----
    What follows the paper [1]_: the active set is identified by the sign
    pattern of the augmented Lagrangian's ``w = max(g, -mu / mu_p)``; the step
    is the Newton step of the KKT conditions on that set (inactive multipliers
    to zero), so no quadratic program is solved; the merit is a differentiable
    exact augmented Lagrangian, ``f + lam^T c + mu_p/2 ||c||^2 + sum psi(g_i,
    mu_i) + nu/2 ||grad_x L||^2``-type, minimized jointly in ``(x, lam, mu)``,
    with the penalties ``mu_p`` raised and ``nu`` lowered until the step is a
    descent direction, and Armijo backtracking. The Newton systems are solved
    exactly (LDL^T, with the inertia test and shift of the equality path; without
    host LAPACK, e.g. on the GPU, the equivalent Cholesky test of the reduced
    Hessian with the same shift rule, see ``_PortableDenseKKT``) for
    small problems with the default sketch, and by the equality path's sketch
    solvers otherwise (``sketch``, ``block_size``, to the adaptive accuracy of
    the equality path).

    What is added, and why: (i) the paper's stationarity term ``||grad_x L||``
    is replaced by the projected gradient ``x - P(x - grad_x L)`` and bounds
    are an active set on x (fixed variables leave the Newton system) with
    projected trial points, so that bounds never become rows; (ii) a
    complementarity term ``nu/2 ||g mu||^2`` in the merit (Di Pillo & Grippo's
    exact augmented Lagrangians have one) drives the multipliers of inactive
    constraints to zero; the paper's scaling ``q_nu(x, mu)`` of the inequality
    penalty, which bounds its level sets in theory, is left out (constant 1);
    (iii) when no penalty update makes the Newton step a descent direction
    (far from a solution, or a bad active-set guess), the step is the merit's
    projected steepest descent instead, so every iteration decreases the
    merit; (iv) infeasibility: when x is a stationary point of the violation
    ``1/2 (||c||^2 + ||g_+||^2)`` on the box for three iterations while the
    constraints are violated, when the penalty on the violation exceeds 1e10,
    or when the line search fails with the constraints violated, the run stops
    with ``success=False``; it says that the constraints appear infeasible only
    when a phase-1 LP (HiGHS) finds the linearized constraints inconsistent with
    the box at the final point (``_failure_message``), and otherwise that the
    active-set iteration did not settle, with what to try;
    (v) the bounds' fixed set is shrunk while it makes the linearized active
    constraints inconsistent (see ``_fixed_set``); (vi) large problems with
    the default sketch take exact sparse solves of the KKT system on the free
    variables; a requested sketch that does not reach the step's accuracy
    within its default budget switches the run to exact solves with an
    ``OptimizeWarning`` (as the equality path does), since random-block
    sketches of these KKT matrices converge slowly; (vii) the identification
    is repeated on the step's linearized outcome until the identified set
    repeats (``_refined_newton``, a primal-dual active-set iteration on the
    quadratic model): the single identification of the paper cycles between
    sets on problems with many inequalities (random QPs with 12 inequalities
    in 8 variables), with it such QPs are solved in one iteration. The bounds'
    fixed set is refined in the same rounds (a free variable the step takes past
    a bound is fixed, a fixed one whose model multiplier has the wrong sign is
    freed); since the full exchange can cycle with tight boxes, after a repeat
    one condition is exchanged per round, and the step whose outcome violates the
    model's sign conditions least is kept (random convex QPs with boxes of width
    0.3 to 3 around a feasible point: 143 of 144 seeds solved, were about 50
    failing with a false 'infeasible'); (viii) when those rounds do not settle
    within ``EXACT_QP_ROUNDS`` (6) exchanges, or cycle, the step is that of the QP
    subproblem solved exactly by Goldfarb & Idnani's dual active-set method
    (``_dense_qp``; B shifted to positive definite where it is not), for dense
    problems of up to 500 variables, so the step's active sets are exact (the
    144 seeds all solve, in one iteration; the HS set takes the same steps).
    The stochastic (sampled-gradient) setting of the paper is not covered.

    References
    ----------
    .. [1] S. Na, M. Anitescu, M. Kolar. "Inequality constrained stochastic
       nonlinear optimization via active-set sequential quadratic programming."
       Mathematical Programming 202, 2023. arXiv:2109.11502.
    """
    check_unknown_options(unknown_options, "sketched-alm")
    opts = _check_options(tol=tol, maxiter=maxiter, sketch=sketch, block_size=block_size,
                          mu0=mu0, nu0=nu0, delta0=delta0, theta=theta, beta=beta, rho=rho,
                          max_sketch_iter=max_sketch_iter,
                          max_penalty_updates=max_penalty_updates,
                          max_linesearch=max_linesearch)
    check_choice("sketch", sketch, SKETCHES)
    if not (hess is None or callable(hess) or hess in ("2-point", "3-point", "cs")):
        raise TypeError("hess must be a callable, None or '2-point'/'3-point'/'cs' (finite "
                        f"differences) for method 'sketched-alm', got {type(hess).__name__}")
    if hessp is not None and not callable(hessp):
        raise TypeError(f"hessp must be callable, got {type(hessp).__name__}")
    solver = _ActiveSetALM(fun, x0, args=args, jac=jac, hess=hess if callable(hess) else None,
                           hessp=hessp, bounds=bounds, constraints=constraints,
                           callback=callback, rng=rng, lam0=lam0, accel=accel,
                           row_sampling=row_sampling, finite_diff_rel_step=finite_diff_rel_step,
                           disp=disp, **opts)
    return solver.solve()
