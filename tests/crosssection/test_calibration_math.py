"""The binned calibration statistics (``crosssection/_calibration.py``) against hand computations and their
null distribution, and the specification check's rule (``aipw_checks.specification_check``)."""

import numpy as np
from scipy import stats

from bayescausal.crosssection import _calibration as cal
from bayescausal.crosssection.aipw import AIPW
from bayescausal.crosssection.aipw_checks import specification_check


def test_quantile_codes_bins_and_discrete_columns():
    x = np.arange(100.0)
    codes, labels = cal.quantile_codes(x, 5)
    assert len(labels) == 5 and np.bincount(codes).tolist() == [20] * 5
    codes, labels = cal.quantile_codes(np.array([0, 1, 1, 3, 3, 3.0]), 5)
    assert labels == ["= 0", "= 1", "= 3"] and codes.tolist() == [0, 1, 1, 2, 2, 2]


def test_binned_z_matches_a_hand_computation_and_skips_small_bins():
    resid = np.array([1.0, -1.0, 2.0, 2.0, 0.5])
    var = np.array([1.0, 1.0, 4.0, 4.0, 1.0])
    b = cal.Binning("x", np.array([0, 0, 1, 1, 2]), ["a", "b", "c"])
    rows = cal.binned_z(resid, var, [b], min_units=2)
    assert [r["bin"] for r in rows] == ["a", "b"]  # bin "c" has one unit
    assert rows[1]["z"] == 4.0 / np.sqrt(8.0)
    assert rows[1]["p"] == 2 * stats.norm.sf(4.0 / np.sqrt(8.0))
    assert rows[0]["residual_mean"] == 0.0
    masked = cal.binned_z(resid, var, [b], mask=np.array([1, 1, 1, 0, 0], bool), min_units=1)
    assert [r["units"] for r in masked] == [2, 1]


def test_binned_z_is_standard_normal_under_the_model():
    """Data drawn from the model itself: the z-statistics of 400 bins of 50 units are N(0, 1) (their share
    beyond 1.96 is 0.05 within 3 binomial standard errors) and the Bonferroni family passes."""
    rng = np.random.default_rng(0)
    n = 20_000
    mu, sd = rng.normal(size=n), rng.uniform(0.5, 2.0, n)
    y = mu + sd * rng.standard_normal(n)
    b = cal.Binning("x", rng.integers(0, 400, n), [str(j) for j in range(400)])
    rows = cal.binned_z(y - mu, sd**2, [b])
    z = np.array([r["z"] for r in rows])
    share = np.mean(np.abs(z) > 1.96)
    assert abs(share - 0.05) < 3 * np.sqrt(0.05 * 0.95 / len(z))
    assert cal.verdict(rows)[0]
    # one bin off by 1: z about 50 / sqrt(50 * E[sd^2] = 87) = 5.4, beyond Bonferroni's 4.0 for 400 bins
    shifted = cal.binned_z(y - mu + 1.0 * (b.codes == 7), sd**2, [b])
    passed, adj, worst = cal.verdict(shifted)
    assert not passed and worst["bin"] == "7"
    assert worst["misfit"] == worst["residual_mean"] / np.sqrt(np.sum(sd[b.codes == 7] ** 2) / worst["units"])


def test_a_significant_but_negligible_misfit_passes():
    """200,000 units, one bin of 20,000 off by 0.05 sd: z about 7 (significant), misfit 0.05 < 0.1 (negligible)."""
    rng = np.random.default_rng(1)
    n = 200_000
    codes = rng.integers(0, 10, n)
    resid = rng.standard_normal(n) + 0.05 * (codes == 3)
    rows = cal.binned_z(resid, np.ones(n), [cal.Binning("x", codes, [str(j) for j in range(10)])])
    passed, adj, worst = cal.verdict(rows)
    assert passed and worst["bin"] == "3" and adj < 1e-6 and abs(worst["misfit"]) < 0.1
    assert not cal.verdict(rows, min_misfit=0.01)[0]


def test_specification_rule_is_the_interval():
    c, table = specification_check(1.0, 0.5, 1.5, 1.4, 0.9, 1.9, "a", "b")
    assert c.passed and c.statistic == 0.8 and list(table["models"]) == ["a", "b"]
    c, _ = specification_check(1.0, 0.5, 1.5, 1.6, 1.1, 2.1, "a", "b")
    assert c.passed is False and "depends on the nuisance models" in c.message


def test_more_flexible_models():
    assert AIPW(outcome_model="linear", propensity_model="logistic")._more_flexible().outcome_model == "spline"
    flex = AIPW(outcome_model="logistic", propensity_model="logistic")._more_flexible()
    assert (flex.outcome_model, flex.propensity_model) == ("logistic_spline", "spline")
    assert AIPW()._more_flexible().spline_knots == 5
    assert AIPW(spline_knots=5)._more_flexible() is None


def test_outcome_and_propensity_checks_name_the_failing_bin_and_the_fix():
    """A model that misses a curve in x fails in x's outer bins with the advice; a right propensity passes."""
    from bayescausal.crosssection.aipw_checks import outcome_calibration_check, propensity_calibration_check

    rng = np.random.default_rng(0)
    n = 4000
    x = rng.normal(size=n)
    t = (rng.uniform(size=n) < 0.4).astype(float)
    y = x**2 + rng.normal(size=n)  # the "model" predicts the mean 1 everywhere
    bins = [cal.Binning("x", *cal.quantile_codes(x, 5))]
    ones = np.ones(n)
    check, table = outcome_calibration_check(y, t, ones, ones, ones, ones, bins, "y", False)
    assert check.passed is False and "outcome_model='spline'" in check.message
    assert table.iloc[0]["bin"] in (bins[0].labels[0], bins[0].labels[-1]) and len(table) == 10
    check, _ = propensity_calibration_check(t, np.full(n, 0.4), bins)
    assert check.passed and check.threshold == "no bin with Bonferroni-adjusted p < 0.01 and misfit >= 0.1 sd"
