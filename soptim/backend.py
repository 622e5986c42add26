"""Array backends: which array module (NumPy or CuPy) a computation runs on.

Every solver is written once against the array module of its inputs. This
module is the single place that knows the difference between NumPy and CuPy
(the idea of POT's ``ot.backend``, kept small): :func:`get_backend` looks at
the input arrays and returns a :class:`Backend` holding the array module
``xp`` and its SciPy counterpart (``scipy`` or ``cupyx.scipy``).

CuPy is never imported unless a CuPy array is seen, so importing soptim costs
nothing on machines without a GPU.

numba kernels are used for CPU hot loops when numba imports; setting the
environment variable ``SOPTIM_DISABLE_NUMBA=1`` forces the plain NumPy
fallbacks (the test-suite uses this to check both paths agree).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "Backend",
    "get_backend",
    "is_cupy_array",
    "is_device_array",
    "is_linear_operator",
    "to_numpy",
    "numba_available",
    "cupy_available",
    "HAS_NUMBA",
    "NUMPY",
    "backend_named",
    "announce_compilation",
    "njit",
    "prange",
]

try:  # numba is a required dependency, but keep a working fallback.
    import numba as _numba  # noqa: F401

    HAS_NUMBA = True
except ImportError:  # pragma: no cover - exercised only without numba
    HAS_NUMBA = False


def numba_available() -> bool:
    """Whether the numba CPU kernels are used.

    True when numba imports and ``SOPTIM_DISABLE_NUMBA`` is not set to a
    true value. Checked at call time, so tests can flip the variable.
    """
    flag = os.environ.get("SOPTIM_DISABLE_NUMBA", "").strip().lower()
    return HAS_NUMBA and flag not in ("1", "true", "yes", "on")


def cupy_available() -> bool:
    """Whether CuPy imports and sees at least one CUDA device."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, CUDA driver errors, ...
        return False


def is_cupy_array(a: Any) -> bool:
    """True for ``cupy.ndarray`` and cupyx sparse matrices, without importing CuPy."""
    mod = type(a).__module__
    return mod.startswith("cupy") or mod.startswith("cupyx")


def is_device_array(a: Any) -> bool:
    """True for arrays in GPU memory: CuPy arrays and cupyx sparse matrices, and any
    object exposing ``__cuda_array_interface__`` (numba device arrays, CUDA tensors).

    For the host-only front doors (scipy's methods), which must refuse such
    input with a clear message instead of failing inside ``numpy.asarray``.
    """
    if is_cupy_array(a):
        return True
    try:  # an instance test: host tensors of some libraries define the property and raise
        return hasattr(a, "__cuda_array_interface__")
    except Exception:
        return False


def is_linear_operator(a: Any) -> bool:
    """True for a ``LinearOperator`` of either backend (scipy's or the GPU's sparse.linalg).

    The GPU's class is not a subclass of scipy's, so ``isinstance`` with scipy's
    class alone misses it; recognized by class name and module, without
    importing CuPy.
    """
    for cls in type(a).__mro__:
        if cls.__name__ == "LinearOperator" and cls.__module__.startswith(
                ("scipy.sparse.linalg", "cupyx.scipy.sparse.linalg")):
            return True
    return False


@functools.cache
def _lapack_by_char(name: str, char: str) -> Any:
    import scipy.linalg.lapack

    return scipy.linalg.lapack.get_lapack_funcs((name,), dtype=np.dtype(char))[0]


def _linalg_raises(be: Any) -> Any:
    """A context in which the GPU's dense linear algebra raises ``LinAlgError`` on failure.

    ``cupyx.errstate(linalg='raise')`` on the CuPy backend (CuPy's default,
    'ignore', skips the ``devInfo`` check of cuSOLVER); a no-op context
    elsewhere (NumPy and LAPACK report failures themselves).
    """
    if getattr(be.xp, "__name__", "") == "cupy":
        import cupyx

        return cupyx.errstate(linalg="raise")
    return contextlib.nullcontext()


