r"""
The transport plan between two digit images
===========================================

A grey-level image is a distribution of mass over its pixels. Optimal transport
moves the ink of one digit onto another at the least total cost
:math:`\sum_{ij} P_{ij} \|x_i - y_j\|^2`, and the plan :math:`P` says where each
pixel's ink goes. The images here are drawn by matplotlib's own text renderer (no
data set to download): a "2" and a "5" on a 28 x 28 grid.

:func:`soptim.ot.solve` computes the entropic plan at a small regularization
:math:`\varepsilon`, whose cost exceeds the exact optimal cost by at most
:math:`\varepsilon \log(n m)`. The displacement interpolation, each piece of ink
moved a fraction :math:`t` of the way along its path, shows the morph that
optimal transport defines between the two shapes.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import soptim.ot as ot

SIZE = 28


def glyph(char, size=SIZE, oversample=4):
    """Rasterize one character to a (size, size) array of ink in [0, 1]."""
    fig = Figure(figsize=(1, 1), dpi=size * oversample)
    FigureCanvasAgg(fig)
    fig.text(0.5, 0.42, char, fontsize=62, ha="center", va="center",
             family="DejaVu Sans", weight="bold")
    fig.canvas.draw()
    ink = 1.0 - np.asarray(fig.canvas.buffer_rgba())[..., 0] / 255.0
    # average the oversampled pixels: anti-aliased grey levels on the coarse grid
    return ink.reshape(size, oversample, size, oversample).mean(axis=(1, 3))


# %%
# Images, supports and masses
# ---------------------------
# Only pixels with ink take part (the cost matrix is then a few hundred squared,
# not 784 squared). Coordinates are in units of the image width, y pointing up.
img_a, img_b = glyph("2"), glyph("5")


def support(img, threshold=0.05):
    rows, cols = np.nonzero(img > threshold)
    pts = np.c_[cols + 0.5, SIZE - rows - 0.5] / SIZE
    mass = img[rows, cols]
    return pts, mass / mass.sum()


xa, a = support(img_a)
xb, b = support(img_b)
print(f"source: {xa.shape[0]} pixels with ink, target: {xb.shape[0]}")

M = ot.dist(xa, xb)  # squared Euclidean distances

# %%
# The entropic plan
# -----------------
# ``reg`` is absolute here: 1e-4 is small against the costs (up to about 0.6), so
# the entropic plan is close to the exact one. (:func:`soptim.ot.emd2` gives the
# exact cost; it is left out here because its kernels take long to compile on
# first use.)
reg = 1e-4
res = ot.solve(M, a, b, reg=reg)
print(res.message)
print(f"SNS: {res.n_sinkhorn} Sinkhorn sweeps + {res.n_newton} Newton steps")
print(f"transport cost <M, P> = {res.cost:.6f}; the exact optimum is at most "
      f"reg log(nm) = {reg * np.log(M.size):.1e} lower")
P = res.plan

# %%
# Drawing the plan
# ----------------
# Left: the two images. Middle: each source pixel joined to the barycenter of where
# its ink goes (``P y / a``). Right: the displacement interpolation at three times,
# each plan entry's ink placed at ``(1 - t) x_i + t y_j`` (entries below 1e-6 of
# the largest one are skipped; they hold a negligible part of the mass).
fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
axes[0].imshow(np.dstack([1 - img_b, 1 - np.maximum(img_a, img_b), 1 - img_a]),
               extent=(0, 1, 0, 1))
axes[0].set_title("source '2' (red), target '5' (blue)")

target_of = (P @ xb) / a[:, None]
axes[1].scatter(*xa.T, s=4, c="tab:red")
axes[1].scatter(*xb.T, s=4, c="tab:blue")
for p, q in zip(xa[::2], target_of[::2]):
    axes[1].annotate("", q, p, arrowprops=dict(arrowstyle="->", lw=0.5, color="0.3"))
axes[1].set_title("where each pixel's ink goes")

i, j = np.nonzero(P > 1e-6 * P.max())
kept = P[i, j].sum()
for ax, t in zip(axes[2:], (1 / 3, 2 / 3)):
    pts = (1 - t) * xa[i] + t * xb[j]
    hist, _, _ = np.histogram2d(pts[:, 1], pts[:, 0], bins=SIZE, range=[[0, 1], [0, 1]],
                                weights=P[i, j])
    ax.imshow(hist[::-1], cmap="Greys", extent=(0, 1, 0, 1))
    ax.set_title(f"interpolation t = {t:.2f}")
print(f"the interpolation frames hold {kept:.6f} of the mass")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
fig.tight_layout()
plt.show()
