"""Method 'gns' against scipy's second-order methods and L-BFGS-B.

Time to a gradient norm of 1e-8 on
- L2-regularized logistic regression, synthetic, N = 20,000 samples, d = 200,
  ill-conditioned features (column scales from 1 to 1e-3);
- Rosenbrock, n = 100, from the classic start (-1.2, -1, -1.2, ...).

Every method gets the same oracles (a dense Hessian for 'gns' and
trust-exact, Hessian-vector products for Newton-CG, trust-krylov and
'gns-hessp'; 'gns-gauss-newton' uses the Gauss--Newton option). scipy's
methods are run with their own gradient tolerances at 1e-8 (Newton-CG has
none: ``xtol`` is set tiny so the gradient drives its stopping) and the
track_* benchmarks record the gradient norm each method actually reached.
"""

import numpy as np
import scipy.optimize
from scipy.optimize import rosen, rosen_der, rosen_hess, rosen_hess_prod

import soptim
from soptim.optimize._gns_examples import synthetic_logistic

GTOL = 1e-8


def _logistic(N=20_000, d=200, seed=0, alpha=1e-6):
    # feature scales 1 ... 1e-3: condition number of the features ~1e6
    return synthetic_logistic(N, d, cond_exponent=3, alpha=alpha, seed=seed)


def _rosen(n=100):
    x0 = np.full(n, -1.0)
    x0[::2] = -1.2
    return x0


def _solve(problem, method):
    """Run one method on one problem; return the OptimizeResult and the true gradient norm."""
    if problem == "logistic":
        p = _LOGISTIC
        fg, x0 = p["fg"], p["x0"]
        kw = dict(jac=True)
        hess, hessp = p["hess"], p["hessp"]
    else:
        x0 = _rosen()
        fg = rosen
        kw = dict(jac=rosen_der)
        hess, hessp = rosen_hess, rosen_hess_prod
    if method == "gns":
        res = soptim.minimize(fg, x0, method="gns", hess=hess, tol=GTOL, **kw)
    elif method == "gns-hessp":  # matrix-free: the oracle of Newton-CG and trust-krylov
        res = soptim.minimize(fg, x0, method="gns", hessp=hessp, tol=GTOL, **kw)
    elif method == "gns-gauss-newton":
        res = soptim.minimize(fg, x0, method="gns", tol=GTOL, options=dict(
            residuals=_LOGISTIC["gauss_newton"], hess_diag=_LOGISTIC["alpha"]), **kw)
    elif method == "Newton-CG":
        res = scipy.optimize.minimize(fg, x0, method=method, hessp=hessp,
                                      options=dict(xtol=1e-14, maxiter=10_000), **kw)
    elif method == "trust-exact":
        res = scipy.optimize.minimize(fg, x0, method=method, hess=hess,
                                      options=dict(gtol=GTOL), **kw)
    elif method == "trust-krylov":
        res = scipy.optimize.minimize(fg, x0, method=method, hessp=hessp,
                                      options=dict(gtol=GTOL), **kw)
    else:  # L-BFGS-B
        res = scipy.optimize.minimize(fg, x0, method="L-BFGS-B", options=dict(
            gtol=GTOL, ftol=0.0, maxiter=100_000, maxfun=100_000), **kw)
    x = res.x
    g = fg(x)[1] if problem == "logistic" else rosen_der(x)
    return res, float(np.linalg.norm(g))


_LOGISTIC = None
METHODS = ["gns", "Newton-CG", "trust-exact", "trust-krylov", "L-BFGS-B", "gns-hessp"]


class GNSLogistic:
    """Ill-conditioned logistic regression, N = 20,000, d = 200."""

    params = [METHODS + ["gns-gauss-newton"]]
    param_names = ["method"]
    timeout = 600
    number = 1
    repeat = 1

    def setup(self, method):
        global _LOGISTIC
        if _LOGISTIC is None:
            _LOGISTIC = _logistic()

    def time_to_gtol(self, method):
        _solve("logistic", method)

    def track_grad_norm(self, method):
        return _solve("logistic", method)[1]


class GNSRosenbrock:
    """Rosenbrock, n = 100."""

    params = [METHODS]
    param_names = ["method"]
    timeout = 300

    def time_to_gtol(self, method):
        _solve("rosenbrock", method)

    def track_grad_norm(self, method):
        return _solve("rosenbrock", method)[1]

    def track_x_error(self, method):
        return float(np.abs(_solve("rosenbrock", method)[0].x - 1.0).max())


if __name__ == "__main__":  # one run of everything: python benchmarks/bench_gns.py
    import time

    _LOGISTIC = _logistic()
    # Rosenbrock takes tens of milliseconds: a warm-up run, then the best of 7 rounds, each
    # round running every method once (interleaved, so a noisy moment hits all methods
    # alike); the logistic runs take seconds: one each.
    for problem, methods, repeat in (("rosenbrock", METHODS, 7),
                                     ("logistic", METHODS + ["gns-gauss-newton"], 1)):
        times = dict.fromkeys(methods, float("inf"))
        results = {}
        if repeat > 1:
            for m in methods:
                _solve(problem, m)
        for _ in range(repeat):
            for m in methods:
                t0 = time.perf_counter()
                results[m] = _solve(problem, m)
                times[m] = min(times[m], time.perf_counter() - t0)
        for m in methods:
            res, gn = results[m]
            print(f"{problem:11s} {m:17s} {times[m]:8.3f} s  nit={res.nit:5d}  "
                  f"||g||={gn:.1e}", flush=True)
        for m in methods[1:]:
            print(f"  time({m}) / time(gns) = {times[m] / times['gns']:.2f}")
