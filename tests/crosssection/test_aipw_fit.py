"""AIPW fits on simulated data with known effects: recovery (ATE, ATT, binary outcome), double robustness,
trimming, a null effect passing its A/A placebo, and the checks a full fit runs. Fixed seeds throughout.

Fits share data sizes and models where they can, so the compiled NUTS programs are reused (compiling, not
sampling, dominates the time of these small fits)."""

import numpy as np
import pandas as pd
import pytest

import bayescausal as bc
from bayescausal.crosssection.aipw import AIPW
from bayescausal.datasets.crosssection import simulate_confounded_units

SAMPLER = bc.Sampler(chains=2, draws=400, warmup=400, progress=False)
COVS = ["age", "income", "region", "visits"]
N = 1200


def _interval(res):
    row = res.summary().loc["effect"]
    return float(row["lower"]), float(row["upper"]), float(row["mean"]), float(row["sd"])


@pytest.fixture(scope="module")
def study():
    return simulate_confounded_units(N, seed=2)


@pytest.fixture(scope="module")
def full_fit(study):
    res = AIPW(outcome_model="spline", propensity_model="spline").fit(
        study.data, "offer", "spend", COVS, negative_control="spend_last_year", sampler=SAMPLER, seed=0)
    return study, res


def test_recovers_the_ate_with_flexible_models(full_fit):
    study, res = full_fit
    lo, hi, mean, sd = _interval(res)
    assert lo < study.true_ate < hi
    assert abs(mean - study.true_ate) < 3.5 * sd
    naive = res.naive
    assert not lo < naive < hi  # the confounding is real: the naive difference is far off


def test_full_fit_runs_every_check(full_fit):
    _, res = full_fit
    names = [c.name for c in res.checks]
    assert names == ["convergence", "posterior predictive", "overlap", "covariate balance", "outcome calibration",
                     "propensity calibration", "randomization inference", "specification", "A/A placebo",
                     "negative control outcome"]
    by = {c.name: c for c in res.checks}
    for name in ("overlap", "covariate balance", "outcome calibration", "propensity calibration", "specification",
                 "A/A placebo", "negative control outcome"):
        assert by[name].passed, by[name].message
    assert res.randomization["p_value"] < 0.05  # a real effect of about 5 against a null of sd about 0.6
    assert len(res.randomization["null"]) == 200
    assert res.placebos.shape[0] == 5
    assert (res.balance["smd_weighted"].abs() < 0.1).all()
    assert res.idata.posterior["effect"].shape == (2, 400)
    spec = res.calibration["specification"]
    assert list(spec["models"]) == ["outcome 'spline', propensity 'spline', 4 knots",
                                    "outcome 'spline', propensity 'spline', 5 knots"]
    assert {"Outcome model calibration by bin (worst 10)", "Specification check: more flexible nuisance models"} <= set(
        res._extra_tables())
    assert set(res.idata.groups()) >= {"posterior", "posterior_predictive", "observed_data", "sample_stats"}


def test_att_recovered(study):
    res = AIPW(estimand="ATT", outcome_model="spline", propensity_model="spline").fit(
        study.data, "offer", "spend", COVS, sampler=SAMPLER, seed=1, checks=False)
    lo, hi, mean, sd = _interval(res)
    assert lo < study.true_att < hi
    assert abs(study.true_att - study.true_ate) > 0.5  # the two estimands differ on these data
    assert "treated" in res.estimand


def test_logistic_outcome_recovers_the_difference_in_probability():
    study = simulate_confounded_units(N, seed=4, binary_outcome=True, effect=1.0)
    res = AIPW(outcome_model="logistic", propensity_model="spline").fit(
        study.data, "offer", "bought", COVS, sampler=SAMPLER, seed=2, checks="fast")
    lo, hi, mean, sd = _interval(res)
    assert lo < study.true_ate < hi
    assert -1 < lo < hi < 1
    assert [c.name for c in res.checks][:2] == ["convergence", "posterior predictive"]


