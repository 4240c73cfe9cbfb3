"""``MMMPriors``: the priors of :class:`~bayescausal.mmm.MMM`, on the data's own (scaled) units.

The model sees the outcome divided by its mean (per geo) and each channel's spend divided by its mean spend
(per geo), so these defaults do not depend on the currency or the size of the business: an intercept near 1
is "the average week", a saturation half-point of 1 is "the channel's average weekly spend".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpyro.distributions as dist

from ..errors import SpecError
from ..priors import from_overrides

_POSITIVE = ("coef", "roas", "adstock_alpha", "weibull_shape", "weibull_scale", "hill_half", "hill_slope",
             "logistic_lam", "sigma", "geo_sd")
_PER_CHANNEL = ("coef", "roas")


@dataclass(frozen=True)
class MMMPriors:
    """Priors of the marketing mix model (outcome in units of its mean, spend in units of each channel's mean).

    intercept
        Baseline level (per geo): Normal(1, 1); 1 is the average week's outcome.
    trend
        Coefficient(s) of the trend basis (time scaled to [0, 1] over the data; piecewise trends add one
        coefficient per change point): Normal(0, 0.5), a change of up to about half the mean over the data.
    seasonality
        Each Fourier coefficient: Normal(0, 0.25).
    controls
        Coefficient of each standardised control: Normal(0, 0.5).
    coef
        Media coefficient of each channel (``parameterisation="coef"``): outcome (in means) per unit of
        saturated spend. HalfNormal(1): a channel could at most move the outcome by about its mean.
        Scalar or one value per channel (batch shape ``(C,)``).
    roas
        Return on ad spend of each channel over the data (``parameterisation="roas"``): LogNormal(0, 1),
        median 1, 95% of the mass between 0.14 and 7.1. Scalar or per channel: the place to put what earlier
        experiments said.
    adstock_alpha
        Geometric decay per week: Beta(3, 3) (mean 0.5, 95% between 0.15 and 0.85), the prior of Jin et al.
        (2017) on the retention rate. The decay is weakly identified, so its prior shapes the
        fitted contributions; the earlier Beta(1, 3), which puts 88% of its mass below 0.5, pulled long
        carryovers short and ROAS down (``benchmarks/README.md``, MMM section).
    weibull_shape, weibull_scale
        Weibull adstock shape (Gamma(2, 2), mean 1) and scale in weeks (Gamma(2, 1), mean 2).
    hill_half, hill_slope
        Hill half-saturation point, in units of the channel's mean weekly spend (Gamma(3, 3), mean 1), and
        Hill slope (Gamma(3, 2), mean 1.5).
    logistic_lam
        Logistic saturation rate per unit of mean spend: Gamma(2.5, 2), median 1.09. Chosen on the
        interpretable scale: at its mean spend a channel is at ``s(1) = tanh(lam / 2)`` of its ceiling, and this
        prior makes ``s(1)`` about Beta(2, 2) (5%, 50%, 95% quantiles 0.14, 0.50, 0.88 against Beta(2, 2)'s 0.14,
        0.50, 0.87), centred on half-saturated, like the Beta(2, 2) prior of Jin et al. (2017) on the Hill
        half-saturation point. The level of a channel's contribution (unlike its week-to-week variation) is
        told apart from the intercept only through the curve's shape, so this prior matters for ROAS: the
        earlier Gamma(2, 2) (median 0.84) pulled strongly saturated channels' ROAS down by half a posterior sd.
    sigma
        Residual sd (in means): HalfNormal(0.5).
    geo_sd
        With ``geo``: sd across geos of the log media coefficient of each channel (non-centred hierarchy):
        HalfNormal(0.3).
    placebo
        Coefficient of the placebo channel in the placebo check (signed, so that its interval can cover 0):
        Normal(0, 1).
    """

    intercept: dist.Distribution = field(default_factory=lambda: dist.Normal(1.0, 1.0))
    trend: dist.Distribution = field(default_factory=lambda: dist.Normal(0.0, 0.5))
    seasonality: dist.Distribution = field(default_factory=lambda: dist.Normal(0.0, 0.25))
    controls: dist.Distribution = field(default_factory=lambda: dist.Normal(0.0, 0.5))
    coef: dist.Distribution = field(default_factory=lambda: dist.HalfNormal(1.0))
    roas: dist.Distribution = field(default_factory=lambda: dist.LogNormal(0.0, 1.0))
    adstock_alpha: dist.Distribution = field(default_factory=lambda: dist.Beta(3.0, 3.0))
    weibull_shape: dist.Distribution = field(default_factory=lambda: dist.Gamma(2.0, 2.0))
    weibull_scale: dist.Distribution = field(default_factory=lambda: dist.Gamma(2.0, 1.0))
    hill_half: dist.Distribution = field(default_factory=lambda: dist.Gamma(3.0, 3.0))
    hill_slope: dist.Distribution = field(default_factory=lambda: dist.Gamma(3.0, 2.0))
    logistic_lam: dist.Distribution = field(default_factory=lambda: dist.Gamma(2.5, 2.0))
    sigma: dist.Distribution = field(default_factory=lambda: dist.HalfNormal(0.5))
    geo_sd: dist.Distribution = field(default_factory=lambda: dist.HalfNormal(0.3))
    placebo: dist.Distribution = field(default_factory=lambda: dist.Normal(0.0, 1.0))

    def __post_init__(self):
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not isinstance(value, dist.Distribution) or value.event_shape:
                raise SpecError(f"MMMPriors.{name} must be a numpyro distribution (got {value!r}), "
                                "e.g. numpyro.distributions.HalfNormal(1.0).")
            if value.batch_shape and (name not in _PER_CHANNEL or len(value.batch_shape) != 1):
                raise SpecError(f"MMMPriors.{name} must be a scalar distribution"
                                + (" or have one value per channel (batch shape (C,))" if name in _PER_CHANNEL
                                   else "") + f"; got batch shape {value.batch_shape}.")
        for name in _POSITIVE:
            low = getattr(getattr(self, name).support, "lower_bound", None)
            if low is None or float(low) < 0:
                raise SpecError(f"MMMPriors.{name} must have non-negative support (e.g. HalfNormal, Gamma, "
                                "LogNormal).")

    def check_channels(self, n_channels: int) -> None:
        """SpecError when a per-channel prior does not have one value per channel."""
        for name in _PER_CHANNEL:
            shape = getattr(self, name).batch_shape
            if shape and shape != (n_channels,):
                raise SpecError(f"MMMPriors.{name} has batch shape {shape} but the model has {n_channels} channels: "
                                "give a scalar prior or one value per channel, in the order of `channels`.")

    @classmethod
    def from_overrides(cls, priors) -> MMMPriors:
        """Build from None (the shared default instance), an MMMPriors, or a dict of overrides by name."""
        if priors is None:
            return DEFAULT_PRIORS
        return from_overrides(cls, priors)


DEFAULT_PRIORS = MMMPriors()  # one instance, so that fits with default priors share one compiled sampler
