"""The time-correct pipeline on DuckDB: windows, leakage, pseudo-exposures, series and panel tables, bad data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescausal.errors import DataError, SpecError
from bayescausal.study import build_table, load_study

from .conftest import N_TREATED, N_USERS, _parquet, config, poison


def reference(events: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The features by brute force in pandas, from each row's exposure in ``table``."""
    out = {}
    day = pd.Timedelta(days=1)
    for _, r in table.iterrows():
        e = events[events["user_id"] == r["unit"]]
        t, x = e["ts"], r["exposure"]
        ses, pur, tic = (e["event_type"] == k for k in ("session", "purchase", "ticket"))
        out[r["unit"]] = {
            "revenue_28d": e.loc[pur & (t >= x) & (t < x + 28 * day), "amount"].sum(),
            "sessions_7d": int((ses & (t >= x - 7 * day) & (t < x)).sum()),
            "tickets_30d": int((tic & (t >= x - 30 * day) & (t < x)).sum()),
            "revenue_28d_pre": e.loc[pur & (t >= x - 28 * day) & (t < x), "amount"].sum(),
        }
    return pd.DataFrame.from_dict(out, orient="index")


@pytest.fixture(scope="module")
def clean(data_dir):
    return build_table(config(data_dir))


def test_table_matches_brute_force(clean, data_dir):
    df = clean.frame
    assert len(df) == N_USERS and df["treated"].sum() == N_TREATED
    assert list(df.columns) == ["unit", "exposure", "treated", "revenue_28d", "sessions_7d", "tickets_30d",
                                "revenue_28d_pre"]
    ev = pd.read_parquet(data_dir / "events.parquet")
    ref = reference(ev, df)
    for c in ref.columns:
        np.testing.assert_allclose(df.set_index("unit")[c].to_numpy(float), ref[c].to_numpy(float), rtol=1e-12)


def test_window_edges(clean):
    """Treated units have edge events: exposure - 7d is in sessions_7d, exposure - 7d - 1 s is not; the purchase at
    exposure - 1 s is a covariate only; exposure + 28d - 1 s is in the outcome, exposure + 28d is not."""
    df = clean.frame.set_index("unit")
    assert (df.loc[1:N_TREATED, "sessions_7d"] >= 2).all()


def test_no_event_at_or_after_exposure_reaches_a_covariate(clean, data_dir, tmp_path):
    ev = pd.read_parquet(data_dir / "events.parquet")
    _parquet(poison(ev, clean.frame), tmp_path / "events.parquet")
    cfg = config(data_dir)
    cfg["data"]["sources"]["events"] = str(tmp_path / "events.parquet")
    poisoned = build_table(cfg).frame
    covs = ["sessions_7d", "tickets_30d", "revenue_28d_pre"]
    pd.testing.assert_frame_equal(poisoned[["unit", "exposure", "treated", *covs]],
                                  clean.frame[["unit", "exposure", "treated", *covs]])
    # the same events do reach the outcome: 3 purchases of 1e6 per unit in [exposure, exposure + 28d)
    np.testing.assert_allclose(poisoned["revenue_28d"] - clean.frame["revenue_28d"], 3e6)


