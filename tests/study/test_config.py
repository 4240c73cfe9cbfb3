"""Study configs and catalogues: safe YAML, validation errors that name the field's path."""

from __future__ import annotations

import pytest

from bayescausal.errors import SpecError
from bayescausal.study import load_catalogue, load_study
from bayescausal.study.config import parse_duration
from bayescausal.study.pipeline import resolve_windows

from .conftest import CATALOGUE, config


def test_valid_config_and_hash(data_dir):
    s = load_study(config(data_dir))
    assert s.method == "auto" and s.sampler.chains == 2
    assert s.config_hash() == load_study(config(data_dir)).config_hash()
    assert s.config_hash() != load_study(config(data_dir, seed=1)).config_hash()


@pytest.mark.parametrize("text,seconds", [("7d", 604800), ("12h", 43200), ("2w", 1209600), ("-28d", -2419200),
                                          (3, 259200), ("90m", 5400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_unknown_field_names_its_path(data_dir):
    with pytest.raises(SpecError, match=r"outcome.windw: unknown field"):
        load_study(config(data_dir, outcome={"feature": "revenue_28d", "windw": {"start": 0, "end": 3}}))


def test_missing_field(data_dir):
    cfg = config(data_dir)
    del cfg["question"]
    with pytest.raises(SpecError, match=r"question: required field is missing"):
        load_study(cfg)


def test_window_that_ends_before_it_starts(data_dir):
    cfg = config(data_dir, covariates=["sessions_7d", {"feature": "tickets_30d", "window": {"start": "-1d",
                                                                                             "end": "-3d"}}])
    with pytest.raises(SpecError, match=r"covariates\[1\].window: ends \(-3d\) before it starts \(-1d\)"):
        load_study(cfg)


def test_outcome_window_overlapping_covariate_window(data_dir):
    s = load_study(config(data_dir, covariates=[{"feature": "sessions_7d", "window": {"start": "-7d",
                                                                                       "end": "2d"}}]))
    with pytest.raises(SpecError, match=r"covariates\[0\].window: \[exposure - 7d, exposure \+ 2d\) overlaps the "
                                        r"outcome window \[exposure, exposure \+ 28d\)"):
        resolve_windows(s, load_catalogue(CATALOGUE))
    s = load_study(config(data_dir, outcome={"feature": "revenue_28d", "window": {"start": "3d", "end": "10d"}},
                          covariates=[{"feature": "sessions_7d", "window": {"start": "-7d", "end": "5d"}}]))
    with pytest.raises(SpecError, match=r"covariates\[0\].window.*overlaps"):
        resolve_windows(s, load_catalogue(CATALOGUE))
    with pytest.raises(SpecError, match=r"\n  outcome.window starts before exposure"):
        load_study(config(data_dir, outcome={"feature": "revenue_28d", "window": {"start": "-1d", "end": "10d"}}))


def test_unknown_feature(data_dir):
    s = load_study(config(data_dir, covariates=["sessions_7d", "sesions_28d"]))
    with pytest.raises(SpecError, match=r"covariates\[1\].feature: unknown feature 'sesions_28d'"):
        resolve_windows(s, load_catalogue(CATALOGUE))


@pytest.mark.parametrize("field,value,match", [
    ("unit", "user_id; DROP TABLE users", r"unit: 'user_id; DROP TABLE users' is not a valid column name"),
    ("treatment", {"table": "offers", "time": "offered_at\"--"}, r"treatment.time: .* is not a valid name"),
    ("population", {"table": "users", "filter": [{"column": "region", "op": "LIKE", "value": "n%"}]},
     r"population.filter\[0\].op"),
    ("population", {"table": "users", "filter": [{"column": "region", "op": "in", "value": "north"}]},
     r"population.filter\[0\]: op 'in' needs a non-empty list"),
    ("treatment", {"table": "offers"}, r"treatment: give either 'table' and 'time'"),
    ("method", "magic", r"method: Input should be 'auto'"),
])
def test_bad_fields(data_dir, field, value, match):
    with pytest.raises(SpecError, match=match):
        load_study(config(data_dir, **{field: value}))


def test_yaml_tags_never_execute(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "study.yaml"
    p.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\nquestion: q\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_study(p)
    assert not marker.exists()


def test_yaml_must_be_a_mapping(tmp_path):
    p = tmp_path / "study.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="must be a mapping"):
        load_study(p)


def test_catalogue_errors():
    bad = {"tables": {"events": {"unit": "user_id", "time": "ts"}},
           "features": {"x": {"table": "evnts", "agg": "count", "window": "7d"}}}
    with pytest.raises(SpecError, match=r"feature 'x' reads table 'evnts'"):
        load_catalogue(bad)
    bad = {"tables": {"events": {"unit": "user_id", "time": "ts"}},
           "features": {"x": {"table": "events", "agg": "sum", "window": "7d"}}}
    with pytest.raises(SpecError, match=r"features.x: .*agg 'sum' needs a 'column'"):
        load_catalogue(bad)
    bad = {"tables": {"events": {"unit": "user_id", "time": "ts"}},
           "features": {"x": {"table": "events", "agg": "median", "column": "a", "window": "7d"}}}
    with pytest.raises(SpecError, match=r"features.x.agg"):
        load_catalogue(bad)


def test_shipped_config_and_catalogue_load(tmp_path):
    from bayescausal.datasets.study_events import write_study_demo

    p = write_study_demo(tmp_path, n_users=200)
    s = load_study(p)
    cat = load_catalogue(s.catalogue)
    assert {"sessions_7d", "revenue_28d", "tickets_30d"} <= set(cat.features)
    out, covs = resolve_windows(s, cat)
    assert out.window.start == 0 and all(c.window.end <= 0 for c in covs)
