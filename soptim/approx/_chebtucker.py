"""The mesh-free Chebyshev-Tucker approximant.

``f(x) ~ sum beta[i_1..i_d] v^(1)_{i_1}(x_1) ... v^(d)_{i_d}(x_d)`` where the
column ``i`` of the coefficient matrix ``V_l`` holds the Chebyshev coefficients
of the univariate polynomial ``v^(l)_i``: a product Chebyshev interpolant whose
coefficient tensor is compressed to Tucker form (Benner, Khoromskij,
Khoromskaia, Sun 2025).
"""

from __future__ import annotations

import itertools
import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._validation import (
    as_float_array,
    check_callable,
    check_choice,
    check_count,
    check_positive,
    check_real,
)
from ..backend import Backend, backend_named, get_backend, to_numpy
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
    vals2coeffs2,
)
from ._kernels import evaluate_points
from ._tucker import TuckerTensor, hooi, hosvd, recompress, rhosvd, tucker_full

__all__ = ["ChebTucker", "ExtrapolationWarning", "ResolutionWarning", "chebpts"]

_MIN_POINTS = 17  # first adaptive grid: 2^4 + 1 points per axis (as Chebfun)
_SAMPLE_BUDGET = 1 << 24  # default max_degree keeps (max_degree + 1)^d below this
# unit coordinates this far beyond +-1 are rounding of the affine map, not extrapolation
_DOMAIN_SLACK = 1e-12


class ResolutionWarning(UserWarning):
    """A function was not resolved to the requested tolerance within ``max_degree``."""


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


