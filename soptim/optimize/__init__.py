"""Optimization: ``minimize`` with soptim's second-order methods beside scipy's."""

from scipy.optimize import OptimizeResult

from ._minimize import minimize

__all__ = ["minimize", "OptimizeResult"]
