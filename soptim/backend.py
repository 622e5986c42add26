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
    "to_numpy",
    "numba_available",
    "cupy_available",
    "HAS_NUMBA",
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


@dataclass(frozen=True)
class Backend:
    """An array module with its SciPy counterpart.

    Attributes
    ----------
    name : {'numpy', 'cupy'}
        Which backend this is.
    xp : module
        ``numpy`` or ``cupy``.
    scipy : module
        ``scipy`` or ``cupyx.scipy`` (``.sparse``, ``.sparse.linalg``, ``.fft``,
        ``.special`` are imported).
    """

    name: str
    xp: ModuleType
    scipy: ModuleType

    @property
    def is_gpu(self) -> bool:
        """True for the CuPy backend."""
        return self.name == "cupy"

    @property
    def use_numba(self) -> bool:
        """True when CPU numba kernels should be used for this backend."""
        return self.name == "numpy" and numba_available()

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """Convert ``a`` to an array of this backend (copies host data to the GPU for CuPy)."""
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a: Any) -> np.ndarray:
        """Bring an array of this backend to the host as a NumPy array."""
        return to_numpy(a)

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
