"""The sensitivity analysis of an IV result: the reduced form (outcome on the instrument and covariates) analysed
as sensemakr would, against ``ols_robustness`` called directly; benchmark bounds ordered on data where one
covariate is a strong common cause of the instrument and the outcome and another is noise; the plot's panel,
the HTML and the error for several instruments. One small fit shared by the module."""

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import bayescausal as bc
from bayescausal.errors import SpecError
from bayescausal.sensitivity import ols_robustness

SMALL = bc.Sampler(chains=2, draws=200, warmup=200, progress=False)  # one chain fails in the IV model (einsum)
COVS = ["c", "w", "noise"]


def simulate(n=400, seed=3):
    """``c`` drives the instrument and the outcome (the instrument is valid only given ``c``); ``w`` moves the
    treatment and outcome only; ``noise`` nothing. ``x = 0.6 z + 0.4 w + v``, ``y = x + 0.8 c + 0.3 w + u``,
    ``corr(u, v) = 0.5``."""
    rng = np.random.default_rng(seed)
    c, w, noise = rng.normal(size=(3, n))
    z = rng.normal(size=n) + 0.8 * c
    e = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], size=n)
    x = 0.6 * z + 0.4 * w + e[:, 0]
    y = x + 0.8 * c + 0.3 * w + e[:, 1]
    return pd.DataFrame({"y": y, "x": x, "z": z, "c": c, "w": w, "noise": noise})


@pytest.fixture(scope="module")
def fit():
    df = simulate()
    return df, bc.BayesianIV().fit(df, "y", "x", "z", COVS, sampler=SMALL, seed=0, checks=False)


def test_sensitivity_is_the_reduced_forms_as_sensemakr_computes_it(fit):
    df, res = fit
    want = ols_robustness(df["y"], df["z"], df[COVS], benchmarks=COVS, kd=1, treatment="z")
    got = res.sensitivity()
    for attr in ("estimate", "se", "dof", "partial_r2", "rv_q", "rv_qa"):
        assert getattr(got, attr) == pytest.approx(getattr(want, attr), rel=1e-8), attr
    cols = ["r2dz_x", "r2yz_dx", "adjusted_estimate", "adjusted_lower", "adjusted_upper"]
    pd.testing.assert_frame_equal(got.bounds[cols], want.bounds[cols], rtol=1e-8)
    assert got.treatment == "z" and res.confounding_benchmarks.rows == len(df)
    # the reduced form's estimate is the first stage times the effect: 0.6 x 1 here, well inside its own interval
    assert abs(got.estimate - 0.6) < 3.5 * got.se


def test_the_common_cause_of_instrument_and_outcome_bounds_above_noise(fit):
    _, res = fit
    b = res.sensitivity().bounds
    strong, noise = b.loc["1x c"], b.loc["1x noise"]
    assert strong["r2dz_x"] > noise["r2dz_x"] and strong["r2yz_dx"] > noise["r2yz_dx"]
    est = res.sensitivity().estimate
    assert abs(est - strong["adjusted_estimate"]) > abs(est - noise["adjusted_estimate"])


def test_plot_has_the_reduced_form_panel_and_html_its_tables(fit, tmp_path):
    _, res = fit
    fig = res.plot()
    assert len(fig.axes) == 3
    panel = fig.axes[2]
    assert "instrument" in panel.get_xlabel() and "outcome" in panel.get_ylabel()
    assert panel.get_title().startswith("Reduced form z -> y")
    plt.close(fig)
    fig = res.plot_sensitivity()
    assert len(fig.axes) == 1 and "instrument" in fig.axes[0].get_xlabel()
    plt.close(fig)
    page = open(res.to_html(tmp_path / "iv.html"), encoding="utf-8").read()
    assert page.count("<img") == 1 and "confounder of the instrument and the outcome" in page
    assert "1x c" in page


def test_several_instruments_say_what_to_use_instead(fit):
    _, res = fit
    several = dataclasses.replace(res, instruments=("z", "z2"), confounding_benchmarks=None)
    with pytest.raises(SpecError, match="one instrument and one treatment"):
        several.sensitivity()
    fig = several.plot()
    assert len(fig.axes) == 2
    plt.close(fig)
