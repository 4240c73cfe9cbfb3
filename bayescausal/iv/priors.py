"""``IVPriors``: the priors of :class:`~bayescausal.iv.BayesianIV`, on the standardised scale."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpyro.distributions as dist

from ..errors import SpecError
from ..priors import from_overrides


@dataclass(frozen=True)
class IVPriors:
    """Priors of the Bayesian IV model. Every variable is standardised (sample mean 0, sd 1; a binary
    treatment under ``treatment_model="probit"`` keeps its 0/1 coding), so the defaults do not depend
    on the data's units. Intercepts and covariate coefficients get flat priors (they are integrated out
    analytically for normal errors).

    effect
        Treatment coefficient, in outcome sds per treatment sd (per unit of a binary treatment).
        Normal(0, 2.5): weakly informative; it is also what the posterior falls back to when the
        instruments carry no information, so it sets how wide a weak-instrument posterior is.
    instrument
        First-stage coefficient of each instrument: Normal(0, 1). A standardised instrument with
        coefficient 1 would explain all of the treatment's variance, so this is wide.
    sigma
        Sd of each reduced-form error (each treatment's and the outcome's): HalfNormal(1), at most about
        the variable's own sd. (Probit: the outcome's structural error sd.)
    correlation_concentration
        LKJ shape ``eta`` of the correlation matrix of the errors (Lewandowski, Kurowicka & Joe 2009); for
        two errors (one treatment) LKJ(eta) is ``rho = 2 B - 1`` with ``B ~ Beta(eta, eta)``; 2 (default)
        mildly favours small correlations, 1 is uniform on (-1, 1) (on all correlation matrices for more).
    nu
        Degrees of freedom of Student-t errors (``errors="student_t"``): Gamma(2, 0.1) (Juarez & Steel 2010).
    """

    effect: dist.Distribution = field(default_factory=lambda: dist.Normal(0.0, 2.5))
    instrument: dist.Distribution = field(default_factory=lambda: dist.Normal(0.0, 1.0))
    sigma: dist.Distribution = field(default_factory=lambda: dist.HalfNormal(1.0))
    correlation_concentration: float = 2.0
    nu: dist.Distribution = field(default_factory=lambda: dist.Gamma(2.0, 0.1))

    def __post_init__(self):
        eta = self.correlation_concentration
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not eta > 0:
            raise SpecError(f"IVPriors.correlation_concentration must be a positive number (got {eta!r}); "
                            "1 is uniform on the correlation, larger values favour small correlations.")
        for name in ("effect", "instrument", "sigma", "nu"):
            value = getattr(self, name)
            if not isinstance(value, dist.Distribution) or value.batch_shape or value.event_shape:
                raise SpecError(f"IVPriors.{name} must be a scalar numpyro distribution (got {value!r}), "
                                f"e.g. numpyro.distributions.Normal(0.0, 1.0).")
        for name in ("sigma", "nu"):
            low = getattr(getattr(self, name).support, "lower_bound", None)
            if low is None or float(low) < 0:
                raise SpecError(f"IVPriors.{name} must have positive support (e.g. HalfNormal, Gamma, Exponential).")

    @classmethod
    def from_overrides(cls, priors) -> IVPriors:
        """Build from None, an IVPriors, or a dict of field overrides; an unknown name raises SpecError."""
        return from_overrides(cls, priors)
