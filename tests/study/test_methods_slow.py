"""Every method the recommender can pick, run end to end from a study config (slow: one fit each)."""

from __future__ import annotations

import pytest

from bayescausal.study import run_study

from .conftest import config

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("overrides,method", [
    ({"method": "aipw"}, "aipw"),
    ({"instrument": "encouraged"}, "iv"),
    ({"treatment": {"date": "2024-04-01"}, "covariates": [{"feature": "sessions_7d", "window": {"start": "-40d",
                                                                                                  "end": "0d"}}],
      "control": {"filter": [{"column": "region", "value": "south"}]},
      "population": {"table": "users", "filter": [{"column": "region", "value": "north"}]},
      "sampler": {"draws": 200, "chains": 2}}, "causal_impact"),
    ({"panel": {"period": "7d", "start": "2024-02-05", "end": "2024-05-06"}, "covariates": []}, "panel_fe"),
])
def test_method_from_config(data_dir, tmp_path, overrides, method):
    run = run_study(config(data_dir, **overrides), registry=tmp_path / "reg.sqlite", out=str(tmp_path / "r.html"))
    assert run.recommendation.chosen == method
    page = (tmp_path / "r.html").read_text()
    assert "<h2>Checks</h2>" in page and "This study has had 1 run(s)" in page
