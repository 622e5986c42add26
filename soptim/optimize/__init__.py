"""Optimization: ``minimize`` with soptim's second-order methods beside scipy's."""

from scipy.optimize import OptimizeResult

from ._minimize import minimize, show_options

__all__ = ["minimize", "show_options", "OptimizeResult"]
