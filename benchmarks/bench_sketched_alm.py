"""Benchmarks of ``method='sketched-alm'`` against scipy's trust-constr and SLSQP.

- The PDE-constrained control problem of Hong et al. (ICML 2023),
  ``min 1/2||W - W*||^2 + 0.05||Z||^2 s.t. Lap_h W + Z = 0`` on an N x N grid
  (n = 2 N^2 variables, m = N^2 sparse constraints), time to a KKT residual
  of 1e-6, for N = 32, 64, 128. SLSQP is skipped at all three sizes: it works
  with dense n x n matrices (O(n^3) a step) and, measured on this problem at
  N = 16 (n = 512), already needs about 1000 iterations and minutes; at
  N >= 32 (n >= 2048) it is hopeless (the asv class skips it there).
  IPOPT (through casadi, exact Hessian, MUMPS) is a peer when casadi is
  installed (``pip install casadi``, the ``bench`` extra); skipped otherwise.
- COPS Elec (n_e electrons on the unit sphere, exact Hessians) for
  n_e = 20, 50, 100, 150, 200 against trust-constr: time to KKT residual 1e-8
  (trust-constr: its default gtol 1e-8; it stops on xtol at residuals 1e-8 to 1e-7)
  and the objective reached (a local minimum: the two may reach different ones).
- The total time over the twelve Hock–Schittkowski equality problems of
  ``/work/shared/reference/hs_equality.md`` (KKT residual 1e-8).

``python -m benchmarks.bench_sketched_alm [pde|elec|elec-large|hs|all]`` prints
the tables (contenders interleaved, best of several rounds, with the load
average): PDE N = 32, 64, 128 against IPOPT and trust-constr, Elec n_e = 20,
50, 100, 150, 200 (``elec-large``: 250, 300) against trust-constr, and the HS
totals.
"""

import os
import sys
import time
import warnings

import numpy as np
import scipy.optimize
from scipy.optimize import LinearConstraint

import soptim
from soptim.optimize._test_problems import (
    HS_PROBLEMS,
    elec_problem,
    hs_constraint,
    pde_control_problem,
)

PDE_TOL = 1e-6
SLSQP_MAX_N = 16  # SLSQP's dense QP subproblems make larger grids hopeless


def _pde_setup(N):
    prob = pde_control_problem(N)
    con = LinearConstraint(prob["A"], 0.0, 0.0)
    return prob, con


