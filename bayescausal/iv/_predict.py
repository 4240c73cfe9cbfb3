"""Posterior predictive draws of (treatment, outcome) for the IV models (pure NumPy, standardised scale).

Every function takes ``s`` posterior draws (flattened over chains) and returns ``(x_rep, y_rep)``,
each (s, n): replicated data from the generative model at the observed instruments and covariates.
The normal model integrates the covariate coefficients out when sampling, so they are drawn here from
their exact conditional posterior: with flat priors and reduced-form errors of covariance ``Omega``,
``G | pi, g, Omega ~ N(H (Y - Z [pi, g]), (A'A)^-1 (x) Omega)`` with ``H = (A'A)^-1 A'``.
"""

from __future__ import annotations

import numpy as np


def _omega_chol(s_v, s_w, rho):
    """Cholesky factors (s, 2, 2) of the 2x2 covariances with sds ``s_v, s_w`` and correlation ``rho``."""
    L = np.zeros(s_v.shape + (2, 2))
    L[:, 0, 0] = s_v
    L[:, 1, 0] = rho * s_w
    L[:, 1, 1] = s_w * np.sqrt(1.0 - rho**2)
    return L


def normal_predictive(rng, A, Z, x, y, pi, g, s_v, s_w, rho):
    """Replicates of the reduced-form normal model (covariate coefficients drawn, see module docstring)."""
    s = pi.shape[0]
    n, q = A.shape
    AtA_inv = np.linalg.inv(A.T @ A)
    H = AtA_inv @ A.T
    HY = H @ np.column_stack([x, y])  # (q, 2)
    HZ = H @ Z  # (q, k)
    theta = np.stack([pi, g], axis=-1)  # (s, k, 2)
    G_hat = HY[None] - np.einsum("qk,skj->sqj", HZ, theta)
    Lq = np.linalg.cholesky(AtA_inv)
    Lo = _omega_chol(s_v, s_w, rho)
    G = G_hat + np.einsum("qr,srj,sij->sqi", Lq, rng.standard_normal((s, q, 2)), Lo)
    mean = np.einsum("nq,sqj->snj", A, G) + np.einsum("nk,skj->snj", Z, theta)
    err = np.einsum("sij,snj->sni", Lo, rng.standard_normal((s, n, 2)))
    rep = mean + err
    return rep[..., 0], rep[..., 1]


def student_t_predictive(rng, A, Z, pi, g, coef_x, coef_y, s_v, s_w, rho, nu):
    """Replicates of the reduced-form Student-t model: normal errors divided by ``sqrt(chi2_nu / nu)``."""
    s = pi.shape[0]
    n = A.shape[0]
    Lo = _omega_chol(s_v, s_w, rho)
    err = np.einsum("sij,snj->sni", Lo, rng.standard_normal((s, n, 2)))
    scale = np.sqrt(rng.chisquare(nu[:, None], size=(s, n)) / nu[:, None])
    err = err / scale[..., None]
    x_rep = coef_x @ A.T + pi @ Z.T + err[..., 0]
    y_rep = coef_y @ A.T + g @ Z.T + err[..., 1]
    return x_rep, y_rep


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
