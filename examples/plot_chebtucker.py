r"""
Chebyshev-Tucker approximation: slices and error against degree
===============================================================

:class:`soptim.approx.ChebTucker` approximates a smooth function of several
variables on a box by a product Chebyshev interpolant whose coefficient tensor
is compressed to Tucker form (a small core and a few univariate polynomials per
axis), following Benner, Khoromskij, Khoromskaia and Sun (2025). For an
analytic function the error falls geometrically with the degree, while the
Tucker ranks stay well below the number of coefficients per axis.

This example fits

.. math::

    f(x, y, z) = \frac{e^{-(x^2 + 2 y^2 + z^2 / 2)} \cos(3 x + y z)}{1.2 + x y}

on :math:`[-1, 1]^3` at fixed degrees, measures the maximum error on 20,000
random points, and then lets the adaptive fit choose the degree for a
tolerance of :math:`10^{-10}`.
"""

import time

import matplotlib.pyplot as plt
import numpy as np

from soptim.approx import ChebTucker


def f(x, y, z):
    return np.exp(-(x**2 + 2 * y**2 + 0.5 * z**2)) * np.cos(3 * x + y * z) / (1.2 + x * y)


box = [(-1.0, 1.0)] * 3
rng = np.random.default_rng(0)
pts = rng.uniform(-1.0, 1.0, size=(3, 20_000))
f_pts = f(*pts)

# %%
# Error against the degree
# ------------------------
# ``tol=1e-14`` here only sets the truncation of the Tucker compression (the degree is
# fixed), so the error is that of the interpolant itself; every fit here samples the
# full grid of (degree + 1)^3 Chebyshev points.
degrees = [4, 6, 8, 12, 16, 20, 24, 28, 32, 36]
errors, ranks = [], []
for m in degrees:
    ct = ChebTucker.fit(f, box, degree=m, tol=1e-14)
    errors.append(np.abs(ct(*pts) - f_pts).max())
    ranks.append(ct.ranks)
    print(f"degree {m:2d}: Tucker ranks {ct.ranks}, {ct.method} sampling, "
          f"{ct.n_evaluations:6d} samples, "
          f"max error {errors[-1]:.1e}")

t0 = time.perf_counter()
auto = ChebTucker.fit(f, box, tol=1e-10)
elapsed = time.perf_counter() - t0
auto_err = np.abs(auto(*pts) - f_pts).max()
print(f"adaptive, tol=1e-10: {auto.method} sampling, degrees {auto.degrees}, ranks "
      f"{auto.ranks}, {auto.n_evaluations} samples, converged={auto.converged}, "
      f"estimated error {auto.error_estimate:.1e}, measured {auto_err:.1e}, {elapsed:.2f} s")

# %%
# Slices and the error curve
# --------------------------
# Top row: the slice z = 0.3 of f, of the degree-12 approximant and their difference
# (evaluated on a 200 x 200 grid through ``on_grid``, which keeps the Tucker format).
ct12 = ChebTucker.fit(f, box, degree=12, tol=1e-14)
g = np.linspace(-1, 1, 200)
approx_slice = ct12.on_grid(g, g, np.array([0.3])).full()[:, :, 0]
exact_slice = f(g[:, None], g[None, :], 0.3)

fig = plt.figure(figsize=(12, 7.5))
for k, (img, title) in enumerate([(exact_slice, "f(x, y, 0.3)"),
                                  (approx_slice, "degree-12 ChebTucker"),
                                  (approx_slice - exact_slice, "difference")]):
    ax = fig.add_subplot(2, 3, k + 1)
    im = ax.imshow(img.T, origin="lower", extent=(-1, 1, -1, 1),
                   cmap="RdBu_r" if k == 2 else "viridis")
    ax.set_title(title)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    fig.colorbar(im, ax=ax, shrink=0.8)

ax = fig.add_subplot(2, 1, 2)
ax.semilogy(degrees, errors, "o-", label="fixed degree: max error on random points")
for m, e, r in zip(degrees, errors, ranks):
    ax.annotate(f"ranks {r}", (m, e), textcoords="offset points", xytext=(4, 4), fontsize=7)
ax.semilogy(max(auto.degrees), auto_err, "r*", ms=12,
            label=f"adaptive, tol=1e-10: degrees {auto.degrees}")
ax.axhline(1e-10 * np.abs(f_pts).max(), color="r", lw=0.5, ls=":")
ax.set_xlabel("degree per axis")
ax.set_ylabel("max |ChebTucker - f|")
ax.grid(True, which="major", alpha=0.3)
ax.legend()
fig.tight_layout()
plt.show()
