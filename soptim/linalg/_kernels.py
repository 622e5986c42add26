"""Row-action kernels of the sketch-and-project solvers (numba, with NumPy fallbacks).

Both kernels work on a CSR matrix ``K`` (``indptr, indices, data``) and keep
the residual ``res = K z - r`` up to date *incrementally*: a step that changes
``z`` on the columns ``J`` updates ``res`` with those columns of ``K`` only
(read as rows of the CSR form of ``K^T``), so no step recomputes ``K z``.

The random choices (rows, Gaussian vectors) are drawn by the caller with a
NumPy Generator and passed in, so the numba and NumPy paths take the same
steps and a seed fixes the iterates. Which path runs is the backend's one
numba switch, ``be.use_numba`` (``SOPTIM_DISABLE_NUMBA=1`` selects the NumPy
twins).
"""

from __future__ import annotations

import numpy as np

from ..backend import Backend, announce_compilation, njit

__all__ = ["kaczmarz_sweep", "gaussian_steps"]


@njit(cache=True, nogil=True)
def _kaczmarz_sweep_numba(indptr, indices, data, tindptr, tindices, tdata, rownorm2, rows,
                          z, res):  # pragma: no cover - compiled
    for t in range(rows.shape[0]):
        i = rows[t]
        nrm = rownorm2[i]
        if nrm == 0.0:
            continue
        alpha = res[i] / nrm
        if alpha == 0.0:
            continue
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            dzj = alpha * data[p]
            z[j] -= dzj
            # column j of K = row j of K^T: the incremental residual update
            for q in range(tindptr[j], tindptr[j + 1]):
                res[tindices[q]] -= tdata[q] * dzj


def _kaczmarz_sweep_numpy(K, KT, rownorm2, rows, z, res):
    for i in rows:
        nrm = rownorm2[i]
        if nrm == 0.0:
            continue
        alpha = res[i] / nrm
        if alpha == 0.0:
            continue
        s, e = K.indptr[i], K.indptr[i + 1]
        cols = K.indices[s:e]
        dz = alpha * K.data[s:e]
        z[cols] -= dz
        # K[:, cols] @ dz through the rows of K^T
        cols_op = KT[cols]
        np.subtract.at(res, cols_op.indices, cols_op.data * np.repeat(dz, np.diff(cols_op.indptr)))


def kaczmarz_sweep(K, KT, rownorm2, rows, z, res, be: Backend) -> None:
    """Randomized Kaczmarz steps ``z <- z - (K_i z - r_i)/||K_i||^2 K_i^T`` for ``i in rows``.

    ``K`` and ``KT`` are canonical host CSR matrices (``KT`` is ``K^T`` in CSR,
    i.e. the columns of ``K``); ``z`` and ``res = K z - r`` are updated in
    place. ``be.use_numba`` chooses the numba kernel or its NumPy twin.
    """
    if be.use_numba:
        announce_compilation("sketch_solve (Kaczmarz)", _kaczmarz_sweep_numba)
        _kaczmarz_sweep_numba(K.indptr, K.indices, K.data, KT.indptr, KT.indices, KT.data,
                              rownorm2, rows, z, res)
    else:
        _kaczmarz_sweep_numpy(K, KT, rownorm2, rows, z, res)


@njit(cache=True, nogil=True)
def _gaussian_steps_numba(indptr, indices, data, S, z, res, u):  # pragma: no cover - compiled
    M = indptr.shape[0] - 1
    for t in range(S.shape[0]):
        # u = K^T s  (scatter over the rows of K)
        u[:] = 0.0
        sr = 0.0
        for i in range(M):
            si = S[t, i]
            sr += si * res[i]
            for p in range(indptr[i], indptr[i + 1]):
                u[indices[p]] += data[p] * si
        nu2 = 0.0
        for j in range(u.shape[0]):
            nu2 += u[j] * u[j]
        if nu2 == 0.0:
            continue
        alpha = sr / nu2
        for j in range(u.shape[0]):
            z[j] -= alpha * u[j]
        # res <- res - alpha K u
        for i in range(M):
            acc = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                acc += data[p] * u[indices[p]]
            res[i] -= alpha * acc


def _gaussian_steps_numpy(K, KT, S, z, res):
    for s in S:
        u = KT @ s
        nu2 = float(u @ u)
        if nu2 == 0.0:
            continue
        alpha = float(s @ res) / nu2
        z -= alpha * u
        res -= alpha * (K @ u)


def gaussian_steps(K, KT, S, z, res, be: Backend) -> None:
    """Gaussian-vector sketch steps ``z <- z - (s^T res)/||K^T s||^2 K^T s``, s the rows of S.

    ``z`` and ``res = K z - r`` are updated in place (two sparse products a
    step). ``be.use_numba`` chooses the numba kernel or its NumPy twin.
    """
    if be.use_numba:
        announce_compilation("sketch_solve (Gaussian)", _gaussian_steps_numba)
        u = np.empty(K.shape[1], dtype=K.dtype)
        _gaussian_steps_numba(K.indptr, K.indices, K.data, S, z, res, u)
    else:
        _gaussian_steps_numpy(K, KT, S, z, res)
