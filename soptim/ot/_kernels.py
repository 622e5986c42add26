"""Hot loops of the log-domain solvers: numba kernels and their array-module twins.

Every public function here takes a :class:`soptim.backend.Backend` and runs the
numba kernel when ``be.use_numba`` (NumPy input, numba importable and not
disabled) and otherwise the same arithmetic written against ``be.xp`` -- the
plain NumPy fallback and the CuPy path. Both paths follow the same formulas,
in the same order, so they give the same iterates up to rounding.

With numba, each O(nm) operation is one fused pass over the cost matrix: a
Sinkhorn half-sweep (row max, exponentials and sums), or the plan with both
marginals and a histogram of ``log P``. The exponential is a vectorizable
Cody-Waite/polynomial one (<= 1 ulp; numba's scalar libm ``exp`` is several
times slower than SIMD). Log-values are floored at :data:`LOG_FLOOR` so that
no subnormal numbers appear (an order of magnitude slower on x86, and
meaningless: such entries are below ``1e-304``).
"""

from __future__ import annotations

import numpy as np

from ..backend import announce_compilation, njit, numba_cached, prange

__all__ = [
    "LOG_FLOOR",
    "N_BINS",
    "row_softmin_update",
    "plan_marginals",
    "scaled_plan_marginals",
    "hist_stride",
    "select_entries",
    "newton_direction",
    "use_parallel",
    "announce",
    "numba_worth",
    "solve_backend",
]

#: Log-values below this are floored (exp(-700) ~ 1e-304 is the smallest normal scale we keep).
LOG_FLOOR = -700.0
#: Histogram of log-entries used to pick the sparsification threshold in O(nm).
N_BINS = 1024
#: Width in nats of the histogram window below its top.
HIST_SPAN = 64.0
#: About this many entries (whole rows) are histogrammed.
HIST_SAMPLE = 1 << 18


#: From this many plan entries the dense kernels run their parallel variants; below, the
#: serial ones (a parallel launch costs more than the work, and the parallel variants,
#: compiled only when first used, take seconds to compile).
PARALLEL_MIN_SIZE = 1 << 18
#: Kept entries from which the CG's sparse products run in parallel.
PARALLEL_MIN_NNZ = 1 << 20


def use_parallel(be, size: int) -> bool:
    """Whether the parallel numba variants run for an operation on ``size`` entries."""
    return be.use_numba and size >= PARALLEL_MIN_SIZE


def kernels_for(be, size: int, newton: bool) -> tuple:
    """The numba kernels a solve of ``size`` plan entries calls (for the compile notice)."""
    if not be.use_numba:
        return ()
    if size >= PARALLEL_MIN_SIZE:
        dense = (_nb_softmin_par, _nb_plan_par, _nb_transpose_dense)
        sparse = (_nb_scaled_plan_par, _nb_select_onepass, _nb_select_count, _nb_transpose,
                  _nb_newton_direction)
        if size >= PARALLEL_MIN_NNZ:
            sparse += (_nb_spmv_par,)
    else:
        dense = (_nb_softmin, _nb_plan)
        sparse = (_nb_scaled_plan, _nb_select, _nb_newton_direction)
    return dense + sparse if newton else dense


def announce(be, size: int, newton: bool) -> None:
    """Print the one-line notice when a solve is about to compile its numba kernels."""
    kernels = kernels_for(be, size, newton)
    if kernels:
        announce_compilation("soptim.ot", *kernels)


def _announce(*kernels) -> None:
    """The notice, just before the first call of ``kernels`` (a solve may never reach
    some kernels: the kernel-domain sweeps need no softmin, a converged warm start no
    Newton kernels), so it is printed only when something really compiles."""
    announce_compilation("soptim.ot", *kernels)


#: A solve of at least this many plan entries compiles the numba kernels it lacks
#: (2-core VM: the serial kernels compile in ~2-4 s; a NumPy plan pass on 2M entries
#: costs ~30 ms more than the kernel's, so a solve of this size with tens of passes
#: and later solves in the process pay it back).
COMPILE_MIN_SIZE = 1 << 21
#: From this many entries kernels found in numba's disk cache are loaded (~0.3-0.6 s).
LOAD_MIN_SIZE = 1 << 18


def _compiled(kernel) -> bool:
    return bool(getattr(kernel, "signatures", None))


def _on_disk(kernel) -> bool:
    # a stale index (another version of this file) means a compile, not a load
    return bool(numba_cached(kernel))  # None (another cache layout): assume it compiles


