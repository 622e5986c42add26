"""``soptim.ot.pairwise_distances``: entropic OT costs between many histograms.

A distance matrix between histograms on one support is embarrassingly
parallel: every entry is an independent OT problem with the same cost ``M``.
The pairs are cut into blocks of ``batch_size``; inside a block the pairs that
share a source histogram ``X[i]`` are one call of the batched solver
(:func:`soptim.ot.sinkhorn2` with ``b`` of shape (m, k): one cost, one
workspace, several targets). The blocks go to any
``concurrent.futures.Executor`` (or a ``dask.distributed.Client``) through
:func:`soptim._executor.map_blocks`, which sends ``M`` and the histograms once
per worker, not once per block.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import OptimizeWarning

from .._executor import check_executor, map_blocks
from .._validation import as_float_array, check_bool, check_choice, check_count, check_positive
from ..backend import get_backend
from ._pot import sinkhorn2

__all__ = ["pairwise_distances"]

_METHODS = ("sns", "sinkhorn", "sinkhorn_log")
#: Relative tolerance on equal row totals (the solver's own tolerance on sum(a) == sum(b)).
_MASS_RTOL = 1e-6
#: Relative tolerance (to max |M|) of the symmetry and zero-diagonal checks when Y is None.
_SYM_RTOL = 1e-12
#: Default blocking: about this many blocks, each of at most _MAX_BATCH pairs.
_TARGET_BLOCKS = 64
_MAX_BATCH = 256
#: sinkhorn2's default stopThr (the per-pair success test uses the same threshold).
_DEFAULT_STOPTHR = 1e-9
_calls = itertools.count()


@dataclass(frozen=True)
class _Shared:
    """What every block needs; sent once per worker (one object, so dask scatters it whole)."""

    X: Any
    Y: Any
    M: Any
    reg: float
    method: str
    options: dict
    stop_thr: float
    caller_pid: int
    #: unique per call: dask names scattered data by its hash, and a second call with equal
    #: data would otherwise reuse a key that the first call's clean-up is releasing
    token: int


def pairwise_distances(X: Any, Y: Any = None, *, M: Any, reg: float, method: str | None = None,
                       executor: Any = None, batch_size: int | None = None, log: bool = False,
                       **options: Any):
    """Entropic OT cost between every row of ``X`` and every row of ``Y``.

    ``D[i, j] = <M, P_ij>``, the linear cost of the entropic plan between the
    histograms ``X[i]`` and ``Y[j]`` (POT's ``sinkhorn2`` value), all on one
    support with cost ``M``.

    Parameters
    ----------
    X : array_like, shape (nx, n)
        Source histograms, one per row (nonnegative, finite, all with the same
        total mass up to a relative 1e-6).
    Y : array_like, shape (ny, m), optional
        Target histograms, with the total mass of the rows of ``X``. None: the
        symmetric matrix between the rows of ``X`` (only the ``nx (nx - 1) / 2``
        pairs above the diagonal are solved, the diagonal is zero); ``M`` must
        then be symmetric with a zero diagonal (pass ``Y=X`` otherwise).
    M : array_like, shape (n, m)
        Cost matrix (finite), NumPy or CuPy; ``D`` lives on the same device.
    reg : float
        Entropic regularization (> 0).
    method : {'sns', 'sinkhorn', 'sinkhorn_log'}, optional
        The solver of :func:`soptim.ot.sinkhorn2`; None means ``'sns'``.
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Where the blocks run (a ``ProcessPoolExecutor``, a ``ThreadPoolExecutor``,
        a dask ``Client``...); None solves them here, one after the other. The
        result is the same either way (the blocks do not depend on the executor).
    batch_size : int, optional
        Pairs per block (one task each on a dask ``Client``). Default: about 64
        blocks of at most 256 pairs, so that workers stay busy while the
        per-task overhead stays small.
    log : bool
        Also return a dict of per-pair diagnostics (see Returns).
    **options
        Options of :func:`soptim.ot.sinkhorn2` (``numItermax``, ``stopThr``,
        ``verbose``, SNS options...), checked here before any block is sent.
        ``warn`` (default True): an ``OptimizeWarning`` when some pairs did not
        reach ``stopThr``.

    Returns
    -------
    D : array, shape (nx, ny)
        The costs (``nx x nx`` and symmetric when ``Y`` is None).
    log : dict
        Only with ``log=True``: ``marginal_error`` (L1 marginal error of every
        pair, relative to the total mass), ``nit`` (iterations of every pair) and
        ``success`` (boolean matrices, all of shape (nx, ny)), plus ``message``.

    Raises
    ------
    ValueError
        ``X``/``Y`` not 2-D, negative or non-finite entries, rows of unequal or
        zero mass, ``M`` of the wrong shape (or not symmetric with a zero
        diagonal when ``Y`` is None), ``reg <= 0``, an unknown ``method``, a bad
        solver option.
    TypeError
        An ``executor`` without ``submit``, a non-integer ``batch_size``,
        ``warmstart`` (each pair starts from zero potentials).

    Notes
    -----
    The per-pair solves are those of :func:`soptim.ot.sinkhorn2` (SNS [1]_ by
    default). Added here: the blocking over pairs (equal-sized blocks that may
    span several source rows, so static schedulers such as a
    ``ProcessPoolExecutor`` get balanced work), the symmetric shortcut, and the
    checks of every argument in the calling process -- a bad option is
    reported once, here, instead of by every worker. Workers solve with
    warnings silenced; convergence comes back in the results and is reported
    in the calling process.

    A pair succeeds when its L1 marginal error is at most ``stopThr`` times
    the total mass, the test of :class:`soptim.ot.OTResult`.

    References
    ----------
    .. [1] X. Tang et al., "Accelerating Sinkhorn algorithm with sparse Newton
       iterations", ICLR 2024, arXiv:2401.12253.

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.ot import pairwise_distances
    >>> x = np.linspace(0, 1, 8)
    >>> M = (x[:, None] - x[None, :]) ** 2
    >>> X = np.random.default_rng(0).random((3, 8))
    >>> X /= X.sum(axis=1, keepdims=True)
    >>> D = pairwise_distances(X, M=M, reg=0.05)
    >>> D.shape, bool(np.allclose(D, D.T)), float(D[0, 0])
    ((3, 3), True, 0.0)

    With a pool of worker processes (same numbers)::

        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(2) as ex:
            D2 = pairwise_distances(X, M=M, reg=0.05, executor=ex)
    """
    be = get_backend(X, Y, M)
    xp = be.xp
    X = as_float_array("X", X, ndim=2, nonnegative=True, dtype=np.float64, xp=xp)
    symmetric = Y is None
    Y = X if symmetric else as_float_array("Y", Y, ndim=2, nonnegative=True,
                                           dtype=np.float64, xp=xp)
    M = as_float_array("M", M, ndim=2, dtype=np.float64, xp=xp)
    if M.shape != (X.shape[1], Y.shape[1]):
        raise ValueError(f"M must have shape (X.shape[1], {'X' if symmetric else 'Y'}.shape[1])"
                         f" = {(X.shape[1], Y.shape[1])}, got {M.shape}")
    reg = check_positive("reg", reg)
    method = "sns" if method is None else method
    if not isinstance(method, str):
        raise TypeError(f"method must be a string or None, got {type(method).__name__}")
    method = check_choice("method", method.lower(), _METHODS)
    executor = check_executor(executor)
    if batch_size is not None:
        batch_size = check_count("batch_size", batch_size, minimum=1)
    log = check_bool("log", log)
    warn = check_bool("warn", options.pop("warn", True))
    if "warmstart" in options:
        raise TypeError("warmstart is not supported by pairwise_distances (every pair starts "
                        "from zero potentials); call soptim.ot.sinkhorn2 for one pair")
    stop_thr = _check_options(reg, method, options)
    mass = _check_masses(be, X, "X", Y, "X" if symmetric else "Y")
    if symmetric:
        _check_symmetric_cost(be, M)

    nx, ny = X.shape[0], Y.shape[0]
    rows, cols = (np.triu_indices(nx, k=1) if symmetric
                  else np.divmod(np.arange(nx * ny, dtype=np.intp), ny))
    rows, cols = rows.astype(np.intp), cols.astype(np.intp)
    npairs = rows.size
    if batch_size is None:
        batch_size = max(1, min(_MAX_BATCH, math.ceil(npairs / _TARGET_BLOCKS)))
    blocks = [(rows[s:s + batch_size], cols[s:s + batch_size])
              for s in range(0, npairs, batch_size)]
    shared = _Shared(X, None if symmetric else Y, M, reg, method, options, stop_thr,
                     os.getpid(), next(_calls))
    results = map_blocks(_solve_block, blocks, executor, shared=shared)

    D = np.zeros((nx, ny))
    err = np.zeros((nx, ny))
    nit = np.zeros((nx, ny), dtype=np.intp)
    ok = np.ones((nx, ny), dtype=bool)
    for (r, c), (cost, e, it, s) in zip(blocks, results):
        D[r, c], err[r, c], nit[r, c], ok[r, c] = cost, e / mass, it, s
        if symmetric:
            D[c, r], err[c, r], nit[c, r], ok[c, r] = cost, e / mass, it, s
    message = _message(ok, err, symmetric, stop_thr, npairs)
    if warn and not ok.all():
        warnings.warn(message, OptimizeWarning, stacklevel=2)
    D = be.to_device(D)
    if log:
        return D, {"marginal_error": err, "nit": nit, "success": ok, "message": message}
    return D


def _check_options(reg: float, method: str, options: dict) -> float:
    """Check reg, method and the solver options here, in the calling process.

    A one-point problem goes through :func:`sinkhorn2`'s own checks (so the
    messages name POT's arguments, e.g. ``stopThr``) and its warnings about
    unknown options reach the caller once, not once per worker.
    """
    sinkhorn2(np.ones(1), np.ones(1), np.zeros((1, 1)), reg, method=method, warn=False,
              **options)
    return float(options.get("stopThr", _DEFAULT_STOPTHR))


def _check_masses(be, X, xname: str, Y, yname: str) -> float:
    """The common total mass of the rows; ``ValueError`` naming the first bad row."""
    totals = {xname: be.to_numpy(X.sum(axis=1)), yname: be.to_numpy(Y.sum(axis=1))}
    ref = None
    for name, t in totals.items():
        if t.size == 0:
            continue
        if ref is None:
            ref = float(t[0])
        zero = np.flatnonzero(t <= 0)
        if zero.size:
            raise ValueError(f"{name}[{zero[0]}] has zero total mass; every row must be a "
                             "histogram with positive mass")
        bad = np.flatnonzero(np.abs(t - ref) > _MASS_RTOL * ref)
        if bad.size:
            raise ValueError(f"the rows of {xname}{'' if name == xname else ' and ' + name} "
                             f"must have the same total mass: {name}[{bad[0]}] sums to "
                             f"{t[bad[0]]:.6g}, {xname}[0] to {ref:.6g}; normalize them "
                             "(for example X / X.sum(axis=1, keepdims=True))")
    return 1.0 if ref is None else ref


def _check_symmetric_cost(be, M) -> None:
    n, m = M.shape
    if n != m:
        raise ValueError(f"M must be square when Y is None, got shape {M.shape}")
    if M.size == 0:
        return
    xp = be.xp
    tol = _SYM_RTOL * be.item(xp.abs(M).max())
    if be.item(xp.abs(M - M.T).max()) > tol:
        raise ValueError("M must be symmetric when Y is None (the matrix is then filled from "
                         "its upper triangle); pass Y=X for a non-symmetric cost")
    if be.item(xp.abs(xp.diagonal(M)).max()) > tol:
        raise ValueError("M must have a zero diagonal when Y is None (the diagonal of the "
                         "result is then zero); pass Y=X to solve the diagonal pairs")


def _solve_block(shared: _Shared, block: tuple[np.ndarray, np.ndarray]):
    """Costs, L1 errors, iterations and success of one block of pairs.

    Runs on a worker: the pairs of the block that share a source row are one
    batched :func:`sinkhorn2` call.
    """
    if os.getpid() != shared.caller_pid:
        # the caller already showed the option warnings; convergence comes back as results
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _solve_pairs(shared, *block)
    return _solve_pairs(shared, *block)


def _solve_pairs(shared: _Shared, rows: np.ndarray, cols: np.ndarray):
    X, M = shared.X, shared.M
    Y = X if shared.Y is None else shared.Y
    be = get_backend(M)
    k = rows.size
    cost, err = np.empty(k), np.empty(k)
    nit, ok = np.empty(k, dtype=np.intp), np.empty(k, dtype=bool)
    # rows are sorted: each run of equal rows is one source against several targets
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    for s, e in zip(starts, np.r_[starts[1:], k]):
        i = int(rows[s])
        a = X[i]
        B = Y[be.to_device(cols[s:e])].T
        c, lg = sinkhorn2(a, B, M, shared.reg, method=shared.method, log=True, warn=False,
                          **shared.options)
        res = lg["result"]
        cost[s:e] = be.to_numpy(c)
        err[s:e] = np.asarray(res.marginal_error, dtype=np.float64)
        nit[s:e] = np.asarray(res.nit)
        mass = be.item(a.sum())
        # OTResult's test, per pair: L1 error <= stopThr * mass, and a finite cost
        ok[s:e] = (err[s:e] <= shared.stop_thr * mass) & np.isfinite(cost[s:e])
    return cost, err, nit, ok


def _message(ok: np.ndarray, err: np.ndarray, symmetric: bool, stop_thr: float,
             npairs: int) -> str:
    if ok.all():
        return f"All {npairs} pairs converged (relative L1 marginal error <= stopThr)."
    bad = ~ok
    if symmetric:
        bad = np.triu(bad, k=1)
    i, j = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(err, nan=np.inf), -1.0)),
                            err.shape)
    return (f"{int(bad.sum())} of {npairs} pairs did not reach stopThr = {stop_thr:.1e}; the "
            f"worst, (X[{i}], {'X' if symmetric else 'Y'}[{j}]), has relative L1 marginal "
            f"error {err[i, j]:.3e}. Increase numItermax, increase reg, or loosen stopThr "
            "(log=True gives the error of every pair).")
