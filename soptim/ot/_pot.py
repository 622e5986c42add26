"""POT-compatible front doors: ``sinkhorn`` and ``sinkhorn2`` with POT's names.

A script switches by changing ``import ot`` to ``import soptim.ot as ot``
(for these two functions): same arguments, same return conventions --
the plan (1-D ``b``) or the vector of costs (``b`` of shape (m, k)), and with
``log=True`` a dict with ``err``, ``niter``, ``log_u``, ``log_v``, ``u``, ``v``.

Every POT method name is accepted: ``'sinkhorn'``, ``'sinkhorn_knopp'``,
``'sinkhorn_log'``, ``'sinkhorn_stabilized'`` and ``'greenkhorn'`` run soptim's
Sinkhorn sweeps (kernel domain with absorption, log domain when needed: POT's
stabilized scheme chosen automatically); ``'sinkhorn_epsilon_scaling'`` and
``'sns'`` run SNS (with its ``reg`` continuation). All define the same entropic
plan; only the path to it differs. ``stopThr=0`` runs ``numItermax`` iterations
and warns, as in POT; the warning starts with POT's text. float32 inputs give
float32 outputs (computed in float64).

Differences, on purpose: ``method`` defaults to ``'sns'``; ``stopThr`` is
the **L1** marginal error of both marginals relative to the total mass (POT
checks the 2-norm of the column violation every 10 sweeps); ``log['err']``
samples it every 10 iterations as POT does (plus the last), ``log['history']``
holds every iteration.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._validation import as_float_array, check_bool, check_count, check_positive
from ..backend import get_backend
from ._solve import OTResult, _pot_method, _solve, print_history

__all__ = ["sinkhorn", "sinkhorn2", "unif", "out_dtype"]


def unif(n: int, type_as: Any = None) -> Any:
    """Uniform histogram ``1/n`` of length ``n`` (POT's ``ot.unif``).

    ``type_as``: an array whose backend and floating dtype the result takes.

    Examples
    --------
    >>> from soptim.ot import unif
    >>> unif(4)
    array([0.25, 0.25, 0.25, 0.25])
    """
    n = check_count("n", n, minimum=1)
    if type_as is None:
        return np.full(n, 1.0 / n)
    xp = get_backend(type_as).xp
    dtype = type_as.dtype if np.issubdtype(type_as.dtype, np.floating) else np.float64
    return xp.full(n, 1.0 / n, dtype=dtype)

def _run(a, b, M, reg, method, numItermax, stopThr, verbose, warn, warmstart, kwargs):
    solver = _pot_method(method)
    reg = check_positive("reg", reg)
    verbose = check_bool("verbose", verbose)
    warn = check_bool("warn", warn)
    if warmstart is not None:
        warmstart = _scaled_warmstart(warmstart, reg, M)
    # POT's names (stopThr, numItermax) in every message, not solve()'s (tol, max_iter)
    res = _solve(a, b, M, reg, solver, stopThr, numItermax, None, False,
                 warmstart, kwargs, ("stopThr", "numItermax"))
    if verbose:
        print_history(res)
    if warn and not bool(res.success):
        # POT's warning text first (scripts and tests match on it), then soptim's reason
        warnings.warn("Sinkhorn did not converge. You might want to increase the number of "
                      "iterations `numItermax` or the regularization parameter `reg`. "
                      + res.message, UserWarning, stacklevel=3)
    return res, reg


def out_dtype(*arrays: Any) -> Any:
    """float32 when every given floating input is float32 (POT keeps the input type),
    else float64 (integer, float64 or mixed inputs; lists count as float64)."""
    kinds = [getattr(x, "dtype", None) for x in arrays if x is not None
             and getattr(x, "size", 1) != 0]
    floats = [d for d in kinds if d is not None and np.issubdtype(d, np.floating)]
    if floats and all(d == np.float32 for d in floats) and len(floats) == len(kinds):
        return np.float32
    return np.float64


def _cast(x: Any, dtype: Any) -> Any:
    if dtype == np.float64:
        return x
    if isinstance(x, float):
        return np.float32(x)
    return x.astype(dtype)


def _scaled_warmstart(warmstart, reg: float, M: Any):
    """POT's ``(log_u, log_v)`` (arrays, lists or tuples) as potentials ``(f, g)``."""
    if isinstance(warmstart, (str, bytes)) or not hasattr(warmstart, "__len__") \
            or len(warmstart) != 2:
        raise TypeError("warmstart must be a pair (log_u, log_v) of arrays, got "
                        f"{type(warmstart).__name__}")
    xp = get_backend(M).xp
    return tuple(as_float_array(f"warmstart[{k}]", w, dtype=np.float64, xp=xp) * reg
                 for k, w in enumerate(warmstart))


def _log_dict(res: OTResult, reg: float, dtype: Any) -> dict:
    """POT's log keys and types: ``err`` sampled every 10 iterations as POT records it
    (plus the last one), ``niter`` an int (the most of a batch), ``log_u``, ``log_v``,
    ``u``, ``v``; soptim's own: ``history`` (every iteration) and ``result``."""
    f, g = res.potentials
    xp = _xp(f)
    log_u, log_v = _cast(f / reg, dtype), _cast(g / reg, dtype)
    hist = res.history
    runs = hist if hist and isinstance(hist[0], list) else [hist]
    length = max(len(h) for h in runs)
    # one error per iteration: the worst of the batch (a finished problem keeps its last)
    merged = [max(h[min(k, len(h) - 1)] for h in runs if h) for k in range(length)] \
        if length else []
    err = merged[::10]
    if merged and (length - 1) % 10:
        err.append(merged[-1])
    return {"err": err, "niter": int(np.max(res.nit)), "log_u": log_u, "log_v": log_v,
            "u": xp.exp(log_u), "v": xp.exp(log_v), "history": res.history, "result": res}


def sinkhorn(a: Any, b: Any, M: Any, reg: float, method: str = "sns", numItermax: int = 1000,
             stopThr: float = 1e-9, verbose: bool = False, log: bool = False, warn: bool = True,
             warmstart: tuple[Any, Any] | None = None, **kwargs: Any):
    """Entropic OT plan, POT's ``ot.sinkhorn`` signature (log-domain, SNS by default).

    Parameters
    ----------
    a : array_like, shape (n,)
        Source masses; empty (``[]``) means uniform.
    b : array_like, shape (m,) or (m, k)
        Target masses; empty means uniform. Shape (m, k): k problems against one
        cost (then the costs are returned, as in POT).
    M : array_like, shape (n, m)
        Cost matrix.
    reg : float
        Entropic regularization (> 0).
    method : str
        ``'sns'``: Sinkhorn-Newton-Sparse (also ``'sinkhorn_epsilon_scaling'``);
        ``'sinkhorn'``, ``'sinkhorn_knopp'``, ``'sinkhorn_log'``,
        ``'sinkhorn_stabilized'``, ``'greenkhorn'``: Sinkhorn sweeps (kernel domain,
        log domain when needed). All give the same entropic plan.
    numItermax : int
        Most iterations (Sinkhorn sweeps plus Newton steps).
    stopThr : float
        Tolerance (0 allowed: run ``numItermax`` iterations) on the **L1** marginal
        error ``||P 1 - a||_1 + ||P^T 1 - b||_1``, relative to the total mass
        ``sum(a)`` (the plain L1 error for normalized masses).
    verbose : bool
        Print the error of every iteration.
    log : bool
        Also return a dict: ``err`` (L1 error per iteration), ``niter``, ``log_u``,
        ``log_v`` (``P = exp(log_u_i + log_v_j - M_ij/reg)``), ``u``, ``v`` and
        ``result`` (the full :class:`OTResult`).
    warn : bool
        ``UserWarning`` when ``stopThr`` is not reached.
    warmstart : tuple of array_like, optional
        ``(log_u, log_v)`` to start from (arrays, lists or tuples, as in POT).
    **kwargs
        Options of :func:`soptim.ot.solve`.

    Returns
    -------
    gamma : array, shape (n, m)
        The plan; for ``b`` of shape (m, k) the k costs ``<M, P_k>`` instead (POT's
        convention).
    log : dict
        Only with ``log=True``.

    Raises
    ------
    ValueError
        Bad masses, costs, shapes, ``reg`` or ``method`` (see :func:`soptim.ot.solve`).

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.ot import sinkhorn
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> P = sinkhorn([0.5, 0.5], [0.5, 0.5], M, reg=0.05)
    >>> np.round(P, 6)
    array([[0.5, 0. ],
           [0. , 0.5]])
    """
    res, reg = _run(a, b, M, reg, method, numItermax, stopThr, verbose, warn, warmstart,
                    kwargs)
    dtype = out_dtype(a, b, M)
    out = _cast(res.plan if res.plan.ndim == 2 else _costs(res), dtype)
    if check_bool("log", log):
        return out, _log_dict(res, reg, dtype)
    return out


def sinkhorn2(a: Any, b: Any, M: Any, reg: float, method: str = "sns", numItermax: int = 1000,
              stopThr: float = 1e-9, verbose: bool = False, log: bool = False,
              warn: bool = False, warmstart: tuple[Any, Any] | None = None, **kwargs: Any):
    """Entropic OT cost ``<M, P>``, POT's ``ot.sinkhorn2`` signature.

    Parameters are those of :func:`sinkhorn` (``warn`` defaults to False, as in POT).

    Returns
    -------
    W : float or array, shape (k,)
        The linear cost ``<M, P>`` of the entropic plan (no entropy term), one per
        column of ``b``.
    log : dict
        Only with ``log=True`` (see :func:`sinkhorn`).

    Raises
    ------
    ValueError
        Bad masses, costs, shapes, ``reg`` or ``method``.

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.ot import sinkhorn2
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> b = np.array([[0.5, 0.0], [0.5, 1.0]])
    >>> np.round(sinkhorn2([0.5, 0.5], b, M, reg=0.05), 6)
    array([0. , 0.5])
    """
    res, reg = _run(a, b, M, reg, method, numItermax, stopThr, verbose, warn, warmstart,
                    kwargs)
    dtype = out_dtype(a, b, M)
    out = _cast(_xp(res.plan).asarray(res.cost)[()] if res.plan.ndim == 2 else _costs(res),
                dtype)
    if check_bool("log", log):
        return out, _log_dict(res, reg, dtype)
    return out


def _costs(res: OTResult):
    xp = _xp(res.plan)
    return xp.asarray(res.cost)


def _xp(x):
    return get_backend(x).xp
