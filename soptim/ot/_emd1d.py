"""Exact 1-D optimal transport by sorting: ``emd_1d``, ``emd2_1d``, ``wasserstein_1d``.

For a cost ``|x - y|^p`` with ``p >= 1`` (convex in ``x - y``) the monotone
coupling -- the ``k``-th quantile of one measure sent to the ``k``-th quantile
of the other -- is optimal. It is computed here without a sequential merge:
the breakpoints are the union of both cumulative weights, and every interval
between two consecutive breakpoints is one entry of the plan, located by a
binary search in each cumulative sum (POT's ``quantile_function`` idea), so the
whole computation is array operations of the backend (NumPy or CuPy) in
``O((n + m) log(n + m))``.

Added to POT's behaviour, on purpose: ``p < 1`` is refused (for a concave cost
the monotone coupling is not optimal, and POT silently returns it), and bad
input raises ``ValueError``/``TypeError`` naming the argument instead of an
``AssertionError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_float_array, check_bool, check_choice, check_real
from ..backend import get_backend
from ._emd import MASS_TOL, _given

__all__ = ["emd_1d", "emd2_1d", "wasserstein_1d"]

_METRICS = ("sqeuclidean", "minkowski", "cityblock", "euclidean")


def _exponent(metric: str, p: Any) -> float:
    metric = check_choice("metric", metric, _METRICS)
    if metric == "sqeuclidean":
        return 2.0
    if metric in ("cityblock", "euclidean"):
        return 1.0
    return _check_p(p)


def _check_p(p: Any) -> float:
    p = check_real("p", p)
    if not (np.isfinite(p) and p >= 1):
        raise ValueError(f"p must be a finite number >= 1, got {p!r}: for p < 1 the cost "
                         "|x - y|^p is concave and the sorted coupling is not optimal "
                         "(use soptim.ot.emd with M = dist(x, y, 'minkowski', p) ** p)")
    return p


def _weights(name: str, w: Any, n: int, shape: tuple, xp: Any) -> Any:
    """Validated weights (uniform when not given) broadcast to ``shape``."""
    if not _given(w):
        return xp.full(shape, 1.0 / n)
    w = as_float_array(name, w, ndim=(1, 2), xp=xp, nonnegative=True).astype(np.float64)
    if w.shape[0] != n:
        raise ValueError(f"{name} must have length {n}, got {w.shape[0]}")
    if w.ndim == 1 and len(shape) == 2:
        w = xp.broadcast_to(w[:, None], shape)
    if tuple(w.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(w.shape)}")
    return w


def _monotone(x, y, wa, wb, xp):
    """Monotone coupling of sorted 1-D ``x`` (weights ``wa``) and ``y`` (``wb``):
    returns ``(rows, cols, mass)`` in sorted indices."""
    ca, cb = xp.cumsum(wa), xp.cumsum(wb)
    top = xp.maximum(ca[-1], cb[-1])
    ca[-1] = top
    cb[-1] = top
    br = xp.unique(xp.concatenate([ca, cb]))  # sorted, no zero-width interval
    lo = xp.concatenate([xp.zeros(1), br[:-1]])
    mass = br - lo
    # an interval (lo, br] lies inside one cell of each cumulative sum
    rows = xp.minimum(xp.searchsorted(ca, br, side="left"), x.shape[0] - 1)
    cols = xp.minimum(xp.searchsorted(cb, br, side="left"), y.shape[0] - 1)
    keep = mass > 0
    return rows[keep], cols[keep], mass[keep]


def _points(name: str, x: Any, xp: Any) -> Any:
    x = as_float_array(name, x, ndim=(1, 2), xp=xp)
    if x.ndim == 2:
        if x.shape[1] != 1:
            raise ValueError(f"{name} must be 1-D (shape (n,) or (n, 1)): emd_1d is for "
                             f"points on the real line, got shape {tuple(x.shape)}")
        x = x[:, 0]
    if x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one point")
    return x.astype(np.float64)


def _solve_1d(x_a, x_b, a, b, metric, p, check_marginals):
    be = get_backend(x_a, x_b)
    xp = be.xp
    dtype = np.result_type(*(as_float_array(nm, v, xp=xp).dtype
                             for nm, v in (("x_a", x_a), ("x_b", x_b))))
    q = _exponent(metric, p)
    x, y = _points("x_a", x_a, xp), _points("x_b", x_b, xp)
    n, m = x.shape[0], y.shape[0]
    wa = _weights("a", a, n, (n,), xp)
    wb = _weights("b", b, m, (m,), xp)
    if wa.ndim != 1 or wb.ndim != 1:
        raise ValueError("a and b must be 1-D weight vectors")
    sa, sb = be.item(wa.sum()), be.item(wb.sum())
    if not sa > 0 or not sb > 0:
        raise ValueError("a and b must have positive total masses")
    if check_marginals and abs(sa - sb) >= MASS_TOL * max(1.0, sa):
        raise ValueError(f"a and b must have the same total mass: sum(a) = {sa:.10g}, "
                         f"sum(b) = {sb:.10g} (normalize both)")
    wb = wb * (sa / sb)
    pa, pb = xp.argsort(x, kind="stable"), xp.argsort(y, kind="stable")
    r, c, mass = _monotone(x[pa], y[pb], wa[pa], wb[pb], xp)
    rows, cols = pa[r], pb[c]
    d = xp.abs(x[rows] - y[cols])
    cost = be.item((mass * (d if q == 1 else d ** q)).sum())
    return rows, cols, mass, cost, (n, m), dtype, be


def _plan(rows, cols, mass, shape, dense, dtype, be):
    if dense:
        G = be.xp.zeros(shape, dtype=dtype)
        G[rows, cols] = mass.astype(dtype)
        return G
    return be.scipy.sparse.coo_matrix((mass.astype(dtype), (rows, cols)), shape=shape)


def emd_1d(x_a: Any, x_b: Any, a: Any = None, b: Any = None, metric: str = "sqeuclidean",
           p: float = 1.0, dense: bool = True, log: bool = False,
           check_marginals: bool = True):
    """Exact OT plan between two weighted point sets on the real line, POT's ``ot.emd_1d``.

    Parameters
    ----------
    x_a : array_like, shape (n,) or (n, 1)
        Source locations.
    x_b : array_like, shape (m,) or (m, 1)
        Target locations.
    a, b : array_like, optional
        Weights (nonnegative, equal totals); uniform when None or empty.
    metric : {'sqeuclidean', 'minkowski', 'cityblock', 'euclidean'}
        Ground cost ``|x - y|^2``, ``|x - y|^p``, ``|x - y|``, ``|x - y|``.
    p : float
        Exponent for ``'minkowski'`` (``>= 1``; smaller ``p`` is refused, see the
        module notes).
    dense : bool
        Dense plan (default) or a sparse COO matrix of the backend.
    log : bool
        Also return ``{'cost', 'perms_x_a', 'perms_x_b'}`` (the rows and columns of
        the plan's entries, as in POT).
    check_marginals : bool
        Raise when the totals differ (``b`` is rescaled to ``sum(a)`` either way).

    Returns
    -------
    G : array or sparse matrix, shape (n, m)
        The monotone (optimal) plan, at most ``n + m - 1`` nonzeros.
    log : dict
        Only with ``log=True``.

    Raises
    ------
    ValueError
        Unknown metric, ``p < 1``, points that are not 1-D, bad weights.

    Examples
    --------
    >>> from soptim.ot import emd_1d
    >>> emd_1d([2.0, 0.0], [0.0, 3.0])
    array([[0. , 0.5],
           [0.5, 0. ]])
    """
    dense, log = check_bool("dense", dense), check_bool("log", log)
    check_marginals = check_bool("check_marginals", check_marginals)
    rows, cols, mass, cost, shape, dtype, be = _solve_1d(x_a, x_b, a, b, metric, p,
                                                         check_marginals)
    G = _plan(rows, cols, mass, shape, dense, dtype, be)
    if log:
        return G, {"cost": cost, "perms_x_a": rows, "perms_x_b": cols}
    return G


def emd2_1d(x_a: Any, x_b: Any, a: Any = None, b: Any = None, metric: str = "sqeuclidean",
            p: float = 1.0, dense: bool = True, log: bool = False):
    """Exact OT cost between weighted points on the real line, POT's ``ot.emd2_1d``.

    Parameters are those of :func:`emd_1d`.

    Returns
    -------
    loss : float
        ``sum_ij G_ij d(x_a[i], x_b[j])`` for the optimal ``G``.
    log : dict
        Only with ``log=True``: ``{'G': plan}`` (dense or sparse per ``dense``).

    Examples
    --------
    >>> from soptim.ot import emd2_1d
    >>> emd2_1d([2.0, 0.0], [0.0, 3.0])
    0.5
    """
    dense, log = check_bool("dense", dense), check_bool("log", log)
    rows, cols, mass, cost, shape, dtype, be = _solve_1d(x_a, x_b, a, b, metric, p, True)
    if log:
        return cost, {"G": _plan(rows, cols, mass, shape, dense, dtype, be)}
    return cost


def wasserstein_1d(u_values: Any, v_values: Any, u_weights: Any = None,
                   v_weights: Any = None, p: float = 1, require_sort: bool = True,
                   return_plans: bool = False):
    """``W_p^p`` between 1-D empirical measures (batched), POT's ``ot.wasserstein_1d``.

    ``int_0^1 |F_u^{-1}(q) - F_v^{-1}(q)|^p dq``, the optimal cost for ``|x - y|^p``.

    Parameters
    ----------
    u_values : array_like, shape (n,) or (n, k)
        Locations of the first measure(s); a second axis holds k problems.
    v_values : array_like, shape (m,) or (m, k)
        Locations of the second measure(s).
    u_weights, v_weights : array_like, optional
        Weights of shape (n,) / (m,) (shared by the k problems) or (n, k) / (m, k);
        uniform when None. Each problem's two totals must agree (``1.5e-6``
        relative); ``v``'s are rescaled to ``u``'s.
    p : float
        Exponent, ``>= 1``.
    require_sort : bool
        Sort the locations first (False: they are already sorted along axis 0).
    return_plans : bool
        Also return the plans (one sparse COO matrix per problem).

    Returns
    -------
    cost : float or array, shape (k,)
    plans : list of sparse matrices
        Only with ``return_plans=True``.

    Examples
    --------
    >>> from soptim.ot import wasserstein_1d
    >>> wasserstein_1d([0.0, 1.0], [1.0, 2.0], p=2)
    1.0
    """
    be = get_backend(u_values, v_values)
    xp = be.xp
    p = _check_p(p)
    require_sort = check_bool("require_sort", require_sort)
    return_plans = check_bool("return_plans", return_plans)
    u = as_float_array("u_values", u_values, ndim=(1, 2), xp=xp).astype(np.float64)
    v = as_float_array("v_values", v_values, ndim=(1, 2), xp=xp).astype(np.float64)
    if u.ndim != v.ndim or (u.ndim == 2 and u.shape[1] != v.shape[1]):
        raise ValueError("u_values and v_values must both be 1-D or both (., k) with the "
                         f"same k, got shapes {tuple(u.shape)} and {tuple(v.shape)}")
    if u.shape[0] == 0 or v.shape[0] == 0:
        raise ValueError("u_values and v_values must hold at least one point")
    batch = u.ndim == 2
    U, V = (u, v) if batch else (u[:, None], v[:, None])
    n, m, k = U.shape[0], V.shape[0], U.shape[1]
    wu = _weights("u_weights", u_weights, n, (n, k), xp)
    wv = _weights("v_weights", v_weights, m, (m, k), xp)
    costs, plans = [], []
    for c in range(k):
        x, y, a, b = U[:, c], V[:, c], wu[:, c], wv[:, c]
        sa, sb = be.item(a.sum()), be.item(b.sum())
        if not sa > 0 or not sb > 0:
            raise ValueError("u_weights and v_weights must have positive total masses")
        if abs(sa - sb) >= MASS_TOL * max(1.0, sa):
            raise ValueError(f"u_weights and v_weights must have the same total mass, got "
                             f"{sa:.10g} and {sb:.10g}")
        b = b * (sa / sb)
        if require_sort:
            pa, pb = xp.argsort(x, kind="stable"), xp.argsort(y, kind="stable")
        else:
            pa, pb = xp.arange(n), xp.arange(m)
        r, cc, mass = _monotone(x[pa], y[pb], a[pa], b[pb], xp)
        rows, cols = pa[r], pb[cc]
        d = xp.abs(x[rows] - y[cols])
        costs.append(be.item((mass * (d if p == 1 else d ** p)).sum()))
        if return_plans:
            plans.append(be.scipy.sparse.coo_matrix((mass, (rows, cols)), shape=(n, m)))
    out = be.xp.asarray(np.asarray(costs)) if batch else costs[0]
    return (out, plans) if return_plans else out
