"""Problems with known answers for method 'gns', shared by the tests, the demo and the
benchmarks."""

import numpy as np
import scipy.sparse as sps
from scipy.special import expit, logsumexp, softmax


def logsumexp_problem(m=200, n=100, mu=0.1, seed=0):
    """``f(x) = mu log sum_i exp((a_i^T x - b_i)/mu)`` with known minimizer x* = 0.

    The rows are shifted by ``A^T softmax(-b/mu)`` so that grad f(0) = 0 (the
    construction used by Doikov and Nesterov); with m > n the shifted A has
    full column rank, hence x* = 0 is the unique minimizer and
    ``f* = mu logsumexp(-b/mu)``.
    """
    rng = np.random.default_rng(seed)
    A = rng.uniform(-1, 1, (m, n))
    b = rng.uniform(-1, 1, m)
    A = A - np.outer(np.ones(m), A.T @ softmax(-b / mu))
    fstar = mu * logsumexp(-b / mu)

    def fg(x):
        z = (A @ x - b) / mu
        return mu * logsumexp(z), A.T @ softmax(z)

    def hess(x):
        p = softmax((A @ x - b) / mu)
        g = A.T @ p
        return (A.T @ (A * p[:, None]) - np.outer(g, g)) / mu

    def gauss_newton(x):  # weighted Gauss-Newton: drops the -g g^T / mu term
        return A, softmax((A @ x - b) / mu) / mu

    return fg, hess, gauss_newton, fstar


def quartic_problem(m=400, n=100, seed=0):
    """``f(x) = ||Ax - b||^4 / 4`` with consistent ``b = A x*``: f* = 0 at x*."""
    rng = np.random.default_rng(seed)
    A = rng.uniform(-1, 1, (m, n))
    xstar = rng.standard_normal(n)
    b = A @ xstar

    def fg(x):
        r = A @ x - b
        s = r @ r
        return 0.25 * s * s, s * (A.T @ r)

    def hess(x):
        r = A @ x - b
        g = A.T @ r
        return (r @ r) * (A.T @ A) + 2.0 * np.outer(g, g)

    def fisher_term(x):  # the rank-one term 2 (A^T r)(A^T r)^T as one "sample gradient"
        r = A @ x - b
        return np.sqrt(2.0) * (A.T @ r)[None, :]

    return fg, hess, fisher_term, xstar


def breast_cancer_logistic(alpha=1e-3):
    """L2-regularized logistic regression on the standardized breast-cancer data."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    X = np.hstack([X, np.ones((X.shape[0], 1))])
    return logistic_problem(X, y.astype(float), alpha)


def synthetic_logistic(N, d, cond_exponent, alpha, seed=0):
    """Logistic regression on Gaussian features with column scales ``1 ... 10**-cond_exponent``.

    The labels follow a planted model, so the problem is ill-conditioned (the
    feature covariance has condition number ``10**(2 cond_exponent)``) but has
    a well-defined optimum.
    """
    rng = np.random.default_rng(seed)
    scales = np.logspace(0, -cond_exponent, d)
    X = rng.standard_normal((N, d)) * scales
    w_true = rng.standard_normal(d) / scales / np.sqrt(d)
    y = (rng.random(N) < expit(X @ w_true)).astype(float)
    return logistic_problem(X, y, alpha)


def logistic_problem(X, y, alpha):
    """``f(w) = mean(log(1 + exp(x_i^T w)) - y_i x_i^T w) + alpha ||w||^2 / 2``.

    Returns the oracles for every curvature source of 'gns': ``fg`` (f and
    gradient), ``hess``, ``hessp``, ``gauss_newton`` (``J = X`` with weights
    ``p(1-p)/N``), ``per_sample_grads``, and ``d``, ``alpha``, ``x0`` (zeros).
    """
    N, d = X.shape

    def fg(w):
        z = X @ w
        f = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * alpha * (w @ w)
        return f, X.T @ (expit(z) - y) / N + alpha * w

    def hess(w):
        p = expit(X @ w)
        H = X.T @ (X * (p * (1 - p) / N)[:, None])
        H[np.diag_indices(d)] += alpha
        return H

    def hessp(w, v):
        p = expit(X @ w)
        return X.T @ (p * (1 - p) / N * (X @ v)) + alpha * v

    def gauss_newton(w):  # J = X, weights phi'' / N (generalized Gauss-Newton)
        p = expit(X @ w)
        return X, p * (1 - p) / N

    def per_sample_grads(w):
        return (expit(X @ w) - y)[:, None] * X

    return dict(fg=fg, hess=hess, hessp=hessp, gauss_newton=gauss_newton,
                per_sample_grads=per_sample_grads, d=d, alpha=alpha, x0=np.zeros(d), X=X, y=y)


def digits_softmax(n_samples=360, alpha=1e-2):
    """Softmax regression on (the first ``n_samples`` of) the digits data.

    The last class is the reference (logit 0), so the parameters are
    ``(C - 1) x d`` and the optimum is unique.
    """
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:n_samples], y[:n_samples]
    X = X - X.mean(0)
    sd = X.std(0)
    X = X / np.where(sd > 0, sd, 1.0)
    X = np.hstack([X, np.ones((X.shape[0], 1))])
    N, d = X.shape
    C = 10
    K = C - 1
    Y = np.eye(C)[y]

    def logits(w):
        return np.hstack([X @ w.reshape(K, d).T, np.zeros((N, 1))])

    def fg(w):
        Z = logits(w)
        lse = logsumexp(Z, axis=1)
        P = np.exp(Z - lse[:, None])
        f = np.mean(lse - np.sum(Y * Z, 1)) + 0.5 * alpha * (w @ w)
        return f, ((P - Y)[:, :K].T @ X / N + alpha * w.reshape(K, d)).ravel()

    def hess(w):
        P = softmax(logits(w), axis=1)
        H = np.empty((K, d, K, d))
        for c in range(K):
            for e in range(c, K):
                s = P[:, c] * ((c == e) - P[:, e]) / N
                H[c, :, e, :] = X.T @ (X * s[:, None])
                H[e, :, c, :] = H[c, :, e, :].T
        H = H.reshape(K * d, K * d)
        H[np.diag_indices(K * d)] += alpha
        return H

    def gauss_newton(w):
        # Generalized Gauss-Newton J^T W J with the per-sample block
        # W_i = diag(p_i) - p_i p_i^T = S_i S_i^T, S_i = (I - p_i 1^T) diag(sqrt(p_i)),
        # given as the rows S_i^T (x) x_i / sqrt(N) (weights 1).
        P = softmax(logits(w), axis=1)
        S = (np.eye(C)[None, :K, :] - P[:, :K, None]) * np.sqrt(P)[:, None, :]
        return (S.transpose(0, 2, 1)[:, :, :, None] * X[:, None, None, :]).reshape(
            N * C, K * d) / np.sqrt(N)

    def per_sample_grads(w):
        R = (softmax(logits(w), axis=1) - Y)[:, :K]
        return (R[:, :, None] * X[:, None, :]).reshape(N, K * d)

    return dict(fg=fg, hess=hess, gauss_newton=gauss_newton,
                per_sample_grads=per_sample_grads, n=K * d, alpha=alpha)


def rosen_hess_sparse(x):
    """scipy's Rosenbrock Hessian as a sparse tridiagonal matrix."""
    from scipy.optimize import rosen_hess

    H = rosen_hess(x)
    return sps.diags([np.diag(H, -1), np.diag(H), np.diag(H, 1)], [-1, 0, 1], format="csr")
