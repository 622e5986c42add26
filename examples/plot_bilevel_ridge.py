r"""
Bilevel selection of a ridge penalty
====================================

Choosing a regularization weight by validation is a bilevel problem: the
lower level fits the weights :math:`y` on the training set for a given penalty
:math:`x`, the upper level scores the fit on held-out data,

.. math::

    \min_{x \in [0, 10]} \; \frac{1}{2 N_v} \|A_v y - b_v\|^2
    \quad \text{s.t.} \quad
    y \in \arg\min_{y'} \frac{1}{2 N} \|A y' - b\|^2 + \frac{x}{2} \|y'\|^2 .

:func:`soptim.bilevel.minimize` (LV-HBA) solves it with first derivatives only:
no Hessian of the lower level and no implicit differentiation, but a penalty on
the gap between the lower-level objective and its (proximal) value function.
Its ``lower_gap`` certifies that the returned :math:`y` solves the lower
level. For one hyperparameter, the answer can be checked against a fine grid
of closed-form ridge solutions, which this example draws.
"""

import time

import matplotlib.pyplot as plt
import numpy as np

import soptim.bilevel as bilevel

# %%
# Data: a sparse planted model with noise
# ---------------------------------------
# Few training samples (25) for 15 weights, so the penalty matters.
rng = np.random.default_rng(0)
d, n_train, n_val = 15, 25, 200
w_true = rng.standard_normal(d) * (rng.random(d) < 0.5)
A = rng.standard_normal((n_train, d))
b = A @ w_true + rng.standard_normal(n_train)
Av = rng.standard_normal((n_val, d))
bv = Av @ w_true + rng.standard_normal(n_val)


# %%
# Upper and lower objectives with their gradients
# -----------------------------------------------
# Each gradient function returns the pair (gradient in x, gradient in y).
def F(x, y):
    r = Av @ y - bv
    return 0.5 * (r @ r) / n_val


def jac_F(x, y):
    return np.zeros(1), Av.T @ (Av @ y - bv) / n_val


def f(x, y):
    r = A @ y - b
    return 0.5 * (r @ r) / n_train + 0.5 * x[0] * (y @ y)


def jac_f(x, y):
    return np.array([0.5 * (y @ y)]), A.T @ (A @ y - b) / n_train + x[0] * y


t0 = time.perf_counter()
res = bilevel.minimize(F, f, np.array([1.0]), np.zeros(d), jac_F=jac_F, jac_f=jac_f,
                       bounds_x=[(0.0, 10.0)])
elapsed = time.perf_counter() - t0
print(res.message)
print(f"LV-HBA: lambda = {res.x[0]:.5f}, validation loss {res.fun:.6f}, "
      f"{res.nit} iterations, lower-level gap {res.lower_gap:.1e}, {elapsed:.1f} s")

# %%
# The reference: validation loss of the exact ridge fit on a grid
# ---------------------------------------------------------------
def ridge(lam):
    return np.linalg.solve(A.T @ A / n_train + lam * np.eye(d), A.T @ b / n_train)


lams = np.logspace(-4, 1, 2000)
val = np.array([F(None, ridge(lam)) for lam in lams])
best = np.argmin(val)
print(f"grid: best lambda = {lams[best]:.5f}, validation loss {val[best]:.6f}")
# LV-HBA's y solves the lower level up to its penalty (gap 1e-11, distance ~1e-5), so
# its reported validation loss can be a hair below the exact fit's at the same lambda.
print(f"LV-HBA's y against the exact ridge fit at its lambda: max difference "
      f"{np.abs(res.y - ridge(res.x[0])).max():.1e}; validation loss of that exact fit "
      f"{F(None, ridge(res.x[0])):.6f}")

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax.semilogx(lams, val, label="validation loss of the ridge fit")
ax.semilogx(res.x[0], F(None, ridge(res.x[0])), "*", color="tab:red", ms=14,
            label=f"LV-HBA: lambda = {res.x[0]:.4f}")
ax.axvline(lams[best], color="k", lw=0.6, ls=":", label=f"grid best: {lams[best]:.4f}")
ax.set_xlabel("ridge penalty lambda")
ax.set_ylabel("validation loss")
ax.legend(fontsize=8)
ax.grid(True, which="major", alpha=0.3)

# The weights: LV-HBA's lower-level solution, the exact ridge fit at the grid's best
# penalty, the unpenalized least-squares fit and the planted model.
idx = np.arange(d)
ax2.plot(idx, w_true, "ks", mfc="none", label="planted weights")
ax2.plot(idx, ridge(0.0), "x", color="0.5", label="least squares (lambda = 0)")
ax2.plot(idx, ridge(lams[best]), "o", color="tab:blue", mfc="none", ms=8,
         label="ridge at the grid's best lambda")
ax2.plot(idx, res.y, ".", color="tab:red", label="LV-HBA's y")
ax2.set_xlabel("weight index")
ax2.legend(fontsize=8)
ax2.grid(True, alpha=0.3)
fig.tight_layout()
plt.show()
