"""The recommender: the design's shape and the decision guide give the method and its reasons."""

from __future__ import annotations

import pytest

from bayescausal.study import load_study, recommend

from .conftest import config


def test_cross_section_few_covariates_matching(data_dir):
    r = recommend(load_study(config(data_dir)))
    assert r.method == "cem" and r.chosen == "cem" and not r.overridden
    assert "match" in r.reasons[0]


def test_cross_section_many_covariates_doubly_robust(data_dir):
    covs = ["sessions_7d", "tickets_30d", {"feature": "revenue_28d", "name": "a"},
            {"feature": "sessions_7d", "name": "b", "window": {"start": "-14d", "end": "-7d"}},
            {"feature": "tickets_30d", "name": "c", "window": {"start": "-60d", "end": "-30d"}}]
    r = recommend(load_study(config(data_dir, covariates=covs)))
    assert r.method == "aipw" and "doubly robust" in r.reasons[0]


def test_instrument_iv(data_dir):
    r = recommend(load_study(config(data_dir, instrument="encouraged")))
    assert r.method == "iv" and "instrument" in r.reasons[0]


def test_aggregate_series_bsts(data_dir):
    r = recommend(load_study(config(data_dir, treatment={"date": "2024-04-01"})))
    assert r.method == "causal_impact" and r.shape == "series" and "aggregate" in r.reasons[0]


def test_panel_fixed_effects(data_dir):
    r = recommend(load_study(config(data_dir, panel={"start": "2024-02-05", "end": "2024-05-06"})))
    assert r.method == "panel_fe" and "fixed effects" in r.reasons[0]


def test_marketing_spend_mmm(data_dir):
    import bayescausal

    r = recommend(load_study(config(data_dir, spend=["revenue_28d"], weeks={"start": "2024-01-01",
                                                                            "end": "2024-12-30"})))
    assert r.method == "mmm" and "marketing" in r.reasons[0]
    if hasattr(bayescausal, "MMM"):
        assert r.available and r.chosen == "mmm"
    else:
        assert not r.available and "not available" in r.notes[0]


def test_override_is_recorded(data_dir):
    r = recommend(load_study(config(data_dir, method="aipw")))
    assert r.method == "cem" and r.chosen == "aipw" and r.overridden
    assert "Overridden" in r.text()


def test_override_that_does_not_fit_the_design_is_noted(data_dir):
    r = recommend(load_study(config(data_dir, method="causal_impact")))
    assert r.chosen == "causal_impact" and "does not fit" in r.notes[0]


def test_no_covariates_is_a_spec_error(data_dir):
    from bayescausal.errors import SpecError

    with pytest.raises(SpecError, match="covariates: a cross-sectional study needs"):
        recommend(load_study(config(data_dir, covariates=[])))
