"""From standardised NumPy arrays to the model's input pytree (no pandas, no NumPyro)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .components import Layout, SeasonalComponent, build_layout
from .gibbs import BSTSInputs
from .priors import BSTSPriors


def standardise(y: np.ndarray, X: np.ndarray, fit: np.ndarray):
    """Scale outcome and controls by their moments over the fitting window only (CausalImpact's rule:
    nothing from the post period may influence the fit). Returns (y_std, X_std, y_mean, y_sd, x_mean, x_sd)."""
    y_fit = y[fit & np.isfinite(y)]
    y_mean, y_sd = float(np.mean(y_fit)), float(np.std(y_fit, ddof=1))
    if X.shape[1]:
        x_mean = X[fit].mean(axis=0)
        x_sd = X[fit].std(axis=0, ddof=1)
    else:
        x_mean = np.zeros(0)
        x_sd = np.ones(0)
    return (y - y_mean) / y_sd, (X - x_mean) / x_sd, y_mean, y_sd, x_mean, x_sd


def make_inputs(y_std: np.ndarray, X_std: np.ndarray, fit: np.ndarray, trend: str,
                seasonal: tuple[SeasonalComponent, ...], dynamic: bool, priors: BSTSPriors,
                control_names: tuple[str, ...] = ()) -> tuple[BSTSInputs, Layout]:
    """Assemble :class:`BSTSInputs` for a series of ``n`` points whose fitting window is ``fit``.

    Outside the fitting window the outcome is treated as missing (the states are forecast there).
    With ``dynamic=True`` the controls enter as random-walk coefficients (states), not static ones.
    """
    n = y_std.shape[0]
    observed = fit & np.isfinite(y_std)
    first = float(y_std[np.argmax(observed)])
    layout = build_layout(n, trend, seasonal, X_std if dynamic else None, first, control_names)
    X_static = np.zeros((n, 0)) if dynamic else X_std
    p = X_static.shape[1]
    Xo = np.where(observed[:, None], X_static, 0.0)
    xtx = Xo.T @ Xo
    n_obs = max(int(observed.sum()), 1)
    d = priors.diagonal_shrinkage
    omega = priors.prior_information_weight / n_obs * ((1 - d) * xtx + d * np.diag(np.diag(xtx)))
    omega = omega + 1e-9 * np.eye(p)
    incl = np.full(p, min(1.0, priors.expected_model_size / p)) if p else np.zeros(0)
    with np.errstate(divide="ignore"):
        log_odds = np.log(incl) - np.log1p(-incl)
    shapes, rates = [], []
    for kind in layout.variance_kinds:
        prior = priors.variance_prior(kind)
        shapes.append(float(prior.concentration))
        rates.append(float(prior.rate))
    fit_transition = (fit[:-1] & fit[1:]).astype(float)
    inputs = BSTSInputs(
        y=jnp.asarray(np.where(observed, y_std, 0.0)),
        observed=jnp.asarray(observed),
        fit_transition=jnp.asarray(fit_transition),
        X=jnp.asarray(X_static),
        Xo=jnp.asarray(Xo),
        xtx=jnp.asarray(xtx),
        Z=jnp.asarray(layout.Z),
        T=jnp.asarray(layout.T),
        var_index=jnp.asarray(layout.var_index),
        innov_mask=jnp.asarray(layout.innov_mask),
        a1=jnp.asarray(layout.a1),
        P1=jnp.asarray(layout.P1),
        var_shape=jnp.asarray(shapes),
        var_rate=jnp.asarray(rates),
        var_upper=jnp.full(len(shapes), priors.state_sd_upper**2),
        obs_shape=jnp.asarray(float(priors.observation.concentration)),
        obs_rate=jnp.asarray(float(priors.observation.rate)),
        obs_upper=jnp.asarray(priors.observation_sd_upper**2),
        omega=jnp.asarray(omega),
        log_prior_odds=jnp.asarray(log_odds),
    )
    return inputs, layout
