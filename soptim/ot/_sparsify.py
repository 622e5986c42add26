"""Which plan entries the sparsified Newton Hessian keeps.

The threshold is read off a histogram of ``log P`` (built during the O(nm)
plan pass, see :func:`._kernels.plan_marginals`), so choosing it costs O(bins), not
a sort. The rule is by *mass*: keep the largest entries until the dropped
mass is at most ``drop * sum(P)``. The error of the sparsified Hessian is
bounded by the dropped mass, so ``drop`` directly controls the contraction
factor of the inexact Newton iteration; the Newton stage adapts it (fewer
entries after good steps, more after slow ones) instead of fixing a budget.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import to_numpy

__all__ = ["choose_threshold", "DensityController"]


def choose_threshold(counts, window, drop: float, min_nnz: int, max_nnz: int):
    """Threshold on ``P`` keeping the largest entries until the dropped mass <= ``drop``.

    Parameters
    ----------
    counts : array of int
        Histogram of ``log P`` over ``window = (lo, scale)``: bin k holds
        ``lo + k/scale <= log P < lo + (k+1)/scale``.
    drop : float
        Largest dropped fraction of the total mass.
    min_nnz, max_nnz : int
        Bounds on the number of kept entries (the cap wins).

    Returns
    -------
    thresh : float
        Keep ``P_ij >= thresh`` (0 keeps everything).
    nnz : int
        Estimated number of kept entries.
    """
    counts = np.asarray(to_numpy(counts), dtype=np.float64)
    lo, scale = window
    nb = counts.size
    centers = np.exp(lo + (np.arange(nb) + 0.5) / scale)
    mass = counts * centers
    total = float(mass.sum())
    kept_mass = 0.0
    kept = 0.0
    for k in range(nb - 1, 0, -1):
        if kept + counts[k] > max_nnz and kept >= min_nnz:
            return math.exp(lo + (k + 1) / scale), int(kept)
        kept += counts[k]
        kept_mass += mass[k]
        if kept >= min_nnz and total - kept_mass <= drop * total:
            return math.exp(lo + k / scale), int(kept)
    return 0.0, int(counts.sum())


class DensityController:
    """Adapts the dropped-mass fraction ``drop`` from the progress of Newton steps.

    A full step that cuts the marginal error by ``good`` or more lets ``drop``
    grow (sparser Hessians); a damped step or a slow decrease shrinks it by
    ``shrink`` (denser Hessians), down to ``drop_min`` where the Hessian is
    essentially exact -- so the Newton stage cannot stall on too few entries.
    """

    def __init__(self, drop0: float = 1e-2, drop_min: float = 1e-14, drop_max: float = 0.1,
                 good: float = 0.05, slow: float = 0.2, shrink: float = 0.1, grow: float = 2.0):
        self.drop = float(drop0)
        self.drop_min, self.drop_max = float(drop_min), float(drop_max)
        self.good, self.slow = float(good), float(slow)
        self.shrink, self.grow = float(shrink), float(grow)

    def update(self, ratio: float, step: float) -> None:
        """Record a step: ``ratio`` = new error / old error, ``step`` = accepted step length."""
        if step < 1.0 or ratio > self.slow:
            self.drop = max(self.drop * self.shrink, self.drop_min)
        elif ratio < self.good:
            self.drop = min(self.drop * self.grow, self.drop_max)

    def densify(self) -> bool:
        """After a failed step: shrink ``drop``; False when it is already at the floor."""
        if self.drop <= self.drop_min:
            return False
        self.drop = max(self.drop * self.shrink, self.drop_min)
        return True
