"""Shared study fixtures: tiny deterministic event data written as Parquet, configs as dicts, one Spark session.

The data are built so that the time rule can be checked exactly: every unit has events right at the edges of its
windows (exposure - 7d, exposure - 1 s, exposure, exposure + 28d - 1 s, exposure + 28d), and ``poison`` events at
and after exposure with huge amounts, which must reach the outcome and never a covariate.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CATALOGUE = {
    "tables": {"events": {"unit": "user_id", "time": "ts"}},
    "features": {
        "sessions_7d": {"table": "events", "filter": [{"column": "event_type", "op": "==", "value": "session"}],
                        "agg": "count", "window": "7d"},
        "revenue_28d": {"table": "events", "filter": [{"column": "event_type", "op": "==", "value": "purchase"}],
                        "column": "amount", "agg": "sum", "window": "28d"},
        "tickets_30d": {"table": "events", "filter": [{"column": "event_type", "op": "in", "value": ["ticket"]}],
                        "agg": "count", "window": "30d"},
        "max_amount_28d": {"table": "events", "filter": [{"column": "event_type", "value": "purchase"}],
                           "column": "amount", "agg": "max", "window": "28d", "fill": 0.0},
    },
}
N_USERS, N_TREATED = 60, 20
T0 = pd.Timestamp("2024-03-01")


def _parquet(df: pd.DataFrame, path: Path) -> None:
    df.to_parquet(path, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)


def make_data(folder: Path, seed: int = 3) -> dict:
    """users, offers, events (random background plus edge events per treated unit) as Parquet in ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    users = pd.DataFrame({"user_id": np.arange(1, N_USERS + 1, dtype=np.int64),
                          "region": np.array(["north", "south"])[np.arange(N_USERS) % 2],
                          "encouraged": (np.arange(N_USERS) % 3 == 0).astype(np.int64)})
    offers = pd.DataFrame({"user_id": np.arange(1, N_TREATED + 1, dtype=np.int64),
                           "offered_at": (T0 + pd.to_timedelta(np.arange(N_TREATED) * 86400 * 2 + 3600, unit="s"))
                           .astype("datetime64[us]")})
    n = 3000
    ev = pd.DataFrame({
        "user_id": rng.integers(1, N_USERS + 1, n).astype(np.int64),
        "ts": (pd.Timestamp("2024-01-15") + pd.to_timedelta(rng.integers(0, 120 * 86400, n), unit="s"))
        .astype("datetime64[us]"),
        "event_type": rng.choice(np.array(["session", "purchase", "ticket"]), n, p=[0.6, 0.3, 0.1]),
    })
    ev["amount"] = np.where(ev["event_type"] == "purchase", np.round(rng.gamma(2.0, 10.0, n), 2), np.nan)
    edges = []
    for _, r in offers.iterrows():
        e = r["offered_at"]
        for dt, kind, amt in [(-7 * 86400, "session", None), (-7 * 86400 - 1, "session", None), (-1, "session", None),
                              (-1, "purchase", 5.0), (28 * 86400 - 1, "purchase", 7.0), (28 * 86400, "purchase", 11.0)]:
            edges.append({"user_id": r["user_id"], "ts": e + pd.Timedelta(seconds=dt), "event_type": kind,
                          "amount": np.nan if amt is None else amt})
    ev = pd.concat([ev, pd.DataFrame(edges)], ignore_index=True)
    ev["ts"] = ev["ts"].astype("datetime64[us]")
    ev = ev.sort_values(["ts", "user_id"], kind="stable").reset_index(drop=True)
    _parquet(users, folder / "users.parquet")
    _parquet(offers, folder / "offers.parquet")
    _parquet(ev, folder / "events.parquet")
    return {"users": users, "offers": offers, "events": ev}


def poison(events: pd.DataFrame, exposures: pd.DataFrame) -> pd.DataFrame:
    """Events at and just after each unit's (pseudo-)exposure with huge values: sessions, purchases, tickets."""
    rows = []
    for _, r in exposures.iterrows():
        for dt in (0, 1, 86400):
            t = r["exposure"] + pd.Timedelta(seconds=dt)
            rows += [{"user_id": r["unit"], "ts": t, "event_type": "purchase", "amount": 1e6},
                     {"user_id": r["unit"], "ts": t, "event_type": "session", "amount": np.nan},
                     {"user_id": r["unit"], "ts": t, "event_type": "ticket", "amount": np.nan}]
    out = pd.concat([events, pd.DataFrame(rows)], ignore_index=True)
    out["ts"] = out["ts"].astype("datetime64[us]")
    return out


def config(folder: Path, **overrides) -> dict:
    """A valid cross-sectional study on the data in ``folder`` (a dict, as YAML would give)."""
    cfg = {
        "name": "test_study",
        "question": "Did the offer raise 28-day revenue?",
        "unit": "user_id",
        "data": {"engine": "duckdb", "sources": {"users": str(folder / "users.parquet"),
                                                 "offers": str(folder / "offers.parquet"),
                                                 "events": str(folder / "events.parquet")}},
        "catalogue": CATALOGUE,
        "population": {"table": "users"},
        "treatment": {"table": "offers", "time": "offered_at"},
        "outcome": "revenue_28d",
        "covariates": ["sessions_7d", "tickets_30d", {"feature": "revenue_28d", "name": "revenue_28d_pre"}],
        "sampler": {"draws": 100, "warmup": 100, "chains": 2},
        "seed": 0,
        "checks": "fast",
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("study_data")
    make_data(folder)
    return folder


@pytest.fixture
def registry_path(tmp_path) -> Path:
    return tmp_path / "registry.sqlite"


def _java_ok() -> bool:
    return shutil.which("java") is not None


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test run (local[2], UI off, 4 shuffle partitions)."""
    pytest.importorskip("pyspark", reason="PySpark not installed (pip install 'bayescausal[spark]')")
    if not _java_ok():
        pytest.skip("Java not found: Spark tests need Java 17+")
    from bayescausal.study.engine import local_spark_session

    # whole-stage code generation and adaptive planning cost more than they save on tables of a few thousand rows
    # (measured: a build 18.5 s cold / 3.9 s warm without them, 23.2 s / 7.3 s with them, under load 8)
    session = local_spark_session("bayescausal-tests", conf={"spark.sql.codegen.wholeStage": "false",
                                                             "spark.sql.adaptive.enabled": "false",
                                                             "spark.sql.codegen.factoryMode": "NO_CODEGEN"})
    yield session