def test_pseudo_exposure_rule(clean, data_dir):
    df = clean.frame
    offers = pd.read_parquet(data_dir / "offers.parquet")
    times = np.sort(offers["offered_at"].to_numpy())
    controls = df[df["treated"] == 0].sort_values("unit")
    expected = times[np.arange(len(controls)) % len(times)]
    np.testing.assert_array_equal(controls["exposure"].to_numpy(), expected.astype("datetime64[us]"))
    med = build_table(config(data_dir, control={"pseudo_exposure": "median"})).frame
    assert med.loc[med["treated"] == 0, "exposure"].nunique() == 1
    assert med.loc[med["treated"] == 0, "exposure"].iloc[0] == pd.Timestamp(times[(len(times) - 1) // 2])


def test_population_and_control_filters(data_dir):
    t = build_table(config(data_dir, population={"table": "users", "filter": [{"column": "region", "op": "==",
                                                                              "value": "north"}]}))
    assert len(t.frame) == N_USERS // 2
    t = build_table(config(data_dir, control={"filter": [{"column": "user_id", "op": ">", "value": 50}]}))
    assert t.n_control == N_USERS - 50


def test_instrument_column_joined(data_dir):
    t = build_table(config(data_dir, instrument="encouraged"))
    assert t.frame["encouraged"].tolist() == [int(u % 3 == 1) for u in t.frame["unit"]]


def test_series_table(data_dir):
    cfg = config(data_dir, treatment={"date": "2024-04-01"},
                 control={"filter": [{"column": "region", "op": "==", "value": "south"}]},
                 population={"table": "users", "filter": [{"column": "region", "op": "==", "value": "north"}]},
                 covariates=["sessions_7d"])
    t = build_table(cfg)
    assert t.kind == "series"
    df = t.frame
    assert df.index[0] == pd.Timestamp("2024-03-25") and df.index[-1] == pd.Timestamp("2024-04-28")
    assert list(df.columns) == ["revenue_28d", "revenue_28d_control", "sessions_7d"]
    ev = pd.read_parquet(data_dir / "events.parquet")
    north = ev[ev["user_id"] % 2 == 1]
    day = north[(north["ts"] >= "2024-04-02") & (north["ts"] < "2024-04-03") & (north["event_type"] == "purchase")]
    assert df.loc["2024-04-02", "revenue_28d"] == pytest.approx(day["amount"].sum())
    assert t.columns["pre_period"] == ("2024-03-25", "2024-03-31")


def test_panel_table(data_dir):
    cfg = config(data_dir, panel={"period": "7d", "start": "2024-02-05", "end": "2024-05-06"}, covariates=[])
    t = build_table(cfg)
    df = t.frame
    assert t.kind == "panel" and len(df) == N_USERS * 13
    u1 = df[df["unit"] == 1]
    # unit 1 is exposed on 2024-03-01 01:00, in period 3 (2024-02-26 .. 2024-03-04)
    assert u1["treated"].tolist() == [0, 0, 0] + [1] * 10
    assert df.loc[df["unit"] > N_TREATED, "treated"].sum() == 0


def test_max_feature_fill(data_dir):
    t = build_table(config(data_dir, covariates=[{"feature": "max_amount_28d", "window": {"start": "-28d",
                                                                                          "end": "0d"}}]))
    assert t.frame["max_amount_28d"].min() >= 0.0


# -- bad input -----------------------------------------------------------------------------------------------------
def test_treated_units_missing_from_population(data_dir, tmp_path):
    offers = pd.read_parquet(data_dir / "offers.parquet")
    extra = pd.concat([offers, pd.DataFrame({"user_id": [999, 1000], "offered_at": offers["offered_at"][:2]})])
    _parquet(extra, tmp_path / "offers.parquet")
    cfg = config(data_dir)
    cfg["data"]["sources"]["offers"] = str(tmp_path / "offers.parquet")
    with pytest.raises(DataError, match=r"treatment.table: 2 treated unit\(s\) are not in the population.*999"):
        build_table(cfg)


def test_duplicated_treatment_rows(data_dir, tmp_path):
    offers = pd.read_parquet(data_dir / "offers.parquet")
    _parquet(pd.concat([offers, offers.iloc[:1]]), tmp_path / "offers.parquet")
    cfg = config(data_dir)
    cfg["data"]["sources"]["offers"] = str(tmp_path / "offers.parquet")
    with pytest.raises(DataError, match="treatment.table: 1 duplicated unit"):
        build_table(cfg)


def test_empty_control_cohort(data_dir):
    with pytest.raises(DataError, match="control: the control cohort is empty"):
        build_table(config(data_dir, control={"filter": [{"column": "user_id", "op": "<=", "value": N_TREATED}]}))


def test_empty_treated_cohort(data_dir):
    with pytest.raises(DataError, match="population.filter: no treated unit"):
        build_table(config(data_dir, population={"table": "users", "filter": [{"column": "user_id", "op": ">",
                                                                              "value": N_TREATED}]}))


def test_unknown_column_in_catalogue(data_dir):
    cfg = config(data_dir)
    cat = {**cfg["catalogue"], "features": {**cfg["catalogue"]["features"],
                                            "bad": {"table": "events", "agg": "sum", "column": "amout",
                                                    "window": "7d"}}}
    with pytest.raises(SpecError, match=r"catalogue.features.bad.column: unknown column 'amout'"):
        build_table(config(data_dir, catalogue=cat, covariates=["bad"]))


def test_unknown_filter_column_and_type(data_dir):
    cfg = config(data_dir, population={"table": "users", "filter": [{"column": "regio", "value": "north"}]})
    with pytest.raises(SpecError, match=r"population.filter\[0\].column: unknown column 'regio'"):
        build_table(cfg)
    cfg = config(data_dir, population={"table": "users", "filter": [{"column": "user_id", "value": "1"}]})
    with pytest.raises(SpecError, match=r"population.filter\[0\].value: '1' is not a number"):
        build_table(cfg)


def test_undefined_mean_without_fill(data_dir):
    cfg = config(data_dir)
    feats = dict(cfg["catalogue"]["features"])
    feats["mean_amount_7d"] = {"table": "events", "filter": [{"column": "event_type", "value": "purchase"}],
                               "column": "amount", "agg": "mean", "window": "1d"}
    with pytest.raises(DataError, match=r"covariates\[0\]: feature 'mean_amount_7d' \(mean\) is undefined"):
        build_table(config(data_dir, catalogue={**cfg["catalogue"], "features": feats},
                           covariates=["mean_amount_7d"]))


def test_missing_source_file(data_dir):
    cfg = config(data_dir)
    cfg["data"]["sources"]["events"] = str(data_dir / "nope.parquet")
    with pytest.raises(DataError, match="data.sources.events.path: no file matches"):
        build_table(cfg)


def test_load_study_resolves_relative_paths(tmp_path, data_dir):
    import yaml

    cfg = config(data_dir)
    cfg["data"]["sources"] = {"users": "d/users.parquet", "offers": "d/offers.parquet", "events": "d/events.parquet"}
    (tmp_path / "d").mkdir()
    for f in ("users", "offers", "events"):
        (tmp_path / "d" / f"{f}.parquet").write_bytes((data_dir / f"{f}.parquet").read_bytes())
    (tmp_path / "features.yaml").write_text(yaml.safe_dump(cfg.pop("catalogue")))
    cfg["catalogue"] = "features.yaml"
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(cfg))
    s = load_study(tmp_path / "study.yaml")
    assert s.data.sources["events"].path == str(tmp_path / "d" / "events.parquet")
    assert len(build_table(s).frame) == N_USERS


def test_duckdb_file_with_existing_tables_and_csv(data_dir, tmp_path):
    """Sources can be tables already in a DuckDB database file, or CSV files: the same table either way."""
    import duckdb

    db = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(db))
    for name in ("users", "offers", "events"):
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{data_dir / (name + '.parquet')}')")
    con.close()
    cfg = config(data_dir)
    cfg["data"] = {"engine": "duckdb", "database": str(db),
                   "sources": {n: {"table": n} for n in ("users", "offers", "events")}}
    from_db = build_table(cfg).frame
    for name in ("users", "offers", "events"):
        pd.read_parquet(data_dir / f"{name}.parquet").to_csv(tmp_path / f"{name}.csv", index=False)
    cfg = config(data_dir)
    cfg["data"]["sources"] = {n: str(tmp_path / f"{n}.csv") for n in ("users", "offers", "events")}
    from_csv = build_table(cfg).frame
    baseline = build_table(config(data_dir)).frame
    pd.testing.assert_frame_equal(from_db, baseline)
    pd.testing.assert_frame_equal(from_csv, baseline, check_exact=False, rtol=1e-12)


