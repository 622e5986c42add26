"""The mesh-free Chebyshev-Tucker approximant.

``f(x) ~ sum beta[i_1..i_d] v^(1)_{i_1}(x_1) ... v^(d)_{i_d}(x_d)`` where the
column ``i`` of the coefficient matrix ``V_l`` holds the Chebyshev coefficients
of the univariate polynomial ``v^(l)_i``: a product Chebyshev interpolant whose
coefficient tensor is compressed to Tucker form (Benner, Khoromskij,
Khoromskaia, Sun 2025).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._executor import check_executor
from .._validation import (
    as_float_array,
    check_callable,
    check_choice,
    check_count,
    check_positive,
    check_real,
)
from ..backend import Backend, backend_named, get_backend
from ._canonical import canonical_coefficients, canonical_function
from ._chebyshev import (
    chebder,
    chebpts1,
    chebpts2,
    clenshaw,
    coeffs2vals2,
    extrapolated_tail,
    integral_weights,
    tail_profile,
    vals2coeffs1,
)
from ._cross import _CHECK_POINTS, _ESTIMATE_FACTOR, tucker_cross
from ._degree import (
    ResolutionWarning,
    adaptive_grid,
    default_caps,
    fixed_grid,
    values_to_coeffs,
)
from ._domain import Box
from ._domain import as_domain as _as_domain
from ._kernels import evaluate_points
from ._sampling import GridSampler, PointSampler
from ._tucker import (
    TuckerTensor,
    _left_singular,
    eps_rank,
    hooi,
    recompress,
    rhosvd,
    tucker_full,
    unfold,
)

__all__ = ["ChebTucker", "ExtrapolationWarning", "ResolutionWarning", "chebpts"]

_MIN_POINTS = 17  # first adaptive grid: 2^4 + 1 points per axis (as Chebfun)
_CROSS_MAX_DEGREE = 1 << 12  # default max_degree of the cross (fibers are cheap)
_GRID_MAX_FIXED = 1 << 16  # sampling='auto' with a fixed degree: full grid up to this size
_GRID_AUTO_MAX = 1 << 13  # sampling='auto', d >= 3: the grid while it needs at most this
# unit coordinates this far beyond +-1 are rounding of the affine map, not extrapolation
_DOMAIN_SLACK = 1e-12


class ExtrapolationWarning(RuntimeWarning):
    """An approximant was evaluated outside its box, where it extrapolates."""


def chebpts(m: int, domain: Sequence[float] = (-1.0, 1.0), kind: int = 2) -> np.ndarray:
    """The ``m`` Chebyshev points of the first or second kind on ``[a, b]``, ascending.

    Second kind: ``-cos(j pi/(m-1))``; first kind: ``-cos((2j+1) pi/(2m))``,
    mapped affinely to ``domain``. These are the grids of
    :meth:`ChebTucker.from_values`.

    Examples
    --------
    >>> from soptim.approx import chebpts
    >>> chebpts(3, (0.0, 2.0))
    array([0., 1., 2.])
    """
    a, b = _as_domain(domain)[0]
    kind = _check_kind(kind)
    m = check_count("m", m, minimum=1)
    t = chebpts2(m) if kind == 2 else chebpts1(m)
    return 0.5 * (a + b) + 0.5 * (b - a) * t


# ----------------------------------------------------------------------------- validation


def _per_axis(name: str, value: Any, d: int, minimum: int) -> list[int]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = [value] * d
    try:
        vals = list(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer or a sequence of {d} integers") from None
    if len(vals) != d:
        raise ValueError(f"{name} must have {d} entries (one per axis), got {len(vals)}")
    return [check_count(f"{name}[{l}]", v, minimum=minimum) for l, v in enumerate(vals)]


def _check_method(method: str) -> str:
    return check_choice("method", method, ("hosvd", "hooi"))


def _check_kind(kind: int) -> int:
    return int(check_choice("kind", kind, (1, 2)))


def _check_tol(tol: Any) -> float:
    return check_positive("tol", tol)


# ----------------------------------------------------------------------------- the class


class ChebTucker:
    """A mesh-free Chebyshev-Tucker approximant on a box in ``d`` dimensions.

    ``f(x) ~ sum_{i} beta[i_1, ..., i_d] prod_l v^(l)_{i_l}(x_l)`` where the
    columns of the coefficient matrices ``V_l`` (``ct.factors``) hold the
    Chebyshev coefficients of the univariate polynomials ``v^(l)``, on the box
    mapped to ``[-1, 1]^d``. Build one with :meth:`fit` (from a function),
    :meth:`from_values` (samples on a Chebyshev grid) or :meth:`from_cp`
    (canonical input); the constructor takes the parts directly.

    Parameters
    ----------
    core : array, shape (r_1, ..., r_d)
        The Tucker core ``beta``.
    factors : sequence of arrays, shapes (m_l, r_l)
        Coefficient matrices (orthonormal columns for the built ones).
    domain : sequence of (a, b)
        The box.
    tol : float
        The relative tolerance the approximant was built for (used again by
        the recompression after ``+``).
    vscale : float
        Estimate of ``max |f|`` on the box (the scale of relative errors).
    error_estimate : float
        Estimate of ``max |f - ct| / vscale`` on the box.
    converged : bool
        False when the degree (capped by ``max_degree`` or fixed by ``degree``)
        leaves an estimated tail above ``tol``.
    message : str
        How the approximant was built or why it is not converged.
    nfev : int
        Values of ``f`` used to build it.
    method : str
        How it was built: ``'grid'`` or ``'cross'`` (:meth:`fit`), ``'values'``,
        ``'cp'`` or ``'cp-cross'`` (:meth:`from_cp`), or ``'parts'`` (this constructor).

    Raises
    ------
    TypeError
        If ``core`` or a factor is complex.
    ValueError
        On NaN/inf in ``core`` or a factor, shapes that do not chain, or a
        bad ``domain``.

    Attributes
    ----------
    ranks, degrees, core, factors, domain, ndim, error_estimate, vscale,
    converged, message, tol, nfev, n_evaluations, method

    Notes
    -----
    Arithmetic (``+``, ``-`` with another approximant on the same box or a
    scalar, ``*`` and ``/`` by a scalar) recompresses the result. A NaN or
    infinite scalar, or a result beyond the float64 range, raises
    ``ValueError`` naming the operation. Evaluation outside the box
    extrapolates the polynomial and warns with :class:`ExtrapolationWarning`.

    References
    ----------
    .. [1] P. Benner, B. N. Khoromskij, V. Khoromskaia, B. Sun, "A mesh-free
       hybrid Chebyshev-Tucker tensor format with applications to
       multi-particle modelling", arXiv:2503.01696 (2025).
    .. [2] L. N. Trefethen, "Approximation Theory and Approximation Practice",
       SIAM (2013) (Chebyshev interpolation, aliasing and coefficient decay).

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.approx import ChebTucker
    >>> ct = ChebTucker.fit(lambda x, y, z: np.exp(-(x**2 + y**2 + z**2)),
    ...                     [(-1, 1)] * 3, tol=1e-10)
    >>> ct.ranks
    (1, 1, 1)
    >>> bool(abs(ct(0.3, -0.2, 0.5) - np.exp(-0.38)) < 1e-9)
    True
    >>> bool(abs(ct.integrate() - (np.sqrt(np.pi) * 0.8427007929497149) ** 3) < 1e-9)
    True
    """

    # numpy scalars on the left (``np.float64(2) * ct``) defer to ChebTucker's operators
    __array_ufunc__ = None

    def __init__(
        self,
        core: Any,
        factors: Sequence[Any],
        domain: Any,
        *,
        tol: float = 1e-10,
        vscale: float = 1.0,
        error_estimate: float = 0.0,
        converged: bool = True,
        message: str = "",
        nfev: int = 0,
        method: str = "parts",
    ) -> None:
        self._box = Box(domain)
        self.domain = self._box.intervals
        be = get_backend(core, *factors)
        # real and finite parts: a NaN core would evaluate to NaN everywhere, silently
        core = as_float_array("core", core, xp=be.xp)
        factors = [as_float_array(f"factors[{l}]", U, xp=be.xp) for l, U in enumerate(factors)]
        self._tucker = TuckerTensor(core, factors)
        if self._tucker.ndim != len(self.domain):
            raise ValueError(
                f"domain has {len(self.domain)} axes but the core has {self._tucker.ndim}"
            )
        self._be = be
        self.tol = float(tol)
        self.vscale = float(vscale)
        self.error_estimate = float(error_estimate)
        self.converged = bool(converged)
        self.message = message
        self.nfev = int(nfev)
        self.method = str(method)

    # ------------------------------------------------------------------ construction

    @classmethod
    def fit(
        cls,
        f: Callable[..., Any],
        domain: Any,
        *,
        degree: int | Sequence[int] | None = None,
        tol: float = 1e-10,
        max_degree: int | Sequence[int] | None = None,
        method: str = "hosvd",
        backend: str | None = None,
        sampling: str = "auto",
        executor: Any = None,
    ) -> ChebTucker:
        """Approximate ``f`` on the box ``domain``.

        Two ways to sample ``f`` (``sampling``), both ending in the Chebyshev
        coefficient tensor in Tucker form:

        * ``'grid'`` (the paper's construction, and the reference): ``f`` on
          the product of Chebyshev points of the second kind, a DCT-I per
          axis, and the truncated HOSVD with the eps rule (optionally refined
          by HOOI); ``prod m_l`` evaluations.
        * ``'cross'``: a Tucker cross (:mod:`soptim.approx._cross`): per axis a
          few fibers (their SVD gives the basis and rank, their coefficients
          the degree, maxvol the pivots) and ``f`` on the product of the
          pivots, swept until a check on random points of the box is within
          ``tol``; about ``sum_l m_l r_l + prod r_l`` evaluations per sweep.
          The pivoting runs on the host; ``method`` does not apply (the
          cross recompresses by QR and HOSVD of its small core).

        ``'auto'`` takes the grid for ``d <= 2``, for a fixed ``degree`` with
        at most ``2^16`` grid points, and in ``d >= 3`` when the first grid
        (``17^3 = 4913`` points in 3-D) already resolves ``f``; otherwise the
        cross (those first samples are counted in ``n_evaluations``). ``ct.method`` says
        which ran and ``ct.n_evaluations`` how many values of ``f`` it used.

        Parameters
        ----------
        f : callable
            ``f(x_1, ..., x_d)`` acting elementwise on broadcastable arrays
            (numpy ufunc style); it is called with open-grid arrays of shapes
            ``(m_1, 1, ..., 1)``, ``(1, m_2, 1, ...)``, ...
        domain : sequence of (a, b)
            The box, one pair per axis (a single pair for ``d = 1``).
        degree : int or sequence of int, optional
            Fixed polynomial degree per axis (the paper's setting). By default
            the degree is chosen adaptively per axis: ``m = 2^k + 1`` points,
            doubled (reusing the samples) until the Chebyshev tail of that
            axis is below ``tol * max|f|``, then chopped to the shortest
            length that keeps the estimated error below it. The tail is a
            cautious forecast from the coefficients (3-10 times the error on
            smooth functions); when it is within 16 times ``tol`` and doubling
            would cost more than 4000 values, the grid's interpolant is first
            measured against ``f`` on 2000 random points (counted in
            ``n_evaluations``), and the level is kept when twice the measured
            maximum is within ``0.9 tol``: the search stops at the level the
            degree needs.
        tol : float
            Relative accuracy target: a maximum error ``tol * max|f|``, shared
            by the adaptive degree and the HOSVD truncation (whose maximum on
            the grid is measured). Below the rounding level of the
            samples (about ``1e-14`` in 3-D) neither can be met: the degree
            stops there with a :class:`ResolutionWarning` and the HOSVD
            tolerance is raised to ``8 eps sqrt(d)``.
        max_degree : int or sequence of int, optional
            Cap for the adaptive degree (default: the largest ``2^k`` with
            ``(2^k + 1)^d <= 2^24`` samples). Reaching it before ``tol`` gives a
            :class:`ResolutionWarning`, ``converged=False`` and an honest
            ``error_estimate`` (a kink or singularity converges only
            algebraically).
        method : {'hosvd', 'hooi'}
            Truncated HOSVD, or HOSVD followed by HOOI sweeps at the same ranks.
        backend : {'numpy', 'cupy'}, optional
            Array module for sampling and compression (CuPy: ``f`` receives
            CuPy arrays and the result lives on the GPU).
        sampling : {'auto', 'grid', 'cross'}
            How ``f`` is sampled (see above).
        executor : concurrent.futures.Executor or dask.distributed.Client, optional
            Where the sample blocks are evaluated: slabs of each grid block
            along its first axis, or fixed slices of 256 points of the cross's
            fibers, core and checks (``f`` is sent once per worker; it must be
            picklable, a module-level function, for process pools). The blocks
            do not depend on the executor, so the result equals the serial one.
            Worth it when ``f`` is slow (a simulation, a Python-level loop).

        Returns
        -------
        ChebTucker

        Raises
        ------
        TypeError
            If ``f`` is not callable or returns non-numeric data.
        ValueError
            On a bad domain (``a >= b``, non-finite), ``tol <= 0``, bad degrees,
            an unknown method, or when ``f`` returns the wrong shape or NaN/inf.

        Warns
        -----
        ResolutionWarning
            When ``max_degree`` is reached before ``tol``, or when the cross's
            check on random points stays above ``tol`` (it may have missed a
            feature between its fibers).

        Notes
        -----
        A feature that no sample comes near leaves no trace in any value of
        ``f`` and cannot be detected by either path: a Gaussian bump of width
        0.02 in 3-D (``exp(-|x - c|^2 / 0.02^2)``, significant on about 1e-4 of
        the box) is missed by the 17^3 first grid and by the cross's fibers and
        2000 check points, and the fit reports ``converged=True``. Width 0.05 is
        found or reported (the tests). For such features split the box, or fix
        ``degree`` at the resolution the feature needs.

        Examples
        --------
        >>> import numpy as np
        >>> from soptim.approx import ChebTucker
        >>> from scipy.special import erf
        >>> r = lambda x, y, z: np.sqrt(x**2 + y**2 + z**2) + 1e-300
        >>> ct = ChebTucker.fit(lambda x, y, z: erf(10 * r(x, y, z)) / r(x, y, z),
        ...                     [(-1, 1)] * 3, tol=1e-6)
        >>> ct.method, ct.n_evaluations < 65**3   # sampling='grid': 65^3 + 2000 checks
        ('cross', True)
        >>> ct = ChebTucker.fit(lambda x, y: np.cos(x + y), [(0, 1), (0, 2)], tol=1e-12)
        >>> ct.ranks                      # cos(x + y) = cos x cos y - sin x sin y
        (2, 2)
        >>> bool(abs(ct(0.3, 1.1) - np.cos(1.4)) < 1e-12)
        True
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as w:
        ...     warnings.simplefilter("always")
        ...     kink = ChebTucker.fit(np.abs, (-1, 1), tol=1e-10, max_degree=64)
        >>> kink.converged, w[0].category.__name__
        (False, 'ResolutionWarning')
        """
        check_callable("f", f)
        box = Box(domain)
        dom, d = box.intervals, box.ndim
        tol = _check_tol(tol)
        method = _check_method(method)
        sampling = check_choice("sampling", sampling, ("auto", "grid", "cross"))
        executor = check_executor(executor)
        be = backend_named(backend)
        m = None if degree is None else [k + 1 for k in _per_axis("degree", degree, d, 0)]
        caps = None if max_degree is None else _per_axis("max_degree", max_degree, d, 1)
        auto = sampling == "auto"
        if auto:
            small = m is not None and float(np.prod(m)) <= _GRID_MAX_FIXED
            sampling = "grid" if d <= 2 or small else "cross"
        first = float(_MIN_POINTS) ** d
        if sampling == "cross" and not (auto and m is None and first <= _GRID_AUTO_MAX):
            return cls._fit_cross(f, box, m, caps, tol, be, executor, 0)
        sampler = GridSampler(f, box, be, executor)
        if m is not None:
            C, vscale, tail, converged, message = fixed_grid(sampler, m, tol, be)
        else:
            # 'auto' in d >= 3: the first grid if it resolves f, else the cross
            limit = _GRID_AUTO_MAX if sampling == "cross" else np.inf
            out = adaptive_grid(sampler, default_caps(d) if caps is None else caps,
                                _MIN_POINTS, tol, be, stacklevel=3, max_samples=limit)
            if out is None:
                return cls._fit_cross(f, box, m, caps, tol, be, executor, sampler.nfev)
            C, vscale, tail, converged, message = out
        # the truncation gets what the degree tail leaves of tol * max|f| (when the
        # degree already misses tol, at least half of it: no ranks are spent in vain)
        threshold = tol * vscale
        budget = max(threshold - tail, 0.0 if converged else 0.5 * threshold)
        core, factors, trunc = _compress(C, tol, method, be, budget)
        est = (tail + trunc) / vscale if vscale > 0 else 0.0
        if converged and tail <= threshold and est > tol * (1.0 + 1e-12):
            converged = False
            message = (f"the Tucker truncation could not keep the maximum error within "
                       f"tol={tol:g} (estimated relative error {est:.1e}, degrees "
                       f"{tuple(k - 1 for k in C.shape)}); loosen tol")
            warnings.warn(message, ResolutionWarning, stacklevel=2)
        return cls(core, factors, dom, tol=tol, vscale=vscale, error_estimate=est,
                   converged=converged, message=message, nfev=sampler.nfev, method="grid")

    @classmethod
    def _fit_cross(cls, f: Callable, box: Box, m: list[int] | None, caps: list[int] | None,
                   tol: float, be: Backend, executor: Any, spent: int) -> ChebTucker:
        """The cross path of :meth:`fit` (see :mod:`soptim.approx._cross`).

        ``spent`` counts the values of a first grid tried before (by ``'auto'``).
        """
        d = box.ndim
        if m is not None:  # a fixed degree: start there and never double
            caps, m0 = [k - 1 for k in m], max(m)
        else:
            caps, m0 = ([_CROSS_MAX_DEGREE] * d if caps is None else caps), _MIN_POINTS
        sampler = PointSampler(f, box, be, executor)
        sampler.nfev = spent
        res = tucker_cross(sampler, box, tol, caps, m0, be)
        vs = res.vscale
        rel_check = res.check_error / vs if vs > 0 else 0.0
        est = (max(_ESTIMATE_FACTOR * res.check_error, res.tail + res.trunc) / vs
               if vs > 0 else 0.0)
        summary = (f"degrees {tuple(res.degrees)}, ranks {tuple(res.core.shape)}, "
                   f"{res.sweeps} sweeps, {res.nfev} evaluations; max error {rel_check:.1e} "
                   f"(relative) on {_CHECK_POINTS} random points")
        if res.converged:
            message = f"cross: resolved to tol={tol:g} with {summary}"
        elif res.unresolved:
            axes = ", ".join(map(str, res.unresolved))
            if m is not None:
                message = (f"cross at fixed degree {tuple(k - 1 for k in m)}: the fibers' "
                           f"coefficients are not resolved to tol={tol:g} along axis {axes}; "
                           f"{summary}")
            else:
                message = (f"cross: f is not resolved to tol={tol:g} along axis {axes} at "
                           f"max_degree={tuple(caps)}: the Chebyshev coefficients of the "
                           f"fibers decay slowly (a kink or singularity); {summary}. Raise "
                           "max_degree, loosen tol, or split the box at the singularity.")
                warnings.warn(message, ResolutionWarning, stacklevel=3)
        else:
            message = (f"cross: the check on random points is above tol={tol:g} after the "
                       f"last sweep, so the cross may have missed a feature of f (a narrow "
                       f"peak between its fibers, or a higher rank); {summary}. Try "
                       "sampling='grid' (all grid points) if the grid is affordable, or "
                       "loosen tol.")
            warnings.warn(message, ResolutionWarning, stacklevel=3)
        return cls(res.core, res.factors, box.intervals, tol=tol, vscale=vs,
                   error_estimate=est, converged=res.converged, message=message,
                   nfev=res.nfev, method="cross")

    @classmethod
    def from_values(
        cls,
        values: Any,
        domain: Any,
        *,
        tol: float = 1e-10,
        method: str = "hosvd",
        kind: int = 2,
    ) -> ChebTucker:
        """Build from values sampled on a Chebyshev tensor grid.

        Parameters
        ----------
        values : array, shape (m_1, ..., m_d)
            ``f`` at the product of ascending Chebyshev points of the given
            kind (:func:`chebpts`) on ``domain``. NumPy or CuPy.
        domain : sequence of (a, b)
            The box.
        tol : float
            HOSVD tolerance (``||C - C_r||_F <= tol ||C||_F``).
        method : {'hosvd', 'hooi'}
            As in :meth:`fit`.
        kind : {1, 2}
            First-kind points (DCT-II) or second-kind points (DCT-I).

        Returns
        -------
        ChebTucker

        Raises
        ------
        ValueError
            On a shape that does not match the domain, NaN/inf, a bad domain
            or ``tol``, or ``kind`` not 1 or 2.

        Examples
        --------
        >>> import numpy as np
        >>> from soptim.approx import ChebTucker, chebpts
        >>> x, y = chebpts(9, (0, 1)), chebpts(5, (-1, 1))
        >>> ct = ChebTucker.from_values(np.exp(x)[:, None] * y[None, :] ** 2, [(0, 1), (-1, 1)])
        >>> ct.degrees, ct.ranks
        ((8, 4), (1, 1))
        """
        dom = _as_domain(domain)
        d = len(dom)
        tol = _check_tol(tol)
        method = _check_method(method)
        kind = _check_kind(kind)
        be = get_backend(values)
        xp = be.xp
        values = as_float_array("values", values, ndim=d)
        if min(values.shape) < 1:
            raise ValueError(
                f"values must hold at least one sample per axis (the values at the "
                f"chebpts(m_l, domain[l], kind={kind}) grid, m_l >= 1), got shape "
                f"{tuple(values.shape)}"
            )
        if kind == 2:
            C = values_to_coeffs(values, be)
        else:
            C = values
            for l in range(d):
                C = vals2coeffs1(C, axis=l, be=be)
        vscale = float(xp.abs(values).max())
        tail = sum(2.0 * extrapolated_tail(tail_profile(C, l, be)) for l in range(d))
        core, factors, trunc = _compress(C, tol, method, be)
        est = (tail + trunc) / vscale if vscale > 0 else 0.0
        return cls(core, factors, dom, tol=tol, vscale=vscale, error_estimate=est,
                   message=f"from values of shape {tuple(values.shape)}", method="values")

    @classmethod
    def from_cp(
        cls,
        weights: Any,
        factors: Sequence[Any],
        grid: Sequence[Any] | None = None,
        *,
        domain: Any = None,
        degree: int | Sequence[int] | None = None,
        tol: float = 1e-10,
        max_degree: int | Sequence[int] | None = None,
        sampling: str = "rhosvd",
    ) -> ChebTucker:
        """Build from canonical (CP) input without forming the full tensor.

        ``f(x) = sum_k w_k u_k^(1)(x_1) ... u_k^(d)(x_d)``. Each canonical
        vector is brought to Chebyshev points and coefficients, and the
        coefficient tensor ``sum_k w_k c_k^(1) o ... o c_k^(d)`` is compressed by
        the reduced HOSVD (SVD of each coefficient factor matrix, core
        assembled from the small projected factors, then a HOSVD of that core):
        the paper's route for the long-range part of range-separated
        potentials.

        Parameters
        ----------
        weights : array, shape (R,)
            Canonical weights ``w_k``.
        factors : sequence of d arrays of shape (n_l, R), or of d callables
            Values of the canonical vectors on the tensor ``grid`` (column
            ``k`` of ``factors[l]`` is ``u_k^(l)`` at ``grid[l]``); they are
            interpolated to Chebyshev points by quintic splines (lower order
            for grids of fewer than 6 points); the spline error, ``O(h^6)``
            for smooth vectors, is not part of ``error_estimate``. Or
            callables ``u_l(x) -> (len(x), R)`` evaluated directly (then give
            ``domain``).
        grid : sequence of d 1-D increasing arrays, optional
            The tensor grid of array factors; the box is
            ``[grid[l][0], grid[l][-1]]``.
        domain : sequence of (a, b), optional
            The box for callable factors.
        degree, tol, max_degree
            As in :meth:`fit`; the adaptive degree uses a bound of each mode
            slice of the coefficient tensor computed from the canonical
            factors (the triangle inequality over the ``R`` terms).
        sampling : {'rhosvd', 'cross'}
            ``'rhosvd'`` (the paper's route, above; ``ct.method == 'cp'``), or
            ``'cross'``: the Tucker cross of :meth:`fit` run on the expansion
            evaluated pointwise (``O(d R)`` per value; ``ct.method ==
            'cp-cross'``, ``ct.n_evaluations`` counts the points). The cross
            takes degrees from its fibers, ranks from the cross and checks the
            result on random points, so ``error_estimate`` is measured, not a
            bound from the triangle inequality (which overestimates when the
            ``R`` terms cancel); worth it when ``R`` is large and the ranks of
            the sum are small.

        Returns
        -------
        ChebTucker

        Raises
        ------
        ValueError
            On mismatched shapes, a grid that is not increasing, NaN/inf,
            or when neither (or both of) ``grid`` and ``domain`` fit the factors.
        TypeError
            If factors mix arrays and callables.

        Examples
        --------
        Two Gaussians ``exp(-a_k |x|^2)`` in 3-D, given by their canonical vectors:

        >>> import numpy as np
        >>> from soptim.approx import ChebTucker
        >>> a = np.array([1.0, 4.0])
        >>> u = lambda x: np.exp(-np.outer(x, a) * np.asarray(x)[:, None])
        >>> ct = ChebTucker.from_cp(np.ones(2), [u] * 3, domain=[(-1, 1)] * 3, tol=1e-10)
        >>> ct.ranks
        (2, 2, 2)
        >>> bool(abs(ct(0.5, 0.0, 0.0) - np.exp(-0.25) - np.exp(-1.0)) < 1e-9)
        True
        """
        tol = _check_tol(tol)
        sampling = check_choice("sampling", sampling, ("rhosvd", "cross"))
        factors = list(factors)
        d = len(factors)
        if d == 0:
            raise ValueError("factors must hold one entry per axis, got none")
        ms = None if degree is None else [k + 1 for k in _per_axis("degree", degree, d, 0)]
        caps = None if max_degree is None else _per_axis("max_degree", max_degree, d, 1)
        if sampling == "cross":
            f, dom, be = canonical_function(weights, factors, grid, domain)
            ct = cls._fit_cross(f, Box(dom), ms, caps, tol, be, None, 0)
            ct.method = "cp-cross"
            return ct
        w, A, dom, vscale, tail, converged, message, be = canonical_coefficients(
            weights, factors, grid, domain, ms, tol, caps, stacklevel=3)
        core, V, norm = rhosvd(w, A, tol, be)
        # the rhosvd guarantees ||C - C_r||_F <= tol ||C||_F
        est = (tail + tol * norm) / vscale if vscale > 0 else 0.0
        return cls(core, V, dom, tol=tol, vscale=vscale, error_estimate=est,
                   converged=converged, message=message, method="cp")

    # ------------------------------------------------------------------ properties

    @property
    def ndim(self) -> int:
        """Number of variables ``d``."""
        return len(self.domain)

    @property
    def core(self) -> Any:
        """The Tucker core ``beta`` (shape ``ranks``)."""
        return self._tucker.core

    @property
    def factors(self) -> list[Any]:
        """Coefficient matrices ``V_l`` (``m_l x r_l``); columns hold Chebyshev coefficients."""
        return self._tucker.factors

    @property
    def ranks(self) -> tuple[int, ...]:
        """Tucker ranks ``(r_1, ..., r_d)``."""
        return self._tucker.ranks

    @property
    def n_evaluations(self) -> int:
        """How many values of ``f`` the construction used (``nfev``)."""
        return self.nfev

    @property
    def degrees(self) -> tuple[int, ...]:
        """Polynomial degree per axis (``m_l - 1``)."""
        return tuple(int(U.shape[0]) - 1 for U in self.factors)

    def coefficients(self) -> Any:
        """The full (truncated) Chebyshev coefficient tensor ``C_r = beta x_l V_l``."""
        return self._tucker.full()

    def __repr__(self) -> str:
        return (f"ChebTucker(ndim={self.ndim}, degrees={self.degrees}, ranks={self.ranks}, "
                f"error_estimate={self.error_estimate:.1e}, converged={self.converged})")

    # ------------------------------------------------------------------ evaluation

    def _to_unit(self, l: int, x: Any) -> Any:
        return self._box.to_unit(l, x)

    def _check_inside(self, t: Any, axis: int | None, stacklevel: int) -> None:
        """Warn when unit coordinates ``t`` leave ``[-1, 1]``: the polynomial extrapolates.

        ``t`` is ``(N, d)`` (scattered points) or the 1-D grid of ``axis``.
        """
        xp = self._be.xp
        outside = xp.abs(t) > 1.0 + _DOMAIN_SLACK
        if t.ndim == 2:
            outside = outside.any(axis=1)
        count = int(outside.sum())
        if count == 0:
            return
        first = int(xp.argmax(outside))
        if axis is None:
            x = tuple(round(self._from_unit(l, float(t[first, l])), 15)
                      for l in range(self.ndim))
            where, box = f"point {first} at x = {x}", f"the domain {self.domain}"
        else:
            x = self._from_unit(axis, float(t[first]))
            where, box = f"axes[{axis}][{first}] = {x!r}", f"domain[{axis}] = {self.domain[axis]}"
        warnings.warn(
            f"{count} of {t.shape[0]} {'points' if axis is None else 'grid points'} lie "
            f"outside {box} (first: {where}); the Chebyshev approximant is extrapolated "
            "there and its error_estimate does not hold",
            ExtrapolationWarning, stacklevel=stacklevel + 1)

    def _from_unit(self, l: int, t: float) -> float:
        return self._box.from_unit(l, t)

    def _evaluate(self, pts: Any, stacklevel: int) -> Any:
        xp = self._be.xp
        t = xp.stack([self._to_unit(l, pts[:, l]) for l in range(self.ndim)], axis=1)
        self._check_inside(t, None, stacklevel + 1)
        return evaluate_points(t, self.core, self.factors, self._be)

    def evaluate(self, points: Any) -> Any:
        """Values at scattered points.

        Parameters
        ----------
        points : array, shape (N, d)
            Real points in the box (outside it the polynomial is extrapolated,
            with an :class:`ExtrapolationWarning`).

        Returns
        -------
        array, shape (N,)
            NumPy or CuPy like the approximant.

        Raises
        ------
        ValueError
            If ``points`` is not ``(N, d)`` or has NaN/inf.
        TypeError
            If ``points`` is complex or mixes host and GPU arrays with the approximant.

        Warns
        -----
        ExtrapolationWarning
            For points outside the box.
        """
        xp = self._be.xp
        get_backend(points, self.core)  # raises TypeError on host/device mix
        pts = as_float_array("points", points, shape=(None, self.ndim), xp=xp,
                             dtype=np.float64)
        return self._evaluate(pts, 2)

    def __call__(self, *xs: Any) -> Any:
        """Values at ``(x_1, ..., x_d)``: broadcastable real arrays (or scalars), like a ufunc.

        Raises ``TypeError`` for complex coordinates and ``ValueError`` for NaN/inf
        (naming ``xs[l]``); warns with :class:`ExtrapolationWarning` outside the box.
        """
        if len(xs) != self.ndim:
            raise TypeError(f"expected {self.ndim} coordinate arrays, got {len(xs)}")
        xp = self._be.xp
        get_backend(*xs, self.core)
        arrs = xp.broadcast_arrays(*[as_float_array(f"xs[{l}]", x, xp=xp, dtype=np.float64)
                                     for l, x in enumerate(xs)])
        shape = arrs[0].shape
        pts = xp.stack([a.reshape(-1) for a in arrs], axis=1)
        out = self._evaluate(pts, 2).reshape(shape)
        return out[()] if out.ndim == 0 else out

    def on_grid(self, *axes: Any) -> TuckerTensor:
        """The approximant on the tensor grid ``axes[0] x ... x axes[d-1]`` in Tucker form.

        Factors ``W_l = T(axes[l]) V_l`` with the core unchanged: cost
        ``O(sum n_l m_l r_l)``; ``.full()`` gives the dense values. Each axis
        must be a real, finite 1-D array (``TypeError`` for complex,
        ``ValueError`` naming ``axes[l]`` otherwise); grid points outside the
        box give an :class:`ExtrapolationWarning`.

        Examples
        --------
        >>> import numpy as np
        >>> from soptim.approx import ChebTucker
        >>> ct = ChebTucker.fit(lambda x, y: x * np.exp(y), [(0, 1), (0, 1)])
        >>> t = ct.on_grid(np.linspace(0, 1, 200), np.linspace(0, 1, 300))
        >>> t.shape, t.ranks
        ((200, 300), (1, 1))
        >>> bool(abs(t.full()[-1, -1] - np.e) < 1e-9)
        True
        """
        if len(axes) != self.ndim:
            raise TypeError(f"expected {self.ndim} grid axes, got {len(axes)}")
        be = self._be
        xp = be.xp
        get_backend(*axes, self.core)
        W = []
        for l, g in enumerate(axes):
            g = as_float_array(f"axes[{l}]", g, xp=xp, dtype=np.float64)
            if g.ndim > 1:
                raise ValueError(f"axes[{l}] must be a 1-D array of grid points (each axis "
                                 f"of the tensor grid is 1-D), got shape {tuple(g.shape)}")
            t = self._to_unit(l, g.reshape(-1))
            self._check_inside(t, l, 2)
            W.append(clenshaw(t, self.factors[l], be))
        return TuckerTensor(self.core, W)

    # ------------------------------------------------------------------ calculus

    def integrate(self) -> float:
        """Exact integral of the approximant over the box.

        Per axis ``int_{-1}^{1} T_k = 2/(1 - k^2)`` for even ``k`` (0 for odd),
        times the Jacobian ``(b - a)/2``.
        """
        be = self._be
        xp = be.xp
        val = self.core
        for l in range(self.ndim - 1, -1, -1):
            a, b = self.domain[l]
            w = integral_weights(self.factors[l].shape[0], be) @ self.factors[l]
            val = xp.tensordot(val, w * (0.5 * (b - a)), axes=([l], [0]))
        return float(val)

    def derivative(self, axis: int = 0) -> ChebTucker:
        """The partial derivative along ``axis`` (a new ChebTucker).

        Only ``V_axis`` changes (its columns are differentiated and
        re-orthonormalized, the triangular factor goes into the core). The
        error estimate is scaled by Markov's inequality ``|p'| <= n^2 |p|``.

        Examples
        --------
        >>> import numpy as np
        >>> from soptim.approx import ChebTucker
        >>> ct = ChebTucker.fit(lambda x, y: np.sin(x) * y**2, [(0, 3), (-1, 1)])
        >>> bool(abs(ct.derivative(1)(1.0, 0.5) - np.sin(1.0)) < 1e-10)
        True
        """
        axis = check_count("axis", axis, minimum=-self.ndim)
        if not -self.ndim <= axis < self.ndim:
            raise ValueError(f"axis must be in [0, {self.ndim}), got {axis}")
        axis %= self.ndim
        be = self._be
        a, b = self.domain[axis]
        factors = list(self.factors)
        factors[axis] = chebder(factors[axis], 2.0 / (b - a), be)
        core, factors = recompress(self.core, factors, 1e-15, be)
        n = max(self.degrees[axis], 1)
        abs_err = self.error_estimate * self.vscale * 2.0 * n * n / (b - a)
        out = ChebTucker(core, factors, self.domain, tol=self.tol, vscale=1.0,
                         message=f"derivative along axis {axis}")
        out.vscale = _grid_max(out)
        out.error_estimate = abs_err / out.vscale if out.vscale > 0 else 0.0
        return out

    # ------------------------------------------------------------------ arithmetic

    def _combine(self, other: ChebTucker, sign: float) -> ChebTucker:
        if not isinstance(other, ChebTucker):
            return NotImplemented
        if not self._box.has_samedomain(other._box):
            raise ValueError("ChebTucker operands must live on the same box")
        be = self._be
        xp = be.xp
        get_backend(self.core, other.core)
        m = [max(u.shape[0], v.shape[0]) for u, v in zip(self.factors, other.factors)]
        factors = []
        for l in range(self.ndim):
            U, V = self.factors[l], other.factors[l]
            block = xp.zeros((m[l], U.shape[1] + V.shape[1]))
            block[: U.shape[0], : U.shape[1]] = U
            block[: V.shape[0], U.shape[1]:] = V
            factors.append(block)
        core = xp.zeros(tuple(p + q for p, q in zip(self.ranks, other.ranks)))
        core[tuple(slice(0, r) for r in self.ranks)] = self.core
        core[tuple(slice(r, None) for r in self.ranks)] = sign * other.core
        tol = max(self.tol, other.tol)
        op = "+" if sign > 0 else "-"
        # the blocks of finite operands are finite, but their sum can leave float64
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                core, factors = recompress(core, factors, tol, be)
            except np.linalg.LinAlgError:
                raise _overflow(op) from None
            if not be.all_finite(core):
                raise _overflow(op)
            out = ChebTucker(core, factors, self.domain, tol=tol, vscale=1.0,
                             converged=self.converged and other.converged, message="sum")
            out.vscale = _grid_max(out)
            norm = float(xp.linalg.norm(core.reshape(-1)))
        if not (np.isfinite(out.vscale) and np.isfinite(norm)):
            raise _overflow(op)
        abs_err = (self.error_estimate * self.vscale + other.error_estimate * other.vscale
                   + tol * norm)
        out.error_estimate = abs_err / out.vscale if out.vscale > 0 else 0.0
        return out

    def _constant(self, c: float) -> ChebTucker:
        be = self._be
        xp = be.xp
        core = xp.full((1,) * self.ndim, float(c))
        factors = [xp.eye(U.shape[0], 1) for U in self.factors]
        return ChebTucker(core, factors, self.domain, tol=self.tol, vscale=abs(float(c)))

    def _scaled(self, s: float, op: str) -> ChebTucker:
        with np.errstate(over="ignore"):
            core = self.core * s
        if not self._be.all_finite(core) or not np.isfinite(abs(s) * self.vscale):
            raise _overflow(op)
        return ChebTucker(core, self.factors, self.domain, tol=self.tol,
                          vscale=abs(s) * self.vscale, error_estimate=self.error_estimate,
                          converged=self.converged, message=self.message, nfev=self.nfev)

    def __add__(self, other: Any) -> ChebTucker:
        if isinstance(other, numbers.Real):
            other = self._constant(_finite_operand("ChebTucker + c", other))
        return self._combine(other, 1.0)

    __radd__ = __add__

    def __sub__(self, other: Any) -> ChebTucker:
        if isinstance(other, numbers.Real):
            other = self._constant(_finite_operand("ChebTucker - c", other))
        return self._combine(other, -1.0)

    def __rsub__(self, other: Any) -> ChebTucker:
        if isinstance(other, numbers.Real):
            other = _finite_operand("c - ChebTucker", other)
        return (-self) + other

    def __mul__(self, scalar: Any) -> ChebTucker:
        if not isinstance(scalar, numbers.Real):
            return NotImplemented
        return self._scaled(_finite_operand("ChebTucker * c", scalar), "*")

    __rmul__ = __mul__

    def __truediv__(self, scalar: Any) -> ChebTucker:
        if not isinstance(scalar, numbers.Real):
            return NotImplemented
        s = _finite_operand("ChebTucker / c", scalar)
        if s == 0.0:
            raise ZeroDivisionError("ChebTucker / 0: the scalar divisor must be nonzero")
        return self._scaled(1.0 / s, "/")

    def __neg__(self) -> ChebTucker:
        return self._scaled(-1.0, "-")


def _finite_operand(op: str, value: Any) -> float:
    """The scalar operand of ``op`` as a float; ``ValueError`` naming it if NaN or inf."""
    v = check_real(f"the scalar operand c of {op}", value)
    if not np.isfinite(v):
        raise ValueError(f"{op}: the scalar operand c must be finite, got {value!r} "
                         "(a NaN or infinite approximant has no Chebyshev coefficients)")
    return v


def _overflow(op: str) -> ValueError:
    return ValueError(f"ChebTucker {op}: the result overflows float64 (values beyond "
                      f"{np.finfo(float).max:.3g}); rescale the operands first")


# ----------------------------------------------------------------------------- helpers


def _compress(C: Any, tol: float, method: str, be: Backend,
              budget: float | None = None) -> tuple[Any, list, float]:
    """HOSVD (and HOOI) of the coefficient tensor.

    Returns the core, the factors and ``max |values of (C - C_r)|`` on the
    Chebyshev grid: the truncation's error in the values. The eps rule alone
    (``||C - C_r||_F <= tol ||C||_F``, as the paper) bounds the Frobenius norm,
    and the largest value of the dropped part can exceed its RMS by far (a
    front ``tanh(20 (x - y))``: 3 to 5 times ``tol``). With ``budget`` (an
    absolute bound for that maximum, the part of ``tol * max|f|`` the degree
    tail leaves) the eps of the rule is lowered until the measured maximum is
    within it or the eps reaches the rounding level (added to the paper: the
    approximant's tolerance is a maximum error). The singular vectors of the
    unfoldings are computed once; each try costs a projection and a
    reconstruction.
    """
    xp = be.xp
    d = C.ndim
    # below ~8 ulps the singular-value tail is rounding noise: keeping it only adds ranks
    floor = 8.0 * np.finfo(float).eps * np.sqrt(d)
    eps = max(tol, floor)
    norm = float(xp.linalg.norm(C.reshape(-1)))
    bases = [_left_singular(unfold(C, l, be), be) for l in range(d)]
    while True:
        factors = [U[:, :max(1, min(eps_rank(sv, eps * norm / np.sqrt(d)), U.shape[1]))]
                   for U, sv in bases]
        core = tucker_full(C, [V.T for V in factors], be)
        if method == "hooi":
            core, factors, _ = hooi(C, factors, be=be)
        # the truncation's largest effect on the values, measured on the Chebyshev grid
        delta = C - tucker_full(core, factors, be)
        for l in range(d):
            delta = coeffs2vals2(delta, axis=l, be=be)
        trunc = float(xp.abs(delta).max())
        if budget is None or trunc <= budget or eps <= floor:
            return core, factors, trunc
        eps = max(floor, eps * min(0.25, 0.5 * budget / trunc))


def _grid_max(ct: ChebTucker) -> float:
    """``max |ct|`` on a Chebyshev grid of at most ~2^18 points (vscale estimate)."""
    xp = ct._be.xp
    per = max(2, int((1 << 18) ** (1.0 / ct.ndim)))
    axes = [xp.asarray(chebpts(min(per, m + 1), ct.domain[l]))
            for l, m in enumerate(ct.degrees)]
    return float(xp.abs(ct.on_grid(*axes).full()).max())