def numba_worth(be, size: int, newton: bool) -> bool:
    """Whether a solve of ``size`` plan entries runs the numba kernels (else the NumPy twins).

    Yes when the plan kernel is already compiled in this process; from
    :data:`LOAD_MIN_SIZE` entries when numba's disk cache holds it; from
    :data:`COMPILE_MIN_SIZE` when they must be compiled. A first small solve thus
    returns in well under a second instead of waiting seconds for LLVM (the BLAS
    kernel-domain sweeps need no numba anyway).
    """
    kernels = kernels_for(be, size, newton)
    if not kernels:
        return False
    if size >= COMPILE_MIN_SIZE:
        return True
    # the plan kernel runs in every solve; the others only on some paths (a kernel that
    # was never needed before is not on disk, and should not keep the rest from loading)
    plan = kernels[1]
    return _compiled(plan) or (size >= LOAD_MIN_SIZE and _on_disk(plan))


class NumPyTwins:
    """``be`` with the numba switch off: the kernels' array-module twins run."""

    use_numba = False

    def __init__(self, be):
        self._be = be

    def __getattr__(self, name: str):
        return getattr(self._be, name)


def solve_backend(be, size: int, newton: bool):
    """The backend a solve runs on: ``be``, or ``be`` without numba (:func:`numba_worth`)."""
    if not be.use_numba or numba_worth(be, size, newton):
        return be
    return NumPyTwins(be)


def _n_chunks(n: int) -> int:
    """Row chunks of a parallel kernel: one per numba thread."""
    import numba  # only reached on the numba path

    return max(1, min(int(numba.get_num_threads()), n))


# --------------------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------------------
# Every kernel takes float64 / int64 C-contiguous arrays only (the front ends make sure),
# so each compiles for one signature. The row loops are helpers shared by a serial
# kernel (small problems) and a parallel one (chunks of rows in prange), compiled on
# first use: a small problem never pays for the parallel variants.
#
# exp by Cody-Waite reduction and a degree-13 Taylor polynomial (<= 1 ulp on [-708, 709]),
# written so that LLVM vectorizes it: numba's scalar libm exp is 5x slower than SIMD, and
# an exp inside the kernels fuses what would otherwise be three memory passes into one.
# Only no-NaN/no-inf/no-signed-zero fast-math: reassociation would break the reduction.
_EXP_FLAGS = {"nnan", "ninf", "nsz"}


@njit(fastmath=_EXP_FLAGS)
def _exp_row(x, out, kbits):  # pragma: no cover - compiled
    """out[j] = exp(x[j]) for x in [-708, 709] (clamped); kbits: int64 scratch, len(x)."""
    m = x.size
    scale = kbits.view(np.float64)
    for j in range(m):
        v = min(max(x[j], -708.0), 709.0)
        kf = np.floor(v * 1.4426950408889634 + 0.5)
        r = v - kf * 0.6931471803691238 - kf * 1.9082149292705877e-10
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        out[j] = p
        kbits[j] = (np.int64(kf) + 1023) << 52
    for j in range(m):
        out[j] *= scale[j]


@njit(fastmath=_EXP_FLAGS)
def _nb_softmin(M, g, inv_reg, mx, s, i0, i1):  # pragma: no cover - compiled
    """mx_i = max_j (g_j - M_ij), s_i = sum_j exp((g_j - M_ij - mx_i)/reg) for i0 <= i < i1.

    One pass over the rows of M; the serial kernel, and the body of the parallel one.
    (The fast-math flags only assume finite values, which the validated inputs are.)
    """
    m = M.shape[1]
    x = np.empty(m)
    e = np.empty(m)  # exp out of place: in place, LLVM cannot vectorize it
    kb = np.empty(m, dtype=np.int64)
    for i in range(i0, i1):
        t = g[0] - M[i, 0]
        for j in range(1, m):
            t = max(t, g[j] - M[i, j])
        for j in range(m):
            x[j] = max((g[j] - M[i, j] - t) * inv_reg, -700.0)
        _exp_row(x, e, kb)
        acc = 0.0
        for j in range(m):
            acc += e[j]
        mx[i] = t
        s[i] = acc


@njit(parallel=True)
def _nb_softmin_par(M, g, inv_reg, mx, s, nch):  # pragma: no cover - compiled
    """Parallel row softmin: rows in ``nch`` chunks, each with its own scratch rows."""
    n = M.shape[0]
    step = (n + nch - 1) // nch
    for ch in prange(nch):
        _nb_softmin(M, g, inv_reg, mx, s, ch * step, min(n, (ch + 1) * step))


