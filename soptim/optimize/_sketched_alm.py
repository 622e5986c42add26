"""``method='sketched-alm'``: exact augmented Lagrangian Newton with randomized sketching.

For ``min f(x) s.t. c(x) = 0`` (Hong, Na, Mahoney & Kolar, ICML 2023): each
iteration solves the Newton (KKT) system

    [[B, G^T], [G, 0]] [dx; dlam] = -[grad_x L; c]        (B = Hessian of L = f + lam^T c)

*inexactly* by sketch-and-project (:class:`soptim.linalg._sketch.SketchProjector`),
to the adaptive accuracy ``||K z + r|| <= delta * min(theta, ||r||) * ||r||``,
and accepts the direction when it is a descent direction of the exact
augmented Lagrangian merit

    L_{mu,nu}(x, lam) = f + lam^T c + mu/2 ||c||^2 + nu/2 ||grad_x L||^2

with ``grad L_{mu,nu}^T dz <= -(nu/2) ||r||^2``; otherwise the penalties move
(``mu <- rho^2 mu``, ``nu <- nu/rho``, ``delta <- delta/rho``) and the sketch
continues from where it stopped. The step length comes from Armijo
backtracking on the merit, for x and lam together. The forcing term
``min(theta, ||r||)`` makes the local convergence quadratic.

B is shifted by a multiple of the identity when the reduced Hessian
``Z^T B Z`` (Z a null-space basis of G) is not positive definite: tested
exactly on dense KKT systems (``n + m <= 500``, or a dense Hessian with
``n + m <= 3000``) by the inertia of one LDL^T factorization, detected by
negative curvature along the computed step for large sparse ones.

Added to the paper's method (issue 14), on dense KKT systems with the default
block sketch: the sketch is one block, the whole system, so its projection is
the exact Newton step, taken from the LDL^T factorization (no SVD); dependent
constraint rows are set aside by one pivoted QR of ``J^T``; the line search is
non-monotone (the largest merit of the last four iterates) with a
second-order correction from the same factorization, against the Maratos
effect; a failed descent test moves only the penalty that helps. On large sparse
KKT systems (host arrays, ``n + m <= 200000``) the default block sketch is
likewise replaced by the exact Newton step from one sparse factorization (the
Schur complement ``J D^-1 J^T`` when B is diagonal and positive, else an LU of
the KKT matrix), reused while B and J repeat, so a QP with linear constraints
takes one iteration; the two-block sketch remains for larger systems, for
singular factorizations and on the GPU.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import HessianUpdateStrategy, OptimizeResult, OptimizeWarning

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
from .._numdiff import approx_hessp
from .._validation import (
    as_float_array,
    as_generator,
    check_choice,
    check_count,
    check_interval,
    check_positive,
)
from ..backend import Backend, get_backend, to_numpy
from ..linalg._sketch import FULL_BLOCK_LIMIT, SKETCHES, SketchProjector
from ._common import ObjectiveFunction
from ._curvature import is_linear_operator, is_sparse
from ._eq_constraints import EqualityConstraints

__all__ = ["_minimize_sketched_alm"]

#: Up to this many variables, Hessians given as products are assembled (n products).
DENSE_HESSIAN_N = 2000
#: Up to this n + m, the KKT matrix is dense (its reduced Hessian checked exactly).
DENSE_KKT_SIZE = 500
#: Accepted iterates whose merit the non-monotone line search may compare with.
NONMONOTONE_MEMORY = 4
#: Up to this n + m, a dense Hessian keeps the KKT matrix dense (one LDL^T an iteration).
DENSE_DIRECT_SIZE = 3000
#: Up to this n + m, sparse KKT systems of the default block sketch are solved exactly by
#: one sparse factorization (a 2D grid of N = 256: 196608); larger ones are sketched.
SPARSE_DIRECT_SIZE = 200_000


class _State:
    """f, grad f, c, J and grad_x L at one primal-dual point."""

    __slots__ = ("x", "lam", "f", "g", "c", "J", "gL", "kkt")

    def __init__(self, x, lam, f, g, c, J, gL, kkt):
        self.x, self.lam, self.f, self.g, self.c, self.J, self.gL, self.kkt = (
            x, lam, f, g, c, J, gL, kkt)


def _merit(s: _State, mu: float, nu: float, xp) -> float:
    """The exact augmented Lagrangian L_{mu,nu}(x, lam)."""
    return float(s.f + s.lam @ s.c + 0.5 * mu * (s.c @ s.c) + 0.5 * nu * (s.gL @ s.gL))


def _as_matvec(B) -> Callable:
    return B.matvec if is_linear_operator(B) else (lambda p: B @ p)


def _assemble(terms: list, n: int, be: Backend) -> Any:
    """Sum Hessian terms (matrices or products p -> H p) into a dense, sparse or operator B."""
    xp = be.xp
    mats = [t for t in terms if not callable(t)]
    prods = [t for t in terms if callable(t)]
    if prods and n <= DENSE_HESSIAN_N:
        eye = xp.eye(n)
        for hvp in prods:
            H = xp.stack([xp.asarray(hvp(eye[:, j])) for j in range(n)], axis=1)
            mats.append(0.5 * (H + H.T))  # finite differences are not exactly symmetric
        prods = []
    if prods:
        mats_ = list(mats)

        def matvec(p):
            p = xp.asarray(p).reshape(-1)
            out = xp.zeros(n)
            for Hm in mats_:
                out = out + Hm @ p
            for hvp in prods:
                out = out + xp.asarray(hvp(p))
            return out

        return be.linear_operator((n, n), matvec, rmatvec=matvec, dtype=np.float64)
    if any(is_sparse(Hm) for Hm in mats):
        sp = be.scipy.sparse  # on the backend of x: no host round trip
        return sum((sp.csr_matrix(Hm) for Hm in mats), sp.csr_matrix((n, n))).tocsr()
    out = xp.zeros((n, n))
    for Hm in mats:
        out = out + Hm
    return out


def _kkt_matrix(B, J, shift: float, be: Backend, dense: bool) -> Any:
    """K = [[B + shift I, J^T], [J, 0]] as a dense, sparse or operator matrix."""
    xp = be.xp
    n, m = J.shape[1], J.shape[0]
    if is_linear_operator(B):
        Jm = J

        def matvec(v):
            v = xp.asarray(v).reshape(-1)
            p, q = v[:n], v[n:]
            return xp.concatenate([B.matvec(p) + shift * p + Jm.T @ q, Jm @ p])

        def matmat(V):
            # blocks of rows for the sketch (K is symmetric): one product with B per
            # block instead of one matvec per column
            P, Q = V[:n], V[n:]
            return xp.concatenate([B.matmat(P) + shift * P + Jm.T @ Q, Jm @ P], axis=0)

        return be.linear_operator((n + m, n + m), matvec, rmatvec=matvec, matmat=matmat,
                                  rmatmat=matmat, dtype=np.float64)
    if dense:
        Bd = B.toarray() if is_sparse(B) else B
        Jd = J.toarray() if is_sparse(J) else J
        top = xp.concatenate([Bd + shift * xp.eye(n), Jd.T], axis=1)
        return xp.concatenate([top, xp.concatenate([Jd, xp.zeros((m, m))], axis=1)], axis=0)
    sp = be.scipy.sparse  # the blocks stay on the backend of x
    Bs = B if is_sparse(B) else sp.csr_matrix(B)
    Js = J if is_sparse(J) else sp.csr_matrix(J)
    if shift:
        Bs = Bs + shift * sp.identity(n, dtype=Bs.dtype, format="csr")
    return sp.bmat([[Bs, Js.T], [Js, None]], format="csr")


def _same_matrix(A, B) -> bool:
    """Exact equality of two dense or sparse matrices (False for operators)."""
    if is_linear_operator(A) or is_linear_operator(B):
        return False
    if A is B:
        return True
    if A.shape != B.shape or is_sparse(A) != is_sparse(B):
        return False
    if is_sparse(A):
        return (A != B).nnz == 0
    return bool(to_numpy((A == B).all()))


def _null_space_check(B, J, c, xp) -> tuple[int, float, Any]:
    """Rank of J, the smallest eigenvalue of the reduced Hessian Z^T B Z, and the part of c
    in the range of J (dense; by SVD and eigvalsh).

    The generic path, used only where no host LAPACK is available (the GPU backend):
    on the host :class:`_DenseKKT` gets the same answers from one pivoted QR of ``J^T``
    and the inertia of an LDL^T factorization, without n-sized eigendecompositions.
    """
    Jd = J.toarray() if is_sparse(J) else J
    Bd = B.toarray() if is_sparse(B) else B
    U, s, Vt = xp.linalg.svd(Jd, full_matrices=True)
    rank = _numerical_rank(s)
    Ur = U[:, :rank]
    c_range = Ur @ (Ur.T @ c)
    Z = Vt[rank:].T
    if Z.shape[1] == 0:
        return rank, math.inf, c_range
    Hr = Z.T @ Bd @ Z
    return rank, float(xp.linalg.eigvalsh(0.5 * (Hr + Hr.T))[0]), c_range


def _ldl_inertia(ldu, ipiv, tol: float) -> tuple[int, int, int]:
    """(positive, negative, zero) eigenvalue counts of ``D`` in LAPACK's ``sytrf`` (lower).

    By Sylvester's law of inertia they are those of the factored matrix. ``D`` has
    1 x 1 blocks (``ipiv[k] > 0``) and 2 x 2 blocks (``ipiv[k] = ipiv[k+1] < 0``);
    pivots below ``tol`` in magnitude count as zero.
    """
    N = ldu.shape[0]
    dg = np.diag(ldu)
    sub = np.r_[np.diag(ldu, -1), 0.0]
    pos = neg = zero = 0
    k = 0
    while k < N:
        if ipiv[k] > 0 or k == N - 1:
            d = dg[k]
            if abs(d) <= tol:
                zero += 1
            elif d > 0:
                pos += 1
            else:
                neg += 1
            k += 1
            continue
        a, b, cc = dg[k], sub[k], dg[k + 1]
        half_tr, det = 0.5 * (a + cc), a * cc - b * b
        disc = math.sqrt(max(half_tr * half_tr - det, 0.0))
        for ev in (half_tr + disc, half_tr - disc):
            if abs(ev) <= tol:
                zero += 1
            elif ev > 0:
                pos += 1
            else:
                neg += 1
        k += 2
    return pos, neg, zero


class _DenseKKT:
    """Rank, range and curvature tests of a dense KKT system from two host factorizations.

    Replaces the SVD of J and the eigendecomposition of ``Z^T B Z`` (n-sized, every
    iteration): one column-pivoted QR of ``J^T`` (n x m) gives the numerical rank of J,
    a set of independent constraint rows and the part of c in the range of J; one
    Bunch–Kaufman LDL^T (``sytrf``) of the KKT matrix restricted to those rows gives
    its inertia, which is ``(n, r, 0)`` exactly when the reduced Hessian is positive
    definite (Gould 1985), and is reused for the exact Newton step (``sytrs``). The
    shift of B when the inertia is wrong follows IPOPT's rule (Wächter & Biegler 2006,
    Sec. 3.1): try 0, then ``max(1e-4 scale, last / 3)``, multiplied by 8 (100 the first
    time) until the inertia is right. Added here, for exact Newton steps
    (``skip_unshifted``): the try of 0 is skipped while the last shift was at least
    ``1e-2 scale``, and one geometric bisection of the bracket, whose upper end is
    taken; other callers (sketched steps, the active-set method) keep two bisections
    and a doubling of the shift, the reflection of the most negative curvature. The
    reduced Hessian's eigenvalues themselves are never formed. The constraint rows are
    scaled to the size of B so that the inertia count does not depend on the units of c.
    """

    def __init__(self, be: Backend):
        self.be = be
        self.last_shift = 0.0
        self.rank = None
        self.row_scale = 1.0
        self.skip_unshifted = False

    def available(self, B) -> bool:
        return self.be.lapack("sytrf", B) is not None

    def analyze(self, B, J, c, scale: float):
        """Return ``(rows, c_range, shift, factor)`` for the Hessian B and Jacobian J."""
        Bd = B.toarray() if is_sparse(B) else B
        Jd = J.toarray() if is_sparse(J) else J
        n, m = Bd.shape[0], Jd.shape[0]
        R, piv = self.be.scipy.linalg.qr(Jd.T, mode="r", pivoting=True)
        d = np.abs(np.diag(R)) if R.size else np.zeros(0)
        dmax = float(d[0]) if d.size else 0.0
        r = int((d > 1e-10 * max(1.0, dmax)).sum())
        self.rank = r
        rows = np.sort(piv[:r])
        c_range = c
        if r < m:
            # the part of c the linearized constraints can remove: its least-squares fit
            # in the span of the columns of J, through the r independent rows' directions
            T = Jd @ Jd[rows].T  # m x r, range(T) = range(J)
            Qt, _ = np.linalg.qr(T)
            c_range = Qt @ (Qt.T @ c)
        # the constraint rows are scaled to the size of B (a congruence S K S with
        # S = diag(I, s I): same inertia, and K z = b becomes (S K S) (z / S) = S b): their
        # Schur pivots ~ -s^2 ||J||^2 / (||B|| + shift) are then ~ ||B|| for shifts near
        # ||B||, not ~ ||J||^2 / ||B||, which fall below the zero tolerance when B is large
        # (Elec n_e = 200 from a start with a near collision: ||B|| ~ 1e10, every shift
        # failed the inertia test and the shift ran to 1e126)
        Jr = Jd[rows]
        jmax = float(np.abs(Jr).max()) if Jr.size else 0.0
        srow = max(scale, 1.0) / jmax if jmax > 0.0 else 1.0
        self.row_scale = srow
        K = np.zeros((n + r, n + r))
        K[n:, :n] = srow * Jr
        K[:n, n:] = srow * Jr.T
        sytrf = self.be.lapack("sytrf", K)
        # the optimal workspace: scipy's default (n) makes sytrf unblocked, ~3x slower at n ~ 800
        lwork = int(self.be.lapack("sytrf_lwork", K)(n + r, lower=1)[0])
        # pivots at the rounding level of B count as zero (a singular reduced Hessian); the
        # constraint rows are independent, so their (scaled) Schur pivots are genuinely
        # nonzero, and a larger tolerance would miscount them for large shifts
        tol = 10 * np.finfo(np.float64).eps * max(scale, 1.0)

        def factor(shift):
            K[:n, :n] = Bd
            if shift:
                K[np.arange(n), np.arange(n)] += shift
            ldu, ipiv, info = sytrf(K, lower=1, lwork=max(lwork, 1))
            ok = info >= 0 and _ldl_inertia(ldu, ipiv, tol) == (n, r, 0)
            return ok, (ldu, ipiv, n, srow)

        # exact Newton steps (skip_unshifted): a shift was needed last time and was not
        # small against B, so a try without one (a factorization each iteration, IPOPT's
        # first trial) is skipped; it rarely passes there (Elec n_e = 200: 216
        # factorizations in 66 iterations before, 160 now). Sketched steps keep the try:
        # a shifted system that the sketch solves inexactly stalls (HS27, Kaczmarz)
        if not self.skip_unshifted or self.last_shift < 1e-2 * scale:
            ok, fac = factor(0.0)
            if ok:
                self.last_shift = 0.0
                return rows, c_range, 0.0, fac
        lo = 0.0
        hi = max(1e-4 * scale, self.last_shift / 3.0)
        for _ in range(60):
            ok, fac = factor(hi)
            if ok:
                break
            lo, hi = hi, hi * (8.0 if self.last_shift else 100.0)
        if lo > 0.0:
            # the reduced Hessian is indefinite: for exact steps one geometric bisection
            # brackets the least shift that makes it positive definite within a factor
            # ~2.8 (10 the first time); the upper end is taken. Measured (factorizations,
            # iterations): Elec n_e = 150 (97, 46) against (163, 60) with two bisections
            # and (155, 47) with two and a doubling of the shift (the reflection of the
            # most negative curvature); the ellipsoid QP n = 50 in 13, 10 and 24
            # iterations. Sketched
            # (inexact) steps keep two bisections: HS61 with Kaczmarz fails with one
            for _ in range(1 if self.skip_unshifted else 2):
                mid = math.sqrt(lo * hi)
                ok, fac_mid = factor(mid)
                if ok:
                    hi, fac = mid, fac_mid
                else:
                    lo = mid
            if not self.skip_unshifted:
                # other callers (sketched steps, the active-set method) keep the doubling
                # of the bracketed shift (the reflection of the most negative curvature)
                hi *= 2.0
                ok, fac = factor(hi)
        self.last_shift = hi
        return rows, c_range, hi, fac

    def solve(self, factor, rhs):
        """Solve ``K z = rhs`` for the unscaled KKT matrix from its scaled factorization."""
        ldu, ipiv, n, srow = factor
        sytrs = self.be.lapack("sytrs", ldu)
        b = np.array(rhs, dtype=np.float64)
        b[n:] *= srow
        x, info = sytrs(ldu, ipiv, b, lower=1)
        x[n:] *= srow
        return x


def _exactly_singular(G, be: Backend) -> bool:
    """Whether the backend's sparse LU finds the square sparse ``G`` exactly singular.

    scipy's ``spsolve`` then warns (``MatrixRankWarning``) and returns NaNs.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = be.spsolve(G, be.xp.ones(G.shape[0], dtype=G.dtype))
    return not be.all_finite(y)


