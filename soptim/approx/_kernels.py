"""Evaluation of a Chebyshev-Tucker approximant at scattered points.

Per point ``x``: ``F_l = T(x_l) V_l`` for every axis (Clenshaw on all ``r_l``
columns of ``V_l`` at once), then the core contracted with ``F_d``, ...,
``F_1``; cost ``O(sum m_l r_l + prod r_l)`` per point.

The numba kernel fuses both steps and runs in parallel over blocks of points;
within a block every inner loop runs over the block's points, so it
vectorizes (work buffers are allocated once per block). The array-module fallback does
the same computation in vectorized chunks and is the CuPy path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backend import njit, numba_available, prange
from ._chebyshev import clenshaw

__all__ = ["evaluate_points", "pack_factors"]

_BLOCK = 64  # points per parallel task in the numba kernel (at most)
_CHUNK_ENTRIES = 1 << 22  # array entries per chunk in the vectorized path


@njit(parallel=True, fastmath=True)
def _evaluate_kernel(t, Vpack, ms, rs, core, out, block):  # pragma: no cover - compiled
    # Blocks of `block` points per task; every inner loop runs over the points of
    # the block (contiguous, no reduction) so it vectorizes.
    n_pts, d = t.shape
    rmax = Vpack.shape[2]
    nblk = (n_pts + block - 1) // block
    wrows = core.size // rs[d - 1]
    for blk in prange(nblk):
        F = np.empty((d, rmax, block))
        b1 = np.empty((rmax, block))
        b2 = np.empty((rmax, block))
        xs = np.empty(block)
        work = np.empty((wrows, block))
        acc = np.empty(block)
        start = blk * block
        nb = min(n_pts, start + block) - start
        # F_l[q, p] = sum_k V_l[k, q] T_k(x_p): Clenshaw on all columns at once
        for l in range(d):
            r = rs[l]
            for p in range(nb):
                xs[p] = t[start + p, l]
            for q in range(r):
                for p in range(nb):
                    b1[q, p] = 0.0
                    b2[q, p] = 0.0
            for k in range(ms[l] - 1, 0, -1):
                for q in range(r):
                    c = Vpack[l, k, q]
                    for p in range(nb):
                        tmp = c + 2.0 * xs[p] * b1[q, p] - b2[q, p]
                        b2[q, p] = b1[q, p]
                        b1[q, p] = tmp
            for q in range(r):
                c = Vpack[l, 0, q]
                for p in range(nb):
                    F[l, q, p] = c + xs[p] * b1[q, p] - b2[q, p]
        # contract the core (C order) with F_d, ..., F_1; row j of `work` is only
        # written after rows j*r .. j*r + r - 1 (>= j) have been read
        size = core.size
        for l in range(d - 1, -1, -1):
            r = rs[l]
            size //= r
            for j in range(size):
                for p in range(nb):
                    acc[p] = 0.0
                for q in range(r):
                    if l == d - 1:
                        c = core[j * r + q]
                        for p in range(nb):
                            acc[p] += c * F[l, q, p]
                    else:
                        for p in range(nb):
                            acc[p] += work[j * r + q, p] * F[l, q, p]
                for p in range(nb):
                    work[j, p] = acc[p]
        for p in range(nb):
            out[start + p] = work[0, p]


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
        # keep the per-task work array (rows x block) near 2^18 entries
        rows = max(1, int(np.prod(core.shape[:-1], dtype=np.int64)))
        block = int(max(4, min(_BLOCK, (1 << 18) // rows)))
        _evaluate_kernel(np.ascontiguousarray(t, dtype=np.float64), Vpack, ms, rs,
                         np.ascontiguousarray(core, dtype=np.float64).reshape(-1), out, block)
        return out
    return _evaluate_chunked(t, core, factors, xp)