@njit
def _nb_plan(M, f, g, inv_reg, floor, P, r, c, lo, scale, rstride, counts, i0,
             i1):  # pragma: no cover - compiled
    """Fused plan pass over rows i0 <= i < i1: P = exp(max((f_i + g_j - M_ij)/reg, floor)),
    row sums r, column sums ``c`` (m,) and a histogram ``counts`` (n_bins,) of log P over
    sampled rows.

    The serial kernel, and the body of the parallel one. Bin k holds log-entries in
    ``[lo + k/scale, lo + (k+1)/scale)`` (clamped to the end bins). Only rows
    ``i % rstride == 0`` are histogrammed: the threshold needs a distribution, not every
    entry, and scatter-increments are slow.
    """
    m = M.shape[1]
    nb = counts.size
    kb = np.empty(m, dtype=np.int64)
    x = np.empty(m)  # log-row; exp out of place (in place, LLVM cannot vectorize it)
    for k in range(nb):
        counts[k] = 0
    for j in range(m):
        c[j] = 0.0
    for i in range(i0, i1):
        fi = f[i]
        row = P[i]
        for j in range(m):
            x[j] = max((fi + g[j] - M[i, j]) * inv_reg, floor)
        if i % rstride == 0:
            for j in range(m):
                kbin = int((x[j] - lo) * scale)
                kbin = min(max(kbin, 0), nb - 1)
                counts[kbin] += 1
        _exp_row(x, row, kb)
        acc = 0.0
        for j in range(m):
            acc += row[j]
            c[j] += row[j]
        if acc >= 8.2e307:
            # _exp_row clamps at exp(709) ~ 8.2e307 (so a row with such an entry sums to
            # at least that); above 709 the entry must be exp(x), inf from ~709.78 like
            # the array module's exp, so that callers see the overflow (the kernel sweeps
            # hand over to the log domain, a trial step is rejected): with a finite
            # clamped kernel the sweeps went on with wrong entries. The check after the
            # fused loop keeps that loop as it was (a running max there cost ~10%).
            acc = 0.0
            for j in range(m):
                if x[j] > 709.0:
                    e = np.exp(x[j])
                    c[j] += e - row[j]
                    row[j] = e
                acc += row[j]
        r[i] = acc


@njit(parallel=True)
def _nb_plan_par(M, f, g, inv_reg, floor, P, r, cpart, lo, scale, rstride,
                 counts):  # pragma: no cover - compiled
    """Parallel fused plan pass: column sums per chunk (cpart, shape (n_chunks, m)) and
    histograms per chunk (counts, shape (n_chunks, n_bins))."""
    n = M.shape[0]
    nch = counts.shape[0]
    step = (n + nch - 1) // nch
    for ch in prange(nch):
        _nb_plan(M, f, g, inv_reg, floor, P, r, cpart[ch], lo, scale, rstride, counts[ch],
                 ch * step, min(n, (ch + 1) * step))


@njit(fastmath={"reassoc", "nsz"})
def _scale_row(k0, ui, v, row, c):  # pragma: no cover - compiled
    """row = (k0 * ui) * v, c += row; returns sum(row). Reassociation only to vectorize
    the row sum (the callers keep every operand finite and normal)."""
    acc = 0.0
    for j in range(k0.size):
        x = (k0[j] * ui) * v[j]
        row[j] = x
        acc += x
        c[j] += x
    return acc


