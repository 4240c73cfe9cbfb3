"""The outcome models of coarsened exact matching, fitted from stratum sufficient statistics (pure JAX, NumPyro).

After matching, every kept stratum ``s`` holds ``n_c`` controls and ``n_t`` treated units. The model compares them
*within* strata and pools the strata's effects::

    control outcome   ~ Normal(mu_s, sigma_c)            (Bernoulli: logit p = a_s)
    treated outcome   ~ Normal(mu_s + tau_s, sigma_t)    (Bernoulli: logit p = a_s + b_s)
    tau_s = tau + gamma * e_s + sigma_tau * z_s,   z_s ~ Normal(0, 1)

``e_s`` is the stratum's standardised logit treated share (CEM's own propensity score; see
:func:`~bayescausal.crosssection._cem_math.propensity_score` for why the effects pool towards strata with a similar
propensity). The estimand is the average of the stratum effects (on the outcome scale: a difference in means, or in
probabilities for a Bernoulli outcome) weighted by the strata's treated (ATT), control (ATC) or all (ATE) units, per
posterior draw. The stratum effects are the partially pooled "parallel experiments" of Rubin (1981), "Estimation in
parallel randomized experiments", J. Educational Statistics 6(4):377-401.

Gaussian outcome (:func:`gaussian_model`): the stratum baselines ``mu_s`` get a flat prior, i.e. they are the
stratum fixed effects of a matched comparison. A hierarchical prior on them would shrink the baseline of a stratum
with few controls towards the average stratum, and since strata differ in baseline *because of* the confounders,
that would bring confounding back. Both ``mu_s`` and ``tau_s`` are integrated out analytically (Gaussian
conjugacy), which leaves NUTS five global parameters, and the likelihood of each stratum is exact:

    log p(stratum s) = log N(ybar_t - ybar_c; theta_s, sigma_tau^2 + sigma_c^2/n_c + sigma_t^2/n_t)
                       + sum_g [ -(n_g - 1)/2 log(2 pi sigma_g^2) - 1/2 log n_g - SS_g / (2 sigma_g^2) ]

with ``theta_s = tau + gamma e_s`` and ``SS_g`` the within-group sum of squared deviations (the flat-prior
marginal: the row likelihood integrated over ``mu_s``). Strata that share their pair of group counts are summed
into one term exactly (:class:`~bayescausal.crosssection._cem_strata.GaussianGroups`), so a gradient costs
O(distinct count pairs), whatever the numbers of rows and strata. Given the globals, the stratum effects are
independent normals (:func:`~bayescausal.crosssection._cem_strata.effect_conditional`), so their posterior and
the estimand's are drawn exactly after sampling (Rao-Blackwellised).

Bernoulli outcome (:func:`bernoulli_model`): the baselines need a proper prior (a stratum whose controls all
succeed has no finite maximum), so ``a_s = a + delta e_s + sigma_a z^a_s`` is hierarchical too, with the same
propensity term guarding against shrinkage-induced confounding; ``a_s`` and ``b_s`` are non-centred and sampled.

Every model carries a leading batch axis ``B`` of independent posteriors (the main fit has ``B = 1``; the A/A
placebos, the negative control and the permutations are batched into one NUTS run) and a ``mask`` for strata that
only pad a batch to a common size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ..errors import SpecError
from ..priors import from_overrides
from ._cem_strata import BinomialStrata, GaussianGroups, GaussianStrata, bernoulli_strata_logits

_LOG_2PI = 1.8378770664093453


@dataclass(frozen=True)
class CEMPriors:
    """Priors of the CEM outcome models. A Gaussian outcome is standardised (mean 0, sd 1 over the units), so its
    effects are in outcome sds; a Bernoulli outcome's effects are on the log-odds scale.

    effect
        ``tau``: the stratum effect at the average propensity. Normal(0, 1.5): an effect of 3 outcome sds (or a
        log-odds ratio of 3) is already implausible in most applications.
    effect_sd
        ``sigma_tau``: sd of the stratum effects around ``tau + gamma e_s``. HalfNormal(0.5).
    effect_slope
        ``gamma``: change of the stratum effect per sd of the strata's logit propensity. Normal(0, 0.5).
    noise
        Gaussian only: the within-stratum sd of the outcome, one per group (``sigma_c``, ``sigma_t``).
        HalfNormal(1): at most about the outcome's own sd.
    baseline
        Bernoulli only: ``a``, the control log-odds of the average stratum. Normal(0, 2.5).
    baseline_sd
        Bernoulli only: ``sigma_a``, sd of the strata's control log-odds. HalfNormal(2).
    baseline_slope
        Bernoulli only: ``delta``, change of the control log-odds per sd of the logit propensity. Normal(0, 1).
    """

    effect: dist.Distribution = field(default_factory=lambda: dist.Normal(0.0, 1.5))
    effect_sd: dist.Distribution = field(default_factory=lambda: dist.HalfNormal(0.5))
    effect_slope: dist.Distribution = field(default_factory=lambda: dist.Normal(0.0, 0.5))
    noise: dist.Distribution = field(default_factory=lambda: dist.HalfNormal(1.0))
    baseline: dist.Distribution = field(default_factory=lambda: dist.Normal(0.0, 2.5))
    baseline_sd: dist.Distribution = field(default_factory=lambda: dist.HalfNormal(2.0))
    baseline_slope: dist.Distribution = field(default_factory=lambda: dist.Normal(0.0, 1.0))

    def __post_init__(self):
        for name in ("effect", "effect_sd", "effect_slope", "noise", "baseline", "baseline_sd", "baseline_slope"):
            value = getattr(self, name)
            if not isinstance(value, dist.Distribution) or value.batch_shape or value.event_shape:
                raise SpecError(f"CEMPriors.{name} must be a scalar numpyro distribution (got {value!r}), "
                                "e.g. numpyro.distributions.Normal(0.0, 1.0).")
        for name in ("effect_sd", "noise", "baseline_sd"):
            low = getattr(getattr(self, name).support, "lower_bound", None)
            if low is None or float(low) < 0:
                raise SpecError(f"CEMPriors.{name} is a standard deviation: give it positive support "
                                "(e.g. HalfNormal, Exponential).")

    @classmethod
    def from_overrides(cls, priors) -> CEMPriors:
        """Build from None, a CEMPriors, or a dict of field overrides; an unknown name raises SpecError."""
        return from_overrides(cls, priors)


# -- Gaussian --------------------------------------------------------------------------------------------------
def _within_loglik(n, ss, sigma):
    """Row log-likelihood of one group around its own mean, less the part in its mean: see the module docstring."""
    return -0.5 * (n - 1.0) * (_LOG_2PI + 2.0 * jnp.log(sigma)) - 0.5 * jnp.log(n) - 0.5 * ss / sigma**2


def gaussian_stratum_loglik(stats: GaussianStrata, tau, gamma, tau_sd, sigma_c, sigma_t):
    """Exact log-likelihood of each stratum (B, S) with ``mu_s`` (flat prior) and ``tau_s`` integrated out.

    Globals are (B,) arrays; padded strata contribute 0."""
    col = lambda a: jnp.asarray(a)[..., None]  # noqa: E731
    v = col(sigma_c) ** 2 / stats.n_c + col(sigma_t) ** 2 / stats.n_t
    total = col(tau_sd) ** 2 + v
    d = stats.mean_t - stats.mean_c
    theta = col(tau) + col(gamma) * stats.score
    ll = -0.5 * (_LOG_2PI + jnp.log(total)) - 0.5 * (d - theta) ** 2 / total
    ll = ll + _within_loglik(stats.n_c, stats.ss_c, col(sigma_c)) + _within_loglik(stats.n_t, stats.ss_t, col(sigma_t))
    return jnp.where(stats.mask > 0, ll, 0.0)


def gaussian_group_loglik(groups: GaussianGroups, tau, gamma, tau_sd, sigma_c, sigma_t):
    """Exact log-likelihood (B, K) of the strata grouped by count pair: the sum of
    :func:`gaussian_stratum_loglik` over each group's strata (see :class:`GaussianGroups`)."""
    col = lambda a: jnp.asarray(a)[..., None]  # noqa: E731
    sc, st = col(sigma_c), col(sigma_t)
    total = col(tau_sd) ** 2 + sc**2 / groups.n_c + st**2 / groups.n_t
    theta = col(tau) + col(gamma) * groups.score
    m = groups.count
    ll = -0.5 * m * (_LOG_2PI + jnp.log(total)) - 0.5 * (groups.ss_d + m * (groups.mean_d - theta) ** 2) / total
    ll = ll - 0.5 * m * ((groups.n_c - 1.0) * (_LOG_2PI + 2.0 * jnp.log(sc)) + jnp.log(groups.n_c)
                         + (groups.n_t - 1.0) * (_LOG_2PI + 2.0 * jnp.log(st)) + jnp.log(groups.n_t))
    ll = ll - 0.5 * groups.ss_c / sc**2 - 0.5 * groups.ss_t / st**2
    return jnp.where(groups.mask > 0, ll, 0.0)


