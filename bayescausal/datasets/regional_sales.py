"""Simulated regional sales with a price change in one region: data with a known causal effect.

The control regions share latent market factors (a slow trend, yearly seasonality); each adds its
own day-of-week pattern, drift and noise. The treated region follows a weighted mix of three control
regions plus its own day-of-week pattern, slow drift and noise: the structure that makes controls
usable for a counterfactual. It alone changes its price at the intervention date, shifting its sales
by a known amount from then on (zero is allowed: a null effect, to test false positives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SimulatedStudy:
    """A simulated study: the data, its periods, and the truth."""

    data: pd.DataFrame
    outcome: str
    controls: tuple[str, ...]
    pre_period: tuple[str, str]
    post_period: tuple[str, str]
    true_effect: np.ndarray  # per post-period day, in sales units
    counterfactual: np.ndarray  # the treated region's sales without the price change (post-period)

    @property
    def true_average_effect(self) -> float:
        return float(np.mean(self.true_effect))


def simulate_regional_sales(
    n_pre: int = 365,
    n_post: int = 60,
    n_controls: int = 5,
    relative_effect: float = 0.05,
    start: str = "2024-01-01",
    noise: float = 0.02,
    control_noise: float = 0.01,
    seed: int = 0,
) -> SimulatedStudy:
    """Daily sales of a treated region and ``n_controls`` control regions.

    ``relative_effect`` is the price change's effect as a share of the treated region's average
    pre-period sales (e.g. 0.05: +5%; negative for a loss; 0: no effect). ``noise`` and
    ``control_noise`` are the daily noise sds of the treated and control regions as shares of sales
    (control regions are usually aggregates of several markets, hence less noisy).
    """
    rng = np.random.default_rng(seed)
    n = n_pre + n_post
    t = np.arange(n)
    dates = pd.date_range(start, periods=n, freq="D")
    n_factors = 3
    yearly = np.stack([np.sin(2 * np.pi * (t / 365.25) + rng.uniform(0, 2 * np.pi)) for _ in range(n_factors)])
    trend = np.cumsum(rng.normal(0, 0.01, (n_factors, n)), axis=1)
    factors = 0.15 * yearly + trend  # (k, n), relative deviations from baseline

    def region(loadings, base, own_sd, noise):
        weekly = rng.normal(0, 0.04, 7)
        weekly -= weekly.mean()
        own = np.cumsum(rng.normal(0, own_sd, n))  # region-specific slow drift
        return base * (1 + loadings @ factors + weekly[dates.day_of_week] + own + rng.normal(0, noise, n))

    controls = {}
    names = [f"region_{chr(ord('b') + j)}" for j in range(n_controls)]
    for name in names:
        loadings = rng.dirichlet(np.ones(n_factors)) * rng.uniform(0.6, 1.4)
        controls[name] = region(loadings, rng.uniform(600, 1400), 0.0002, control_noise)
    # The treated region moves with a few of the control regions (the structural assumption that
    # makes them usable as controls), plus its own day-of-week pattern, a slow drift and noise.
    X = np.column_stack([controls[c] for c in names])
    active = rng.choice(n_controls, size=min(3, n_controls), replace=False)
    weights = np.zeros(n_controls)
    weights[active] = rng.dirichlet(np.ones(active.size)) / X[:n_pre, active].mean(axis=0)
    base = 1000.0
    weekly = rng.normal(0, 0.03, 7)
    weekly -= weekly.mean()
    drift = np.cumsum(rng.normal(0, 0.0005, n))
    sales = base * (X @ weights + weekly[dates.day_of_week] + drift + rng.normal(0, noise, n))
    effect = np.zeros(n)
    effect[n_pre:] = relative_effect * np.mean(sales[:n_pre])
    observed = sales + effect
    df = pd.DataFrame({"sales": observed, **controls}, index=pd.Index(dates, name="date"))
    return SimulatedStudy(
        data=df,
        outcome="sales",
        controls=tuple(names),
        pre_period=(str(dates[0].date()), str(dates[n_pre - 1].date())),
        post_period=(str(dates[n_pre].date()), str(dates[-1].date())),
        true_effect=effect[n_pre:],
        counterfactual=sales[n_pre:],
    )
