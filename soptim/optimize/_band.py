"""Band structure of dense symmetric matrices, and band Cholesky solves.

A dense Hessian is often banded: chained objectives (the extended Rosenbrock
function), one-dimensional discretizations, smoothing of time series. A
Cholesky factorization of a matrix with bandwidth ``kd`` costs ``O(n kd^2)``
instead of ``O(n^3 / 3)``, so, as MATLAB's backslash does, the dense curvature
model measures the bandwidth once per Hessian and, when the band is narrow,
solves ``(H + lam B) d = rhs`` for each trial ``lam`` with LAPACK's band
Cholesky (``?pbtrf`` / ``?pbtrs``). The band is read from the lower triangle,
as the dense factorization reads it, so both paths factorize the same matrix.

Band storage is LAPACK's lower form: ``ab[i - j, j] = H[i, j]`` for
``0 <= i - j <= kd``, shape ``(kd + 1, n)``.

Everything here is vectorized NumPy and LAPACK: no numba kernel, on purpose.
The work per call is a few microseconds, and the first numba kernel of a
process costs about 0.3 s to load even from its cache, more than a whole
Rosenbrock-100 solve.
"""

from __future__ import annotations

import numpy as np

from ..backend import NUMPY

__all__ = ["bandwidth", "band_storage", "band_cholesky_solve"]


def bandwidth(H: np.ndarray, kmax: int) -> int:
    """Bandwidth of the square matrix ``H``, or -1 when it exceeds ``kmax``.

    The bandwidth is the largest ``|i - j|`` with ``H[i, j] != 0`` (NaN counts
    as nonzero); both triangles count, so for a non-symmetric ``H`` it bounds
    the lower bandwidth from above. A dense matrix is recognized in ``O(n)``
    from its first column and last row; otherwise the cost is one count of the
    nonzeros of ``H`` and one per diagonal inside the band.
    """
    n = H.shape[0]
    if n > kmax + 1 and (H[kmax + 1:, 0].any() or H[n - 1, : n - 1 - kmax].any()):
        return -1
    total = np.count_nonzero(H)
    inside = np.count_nonzero(np.diagonal(H))
    for k in range(1, min(kmax, n - 1) + 1):
        if inside == total:
            return k - 1
        inside += np.count_nonzero(np.diagonal(H, -k)) + np.count_nonzero(np.diagonal(H, k))
    return min(kmax, max(n - 1, 0)) if inside == total else -1


def band_storage(H: np.ndarray, kmax: int) -> np.ndarray | None:
    """The lower band of ``H`` in LAPACK storage, or ``None`` if the band is wider than ``kmax``.

    Returns the Fortran-ordered ``ab`` of shape ``(kd + 1, n)`` with
    ``ab[i - j, j] = H[i, j]`` (zeros in the unused corner), ``kd`` the
    :func:`bandwidth` of ``H``.
    """
    kd = bandwidth(H, kmax)
    if kd < 0:
        return None
    n = H.shape[0]
    ab = np.zeros((kd + 1, n), dtype=H.dtype, order="F")
    for k in range(kd + 1):  # one strided copy per diagonal
        ab[k, : n - k] = np.diagonal(H, -k)
    return ab


def band_cholesky_solve(ab: np.ndarray, shift, rhs: np.ndarray) -> np.ndarray | None:
    """Solve ``(A + diag(shift)) d = rhs`` for ``A`` given in lower band storage ``ab``.

    ``shift`` is a scalar or a vector of length ``n``. Returns ``None`` when
    ``A + diag(shift)`` is not (numerically) positive definite. ``ab`` is not
    modified.
    """
    pbtrf, pbtrs = NUMPY.lapack("pbtrf", ab), NUMPY.lapack("pbtrs", ab)  # host arrays only
    c = np.array(ab, order="F")  # a copy: ?pbtrf overwrites it with the factor
    c[0] += shift
    c, info = pbtrf(c, lower=1, overwrite_ab=1)
    if info != 0:
        return None
    d, info = pbtrs(c, rhs, lower=1)
    return d if info == 0 else None
