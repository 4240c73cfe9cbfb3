"""The BSTS Gibbs sampler, written as a NumPyro ``MCMCKernel``.

One iteration (the scheme of R's bsts; Scott & Varian 2014):

1. states | everything: one draw of all latent states with the Durbin-Koopman simulation smoother
   (post-period outcomes are missing, so the same draw forecasts the counterfactual);
2. state innovation variances | states: conjugate (truncated) inverse-gamma draws, using only
   transitions inside the fitting window, so post-period forecasts never inform the fit;
3. inclusion indicators, coefficients and observation variance | states: a collapsed spike-and-slab sweep.

Every chain does the same work in every iteration (no trees, no rejections), so chains and whole
datasets vectorise perfectly with ``vmap``: ``inference.run_batched`` runs placebo refits and
simulation studies as one compiled program.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from numpyro.infer.mcmc import MCMCKernel

from ..inference.conjugate import (
    gamma_candidates_needed,
    spike_slab_randoms_needed,
    spike_slab_regression,
    truncated_inverse_gamma,
)
from . import _math


class BSTSInputs(NamedTuple):
    """Model arrays on the standardised scale (a pytree, so batches of datasets ``vmap``)."""

    y: jnp.ndarray  # (n,) outcome, 0 where not observed
    observed: jnp.ndarray  # (n,) bool: observed and inside the fitting window
    fit_transition: jnp.ndarray  # (n - 1,) 1.0 where transition t -> t+1 lies inside the fitting window
    X: jnp.ndarray  # (n, p) static regressors
    Xo: jnp.ndarray  # (n, p) static regressors, zeroed outside the fitting rows
    xtx: jnp.ndarray  # (p, p) Xo' Xo
    Z: jnp.ndarray  # (n, m)
    T: jnp.ndarray  # (n, m, m)
    var_index: jnp.ndarray  # (m,) int
    innov_mask: jnp.ndarray  # (n, m)
    a1: jnp.ndarray  # (m,)
    P1: jnp.ndarray  # (m, m)
    var_shape: jnp.ndarray  # (k,) inverse-gamma shapes of the state variances
    var_rate: jnp.ndarray  # (k,)
    var_upper: jnp.ndarray  # (k,) caps on the variances
    obs_shape: jnp.ndarray  # ()
    obs_rate: jnp.ndarray  # ()
    obs_upper: jnp.ndarray  # ()
    omega: jnp.ndarray  # (p, p) coefficient prior precision (times the observation variance)
    log_prior_odds: jnp.ndarray  # (p,) log(pi / (1 - pi)) of inclusion


DATA_FIELDS = ("y", "observed", "fit_transition", "X", "Xo", "xtx", "a1", "omega")


def batch_axes(dynamic: bool) -> BSTSInputs:
    """``vmap`` axes for a batch of datasets sharing one model: data fields batched, system shared.

    With dynamic regression the controls live in ``Z``, which then differs per dataset too.
    """
    batched = set(DATA_FIELDS) | ({"Z"} if dynamic else set())
    return BSTSInputs(**{f: (0 if f in batched else None) for f in BSTSInputs._fields})


def stack_datasets(datasets: list[BSTSInputs], axes: BSTSInputs) -> BSTSInputs:
    """Stack the batched fields of several datasets (the shared ones are taken from the first)."""
    return BSTSInputs(**{
        f: (jnp.stack([getattr(d, f) for d in datasets]) if getattr(axes, f) == 0 else getattr(datasets[0], f))
        for f in BSTSInputs._fields
    })


class GibbsState(NamedTuple):
    z: dict
    state_var: jnp.ndarray
    obs_var: jnp.ndarray
    beta: jnp.ndarray
    included: jnp.ndarray
    rng_key: jnp.ndarray


def state_innovation_variances(state_var, inputs: BSTSInputs):
    """``q_t`` for every time point from the variance parameters."""
    per_coord = jnp.where(inputs.var_index >= 0, state_var[jnp.maximum(inputs.var_index, 0)], 0.0)
    return per_coord[None, :] * inputs.innov_mask


def _record(state_var, obs_var, beta, included, mean, y_pred):
    return {
        "state_sd": jnp.sqrt(state_var),
        "obs_sd": jnp.sqrt(obs_var),
        "beta": beta,
        "included": included.astype(jnp.float64),
        "mean": mean,
        "y_pred": y_pred,
    }


def gibbs_init(rng_key, inputs: BSTSInputs) -> GibbsState:
    """Start at the prior modes (capped), no regression effect and every control included."""
    state_var = jnp.minimum(inputs.var_rate / (inputs.var_shape + 1.0), inputs.var_upper)
    obs_var = jnp.minimum(inputs.obs_rate / (inputs.obs_shape + 1.0), inputs.obs_upper)
    p = inputs.X.shape[1]
    n = inputs.y.shape[0]
    beta = jnp.zeros(p)
    included = jnp.ones(p, dtype=bool)
    z = _record(state_var, obs_var, beta, included, jnp.zeros(n), jnp.zeros(n))
    return GibbsState(z, state_var, obs_var, beta, included, rng_key)


def _split(flat, sizes):
    out, start = [], 0
    for size in sizes:
        out.append(flat[start : start + size])
        start += size
    return out


def gibbs_step(state: GibbsState, inputs: BSTSInputs) -> GibbsState:
    """One full Gibbs sweep; records the (parameters, states) pair it conditioned on.

    All of the sweep's randomness is drawn in one normal and one uniform call (see
    ``inference.conjugate`` for why).
    """
    n, m = inputs.Z.shape
    p = inputs.X.shape[1]
    k = inputs.var_shape.shape[0]
    g_norm, g_unif = gamma_candidates_needed(k)
    s_norm, s_unif = spike_slab_randoms_needed(p) if p else gamma_candidates_needed(1)
    n_sizes = (m, n * m, n, n, g_norm, s_norm)
    u_sizes = (g_unif, s_unif)
    key, k_norm, k_unif = jax.random.split(state.rng_key, 3)
    normals = jax.random.normal(k_norm, (sum(n_sizes),))
    uniforms = jax.random.uniform(k_unif, (sum(u_sizes),), minval=1e-300)
    z_init, z_state, z_obs, z_pred, z_gamma, z_reg = _split(normals, n_sizes)
    u_gamma, u_reg = _split(uniforms, u_sizes)

    q = state_innovation_variances(state.state_var, inputs)
    offset = inputs.X @ state.beta if p else jnp.zeros(n)
    alpha = _math.simulation_smoother_from_normals(
        z_init, z_state.reshape(n, m), z_obs, inputs.y - offset, inputs.observed, inputs.Z, inputs.T, q,
        state.obs_var, inputs.a1, inputs.P1,
    )
    signal = jnp.sum(inputs.Z * alpha, axis=1)
    mean = signal + offset
    y_pred = mean + jnp.sqrt(state.obs_var) * z_pred
    z = _record(state.state_var, state.obs_var, state.beta, state.included, mean, y_pred)

    # state variances | states (transitions inside the fitting window only)
    eta = _math.state_innovations(alpha, inputs.T)
    weight = inputs.fit_transition[:, None] * inputs.innov_mask[:-1]
    onehot = (inputs.var_index[:, None] == jnp.arange(k)[None, :]).astype(jnp.float64)
    sum_sq = jnp.sum(weight * eta**2, axis=0) @ onehot
    count = jnp.sum(weight, axis=0) @ onehot
    state_var = truncated_inverse_gamma(
        inputs.var_shape + 0.5 * count, inputs.var_rate + 0.5 * sum_sq, inputs.var_upper, z_gamma, u_gamma
    )

    # regression and observation variance | states
    resid = jnp.where(inputs.observed, inputs.y - signal, 0.0)
    n_obs = jnp.sum(inputs.observed)
    if p:
        included, beta, obs_var = spike_slab_regression(
            state.included, inputs.xtx, inputs.Xo.T @ resid, resid @ resid, n_obs, inputs.omega,
            inputs.log_prior_odds, inputs.obs_shape, inputs.obs_rate, inputs.obs_upper, z_reg, u_reg,
        )
    else:
        included, beta = state.included, state.beta
        obs_var = truncated_inverse_gamma(
            inputs.obs_shape + 0.5 * n_obs, inputs.obs_rate + 0.5 * resid @ resid, inputs.obs_upper, z_reg, u_reg
        )
    return GibbsState(z, state_var, obs_var, beta, included, key)


class BSTSGibbs(MCMCKernel):
    """NumPyro kernel wrapping :func:`gibbs_init` / :func:`gibbs_step`; model args: ``(BSTSInputs,)``.

    With ``chain_method="vectorized"`` NumPyro hands ``init`` a batch of keys; the kernel then maps
    itself over chains.
    """

    sample_field = "z"

    def __init__(self):
        self._vectorized = False

    def init(self, rng_key, num_warmup, init_params, model_args, model_kwargs):
        inputs = model_args[0]
        self._vectorized = jnp.ndim(rng_key) > 1
        if self._vectorized:
            return jax.vmap(gibbs_init, in_axes=(0, None))(rng_key, inputs)
        return gibbs_init(rng_key, inputs)

    def sample(self, state, model_args, model_kwargs):
        inputs = model_args[0]
        if self._vectorized:
            return jax.vmap(gibbs_step, in_axes=(0, None))(state, inputs)
        return gibbs_step(state, inputs)