def gaussian_model(groups: GaussianGroups, priors: CEMPriors) -> None:
    """Collapsed hierarchical Gaussian model over strata (see the module docstring), on strata grouped by count
    pair; leading batch axis B."""
    B = groups.n_c.shape[0]
    with numpyro.plate("batch", B):
        tau = numpyro.sample("tau", priors.effect)
        gamma = numpyro.sample("gamma", priors.effect_slope)
        tau_sd = numpyro.sample("tau_sd", priors.effect_sd)
        sigma = numpyro.sample("sigma", priors.noise.expand([2]).to_event(1))  # (B, 2): control, treated
    ll = gaussian_group_loglik(groups, tau, gamma, tau_sd, sigma[:, 0], sigma[:, 1])
    numpyro.factor("loglik", jnp.sum(ll))


# -- Bernoulli -------------------------------------------------------------------------------------------------
def _log_sigmoid(x):
    return -jnp.logaddexp(0.0, -x)


def binomial_stratum_loglik(stats: BinomialStrata, a_s, b_s):
    """Log-likelihood (B, S) of the strata's 0/1 outcomes with control log-odds ``a_s`` and effect ``b_s`` on the
    log-odds scale: ``k log p + (n - k) log(1 - p)`` per group, the sum of the rows' Bernoulli log-likelihoods."""
    eta_t = a_s + b_s
    ll = (stats.k_c * _log_sigmoid(a_s) + (stats.n_c - stats.k_c) * _log_sigmoid(-a_s)
          + stats.k_t * _log_sigmoid(eta_t) + (stats.n_t - stats.k_t) * _log_sigmoid(-eta_t))
    return jnp.where(stats.mask > 0, ll, 0.0)


def bernoulli_model(stats: BinomialStrata, priors: CEMPriors) -> None:
    """Hierarchical logistic model over strata, non-centred baselines and effects; leading batch axis B."""
    B, S = stats.n_c.shape
    with numpyro.plate("batch", B):
        base = numpyro.sample("baseline", priors.baseline)
        base_sd = numpyro.sample("baseline_sd", priors.baseline_sd)
        delta = numpyro.sample("baseline_slope", priors.baseline_slope)
        tau = numpyro.sample("tau", priors.effect)
        gamma = numpyro.sample("gamma", priors.effect_slope)
        tau_sd = numpyro.sample("tau_sd", priors.effect_sd)
        z_a = numpyro.sample("z_baseline", dist.Normal(0.0, 1.0).expand([S]).to_event(1))
        z_b = numpyro.sample("z_effect", dist.Normal(0.0, 1.0).expand([S]).to_event(1))
    a_s, b_s = bernoulli_strata_logits(stats.score, base, base_sd, delta, tau, gamma, tau_sd, z_a, z_b)
    numpyro.factor("loglik", jnp.sum(binomial_stratum_loglik(stats, a_s, b_s)))
