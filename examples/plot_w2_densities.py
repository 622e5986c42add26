r"""
W2 between discretized densities
================================

For two Gaussians the 2-Wasserstein distance has a closed form,

.. math::

    W_2^2 = \|m_1 - m_2\|^2 + \mathrm{tr}\left(S_1 + S_2
            - 2 (S_2^{1/2} S_1 S_2^{1/2})^{1/2}\right),

which in 1-D reads :math:`(m_1 - m_2)^2 + (s_1 - s_2)^2`. This example
discretizes two Gaussian densities on regular grids of growing size (cell
centers, masses proportional to the density) and compares three numbers with
the closed form:

* :func:`soptim.ot.wasserstein` on the histograms: the entropic plan at its
  default regularization (``reg=1e-3`` relative to the largest cost) and at
  ``reg=3e-4``;
* in 1-D, the exact discrete distance by the quantile formula of
  :func:`soptim.ot.wasserstein_1d`.

The exact discrete distance converges to the continuous one as the grid is
refined (the discretization adds about :math:`h^2/12` to each variance); the
entropic one stops improving at the bias of its regularization, which a
smaller ``reg`` lowers at the price of more Newton steps. (In 2-D the exact
discrete distance is :func:`soptim.ot.emd2`'s; it is left out here because its
kernels take long to compile on first use.)
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from scipy.linalg import sqrtm

import soptim.ot as ot


def histogram(density):
    """Normalize a sampled density into masses.

    Cells below 1e-16 of the peak are set to zero: they change W2 by less than
    rounding, and SNS handles zero-mass cells exactly (it drops them), whereas
    masses near 1e-28 can currently make it stop early with ``success=False``.
    """
    a = np.where(density < 1e-16 * density.max(), 0.0, density)
    return a / a.sum()


# %%
# One dimension
# -------------
# Both Gaussians lie at least six standard deviations inside [0, 1], so cutting them
# off at the ends of the interval does not change W2 measurably.
m1, s1, m2, s2 = 0.3, 0.045, 0.62, 0.06
exact_1d = (m1 - m2) ** 2 + (s1 - s2) ** 2
sizes_1d = [16, 32, 64, 128, 256]
err_entropic_1d, err_small_1d, err_exact_1d = [], [], []
for n in sizes_1d:
    c = (np.arange(n) + 0.5) / n   # the grid wasserstein() assumes by default
    a = histogram(np.exp(-((c - m1) ** 2) / (2 * s1**2)))
    b = histogram(np.exp(-((c - m2) ** 2) / (2 * s2**2)))
    t0 = time.perf_counter()
    d, res = ot.wasserstein(a, b, p=2)
    t = time.perf_counter() - t0
    d_small, res_small = ot.wasserstein(a, b, p=2, reg=3e-4)
    w2_exact = ot.wasserstein_1d(c, c, a, b, p=2)   # W_2^2 of the discrete measures
    err_entropic_1d.append(abs(d**2 - exact_1d))
    err_small_1d.append(abs(d_small**2 - exact_1d))
    err_exact_1d.append(abs(w2_exact - exact_1d))
    print(f"1-D n={n:4d}: entropic W2^2 error {err_entropic_1d[-1]:.2e} "
          f"(success={res.success}, {res.nit} iterations, {t:.2f} s), "
          f"reg=3e-4: {err_small_1d[-1]:.2e} (success={res_small.success}), "
          f"exact discrete error {err_exact_1d[-1]:.2e}")

# %%
# Two dimensions
# --------------
# A correlated and an anticorrelated Gaussian on the unit square; n x n grids up to
# 24 x 24, i.e. cost matrices up to 576 x 576.
m1v, S1 = np.array([0.38, 0.4]), np.array([[0.005, 0.002], [0.002, 0.003]])
m2v, S2 = np.array([0.6, 0.62]), np.array([[0.0025, -0.001], [-0.001, 0.006]])
root = sqrtm(S2)
exact_2d = np.sum((m1v - m2v) ** 2) + np.trace(S1 + S2 - 2 * np.real(sqrtm(root @ S1 @ root)))


def gaussian(m, S, X):
    d = X - m
    return np.exp(-0.5 * np.einsum("...i,ij,...j->...", d, np.linalg.inv(S), d))


sizes_2d = [8, 12, 16, 20, 24]
err_entropic_2d, err_small_2d = [], []
for n in sizes_2d:
    c = (np.arange(n) + 0.5) / n
    X = np.stack(np.meshgrid(c, c, indexing="ij"), axis=-1)
    a, b = histogram(gaussian(m1v, S1, X)), histogram(gaussian(m2v, S2, X))
    t0 = time.perf_counter()
    d, res = ot.wasserstein(a, b, p=2)   # (n, n) histograms on the default grid
    t = time.perf_counter() - t0
    d_small, res_small = ot.wasserstein(a, b, p=2, reg=3e-4)
    err_entropic_2d.append(abs(d**2 - exact_2d))
    err_small_2d.append(abs(d_small**2 - exact_2d))
    print(f"2-D n={n:2d}x{n}: entropic W2^2 error {err_entropic_2d[-1]:.2e} "
          f"(success={res.success}, {res.nit} iterations, {t:.2f} s), "
          f"reg=3e-4: {err_small_2d[-1]:.2e} (success={res_small.success}, "
          f"{res_small.nit} iterations)")
print(f"closed forms: W2^2 = {exact_1d:.6f} (1-D), {exact_2d:.6f} (2-D)")

# %%
# Errors against the grid size
# ----------------------------
# The dotted line is the slope h^2 of the discretization error.
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
axes[0].imshow((a - b).T, origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r")
axes[0].set_title("2-D densities: a (red) and b (blue)")
for ax, sizes, ent, small, exa, dim in (
        (axes[1], sizes_1d, err_entropic_1d, err_small_1d, err_exact_1d, "1-D"),
        (axes[2], sizes_2d, err_entropic_2d, err_small_2d, None, "2-D")):
    sizes = np.asarray(sizes, float)
    ax.loglog(sizes, ent, "o-", label="entropic, reg=1e-3 (default)")
    ax.loglog(sizes, small, "^-", label="entropic, reg=3e-4")
    ref = small[0] if exa is None else exa[0]
    if exa is not None:
        ax.loglog(sizes, exa, "s-", label="exact discrete")
    ax.loglog(sizes, ref * (sizes[0] / sizes) ** 2, "k:", label="slope h^2")
    ax.set_xticks(sizes, [str(int(s)) for s in sizes], minor=False)
    ax.set_xticks([], minor=True)
    ax.set_xlabel("cells per axis")
    ax.set_ylabel("|W2^2 - closed form|")
    ax.set_title(f"{dim} Gaussians")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
