"""POT-compatible front doors: ``sinkhorn`` and ``sinkhorn2`` with POT's names.

A script switches by changing ``import ot`` to ``import soptim.ot as ot``
(for these two functions): same arguments, same return conventions --
the plan (1-D ``b``) or the vector of costs (``b`` of shape (m, k)), and with
``log=True`` a dict with ``err``, ``niter``, ``log_u``, ``log_v``, ``u``, ``v``.

Differences, on purpose: ``method`` defaults to ``'sns'``; ``stopThr`` is
the **L1** marginal error of both marginals relative to the total mass (POT
checks the 2-norm of the column violation every 10 sweeps); ``log['err']``
holds the L1 error of every iteration.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._validation import as_float_array, check_bool, check_positive
from ..backend import get_backend
from ._solve import OTResult, _solve

__all__ = ["sinkhorn", "sinkhorn2"]

_POT_ALIASES = {"sns": "sns", "sinkhorn": "sinkhorn", "sinkhorn_log": "sinkhorn"}


def _run(a, b, M, reg, method, numItermax, stopThr, verbose, warn, warmstart, kwargs):
    if not isinstance(method, str) or method.lower() not in _POT_ALIASES:
        raise ValueError(f"method must be one of {tuple(_POT_ALIASES)}, got {method!r} "
                         "(other POT variants are not provided: 'sns' is stable at any reg)")
    reg = check_positive("reg", reg)
    verbose = check_bool("verbose", verbose)
    warn = check_bool("warn", warn)
    if warmstart is not None:
        warmstart = _scaled_warmstart(warmstart, reg, M)
    # POT's names (stopThr, numItermax) in every message, not solve()'s (tol, max_iter)
    res = _solve(a, b, M, reg, _POT_ALIASES[method.lower()], stopThr, numItermax, None, False,
                 warmstart, kwargs, ("stopThr", "numItermax"))
    if verbose:
        _print_history(res)
    if warn and not bool(res.success):
        warnings.warn(res.message + " You might want to increase the number of iterations "
                      "`numItermax` or the regularization parameter `reg`.", UserWarning,
                      stacklevel=3)
    return res, reg


def _scaled_warmstart(warmstart, reg: float, M: Any):
    """POT's ``(log_u, log_v)`` (arrays, lists or tuples) as potentials ``(f, g)``."""
    if isinstance(warmstart, (str, bytes)) or not hasattr(warmstart, "__len__") \
            or len(warmstart) != 2:
        raise TypeError("warmstart must be a pair (log_u, log_v) of arrays, got "
                        f"{type(warmstart).__name__}")
    xp = get_backend(M).xp
    return tuple(as_float_array(f"warmstart[{k}]", w, dtype=np.float64, xp=xp) * reg
                 for k, w in enumerate(warmstart))


def _log_dict(res: OTResult, reg: float) -> dict:
    f, g = res.potentials
    xp = _xp(f)
    log_u, log_v = f / reg, g / reg
    return {"err": res.history, "niter": res.nit, "log_u": log_u, "log_v": log_v,
            "u": xp.exp(log_u), "v": xp.exp(log_v), "result": res}


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
    method : {'sns', 'sinkhorn', 'sinkhorn_log'}
        ``'sns'``: Sinkhorn-Newton-Sparse; ``'sinkhorn'``/``'sinkhorn_log'``:
        log-domain Sinkhorn.
    numItermax : int
        Most iterations (Sinkhorn sweeps plus Newton steps).
    stopThr : float
        Tolerance on the **L1** marginal error ``||P 1 - a||_1 + ||P^T 1 - b||_1``,
        relative to the total mass ``sum(a)`` (the plain L1 error for normalized masses).
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
    out = res.plan if res.plan.ndim == 2 else _costs(res)
    if check_bool("log", log):
        return out, _log_dict(res, reg)
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
    out = _xp(res.plan).asarray(res.cost)[()] if res.plan.ndim == 2 else _costs(res)
    if check_bool("log", log):
        return out, _log_dict(res, reg)
    return out


def _costs(res: OTResult):
    xp = _xp(res.plan)
    return xp.asarray(res.cost)


def _xp(x):
    return get_backend(x).xp


def _print_history(res: OTResult) -> None:
    print(f"{'It.':>5s}|{'L1 err':>12s}")
    print("-" * 19)
    hist = res.history
    runs = hist if hist and isinstance(hist[0], list) else [hist]
    for run in runs:
        for k, e in enumerate(run):
            print(f"{k:5d}|{e:12.4e}")
