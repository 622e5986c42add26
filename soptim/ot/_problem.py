"""A validated entropic OT problem and the buffers its solvers share.

:class:`Workspace` holds the cost ``M``, a lazily built contiguous transpose
(column updates then stream rows, like row updates) and one dense (n, m)
buffer that holds log-values and then the plan. Batched solves (one cost,
several ``b``) reuse one workspace for every column of ``b``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_float_array, check_positive
from ..backend import Backend, get_backend, to_numpy
from ._kernels import (
    LOG_FLOOR,
    hist_stride,
    plan_marginals,
    row_softmin_update,
    scaled_plan_marginals,
    transpose,
)

__all__ = ["Workspace", "validate_problem", "MASS_RTOL"]

#: Relative tolerance on sum(a) == sum(b); within it, b is rescaled to sum(a).
MASS_RTOL = 1e-6

#: Newton plans are scaled from a reference kernel while every scaling exponent
#: ``|f_i - f0_i|/reg``, ``|g_j - g0_j|/reg`` is at most this (else an exponential pass
#: makes a new reference) ...
SCALED_MAX_LOG = 50.0
#: ... and the reference's log-values are floored here rather than at LOG_FLOOR, so
#: that a floored entry times two extreme scalings stays a normal number (>= e^-700):
#: subnormal products are an order of magnitude slower on x86. Entries between e^-700
#: and e^-600 (< 3e-261) become e^-600: far below anything a marginal can resolve.
NEWTON_LOG_FLOOR = LOG_FLOOR + 2 * SCALED_MAX_LOG
#: The reference kernel is a second (n, m) buffer: only up to this many entries (1 GiB).
SCALED_MAX_ENTRIES = 1 << 27


class Workspace:
    """Cost matrix, its transpose and the dense plan buffer of one backend."""

    def __init__(self, M: Any, reg: float, be: Backend,
                 bounds: tuple[float, float] | None = None):
        # row-major: the kernels stream rows (and compile for one memory layout only)
        M = be.xp.ascontiguousarray(M)
        self.M = M
        self.reg = float(reg)
        self.be = be
        self.shape = tuple(M.shape)
        self._MT = None
        self._kept = None
        self._bounds = None if bounds is None else (float(bounds[0]), float(bounds[1]))
        self.X = be.xp.empty_like(M)
        self._owned = True  # whether X belongs to the workspace (not a batch's output)
        self._spare = None  # second buffer of the Newton stage (reference or plan)
        self._ref = None  # (buffer, f0, g0, log-values of the histogrammed rows)
        self._cur = None  # the buffer that holds the last Newton plan

    @property
    def bounds(self) -> tuple[float, float]:
        """``(min M, max M)``: given by :func:`validate_problem` (which reads them for the
        finiteness check), else computed once (the problems of a batch share them)."""
        if self._bounds is None:
            self._bounds = cost_bounds(self.M)
        return self._bounds

    @property
    def spread(self) -> float:
        """``max M - min M``."""
        lo, hi = self.bounds
        return hi - lo

    @property
    def max_abs(self) -> float:
        """``max |M|``."""
        lo, hi = self.bounds
        return max(abs(lo), abs(hi))

    def use_buffer(self, X: Any) -> None:
        """Solve into ``X`` (a C-contiguous (n, m) array, e.g. one plan of a batch's
        output): the next plan is written there, and :meth:`take_plan` hands it back."""
        self.X = X
        self._owned = False
        self._kept = None

    @property
    def MT(self) -> Any:
        if self._MT is None:
            self._MT = transpose(self.M, self.be)
        return self._MT

    def _ensure_buffer(self) -> None:
        if self.X is None:
            self.X = self.be.xp.empty_like(self.M)
            self._owned = True

    def plan_buffer(self) -> Any:
        """The (n, m) buffer, to be filled with a plan by the caller (then :meth:`keep_plan`)."""
        self._ensure_buffer()
        self._kept = None
        return self.X

    def update_f(self, g: Any, loga: Any) -> Any:
        """Exact maximization of the dual in f (a Sinkhorn row half-sweep)."""
        self._ensure_buffer()
        self._kept = None  # the array-module path uses the buffer as scratch
        return row_softmin_update(self.M, g, loga, self.reg, self.be, self.X)

    def update_g(self, f: Any, logb: Any) -> Any:
        """Exact maximization of the dual in g (a Sinkhorn column half-sweep)."""
        n, m = self.shape
        self._ensure_buffer()
        self._kept = None
        return row_softmin_update(self.MT, f, logb, self.reg, self.be, self.X.reshape(m, n))

    def plan(self, f: Any, g: Any, window: tuple[float, float]):
        """Plan into ``self.X``; returns ``(r, c, total, log-histogram counts)``."""
        self._ensure_buffer()
        self._kept = None
        return plan_marginals(self.M, f, g, self.reg, self.be, self.X, window)

    def begin_newton(self) -> None:
        """Start a Newton stage: plans come from :meth:`newton_plan` until
        :meth:`end_newton`."""
        self._ensure_buffer()
        self._ref = None
        self._cur = None

    def newton_plan(self, f: Any, g: Any, window: tuple[float, float]):
        """The plan at ``(f, g)`` for the Newton stage; returns what :meth:`plan` returns.

        Kernel-domain Newton steps (POT's stabilized-kernel idea, applied here to the SNS
        steps; an addition to the paper): the first plan of a stage, an exponential pass,
        is kept as the reference kernel ``K0 = P(f0, g0)``; every later plan --
        line-search trials, the plan restored after a rejected step -- is
        ``diag(e^{(f-f0)/reg}) K0 diag(e^{(g-g0)/reg})``, products and sums only (about a
        third of the exponential pass). The same plan up to a few ulps. When a scaling
        exponent exceeds :data:`SCALED_MAX_LOG` (a long step, or a trial that will be
        rejected) the plan is an exponential pass again and becomes the new reference.
        Two (n, m) buffers alternate; above :data:`SCALED_MAX_ENTRIES` entries every plan
        is an exponential pass into one buffer.
        """
        self._kept = None
        scaled = self.M.size <= SCALED_MAX_ENTRIES
        ref = self._ref
        if ref is not None:
            K0, f0, g0, L = ref
            xp = self.be.xp
            lu = (f - f0) * (1.0 / self.reg)
            lv = (g - g0) * (1.0 / self.reg)
            # NaN-safe: a non-finite trial fails the test and gets an exponential pass
            if (float(xp.max(xp.abs(lu))) <= SCALED_MAX_LOG
                    and float(xp.max(xp.abs(lv))) <= SCALED_MAX_LOG):
                out = self._other(K0)
                self._cur = out
                return scaled_plan_marginals(K0, L, lu, lv, self.be, out, window)
        out = self.X if ref is None or not scaled else self._other(ref[0])
        res = plan_marginals(self.M, f, g, self.reg, self.be, out, window,
                             floor=NEWTON_LOG_FLOOR if scaled else LOG_FLOOR)
        self._cur = out
        if scaled and bool(self.be.all_finite(res[0])):
            # log-values of the histogrammed rows, as the exponential pass formed them
            s = hist_stride(self.shape)
            L = (f[::s, None] + g[None, :] - self.M[::s]) * (1.0 / self.reg)
            self.be.xp.maximum(L, NEWTON_LOG_FLOOR, out=L)
            self._ref = (out, f, g, L)
        else:
            self._ref = None  # an overflowing plan is no reference
        return res

    def _other(self, buf: Any) -> Any:
        """The Newton buffer that is not ``buf`` (the spare is allocated on first use)."""
        if buf is not self.X:
            return self.X
        if self._spare is None:
            self._spare = self.be.xp.empty_like(self.M)
        return self._spare

    def end_newton(self) -> None:
        """End the Newton stage: the last plan is moved into the plan buffer ``X``."""
        cur, self._cur, self._ref = self._cur, None, None
        if cur is None or cur is self.X:
            return
        if self._owned:  # swap: no copy
            self.X, self._spare = cur, self.X
        else:  # a batch's output buffer: copy into it
            self.be.xp.copyto(self.X, cur)

    def kernel(self, f: Any, g: Any, window: tuple[float, float]) -> Any:
        """``exp((f_i + g_j - M_ij)/reg)`` into ``self.X`` (floored like the plan); returns it.

        The fused numba plan pass (without its histogram) when numba runs, else the
        array-module exponential."""
        if self.be.use_numba:
            self._ensure_buffer()
            self._kept = None
            plan_marginals(self.M, f, g, self.reg, self.be, self.X, window, histogram=False)
            return self.X
        self._ensure_buffer()
        self._kept = None
        X, xp = self.X, self.be.xp
        cold = not (bool(xp.any(f)) or bool(xp.any(g)))
        if cold:  # exp(-M/reg), one pass fewer
            xp.multiply(self.M, -1.0 / self.reg, out=X)
            low = -self.bounds[1] / self.reg
        else:
            # in place, without an (n, m) temporary for f_i + g_j
            xp.subtract(f[:, None], self.M, out=X)
            X += g[None, :]
            X *= 1.0 / self.reg
            low = (float(f.min()) + float(g.min()) - self.bounds[1]) / self.reg
        # the floor pass only when an exponent can be below it (a lower bound from
        # min f + min g - max M; NaN bounds floor too)
        if not low >= LOG_FLOOR + 1.0:
            xp.maximum(X, LOG_FLOOR, out=X)
        with np.errstate(over="ignore"):  # inf entries: the sweeps hand over to the log domain
            return xp.exp(X, out=X)

    def keep_plan(self, f: Any, g: Any, r: Any, c: Any, total: float) -> None:
        """Record that ``self.X`` already holds the plan at ``(f, g)`` with these marginals
        (the kernel-domain sweeps scale their kernel into it): :meth:`plan_at` skips a pass."""
        self._kept = (f, g, r, c, total)

    def plan_at(self, f: Any, g: Any, window: tuple[float, float]):
        """Plan at ``(f, g)`` into ``self.X`` (reused when kept); returns ``(r, c, total)``."""
        kept = getattr(self, "_kept", None)
        if kept is not None and kept[0] is f and kept[1] is g and self.X is not None:
            return kept[2], kept[3], kept[4]
        return self.plan(f, g, window)[:3]

    def take_plan(self) -> Any:
        """Hand the plan buffer over (no copy); the next solve allocates a new one."""
        P, self.X = self.X, None
        self._kept = None
        return P

    @property
    def P(self) -> Any:
        """The plan of the last :meth:`plan` (or, in a Newton stage, :meth:`newton_plan`)
        call (a view of the buffer)."""
        return self.X if self._cur is None else self._cur


def validate_problem(a: Any, b: Any, M: Any, reg: Any, *, allow_batch: bool = False,
                     bounds: bool = False):
    """Check and convert ``(a, b, M, reg)``.

    Empty ``a`` or ``b`` (``[]`` or None) means uniform. ``b`` may be (m, k) when
    ``allow_batch``. Masses must be nonnegative with equal totals up to
    :data:`MASS_RTOL` (then ``b`` is rescaled to ``sum(a)`` exactly).

    Returns ``(a, b, M, reg, be)`` with float64 arrays of the common backend, or with
    ``bounds=True`` ``(a, b, M, reg, be, (min M, max M))`` (for :class:`Workspace`).
    """
    # lists and tuples (POT accepts them) carry no device: they go onto the backend of
    # the arrays given, e.g. list masses with a GPU cost become GPU arrays
    be = get_backend(*[x for x in (M, a if _given(a) else None, b if _given(b) else None)
                       if not isinstance(x, (list, tuple))])
    xp = be.xp
    if M is None:
        raise ValueError("M must be a 2-D cost matrix, got None")
    # finiteness from min and max (NaN propagates through both): the two reductions also
    # give the spread of M, so the check costs no pass of its own
    M = as_float_array("M", M, ndim=2, dtype=np.float64, xp=xp, finite=False)
    n, m = M.shape
    if n == 0 or m == 0:
        raise ValueError(f"M must be non-empty, got shape {(n, m)}")
    bounds_of_M = cost_bounds(M)
    if not (np.isfinite(bounds_of_M[0]) and np.isfinite(bounds_of_M[1])):
        raise ValueError("M contains NaN or inf")
    reg = check_positive("reg", reg)
    if _given(a):
        a = as_float_array("a", a, ndim=1, dtype=np.float64, xp=xp, nonnegative=True)
        if a.shape[0] != n:
            raise ValueError(f"a must have length M.shape[0] = {n}, got {a.shape[0]}")
    else:
        a = xp.full(n, 1.0 / n)
    if _given(b):
        b = as_float_array("b", b, ndim=(1, 2) if allow_batch else 1, dtype=np.float64,
                           xp=xp, nonnegative=True)
        if b.shape[0] != m:
            raise ValueError(f"b must have length M.shape[1] = {m}, got {b.shape[0]}")
        if b.ndim == 2 and b.shape[1] == 0:
            raise ValueError("b must have at least one column")
    else:
        b = xp.full(m, 1.0 / m)
    sa = float(to_numpy(a.sum()))
    if not sa > 0:
        raise ValueError("a must have a positive total mass")
    # one b: Python floats (NumPy's 0-d arithmetic costs microseconds per operation)
    sb = float(to_numpy(b.sum())) if b.ndim == 1 else to_numpy(b.sum(axis=0))
    if not bool(np.all(np.greater(sb, 0))):
        raise ValueError("b must have a positive total mass")
    if bool(np.any(abs(sb - sa) > MASS_RTOL * max(sa, float(np.max(sb))))):
        raise ValueError(
            f"a and b must have the same total mass (balanced OT): sum(a) = {sa:.10g}, "
            f"sum(b) = {_format_sums(sb)}; normalize both "
            "(e.g. a / a.sum()) or use unbalanced OT")
    b = b * (sa / sb) if b.ndim == 1 else b * (sa / xp.asarray(sb))
    if bounds:
        return a, b, M, reg, be, bounds_of_M
    return a, b, M, reg, be


def cost_bounds(M: Any) -> tuple[float, float]:
    """``(min M, max M)`` as floats (NaN when ``M`` has a NaN)."""
    return float(to_numpy(M.min())), float(to_numpy(M.max()))


def _given(x: Any) -> bool:
    """False for None and empty input (uniform masses); scalars count as given (and are
    then rejected by the shape check, with the argument's name)."""
    if x is None:
        return False
    size = getattr(x, "size", None)  # arrays, 0-d ones included (len() fails on those)
    if size is not None and not callable(size):
        return int(size) > 0
    try:
        return len(x) > 0
    except TypeError:
        return True


def _format_sums(s) -> str:
    """A total mass as a number, or the per-column totals of a batched ``b``."""
    s = np.asarray(s)
    return f"{float(s):.10g}" if s.ndim == 0 else np.array2string(s, precision=10)
