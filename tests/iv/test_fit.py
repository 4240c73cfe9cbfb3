"""Fits on simulated data with known effects: recovery, agreement with 2SLS, weak instruments, placebo,
over-identification and the exclusion-restriction sensitivity."""

import arviz as az
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest

import bayescausal as bc

from .conftest import FAST, simulate_iv


def test_recovers_effect_with_strong_instruments(strong_fit):
    df, res = strong_fit
    row = res.summary(0.99).loc["effect"]
    assert row["lower"] < 1.0 < row["upper"]
    assert abs(row["mean"] - 1.0) < 3.5 * row["sd"]
    assert res.checks_table().loc["instrument strength", "verdict"] == "passed"
    assert res.checks_table().loc["convergence", "verdict"] == "passed"
    # the treatment is endogenous by construction (corr(u, v) = 0.5): the posterior says so
    endog = res.summary().loc["error correlation (endogeneity)"]
    assert endog["lower"] < 0.5 < endog["upper"] and endog["lower"] > 0


def test_posterior_mean_agrees_with_2sls_under_weak_priors():
    """Just identified, strong instrument, vague priors: the posterior mean equals the 2SLS (here also LIML)
    estimate up to Monte Carlo error (3.5 MC standard errors, from the bulk ESS) plus an O(1/sqrt(n)) share
    of a posterior sd for the finite-sample gap between a posterior mean and the maximum likelihood point."""
    linearmodels = pytest.importorskip("linearmodels")
    df = simulate_iv(n=1500, k=1, strength=0.8, seed=11)
    vague = {"effect": dist.Normal(0.0, 100.0), "instrument": dist.Normal(0.0, 100.0)}
    res = bc.BayesianIV(priors=vague).fit(df, "y", "x", "z0", ["w0", "w1"], sampler=FAST, checks=False, seed=2)
    ref = linearmodels.IV2SLS(df["y"], pd.concat([pd.Series(1.0, index=df.index, name="const"), df[["w0", "w1"]]],
                                                 axis=1), df["x"], df["z0"]).fit(cov_type="unadjusted")
    draws = res.effect.values
    sd = draws.std()
    mc_se = sd / np.sqrt(float(az.ess(draws)))
    gap = abs(draws.mean() - float(ref.params["x"]))
    assert gap < 3.5 * mc_se + 0.1 * sd, (gap, mc_se, sd)
    # and the posterior sd is close to the 2SLS standard error (within 15%: MC error of an sd plus O(1/sqrt(n)))
    assert sd == pytest.approx(float(ref.std_errors["x"]), rel=0.15)


def test_weak_instrument_widens_posterior_and_report_warns():
    df = simulate_iv(n=600, k=1, strength=0.0, rho=0.8, seed=12)
    res = bc.BayesianIV().fit(df, "y", "x", "z0", ["w0", "w1"], sampler=FAST, checks="fast", seed=3)
    assert res.first_stage.f_stat < 3 and not res.ar_set.bounded
    assert res.weak_instruments
    assert res.checks_table().loc["instrument strength", "verdict"] == "FAILED"
    text = res.report()
    assert text.startswith("Warning") and "weak" in text and "Anderson-Rubin" in text
    row = res.summary().loc["effect"]
    prior_width = 2 * 1.96 * res.effect_prior_sd
    assert row["upper"] - row["lower"] > 0.5 * prior_width  # the data add little: the interval stays prior-wide
    assert row["lower"] < 0 < row["upper"]
    # OLS is precise but wrong here (endogeneity 0.8, true effect 1): the posterior does not collapse onto it
    ols_se = 1.0 / np.sqrt(len(df))  # about sd(u) / (sd(x) sqrt(n)) with both sds near 1
    assert row["sd"] > 20 * ols_se


def test_placebo_permuted_instruments_flagged_weak_and_cover_zero(strong_fit):
    _, res = strong_fit
    check = res.checks_table().loc["placebo (permuted instruments)"]
    assert check["verdict"] == "passed"
    table = res.placebos
    assert table["flagged_weak"].all() and (table["first_stage_F"] < 10).all()
    assert ((table["lower"] < 0) & (table["upper"] > 0)).mean() >= 0.75


