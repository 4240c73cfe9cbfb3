"""The NumPyro marketing mix model (pure JAX inside; the estimator prepares the arrays).

For batch member ``b`` (datasets fitted side by side: the main fit has one, the checks' refits two), geo ``g``,
week ``t`` and channel ``c``, on the scaled data (outcome over its mean, spend over its mean):

    y_bgt ~ Normal(mu_bgt, sigma_b)            (weeks with mask 0 are left out of the likelihood)
    mu_bgt = intercept_bg + trend_t . k_b + season_t . gamma_b + controls_bgt . delta_b
             + sum_c beta_bgc * s_c(a_bgtc)
    a_bgtc = sum_l w_lc x_bg(t-l)c              adstock (geometric or Weibull lag weights, ``_math``)
    s_c                                          saturation (Hill or logistic) with per-channel parameters
    beta_bgc = beta_bc exp(tau_bc z_bgc),  z ~ Normal(0, 1)   with geos (non-centred hierarchy on the log scale)

``parameterisation="roas"`` samples each channel's return on ad spend over the data instead of ``beta_bc`` and
solves for ``beta_bc`` given the saturated series (Jin et al. 2017 discuss priors on ROAS; Google's Meridian
uses the same idea): the ROAS of channel ``c`` is ``sum_gt beta_bgc s_c(a_bgtc) u_g / sum_gt x_bgtc v_gc``, with
``u_g`` and ``v_gc`` the outcome and spend units of the data, so a prior on the ROAS is a prior on ``beta``.

NUTS samples the contribution at the mean spend ``beta_c s_c(1)`` in place of ``beta_c`` (``media_prior``
keeps the prior on ``beta_c``), and the mean level of ``mu`` over the weeks, ``level_bg``, in place of the
intercept, which follows as ``level_bg`` minus the mean over weeks of the trend, seasonality, control and media
terms (its prior, ``MMMPriors.intercept``, is applied to that value; the map is a shear, Jacobian 1, so the model
is unchanged). Why: with the intercept sampled, a channel whose adstock is long (``alpha`` near 1) has a smooth
contribution series whose level trades off against the intercept along a ridge that bends with ``alpha``; the
dense mass matrix cannot follow it and NUTS diverged there (measured on ``simulate_mmm(n_weeks=104,
n_channels=4)``, 2 chains x (500 + 1000): seeds 1000 and 1001 had 1 and 62 divergences, smallest bulk ESS 363 and
126; with the level, seeds 1000-1003 had none, smallest bulk ESS 390-674).

The last ``n_placebo`` channels are placebo channels: a signed coefficient
(prior ``MMMPriors.placebo``), so that a channel without effect can get an interval that covers zero.

Lift tests (experiments) add, for test ``j`` on channel ``c_j`` in geo ``g_j`` with spend change series
``d_j`` over the window ``W_j``:

    lift_j ~ Normal( sum_{t in W_j} beta_bg_jc_j [s(a_t + (w * d_j)_t) - s(a_t)],  lift_se_j )

i.e. the model's own counterfactual difference through the same adstock (adstock is linear, so the changed
series' adstock is ``a + w * d``), saturation and geo coefficient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from . import _math
from .priors import MMMPriors


class MMMInputs(NamedTuple):
    """The model's arrays (batch ``B``, geos ``G``, weeks ``T``, channels ``C``, lift tests ``L``)."""

    x: jnp.ndarray  # (B, G, T, C) spend over its unit
    y: jnp.ndarray  # (B, G, T) outcome over its unit
    mask: jnp.ndarray  # (B, G, T) 1 where the week enters the likelihood
    trend: jnp.ndarray  # (T, P) trend basis
    season: jnp.ndarray  # (T, F) Fourier basis
    controls: jnp.ndarray  # (B, G, T, K) standardised controls
    spend_unit: jnp.ndarray  # (B, G, C) spend unit (per geo and channel) over the reference outcome unit
    outcome_unit: jnp.ndarray  # (B, G) outcome unit per geo over the reference outcome unit
    lift_channel: jnp.ndarray  # (L,) int
    lift_geo: jnp.ndarray  # (L,) int
    lift_delta: jnp.ndarray  # (L, T) spend change over its unit, zero outside the window
    lift_window: jnp.ndarray  # (L, T) 1 inside the window
    lift_obs: jnp.ndarray  # (L,) measured lift over the geo's outcome unit
    lift_se: jnp.ndarray  # (L,)


@dataclass(frozen=True)
class ModelSpec:
    """Static choices of the model (hashable: one compiled sampler per spec and array shapes)."""

    adstock: str = "geometric"  # "geometric", "weibull" (cdf) or "weibull_pdf"
    saturation: str = "logistic"  # "logistic" or "hill"
    l_max: int = 8
    parameterisation: str = "coef"  # or "roas"
    n_placebo: int = 0
    geo: bool = False
    n_lift: int = 0
    priors: MMMPriors = None


def _sample(name, prior, shape):
    return numpyro.sample(name, prior.expand(shape).to_event(len(shape)))