def _scipy_issparse(a: Any) -> bool:
    import scipy.sparse

    return scipy.sparse.issparse(a)


@dataclass(frozen=True)
class Backend:
    """An array module with its SciPy counterpart, and the operations that differ.

    The solvers are written once against this object: ``be.xp`` for array
    functions, ``be.scipy`` for their SciPy counterparts, and the methods below
    for the few operations whose NumPy and CuPy versions behave differently
    (a failed Cholesky raises on one and returns NaNs on the other, sparse
    solvers want different formats, DCT-I exists only on the host, ...).

    Attributes
    ----------
    name : {'numpy', 'cupy'}
        Which backend this is.
    xp : module
        ``numpy`` or ``cupy``.
    scipy : module
        ``scipy`` or ``cupyx.scipy`` (``.sparse``, ``.sparse.linalg``, ``.fft``,
        ``.linalg``, ``.special`` are imported).
    """

    name: str
    xp: ModuleType
    scipy: ModuleType

    # -- identity ------------------------------------------------------------
    @property
    def is_gpu(self) -> bool:
        """True for the CuPy backend."""
        return self.name == "cupy"

    @property
    def use_numba(self) -> bool:
        """The one numba switch: CPU numba kernels run for this backend.

        True for the NumPy backend when numba imports and
        ``SOPTIM_DISABLE_NUMBA`` is not set (checked at call time).
        """
        return self.name == "numpy" and numba_available()

    @property
    def on_host(self) -> bool:
        """True when the arrays live in host memory, so scipy's host-only solvers
        (L-BFGS-B, SLSQP, HiGHS, SuperLU) and LAPACK can take them without a copy.

        A capability, for choosing an optional faster path; a path that has no
        device version at all calls :meth:`require_host` instead.
        """
        return not self.is_gpu

    def require_host(self, what: str) -> None:
        """Raise ``TypeError`` on the GPU backend: ``what`` runs on the host only.

        Used by the few paths that have no device implementation (SLSQP
        projections, active-set QPs, scipy-only metrics), so that a CuPy user
        gets a clear error instead of a silent host copy.
        """
        if self.is_gpu:
            raise TypeError(f"{what} runs on the host only; pass NumPy arrays "
                            "(cupy.asnumpy) for this case")

    # -- host <-> device --------------------------------------------------------
    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """Convert ``a`` to an array of this backend (copies host data to the GPU for CuPy)."""
        return self.xp.asarray(a, dtype=dtype)

    def to_device(self, a: Any, dtype: Any = None) -> Any:
        """Host data (arrays, index arrays, scipy sparse matrices) on this backend.

        A no-op for NumPy (scipy sparse matrices stay as they are); on CuPy,
        dense data becomes a ``cupy.ndarray`` and scipy sparse matrices become
        cupyx CSR matrices. Meant for one-time setup copies, not for loops.
        """
        if self.issparse(a):
            if not self.is_gpu:
                return a if dtype is None else a.astype(dtype)
            if is_cupy_array(a):
                return a
            M = self.scipy.sparse.csr_matrix(a.tocsr())
            return M if dtype is None else M.astype(dtype)
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a: Any) -> Any:
        """Bring an array of this backend to the host as a NumPy array."""
        return to_numpy(a)

    def item(self, a: Any) -> float:
        """A 0-d array (or scalar) as a Python float (one synchronisation on the GPU)."""
        return float(to_numpy(a))

    def index_dtype(self, size: int = 0) -> Any:
        """Index dtype for sparse matrices with ``size`` entries.

        cupyx sparse matrices take int32 indices only; scipy's take int32 up
        to 2**31 entries and int64 beyond.
        """
        if self.is_gpu or size < 2**31 - 1:
            return self.xp.int32
        return self.xp.int64

    def random_generator(self, rng: Any) -> Any:
        """A random generator that draws arrays on this backend, derived from ``rng``.

        ``rng`` is a ``numpy.random.Generator`` (the validated form of a
        user's seed). NumPy: ``rng`` itself, so host draws are unchanged. CuPy:
        a ``cupy.random.RandomState`` (cuRAND) seeded by one draw from ``rng``,
        so large random matrices are drawn on the device instead of being
        copied from the host, and the same seed gives the same draws on the
        same backend (not the same numbers as on NumPy). Both offer
        ``standard_normal(shape)``. Create it once per solve: seeding cuRAND
        costs more than a small draw.
        """
        if self.on_host:
            return rng
        return self.xp.random.RandomState(int(rng.integers(0, 2**32)))

    # -- sparse matrices ----------------------------------------------------------
    def issparse(self, a: Any) -> bool:
        """True for scipy.sparse and cupyx.scipy.sparse matrices and arrays."""
        if _scipy_issparse(a):
            return True
        if type(a).__module__.startswith("cupyx.scipy.sparse"):
            return hasattr(a, "tocsr")
        return False

    def densify(self, a: Any) -> Any:
        """A dense array of this backend (sparse matrices via ``toarray``)."""
        if self.issparse(a):
            a = a.toarray()
        return self.xp.asarray(a)

    def solver_format(self, M: Any) -> Any:
        """``M`` in the sparse format this backend's ``spsolve`` factorizes.

        scipy's SuperLU factorizes CSC; cupyx's (cuSOLVER) works on CSR.
        """
        return M.tocsr() if self.is_gpu else M.tocsc()

    def spsolve(self, M: Any, b: Any) -> Any:
        """Solve the sparse system ``M x = b`` (format chosen for the backend)."""
        return self.scipy.sparse.linalg.spsolve(self.solver_format(M), b)

    # -- dense factorizations -------------------------------------------------------
    def lapack(self, name: str, a: Any) -> Any:
        """The host LAPACK routine ``name`` for ``a``'s dtype, or None.

        None on the GPU and for dtypes other than float32/float64: callers
        then use the generic path.
        """
        if self.is_gpu or a.dtype.char not in "fd":
            return None
        return _lapack_by_char(name, a.dtype.char)

    def cholesky(self, M: Any) -> Any:
        """Lower Cholesky factor of ``M``, or ``None`` when ``M`` is not (numerically) PD.

        NumPy: LAPACK ``potrf`` (no exception machinery per call). CuPy: by
        default a failed ``cupy.linalg.cholesky`` neither raises nor promises
        NaNs (cuSOLVER's ``devInfo`` is ignored to avoid a synchronisation, and
        the partial factor may hold finite garbage), so the call runs under
        ``cupyx.errstate(linalg='raise')``, which reads ``devInfo`` and raises;
        the finiteness check of the factor is kept for overflow in a
        "successful" factorization.
        """
        potrf = self.lapack("potrf", M)
        if potrf is not None:
            L, info = potrf(M, lower=1, clean=1, overwrite_a=0)
            return L if info == 0 else None
        try:
            with _linalg_raises(self):
                L = self.xp.linalg.cholesky(M)
        except (np.linalg.LinAlgError, ValueError):
            return None
        except Exception as exc:  # cupy raises its own LinAlgError class
            if type(exc).__name__ == "LinAlgError":
                return None
            raise
        if not bool(to_numpy(self.xp.isfinite(L).all())):
            return None
        return L

    def solve_triangular(self, L: Any, b: Any, *, lower: bool = True,
                         trans: bool = False) -> Any:
        """Solve ``L x = b`` (or ``L^T x = b``) for a triangular ``L``."""
        kw = {} if self.is_gpu else {"check_finite": False}
        return self.scipy.linalg.solve_triangular(L, b, lower=lower, trans=1 if trans else 0,
                                                  **kw)

    def cho_solve(self, L: Any, b: Any) -> Any:
        """Solve ``L L^T x = b`` with the lower Cholesky factor ``L``."""
        potrs = self.lapack("potrs", L)
        if potrs is not None:
            # LAPACK directly: scipy's wrapper costs about as much as the solve for n ~ 100s
            x, info = potrs(L, b, lower=1)
            if info == 0:
                return x
        y = self.solve_triangular(L, b, lower=True)
        return self.solve_triangular(L, y, lower=True, trans=True)

    # -- transforms and reductions --------------------------------------------------
    def dct(self, y: Any, type: int = 2, axis: int = -1) -> Any:  # noqa: A002 - scipy's name
        """Unnormalized DCT (scipy's ``dct(type=...)`` convention) along ``axis``.

        On the GPU, DCT-I is the real FFT of the even extension (cupyx lacks
        it); types 2 and 3 use ``cupyx.scipy.fft.dct``.
        """
        if type == 1 and self.is_gpu:
            n = y.shape[axis] - 1
            if n == 0:
                return y.copy()
            xp = self.xp
            idx = [slice(None)] * y.ndim
            idx[axis] = slice(1, n)
            ext = xp.concatenate([y, xp.flip(y[tuple(idx)], axis=axis)], axis=axis)
            return xp.fft.rfft(ext, axis=axis).real
        return self.scipy.fft.dct(y, type=type, axis=axis)

    def norm(self, v: Any) -> float:
        """Euclidean norm of a vector as a Python float.

        On the host without BLAS: a BLAS call on a short vector can stall for
        milliseconds when BLAS threads compete for busy cores.
        """
        if self.is_gpu:
            return float(self.xp.linalg.norm(v))
        return math.sqrt(float(np.einsum("i,i->", v, v)))

    def all_finite(self, a: Any) -> bool:
        """Whether every entry of ``a`` is finite (one host transfer of a bool)."""
        return bool(to_numpy(self.xp.isfinite(a).all()))

    def linear_operator(self, shape: tuple, matvec: Any, *, rmatvec: Any = None,
                        matmat: Any = None, dtype: Any = np.float64,
                        rmatmat: Any = None) -> Any:
        """A ``LinearOperator`` of this backend (``cupyx.scipy.sparse.linalg`` on the GPU).

        scipy's ``LinearOperator`` calls ``np.asanyarray`` on its inputs, which
        raises for CuPy arrays; cupyx's does not. Give ``rmatmat`` (``matmat``
        for a symmetric operator) when blocks of rows are needed, e.g. by
        ``sketch_solve``: without it both classes apply ``rmatvec`` column by
        column.
        """
        return self.scipy.sparse.linalg.LinearOperator(shape, matvec=matvec, rmatvec=rmatvec,
                                                       matmat=matmat, dtype=dtype,
                                                       rmatmat=rmatmat)

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"


