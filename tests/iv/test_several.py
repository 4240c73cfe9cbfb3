"""Several endogenous treatments: recovery, agreement with 2SLS, per-treatment weak-instrument diagnostics,
the placebo and exclusion sensitivity, Student-t errors, and the Result contract with a treatment dimension."""

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest

import bayescausal as bc
from bayescausal.iv import _math

from .conftest import CHECKED, FAST, simulate_iv2

TRUTH = {"x0": 1.0, "x1": -0.5}
COLS = {"outcome": "y", "treatment": ["x0", "x1"], "covariates": ["w0", "w1"]}


@pytest.fixture(scope="module")
def two_fit():
    """A full fit (every check) with two treatments and three instruments (over-identified by one)."""
    df = simulate_iv2(n=800, k=3, seed=1)
    return df, bc.BayesianIV().fit(df, instruments=["z0", "z1", "z2"], sampler=FAST, seed=0, **COLS)


def test_two_treatments_recover_effects_and_pass_checks(two_fit):
    _, res = two_fit
    assert res.effect.dims == ("chain", "draw", "treatment")
    assert list(res.effect.coords["treatment"].values) == ["x0", "x1"]
    table = res.summary(0.99)
    for name, truth in TRUTH.items():
        row = table.loc[f"effect: {name}"]
        assert row["lower"] < truth < row["upper"] and abs(row["mean"] - truth) < 3.5 * row["sd"], (name, row)
        endog = table.loc[f"error correlation (endogeneity): {name}"]
        assert endog["lower"] < 0.5 < endog["upper"] and endog["lower"] > 0  # corr(u, v_j) = 0.5 by construction
    verdicts = res.checks_table()["verdict"]
    for check in ("convergence", "instrument strength", "over-identification", "placebo (permuted instruments)",
                  "posterior predictive (outcome)", "posterior predictive (first stage): x0",
                  "posterior predictive (first stage): x1"):
        assert verdicts[check] == "passed", (check, res.checks_table().loc[check, "message"])
    assert res.trustworthy and not res.weak_instruments
    assert res.first_stage.f_stat.shape == (2,) and res.first_stage.df_num == 2
    assert res.ar_set is None and len(res.ar_sets) == 2
    for name, ar in zip(("x0", "x1"), res.ar_sets, strict=True):
        assert ar.kind == "interval" and ar.contains(TRUTH[name])


def test_two_treatments_result_contract(two_fit, tmp_path):
    df, res = two_fit
    assert res.idata.posterior["effect"].dims == ("chain", "draw", "treatment")
    assert res.idata.posterior["pi"].shape[-2:] == (3, 2)
    assert res.idata.posterior_predictive["treatment"].shape[-2:] == (len(df), 2)
    assert res.idata.posterior["error_corr"].shape[-2:] == (3, 3)
    diag = res.diagnostics_table()
    assert {"2SLS estimate (Wald 95%): x0", "conditional (Sanderson-Windmeijer) first-stage F: x1",
            "Cragg-Donald minimum eigenvalue statistic"} <= set(diag.index)
    text = res.report()
    assert "x0" in text.split("\n\n")[1] and "x1" in text.split("\n\n")[1]  # the headline names both
    for phrase in ("Sanderson-Windmeijer", "joint set", "Dufour & Taamouti", "Anderson-Rubin test of no effects"):
        assert phrase in text
    fig = res.plot()
    assert len(fig.axes) == 3
    plt.close(fig)
    page = open(res.to_html(tmp_path / "iv2.html"), encoding="utf-8").read()
    assert "Placebo fits" in page
    placebos = res.placebos
    assert set(placebos["treatment"]) == {"x0", "x1"} and placebos["flagged_weak"].all()


@pytest.mark.slow  # default-suite time budget (CI): run by make bench
def test_two_treatments_exclusion_sensitivity(two_fit):
    _, res = two_fit
    table = res.exclusion_sensitivity([0.0, 0.3], seed=5)
    assert table.index.names == ["exclusion_prior_sd", "treatment"] and len(table) == 4
    for name in ("x0", "x1"):
        part = table.xs(name, level="treatment")
        assert part.loc[0.3, "width"] > part.loc[0.0, "width"]
        main = res.summary().loc[f"effect: {name}"]
        assert abs(part.loc[0.0, "mean"] - main["mean"]) < 0.25 * main["sd"]  # width 0 is the main model
    fig = res.plot_exclusion_sensitivity(table)
    assert fig.axes[0].get_title()
    plt.close(fig)