def test_overidentification_flags_an_invalid_instrument():
    df = simulate_iv(n=800, k=2, seed=13, direct=0.4)
    res = bc.BayesianIV().fit(df, "y", "x", ["z0", "z1"], ["w0", "w1"], sampler=FAST, checks="fast")
    assert res.checks_table().loc["over-identification", "verdict"] == "FAILED"
    assert not res.trustworthy
    assert "exclusion" in res.report()


def test_overidentification_passes_with_valid_instruments(strong_fit):
    _, res = strong_fit
    assert res.checks_table().loc["over-identification", "verdict"] == "passed"
    just = bc.BayesianIV().fit(simulate_iv(n=300, seed=14), "y", "x", "z0", ["w0"], sampler=FAST, checks="fast")
    assert "over-identification" not in just.checks_table().index
    assert "cannot be tested" in just.report()


@pytest.mark.slow  # default-suite time budget (CI): run by make bench
def test_exclusion_sensitivity_widens_monotonically(strong_fit):
    _, res = strong_fit
    table = res.exclusion_sensitivity([0.0, 0.1, 0.3], seed=5)
    assert list(table.index) == [0.0, 0.1, 0.3]
    assert {"mean", "sd", "lower", "upper", "p_positive", "width"} <= set(table.columns)
    assert np.all(np.diff(table["width"].to_numpy()) > 0)
    assert np.all(np.diff(table["sd"].to_numpy()) > 0)
    # width 0 is the exact restriction: it agrees with the main fit within Monte Carlo error
    main = res.summary().loc["effect"]
    assert abs(table.loc[0.0, "mean"] - main["mean"]) < 0.25 * main["sd"]
    fig = res.plot_exclusion_sensitivity(table)
    assert fig.axes[0].get_title()


def test_exclusion_prior_in_the_fit_absorbs_a_direct_effect():
    """With a direct effect of the only instrument, the exact-exclusion fit is biased; a prior on the direct
    effect widens the interval enough to cover the truth again (Conley et al. 2012)."""
    df = simulate_iv(n=800, k=1, strength=0.6, seed=15, direct=0.25)
    exact = bc.BayesianIV().fit(df, "y", "x", "z0", ["w0", "w1"], sampler=FAST, checks=False).summary().loc["effect"]
    loose = bc.BayesianIV(exclusion_prior_sd=0.3).fit(df, "y", "x", "z0", ["w0", "w1"], sampler=FAST,
                                                        checks=False).summary().loc["effect"]
    assert not exact["lower"] < 1.0 < exact["upper"]
    assert loose["lower"] < 1.0 < loose["upper"]
    assert loose["upper"] - loose["lower"] > 2 * (exact["upper"] - exact["lower"])


def test_student_t_errors_recover_effect_with_outliers():
    df = simulate_iv(n=500, k=1, strength=0.7, seed=16)
    rng = np.random.default_rng(0)
    bad = rng.choice(len(df), 10, replace=False)
    df.loc[bad, "y"] += rng.choice([-15.0, 15.0], size=10)
    res = bc.BayesianIV(errors="student_t").fit(df, "y", "x", "z0", ["w0", "w1"], sampler=FAST, checks="fast")
    row = res.summary(0.99).loc["effect"]
    assert row["lower"] < 1.0 < row["upper"] and abs(row["mean"] - 1.0) < 3.5 * row["sd"]
    assert res.checks_table().loc["posterior predictive (outcome)", "verdict"] == "passed"


def test_probit_treatment_recovers_effect():
    rng = np.random.default_rng(17)
    n = 800
    w, z = rng.normal(size=(2, n))
    e = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], size=n)
    x = (0.2 + 0.8 * z + 0.3 * w + e[:, 0] > 0).astype(float)
    y = 1 + 2.0 * x + 0.5 * w + e[:, 1]
    df = pd.DataFrame({"y": y, "x": x.astype(bool), "z": z, "w": w})
    res = bc.BayesianIV(treatment_model="probit").fit(df, "y", "x", "z", "w", sampler=FAST, checks="fast")
    row = res.summary(0.99).loc["effect"]
    assert row["lower"] < 2.0 < row["upper"] and abs(row["mean"] - 2.0) < 3.5 * row["sd"]
    assert "switch from 0 to 1" in res.estimand