def _numerical_rank(s) -> int:
    smax = float(s[0]) if s.size else 0.0
    return int((s > 1e-10 * max(1.0, smax)).sum())


def _jacobian_rank(J, xp) -> int:
    Jd = J.toarray() if is_sparse(J) else J
    return _numerical_rank(xp.linalg.svd(Jd, compute_uv=False))


def _minimize_sketched_alm(
    fun: Callable,
    x0: Any,
    *,
    args: tuple = (),
    jac: Any = None,
    hess: Any = None,
    hessp: Callable | None = None,
    bounds: Any = None,
    constraints: Any = (),
    callback: Callable | None = None,
    tol: float = 1e-8,
    maxiter: int = 200,
    sketch: str = "block",
    block_size: int | None = None,
    rng: Any = None,
    accel: int = 8,
    row_sampling: str = "norm",
    mu0: float = 1.0,
    nu0: float = 0.1,
    delta0: float = 0.1,
    theta: float = 1.0,
    beta: float = 0.1,
    rho: float = 1.5,
    lam0: Any = None,
    max_sketch_iter: int | None = None,
    max_penalty_updates: int = 60,
    max_linesearch: int = 40,
    finite_diff_rel_step: float | None = None,
    disp: bool = False,
    **unknown_options: Any,
) -> OptimizeResult:
    """Constrained minimization by exact augmented Lagrangian Newton with sketching.

    ``soptim.minimize(fun, x0, method='sketched-alm', constraints=...)`` solves
    ``min f(x) s.t. c(x) = 0`` (Hong et al. 2023, "AdaSketch-Newton"). Every
    Newton (KKT) system is solved inexactly by randomized sketch-and-project,
    to an accuracy that tightens as the iterates converge; a step is taken
    when it is a descent direction of the exact augmented Lagrangian, with
    Armijo backtracking on that merit.

    Parameters
    ----------
    fun, x0, args, jac, callback :
        As in :func:`soptim.minimize`. ``jac=None`` uses central differences.
    hess : callable, optional
        ``hess(x, *args)`` returning a dense, sparse or ``LinearOperator``
        Hessian of f. Without ``hess`` and ``hessp``: central differences of
        the gradient. Hessians known only through products (``hessp``, a
        ``LinearOperator``, finite differences) are assembled from ``n``
        products when ``n <= 2000``; above that the KKT matrix is an operator
        and the default sketch takes random blocks of 256 rows through products
        with it, which is slow on ill-conditioned problems: give a sparse
        ``hess`` for large problems.
    hessp : callable, optional
        ``hessp(x, p, *args)``, the product of the Hessian of f with ``p``.
    bounds : Bounds or sequence of (min, max) pairs, optional
        Bounds on x (``None`` for an infinite side). With bounds or any
        inequality the problem goes to the active-set method (same options:
        Na, Anitescu and Kolar's active-set SQP on an exact augmented
        Lagrangian, bounds kept as an active set on x).
    constraints : dict, NonlinearConstraint, LinearConstraint or a list of them
        Constraints in any scipy form: ``{'type': 'eq' | 'ineq', 'fun', 'jac',
        'args'}``, ``NonlinearConstraint(fun, lb, ub, jac, hess)`` and
        ``LinearConstraint(A, lb, ub)``; rows with ``lb == ub`` are equalities,
        the others inequalities (infinite sides allowed). A constraint's
        ``hess(x, v)`` is used when given, otherwise the Hessian of ``v^T c`` is
        approximated by central differences of ``J(x)^T v``; missing Jacobians
        by central differences of ``c``.
    tol : float
        Stop when the KKT residual ``||(grad_x L, c)||_2 <= tol`` (default 1e-8;
        the ``tol`` argument of ``minimize``).
    maxiter : int
        Maximum number of (outer) Newton iterations (default 200).
    sketch : {'block', 'kaczmarz', 'gaussian', 'countsketch'}
        The sketch of the KKT system (see :func:`soptim.linalg.sketch_solve`).
        How the default ``'block'`` without ``block_size`` is chosen: when
        ``n + m <= 500`` one block holds the whole KKT system, so the sketch
        step is an exact (min-norm) Newton step; dense Hessians with
        ``n + m <= 3000`` and, on host arrays, sparse ones with
        ``n + m <= 200000`` also get exact Newton steps (an LDL^T, a sparse
        factorization); beyond that (or when the sparse factorization finds
        the KKT matrix singular, or on the GPU) the rows
        are paved into two fixed blocks, the ``n`` stationarity rows
        ``[B, G^T]`` and the ``m`` constraint rows ``[G, 0]``, each projected
        with a sparse factorization of its Gram matrix (computed once per
        change of B or G) -- a randomized block Kaczmarz whose rate does not
        depend on the mesh size on the PDE-constrained control problem. Give
        ``block_size`` for random row blocks of that size instead.
    block_size : int, optional
        Sketch dimension (rows per block; columns of a Gaussian or CountSketch
        sketch).
    rng : None, int or numpy.random.Generator
        Randomness of the sketches; the same seed gives the same iterates.
    row_sampling : {'norm', 'uniform'}
        Kaczmarz row distribution: proportional to squared row norms (default)
        or uniform.
    accel : int
        Window of the minimal-residual (Anderson) extrapolation of the sketch
        sweeps (default 8; 0 gives plain sketch-and-project). It recovers the
        near-null directions of ill-conditioned KKT matrices (degenerate
        minimizers such as HS26) that single-row sketches resolve slowly.
    mu0, nu0, delta0, theta, beta, rho : float
        Initial penalties ``mu`` (constraint) and ``nu`` (stationarity), initial
        accuracy ``delta``, cap ``theta`` of the forcing term, Armijo constant
        ``beta`` and penalty factor ``rho`` (defaults 1, 0.1, 0.1, 1, 0.1, 1.5,
        those of the authors' code).
    lam0 : array_like, shape (m,), optional
        Initial multipliers (default: least-squares multipliers at x0 for
        small problems, zeros for large ones).
    max_sketch_iter : int, optional
        Sketch steps allowed per Newton iteration. Without it, single-row
        sketches ('kaczmarz', Gaussian vectors) get ``max(20000, 200 (n + m))``
        and others ``2000`` sweeps; when that default budget is spent on a dense
        KKT system the run switches to exact Newton steps (the block sketch)
        with an ``OptimizeWarning`` instead of sketching on for minutes. A given
        ``max_sketch_iter`` is kept: the run then fails with advice.
    max_penalty_updates : int
        Penalty updates allowed per iteration before giving up (default 60).
    max_linesearch : int
        Backtracking steps per iteration (default 40).
    finite_diff_rel_step : float, optional
        Relative step of the finite differences.
    disp : bool
        Print an iteration table.

    Returns
    -------
    OptimizeResult
        ``x``, ``fun``, ``jac`` (gradient of f), ``v`` (multipliers, one array
        per constraint, with trust-constr's sign: ``grad f + sum J_i^T v_i =
        0``), ``constr`` (constraint values), ``constr_violation`` (max
        ``|c|``), ``optimality`` (the KKT residual), ``nit``, ``nfev``,
        ``njev``, ``nhev``, ``constr_nfev``, ``constr_njev``,
        ``constr_nhev``, ``n_sketch_iter`` (sketch steps in all), ``mu`` and
        ``nu`` (final penalties), ``status`` (0 converged, 1 ``maxiter``, 2
        failure -- including linearly dependent constraints at the solution
        (LICQ) --, 3 non-finite values, 99 callback), ``success``, ``message``.

    Raises
    ------
    ValueError
        No constraints and no bounds, empty boxes, constraint values or
        Jacobians with wrong shapes or NaN/inf at x0, ``fun`` not finite at x0, bad option values.
    TypeError
        Non-callable constraint functions, unknown constraint objects, a
        quasi-Newton ``hess`` strategy.

    References
    ----------
    .. [1] I. Hong, S. Na, M. W. Mahoney, M. Kolar. "Constrained Optimization via
       Exact Augmented Lagrangian and Randomized Iterative Sketching." ICML 2023.
       arXiv:2305.18379.
    .. [2] R. M. Gower, P. Richtárik. "Randomized Iterative Methods for Linear
       Systems." SIAM J. Matrix Anal. Appl. 36(4), 2015.

    Examples
    --------
    HS28: ``min (x1 + x2)^2 + (x2 + x3)^2  s.t.  x1 + 2 x2 + 3 x3 = 1``.

    >>> import numpy as np
    >>> import soptim
    >>> from scipy.optimize import LinearConstraint
    >>> f = lambda x: (x[0] + x[1])**2 + (x[1] + x[2])**2
    >>> con = LinearConstraint([[1.0, 2.0, 3.0]], 1.0, 1.0)
    >>> res = soptim.minimize(f, [-4.0, 1.0, 1.0], method='sketched-alm',
    ...                       constraints=con, options={'sketch': 'kaczmarz', 'rng': 0})
    >>> res.success, np.round(res.x, 6), res.optimality < 1e-8
    (True, array([ 0.5, -0.5,  0.5]), True)
    """
    check_unknown_options(unknown_options, "sketched-alm")
    from ._eq_constraints import has_inequalities
    if bounds is not None or has_inequalities(constraints):
        # inequalities or bounds: the active-set method of issue 15 (same options)
        from ._active_set import _minimize_active_set
        return _minimize_active_set(
            fun, x0, args=args, jac=jac, hess=hess, hessp=hessp, bounds=bounds,
            constraints=constraints, callback=callback, tol=tol, maxiter=maxiter,
            sketch=sketch, block_size=block_size, rng=rng, accel=accel,
            row_sampling=row_sampling, mu0=mu0, nu0=nu0, delta0=delta0, theta=theta,
            beta=beta, rho=rho, lam0=lam0, max_sketch_iter=max_sketch_iter,
            max_penalty_updates=max_penalty_updates, max_linesearch=max_linesearch,
            finite_diff_rel_step=finite_diff_rel_step, disp=disp)
    opts = _check_options(tol=tol, maxiter=maxiter, sketch=sketch, block_size=block_size,
                          mu0=mu0, nu0=nu0, delta0=delta0, theta=theta, beta=beta, rho=rho,
                          max_sketch_iter=max_sketch_iter,
                          max_penalty_updates=max_penalty_updates,
                          max_linesearch=max_linesearch)
    if isinstance(hess, HessianUpdateStrategy) or not (
            hess is None or callable(hess) or hess in ("2-point", "3-point", "cs")):
        raise TypeError("hess must be a callable, None or '2-point'/'3-point'/'cs' (finite "
                        f"differences) for method 'sketched-alm', got {type(hess).__name__}")
    if hessp is not None and not callable(hessp):
        raise TypeError(f"hessp must be callable, got {type(hessp).__name__}")
    solver = _SketchedALM(fun, x0, args=args, jac=jac, hess=hess if callable(hess) else None,
                          hessp=hessp, constraints=constraints, callback=callback, rng=rng,
                          lam0=lam0, finite_diff_rel_step=finite_diff_rel_step, disp=disp,
                          accel=accel, row_sampling=row_sampling, **opts)
    return solver.solve()


