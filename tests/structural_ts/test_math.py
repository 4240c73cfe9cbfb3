"""Kalman filter and smoothers against a dense multivariate-normal reference (exact, float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayescausal.structural_ts import _math


def _random_model(rng, n=14, m=3):
    Z = rng.normal(size=(n, m))
    T = np.stack([np.eye(m) + 0.3 * rng.normal(size=(m, m)) for _ in range(n)])
    q = rng.uniform(0.05, 0.5, size=(n, m))
    q[:, -1] = 0.0  # a degenerate (deterministic) state coordinate, as in dummy seasonality
    h = 0.3
    a1 = rng.normal(size=m)
    L = rng.normal(size=(m, m))
    P1 = L @ L.T + 0.5 * np.eye(m)
    y = rng.normal(size=n)
    observed = np.ones(n, bool)
    observed[[3, n // 2, n // 2 + 1, n - 1]] = False
    return y, observed, Z, T, q, h, a1, P1


def _dense(y, observed, Z, T, q, h, a1, P1):
    """Joint Gaussian of (alpha_1..alpha_n, y) written out as explicit matrices."""
    n, m = Z.shape
    k = m + (n - 1) * m  # u = (alpha_1 - a1, eta_1, ..., eta_{n-1})
    cov_u = np.zeros((k, k))
    cov_u[:m, :m] = P1
    for t in range(n - 1):
        cov_u[m + t * m : m + (t + 1) * m, m + t * m : m + (t + 1) * m] = np.diag(q[t])
    mean_alpha = np.zeros((n, m))
    G = np.zeros((n, m, k))
    mean_alpha[0] = a1
    G[0][:, :m] = np.eye(m)
    for t in range(n - 1):
        mean_alpha[t + 1] = T[t] @ mean_alpha[t]
        G[t + 1] = T[t] @ G[t]
        G[t + 1][:, m + t * m : m + (t + 1) * m] += np.eye(m)
    A = G.reshape(n * m, k)
    cov_alpha = A @ cov_u @ A.T
    H = np.zeros((n, n * m))
    for t in range(n):
        H[t, t * m : (t + 1) * m] = Z[t]
    cov_y = H @ cov_alpha @ H.T + h * np.eye(n)
    cov_ay = cov_alpha @ H.T
    mean_y = H @ mean_alpha.ravel()
    o = observed
    Syy = cov_y[np.ix_(o, o)]
    resid = y[o] - mean_y[o]
    sign, logdet = np.linalg.slogdet(Syy)
    loglik = -0.5 * (o.sum() * np.log(2 * np.pi) + logdet + resid @ np.linalg.solve(Syy, resid))
    gain = cov_ay[:, o] @ np.linalg.inv(Syy)
    post_mean = mean_alpha.ravel() + gain @ resid
    post_cov = cov_alpha - gain @ cov_ay[:, o].T
    return loglik, post_mean.reshape(n, m), post_cov


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loglik_and_smoother_match_dense_gaussian(seed):
    args = _random_model(np.random.default_rng(seed))
    loglik, mean, _ = _dense(*args)
    jargs = [jnp.asarray(a) for a in args]
    fo = _math.kalman_filter(*jargs)
    np.testing.assert_allclose(float(fo.loglik), loglik, rtol=1e-10, atol=1e-9)
    smooth = _math.smoothed_states(fo, jargs[1], jargs[2], jargs[3])
    np.testing.assert_allclose(np.asarray(smooth), mean, rtol=1e-8, atol=1e-9)


def test_one_step_predictive_matches_sequential_conditioning():
    y, observed, Z, T, q, h, a1, P1 = _random_model(np.random.default_rng(5), n=8, m=2)
    observed[:] = True
    mean, var = _math.one_step_predictive(*[jnp.asarray(a) for a in (y, observed, Z, T, q, h, a1, P1)])
    # dense: predictive of y_t given y_1..y_{t-1}
    for t in range(1, 8):
        obs = np.zeros(8, bool)
        obs[:t] = True
        _, post_mean, post_cov = _dense(y, obs, Z, T, q, h, a1, P1)
        m = Z.shape[1]
        np.testing.assert_allclose(float(mean[t]), Z[t] @ post_mean[t], rtol=1e-8, atol=1e-10)
        block = post_cov[t * m : (t + 1) * m, t * m : (t + 1) * m]
        np.testing.assert_allclose(float(var[t]), Z[t] @ block @ Z[t] + h, rtol=1e-8)


def test_simulation_smoother_draws_have_the_dense_posterior_moments():
    args = _random_model(np.random.default_rng(3), n=10, m=2)
    _, mean, cov = _dense(*args)
    jargs = [jnp.asarray(a) for a in args]
    n_draws = 20000
    keys = jax.random.split(jax.random.PRNGKey(0), n_draws)
    draws = jax.vmap(lambda k: _math.simulation_smoother(k, *jargs))(keys)
    draws = np.asarray(draws).reshape(n_draws, -1)
    sd = np.sqrt(np.diag(cov))
    # Monte Carlo standard error of the mean is sd / sqrt(n): allow 4.5 of them (a 1e-5 two-sided
    # tail per coordinate; 20 coordinates).
    z = (draws.mean(0) - mean.ravel()) / (sd / np.sqrt(n_draws))
    assert np.max(np.abs(z)) < 4.5
    # Sample sd within 4.5 of its own standard error (sd / sqrt(2 n) for Gaussian draws).
    sd_hat = draws.std(0)
    z_sd = (sd_hat - sd) / (sd / np.sqrt(2 * n_draws))
    assert np.max(np.abs(z_sd)) < 4.5
