"""The NumPyro models of Bayesian instrumental variables (pure JAX; no pandas).

All variables are standardised. With ``A = [1, W]`` the exogenous covariates, ``Z`` the ``k``
instruments, ``X`` the ``m`` endogenous treatments (``k >= m``) and ``y`` the outcome, the first and
second stage form one generative model; the linear-treatment models are written in their *reduced form*::

    X = A G_x + Z Pi + V                       (Pi: k x m)
    y = A g_y + Z (Pi beta + phi) + w,         (V, w) ~ (m+1)-variate normal (or Student-t), scale Omega

which is the structural model ``y = A d + X beta + Z phi + u`` with ``u = w - V beta``: the same
likelihood, a one-to-one map between ``(beta, Omega)`` and ``(beta, Sigma)``. The priors go on the
reduced form on purpose. With independent priors on the *structural* error covariance ``Sigma``, the
posterior of ``beta`` under weak instruments is pulled to the OLS answer: away from it the structural
error variance ``Sigma_uu(beta) = omega_ww - 2 beta' omega_vw + beta' Omega_vv beta`` must grow and the
correlations approach +-1, which the priors on ``sigma_u`` and the LKJ prior penalise. In the reduced
form, ``beta`` enters the likelihood only through ``Pi beta``: when ``Pi`` is near zero the data say
nothing about ``beta`` and its posterior widens towards its prior, as it should.

Priors (on the standardised scale, :class:`~bayescausal.iv.IVPriors`): ``Pi_ij ~ instrument``,
``beta_j ~ effect``, ``sigma ~ sigma`` for the ``m + 1`` reduced-form error sds, an LKJ(eta) prior on
their correlation matrix (Lewandowski, Kurowicka & Joe 2009; for ``m = 1`` it is ``rho = 2 B - 1``,
``B ~ Beta(eta, eta)``), and ``phi ~ Normal(0, exclusion_sd)``: the direct instrument-to-outcome effect
of Conley, Hansen & Rossi (2012), "Plausibly exogenous", REStat 94(1), their "prior information"
approach; ``exclusion_sd = 0`` is the exact exclusion restriction.

Sampling coordinates (the same posterior, reparametrised). In ``(Pi, beta)`` the posterior is a funnel
when instruments are weak: the data pin down ``Pi`` and ``Pi beta`` to within a standard error ``s`` of
small values, so ``beta`` given ``Pi`` has sd about ``s / |Pi|``, which changes by orders of magnitude
across the posterior of ``Pi`` (measured: 27 to 200 divergences per 4000 draws at first-stage F = 0.9 to 2.5).
NUTS instead samples ``beta`` and ``C = Pi Lg`` with ``Lg Lg' = [I, beta] Omega^-1 [I; beta']`` (lower Cholesky
factor; ``Omega`` the reduced-form error covariance); then ``[Pi, Pi beta] L^-T = C H'`` with ``L L' = Omega``
and ``H`` a matrix with orthonormal columns, so ``C`` holds the reduced-form coefficients ``(Pi, Pi beta)`` in
units of their own error sds, whatever ``beta`` and ``Omega`` are. For one treatment, ``C`` is the signed length
of the whitened ``(pi, pi beta)`` and ``beta`` the slope of its direction: a weak instrument (a round likelihood
blob around the origin of that whitened plane) makes ``C`` small and leaves ``beta`` to its prior, with no
funnel between them. The prior is unchanged: the density of ``(C, beta, Omega)`` is ``p_Pi(C Lg^-1) p(beta)
p(Omega) |det Lg|^-k`` (:func:`structural_from_sampled`; the factor ``prior_pi`` below). ``Pi`` is recorded as
a deterministic site. Measured on fixed-seed data (4 chains of 1000 draws; ``benchmarks`` and the report of
this change): at first-stage F = 0.9 and 2.5, 0 divergences and 2 to 6 times the effective draws per gradient
of ``(Pi, beta)``. With strong instruments the rotation couples ``C`` to ``beta`` (about 20% fewer effective
draws per gradient at F = 55), so each batch member carries a ``rotate`` switch (data, not a model choice: one
compiled program) that the estimator sets from the first-stage F. With several treatments the Gram-Schmidt
order follows the treatments' order: the first column of ``H`` depends on ``beta_1`` alone, so a treatment the
instruments barely move samples best when listed last.

Three likelihoods:

* :func:`normal_model`: multivariate normal errors, run on sufficient statistics. The intercepts and
  covariate coefficients have flat priors and are integrated out analytically (Frisch-Waugh-Lovell:
  ``A`` is partialled out of ``[Z, X, y]`` and ``|Omega|`` loses ``dim(A)/2`` powers), so each gradient
  costs O((k + m)^2 m) whatever the number of rows.
* :func:`student_t_model`: multivariate Student-t errors (robust to outliers); needs the rows.
* :func:`probit_model`: one binary treatment from a latent index, ``x = 1[A g_x + Z pi + v > 0]``,
  ``y = A d + beta x + Z phi + u``, ``(u, v)`` bivariate normal with ``var(v) = 1`` (the endogenous
  dummy model of Heckman 1978 and Maddala 1983, ch. 5); written in its structural form, per row, and
  sampled in ``(pi, beta)`` directly (its ``beta`` enters the likelihood on its own, not through ``pi beta``).

Every model carries a leading batch axis ``B`` of independent posteriors (the main fit has ``B = 1``;
placebo permutations and the exclusion-sensitivity widths are batched into one NUTS run).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import gammaln, log_ndtr
from numpyro.distributions import constraints


class IVStats(NamedTuple):
    """Inputs of :func:`normal_model`: ``S`` (B, k+m+1, k+m+1) cross-products of partialled ``[Z, X, y]``,
    ``n_eff`` (scalar) rows minus covariate columns, ``excl_sd`` (B,) prior sd of the direct effects,
    ``rotate`` (B,) 1.0 to sample in the rotated coordinates, 0.0 in ``(Pi, beta)`` (see the module docstring)."""

    S: jnp.ndarray
    n_eff: jnp.ndarray
    excl_sd: jnp.ndarray
    rotate: jnp.ndarray


class IVRows(NamedTuple):
    """Inputs of the row-based models: ``A`` (n, q) = [1, W]; ``Z`` (B, n, k); ``X`` (n, m); ``y`` (n,);
    ``excl_sd`` (B,); ``rotate`` (B,) as in :class:`IVStats`."""

    A: jnp.ndarray
    Z: jnp.ndarray
    X: jnp.ndarray
    y: jnp.ndarray
    excl_sd: jnp.ndarray
    rotate: jnp.ndarray


def _correlation(priors):
    """Error correlation with the two-dimensional LKJ(eta) prior, ``2 Beta(eta, eta) - 1``."""
    eta = float(priors.correlation_concentration)
    b = numpyro.sample("corr_beta", dist.Beta(eta, eta))
    return 2.0 * b - 1.0


def _scale_cholesky(priors, d: int):
    """Cholesky factor (B, d, d) of the error scale matrix: sds times the factor of a correlation matrix with
    the LKJ(eta) prior. For ``d = 2`` (one treatment) the correlation is sampled as ``rho = 2 B - 1``,
    ``B ~ Beta(eta, eta)``, which is LKJ(eta) in two dimensions, and the factor is written out: measured,
    this halves the cost of a gradient against the general ``LKJCholesky`` with triangular solves."""
    sigma = numpyro.sample("sigma", priors.sigma.expand([d]).to_event(1))
    if d == 2:
        rho = _correlation(priors)
        zero = jnp.zeros_like(rho)
        corr = jnp.stack([jnp.stack([1.0 + zero, zero], -1), jnp.stack([rho, jnp.sqrt(1.0 - rho**2)], -1)], -2)
    else:
        corr = numpyro.sample("corr_chol", dist.LKJCholesky(d, float(priors.correlation_concentration)))
    return sigma[..., :, None] * corr


def lower_inverse(L):
    """Inverse of lower-triangular ``L`` (..., d, d): written out for ``d = 2``, else a triangular solve."""
    if L.shape[-1] == 2:
        a, b, c = L[..., 0, 0], L[..., 1, 0], L[..., 1, 1]
        zero = jnp.zeros_like(a)
        return jnp.stack([jnp.stack([1.0 / a, zero], -1), jnp.stack([-b / (a * c), 1.0 / c], -1)], -2)
    eye = jnp.broadcast_to(jnp.eye(L.shape[-1]), L.shape)
    return solve_triangular(L, eye, lower=True)


def _whitened_gram(beta, L):
    """``G = Y'Y`` with ``Y = L^-1 [I; beta']``: ``[I, beta] Omega^-1 [I; beta']`` for ``Omega = L L'``."""
    m = beta.shape[-1]
    top = jnp.broadcast_to(jnp.eye(m), beta.shape[:-1] + (m, m))
    Y = jnp.einsum("...ij,...jk->...ik", lower_inverse(L), jnp.concatenate([top, beta[..., None, :]], -2))
    return jnp.einsum("...ji,...jk->...ik", Y, Y)


def structural_from_sampled(C, beta, L, rotate=1.0):
    """``Pi = C Lg^-1`` from the sampling coordinates, ``Lg Lg' = [I, beta] Omega^-1 [I; beta']`` (lower Cholesky
    factor, ``Omega = L L'`` the reduced-form error covariance), when ``rotate`` is 1; ``Pi = C`` when it is 0.
    ``C`` (..., k, m), ``beta`` (..., m), ``L`` (..., m+1, m+1), ``rotate`` (...).

    Then ``[Pi, Pi beta] L^-T = C H'`` with ``H`` of orthonormal columns: ``C`` holds the reduced-form
    coefficients in units of their error sds (whitened), so their sampling scale does not change with ``beta``
    or ``Omega``. Returns ``(Pi, log |det Lg|)``.
    """
    rotate = jnp.asarray(rotate)
    m = beta.shape[-1]
    G = _whitened_gram(beta, L)
    if m == 1:
        root = jnp.sqrt(G)
        Pi = C / root
    else:
        root = jnp.linalg.cholesky(G)
        Pi = jnp.swapaxes(solve_triangular(jnp.swapaxes(root, -1, -2), jnp.swapaxes(C, -1, -2), lower=False), -1, -2)
    logdet = jnp.sum(jnp.log(jnp.diagonal(root, axis1=-2, axis2=-1)), -1)
    on = rotate > 0.5
    return jnp.where(on[..., None, None], Pi, C), jnp.where(on, logdet, 0.0)


def sampled_from_structural(Pi, beta, L, rotate=1.0):
    """Inverse of :func:`structural_from_sampled`: ``C = Pi Lg`` (or ``Pi`` when ``rotate`` is 0). NumPy."""
    Pi, beta, L = np.asarray(Pi, float), np.asarray(beta, float), np.asarray(L, float)
    if float(rotate) < 0.5:
        return Pi.copy()
    m = beta.shape[-1]
    Y = np.linalg.solve(L, np.vstack([np.eye(m), beta[None, :]]))
    return Pi @ np.linalg.cholesky(Y.T @ Y)


def _effects(priors, B: int, k: int, m: int, exclusion: bool, excl_sd, rotate, L):
    """Sample the shared coefficients inside the batch plate, in the coordinates of the module docstring,
    with the prior of ``Pi`` and the Jacobian added as a factor. ``L`` (B, m+1, m+1): the Cholesky factor of
    the reduced-form error covariance. Returns ``Pi`` (B, k, m), ``beta`` (B, m), ``phi`` (B, k)."""
    beta = numpyro.sample("beta", priors.effect.expand([m]).to_event(1))
    C = numpyro.sample("pi_rotated", dist.ImproperUniform(constraints.real, (), (k, m)))
    Pi, logdet = structural_from_sampled(C, beta, L, rotate)
    Pi = numpyro.deterministic("pi", Pi)
    # p(Pi) |d Pi / d C| with |d Pi / d C| = |det Lg|^-k when rotated
    numpyro.factor("prior_pi", jnp.sum(priors.instrument.log_prob(Pi), (-2, -1)) - k * logdet)
    if exclusion:
        phi_raw = numpyro.sample("phi_raw", dist.Normal(0.0, 1.0).expand([k]).to_event(1))
        phi = numpyro.deterministic("phi", excl_sd[:, None] * phi_raw)
    else:
        phi = jnp.zeros((B, k))
    return Pi, beta, phi


def residual_cross_products(S, theta):
    """``E'E`` (..., d, d) for ``E = D - Z theta`` where ``D`` holds the ``d`` columns after the ``k``
    instruments in the cross-products ``S`` (..., k+d, k+d) of ``[Z, D]``, and ``theta`` is (..., k, d)."""
    k = theta.shape[-2]
    Szz, Szd, Sdd = S[..., :k, :k], S[..., :k, k:], S[..., k:, k:]
    cross = jnp.einsum("...ki,...kj->...ij", theta, Szd)
    return Sdd - cross - jnp.swapaxes(cross, -1, -2) + jnp.einsum("...ki,...kl,...lj->...ij", theta, Szz, theta)


def mvn_loglik(EE, L, n):
    """Log-likelihood of ``n`` rows of ``N(0, L L')`` from their cross-products ``E'E``; ``L`` lower
    triangular (..., d, d); ``tr(Omega^-1 E'E) = tr(L^-1 E'E L^-T)``."""
    d = L.shape[-1]
    Li = lower_inverse(L)
    trace = jnp.sum(jnp.einsum("...ij,...jk->...ik", Li, EE) * Li, (-2, -1))
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), -1)
    return -0.5 * n * logdet - 0.5 * trace - 0.5 * n * d * jnp.log(2.0 * jnp.pi)


def normal_model(inputs: IVStats, priors, exclusion: bool = False, treatments: int = 1) -> None:
    """Reduced-form multivariate normal IV on sufficient statistics (see the module docstring)."""
    S, n_eff, excl_sd, rotate = inputs
    B, size, _ = S.shape
    m = treatments
    k = size - m - 1
    with numpyro.plate("batch", B):
        L = _scale_cholesky(priors, m + 1)
        Pi, beta, phi = _effects(priors, B, k, m, exclusion, excl_sd, rotate, L)
    g = jnp.einsum("bkm,bm->bk", Pi, beta) + phi
    EE = residual_cross_products(S, jnp.concatenate([Pi, g[..., None]], -1))
    numpyro.factor("loglik", jnp.sum(mvn_loglik(EE, L, n_eff)))


def student_t_model(inputs: IVRows, priors, exclusion: bool = False, treatments: int = 1) -> None:
    """Reduced-form IV with multivariate Student-t errors (scale matrix Omega, ``nu`` degrees of freedom)."""
    A, Z, X, y, excl_sd, rotate = inputs
    B, n, k = Z.shape
    q = A.shape[1]
    m = treatments
    d = m + 1
    with numpyro.plate("batch", B):
        L = _scale_cholesky(priors, d)
        Pi, beta, phi = _effects(priors, B, k, m, exclusion, excl_sd, rotate, L)
        coef = numpyro.sample("coef", dist.ImproperUniform(constraints.real, (), (q, d)))
        nu = numpyro.sample("nu", priors.nu)
    g = jnp.einsum("bkm,bm->bk", Pi, beta) + phi
    theta = jnp.concatenate([Pi, g[..., None]], -1)  # (B, k, d)
    D = jnp.column_stack([X, y])  # (n, d)
    E = D[None] - jnp.einsum("nq,bqd->bnd", A, coef) - jnp.einsum("bnk,bkd->bnd", Z, theta)
    R = jnp.einsum("bij,bnj->bni", lower_inverse(L), E)  # (B, n, d) whitened errors
    quad = jnp.sum(R**2, -1)  # (B, n)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), -1)[:, None]
    nu_ = nu[:, None]
    ll = (gammaln((nu_ + d) / 2.0) - gammaln(nu_ / 2.0) - 0.5 * d * jnp.log(nu_ * jnp.pi) - 0.5 * logdet
          - 0.5 * (nu_ + d) * jnp.log1p(quad / nu_))
    numpyro.factor("loglik", jnp.sum(ll))


def probit_model(inputs: IVRows, priors, exclusion: bool = False, treatments: int = 1) -> None:
    """One binary treatment from a latent normal index, correlated with the outcome's error (structural form).

    Per row: ``log N(u; 0, sigma_u) + log Phi(s (mu_x + rho u / sigma_u) / sqrt(1 - rho^2))`` with
    ``u = y - A d - beta x - Z phi``, ``mu_x = A g_x + Z pi`` and ``s = 2 x - 1``: the outcome's density
    times the probability of the observed treatment given the outcome's error.
    """
    A, Z, X, y, excl_sd, _ = inputs
    x = X[:, 0]
    B, n, k = Z.shape
    q = A.shape[1]
    with numpyro.plate("batch", B):
        pi = numpyro.sample("pi", priors.instrument.expand([k]).to_event(1))
        beta = numpyro.sample("beta", priors.effect)
        if exclusion:
            phi_raw = numpyro.sample("phi_raw", dist.Normal(0.0, 1.0).expand([k]).to_event(1))
            phi = numpyro.deterministic("phi", excl_sd[:, None] * phi_raw)
        else:
            phi = jnp.zeros((B, k))
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
