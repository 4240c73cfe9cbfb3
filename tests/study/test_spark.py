"""The same pipeline on Spark local: no leakage, and the very table DuckDB builds (one shared session)."""

from __future__ import annotations

import pandas as pd
import pytest

from bayescausal.study import build_table

from .conftest import _parquet, config, poison

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def poisoned_dir(data_dir, tmp_path_factory):
    """The test data plus huge events at and after every unit's exposure (from the clean DuckDB table)."""
    clean = build_table(config(data_dir)).frame
    folder = tmp_path_factory.mktemp("poisoned")
    for name in ("users", "offers"):
        (folder / f"{name}.parquet").write_bytes((data_dir / f"{name}.parquet").read_bytes())
    _parquet(poison(pd.read_parquet(data_dir / "events.parquet"), clean), folder / "events.parquet")
    return folder, clean


def test_spark_table_equals_duckdb_and_has_no_leakage(spark, poisoned_dir):
    folder, clean = poisoned_dir
    duck = build_table(config(folder))
    spk = build_table(config(folder, data={**config(folder)["data"], "engine": "spark"}), spark=spark)
    assert spk.engine == "spark" and duck.engine == "duckdb"
    # the same table, value for value and dtype for dtype
    pd.testing.assert_frame_equal(spk.frame, duck.frame, check_exact=False, rtol=1e-12)
    assert spk.fingerprint() == duck.fingerprint()
    # leakage on Spark: the events at and after exposure change the outcome but no covariate
    covs = ["unit", "exposure", "treated", "sessions_7d", "tickets_30d", "revenue_28d_pre"]
    pd.testing.assert_frame_equal(spk.frame[covs], clean[covs])
    assert (spk.frame["revenue_28d"] - clean["revenue_28d"]).round(6).eq(3e6).all()


@pytest.mark.slow
def test_spark_series_equals_duckdb(spark, data_dir):
    cfg = config(data_dir, treatment={"date": "2024-04-01"}, covariates=["sessions_7d"])
    duck = build_table(cfg).frame
    spk = build_table(cfg, spark=spark).frame
    pd.testing.assert_frame_equal(spk, duck, check_exact=False, rtol=1e-12)