def sample_params(inp: MMMInputs, spec: ModelSpec) -> dict:
    """Draw every parameter from its prior (the model's sample sites), shapes with a leading batch axis."""
    p = spec.priors
    B, G, T, C = inp.x.shape
    Cm = C - spec.n_placebo
    # the mean level of mu over the weeks, from which the intercept follows (see ``components``)
    out = {"level": numpyro.sample("level", dist.ImproperUniform(dist.constraints.real, (), event_shape=(B, G)))}
    if inp.trend.shape[1]:
        out["trend"] = _sample("trend", p.trend, (B, inp.trend.shape[1]))
    if inp.season.shape[1]:
        out["season"] = _sample("season", p.seasonality, (B, inp.season.shape[1]))
    if inp.controls.shape[-1]:
        out["controls"] = _sample("controls", p.controls, (B, inp.controls.shape[-1]))
    if spec.adstock == "geometric":
        out["alpha"] = _sample("alpha", p.adstock_alpha, (B, C))
    else:
        out["weibull_shape"] = _sample("weibull_shape", p.weibull_shape, (B, C))
        out["weibull_scale"] = _sample("weibull_scale", p.weibull_scale, (B, C))
    if spec.saturation == "hill":
        out["hill_half"] = _sample("hill_half", p.hill_half, (B, C))
        out["hill_slope"] = _sample("hill_slope", p.hill_slope, (B, C))
    else:
        out["lam"] = _sample("lam", p.logistic_lam, (B, C))
    if spec.parameterisation == "roas":
        out["roas"] = _sample("roas", p.roas, (B, Cm))
    else:  # sampled as the effect at the mean spend; the prior on the coefficient enters in ``media_prior``
        out["media_effect"] = numpyro.sample("media_effect", dist.ImproperUniform(
            dist.constraints.positive, (), event_shape=(B, Cm)))
    if spec.n_placebo:
        out["placebo_effect"] = numpyro.sample("placebo_effect", dist.ImproperUniform(
            dist.constraints.real, (), event_shape=(B, spec.n_placebo)))
    if spec.geo:
        out["geo_sd"] = _sample("geo_sd", p.geo_sd, (B, C))
        out["geo_z"] = _sample("geo_z", dist.Normal(0.0, 1.0), (B, G, C))
    out["sigma"] = _sample("sigma", p.sigma, (B,))
    return out


def saturation_at_mean(params: dict, spec: ModelSpec) -> jnp.ndarray:
    """Each channel's saturation at its mean spend (adstocked spend 1 on the model's scale): ``(B, C)``."""
    ref = params["lam"] if spec.saturation == "logistic" else params["hill_half"]
    return saturate(jnp.ones_like(ref), params, spec)


def media_coefficients(params: dict, spec: ModelSpec) -> jnp.ndarray | None:
    """The media coefficients ``beta`` ``(B, C')`` from the sampled effects at the mean spend (None under the ROAS
    parameterisation, whose coefficients depend on the data; see :func:`components`)."""
    s1 = saturation_at_mean(params, spec)
    Cm = s1.shape[-1] - spec.n_placebo
    parts = []
    if "media_effect" in params:
        parts.append(params["media_effect"] / s1[:, :Cm])
    elif "coef" in params:
        parts.append(params["coef"])
    if spec.n_placebo:
        parts.append(params["placebo_effect"] / s1[:, Cm:])
    return parts


def media_prior(params: dict, spec: ModelSpec) -> jnp.ndarray:
    """Log prior of the media coefficients in the sampled coordinates.

    NUTS samples ``e_c = beta_c s_c(1)``, the contribution at the channel's mean spend, which the data pin down,
    instead of ``beta_c``: with ``beta_c`` itself the posterior has a curved ridge (``beta s(a)`` is nearly
    ``beta lam a / 2`` for a weakly saturated logistic channel, so only the product is identified) that
    NUTS crosses with divergences. The model is unchanged: the density of ``(e, theta)`` is
    ``p(beta = e / s(1)) p(theta) / s(1)`` (the Jacobian of ``beta -> e`` at fixed ``theta``).
    """
    s1 = saturation_at_mean(params, spec)
    Cm = s1.shape[-1] - spec.n_placebo
    total = 0.0
    if "media_effect" in params:
        beta = params["media_effect"] / s1[:, :Cm]
        total = total + jnp.sum(spec.priors.coef.log_prob(beta) - jnp.log(s1[:, :Cm]))
    if spec.n_placebo:
        beta = params["placebo_effect"] / s1[:, Cm:]
        total = total + jnp.sum(spec.priors.placebo.log_prob(beta) - jnp.log(s1[:, Cm:]))
    return total


def lag_weights(params: dict, spec: ModelSpec) -> jnp.ndarray:
    """Adstock lag weights ``(B, L, C)``."""
    if spec.adstock == "geometric":
        return _math.geometric_weights(params["alpha"], spec.l_max)
    kind = "pdf" if spec.adstock == "weibull_pdf" else "cdf"
    return _math.weibull_weights(params["weibull_shape"], params["weibull_scale"], spec.l_max, kind)


