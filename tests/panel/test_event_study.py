"""EventStudy: recovery on a small staggered design, the pre-trend check's verdicts, the TWFE comparison, contract,
flat-prior agreement with the interaction-weighted least-squares estimate, and bad input."""

import numpy as np
import pandas as pd
import pytest

from bayescausal.datasets.panel import simulate_staggered_panel
from bayescausal.errors import DataError, SpecError
from bayescausal.inference import Sampler
from bayescausal.panel import _event
from bayescausal.panel.event_study import EventStudy, lead_distance

SAMPLER = Sampler(chains=2, draws=500, warmup=300, progress=False, chain_method="vectorized")
# effects grow with event time and are three times larger for the earliest cohort: the pooled TWFE coefficient
# weights early cohorts' late periods negatively here (Goodman-Bacon 2021)
DESIGN = dict(n_units=150, n_periods=10, cohorts=(3, 5, 7), never_treated_share=0.3, effect=1.0, effect_growth=0.5,
              cohort_spread=0.5, n_covariates=1, noise_sd=1.0)


def _fit(study, checks="fast", **kw):
    est = EventStudy(leads=3, lags=3, **kw)
    return est.fit(study.data, study.unit, study.time, study.outcome, study.treatment, list(study.covariates),
                   seed=1, checks=checks, sampler=SAMPLER)


@pytest.fixture(scope="module")
def staggered():
    study = simulate_staggered_panel(seed=11, **DESIGN)
    return study, _fit(study)


def test_recovers_att_and_dynamic_effects(staggered):
    study, res = staggered
    att = res.effect.values.ravel()
    lo, hi = np.quantile(att, [0.025, 0.975])
    assert lo <= study.true_att <= hi
    assert abs(att.mean() - study.true_att) < 3.5 * att.std()
    truth = study.true_dynamic_binned(3)
    dyn = res.dynamic.sel(event_time=[0, 1, 2, 3]).values.reshape(-1, 4)
    assert np.all(np.abs(dyn.mean(axis=0) - truth.loc[[0, 1, 2, 3]].to_numpy()) < 3.5 * dyn.std(axis=0))
    assert res.checks[0].name.startswith("pre-trends") and res.checks[0].passed


def test_pooled_twfe_is_biased_where_it_must_be(staggered):
    study, res = staggered
    att = res.effect.values.ravel()
    assert abs(res.twfe - study.true_att) > 4 * att.std()
    assert abs(att.mean() - study.true_att) < abs(res.twfe - study.true_att) / 3
    assert "not the answer" in res.report() and "Goodman-Bacon" in res.report()


def test_result_contract(staggered, tmp_path):
    study, res = staggered
    s = res.summary()
    assert list(s.columns[:5]) == ["mean", "sd", "lower", "upper", "p_positive"]
    assert s.index[0] == "average effect on the treated"
    assert [f"event time {e}" for e in (-3, -2, 0, 1, 2, 3)] == list(s.index[1:])
    assert res.dynamic.dims == ("chain", "draw", "event_time") and res.effect.dims == ("chain", "draw")
    ce = res.cohort_effects
    assert ce.dims == ("chain", "draw", "cohort", "event_time") and list(ce["cohort"].values) == [3, 5, 7]
    # one cell per cohort and event time: cohort 7 is seen at event times -6..3, cohort 3 at -2..7 (-1: reference)
    assert ce["event_time"].values.tolist() == [-6, -5, -4, -3, -2, 0, 1, 2, 3, 4, 5, 6, 7]
    assert np.isfinite(ce.sel(cohort=7, event_time=[-6, -5, -4, -3, -2, 0, 1, 2, 3]).values).all()
    assert np.isnan(ce.sel(cohort=7, event_time=[4, 5, 6, 7]).values).all()
    assert np.isnan(ce.sel(cohort=3, event_time=[-6, -5, -4, -3]).values).all()
    w = res.weights
    assert np.allclose(w.groupby("reported_event_time")["weight_dynamic"].sum(), 1.0)
    assert (w["reported_event_time"] == w["event_time"].clip(-3, 3)).all()
    assert np.isclose(w["weight_att"].sum(), 1.0) and (w.loc[w["event_time"] < 0, "weight_att"] == 0).all()
    assert w.loc[w["event_time"] >= 0, "n_obs"].sum() == study.data["treated"].sum()
    # the dynamic effect is the weighted average of the cohort effects, draw by draw
    flat = ce.sel(event_time=1).values.reshape(-1, 3)
    wt = w[w["event_time"] == 1].set_index("cohort")["weight_dynamic"].reindex([3, 5, 7]).to_numpy()
    assert np.allclose(flat @ wt, res.dynamic.sel(event_time=1).values.ravel())
    table = res.dynamic_table()
    assert table.loc[-1, "kind"] == "reference" and table.loc[-1, "mean"] == 0
    text = res.report()
    assert "treated unit-periods" in text and "Mahalanobis" in text
    fig = res.plot()
    assert len(fig.axes) == 2
    path = res.to_html(tmp_path / "es.html")
    assert "Aggregation weights" in open(path).read()
    assert "<table" in res._repr_html_()
    assert {"effect", "dynamic", "cell_effects", "sigma"} <= set(res.idata.posterior.data_vars)


