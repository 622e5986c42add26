r"""
sketched-alm on a PDE-constrained control problem
=================================================

The control problem of Hong, Na, Mahoney and Kolar (ICML 2023): find a state
:math:`W` on an :math:`N \times N` grid of the square :math:`(-1, 1)^2` close to a
target :math:`W^*`, driven by a control :math:`Z` through the Poisson equation,

.. math::

    \min_{W, Z} \frac{1}{2} \|W - W^*\|^2 + 0.05 \|Z\|^2
    \quad \text{s.t.} \quad \Delta_h W + Z = 0 ,

with :math:`\Delta_h` the 5-point Laplacian with zero boundary values
(:math:`h = 2/(N+1)`) and
:math:`W^*_{ij} = \sin(4 + a (i - \frac{N+1}{2})) + \cos(3 + a (j - \frac{N+1}{2}))`,
:math:`a = 0.1/\sqrt{15}`.

``soptim.minimize(..., method='sketched-alm')`` minimizes the exact augmented
Lagrangian by Newton steps whose KKT systems are solved by randomized sketching
or, when they fit, exactly. Here the Hessian is diagonal and the constraint
matrix sparse, so the default takes exact Newton steps by one sparse
factorization (the step of the paper's block sketch once it holds the whole
system); since the problem is a quadratic program, one Newton step solves it.
The problem is built here from its definition; the reference solution is an
independent sparse direct solve of the KKT system with scipy.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sps
import scipy.sparse.linalg as spla
from scipy.optimize import LinearConstraint

import soptim


def control_problem(N):
    """Objective, gradient, Hessian, constraint matrix [Lap_h, I] and target W*."""
    h = 2.0 / (N + 1)
    T = sps.diags([np.ones(N - 1), -2.0 * np.ones(N), np.ones(N - 1)], [-1, 0, 1])
    eye = sps.identity(N)
    lap = ((sps.kron(eye, T) + sps.kron(T, eye)) / h**2).tocsr()   # row-major grid
    i = np.arange(1, N + 1)
    a = 0.1 / np.sqrt(15.0)
    wstar = (np.sin(4 + a * (i[:, None] - (N + 1) / 2))
             + np.cos(3 + a * (i[None, :] - (N + 1) / 2))).ravel()
    n2 = N * N
    A = sps.hstack([lap, sps.identity(n2)], format="csr")
    H = sps.diags(np.r_[np.ones(n2), 0.1 * np.ones(n2)], format="csr")

    def fun(x):
        w, z = x[:n2], x[n2:]
        return 0.5 * float((w - wstar) @ (w - wstar)) + 0.05 * float(z @ z)

    def jac(x):
        return np.r_[x[:n2] - wstar, 0.1 * x[n2:]]

    return fun, jac, (lambda x: H), A, wstar


# %%
# Solve on grids of growing size
# ------------------------------
# The constraint is passed as scipy's ``LinearConstraint`` with equal bounds.
for N in (16, 32, 64):
    fun, jac, hess, A, wstar = control_problem(N)
    n2 = N * N
    t0 = time.perf_counter()
    res = soptim.minimize(fun, np.zeros(2 * n2), method="sketched-alm", jac=jac, hess=hess,
                          constraints=LinearConstraint(A, 0.0, 0.0), options={"rng": 0})
    elapsed = time.perf_counter() - t0
    # reference: the KKT system [[H, A^T], [A, 0]] (x, lam) = (-grad f(0), 0)
    K = sps.bmat([[hess(None), A.T], [A, None]], format="csc")
    ref = spla.spsolve(K, np.r_[wstar, np.zeros(n2), np.zeros(n2)])[: 2 * n2]
    err = np.abs(res.x - ref).max() / np.abs(ref).max()
    print(f"N={N:3d} (n={2 * n2}, m={n2}): success={res.success}, {res.nit} Newton "
          f"iteration(s), KKT residual {res.optimality:.1e}, "
          f"max error vs scipy's spsolve {err:.1e} (relative), {elapsed:.2f} s")

# %%
# State, target and control as images
# -----------------------------------
W, Z = res.x[:n2].reshape(N, N), res.x[n2:].reshape(N, N)
Wstar = wstar.reshape(N, N)
print(f"||W - W*|| / ||W*|| = {np.linalg.norm(W - Wstar) / np.linalg.norm(Wstar):.3f}; "
      f"constraint violation {np.abs(A @ res.x).max():.1e}")
fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
panels = [(Wstar, "target W*", "viridis"), (W, "state W", "viridis"),
          (W - Wstar, "W - W*", "RdBu_r"), (Z, "control Z = -Lap_h W", "RdBu_r")]
for ax, (img, title, cmap) in zip(axes, panels):
    lim = np.abs(img).max() if cmap == "RdBu_r" else None
    im = ax.imshow(img, extent=(-1, 1, -1, 1), origin="lower", cmap=cmap,
                   vmin=-lim if lim else None, vmax=lim)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.8)
# The control costs 0.05 ||Z||^2, which is large against the misfit here: the optimal
# state is a damped, smoothed copy of the target that vanishes on the boundary.
fig.suptitle(f"N = {N}: the control cost keeps W far from W* (relative distance "
             f"{np.linalg.norm(W - Wstar) / np.linalg.norm(Wstar):.2f})", fontsize=10)
fig.tight_layout()
plt.show()
