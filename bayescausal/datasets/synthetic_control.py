"""Simulated panel for synthetic control: treated units that are known mixtures of donor units.

Donor units follow the linear factor model of Abadie, Diamond & Hainmueller (2010):
``X_jt = level_j + delta_t + lambda_t . mu_j + eps_jt``, with a common path ``delta_t`` (yearly cycle,
day of week, slow random-walk trend), three latent factors ``lambda_t`` (cycles and random walks), unit
loadings ``mu_j`` and AR(1) idiosyncratic noise. Donors come in clusters of similar units (loadings near
a shared centre), as regions or stores usually do, so that every donor can be reproduced by the others:
the condition under which the placebo-in-space check can pass. Each treated unit is, before the
intervention, exactly ``intercept + donors @ weights + AR(1) noise`` with sparse simplex weights, the
structural assumption of synthetic control with the level shift of Doudchenko & Imbens (2016). From the
intervention on, each treated unit moves by a known constant effect (zero is allowed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SyntheticControlStudy:
    """A simulated synthetic-control study: the data, its periods and the truth."""

    data: pd.DataFrame
    treated: tuple[str, ...]
    donors: tuple[str, ...]
    pre_period: tuple[str, str]
    post_period: tuple[str, str]
    true_weights: pd.DataFrame  # rows: treated units, columns: donors
    true_intercept: pd.Series  # per treated unit, in outcome units
    true_effect: np.ndarray  # (n_post, n_treated), in outcome units
    counterfactual: np.ndarray  # (n_post, n_treated): the treated series without the intervention

    @property
    def true_average_effect(self) -> float:
        """The average post-period effect, averaged over treated units (``SyntheticControl``'s ``effect``)."""
        return float(np.mean(self.true_effect))


def _ar1(rng, phi: float, sd: float, shape: tuple[int, ...]) -> np.ndarray:
    """Stationary AR(1) noise along the last axis with innovation sd ``sd``."""
    z = rng.normal(0.0, sd, shape)
    e = np.empty(shape)
    e[..., 0] = z[..., 0] / np.sqrt(1 - phi**2)
    for t in range(1, shape[-1]):
        e[..., t] = phi * e[..., t - 1] + z[..., t]
    return e


def simulate_synthetic_control(
    n_pre: int = 365,
    n_post: int = 60,
    n_donors: int = 8,
    n_treated: int = 1,
    relative_effect: float = 0.05,
    n_active: int = 3,
    intercept: float = 50.0,
    noise: float = 10.0,
    ar: float = 0.6,
    donor_noise: float = 8.0,
    start: str = "2024-01-01",
    seed: int = 0,
) -> SyntheticControlStudy:
    """Daily series of ``n_treated`` treated units and ``n_donors`` donor units (levels near 1,000).

    Each treated unit's weights are a Dirichlet(1) draw over ``n_active`` randomly chosen donors (zero on
    the rest); its intercept is drawn uniformly in ``+-intercept``; its residual is AR(1) with coefficient
    ``ar`` and innovation sd ``noise`` (outcome units). ``donor_noise``: innovation sd of the donors' own
    AR(1) noise (coefficient 0.5). ``relative_effect``: the effect as a share of the treated unit's
    pre-period mean (0: no effect; negative: a loss), constant over the post-period.
    """
    if n_active > n_donors:
        raise ValueError(f"n_active={n_active} exceeds n_donors={n_donors}.")
    rng = np.random.default_rng(seed)
    n = n_pre + n_post
    t = np.arange(n)
    dates = pd.date_range(start, periods=n, freq="D")
    weekly = rng.normal(0, 10, 7)
    delta = (1000 + 60 * np.sin(2 * np.pi * t / 365.25 + rng.uniform(0, 2 * np.pi)) + (weekly - weekly.mean())[
        dates.day_of_week] + np.cumsum(rng.normal(0, 2.0, n)))
    n_factors = 3
    lam = np.stack([40 * np.sin(2 * np.pi * t / rng.uniform(90, 400) + rng.uniform(0, 2 * np.pi))
                    + np.cumsum(rng.normal(0, 1.5, n)) for _ in range(n_factors)])  # (3, n)
    n_clusters = max(1, n_donors // 2)
    centres = rng.normal(0, 1, (n_clusters, n_factors))
    donors = [f"donor_{j + 1:02d}" for j in range(n_donors)]
    X = np.empty((n, n_donors))
    for j in range(n_donors):
        mu = centres[j % n_clusters] + rng.normal(0, 0.1, n_factors)
        X[:, j] = rng.uniform(-200, 200) + delta + mu @ lam + _ar1(rng, 0.5, donor_noise, (n,))
    treated = [f"treated_{k + 1}" if n_treated > 1 else "treated" for k in range(n_treated)]
    W = np.zeros((n_treated, n_donors))
    Y0 = np.empty((n, n_treated))
    a = np.empty(n_treated)
    for k in range(n_treated):
        active = rng.choice(n_donors, size=n_active, replace=False)
        W[k, active] = rng.dirichlet(np.ones(n_active))
        a[k] = rng.uniform(-intercept, intercept)
        Y0[:, k] = a[k] + X @ W[k] + _ar1(rng, ar, noise, (n,))
    effect = np.zeros((n, n_treated))
    effect[n_pre:] = relative_effect * Y0[:n_pre].mean(axis=0)
    Y = Y0 + effect
    data = pd.DataFrame(np.column_stack([Y, X]), columns=treated + donors, index=pd.Index(dates, name="date"))
    return SyntheticControlStudy(
        data=data,
        treated=tuple(treated),
        donors=tuple(donors),
        pre_period=(str(dates[0].date()), str(dates[n_pre - 1].date())),
        post_period=(str(dates[n_pre].date()), str(dates[-1].date())),
        true_weights=pd.DataFrame(W, index=treated, columns=donors),
        true_intercept=pd.Series(a, index=treated),
        true_effect=effect[n_pre:],
        counterfactual=Y0[n_pre:],
    )
