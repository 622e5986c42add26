"""Log-domain Sinkhorn: exact block-coordinate ascent on the dual.

``f_i <- reg*log a_i - reg*logsumexp_j((g_j - M_ij)/reg)``, then the same for
``g``. Nothing is exponentiated outside a max-shifted logsumexp, so it is
stable for any ``reg`` (no ``exp(-M/reg)`` kernel that underflows).

The marginal error comes for free: after a column update the columns are
exact, and the next row update gives the rows of the current plan as
``r_i = a_i exp((f_i - f_i^new)/reg)``.

Kernel-domain fast path (added to the log-domain scheme; POT's
``sinkhorn_stabilized`` idea): the sweeps are run as scaling updates
``u = a / (K v)``, ``v = b / (K^T u)`` on the *stabilized* kernel
``K_ij = exp((f_i + g_j - M_ij)/reg)`` formed once at the current potentials, so a
sweep costs two BLAS mat-vecs instead of ``2 n m`` exponentials. When a scaling
leaves ``[1/TAU, TAU]`` it is absorbed into the potentials (``f += reg log u``) and the
kernel is rebuilt. When that happens too often (small ``reg``: the potentials move by
many ``reg`` per sweep) or a scaling stops being finite, the sweeps go on in the log
domain from the last absorbed potentials: the choice is automatic, and both paths
compute the same iterates up to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import to_numpy
from ._kernels import LOG_FLOOR, hist_window
from ._problem import Workspace

__all__ = ["sinkhorn_sweeps", "slowdown_switch", "kernel_sweeps", "batch_kernel_sweeps",
           "BatchColumn", "TAU"]

#: Scalings outside [1/TAU, TAU] are absorbed into the potentials. POT's stabilized
#: Sinkhorn uses 1e3; but products and sums of positive numbers lose no accuracy with
#: large scalings (only under- and overflow matter, which the floor and finiteness checks
#: catch), and each absorption costs an exponential pass over the kernel -- with 1e3
#: the first sweeps at moderate reg absorbed at once (masses ~ 1/n make u ~ 1e-3), which
#: made soptim 1.4x slower than POT's plain kernel sweeps at reg 0.1 on 1500 x 1200
#: clouds. 1e50 keeps u * (K v) and the floored kernel entries far from the limits.
TAU = 1e50
#: Kernel mode is left for the log domain once absorptions exceed this fraction of the
#: sweeps (plus a few): each one costs an exponential pass, so a kernel rebuilt every
#: few sweeps is no cheaper than log-domain sweeps.
ABSORB_RATIO = 0.25
#: Kernel-domain sweeps hand over to Newton when more than this many are predicted.
#: Measured (2-core VM, n = 1000..2000, random costs and 2-/3-D clouds, reg 0.01..1e-3):
#: a Newton step costs 15-40 kernel sweeps (a plan pass, the selection, the CG, a trial
#: plan) and SNS takes 6-11 of them, so its Newton stage costs about 150-400 sweeps;
#: with 60 here (the previous value), SNS was 1.5-3x slower than plain sweeps on those
#: problems. At reg ~ 1e-3 on clouds thousands of sweeps are predicted: Newton still wins.
CHEAP_SWEEPS = 300
#: The predicting rate is the geometric mean decrease over this many sweeps (the first
#: sweeps' rates vary a lot; one ratio alone mispredicts by orders of magnitude).
RATE_WINDOW = 5
#: Kernel-domain warm starts may run this many times ``sinkhorn_max`` sweeps.
CHEAP_MAX_FACTOR = 5
#: Kernel row/column sums below this (times the length, times TAU) hand over to the log
#: domain: entries floored at exp(LOG_FLOOR) would be more than 1e-12 of such a sum.
_FLOOR_SUM = 1e12 * float(np.exp(LOG_FLOOR))


def sinkhorn_sweeps(ws: Workspace, a: Any, loga: Any, logb: Any, f: Any, g: Any | None,
                    max_sweeps: int, tol: float, history: list[float],
                    switch: Callable[[list[float]], bool] | None = None,
                    kernel: bool = True, b: Any = None, first: Any = None):
    """Run Sinkhorn sweeps from ``f`` (and ``g``; None: start with a column update).

    The error of each iterate (the L1 row violation, columns being exact) is
    appended to ``history``. Stops when it is ``<= tol`` (returns that iterate),
    when ``switch(errors of this call)`` is True (returns the iterate with the rows just
    updated, the better warm start), or after ``max_sweeps``.

    ``kernel``: try the kernel-domain fast path first (needs ``b``; see the module
    docstring); it hands over to the log-domain loop when it stops paying off.
    ``first``: a :class:`BatchColumn` whose kernel-domain sweeps already ran (in a
    batch); the call goes on from where they stopped (its errors must already be in
    ``history``).

    Returns
    -------
    f, g : arrays
        Potentials.
    sweeps : int
        Number of sweeps (row updates) performed, one ``history`` entry each.
    converged : bool
        Whether the error reached ``tol``.
    """
    xp = ws.be.xp
    reg = ws.reg
    start = len(history)
    done = 0
    if first is not None:
        start -= first.done
        f, g, done, state = first.f, first.g, first.done, first.state
        if state:
            first.keep_plan(ws)
        if state is not None:
            return f, g, done, state
        g = None
    elif kernel and b is not None and max_sweeps > 0:
        # the kernel path makes the first column update itself (v = b / K^T 1)
        f, g, done, state = kernel_sweeps(ws, a, b, f, g, max_sweeps, tol, history, switch,
                                          start)
        if state is not None:
            return f, g, done, state
        g = None
    if g is None:
        g = ws.update_g(f, logb)
    for k in range(done, max_sweeps):
        f_new = ws.update_f(g, loga)
        err = float(xp.sum(a * xp.abs(xp.expm1((f - f_new) / reg))))
        history.append(err)
        if err <= tol:
            return f, g, k + 1, True
        if switch is not None and switch(history[start:]):
            return f_new, g, k + 1, False
        f = f_new
        g = ws.update_g(f, logb)
    return f, g, max_sweeps, False


def slowdown_switch(min_sweeps: int, ratio: float, switch_tol: float, max_sweeps: int,
                    tol: float = 0.0, cheap_max: int | None = None):
    """Rule for leaving the Sinkhorn warm start: Sinkhorn has stopped paying off.

    True after ``min_sweeps`` sweeps once the error falls below ``switch_tol``
    or its per-sweep decrease factor ``err_k / err_{k-1}`` exceeds ``ratio``
    (linear convergence has slowed to a crawl), and always at ``max_sweeps``.

    Called with ``cheap=True`` by the kernel-domain sweeps (two mat-vecs each, far
    cheaper than a Newton step's exponential passes), ``switch_tol`` and ``ratio`` are not
    used: the switch happens only when the rate observed over the last
    :data:`RATE_WINDOW` sweeps predicts more than :data:`CHEAP_SWEEPS` further sweeps to
    reach ``tol``, and always at ``cheap_max`` sweeps (default
    ``CHEAP_MAX_FACTOR * max_sweeps``).
    """
    if cheap_max is None:
        cheap_max = CHEAP_MAX_FACTOR * max_sweeps

    def switch(history: list[float], cheap: bool = False) -> bool:
        k = len(history)
        if not cheap:
            if k >= max_sweeps:
                return True
            if k < max(min_sweeps, 1):
                return False
            rate = history[-1] / history[-2] if k >= 2 and history[-2] > 0 else 0.0
            return rate > ratio or history[-1] <= switch_tol
        if k >= cheap_max:
            return True
        if k < max(min_sweeps, RATE_WINDOW + 1) or history[-1] <= tol:
            return False
        old = history[-1 - RATE_WINDOW]
        if not old > 0:
            return False
        rate = (history[-1] / old) ** (1.0 / RATE_WINDOW)
        if not rate < 1.0 or not tol > 0:  # stalling, or no tolerance to reach
            return True
        return math.log(tol / history[-1]) / math.log(rate) > CHEAP_SWEEPS

    return switch


def kernel_sweeps(ws: Workspace, a: Any, b: Any, f: Any, g: Any, max_sweeps: int, tol: float,
                  history: list[float], switch: Callable[[list[float]], bool] | None,
                  start: int):
    """Sinkhorn sweeps as scaling updates on the stabilized kernel.

    ``g`` None: the first update is the column update (from ``g = 0``); otherwise the
    columns are exact at entry (``g`` was just updated). Same iterates and ``history``
    entries as the log-domain loop. Returns
    ``(f, g, sweeps, converged)`` when it stopped (tolerance, ``switch``, ``max_sweeps``),
    or ``(f, g, sweeps, None)`` to hand over to the log domain (too many absorptions,
    non-finite scalings, kernel sums near the floor); ``f, g`` then are the last
    trustworthy potentials (``g`` None: recompute it). The workspace buffer holds the
    kernel (it is the plan buffer); on convergence it is scaled into the plan.
    """
    xp = ws.be.xp
    reg = ws.reg
    window = hist_window(a, b)
    # kernel entries are floored at exp(LOG_FLOOR) ~ 1e-304: a row or column sum this
    # small is mostly floor, not kernel (tiny masses, far rows): the log domain is exact
    safe = _FLOOR_SUM * max(ws.shape) * TAU
    scale_a, scale_b = _Scaling(ws.be, a, safe), _Scaling(ws.be, b, safe)
    first = g is None  # no g yet: the first update below is the column update
    if first:
        g = xp.zeros(ws.shape[1])
    K = ws.kernel(f, g, window)
    u = xp.ones_like(f)
    v = xp.ones_like(g)
    KTu = b  # column sums of the current plan (exact when g is a column update)
    if first:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            KTu = u @ K
            v, ok, _ = scale_b.divide(KTu)
        if not ok:
            return f, None, 0, None
    absorbed = 0
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        for k in range(max_sweeps):
            Kv = K @ v
            u_new, ok, u_in = scale_a.divide(Kv)
            res = u * Kv
            res -= a
            err = float(xp.abs(res, out=res).sum())
            if not ok or not np.isfinite(err):
                return f + reg * xp.log(u), g + reg * xp.log(v), k, None
            history.append(err)
            if err <= tol:
                f, g = f + reg * xp.log(u), g + reg * xp.log(v)
                # the buffer becomes the plan at (f, g); its marginals are known:
                # rows u * Kv, columns exact since the last column update
                K *= u[:, None]
                K *= v[None, :]
                r = u * Kv
                ws.keep_plan(f, g, r, v * KTu, float(r.sum()))
                return f, g, k + 1, True
            if switch is not None and switch(history[start:], cheap=True):
                return f + reg * xp.log(u_new), g + reg * xp.log(v), k + 1, False
            u = u_new
            KTu = u @ K
            v_new, ok, v_in = scale_b.divide(KTu)
            if not ok:
                return f + reg * xp.log(u), g + reg * xp.log(v), k + 1, None
            v = v_new
            if not (u_in and v_in):
                f, g = f + reg * xp.log(u), g + reg * xp.log(v)
                absorbed += 1
                if absorbed > 2 + ABSORB_RATIO * (k + 1):
                    return f, g, k + 1, None
                KTu = v * KTu  # column sums of the rebuilt kernel (u = v = 1)
                K = ws.kernel(f, g, window)
                u = xp.ones_like(f)
                v = xp.ones_like(g)
    return f + reg * xp.log(u), g + reg * xp.log(v), max_sweeps, False


class _Scaling:
    """The scaling update ``w / d`` of the kernel sweeps (``w``: a or b; ``d``: K v or
    K^T u) with the checks of :func:`kernel_sweeps` from two reductions of ``d``.

    ``divide`` returns ``(w / d, ok, in_range)``: ``ok`` False (hand over to the log
    domain) when ``min d`` is below ``safe`` or NaN, or the quotient is not finite;
    ``in_range`` whether the quotient lies in ``[1/TAU, TAU]``. Division rounds
    monotonically, so ``max w / min d <= TAU`` and ``min w / max d >= 1/TAU`` prove the
    range (and ``max w / safe`` finite proves finiteness) without reading the quotient;
    only when a bound fails is it checked entry by entry -- the decisions are exactly
    those of the entrywise checks, at a third of the small reductions per sweep (at
    n = 500 those cost as much as the two mat-vecs).
    """

    def __init__(self, be, w, safe: float):
        self.be, self.w, self.safe = be, w, safe
        self.lo, self.hi = float(w.min()), float(w.max())
        with np.errstate(over="ignore"):
            self.exact = not self.hi / safe < 1e300  # the quotient could overflow

    def divide(self, d):
        q = self.w / d
        dmin, dmax = float(d.min()), float(d.max())
        if not dmin >= self.safe or (self.exact and not self.be.all_finite(q)):
            return q, False, False
        in_range = self.hi / dmin <= TAU and self.lo / dmax >= 1.0 / TAU
        return q, True, in_range or not _out_of_range(self.be.xp, q)


def _out_of_range(xp: Any, s: Any) -> bool:
    return bool(xp.max(s) > TAU) or bool(xp.min(s) < 1.0 / TAU)


def to_host(x: Any) -> np.ndarray:
    return np.asarray(to_numpy(x))


#: The batched sweeps run on the unstabilized kernel ``exp(-M/reg)`` only when
#: ``max|M|/reg`` is at most this: its entries then lie in [e^-300, e^300] (none
#: floored) and the scalings stay far from overflow while the per-problem rules below
#: have not handed over.
BATCH_MAX_EXPONENT = 300.0
#: Scalings are tracked in logs; one beyond this (in nats) leaves the batch.
_BATCH_MAX_LOG = 600.0


class BatchColumn:
    """Where the batched kernel-domain sweeps left one problem of the batch.

    ``f, g, done, state`` are what :func:`kernel_sweeps` returns for that problem alone
    (``state``: True converged, False switch or sweep limit, None hand over to the log
    domain); ``history`` the errors of its sweeps; ``seconds`` its share of the time.
    """

    def __init__(self, f, g, done, state, history, plan=None):
        self.f, self.g, self.done, self.state = f, g, done, state
        self.history = history
        self._plan = plan  # (K, u, v, row sums, column sums) when converged
        self.seconds = 0.0

    def keep_plan(self, ws: Workspace) -> None:
        """The plan ``diag(u) K diag(v)`` into the workspace buffer, marginals kept."""
        K, u, v, r, c = self._plan
        X = ws.plan_buffer()  # never the batch's kernel (the batch took that buffer)
        ws.be.xp.multiply(K, u[:, None], out=X)
        X *= v[None, :]
        ws.keep_plan(self.f, self.g, r, c, float(r.sum()))


def batch_kernel_sweeps(ws: Workspace, a: Any, B: Any, max_sweeps: int, tol: float,
                        switch: Callable[..., bool] | None) -> list[BatchColumn] | None:
    """Kernel-domain Sinkhorn for k problems ``(a, B[:, j])`` on one cost: one kernel, GEMMs.

    The k scaling pairs are the columns of ``U`` (n, k) and ``V`` (m, k) on the kernel
    ``K = exp(-M/reg)`` computed once; each sweep is two matrix-matrix products for all
    the problems still running. Every problem follows :func:`kernel_sweeps`'s rules as if
    it ran alone -- its absorptions are tracked (in logs, against the potentials a lone
    solve would have absorbed), and it leaves the batch when that solve would stop or hand
    over to the log domain -- so each column's iterates, errors and decisions are those of
    its own solve up to rounding. (Added to POT's batched scheme, which runs the plain
    kernel sweeps without stabilization.)

    Returns one :class:`BatchColumn` per problem, or None when the shared kernel is not
    safe (``max|M|/reg`` above :data:`BATCH_MAX_EXPONENT`, or a kernel column sum near
    the floor): the caller then solves the problems one by one.
    """
    xp = ws.be.xp
    reg = ws.reg
    n, m = ws.shape
    k = B.shape[1]
    if ws.max_abs / reg > BATCH_MAX_EXPONENT:
        return None
    K = ws.kernel(xp.zeros(n), xp.zeros(m), hist_window(a, B))
    K = ws.take_plan()  # the batch owns the kernel; the workspace gets a new buffer
    safe = _FLOOR_SUM * max(ws.shape) * TAU
    log_safe, log_tau = math.log(safe), math.log(TAU)
    c0 = xp.ones(n) @ K
    if bool(xp.min(c0) < safe):
        return None
    a2 = a[:, None]
    U = xp.ones((n, k))
    V = B / c0[:, None]
    KTU = xp.repeat(c0[:, None], k, axis=1)  # column sums of each plan (exact)
    LF = xp.zeros((n, k))  # log-scalings absorbed so far (f/reg, g/reg of a lone solve)
    LG = xp.zeros((m, k))
    absorbed = np.zeros(k, dtype=np.int64)
    hist: list[list[float]] = [[] for _ in range(k)]
    out: list[BatchColumn | None] = [None] * k
    act = np.arange(k)

    def finish(j, i, state, Uj, Vj, done, plan=None):
        with np.errstate(divide="ignore"):
            out[j] = BatchColumn(reg * xp.log(Uj), reg * xp.log(Vj), done, state, hist[j],
                                 plan)
        keep[i] = False

    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        for it in range(max_sweeps):
            if act.size == 0:
                break
            Ua, Va = U[:, act], V[:, act]
            KV = K @ Va
            errs = to_host(xp.abs(Ua * KV - a2).sum(axis=0))
            Un = a2 / KV
            bad1 = ~to_host(xp.isfinite(Un).all(axis=0)) | ~np.isfinite(errs) | to_host(
                (xp.log(KV) + LF[:, act]).min(axis=0) < log_safe)
            keep = np.ones(act.size, dtype=bool)
            for i, j in enumerate(act):
                if bad1[i]:
                    finish(j, i, None, Ua[:, i], Va[:, i], it)
                    continue
                hist[j].append(float(errs[i]))
                if errs[i] <= tol:
                    finish(j, i, True, Ua[:, i], Va[:, i], it + 1,
                           (K, Ua[:, i], Va[:, i], Ua[:, i] * KV[:, i],
                            Va[:, i] * KTU[:, j]))
                elif switch is not None and switch(hist[j], cheap=True):
                    finish(j, i, False, Un[:, i], Va[:, i], it + 1)
            act, Un = act[keep], Un[:, keep]
            if act.size == 0:
                break
            U[:, act] = Un
            KTUa = (Un.T @ K).T
            KTU[:, act] = KTUa
            Vn = B[:, act] / KTUa
            bad2 = ~to_host(xp.isfinite(Vn).all(axis=0)) | to_host(
                (xp.log(KTUa) + LG[:, act]).min(axis=0) < log_safe)
            V[:, act] = xp.where(xp.asarray(bad2)[None, :], V[:, act], Vn)
            lu, lv = xp.log(U[:, act]), xp.log(V[:, act])
            du = xp.abs(lu - LF[:, act]).max(axis=0)
            dv = xp.abs(lv - LG[:, act]).max(axis=0)
            out_range = to_host(xp.maximum(du, dv) > log_tau)
            huge = to_host(xp.maximum(xp.abs(lu).max(axis=0), xp.abs(lv).max(axis=0))
                           > _BATCH_MAX_LOG)
            keep = np.ones(act.size, dtype=bool)
            for i, j in enumerate(act):
                if bad2[i]:
                    finish(j, i, None, U[:, j], V[:, j], it + 1)
                elif out_range[i]:
                    LF[:, j], LG[:, j] = lu[:, i], lv[:, i]
                    absorbed[j] += 1
                    if absorbed[j] > 2 + ABSORB_RATIO * (it + 1) or huge[i]:
                        finish(j, i, None, U[:, j], V[:, j], it + 1)
            act = act[keep]
    for j in act:  # out of sweeps
        with np.errstate(divide="ignore"):
            out[j] = BatchColumn(reg * xp.log(U[:, j]), reg * xp.log(V[:, j]), max_sweeps,
                                 False, hist[j])
    return out
