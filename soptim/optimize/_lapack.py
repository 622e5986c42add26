"""LAPACK routines by name, looked up once per dtype.

``scipy.linalg.lapack.get_lapack_funcs`` costs about as much as a small
factorization; the regularized Newton solvers call LAPACK once per trial.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["lapack"]


@functools.cache
def _by_char(name: str, char: str):
    import scipy.linalg.lapack

    return scipy.linalg.lapack.get_lapack_funcs((name,), dtype=np.dtype(char))[0]


def lapack(name: str, a):
    """The LAPACK routine ``name`` (``'potrf'``, ``'pbtrs'``, ...) for the dtype of ``a``."""
    return _by_char(name, a.dtype.char)
