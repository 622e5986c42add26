"""Univariate Chebyshev tools in the ``numpy.polynomial.chebyshev`` style.

Pure functions on coefficient vectors (or matrices whose columns are
coefficient vectors, along ``axis``): Chebyshev points of both kinds, values
<-> coefficients by fast cosine transforms, evaluation by the three-term
recurrence / Clenshaw, derivative and definite integral, and the tail
estimates behind the adaptive choice of the degree.

Every function takes the :class:`~soptim.backend.Backend` ``be`` of its arrays
(NumPy by default) so the same code runs on the GPU; the cosine transforms go
through ``be.dct``, which supplies the DCT-I where the array module lacks it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import NUMPY, Backend

__all__ = [
    "chebpts1",
    "chebpts2",
    "dct1",
    "vals2coeffs1",
    "vals2coeffs2",
    "coeffs2vals1",
    "coeffs2vals2",
    "chebvander",
    "clenshaw",
    "chebder",
    "integral_weights",
    "tail_profile",
    "extrapolated_tail",
    "chop_length",
]


def chebpts2(m: int, be: Backend = NUMPY) -> Any:
    """Chebyshev points of the second kind ``-cos(j pi/(m-1))``, ascending.

    Written as ``sin(pi (2j - n)/(2n))`` (Chebfun's form) so the points are
    exactly symmetric about 0. ``m = 1`` gives the single point 0.
    """
    xp = be.xp
    if m == 1:
        return xp.zeros(1)
    n = m - 1
    j = xp.arange(m, dtype=float)
    return xp.sin(np.pi * (2.0 * j - n) / (2.0 * n))


def chebpts1(m: int, be: Backend = NUMPY) -> Any:
    """Chebyshev points of the first kind ``-cos((2j+1) pi/(2m))``, ascending."""
    xp = be.xp
    j = xp.arange(m, dtype=float)
    return xp.sin(np.pi * (2.0 * j + 1.0 - m) / (2.0 * m))


def _take(a: Any, idx: Any, axis: int) -> tuple:
    """Index tuple selecting ``idx`` (int or slice) along ``axis``."""
    sl = [slice(None)] * a.ndim
    sl[axis] = idx
    return tuple(sl)


def dct1(y: Any, axis: int = 0, be: Backend = NUMPY) -> Any:
    """Unnormalized DCT-I along ``axis`` (scipy's ``dct(type=1)`` convention).

    ``be.dct`` chooses the transform (the backend knows which array modules
    lack a DCT-I); a single sample along ``axis`` is its own transform.
    """
    if y.shape[axis] == 1:
        return y.copy()
    return be.dct(y, type=1, axis=axis)


def vals2coeffs2(values: Any, axis: int = 0, be: Backend = NUMPY) -> Any:
    """Values at ascending second-kind points -> Chebyshev coefficients (DCT-I).

    ``c = dct1(v[::-1]) / (m - 1)`` with the first and last coefficient halved.

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.approx._chebyshev import chebpts2, vals2coeffs2
    >>> x = chebpts2(5)
    >>> np.round(vals2coeffs2(2 * x**2 - 1), 12) + 0.0  # T_2
    array([0., 0., 1., 0., 0.])
    """
    xp = be.xp
    m = values.shape[axis]
    if m == 1:
        return values.copy()
    c = dct1(xp.flip(values, axis=axis), axis=axis, be=be) / (m - 1)
    c[_take(c, 0, axis)] /= 2
    c[_take(c, m - 1, axis)] /= 2
    return c


def coeffs2vals2(coeffs: Any, axis: int = 0, be: Backend = NUMPY) -> Any:
    """Chebyshev coefficients -> values at ascending second-kind points (DCT-I)."""
    xp = be.xp
    m = coeffs.shape[axis]
    if m == 1:
        return coeffs.copy()
    c = coeffs.copy()
    c[_take(c, slice(1, m - 1), axis)] /= 2
    return xp.flip(dct1(c, axis=axis, be=be), axis=axis)


def vals2coeffs1(values: Any, axis: int = 0, be: Backend = NUMPY) -> Any:
    """Values at ascending first-kind points -> Chebyshev coefficients (DCT-II).

    ``c = dct2(v[::-1]) / m`` with the first coefficient halved; every backend
    has this transform natively, so it is the fastest route on the GPU.
    """
    xp = be.xp
    m = values.shape[axis]
    c = be.dct(xp.flip(values, axis=axis), type=2, axis=axis) / m
    c[_take(c, 0, axis)] /= 2
    return c


def coeffs2vals1(coeffs: Any, axis: int = 0, be: Backend = NUMPY) -> Any:
    """Chebyshev coefficients -> values at ascending first-kind points (DCT-III)."""
    xp = be.xp
    m = coeffs.shape[axis]
    c = coeffs.copy()
    c[_take(c, slice(1, m), axis)] /= 2
    return xp.flip(be.dct(c, type=3, axis=axis), axis=axis)


def chebvander(x: Any, m: int, be: Backend = NUMPY) -> Any:
    """Matrix ``T[n, k] = T_k(x_n)``, ``k < m``, by the three-term recurrence.

    Stable for ``|x| <= 1`` (``|T_k| <= 1`` there).
    """
    xp = be.xp
    x = xp.asarray(x, dtype=float).reshape(-1)
    T = xp.empty((x.shape[0], m))
    T[:, 0] = 1.0
    if m > 1:
        T[:, 1] = x
    for k in range(2, m):
        T[:, k] = 2.0 * x * T[:, k - 1] - T[:, k - 2]
    return T


def clenshaw(x: Any, coeffs: Any, be: Backend = NUMPY) -> Any:
    """Evaluate the columns of ``coeffs`` (m x r) at the points ``x``: ``T(x) @ coeffs``.

    Clenshaw's backward recurrence ``b_k = c_k + 2 x b_{k+1} - b_{k+2}``, all
    columns at once; returns an array of shape ``(len(x), r)``.

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.approx._chebyshev import clenshaw
    >>> c = np.array([[1.0], [2.0], [3.0]])       # 1 + 2 T1 + 3 T2
    >>> clenshaw(np.array([0.5]), c)[:, 0]         # 1 + 1 + 3 (2*0.25 - 1)
    array([0.5])
    """
    xp = be.xp
    x = xp.asarray(x, dtype=float).reshape(-1, 1)
    m = coeffs.shape[0]
    b1 = xp.zeros((x.shape[0], coeffs.shape[1]))
    b2 = xp.zeros_like(b1)
    for k in range(m - 1, 0, -1):
        b1, b2 = coeffs[k] + 2.0 * x * b1 - b2, b1
    return coeffs[0] + x * b1 - b2


def chebder(coeffs: Any, scale: float = 1.0, be: Backend = NUMPY) -> Any:
    """Coefficients of the derivative of each column (m x r -> (m-1) x r).

    Backward recurrence ``d_{k-1} = d_{k+1} + 2 k c_k`` with ``d_0`` halved, as
    in ``numpy.polynomial.chebyshev.chebder``; ``scale`` multiplies the result
    (``2/(b-a)`` for the map of ``[a, b]`` onto ``[-1, 1]``). A single
    coefficient (a constant) gives one zero coefficient.
    """
    xp = be.xp
    m = coeffs.shape[0]
    if m == 1:
        return xp.zeros_like(coeffs)
    d = xp.zeros((m + 1,) + coeffs.shape[1:])
    for k in range(m - 1, 0, -1):
        d[k - 1] = d[k + 1] + 2.0 * k * coeffs[k]
    d[0] /= 2
    return d[: m - 1] * scale


def integral_weights(m: int, be: Backend = NUMPY) -> Any:
    """``w_k = int_{-1}^{1} T_k``: ``2/(1-k^2)`` for even ``k``, 0 for odd ``k``."""
    xp = be.xp
    k = np.arange(m, dtype=float)
    w = np.where(k % 2 == 0, 2.0 / (1.0 - k**2 + (k % 2)), 0.0)
    return xp.asarray(w)


def tail_profile(coeffs: Any, axis: int, be: Backend = NUMPY) -> np.ndarray:
    """Mode-``axis`` coefficient profile: ``a[k] = sum |C[..., k, ...]|`` (host array).

    ``a[k]`` bounds the largest value on the box of the part of the expansion
    with degree ``k`` along ``axis`` (``|T_j| <= 1``), so a sum of profile
    entries bounds the error of dropping them.
    """
    xp = be.xp
    a = xp.abs(xp.moveaxis(coeffs, axis, 0)).reshape(coeffs.shape[axis], -1).sum(axis=1)
    return np.asarray(be.to_numpy(a), dtype=float)


def extrapolated_tail(profile: np.ndarray) -> float:
    """Estimate ``sum_{k >= m} a[k]`` beyond the ``m`` computed coefficients.

    The envelope ``E[k] = max_{j >= k} a[j]`` (so the zero coefficients of even
    or odd functions do not look like convergence) is fitted by a geometric
    decay ``E ~ rho^-k`` between ``k1 = (m-1)//2`` and ``k2 = m-3`` and
    extrapolated: ``a[m] ~ E[k2] rho^-(m-k2)`` and the tail is
    ``a[m] rho/(rho - 1)``. For algebraic decay ``k^-p`` the local rate gives
    ``rho - 1 ~ p/m`` and so about ``a[m] m/p``, within a factor ``p/(p-1)``
    of the true tail; ``rho/(rho - 1)`` is capped at ``m`` (no visible decay).
    """
    m = profile.shape[0]
    if m < 5:
        return float(profile.max()) * m
    env = np.maximum.accumulate(profile[::-1])[::-1]
    k2 = m - 3
    k1 = (m - 1) // 2
    last = float(env[k2])
    if last == 0.0:
        return 0.0
    rho = (float(env[k1]) / last) ** (1.0 / (k2 - k1)) if k2 > k1 else 1.0
    if rho <= 1.0 + 1.0 / m:
        return last * m
    return last * rho ** (k2 - m) * min(rho / (rho - 1.0), float(m))


def chop_length(profile: np.ndarray, outside: float, threshold: float) -> int:
    """Smallest ``n >= 1`` with ``sum_{k >= n} profile[k] + outside <= threshold``.

    Returns ``len(profile)`` when even keeping everything misses the threshold.
    """
    m = profile.shape[0]
    # drop[n] = sum_{k >= n} profile[k] for n = 0..m
    drop = np.concatenate([np.cumsum(profile[::-1])[::-1], [0.0]]) + outside
    ok = np.nonzero(drop[1:] <= threshold)[0]
    return int(ok[0]) + 1 if ok.size else m
