"""End to end: `bayescausal run` on a tiny study (one real fit), the report's contents, the registry commands,
and bad input recorded as failed runs."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from click.testing import CliRunner

from bayescausal.cli import cli
from bayescausal.errors import DataError, SpecError
from bayescausal.study import run_study
from bayescausal.study.registry import Registry

from .conftest import N_TREATED, config


@pytest.fixture(scope="module")
def finished(data_dir, tmp_path_factory):
    """One study run through the CLI: CEM with few draws and the fast checks."""
    folder = tmp_path_factory.mktemp("run")
    (folder / "study.yaml").write_text(yaml.safe_dump(config(data_dir)))
    reg, out = folder / "reg.sqlite", folder / "report.html"
    res = CliRunner().invoke(cli, ["run", str(folder / "study.yaml"), "--registry", str(reg), "--out", str(out),
                                   "--no-progress", "--note", "first try"])
    assert res.exit_code == 0, res.output
    return folder, reg, out, res.output


def test_run_prints_recommendation_and_report_path(finished):
    folder, reg, out, output = finished
    assert "Recommended: coarsened exact matching" in output
    assert f"Report: {out}" in output
    assert out.exists()


def test_registry_records_the_run(finished):
    _, reg, out, _ = finished
    runs = Registry(reg).runs("test_study")
    assert len(runs) == 1 and runs[0].status == "finished"
    r = Registry(reg).run(runs[0].run_id)
    start, end = r["start"], r["end"]
    for key in ("config", "config_hash", "source_fingerprint", "version", "git_revision", "seed", "engine"):
        assert key in start
    assert start["note"] == "first try" and start["seed"] == 0
    assert end["method"] == "cem" and end["recommended"] == "cem" and end["report"] == str(out)
    assert set(end["checks"]) >= {"convergence", "balance"} and "mean" in end and end["n_treated"] == N_TREATED
    assert re.fullmatch(r"[0-9a-f]{16}", end["data_fingerprint"])


def test_report_contents(finished):
    _, _, out, _ = finished
    page = out.read_text()
    for text in ("Did the offer raise 28-day revenue?", "<h2>Design</h2>", "alt='timeline of the windows'",
                 "revenue_28d = sum(amount) over [exposure, exposure + 28d)",
                 "sessions_7d = count(*) over [exposure - 7d, exposure)", "<h2>Method and why</h2>",
                 "Recommended: coarsened exact matching", "with 95% probability between", "<h2>Checks</h2>",
                 "<th>verdict</th>", "<h2>Sensitivity</h2>", "E-value", "<h2>Run history</h2>",
                 "This study has had 1 run(s): 1 finished, 0 failed", "data:image/png;base64,"):
        assert text in page, text


def test_registry_cli_list_show_diff(finished, data_dir):
    folder, reg, _, _ = finished
    runner = CliRunner()
    # a failed run beside the finished one: an unknown feature
    bad = config(data_dir, covariates=["sessions_7d", "sesions_28d"])
    (folder / "bad.yaml").write_text(yaml.safe_dump(bad))
    res = runner.invoke(cli, ["run", str(folder / "bad.yaml"), "--registry", str(reg), "--no-progress"])
    assert res.exit_code == 2 and "covariates[1].feature: unknown feature 'sesions_28d'" in res.output
    res = runner.invoke(cli, ["registry", "list", "--registry", str(reg)])
    assert res.exit_code == 0 and "finished" in res.output and "failed" in res.output
    ids = [r.run_id for r in Registry(reg).runs()]
    res = runner.invoke(cli, ["registry", "show", ids[1], "--registry", str(reg)])
    shown = json.loads(res.output)
    assert shown["status"] == "failed" and "sesions_28d" in shown["end"]["error"]
    res = runner.invoke(cli, ["registry", "diff", ids[0], ids[1], "--registry", str(reg)])
    assert res.exit_code == 0 and "config.covariates[1].feature" in res.output and "status" in res.output
    res = runner.invoke(cli, ["registry", "note", ids[0], "checked by hand", "--registry", str(reg)])
    assert res.exit_code == 0 and Registry(reg).run(ids[0])["notes"] == ["checked by hand"]
    res = runner.invoke(cli, ["registry", "show", "nope", "--registry", str(reg)])
    assert res.exit_code == 2 and "no run 'nope'" in res.output


def test_recommend_cli(data_dir, tmp_path):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(config(data_dir, treatment={"date": "2024-04-01"})))
    res = CliRunner().invoke(cli, ["recommend", str(tmp_path / "s.yaml")])
    assert res.exit_code == 0 and "BSTS impact analysis" in res.output and "aggregate daily series" in res.output


@pytest.mark.parametrize("overrides,error,match", [
    ({"covariates": ["sessions_7d", "nope_7d"]}, SpecError, r"covariates\[1\].feature: unknown feature 'nope_7d'"),
    ({"covariates": [{"feature": "sessions_7d", "window": {"start": "-2d", "end": "-5d"}}]}, SpecError,
     r"covariates\[0\].window: ends \(-5d\) before it starts \(-2d\)"),
    ({"covariates": [{"feature": "sessions_7d", "window": {"start": "-7d", "end": "1d"}}]}, SpecError,
     r"covariates\[0\].window: .* overlaps the outcome window"),
    ({"control": {"filter": [{"column": "user_id", "op": "<=", "value": N_TREATED}]}}, DataError,
     r"control: the control cohort is empty"),
    ({"treatment": {"table": "offers", "time": "offerd_at"}}, SpecError, r"treatment.time: unknown column 'offerd_at'"),
])
def test_bad_input_fails_clearly_and_is_recorded(data_dir, registry_path, overrides, error, match):
    with pytest.raises(error, match=match):
        run_study(config(data_dir, **overrides), registry=registry_path)
    runs = Registry(registry_path).runs("test_study")
    assert len(runs) == 1 and runs[0].status == "failed"
    r = Registry(registry_path).run(runs[0].run_id)
    assert re.search(match, r["end"]["error"]) and r["end"]["error_type"] == error.__name__


def test_treatment_units_missing_from_population_is_recorded(data_dir, registry_path, tmp_path):
    import pandas as pd

    from .conftest import _parquet

    offers = pd.read_parquet(data_dir / "offers.parquet")
    _parquet(pd.concat([offers, pd.DataFrame({"user_id": [777], "offered_at": offers["offered_at"][:1]})]),
             tmp_path / "offers.parquet")
    cfg = config(data_dir)
    cfg["data"]["sources"]["offers"] = str(tmp_path / "offers.parquet")
    with pytest.raises(DataError, match="treatment.table: 1 treated unit"):
        run_study(cfg, registry=registry_path)
    assert Registry(registry_path).runs()[0].status == "failed"


def test_invalid_yaml_config_is_recorded(tmp_path, registry_path):
    p = tmp_path / "study.yaml"
    p.write_text("name: broken_study\nquestion: q\nunit: 'a b'\n")
    with pytest.raises(SpecError, match="unit: 'a b' is not a valid column name"):
        run_study(p, registry=registry_path)
    runs = Registry(registry_path).runs("broken_study")
    assert len(runs) == 1 and runs[0].status == "failed"


def test_mmm_study_is_explained(data_dir, registry_path):
    import bayescausal

    if hasattr(bayescausal, "MMM"):
        pytest.skip("bc.MMM exists: covered by its own study test")
    with pytest.raises(SpecError, match="not available"):
        run_study(config(data_dir, spend=["revenue_28d"], weeks={"start": "2024-01-01", "end": "2024-12-30"}),
                  registry=registry_path)


HEAVY = ("ibis", "pyspark", "duckdb", "pydantic", "click", "yaml", "jinja2", "sqlglot")


def test_no_study_dependency_imported_outside_the_study_layer():
    """Static check (fast): outside bayescausal/study/ and cli.py no module imports a study dependency at its top
    level, and the package root never imports bayescausal.study; the runtime check is the slow test below."""
    import ast
    from pathlib import Path

    import bayescausal

    root = Path(bayescausal.__file__).parent
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("study/") or rel == "cli.py":
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:  # top-level statements only: imports inside functions are lazy
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("study"):
                names = ["bayescausal.study"]
            for name in names:
                assert name.split(".")[0] not in HEAVY and name != "bayescausal.study", f"{rel} imports {name}"
    res = CliRunner().invoke(cli, ["--help"])
    assert res.exit_code == 0 and all(c in res.output for c in ("run", "recommend", "registry", "demo"))


@pytest.mark.slow
def test_import_stays_light_at_run_time():
    """`import bayescausal` in a fresh process loads no study dependency."""
    import os
    import subprocess
    import sys

    code = f"import sys, bayescausal; print([m for m in sys.modules if m.split('.')[0] in {HEAVY!r}])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