def saturate(a: jnp.ndarray, params: dict, spec: ModelSpec, channel=None) -> jnp.ndarray:
    """Saturation of adstocked spend ``a`` with per-channel parameters ``(B, C)`` broadcast to ``a``'s shape
    ``(B, ..., C)``; ``channel`` (an index array) picks the parameters' channels first."""
    names = ("hill_half", "hill_slope") if spec.saturation == "hill" else ("lam",)
    vals = []
    for n in names:
        v = params[n] if channel is None else params[n][:, channel]
        vals.append(v.reshape(v.shape[:1] + (1,) * (a.ndim - 2) + v.shape[1:]))
    if spec.saturation == "hill":
        return _math.hill(a, vals[0], vals[1])
    return _math.logistic(a, vals[0])


def components(params: dict, inp: MMMInputs, spec: ModelSpec) -> dict:
    """The mean's parts: ``baseline`` (B, G, T), ``contrib`` (B, G, T, C) and ``mu`` (B, G, T), plus the
    adstocked spend, the lag weights and the geo-level coefficients ``beta`` (B, G, C).

    The batch axis of ``params`` may differ from the inputs' (posterior draws as the batch, inputs with B = 1).
    """
    x = inp.x
    w = lag_weights(params, spec)  # (B, L, C)
    a = _math.adstock(x, w[:, None])  # (B, G, T, C)
    sat = saturate(a, params, spec)
    G = x.shape[1]
    if spec.geo:
        mult = jnp.exp(params["geo_sd"][:, None, :] * params["geo_z"])  # (B, G, C)
    else:
        mult = jnp.ones((1, G, x.shape[-1]))
    Cm = x.shape[-1] - spec.n_placebo
    coefs = media_coefficients(params, spec)
    if spec.parameterisation == "roas":
        spend = jnp.sum(inp.spend_unit[..., :Cm] * x[..., :Cm].sum(axis=2), axis=1)  # (B, C)
        resp = jnp.sum(mult[..., :Cm] * inp.outcome_unit[..., None] * sat[..., :Cm].sum(axis=2), axis=1)
        coefs = [params["roas"] * spend / resp] + coefs
    base_coef = coefs[0] if len(coefs) == 1 else jnp.concatenate(
        [jnp.broadcast_to(c, (max(a.shape[0] for a in coefs),) + c.shape[1:]) for c in coefs], axis=-1)
    beta = base_coef[:, None, :] * mult  # (B, G, C)
    contrib = beta[:, :, None, :] * sat
    rest = jnp.zeros((1, 1, 1))
    if "trend" in params:
        rest = rest + jnp.sum(inp.trend[None] * params["trend"][:, None, :], axis=-1)[:, None, :]
    if "season" in params:
        rest = rest + jnp.sum(inp.season[None] * params["season"][:, None, :], axis=-1)[:, None, :]
    if "controls" in params:
        rest = rest + jnp.sum(inp.controls * params["controls"][:, None, None, :], axis=-1)
    media = contrib.sum(axis=-1)
    intercept = params["level"] - jnp.mean(rest + media, axis=-1)
    baseline = intercept[..., None] + rest
    mu = baseline + media
    return {"baseline": baseline, "contrib": contrib, "mu": mu, "adstock": a, "weights": w, "beta": beta,
            "intercept": intercept}


def lift_means(params: dict, parts: dict, inp: MMMInputs, spec: ModelSpec) -> jnp.ndarray:
    """The model's lift of each test ``(B, L)``: the counterfactual contribution difference over its window."""
    ch, geo = inp.lift_channel, inp.lift_geo
    w = parts["weights"][:, :, ch]  # (B, Lmax, L)
    a_delta = _math.adstock(inp.lift_delta.T, w)  # (B, T, L)
    # two index arrays around a slice: the indexed axis comes first, (L, B, T) -> (B, T, L)
    a_base = jnp.transpose(parts["adstock"][:, geo, :, ch], (1, 2, 0))
    diff = saturate(a_base + a_delta, params, spec, ch) - saturate(a_base, params, spec, ch)
    beta = parts["beta"][:, geo, ch]  # (B, L)
    return beta * jnp.sum(diff * inp.lift_window.T[None], axis=1)


def mmm_model(inp: MMMInputs, spec: ModelSpec):
    """The NumPyro model: priors, the masked Gaussian likelihood of the outcome and the lift-test terms."""
    params = sample_params(inp, spec)
    numpyro.factor("media_prior", media_prior(params, spec))
    parts = components(params, inp, spec)
    numpyro.factor("intercept_prior", jnp.sum(spec.priors.intercept.log_prob(parts["intercept"])))
    sigma = params["sigma"][:, None, None]
    ll = dist.Normal(parts["mu"], sigma).log_prob(inp.y)
    numpyro.factor("outcome", jnp.sum(jnp.where(inp.mask > 0, ll, 0.0)))
    if spec.n_lift:
        pred = lift_means(params, parts, inp, spec)
        numpyro.factor("lift_tests", jnp.sum(dist.Normal(pred, inp.lift_se).log_prob(inp.lift_obs)))
