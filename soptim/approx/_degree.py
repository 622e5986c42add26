"""The degree per axis from Chebyshev coefficients: tails, chopping and the
adaptive full-grid search (the reference path of :meth:`ChebTucker.fit`).

The adaptive search decides on the current grid, without sampling the next
level: the tail of an axis is a bound of its grid interpolant's error, the
geometric sum beyond the grid of its mode-slice coefficient profile, fitted per
parity over a quarter of each (even and odd degrees) envelope that ends an
eighth before the last coefficient, doubled for the interpolant's aliasing
(:func:`grid_tail`, in the spirit of Chebfun's ``standardChop``: a tail that
has visibly decayed over the end of the computed coefficients). The last
eighth is left out of the fit because the aliases of the degrees beyond the
grid can cancel the last coefficients. An axis is resolved when its tail is
below its share ``tol * max|f| / d`` (or the rounding level of the samples,
whichever is larger); the kept length is the shortest whose dropped part plus
the tail stays below half that share, the other half being left to the Tucker
truncation (checked in the maximum norm by
:func:`~soptim.approx._chebtucker._compress`).

That forecast is a cautious bound, 3-10 times the interpolant's error on
smooth functions (erf(10 r)/r on the 65^3 grid: forecast 3.1 tol, error 0.32
tol), so alone it doubles once too often. Added (not in Chebfun, whose
``standardChop`` needs the next level's coefficients to see the plateau): a
level whose forecast is geometric and within ``_CHECK_GATE = 16`` times tol,
when doubling would cost more than twice the check, is measured: the grid's
interpolant against ``f`` at ``_GRID_CHECK_POINTS = 2000`` random points (fixed
seed; counted in ``n_evaluations``), and kept when ``_GRID_CHECK_FACTOR = 2``
times the measured maximum is within 0.9 tol (that product is then the
degree's share of ``error_estimate``). The factor is smaller than the cross's
8 because the situations differ: the grid has sampled ``f`` everywhere at its
spacing and its coefficients have decayed (the gate), so the check measures
the size of a smooth error between nodes, not whether a feature was missed;
with 2000 points the true/measured ratio was 1.08-1.25 (median) and at most
1.78 over 50 seeds on erf(10 r)/r, the Runge function and Gaussians. A
fallback forecast (algebraic decay, dips: a kink, whose error is local and
which random points miss by up to 3x) is never checked. So the grid stops at
the level that holds the kept degree (``2^k + 1 >= degree + 1``) unless
``f`` is not resolved there. A caller's fixed degree is reported with the
more cautious :func:`~soptim.approx._chebyshev.extrapolated_tail`, doubled
for aliasing.

Measured (random points, relative to ``max|f|``, 15 functions in 1-3 D at tol
1e-4..1e-10, the list in ``benchmarks/bench_approx.py``): before, fronts
``tanh(20 (x - y))`` missed tol 3.6-5.4 times and ``cos(100 x y)`` 1.3-1.6
times with ``converged=True``; now every converged fit is within tol and no
estimate is below the measured error. With the check (the same class, and 5
check seeds: measured error / estimate at most 0.68), values of ``f`` before ->
after: erf(10 r)/r at 1e-6 2,146,689 -> 276,625 (65^3 + 2000), exp(-r^2) at
1e-10 35,937 -> 6,913, Runge 3-D at 1e-4 274,625 -> 37,937, cos(100 x y) at
1e-4 66,049 -> 18,641; a failed check costs 2000 (tanh(20 (x - y)) at 1e-4,
whose 129^2 interpolant misses tol by 1.07: 66,049 -> 68,049).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..backend import Backend
from ._chebyshev import chop_length, extrapolated_tail, tail_profile, vals2coeffs2
from ._kernels import _evaluate_chunked
from ._sampling import GridSampler, PointSampler

__all__ = ["ResolutionWarning", "adaptive_grid", "fixed_grid", "values_to_coeffs",
           "chop_axis", "fixed_degree_report", "grid_forecast", "grid_tail"]

_SAMPLE_BUDGET = 1 << 24  # default max_degree keeps (max_degree + 1)^d below this
_GRID_CHECK_POINTS = 2000  # random points of the measured check of a grid level
_CHECK_SEED = 20170  # fixed: the same f gives the same fit
# error estimate of a level accepted by the check: this many times the check's maximum
# (true/check ratios with 2000 points, 50 seeds, on the smooth cases of the grid class:
# median 1.1-1.25, at most 1.78 for the peak of erf(10r)/r)
_GRID_CHECK_FACTOR = 2.0
# a level is accepted when the estimate is within this share of tol (the rest is left to
# the Tucker truncation)
_CHECK_ACCEPT = 0.9
# the check is tried only when the geometric forecast is within this factor of tol (it
# is 3-10 times the measured error on the class; a larger forecast means the grid is far)
_CHECK_GATE = 16.0


class ResolutionWarning(UserWarning):
    """A function was not resolved to the requested tolerance within ``max_degree``."""


def default_caps(d: int) -> list[int]:
    """The default ``max_degree`` of the grid path: the largest ``2^k`` with
    ``(2^k + 1)^d <= 2^24`` samples (and at most ``2^16``)."""
    cap = 1 << max(1, int(np.floor(np.log2(_SAMPLE_BUDGET ** (1.0 / d) - 1))))
    return [min(cap, 1 << 16)] * d


def values_to_coeffs(values: Any, be: Backend) -> Any:
    """Values on the second-kind grid -> the Chebyshev coefficient tensor (DCT-I per axis)."""
    C = values
    for l in range(values.ndim):
        C = vals2coeffs2(C, axis=l, be=be)
    return C


def chop_axis(profile: np.ndarray, outside: float, threshold: float) -> tuple[int, float]:
    """Shortest length whose dropped tail plus ``outside`` is below ``threshold``."""
    n = chop_length(profile, outside, threshold)
    return n, float(profile[n:].sum()) + outside


def grid_tail(profile: np.ndarray, floor: float = 0.0) -> float:
    """Estimate the max error of the grid's interpolant from the ``m`` computed profile entries.

    The tail of :func:`grid_forecast` (which also says whether it was the
    geometric forecast or the cautious fallback).
    """
    return grid_forecast(profile, floor)[0]


def grid_forecast(profile: np.ndarray, floor: float = 0.0) -> tuple[float, bool]:
    """``(tail, geometric)``: the forecast of the grid interpolant's max error.

    ``geometric`` is False when the cautious fallback below was returned.

    Even and odd degrees are extrapolated apart (an even or odd function has
    zeros at every other degree, which must neither look like convergence nor
    be counted in the tail): for each parity, the envelope ``E`` of its
    entries (``E[j] = max_{i >= j} a[i]``) gives the decay rate ``r`` per
    two degrees over a quarter of them (at least 3 steps) that ends an eighth
    before the last entry, and the tail beyond the grid is the geometric sum
    from that reference entry, ``2 E[ref] r^-(n-ref) r / (r - 1)``. The last
    eighth is left out because the aliases of the degrees beyond the grid
    (``c_k = a_k + a_{2m-k} + ...`` on the second-kind grid) can cancel there:
    for ``tanh(40 x)`` the last computed coefficients fall 100 times faster
    than the true ones, and a rate fitted through them underestimated the
    error ten-fold. The factor 2 is the interpolant's aliasing error
    (``|f - p_m| <= 2 sum_{k >= m} |a_k|``). The forecast is trusted only for
    a clean geometric or faster decay over the last quarter; with dips
    (``a < E/4``), a step steeper than ``2 r``, a rate ``r - 1`` below 0.9 times
    that over the last half (algebraic decay ``k^-p`` gives about 0.85, a
    plateau far less; a clean geometric decay 1 up to rounding) or no visible decay
    (``r <= 1 + 1/n``, ``n`` entries of that parity) the cautious
    :func:`~soptim.approx._chebyshev.extrapolated_tail` (the larger of those
    of all entries and of the entries before the last eighth), times 4
    (aliasing, and ``p/(p-1) <= 2`` for an algebraic decay ``k^-p`` with
    ``p >= 2``), is returned instead, so a chance small end never declares an
    axis resolved. Fewer
    than 5 entries of a parity count as ``max * n``. Entries at or below
    ``floor`` (the rounding level of the samples) are noise, not coefficients:
    a plateau there is resolution (as the plateau of Chebfun's
    ``standardChop``), not slow decay.
    """
    tail = 0.0
    profile = np.asarray(profile, dtype=float)
    # the cautious forecast, from the entries before the last eighth (the aliases again),
    # times 2 for aliasing and 2 for algebraic decay k^-p: its local rate sees the tail
    # as a[m] m / p where it is a[m] m / (p - 1), and a kink has p = 2
    # (the larger with and without the last eighth: a rising end is a missed feature)
    fallback = 4.0 * max(extrapolated_tail(profile), extrapolated_tail(
        profile[:max(5, profile.shape[0] - profile.shape[0] // 8)]))
    profile = np.where(profile <= floor, 0.0, profile)
    for q in (0, 1):
        s = np.asarray(profile[q::2], dtype=float)
        n = s.shape[0]
        if n == 0:
            continue
        if n < 5:
            tail += float(s.max()) * n
            continue
        env = np.maximum.accumulate(s[::-1])[::-1]
        j1 = max(0, n - 1 - max(3, n // 4))
        if np.any(s[j1:] < 0.25 * env[j1:]):
            # dips in the last quarter (a modulated algebraic decay, or the
            # aliases of a feature the grid misses): no clean geometric decay
            return fallback, False
        if float(env[-1]) == 0.0:
            continue
        # the rate over a quarter ending an eighth before the end (clear of the aliases)
        je = n - 1 - max(1, n // 8)
        jb = max(0, je - max(3, n // 4))
        ref = float(env[je])
        r = (float(env[jb]) / ref) ** (1.0 / (je - jb))
        if np.any(s[jb:je] > 2.0 * r * s[jb + 1:je + 1]):
            # a step far steeper than the rate: the small end is chance, not decay
            return fallback, False
        j0 = je // 2 if je - je // 2 > je - jb else 0
        r_half = (float(env[j0]) / ref) ** (1.0 / (je - j0)) if j0 < jb else r
        if r - 1.0 < 0.9 * (r_half - 1.0) or r <= 1.0 + 1.0 / n:
            # decay slowing down over the end (algebraic, a plateau, or aliasing of
            # a feature the grid misses): no geometric forecast is trusted
            return fallback, False
        # the reference entry may still carry a cancelling alias of size ref r^-2(n-1-je)
        ref /= max(0.5, 1.0 - r ** (-2.0 * (n - 1 - je)))
        tail += 2.0 * ref * r ** (je - n) * min(r / (r - 1.0), float(n))
    return tail, True


def _measured_error(sampler: GridSampler, C: Any, be: Backend) -> float:
    """``max |f - p|`` of the grid interpolant ``p`` (coefficients ``C``) at random points.

    The points are the same for every call (a fixed seed), uniform in the box;
    their values of ``f`` are counted in ``sampler.nfev``.
    """
    d = C.ndim
    t = np.random.default_rng(_CHECK_SEED).uniform(-1.0, 1.0, (_GRID_CHECK_POINTS, d))
    points = PointSampler(sampler.f, sampler.box, be, sampler.executor)
    exact = points([be.asarray(sampler.box.from_unit(l, t[:, l])) for l in range(d)])
    sampler.nfev += points.nfev
    identity = [be.xp.eye(int(n)) for n in C.shape]
    approx = _evaluate_chunked(be.asarray(t), C, identity, be)
    return float(be.xp.abs(approx - exact).max())


def _noise_floor(shape: tuple, axis: int) -> float:
    """Relative rounding level of a mode-``axis`` slice sum of the coefficient tensor.

    Each coefficient carries an error of a few ulps of ``max|f|``; a slice sum of
    ``M`` such errors of random sign is about ``sqrt(M)`` ulps.
    """
    entries = float(np.prod(shape)) / shape[axis]
    return np.finfo(float).eps * np.sqrt(entries)


def _chop(C: Any, profiles: list, outside: list, limits: list) -> tuple[Any, float]:
    """Chop every axis to its shortest length within its limit; return the total tail."""
    lengths, tail = [], 0.0
    for l in range(C.ndim):
        n, drop = chop_axis(profiles[l], outside[l], limits[l])
        lengths.append(n)
        tail += drop
    return C[tuple(slice(0, n) for n in lengths)].copy(), tail


def fixed_degree_report(m, tail: float, vscale: float, tol: float) -> tuple[bool, str]:
    """Whether a caller-fixed number of points per axis ``m`` resolves f to ``tol``, and why."""
    converged = tail <= tol * vscale
    message = (f"fixed degree {tuple(k - 1 for k in m)}; estimated degree tail "
               f"{tail / vscale if vscale else 0.0:.1e} (relative) "
               f"{'within' if converged else 'above'} tol={tol:g}")
    return converged, message


def fixed_grid(sampler: GridSampler, m: list[int], tol: float,
               be: Backend) -> tuple[Any, float, float, bool, str]:
    """Coefficients on the caller's grid: ``(C, vscale, tail, converged, message)``."""
    xp = be.xp
    values = sampler.start(m)
    C = values_to_coeffs(values, be)
    vscale = float(xp.abs(values).max())
    tail = sum(2.0 * extrapolated_tail(tail_profile(C, l, be)) for l in range(C.ndim))
    # a fixed degree is the caller's choice: no warning, but say whether it sufficed
    converged, message = fixed_degree_report(m, tail, vscale, tol)
    return C, vscale, tail, converged, message


