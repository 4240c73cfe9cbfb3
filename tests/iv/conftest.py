"""Shared simulated IV data (fixed seeds) for the IV tests."""

import numpy as np
import pandas as pd
import pytest

import bayescausal as bc


def simulate_iv(n=1000, k=1, strength=0.5, beta=1.0, rho=0.5, p=2, seed=0, direct=0.0):
    """Linear IV data with known effect ``beta``: ``x = 0.5 + Z pi + W 0.3 + v``, ``y = 1 + beta x - 0.2 W +
    direct z0 + u``, corr(u, v) = rho (the endogeneity), instruments correlated with the first covariate."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(n, p))
    Z = rng.normal(size=(n, k)) + 0.3 * W[:, :1]
    e = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    x = 0.5 + Z @ np.full(k, strength) + W @ np.full(p, 0.3) + e[:, 0]
    y = 1.0 + beta * x + W @ np.full(p, -0.2) + direct * Z[:, 0] + e[:, 1]
    cols = {"y": y, "x": x, **{f"z{j}": Z[:, j] for j in range(k)}, **{f"w{j}": W[:, j] for j in range(p)}}
    return pd.DataFrame(cols)


def simulate_iv2(n=800, k=3, strength=0.6, beta=(1.0, -0.5), rho=0.5, p=2, seed=0, direct=0.0):
    """Two endogenous treatments with known effects ``beta``: ``x_j = Z Pi_j + W 0.3 + v_j`` with each
    instrument moving the two treatments differently (``Pi`` has full column rank for ``strength > 0``),
    ``y = 1 + X beta - 0.2 W + direct z0 + u``, ``corr(u, v_j) = rho``, ``corr(v_0, v_1) = 0.3``."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(n, p))
    Z = rng.normal(size=(n, k)) + 0.3 * W[:, :1]
    Pi = strength * np.column_stack([np.linspace(1.0, -0.5, k), np.linspace(0.2, 1.0, k)])
    cov = np.array([[1.0, 0.3, rho], [0.3, 1.0, rho], [rho, rho, 1.0]])
    e = rng.multivariate_normal(np.zeros(3), cov, size=n)
    X = 0.5 + Z @ Pi + (W @ np.full(p, 0.3))[:, None] + e[:, :2]
    y = 1.0 + X @ np.asarray(beta) + W @ np.full(p, -0.2) + direct * Z[:, 0] + e[:, 2]
    cols = {"y": y, "x0": X[:, 0], "x1": X[:, 1], **{f"z{j}": Z[:, j] for j in range(k)},
            **{f"w{j}": W[:, j] for j in range(p)}}
    return pd.DataFrame(cols)


FAST = bc.Sampler(chains=2, draws=500, warmup=500, progress=False)


CHECKED = bc.Sampler(chains=2, draws=1000, warmup=500, progress=False)  # for fits whose R-hat check must pass:
# with 2 x 500 draws the split R-hat of a converged chain pair is itself noisy at the 1.01 threshold's scale


@pytest.fixture(scope="session")
def strong_fit():
    """One full fit (every check) on strong, over-identified data, shared by the contract tests."""
    df = simulate_iv(n=800, k=2, seed=1)
    return df, bc.BayesianIV().fit(df, "y", "x", ["z0", "z1"], ["w0", "w1"], sampler=CHECKED, seed=0)
