"""AIPWResult contract without MCMC: summary columns, report wording, plot, HTML and notebook card."""

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayescausal.checks import CheckResult
from bayescausal.crosssection.aipw_result import AIPWResult
from bayescausal.sensitivity import outcome_sentence


@pytest.fixture
def result():
    rng = np.random.default_rng(0)
    draws = rng.normal(2.0, 0.5, size=(2, 300))
    n = 100
    e = rng.uniform(0.1, 0.9, n)
    treated = rng.uniform(size=n) < e
    overlap = pd.DataFrame({"units": [40, 60], "propensity_mean": [0.6, 0.4], "propensity_min": [0.1, 0.1],
                            "propensity_max": [0.9, 0.9], "share_below_0.05": [0.0, 0.0],
                            "share_above_0.95": [0.0, 0.0], "effective_size": [30.0, 50.0],
                            "effective_share": [0.75, 0.83]}, index=pd.Index(["treated", "control"], name="group"))
    balance = pd.DataFrame({"smd_raw": [0.5, -0.3], "smd_weighted": [0.02, 0.15], "balanced": [True, False]},
                           index=pd.Index(["x", "z"], name="covariate"))
    checks = (CheckResult("convergence", True, 1.0, "R-hat <= 1.01", "fine."),
              CheckResult("covariate balance", False, 0.15, "|SMD| < 0.1", "z is not balanced."))
    effect = xr.DataArray(draws, dims=("chain", "draw"))
    return AIPWResult(estimand="average effect over all units of t on y", effect=effect,
                      idata=az.from_dict(posterior={"effect": draws}), checks=checks, method="AIPW test",
                      outcome="y", treatment="t", covariates=("x", "z"), target="ATE", naive=3.5, propensity=e,
                      treated=treated, kept=np.ones(n, bool), overlap=overlap, balance=balance,
                      randomization={"statistic": 2.1, "statistic_sd": 0.4, "p_value": 0.01,
                                     "null": rng.normal(0, 0.4, 200)},
                      outcome_model="linear", propensity_model="logistic",
                      sensitivity_text=outcome_sentence(draws, rng.normal(40, 10, n), control=~treated))


def test_summary_columns(result):
    s = result.summary()
    assert list(s.columns) == ["mean", "sd", "lower", "upper", "p_positive"]
    assert s.index.tolist() == ["effect"]
    assert abs(s.loc["effect", "mean"] - 2.0) < 0.1


def test_report_names_failed_check_first(result):
    text = result.report()
    first = text.split(". ")[0]
    assert first.startswith("Warning: the covariate balance check failed")
    assert "naive difference" in text and "3.50" in text
    assert "Saarela, Belzile & Stephens 2016" in text
    assert "p = 0.010" in text
    assert not result.trustworthy


def test_plot_and_html(result, tmp_path):
    import matplotlib.pyplot as plt

    fig = result.plot()
    assert len(fig.axes) == 3
    plt.close(fig)
    path = result.to_html(tmp_path / "aipw.html")
    html = open(path, encoding="utf-8").read()
    assert "Covariate balance" in html and "Randomization inference" in html and "<img" in html or "<svg" in html
    card = result._repr_html_()
    assert "AIPW test" in card


def test_report_quotes_the_e_value(result):
    text = result.report()
    assert "E-value" in text and "explain the estimate away" in text
