"""Mesh-free Chebyshev-Tucker approximation of multivariate functions.

:class:`ChebTucker` samples a function of ``d`` variables on a product
Chebyshev grid (adaptively in the degree), turns the samples into a tensor of
Chebyshev coefficients by fast cosine transforms and compresses that tensor
to Tucker form by the truncated HOSVD: a small core and, per axis, a few
univariate polynomials. The result is evaluable anywhere (fused numba kernel
on CPU, CuPy on GPU), on any tensor grid as a :class:`TuckerTensor`, and can
be integrated, differentiated and added with recompression.

Reference: P. Benner, B. N. Khoromskij, V. Khoromskaia, B. Sun, "A mesh-free
hybrid Chebyshev-Tucker tensor format with applications to multi-particle
modelling", arXiv:2503.01696 (2025).
"""

from ._chebtucker import ChebTucker, ExtrapolationWarning, ResolutionWarning, chebpts
from ._tucker import TuckerTensor

__all__ = ["ChebTucker", "TuckerTensor", "ResolutionWarning", "ExtrapolationWarning", "chebpts"]
