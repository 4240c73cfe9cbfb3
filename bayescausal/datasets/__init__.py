"""Shipped demo data and simulators with known causal effects."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from .crosssection import UnitStudy, simulate_confounded_units
from .panel import (
    RegionalPriceStudy,
    StaggeredStudy,
    simulate_regional_price_panel,
    simulate_staggered_panel,
)
from .regional_sales import SimulatedStudy, simulate_regional_sales
from .scm_scenarios import ChurnStudy, SimpsonsStudy, simulate_churn_ltv, simulate_simpsons_ab
from .synthetic_control import SyntheticControlStudy, simulate_synthetic_control

# The shipped CSV: simulate_regional_sales(seed=DEMO_SEED, relative_effect=DEMO_EFFECT), rounded to cents.
DEMO_SEED = 2024
DEMO_EFFECT = 0.06
DEMO_PRE_PERIOD = ("2024-01-01", "2024-12-30")
DEMO_POST_PERIOD = ("2024-12-31", "2025-02-28")


def load_regional_sales() -> pd.DataFrame:
    """The demo data: daily sales of a region that cut its price on 2024-12-31, and 5 control regions.

    ``df.attrs`` holds the periods and the true average effect (the data are simulated, so it is known).
    """
    with resources.files(__package__).joinpath("data/regional_sales.csv").open("r") as fh:
        df = pd.read_csv(fh, parse_dates=["date"], index_col="date")
    df.index.freq = "D"
    study = simulate_regional_sales(seed=DEMO_SEED, relative_effect=DEMO_EFFECT)
    df.attrs.update(pre_period=DEMO_PRE_PERIOD, post_period=DEMO_POST_PERIOD, outcome="sales",
                    controls=list(study.controls), true_average_effect=round(study.true_average_effect, 2))
    return df


def write_demo_csv(path) -> None:
    """Regenerate the shipped CSV (used once to make it; kept so anyone can check where it came from)."""
    study = simulate_regional_sales(seed=DEMO_SEED, relative_effect=DEMO_EFFECT)
    study.data.round(2).to_csv(path)


__all__ = [
    "ChurnStudy", "SimpsonsStudy", "simulate_churn_ltv", "simulate_simpsons_ab",
    "SimulatedStudy", "SyntheticControlStudy", "load_regional_sales", "simulate_regional_sales",
    "simulate_synthetic_control", "write_demo_csv", "UnitStudy", "simulate_confounded_units",
    "RegionalPriceStudy", "StaggeredStudy", "simulate_regional_price_panel", "simulate_staggered_panel",
]
