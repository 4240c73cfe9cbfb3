"""Shared simulated MMM data and one small full fit (fixed seeds) for the MMM tests."""

import pytest

import bayescausal as bc
from bayescausal.datasets.mmm import simulate_mmm

SMOKE = bc.Sampler(chains=2, draws=250, warmup=250, progress=False)


@pytest.fixture(scope="session")
def study():
    return simulate_mmm(n_weeks=80, n_channels=3, seed=3)


@pytest.fixture(scope="session")
def small_fit(study):
    """A full fit (every check) with few draws: wiring and contracts, not accuracy."""
    est = bc.MMM(study.channels, seasonality=1)
    return est.fit(study.data, "date", "sales", controls=["price"], sampler=SMOKE, seed=0)
