"""Evaluation of a Chebyshev-Tucker approximant at scattered points.

Per point ``x``: ``F_l = T(x_l) V_l`` for every axis (the kernel runs Clenshaw
on all ``r_l`` columns of ``V_l`` at once; the vectorized path multiplies the
Chebyshev-Vandermonde rows by ``V_l``), then the core contracted with ``F_d``,
..., ``F_1``; cost ``O(sum m_l r_l + prod r_l)`` per point.

The numba kernel fuses both steps over blocks of points; within a block every
inner loop runs over the block's points, so it vectorizes (work buffers are
allocated once per call). It is compiled for one signature only (float64
C-contiguous arrays, int64 sizes) and releases the GIL, so large evaluations
run it on slices of the points in a few Python threads instead of a
``parallel=True`` variant, whose compilation alone takes several seconds.
Until the kernel is compiled in the process, small evaluations take the
vectorized array-module path (also the GPU path): a few times slower per
point, but without the seconds of a first compilation (or the fraction of a
second of loading it from numba's disk cache).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..backend import NUMPY, Backend, announce_compilation, njit
from ._chebyshev import chebvander

__all__ = ["evaluate_points", "pack_factors"]

_BLOCK = 64  # points per block in the numba kernel (at most)
_CHUNK_ENTRIES = 1 << 22  # array entries per chunk in the vectorized path
_HOST_CHUNK = 4096  # host memory: small chunks keep the Vandermonde temporaries in cache
# Work units (points x (sum m_l r_l + prod r_l)) from which making the kernel ready
# beats the vectorized path (~1e-9 s per unit): compiling it takes ~2-3 s on a 2-core
# VM, loading it from numba's disk cache ~0.3-0.6 s (LLVM start-up included).
_COMPILE_MIN_WORK = 1 << 26
_LOAD_MIN_WORK = 1 << 23
_THREAD_MIN_POINTS = 1 << 15  # points per thread worth a task of the thread pool

_POOL: tuple[int, ThreadPoolExecutor] | None = None  # (workers, pool), made on first use


def _threads() -> int:
    """Worker threads for the kernel: ``NUMBA_NUM_THREADS`` if set, else the usable cores."""
    env = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _pool(n: int) -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None or _POOL[0] < n:
        if _POOL is not None:
            _POOL[1].shutdown(wait=False)  # NUMBA_NUM_THREADS grew: a larger pool replaces it
        _POOL = (n, ThreadPoolExecutor(max_workers=n, thread_name_prefix="soptim-approx"))
    return _POOL[1]


@njit(nogil=True, fastmath=True)
def _evaluate_kernel(t, Vpack, ms, rs, core, out, block):  # pragma: no cover - compiled
    # Blocks of `block` points; every inner loop runs over the points of the
    # block (contiguous, no reduction) so it vectorizes.
    n_pts, d = t.shape
    rmax = Vpack.shape[2]
    nblk = (n_pts + block - 1) // block
    wrows = core.size // rs[d - 1]
    F = np.empty((d, rmax, block))
    b1 = np.empty((rmax, block))
    b2 = np.empty((rmax, block))
    xs = np.empty(block)
    work = np.empty((wrows, block))
    acc = np.empty(block)
    for blk in range(nblk):
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


def _evaluate_chunked(t: Any, core: Any, factors: Sequence[Any], be: Backend) -> Any:
    xp = be.xp
    n_pts, d = t.shape
    ranks = core.shape
    width = max(int(np.prod(ranks[1:], dtype=np.int64)) if d > 1 else 1,
                max(U.shape[0] for U in factors))
    chunk = max(1, _CHUNK_ENTRIES // width)
    if be.on_host:  # a device wants large launches; host memory wants cache-sized chunks
        chunk = min(chunk, _HOST_CHUNK)
    out = xp.empty(n_pts)
    for start in range(0, n_pts, chunk):
        tc = t[start:start + chunk]
        # F_l = T(x_l) V_l as one matrix product: the recurrence runs on the points
        # only (|T_k| <= 1 on the box keeps it stable), not on all r_l columns
        # W[n, ...] = core x_1 F_1[n]: contract axis by axis, keeping the point index first
        W = (chebvander(tc[:, 0], factors[0].shape[0], be) @ factors[0]) \
            @ core.reshape(ranks[0], -1)
        for l in range(1, d):
            F = chebvander(tc[:, l], factors[l].shape[0], be) @ factors[l]
            W = xp.einsum("nr,nrk->nk", F, W.reshape(W.shape[0], ranks[l], -1))
        out[start:start + chunk] = W[:, 0]
    return out


def _evaluate_numba(t: np.ndarray, core: np.ndarray, factors: Sequence[np.ndarray]) -> np.ndarray:
    """The fused kernel on float64 C-contiguous data (its one signature), threaded when large."""
    Vpack, ms, rs = pack_factors(factors)
    t = np.ascontiguousarray(t, dtype=np.float64)
    flat = np.ascontiguousarray(core, dtype=np.float64).reshape(-1)
    n_pts = t.shape[0]
    out = np.empty(n_pts)
    # keep the work array (rows x block) near 2^18 entries
    rows = max(1, int(np.prod(core.shape[:-1], dtype=np.int64)))
    block = int(max(4, min(_BLOCK, (1 << 18) // rows)))
    announce_compilation("soptim.approx", _evaluate_kernel)
    tasks = min(_threads(), n_pts // _THREAD_MIN_POINTS)
    if tasks <= 1:
        _evaluate_kernel(t, Vpack, ms, rs, flat, out, block)
        return out
    # the kernel releases the GIL: slices of the points run concurrently
    bounds = np.linspace(0, n_pts, tasks + 1).astype(np.int64)
    jobs = [_pool(tasks).submit(_evaluate_kernel, t[lo:hi], Vpack, ms, rs, flat, out[lo:hi],
                                block)
            for lo, hi in zip(bounds[:-1], bounds[1:])]
    for job in jobs:
        job.result()
    return out


def _kernel_min_work() -> int:
    """Smallest evaluation worth using the kernel: 0 once compiled in this process."""
    if getattr(_evaluate_kernel, "signatures", None):
        return 0
    try:
        cached = os.path.exists(_evaluate_kernel._cache._cache_file._index_path)
    except AttributeError:  # another numba cache layout: assume it must compile
        cached = False
    return _LOAD_MIN_WORK if cached else _COMPILE_MIN_WORK


def evaluation_work(n_pts: int, core: Any, factors: Sequence[Any]) -> int:
    """Work units of evaluating at ``n_pts`` points: ``n_pts (sum m_l r_l + prod r_l)``."""
    per_point = sum(int(U.shape[0]) * int(U.shape[1]) for U in factors) + int(core.size)
    return int(n_pts) * per_point


def evaluate_points(t: Any, core: Any, factors: Sequence[Any], be: Backend = NUMPY) -> Any:
    """Values of ``sum core[i] prod_l (T(t[:, l]) V_l)[:, i_l]`` at ``t`` (N x d, in [-1,1]^d).

    The fused numba kernel runs when ``be.use_numba`` and either it is
    compiled in this process or the evaluation is large enough to be worth
    loading it from numba's disk cache (``_LOAD_MIN_WORK``) or compiling it
    (``_COMPILE_MIN_WORK``); otherwise the vectorized array-module path runs
    (the only one on the GPU).
    """
    if be.use_numba and evaluation_work(t.shape[0], core, factors) >= _kernel_min_work():
        return _evaluate_numba(t, core, factors)
    return _evaluate_chunked(t, core, factors, be)
