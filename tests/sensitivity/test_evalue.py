"""E-value API: published example, conversions, limits, posterior draws, bad input."""

import numpy as np
import pytest
import xarray as xr

from bayescausal.errors import SpecError
from bayescausal.sensitivity import e_value, e_value_from_draws, sensitivity_sentence


def test_published_example():
    ev = e_value(3.9, 1.8, 8.7)
    assert ev.point == pytest.approx(7.26, abs=0.005)
    assert ev.limit == pytest.approx(3.0, abs=1e-12)
    assert ev.rr == 3.9 and ev.rr_limit == 1.8
    assert "E-value 7.26 (interval limit 3.00)" in ev.text


def test_protective_uses_upper_limit_and_inverse():
    a, b = e_value(3.9, 1.8, 8.7), e_value(1 / 3.9, 1 / 8.7, 1 / 1.8)
    assert b.point == pytest.approx(a.point, rel=1e-12)
    assert b.limit == pytest.approx(a.limit, rel=1e-12)
    assert b.rr_limit == pytest.approx(1 / 1.8)


def test_null_and_crossing_intervals():
    assert e_value(1.0, 0.8, 1.3).point == 1.0 and e_value(1.0, 0.8, 1.3).limit == 1.0
    ev = e_value(1.5, 0.9, 2.5)
    assert ev.limit == 1.0 and "already includes no effect" in ev.text
    assert e_value(0.7, 0.5, 1.02).limit == 1.0
    assert e_value(2.0).limit is None
    assert e_value(2.0, upper=3.0).limit is None  # the limit nearest the null was not given


def test_conversions_match_the_paper_rules():
    assert e_value(4.0, scale="OR").rr == pytest.approx(2.0)
    assert e_value(4.0, scale="or", rare_outcome=True).rr == pytest.approx(4.0)
    hr = e_value(2.0, scale="HR")
    assert hr.rr == pytest.approx((1 - 0.5 ** np.sqrt(2)) / (1 - 0.5 ** np.sqrt(0.5)))
    assert e_value(0.5, scale="SMD").rr == pytest.approx(np.exp(0.455))
    assert e_value(1.0, scale="difference", sd=2.0).rr == pytest.approx(np.exp(0.455))
    rd = e_value(0.1, 0.05, 0.15, scale="difference", baseline=0.2)
    assert rd.rr == pytest.approx(1.5) and rd.rr_limit == pytest.approx(1.25)
    assert "square root" in e_value(4.0, scale="OR").text


def test_from_draws():
    rng = np.random.default_rng(0)
    draws = rng.normal(0.4, 0.1, size=(4, 500))
    ev = e_value_from_draws(draws, "SMD")
    lo = np.quantile(draws, 0.025)
    assert ev.rr == pytest.approx(np.exp(0.91 * draws.mean()))
    assert ev.rr_limit == pytest.approx(np.exp(0.91 * lo))
    da = xr.DataArray(draws, dims=("chain", "draw"))
    assert e_value_from_draws(da, "SMD") == ev
    ratio = np.exp(rng.normal(np.log(2.0), 0.2, 2000))
    assert e_value_from_draws(ratio, "RR").rr == pytest.approx(np.exp(np.log(ratio).mean()))


def test_sentence():
    rng = np.random.default_rng(1)
    draws = rng.normal(1.0, 0.3, 2000)
    s = sensitivity_sentence(draws, "difference", sd=4.0)
    assert s.startswith("E-value") and "risk ratio" in s
    s2 = sensitivity_sentence(draws, "difference", dof=500)
    assert s2.startswith("Robustness value")
    both = sensitivity_sentence(draws, "difference", sd=4.0, dof=500)
    assert "E-value" in both and "Robustness value" in both


@pytest.mark.parametrize("kwargs,match", [
    ({"estimate": 2.0, "scale": "beta"}, "scale='beta'"),
    ({"estimate": -2.0, "scale": "RR"}, "estimate=-2.0.*positive"),
    ({"estimate": 0.0, "scale": "OR"}, "estimate=0.0"),
    ({"estimate": 2.0, "lower": 3.0, "upper": 1.0}, "lower=3.0 > upper=1.0"),
    ({"estimate": 2.0, "lower": 2.5, "upper": 3.0}, "outside its interval"),
    ({"estimate": 0.5, "scale": "difference"}, "sd=.*baseline="),
    ({"estimate": 0.5, "scale": "difference", "sd": -1.0}, "sd=-1.0"),
    ({"estimate": 0.5, "scale": "difference", "sd": 1.0, "baseline": 0.2}, "exactly one"),
    ({"estimate": 0.1, "scale": "difference", "baseline": 1.2}, "baseline=1.2"),
    ({"estimate": 0.9, "scale": "difference", "baseline": 0.2}, "estimate=0.9.*risk in"),
    ({"estimate": 2.0, "sd": 1.0}, "only to scale='difference'"),
    ({"estimate": float("nan")}, "estimate=nan"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(SpecError, match=match):
        e_value(**kwargs)


def test_bad_draws():
    with pytest.raises(SpecError, match="dims"):
        e_value_from_draws(xr.DataArray(np.ones((2, 5, 3)), dims=("chain", "draw", "time")), "SMD")
    with pytest.raises(SpecError, match="NaN"):
        e_value_from_draws(np.array([0.1, np.nan, 0.2]), "SMD")
    with pytest.raises(SpecError, match="log-ratio"):
        e_value_from_draws(np.array([-0.1, 0.2, 0.3]), "RR")
    with pytest.raises(SpecError, match="sd=.*baseline=.*dof="):
        sensitivity_sentence(np.array([0.1, 0.2, 0.3]), "difference")


def test_outcome_sentence_picks_the_conversion_from_the_outcome():
    from bayescausal.sensitivity import outcome_sentence

    rng = np.random.default_rng(0)
    draws = rng.normal(0.1, 0.02, 4000)
    binary = (np.arange(400) % 4 == 0).astype(float)  # risk 0.25 overall
    text = outcome_sentence(draws, binary)
    assert "baseline risk 0.25" in text
    cont = rng.normal(40, 12, 400)
    assert "standardised difference" in outcome_sentence(draws, cont)
    assert outcome_sentence(draws, np.zeros(20)) == ""  # a baseline risk of 0 has no risk ratio
