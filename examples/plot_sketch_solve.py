r"""
sketch_solve: residuals per sketch
==================================

:func:`soptim.linalg.sketch_solve` solves a consistent linear system
:math:`K z = r` by sketch-and-project: each step draws a random sketch
:math:`S` and projects the iterate onto the solutions of
:math:`S^T K z = S^T r`,

.. math::

    z \leftarrow z - K^T S (S^T K K^T S)^{+} S^T (K z - r) .

The sketches (``SKETCHES``) differ in what one step sees: ``'kaczmarz'`` one
row (sampled by squared norm), ``'block'`` a block of rows, ``'gaussian'`` a
few Gaussian combinations of all rows, ``'countsketch'`` a hashed, signed
compression of all rows. The default also combines the iterates of each sweep
to minimize the residual (``accel``, an Anderson-type extrapolation). The
residual history is not stored by the solver; each point below is a separate
run with the same seed stopped after ``maxiter`` steps (the iterates are
reproducible, so this traces one run).
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import OptimizeWarning

from soptim.linalg import SKETCHES, sketch_solve

# %%
# An overdetermined consistent system
# -----------------------------------
# 150 equations in 50 unknowns, singular values from 1 down to 0.2, and a right-hand
# side in the range of K, so the least-squares solution solves it exactly.
rng = np.random.default_rng(0)
m, n = 150, 50
U, _ = np.linalg.qr(rng.standard_normal((m, n)))
V, _ = np.linalg.qr(rng.standard_normal((n, n)))
K = U @ np.diag(np.logspace(0, -0.7, n)) @ V.T
z_true = rng.standard_normal(n)
r = K @ z_true

options = {"block": {"block_size": 15}, "kaczmarz": {}, "gaussian": {"block_size": 10},
           "countsketch": {}}
assert set(options) == set(SKETCHES)

# %%
# Solve to rtol = 1e-10 with every sketch, then trace the residual
# ----------------------------------------------------------------
traces = {}
for sketch in SKETCHES:
    opts = options[sketch]
    t0 = time.perf_counter()
    full = sketch_solve(K, r, sketch=sketch, rng=0, rtol=1e-10, **opts)
    elapsed = time.perf_counter() - t0
    print(f"{sketch:11s}: success={full.success}, {full.nit:5d} steps of size "
          f"{full.block_size}, relative residual {full.rel_residual:.1e}, "
          f"max error {np.abs(full.x - z_true).max():.1e}, {elapsed:.2f} s")
    steps = np.unique(np.geomspace(1, full.nit, 12).astype(int))
    res_k = []
    with warnings.catch_warnings():
        # the truncated runs stop at maxiter on purpose: no need for the warning
        warnings.simplefilter("ignore", OptimizeWarning)
        for k in steps:
            res_k.append(sketch_solve(K, r, sketch=sketch, rng=0, rtol=1e-10, maxiter=int(k),
                                      **opts).rel_residual)
    traces[sketch] = (steps, np.array(res_k), full.block_size)

# %%
# Relative residual against sketch steps and against rows seen
# ------------------------------------------------------------
# A block step of 15 rows does the work of 15 Kaczmarz steps; a Gaussian or
# CountSketch step reads all 150 rows. The right panel counts rows of K read.
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for sketch, (steps, res_k, bs) in traces.items():
    rows_per_step = bs if sketch in ("block", "kaczmarz") else m
    axes[0].loglog(steps, res_k, "o-", ms=3, label=f"{sketch} (size {bs})")
    axes[1].loglog(steps * rows_per_step, res_k, "o-", ms=3, label=sketch)
axes[0].set_xlabel("sketch steps")
axes[1].set_xlabel("rows of K read")
axes[0].set_ylabel("||K z - r|| / ||r||")
for ax in axes:
    ax.axhline(1e-10, color="k", lw=0.5)
    ax.grid(True, which="major", alpha=0.3)
axes[0].legend(fontsize=8)
fig.tight_layout()
plt.show()
