"""Simulated unit tables (one row per customer) with confounded treatment and known causal effects.

A marketing team sent a retention offer to customers it picked: older, richer, more active customers and the
customers of some regions were more likely to get it. The same traits raise spend, so the naive difference in
spend between customers who got the offer and those who did not overstates its effect. The effect itself varies
with the customer (larger for active customers), so the average effect on the treated (ATT) differs from the
average effect over everyone (ATE). Both truths are computed from the simulated units' own potential outcomes'
expectations (the sample ATE/ATT given the covariates; the outcome noise is the only thing averaged exactly), so
they are the estimands the estimators target on this sample, not Monte Carlo estimates of them.

The propensity and outcome surfaces are nonlinear in the covariates (a squared age term, an interaction, a log
of income), so a linear, additive model of either is misspecified: the place where a doubly robust or a
flexible model must earn its keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

REGIONS = ("north", "south", "east", "west")
_REGION_LOGIT = {"north": 0.0, "south": 0.5, "east": -0.4, "west": 0.2}
_REGION_SPEND = {"north": 0.0, "south": 4.0, "east": -3.0, "west": 1.0}


@dataclass(frozen=True)
class UnitStudy:
    """A simulated unit table and its truths.

    ``data`` has columns ``age``, ``income``, ``region``, ``visits`` (pre-treatment covariates), ``offer`` (0/1
    treatment), ``spend`` (outcome; 0/1 ``bought`` instead when simulated with ``binary_outcome=True``) and
    ``spend_last_year`` (a pre-treatment outcome: a negative control, the offer cannot have changed it).
    ``true_ate``/``true_att``: the sample average effects (difference in expected outcome, in the outcome's units
    or in probability for a binary outcome); ``propensity``: each unit's true probability of treatment.
    """

    data: pd.DataFrame
    true_ate: float
    true_att: float
    propensity: np.ndarray = field(repr=False)
    treatment: str = "offer"
    outcome: str = "spend"
    covariates: tuple[str, ...] = ("age", "income", "region", "visits")


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def simulate_confounded_units(n: int = 5000, seed: int = 0, effect: float = 5.0, confounding: float = 1.0,
                              overlap: float = 1.0, binary_outcome: bool = False) -> UnitStudy:
    """Simulate ``n`` customers with a confounded offer; see the module docstring.

    ``effect``: the offer's effect on spend for a customer with the average number of visits (the effect grows
    by 40% per standard deviation of visits); ``confounding``: multiplies every covariate's pull on the
    propensity (0 gives a randomised offer); ``overlap``: divides the propensity's spread (below 1 pushes
    propensities towards 0 and 1, i.e. poorer overlap); ``binary_outcome``: the outcome is ``bought``, 1 with a
    logistic probability of the same index (``effect`` then on the log-odds scale) and the truths are
    differences in probability.
    """
    if n < 10:
        raise ValueError("simulate at least 10 units")
    rng = np.random.default_rng(seed)
    age = rng.normal(45.0, 12.0, n).clip(18, 90)
    income = rng.lognormal(np.log(50.0), 0.5, n)  # thousands a year
    region = rng.choice(REGIONS, size=n, p=[0.4, 0.25, 0.2, 0.15])
    visits = rng.poisson(np.exp(1.2 + 0.01 * (age - 45)), n)
    za, zi, zv = (age - 45) / 12, np.log(income / 50) / 0.5, (visits - 3.3) / 1.8
    r_logit = np.vectorize(_REGION_LOGIT.get)(region)
    index = confounding * (0.6 * za - 0.25 * za**2 + 0.5 * zi + 0.5 * zv + 0.3 * za * zi + r_logit)
    propensity = _sigmoid((-0.6 + index) / overlap)
    offer = (rng.uniform(size=n) < propensity).astype(int)
    base = 40 + 6 * za + 3 * za**2 + 8 * zi + 5 * zv + 2 * za * zv + np.vectorize(_REGION_SPEND.get)(region)
    tau = effect * (1 + 0.4 * zv)
    last_year = base + rng.normal(0, 8, n)
    if binary_outcome:
        eta0 = (base - 45) / 10
        p0, p1 = _sigmoid(eta0), _sigmoid(eta0 + tau)
        y = (rng.uniform(size=n) < np.where(offer == 1, p1, p0)).astype(int)
        diff, outcome = p1 - p0, "bought"
    else:
        y = base + offer * tau + rng.normal(0, 8, n)
        diff, outcome = tau, "spend"
    df = pd.DataFrame({"age": age.round(1), "income": income.round(2), "region": region, "visits": visits,
                       "offer": offer, outcome: y, "spend_last_year": last_year})
    # the rounding of age/income is tiny against the surfaces' scales; truths use the unrounded values
    return UnitStudy(data=df, true_ate=float(diff.mean()), true_att=float(diff[offer == 1].mean()),
                     propensity=propensity, outcome=outcome)
