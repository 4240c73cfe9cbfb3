"""CEM's strata computed in the engine (``aggregate: strata``): the same strata and statistics as bc.CEM's own
coarsening of the unit rows, on DuckDB and on Spark; when the path is taken and how the run records it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescausal.crosssection import _cem_math as cm
from bayescausal.crosssection._data import prepare_units
from bayescausal.crosssection.cem_match import coarsen
from bayescausal.errors import SpecError
from bayescausal.study import build_table, pipeline
from bayescausal.study.config import load_study

from .conftest import config

COVS = ["sessions_7d", "tickets_30d", "revenue_28d_pre"]


def brute_force(units: pd.DataFrame) -> pd.DataFrame:
    """The stratum statistics from the unit rows in pandas, on bc.CEM's default coarsening."""
    u = prepare_units(units, "treated", "revenue_28d", COVS)
    cols, codes = coarsen(u.covariates, ())
    g = pd.DataFrame({f"bin_{c.name}": code.astype(np.int64) for c, code in zip(cols, codes, strict=True)})
    g["t"], g["y"] = u.t.astype(int), u.y
    a = g.groupby([f"bin_{c}" for c in COVS] + ["t"]).agg(
        n=("y", "size"), s=("y", "sum"), ss=("y", lambda x: float(((x - x.mean()) ** 2).sum())))
    a = a.unstack("t", fill_value=0)
    out = pd.DataFrame({"n_treated": a[("n", 1)], "n_control": a[("n", 0)], "sum_treated": a[("s", 1)],
                        "sum_control": a[("s", 0)], "ss_treated": a[("ss", 1)], "ss_control": a[("ss", 0)]})
    return out.reset_index(), {c.name: np.asarray(c.cutpoints) for c in cols}


@pytest.fixture(scope="module")
def duck_tables(data_dir):
    units = build_table(config(data_dir, aggregate="units"))
    strata = build_table(config(data_dir, aggregate="strata"))
    return units, strata


def test_duckdb_strata_equal_cem_on_the_unit_rows(duck_tables):
    units, strata = duck_tables
    assert units.kind == "cross_section" and units.aggregation == "units"
    assert strata.kind == "cem_strata" and strata.aggregation == "strata"
    assert strata.aggregation_reason == "aggregate: strata"
    want, cuts = brute_force(units.frame)
    for c in COVS:
        np.testing.assert_allclose(strata.columns["cutpoints"][c], cuts[c], rtol=1e-12)
        x = units.frame[c].to_numpy(dtype=float)
        np.testing.assert_allclose(strata.columns["cutpoints"][c],
                                   cm.quantile_cutpoints_and_reference(x, strata.columns["bins"])[0], rtol=1e-12)
    got = strata.frame.copy()
    assert len(got) == len(want) < len(units.frame)
    for key in strata.columns["keys"]:
        got[key] = got[key].cat.codes.astype(np.int64)
    got = got[want.columns]
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-9, check_dtype=False)
    assert strata.n_treated == units.n_treated and strata.n_control == units.n_control
    assert strata.exposure_range == units.exposure_range


def test_auto_takes_the_strata_above_the_threshold(data_dir, monkeypatch):
    cfg = config(data_dir)  # aggregate: auto by default
    small = build_table(cfg)
    assert small.kind == "cross_section" and "at most" in small.aggregation_reason
    monkeypatch.setattr(pipeline, "STRATA_AUTO_UNITS", 10)
    big = build_table(cfg)
    assert big.kind == "cem_strata" and "more than 10" in big.aggregation_reason
    assert build_table(config(data_dir, method="aipw")).kind == "cross_section"


def test_aggregate_is_validated(data_dir):
    with pytest.raises(SpecError, match="aggregate"):
        load_study(config(data_dir, aggregate="rows"))
    with pytest.raises(SpecError, match="aggregate: 'strata'.*method 'cem'"):
        load_study(config(data_dir, aggregate="strata", method="aipw"))
    with pytest.raises(SpecError, match="aggregate: 'strata'.*aggregate-series"):
        load_study(config(data_dir, aggregate="strata", treatment={"date": "2024-04-01"}))


@pytest.mark.spark
@pytest.mark.slow  # about 55 s on the loaded 2-core machine (three Spark jobs)
def test_spark_strata_equal_duckdb(spark, data_dir, duck_tables):
    _, duck = duck_tables
    cfg = config(data_dir, aggregate="strata")
    spk = build_table({**cfg, "data": {**cfg["data"], "engine": "spark"}}, spark=spark)
    assert spk.engine == "spark" and spk.kind == "cem_strata"
    for c in COVS:
        np.testing.assert_allclose(spk.columns["cutpoints"][c], duck.columns["cutpoints"][c], rtol=1e-12)
    pd.testing.assert_frame_equal(spk.frame, duck.frame, check_exact=False, rtol=1e-12)
    assert spk.fingerprint() == duck.fingerprint()


@pytest.mark.slow  # a CEM fit (a NUTS program to compile): about 30 s here
def test_run_study_fits_cem_from_the_strata_and_records_the_path(data_dir, registry_path, tmp_path):
    from bayescausal.study import run_study
    from bayescausal.study.registry import Registry

    run = run_study(config(data_dir, aggregate="strata"), registry=registry_path, out=str(tmp_path / "r.html"))
    assert run.table.kind == "cem_strata" and run.recommendation.chosen == "cem"
    assert run.result.info["input"] == "stratum statistics (fit_strata)" and run.result.trustworthy is False
    end = Registry(registry_path).run(run.run_id)["end"]
    assert end["aggregation"] == "strata" and end["aggregation_reason"] == "aggregate: strata"
    assert end["n_rows"] == len(run.table.frame) and end["checks"]["balance"] == run.result.checks[3].verdict
    assert "strata" in (tmp_path / "r.html").read_text()
