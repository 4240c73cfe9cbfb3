"""Result contract and checks, built without MCMC (fast and deterministic)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayescausal as bc
from bayescausal.checks import (
    CheckResult,
    convergence_check,
    interval_coverage_check,
    placebo_interval_check,
)
from bayescausal.inference import to_inference_data
from bayescausal.structural_ts.result import ImpactResult, tail_area_probability


def _impact_result(checks):
    rng = np.random.default_rng(0)
    time = pd.date_range("2024-01-01", periods=30, freq="D")
    observed = pd.Series(100 + rng.normal(0, 1, 30), index=time, name="sales")
    observed.iloc[20:] += 5
    cf = 100 + rng.normal(0, 1, (2, 200, 30))
    counterfactual = xr.DataArray(cf, dims=("chain", "draw", "time"), coords={"time": time.values})
    post = np.arange(30) >= 20
    pointwise = observed.to_numpy()[post][None, None] - counterfactual.isel(time=np.flatnonzero(post))
    idata = to_inference_data({"effect": pointwise.mean("time").values})
    return ImpactResult(estimand="average effect", effect=pointwise.mean("time"), idata=idata, checks=checks,
                        method="test", pointwise=pointwise, cumulative=pointwise.cumsum("time"),
                        counterfactual=counterfactual, observed=observed, outcome="sales", intervention=time[20])


def test_summary_columns_and_values():
    res = _impact_result((CheckResult("convergence", True, 1.0, "<1.01", "fine"),))
    s = res.summary()
    for col in ("mean", "sd", "lower", "upper", "p_positive"):
        assert col in s.columns
    assert s.loc["average", "lower"] < s.loc["average", "mean"] < s.loc["average", "upper"]
    assert 4 < s.loc["average", "mean"] < 6
    assert res.trustworthy
    hdi = res.summary(hdi_prob=0.5)
    width = lambda t: t.loc["average", "upper"] - t.loc["average", "lower"]  # noqa: E731
    assert width(hdi) < width(s)


def test_failed_check_comes_first_in_report():
    res = _impact_result((CheckResult("convergence", True, 1.0, "<1.01", "fine"),
                          CheckResult("placebo in time", False, 0.4, "0", "2 of 5 placebo intervals exclude zero")))
    assert not res.trustworthy
    assert res.report().startswith("Warning: the placebo in time check failed")


def test_check_not_run_is_not_trustworthy(tmp_path):
    res = _impact_result((bc.checks.skipped("placebo in time", "too short"),))
    assert not res.trustworthy
    assert "did not run" in res.report()
    html = open(res.to_html(tmp_path / "x.html"), encoding="utf-8").read()
    assert "not fully vetted" in html


def test_tail_area_probability_matches_definition():
    sums = np.arange(99, dtype=float)  # 0..98
    # observed 97.5: 1 draw (98) above it, counting the observation itself => 2 / 100
    assert tail_area_probability(97.5, sums) == pytest.approx(2 / 100)
    assert tail_area_probability(49.0, sums) == pytest.approx(51 / 100)


def test_convergence_check_flags_stuck_chains():
    rng = np.random.default_rng(1)
    good = rng.normal(size=(4, 500))
    assert convergence_check({"x": good}).passed
    bad = good + np.arange(4)[:, None]  # chains centred apart
    with pytest.warns(bc.ConvergenceWarning):
        result = convergence_check({"x": bad})
    assert result.passed is False and "R-hat" in result.message
    with pytest.warns(bc.ConvergenceWarning):
        assert convergence_check({"x": good}, divergences=np.ones((4, 500))).passed is False


def test_coverage_and_placebo_checks():
    y = np.zeros(100)
    assert interval_coverage_check(y, y - 1, y + 1, 0.95, "c", "points").passed
    lower = np.where(np.arange(100) < 20, 1.0, -1.0)
    assert interval_coverage_check(y, lower, y + 2, 0.95, "c", "points").passed is False
    res = placebo_interval_check([-1, -2, 0.5], [1, 2, 2], ["a", "b", "c"], "placebo", "fakes")
    assert res.passed is False and res.statistic == pytest.approx(1 / 3) and "c" in res.message
