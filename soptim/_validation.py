"""Input checks shared by every solver: clear errors that name the argument."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .backend import get_backend, to_numpy

__all__ = ["as_generator", "check_callable", "as_float_array", "check_positive", "check_count"]


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


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Return ``float(value)``; raise ``ValueError`` naming ``name`` unless it is finite and > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound} and finite, got {value!r}")
    return v


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
