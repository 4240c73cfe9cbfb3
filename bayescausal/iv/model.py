"""The NumPyro models of Bayesian instrumental variables (pure JAX; no pandas).

All variables are standardised. With ``A = [1, W]`` the exogenous covariates, ``Z`` the ``k``
instruments, ``x`` the treatment and ``y`` the outcome, the first and second stage form one generative
model; the linear-treatment models are written in their *reduced form*::

    x = A g_x + Z pi + v
    y = A g_y + Z (beta pi + phi) + w,        (v, w) ~ bivariate normal (or Student-t), scale Omega

which is the structural model ``y = A d + beta x + Z phi + u`` with ``u = w - beta v``: the same
likelihood, a one-to-one map between ``(beta, Omega)`` and ``(beta, Sigma)``. The priors go on the
reduced form on purpose. With independent priors on the *structural* error covariance ``Sigma``, the
posterior of ``beta`` under weak instruments is pulled to the OLS answer: away from it the structural
error variance ``Sigma_uu(beta) = omega_ww - 2 beta omega_vw + beta^2 omega_vv`` must grow and the
correlation approach +-1, which the priors on ``sigma_u`` and the LKJ prior penalise (the posterior of
``beta`` given ``Omega`` is proportional to ``p(beta) p(sigma_u(beta)) sigma_u(beta)^(-2 eta)``). In the
reduced form, ``beta`` enters the likelihood only through ``beta pi``: when ``pi`` is near zero the data
say nothing about ``beta`` and its posterior widens towards its prior, as it should.

``phi`` is the direct instrument-to-outcome effect of Conley, Hansen & Rossi (2012), "Plausibly
exogenous", REStat 94(1): ``phi ~ Normal(0, exclusion_sd)`` (their "prior information" approach);
``exclusion_sd = 0`` is the exact exclusion restriction.

Three likelihoods:

* :func:`normal_model`: bivariate normal errors, run on sufficient statistics. The intercepts and
  covariate coefficients have flat priors and are integrated out analytically (Frisch-Waugh-Lovell:
  ``A`` is partialled out of ``[Z, x, y]`` and ``|Omega|`` loses ``dim(A)/2`` powers), so each gradient
  costs O(k^2) whatever the number of rows.
* :func:`student_t_model`: bivariate Student-t errors (robust to outliers); needs the rows.
* :func:`probit_model`: binary treatment from a latent index, ``x = 1[A g_x + Z pi + v > 0]``,
  ``y = A d + beta x + Z phi + u``, ``(u, v)`` bivariate normal with ``var(v) = 1`` (the endogenous
  dummy model of Heckman 1978 and Maddala 1983, ch. 5); written in its structural form, per row.

Every model carries a leading batch axis ``B`` of independent posteriors (the main fit has ``B = 1``;
placebo permutations and the exclusion-sensitivity widths are batched into one NUTS run).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import gammaln, log_ndtr
from numpyro.distributions import constraints


class IVStats(NamedTuple):
    """Inputs of :func:`normal_model`: ``S`` (B, k+2, k+2) cross-products of partialled ``[Z, x, y]``,
    ``n_eff`` (scalar) rows minus covariate columns, ``excl_sd`` (B,) prior sd of the direct effects."""

    S: jnp.ndarray
    n_eff: jnp.ndarray
    excl_sd: jnp.ndarray


class IVRows(NamedTuple):
    """Inputs of the row-based models: ``A`` (n, q) = [1, W]; ``Z`` (B, n, k); ``x``, ``y`` (n,);
    ``excl_sd`` (B,)."""

    A: jnp.ndarray
    Z: jnp.ndarray
    x: jnp.ndarray
    y: jnp.ndarray
    excl_sd: jnp.ndarray


def _common(priors, B: int, k: int, exclusion: bool, excl_sd):
    """Sample the parameters every model shares, inside the batch plate: pi, beta, phi."""
    pi = numpyro.sample("pi", priors.instrument.expand([k]).to_event(1))
    beta = numpyro.sample("beta", priors.effect)
    if exclusion:
        phi_raw = numpyro.sample("phi_raw", dist.Normal(0.0, 1.0).expand([k]).to_event(1))
        phi = numpyro.deterministic("phi", excl_sd[:, None] * phi_raw)
    else:
        phi = jnp.zeros((B, k))
    return pi, beta, phi


def _correlation(priors):
    """Error correlation with the two-dimensional LKJ(eta) prior, ``2 Beta(eta, eta) - 1``."""
    eta = float(priors.correlation_concentration)
    b = numpyro.sample("corr_beta", dist.Beta(eta, eta))
    return 2.0 * b - 1.0


def bvn_loglik(vv, ww, vw, s_v, s_w, rho, n):
    """Log-likelihood of ``n`` bivariate normal pairs ``(v, w)`` from their sums of squares and
    cross-products, with sds ``s_v, s_w`` and correlation ``rho``."""
    one_m = 1.0 - rho**2
    logdet = 2.0 * jnp.log(s_v) + 2.0 * jnp.log(s_w) + jnp.log(one_m)
    quad = (vv / s_v**2 - 2.0 * rho * vw / (s_v * s_w) + ww / s_w**2) / one_m
    return -0.5 * n * logdet - 0.5 * quad - n * jnp.log(2.0 * jnp.pi)


def residual_moments(S, pi, g):
    """``v'v, w'w, v'w`` for ``v = x - Z pi``, ``w = y - Z g`` from ``S`` = cross-products of ``[Z, x, y]``."""
    k = pi.shape[-1]
    Szz, Szx, Szy = S[..., :k, :k], S[..., :k, k], S[..., :k, k + 1]
    Sxx, Sxy, Syy = S[..., k, k], S[..., k, k + 1], S[..., k + 1, k + 1]
    zpi = jnp.einsum("...ij,...j->...i", Szz, pi)
    vv = Sxx - 2.0 * jnp.sum(pi * Szx, -1) + jnp.sum(pi * zpi, -1)
    ww = Syy - 2.0 * jnp.sum(g * Szy, -1) + jnp.einsum("...i,...ij,...j->...", g, Szz, g)
    vw = Sxy - jnp.sum(pi * Szy, -1) - jnp.sum(g * Szx, -1) + jnp.sum(g * zpi, -1)
    return vv, ww, vw


