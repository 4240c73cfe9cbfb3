"""A marketing-spend study: spend rows and purchase rows aggregated by week in the engine give the MMM's table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescausal.study import build_table, recommend
from bayescausal.study import load_study as _load

from .conftest import _parquet


def _spend_study(folder):
    from bayescausal.datasets.mmm import simulate_mmm

    sim = simulate_mmm(n_weeks=60, n_channels=2, seed=1)
    df = sim.data
    rows = []
    for _, r in df.iterrows():  # each week's spend split over two days, sales over three purchases
        for ch in ("tv", "search"):
            for k in (0, 3):
                rows.append({"campaign": 1, "ts": r["date"] + pd.Timedelta(days=k, hours=5), "channel": ch,
                             "amount": r[f"{ch}_spend"] / 2})
    spend = pd.DataFrame(rows)
    ev = pd.DataFrame([{"user_id": 1, "ts": r["date"] + pd.Timedelta(days=k, hours=9), "event_type": "purchase",
                        "amount": r["sales"] / 3} for _, r in df.iterrows() for k in (1, 2, 6)])
    for name, frame in (("spend", spend), ("events", ev), ("users", pd.DataFrame({"user_id": [1]}))):
        frame = frame.copy()
        if "ts" in frame:
            frame["ts"] = frame["ts"].astype("datetime64[us]")
        _parquet(frame, folder / f"{name}.parquet")
    cat = {"tables": {"events": {"unit": "user_id", "time": "ts"}, "spend": {"unit": "campaign", "time": "ts"}},
           "features": {
               "revenue_7d": {"table": "events", "filter": [{"column": "event_type", "value": "purchase"}],
                              "column": "amount", "agg": "sum", "window": "7d"},
               "tv_spend": {"table": "spend", "filter": [{"column": "channel", "value": "tv"}], "column": "amount",
                            "agg": "sum", "window": "7d"},
               "search_spend": {"table": "spend", "filter": [{"column": "channel", "value": "search"}],
                                "column": "amount", "agg": "sum", "window": "7d"}}}
    cfg = {"name": "mmm_study", "question": "What does each channel return?", "unit": "user_id",
           "data": {"sources": {n: str(folder / f"{n}.parquet") for n in ("spend", "events", "users")}},
           "catalogue": cat, "population": {"table": "users"}, "outcome": "revenue_7d",
           "spend": ["tv_spend", "search_spend"],
           "weeks": {"start": str(df["date"].iloc[0].date()),
                     "end": str((df["date"].iloc[-1] + pd.Timedelta(days=7)).date())},
           "sampler": {"draws": 100, "warmup": 100, "chains": 2}, "checks": "fast"}
    return cfg, df


def test_weekly_table_equals_the_simulated_series(tmp_path):
    cfg, df = _spend_study(tmp_path)
    t = build_table(cfg)
    assert t.kind == "marketing" and list(t.frame.columns) == ["week", "revenue_7d", "tv_spend", "search_spend"]
    np.testing.assert_allclose(t.frame["tv_spend"], df["tv_spend"], rtol=1e-9)
    np.testing.assert_allclose(t.frame["search_spend"], df["search_spend"], rtol=1e-9)
    np.testing.assert_allclose(t.frame["revenue_7d"], df["sales"], rtol=1e-9)
    assert (t.frame["week"].to_numpy() == df["date"].to_numpy()).all()
    r = recommend(_load(cfg), t)
    assert r.method == "mmm" and r.shape == "marketing"


@pytest.mark.slow
def test_mmm_study_end_to_end(tmp_path):
    import bayescausal as bc
    from bayescausal.study import run_study

    if not hasattr(bc, "MMM"):
        pytest.skip("bc.MMM not available")
    cfg, _ = _spend_study(tmp_path)
    run = run_study(cfg, registry=tmp_path / "reg.sqlite", out=str(tmp_path / "r.html"))
    assert run.recommendation.chosen == "mmm" and (tmp_path / "r.html").exists()
