"""Conjugate conditional draws shared by Gibbs kernels (pure ``jax.numpy``; no NumPyro, no pandas).

* :func:`truncated_inverse_gamma`: a variance from InverseGamma(shape, rate) restricted to
  ``variance <= upper`` (R's bsts caps every standard deviation the same way).
* :func:`spike_slab_regression`: one sweep of stochastic-search variable selection (George &
  McCulloch 1997) under a Zellner-type g-prior, with the coefficients and the residual variance
  integrated out when each inclusion indicator is updated, then (variance, coefficients) drawn
  jointly: the prior of R's BoomSpikeSlab/bsts (Scott & Varian 2014), written from the equations.

All randomness comes in as pre-drawn standard normals and uniforms. A Gibbs sweep then makes one
call to each generator, rather than a dozen calls and a ``jax.random.gamma`` rejection loop, which
cut the XLA compile time of the BSTS sweep from about 10 s to about 2 s on a 2-core CPU.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

GAMMA_CANDIDATES = 16  # proposals per gamma variate (Marsaglia-Tsang accepts >= 95% each for shape >= 1)


def gamma_candidates_needed(n_variates: int) -> tuple[int, int]:
    """(normals, uniforms) that :func:`truncated_inverse_gamma` consumes for ``n_variates`` draws."""
    return GAMMA_CANDIDATES * n_variates, GAMMA_CANDIDATES * n_variates + n_variates


def truncated_inverse_gamma(shape, rate, upper, normals, uniforms):
    """Draw ``v ~ InverseGamma(shape, rate)`` conditioned on ``v <= upper``, elementwise.

    The precision ``1/v ~ Gamma(shape, rate)`` is drawn by Marsaglia & Tsang's (2000) squeeze method
    (for shape < 1 from Gamma(shape + 1) times U^(1/shape)); the truncation by rejection. Of
    ``GAMMA_CANDIDATES`` proposals per variate the first accepted one is returned; if none is (the
    cap binds hard, or an event of probability below 1e-20 for an unbound draw) the variance is set to
    the cap. ``normals``/``uniforms``: flat arrays sized by :func:`gamma_candidates_needed`.
    """
    shape, rate, upper = jnp.broadcast_arrays(jnp.asarray(shape, float), jnp.asarray(rate, float),
                                              jnp.asarray(upper, float))
    k = shape.size
    K = GAMMA_CANDIDATES
    x = normals.reshape(K, k)
    u = uniforms[: K * k].reshape(K, k)
    u_boost = uniforms[K * k:].reshape(k)
    a = jnp.where(shape < 1.0, shape + 1.0, shape).reshape(k)
    d = a - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)
    v = (1.0 + c * x) ** 3
    safe_v = jnp.where(v > 0, v, 1.0)
    accept = (v > 0) & (jnp.log(u) < 0.5 * x * x + d - d * safe_v + d * jnp.log(safe_v))
    g = d * safe_v
    flat_shape = shape.reshape(k)
    g = jnp.where(flat_shape < 1.0, g * u_boost ** (1.0 / flat_shape), g)
    min_precision = 1.0 / upper.reshape(k)
    precision = g / rate.reshape(k)
    ok = accept & (precision >= min_precision)
    first = jnp.argmax(ok, axis=0)
    chosen = jnp.take_along_axis(precision, first[None, :], axis=0)[0]
    precision = jnp.where(jnp.any(ok, axis=0), chosen, min_precision)
    return (1.0 / precision).reshape(shape.shape)


def _masked_system(included, xtx, omega, xty):
    """Posterior precision restricted to the included coefficients (identity elsewhere) and its rhs."""
    both = included[:, None] & included[None, :]
    eye = jnp.eye(xtx.shape[0])
    precision = jnp.where(both, xtx + omega, eye)
    prior_precision = jnp.where(both, omega, eye)
    rhs = jnp.where(included, xty, 0.0)
    return precision, prior_precision, rhs


def _collapsed_terms(included, xtx, omega, xty, yty):
    """log|Omega_g|/2 - log|V_g^-1|/2, the residual sum of squares, and the factors for pattern g."""
    precision, prior_precision, rhs = _masked_system(included, xtx, omega, xty)
    chol = jnp.linalg.cholesky(precision)
    c = solve_triangular(chol, rhs, lower=True)
    sse = jnp.maximum(yty - c @ c, 1e-12)
    half_logdets = jnp.sum(jnp.log(jnp.diag(jnp.linalg.cholesky(prior_precision)))) - jnp.sum(
        jnp.log(jnp.diag(chol))
    )
    return half_logdets, sse, chol, c


def spike_slab_randoms_needed(p: int) -> tuple[int, int]:
    """(normals, uniforms) consumed by :func:`spike_slab_regression` with ``p`` candidate regressors."""
    n_g, u_g = gamma_candidates_needed(1)
    return p + n_g, p + u_g


def spike_slab_regression(included, xtx, xty, yty, n_obs, omega, log_prior_odds, var_shape, var_rate,
                          var_upper, normals, uniforms):
    """One Gibbs sweep for ``y = X beta + e``, ``e ~ N(0, s2)``, with a spike-and-slab prior.

    Prior: ``gamma_j ~ Bernoulli(pi_j)``, ``beta_g | s2 ~ N(0, s2 * Omega_g^-1)``,
    ``1/s2 ~ Gamma(var_shape, var_rate)`` restricted to ``s2 <= var_upper``. Each indicator is drawn
    from its conditional with beta and s2 integrated out (ignoring the cap, whose effect on the
    marginal is negligible unless it binds); then ``s2`` and ``beta`` given the indicators. Inputs are
    the sufficient statistics ``X'X``, ``X'y``, ``y'y``; randomness from ``normals``/``uniforms`` sized
    by :func:`spike_slab_randoms_needed`. Returns ``(included, beta, s2)``.
    """
    import jax

    p = xtx.shape[0]
    post_shape = var_shape + 0.5 * n_obs

    def log_marginal(g):
        half_logdets, sse, _, _ = _collapsed_terms(g, xtx, omega, xty, yty)
        return half_logdets - post_shape * jnp.log(var_rate + 0.5 * sse)

    def flip(j, g):
        on = log_marginal(g.at[j].set(True))
        off = log_marginal(g.at[j].set(False))
        p_on = jax.nn.sigmoid(on - off + log_prior_odds[j])
        return g.at[j].set(uniforms[j] < p_on)

    included = jax.lax.fori_loop(0, p, flip, included)
    _, sse, chol, c = _collapsed_terms(included, xtx, omega, xty, yty)
    s2 = truncated_inverse_gamma(post_shape, var_rate + 0.5 * sse, var_upper, normals[p:], uniforms[p:])
    mean = solve_triangular(chol.T, c, lower=False)
    noise = solve_triangular(chol.T, normals[:p], lower=False)
    beta = jnp.where(included, mean + jnp.sqrt(s2) * noise, 0.0)
    return included, beta, s2
