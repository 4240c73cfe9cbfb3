"""Posterior predictive draws of (treatments, outcome) for the IV models (pure NumPy, standardised scale).

Every function takes ``s`` posterior draws (flattened over chains). The linear models return
``(X_rep, y_rep)`` with ``X_rep`` (s, n, m) and ``y_rep`` (s, n); the probit model ``(x_rep, y_rep)``,
each (s, n). Replicated data come from the generative model at the observed instruments and covariates.
The normal model integrates the covariate coefficients out when sampling, so they are drawn here from
their exact conditional posterior: with flat priors and reduced-form errors of covariance ``Omega``,
``G | Theta, Omega ~ N(H (D - Z Theta), (A'A)^-1 (x) Omega)`` with ``H = (A'A)^-1 A'``, ``D = [X, y]``
and ``Theta = [Pi, g]``.
"""

from __future__ import annotations

import numpy as np


def normal_predictive(rng, A, Z, X, y, theta, L):
    """Replicates of the reduced-form normal model (covariate coefficients drawn, see module docstring).

    ``theta`` (s, k, d) = ``[Pi, g]`` per draw, ``L`` (s, d, d) the Cholesky factors of ``Omega``."""
    s, _, d = theta.shape
    n, q = A.shape
    AtA_inv = np.linalg.inv(A.T @ A)
    H = AtA_inv @ A.T
    HD = H @ np.column_stack([X, y])  # (q, d)
    HZ = H @ Z  # (q, k)
    G_hat = HD[None] - np.einsum("qk,skj->sqj", HZ, theta)
    Lq = np.linalg.cholesky(AtA_inv)
    G = G_hat + np.einsum("qr,srj,sij->sqi", Lq, rng.standard_normal((s, q, d)), L)
    mean = np.einsum("nq,sqj->snj", A, G) + np.einsum("nk,skj->snj", Z, theta)
    rep = mean + np.einsum("sij,snj->sni", L, rng.standard_normal((s, n, d)))
    return rep[..., :-1], rep[..., -1]


def student_t_predictive(rng, A, Z, theta, coef, L, nu):
    """Replicates of the reduced-form Student-t model: normal errors divided by ``sqrt(chi2_nu / nu)``,
    one scale per row shared by its ``d`` errors (the multivariate t)."""
    s, _, d = theta.shape
    n = A.shape[0]
    err = np.einsum("sij,snj->sni", L, rng.standard_normal((s, n, d)))
    scale = np.sqrt(rng.chisquare(nu[:, None], size=(s, n)) / nu[:, None])
    rep = np.einsum("nq,sqj->snj", A, coef) + np.einsum("nk,skj->snj", Z, theta) + err / scale[..., None]
    return rep[..., :-1], rep[..., -1]


def probit_predictive(rng, A, Z, pi, beta, phi, coef_x, coef_y, sigma_u, rho):
    """Replicates of the latent-index model: treatment from the index, outcome from the replicated treatment."""
    s = pi.shape[0]
    n = A.shape[0]
    e1, e2 = rng.standard_normal((2, s, n))
    v = e1
    u = sigma_u[:, None] * (rho[:, None] * e1 + np.sqrt(1.0 - rho[:, None] ** 2) * e2)
    x_rep = ((coef_x @ A.T + pi @ Z.T + v) > 0).astype(float)
    y_rep = coef_y @ A.T + beta[:, None] * x_rep + phi @ Z.T + u
    return x_rep, y_rep
