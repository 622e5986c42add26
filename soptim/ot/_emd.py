"""Exact optimal transport: ``emd`` / ``emd2`` with POT's signatures and an optimality certificate.

Solves the linear program ``min <M, P>`` subject to ``P 1 = a``, ``P^T 1 = b``,
``P >= 0`` exactly (no regularization), and checks the answer: every returned
plan comes with a certificate -- primal feasibility, dual feasibility of the
potentials ``(u, v)`` over *all* ``n * m`` entries (``M_ij - u_i - v_j >=
-tol``) and complementary slackness (``<P, M - u - v> <= tol``) -- reported in
the log. A plan whose certificate fails is never reported as optimal: a warning
is raised and ``log['result_code']`` is not 1.

Which algorithm, and why (measured on the 2-core VM, see
``benchmarks/bench_emd.py``):

- With numba (NumPy input): a network simplex (:mod:`soptim.ot._emd_kernels`):
  LEMON's pivoting rules and tree updates, as in POT (followed), with a
  candidate-list warm-up (added: the cheapest entries of each row and column
  first, full pricing passes only when the list has no improving entry, and
  LEMON's block search over all entries once a pass shows that the list misses
  much of the support, or from the start when the list's cheapest entries reach
  too few rows or columns to be the support); the block search follows LEMON's
  blocks and entering arcs, scanned chunk-wise without branches, and the
  potentials move on the smaller side of the tree (added: 1.7-2.4x POT on
  shifted 3-D clouds, 0.8-1.0x before); the last full pass is the optimality
  test). ``numItermax`` counts the block-search pivots,
  as POT counts its own; the warm-up is capped by the same number on its own
  and hands over when it reaches it, so a POT script's default budget is not
  spent on the warm-up (on shifted point clouds the list alone needed 4x POT's
  pivots). The certificate of this path is fused into the kernel (its last full
  pricing pass gives the minimum reduced cost over all entries; gap, cost and
  marginals are summed over the tree's support, which holds every nonzero of
  the plan), so a solve makes no pass over ``M`` outside the simplex. Timings
  against POT: ``python -m benchmarks.bench_emd``.
- Without numba, and for CuPy input: column generation with HiGHS (scipy's
  ``linprog(method='highs-ds')``) on a restricted set of entries, priced over
  the full matrix by the array backend (on the GPU for CuPy input; the LP runs
  on the host). The issue proposed this route, warm-started by SNS potentials,
  as the main solver; measured, HiGHS alone takes 0.1-0.3 s on restricted
  transport LPs of ~7 entries per row at n = 500 and 1-5 s at n = 2000 (POT's
  whole solve: 0.1 s and 2.5 s on the same loaded machine), so an SNS warm start
  cannot make it competitive and it is the portable path, not the fast one. SNS
  is therefore not used: the candidate list (cheapest entries) plays the role
  of its "likely support" at no cost.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._validation import as_float_array, check_bool, check_count
from ..backend import announce_compilation, get_backend
from ._emd_kernels import (
    HANDOVER,
    INFEASIBLE,
    LIST_PASSES,
    MAX_ITER_REACHED,
    MIN_COVERAGE,
    NONFINITE,
    OPTIMAL,
    UNBOUNDED,
    certificate,
    network_simplex,
    support_certificate,
)
from ._problem import _given

__all__ = ["emd", "emd2", "CERTIFICATE_FAILED", "CERT_RTOL", "N_CANDIDATES"]

#: Result code (soptim's addition to POT's 0-3): the solver stopped but the plan failed
#: the optimality certificate.
CERTIFICATE_FAILED = 4
#: Certificate tolerance, relative to ``max |M|`` (dual feasibility) and to
#: ``max |M| * sum(a)`` (complementary slackness gap).
CERT_RTOL = 1e-9
#: Cheapest entries of every row and column in the network simplex's first candidate
#: list (2, 5 and 10 measured; 5 was the fastest on random costs at n = 1000-2000).
N_CANDIDATES = 5
#: Relative tolerance on equal total masses (POT: ``assert_almost_equal(decimal=6)``).
MASS_TOL = 1.5e-6

_MESSAGES = {
    INFEASIBLE: "Problem infeasible. Check that a and b are in the simplex",
    OPTIMAL: None,
    UNBOUNDED: "Problem unbounded",
    MAX_ITER_REACHED: "numItermax reached before optimality. Try to increase numItermax.",
}


def _prepare(a, b, M, check_marginals, allow_batch):
    """Validated float64 ``(a, b, M)`` of one backend, the result dtype and the backend."""
    if M is None:
        raise ValueError("M must be a 2-D cost matrix, got None")
    be = get_backend(M, a if _given(a) else None, b if _given(b) else None)
    xp = be.xp
    # the network simplex checks finiteness in its first pass over M (which it makes
    # anyway for max |M|): a separate check cost 0.02-0.1 s at n = 2000
    M0 = as_float_array("M", M, ndim=2, xp=xp, finite=not be.use_numba)
    dtypes = [M0.dtype]
    n, m = M0.shape
    if n == 0 or m == 0:
        raise ValueError(f"M must be non-empty, got shape {(n, m)}")
    if _given(a):
        a = as_float_array("a", a, ndim=1, xp=xp, nonnegative=True)
        dtypes.append(a.dtype)
        if a.shape[0] != n:
            raise ValueError(f"a must have length M.shape[0] = {n}, got {a.shape[0]}")
        a = a.astype(np.float64)
    else:
        a = xp.full(n, 1.0 / n)
    if _given(b):
        b = as_float_array("b", b, ndim=(1, 2) if allow_batch else 1, xp=xp,
                           nonnegative=True)
        dtypes.append(b.dtype)
        if b.shape[0] != m:
            raise ValueError(f"b must have length M.shape[1] = {m}, got {b.shape[0]}")
        if b.ndim == 2 and b.shape[1] == 0:
            raise ValueError("b must have at least one column")
        b = b.astype(np.float64)
    else:
        b = xp.full(m, 1.0 / m)
    sa = float(be.to_numpy(a.sum()))
    sb = np.atleast_1d(be.to_numpy(b.sum(axis=0)))
    if not sa > 0:
        raise ValueError("a must have a positive total mass")
    if np.any(~(sb > 0)):
        raise ValueError("b must have a positive total mass")
    if check_marginals and np.any(np.abs(sb - sa) >= MASS_TOL * max(1.0, sa)):
        raise ValueError(
            f"a and b must have the same total mass: sum(a) = {sa:.10g}, sum(b) = "
            f"{np.array2string(sb, precision=10) if sb.size > 1 else f'{sb[0]:.10g}'} "
            "(normalize both, or pass check_marginals=False to rescale b to sum(a))")
    b = b * (sa / xp.asarray(sb if b.ndim == 2 else sb[0]))
    dtype = np.result_type(*dtypes)
    # C-contiguous float64 (a copy only for other input): the kernels then have one
    # compiled signature for every call (each is seconds of first-use compilation)
    return a, b, xp.ascontiguousarray(M0, dtype=np.float64), dtype, be


def _center(u, v, a, b):
    """POT's ``center_ot_dual``: shift ``(u, v)`` by a constant so that ``a.u`` and
    ``b.v`` balance (the dual value is unchanged)."""
    c = (float(b @ v) - float(a @ u)) / (float(a.sum()) + float(b.sum()))
    return u + c, v - c


def _certify(P, M, u, v, a, b, be, fused=None) -> tuple[float, float, float, float, float]:
    """``(max|M|, dual violation max(0, -min R), gap <P, R>, cost <P, M>, L1 marginal
    error)`` with ``R = M - u - v``.

    ``fused = (max|M|, min R, support)`` from the network simplex: its dual part was
    taken in the kernel's last full pass over ``M`` (the one that found no improving
    entry), and the plan's nonzeros all lie on ``support``, so the rest is O(n + m).
    Otherwise one numba pass over ``M`` and ``P`` on NumPy input, backend array
    operations on other input (on the GPU for CuPy input)."""
    if fused is not None:
        scale, rmin, support = fused
        gap, cost, marg = support_certificate(M, P, support, u, v, a, b)
        return scale, max(0.0, -rmin), gap, cost, marg
    if be.use_numba:
        # compiled only when a call needs it (zero masses): its own announcement
        announce_compilation("soptim.ot.emd (full certificate)", certificate)
        return certificate(M, P, u, v, a, b)
    xp = be.xp
    R = M - u[:, None] - v[None, :]
    marg = xp.abs(P.sum(axis=1) - a).sum() + xp.abs(P.sum(axis=0) - b).sum()
    return (be.item(xp.abs(M).max()), max(0.0, -be.item(R.min())),
            be.item((P * R).sum()), be.item((P * M).sum()), be.item(marg))


def _solve_one(a, b, M, max_iter, be):
    """Exact plan and potentials for one problem: returns ``(P, u, v, code, niter,
    warm_up_pivots, method, fused)``, ``fused`` the kernel's certificate data for
    :func:`_certify` (None when it does not cover all of ``M``)."""
    xp = be.xp
    n, m = M.shape
    rows = xp.nonzero(a > 0)[0]
    cols = xp.nonzero(b > 0)[0]
    full = rows.shape[0] == n and cols.shape[0] == m
    Ms = M if full else M[rows][:, cols]
    As, Bs = (a, b) if full else (a[rows], b[cols])
    fused = None
    if be.use_numba:
        announce_compilation("soptim.ot.emd", network_simplex, support_certificate)
        if not full and not be.all_finite(M):  # the kernel sees only the kept entries
            raise ValueError("M contains NaN or inf")
        Ms = np.ascontiguousarray(Ms)  # no copy for a C-contiguous float64 M
        flow = np.zeros(Ms.size)  # the kernel writes the tree's flows into it
        pi = np.empty(Ms.shape[0] + Ms.shape[1] + 1)
        support = np.empty(Ms.shape[0] + Ms.shape[1], np.int64)
        # one signature serves every call: float64 C-contiguous arrays, int64 counts
        code, niter, _, warm_up, scale, rmin = network_simplex(
            Ms, np.ascontiguousarray(As), np.ascontiguousarray(Bs), int(max_iter), flow,
            pi, support, N_CANDIDATES, LIST_PASSES, float(HANDOVER), float(MIN_COVERAGE))
        Ps = flow.reshape(Ms.shape)
        if code == NONFINITE:
            raise ValueError("M contains NaN or inf")
        niter += warm_up
        us, vs = -pi[:Ms.shape[0]], pi[Ms.shape[0]:-1]
        method = "network_simplex"
        fused = (scale, rmin, support)
    else:
        Ps, us, vs, code, niter = _column_generation(As, Bs, Ms, max_iter, be)
        warm_up = 0
        method = "highs_column_generation"
    if full:
        return Ps, us, vs, int(code), int(niter), int(warm_up), method, fused
    P = xp.zeros((n, m))
    P[xp.ix_(rows, cols)] = Ps
    u = xp.zeros(n)
    v = xp.zeros(m)
    u[rows] = us
    v[cols] = vs
    # zero-mass rows/columns: the tightest feasible potential (c-transform), so the
    # certificate holds on all entries
    zr = xp.nonzero(a == 0)[0]
    zc = xp.nonzero(b == 0)[0]
    if zc.shape[0]:
        v[zc] = (M[rows][:, zc] - u[rows][:, None]).min(axis=0)
    if zr.shape[0]:
        u[zr] = (M[zr] - v[None, :]).min(axis=1)
    return P, u, v, int(code), int(niter), int(warm_up), method, None


def _column_generation(a, b, M, max_rounds, be, k=5):
    """Exact OT by HiGHS on a growing set of entries, priced over all of ``M``.

    Starts from the ``k`` cheapest entries of every row and column plus a
    north-west-corner support (so the restricted LP is feasible), then adds, per
    row and per column, the ``k`` most negative reduced costs until none is
    below the pricing tolerance. The restricted LP drops the last column
    constraint (redundant with equal totals), so ``v[-1] = 0``.
    """
    import scipy.sparse as sps
    from scipy.optimize import linprog

    xp = be.xp
    n, m = M.shape
    kr, kc = min(k, m), min(k, n)
    I = [xp.repeat(xp.arange(n), kr), xp.argpartition(M, kr - 1, axis=1)[:, :kr].ravel()
         if kr < m else xp.tile(xp.arange(m), n)]
    J = [xp.argpartition(M, kc - 1, axis=0)[:kc].ravel() if kc < n
         else xp.repeat(xp.arange(n), m), xp.tile(xp.arange(m), kc)]
    i0, j0 = _northwest(be.to_numpy(a), be.to_numpy(b))
    I_h = np.concatenate([be.to_numpy(I[0]), be.to_numpy(J[0]), i0])
    J_h = np.concatenate([be.to_numpy(I[1]), be.to_numpy(J[1]), j0])
    seen = np.unique(I_h.astype(np.int64) * m + J_h)
    a_h, b_h = be.to_numpy(a), be.to_numpy(b)
    beq = np.concatenate([a_h, b_h[:-1]])
    tol = 1e-12 * max(be.item(xp.abs(M).max()), 1e-300)
    code, rounds = MAX_ITER_REACHED, 0
    x = u = v = None
    while rounds < max_rounds:
        rounds += 1
        ii, jj = seen // m, seen % m
        cost = be.to_numpy(M[be.to_device(ii), be.to_device(jj)])
        nnz = seen.shape[0]
        A = sps.csc_matrix((np.ones(2 * nnz), (np.concatenate([ii, n + jj]),
                                               np.concatenate([np.arange(nnz)] * 2))),
                           shape=(n + m, nnz))[:-1]
        res = linprog(cost, A_eq=A, b_eq=beq, bounds=(0, None), method="highs-ds",
                      options={"presolve": False})
        if res.status != 0:
            code = INFEASIBLE if res.status == 2 else MAX_ITER_REACHED
            break
        x = np.maximum(res.x, 0.0)
        duals = res.eqlin.marginals
        u = be.to_device(duals[:n])
        v = be.to_device(np.append(duals[n:], 0.0))
        R = M - u[:, None] - v[None, :]
        # the k most negative reduced costs of every row and column
        new = []
        for axis, kk in ((1, kr), (0, kc)):
            idx = xp.argpartition(R, kk - 1, axis=axis)
            idx = idx[:, :kk] if axis == 1 else idx[:kk]
            val = xp.take_along_axis(R, idx, axis=axis)
            bad = val < -tol
            if axis == 1:
                flat = (xp.nonzero(bad)[0] * m + idx[bad])
            else:
                flat = idx[bad] * m + xp.nonzero(bad)[1]
            new.append(be.to_numpy(flat))
        new = np.setdiff1d(np.concatenate(new), seen)
        if new.shape[0] == 0:
            code = OPTIMAL
            break
        seen = np.union1d(seen, new)
    P = xp.zeros((n, m))
    if x is not None:
        P[be.to_device(seen // m), be.to_device(seen % m)] = be.to_device(x)
    else:
        u, v = xp.zeros(n), xp.zeros(m)
    return P, u, v, code, rounds


def _northwest(a, b):
    """Support of the north-west-corner plan (a feasible spanning support)."""
    ca, cb = np.cumsum(a), np.cumsum(b)
    top = max(ca[-1], cb[-1])
    ca[-1] = cb[-1] = top
    br = np.unique(np.concatenate([ca, cb]))
    mid = (np.concatenate([[0.0], br[:-1]]) + br) / 2
    return (np.minimum(np.searchsorted(ca, mid), len(a) - 1),
            np.minimum(np.searchsorted(cb, mid), len(b) - 1))


def _run(a, b, M, numItermax, center_dual, numThreads, check_marginals, allow_batch):
    numItermax = check_count("numItermax", numItermax, minimum=1)
    center_dual = check_bool("center_dual", center_dual)
    check_marginals = check_bool("check_marginals", check_marginals)
    _check_threads(numThreads)
    a, b, M, dtype, be = _prepare(a, b, M, check_marginals, allow_batch)
    return a, b, M, dtype, be, numItermax, center_dual


def _check_threads(numThreads) -> None:
    if isinstance(numThreads, str) and numThreads == "max":
        return
    n = check_count("numThreads", numThreads, minimum=1)
    if n != 1:
        warnings.warn("numThreads is ignored: the exact solver is single-threaded "
                      "(as POT's, whose parameter is deprecated).", DeprecationWarning,
                      stacklevel=4)


def _exact(a, b, M, be, numItermax, center_dual):
    """Solve, certify and package one problem: ``(P, cost, u, v, log)`` (float64)."""
    P, u, v, code, niter, warm_up, method, fused = _solve_one(a, b, M, numItermax, be)
    scale, dual_violation, gap, cost, marg = _certify(P, M, u, v, a, b, be, fused)
    scale = max(scale, np.finfo(float).tiny)
    mass = be.item(a.sum())
    certified = (dual_violation <= CERT_RTOL * scale and abs(gap) <= CERT_RTOL * scale * mass
                 and marg <= CERT_RTOL * mass)
    message = _MESSAGES.get(code)
    if code == OPTIMAL and not certified:
        code = CERTIFICATE_FAILED
        message = (f"the optimality certificate failed (dual violation {dual_violation:.3g}, "
                   f"complementary-slackness gap {gap:.3g}, L1 marginal error {marg:.3g}; "
                   f"tolerance {CERT_RTOL:g} relative to max|M| = {scale:.3g}): the plan is "
                   "feasible up to that error but not certified optimal. Try rescaling M.")
    if center_dual:
        u, v = _center(u, v, a, b)
    log = {"cost": cost, "u": u, "v": v, "warning": message, "result_code": code,
           "dual_violation": dual_violation, "gap": gap, "marginal_error": marg,
           "certified": bool(certified and code == OPTIMAL), "niter": niter,
           "warm_up_pivots": warm_up, "method": method}
    if message is not None:
        warnings.warn(message, UserWarning, stacklevel=4)
    return P, cost, u, v, log


def emd(a: Any, b: Any, M: Any, numItermax: int = 100000, log: bool = False,
        center_dual: bool = True, numThreads: int | str = 1, check_marginals: bool = True):
    """Exact optimal transport plan (Earth Mover's Distance), POT's ``ot.emd`` signature.

    Solves ``min_P <M, P>`` s.t. ``P 1 = a``, ``P^T 1 = b``, ``P >= 0`` and certifies
    the answer (see the module notes): primal feasibility, dual feasibility of
    ``(u, v)`` on every entry and complementary slackness, each to
    :data:`CERT_RTOL` relative to ``max |M|`` (and the total mass).

    Parameters
    ----------
    a : array_like, shape (n,)
        Source masses (nonnegative); empty or None means uniform.
    b : array_like, shape (m,)
        Target masses with the same total as ``a``; empty or None means uniform.
    M : array_like, shape (n, m)
        Cost matrix (finite). NumPy or CuPy; the result lives on the same device.
    numItermax : int
        Most pivots of the network simplex's block search over all entries (POT's
        meaning: POT's pivots), or most pricing rounds of the column-generation
        path. The candidate-list warm-up before it has its own cap of
        ``numItermax`` pivots and hands over at it (it never stops the solve);
        ``log['niter']`` counts both, ``log['warm_up_pivots']`` the warm-up's.
    log : bool
        Also return a dict with POT's keys ``cost``, ``u``, ``v``, ``warning`` (None
        when optimal), ``result_code`` (0 infeasible, 1 optimal, 2 unbounded, 3
        ``numItermax`` reached, 4 certificate failed), and the certificate:
        ``dual_violation``, ``gap``, ``marginal_error``, ``certified``; plus
        ``niter``, ``warm_up_pivots`` and ``method``.
    center_dual : bool
        Shift ``(u, v)`` by a constant as POT's ``center_ot_dual`` does.
    numThreads : int or 'max'
        Accepted for POT compatibility and ignored (a ``DeprecationWarning`` when
        not 1, as POT).
    check_marginals : bool
        Raise when ``sum(a)`` and ``sum(b)`` differ (more than ``1.5e-6`` relative,
        POT's 6 decimals); either way ``b`` is rescaled to ``sum(a)``.

    Returns
    -------
    gamma : array, shape (n, m)
        An optimal plan, in the dtype of the inputs (float64 for integer input).
    log : dict
        Only with ``log=True``.

    Raises
    ------
    ValueError
        Negative or non-finite masses or costs, shapes that do not match, totals
        that differ (with ``check_marginals``), a zero total mass.
    TypeError
        Complex or non-numeric input, a non-integer ``numItermax``.

    Warns
    -----
    UserWarning
        When the plan is not certified optimal (``numItermax`` reached, or the
        certificate failed): the message says why; ``result_code`` is not 1.

    Notes
    -----
    Rows and columns of zero mass are removed before solving (as POT does); their
    potentials are the c-transforms of the others (``u_i = min_j M_ij - v_j``), so
    the dual stays feasible everywhere (POT additionally caps them at 0).

    The network simplex follows LEMON / POT (block-search pricing, the same tree
    updates); soptim's own pricing first searches a candidate list of the
    cheapest entries of every row and column and scans the full matrix only when
    the list holds no improving entry, which ends with the certificate. CuPy
    input runs the column-generation path: pricing on the GPU, the LP on the host.

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.ot import emd
    >>> emd([0.5, 0.5], [0.5, 0.5], np.array([[0.0, 1.0], [1.0, 0.0]]))
    array([[0.5, 0. ],
           [0. , 0.5]])
    """
    log = check_bool("log", log)
    a, b, M, dtype, be, numItermax, center_dual = _run(
        a, b, M, numItermax, center_dual, numThreads, check_marginals, False)
    P, cost, u, v, info = _exact(a, b, M, be, numItermax, center_dual)
    P = P.astype(dtype, copy=False)
    if log:
        info["u"], info["v"] = u.astype(dtype, copy=False), v.astype(dtype, copy=False)
        return P, info
    return P


def emd2(a: Any, b: Any, M: Any, processes: int = 1, numItermax: int = 100000,
         log: bool = False, return_matrix: bool = False, center_dual: bool = True,
         numThreads: int | str = 1, check_marginals: bool = True):
    """Exact optimal transport cost ``<M, P*>``, POT's ``ot.emd2`` signature.

    Parameters are those of :func:`emd`, and:

    b : array_like, shape (m,) or (m, k)
        Target masses; with shape (m, k) the k costs against one ``M`` are returned.
    processes : int
        Accepted for POT compatibility and ignored.
    return_matrix : bool
        With ``log=True``, also put the plan in ``log['G']`` (POT's key).

    Returns
    -------
    W : float or array, shape (k,)
        The optimal cost (a float for 1-D ``b``; a backend array for a batch).
    log : dict, or list of dict for a batch
        Only with ``log=True`` (see :func:`emd`).

    Raises
    ------
    ValueError, TypeError
        As :func:`emd`.

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.ot import emd2
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> float(emd2([0.5, 0.5], [0.25, 0.75], M))
    0.25
    """
    log = check_bool("log", log)
    return_matrix = check_bool("return_matrix", return_matrix)
    check_count("processes", processes, minimum=1)
    a, b, M, dtype, be, numItermax, center_dual = _run(
        a, b, M, numItermax, center_dual, numThreads, check_marginals, True)
    cols = [b] if b.ndim == 1 else [b[:, k] for k in range(b.shape[1])]
    costs, logs = [], []
    for bk in cols:
        P, cost, u, v, info = _exact(a, bk, M, be, numItermax, center_dual)
        info["u"], info["v"] = u.astype(dtype, copy=False), v.astype(dtype, copy=False)
        if return_matrix:
            info["G"] = P.astype(dtype, copy=False)
        costs.append(cost)
        logs.append(info)
    if b.ndim == 1:
        out = be.xp.asarray(costs[0], dtype=dtype)[()]
        return (out, logs[0]) if log else out
    out = be.xp.asarray(np.asarray(costs, dtype=dtype))
    return (out, logs) if log else out
