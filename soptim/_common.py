"""What every soptim solver shares: status codes, callbacks, the iteration table, option warnings.

Kept close to scipy.optimize's conventions: the status codes keep scipy's
meanings where scipy has one, the two callback forms
(``callback(intermediate_result)`` and legacy ``callback(xk)``) with
``StopIteration`` meaning "stop, status 99", an ``OptimizeWarning`` for
unknown options and for non-convergence, and an iteration table for
``disp=True``. Used by ``optimize``, ``ot``, ``bilevel`` and ``linalg`` alike,
so none of them imports another's private modules for it.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult, OptimizeWarning

__all__ = [
    "CallbackRunner",
    "IterationPrinter",
    "check_unknown_options",
    "warn_not_converged",
    "STATUS_SUCCESS",
    "STATUS_MAXITER",
    "STATUS_FAILURE",
    "STATUS_NONFINITE",
    "STATUS_CALLBACK",
]

#: Status codes (scipy's meanings where scipy has one).
STATUS_SUCCESS = 0
STATUS_MAXITER = 1
STATUS_FAILURE = 2  # e.g. no acceptable step within the trial budget
STATUS_NONFINITE = 3  # NaN/inf appeared in f, g or a step
STATUS_CALLBACK = 99  # StopIteration raised in the callback (scipy's code)


def check_unknown_options(unknown: dict, method: str) -> None:
    """Warn (``OptimizeWarning``) naming options ``method`` does not know, as scipy does."""
    if unknown:
        names = ", ".join(sorted(map(str, unknown)))
        warnings.warn(f"Unknown solver options for method {method!r}: {names}",
                      OptimizeWarning, stacklevel=4)


def warn_not_converged(message: str, stacklevel: int = 4) -> None:
    """Warn that a solver stopped without converging (``OptimizeWarning``)."""
    warnings.warn(message, OptimizeWarning, stacklevel=stacklevel)


class CallbackRunner:
    """Call a user callback in either scipy form and report whether to stop.

    ``callback(intermediate_result)`` (detected by that parameter name, as
    scipy does) receives an ``OptimizeResult``; otherwise the legacy form
    ``callback(xk)`` receives a copy of the iterate. ``StopIteration`` raised
    in the callback asks the solver to stop (status 99).
    """

    def __init__(self, callback: Callable | None):
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        self.callback = callback
        self.new_style = False
        if callback is not None:
            try:
                params = inspect.signature(callback).parameters
                self.new_style = "intermediate_result" in params
            except (TypeError, ValueError):  # builtins without a signature
                self.new_style = False

    def __call__(self, x, **fields: Any) -> bool:
        """Run the callback at iterate ``x``; return True if it raised StopIteration."""
        if self.callback is None:
            return False
        try:
            if self.new_style:
                self.callback(intermediate_result=OptimizeResult(x=x.copy(), **fields))
            else:
                self.callback(x.copy())
        except StopIteration:
            return True
        return False


class IterationPrinter:
    """A fixed-width iteration table for ``options={'disp': True}``."""

    def __init__(self, columns: Sequence[str], enabled: bool = True, width: int = 12):
        self.columns = list(columns)
        self.enabled = bool(enabled)
        self.width = width
        self._printed_header = False

    def row(self, *values: Any) -> None:
        if not self.enabled:
            return
        w = self.width
        if not self._printed_header:
            print(" ".join(f"{c:>{w}}" for c in self.columns))
            self._printed_header = True
        cells = []
        for v in values:
            if isinstance(v, (int, np.integer)):
                cells.append(f"{int(v):>{w}d}")
            elif isinstance(v, (float, np.floating)):
                cells.append(f"{float(v):>{w}.4e}")
            else:
                cells.append(f"{str(v):>{w}}")
        print(" ".join(cells))

    def final(self, result: OptimizeResult) -> None:
        if self.enabled:
            print(result.message)
            print(f"         Current function value: {float(result.fun):.6e}")
            print(f"         Iterations: {result.nit}")
            print(f"         Function evaluations: {result.nfev}")
            print(f"         Gradient evaluations: {result.njev}")
