"""Samples of the user's ``f``: on product Chebyshev grids (refined by doubling) and
at scattered points (the fibers and core of the cross), optionally on an executor.

Every call of ``f`` goes through :func:`_check_values`, so both paths give the
same errors for complex, non-array, wrongly shaped or non-finite output. With
``executor=`` the blocks (grid slabs along the first axis, or fixed-size
slices of a point list) are evaluated by :func:`soptim._executor.map_blocks`;
``f`` is sent once per worker. The point blocks have a fixed size whatever
the executor, so the values (and the cross built from them) are the same
with and without one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._executor import check_executor, map_blocks, n_workers
from ..backend import Backend
from ._domain import Box

__all__ = ["GridSampler", "PointSampler"]

_POINT_BLOCK = 256  # points per call of f (and per executor task) in point sampling


def _contract(shapes: Any) -> str:
    return ("f must accept arrays of points and return an array of values, acting "
            "elementwise on broadcastable arrays (numpy ufunc style: np.sin, not "
            f"math.sin); it is called with arrays of shapes {shapes}")


def _call_f(f: Callable, args: Sequence[Any]) -> Any:
    """``f(*args)`` with the errors of a non-vectorized ``f`` explained."""
    shapes = tuple(tuple(int(n) for n in a.shape) for a in args)
    try:
        return f(*args)
    except (TypeError, ValueError) as exc:
        # math.sin(array), float(array) or `if x > 0:` on an array end up here
        cls = TypeError if isinstance(exc, TypeError) else ValueError
        raise cls(f"f failed on array arguments ({type(exc).__name__}: {exc}); "
                  f"{_contract(shapes)}") from exc


def _grid_block(f: Callable, args: Sequence[Any]) -> Any:
    """One executor task: ``f`` on open-grid arrays (module level, so it pickles)."""
    return _call_f(f, args)


def _point_block(f: Callable, coords: Sequence[Any]) -> Any:
    """One executor task: ``f`` at a slice of scattered points."""
    return _call_f(f, coords)


def _check_values(out: Any, shape: tuple, ndim: int, shapes: Any, xp: Any) -> Any:
    """``f``'s output as a real float array of ``shape``; clear errors otherwise."""
    if np.iscomplexobj(out):
        raise TypeError("f returned complex values; the approximant is real: "
                        "f must return real values (approximate the real and "
                        "imaginary parts separately)")
    if not hasattr(out, "shape"):
        raise TypeError(f"f returned a {type(out).__name__}, not an array, for arrays "
                        f"broadcasting to {shape}; {_contract(shapes)} (write a constant as "
                        "c + 0 * x)")
    try:
        out = xp.asarray(out, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"f must return a real array, got {type(out).__name__} of dtype "
            f"{getattr(out, 'dtype', '?')}"
        ) from None
    try:
        ok = out.ndim == ndim and np.broadcast_shapes(tuple(out.shape), shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"f returned shape {tuple(out.shape)} for arguments broadcasting to "
                         f"{shape}; {_contract(shapes)}")
    return xp.broadcast_to(out, shape)


def _nonfinite_error(where: tuple) -> ValueError:
    return ValueError(
        f"f returned NaN or inf at x = {where}; the Chebyshev approximant needs a "
        "function that is finite on the closed box (evaluate removable "
        "singularities by their limit)")


class _Sampler:
    """What both samplers hold: ``f``, its box and backend, the executor, the count of values."""

    def __init__(self, f: Callable, box: Box, be: Backend, executor: Any = None) -> None:
        self.f = f
        self.box = box
        self.be = be
        self.xp = be.xp
        self.executor = check_executor(executor)
        self.nfev = 0


class GridSampler(_Sampler):
    """Samples of ``f`` on a product of second-kind grids, refined by doubling.

    Doubling ``m = 2^k + 1 -> 2^(k+1) + 1`` keeps the old points at the even
    indices, so only the new points are evaluated: the complement of the old
    grid is a union of ``2^g - 1`` product blocks (``g`` axes refined), and
    ``f`` is called once per block with broadcastable open-grid arrays (or,
    with an executor, once per slab of the block along its first axis).
    """

    def __init__(self, f: Callable, box: Box, be: Backend, executor: Any = None) -> None:
        super().__init__(f, box, be, executor)
        self.values: Any = None
        self.m: list[int] = []

    def _call(self, coords: list[Any]) -> Any:
        xp, d = self.xp, len(coords)
        shape = tuple(int(c.shape[0]) for c in coords)
        args = [c.reshape((1,) * l + (-1,) + (1,) * (d - l - 1)) for l, c in enumerate(coords)]
        shapes = tuple(tuple(int(n) for n in a.shape) for a in args)
        if self.executor is None or shape[0] < 2:
            out = _check_values(_call_f(self.f, args), shape, d, shapes, xp)
        else:
            k = min(shape[0], 4 * n_workers(self.executor))
            bounds = [round(i * shape[0] / k) for i in range(k + 1)]
            blocks = [[args[0][bounds[i]:bounds[i + 1]]] + args[1:] for i in range(k)]
            outs = map_blocks(_grid_block, blocks, self.executor, shared=self.f)
            out = xp.concatenate([
                _check_values(o, (bounds[i + 1] - bounds[i],) + shape[1:], d, shapes, xp)
                for i, o in enumerate(outs)], axis=0)
        self.nfev += int(np.prod(shape))
        finite = xp.isfinite(out)
        if not bool(finite.all()):
            idx = tuple(int(i[0]) for i in xp.nonzero(~finite))
            raise _nonfinite_error(tuple(float(c[i]) for c, i in zip(coords, idx)))
        return out

    def start(self, m: list[int]) -> Any:
        self.m = list(m)
        self.values = self._call([self.box.points(l, ml, self.be) for l, ml in enumerate(m)])
        return self.values

    def refine(self, axes: Sequence[int]) -> Any:
        xp, d = self.xp, len(self.m)
        new_m = [2 * ml - 1 if l in axes else ml for l, ml in enumerate(self.m)]
        new = xp.empty(tuple(new_m))
        new[tuple(slice(None, None, 2) if l in axes else slice(None) for l in range(d))] = \
            self.values
        full = [self.box.points(l, new_m[l], self.be) for l in range(d)]
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


class PointSampler(_Sampler):
    """``f`` at scattered points given by their coordinate arrays, in fixed-size blocks.

    ``f`` receives ``d`` 1-D arrays of equal length (broadcastable, as the
    ufunc contract promises); blocks of :data:`_POINT_BLOCK` points go to the
    executor when one is given.
    """

    def __call__(self, coords: Sequence[Any]) -> Any:
        xp = self.xp
        n = int(coords[0].shape[0])
        d = len(coords)
        starts = list(range(0, n, _POINT_BLOCK))
        blocks = [[c[s:s + _POINT_BLOCK] for c in coords] for s in starts]
        if self.executor is None:
            outs = [_point_block(self.f, b) for b in blocks]
        else:
            outs = map_blocks(_point_block, blocks, self.executor, shared=self.f)
        vals = []
        for b, o in zip(blocks, outs):
            size = int(b[0].shape[0])
            shapes = tuple((size,) for _ in range(d))
            vals.append(_check_values(o, (size,), 1, shapes, xp))
        out = xp.concatenate(vals) if vals else xp.zeros(0)
        self.nfev += n
        finite = xp.isfinite(out)
        if not bool(finite.all()):
            i = int(xp.argmax(~finite))
            raise _nonfinite_error(tuple(float(c[i]) for c in coords))
        return out
