"""Simulators with known truths: the truths must be what the data say they are."""

import numpy as np
import pytest

from bayescausal.datasets.panel import simulate_regional_price_panel, simulate_staggered_panel


def test_staggered_truths_are_averages_of_the_row_effects():
    s = simulate_staggered_panel(n_units=120, n_periods=12, cohorts=(4, 7, 10), effect=1.0, effect_growth=0.3,
                                 cohort_spread=0.5, never_treated_share=0.25, missing_share=0.1, seed=3)
    df = s.data
    treated = df["treated"].to_numpy() == 1
    assert np.allclose(s.tau[~treated], 0.0)
    assert np.isclose(s.true_att, s.tau[treated].mean())
    g = s.cohort.reindex(df["unit"]).to_numpy()
    assert np.array_equal(treated, np.isfinite(g) & (df["period"].to_numpy() >= g))
    e = df["period"].to_numpy() - g
    mult = {4: 1.5, 7: 1.0, 10: 0.5}  # linear from 1 + spread to 1 - spread over the three cohorts
    for row in s.true_effects.itertuples():
        rows = treated & (g == row.cohort) & (e == row.event_time)
        assert row.n_obs == rows.sum()
        assert np.isclose(row.effect, (1.0 + 0.3 * row.event_time) * mult[row.cohort])
    for ev, value in s.true_dynamic.items():
        assert np.isclose(value, s.tau[treated & (e == ev)].mean())
    binned = s.true_dynamic_binned(3)
    assert np.isclose(binned[3], s.tau[treated & (e >= 3)].mean())
    assert np.isclose((binned * s.true_effects.assign(b=np.minimum(s.true_effects.event_time, 3))
                       .groupby("b")["n_obs"].sum()).sum() / treated.sum(), s.true_att)
    assert round(s.cohort.isna().mean(), 2) == 0.25
    assert df.groupby("unit")["treated"].apply(lambda d: np.all(np.diff(d.to_numpy()) >= 0)).all()


def test_staggered_pretrend_and_ar1_options():
    base = simulate_staggered_panel(n_units=400, n_periods=10, cohorts=(4, 7), seed=1)
    drift = simulate_staggered_panel(n_units=400, n_periods=10, cohorts=(4, 7), seed=1, pretrend=0.5)
    diff = (drift.data["y"] - base.data["y"]).to_numpy()
    g = base.cohort.reindex(base.data["unit"]).to_numpy()
    expect = np.where(np.isfinite(g), 0.5 * (base.data["period"].to_numpy() - g), 0.0)
    assert np.allclose(diff, expect) and drift.true_att == base.true_att
    ar = simulate_staggered_panel(n_units=2000, n_periods=10, cohorts=(4, 7), ar1=0.7, unit_sd=0.0, time_sd=0.0,
                                  trend=0.0, n_covariates=0, effect=0.0, seed=2)
    y = ar.data["y"].to_numpy().reshape(2000, 10)
    y = y - np.where(ar.cohort.to_numpy()[:, None] > 0, 0.5, 0.0)
    rho = np.corrcoef(y[:, :-1].ravel(), y[:, 1:].ravel())[0, 1]
    assert abs(rho - 0.7) < 4 * (1 - 0.7**2) / np.sqrt(y[:, 1:].size / 10)  # generous for within-unit dependence
    assert abs(y.std() - 1.0) < 0.05


def test_staggered_bad_arguments():
    with pytest.raises(ValueError, match="cohorts"):
        simulate_staggered_panel(n_periods=8, cohorts=(1, 5))
    with pytest.raises(ValueError, match="never_treated_share"):
        simulate_staggered_panel(never_treated_share=1.0)


def test_regional_price_panel_has_the_known_effect_in_one_region():
    s = simulate_regional_price_panel(n_regions=6, n_weeks=80, n_post=20, relative_effect=0.1, seed=4)
    df = s.data
    assert set(df.loc[df["price_change"] == 1, "region"]) == {s.treated_region}
    on = df.loc[df["price_change"] == 1, "week"]
    assert on.min() == s.change_week and on.size == 20
    assert np.isclose(s.true_effect, np.log(1.1)) and np.allclose(np.log(df["sales"]), df["log_sales"])
    wide = s.wide()
    assert list(wide.columns) == [s.treated_region, *s.controls] and len(wide) == 80
    assert str(wide.index[0].date()) == s.pre_period[0] and str(wide.index[-1].date()) == s.post_period[1]
    assert wide.index.get_loc(s.change_week) == 60
    # the same seed without the effect differs exactly by the effect in the treated region's post weeks
    null = simulate_regional_price_panel(n_regions=6, n_weeks=80, n_post=20, relative_effect=0.0, seed=4).wide()
    diff = (wide - null).to_numpy()
    assert np.allclose(diff[60:, 0], s.true_effect) and np.allclose(diff[:60], 0) and np.allclose(diff[:, 1:], 0)
