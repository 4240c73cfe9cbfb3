"""Pure ``jax.numpy`` state-space algebra: Kalman filter, state smoother, simulation smoother.

The model is the linear Gaussian state space model in the notation of Durbin & Koopman (2012),
*Time Series Analysis by State Space Methods*, 2nd ed.:

    y_t       = Z_t' alpha_t + eps_t,          eps_t ~ N(0, h)
    alpha_t+1 = T_t alpha_t + eta_t,           eta_t ~ N(0, diag(q_t))
    alpha_1   ~ N(a_1, P_1)

with a scalar observation, time-varying ``Z_t`` (shape ``(n, m)``) and ``T_t`` (``(n, m, m)``, the
transition from ``t`` to ``t + 1``), and diagonal state innovation variances ``q_t`` (``(n, m)``;
every component here moves each state coordinate with its own innovation, so ``R Q R'`` is diagonal).
Missing observations (``observed[t] == False``) are skipped by the filter, which is also how the
post-intervention period is forecast. Everything runs in float64 inside ``lax.scan``; the filtered
covariance uses the Joseph form, which stays symmetric positive semi-definite under rounding.

No NumPyro and no pandas here.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

LOG_2PI = jnp.log(2.0 * jnp.pi)


class FilterOutput(NamedTuple):
    """Per-time outputs of the Kalman filter (``a_pred``/``P_pred`` are predictions given y_1..y_t-1)."""

    loglik: jnp.ndarray  # scalar, sum over observed points
    v: jnp.ndarray  # (n,) one-step-ahead prediction errors (0 where missing)
    F: jnp.ndarray  # (n,) their variances
    K: jnp.ndarray  # (n, m) filtered gains P z / F (0 where missing)
    a_pred: jnp.ndarray  # (n, m)
    P_pred: jnp.ndarray  # (n, m, m)


def _filter_step(h, carry, inputs):
    a, P = carry
    y_t, obs_t, z, T, q = inputs
    m = a.shape[0]
    v = y_t - z @ a
    Pz = P @ z
    F = z @ Pz + h
    K = Pz / F
    I_Kz = jnp.eye(m) - jnp.outer(K, z)
    P_f_obs = I_Kz @ P @ I_Kz.T + h * jnp.outer(K, K)  # Joseph form
    a_f = jnp.where(obs_t, a + K * v, a)
    P_f = jnp.where(obs_t, P_f_obs, P)
    a_next = T @ a_f
    P_next = T @ P_f @ T.T + jnp.diag(q)
    P_next = 0.5 * (P_next + P_next.T)
    ll = jnp.where(obs_t, -0.5 * (LOG_2PI + jnp.log(F) + v * v / F), 0.0)
    out = (jnp.where(obs_t, v, 0.0), F, jnp.where(obs_t, K, 0.0), a, P, ll)
    return (a_next, P_next), out


def kalman_filter(y, observed, Z, T, q, h, a1, P1) -> FilterOutput:
    """Kalman filter; returns the log-likelihood of the observed points and the per-time quantities.

    ``y`` may hold any finite value where ``observed`` is False (it is ignored there).
    """
    y = jnp.where(observed, y, 0.0)
    _, (v, F, K, a_pred, P_pred, ll) = jax.lax.scan(
        lambda c, x: _filter_step(h, c, x), (a1, P1), (y, observed, Z, T, q)
    )
    return FilterOutput(jnp.sum(ll), v, F, K, a_pred, P_pred)


def smoothed_states(fo: FilterOutput, observed, Z, T) -> jnp.ndarray:
    """Smoothed state means E[alpha_t | y] from a filter pass (fast backward recursion for r_t).

    r_{t-1} = z_t v_t / F_t + (I - K_t z_t')' T_t' r_t (observed t), r_{t-1} = T_t' r_t (missing t),
    r_n = 0; then alpha_hat_t = a_t + P_t r_{t-1}  (Durbin & Koopman 2012, sec. 4.4).
    """
    m = Z.shape[1]

    def back(r, inputs):
        v, F, K, z, Tt, obs_t = inputs
        Ttr = Tt.T @ r
        r_prev = jnp.where(obs_t, z * (v / F) + Ttr - z * (K @ Ttr), Ttr)
        return r_prev, r_prev

    _, r_prev = jax.lax.scan(
        back, jnp.zeros(m), (fo.v, fo.F, fo.K, Z, T, observed), reverse=True
    )
    return fo.a_pred + jnp.einsum("tij,tj->ti", fo.P_pred, r_prev)


def simulate_prior(key, Z, T, q, h, a1, P1):
    """Draw (alpha, y) jointly from the state space model (no conditioning)."""
    n, m = Z.shape
    k0, k1, k2 = jax.random.split(key, 3)
    chol_P1 = jnp.linalg.cholesky(P1 + 1e-12 * jnp.eye(m))
    alpha1 = a1 + chol_P1 @ jax.random.normal(k0, (m,))
    eta = jax.random.normal(k1, (n, m)) * jnp.sqrt(q)
    eps = jax.random.normal(k2, (n,)) * jnp.sqrt(h)

    def step(alpha, inputs):
        Tt, e = inputs
        return Tt @ alpha + e, alpha

    _, alphas = jax.lax.scan(step, alpha1, (T, eta))
    y = jnp.einsum("tm,tm->t", Z, alphas) + eps
    return alphas, y


def simulation_smoother(key, y, observed, Z, T, q, h, a1, P1) -> jnp.ndarray:
    """One draw of the states from p(alpha | y): the simulation smoother of Durbin & Koopman (2002).

    Draw (alpha+, y+) from the model, then alpha~ = alpha+ + E[alpha | y - y+] computed with a zero
    initial mean; by linearity of the smoother this is an exact draw from the conditional. Works with
    missing observations and with degenerate (zero-variance) state coordinates, where forward-filtering
    backward-sampling would need special care.
    """
    alpha_plus, y_plus = simulate_prior(key, Z, T, q, h, a1, P1)
    y_star = jnp.where(observed, y - y_plus, 0.0)
    fo = kalman_filter(y_star, observed, Z, T, q, h, jnp.zeros_like(a1), P1)
    return alpha_plus + smoothed_states(fo, observed, Z, T)


def one_step_predictive(y, observed, Z, T, q, h, a1, P1):
    """Mean and variance of the one-step-ahead predictive distribution of each y_t given y_1..y_t-1."""
    fo = kalman_filter(y, observed, Z, T, q, h, a1, P1)
    return jnp.einsum("tm,tm->t", Z, fo.a_pred), fo.F


def state_innovations(alpha, T):
    """eta_t = alpha_{t+1} - T_t alpha_t for t = 0..n-2 (shape (n-1, m))."""
    return alpha[1:] - jnp.einsum("tij,tj->ti", T[:-1], alpha[:-1])