def _as_domain(domain: Any) -> list[tuple[float, float]]:
    try:
        arr = np.asarray(to_numpy(domain), dtype=float)
    except (TypeError, ValueError):
        raise TypeError("domain must be a sequence of (a, b) pairs") from None
    if arr.shape == (2,):
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ValueError(f"domain must be a sequence of (a, b) pairs, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("domain must be finite")
    bad = np.nonzero(arr[:, 0] >= arr[:, 1])[0]
    if bad.size:
        l = int(bad[0])
        raise ValueError(f"domain[{l}] = ({arr[l, 0]}, {arr[l, 1]}) must have a < b")
    return [(float(a), float(b)) for a, b in arr]


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


# ----------------------------------------------------------------------------- sampling


class _Sampler:
    """Samples of ``f`` on a product of second-kind grids, refined by doubling.

    Doubling ``m = 2^k + 1 -> 2^(k+1) + 1`` keeps the old points at the even
    indices, so only the new points are evaluated: the complement of the old
    grid is a union of ``2^g - 1`` product blocks (``g`` axes refined), and
    ``f`` is called once per block with broadcastable open-grid arrays.
    """

    def __init__(self, f: Callable, domain: list[tuple[float, float]], be: Backend) -> None:
        self.f = f
        self.domain = domain
        self.be = be
        self.xp = be.xp
        self.values: Any = None
        self.m: list[int] = []
        self.nfev = 0

    def _points(self, l: int, m: int) -> Any:
        a, b = self.domain[l]
        return 0.5 * (a + b) + 0.5 * (b - a) * chebpts2(m, self.be)

    def _call(self, coords: list[Any]) -> Any:
        xp, d = self.xp, len(coords)
        shape = tuple(int(c.shape[0]) for c in coords)
        args = [c.reshape((1,) * l + (-1,) + (1,) * (d - l - 1)) for l, c in enumerate(coords)]
        contract = ("f must accept arrays of points and return an array of values, acting "
                    "elementwise on broadcastable arrays (numpy ufunc style: np.sin, not "
                    "math.sin); it is called with open-grid arrays of shapes "
                    f"{tuple(tuple(int(n) for n in a.shape) for a in args)}")
        try:
            out = self.f(*args)
        except (TypeError, ValueError) as exc:
            # math.sin(array), float(array) or `if x > 0:` on an array end up here
            cls = TypeError if isinstance(exc, TypeError) else ValueError
            raise cls(f"f failed on array arguments ({type(exc).__name__}: {exc}); "
                            f"{contract}") from exc
        if np.iscomplexobj(out):
            raise TypeError("f returned complex values; the approximant is real: "
                            "f must return real values (approximate the real and "
                            "imaginary parts separately)")
        if not hasattr(out, "shape"):
            raise TypeError(f"f returned a {type(out).__name__}, not an array, for arrays "
                            f"broadcasting to {shape}; {contract} (write a constant as "
                            "c + 0 * x)")
        try:
            out = xp.asarray(out, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(
                f"f must return a real array, got {type(out).__name__} of dtype "
                f"{getattr(out, 'dtype', '?')}"
            ) from None
        try:
            ok = out.ndim == d and np.broadcast_shapes(tuple(out.shape), shape) == shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"f returned shape {tuple(out.shape)} for arguments broadcasting to {shape}; "
                f"{contract}"
            )
        out = xp.broadcast_to(out, shape)
        self.nfev += int(np.prod(shape))
        finite = xp.isfinite(out)
        if not bool(finite.all()):
            idx = tuple(int(i[0]) for i in xp.nonzero(~finite))
            where = tuple(float(c[i]) for c, i in zip(coords, idx))
            raise ValueError(
                f"f returned NaN or inf at x = {where}; the Chebyshev approximant needs a "
                "function that is finite on the closed box (evaluate removable "
                "singularities by their limit)"
            )
        return out

    def start(self, m: list[int]) -> Any:
        self.m = list(m)
        self.values = self._call([self._points(l, ml) for l, ml in enumerate(m)])
        return self.values

    def refine(self, axes: Sequence[int]) -> Any:
        xp, d = self.xp, len(self.m)
        new_m = [2 * ml - 1 if l in axes else ml for l, ml in enumerate(self.m)]
        new = xp.empty(tuple(new_m))
        new[tuple(slice(None, None, 2) if l in axes else slice(None) for l in range(d))] = \
            self.values
        full = [self._points(l, new_m[l]) for l in range(d)]
        for odd in itertools.product((False, True), repeat=len(axes)):
            if not any(odd):
                continue
            which = dict(zip(axes, odd))
            sl = tuple(
                (slice(1, None, 2) if which[l] else slice(None, None, 2)) if l in which
                else slice(None)
                for l in range(d)
            )
            new[sl] = self._call([full[l][sl[l]] for l in range(d)])
        self.m, self.values = new_m, new
        return new


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
    converged, message, tol, nfev

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
    ) -> None:
        self.domain = _as_domain(domain)
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
    ) -> ChebTucker:
        """Approximate ``f`` on the box ``domain``.

        ``f`` is sampled on the product of Chebyshev points of the second kind,
        the samples are turned into the coefficient tensor by a DCT-I per axis,
        and the coefficient tensor is compressed by the truncated HOSVD with the
        eps rule (optionally refined by HOOI).

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
            length that keeps the estimated error below it.
        tol : float
            Relative accuracy target: the adaptive degree aims at a maximum
            error ``tol * max|f|``, and the HOSVD keeps
            ``||C - C_r||_F <= tol ||C||_F``. Below the rounding level of the
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
            When ``max_degree`` is reached before ``tol``.

        Examples
        --------
        >>> import numpy as np
        >>> from soptim.approx import ChebTucker
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
        dom = _as_domain(domain)
        d = len(dom)
        tol = _check_tol(tol)
        method = _check_method(method)
        be = backend_named(backend)
        xp = be.xp
        sampler = _Sampler(f, dom, be)
        if degree is not None:
            m = [k + 1 for k in _per_axis("degree", degree, d, 0)]
            values = sampler.start(m)
            C = _values_to_coeffs(values, be)
            vscale = float(xp.abs(values).max())
            outside = [2.0 * extrapolated_tail(tail_profile(C, l, be)) for l in range(d)]
            tail = sum(outside)
            # a fixed degree is the caller's choice: no warning, but say whether it sufficed
            converged, message = _fixed_degree_report(m, tail, vscale, tol)
        else:
            if max_degree is None:
                cap = 1 << max(1, int(np.floor(np.log2(_SAMPLE_BUDGET ** (1.0 / d) - 1))))
                caps = [min(cap, 1 << 16)] * d
            else:
                caps = _per_axis("max_degree", max_degree, d, 1)
            m = [min(_MIN_POINTS, c + 1) for c in caps]
            values = sampler.start(m)
            while True:
                C = _values_to_coeffs(values, be)
                vscale = float(xp.abs(values).max())
                threshold = tol * vscale
                profiles = [tail_profile(C, l, be) for l in range(d)]
                outside = [2.0 * extrapolated_tail(p) for p in profiles]
                # below the rounding level of the samples no degree helps
                limits = [max(threshold / d, _noise_floor(C.shape, l) * vscale)
                          for l in range(d)]
                unresolved = [l for l in range(d) if outside[l] > limits[l]]
                grow = [l for l in unresolved if 2 * (sampler.m[l] - 1) <= caps[l]]
                if not grow:
                    break
                values = sampler.refine(grow)
            converged = not unresolved
            C, tail = _chop(C, profiles, outside, limits)
            noisy = [l for l in range(d) if limits[l] > threshold / d]
            if converged and noisy:
                message = (
                    f"tol={tol:g} is below the rounding level of the samples along axis "
                    f"{', '.join(map(str, noisy))}; resolved to about "
                    f"{tail / vscale if vscale else 0.0:.1e} instead"
                )
                warnings.warn(message, ResolutionWarning, stacklevel=2)
            elif converged:
                message = f"resolved to tol={tol:g} with degrees {tuple(s - 1 for s in C.shape)}"
            else:
                axes = ", ".join(map(str, unresolved))
                message = (
                    f"f is not resolved to tol={tol:g} along axis {axes} at max_degree="
                    f"{tuple(caps)}: the Chebyshev coefficients decay slowly (a kink or "
                    f"singularity converges only algebraically); estimated relative error "
                    f"{tail / vscale if vscale else 0.0:.1e}. Raise max_degree, loosen tol, "
                    "or split the box at the singularity."
                )
                warnings.warn(message, ResolutionWarning, stacklevel=2)
        core, factors, trunc = _compress(C, tol, method, be)
        est = (tail + trunc) / vscale if vscale > 0 else 0.0
        return cls(core, factors, dom, tol=tol, vscale=vscale, error_estimate=est,
                   converged=converged, message=message, nfev=sampler.nfev)

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
            C = _values_to_coeffs(values, be)
        else:
            C = values
            for l in range(d):
                C = vals2coeffs1(C, axis=l, be=be)
        vscale = float(xp.abs(values).max())
        tail = sum(2.0 * extrapolated_tail(tail_profile(C, l, be)) for l in range(d))
        core, factors, trunc = _compress(C, tol, method, be)
        est = (tail + trunc) / vscale if vscale > 0 else 0.0
        return cls(core, factors, dom, tol=tol, vscale=vscale, error_estimate=est,
                   message=f"from values of shape {tuple(values.shape)}")

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
        factors = list(factors)
        d = len(factors)
        if d == 0:
            raise ValueError("factors must hold one entry per axis, got none")
        calls = [callable(U) for U in factors]
        if any(calls) and not all(calls):
            raise TypeError("factors must be all arrays (with grid) or all callables")
        be = get_backend(weights, *([] if all(calls) else factors))
        xp = be.xp
        w = as_float_array("weights", weights, ndim=1)
        R = w.shape[0]
        if all(calls):
            if domain is None:
                raise ValueError("callable factors need domain=")
            dom = _as_domain(domain)
            if len(dom) != d:
                raise ValueError(f"domain has {len(dom)} axes but {d} factors were given")
            univariate = factors
        else:
            if grid is None:
                raise ValueError("array factors need grid= (the tensor grid they are sampled on)")
            grid = list(grid)
            if len(grid) != d:
                raise ValueError(f"grid has {len(grid)} axes but {d} factors were given")
            dom, univariate = [], []
            for l in range(d):
                g = np.asarray(to_numpy(as_float_array(f"grid[{l}]", grid[l], ndim=1)))
                if g.shape[0] < 2 or np.any(np.diff(g) <= 0):
                    raise ValueError(f"grid[{l}] must be strictly increasing with >= 2 points")
                U = as_float_array(f"factors[{l}]", factors[l], shape=(g.shape[0], R))
                dom.append((float(g[0]), float(g[-1])))
                univariate.append(_spline(g, np.asarray(to_numpy(U))))
        # coefficient factor matrices A_l (m_l x R), adaptive per axis
        def coeff_matrix(l: int, m: int) -> Any:
            a, b = dom[l]
            x = 0.5 * (a + b) + 0.5 * (b - a) * chebpts2(m, be)
            out = univariate[l](x)
            if np.iscomplexobj(out):
                raise TypeError(f"factors[{l}] returned complex values; the canonical "
                                "vectors must be real")
            vals = xp.asarray(out, dtype=float)
            if vals.shape != (m, R):
                raise ValueError(
                    f"factors[{l}] returned shape {tuple(vals.shape)}, expected ({m}, {R})"
                )
            if not bool(xp.isfinite(vals).all()):
                raise ValueError(f"factors[{l}] has NaN or inf values")
            return vals2coeffs2(vals, axis=0, be=be)

        vscale_pts = max(2, min(_MIN_POINTS, int((1 << 15) ** (1.0 / d))))
        vscale = _cp_max(w, [coeff_matrix(l, vscale_pts) for l in range(d)], be)
        if degree is not None:
            ms = [k + 1 for k in _per_axis("degree", degree, d, 0)]
            A = [coeff_matrix(l, ms[l]) for l in range(d)]
            profiles = _cp_profiles(w, A, be)
            outside = [2.0 * extrapolated_tail(p) for p in profiles]
            tail = sum(outside)
            converged, message = _fixed_degree_report(ms, tail, vscale, tol)
        else:
            if max_degree is None:
                caps = [1 << 12] * d
            else:
                caps = _per_axis("max_degree", max_degree, d, 1)
            ms = [min(_MIN_POINTS, c + 1) for c in caps]
            A = [coeff_matrix(l, ms[l]) for l in range(d)]
            threshold = tol * vscale
            while True:
                profiles = _cp_profiles(w, A, be)
                outside = [2.0 * extrapolated_tail(p) for p in profiles]
                unresolved = [l for l in range(d) if outside[l] > threshold / d]
                grow = [l for l in unresolved if 2 * (ms[l] - 1) <= caps[l]]
                if not grow:
                    break
                for l in grow:
                    ms[l] = 2 * ms[l] - 1
                    A[l] = coeff_matrix(l, ms[l])
            converged = not unresolved
            lengths, tail = [], 0.0
            for l in range(d):
                n, drop = _chop_axis(profiles[l], outside[l], threshold / d)
                lengths.append(n)
                tail += drop
            A = [Al[:n] for Al, n in zip(A, lengths)]
            if converged:
                message = f"resolved to tol={tol:g} with degrees {tuple(n - 1 for n in lengths)}"
            else:
                message = (
                    f"canonical input not resolved to tol={tol:g} along axis "
                    f"{', '.join(map(str, unresolved))} at max_degree={tuple(caps)}; estimated "
                    f"relative error {tail / vscale if vscale else 0.0:.1e}"
                )
                warnings.warn(message, ResolutionWarning, stacklevel=2)
        core, V, norm = rhosvd(w, A, tol, be)
        # the rhosvd guarantees ||C - C_r||_F <= tol ||C||_F
        est = (tail + tol * norm) / vscale if vscale > 0 else 0.0
        return cls(core, V, dom, tol=tol, vscale=vscale, error_estimate=est,
                   converged=converged, message=message)

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
        a, b = self.domain[l]
        return (2.0 * x - (a + b)) / (b - a)

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
        a, b = self.domain[l]
        return 0.5 * (a + b) + 0.5 * (b - a) * t

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
        if other.ndim != self.ndim or not np.allclose(other.domain, self.domain,
                                                       rtol=1e-14, atol=0):
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


def _values_to_coeffs(values: Any, be: Backend) -> Any:
    C = values
    for l in range(values.ndim):
        C = vals2coeffs2(C, axis=l, be=be)
    return C


def _chop_axis(profile: np.ndarray, outside: float, threshold: float) -> tuple[int, float]:
    """Shortest length whose dropped tail plus ``outside`` is below ``threshold``."""
    from ._chebyshev import chop_length

    n = chop_length(profile, outside, threshold)
    return n, float(profile[n:].sum()) + outside


def _noise_floor(shape: tuple, axis: int) -> float:
    """Relative rounding level of a mode-``axis`` slice sum of the coefficient tensor.

    Each coefficient carries an error of a few ulps of ``max|f|``; a slice sum of
    ``M`` such errors of random sign is about ``sqrt(M)`` ulps.
    """
    entries = float(np.prod(shape)) / shape[axis]
    return np.finfo(float).eps * np.sqrt(entries)


def _chop(C: Any, profiles: list, outside: list, limits: list) -> tuple[Any, float]:
    """Chop every axis to its shortest length within its limit; return the total tail."""
    d = C.ndim
    lengths, tail = [], 0.0
    for l in range(d):
        n, drop = _chop_axis(profiles[l], outside[l], limits[l])
        lengths.append(n)
        tail += drop
    return C[tuple(slice(0, n) for n in lengths)].copy(), tail


def _compress(C: Any, tol: float, method: str, be: Backend) -> tuple[Any, list, float]:
    """HOSVD (and HOOI) of the coefficient tensor.

    Returns the core, the factors and ``max |values of (C - C_r)|`` on the
    Chebyshev grid: the truncation's error in the values (the Frobenius bound
    ``||C - C_r||_F <= tol ||C||_F`` alone can be off by the ratio of max to
    RMS of the dropped part).
    """
    xp = be.xp
    # below ~8 ulps the singular-value tail is rounding noise: keeping it only adds ranks
    eps = max(tol, 8.0 * np.finfo(float).eps * np.sqrt(C.ndim))
    core, factors, _ = hosvd(C, eps=eps, be=be)
    if method == "hooi":
        core, factors, _ = hooi(C, factors, be=be)
    # the truncation's largest effect on the values, measured on the Chebyshev grid
    delta = C - tucker_full(core, factors, be)
    for l in range(C.ndim):
        delta = coeffs2vals2(delta, axis=l, be=be)
    return core, factors, float(xp.abs(delta).max())


def _cp_profiles(w: Any, A: list, be: Backend) -> list[np.ndarray]:
    """Bounds of the mode-slice L1 norms of ``sum_k w_k A_1[:, k] o ... o A_d[:, k]``."""
    xp = be.xp
    l1 = [xp.abs(Al).sum(axis=0) for Al in A]
    out = []
    for l in range(len(A)):
        others = xp.abs(w)
        for k in range(len(A)):
            if k != l:
                others = others * l1[k]
        p = xp.abs(A[l]) @ others
        out.append(np.asarray(to_numpy(p), dtype=float))
    return out


def _cp_max(w: Any, A: list, be: Backend) -> float:
    """``max |f|`` of a canonical expansion on the Chebyshev grid of the coefficients ``A``."""
    xp = be.xp
    from ._chebyshev import coeffs2vals2
    from ._tucker import _cp_core

    vals = [coeffs2vals2(Al, axis=0, be=be) for Al in A]
    return float(xp.abs(_cp_core(w, vals, be)).max())


def _grid_max(ct: ChebTucker) -> float:
    """``max |ct|`` on a Chebyshev grid of at most ~2^18 points (vscale estimate)."""
    xp = ct._be.xp
    per = max(2, int((1 << 18) ** (1.0 / ct.ndim)))
    axes = [xp.asarray(chebpts(min(per, m + 1), ct.domain[l]))
            for l, m in enumerate(ct.degrees)]
    return float(xp.abs(ct.on_grid(*axes).full()).max())


def _spline(grid: np.ndarray, values: np.ndarray) -> Callable[[Any], Any]:
    from scipy.interpolate import make_interp_spline

    k = 5 if grid.shape[0] >= 6 else grid.shape[0] - 1
    spl = make_interp_spline(grid, values, k=k, axis=0)

    def evaluate(x: Any) -> Any:
        xp = get_backend(x).xp
        return xp.asarray(spl(np.clip(to_numpy(x), grid[0], grid[-1])))

    return evaluate


def _fixed_degree_report(m, tail: float, vscale: float, tol: float) -> tuple[bool, str]:
    """Whether a caller-fixed number of points per axis ``m`` resolves f to ``tol``, and why."""
    converged = tail <= tol * vscale
    message = (f"fixed degree {tuple(k - 1 for k in m)}; estimated degree tail "
               f"{tail / vscale if vscale else 0.0:.1e} (relative) "
               f"{'within' if converged else 'above'} tol={tol:g}")
    return converged, message
