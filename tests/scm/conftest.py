"""Shared SCM fits: one small NUTS fit per session, reused by the fit and effect tests (keeps them fast)."""

import numpy as np
import pandas as pd
import pytest

import bayescausal as bc

# the true model: z -> x -> y, z -> y (linear-Gaussian), x, z -> b (logistic), w isolated, r (returning) a
# non-node column for subgroups
TRUE = {"x_z": 0.8, "y_x": 1.5, "y_z": 0.7, "b_0": -0.3, "b_x": 0.9, "b_z": -0.6}
GRAPH = "z -> x -> y; z -> y; x -> b; z -> b; w"


def simulate(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    x = TRUE["x_z"] * z + rng.normal(size=n)
    y = 2.0 + TRUE["y_x"] * x + TRUE["y_z"] * z + rng.normal(size=n)
    eta = TRUE["b_0"] + TRUE["b_x"] * x + TRUE["b_z"] * z
    b = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
    w = rng.normal(size=n)
    returning = np.where(z > 0, "yes", "no")
    return pd.DataFrame({"z": z, "x": x, "y": y, "b": b, "w": w, "returning": returning})


@pytest.fixture(scope="session")
def scm_data() -> pd.DataFrame:
    return simulate()


@pytest.fixture(scope="session")
def fitted(scm_data):
    return bc.SCM(GRAPH).fit(scm_data, sampler=bc.Sampler(chains=4, draws=1000, warmup=500), seed=0)
