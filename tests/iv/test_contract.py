"""The Result contract for IVResult: summary columns, report, plots, HTML, InferenceData groups."""

import matplotlib.pyplot as plt

from bayescausal.iv import ARSet, IVResult


def test_summary_and_effect_dims(strong_fit):
    _, res = strong_fit
    assert isinstance(res, IVResult)
    table = res.summary()
    assert {"mean", "sd", "lower", "upper", "p_positive"} <= set(table.columns)
    assert table.index[0] == "effect"
    assert res.effect.dims == ("chain", "draw")
    assert set(res.diagnostics_table().index) >= {"2SLS estimate (Wald 95%)", "first-stage F", "OLS estimate"}


def test_idata_groups(strong_fit):
    df, res = strong_fit
    idata = res.idata
    for group in ("posterior", "posterior_predictive", "observed_data", "sample_stats"):
        assert hasattr(idata, group)
    assert idata.observed_data["outcome"].shape == (len(df),)
    assert idata.posterior_predictive["treatment"].shape[-1] == len(df)
    assert {"effect", "pi", "concentration", "endogeneity"} <= set(idata.posterior.data_vars)


def test_report_plot_html(strong_fit, tmp_path):
    _, res = strong_fit
    text = res.report()
    for phrase in ("Two-stage least squares", "First stage: F =", "Anderson-Rubin", "exclusion restriction",
                   "Checks passed", "Per unit of x: E-value"):
        assert phrase in text
    fig = res.plot()
    assert len(fig.axes) == 2
    plt.close(fig)
    path = res.to_html(tmp_path / "iv.html")
    page = open(path, encoding="utf-8").read()
    assert "Placebo fits" in page and "Frequentist comparisons" in page and "data:image/png;base64" in page
    assert "Bayesian instrumental variables" in res._repr_html_()


def test_arset_shapes_described():
    assert ARSet("interval", 1.0, 2.0, 0.95).contains(1.5)
    rays = ARSet("two_rays", -1.0, 1.0, 0.95)
    assert rays.contains(-2) and rays.contains(2) and not rays.contains(0) and not rays.bounded
    assert "whole real line" in ARSet("real_line", float("-inf"), float("inf"), 0.95).describe()
    assert not ARSet("empty", float("nan"), float("nan"), 0.95).contains(0.0)