def _numpy_backend() -> Backend:
    import scipy.fft  # noqa: F401
    import scipy.linalg  # noqa: F401
    import scipy.sparse  # noqa: F401
    import scipy.sparse.linalg  # noqa: F401
    import scipy.special  # noqa: F401

    return Backend("numpy", np, scipy)


def _cupy_backend() -> Backend:
    import cupy
    import cupyx.scipy
    import cupyx.scipy.fft  # noqa: F401
    import cupyx.scipy.linalg  # noqa: F401
    import cupyx.scipy.sparse  # noqa: F401
    import cupyx.scipy.sparse.linalg  # noqa: F401
    import cupyx.scipy.special  # noqa: F401

    return Backend("cupy", cupy, cupyx.scipy)


NUMPY = _numpy_backend()


def get_backend(*arrays: Any) -> Backend:
    """Return the backend of the given arrays.

    Parameters
    ----------
    *arrays : array_like or None
        Inputs of a computation. ``None`` and Python scalars are ignored.

    Returns
    -------
    Backend
        The CuPy backend if any input is a CuPy array (dense or cupyx sparse),
        otherwise the NumPy backend.

    Raises
    ------
    TypeError
        If CuPy arrays are mixed with NumPy arrays (soptim never copies
        silently between host and device).

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.backend import get_backend
    >>> be = get_backend(np.ones(3), None)
    >>> be.name, be.xp is np
    ('numpy', True)
    """
    gpu = [is_cupy_array(a) for a in arrays if a is not None and not np.isscalar(a)]
    if any(gpu):
        if not all(gpu):
            kinds = sorted({type(a).__module__ + "." + type(a).__name__
                            for a in arrays if a is not None and not np.isscalar(a)})
            raise TypeError(
                "inputs mix CuPy and host arrays (" + ", ".join(kinds) + "); "
                "move them all to the GPU with cupy.asarray or all to the host "
                "with cupy.asnumpy"
            )
        return _cupy_backend()
    return NUMPY


