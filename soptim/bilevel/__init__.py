"""Bilevel optimization with constrained lower levels (LV-HBA).

:func:`minimize` solves ``min F(x, y)`` over ``y`` in the solution set of a
convex lower-level problem ``min_y f(x, y) s.t. g(x, y) <= 0, h(x, y) = 0``
whose constraints may couple ``x`` and ``y``, without Hessians, and returns a
:class:`BilevelResult` with the lower-level multipliers and the
value-function gap that certifies lower-level optimality.
"""

from ._lvhba import BilevelResult, minimize

__all__ = ["minimize", "BilevelResult"]
