"""Randomized iterative sketching solvers for linear systems.

- :func:`sketch_solve` -- sketch-and-project (randomized Kaczmarz, Gaussian,
  row-block and CountSketch sketches) for a consistent system ``K z = r`` with
  ``K`` dense, sparse or a ``LinearOperator``.
"""

from ._sketch import SKETCHES, sketch_solve

__all__ = ["sketch_solve", "SKETCHES"]
