"""Entropic optimal transport: Sinkhorn-Newton-Sparse (SNS) and log-domain Sinkhorn.

Front doors
-----------
- :func:`solve` -- entropic OT with an :class:`OTResult` (plan, costs, potentials,
  L1 marginal error, iteration history); ``method='sns'`` (default) or ``'sinkhorn'``.
- :func:`sinkhorn`, :func:`sinkhorn2` -- POT's ``ot.sinkhorn`` / ``ot.sinkhorn2``
  signatures and return conventions, so scripts switch by changing the import.
- :func:`dist`, :func:`wasserstein` -- cost matrices and W_p distances between point
  clouds and between histograms on regular 1-D / 2-D grids.

Sinkhorn sweeps run on a stabilized kernel with BLAS mat-vecs when it is safe and in the
log domain otherwise (chosen automatically), on NumPy (numba kernels) or CuPy arrays
(results stay on the GPU). :func:`solve` has POT 0.9's signature ``solve(M, a, b, reg)``;
:func:`unif` is POT's uniform histogram.
"""

from ._distances import dist, wasserstein
from ._dual import dual_gradient, dual_hessian, dual_value, plan_from_potentials
from ._emd import emd, emd2
from ._emd1d import emd2_1d, emd_1d, wasserstein_1d
from ._pairwise import pairwise_distances
from ._pot import sinkhorn, sinkhorn2, unif
from ._solve import OTResult, solve

__all__ = ["solve", "OTResult", "sinkhorn", "sinkhorn2", "dist", "unif", "wasserstein",
           "dual_value", "dual_gradient", "dual_hessian", "plan_from_potentials",
           "emd", "emd2", "emd_1d", "emd2_1d", "wasserstein_1d", "pairwise_distances"]
