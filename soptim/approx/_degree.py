"""The degree per axis from Chebyshev coefficients: tails, chopping and the
adaptive full-grid search (the reference path of :meth:`ChebTucker.fit`).

The tail of an axis is the extrapolated sum of its mode-slice coefficient
profile (:func:`~soptim.approx._chebyshev.extrapolated_tail`), doubled for
aliasing; an axis is resolved when its tail is below its share
``tol * max|f| / d`` (or the rounding level of the samples, whichever is
larger), and the kept length is the shortest whose dropped part plus the
extrapolated tail stays below that share.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..backend import Backend
from ._chebyshev import chop_length, extrapolated_tail, tail_profile, vals2coeffs2
from ._sampling import GridSampler

__all__ = ["ResolutionWarning", "adaptive_grid", "fixed_grid", "values_to_coeffs",
           "chop_axis", "fixed_degree_report"]

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
        outside = [2.0 * extrapolated_tail(p) for p in profiles]
        # below the rounding level of the samples no degree helps
        limits = [max(threshold / d, _noise_floor(C.shape, l) * vscale) for l in range(d)]
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
