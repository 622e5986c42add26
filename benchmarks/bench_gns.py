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

Peers (classes MGH and Logistic, ``python benchmarks/bench_gns.py mgh logistic``):
MGH: every problem of :mod:`soptim.optimize._mgh` from the standard start and
10x / 100x further, ``f = ||r||^2`` with exact gradients (complex step) and
central-difference Hessians; a method solves an instance when it ends with
``f <= f* + 1e-4 max(1, f*)`` (f* from Moré, Garbow and Hillstrom). Totals
of solved instances, iterations, evaluations of f and time, against
trust-exact, trust-krylov and Newton-CG with the same oracles (Hessian-vector
products of the same Hessian for the matrix-free ones), gtol 1e-6, maxiter 2000.

One command prints each table (run from the repository root):
``python -m benchmarks.bench_gns mgh`` (full, minutes), ``... mgh-quick``
(maxiter 300, under 5 minutes on a 2-core VM), ``... logistic``; ``-v``
adds one line per instance.

Logistic: L2 logistic regression ``mean(log-loss) + alpha ||w||^2 / 2`` to a
gradient of 1e-8, against scikit-learn's ``LogisticRegression(solver=
'newton-cholesky')`` on the same objective (``C = 1 / (N alpha)``, no
intercept, ``tol = 1e-8`` on its max-norm of the same gradient), trust-exact
and L-BFGS-B. Each benchmark skips a peer that is not installed.
"""

import sys
import time
import warnings

import numpy as np
import scipy.optimize
from scipy.optimize import rosen, rosen_der, rosen_hess, rosen_hess_prod

import soptim
from soptim.optimize._gns_examples import breast_cancer_logistic, synthetic_logistic
from soptim.optimize._mgh import instances

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


MGH_METHODS = ["gns", "trust-exact", "trust-krylov", "Newton-CG"]
LOGISTIC_METHODS = ["gns", "newton-cholesky", "trust-exact", "L-BFGS-B"]
GTOL_MGH = 1e-6
GTOL_LOGISTIC = 1e-8


def _mgh_one(method, p, x0, maxiter=2000):
    """(solved, nit, nfev, seconds) of one method on one instance."""
    kw = dict(jac=p.grad, options={"gtol": GTOL_MGH, "maxiter": maxiter})
    if method in ("gns", "trust-exact"):
        kw["hess"] = p.hess
    else:
        cache = {}

        def hessp(x, v):  # products of the same central-difference Hessian
            key = x.tobytes()
            if key not in cache:
                cache.clear()
                cache[key] = p.hess(x)
            return cache[key] @ v
        kw["hessp"] = hessp
    if method == "Newton-CG":
        kw["options"] = {"xtol": 1e-14, "maxiter": maxiter}
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            res = soptim.minimize(p.fun, x0, method=method, **kw)
    except (ValueError, np.linalg.LinAlgError, OverflowError):
        return False, 0, 0, time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    solved = bool(np.isfinite(res.fun) and res.fun <= p.fstar + 1e-4 * max(1.0, p.fstar))
    return solved, res.nit, res.nfev, seconds


def mgh_totals(method, maxiter=2000):
    """Totals over every instance: (solved, instances, iterations, evaluations, seconds)."""
    solved = nit = nfev = 0
    seconds = 0.0
    cases = instances()
    for _, p, x0 in cases:
        s, k, e, t = _mgh_one(method, p, x0, maxiter)
        solved += s
        nit += k
        nfev += e
        seconds += t
    return solved, len(cases), nit, nfev, seconds


def mgh_table(maxiter=2000, rounds=1, methods=MGH_METHODS, verbose=False):
    """Totals per method, the methods interleaved instance by instance.

    Each instance runs every method once per round (so a noisy moment of a
    shared machine hits all of them alike); its time is the best of the
    rounds. Returns ``{method: (solved, instances, nit, nfev, seconds)}``.
    """
    cases = instances()
    totals = {m: [0, len(cases), 0, 0, 0.0] for m in methods}
    for label, p, x0 in cases:
        best = {}
        for _ in range(rounds):
            for m in methods:
                s, k, e, t = _mgh_one(m, p, x0, maxiter)
                best[m] = (s, k, e, min(t, best[m][3]) if m in best else t)
        for m in methods:
            s, k, e, t = best[m]
            row = totals[m]
            row[0] += s
            row[2] += k
            row[3] += e
            row[4] += t
            if verbose:
                print(f"  {label:42s} {m:13s} {'solved' if s else 'FAILED':6s} nit={k:5d} "
                      f"t={t:6.2f} s", flush=True)
    return {m: tuple(v) for m, v in totals.items()}


def _logistic_problem(name):
    if name == "synthetic":  # N = 20,000, d = 200, feature scales 1 ... 1e-3
        return synthetic_logistic(20_000, 200, cond_exponent=3, alpha=1e-6)
    return breast_cancer_logistic(alpha=1e-3)


def logistic_solve(p, method):
    """Solve; return (x, iterations, seconds)."""
    t0 = time.perf_counter()
    if method == "newton-cholesky":
        from sklearn.linear_model import LogisticRegression

        N = p["X"].shape[0]
        clf = LogisticRegression(solver="newton-cholesky", C=1.0 / (N * p["alpha"]),
                                 fit_intercept=False, tol=GTOL_LOGISTIC, max_iter=1000)
        clf.fit(p["X"], p["y"])
        return clf.coef_.ravel(), int(clf.n_iter_[0]), time.perf_counter() - t0
    if method == "gns":
        res = soptim.minimize(p["fg"], p["x0"], method="gns", jac=True, hess=p["hess"],
                              tol=GTOL_LOGISTIC)
    elif method == "trust-exact":
        res = scipy.optimize.minimize(p["fg"], p["x0"], method="trust-exact", jac=True,
                                      hess=p["hess"], options={"gtol": GTOL_LOGISTIC})
    else:
        res = scipy.optimize.minimize(p["fg"], p["x0"], method="L-BFGS-B", jac=True,
                                      options={"gtol": GTOL_LOGISTIC, "ftol": 0.0,
                                               "maxiter": 100_000, "maxfun": 100_000})
    return res.x, res.nit, time.perf_counter() - t0


def _have_sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


class MGH:
    """MGH totals (solved instances, iterations, evaluations, time) per method."""

    params = [MGH_METHODS]
    param_names = ["method"]
    timeout = 900
    number = 1
    repeat = 1

    def time_all_instances(self, method):
        mgh_totals(method)

    def track_solved(self, method):
        return mgh_totals(method)[0]

    def track_iterations(self, method):
        return mgh_totals(method)[2]


class Logistic:
    """Logistic regression to ||g|| <= 1e-8 against scikit-learn's newton-cholesky."""

    params = [["synthetic", "breast-cancer"], LOGISTIC_METHODS]
    param_names = ["problem", "method"]
    timeout = 600

    def setup(self, problem, method):
        if not _have_sklearn():
            raise NotImplementedError("scikit-learn is not installed")  # asv: skip
        self.p = _logistic_problem(problem)

    def time_to_gtol(self, problem, method):
        logistic_solve(self.p, method)

    def track_grad_norm(self, problem, method):
        x = logistic_solve(self.p, method)[0]
        return float(np.linalg.norm(self.p["fg"](x)[1]))