def backend_named(name: str | None) -> Backend:
    """The backend called ``name`` (``None`` or ``'numpy'``: NumPy; ``'cupy'``: CuPy).

    For constructors that sample a function rather than receive arrays
    (``ChebTucker.fit(..., backend='cupy')``).
    """
    if name in (None, "numpy"):
        return NUMPY
    if name == "cupy":
        try:
            return _cupy_backend()
        except ImportError:
            raise ImportError("backend='cupy' needs CuPy: pip install 'soptim[gpu]'") from None
    raise ValueError(f"backend must be 'numpy' or 'cupy', got {name!r}")


_ANNOUNCED: set = set()


def numba_cached(kernel: Any) -> bool | None:
    """Whether numba's disk cache holds a usable entry for ``kernel`` (``cache=True``).

    False when the cache index is missing or stale -- written for another version of
    the source file or of numba, which numba then recompiles silently -- and None when
    the dispatcher has no disk cache in numba's usual layout (nothing can be said).
    """
    try:
        cache_file = kernel._cache._cache_file  # numba's FunctionCache layout
        index = cache_file._index_path
    except AttributeError:
        return None
    if not os.path.exists(index):
        return False
    try:
        return bool(cache_file._load_index())  # {} when the stamp or version differs
    except Exception:  # an unreadable index: numba recompiles too
        return False


