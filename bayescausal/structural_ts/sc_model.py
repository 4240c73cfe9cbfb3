"""The NumPyro model of Bayesian synthetic control, and its posterior predictive (pure JAX; no pandas).

One model serves the main fit and the placebo-in-space refits: it fits ``K`` *targets* at once, each
with its own donor matrix, and nothing is shared between targets, so the joint posterior is the product
of ``K`` independent synthetic-control posteriors. The main fit has one target per treated unit (all
with the same donors); the placebo check has one target per donor (each against the other donors), so
all placebo fits run as one vectorised NUTS run.

For target ``k`` on its own standardised scale (see :func:`standardise_targets`)::

    w_k      ~ Dirichlet(concentration)                  simplex donor weights (Abadie et al. 2010)
    offset_k ~ priors.intercept   (if intercept)          mean pre-period gap, see below
    sigma_k  ~ priors.sigma                               residual innovation sd
    rho_k    ~ priors.rho         (if errors == "ar1")    residual AR(1) coefficient
    y_kt     = mu_kt + e_kt,   mu_kt = X_kt . w_k (+ intercept),   e_kt = rho_k e_k,t-1 + sigma_k z_kt

With an intercept (Doudchenko & Imbens 2016) the mean is written ``offset + (X_t - xbar) . w`` with
``xbar`` the donors' pre-period means: the intercept is ``offset - xbar . w`` (the treated series is
centred, so its pre-period mean is 0). This is the same model as ``a + X_t . w`` with a prior on ``a``
centred where it matches the pre-period means, but the posterior no longer has the narrow ridge between
``a`` and ``w`` that donors at different levels cause, which a diagonal-mass NUTS crosses slowly.
The AR(1) likelihood starts from the stationary distribution, ``e_k1 ~ N(0, sigma^2 / (1 - rho^2))``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist


class SCInputs(NamedTuple):
    """Standardised arrays for ``K`` targets with ``D`` donors each over ``n`` points (``n_pre`` fitted).

    y : (K, n_pre) target series in the pre-period.
    X : (K, n, D) each target's donors over the whole window, on the target's scale.
    xbar : (K, D) the donors' pre-period means (used by the intercept parametrisation).
    """

    y: jnp.ndarray
    X: jnp.ndarray
    xbar: jnp.ndarray

    @property
    def n_pre(self) -> int:
        return self.y.shape[1]


def standardise_targets(y: np.ndarray, X: np.ndarray, n_pre: int):
    """Centre and scale each target and its donors by the target's pre-period mean and sd.

    ``y``: (K, n) targets; ``X``: (K, n, D) donors per target. The same location ``c_k`` and scale
    ``s_k`` are applied to a target and all its donors, so simplex weights keep their meaning:
    ``y = a + X w`` holds on the original scale if and only if ``(y - c)/s = a/s + ((X - c)/s) w``
    (the weights sum to one). Returns ``(SCInputs, c, s)`` with ``c``, ``s`` shaped (K,).
    """
    c = y[:, :n_pre].mean(axis=1)
    s = y[:, :n_pre].std(axis=1, ddof=1)
    ys = (y - c[:, None]) / s[:, None]
    Xs = (X - c[:, None, None]) / s[:, None, None]
    xbar = Xs[:, :n_pre].mean(axis=1)
    return SCInputs(jnp.asarray(ys[:, :n_pre]), jnp.asarray(Xs), jnp.asarray(xbar)), c, s


def synthetic_mean(X: jnp.ndarray, xbar: jnp.ndarray, w: jnp.ndarray, offset: jnp.ndarray | None) -> jnp.ndarray:
    """The synthetic control ``mu`` (K, n) for weights ``w`` (K, D) and offsets (K,) or None."""
    if offset is None:
        return jnp.einsum("knd,kd->kn", X, w)
    return jnp.einsum("knd,kd->kn", X - xbar[:, None, :], w) + offset[:, None]


def sc_model(inputs: SCInputs, priors, intercept: bool = True, errors: str = "ar1") -> None:
    """Synthetic control for ``K`` independent targets (see the module docstring for the equations).

    ``priors`` is an :class:`~bayescausal.structural_ts.synthetic_control.SCPriors` (any object with
    ``concentration``, ``intercept``, ``sigma``, ``rho``).
    """
    y, X, xbar = inputs
    K, n_pre = y.shape
    D = X.shape[-1]
    X_pre = X[:, :n_pre]
    with numpyro.plate("target", K):
        if D > 1:
            w = numpyro.sample("w", dist.Dirichlet(jnp.full(D, float(priors.concentration))))
        else:  # a single donor: the simplex is one point
            w = numpyro.deterministic("w", jnp.ones((K, 1)))
        offset = numpyro.sample("offset", priors.intercept) if intercept else None
        sigma = numpyro.sample("sigma", priors.sigma)
        rho = numpyro.sample("rho", priors.rho) if errors == "ar1" else None
    e = y - synthetic_mean(X_pre, xbar, w, offset)
    if rho is None:
        numpyro.factor("loglik", dist.Normal(0.0, sigma[:, None]).log_prob(e).sum())
        return
    sd0 = sigma / jnp.sqrt(1.0 - rho**2)
    first = dist.Normal(0.0, sd0).log_prob(e[:, 0])
    rest = dist.Normal(0.0, sigma[:, None]).log_prob(e[:, 1:] - rho[:, None] * e[:, :-1])
    numpyro.factor("loglik", first.sum() + rest.sum())


def _predict_one(key, inputs: SCInputs, w, offset, sigma, rho):
    """One posterior draw's predictive over the whole window, for all targets.

    Pre-period: the one-step-ahead predictive ``mu_t + rho e_{t-1} + noise`` (its quantiles give the
    coverage check and the fit band). Post-period: the counterfactual, with the AR(1) residual carried
    forward from the last pre-period residual plus fresh innovations (iid: ``rho = 0``). Returns
    ``(pred, mu)``, both (K, n).
    """
    y, X, xbar = inputs
    K, n_pre = y.shape
    n = X.shape[1]
    mu = synthetic_mean(X, xbar, w, offset)
    e_pre = y - mu[:, :n_pre]
    z = jax.random.normal(key, (K, n))
    prev = jnp.concatenate([jnp.zeros((K, 1)), e_pre[:, :-1]], axis=1)
    sd_pre = jnp.where(jnp.arange(n_pre)[None, :] == 0, (sigma / jnp.sqrt(1.0 - rho**2))[:, None], sigma[:, None])
    pre = mu[:, :n_pre] + rho[:, None] * prev + sd_pre * z[:, :n_pre]

    def step(e, z_t):
        e = rho * e + sigma * z_t
        return e, e

    _, e_post = jax.lax.scan(step, e_pre[:, -1], z[:, n_pre:].T)
    post = mu[:, n_pre:] + e_post.T
    return jnp.concatenate([pre, post], axis=1), mu


@jax.jit
def _predict_all(keys, inputs, w, offset, sigma, rho):
    return jax.vmap(_predict_one, in_axes=(0, None, 0, 0, 0, 0))(keys, inputs, w, offset, sigma, rho)


def posterior_predictive(samples: dict, inputs: SCInputs, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Predictive draws and synthetic means for every posterior draw.

    ``samples``: NUTS draws shaped (chain, draw, K, ...). Returns ``(pred, mu)`` shaped
    (chain, draw, K, n) on the standardised scale.
    """
    w = np.asarray(samples["w"])
    chains, draws, K = w.shape[:3]
    flat = lambda a: jnp.asarray(np.asarray(a).reshape((chains * draws,) + np.asarray(a).shape[2:]))  # noqa: E731
    zeros = jnp.zeros((chains * draws, K))
    if "offset" in samples:
        offset = flat(samples["offset"])
    else:  # no intercept: mu = X . w, which is the centred form with xbar = 0 and offset = 0
        offset, inputs = zeros, inputs._replace(xbar=jnp.zeros_like(inputs.xbar))
    rho = flat(samples["rho"]) if "rho" in samples else zeros
    keys = jax.random.split(jax.random.PRNGKey(seed), chains * draws)
    pred, mu = _predict_all(keys, inputs, flat(w), offset, flat(samples["sigma"]), rho)
    shape = (chains, draws) + pred.shape[1:]
    return np.asarray(pred).reshape(shape), np.asarray(mu).reshape(shape)
