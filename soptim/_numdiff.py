"""Finite differences: gradients, Jacobians and Hessian-vector products, with scipy's steps.

The one finite-difference module of soptim (every solver that is not given
a derivative uses it). Conventions follow ``scipy.optimize.approx_derivative``:

* ``method='2-point'`` is the forward difference ``(f(x + h e_i) - f(x)) / h``,
  ``'3-point'`` the central difference ``(f(x + h e_i) - f(x - h e_i)) / 2h``;
* the step along coordinate ``i`` is ``h_i = rel_step * sign(x_i) * max(1, |x_i|)``
  (``sign(0) = 1``), with the default ``rel_step`` ``eps**(1/2)`` for 2-point and
  ``eps**(1/3)`` for 3-point, ``eps`` the machine epsilon of ``x``'s dtype;
* the step actually taken is ``(x_i + h_i) - x_i``, exactly representable, so
  rounding of ``x + h`` does not bias the quotient.

Directional differences for Hessian-vector products (``p -> H p`` from the
gradient) use the step ``rel_step * max(1, ||x||) / ||p||`` along ``p``, so the
perturbation has the relative size of a coordinate step.

Everything is written against the array backend of ``x``: the perturbed points
are arrays of that backend (no host copies), and the results are too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .backend import get_backend, to_numpy

__all__ = [
    "METHODS",
    "default_rel_step",
    "coordinate_steps",
    "approx_jacobian",
    "approx_gradient",
    "approx_hessp",
    "hessp_operator",
]

#: Finite-difference schemes (scipy's names).
METHODS = ("2-point", "3-point")


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"finite-difference method must be one of {METHODS}, got {method!r}")
    return method


def default_rel_step(method: str, dtype: Any = np.float64) -> float:
    """scipy's default relative step: ``eps**(1/2)`` (2-point) or ``eps**(1/3)`` (3-point).

    Examples
    --------
    >>> from soptim._numdiff import default_rel_step
    >>> round(default_rel_step('3-point') / 6.055454e-06, 6)
    1.0
    """
    _check_method(method)
    kind = np.dtype(dtype)
    eps = float(np.finfo(kind if kind.kind == "f" else np.float64).eps)
    return eps ** 0.5 if method == "2-point" else eps ** (1.0 / 3.0)


def coordinate_steps(x: Any, method: str = "3-point", rel_step: float | None = None) -> np.ndarray:
    """The signed coordinate steps ``h_i`` (a host array, exactly representable at ``x``).

    Examples
    --------
    >>> import numpy as np
    >>> from soptim._numdiff import coordinate_steps
    >>> h = coordinate_steps(np.array([0.0, -100.0]), '2-point', rel_step=1e-3)
    >>> h.tolist()
    [0.001, -0.1]
    """
    xh = np.asarray(to_numpy(x), dtype=np.float64).reshape(-1)
    rel = default_rel_step(method, x.dtype) if rel_step is None else float(rel_step)
    if not (np.isfinite(rel) and rel > 0):
        raise ValueError(f"finite_diff_rel_step must be > 0 and finite, got {rel_step!r}")
    sign = np.where(xh >= 0, 1.0, -1.0)
    h = rel * sign * np.maximum(1.0, np.abs(xh))
    return (xh + h) - xh


def approx_jacobian(fun: Callable, x: Any, *, method: str = "3-point",
                    rel_step: float | None = None, f0: Any = None) -> Any:
    """Dense Jacobian ``J[k, i] = d fun_k / d x_i`` by coordinate differences.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> array`` of shape (m,) (a scalar counts as m = 1), on the
        backend of ``x``.
    x : array, shape (n,)
    method : {'2-point', '3-point'}
    rel_step : float, optional
        Relative step; default scipy's (see the module notes).
    f0 : array, optional
        ``fun(x)`` if already known (saves a call with '2-point').

    Returns
    -------
    array, shape (m, n)
        On the backend of ``x``, in ``x``'s floating dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from soptim._numdiff import approx_jacobian
    >>> J = approx_jacobian(lambda x: np.array([x[0] * x[1], x[1] ** 2]), np.array([2.0, 3.0]))
    >>> np.allclose(J, [[3.0, 2.0], [0.0, 6.0]])
    True
    """
    _check_method(method)
    be = get_backend(x)
    xp = be.xp
    x = xp.asarray(x)
    h = coordinate_steps(x, method, rel_step)
    if method == "2-point" and f0 is None:
        f0 = fun(x)
    n = x.shape[0]
    if n == 0:
        m = 0 if f0 is None else int(xp.asarray(f0).size)
        return xp.zeros((m, 0), dtype=x.dtype)
    plus, minus = [], []
    e = x.copy()
    for i in range(n):
        xi = x[i]
        e[i] = xi + h[i]
        plus.append(_snapshot(fun(e), xp))
        if method == "3-point":
            e[i] = xi - h[i]
            minus.append(_snapshot(fun(e), xp))
        e[i] = xi
    # The values are differenced together at the end, where they live: a scalar function
    # returning host floats (the usual objective) gives one host array copied to the device
    # once, instead of 2n scalar copies and 2n tiny device operations.
    on_host = all(_is_host(v) for v in plus + minus)
    mod = np if on_host else xp
    P = mod.stack([mod.asarray(v, dtype=np.float64).reshape(-1) for v in plus], axis=1)
    hh = h if on_host else be.to_device(h)
    if method == "3-point":
        M = mod.stack([mod.asarray(v, dtype=np.float64).reshape(-1) for v in minus], axis=1)
        J = (P - M) / (2.0 * hh)
    else:
        base = to_numpy(f0) if on_host else f0
        J = (P - mod.asarray(base, dtype=np.float64).reshape(-1, 1)) / hh
    if on_host:
        J = be.to_device(J)
    return J.astype(x.dtype if x.dtype.kind == "f" else np.float64, copy=False)


def _is_host(v: Any) -> bool:
    """Whether a value returned by the differenced function lives in host memory."""
    return isinstance(v, (float, int, np.ndarray, np.generic))


def _snapshot(v: Any, xp: Any) -> Any:
    """A value of ``fun`` that later perturbations of its argument cannot change.

    Host scalars are kept as they are; arrays are copied (``fun`` may return
    (a view of) its argument, which the next step perturbs in place).
    """
    if isinstance(v, (float, int, np.generic)):
        return v
    if isinstance(v, np.ndarray):
        return np.array(v, copy=True)
    return xp.array(v, copy=True)


def approx_gradient(fun: Callable, x: Any, *, method: str = "3-point",
                    rel_step: float | None = None, f0: float | None = None) -> Any:
    """Gradient of a scalar ``fun`` by coordinate differences (a Jacobian with one row).

    Examples
    --------
    >>> import numpy as np
    >>> from soptim._numdiff import approx_gradient
    >>> g = approx_gradient(lambda x: float(x @ x), np.array([1.0, -2.0]))
    >>> np.allclose(g, [2.0, -4.0])
    True
    """
    return approx_jacobian(fun, x, method=method, rel_step=rel_step, f0=f0)[0]


def approx_hessp(grad: Callable, x: Any, p: Any, *, method: str = "3-point",
                 rel_step: float | None = None, g0: Any = None) -> Any:
    """``H(x) p`` as a directional difference of ``grad`` (or of any vector function).

    The step along ``p`` is ``rel_step * max(1, ||x||) / ||p||``; ``p = 0``
    gives zeros without calling ``grad``.

    Examples
    --------
    >>> import numpy as np
    >>> from soptim._numdiff import approx_hessp
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> np.allclose(approx_hessp(lambda x: A @ x, np.ones(2), np.array([1.0, 0.0])), [2.0, 1.0])
    True
    """
    _check_method(method)
    be = get_backend(x, p)
    xp = be.xp
    pn = be.norm(xp.asarray(p).reshape(-1))
    if pn == 0.0:
        return xp.zeros_like(x)
    rel = default_rel_step(method, x.dtype) if rel_step is None else float(rel_step)
    h = rel * max(1.0, be.norm(x.reshape(-1))) / pn
    if method == "3-point":
        return (xp.asarray(grad(x + h * p)) - xp.asarray(grad(x - h * p))) / (2.0 * h)
    if g0 is None:
        g0 = grad(x)
    return (xp.asarray(grad(x + h * p)) - xp.asarray(g0)) / h


def hessp_operator(grad: Callable, x: Any, *, method: str = "3-point",
                   rel_step: float | None = None, g0: Any = None) -> Callable:
    """The map ``p -> H(x) p`` by :func:`approx_hessp` at a fixed ``x``."""
    if method == "2-point" and g0 is None:
        g0 = grad(x)

    def hvp(p):
        return approx_hessp(grad, x, p, method=method, rel_step=rel_step, g0=g0)

    return hvp
