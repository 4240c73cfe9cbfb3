"""The BSTS impact model of ``bc.CausalImpact`` written again, independently, in PyMC (test-only reference).

Why: ``bc.CausalImpact`` samples its model with a hand-written Gibbs kernel (simulation smoother,
truncated inverse-gamma draws, collapsed spike-and-slab sweep). A mistake in any conditional would
bias the posterior without any error. This module states the same generative model directly as a
PyMC model and samples it with NUTS, so agreement of the two posteriors checks the kernel's algebra
from outside. Nothing here imports bayescausal's model, math or prior code; the only shared input is
the data.

The model (everything on the standardised scale: outcome and controls centred and scaled by their
pre-period mean and sd, ddof=1; post-period outcomes treated as missing)::

    y_t          = mu_t + s_t + x_t' beta + eps_t,            eps_t ~ N(0, sigma2)   (pre-period t only)
    mu_{t+1}     = mu_t + sigma_level * z_t,                  z_t ~ N(0, 1)
    s_{t+1}      = -(s_t + ... + s_{t-P+2}) + sigma_seas * w_t,  w_t ~ N(0, 1)       (dummy seasonal, period P)
    mu_1         ~ N(y_first, 1)     (y_first: the first observed standardised outcome)
    (s_1, s_0, ..., s_{3-P}) ~ N(0, I)                         (the P-1 seasonal states of the first time point)
    sigma_level^2 ~ InverseGamma(16, 16 * 0.01^2)   restricted to sigma_level <= 1
    sigma_seas^2  ~ InverseGamma(16, 16 * 0.01^2)   restricted to sigma_seas <= 1
    sigma2        ~ InverseGamma(25, 25 * 0.2)      restricted to sqrt(sigma2) <= 1.2
    beta | sigma2 ~ N(0, sigma2 * Omega^-1),  Omega = 0.01 / n_pre * (0.5 X'X + 0.5 diag(X'X)) + 1e-9 I

(X'X over the pre-period rows of the standardised controls.) These are bsts's ``SdPrior(guess, n)``
defaults as the toolkit documents them: ``1/variance ~ Gamma(n/2, n guess^2 / 2)``, the level and
seasonal guesses 0.01 with weight 32, the observation guess sqrt(1 - 0.8) with weight 50, and the sd
caps 1 and 1.2. Every control is in the model: this is the toolkit's spike-and-slab with inclusion
probability 1 (``expected_model_size`` >= number of controls), so only the slab, a Zellner-type
prior conditional on the noise variance, remains.

The latent states are explicit and non-centred, and run through the post-period, so the
counterfactual mean there comes out of the same model; the counterfactual outcome adds observation
noise (drawn with NumPy per posterior draw, which is exact: it is independent of everything given
sigma2) and goes back to the original scale. Explicit states rather than a Kalman filter in a
pytensor ``scan``: the dummy-seasonal recursion has a closed form (``s_t - s_{t-P} = w_{t-1} - w_{t-2}``,
a cumulative sum along each residue class mod P), so the whole model is vectorised, where a
scan-based filter and its gradient cost hundreds of small per-step operations per leapfrog step;
and an explicit-state model shares no algorithm with the toolkit's Kalman-based kernel, which is what
makes it an independent check. With innovation sds about 0.01 against a noise sd about 0.28
(posterior means on the demo data), the data determine each single innovation weakly, the regime
where the non-centred form has a well-conditioned posterior (NUTS ran at tree depth 6, no divergences).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

# Prior constants (standardised scale); see the module docstring.
STATE_SD_GUESS = 0.01
STATE_PRIOR_WEIGHT = 32.0
OBS_SD_GUESS = (1.0 - 0.8) ** 0.5
OBS_PRIOR_WEIGHT = 50.0
STATE_SD_CAP = 1.0
OBS_SD_CAP = 1.2
PRIOR_INFORMATION_WEIGHT = 0.01
DIAGONAL_SHRINKAGE = 0.5
OMEGA_JITTER = 1e-9


def inverse_gamma_from_sd_guess(guess: float, weight: float) -> tuple[float, float]:
    """(shape, scale) of the inverse-gamma prior on a variance whose sd is expected near ``guess``,
    with the weight of ``weight`` observations: ``1/variance ~ Gamma(weight/2, rate=weight guess^2/2)``."""
    return 0.5 * weight, 0.5 * weight * guess**2


@dataclass(frozen=True)
class SeriesOnScale:
    """The analysis window, standardised by pre-period moments, with the constants to undo it."""

    y: np.ndarray  # (n,) standardised outcome (post-period values are never used by the fit)
    X: np.ndarray  # (n, p) standardised controls
    y_raw: np.ndarray  # (n,) outcome on the original scale
    pre: np.ndarray  # (n,) bool: observed and used for fitting
    post: np.ndarray  # (n,) bool: where the effect is measured
    y_mean: float
    y_sd: float


def standardise_frame(df, outcome: str, controls, pre_period, post_period) -> SeriesOnScale:
    """Cut the window from the pre-period start to the post-period end (labels, inclusive) and scale
    outcome and controls by their pre-period mean and sd (ddof=1), as CausalImpact does."""
    window = df.loc[pre_period[0] : post_period[1]]
    positions = np.arange(len(window))
    pre = positions < len(window.loc[: pre_period[1]])
    post = positions >= len(window) - len(window.loc[post_period[0] :])
    y_raw = window[outcome].to_numpy(dtype=float)
    X_raw = window[list(controls)].to_numpy(dtype=float)
    fit = pre & np.isfinite(y_raw)
    y_mean, y_sd = float(y_raw[fit].mean()), float(y_raw[fit].std(ddof=1))
    x_mean, x_sd = X_raw[pre].mean(axis=0), X_raw[pre].std(axis=0, ddof=1)
    return SeriesOnScale(y=(y_raw - y_mean) / y_sd, X=(X_raw - x_mean) / x_sd, y_raw=y_raw, pre=fit, post=post,
                         y_mean=y_mean, y_sd=y_sd)


def coefficient_prior_chol(X: np.ndarray, pre: np.ndarray) -> np.ndarray:
    """Cholesky factor of ``Omega^-1``, the coefficient prior covariance per unit noise variance."""
    Xo = X[pre]
    xtx = Xo.T @ Xo
    d = DIAGONAL_SHRINKAGE
    omega = PRIOR_INFORMATION_WEIGHT / Xo.shape[0] * ((1 - d) * xtx + d * np.diag(np.diag(xtx)))
    omega = omega + OMEGA_JITTER * np.eye(X.shape[1])
    return np.linalg.cholesky(np.linalg.inv(omega))


def seasonal_path(first_state, innovations, period: int, n: int):
    """Seasonal effects ``s_1..s_n`` (pytensor) from the first state and the ``n - 1`` innovations.

    ``first_state`` is ``(s_1, s_0, ..., s_{3-P})`` (P = period); the dynamics are
    ``s_{t+1} = -(s_t + ... + s_{t-P+2}) + innovations_t``. Subtracting consecutive equations gives
    ``s_{t+1} = s_{t+1-P} + innovations_t - innovations_{t-1}`` (with ``innovations_0 = 0`` and the
    virtual ``s_{2-P} = -sum(first_state)``), i.e. one cumulative sum per residue class mod P: no scan.
    """
    import pytensor.tensor as pt

    chrono = first_state[::-1]  # s_{3-P}, ..., s_1
    start = pt.concatenate([-pt.sum(first_state, keepdims=True), chrono])  # s_{2-P}, ..., s_1 (P values)
    padded = pt.concatenate([pt.zeros(1), innovations])
    steps = padded[1:] - padded[:-1]  # increments of s_{t+1} over s_{t+1-P}, t = 1..n-1
    total = period + n - 1  # values s_{2-P} .. s_n
    rows = -(-total // period)
    flat = pt.concatenate([start, steps, pt.zeros(rows * period - total)])
    series = pt.cumsum(flat.reshape((rows, period)), axis=0).reshape((-1,))
    return series[period - 1 : period - 1 + n]


def seasonal_path_by_recursion(first_state: np.ndarray, innovations: np.ndarray, period: int) -> np.ndarray:
    """The same path by stepping the transition matrix directly (NumPy): the check of :func:`seasonal_path`."""
    k = period - 1
    T = np.zeros((k, k))
    T[0, :] = -1.0
    T[1:, :-1] = np.eye(k - 1)
    state = np.asarray(first_state, float).copy()
    out = [state[0]]
    for w in innovations:
        state = T @ state
        state[0] += w
        out.append(state[0])
    return np.asarray(out)


def build_model(data: SeriesOnScale, period: int = 7):
    """The PyMC model of the module docstring for one series; ``post_mean`` is the average
    counterfactual mean (standardised) over the post-period."""
    import pymc as pm
    import pytensor.tensor as pt

    n, p = data.X.shape
    obs = np.flatnonzero(data.pre)
    post = np.flatnonzero(data.post)
    state_shape, state_scale = inverse_gamma_from_sd_guess(STATE_SD_GUESS, STATE_PRIOR_WEIGHT)
    obs_shape, obs_scale = inverse_gamma_from_sd_guess(OBS_SD_GUESS, OBS_PRIOR_WEIGHT)
    beta_chol = coefficient_prior_chol(data.X, data.pre)
    with pm.Model() as model:
        level_var = pm.Truncated("level_var", pm.InverseGamma.dist(alpha=state_shape, beta=state_scale),
                                 lower=0.0, upper=STATE_SD_CAP**2)
        seasonal_var = pm.Truncated("seasonal_var", pm.InverseGamma.dist(alpha=state_shape, beta=state_scale),
                                    lower=0.0, upper=STATE_SD_CAP**2)
        obs_var = pm.Truncated("obs_var", pm.InverseGamma.dist(alpha=obs_shape, beta=obs_scale),
                               lower=0.0, upper=OBS_SD_CAP**2)
        level_1 = pm.Normal("level_1", mu=float(data.y[obs[0]]), sigma=1.0)
        seasonal_1 = pm.Normal("seasonal_1", mu=0.0, sigma=1.0, shape=period - 1)
        z_level = pm.Normal("z_level", mu=0.0, sigma=1.0, shape=n - 1)
        z_seasonal = pm.Normal("z_seasonal", mu=0.0, sigma=1.0, shape=n - 1)
        level = level_1 + pt.concatenate([pt.zeros(1), pt.cumsum(pt.sqrt(level_var) * z_level)])
        seasonal = seasonal_path(seasonal_1, pt.sqrt(seasonal_var) * z_seasonal, period, n)
        beta = pm.MvNormal("beta", mu=np.zeros(p), chol=pt.sqrt(obs_var) * beta_chol)
        mean = level + seasonal + pt.dot(data.X, beta)
        pm.Normal("y", mu=mean[obs], sigma=pt.sqrt(obs_var), observed=data.y[obs])
        pm.Deterministic("post_mean", pt.mean(mean[post]))
        pm.Deterministic("obs_sd", pt.sqrt(obs_var))
    return model


@dataclass(frozen=True)
class ReferenceFit:
    """Posterior draws of the reference model (arrays shaped (chain, draw)) and what the run cost."""

    effect: np.ndarray  # average post-period effect, original scale
    obs_sd: np.ndarray  # observation noise sd, original scale
    seconds: float  # wall time of compile + sampling
    sampler: str
    divergences: int
    idata: object


def fit_reference(data: SeriesOnScale, period: int = 7, draws: int = 1000, tune: int = 1000, chains: int = 4,
                  seed: int = 0, nuts_sampler: str = "pymc", target_accept: float = 0.9,
                  cores: int | None = None) -> ReferenceFit:
    """Sample the reference model with NUTS and return the average effect on the original scale.

    The counterfactual average is ``y_mean + y_sd * (post_mean + eps_bar)`` with ``eps_bar``, the
    average of the post-period observation noise, drawn as ``N(0, sigma2 / n_post)`` per draw.
    """
    import pymc as pm

    model = build_model(data, period)
    t0 = time.perf_counter()
    with model:
        idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=cores or min(chains, 2), random_seed=seed,
                          nuts_sampler=nuts_sampler, target_accept=target_accept, progressbar=False,
                          compute_convergence_checks=False)
    seconds = time.perf_counter() - t0
    post = idata.posterior
    post_mean = post["post_mean"].values
    obs_sd = post["obs_sd"].values
    n_post = int(data.post.sum())
    rng = np.random.default_rng(seed + 1)
    eps_bar = rng.standard_normal(post_mean.shape) * obs_sd / np.sqrt(n_post)
    counterfactual_avg = data.y_mean + data.y_sd * (post_mean + eps_bar)
    effect = data.y_raw[data.post].mean() - counterfactual_avg
    divergences = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    return ReferenceFit(effect=effect, obs_sd=obs_sd * data.y_sd, seconds=seconds,
                        sampler=f"PyMC NUTS ({nuts_sampler} backend)", divergences=divergences, idata=idata)