def test_two_treatments_agree_with_2sls_under_vague_priors():
    """Just identified (two instruments), strong, vague priors: each posterior mean is the 2SLS estimate up to
    Monte Carlo error (3.5 MC standard errors from the bulk ESS) plus 0.1 posterior sd for the finite-sample gap
    between a posterior mean and the maximum likelihood point; posterior sds within 15% of the 2SLS ones."""
    linearmodels = pytest.importorskip("linearmodels")
    df = simulate_iv2(n=1500, k=2, strength=0.8, seed=11)
    vague = {"effect": dist.Normal(0.0, 100.0), "instrument": dist.Normal(0.0, 100.0)}
    res = bc.BayesianIV(priors=vague).fit(df, instruments=["z0", "z1"], sampler=FAST, checks=False, seed=2, **COLS)
    exog = pd.concat([pd.Series(1.0, index=df.index, name="const"), df[["w0", "w1"]]], axis=1)
    ref = linearmodels.IV2SLS(df["y"], exog, df[["x0", "x1"]], df[["z0", "z1"]]).fit(cov_type="unadjusted")
    for name in ("x0", "x1"):
        draws = res.effect.sel(treatment=name).values
        sd = draws.std()
        mc_se = sd / np.sqrt(float(az.ess(draws)))
        gap = abs(draws.mean() - float(ref.params[name]))
        assert gap < 3.5 * mc_se + 0.1 * sd, (name, gap, mc_se, sd)
        assert sd == pytest.approx(float(ref.std_errors[name]), rel=0.15)
    assert np.allclose(res.tsls.estimate, ref.params[["x0", "x1"]].to_numpy(), rtol=1e-10)


def test_one_treatment_without_its_own_instrument_variation():
    """Three instruments move x0 but none moves x1: the conditional F of x1 is small (that of x0 too: its 2SLS on an
    unidentified x1 is erratic, Sanderson & Windmeijer 2016), x1's AR projection is unbounded, the report warns,
    x1's posterior stays wide (not collapsed on OLS) while x0 is recovered, and NUTS (rotated coordinates) does not
    diverge."""
    rng = np.random.default_rng(31)
    n = 800
    W = rng.normal(size=(n, 2))
    Z = rng.normal(size=(n, 3))
    e = rng.multivariate_normal(np.zeros(3), [[1, 0.3, 0.6], [0.3, 1, 0.6], [0.6, 0.6, 1]], size=n)
    x0 = Z @ np.array([0.6, -0.4, 0.3]) + 0.3 * W[:, 0] + e[:, 0]
    x1 = 0.3 * W[:, 1] + e[:, 1]
    y = 1.0 + x0 - 0.5 * x1 - 0.2 * W.sum(1) + e[:, 2]
    df = pd.DataFrame({"y": y, "x0": x0, "x1": x1, "z0": Z[:, 0], "z1": Z[:, 1], "z2": Z[:, 2], "w0": W[:, 0],
                       "w1": W[:, 1]})
    res = bc.BayesianIV().fit(df, instruments=["z0", "z1", "z2"], sampler=CHECKED, checks="fast", seed=1, **COLS)
    assert res.first_stage.f_stat[1] < 10 < _math.first_stage(x0, W, Z).f_stat
    assert not res.ar_sets[1].bounded and res.weak_instruments
    assert res.checks_table().loc["instrument strength", "verdict"] == "FAILED"
    assert "weak" in res.report()
    table = res.summary(0.99)
    x0 = table.loc["effect: x0"]
    assert x0["lower"] < 1.0 < x0["upper"] and abs(x0["mean"] - 1.0) < 3.5 * x0["sd"]
    x1 = table.loc["effect: x1"]
    ols_se = 1.0 / np.sqrt(n)
    assert x1["sd"] > 20 * ols_se and x1["lower"] < -0.5 < x1["upper"]
    assert int(res.idata.sample_stats["diverging"].sum()) == 0


@pytest.mark.slow  # default-suite time budget (CI): run by make bench
def test_two_treatments_student_t():
    df = simulate_iv2(n=500, k=3, seed=16)
    rng = np.random.default_rng(0)
    bad = rng.choice(len(df), 10, replace=False)
    df.loc[bad, "y"] += rng.choice([-15.0, 15.0], size=10)
    res = bc.BayesianIV(errors="student_t").fit(df, instruments=["z0", "z1", "z2"], sampler=CHECKED, checks="fast",
                                               **COLS)
    table = res.summary(0.99)
    for name, truth in TRUTH.items():
        row = table.loc[f"effect: {name}"]
        assert row["lower"] < truth < row["upper"] and abs(row["mean"] - truth) < 3.5 * row["sd"], (name, row)
    assert res.checks_table().loc["posterior predictive (outcome)", "verdict"] == "passed"
    assert res.checks_table().loc["convergence", "verdict"] == "passed"