def _check_options(**o) -> dict:
    for name in ("tol", "mu0", "nu0", "delta0", "theta"):
        o[name] = check_positive(name, o[name])
    o["beta"] = check_interval("beta", o["beta"], 0.0, 1.0, closed="neither")
    o["rho"] = check_interval("rho", o["rho"], 1.0, np.inf, closed="neither")
    for name in ("maxiter", "max_penalty_updates", "max_linesearch", "max_sketch_iter",
                 "block_size"):
        if o[name] is None and name in ("max_sketch_iter", "block_size"):
            continue
        o[name] = check_count(name, o[name])
    check_choice("sketch", o["sketch"], SKETCHES)
    return o


class _SketchedALM:
    """The iteration of ``method='sketched-alm'`` (state kept between small steps)."""

    def __init__(self, fun, x0, *, args, jac, hess, hessp, constraints, callback, rng, lam0,
                 finite_diff_rel_step, disp, accel, row_sampling, tol, maxiter, sketch,
                 block_size, mu0, nu0, delta0, theta, beta, rho, max_sketch_iter,
                 max_penalty_updates, max_linesearch):
        self.be = get_backend(x0)
        self.xp = self.be.xp
        xp = self.xp
        self.x0 = x0.astype(np.float64) if x0.dtype != np.float64 else x0
        self.n = int(x0.shape[0])
        self.obj = ObjectiveFunction(fun, jac, args, finite_diff_rel_step)
        self.args = tuple(args)
        self.hess, self.hessp = hess, hessp
        self.nhev = 0
        self.rel_step = finite_diff_rel_step
        self.cons = EqualityConstraints(constraints, self.x0, finite_diff_rel_step)
        self.m = self.cons.m
        self.callback = CallbackRunner(callback)
        self.printer = IterationPrinter(["nit", "f", "kkt", "||c||", "mu", "nu", "alpha",
                                         "sketch it"], enabled=disp)
        self.rng = as_generator(rng)
        self.tol, self.maxiter = float(tol), int(maxiter)
        self.sketch, self.block_size = sketch, block_size
        self.accel = check_count("accel", accel, minimum=0)
        self.row_sampling = check_choice("row_sampling", row_sampling, ("norm", "uniform"))
        self.mu, self.nu, self.delta = float(mu0), float(nu0), float(delta0)
        self.theta, self.beta, self.rho = float(theta), float(beta), float(rho)
        self.max_penalty_updates = int(max_penalty_updates)
        self.max_linesearch = int(max_linesearch)
        size = self.n + self.m
        self.dense = size <= DENSE_KKT_SIZE
        self._dkkt = _DenseKKT(self.be)
        self._dkkt.skip_unshifted = sketch == "block" and block_size is None
        # the default block sketch on a dense KKT system is one block, the whole system: its
        # projection is the exact Newton step, taken from the LDL^T factorization directly
        self.direct = sketch == "block" and block_size is None
        self.user_budget = max_sketch_iter is not None
        if max_sketch_iter is None:
            if sketch == "kaczmarz" or (sketch == "gaussian" and block_size in (None, 1)):
                max_sketch_iter = max(20_000, 200 * size)
            else:
                max_sketch_iter = 2000 * max(1, -(-size // (block_size or FULL_BLOCK_LIMIT)))
        self.max_sketch_iter = int(max_sketch_iter)
        self.n_sketch = 0
        if lam0 is not None:
            self.lam0 = as_float_array("lam0", lam0, shape=(self.m,), xp=xp,
                                       dtype=np.float64)
        else:
            self.lam0 = None
        f0 = self.obj.value(self.x0)
        if not np.isfinite(f0):
            raise ValueError(f"fun is not finite at x0 (got {f0})")

    # -- evaluations -----------------------------------------------------------
    def _state(self, x, lam) -> _State | None:
        """Evaluate everything at (x, lam); None when something is not finite."""
        xp = self.xp
        f = self.obj.value(x)
        if not np.isfinite(f):
            return None
        g = self.obj.grad(x)
        c = self.cons.fun(x)
        J = self.cons.jac(x)
        jd = J.data if is_sparse(J) else J
        if not (bool(to_numpy(xp.isfinite(g).all())) and bool(to_numpy(xp.isfinite(c).all()))
                and bool(to_numpy(xp.isfinite(jd).all()))):
            return None
        gL = g + J.T @ lam
        kkt = math.sqrt(float(gL @ gL) + float(c @ c))
        return _State(x, lam, f, g, c, J, gL, kkt)

    def _initial_multipliers(self, x):
        xp = self.xp
        if self.lam0 is not None:
            return self.lam0.copy()
        if not self.dense and self.n + self.m > DENSE_DIRECT_SIZE:
            return xp.zeros(self.m)
        g = self.obj.grad(x)
        J = self.cons.jac(x)
        Jd = J.toarray() if is_sparse(J) else J
        lam = xp.linalg.lstsq(Jd.T, -g, rcond=None)[0]
        return lam if bool(to_numpy(xp.isfinite(lam).all())) else xp.zeros(self.m)

    def _objective_hessian_terms(self, x) -> list:
        xp = self.xp
        if self.hess is not None:
            self.nhev += 1
            H = self.hess(x, *self.args)
            if is_linear_operator(H):
                return [H.matvec]
            H = (self.be.to_device(H.tocsr()) if is_sparse(H)
                 else xp.asarray(H, dtype=np.float64))
            if H.shape != (self.n, self.n):
                raise ValueError(f"hess must return shape ({self.n}, {self.n}), got "
                                 f"{tuple(H.shape)}")
            return [H]
        if self.hessp is not None:
            def hvp(p):
                self.nhev += 1
                return xp.asarray(self.hessp(x, p, *self.args), dtype=np.float64).reshape(-1)
            return [hvp]
        def fd_hvp(p):  # central differences of the gradient (counted in nfev / njev)
            return approx_hessp(self.obj.grad, x, p, method="3-point", rel_step=self.rel_step)
        return [fd_hvp]

    def _lagrangian_hessian(self, s: _State):
        terms = self._objective_hessian_terms(s.x) + self.cons.hess_terms(s.x, s.lam)
        return _assemble(terms, self.n, self.be)

    # -- the Newton direction by sketching ----------------------------------------
    def _kkt_projector(self, B, J, shift: float):
        """The KKT matrix and its sketch projector, reused while B, J and the shift repeat.

        For quadratic objectives with linear constraints (the PDE-constrained
        problem) B and J never change, so the block factorizations of a row
        paving are computed once for the whole run.
        """
        last = getattr(self, "_last_kkt", None)
        if (last is not None and last[2] == shift and _same_matrix(last[0], B)
                and _same_matrix(last[1], J)):
            return last[3], last[4]
        K = _kkt_matrix(B, J, shift, self.be, self.dense)
        proj = self._projector(K)
        self._last_kkt = (B, J, shift, K, proj)
        return K, proj

    def _projector(self, K):
        blocks = None
        if (self.sketch == "block" and self.block_size is None
                and self.n + self.m > FULL_BLOCK_LIMIT and not is_linear_operator(K)):
            blocks = [np.arange(self.n), np.arange(self.n, self.n + self.m)]
        # with B known only through products (hessp, a LinearOperator, finite differences)
        # K is an operator: its rows come from products with K, so the default for large
        # problems is random blocks of 256 rows (SketchProjector's default)
        return SketchProjector(K, sketch=self.sketch, block_size=self.block_size,
                               blocks=blocks, rng=self.rng, accel=self.accel,
                               row_sampling=self.row_sampling)

    def _target(self, kkt: float) -> float:
        eta = self.delta * min(self.theta, kkt)
        return max(eta * kkt, 0.1 * self.tol, 1e-14 * kkt)

    def _direction(self, s: _State, B, HgL):
        """Sketch the KKT system until the step is a descent direction of the merit.

        Returns ``(dx, dlam, dmerit, message)``; ``dx`` is None on failure.
        """
        xp, n = self.xp, self.n
        r = xp.concatenate([s.gL, s.c])
        JTc = s.J.T @ s.c
        JgL = s.J @ s.gL
        shift = 0.0
        scale = 1.0
        dense = self._dense_kkt(B)
        if dense and self._dkkt.available(B):
            Bd = B.toarray() if is_sparse(B) else B
            scale = max(1.0, float(xp.abs(Bd).max()))
            rows, c_range, shift, factor = self._dkkt.analyze(B, s.J, s.c, scale)
            if rows.size < self.m:
                # dependent constraint gradients here: keep the Newton system consistent by
                # asking only for the part of c that J can change (a least-squares step)
                r = xp.concatenate([s.gL, c_range])
            if self.direct:
                return self._direct_direction(s, r, rows, factor, JTc, JgL, HgL)
        elif dense and not is_linear_operator(B):
            rank, lmin, c_range = _null_space_check(B, s.J, s.c, xp)
            if rank < self.m:
                r = xp.concatenate([s.gL, c_range])
            Bd = B.toarray() if is_sparse(B) else B
            scale = max(1.0, float(xp.abs(Bd).max()))
            if lmin <= 1e-8 * scale:
                # reflect the most negative reduced curvature (|lmin|, as modified Newton
                # methods do): a shift leaving it near zero gives huge steps that the line
                # search then cuts to tiny ones (HS7 needed 54 iterations, now 15)
                shift = -lmin + max(1e-4 * scale, abs(lmin))
        elif not is_linear_operator(B):
            diag = B.diagonal() if is_sparse(B) else xp.diag(B)
            scale = max(1.0, float(xp.abs(diag).max()) if diag.size else 1.0)
            if self.direct and self.be.on_host and self.n + self.m <= SPARSE_DIRECT_SIZE:
                out = self._sparse_direct_direction(s, B, r, JTc, JgL, HgL, scale)
                if out is not None:
                    return out
        K, proj = self._kkt_projector(B, s.J, shift)
        z, res = self._warm_start(K, r)
        target = self._target(s.kkt)
        budget = self.max_sketch_iter
        curvature_fixes = 0
        starved = 0
        for _ in range(self.max_penalty_updates + 1):
            z, res, steps, ok = proj.run(z, res, -r, target, budget)
            self.n_sketch += steps
            budget = max(budget - steps, 1)
            if not ok and budget <= 1:
                starved += 1
                if starved > 5:  # penalty updates alone will not make this direction usable
                    if (not self.user_budget and not self.direct and dense
                            and self._dkkt.available(B)):
                        # the default budget of a slow sketch is spent: rather than run
                        # on for minutes, switch to exact Newton steps (the block sketch)
                        warnings.warn(
                            f"sketched-alm: sketch={self.sketch!r} did not reach the accuracy "
                            f"the descent test needs within {self.max_sketch_iter} steps; "
                            "switching to sketch='block' (exact Newton steps) for the rest "
                            "of the run. Give max_sketch_iter to keep the sketch.",
                            OptimizeWarning, stacklevel=6)
                        self.direct = True
                        return self._direction(s, B, HgL)
                    return None, None, 0.0, (
                        f"The sketch solver did not reach the accuracy the descent test needs "
                        f"within max_sketch_iter = {self.max_sketch_iter} steps (KKT matrix "
                        "too ill-conditioned for this sketch): use sketch='block', a larger "
                        "block_size or max_sketch_iter.")
            dx, dlam = z[:n], z[n:]
            if not dense or is_linear_operator(B):
                # large problems: negative curvature along the step means the reduced
                # Hessian is not positive definite -> shift B and start the sketch again
                Bdx = _as_matvec(B)(dx)
                curv = float(dx @ Bdx) + shift * float(dx @ dx)
                if curv < -1e-12 * scale * float(dx @ dx) and curvature_fixes < 30:
                    curvature_fixes += 1
                    shift = max(2 * shift, 1e-4 * scale)
                    K, proj = self._kkt_projector(B, s.J, shift)
                    z = xp.zeros(n + self.m)
                    res = r.copy()
                    budget = self.max_sketch_iter
                    continue
            self._z_prev = z.copy()
            if not bool(to_numpy(xp.isfinite(z).all())):
                return None, None, 0.0, "The sketched Newton direction is not finite."
            b = float(JTc @ dx)
            d = float(HgL @ dx) + float(JgL @ dlam)
            a = float(s.gL @ dx) + float(s.c @ dlam)
            dmerit = a + self.mu * b + self.nu * d
            if dmerit <= -0.5 * self.nu * s.kkt ** 2:
                return dx, dlam, dmerit, ""
            # not a descent direction (yet): stronger penalties, a more accurate sketch
            self._update_penalties(a, b, d + 0.5 * s.kkt ** 2)
            self.delta /= self.rho
            target = self._target(s.kkt)
        return None, None, 0.0, (
            f"No descent direction of the augmented Lagrangian after "
            f"{self.max_penalty_updates} penalty updates (mu = {self.mu:.3g}, nu = "
            f"{self.nu:.3g}); the sketch may not reach the needed accuracy: try "
            "sketch='block', a larger max_sketch_iter or a better starting point.")

    def _update_penalties(self, a: float, b: float, e: float) -> None:
        """Move the penalties after a failed descent test ``a + mu b + nu e <= 0``.

        The paper raises mu and lowers nu together; here only the penalty whose move
        lowers the test's left side moves (mu when ``b < 0``, nu when ``e > 0``; only nu
        when that alone suffices, ``a + mu b < 0``), both when neither does. Raising
        mu when c is already zero (b = 0) only inflates the
        merit's curvature across the constraints, and the line search then damps the
        steps for the rest of the run (the Maratos effect made worse).
        """
        up_mu, down_nu = b < 0.0, e > 0.0
        if down_nu and a + self.mu * b < 0.0:
            up_mu = False  # lowering nu alone passes the test eventually: leave mu alone
        if not (up_mu or down_nu):
            up_mu = down_nu = True
        if up_mu:
            self.mu *= self.rho ** 2
        if down_nu:
            self.nu /= self.rho

    def _dense_kkt(self, B) -> bool:
        """Whether this KKT system is treated as dense: small, or B dense and moderate."""
        if is_linear_operator(B):
            return False
        return self.dense or (not is_sparse(B) and self.n + self.m <= DENSE_DIRECT_SIZE)

    def _sparse_factor(self, B, J, shift: float):
        """A solver ``rhs -> z`` of ``K z = rhs`` by one sparse factorization, or None.

        Reused while B, J and the shift repeat (a QP with linear constraints factors
        once). A diagonal B with a positive diagonal (after the shift) is eliminated:
        the Schur complement ``S = J D^-1 J^T`` is symmetric positive definite, factored
        by SuperLU in its symmetric mode (minimum degree on ``S + S^T``, diagonal
        pivots); measured on the PDE-constrained control problem (N = 64, n + m =
        12288, 2-core VM), 0.04 s against 0.23 s for an LU of the whole KKT matrix
        (COLAMD) and 39 s for that LU with the minimum-degree ordering but partial
        pivoting. Otherwise the KKT matrix is factored by ``splu`` (COLAMD). None when
        the factorization finds it singular (dependent constraints, singular reduced
        Hessian): the sketch then handles the step.
        """
        last = getattr(self, "_sparse_kkt", None)
        if (last is not None and last[2] == shift and _same_matrix(last[0], B)
                and _same_matrix(last[1], J)):
            return last[3]
        sp, n = self.be.scipy.sparse, self.n
        spla = self.be.scipy.sparse.linalg
        Bs = sp.csr_matrix(B)
        Js = sp.csc_matrix(J)
        d = Bs.diagonal() + shift
        coo = Bs.tocoo()
        diagonal = bool(np.all(coo.row[coo.data != 0] == coo.col[coo.data != 0]))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # SparseEfficiencyWarning, MatrixRankWarning
                if diagonal and d.size and float(d.min()) > 0.0:
                    dinv = 1.0 / d
                    S = (Js @ sp.diags(dinv) @ Js.T).tocsc()
                    lu = spla.splu(S, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                                   options={"SymmetricMode": True})

                    def solve(rhs):
                        # D dx + J^T dl = u, J dx = w:  S dl = J D^-1 u - w, dx = D^-1 (u - J^T dl)
                        u, w = rhs[:n], rhs[n:]
                        dl = lu.solve(Js @ (dinv * u) - w)
                        return np.concatenate([dinv * (u - Js.T @ dl), dl])
                else:
                    K = _kkt_matrix(B, J, shift, self.be, False).tocsc()
                    lu = spla.splu(K, permc_spec="COLAMD")
                    solve = lu.solve
            # numerically singular (dependent constraint rows leave pivots at the rounding
            # level rather than exact zeros): the sketch's min-norm step instead
            u = np.abs(lu.U.diagonal())
            if not u.size or not float(u.min()) > 1e-13 * float(u.max()):
                solve = None
        except RuntimeError:  # "Factor is exactly singular"
            solve = None
        self._sparse_kkt = (B, J, shift, solve)
        return solve

    def _sparse_direct_direction(self, s: _State, B, r, JTc, JgL, HgL, scale: float):
        """The exact Newton step from a sparse factorization, then the descent test.

        Added to the paper's method (issue 14): the default block sketch on a large sparse
        KKT system projects onto two row blocks in turn and needs several Newton
        iterations of a QP that an exact solve finishes in one (IPOPT does one on the
        PDE-constrained control problem). The reduced Hessian cannot be tested by the
        inertia here (SuperLU gives none), so negative curvature along the step shifts B
        as on the sketch path. Returns None when the factorization fails (singular): the
        sketch then takes over for this iteration.
        """
        xp, n = self.xp, self.n
        shift = getattr(self, "_sparse_shift", 0.0)
        for _ in range(30):
            solve = self._sparse_factor(B, s.J, shift)
            if solve is None:
                return None
            sol = solve(-r)
            # one step of iterative refinement: the Schur complement squares the condition
            # of J (PDE N = 128: the unrefined step left a KKT residual above 1e-6, and a
            # second Newton iteration); a product with K and a solve with the same factors
            Bv = _as_matvec(B)
            resid = xp.concatenate([Bv(sol[:n]) + shift * sol[:n] + s.J.T @ sol[n:],
                                    s.J @ sol[:n]]) + r
            if self.be.all_finite(resid):
                sol = sol - solve(resid)
            dx, dlam = sol[:n], sol[n:]
            if not (self.be.all_finite(dx) and self.be.all_finite(dlam)):
                return None
            curv = float(dx @ _as_matvec(B)(dx)) + shift * float(dx @ dx)
            if curv >= -1e-12 * scale * float(dx @ dx):
                break
            shift = max(2 * shift, 1e-4 * scale)
        else:
            return None
        self._sparse_shift = shift / 3.0 if shift > 1e-4 * scale else 0.0
        self._full_rank_J = s.J  # K (or S) is nonsingular: J has full row rank
        self._soc = (solve, None)
        self.n_sketch += 1
        return self._descent_test(s, dx, dlam, JTc, JgL, HgL)

    def _descent_test(self, s: _State, dx, dlam, JTc, JgL, HgL):
        """Penalties for which the exact Newton step descends on the merit (or a failure)."""
        # the directional derivative of the merit is a + mu b + nu d (linear in the penalties)
        a = float(s.gL @ dx) + float(s.c @ dlam)
        b = float(JTc @ dx)
        d = float(HgL @ dx) + float(JgL @ dlam)
        for _ in range(self.max_penalty_updates + 1):
            dmerit = a + self.mu * b + self.nu * d
            if dmerit <= -0.5 * self.nu * s.kkt ** 2:
                return dx, dlam, dmerit, ""
            self._update_penalties(a, b, d + 0.5 * s.kkt ** 2)
        return None, None, 0.0, (
            f"No descent direction of the augmented Lagrangian after "
            f"{self.max_penalty_updates} penalty updates (mu = {self.mu:.3g}, nu = "
            f"{self.nu:.3g}) although the Newton system was solved exactly: the problem may "
            "be badly scaled; try a better starting point or rescale f and the constraints.")

    def _direct_direction(self, s: _State, r, rows, factor, JTc, JgL, HgL):
        """The exact Newton step from the LDL^T factorization, then the descent test.

        The whole KKT system as one block of the 'block' sketch: its projection is the
        exact (min-norm, in the multipliers of dependent rows) Newton step, so no sketch
        sweep is needed and only the penalties may have to grow for the descent test.
        """
        xp, n = self.xp, self.n
        k = rows.size
        rhs = -xp.concatenate([r[:n], r[n:][rows]])
        sol = self._dkkt.solve(factor, rhs)
        self._soc = (factor, rows)
        self.n_sketch += 1
        dx = sol[:n]
        dlam = xp.zeros(self.m)
        dlam[rows] = sol[n:n + k]
        if not (self.be.all_finite(dx) and self.be.all_finite(dlam)):
            return None, None, 0.0, "The sketched Newton direction is not finite."
        return self._descent_test(s, dx, dlam, JTc, JgL, HgL)

    def _warm_start(self, K, r):
        """Start the sketch from the best multiple of the previous Newton step.

        Successive Newton steps are often nearly parallel (always so where the
        convergence is linear, e.g. at a degenerate minimizer), and the
        component along a near-null direction of K is what sketches recover
        slowest; one product with K finds the best scale ``a`` minimizing
        ``||a K z_prev + r||``. Falls back to ``z = 0`` when that does not help.
        """
        xp = self.xp
        z = xp.zeros(self.n + self.m)
        res = r.copy()  # residual of K z = -r at z = 0
        zp = getattr(self, "_z_prev", None)
        if zp is None:
            return z, res
        Kz = K @ zp if not is_linear_operator(K) else K.matvec(zp)
        den = float(Kz @ Kz)
        if den > 0 and np.isfinite(den):
            a = -float(Kz @ r) / den
            if a > 0:
                return a * zp, a * Kz + r
        return z, res

    def _licq_message(self, s: _State) -> str:
        """A note when the constraint gradients are dependent at the solution, else ''.

        Reached only when the KKT residual is below tol, so the constraints hold there
        (they are consistent) and the point is a KKT point: a success, with the note
        that the multipliers are not unique.
        """
        if self.dense:
            rank = _jacobian_rank(s.J, self.xp)
            if rank < self.m:
                return (f"The constraint Jacobian is rank deficient at x (rank {rank} < m = "
                        f"{self.m}): the constraints are linearly dependent (LICQ fails) but "
                        "consistent, so the multipliers v are not unique (those returned "
                        "satisfy the KKT conditions).")
            return ""
        full = getattr(self, "_full_rank_J", None)
        if full is not None and _same_matrix(full, s.J):
            return ""  # a sparse factorization of K with this J was nonsingular
        last = getattr(self, "_last_kkt", None)
        if last is not None and _same_matrix(last[1], s.J):
            proj = last[4]
            if proj.blocks is not None and len(proj.blocks) == 2:
                # the paving's constraint block is [J, 0]: its Gram J J^T is factored already
                proj._minnorm(proj._rows(proj.blocks[1]), 1)
                if 1 not in proj.singular_blocks:
                    return ""
        sp = self.be.scipy.sparse
        J = s.J if is_sparse(s.J) else sp.csr_matrix(s.J)
        if _exactly_singular(J @ J.T, self.be):
            return ("J J^T is singular at x: the constraints are linearly dependent (LICQ "
                    "fails) but consistent, so the multipliers v are not unique (those "
                    "returned satisfy the KKT conditions).")
        return ""

    # -- the iteration ------------------------------------------------------------
    def solve(self) -> OptimizeResult:
        xp = self.xp
        x = self.x0.copy()
        lam = self._initial_multipliers(x)
        s = self._state(x, lam)
        if s is None:
            raise ValueError("fun, jac or the constraints are not finite at x0")
        nit, status, message = 0, STATUS_MAXITER, ""
        alpha = 0.0
        self.printer.row(0, s.f, s.kkt, float(xp.linalg.norm(s.c)), self.mu, self.nu, alpha,
                         self.n_sketch)
        ls_failures = 0
        while True:
            if s.kkt <= self.tol:
                status = STATUS_SUCCESS
                message = "Optimization terminated successfully: KKT residual <= tol."
                licq = self._licq_message(s)
                if licq:
                    message = f"{message} {licq}"
                break
            if nit >= self.maxiter:
                status = STATUS_MAXITER
                message = (f"Maximum number of iterations ({self.maxiter}) reached with KKT "
                           f"residual {s.kkt:.3e} > tol: raise maxiter or loosen tol.")
                break
            B = self._lagrangian_hessian(s)
            HgL = _as_matvec(B)(s.gL)
            if not bool(to_numpy(xp.isfinite(HgL).all())):
                status, message = STATUS_NONFINITE, "The Hessian of the Lagrangian is not finite."
                break
            dx, dlam, dmerit, why = self._direction(s, B, HgL)
            if dx is None:
                status, message = STATUS_FAILURE, why
                if why.startswith("The sketched"):
                    status = STATUS_NONFINITE
                break
            trial, alpha = self._line_search(s, dx, dlam, dmerit)
            if trial is None:
                ls_failures += 1
                if ls_failures > 3:
                    status = STATUS_FAILURE
                    message = ("Line search failed: no sufficient decrease of the augmented "
                               "Lagrangian along the Newton direction; the problem may be "
                               "badly scaled or the start point far from feasible.")
                    break
                self.mu *= self.rho ** 2
                self.nu /= self.rho
                continue
            ls_failures = 0
            s = trial
            nit += 1
            self.printer.row(nit, s.f, s.kkt, float(xp.linalg.norm(s.c)), self.mu, self.nu,
                             alpha, self.n_sketch)
            if self.callback(s.x, fun=s.f, optimality=s.kkt, nit=nit,
                             constr_violation=float(xp.abs(s.c).max())):
                status, message = STATUS_CALLBACK, "Stopped by the callback (StopIteration)."
                break
        return self._result(s, nit, status, message)

    def _line_search(self, s: _State, dx, dlam, dmerit: float):
        m0 = _merit(s, self.mu, self.nu, self.xp)
        # non-monotone (Grippo, Lampariello & Lucidi 1986; added, not in the paper): the
        # reference is the largest merit, under the current penalties, of the last few
        # accepted iterates, so that unit Newton steps that raise the merit for a while
        # (the Maratos effect along curved constraints) are kept; only for exact Newton
        # steps: inexact sketched steps keep the paper's monotone Armijo rule
        hist = getattr(self, "_history", []) if self.direct else []
        m_ref = max([m0] + [_merit(h, self.mu, self.nu, self.xp) for h in hist])
        # near a solution the predicted decrease (~||r||^2) falls below the rounding error
        # of evaluating the merit: allow for that error, or unit steps get rejected
        slack = 20 * np.finfo(np.float64).eps * (abs(s.f) + abs(float(s.lam @ s.c)) + abs(m0))
        alpha = 1.0
        soc, self._soc = getattr(self, "_soc", None), None
        for _ in range(self.max_linesearch):
            t = self._state(s.x + alpha * dx, s.lam + alpha * dlam)
            if t is not None:
                mt = _merit(t, self.mu, self.nu, self.xp)
                if np.isfinite(mt) and mt <= m_ref + self.beta * alpha * dmerit + slack:
                    self._history = (hist + [s])[-NONMONOTONE_MEMORY:]
                    return t, alpha
                if alpha == 1.0 and soc is not None:
                    t2 = self._second_order_correction(s, t, dx, dlam, soc)
                    if t2 is not None:
                        mt2 = _merit(t2, self.mu, self.nu, self.xp)
                        if np.isfinite(mt2) and mt2 <= m_ref + self.beta * dmerit + slack:
                            self._history = (hist + [s])[-NONMONOTONE_MEMORY:]
                            return t2, 1.0
            alpha *= 0.5
        return None, 0.0

    def _second_order_correction(self, s: _State, t: _State, dx, dlam, soc):
        """The full step plus a correction of the constraints' curvature (Maratos effect).

        Not in the paper (added): when the unit step is rejected, the constraint values
        ``c(x + dx)`` (second order in dx) are removed by one more solve with the same
        LDL^T factorization, ``K [p; q] = -[0; c(x + dx)]``, and ``x + dx + p`` is tried
        once with the same sufficient-decrease test (Nocedal & Wright, Sec. 15.6).
        """
        factor, rows = soc
        n, xp = self.n, self.xp
        if callable(factor):  # the sparse factorization: all constraint rows
            p = factor(-xp.concatenate([xp.zeros(n), t.c]))[:n]
        else:
            rhs = -xp.concatenate([xp.zeros(n), t.c[rows]])
            p = self._dkkt.solve(factor, rhs)[:n]
        if not self.be.all_finite(p):
            return None
        return self._state(s.x + dx + p, s.lam + dlam)

    def _result(self, s: _State, nit: int, status: int, message: str) -> OptimizeResult:
        xp = self.xp
        success = status == STATUS_SUCCESS
        if not success and status != STATUS_CALLBACK:
            warn_not_converged("sketched-alm: " + message, stacklevel=5)
        res = OptimizeResult(
            x=s.x, fun=s.f, jac=s.g, v=self.cons.split(s.lam), lam=s.lam,
            constr=self.cons.split(s.c),
            constr_violation=float(xp.abs(s.c).max()), optimality=s.kkt,
            nit=nit, nfev=self.obj.nfev, njev=self.obj.njev, nhev=self.nhev,
            constr_nfev=self.cons.nfev, constr_njev=self.cons.njev,
            constr_nhev=self.cons.nhev, n_sketch_iter=self.n_sketch, mu=self.mu, nu=self.nu,
            status=status, success=success, message=message, method="sketched-alm")
        self.printer.final(res)
        return res
