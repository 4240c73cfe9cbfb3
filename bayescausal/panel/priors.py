"""``PanelPriors``: the priors of :class:`~bayescausal.panel.PanelFE` (and of the event study built on its core),
on the standardised scale."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpyro.distributions as dist

from ..errors import SpecError
from ..priors import from_overrides

_GAUSSIAN = ("effect", "coefficient", "intercept", "mundlak")
_SCALES = ("sigma", "sd_unit", "sd_time")


@dataclass(frozen=True)
class PanelPriors:
    """Priors of the Gaussian panel model ``y_it = a_i + g_t + x_it' beta + tau D_it + e_it``.

    The outcome and every covariate are standardised (mean 0, sd 1 over all rows); effect columns (the 0/1
    treatment, event-time indicators) keep their 0/1 coding, so ``effect`` is in outcome sds per unit of
    treatment. The coefficients' priors must be Normal (or None: flat), because the sampler integrates them out
    analytically given the variances (Gaussian conjugacy); only the scale parameters are sampled by NUTS.

    effect
        Each effect column's coefficient: Normal(0, 2.5), weakly informative; None gives a flat prior (the
        posterior mean given the variances is then exactly the within / GLS estimate).
    coefficient
        Each covariate's coefficient, per covariate sd: Normal(0, 2.5); None: flat.
    intercept
        Mean ``mu`` of hierarchical unit effects: Normal(0, 5) (the outcome is centred, so ``mu`` is near 0).
    mundlak
        Coefficients of the unit means of the covariates and of the effect columns under ``mundlak=True``
        (Mundlak 1978): Normal(0, 2.5); None: flat.
    sigma
        Sd of the idiosyncratic error (of the AR(1) innovation under ``errors="ar1"``): HalfNormal(1), at most
        about the outcome's own sd.
    sd_unit
        Sd of hierarchical unit effects ``a_i ~ N(mu, sd_unit^2)``: HalfNormal(1).
    sd_time
        Sd of hierarchical time effects ``g_t ~ N(0, sd_time^2)``: HalfNormal(1).
    rho
        AR(1) coefficient of the errors: Uniform(-1, 1) (stationary values).
    """

    effect: dist.Distribution | None = field(default_factory=lambda: dist.Normal(0.0, 2.5))
    coefficient: dist.Distribution | None = field(default_factory=lambda: dist.Normal(0.0, 2.5))
    intercept: dist.Distribution | None = field(default_factory=lambda: dist.Normal(0.0, 5.0))
    mundlak: dist.Distribution | None = field(default_factory=lambda: dist.Normal(0.0, 2.5))
    sigma: dist.Distribution = field(default_factory=lambda: dist.HalfNormal(1.0))
    sd_unit: dist.Distribution = field(default_factory=lambda: dist.HalfNormal(1.0))
    sd_time: dist.Distribution = field(default_factory=lambda: dist.HalfNormal(1.0))
    rho: dist.Distribution = field(default_factory=lambda: dist.Uniform(-1.0, 1.0))

    def __post_init__(self):
        for name in _GAUSSIAN:
            value = getattr(self, name)
            if value is None:
                continue
            if type(value) is not dist.Normal or value.batch_shape:
                raise SpecError(f"PanelPriors.{name} must be a scalar numpyro Normal, e.g. "
                                f"numpyro.distributions.Normal(0.0, 2.5), or None for a flat prior (got {value!r}): "
                                "the coefficients are integrated out analytically, which needs a Gaussian prior.")
        for name in (*_SCALES, "rho"):
            value = getattr(self, name)
            if not isinstance(value, dist.Distribution) or value.batch_shape or value.event_shape:
                raise SpecError(f"PanelPriors.{name} must be a scalar numpyro distribution (got {value!r}), "
                                "e.g. numpyro.distributions.HalfNormal(1.0).")
        for name in _SCALES:
            low = getattr(getattr(self, name).support, "lower_bound", None)
            if low is None or float(low) < 0:
                raise SpecError(f"PanelPriors.{name} must have positive support (e.g. HalfNormal, Gamma, Exponential).")
        support = self.rho.support
        lo, hi = getattr(support, "lower_bound", None), getattr(support, "upper_bound", None)
        if lo is None or hi is None or float(lo) < -1 or float(hi) > 1:
            raise SpecError("PanelPriors.rho must have support inside [-1, 1] (e.g. Uniform(-1, 1)): the AR(1) "
                            "errors are stationary only there.")

    @classmethod
    def from_overrides(cls, priors) -> PanelPriors:
        """Build from None, a PanelPriors, or a dict of field overrides; an unknown name raises SpecError."""
        return from_overrides(cls, priors)


def gaussian_moments(prior: dist.Distribution | None) -> tuple[float, float]:
    """(mean, precision) of a Normal prior; (0, 0) for a flat one."""
    if prior is None:
        return 0.0, 0.0
    return float(prior.loc), 1.0 / float(prior.scale) ** 2