def test_pretrend_check_fails_on_a_real_pretrend():
    study = simulate_staggered_panel(seed=12, pretrend=0.3, **DESIGN)
    res = _fit(study, checks="full")
    pre = res.checks[0]
    assert pre.passed is False and not res.trustworthy
    assert res.report().startswith("Warning: the pre-trends")
    assert res.pretrend["statistic"] > res.pretrend["threshold"]
    # a drift of 0.3 a period before adoption: the probability that every lead is within the tolerance is small
    # (0.04 here, against 0.985 without the drift), the joint test's p-value tiny
    assert res.pretrend["p_within"] < 0.15 and res.pretrend["p_value"] < 1e-3
    # the fake adoption dates in the pre-period find the drift as an "effect" too
    assert next(c for c in res.checks if c.name == "placebo adoption dates").passed is False


def test_pretrend_table_without_a_pretrend(staggered):
    """``pretrend``: with no pre-trend the posterior probability that every lead is within the tolerance is near 1
    (0.985 here; its Monte Carlo se is about 0.005) and the joint test's p-value is not small."""
    _, res = staggered
    pre = res.pretrend
    assert pre["df"] == 2 and pre["p_value"] > 0.05 and pre["p_within"] > 0.9
    assert 0 < pre["tolerance"] and np.isclose(pre["tolerance"], max(0.2 * abs(float(res.effect.mean())),
                                                                      float(res.effect.values.std(ddof=1))))


@pytest.mark.slow
def test_pretrend_table_with_a_planted_lead():
    """An effect of 1 (about five posterior sds of a lead) planted at event time -2: the lead is recovered and the
    probability that every lead is within the tolerance is near 0."""
    study = simulate_staggered_panel(seed=11, **DESIGN)
    df = study.data.copy()
    first = df[df["treated"] == 1].groupby("unit")["period"].min()
    df.loc[(df["period"] - df["unit"].map(first)) == -2, "y"] += 1.0  # never-treated units: NaN, not moved
    planted = EventStudy(leads=3, lags=3).fit(df, study.unit, study.time, study.outcome, study.treatment,
                                              list(study.covariates), seed=1, checks=False, sampler=SAMPLER)
    lead = planted.dynamic.sel(event_time=-2).values.ravel()
    assert abs(lead.mean() - 1.0) < 3.5 * lead.std()
    assert planted.pretrend["p_within"] < 0.05 and planted.pretrend["p_value"] < 1e-3


def test_flat_priors_give_the_interaction_weighted_least_squares_estimate():
    study = simulate_staggered_panel(seed=13, **{**DESIGN, "n_units": 80})
    res = _fit(study, priors={"effect": None, "coefficient": None})
    d = study.data.sort_values(["unit", "period"])
    u = pd.factorize(d["unit"], sort=True)[0]
    t = d["period"].to_numpy() - 1
    cohort = _event.first_treated(u, t, d["treated"].to_numpy(), u.max() + 1)
    des = _event.build_design(u, t, cohort, 3, 3, "never")
    coef = _event.two_way_ols(d["y"].to_numpy(), np.column_stack([des.dense(), d[["x1"]].to_numpy()]), u, t)
    att_ols = des.att_weights() @ coef[: des.n_columns]
    draws = res.effect.values.ravel()
    # the posterior mean given the variances is exactly the least-squares estimate: only Monte Carlo error remains
    assert abs(draws.mean() - att_ols) < 4 * draws.std() / np.sqrt(draws.size)
    assert np.isclose(res.twfe, _event.two_way_ols(d["y"].to_numpy(), d[["treated", "x1"]].to_numpy(), u, t)[0])


