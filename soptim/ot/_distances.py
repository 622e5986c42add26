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


def dist(x: Any, y: Any = None, metric: str = "sqeuclidean", p: float = 2) -> Any:
    """Pairwise cost matrix between two point clouds (POT's ``ot.dist``).

    Parameters
    ----------
    x : array_like, shape (n, d) or (n,)
        Source points (1-D means d = 1).
    y : array_like, shape (m, d) or (m,), optional
        Target points; default ``x``.
    metric : str
        ``'sqeuclidean'`` (default), ``'euclidean'``, ``'cityblock'``, ``'minkowski'``
        (with ``p``) on NumPy and CuPy; on NumPy also any metric of
        ``scipy.spatial.distance.cdist``.
    p : float
        Exponent of the Minkowski metric.

    Returns
    -------
    M : array, shape (n, m)
        ``M_ij = metric(x_i, y_j)`` on the backend of ``x``.

    Raises
    ------
    ValueError
        Shapes with different d, NaN/inf coordinates, an unknown metric.

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.ot import dist
    >>> dist(np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0]))
    array([[0., 1.],
           [1., 0.],
           [4., 1.]])
    """
    xp = get_backend(x, y).xp
    x = _points("x", x, xp)
    y = x if y is None else _points("y", y, xp)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {x.shape[1]} and "
                         f"{y.shape[1]}")
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string, got {type(metric).__name__}")
    if metric == "sqeuclidean":
        # expanded form (one matrix product), clipped: rounding can make it slightly < 0
        M = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
        return xp.maximum(M, 0.0)
    if metric == "euclidean":
        return xp.sqrt(dist(x, y, "sqeuclidean"))
    if metric == "cityblock":
        return xp.abs(x[:, None, :] - y[None, :, :]).sum(-1)
    if metric == "minkowski":
        p = check_positive("p", p)
        return (xp.abs(x[:, None, :] - y[None, :, :]) ** p).sum(-1) ** (1.0 / p)
    if xp is not np:
        raise ValueError(f"metric {metric!r} is available on NumPy only; on the GPU use one "
                         f"of {_XP_METRICS}")
    from scipy.spatial.distance import cdist

    try:
        return cdist(x, y, metric=metric)
    except ValueError as exc:
        raise ValueError(f"metric: {exc}") from None


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