def solve_pde(method, prob, con):
    """Solve the PDE problem with ``method``; returns the OptimizeResult."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "sketched-alm":
            return soptim.minimize(prob["fun"], prob["x0"], method="sketched-alm",
                                   jac=prob["jac"], hess=prob["hess"], constraints=con,
                                   options={"tol": PDE_TOL, "rng": 0})
        if method == "trust-constr":
            return scipy.optimize.minimize(prob["fun"], prob["x0"], method="trust-constr",
                                           jac=prob["jac"], hess=prob["hess"],
                                           constraints=con,
                                           options={"gtol": PDE_TOL, "xtol": 1e-14,
                                                    "maxiter": 10000})
        if method == "ipopt":
            return solve_pde_ipopt(prob)
        return scipy.optimize.minimize(prob["fun"], prob["x0"], method="SLSQP",
                                       jac=prob["jac"], constraints=con,
                                       options={"ftol": 1e-10, "maxiter": 1000})


def _casadi():
    try:
        import casadi
    except ImportError:
        return None
    return casadi


def ipopt_pde_solver(prob):
    """IPOPT through casadi for the PDE problem (built once, outside the timing)."""
    ca = _casadi()
    n, m = prob["n"], prob["m"]
    A = prob["A"].tocsc()
    x = ca.MX.sym("x", n)
    As = ca.DM(ca.Sparsity(m, n, A.indptr.tolist(), A.indices.tolist()), A.data.tolist())
    n2 = m
    w, z = x[:n2], x[n2:]
    f = 0.5 * ca.sumsqr(w - ca.DM(prob["wstar"])) + 0.05 * ca.sumsqr(z)
    nlp = {"x": x, "f": f, "g": ca.mtimes(As, x)}
    return ca.nlpsol("pde", "ipopt", nlp, {
        "print_time": False, "ipopt.print_level": 0, "ipopt.tol": PDE_TOL,
        "ipopt.hessian_constant": "yes", "ipopt.jac_c_constant": "yes"})


def solve_pde_ipopt(prob, solver=None):
    """Solve with IPOPT; returns an OptimizeResult with x and v (trust-constr's sign)."""
    solver = solver or ipopt_pde_solver(prob)
    out = solver(x0=prob["x0"], lbg=0.0, ubg=0.0)
    x = np.asarray(out["x"]).ravel()
    lam = np.asarray(out["lam_g"]).ravel()
    return scipy.optimize.OptimizeResult(x=x, v=[lam], success=solver.stats()["success"])


def kkt_residual(prob, x, lam):
    """||(grad f + A^T lam, A x)||_2 (lam from a least-squares fit when not returned)."""
    A = prob["A"]
    g = prob["jac"](x)
    if lam is None:
        from scipy.sparse.linalg import lsqr

        lam = lsqr(A.T, -g, atol=1e-14, btol=1e-14, iter_lim=20000)[0]
    return float(np.hypot(np.linalg.norm(g + A.T @ lam), np.linalg.norm(A @ x)))


def solve_hs_all(method):
    """Solve the twelve HS problems from their published x0 with ``method``."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in HS_PROBLEMS.values():
            x0 = np.array(p.x0)
            if method == "sketched-alm":
                r = soptim.minimize(p.f, x0, method="sketched-alm", jac=p.g,
                                    constraints=hs_constraint(p), options={"rng": 0})
            elif method == "trust-constr":
                r = scipy.optimize.minimize(p.f, x0, method="trust-constr", jac=p.g,
                                            hess=scipy.optimize.BFGS(),
                                            constraints=hs_constraint(p),
                                            options={"gtol": 1e-8, "xtol": 1e-14,
                                                     "maxiter": 5000})
            else:
                r = scipy.optimize.minimize(p.f, x0, method="SLSQP", jac=p.g,
                                            constraints=hs_constraint(p),
                                            options={"ftol": 1e-14, "maxiter": 1000})
            out.append(r)
    return out


class PDEControl:
    """Time to KKT residual 1e-6 on the PDE-constrained control problem."""

    params = ([32, 64, 128], ["sketched-alm", "trust-constr", "SLSQP"])
    param_names = ["N", "method"]
    timeout = 600

    def setup(self, N, method):
        if method == "SLSQP" and N > SLSQP_MAX_N:
            raise NotImplementedError("SLSQP is dense O(n^3) per step: hopeless at this size")
        self.prob, self.con = _pde_setup(N)
        solve_pde("sketched-alm", *_pde_setup(8))  # warm numba/imports outside the timing

    def time_solve(self, N, method):
        solve_pde(method, self.prob, self.con)

    def track_kkt_residual(self, N, method):
        r = solve_pde(method, self.prob, self.con)
        return kkt_residual(self.prob, r.x, r.v[0] if "v" in r else None)

    track_kkt_residual.unit = "KKT residual"


class PDEControlIpopt:
    """IPOPT (casadi) on the PDE problem; skipped when casadi is missing."""

    params = [32, 64, 128]
    param_names = ["N"]
    timeout = 600

    def setup(self, N):
        if _casadi() is None:
            raise NotImplementedError("casadi is not installed (pip install casadi)")
        self.prob = pde_control_problem(N)
        self.solver = ipopt_pde_solver(self.prob)

    def time_solve(self, N):
        solve_pde_ipopt(self.prob, self.solver)


def solve_elec(method, P):
    """Elec with exact Hessians by ``method``; returns the OptimizeResult."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "sketched-alm":
            return soptim.minimize(P["fun"], P["x0"], method="sketched-alm", jac=P["jac"],
                                   hess=P["hess"], constraints=P["con"],
                                   options={"rng": 0, "maxiter": 500})
        return scipy.optimize.minimize(P["fun"], P["x0"], method="trust-constr", jac=P["jac"],
                                       hess=P["hess"], constraints=P["con"])


class Elec:
    """COPS Elec, exact Hessians: time and objective reached."""

    params = ([20, 50, 100, 150, 200], ["sketched-alm", "trust-constr"])
    param_names = ["ne", "method"]
    timeout = 600

    def setup(self, ne, method):
        self.P = elec_problem(ne)

    def time_solve(self, ne, method):
        solve_elec(method, self.P)

    def track_fun(self, ne, method):
        return float(solve_elec(method, self.P).fun)

    track_fun.unit = "objective"


class HockSchittkowski:
    """Total time over the twelve HS equality problems (KKT residual 1e-8)."""

    params = ["sketched-alm", "trust-constr", "SLSQP"]
    param_names = ["method"]

    def setup(self, method):
        solve_hs_all("sketched-alm")  # warm-up

    def time_total(self, method):
        solve_hs_all(method)

    def track_solved_to_1e6(self, method):
        n = 0
        for p, r in zip(HS_PROBLEMS.values(), solve_hs_all(method)):
            err = abs(r.fun - p.fstar) / (abs(p.fstar) if p.fstar else 1.0)
            n += bool(err <= (1e-6 if p.fstar else 1e-8))
        return n

    track_solved_to_1e6.unit = "problems"


def _timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def _load():
    try:
        a, b, c = os.getloadavg()
        return f"load average {a:.2f} {b:.2f} {c:.2f}"
    except OSError:  # pragma: no cover - platforms without getloadavg
        return "load average n/a"


def table_pde(sizes=(32, 64, 128), rounds=3):  # pragma: no cover - a manual measurement
    """PDE control: sketched-alm, IPOPT (casadi) and trust-constr, interleaved, best of rounds."""
    solve_pde("sketched-alm", *_pde_setup(8))  # imports outside the timing
    have_ipopt = _casadi() is not None
    print(f"PDE-constrained control, time to KKT residual {PDE_TOL:g} (s), best of {rounds} "
          f"interleaved rounds; {_load()}")
    print(f"{'N':>4} {'n':>6} {'m':>6} {'ours':>8} {'nit':>4} {'kkt':>8} {'IPOPT':>8} "
          f"{'trust-c':>8} {'ipopt/ours':>10} {'tc/ours':>8}")
    for N in sizes:
        prob, con = _pde_setup(N)
        solver = ipopt_pde_solver(prob) if have_ipopt else None
        t_o, t_ip, t_tc = [], [], []
        for k in range(rounds):
            t, r_o = _timed(solve_pde, "sketched-alm", prob, con)
            t_o.append(t)
            if solver is not None:
                t_ip.append(_timed(solve_pde_ipopt, prob, solver)[0])
            if N <= 64 or k == 0:  # trust-constr takes minutes at N = 128: one round
                t_tc.append(_timed(solve_pde, "trust-constr", prob, con)[0])
        ip = min(t_ip) if t_ip else float("nan")
        tc = min(t_tc)
        print(f"{N:>4} {prob['n']:>6} {prob['m']:>6} {min(t_o):>8.3f} {r_o.nit:>4} "
              f"{kkt_residual(prob, r_o.x, r_o.v[0]):>8.1e} {ip:>8.3f} {tc:>8.3f} "
              f"{ip / min(t_o):>10.2f} {tc / min(t_o):>8.2f}", flush=True)
    if not have_ipopt:
        print("(IPOPT skipped: casadi is not installed; pip install casadi)")


def table_elec(sizes=(20, 50, 100, 150, 200), rounds=2):  # pragma: no cover - manual
    """Elec with exact Hessians: sketched-alm against trust-constr, interleaved."""
    print(f"Elec (COPS, exact Hessians), best of {rounds} interleaved rounds; {_load()}")
    print(f"{'ne':>4} {'ours s':>8} {'nit':>4} {'ok':>3} {'f ours':>14} {'tc s':>8} {'nit':>4} "
          f"{'f trust-constr':>14} {'tc opt':>8} {'tc/ours':>8}")
    for ne in sizes:
        P = elec_problem(ne)
        t_o, t_tc = [], []
        for _ in range(rounds):
            t, r_o = _timed(solve_elec, "sketched-alm", P)
            t_o.append(t)
            t, r_tc = _timed(solve_elec, "trust-constr", P)
            t_tc.append(t)
        print(f"{ne:>4} {min(t_o):>8.2f} {r_o.nit:>4} {'y' if r_o.success else 'n':>3} "
              f"{r_o.fun:>14.6f} {min(t_tc):>8.2f} {r_tc.nit:>4} {r_tc.fun:>14.6f} "
              f"{r_tc.optimality:>8.1e} {min(t_tc) / min(t_o):>8.2f}", flush=True)


def table_hs():  # pragma: no cover - a manual measurement
    """Hock-Schittkowski: total time over the twelve problems and how many reach f*."""
    solve_hs_all("sketched-alm")
    print(f"Hock-Schittkowski, total over 12 problems (s); {_load()}")
    for method in ("sketched-alm", "trust-constr", "SLSQP"):
        t, res = _timed(solve_hs_all, method)
        ok = sum(abs(r.fun - p.fstar) <= 1e-6 * max(abs(p.fstar), 1e-2)
                 for p, r in zip(HS_PROBLEMS.values(), res))
        print(f"{method:>13}: {t:.3f} s, {ok}/12 at the published f*")


def main(argv=None):  # pragma: no cover - a manual, one-run measurement
    """``python -m benchmarks.bench_sketched_alm [pde|elec|elec-large|hs|all]``."""
    part = (argv if argv is not None else sys.argv[1:] or ["all"])[0]
    if part in ("pde", "all"):
        table_pde()
    if part in ("elec", "all"):
        table_elec()
    if part == "elec-large":
        table_elec((250, 300), rounds=1)
    if part in ("hs", "all"):
        table_hs()


if __name__ == "__main__":
    main()