@njit
def _nb_scaled_plan(K0, u, v, L, lu, lv, P, r, c, lo, scale, rstride, counts, i0,
                    i1):  # pragma: no cover - compiled
    """Plan from a reference kernel over rows i0 <= i < i1: P = diag(u) K0 diag(v).

    Row sums ``r``, column sums ``c`` and the histogram ``counts`` of log P over the
    sampled rows ``i % rstride == 0``, whose log-values are ``L[i // rstride] + lu_i + lv``
    (``L``: the reference's log-values of those rows; ``u = exp(lu)``, ``v = exp(lv)``):
    no exponential or logarithm per entry.
    """
    m = K0.shape[1]
    nb = counts.size
    for k in range(nb):
        counts[k] = 0
    for j in range(m):
        c[j] = 0.0
    for i in range(i0, i1):
        r[i] = _scale_row(K0[i], u[i], v, P[i], c)
        if i % rstride == 0:
            li = L[i // rstride]
            lui = lu[i]
            for j in range(m):
                kbin = int((li[j] + lui + lv[j] - lo) * scale)
                kbin = min(max(kbin, 0), nb - 1)
                counts[kbin] += 1


@njit(parallel=True)
def _nb_scaled_plan_par(K0, u, v, L, lu, lv, P, r, cpart, lo, scale, rstride,
                        counts):  # pragma: no cover - compiled
    """Parallel :func:`_nb_scaled_plan`: column sums and histograms per row chunk."""
    n = K0.shape[0]
    nch = counts.shape[0]
    step = (n + nch - 1) // nch
    for ch in prange(nch):
        _nb_scaled_plan(K0, u, v, L, lu, lv, P, r, cpart[ch], lo, scale, rstride,
                        counts[ch], ch * step, min(n, (ch + 1) * step))


@njit(parallel=True)
def _nb_transpose_dense(A, out):  # pragma: no cover - compiled
    """out = A.T in 64x64 tiles (a strided copy thrashes the cache)."""
    n, m = A.shape
    nbi = (n + 63) // 64
    for bi in prange(nbi):
        i0 = bi * 64
        i1 = min(n, i0 + 64)
        for j0 in range(0, m, 64):
            j1 = min(m, j0 + 64)
            for j in range(j0, j1):
                for i in range(i0, i1):
                    out[j, i] = A[i, j]


@njit
def _row_threshold(P, i, thresh):  # pragma: no cover - compiled
    """min(thresh, max_j P_ij): the row maximum is always kept."""
    pm = 0.0
    for j in range(P.shape[1]):
        pm = max(pm, P[i, j])
    return min(thresh, pm)


@njit
def _nb_select(P, thresh):  # pragma: no cover - compiled
    """Serial selection of P_ij >= min(thresh, max_j P_ij) (the row maximum is always kept).

    Returns CSR arrays of the kept entries and of their transpose (columns of the
    transpose in increasing order), built in two passes over P.
    """
    n, m = P.shape
    rowthr = np.empty(n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    tindptr = np.zeros(m + 1, dtype=np.int64)
    for i in range(n):
        pm = 0.0
        for j in range(m):
            pm = max(pm, P[i, j])
        t = min(thresh, pm)
        rowthr[i] = t
        cnt = 0
        for j in range(m):
            if P[i, j] >= t:
                cnt += 1
                tindptr[j + 1] += 1
        indptr[i + 1] = indptr[i] + cnt
    for j in range(m):
        tindptr[j + 1] += tindptr[j]
    nnz = indptr[n]
    indices = np.empty(nnz, dtype=np.int64)
    data = np.empty(nnz)
    tindices = np.empty(nnz, dtype=np.int64)
    tdata = np.empty(nnz)
    pos = tindptr[:m].copy()
    for i in range(n):
        k = indptr[i]
        t = rowthr[i]
        for j in range(m):
            if P[i, j] >= t:
                indices[k] = j
                data[k] = P[i, j]
                k += 1
                q = pos[j]
                tindices[q] = i
                tdata[q] = P[i, j]
                pos[j] = q + 1
    return indptr, indices, data, tindptr, tindices, tdata


@njit(parallel=True)
def _nb_select_count(P, thresh, rowthr, counts):  # pragma: no cover - compiled
    """Per row: keep P_ij >= min(thresh, max_j P_ij) (the row maximum is always kept)."""
    n, m = P.shape
    for i in prange(n):
        t = _row_threshold(P, i, thresh)
        rowthr[i] = t
        cnt = 0
        for j in range(m):
            if P[i, j] >= t:
                cnt += 1
        counts[i] = cnt


@njit(parallel=True)
def _nb_select_fill(P, rowthr, indptr, indices, data):  # pragma: no cover - compiled
    n, m = P.shape
    for i in prange(n):
        k = indptr[i]
        t = rowthr[i]
        for j in range(m):
            if P[i, j] >= t:
                indices[k] = j
                data[k] = P[i, j]
                k += 1


@njit(parallel=True)
def _nb_select_onepass(P, thresh, step, cap, counts, bidx, bdat, used):  # pragma: no cover
    """One pass: kept entries of the rows of chunk ch go to bidx/bdat[ch*cap : (ch+1)*cap].

    Returns False when a chunk's buffer overflows (the caller then takes two passes).
    """
    n, m = P.shape
    nch = used.size
    ok = np.ones(nch, dtype=np.bool_)
    for ch in prange(nch):
        pos = ch * cap
        end = pos + cap
        for i in range(ch * step, min(n, (ch + 1) * step)):
            t = _row_threshold(P, i, thresh)
            cnt = 0
            for j in range(m):
                if P[i, j] >= t:
                    if pos < end:
                        bidx[pos] = j
                        bdat[pos] = P[i, j]
                        pos += 1
                    cnt += 1
            counts[i] = cnt
        used[ch] = pos - ch * cap
        ok[ch] = pos < end or used[ch] == _sum_range(counts, ch * step, min(n, (ch + 1) * step))
    return ok.all()


@njit
def _sum_range(x, i0, i1):  # pragma: no cover - compiled
    s = 0
    for i in range(i0, i1):
        s += x[i]
    return s


@njit
def _nb_transpose(indptr, indices, data, m, tindptr, tindices, tdata):  # pragma: no cover
    """CSR -> CSR of the transpose (counting sort, O(nnz)); rows stay sorted."""
    n = indptr.size - 1
    for j in range(m + 1):
        tindptr[j] = 0
    for k in range(indptr[n]):
        tindptr[indices[k] + 1] += 1
    for j in range(m):
        tindptr[j + 1] += tindptr[j]
    pos = tindptr[:m].copy()
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            q = pos[j]
            tindices[q] = i
            tdata[q] = data[k]
            pos[j] = q + 1


@njit
def _nb_spmv(indptr, indices, data, x, out):  # pragma: no cover - compiled
    n = indptr.size - 1
    for i in range(n):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * x[indices[k]]
        out[i] = s


@njit(parallel=True)
def _nb_spmv_par(indptr, indices, data, x, out):  # pragma: no cover - compiled
    """out = A x for A in CSR, rows in parallel (the sparse Hessian-vector product)."""
    n = indptr.size - 1
    for i in prange(n):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * x[indices[k]]
        out[i] = s


@njit
def _nb_newton_direction(indptr, indices, data, tindptr, tindices, tdata,
                         r, c, g1, g2, shift, rtol, maxiter, df, dg):  # pragma: no cover
    """Solve [[D_r, P_s], [P_s^T, D_c + shift]] (df, dg) = (g1, g2) via the Schur complement.

    CG with a Jacobi preconditioner on S = D_c + shift - P_s^T D_r^{-1} P_s (size m),
    then df = D_r^{-1} (g1 - P_s dg). Returns the number of CG iterations.
    """
    n = r.size
    m = c.size
    y = np.empty(n)
    for i in range(n):
        y[i] = g1[i] / r[i]
    res = np.empty(m)
    _nb_spmv(tindptr, tindices, tdata, y, res)
    diag = np.empty(m)
    bnorm2 = 0.0
    for j in range(m):
        res[j] = g2[j] - res[j]
        bnorm2 += res[j] * res[j]
        s = 0.0
        for k in range(tindptr[j], tindptr[j + 1]):
            s += tdata[k] * tdata[k] / r[tindices[k]]
        d = c[j] + shift - s
        diag[j] = d if d > 1e-300 else 1e-300
    z = np.empty(m)
    p = np.empty(m)
    q = np.empty(m)
    rz = 0.0
    for j in range(m):
        dg[j] = 0.0
        z[j] = res[j] / diag[j]
        p[j] = z[j]
        rz += res[j] * z[j]
    tol2 = rtol * rtol * bnorm2
    it = 0
    rnorm2 = bnorm2
    while it < maxiter and rnorm2 > tol2:
        # q = S p
        _nb_spmv(indptr, indices, data, p, y)
        for i in range(n):
            y[i] /= r[i]
        _nb_spmv(tindptr, tindices, tdata, y, q)
        pq = 0.0
        for j in range(m):
            q[j] = (c[j] + shift) * p[j] - q[j]
            pq += p[j] * q[j]
        if not pq > 0.0:
            break
        alpha = rz / pq
        rz_new = 0.0
        rnorm2 = 0.0
        for j in range(m):
            dg[j] += alpha * p[j]
            res[j] -= alpha * q[j]
            z[j] = res[j] / diag[j]
            rz_new += res[j] * z[j]
            rnorm2 += res[j] * res[j]
        beta = rz_new / rz
        rz = rz_new
        for j in range(m):
            p[j] = z[j] + beta * p[j]
        it += 1
    _nb_spmv(indptr, indices, data, dg, y)
    for i in range(n):
        df[i] = (g1[i] - y[i]) / r[i]
    return it


# --------------------------------------------------------------------------------------
# backend-dispatching front ends
# --------------------------------------------------------------------------------------
def row_softmin_update(M, g, logw, reg, be, X):
    """Exact Sinkhorn block update ``f_i = reg*logw_i - reg*logsumexp_j((g_j - M_ij)/reg)``.

    ``X`` is an (n, m) work buffer of M's backend (used by the array-module path).
    Returns the new ``f``.
    """
    xp = be.xp
    inv_reg = 1.0 / reg
    if be.use_numba:
        n = M.shape[0]
        mx, s = np.empty(n), np.empty(n)
        g = _f64(g)
        if use_parallel(be, M.size):
            _announce(_nb_softmin_par)
            _nb_softmin_par(M, g, inv_reg, mx, s, min(n, 4 * _n_chunks(n)))
        else:
            _announce(_nb_softmin)
            _nb_softmin(M, g, inv_reg, mx, s, 0, n)
    else:
        v = g[None, :] - M
        mx = v.max(axis=1)
        xp.multiply(v - mx[:, None], inv_reg, out=X)
        xp.maximum(X, LOG_FLOOR, out=X)
        xp.exp(X, out=X)
        s = X.sum(axis=1)
    return reg * logw - mx - reg * xp.log(s)


def _f64(x):
    """``x`` as a C-contiguous float64 host array (the one type the kernels compile for)."""
    return np.ascontiguousarray(x, dtype=np.float64)


def transpose(M, be):
    """A row-major copy of ``M.T``."""
    if use_parallel(be, M.size):
        out = np.empty((M.shape[1], M.shape[0]))
        _nb_transpose_dense(M, out)
        return out
    # small matrices: the array module's copy is as fast and needs no compilation
    return be.xp.ascontiguousarray(M.T)


def hist_window(a, b):
    """Histogram window (lo, scale) for log-entries of a plan with marginals a, b."""
    top = float(np.log(max(float(a.max()), float(b.max())))) + 4.0
    return top - HIST_SPAN, N_BINS / HIST_SPAN


def plan_marginals(M, f, g, reg, be, X, window, histogram: bool = True,
                   floor: float = LOG_FLOOR):
    """Plan ``P = exp((f + g - M)/reg)`` into ``X`` with its marginals and log-histogram.

    One fused pass with numba. Returns ``(r, c, total, counts)``: row sums, column
    sums, ``sum(P)`` and the histogram counts of ``log P`` over ``window`` (sampled
    rows, scaled to the full matrix). ``histogram=False`` (a kernel for the Sinkhorn
    sweeps, which need no threshold): the numba pass histograms row 0 only, and
    ``counts`` is None. Log-values are floored at ``floor`` (the Newton stage's
    reference kernels use a higher one, see :meth:`._problem.Workspace.newton_plan`).
    """
    xp = be.xp
    lo, scale = float(window[0]), float(window[1])
    inv_reg = 1.0 / reg
    rstride = hist_stride(M.shape) if histogram else M.shape[0]
    if be.use_numba:
        r, cpart, counts = _fused_pass(be, M.shape, _nb_plan, _nb_plan_par,
                                       (M, _f64(f), _f64(g), inv_reg, float(floor), X),
                                       (lo, scale, rstride))
        with np.errstate(over="ignore"):  # a rejected trial step may overflow: L = -inf
            c = cpart.sum(axis=0)
            total = float(r.sum())
        return r, c, total, counts * rstride if histogram else None
    xp.multiply(f[:, None] + g[None, :] - M, inv_reg, out=X)
    xp.maximum(X, floor, out=X)
    counts = None
    if histogram:
        kb = xp.clip(((X[::rstride] - lo) * scale).astype(xp.int64), 0, N_BINS - 1)
        counts = xp.bincount(kb.ravel(), minlength=N_BINS) * rstride
    with np.errstate(over="ignore"):  # a rejected trial step may overflow: L = -inf
        xp.exp(X, out=X)
        r = X.sum(axis=1)
        c = X.sum(axis=0)
        total = float(r.sum())
    return r, c, total, counts


def _fused_pass(be, shape, serial, parallel, head, tail):
    """Run a fused plan kernel ``kernel(*head, r, c, *tail, counts[, i0, i1])``: the
    parallel variant (column sums and histograms per row chunk) from
    :data:`PARALLEL_MIN_SIZE` entries, else the serial one. Returns
    ``(r, column sums per chunk, summed histogram)``."""
    n, m = shape
    r = np.empty(n)
    if use_parallel(be, n * m):
        nch = _n_chunks(n)
        counts = np.empty((nch, N_BINS), dtype=np.int64)
        cpart = np.empty((nch, m))
        _announce(parallel)
        parallel(*head, r, cpart, *tail, counts)
        return r, cpart, counts.sum(axis=0)
    counts = np.empty(N_BINS, dtype=np.int64)
    cpart = np.empty((1, m))
    _announce(serial)
    serial(*head, r, cpart[0], *tail, counts, 0, n)
    return r, cpart, counts


def hist_stride(shape) -> int:
    """Rows ``i % stride == 0`` are histogrammed (about :data:`HIST_SAMPLE` entries)."""
    return max(1, (shape[0] * shape[1]) // HIST_SAMPLE)


def scaled_plan_marginals(K0, L, lu, lv, be, X, window):
    """Plan ``P = diag(exp(lu)) K0 diag(exp(lv))`` into ``X``, with what
    :func:`plan_marginals` returns.

    ``K0`` is a plan computed by :func:`plan_marginals` at reference potentials
    ``(f0, g0)`` and ``L`` its log-values on the histogrammed rows
    (:func:`hist_stride`); ``lu = (f - f0)/reg``, ``lv = (g - g0)/reg``. The caller keeps
    ``|lu|, |lv|`` small enough that no product under- or overflows. One fused pass with
    numba (products and sums only: about a third of an exponential pass); the
    array-module twin uses the same operations in the same order.
    """
    xp = be.xp
    lo, scale = float(window[0]), float(window[1])
    rstride = hist_stride(K0.shape)
    u, v = xp.exp(lu), xp.exp(lv)
    if be.use_numba:
        r, cpart, counts = _fused_pass(
            be, K0.shape, _nb_scaled_plan, _nb_scaled_plan_par,
            (K0, _f64(u), _f64(v), L, _f64(lu), _f64(lv), X), (lo, scale, rstride))
        c = cpart.sum(axis=0)
        return r, c, float(r.sum()), counts * rstride
    xp.multiply(K0, u[:, None], out=X)
    X *= v[None, :]
    logs = L + lu[::rstride, None]
    logs += lv[None, :]
    kb = xp.clip(((logs - lo) * scale).astype(xp.int64), 0, N_BINS - 1)
    counts = xp.bincount(kb.ravel(), minlength=N_BINS) * rstride
    r = X.sum(axis=1)
    return r, X.sum(axis=0), float(r.sum()), counts


class SparsePlan:
    """The kept entries of a plan, as CSR arrays of P_s and of its transpose."""

    def __init__(self, shape, indptr, indices, data, tindptr, tindices, tdata, mat=None,
                 tmat=None):
        self.shape = shape
        self.indptr, self.indices, self.data = indptr, indices, data
        self.tindptr, self.tindices, self.tdata = tindptr, tindices, tdata
        self.mat, self.tmat = mat, tmat

    @property
    def nnz(self) -> int:
        return int(self.data.size)


def select_entries(P, thresh, be, nnz_hint=None):
    """Entries ``P_ij >= min(thresh, max_j P_ij)``: a global threshold, row maxima always kept.

    O(nm), no sort. With numba below :data:`PARALLEL_MIN_SIZE` entries, one serial
    kernel (count, then fill); above it, with an estimate ``nnz_hint`` of the count,
    one parallel pass fills per-thread buffers; without one (or if they overflow),
    two parallel passes (count, then fill).
    """
    n, m = P.shape
    thresh = float(thresh)
    if be.use_numba:
        _announce(*kernels_for(be, P.size, True)[3 if use_parallel(be, P.size) else 2:])
    if be.use_numba and not use_parallel(be, P.size):
        return SparsePlan((n, m), *_nb_select(P, thresh))
    if be.use_numba and nnz_hint is not None:
        nch = _n_chunks(n)
        step = (n + nch - 1) // nch
        cap = int(1.5 * nnz_hint / nch) + 2 * m + 16
        counts = np.empty(n, dtype=np.int64)
        bidx = np.empty(nch * cap, dtype=np.int64)
        bdat = np.empty(nch * cap)
        used = np.zeros(nch, dtype=np.int64)
        if _nb_select_onepass(P, thresh, step, cap, counts, bidx, bdat, used):
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
            nnz = int(indptr[-1])
            indices = np.empty(nnz, dtype=np.int64)
            data = np.empty(nnz)
            for ch in range(nch):
                k0 = int(indptr[min(n, ch * step)])
                k = int(used[ch])
                indices[k0:k0 + k] = bidx[ch * cap:ch * cap + k]
                data[k0:k0 + k] = bdat[ch * cap:ch * cap + k]
            return _with_transpose(n, m, indptr, indices, data)
    if be.use_numba:
        rowthr = np.empty(n)
        counts = np.empty(n, dtype=np.int64)
        _nb_select_count(P, thresh, rowthr, counts)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        nnz = int(indptr[-1])
        indices = np.empty(nnz, dtype=np.int64)
        data = np.empty(nnz)
        _nb_select_fill(P, rowthr, indptr, indices, data)
        return _with_transpose(n, m, indptr, indices, data)
    xp, sparse = be.xp, be.scipy.sparse
    t = xp.minimum(thresh, P.max(axis=1))
    rows, cols = xp.nonzero(P >= t[:, None])
    data = P[rows, cols]
    itype = be.index_dtype(data.size)
    cols = cols.astype(itype)
    indptr = xp.zeros(n + 1, dtype=itype)
    indptr[1:] = xp.cumsum(xp.bincount(rows, minlength=n))
    mat = sparse.csr_matrix((data, cols, indptr), shape=(n, m))
    tmat = mat.T.tocsr()
    return SparsePlan((n, m), indptr, cols, data, tmat.indptr, tmat.indices, tmat.data,
                      mat, tmat)


def _with_transpose(n, m, indptr, indices, data):
    nnz = data.size
    tindptr = np.empty(m + 1, dtype=np.int64)
    tindices = np.empty(nnz, dtype=np.int64)
    tdata = np.empty(nnz)
    _nb_transpose(indptr, indices, data, m, tindptr, tindices, tdata)
    return SparsePlan((n, m), indptr, indices, data, tindptr, tindices, tdata)


def newton_direction(Ps, r, c, g1, g2, shift, rtol, maxiter, be):
    """Solve the sparsified Newton system ``K_s (df, dg) = (g1, g2)``.

    ``K_s = [[diag(r), P_s], [P_s^T, diag(c) + shift]]`` (the negated Hessian
    of the dual times ``reg``). Conjugate gradient with a Jacobi preconditioner on
    the Schur complement ``S = diag(c) + shift - P_s^T diag(1/r) P_s``.
    Returns ``(df, dg, cg_iterations)``.

    With numba: below :data:`PARALLEL_MIN_NNZ` kept entries the whole CG runs in
    one serial kernel (a parallel launch per product would cost more than the
    product); above it, the Hessian-vector products are parallel kernels.
    """
    if be.use_numba:
        _announce(_nb_newton_direction)
    if be.use_numba and Ps.nnz < PARALLEL_MIN_NNZ:
        df = np.empty(r.size)
        dg = np.empty(c.size)
        it = _nb_newton_direction(Ps.indptr, Ps.indices, Ps.data, Ps.tindptr, Ps.tindices,
                                  Ps.tdata, _f64(r), _f64(c), _f64(g1), _f64(g2),
                                  float(shift), float(rtol), int(maxiter), df, dg)
        return df, dg, int(it)
    xp = be.xp
    if be.use_numba:
        tmp_n, tmp_m = np.empty(r.size), np.empty(c.size)

        def A(x):  # P_s x
            _nb_spmv_par(Ps.indptr, Ps.indices, Ps.data, x, tmp_n)
            return tmp_n.copy()

        def AT(y):  # P_s^T y
            _nb_spmv_par(Ps.tindptr, Ps.tindices, Ps.tdata, y, tmp_m)
            return tmp_m.copy()

        colsq = np.empty(c.size)
        _nb_spmv_par(Ps.tindptr, Ps.tindices, Ps.tdata * Ps.tdata, 1.0 / r, colsq)
    else:
        A, AT = Ps.mat.__matmul__, Ps.tmat.__matmul__
        colsq = _col_sq_over_r(Ps.tmat, r, be)
    res = g2 - AT(g1 / r)
    diag = xp.maximum(c + shift - colsq, 1e-300)
    bnorm2 = float(res @ res)
    dg = xp.zeros_like(c)
    z = res / diag
    p = z.copy()
    rz = float(res @ z)
    tol2 = rtol * rtol * bnorm2
    it = 0
    rnorm2 = bnorm2
    while it < maxiter and rnorm2 > tol2:
        q = (c + shift) * p - AT(A(p) / r)
        pq = float(p @ q)
        if not pq > 0.0:
            break
        alpha = rz / pq
        dg += alpha * p
        res -= alpha * q
        z = res / diag
        rz_new = float(res @ z)
        rnorm2 = float(res @ res)
        beta = rz_new / rz
        rz = rz_new
        p = z + beta * p
        it += 1
    df = (g1 - A(dg)) / r
    return df, dg, it


def _col_sq_over_r(AT, r, be):
    """sum_i P_ij^2 / r_i for every column j (AT is P_s^T in CSR)."""
    sq = be.scipy.sparse.csr_matrix((AT.data * AT.data / r[AT.indices], AT.indices,
                                     AT.indptr), shape=AT.shape)
    return be.xp.asarray(sq.sum(axis=1)).ravel()
