"""Curvature models for regularized Newton steps: solve ``(H + lam B) d = rhs``.

Each model is built once per iteration of :func:`soptim.optimize._gns._minimize_gns`
(one Hessian or Hessian-approximation evaluation) and then answers several
``solve(rhs, lam)`` calls, one per trial value of the regularization ``lam``.
``solve`` returns ``None`` when ``H + lam B`` is not positive definite at that
``lam`` and the model has no safe fallback: the caller then rejects the trial
and increases ``lam``. A model never returns a stale or partial direction that
is not a descent direction.

Models
------
``DenseCurvature``
    Dense ``H``: one Cholesky factorization of ``H + lam B`` per trial (in
    band storage when ``H`` is banded and ``B`` diagonal). When
    Cholesky fails (``H`` indefinite beyond ``-lam``), one eigendecomposition of
    ``B^{-1/2} H B^{-1/2}`` per iteration and the "absolute value" model
    ``|H|`` for the remaining trials (every trial then costs ``O(n^2)``).
``SparseCurvature``
    Sparse ``H``: a sparse direct solve of ``H + lam B`` per trial; the
    result is kept only if it is a descent direction.
``KrylovCurvature``
    Matrix-free (``hessp``, ``LinearOperator``, finite-difference products)
    with an identity or diagonal metric: one Lanczos basis per iteration,
    shared by all trials (each trial is a tridiagonal solve, CG-equivalent).
``OperatorCurvature``
    Matrix-free with a dense metric: conjugate gradients on ``H + lam B`` per
    trial with a relative tolerance, stopping at negative curvature.
``LowRankCurvature``
    ``H = V^T V + diag(D)`` (Gauss--Newton ``J^T W J``, empirical Fisher
    ``G^T G / N``, low-rank plus diagonal): the Woodbury identity on the
    ``k x k`` side when ``V`` has fewer rows than columns (Sherman--Morrison
    for ``k = 1``), the dense ``n x n`` matrix otherwise.
``UserSolveCurvature``
    A user-supplied linear solver ``solve(x, rhs, lam, *args)``.

All models are written against the array module of the iterate (NumPy or
CuPy through :func:`soptim.backend.get_backend`), so GPU input stays on the GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._validation import as_float_array, reject_complex
from ..backend import NUMPY, Backend, get_backend, to_numpy
from ._band import band_cholesky_solve, band_storage

__all__ = [
    "Metric",
    "DenseCurvature",
    "SparseCurvature",
    "OperatorCurvature",
    "KrylovCurvature",
    "LowRankCurvature",
    "UserSolveCurvature",
    "conjugate_gradient",
    "is_sparse",
    "is_linear_operator",
    "NonFiniteCurvature",
]


class NonFiniteCurvature(Exception):
    """NaN or inf in the curvature model (a Hessian, a Hessian-vector product, a factor).

    The solver turns it into ``status=3``. It has its own class so that a
    ``FloatingPointError`` (or any exception) raised by the user's ``hess`` or
    ``hessp`` propagates unchanged instead of being taken for this condition.
    """


def is_sparse(a: Any) -> bool:
    """True for sparse matrices/arrays of either backend (delegates to :meth:`Backend.issparse`)."""
    return NUMPY.issparse(a)


def is_linear_operator(a: Any) -> bool:
    """True for ``LinearOperator``-like objects of either backend (``matvec`` and ``shape``)."""
    return (hasattr(a, "matvec") and hasattr(a, "shape") and not is_sparse(a)
            and not hasattr(a, "__array__") and not hasattr(a, "__cuda_array_interface__"))


def _float(a: Any) -> float:
    return float(to_numpy(a))


class Metric:
    """The metric ``B`` of the regularizer and its dual norm ``||g||_* = sqrt(g^T B^{-1} g)``.

    Parameters
    ----------
    B : None, array of shape (n,) or (n, n)
        ``None``: identity. A 1-D array: ``diag(B)`` (entries > 0). A 2-D
        array: a symmetric positive definite matrix.
    n : int
        Dimension.
    be : Backend
        Array backend of the iterate.
    dtype : dtype
        Floating type of the iterate.

    Raises
    ------
    ValueError
        Wrong shape, non-finite entries, a diagonal that is not positive, or a
        matrix that is not symmetric positive definite.
    """

    def __init__(self, B: Any, n: int, be: Backend, dtype: Any):
        xp = be.xp
        self.be = be
        self.n = n
        if B is None:
            self.kind, self.diag, self.matrix, self.chol = "identity", None, None, None
            return
        if be.issparse(B) or is_linear_operator(B):
            raise TypeError("metric must be None, a 1-D array of positive weights or a dense "
                            f"symmetric positive definite (n, n) array; got {type(B).__name__}")
        get_backend(B, xp.empty(0))  # refuse mixing host and device arrays
        Bm = as_float_array("metric", B, dtype=dtype, xp=xp)  # real, finite
        if Bm.shape == (n,):
            if not bool(to_numpy((Bm > 0).all())):
                raise ValueError("metric (a diagonal) must have positive entries")
            self.kind, self.diag, self.matrix, self.chol = "diagonal", Bm, None, None
        elif Bm.shape == (n, n):
            if not bool(to_numpy(xp.allclose(Bm, Bm.T, rtol=1e-10, atol=0))):
                raise ValueError("metric must be a symmetric matrix")
            L = be.cholesky(Bm)
            if L is None:
                raise ValueError("metric must be positive definite (its Cholesky "
                                 "factorization failed)")
            self.kind, self.diag, self.matrix, self.chol = "dense", None, Bm, L
        else:
            raise ValueError(f"metric must have shape ({n},) or ({n}, {n}), got "
                             f"{tuple(Bm.shape)}")

    @classmethod
    def diagonal(cls, d, be: Backend) -> Metric:
        """A diagonal metric from a positive finite vector, without re-validating it."""
        m = cls.__new__(cls)
        m.be, m.n = be, int(d.shape[0])
        m.kind, m.diag, m.matrix, m.chol = "diagonal", d, None, None
        return m

    def dual_norm(self, g) -> float:
        """``sqrt(g^T B^{-1} g)``."""
        xp = self.be.xp
        if self.kind == "identity":
            return _float(xp.sqrt(g @ g))
        if self.kind == "diagonal":
            return _float(xp.sqrt(g @ (g / self.diag)))
        y = self.be.solve_triangular(self.chol, g, lower=True)
        return _float(xp.sqrt(y @ y))

    def norm(self, d) -> float:
        """``||d||_B = sqrt(d^T B d)``."""
        return _float(self.be.xp.sqrt(d @ self.matvec(d)))

    def matvec(self, v):
        """``B v``."""
        if self.kind == "identity":
            return v
        if self.kind == "diagonal":
            return self.diag * v
        return self.matrix @ v

    def add_to_dense(self, H, lam: float):
        """``H + lam B`` as a new dense array."""
        if self.kind == "identity":
            M = H.copy()
            M[self._diag_index()] += lam
            return M
        if self.kind == "diagonal":
            M = H.copy()
            M[self._diag_index()] += lam * self.diag
            return M
        return H + lam * self.matrix

    def add_to_sparse(self, H, lam: float):
        """``H + lam B`` as a sparse matrix (diagonal metrics only)."""
        sp = self.be.scipy.sparse
        n = self.n
        if self.kind == "identity":
            M = H + lam * sp.identity(n, dtype=H.dtype, format="csr")
        elif self.kind == "diagonal":
            M = H + sp.diags(lam * self.diag, format="csr")
        else:
            M = H + sp.csr_matrix(lam * self.matrix)
        return self.be.solver_format(M)  # the format this backend's sparse LU factorizes

    def _diag_index(self):
        idx = self.be.xp.arange(self.n)
        return (idx, idx)

    def vector(self, dtype):
        """The diagonal of ``B`` as a vector (identity and diagonal metrics)."""
        if self.kind == "identity":
            return self.be.xp.ones(self.n, dtype=dtype)
        return self.diag


class DenseCurvature:
    """Dense curvature ``H`` (exact Hessian, or a formed approximation).

    ``solve`` factorizes ``H + lam B`` by Cholesky (about 15x cheaper than an
    eigendecomposition, measured for n = 100..640, and 1.5--2 trials per
    iteration are typical). If Cholesky fails, ``H`` has curvature below
    ``-lam``: the theory needs a positive semidefinite ``H``, so for this
    iteration the model switches to ``|H|`` (eigenvalues replaced by their
    absolute values in the ``B``-metric, the "saddle-free" Newton model). That
    keeps ``|H| + lam B`` positive definite for every ``lam > 0``, turns
    negative-curvature directions into descent directions, and costs one
    eigendecomposition per iteration, after which each trial is ``O(n^2)``.
    When Cholesky succeeds the step is the plain regularized Newton step, a
    descent direction because ``H + lam B`` is positive definite.

    Factorizations per iteration (measured, 2-core VM): logistic regression
    1.00 (N = 20000, d = 200, and breast cancer: the Newton step's Cholesky
    is the iteration's only one), Rosenbrock n = 100 1.23, the 57 MGH
    instances of the benchmarks 1.79 (a failed Newton attempt plus a trial).
    Reusing one eigendecomposition for all trials of an iteration would make
    that 1, but ``eigh`` costs 17--31 Cholesky factorizations (with the solve)
    for n = 10..320 and about 2 for n <= 5, so Cholesky per trial stays the
    cheaper choice at under two factorizations per iteration; the
    eigendecomposition is used only once an iteration has shown ``H`` to be
    indefinite beyond ``-lam``.

    A banded ``H`` (bandwidth at most ``n / 4``, found once per model by
    :func:`soptim.optimize._band.band_storage`) with an identity or diagonal
    metric is factorized in band storage instead (LAPACK's ``?pbtrf``):
    ``O(n kd^2)`` per trial.
    """

    def __init__(self, H, metric: Metric):
        self.H = H
        self.metric = metric
        self.be = metric.be
        self._eig = None
        self.used_eig = False
        self.bandwidth = self._detect_band()

    def _detect_band(self) -> int:
        """Bandwidth of ``H`` when a band factorization pays off, else -1."""
        H, m = self.H, self.metric
        n = m.n
        # A diagonal metric keeps the band; a dense one fills it. Below 16 the
        # dense factorization costs about as much as the band bookkeeping. The band
        # factorization is host LAPACK: without it (device arrays, other dtypes) stay dense.
        if m.kind == "dense" or n < 16 or self.be.lapack("pbtrf", H) is None:
            return -1
        # O(n kd^2) band work against O(n^3 / 3): worth it up to kd ~ n / 4.
        self._ab = band_storage(H, n // 4)
        return -1 if self._ab is None else self._ab.shape[0] - 1

    def _band_solve(self, rhs, lam: float):
        """Solve ``(H + lam B) d = rhs`` in band storage; ``None`` if not PD."""
        m = self.metric
        return band_cholesky_solve(self._ab, lam * m.diag if m.kind == "diagonal" else lam, rhs)

    def solve(self, rhs, lam: float):
        if self._eig is None and self.bandwidth >= 0:
            d = self._band_solve(rhs, lam)
            if d is not None:
                return d
            self._eig = self._eigendecomposition()
            self.used_eig = True
        if self._eig is None:
            L = self.be.cholesky(self.metric.add_to_dense(self.H, lam))
            if L is not None:
                return self.be.cho_solve(L, rhs)
            self._eig = self._eigendecomposition()
            self.used_eig = True
        return self._eig_solve(rhs, lam)

    def newton_step(self, rhs):
        """``H^{-1} rhs`` when ``H`` is positive definite (one Cholesky), else ``None``.

        The unregularized step ``lam = 0``; no eigendecomposition fallback (an
        indefinite ``H`` has no Newton step worth trying).
        """
        if self.bandwidth >= 0:
            return band_cholesky_solve(self._ab, 0.0, rhs)
        L = self.be.cholesky(self.H)
        return None if L is None else self.be.cho_solve(L, rhs)

    def _eigendecomposition(self):
        """Eigenpairs of ``C = S^T H S`` with ``B^{-1} = S S^T``."""
        xp = self.be.xp
        m = self.metric
        H = self.H
        if m.kind == "identity":
            C = H
        elif m.kind == "diagonal":
            s = 1.0 / xp.sqrt(m.diag)
            C = s[:, None] * H * s[None, :]
        else:  # C = L^{-1} H L^{-T}
            Y = self.be.solve_triangular(m.chol, H, lower=True)
            C = self.be.solve_triangular(m.chol, Y.T, lower=True).T
        C = 0.5 * (C + C.T)
        w, V = xp.linalg.eigh(C)
        return w, V

    def _to_c(self, v):
        """``S^T v``."""
        m = self.metric
        if m.kind == "identity":
            return v
        if m.kind == "diagonal":
            return v / self.be.xp.sqrt(m.diag)
        return self.be.solve_triangular(m.chol, v, lower=True)

    def _from_c(self, y):
        """``S y``."""
        m = self.metric
        if m.kind == "identity":
            return y
        if m.kind == "diagonal":
            return y / self.be.xp.sqrt(m.diag)
        return self.be.solve_triangular(m.chol, y, lower=True, trans=True)

    def _eig_solve(self, rhs, lam: float):
        xp = self.be.xp
        w, V = self._eig
        # Same step as Cholesky when H + lam B is PD, |H| + lam B otherwise.
        den = w + lam if _float(w[0]) + lam > 0 else xp.abs(w) + lam
        # Directions with (numerically) zero denominator are left out (pseudo-inverse).
        tiny = float(np.finfo(np.dtype(str(w.dtype))).eps) * max(_float(xp.abs(w).max()), lam)
        inv = xp.where(den > tiny, 1.0 / xp.where(den > tiny, den, 1.0), 0.0)
        y = V @ (inv * (V.T @ self._to_c(rhs)))
        return self._from_c(y)


class SparseCurvature:
    """Sparse ``H``: a sparse direct solve of ``H + lam B`` per trial.

    A sparse LU factorization does not reveal indefiniteness, so the solution
    is kept only when it is a descent direction (``rhs . d > 0`` with
    ``rhs = -g``); otherwise the trial is rejected and ``lam`` grows until
    ``H + lam B`` is positive definite along the step.
    """

    def __init__(self, H, metric: Metric):
        self.H = H.tocsr()
        self.metric = metric
        self.be = metric.be

    def solve(self, rhs, lam: float):
        xp = self.be.xp
        M = self.metric.add_to_sparse(self.H, lam)
        try:
            d = self.be.scipy.sparse.linalg.spsolve(M, rhs)
        except RuntimeError:  # exactly singular factor
            return None
        d = xp.asarray(d, dtype=rhs.dtype).reshape(-1)
        if not bool(to_numpy(xp.isfinite(d).all())) or _float(rhs @ d) <= 0:
            return None
        return d


def conjugate_gradient(matvec: Callable, b, rtol: float, maxiter: int, xp: Any):
    """Conjugate gradients for ``A x = b`` from ``x = 0``, stopping at negative curvature.

    Returns ``(x, info)`` with ``info`` one of ``'converged'``, ``'maxiter'``,
    ``'negative curvature'``. On negative curvature the last iterate is
    returned (``None`` if it happened at the first step): every CG iterate
    from zero is a descent direction for the quadratic model restricted to
    the Krylov subspace explored so far. A non-finite ``p^T A p`` raises
    :class:`NonFiniteCurvature`.
    """
    x = xp.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = _float(r @ r)
    tol = rtol * np.sqrt(rr)
    if rr == 0.0:
        return x, "converged"
    for k in range(maxiter):
        Ap = matvec(p)
        pAp = _float(p @ Ap)
        if not np.isfinite(pAp):
            raise NonFiniteCurvature("NaN or inf in a Hessian-vector product.")
        if pAp <= 0.0:
            return (x if k > 0 else None), "negative curvature"
        alpha = rr / pAp
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = _float(r @ r)
        if np.sqrt(rr_new) <= tol:
            return x, "converged"
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, "maxiter"


class OperatorCurvature:
    """Matrix-free ``H`` given by products ``v -> H v``: CG on ``H + lam B``.

    Parameters
    ----------
    matvec : callable
        ``v -> H v``.
    metric : Metric
    rtol : float
        Relative residual tolerance of CG (the caller ties it to ``||g||``).
    maxiter : int
        Maximum number of CG iterations per solve.
    """

    def __init__(self, matvec: Callable, metric: Metric, rtol: float, maxiter: int):
        self.matvec = matvec
        self.metric = metric
        self.be = metric.be
        self.rtol = rtol
        self.maxiter = maxiter
        self.cg_iterations = 0

    def solve(self, rhs, lam: float):
        m = self.metric
        count = [0]

        def op(v):
            count[0] += 1
            return self.matvec(v) + lam * m.matvec(v)

        d, _ = conjugate_gradient(op, rhs, self.rtol, self.maxiter, self.be.xp)
        self.cg_iterations += count[0]
        return d


class KrylovCurvature:
    """Matrix-free ``H`` with a Lanczos basis shared by all trials of an iteration.

    Every trial of an iteration solves ``(H + lam B) d = -g`` with the same
    right-hand side, and for ``B = I`` (or a diagonal ``B``, after the change
    of variables ``d = B^{-1/2} y``) the Krylov space of ``H`` generated by
    ``g`` does not depend on ``lam``. The Lanczos vectors ``Q_k`` and the
    tridiagonal ``T_k = Q_k^T H Q_k`` are therefore built once and extended
    only when a trial needs more of them; each trial solves the small system
    ``(T_k + lam I) z = ||g|| e_1``, which is what CG would compute, but later
    trials cost no Hessian-vector products until they need a larger space.

    The residual of the full system is ``beta_k |z_k|``, so the relative
    tolerance is checked exactly as in CG. If ``T_j + lam I`` stops being
    positive definite at some ``j`` (negative curvature), the solution with
    ``T_{j-1}`` is returned (``None`` for ``j = 1``), like CG stopping at
    negative curvature. The Lanczos vectors are fully reorthogonalized (one
    Gram--Schmidt pass), and their number is capped by ``maxiter`` and by
    ``max_bytes`` of storage.
    """

    def __init__(self, matvec: Callable, metric: Metric, rtol: float, maxiter: int,
                 max_bytes: int = 2 ** 28):
        if metric.kind == "dense":
            raise ValueError("KrylovCurvature needs an identity or diagonal metric")
        self.matvec = matvec
        self.metric = metric
        self.be = metric.be
        self.rtol = rtol
        self.s = None if metric.kind == "identity" else 1.0 / self.be.xp.sqrt(metric.diag)
        self._Q = None  # Lanczos vectors as columns (grown by doubling)
        self.alpha: list[float] = []
        self.beta: list[float] = []  # beta[j] couples q_j and q_{j+1}
        self.beta0 = None
        self.rhs = None
        self._w = None  # unnormalized next Lanczos vector
        self.cg_iterations = 0
        n = metric.n
        self.maxk = max(1, min(maxiter, n, max_bytes // max(1, 8 * n)))

    def _scaled(self, v):
        return v if self.s is None else self.s * v

    def _extend(self) -> bool:
        """Add one Lanczos vector; False when the space is exhausted (invariant)."""
        xp = self.be.xp
        k = len(self.alpha)
        if k:
            b = self.beta[-1]
            if b <= 0.0:
                return False
            q = self._w / b
        else:
            q = self._scaled(self.rhs) / self.beta0
        if self._Q is None or k == self._Q.shape[1]:  # grow the basis storage (doubling)
            grown = xp.empty((q.shape[0], min(self.maxk, max(8, 2 * k))), dtype=q.dtype)
            if k:
                grown[:, :k] = self._Q[:, :k]
            self._Q = grown
        Hq = self._scaled(self.matvec(self._scaled(q)))
        self.cg_iterations += 1
        a = _float(q @ Hq)
        if not np.isfinite(a):  # a NaN/inf product: stop before it spreads into the basis
            raise NonFiniteCurvature("NaN or inf in a Hessian-vector product.")
        w = Hq - a * q
        if k:
            w = w - self.beta[-1] * self._Q[:, k - 1]
        self._Q[:, k] = q
        Qm = self._Q[:, :k + 1]
        w = w - Qm @ (Qm.T @ w)  # full reorthogonalization
        self.alpha.append(a)
        self.beta.append(_float(xp.sqrt(w @ w)))
        self._w = w
        if not np.isfinite(self.beta[-1]):
            raise NonFiniteCurvature("NaN or inf in a Hessian-vector product.")
        return True

    def solve(self, rhs, lam: float):
        xp = self.be.xp
        # One right-hand side per iteration (-g): the basis is built for the first one.
        if self.rhs is None:
            self.rhs = rhs
            self.beta0 = _float(xp.sqrt(self._scaled(rhs) @ self._scaled(rhs)))
        if self.beta0 == 0.0:
            return xp.zeros_like(rhs)
        if not self.alpha:
            self._extend()
        # LDL^T of T_k + lam I, grown one row per Lanczos vector: adding a row leaves the
        # earlier pivots unchanged, and the last entry of z = (T_k + lam I)^{-1} beta0 e_1
        # is y_k / d_k before back substitution, so the CG residual beta_k |z_k| costs O(1)
        # per Lanczos step. Back substitution runs once, for the returned solution.
        alpha, beta = self.alpha, self.beta
        piv: list[float] = []  # pivots d_j, all > 0
        low: list[float] = []  # subdiagonal l_j of the unit lower factor
        y: list[float] = []  # forward substitution of beta0 e_1
        while True:
            for j in range(len(piv), len(alpha)):
                if j == 0:
                    dj, yj = alpha[0] + lam, self.beta0
                else:
                    lj = beta[j - 1] / piv[j - 1]
                    dj, yj = alpha[j] + lam - lj * beta[j - 1], -lj * y[j - 1]
                if not dj > 0.0:  # negative curvature at block j + 1: stop, as CG does
                    return None if j == 0 else self._assemble(_back_substitute(piv, low, y))
                if j:
                    low.append(lj)
                piv.append(dj)
                y.append(yj)
            k = len(piv)
            if beta[k - 1] * abs(y[-1] / piv[-1]) <= self.rtol * self.beta0:
                break
            if k >= self.maxk or not self._extend():
                break
        return self._assemble(_back_substitute(piv, low, y))

    def _assemble(self, z):
        xp = self.be.xp
        Qm = self._Q[:, :len(z)]
        y = Qm @ xp.asarray(z, dtype=Qm.dtype)
        return self._scaled(y)


def _back_substitute(piv: list, low: list, y: list) -> np.ndarray:
    """``z`` from ``L D L^T z = beta0 e_1`` given ``D`` (``piv``), ``L`` (``low``) and ``y``."""
    z = np.asarray(y) / np.asarray(piv)
    for j in range(len(z) - 2, -1, -1):
        z[j] -= low[j] * z[j + 1]
    return z


class LowRankCurvature:
    """``H = V^T V + diag(D)`` with ``V`` of shape (k, n).

    Gauss--Newton ``J^T W J`` (``V = W^{1/2} J``), the empirical Fisher
    ``G^T G / N`` (``V = G / sqrt(N)``) and low-rank-plus-diagonal models all
    have this form. With ``k < n`` and a diagonal metric the Woodbury identity
    ``(A + V^T V)^{-1} = A^{-1} - A^{-1} V^T (I + V A^{-1} V^T)^{-1} V A^{-1}``,
    ``A = diag(D) + lam B``, needs one ``k x k`` Cholesky factorization per
    trial (Sherman--Morrison when ``k = 1``). Otherwise ``V^T V`` is formed
    once per iteration (``n x n``, dense; sparse when ``V`` is sparse) and
    solved like an exact Hessian.
    """

    def __init__(self, V, D, metric: Metric):
        self.metric = metric
        self.be = metric.be
        self.V = V
        self.D = D  # None or (n,) array >= 0
        k, n = V.shape
        self.woodbury = k < n and metric.kind != "dense" and not self.be.issparse(V)
        self._inner = None
        if not self.woodbury:
            if self.be.issparse(V):
                M = (V.T @ V).tocsr()
                if D is not None:
                    M = M + self.be.scipy.sparse.diags(D, format="csr")
                self._inner = (SparseCurvature(M, metric) if metric.kind != "dense"
                               else DenseCurvature(M.toarray(), metric))
            else:
                M = V.T @ V
                if D is not None:
                    idx = self.be.xp.arange(n)
                    M[idx, idx] += D
                self._inner = DenseCurvature(M, metric)

    def newton_step(self, rhs):
        """``H^{-1} rhs`` for the formed ``n x n`` model when it is PD, else ``None``."""
        if isinstance(self._inner, DenseCurvature):
            return self._inner.newton_step(rhs)
        return None

    def solve(self, rhs, lam: float):
        if self._inner is not None:
            return self._inner.solve(rhs, lam)
        xp = self.be.xp
        V = self.V
        a = lam * self.metric.vector(rhs.dtype)
        if self.D is not None:
            a = a + self.D
        ainv_rhs = rhs / a
        VA = V / a[None, :]  # V A^{-1}
        K = VA @ V.T
        idx = xp.arange(K.shape[0])
        K[idx, idx] += 1.0
        L = self.be.cholesky(0.5 * (K + K.T))
        if L is None:  # I + V A^{-1} V^T is SPD in exact arithmetic; overflow/NaN only.
            return None
        return ainv_rhs - (self.be.cho_solve(L, V @ ainv_rhs) @ VA)


class UserSolveCurvature:
    """A user linear solver ``solve(x, rhs, lam, *args) -> d`` with ``(H(x) + lam B) d = rhs``.

    The answer is checked for shape and finiteness and kept only when it is a
    descent direction (``rhs . d > 0``).
    """

    def __init__(self, user_solve: Callable, x, args: tuple):
        self.user_solve = user_solve
        self.x = x
        self.args = args
        self.be = get_backend(x)

    def solve(self, rhs, lam: float):
        xp = self.be.xp
        d = self.user_solve(self.x, rhs, lam, *self.args)
        if d is None:
            return None
        reject_complex("options['solve']", d)
        d = xp.asarray(d, dtype=rhs.dtype).reshape(-1)
        if d.shape != rhs.shape:
            raise ValueError(f"options['solve'] must return an array of shape {rhs.shape}, "
                             f"got {d.shape}")
        if not bool(to_numpy(xp.isfinite(d).all())) or _float(rhs @ d) <= 0:
            return None
        return d
