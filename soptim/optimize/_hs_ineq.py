"""Hock–Schittkowski problems with inequalities and bounds (private: tests and benchmarks).

Defined from the collection (W. Hock, K. Schittkowski, "Test Examples for Nonlinear
Programming Codes", Lecture Notes in Economics and Mathematical Systems 187, 1981),
with its start points and published optimal values ``fstar``. Inequalities are in
the collection's form ``g(x) >= 0`` (scipy's ``'ineq'`` dicts); bounds are
``(lo, hi)`` pairs with None for a missing side. ``kind`` says which classes of
constraints a problem has: 'bounds', 'ineq', 'mixed' (equalities and
inequalities), with 'degenerate' added where the solution has weakly active
constraints or more active constraints than needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["HSIneqProblem", "HS_INEQ_PROBLEMS"]


@dataclass(frozen=True)
class HSIneqProblem:
    """One problem: f, grad f, constraints ``ineq(x) >= 0`` / ``eq(x) = 0``, bounds, x0, f*."""

    name: str
    kind: str
    f: Callable
    g: Callable
    x0: tuple
    fstar: float
    bounds: list | None = None
    ineq: Callable | None = None
    ineq_jac: Callable | None = None
    eq: Callable | None = None
    eq_jac: Callable | None = None
    xstar: tuple | None = None
    extra: dict = field(default_factory=dict)

    def constraints(self) -> list:
        """scipy-style dicts ``{'type': 'ineq' | 'eq', 'fun', 'jac'}``."""
        out = []
        if self.ineq is not None:
            out.append({"type": "ineq", "fun": self.ineq, "jac": self.ineq_jac})
        if self.eq is not None:
            out.append({"type": "eq", "fun": self.eq, "jac": self.eq_jac})
        return out


def _a(*v):
    return np.array(v, dtype=float)


def _m(*rows):
    return np.array(rows, dtype=float)


_S3 = np.sqrt(3.0)

HS_INEQ_PROBLEMS: dict[str, HSIneqProblem] = {p.name: p for p in [
    # -- bounds only --------------------------------------------------------------
    HSIneqProblem(
        "HS1", "bounds",
        lambda x: 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2,
        lambda x: _a(-400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0]),
                     200 * (x[1] - x[0] ** 2)),
        (-2.0, 1.0), 0.0, bounds=[(None, None), (-1.5, None)], xstar=(1.0, 1.0)),
    HSIneqProblem(
        "HS3", "bounds",
        lambda x: x[1] + 1e-5 * (x[1] - x[0]) ** 2,
        lambda x: _a(-2e-5 * (x[1] - x[0]), 1 + 2e-5 * (x[1] - x[0])),
        (10.0, 1.0), 0.0, bounds=[(None, None), (0.0, None)], xstar=(0.0, 0.0)),
    HSIneqProblem(
        "HS4", "bounds",
        lambda x: (x[0] + 1) ** 3 / 3 + x[1],
        lambda x: _a((x[0] + 1) ** 2, 1.0),
        (1.125, 0.125), 8.0 / 3.0, bounds=[(1.0, None), (0.0, None)], xstar=(1.0, 0.0)),
    HSIneqProblem(
        "HS5", "bounds",
        lambda x: np.sin(x[0] + x[1]) + (x[0] - x[1]) ** 2 - 1.5 * x[0] + 2.5 * x[1] + 1,
        lambda x: _a(np.cos(x[0] + x[1]) + 2 * (x[0] - x[1]) - 1.5,
                     np.cos(x[0] + x[1]) - 2 * (x[0] - x[1]) + 2.5),
        (0.0, 0.0), -0.5 * _S3 - np.pi / 3, bounds=[(-1.5, 4.0), (-3.0, 3.0)],
        xstar=(0.5 - np.pi / 3, -0.5 - np.pi / 3)),
    HSIneqProblem(
        "HS38", "bounds",
        lambda x: (100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2
                   + 90 * (x[3] - x[2] ** 2) ** 2 + (1 - x[2]) ** 2
                   + 10.1 * ((x[1] - 1) ** 2 + (x[3] - 1) ** 2)
                   + 19.8 * (x[1] - 1) * (x[3] - 1)),
        lambda x: _a(-400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0]),
                     200 * (x[1] - x[0] ** 2) + 20.2 * (x[1] - 1) + 19.8 * (x[3] - 1),
                     -360 * x[2] * (x[3] - x[2] ** 2) - 2 * (1 - x[2]),
                     180 * (x[3] - x[2] ** 2) + 20.2 * (x[3] - 1) + 19.8 * (x[1] - 1)),
        (-3.0, -1.0, -3.0, -1.0), 0.0, bounds=[(-10.0, 10.0)] * 4,
        xstar=(1.0, 1.0, 1.0, 1.0)),
    HSIneqProblem(
        "HS45", "bounds degenerate",
        lambda x: 2 - x[0] * x[1] * x[2] * x[3] * x[4] / 120,
        lambda x: _a(*[-np.prod(np.delete(x, i)) / 120 for i in range(5)]),
        (2.0, 2.0, 2.0, 2.0, 2.0), 1.0, bounds=[(0.0, float(i)) for i in range(1, 6)],
        xstar=(1.0, 2.0, 3.0, 4.0, 5.0)),
    # -- inequalities (and bounds) ----------------------------------------------------
    HSIneqProblem(
        "HS21", "ineq",
        lambda x: 0.01 * x[0] ** 2 + x[1] ** 2 - 100,
        lambda x: _a(0.02 * x[0], 2 * x[1]),
        (-1.0, -1.0), -99.96, bounds=[(2.0, 50.0), (-50.0, 50.0)],
        ineq=lambda x: _a(10 * x[0] - x[1] - 10), ineq_jac=lambda x: _m([10.0, -1.0]),
        xstar=(2.0, 0.0)),
    HSIneqProblem(
        "HS35", "ineq",
        lambda x: (9 - 8 * x[0] - 6 * x[1] - 4 * x[2] + 2 * x[0] ** 2 + 2 * x[1] ** 2
                   + x[2] ** 2 + 2 * x[0] * x[1] + 2 * x[0] * x[2]),
        lambda x: _a(-8 + 4 * x[0] + 2 * x[1] + 2 * x[2], -6 + 4 * x[1] + 2 * x[0],
                     -4 + 2 * x[2] + 2 * x[0]),
        (0.5, 0.5, 0.5), 1.0 / 9.0, bounds=[(0.0, None)] * 3,
        ineq=lambda x: _a(3 - x[0] - x[1] - 2 * x[2]), ineq_jac=lambda x: _m([-1.0, -1.0, -2.0]),
        xstar=(4.0 / 3.0, 7.0 / 9.0, 4.0 / 9.0)),
    HSIneqProblem(
        "HS43", "ineq",
        lambda x: (x[0] ** 2 + x[1] ** 2 + 2 * x[2] ** 2 + x[3] ** 2 - 5 * x[0] - 5 * x[1]
                   - 21 * x[2] + 7 * x[3]),
        lambda x: _a(2 * x[0] - 5, 2 * x[1] - 5, 4 * x[2] - 21, 2 * x[3] + 7),
        (0.0, 0.0, 0.0, 0.0), -44.0,
        ineq=lambda x: _a(8 - x[0] ** 2 - x[1] ** 2 - x[2] ** 2 - x[3] ** 2 - x[0] + x[1]
                          - x[2] + x[3],
                          10 - x[0] ** 2 - 2 * x[1] ** 2 - x[2] ** 2 - 2 * x[3] ** 2 + x[0]
                          + x[3],
                          5 - 2 * x[0] ** 2 - x[1] ** 2 - x[2] ** 2 - 2 * x[0] + x[1] + x[3]),
        ineq_jac=lambda x: _m([-2 * x[0] - 1, -2 * x[1] + 1, -2 * x[2] - 1, -2 * x[3] + 1],
                              [-2 * x[0] + 1, -4 * x[1], -2 * x[2], -4 * x[3] + 1],
                              [-4 * x[0] - 2, -2 * x[1] + 1, -2 * x[2], 1.0]),
        xstar=(0.0, 1.0, 2.0, -1.0)),
    HSIneqProblem(
        "HS76", "ineq",
        lambda x: (x[0] ** 2 + 0.5 * x[1] ** 2 + x[2] ** 2 + 0.5 * x[3] ** 2 - x[0] * x[2]
                   + x[2] * x[3] - x[0] - 3 * x[1] + x[2] - x[3]),
        lambda x: _a(2 * x[0] - x[2] - 1, x[1] - 3, 2 * x[2] - x[0] + x[3] + 1,
                     x[3] + x[2] - 1),
        (0.5, 0.5, 0.5, 0.5), -103.0 / 22.0, bounds=[(0.0, None)] * 4,
        ineq=lambda x: _a(5 - x[0] - 2 * x[1] - x[2] - x[3], 4 - 3 * x[0] - x[1] - 2 * x[2]
                          + x[3], x[1] + 4 * x[2] - 1.5),
        ineq_jac=lambda x: _m([-1.0, -2.0, -1.0, -1.0], [-3.0, -1.0, -2.0, 1.0],
                              [0.0, 1.0, 4.0, 0.0]),
        xstar=(3.0 / 11.0, 23.0 / 11.0, 0.0, 6.0 / 11.0)),
    HSIneqProblem(
        "HS65", "ineq",
        lambda x: (x[0] - x[1]) ** 2 + (x[0] + x[1] - 10) ** 2 / 9 + (x[2] - 5) ** 2,
        lambda x: _a(2 * (x[0] - x[1]) + 2 * (x[0] + x[1] - 10) / 9,
                     -2 * (x[0] - x[1]) + 2 * (x[0] + x[1] - 10) / 9, 2 * (x[2] - 5)),
        (-5.0, 5.0, 0.0), 0.9535288567, bounds=[(-4.5, 4.5), (-4.5, 4.5), (-5.0, 5.0)],
        ineq=lambda x: _a(48 - x[0] ** 2 - x[1] ** 2 - x[2] ** 2),
        ineq_jac=lambda x: _m([-2 * x[0], -2 * x[1], -2 * x[2]]),
        xstar=(3.650461821, 3.65046168, 4.6204170507)),
    HSIneqProblem(
        "HS18", "ineq",
        lambda x: 0.01 * x[0] ** 2 + x[1] ** 2,
        lambda x: _a(0.02 * x[0], 2 * x[1]),
        (2.0, 2.0), 5.0, bounds=[(2.0, 50.0), (0.0, 50.0)],
        ineq=lambda x: _a(x[0] * x[1] - 25, x[0] ** 2 + x[1] ** 2 - 25),
        ineq_jac=lambda x: _m([x[1], x[0]], [2 * x[0], 2 * x[1]]),
        xstar=(np.sqrt(250.0), np.sqrt(2.5))),
    HSIneqProblem(
        "HS34", "ineq",
        lambda x: -x[0], lambda x: _a(-1.0, 0.0, 0.0),
        (0.0, 1.05, 2.9), -np.log(np.log(10.0)),
        bounds=[(0.0, 100.0), (0.0, 100.0), (0.0, 10.0)],
        ineq=lambda x: _a(x[1] - np.exp(x[0]), x[2] - np.exp(x[1])),
        ineq_jac=lambda x: _m([-np.exp(x[0]), 1.0, 0.0], [0.0, -np.exp(x[1]), 1.0]),
        xstar=(np.log(np.log(10.0)), np.log(10.0), 10.0)),
    HSIneqProblem(
        "HS100", "ineq",
        lambda x: ((x[0] - 10) ** 2 + 5 * (x[1] - 12) ** 2 + x[2] ** 4 + 3 * (x[3] - 11) ** 2
                   + 10 * x[4] ** 6 + 7 * x[5] ** 2 + x[6] ** 4 - 4 * x[5] * x[6]
                   - 10 * x[5] - 8 * x[6]),
        lambda x: _a(2 * (x[0] - 10), 10 * (x[1] - 12), 4 * x[2] ** 3, 6 * (x[3] - 11),
                     60 * x[4] ** 5, 14 * x[5] - 4 * x[6] - 10, 4 * x[6] ** 3 - 4 * x[5] - 8),
        (1.0, 2.0, 0.0, 4.0, 0.0, 1.0, 1.0), 680.6300573,
        ineq=lambda x: _a(127 - 2 * x[0] ** 2 - 3 * x[1] ** 4 - x[2] - 4 * x[3] ** 2 - 5 * x[4],
                          282 - 7 * x[0] - 3 * x[1] - 10 * x[2] ** 2 - x[3] + x[4],
                          196 - 23 * x[0] - x[1] ** 2 - 6 * x[5] ** 2 + 8 * x[6],
                          -4 * x[0] ** 2 - x[1] ** 2 + 3 * x[0] * x[1] - 2 * x[2] ** 2
                          - 5 * x[5] + 11 * x[6]),
        ineq_jac=lambda x: _m(
            [-4 * x[0], -12 * x[1] ** 3, -1.0, -8 * x[3], -5.0, 0.0, 0.0],
            [-7.0, -3.0, -20 * x[2], -1.0, 1.0, 0.0, 0.0],
            [-23.0, -2 * x[1], 0.0, 0.0, 0.0, -12 * x[5], 8.0],
            [-8 * x[0] + 3 * x[1], -2 * x[1] + 3 * x[0], -4 * x[2], 0.0, 0.0, -5.0, 11.0]),
        xstar=(2.330499, 1.951372, -0.4775414, 4.365726, -0.6244870, 1.038131, 1.594227)),
    HSIneqProblem(
        "HS24", "ineq degenerate",
        lambda x: ((x[0] - 3) ** 2 - 9) * x[1] ** 3 / (27 * _S3),
        lambda x: _a(2 * (x[0] - 3) * x[1] ** 3 / (27 * _S3),
                     3 * ((x[0] - 3) ** 2 - 9) * x[1] ** 2 / (27 * _S3)),
        (1.0, 0.5), -1.0, bounds=[(0.0, None), (0.0, None)],
        ineq=lambda x: _a(x[0] / _S3 - x[1], x[0] + _S3 * x[1], -x[0] - _S3 * x[1] + 6),
        ineq_jac=lambda x: _m([1 / _S3, -1.0], [1.0, _S3], [-1.0, -_S3]),
        xstar=(3.0, _S3)),
    HSIneqProblem(
        "HS44", "ineq degenerate",
        lambda x: x[0] - x[1] - x[2] - x[0] * x[2] + x[0] * x[3] + x[1] * x[2] - x[1] * x[3],
        lambda x: _a(1 - x[2] + x[3], -1 + x[2] - x[3], -1 - x[0] + x[1], x[0] - x[1]),
        (0.0, 0.0, 0.0, 0.0), -15.0, bounds=[(0.0, None)] * 4,
        ineq=lambda x: _a(8 - x[0] - 2 * x[1], 12 - 4 * x[0] - x[1], 12 - 3 * x[0] - 4 * x[1],
                          8 - 2 * x[2] - x[3], 8 - x[2] - 2 * x[3], 5 - x[2] - x[3]),
        ineq_jac=lambda x: _m([-1.0, -2.0, 0.0, 0.0], [-4.0, -1.0, 0.0, 0.0],
                              [-3.0, -4.0, 0.0, 0.0], [0.0, 0.0, -2.0, -1.0],
                              [0.0, 0.0, -1.0, -2.0], [0.0, 0.0, -1.0, -1.0]),
        xstar=(0.0, 3.0, 0.0, 4.0)),
    # -- equalities and inequalities ---------------------------------------------------
    HSIneqProblem(
        "HS14", "mixed",
        lambda x: (x[0] - 2) ** 2 + (x[1] - 1) ** 2,
        lambda x: _a(2 * (x[0] - 2), 2 * (x[1] - 1)),
        (2.0, 2.0), 9.0 - 23.0 * np.sqrt(7.0) / 8.0,
        ineq=lambda x: _a(-x[0] ** 2 / 4 - x[1] ** 2 + 1),
        ineq_jac=lambda x: _m([-x[0] / 2, -2 * x[1]]),
        eq=lambda x: _a(x[0] - 2 * x[1] + 1), eq_jac=lambda x: _m([1.0, -2.0]),
        xstar=((np.sqrt(7.0) - 1) / 2, (np.sqrt(7.0) + 1) / 4)),
    HSIneqProblem(
        "HS32", "mixed degenerate",
        lambda x: (x[0] + 3 * x[1] + x[2]) ** 2 + 4 * (x[0] - x[1]) ** 2,
        lambda x: _a(2 * (x[0] + 3 * x[1] + x[2]) + 8 * (x[0] - x[1]),
                     6 * (x[0] + 3 * x[1] + x[2]) - 8 * (x[0] - x[1]),
                     2 * (x[0] + 3 * x[1] + x[2])),
        (0.1, 0.7, 0.2), 1.0, bounds=[(0.0, None)] * 3,
        ineq=lambda x: _a(6 * x[1] + 4 * x[2] - x[0] ** 3 - 3),
        ineq_jac=lambda x: _m([-3 * x[0] ** 2, 6.0, 4.0]),
        eq=lambda x: _a(1 - x[0] - x[1] - x[2]), eq_jac=lambda x: _m([-1.0, -1.0, -1.0]),
        xstar=(0.0, 0.0, 1.0)),
    HSIneqProblem(
        "HS71", "mixed",
        lambda x: x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2],
        lambda x: _a(x[3] * (2 * x[0] + x[1] + x[2]), x[0] * x[3], x[0] * x[3] + 1,
                     x[0] * (x[0] + x[1] + x[2])),
        (1.0, 5.0, 5.0, 1.0), 17.0140173, bounds=[(1.0, 5.0)] * 4,
        ineq=lambda x: _a(x[0] * x[1] * x[2] * x[3] - 25),
        ineq_jac=lambda x: _m([x[1] * x[2] * x[3], x[0] * x[2] * x[3], x[0] * x[1] * x[3],
                               x[0] * x[1] * x[2]]),
        eq=lambda x: _a(x @ x - 40), eq_jac=lambda x: 2 * x.reshape(1, -1),
        xstar=(1.0, 4.7429994, 3.8211503, 1.3794082)),
]}
