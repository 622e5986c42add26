"""Moré--Garbow--Hillstrom least-squares test problems (a subset), for tests and benchmarks.

Each problem is a residual vector ``r(x)`` with ``f(x) = ||r(x)||^2``, its
standard starting point, and the minimum value (and minimizer, where it is
known in closed form) reported by Moré, Garbow and Hillstrom [1]_. The
residuals are written with operations that accept complex input, so the
Jacobian is computed by complex-step differences (exact to rounding); the
gradient is ``2 J^T r``. The Hessian offered is the one the issue's
comparison uses: central differences of the gradient (``soptim._numdiff``).

References
----------
.. [1] J. J. Moré, B. S. Garbow, K. E. Hillstrom. "Testing Unconstrained
   Optimization Software." ACM Trans. Math. Softw. 7(1), 17--41, 1981.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._numdiff import approx_jacobian

__all__ = ["MGHProblem", "PROBLEMS", "instances"]


@dataclass(frozen=True)
class MGHProblem:
    """One problem: ``f(x) = ||r(x)||^2`` with its standard start and known minimum.

    Attributes
    ----------
    name : str
        The name in [1]_ (with its number).
    residual : callable
        ``r(x) -> array of shape (m,)``; accepts complex ``x``.
    x0 : ndarray
        The standard starting point.
    fstar : float
        The minimum value reported in [1]_ (a local minimum for some problems).
    xstar : ndarray or None
        A minimizer in closed form, where [1]_ gives one.
    """

    name: str
    residual: Callable
    x0: np.ndarray
    fstar: float
    xstar: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of variables."""
        return self.x0.size

    def fun(self, x) -> float:
        """``f(x) = ||r(x)||^2``."""
        r = self.residual(np.asarray(x, dtype=float))
        return float(r @ r)

    def jacobian(self, x) -> np.ndarray:
        """``J(x)``, shape (m, n), by complex-step differences (exact to rounding)."""
        x = np.asarray(x, dtype=float)
        h = 1e-30
        cols = [np.imag(self.residual(x + 1j * h * e)) / h for e in np.eye(x.size)]
        return np.column_stack(cols)

    def grad(self, x) -> np.ndarray:
        """``2 J^T r``."""
        x = np.asarray(x, dtype=float)
        return 2.0 * self.jacobian(x).T @ self.residual(x)

    def hess(self, x) -> np.ndarray:
        """Central differences of the gradient, symmetrized."""
        x = np.asarray(x, dtype=float)
        H = approx_jacobian(self.grad, x, method="3-point")
        return 0.5 * (H + H.T)


def _rosenbrock(x):
    return np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


def _freudenstein_roth(x):
    return np.array([-13.0 + x[0] + ((5.0 - x[1]) * x[1] - 2.0) * x[1],
                     -29.0 + x[0] + ((x[1] + 1.0) * x[1] - 14.0) * x[1]])


def _powell_badly_scaled(x):
    return np.array([1e4 * x[0] * x[1] - 1.0, np.exp(-x[0]) + np.exp(-x[1]) - 1.0001])


def _brown_badly_scaled(x):
    return np.array([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2.0])


def _beale(x):
    y = np.array([1.5, 2.25, 2.625])
    i = np.arange(1, 4)
    return y - x[0] * (1.0 - x[1] ** i)


def _jennrich_sampson(x):
    i = np.arange(1, 11)
    return 2.0 + 2.0 * i - (np.exp(i * x[0]) + np.exp(i * x[1]))


def _helical_valley(x):
    theta = np.arctan(x[1] / x[0]) / (2.0 * np.pi)
    if np.real(x[0]) < 0:
        theta = theta + 0.5
    return np.array([10.0 * (x[2] - 10.0 * theta),
                     10.0 * (np.sqrt(x[0] ** 2 + x[1] ** 2) - 1.0), x[2]])


_BARD_Y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96,
                    1.34, 2.10, 4.39])


def _bard(x):
    u = np.arange(1.0, 16.0)
    v = 16.0 - u
    w = np.minimum(u, v)
    return _BARD_Y - (x[0] + u / (v * x[1] + w * x[2]))


_GAUSSIAN_Y = np.array([0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
                        0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009])


def _gaussian(x):
    t = (8.0 - np.arange(1.0, 16.0)) / 2.0
    return x[0] * np.exp(-x[1] * (t - x[2]) ** 2 / 2.0) - _GAUSSIAN_Y


_MEYER_Y = np.array([34780.0, 28610.0, 23650.0, 19630.0, 16370.0, 13720.0, 11540.0, 9744.0,
                     8261.0, 7030.0, 6005.0, 5147.0, 4427.0, 3820.0, 3307.0, 2872.0])


def _meyer(x):
    t = 45.0 + 5.0 * np.arange(1.0, 17.0)
    return x[0] * np.exp(x[1] / (t + x[2])) - _MEYER_Y


def _box3d(x):
    t = 0.1 * np.arange(1.0, 11.0)
    return np.exp(-t * x[0]) - np.exp(-t * x[1]) - x[2] * (np.exp(-t) - np.exp(-10.0 * t))


def _powell_singular(x):
    return np.array([x[0] + 10.0 * x[1], np.sqrt(5.0) * (x[2] - x[3]), (x[1] - 2.0 * x[2]) ** 2,
                     np.sqrt(10.0) * (x[0] - x[3]) ** 2])


