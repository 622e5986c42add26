"""Cost matrices between point clouds and Wasserstein distances computed by SNS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import as_float_array, check_positive
from ..backend import get_backend, to_numpy
from ._solve import OTResult, solve

__all__ = ["dist", "wasserstein"]

_XP_METRICS = ("sqeuclidean", "euclidean", "cityblock", "minkowski")


def dist(x1: Any, x2: Any = None, metric: str = "sqeuclidean", p: float = 2,
         w: Any = None, backend: str = "auto", nx: Any = None, use_tensor: bool = False) -> Any:
    """Pairwise cost matrix between two point clouds (POT's ``ot.dist``).

    Parameters
    ----------
    x1 : array_like, shape (n, d) or (n,)
        Source points (1-D means d = 1).
    x2 : array_like, shape (m, d) or (m,), optional
        Target points; default ``x1``.
    metric : str
        ``'sqeuclidean'`` (default), ``'euclidean'``, ``'cityblock'``, ``'minkowski'``
        (with ``p``) on NumPy and CuPy; on NumPy also any metric of
        ``scipy.spatial.distance.cdist``.
    p : float
        Exponent of the Minkowski metric.
    w : array_like, shape (d,), optional
        Nonnegative weights of the coordinates (POT's and cdist's ``w``):
        ``sum_k w_k (x_k - y_k)^2`` for ``'sqeuclidean'``, its square root for
        ``'euclidean'``, ``sum_k w_k |x_k - y_k|`` for ``'cityblock'``,
        ``(sum_k w_k |x_k - y_k|^p)^(1/p)`` for ``'minkowski'``; passed to cdist otherwise.
        (POT uses ``w`` for ``'minkowski'`` and cdist only.)
    backend, nx, use_tensor
        POT's keywords, accepted so that POT calls run unchanged: soptim picks the
        array module from the inputs and always computes with whole-array operations.

    Returns
    -------
    M : array, shape (n, m)
        ``M_ij = metric(x1_i, x2_j)`` on the backend of ``x1``; float32 when the
        points are float32 (computed in float64), float64 otherwise (integers
        included). Exact zeros on the diagonal when ``x2`` is None or is ``x1``.

    Raises
    ------
    ValueError
        Shapes with different d, NaN/inf coordinates, an unknown metric, distances
        that overflow float64, negative or misshaped ``w``.
    TypeError
        Complex or non-numeric points.

    Notes
    -----
    ``'sqeuclidean'`` uses the expanded form ``|x|^2 + |y|^2 - 2 x.y`` (one matrix
    product) on points centred at their common mean, so that an offset shared by
    both clouds (``1e8 + X``) does not cancel every digit; entries much smaller than
    ``|x|^2 + |y|^2`` (where the expanded form still cancels) are recomputed from the
    differences. The result matches ``scipy.spatial.distance.cdist`` to about 1e-13
    relative.

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.ot import dist
    >>> dist(np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0]))
    array([[0., 1.],
           [1., 0.],
           [4., 1.]])
    """
    be = get_backend(x1, x2)
    xp = be.xp
    same = x2 is None or x2 is x1
    dtype = np.float32 if _dtype(x1) == np.float32 and (same or _dtype(x2) == np.float32) \
        else np.float64
    x1 = _points("x1", x1, xp)
    x2 = x1 if same else _points("x2", x2, xp)
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"x1 and x2 must have the same dimension, got {x1.shape[1]} and "
                         f"{x2.shape[1]}")
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string, got {type(metric).__name__}")
    if w is not None:
        w = as_float_array("w", w, ndim=1, shape=(x1.shape[1],), dtype=np.float64, xp=xp,
                           nonnegative=True)
    if metric in ("sqeuclidean", "euclidean") and w is not None:
        sw = xp.sqrt(w)  # weighted squared distance = plain one of scaled coordinates
        x1, x2 = x1 * sw, (x1 * sw if same else x2 * sw)
    if metric == "sqeuclidean":
        M = _sqeuclidean(x1, x2, xp)
    elif metric == "euclidean":
        M = xp.sqrt(_sqeuclidean(x1, x2, xp))
    elif metric == "cityblock":
        d = xp.abs(x1[:, None, :] - x2[None, :, :])
        M = (d if w is None else d * w).sum(-1)
    elif metric == "minkowski":
        p = check_positive("p", p)
        with np.errstate(over="ignore"):  # reported below
            d = xp.abs(x1[:, None, :] - x2[None, :, :]) ** p
            M = (d if w is None else d * w).sum(-1) ** (1.0 / p)
    else:
        be.require_host(f"metric {metric!r} (scipy's cdist; on the GPU use one of "
                        f"{_XP_METRICS})")
        from scipy.spatial.distance import cdist

        try:
            M = cdist(x1, x2, metric=metric, **({} if w is None else {"w": w}))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"metric: {exc}") from None
    if M.size and not be.all_finite(M):
        raise ValueError(f"dist({metric!r}) overflows float64 for these x1 and x2 "
                         f"(largest coordinate {_largest(x1, x2, xp):.3g}): rescale the "
                         "points (e.g. divide x1 and x2 by a common length scale)")
    if same:
        # a point's distance to itself is 0 for every metric (rounding would leave ~1e-16,
        # which moves downstream results such as Gromov-Wasserstein values)
        xp.fill_diagonal(M, 0.0)
    return M if dtype == np.float64 else M.astype(dtype)


def _dtype(x: Any) -> Any:
    return getattr(x, "dtype", None)


#: Entries of the expanded squared distance below this fraction of |x|^2 + |y|^2 have
#: lost more than ~2 digits to cancellation: they are recomputed from the differences.
_CANCEL_RATIO = 1e-3


def _sqeuclidean(x1: Any, x2: Any, xp: Any) -> Any:
    """Squared Euclidean distances, expanded form on centred points with exact repair."""
    # the centre of the common bounding box (halves first: no overflow): x - mu is exact
    # for points near mu (Sterbenz), so an offset shared by both clouds cancels before
    # the expanded form instead of inside it
    mu = (xp.minimum(x1.min(axis=0), x2.min(axis=0)) * 0.5
          + xp.maximum(x1.max(axis=0), x2.max(axis=0)) * 0.5)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by dist
        y1, y2 = x1 - mu, x2 - mu
        s1, s2 = (y1 * y1).sum(1), (y2 * y2).sum(1)
        scale = s1[:, None] + s2[None, :]
        M = scale - 2.0 * (y1 @ y2.T)
        rows, cols = xp.nonzero(M < _CANCEL_RATIO * scale)
        if rows.size:
            d = x1[rows] - x2[cols]  # the given points: exact for close pairs (Sterbenz)
            M[rows, cols] = (d * d).sum(1)
    return M


def _largest(x1: Any, x2: Any, xp: Any) -> float:
    return float(to_numpy(xp.maximum(xp.abs(x1).max(), xp.abs(x2).max())))


def _points(name: str, x: Any, xp: Any) -> Any:
    x = as_float_array(name, x, ndim=(1, 2), dtype=np.float64, xp=xp)
    return x[:, None] if x.ndim == 1 else x


def wasserstein(a: Any = None, b: Any = None, x: Any = None, y: Any = None, p: float = 2,
                reg: float = 1e-3, grid: Sequence[Any] | Any | None = None,
                method: str = "sns", tol: float = 1e-9, max_iter: int | None = None,
                warn: bool = True, **options: Any) -> tuple[float, OTResult]:
    """Wasserstein distance ``W_p`` by entropic OT at small regularization.

    Two inputs are understood:

    - **point clouds**: ``x`` (n, d) and ``y`` (m, d) with weights ``a`` and ``b``
      (None or empty: uniform);
    - **histograms on a regular grid** (discretized densities): ``x`` and ``y``
      omitted, ``a`` and ``b`` of the same shape (n,) or (n1, n2), on the grid
      ``grid`` (default: cell centers of the unit interval / square).

    The cost is ``||x_i - y_j||^p`` (Euclidean), the plan the entropic one with
    ``reg`` relative to the largest cost, and the distance ``<M, P>^(1/p)``. Its
    entropic bias is at most ``reg * max(M) * log(n m)`` on ``W_p^p``.

    Parameters
    ----------
    a, b : array_like
        Masses (same total; zeros allowed). For grids, the histograms themselves.
    x, y : array_like, optional
        Support points, shape (n, d) / (m, d) or 1-D.
    p : float
        Order of the distance (``p >= 1``), typically 1 or 2.
    reg : float
        Entropic regularization relative to ``max(M)`` (default 1e-3).
    grid : array or sequence of arrays, optional
        Coordinates of the grid along each axis of ``a`` (one 1-D array for 1-D
        histograms). Default ``(i + 0.5) / n_k``.
    method, tol, max_iter, warn, **options
        Passed to :func:`soptim.ot.solve`.

    Returns
    -------
    distance : float
        ``W_p`` of the entropic plan, ``cost ** (1/p)``.
    result : OTResult
        The transport solution.

    Raises
    ------
    ValueError
        Mismatched shapes, ``p < 1``, a grid that does not match the histograms,
        and everything :func:`soptim.ot.solve` rejects.

    Examples
    --------
    Two Diracs at distance 0.5 on a 1-D grid:

    >>> import numpy as np
    >>> from soptim.ot import wasserstein
    >>> a = np.array([1.0, 0, 0, 0]); b = np.array([0, 0, 1.0, 0])
    >>> d, res = wasserstein(a, b, p=1)
    >>> round(d, 6)
    0.5
    """
    p = check_positive("p", p)
    if p < 1:
        raise ValueError(f"p must be >= 1 for a Wasserstein distance, got {p}")
    reg = check_positive("reg", reg)
    if x is None and y is None:
        if a is None or b is None:
            raise ValueError("give either the points x and y, or the grid histograms a and b")
        xp = get_backend(a, b).xp
        a = as_float_array("a", a, ndim=(1, 2), dtype=np.float64, xp=xp)
        b = as_float_array("b", b, ndim=(1, 2), dtype=np.float64, xp=xp)
        if a.shape != b.shape:
            raise ValueError(f"grid histograms a and b must have the same shape, got {a.shape} "
                             f"and {b.shape}")
        pts = _grid_points(a.shape, grid, xp)
        x = y = pts
        a, b = a.ravel(), b.ravel()
    elif x is None or y is None:
        raise ValueError("x and y must both be given (point clouds) or both omitted (grids)")
    else:
        xp = get_backend(x, y).xp
        x, y = _points("x", x, xp), _points("y", y, xp)
    if p == 2:
        M = dist(x, y, "sqeuclidean")
    else:
        M = dist(x, y, "euclidean")
        if p != 1:
            M = M ** p
    xp = get_backend(M).xp
    mmax = float(to_numpy(M.max()))
    res = solve(a, b, M, reg * (mmax if mmax > 0 else 1.0), method=method, tol=tol,
                max_iter=max_iter, warn=warn, **options)
    return float(max(res.cost, 0.0)) ** (1.0 / p), res


def _grid_points(shape: tuple[int, ...], grid: Any, xp: Any) -> Any:
    if grid is None:
        axes = [(xp.arange(n) + 0.5) / n for n in shape]
    else:
        if len(shape) == 1 and not isinstance(grid, (list, tuple)):
            grid = [grid]
        if len(grid) != len(shape):
            raise ValueError(f"grid must give one coordinate array per axis ({len(shape)}), "
                             f"got {len(grid)}")
        axes = [as_float_array(f"grid[{k}]", g, ndim=1, shape=(n,), dtype=np.float64, xp=xp)
                for k, (g, n) in enumerate(zip(grid, shape))]
    mesh = xp.meshgrid(*axes, indexing="ij")
    return xp.stack([m.ravel() for m in mesh], axis=1)
