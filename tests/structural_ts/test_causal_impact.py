"""CausalImpact: a smoke fit, a small recovery test and the result contract on a real fit."""

import numpy as np
import pandas as pd
import pytest

import bayescausal as bc
from bayescausal.datasets import simulate_regional_sales


@pytest.fixture(scope="module")
def study():
    return simulate_regional_sales(n_pre=120, n_post=30, n_controls=3, relative_effect=0.08, seed=3)


@pytest.fixture(scope="module")
def fitted(study):
    est = bc.CausalImpact(study.pre_period, study.post_period, seasonality=[7])
    return est.fit(study.data, study.outcome, list(study.controls), sampler=bc.Sampler(draws=400, warmup=200, chains=2),
                   seed=1, checks="full")


def test_recovers_known_effect_within_interval(study, fitted):
    row = fitted.summary().loc["average"]
    assert row["lower"] <= study.true_average_effect <= row["upper"]
    # the effect is large against the noise here: the interval should exclude zero
    assert row["lower"] > 0


def test_result_contract(fitted, tmp_path):
    s = fitted.summary()
    for col in ("mean", "sd", "lower", "upper", "p_positive", "p_tail", "observed", "predicted"):
        assert col in s.columns
    assert list(s.index) == ["average", "cumulative", "average (relative)", "cumulative (relative)"]
    assert fitted.effect.dims == ("chain", "draw")
    assert fitted.pointwise.dims == ("chain", "draw", "time")
    np.testing.assert_allclose(fitted.cumulative.isel(time=-1).values, fitted.pointwise.sum("time").values)
    np.testing.assert_allclose(s.loc["cumulative", "mean"], fitted.pointwise.sum("time").mean().item())
    assert {c.name for c in fitted.checks} == {"convergence", "one-step-ahead coverage", "placebo in time"}
    for group in ("posterior", "posterior_predictive", "observed_data"):
        assert group in fitted.idata.groups()
    text = fitted.report()
    assert "average" in text.lower() and "interval" in text
    path = fitted.to_html(tmp_path / "r.html")
    html = open(path, encoding="utf-8").read()
    assert "<img" in html and "data:image/png;base64" in html and "Checks" in html
    assert "<table" in fitted._repr_html_()
    fig = fitted.plot()
    assert len(fig.axes) == 3


def test_same_seed_same_numbers(study):
    est = bc.CausalImpact(study.pre_period, study.post_period, seasonality=[7])
    kw = dict(sampler=bc.Sampler(draws=50, warmup=20, chains=2), seed=7, checks=False)
    a = est.fit(study.data, study.outcome, list(study.controls), **kw)
    b = est.fit(study.data, study.outcome, list(study.controls), **kw)
    np.testing.assert_array_equal(a.effect.values, b.effect.values)
    assert a.checks == () and not a.trustworthy


def test_fit_does_not_change_callers_data(study):
    df = study.data.copy()
    before = df.copy()
    bc.CausalImpact(study.pre_period, study.post_period).fit(
        df, study.outcome, list(study.controls), sampler=bc.Sampler(draws=20, warmup=10, chains=1), checks=False)
    pd.testing.assert_frame_equal(df, before)


def test_missing_pre_period_outcome_is_skipped(study):
    df = study.data.copy()
    df.iloc[[10, 11, 50], 0] = np.nan
    res = bc.CausalImpact(study.pre_period, study.post_period, seasonality=[7]).fit(
        df, study.outcome, list(study.controls), sampler=bc.Sampler(draws=100, warmup=100, chains=1), checks=False)
    assert np.isfinite(res.effect.values).all()


def test_integer_index_and_positions():
    s = simulate_regional_sales(n_pre=80, n_post=20, n_controls=2, relative_effect=0.0, seed=5)
    df = s.data.reset_index(drop=True)
    res = bc.CausalImpact((0, 79), (80, 99), trend="local_linear").fit(
        df, "sales", list(s.controls), sampler=bc.Sampler(draws=100, warmup=100, chains=1), checks=False)
    assert res.pointwise.sizes["time"] == 20


def test_kernel_runs_under_numpyro_mcmc(study):
    """The Gibbs sampler is a genuine NumPyro MCMCKernel: numpyro.infer.MCMC drives it too."""
    from bayescausal.inference import run_mcmc
    from bayescausal.structural_ts._inputs import make_inputs, standardise
    from bayescausal.structural_ts.components import Seasonal
    from bayescausal.structural_ts.gibbs import BSTSGibbs

    y, X = study.data["sales"].to_numpy(), study.data[list(study.controls)].to_numpy()
    fit = np.arange(len(y)) < 120
    ys, Xs, *_ = standardise(y, X, fit)
    inputs, _ = make_inputs(ys, Xs, fit, "level", (Seasonal(7),), False, bc.BSTSPriors())
    draws = run_mcmc(BSTSGibbs(), bc.Sampler(draws=30, warmup=10, chains=2, chain_method="vectorized"), 0, (inputs,))
    assert draws.samples["y_pred"].shape == (2, 30, len(y))


def test_dynamic_regression_harmonic_and_noise_free_counterfactual():
    s = simulate_regional_sales(n_pre=100, n_post=20, n_controls=2, relative_effect=0.05, seed=11)
    sampler = bc.Sampler(draws=100, warmup=100, chains=1)
    dyn = bc.CausalImpact(s.pre_period, s.post_period, seasonality=[bc.Harmonic(30.5, 2)], dynamic_regression=True)
    res = dyn.fit(s.data, s.outcome, list(s.controls), sampler=sampler, checks=False)
    assert "beta" not in res.idata.posterior  # coefficients are states, not static parameters
    assert any(name.startswith("dynamic_") for name in res.idata.posterior["component"].values)
    noisy = bc.CausalImpact(s.pre_period, s.post_period).fit(s.data, s.outcome, list(s.controls),
                                                             sampler=sampler, seed=2, checks=False)
    clean = bc.CausalImpact(s.pre_period, s.post_period, counterfactual="mean").fit(
        s.data, s.outcome, list(s.controls), sampler=sampler, seed=2, checks=False)
    # the noise-free counterfactual has narrower pointwise intervals (same draws, minus observation noise)
    assert float(clean.pointwise.std(("chain", "draw")).mean()) < float(noisy.pointwise.std(("chain", "draw")).mean())


def test_no_controls_local_level_only():
    s = simulate_regional_sales(n_pre=60, n_post=10, n_controls=1, seed=1)
    res = bc.CausalImpact(s.pre_period, s.post_period).fit(
        s.data, s.outcome, None, sampler=bc.Sampler(draws=60, warmup=60, chains=2), checks="fast")
    assert "beta" not in res.idata.posterior
    assert [c.name for c in res.checks] == ["convergence", "one-step-ahead coverage"]
