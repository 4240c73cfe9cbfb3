"""One small full fit: wiring, the Result contract (summary, dims, report, plots, HTML), checks, optimiser."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

import bayescausal as bc


def test_effect_dims_and_summary(small_fit, study):
    res = small_fit
    assert isinstance(res, bc.MMMResult)
    assert res.effect.dims == ("chain", "draw", "channel")
    assert list(res.effect.coords["channel"].values) == list(study.channels)
    table = res.summary()
    assert {"mean", "sd", "lower", "upper", "p_positive"} <= set(table.columns)
    for c in study.channels:
        assert f"ROAS: {c}" in table.index and f"mROAS: {c}" in table.index
    assert table.index[0] == f"ROAS: {study.channels[0]}"
    assert "total media contribution" in table.index


def test_contributions_add_up_to_the_fitted_mean(small_fit, study):
    res = small_fit
    total = res.contributions.sum("component").values
    np.testing.assert_allclose(total, res.idata.posterior["fitted"].values, rtol=1e-10)
    ot = res.contributions_over_time()
    np.testing.assert_allclose(ot["observed"].to_numpy(), study.data["sales"].to_numpy())
    # the fit tracks the data: mean absolute error of the fitted mean within a few noise sds
    assert np.mean(np.abs(ot["fitted"] - ot["observed"])) < 0.1 * ot["observed"].mean()
    roas = res.effect.values.reshape(-1, len(study.channels))
    contrib = res.contributions.sel(component=list(study.channels)).sum(("geo", "date")).values
    np.testing.assert_allclose(roas, contrib.reshape(-1, len(study.channels)) / study.data[list(study.channels)]
                               .sum().to_numpy(), rtol=1e-10)


def test_idata_groups(small_fit):
    idata = small_fit.idata
    for group in ("posterior", "posterior_predictive", "observed_data", "sample_stats"):
        assert hasattr(idata, group)
    assert {"roas", "mroas", "coef", "alpha", "lam", "sigma"} <= set(idata.posterior.data_vars)


def test_checks_ran(small_fit):
    names = [c.name for c in small_fit.checks]
    assert names == ["convergence", "posterior predictive", "residual autocorrelation", "out-of-sample time slice",
                     "placebo channel"]
    assert small_fit.placebo is not None and small_fit.holdout is not None
    placebo = next(c for c in small_fit.checks if c.name == "placebo channel")
    assert placebo.passed is not None and "random spend series" in placebo.message


def test_report_plot_html(small_fit, tmp_path):
    text = small_fit.report()
    assert "Return on ad spend" in text and "Marginal ROAS" in text
    fig = small_fit.plot()
    assert len(fig.axes) == 4
    plt.close(fig)
    page = open(small_fit.to_html(tmp_path / "mmm.html"), encoding="utf-8").read()
    assert "Placebo channel ROAS" in page and "data:image/png;base64" in page
    assert "Bayesian marketing mix model" in small_fit._repr_html_()


def test_response_curves_and_budget(small_fit, study):
    curves = small_fit.response_curves(points=11)
    assert set(curves["channel"]) == set(study.channels) and len(curves) == 11 * len(study.channels)
    first = curves[curves["multiple"] == 0.0]
    np.testing.assert_allclose(first["mean"], 0.0, atol=1e-12)
    cur = small_fit.current_weekly_spend()
    alloc = small_fit.optimize_budget(total=float(cur.sum()) * 13, horizon=13)
    assert alloc.table["optimal_weekly"].sum() == pytest.approx(cur.sum(), rel=1e-6)
    assert alloc.outcome.mean() >= alloc.outcome_current_mix.mean() * (1 - 1e-9)
    assert alloc.expected_regret >= 0
    fig = alloc.plot()
    plt.close(fig)
    with pytest.raises(bc.SpecError, match="outside what the bounds allow"):
        small_fit.optimize_budget(total=float(cur.sum()) * 13 * 3, horizon=13)