def test_full_checks_run_placebos_and_permutations(staggered):
    study, _ = staggered
    res = _fit(study, checks="full")
    names = [c.name for c in res.checks]
    assert names[0].startswith("pre-trends")
    assert {"convergence", "placebo adoption dates", "randomization inference"} <= set(names)
    assert list(res.placebos.index) == [2, 3, 4] and len(res.permutations) == 99
    placebo = next(c for c in res.checks if c.name == "placebo adoption dates")
    assert placebo.passed is True  # no effect before adoption by construction
    ri = next(c for c in res.checks if c.name == "randomization inference")
    # the effect is far outside what reshuffling the treated units gives: the smallest p-value 99 permutations allow
    assert ri.passed is True and "p-value of the estimate" in ri.message and "0.010 over 99" in ri.message


def test_refit_checks_on_many_units_run_on_a_seeded_subset(staggered, monkeypatch):
    """Above MAX_CHECK_UNITS the placebo and permutation checks run on a random subset of units: they say so, the
    subset's randomization test still finds the (large) effect, and the placebo dates still pass."""
    from bayescausal.panel import event_study

    study, _ = staggered
    monkeypatch.setattr(event_study, "MAX_CHECK_UNITS", 100)
    est = EventStudy(leads=3, lags=3, permutations=19)
    res = est.fit(study.data, study.unit, study.time, study.outcome, study.treatment, list(study.covariates),
                  seed=1, checks="full", sampler=SAMPLER)
    placebo = next(c for c in res.checks if c.name == "placebo adoption dates")
    ri = next(c for c in res.checks if c.name == "randomization inference")
    assert "random 100 of the 150 units" in placebo.message and "random 100 of the 150 units" in ri.message
    assert placebo.passed is True and ri.passed is True and "0.050 over 19" in ri.message


def test_check_scales_follow_each_designs_standardisation():
    """The refits hold the fit's scales in outcome units: on a design standardised by another outcome sd the
    standardised sigma and effect sds change by the ratio of the sds; an AR(1) coefficient does not."""
    from types import SimpleNamespace

    from bayescausal.panel.event_study import _scales

    fit = SimpleNamespace(phi_std={"sigma": np.array([0.4, 0.6]), "sd_time": np.array([0.2, 0.2]),
                                   "rho": np.array([0.3, 0.5])}, prep=SimpleNamespace(y_sd=2.0))
    assert _scales(fit, fit.prep) == pytest.approx({"sigma": 0.5, "sd_time": 0.2, "rho": 0.4})
    assert _scales(fit, SimpleNamespace(y_sd=4.0)) == pytest.approx({"sigma": 0.25, "sd_time": 0.1, "rho": 0.4})


def test_notyet_without_never_treated_uses_the_last_cohort():
    study = simulate_staggered_panel(seed=15, **{**DESIGN, "never_treated_share": 0.0, "n_units": 90})
    with pytest.raises(DataError, match="notyet"):
        _fit(study)
    res = _fit(study, control="notyet")
    assert res.info["comparison_cohort"] == "7" and set(res.dropped_periods) == {7, 8, 9, 10}
    assert list(res.cohort_effects["cohort"].values) == [3, 5]


def test_lead_distance_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    draws = rng.multivariate_normal([0.3, -0.1], [[1.0, 0.5], [0.5, 2.0]], size=4000)
    d2, df = lead_distance(draws)
    m, c = draws.mean(0), np.cov(draws, rowvar=False)
    assert df == 2 and np.isclose(d2, m @ np.linalg.solve(c, m))


def test_bad_input():
    study = simulate_staggered_panel(seed=16, n_units=20, n_periods=6, cohorts=(3,))
    df = study.data.copy()
    unit = df.loc[df["treated"] == 1, "unit"].iloc[0]
    df.loc[(df["unit"] == unit) & (df["period"] == 6), "treated"] = 0
    with pytest.raises(DataError, match="switches off"):
        EventStudy().fit(df, "unit", "period", "y", "treated", sampler=SAMPLER, checks=False)
    for kw in ({"leads": 0}, {"lags": -1}, {"control": "later"}, {"placebo_shifts": (0,)}, {"permutations": 0},
               {"pretrend_tolerance": -1.0}, {"unit_effects": "random"}):
        with pytest.raises(SpecError):
            EventStudy(**kw)
    with pytest.raises(SpecError):
        EventStudy().fit(study.data, "unit", "period", "y", None)
