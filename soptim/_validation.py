"""Input checks shared by every solver: clear errors that name the argument."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .backend import get_backend, to_numpy

__all__ = [
    "as_generator",
    "check_callable",
    "as_float_array",
    "reject_complex",
    "check_real",
    "check_positive",
    "check_interval",
    "check_count",
    "check_choice",
    "check_bool",
]


def as_generator(rng: Any = None) -> np.random.Generator:
    """Turn ``rng`` (None, an int seed, a SeedSequence or a Generator) into a Generator.

    The same seed always gives the same stream, so randomized solvers are
    reproducible.

    Examples
    --------
    >>> from soptim._validation import as_generator
    >>> float(as_generator(0).random()) == float(as_generator(0).random())
    True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (numbers.Integral, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.RandomState):
        return np.random.default_rng(rng.randint(0, 2**63 - 1))
    raise TypeError(
        f"rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}"
    )


def check_callable(name: str, f: Any, *, optional: bool = False) -> None:
    """Raise ``TypeError`` naming ``name`` unless ``f`` is callable (or None when optional)."""
    if f is None and optional:
        return
    if not callable(f):
        raise TypeError(f"{name} must be callable, got {type(f).__name__}")


def as_float_array(
    name: str,
    a: Any,
    *,
    ndim: int | tuple[int, ...] | None = None,
    shape: tuple[int | None, ...] | None = None,
    finite: bool = True,
    nonnegative: bool = False,
    dtype: Any = None,
    xp: Any = None,
) -> Any:
    """Convert ``a`` to a floating array of its own backend and check it.

    Parameters
    ----------
    name : str
        Argument name used in error messages.
    a : array_like
        The input (NumPy or CuPy).
    ndim : int or tuple of int, optional
        Allowed number of dimensions.
    shape : tuple, optional
        Expected shape; ``None`` entries match any length.
    finite : bool
        Reject NaN and inf.
    nonnegative : bool
        Reject negative entries.
    dtype : dtype, optional
        Target dtype; default keeps float32/float64 and turns anything else
        into float64.
    xp : module, optional
        Array module to use; default is the backend of ``a``.

    Raises
    ------
    ValueError
        On a wrong shape, non-finite or negative entries.
    TypeError
        If ``a`` cannot be converted to a numeric array.
    """
    if xp is None:
        xp = get_backend(a).xp
    try:
        arr = xp.asarray(a)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array: {exc}") from None
    reject_complex(name, arr)
    if arr.dtype.kind not in "biuf" and not (dtype is not None and arr.dtype.kind == "O"):
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if dtype is None:
        if arr.dtype.kind == "f":
            dtype = arr.dtype
        elif arr.dtype.kind in "biu":
            dtype = np.float64
        else:
            raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    arr = arr.astype(dtype, copy=False)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimension(s), "
                f"got shape {tuple(arr.shape)}"
            )
    if shape is not None:
        if len(shape) != arr.ndim or any(
            s is not None and s != t for s, t in zip(shape, arr.shape)
        ):
            want = tuple("*" if s is None else s for s in shape)
            raise ValueError(f"{name} must have shape {want}, got {tuple(arr.shape)}")
    if finite and arr.size and not bool(to_numpy(xp.isfinite(arr).all())):
        raise ValueError(f"{name} contains NaN or inf")
    if nonnegative and arr.size and bool(to_numpy((arr < 0).any())):
        raise ValueError(f"{name} must be nonnegative (has negative entries)")
    return arr


def reject_complex(name: str, a: Any) -> None:
    """Raise ``TypeError`` naming ``name`` if ``a`` is complex (an array, a scalar or a dtype).

    NumPy casts complex to real with only a ``ComplexWarning``: the imaginary
    part would be dropped silently.
    """
    kind = getattr(getattr(a, "dtype", None), "kind", None)
    if kind == "c" or isinstance(a, complex):
        raise TypeError(f"{name} must be real, got complex values (dtype "
                        f"{getattr(a, 'dtype', type(a).__name__)}); pass the real part "
                        "explicitly if that is what you mean")


def check_real(name: str, value: Any) -> float:
    """Return ``float(value)`` for a real number; ``TypeError`` naming ``name`` otherwise.

    Strings (``'0.05'``), complex numbers and arrays of more than one entry
    are refused instead of being converted.
    """
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    reject_complex(name, value)
    if getattr(value, "ndim", 0):
        if getattr(value, "size", 0) != 1:
            raise TypeError(f"{name} must be a real number, got an array of shape "
                            f"{tuple(value.shape)}")
        value = to_numpy(value).reshape(()).item()
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}") from None


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Return ``float(value)``; raise ``ValueError`` naming ``name`` unless it is finite and > 0.

    Examples
    --------
    >>> from soptim._validation import check_positive
    >>> check_positive("reg", 0.5)
    0.5
    """
    v = check_real(name, value)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound} and finite, got {value!r}")
    return v


def check_interval(name: str, value: Any, lo: float = -np.inf, hi: float = np.inf, *,
                   closed: str = "both") -> float:
    """Return ``float(value)`` if it lies in the interval from ``lo`` to ``hi``.

    ``closed`` is ``'both'``, ``'left'``, ``'right'`` or ``'neither'``; NaN is
    never inside. ``TypeError`` for non-reals, ``ValueError`` outside.

    Examples
    --------
    >>> from soptim._validation import check_interval
    >>> check_interval("ratio", 0.25, 0.0, 1.0, closed="neither")
    0.25
    """
    v = check_real(name, value)
    lo_ok = v >= lo if closed in ("both", "left") else v > lo
    hi_ok = v <= hi if closed in ("both", "right") else v < hi
    if not (lo_ok and hi_ok):
        left = "[" if closed in ("both", "left") else "("
        right = "]" if closed in ("both", "right") else ")"
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value!r}")
    return v


def check_choice(name: str, value: Any, choices: Any) -> Any:
    """Return ``value`` if it is one of ``choices``; ``ValueError`` listing them otherwise.

    Examples
    --------
    >>> from soptim._validation import check_choice
    >>> check_choice("sketch", "block", ("block", "kaczmarz"))
    'block'
    """
    choices = tuple(choices)
    try:
        ok = value in choices
    except TypeError:  # unhashable or uncomparable
        ok = False
    if not ok or isinstance(value, bool) != any(isinstance(c, bool) for c in choices if c == value):
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listed}; got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """Return ``bool(value)`` for a bool (NumPy bools included); ``TypeError`` otherwise."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def check_count(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``int(value)``; raise naming ``name`` unless it is an integer >= ``minimum``.

    ``TypeError`` for non-integers (``bool`` and ``2.5`` included), ``ValueError``
    below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)
