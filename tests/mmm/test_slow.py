"""Longer MMM fits (marked slow; run by ``make bench`` / ``pytest -m slow``): recovery, lift-test calibration,
geo hierarchy, the ROAS parameterisation and the Hill/Weibull variant."""

import arviz as az
import numpy as np
import pandas as pd
import pytest

import bayescausal as bc
from bayescausal.datasets.mmm import simulate_mmm

pytestmark = pytest.mark.slow
DEFAULT = bc.Sampler(progress=False)


def _covers(res, truth: pd.Series) -> np.ndarray:
    roas = res.effect.values.reshape(-1, len(truth))
    lo, hi = np.quantile(roas, [0.025, 0.975], axis=0)
    return (truth.to_numpy() >= lo) & (truth.to_numpy() <= hi)


def test_recovery_of_roas_and_checks_pass():
    s = simulate_mmm(seed=1)
    res = bc.MMM(s.channels).fit(s.data, "date", "sales", controls=["price"], sampler=DEFAULT, seed=0)
    assert res.trustworthy, res.checks_table()
    assert _covers(res, s.roas).all()
    contrib = res.contributions.sel(component=list(s.channels)).values.reshape((-1,) + (len(s.data), len(s.channels)))
    lo, hi = np.quantile(contrib, [0.025, 0.975], axis=0)
    assert np.mean((s.contributions.to_numpy() >= lo) & (s.contributions.to_numpy() <= hi)) > 0.9


def test_lift_test_calibrates_the_channel():
    """A lift test with a 10% standard error pins the model's lift over its window: the calibrated model's
    interval of that lift covers the truth and is narrower than that of the same model given the test with a
    standard error 100 times larger (practically no information: the uncalibrated model's lift). The test measures
    the marginal response in its window, not the average ROAS, so the ROAS interval need not narrow; the ROAS must
    still be covered."""
    s = simulate_mmm(seed=2)
    ch = s.channels[0]
    delta = 0.5 * s.data[ch].mean()
    lift_val = s.true_lift(ch, "2023-06-05", "2023-07-03", delta)

    def lift(se):
        return pd.DataFrame({"channel": [ch], "start": ["2023-06-05"], "end": ["2023-07-03"],
                             "spend_delta": [delta], "lift": [lift_val], "lift_se": [se * abs(lift_val)]})

    est = bc.MMM(s.channels)
    vague, cal = (est.fit(s.data, "date", "sales", controls=["price"], lift_tests=lift(se), sampler=DEFAULT, seed=0,
                          checks="fast") for se in (10.0, 0.1))
    row, vague_row = cal.lift_tests.iloc[0], vague.lift_tests.iloc[0]
    assert row["model_lower"] <= lift_val <= row["model_upper"]
    assert row["model_upper"] - row["model_lower"] < vague_row["model_upper"] - vague_row["model_lower"]
    assert _covers(cal, s.roas)[0]


def test_geo_hierarchy():
    s = simulate_mmm(n_weeks=104, n_channels=3, geos=4, seed=4)
    res = bc.MMM(s.channels, geo="geo").fit(s.data, "date", "sales", controls=["price"], sampler=DEFAULT, seed=0)
    assert res.contributions.sizes["geo"] == 4
    assert _covers(res, s.roas).all()
    alloc = res.optimize_budget(total=float(res.current_weekly_spend().sum()) * 8, horizon=8)
    assert alloc.table["optimal_weekly"].sum() == pytest.approx(res.current_weekly_spend().sum(), rel=1e-6)


def test_roas_parameterisation_and_hill_weibull():
    s = simulate_mmm(seed=5, adstock="weibull", saturation="hill")
    est = bc.MMM(s.channels, adstock="weibull", saturation="hill", parameterisation="roas")
    res = est.fit(s.data, "date", "sales", controls=["price"], sampler=DEFAULT, seed=0, checks="fast")
    assert "roas" in res.idata.posterior
    # the sampler must really move: a NaN gradient in the Weibull weights once made every transition diverge,
    # with the chains stuck where they started, and this test still passed on coverage alone
    assert res.idata.sample_stats["diverging"].values.mean() < 0.01
    assert float(az.rhat(res.idata, var_names=["roas"])["roas"].max()) < 1.01
    assert _covers(res, s.roas).mean() >= 0.75
