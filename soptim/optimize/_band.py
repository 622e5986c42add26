"""Band structure of dense symmetric matrices (numba, with NumPy/LAPACK fallbacks).

A dense Hessian is often banded: chained objectives (the extended Rosenbrock
function), one-dimensional discretizations, smoothing of time series. A
Cholesky factorization of a matrix with lower bandwidth ``kd`` costs
``O(n kd^2)`` instead of ``O(n^3 / 3)``, so, as MATLAB's backslash does, the
dense curvature model measures the bandwidth once per Hessian (``O(n^2)`` at
most, stopping early on a dense matrix) and, when the band is narrow, solves
``(H + lam B) d = rhs`` for each trial ``lam`` in band storage. Only the lower
triangle is read, as the dense Cholesky factorization reads it, so both paths
factorize the same matrix.

Band storage is LAPACK's lower form: ``ab[i - j, j] = H[i, j]`` for
``0 <= i - j <= kd``, shape ``(kd + 1, n)``.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import njit

__all__ = ["band_storage", "band_cholesky_solve"]


@njit(cache=True, nogil=True)
def _lower_bandwidth_numba(H, kmax):  # pragma: no cover - compiled
    n = H.shape[0]
    kd = 0
    for i in range(1, n):
        # the farthest nonzero of row i left of the diagonal, beyond the band found so far
        for j in range(0, i - kd):
            if H[i, j] != 0.0:
                kd = i - j
                if kd > kmax:
                    return -1
                break
    return kd


@njit(cache=True, nogil=True)
def _band_storage_numba(H, kmax):  # pragma: no cover - compiled
    kd = _lower_bandwidth_numba(H, kmax)
    if kd < 0:
        return np.zeros((0, 0), dtype=H.dtype)
    n = H.shape[0]
    ab = np.zeros((kd + 1, n), dtype=H.dtype)
    for j in range(n):
        for k in range(min(kd + 1, n - j)):
            ab[k, j] = H[j + k, j]
    return ab


def _band_storage_numpy(H, kmax: int):
    r, c = np.nonzero(np.tril(H))
    kd = int((r - c).max()) if r.size else 0
    if kd > kmax:
        return None
    n = H.shape[0]
    ab = np.zeros((kd + 1, n), dtype=H.dtype)
    for k in range(kd + 1):  # one strided copy per diagonal
        ab[k, : n - k] = np.diagonal(H, -k)
    return ab


def band_storage(H: np.ndarray, kmax: int, use_numba: bool) -> np.ndarray | None:
    """The lower band of the square matrix ``H``, or ``None`` if it is wider than ``kmax``.

    The lower bandwidth ``kd`` is the largest ``i - j`` with ``H[i, j] != 0``
    (NaN counts as nonzero). Returns ``ab`` of shape ``(kd + 1, n)`` with
    ``ab[i - j, j] = H[i, j]`` (zeros in the unused corner).
    """
    if use_numba:
        ab = _band_storage_numba(H, kmax)
        return ab if ab.size else None
    return _band_storage_numpy(H, kmax)


@njit(cache=True, nogil=True)
def _band_cholesky_solve_numba(ab, shift, rhs):  # pragma: no cover - compiled
    # Unblocked band Cholesky (LAPACK's pbtf2, lower) of A + diag(shift), then
    # the two triangular band solves. Small kd: no BLAS call is worth its overhead.
    kd = ab.shape[0] - 1
    n = ab.shape[1]
    c = ab.copy()
    for j in range(n):
        c[0, j] += shift[j]
    for j in range(n):
        ajj = c[0, j]
        if not ajj > 0.0:  # also catches NaN: not positive definite
            return np.zeros(0, dtype=rhs.dtype)
        ajj = math.sqrt(ajj)
        c[0, j] = ajj
        kn = min(kd, n - 1 - j)
        for p in range(1, kn + 1):
            c[p, j] /= ajj
        for p in range(1, kn + 1):  # trailing update A[j+p:, j+p] -= x x^T
            xp = c[p, j]
            for q in range(p, kn + 1):
                c[q - p, j + p] -= c[q, j] * xp
    y = rhs.copy()
    for j in range(n):  # L y = rhs
        y[j] /= c[0, j]
        yj = y[j]
        for p in range(1, min(kd, n - 1 - j) + 1):
            y[j + p] -= c[p, j] * yj
    for j in range(n - 1, -1, -1):  # L^T d = y
        s = y[j]
        for p in range(1, min(kd, n - 1 - j) + 1):
            s -= c[p, j] * y[j + p]
        y[j] = s / c[0, j]
    return y


def _band_cholesky_solve_lapack(ab, shift, rhs):
    import scipy.linalg.lapack as lapack

    pbtrf, pbtrs = lapack.get_lapack_funcs(("pbtrf", "pbtrs"), (ab,))
    c = np.asfortranarray(ab)
    c = c.copy(order="F") if c is ab else c
    c[0] += shift
    c, info = pbtrf(c, lower=1, overwrite_ab=1)
    if info != 0:
        return None
    d, info = pbtrs(c, rhs, lower=1)
    return d if info == 0 else None


def band_cholesky_solve(ab: np.ndarray, shift: np.ndarray, rhs: np.ndarray,
                        use_numba: bool) -> np.ndarray | None:
    """Solve ``(A + diag(shift)) d = rhs`` for ``A`` given in lower band storage ``ab``.

    Returns ``None`` when ``A + diag(shift)`` is not (numerically) positive
    definite. ``ab`` is not modified.
    """
    if use_numba:
        d = _band_cholesky_solve_numba(ab, shift, rhs)
        return d if d.size == rhs.size else None
    return _band_cholesky_solve_lapack(ab, shift, rhs)