def _main_peers(which):
    if "logistic" in which and _have_sklearn():
        print(f"logistic: interleaved rounds, best of each; load: {_load()}", flush=True)
        for name, rounds in (("breast-cancer", 7), ("synthetic", 3)):
            p = _logistic_problem(name)
            best = dict.fromkeys(LOGISTIC_METHODS, float("inf"))
            info = {}
            for m in LOGISTIC_METHODS:  # warm-up
                logistic_solve(p, m)
            for _ in range(rounds):  # interleaved rounds, best of each
                for m in LOGISTIC_METHODS:
                    x, k, t = logistic_solve(p, m)
                    best[m] = min(best[m], t)
                    info[m] = (k, float(np.linalg.norm(p["fg"](x)[1])), p["fg"](x)[0])
            for m in LOGISTIC_METHODS:
                k, gn, f = info[m]
                print(f"logistic {name:13s} {m:16s} {best[m]:8.4f} s  nit={k:4d}  "
                      f"||g||={gn:.1e}  f={f:.12g}  time/gns={best[m] / best['gns']:.2f}",
                      flush=True)
    for part, maxiter in (("mgh", 2000), ("mgh-quick", 300)):
        if part not in which:
            continue
        print(f"{part}: maxiter={maxiter}, gtol={GTOL_MGH:g}; load: {_load()}", flush=True)
        table = mgh_table(maxiter=maxiter, verbose="-v" in which)
        t_gns = table["gns"][4]
        for m, (s, total, k, e, t) in table.items():
            print(f"MGH {m:13s} solved {s:3d}/{total}  nit={k:6d}  nfev={e:6d}  "
                  f"time={t:7.2f} s  time/gns={t / t_gns:5.2f}", flush=True)
        print(f"load after: {_load()}", flush=True)


def _load():
    """The 1/5/15-minute load averages (the timings are only as quiet as the machine)."""
    try:
        import os

        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except (OSError, AttributeError):
        return "n/a"


def _main_default():
    global _LOGISTIC
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


# python -m benchmarks.bench_gns [mgh | mgh-quick | logistic] [-v]
# mgh: the 57 instances x 4 methods at maxiter 2000 (minutes); mgh-quick: maxiter 300
# (under 5 minutes on a 2-core VM); logistic: against scikit-learn's newton-cholesky.
if __name__ == "__main__":
    if sys.argv[1:]:
        _main_peers(sys.argv[1:])
    else:
        _main_default()