def _double_robust_data(outcome_nonlinear: bool, n: int = N, seed: int = 7):
    """Either the outcome (``outcome_nonlinear``) or the propensity is nonlinear in x2; the other is linear.
    The effect is 2 for every unit."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    if outcome_nonlinear:
        logit = -0.3 + 0.8 * x1 + 0.8 * x2
        base = 1 + 2 * x1 + 2.5 * (x2**2 - 1) + 2 * x1 * x2
    else:
        logit = -0.3 + 0.8 * x1 + 1.5 * (x2**2 - 1)
        base = 1 + 2 * x1 + 3 * x2
    t = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    y = base + 2.0 * t + rng.normal(size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "t": t, "y": y})


@pytest.mark.parametrize("outcome_nonlinear", [True, False], ids=["wrong-outcome-model", "wrong-propensity-model"])
def test_double_robustness(outcome_nonlinear):
    """Linear-additive models for both: one of them is wrong, the other right; AIPW still recovers 2."""
    df = _double_robust_data(outcome_nonlinear)
    res = AIPW(outcome_model="linear", propensity_model="logistic").fit(df, "t", "y", ["x1", "x2"], sampler=SAMPLER,
                                                                        seed=3, checks=False)
    lo, hi, mean, sd = _interval(res)
    assert lo < 2.0 < hi
    assert abs(mean - 2.0) < 3.5 * sd
    assert not lo < res.naive < hi  # confounded: the naive difference misses


def test_trimming_says_what_it_removed():
    df = _double_robust_data(outcome_nonlinear=True)  # right propensity model, logits spread over about +-4
    res = AIPW(outcome_model="linear", propensity_model="logistic", trim=(0.1, 0.9)).fit(
        df, "t", "y", ["x1", "x2"], sampler=SAMPLER, seed=4, checks="fast")
    tr = res.trimming
    assert (tr["units"] == tr["removed"] + tr["kept"]).all()
    assert tr["removed"].sum() > 0
    assert int(tr["kept"].sum()) == int(res.kept.sum()) == res.info["rows_used"]
    assert np.all((res.propensity[res.kept] >= 0.1) & (res.propensity[res.kept] <= 0.9))
    assert "overlap population" in res.estimand
    text = res.report()
    assert f"removed {tr.loc['treated', 'removed']} of {tr.loc['treated', 'units']} treated" in text
    assert "Trimming" in res._extra_tables()
    lo, hi, _, _ = _interval(res)
    assert lo < 2.0 < hi  # the effect is 2 for every unit, so also in the overlap population


@pytest.mark.slow  # default-suite time budget (CI): run by make bench
def test_null_effect_passes_a_a_placebo(study):
    """The pre-treatment outcome as the outcome: the treatment has no effect on it by construction."""
    res = AIPW(outcome_model="spline", propensity_model="spline").fit(
        study.data.drop(columns="spend"), "offer", "spend_last_year", COVS, sampler=SAMPLER, seed=5)
    lo, hi, _, _ = _interval(res)
    assert lo < 0 < hi
    by = {c.name: c for c in res.checks}
    assert by["A/A placebo"].passed, by["A/A placebo"].message
    assert by["randomization inference"].passed
    assert res.randomization["p_value"] > 0.05


def test_defaults_are_the_flexible_models():
    est = AIPW()
    assert (est.outcome_model, est.propensity_model) == ("spline", "spline")


def test_calibration_checks_see_the_linear_models_miss_the_curvature(study):
    """The simulator's surfaces are quadratic with interactions: the linear outcome model is off within age bins
    and the logistic propensity within covariate bins, which the binned checks see (the overall predictive check
    and the balance of covariate means do not: least squares and logistic fits reproduce those by design)."""
    res = AIPW(outcome_model="linear", propensity_model="logistic").fit(
        study.data, "offer", "spend", COVS, sampler=SAMPLER, seed=6, checks="fast")
    by = {c.name: c for c in res.checks}
    assert by["outcome calibration"].passed is False, by["outcome calibration"].message
    assert "outcome_model='spline'" in by["outcome calibration"].message
    worst = res.calibration["outcome calibration"].iloc[0]
    assert worst["variable"] in ("age", "propensity score") and abs(worst["z"]) > 4
    assert by["covariate balance"].passed  # the old checks pass: the reason the binned ones exist
    assert "specification" not in by  # a refit: only with checks="full"
    assert "outcome calibration" in res.report()
