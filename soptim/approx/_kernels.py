"""Evaluation of a Chebyshev-Tucker approximant at scattered points.

Per point ``x``: ``F_l = T(x_l) V_l`` for every axis (Clenshaw on all ``r_l``
columns of ``V_l`` at once), then the core contracted with ``F_d``, ...,
``F_1``; cost ``O(sum m_l r_l + prod r_l)`` per point.

The numba kernel fuses both steps and runs in parallel over blocks of points
(work buffers are allocated once per block). The array-module fallback does
the same computation in vectorized chunks and is the CuPy path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backend import njit, numba_available, prange
from ._chebyshev import clenshaw

__all__ = ["evaluate_points", "pack_factors"]

_BLOCK = 256  # points per parallel task in the numba kernel
_CHUNK_ENTRIES = 1 << 22  # array entries per chunk in the vectorized path


@njit(parallel=True, fastmath=True)
def _evaluate_kernel(t, Vpack, ms, rs, core, out):  # pragma: no cover - compiled
    n_pts, d = t.shape
    rmax = Vpack.shape[2]
    nblk = (n_pts + _BLOCK - 1) // _BLOCK
    for blk in prange(nblk):
        F = np.empty((d, rmax))
        b1 = np.empty(rmax)
        b2 = np.empty(rmax)
        work = np.empty(core.size)
        stop = min(n_pts, (blk + 1) * _BLOCK)
        for n in range(blk * _BLOCK, stop):
            for l in range(d):
                x = t[n, l]
                two_x = 2.0 * x
                r = rs[l]
                for q in range(r):
                    b1[q] = 0.0
                    b2[q] = 0.0
                for k in range(ms[l] - 1, 0, -1):
                    for q in range(r):
                        tmp = Vpack[l, k, q] + two_x * b1[q] - b2[q]
                        b2[q] = b1[q]
                        b1[q] = tmp
                for q in range(r):
                    F[l, q] = Vpack[l, 0, q] + x * b1[q] - b2[q]
            # contract the core (C order) from the last axis to the first
            size = core.size
            for l in range(d - 1, -1, -1):
                r = rs[l]
                size //= r
                for j in range(size):
                    s = 0.0
                    base = j * r
                    if l == d - 1:
                        for q in range(r):
                            s += core[base + q] * F[l, q]
                    else:
                        for q in range(r):
                            s += work[base + q] * F[l, q]
                    work[j] = s
            out[n] = work[0]


def pack_factors(factors: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-padded ``(d, max m, max r)`` array of the factors with their sizes."""
    d = len(factors)
    ms = np.array([U.shape[0] for U in factors], dtype=np.int64)
    rs = np.array([U.shape[1] for U in factors], dtype=np.int64)
    Vpack = np.zeros((d, int(ms.max()), int(rs.max())))
    for l, U in enumerate(factors):
        Vpack[l, : U.shape[0], : U.shape[1]] = U
    return Vpack, ms, rs


def _evaluate_chunked(t: Any, core: Any, factors: Sequence[Any], xp: Any) -> Any:
    n_pts, d = t.shape
    ranks = core.shape
    width = max(int(np.prod(ranks[1:], dtype=np.int64)) if d > 1 else 1,
                max(U.shape[0] for U in factors))
    chunk = max(1, _CHUNK_ENTRIES // width)
    if xp is np:  # on the host, small chunks keep Clenshaw's temporaries in cache
        chunk = min(chunk, 4096)
    out = xp.empty(n_pts)
    for start in range(0, n_pts, chunk):
        tc = t[start:start + chunk]
        # W[n, ...] = core x_1 F_1[n]: contract axis by axis, keeping the point index first
        W = clenshaw(tc[:, 0], factors[0], xp) @ core.reshape(ranks[0], -1)
        for l in range(1, d):
            F = clenshaw(tc[:, l], factors[l], xp)
            W = xp.matmul(F[:, None, :], W.reshape(W.shape[0], ranks[l], -1))[:, 0, :]
        out[start:start + chunk] = W[:, 0]
    return out


def evaluate_points(t: Any, core: Any, factors: Sequence[Any], xp: Any = np) -> Any:
    """Values of ``sum core[i] prod_l (T(t[:, l]) V_l)[:, i_l]`` at ``t`` (N x d, in [-1,1]^d).

    Uses the parallel numba kernel for NumPy input when numba is available,
    otherwise the vectorized array-module path.
    """
    if xp is np and numba_available():
        Vpack, ms, rs = pack_factors(factors)
        out = np.empty(t.shape[0])
        _evaluate_kernel(np.ascontiguousarray(t, dtype=np.float64), Vpack, ms, rs,
                         np.ascontiguousarray(core, dtype=np.float64).reshape(-1), out)
        return out
    return _evaluate_chunked(t, core, factors, xp)
