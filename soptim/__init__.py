"""soptim: structured second-order solvers in the NumPy/SciPy style.

Front doors
-----------
- :func:`soptim.minimize` -- ``scipy.optimize.minimize`` plus ``method='gns'``
  (gradient-normalized regularized Newton) and ``method='sketched-alm'``
  (constraints and bounds by exact augmented-Lagrangian Newton with sketching);
  :func:`soptim.show_options` lists every method's options.
- :mod:`soptim.ot` -- entropic optimal transport by Sinkhorn-Newton-Sparse.
- :mod:`soptim.bilevel` -- LV-HBA bilevel optimization.
- :mod:`soptim.approx` -- mesh-free Chebyshev-Tucker approximation.
- :mod:`soptim.linalg` -- randomized iterative sketching solvers.
- :mod:`soptim.backend` -- NumPy / CuPy dispatch.

Subpackages are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from scipy.optimize import OptimizeResult

from . import backend
from .optimize import minimize, show_options

__version__ = "0.1.0"

__all__ = ["minimize", "show_options", "OptimizeResult", "backend", "ot", "bilevel", "approx",
           "linalg", "optimize", "__version__"]

_SUBPACKAGES = {"ot", "bilevel", "approx", "linalg", "optimize"}


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'soptim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBPACKAGES)
