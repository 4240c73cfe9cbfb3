"""Bayesian sensitivity: exact shifts under point-mass priors, Monte Carlo against closed forms, seeds, input."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from scipy import integrate, stats

from bayescausal.errors import SpecError
from bayescausal.sensitivity import BinaryConfounder, PartialR2Confounder, bayesian_sensitivity

from .test_math import DARFUR, FEMALE_EST, FEMALE_R2DZ, FEMALE_R2YZ, FEMALE_SE


@pytest.fixture
def draws():
    return np.random.default_rng(5).normal(0.5, 0.1, size=(2, 1000))


def test_point_mass_shifts_exactly_by_the_bias(draws):
    res = bayesian_sensitivity(draws, BinaryConfounder(gamma=2.0, p_treated=0.6, p_control=0.2))
    np.testing.assert_allclose(res.bias, 0.8, rtol=1e-15)
    np.testing.assert_allclose(res.adjusted, draws.ravel() - 0.8, rtol=0, atol=1e-15)
    # a protective effect: "toward_null" means the confounding made it look more negative
    neg = bayesian_sensitivity(-draws, BinaryConfounder(gamma=2.0, p_treated=0.6, p_control=0.2))
    np.testing.assert_allclose(neg.adjusted, -draws.ravel() + 0.8, rtol=0, atol=1e-15)
    away = bayesian_sensitivity(draws, BinaryConfounder(gamma=2.0, p_treated=0.6, p_control=0.2,
                                                        direction="away_from_null"))
    np.testing.assert_allclose(away.adjusted, draws.ravel() + 0.8, rtol=0, atol=1e-15)
    drawn = bayesian_sensitivity(draws, BinaryConfounder(gamma=2.0, p_treated=0.2, p_control=0.6,
                                                         direction="as_drawn"))
    np.testing.assert_allclose(drawn.adjusted, draws.ravel() + 0.8, rtol=0, atol=1e-15)


def test_zero_strength_changes_nothing(draws):
    for conf in (BinaryConfounder(gamma=0.0), BinaryConfounder(p_treated=0.3, p_control=0.3),
                 PartialR2Confounder(r2_treatment=0.0, r2_outcome=0.0)):
        res = bayesian_sensitivity(draws, conf, **({"dof": 200} if isinstance(conf, PartialR2Confounder) else {}))
        np.testing.assert_array_equal(res.adjusted, draws.ravel())
        assert res.p_positive == pytest.approx(np.mean(draws > 0))


def test_partial_r2_point_mass_reproduces_cinelli_hazlett():
    z = np.random.default_rng(2).normal(size=4000)
    z = (z - z.mean()) / z.std(ddof=1)
    effect = DARFUR["estimate"] + DARFUR["se"] * z  # mean and sd exactly the regression's estimate and se
    conf = PartialR2Confounder(r2_treatment=FEMALE_R2DZ[0], r2_outcome=FEMALE_R2YZ[0])
    res = bayesian_sensitivity(effect, conf, dof=DARFUR["dof"])
    assert res.adjusted.mean() == pytest.approx(FEMALE_EST[0], rel=1e-7)
    # the frequentist se carries sqrt(dof / (dof - 1)), which the Bayesian adjustment leaves out (documented)
    assert res.adjusted.std(ddof=1) == pytest.approx(FEMALE_SE[0] / np.sqrt(783 / 782), rel=1e-7)


def test_monte_carlo_matches_closed_form_bias_mean(draws):
    """Default binary prior, toward the null: E[bias] = E|gamma| E|p1 - p0| with gamma ~ HalfNormal(|mean|)."""
    big = np.random.default_rng(9).normal(0.5, 0.1, 40000)
    res = bayesian_sensitivity(big, seed=3)
    sigma = abs(big.mean())
    # for iid X, Y with cdf F: E|X - Y| = 2 int F (1 - F) dt (= 9/35 for Beta(2, 2))
    e_abs_dp = integrate.quad(lambda t: 2 * stats.beta.cdf(t, 2, 2) * stats.beta.sf(t, 2, 2), 0, 1)[0]
    assert e_abs_dp == pytest.approx(9 / 35, rel=1e-10)
    expected = sigma * np.sqrt(2 / np.pi) * e_abs_dp
    mcse = res.bias.std(ddof=1) / np.sqrt(res.bias.size)
    assert abs(res.bias.mean() - expected) < 4 * mcse
    assert np.all(res.bias >= 0)


def test_seeds_are_reproducible(draws):
    a, b = bayesian_sensitivity(draws, seed=1), bayesian_sensitivity(draws, seed=1)
    np.testing.assert_array_equal(a.adjusted, b.adjusted)
    assert not np.array_equal(a.adjusted, bayesian_sensitivity(draws, seed=2).adjusted)


def test_across_and_tipping_point(draws):
    conf = BinaryConfounder(gamma=1.0, p_treated=0.5, p_control=0.3)  # bias 0.2 at scale 1
    res = bayesian_sensitivity(draws, conf)
    table = res.across([0, 0.5, 1, 2, 4])
    summ = res.summary()
    assert table.loc[0.0, "mean"] == pytest.approx(summ.loc["effect", "mean"])
    assert table.loc[1.0, "lower"] == pytest.approx(summ.loc["adjusted", "lower"])
    assert np.all(np.diff(table["lower"]) < 0)
    lo = np.quantile(draws, 0.025)
    # interval at scale s is the unadjusted one shifted by 0.2 s: it first reaches zero at s = lo / 0.2
    assert res.tipping_point() == pytest.approx(lo / 0.2, rel=2e-3)
    assert not table.loc[1.0, "covers_zero"] and table.loc[2.0, "covers_zero"]  # at 4 it lies below zero
    assert "first includes zero at" in res.text
    away = bayesian_sensitivity(draws, BinaryConfounder(gamma=1.0, p_treated=0.5, p_control=0.3,
                                                        direction="away_from_null"))
    assert away.tipping_point(max_scale=50) is None
    fig = res.plot()
    assert any("tipping point" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    plt.close(fig)


def test_partial_r2_defaults_and_dataarray(draws):
    da = xr.DataArray(draws, dims=("chain", "draw"))
    res = bayesian_sensitivity(da, PartialR2Confounder(), dof=300, seed=4)
    assert res.adjusted.shape == (2000,)
    assert np.all(res.bias >= 0) and res.summary().loc["adjusted", "mean"] < res.summary().loc["effect", "mean"]
    # strength scaling on the f2 scale: scale 0 is no confounding, larger scales more bias
    t = res.across([0, 1, 4])
    assert t.loc[0.0, "mean"] == pytest.approx(draws.mean())
    assert t.loc[4.0, "mean"] < t.loc[1.0, "mean"] < t.loc[0.0, "mean"]


@pytest.mark.parametrize("conf,kwargs,match", [
    (BinaryConfounder(p_treated=1.2), {}, "p_treated.*\\[0, 1\\]"),
    (BinaryConfounder(p_control=stats.norm(0.5, 1)), {}, "p_control"),
    (BinaryConfounder(direction="up"), {}, "direction='up'"),
    (BinaryConfounder(gamma=float("inf")), {}, "gamma=inf"),
    (PartialR2Confounder(), {}, "dof="),
    (PartialR2Confounder(r2_treatment=1.0), {"dof": 100}, "r2_treatment.*\\[0, 1\\)"),
    (PartialR2Confounder(), {"dof": 0}, "dof=0"),
    (PartialR2Confounder(), {"dof": 100, "se": -1.0}, "se=-1.0"),
    (BinaryConfounder(), {"dof": 100}, "only to a PartialR2Confounder"),
    ("strong", {}, "BinaryConfounder or a PartialR2Confounder"),
    (BinaryConfounder(), {"seed": 1.5}, "seed=1.5"),
    (BinaryConfounder(), {"prob": 1.0}, "prob=1.0"),
])
def test_bad_input(draws, conf, kwargs, match):
    with pytest.raises(SpecError, match=match):
        bayesian_sensitivity(draws, conf, **kwargs)


def test_bad_scales(draws):
    res = bayesian_sensitivity(draws)
    with pytest.raises(SpecError, match="scales="):
        res.across([-1, 1])
    with pytest.raises(SpecError, match="effect_draws has dims"):
        bayesian_sensitivity(xr.DataArray(np.ones((2, 3, 4)), dims=("chain", "draw", "period")))