def adaptive_grid(sampler: GridSampler, caps: list[int], m0: int, tol: float,
                  be: Backend, stacklevel: int,
                  max_samples: float = np.inf) -> tuple[Any, float, float, bool, str] | None:
    """Double the grid per axis until its tail is resolved, then chop.

    Resolution is judged on the current grid: by the forecast
    (:func:`grid_forecast`), or, when that is close to ``tol``, by the
    interpolant measured at random points (the module docstring), so the
    search stops at the first level that resolves ``f`` and samples no level
    beyond it.

    Returns ``(C, vscale, tail, converged, message)``, or None when resolving
    needs a grid of more than ``max_samples`` points (the caller switches to
    the cross); warns with
    :class:`ResolutionWarning` when ``caps`` stop the search before ``tol`` or
    ``tol`` is below the rounding level of the samples.
    """
    xp = be.xp
    d = len(caps)
    values = sampler.start([min(m0, c + 1) for c in caps])
    measured = None
    while True:
        C = values_to_coeffs(values, be)
        vscale = float(xp.abs(values).max())
        threshold = tol * vscale
        profiles = [tail_profile(C, l, be) for l in range(d)]
        # decided on this grid: no level is sampled past the one that resolves f
        floors = [_noise_floor(C.shape, l) * vscale for l in range(d)]
        forecasts = [grid_forecast(p, floors[l]) for l, p in enumerate(profiles)]
        outside = [tail for tail, _ in forecasts]
        # below the rounding level of the samples no degree helps
        limits = [max(threshold / d, floors[l]) for l in range(d)]
        unresolved = [l for l in range(d) if outside[l] > limits[l]]
        grow = [l for l in unresolved if 2 * (sampler.m[l] - 1) <= caps[l]]
        new_m = [2 * ml - 1 if l in grow else ml for l, ml in enumerate(sampler.m)]
        refine_cost = float(np.prod(new_m, dtype=float) - np.prod(sampler.m, dtype=float))
        if (unresolved and all(geometric for _, geometric in forecasts)
                and sum(outside) <= _CHECK_GATE * threshold
                and (not grow or _GRID_CHECK_POINTS <= 0.5 * refine_cost)):
            # the forecast is a cautious bound: measure the interpolant before doubling
            check = _measured_error(sampler, C, be)
            if _GRID_CHECK_FACTOR * check <= _CHECK_ACCEPT * threshold:
                measured = _GRID_CHECK_FACTOR * check
                outside = [measured / d] * d
                unresolved = []
                break
        if not grow:
            break
        if np.prod(new_m, dtype=float) > max_samples:
            return None
        values = sampler.refine(grow)
    converged = not unresolved
    # chopped to half the limits: the other half is left for the Tucker truncation
    C, tail = _chop(C, profiles, outside, [0.5 * lim for lim in limits])
    noisy = [l for l in range(d) if limits[l] > threshold / d]
    rel = tail / vscale if vscale else 0.0
    if converged and noisy:
        message = (f"tol={tol:g} is below the rounding level of the samples along axis "
                   f"{', '.join(map(str, noisy))}; resolved to about {rel:.1e} instead")
        warnings.warn(message, ResolutionWarning, stacklevel=stacklevel + 1)
    elif converged:
        message = f"resolved to tol={tol:g} with degrees {tuple(s - 1 for s in C.shape)}"
        if measured is not None:
            message += (f" (the grid's interpolant measured on {_GRID_CHECK_POINTS} random "
                        f"points: max error {measured / _GRID_CHECK_FACTOR / vscale:.1e}, "
                        "relative)")
    else:
        message = (
            f"f is not resolved to tol={tol:g} along axis {', '.join(map(str, unresolved))} "
            f"at max_degree={tuple(caps)}: the Chebyshev coefficients decay slowly (a kink "
            f"or singularity converges only algebraically); estimated relative error "
            f"{rel:.1e}. Raise max_degree, loosen tol, or split the box at the singularity."
        )
        warnings.warn(message, ResolutionWarning, stacklevel=stacklevel + 1)
    return C, vscale, tail, converged, message