def test_no_sql_text_from_configs(data_dir):
    """A hostile value in a filter stays a literal: it matches nothing instead of running."""
    cfg = config(data_dir, control={"filter": [{"column": "region", "op": "!=", "value": "x'; DROP TABLE users; --"}]})
    t = build_table(cfg)
    assert t.n_control == N_USERS - N_TREATED


def test_reserved_words_as_names_are_quoted(data_dir, tmp_path):
    """Column and table names reach the engine as quoted identifiers: SQL keywords work as names."""
    ev = pd.read_parquet(data_dir / "events.parquet").rename(columns={"amount": "select", "event_type": "order"})
    _parquet(ev, tmp_path / "events.parquet")
    cfg = config(data_dir, covariates=["sessions_7d"])
    cfg["data"]["sources"]["events"] = str(tmp_path / "events.parquet")
    cfg["data"]["sources"]["group"] = cfg["data"]["sources"].pop("users")
    cfg["population"] = {"table": "group"}
    cat = {"tables": {"events": {"unit": "user_id", "time": "ts"}},
           "features": {"sessions_7d": {"table": "events", "filter": [{"column": "order", "value": "session"}],
                                        "agg": "count", "window": "7d"},
                        "revenue_28d": {"table": "events", "filter": [{"column": "order", "value": "purchase"}],
                                        "column": "select", "agg": "sum", "window": "28d"}}}
    cfg["catalogue"] = cat
    t = build_table(cfg).frame
    base = build_table(config(data_dir, covariates=["sessions_7d"])).frame
    pd.testing.assert_frame_equal(t, base)
