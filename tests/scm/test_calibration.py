"""The calibration check within parent bins (issue 22): its pure math, and that it sees a curved mechanism that the
node's own predictive check (mean and sd) cannot, without crying wolf on a linear one.

No MCMC: the posterior of each linear-Gaussian node is its exact conjugate posterior under a flat prior (OLS
with normal-inverse-chi-square draws), which the default weakly informative priors barely move at 2,000 rows.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayescausal as bc
from bayescausal.scm._data import prepare
from bayescausal.scm._math import bin_means_matrix, features, quantile_bins, realized_chi_square
from bayescausal.scm.checks import CALIBRATION, predictive_checks

GRAPH = bc.CausalGraph("w -> x; z -> x; z -> y; x -> y; x -> b")


def _simulate(curve: float, seed: int, n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    w, z = rng.normal(size=n), rng.normal(size=n)
    x = 0.8 * w + 0.6 * z + rng.normal(size=n)
    y = x + curve * x**2 + 0.7 * z + rng.normal(size=n)
    b = (rng.uniform(size=n) < 1 / (1 + np.exp(-0.5 * x))).astype(int)
    return pd.DataFrame({"w": w, "z": z, "x": x, "y": y, "b": b})


def _conjugate_posterior(data, rng, draws: int = 400) -> dict:
    """Exact flat-prior posterior draws of every linear-Gaussian node (standardised scale, 2 chains); the
    logistic node gets its maximum-likelihood fit repeated (enough for its calibration to be tested)."""
    post = {}
    for lay in data.layouts:
        X = np.asarray(features([data.values[p] for p in lay.parents], list(lay.parent_encodings), data.n))
        W = np.column_stack([np.ones(data.n), X])
        n, p = W.shape
        if lay.family == "logistic":
            import statsmodels.api as sm

            beta = sm.Logit(np.asarray(data.values[lay.name]), W, offset=np.full(n, lay.center[0])).fit(disp=0).params
            theta = np.tile(beta, (draws, 1))
        else:
            v = (np.asarray(data.values[lay.name]) - lay.mean) / lay.sd
            beta, *_ = np.linalg.lstsq(W, v, rcond=None)
            s2 = np.sum((v - W @ beta) ** 2) / (n - p)
            sigma = np.sqrt((n - p) * s2 / rng.chisquare(n - p, draws))
            chol = np.linalg.cholesky(np.linalg.inv(W.T @ W))
            theta = beta + sigma[:, None] * (rng.normal(size=(draws, p)) @ chol.T)
            post[f"{lay.name}__sigma"] = sigma.reshape(2, -1)
        post[f"{lay.name}__intercept"] = theta[:, 0].reshape(2, -1)
        if p > 1:
            post[f"{lay.name}__coef"] = theta[:, 1:].reshape(2, -1, p - 1)
    return post


def _checks(curve: float, seed: int) -> dict:
    data = prepare(GRAPH, {}, _simulate(curve, seed))
    return {c.name: c for c in predictive_checks(data, _conjugate_posterior(data, np.random.default_rng(seed)), seed)}


def test_quantile_bins_equal_counts_ties_and_merging():
    v = np.random.default_rng(0).normal(size=1000)
    labels, ranges = quantile_bins(v, 10, 50)
    assert np.all(np.bincount(labels) == 100) and len(ranges) == 10
    assert all(ranges[k][1] < ranges[k + 1][0] for k in range(9))  # ordered, disjoint
    counts = np.r_[np.zeros(600), np.ones(300), np.full(70, 2.0), np.full(30, 3.0)]  # ties stay together
    labels, ranges = quantile_bins(counts, 10, 50)
    assert ranges == [(0.0, 0.0), (1.0, 1.0), (2.0, 3.0)]  # the 30 threes are merged into the twos' bin
    assert np.bincount(labels).tolist() == [600, 300, 100]
    assert len(quantile_bins(np.ones(500), 10, 50)[1]) == 1
    M = bin_means_matrix(labels, 3)
    np.testing.assert_allclose(counts @ M, [0.0, 1.0, 2.3])


def test_realized_chi_square_matches_its_formula_and_is_uniform_under_the_null():
    rng = np.random.default_rng(1)
    means, variances = rng.normal(size=(50, 4)), rng.uniform(0.5, 2, size=(50, 4))
    observed, group = rng.normal(size=4), np.array([0, 0, 1, 1])
    z, chi2, dof, p = realized_chi_square(means, variances, observed, group)
    sq = (observed - means) ** 2 / variances
    np.testing.assert_allclose(chi2, [sq[:, :2].sum(1).mean(), sq[:, 2:].sum(1).mean()])
    expected = [stats.chi2.sf(sq[:, :2].sum(1), 2).mean(), stats.chi2.sf(sq[:, 2:].sum(1), 2).mean()]
    np.testing.assert_allclose(p, expected)
    assert dof.tolist() == [2, 2] and z.shape == (4,)
    # one known draw and normal bin means: p is uniform, so P(p < 0.05) = 0.05 (2,000 sims: MC se 0.005)
    sims = np.array([realized_chi_square(np.zeros((1, 10)), np.ones((1, 10)), rng.normal(size=10),
                                         np.zeros(10, int))[3][0] for _ in range(2000)])
    assert abs(np.mean(sims < 0.05) - 0.05) < 4 * np.sqrt(0.05 * 0.95 / 2000)


def test_calibration_flags_a_curved_mechanism_the_predictive_check_passes():
    checks = _checks(curve=0.25, seed=3)
    assert checks["posterior predictive: y"].passed  # mean and sd are reproduced by the linear fit
    cal = checks[f"{CALIBRATION}: y"]
    assert cal.passed is False and cal.statistic < 1e-6
    # along x, and along z too: x^2 carries z^2 (x depends on z), so y's mean is curved along z as well
    assert "miscalibrated along 'x'" in cal.message and "do not rest a causal claim" in cal.message
    assert "chi-square" in cal.threshold and "0.005" in cal.threshold  # 0.01 / 2 parents
    assert checks[f"{CALIBRATION}: x"].passed and checks[f"{CALIBRATION}: b"].passed
    assert f"{CALIBRATION}: w" not in checks  # a root node has no parent to bin


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_calibration_passes_linear_mechanisms(seed):
    checks = _checks(curve=0.0, seed=seed)
    cal = {k: c for k, c in checks.items() if k.startswith(CALIBRATION)}
    assert set(cal) == {f"{CALIBRATION}: {n}" for n in ("x", "y", "b")}
    assert all(c.passed for c in cal.values()), [c.message for c in cal.values()]