def normal_model(inputs: IVStats, priors, exclusion: bool = False) -> None:
    """Reduced-form bivariate normal IV on sufficient statistics (see the module docstring)."""
    S, n_eff, excl_sd = inputs
    B, m, _ = S.shape
    k = m - 2
    with numpyro.plate("batch", B):
        pi, beta, phi = _common(priors, B, k, exclusion, excl_sd)
        sigma = numpyro.sample("sigma", priors.sigma.expand([2]).to_event(1))
        rho = _correlation(priors)
    g = beta[:, None] * pi + phi
    vv, ww, vw = residual_moments(S, pi, g)
    numpyro.factor("loglik", jnp.sum(bvn_loglik(vv, ww, vw, sigma[:, 0], sigma[:, 1], rho, n_eff)))


def student_t_model(inputs: IVRows, priors, exclusion: bool = False) -> None:
    """Reduced-form IV with bivariate Student-t errors (scale matrix Omega, ``nu`` degrees of freedom)."""
    A, Z, x, y, excl_sd = inputs
    B, n, k = Z.shape
    q = A.shape[1]
    with numpyro.plate("batch", B):
        pi, beta, phi = _common(priors, B, k, exclusion, excl_sd)
        gx = numpyro.sample("coef_x", dist.ImproperUniform(constraints.real, (), (q,)))
        gy = numpyro.sample("coef_y", dist.ImproperUniform(constraints.real, (), (q,)))
        sigma = numpyro.sample("sigma", priors.sigma.expand([2]).to_event(1))
        rho = _correlation(priors)
        nu = numpyro.sample("nu", priors.nu)
    g = beta[:, None] * pi + phi
    v = x[None] - gx @ A.T - jnp.einsum("bnk,bk->bn", Z, pi)
    w = y[None] - gy @ A.T - jnp.einsum("bnk,bk->bn", Z, g)
    s_v, s_w = sigma[:, 0:1], sigma[:, 1:2]
    r = rho[:, None]
    one_m = 1.0 - r**2
    quad = ((v / s_v) ** 2 - 2.0 * r * (v / s_v) * (w / s_w) + (w / s_w) ** 2) / one_m
    nu_ = nu[:, None]
    logdet = 2.0 * jnp.log(s_v) + 2.0 * jnp.log(s_w) + jnp.log(one_m)
    ll = (gammaln((nu_ + 2.0) / 2.0) - gammaln(nu_ / 2.0) - jnp.log(nu_ * jnp.pi) - 0.5 * logdet
          - 0.5 * (nu_ + 2.0) * jnp.log1p(quad / nu_))
    numpyro.factor("loglik", jnp.sum(ll))


def probit_model(inputs: IVRows, priors, exclusion: bool = False) -> None:
    """Binary treatment from a latent normal index, correlated with the outcome's error (structural form).

    Per row: ``log N(u; 0, sigma_u) + log Phi(s (mu_x + rho u / sigma_u) / sqrt(1 - rho^2))`` with
    ``u = y - A d - beta x - Z phi``, ``mu_x = A g_x + Z pi`` and ``s = 2 x - 1``: the outcome's density
    times the probability of the observed treatment given the outcome's error.
    """
    A, Z, x, y, excl_sd = inputs
    B, n, k = Z.shape
    q = A.shape[1]
    with numpyro.plate("batch", B):
        pi, beta, phi = _common(priors, B, k, exclusion, excl_sd)
        gx = numpyro.sample("coef_x", dist.ImproperUniform(constraints.real, (), (q,)))
        d = numpyro.sample("coef_y", dist.ImproperUniform(constraints.real, (), (q,)))
        sigma_u = numpyro.sample("sigma_u", priors.sigma)
        rho = _correlation(priors)
    u = y[None] - d @ A.T - beta[:, None] * x[None] - jnp.einsum("bnk,bk->bn", Z, phi)
    mu_x = gx @ A.T + jnp.einsum("bnk,bk->bn", Z, pi)
    su, r = sigma_u[:, None], rho[:, None]
    s = 2.0 * x[None] - 1.0
    ll = (-0.5 * (u / su) ** 2 - jnp.log(su) - 0.5 * jnp.log(2.0 * jnp.pi)
          + log_ndtr(s * (mu_x + r * u / su) / jnp.sqrt(1.0 - r**2)))
    numpyro.factor("loglik", jnp.sum(ll))
