"""Canonical (CP) input: ``f(x) = sum_k w_k u_k^(1)(x_1) ... u_k^(d)(x_d)``.

Each canonical vector is brought to Chebyshev points and coefficients (the
coefficient factor matrices ``A_l``, ``m_l x R``); the degree per axis comes
from a bound of the mode slices of ``sum_k w_k a_k^(1) o ... o a_k^(d)``
computed from the factors (the triangle inequality over the ``R`` terms), so
the full coefficient tensor is never formed. :meth:`ChebTucker.from_cp`
compresses the result by the reduced HOSVD.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._validation import as_float_array
from ..backend import Backend, get_backend, to_numpy
from ._chebyshev import coeffs2vals2, extrapolated_tail, vals2coeffs2
from ._degree import ResolutionWarning, chop_axis, fixed_degree_report
from ._domain import Box, as_domain
from ._tucker import _cp_core

__all__ = ["canonical_coefficients", "canonical_function"]

_MIN_POINTS = 17


def _cp_profiles(w: Any, A: list, be: Backend) -> list[np.ndarray]:
    """Bounds of the mode-slice L1 norms of ``sum_k w_k A_1[:, k] o ... o A_d[:, k]``."""
    xp = be.xp
    l1 = [xp.abs(Al).sum(axis=0) for Al in A]
    out = []
    for l in range(len(A)):
        others = xp.abs(w)
        for k in range(len(A)):
            if k != l:
                others = others * l1[k]
        p = xp.abs(A[l]) @ others
        out.append(np.asarray(to_numpy(p), dtype=float))
    return out


def _cp_max(w: Any, A: list, be: Backend) -> float:
    """``max |f|`` of a canonical expansion on the Chebyshev grid of the coefficients ``A``."""
    xp = be.xp
    vals = [coeffs2vals2(Al, axis=0, be=be) for Al in A]
    return float(xp.abs(_cp_core(w, vals, be)).max())


def _spline(grid: np.ndarray, values: np.ndarray) -> Callable[[Any], Any]:
    from scipy.interpolate import make_interp_spline

    k = 5 if grid.shape[0] >= 6 else grid.shape[0] - 1
    spl = make_interp_spline(grid, values, k=k, axis=0)

    def evaluate(x: Any) -> Any:
        xp = get_backend(x).xp
        return xp.asarray(spl(np.clip(to_numpy(x), grid[0], grid[-1])))

    return evaluate


def _checked_input(weights: Any, factors: Sequence[Any], grid: Sequence[Any] | None,
                   domain: Any) -> tuple[Any, list, list, Backend]:
    """``(w, univariate, domain, be)``: the weights and one callable per axis,
    ``u_l(x) -> (len(x), R)`` (array factors are interpolated by splines)."""
    factors = list(factors)
    d = len(factors)
    if d == 0:
        raise ValueError("factors must hold one entry per axis, got none")
    calls = [callable(U) for U in factors]
    if any(calls) and not all(calls):
        raise TypeError("factors must be all arrays (with grid) or all callables")
    be = get_backend(weights, *([] if all(calls) else factors))
    w = as_float_array("weights", weights, ndim=1)
    R = w.shape[0]
    if all(calls):
        if domain is None:
            raise ValueError("callable factors need domain=")
        dom = as_domain(domain)
        if len(dom) != d:
            raise ValueError(f"domain has {len(dom)} axes but {d} factors were given")
        univariate = factors
    else:
        if grid is None:
            raise ValueError("array factors need grid= (the tensor grid they are sampled on)")
        grid = list(grid)
        if len(grid) != d:
            raise ValueError(f"grid has {len(grid)} axes but {d} factors were given")
        dom, univariate = [], []
        for l in range(d):
            g = np.asarray(to_numpy(as_float_array(f"grid[{l}]", grid[l], ndim=1)))
            if g.shape[0] < 2 or np.any(np.diff(g) <= 0):
                raise ValueError(f"grid[{l}] must be strictly increasing with >= 2 points")
            U = as_float_array(f"factors[{l}]", factors[l], shape=(g.shape[0], R))
            dom.append((float(g[0]), float(g[-1])))
            univariate.append(_spline(g, np.asarray(to_numpy(U))))
    return w, univariate, dom, be


def _univariate_values(u: Callable, l: int, x: Any, R: int, xp: Any) -> Any:
    """``u(x)`` as a real finite ``(len(x), R)`` array; errors name ``factors[l]``."""
    out = u(x)
    if np.iscomplexobj(out):
        raise TypeError(f"factors[{l}] returned complex values; the canonical "
                        "vectors must be real")
    vals = xp.asarray(out, dtype=float)
    n = int(x.shape[0])
    if vals.shape != (n, R):
        raise ValueError(
            f"factors[{l}] returned shape {tuple(vals.shape)}, expected ({n}, {R})")
    if not bool(xp.isfinite(vals).all()):
        raise ValueError(f"factors[{l}] has NaN or inf values")
    return vals


def canonical_function(weights: Any, factors: Sequence[Any], grid: Sequence[Any] | None,
                       domain: Any) -> tuple[Callable, list, Backend]:
    """The canonical expansion as a pointwise ``f(x_1, ..., x_d)`` for the cross.

    ``f`` takes ``d`` 1-D coordinate arrays of equal length (what the cross's
    point sampler passes) and returns ``sum_k w_k prod_l u_k^(l)(x_l)``: each
    point costs ``O(d R)``. Returns ``(f, domain, be)``.
    """
    w, univariate, dom, be = _checked_input(weights, factors, grid, domain)
    xp, R = be.xp, int(w.shape[0])

    def f(*xs: Any) -> Any:
        prod = None
        for l, (u, x) in enumerate(zip(univariate, xs)):
            x = xp.reshape(xp.asarray(x, dtype=float), (-1,))
            vals = _univariate_values(u, l, x, R, xp)
            prod = vals if prod is None else prod * vals
        return prod @ w

    return f, dom, be


def canonical_coefficients(
    weights: Any, factors: Sequence[Any], grid: Sequence[Any] | None, domain: Any,
    ms_fixed: list[int] | None, tol: float, caps: list[int] | None, stacklevel: int,
) -> tuple[Any, list, list, float, float, bool, str, Backend]:
    """Checked canonical input as coefficient factor matrices.

    Returns ``(w, A, domain, vscale, tail, converged, message, be)``; ``ms_fixed``
    (points per axis) fixes the degree, else it is chosen adaptively up to ``caps``
    (default ``2^12``), warning with :class:`ResolutionWarning` when they stop it.
    """
    w, univariate, dom, be = _checked_input(weights, factors, grid, domain)
    xp, R, d = be.xp, int(w.shape[0]), len(univariate)
    box = Box(dom)

    def coeff_matrix(l: int, m: int) -> Any:
        vals = _univariate_values(univariate[l], l, box.points(l, m, be), R, xp)
        return vals2coeffs2(vals, axis=0, be=be)

    vscale_pts = max(2, min(_MIN_POINTS, int((1 << 15) ** (1.0 / d))))
    vscale = _cp_max(w, [coeff_matrix(l, vscale_pts) for l in range(d)], be)
    if ms_fixed is not None:
        A = [coeff_matrix(l, ms_fixed[l]) for l in range(d)]
        profiles = _cp_profiles(w, A, be)
        tail = sum(2.0 * extrapolated_tail(p) for p in profiles)
        converged, message = fixed_degree_report(ms_fixed, tail, vscale, tol)
        return w, A, dom, vscale, tail, converged, message, be
    caps = [1 << 12] * d if caps is None else caps
    ms = [min(_MIN_POINTS, c + 1) for c in caps]
    A = [coeff_matrix(l, ms[l]) for l in range(d)]
    threshold = tol * vscale
    while True:
        profiles = _cp_profiles(w, A, be)
        outside = [2.0 * extrapolated_tail(p) for p in profiles]
        unresolved = [l for l in range(d) if outside[l] > threshold / d]
        grow = [l for l in unresolved if 2 * (ms[l] - 1) <= caps[l]]
        if not grow:
            break
        for l in grow:
            ms[l] = 2 * ms[l] - 1
            A[l] = coeff_matrix(l, ms[l])
    converged = not unresolved
    lengths, tail = [], 0.0
    for l in range(d):
        n, drop = chop_axis(profiles[l], outside[l], threshold / d)
        lengths.append(n)
        tail += drop
    A = [Al[:n] for Al, n in zip(A, lengths)]
    if converged:
        message = f"resolved to tol={tol:g} with degrees {tuple(n - 1 for n in lengths)}"
    else:
        message = (
            f"canonical input not resolved to tol={tol:g} along axis "
            f"{', '.join(map(str, unresolved))} at max_degree={tuple(caps)}; estimated "
            f"relative error {tail / vscale if vscale else 0.0:.1e}")
        warnings.warn(message, ResolutionWarning, stacklevel=stacklevel + 1)
    return w, A, dom, vscale, tail, converged, message, be