def announce_compilation(group: str, *kernels: Any) -> None:
    """Print one line before numba compiles ``kernels`` for the first time on this machine.

    A kernel compiles when it has no signature in this process and no fresh index
    in numba's disk cache (``cache=True``, see :func:`numba_cached`); later processes
    load it from disk.
    Called with the kernels one call is about to use, so the user knows why a
    first call is slow. Printed once per ``group`` and process.
    """
    if group in _ANNOUNCED or not HAS_NUMBA:
        return
    for k in kernels:
        if getattr(k, "signatures", None):
            continue
        if numba_cached(k) is False:
            _ANNOUNCED.add(group)
            print(f"soptim: compiling numba kernels for {group} (first use on this machine; "
                  "cached for later runs)", file=sys.stderr, flush=True)
            return


def to_numpy(a: Any) -> Any:
    """Return ``a`` as a host (NumPy) object; NumPy input is returned unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.backend import to_numpy
    >>> to_numpy(np.arange(3))
    array([0, 1, 2])
    """
    if isinstance(a, (np.ndarray, np.generic)):  # the common case first: called per step
        return a
    if is_cupy_array(a):
        if hasattr(a, "get"):
            return a.get()
        cupy = sys.modules["cupy"]
        return cupy.asnumpy(a)
    return a


def njit(*args: Any, **kwargs: Any):
    """``numba.njit`` with ``cache=True`` (a no-op decorator without numba).

    Kernels decorated with it must have a NumPy fallback that callers select
    with :func:`numba_available`.
    """
    kwargs.setdefault("cache", True)
    if HAS_NUMBA:
        import numba

        return numba.njit(*args, **kwargs)
    if len(args) == 1 and callable(args[0]):
        return args[0]
    return lambda f: f


if HAS_NUMBA:
    from numba import prange
else:  # pragma: no cover
    prange = range