def _wood(x):
    return np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0], np.sqrt(90.0) * (x[3] - x[2] ** 2),
                     1.0 - x[2], np.sqrt(10.0) * (x[1] + x[3] - 2.0),
                     (x[1] - x[3]) / np.sqrt(10.0)])


_KO_Y = np.array([0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323,
                  0.0235, 0.0246])
_KO_U = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])


def _kowalik_osborne(x):
    u = _KO_U
    return _KO_Y - x[0] * (u ** 2 + u * x[1]) / (u ** 2 + u * x[2] + x[3])


def _brown_dennis(x):
    t = np.arange(1.0, 21.0) / 5.0
    return (x[0] + t * x[1] - np.exp(t)) ** 2 + (x[2] + x[3] * np.sin(t) - np.cos(t)) ** 2


_OSBORNE1_Y = np.array([0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784,
                        0.751, 0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522,
                        0.506, 0.490, 0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420,
                        0.414, 0.411, 0.406])


def _osborne1(x):
    t = 10.0 * np.arange(33.0)
    return _OSBORNE1_Y - (x[0] + x[1] * np.exp(-t * x[3]) + x[2] * np.exp(-t * x[4]))


def _extended_rosenbrock(x):
    r = np.empty(x.size, dtype=x.dtype)
    r[0::2] = 10.0 * (x[1::2] - x[0::2] ** 2)
    r[1::2] = 1.0 - x[0::2]
    return r


def _extended_powell(x):
    x1, x2, x3, x4 = x[0::4], x[1::4], x[2::4], x[3::4]
    r = np.empty(x.size, dtype=x.dtype)
    r[0::4] = x1 + 10.0 * x2
    r[1::4] = np.sqrt(5.0) * (x3 - x4)
    r[2::4] = (x2 - 2.0 * x3) ** 2
    r[3::4] = np.sqrt(10.0) * (x1 - x4) ** 2
    return r


def _variably_dimensioned(x):
    j = np.arange(1.0, x.size + 1.0)
    s = j @ (x - 1.0)
    return np.concatenate([x - 1.0, [s, s ** 2]])


def _make() -> dict[str, MGHProblem]:
    a = np.array
    ext_rosen_x0 = np.tile([-1.2, 1.0], 5)
    ext_powell_x0 = np.tile([3.0, -1.0, 0.0, 1.0], 2)
    problems = [
        MGHProblem("1 Rosenbrock", _rosenbrock, a([-1.2, 1.0]), 0.0, a([1.0, 1.0])),
        MGHProblem("2 Freudenstein-Roth", _freudenstein_roth, a([0.5, -2.0]), 0.0,
                   a([5.0, 4.0])),
        MGHProblem("3 Powell badly scaled", _powell_badly_scaled, a([0.0, 1.0]), 0.0),
        MGHProblem("4 Brown badly scaled", _brown_badly_scaled, a([1.0, 1.0]), 0.0,
                   a([1e6, 2e-6])),
        MGHProblem("5 Beale", _beale, a([1.0, 1.0]), 0.0, a([3.0, 0.5])),
        MGHProblem("6 Jennrich-Sampson", _jennrich_sampson, a([0.3, 0.4]), 124.362,
                   a([0.2578, 0.2578])),
        MGHProblem("7 Helical valley", _helical_valley, a([-1.0, 0.0, 0.0]), 0.0,
                   a([1.0, 0.0, 0.0])),
        MGHProblem("8 Bard", _bard, a([1.0, 1.0, 1.0]), 8.21487e-3),
        MGHProblem("9 Gaussian", _gaussian, a([0.4, 1.0, 0.0]), 1.12793e-8),
        MGHProblem("10 Meyer", _meyer, a([0.02, 4000.0, 250.0]), 87.9458),
        MGHProblem("12 Box 3-D", _box3d, a([0.0, 10.0, 20.0]), 0.0, a([1.0, 10.0, 1.0])),
        MGHProblem("13 Powell singular", _powell_singular, a([3.0, -1.0, 0.0, 1.0]), 0.0,
                   np.zeros(4)),
        MGHProblem("14 Wood", _wood, a([-3.0, -1.0, -3.0, -1.0]), 0.0, np.ones(4)),
        MGHProblem("15 Kowalik-Osborne", _kowalik_osborne, a([0.25, 0.39, 0.415, 0.39]),
                   3.07505e-4),
        MGHProblem("16 Brown-Dennis", _brown_dennis, a([25.0, 5.0, -5.0, -1.0]), 85822.2),
        MGHProblem("17 Osborne 1", _osborne1, a([0.5, 1.5, -1.0, 0.01, 0.02]), 5.46489e-5),
        MGHProblem("21 Extended Rosenbrock (n=10)", _extended_rosenbrock, ext_rosen_x0, 0.0,
                   np.ones(10)),
        MGHProblem("22 Extended Powell singular (n=8)", _extended_powell, ext_powell_x0, 0.0,
                   np.zeros(8)),
        MGHProblem("25 Variably dimensioned (n=10)", _variably_dimensioned,
                   1.0 - np.arange(1.0, 11.0) / 10.0, 0.0, np.ones(10)),
    ]
    return {p.name: p for p in problems}


#: The problems by name (MGH number first).
PROBLEMS: dict[str, MGHProblem] = _make()


def instances(scales=(1.0, 10.0, 100.0)):
    """``(label, problem, x0)`` for every problem and starting scale (the standard x0 times s)."""
    return [(f"{p.name} x{s:g}", p, s * p.x0) for p in PROBLEMS.values() for s in scales]
