"""The degree per axis from Chebyshev coefficients: tails, chopping and the
adaptive full-grid search (the reference path of :meth:`ChebTucker.fit`).

The adaptive search decides on the current grid, without sampling the next
level: the tail of an axis is the extrapolated sum beyond the grid of its
mode-slice coefficient profile, fitted per parity from the last quarter of
each (even and odd degrees) envelope, from the last computed coefficient on
(:func:`grid_tail`, in the spirit of Chebfun's ``standardChop``: a tail that
has visibly decayed over the end of the computed coefficients). The last
coefficients of a grid already carry the aliased part of the coefficients
beyond it, so they are not doubled again. An axis is resolved when its tail is
below its share ``tol * max|f| / d`` (or the rounding level of the samples,
whichever is larger), and the kept length is the shortest whose dropped part
plus the extrapolated tail stays below that share; so the grid stops at the
level that holds the kept degree (``2^k + 1 >= degree + 1``) unless the
coefficients at its end have not decayed yet. A caller's fixed degree is
reported with the more cautious
:func:`~soptim.approx._chebyshev.extrapolated_tail`, doubled for aliasing.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..backend import Backend
from ._chebyshev import chop_length, extrapolated_tail, tail_profile, vals2coeffs2
from ._sampling import GridSampler

__all__ = ["ResolutionWarning", "adaptive_grid", "fixed_grid", "values_to_coeffs",
           "chop_axis", "fixed_degree_report", "grid_tail"]

_SAMPLE_BUDGET = 1 << 24  # default max_degree keeps (max_degree + 1)^d below this


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
    """Estimate ``sum_{k >= m} a[k]`` beyond the ``m`` computed profile entries.

    Even and odd degrees are extrapolated apart (an even or odd function has
    zeros at every other degree, which must neither look like convergence nor
    be counted in the tail): for each parity, the envelope ``E`` of its
    entries (``E[j] = max_{i >= j} a[i]``) gives the decay rate ``r`` per
    two degrees over the last quarter of them (at least 3 steps), and the
    tail beyond the grid is the geometric sum ``E[last] / (r - 1)``, from the
    last computed entry (no doubling: the last entries of a grid already
    carry the aliases of the coefficients beyond it). The forecast is trusted
    only for a clean geometric or faster decay over that quarter; with dips
    (``a < E/4``), a step steeper than ``2 r``, a rate slower than over the
    last half (algebraic decay, a plateau) or no visible decay
    (``r <= 1 + 1/n``, ``n`` entries of that parity) the cautious
    :func:`~soptim.approx._chebyshev.extrapolated_tail`, doubled, is returned
    instead, so a chance small end never declares an axis resolved. Fewer
    than 4 entries of a parity count as ``max * n``. Entries at or below
    ``floor`` (the rounding level of the samples) are noise, not coefficients:
    a plateau there is resolution (as the plateau of Chebfun's
    ``standardChop``), not slow decay.
    """
    tail = 0.0
    fallback = 2.0 * extrapolated_tail(np.asarray(profile, dtype=float))
    profile = np.where(np.asarray(profile, dtype=float) <= floor, 0.0, profile)
    for q in (0, 1):
        s = np.asarray(profile[q::2], dtype=float)
        n = s.shape[0]
        if n == 0:
            continue
        if n < 4:
            tail += float(s.max()) * n
            continue
        env = np.maximum.accumulate(s[::-1])[::-1]
        j1 = max(0, n - 1 - max(3, n // 4))
        if np.any(s[j1:] < 0.25 * env[j1:]):
            # dips in the last quarter (a modulated algebraic decay, or the
            # aliases of a feature the grid misses): no clean geometric decay
            return fallback
        last = float(env[-1])
        if last == 0.0:
            continue
        r = (float(env[j1]) / last) ** (1.0 / (n - 1 - j1))
        if np.any(s[j1:-1] > 2.0 * r * s[j1 + 1:]):
            # a step far steeper than the rate: the small end is chance, not decay
            return fallback
        j0 = n // 2 if n - 1 - n // 2 > n - 1 - j1 else 0
        r_half = (float(env[j0]) / last) ** (1.0 / (n - 1 - j0)) if j0 < j1 else r
        if r < r_half or r <= 1.0 + 1.0 / n:
            # decay slowing down over the end (algebraic, a plateau, or aliasing of
            # a feature the grid misses): no geometric forecast is trusted
            return fallback
        tail += last * min(1.0 / (r - 1.0), float(n))
    return tail


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

    Resolution is judged on the current grid (:func:`grid_tail`), so the
    search stops at the first level whose coefficients show a converged tail,
    and samples no level beyond it.

    Returns ``(C, vscale, tail, converged, message)``, or None when resolving
    needs a grid of more than ``max_samples`` points (the caller switches to
    the cross); warns with
    :class:`ResolutionWarning` when ``caps`` stop the search before ``tol`` or
    ``tol`` is below the rounding level of the samples.
    """
    xp = be.xp
    d = len(caps)
    values = sampler.start([min(m0, c + 1) for c in caps])
    while True:
        C = values_to_coeffs(values, be)
        vscale = float(xp.abs(values).max())
        threshold = tol * vscale
        profiles = [tail_profile(C, l, be) for l in range(d)]
        # decided on this grid: no level is sampled past the one that resolves f
        floors = [_noise_floor(C.shape, l) * vscale for l in range(d)]
        outside = [grid_tail(p, floors[l]) for l, p in enumerate(profiles)]
        # below the rounding level of the samples no degree helps
        limits = [max(threshold / d, floors[l]) for l in range(d)]
        unresolved = [l for l in range(d) if outside[l] > limits[l]]
        grow = [l for l in unresolved if 2 * (sampler.m[l] - 1) <= caps[l]]
        if not grow:
            break
        if np.prod([2 * ml - 1 if l in grow else ml for l, ml in enumerate(sampler.m)],
                   dtype=float) > max_samples:
            return None
        values = sampler.refine(grow)
    converged = not unresolved
    C, tail = _chop(C, profiles, outside, limits)
    noisy = [l for l in range(d) if limits[l] > threshold / d]
    rel = tail / vscale if vscale else 0.0
    if converged and noisy:
        message = (f"tol={tol:g} is below the rounding level of the samples along axis "
                   f"{', '.join(map(str, noisy))}; resolved to about {rel:.1e} instead")
        warnings.warn(message, ResolutionWarning, stacklevel=stacklevel + 1)
    elif converged:
        message = f"resolved to tol={tol:g} with degrees {tuple(s - 1 for s in C.shape)}"
    else:
        message = (
            f"f is not resolved to tol={tol:g} along axis {', '.join(map(str, unresolved))} "
            f"at max_degree={tuple(caps)}: the Chebyshev coefficients decay slowly (a kink "
            f"or singularity converges only algebraically); estimated relative error "
            f"{rel:.1e}. Raise max_degree, loosen tol, or split the box at the singularity."
        )
        warnings.warn(message, ResolutionWarning, stacklevel=stacklevel + 1)
    return C, vscale, tail, converged, message
