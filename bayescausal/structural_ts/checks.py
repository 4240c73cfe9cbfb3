"""Checks specific to the BSTS impact model: one-step-ahead coverage and placebo-in-time datasets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..checks import interval_coverage_check
from . import _math
from .gibbs import BSTSInputs, state_innovation_variances

N_COVERAGE_DRAWS = 500


def one_step_coverage(inputs: BSTSInputs, state_sd: np.ndarray, obs_sd: np.ndarray, beta: np.ndarray,
                      burn_in: int, seed: int, nominal: float = 0.95):
    """Pre-period one-step-ahead predictive coverage of the fitted model.

    For a thinned set of posterior draws the Kalman filter gives each pre-period point's predictive
    mean and variance given the points before it; the predictive distribution is the mixture over
    draws. The first ``burn_in`` points (where the diffuse start dominates) are skipped.
    """
    flat = lambda a: a.reshape((a.shape[0] * a.shape[1],) + a.shape[2:])  # noqa: E731
    state_sd, obs_sd, beta = flat(state_sd), flat(obs_sd), flat(beta)
    take = np.linspace(0, len(obs_sd) - 1, min(N_COVERAGE_DRAWS, len(obs_sd))).astype(int)

    def predictive(sd, h_sd, b):
        q = state_innovation_variances(sd**2, inputs)
        offset = inputs.X @ b if inputs.X.shape[1] else 0.0
        mean, var = _math.one_step_predictive(inputs.y - offset, inputs.observed, inputs.Z, inputs.T, q,
                                              h_sd**2, inputs.a1, inputs.P1)
        return mean + offset, var

    means, variances = jax.jit(jax.vmap(predictive))(jnp.asarray(state_sd[take]), jnp.asarray(obs_sd[take]),
                                                     jnp.asarray(beta[take]))
    means, variances = np.asarray(means), np.asarray(variances)
    rng = np.random.default_rng(seed)
    sims = means[None] + np.sqrt(variances)[None] * rng.standard_normal((4,) + means.shape)
    sims = sims.reshape(-1, means.shape[1])
    tail = (1 - nominal) / 2
    lower, upper = np.quantile(sims, [tail, 1 - tail], axis=0)
    y = np.where(np.asarray(inputs.observed), np.asarray(inputs.y), np.nan)
    y[:burn_in] = np.nan
    return interval_coverage_check(y, lower, upper, nominal, "one-step-ahead coverage", "pre-period points")


def placebo_dates(n_pre: int, n_post: int, min_fit: int, n_placebos: int) -> tuple[list[int], int]:
    """Fake intervention positions inside the pre-period and the placebo evaluation length.

    The evaluation window has the real post-period's length where the pre-period allows, else as long
    as possible with at least ``min_fit`` points before each fake date. Dates are spread evenly over
    the second half of the admissible range, so each placebo fit keeps most of the pre-period.
    """
    length = min(n_post, n_pre - min_fit)
    if length < 1:
        return [], 0
    last = n_pre - length
    first = max(min_fit, min(last, n_pre // 2))
    dates = sorted({int(round(x)) for x in np.linspace(first, last, n_placebos)})
    return dates, length
