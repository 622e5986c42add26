"""The box of an approximant and its affine map to the unit box ``[-1, 1]^d``.

A small value object in the style of ``numpy.polynomial``'s ``domain`` /
``window``: :meth:`Box.mapparms` gives ``(off, scl)`` with ``t = off + scl x``
and :meth:`Box.has_samedomain` is the same-box test of the arithmetic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import NUMPY, Backend, to_numpy
from ._chebyshev import chebpts2

__all__ = ["Box", "as_domain"]


def as_domain(domain: Any) -> list[tuple[float, float]]:
    """``domain`` as a list of finite ``(a, b)`` pairs with ``a < b`` (one pair per axis)."""
    try:
        arr = np.asarray(to_numpy(domain), dtype=float)
    except (TypeError, ValueError):
        raise TypeError("domain must be a sequence of (a, b) pairs") from None
    if arr.shape == (2,):
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ValueError(f"domain must be a sequence of (a, b) pairs, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("domain must be finite")
    bad = np.nonzero(arr[:, 0] >= arr[:, 1])[0]
    if bad.size:
        l = int(bad[0])
        raise ValueError(f"domain[{l}] = ({arr[l, 0]}, {arr[l, 1]}) must have a < b")
    return [(float(a), float(b)) for a, b in arr]


class Box:
    """The box ``[a_1, b_1] x ... x [a_d, b_d]`` and its map to ``[-1, 1]^d``.

    Parameters
    ----------
    domain : sequence of (a, b)
        One finite pair with ``a < b`` per axis (a single pair for ``d = 1``).

    Examples
    --------
    >>> from soptim.approx._domain import Box
    >>> box = Box([(0.0, 2.0), (-1.0, 3.0)])
    >>> box.mapparms(1)
    (-0.5, 0.5)
    >>> float(box.from_unit(1, box.to_unit(1, 2.5)))
    2.5
    >>> box.has_samedomain(Box([(0, 2), (-1, 3)]))
    True
    """

    def __init__(self, domain: Any) -> None:
        self.intervals = as_domain(domain)

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return len(self.intervals)

    def mapparms(self, l: int) -> tuple[float, float]:
        """``(off, scl)`` of the map ``t = off + scl * x`` of axis ``l`` onto ``[-1, 1]``."""
        a, b = self.intervals[l]
        return -(a + b) / (b - a), 2.0 / (b - a)

    def to_unit(self, l: int, x: Any) -> Any:
        """Coordinates ``x`` of axis ``l`` in ``[-1, 1]``."""
        a, b = self.intervals[l]
        return (2.0 * x - (a + b)) / (b - a)

    def from_unit(self, l: int, t: Any) -> Any:
        """Unit coordinates ``t`` of axis ``l`` back in ``[a_l, b_l]``."""
        a, b = self.intervals[l]
        return 0.5 * (a + b) + 0.5 * (b - a) * t

    def points(self, l: int, m: int, be: Backend = NUMPY) -> Any:
        """The ``m`` second-kind Chebyshev points of axis ``l``, ascending."""
        return self.from_unit(l, chebpts2(m, be))

    def has_samedomain(self, other: Box, rtol: float = 1e-14) -> bool:
        """Whether ``other`` is the same box (to ``rtol``, as the arithmetic needs)."""
        return other.ndim == self.ndim and bool(
            np.allclose(other.intervals, self.intervals, rtol=rtol, atol=0))

    def __repr__(self) -> str:
        return f"Box({self.intervals})"
