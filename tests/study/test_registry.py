"""The append-only registry: concurrent writers lose nothing, rows are never changed, killed runs keep `started`."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from bayescausal.errors import SpecError
from bayescausal.study.registry import Registry, diff_runs, resolve_path

WRITERS, RUNS_EACH = 4, 25


def _writer(path: str, k: int, go) -> None:
    go.wait()
    reg = Registry(path)
    for i in range(RUNS_EACH):
        run = reg.start("concurrent", {"writer": k, "i": i})
        reg.finish(run, "concurrent", {"writer": k, "i": i, "checks": {"convergence": "passed"}})


def test_four_writer_processes_lose_nothing(tmp_path):
    path = str(tmp_path / "reg.sqlite")
    ctx = mp.get_context("fork")
    go = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(path, k, go)) for k in range(WRITERS)]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    reg = Registry(path)
    events = reg.events()
    assert len(events) == WRITERS * RUNS_EACH * 2
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    runs = reg.runs("concurrent")
    assert len(runs) == WRITERS * RUNS_EACH and all(r.status == "finished" for r in runs)
    assert {(e["payload"]["writer"], e["payload"]["i"]) for e in events if e["event"] == "started"} == \
        {(k, i) for k in range(WRITERS) for i in range(RUNS_EACH)}
    assert reg.integrity() == "ok"
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_append_only(registry_path):
    reg = Registry(registry_path)
    run = reg.start("s", {"seed": 0})
    assert not any(hasattr(reg, name) for name in ("update", "delete", "remove", "set_status"))
    con = sqlite3.connect(registry_path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("UPDATE run_events SET event = 'finished'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("DELETE FROM run_events")
    con.close()
    reg.note(run, "looked fine")
    r = reg.run(run)
    assert r["status"] == "started" and r["notes"] == ["looked fine"]
    with pytest.raises(SpecError, match="registry event"):
        reg.append(run, "s", "updated", {})


def test_status_sequence_and_history(registry_path):
    reg = Registry(registry_path)
    a = reg.start("s", {"config_hash": "h1", "config": {"seed": 0}})
    reg.finish(a, "s", {"method": "cem", "estimate_text": "1 [0, 2]",
                        "checks": {"balance": "FAILED", "conv": "passed"}})
    b = reg.start("s", {"config_hash": "h2", "config": {"seed": 1}})
    reg.fail(b, "s", {"error": "covariates[0].feature: unknown feature"})
    reg.start("s", {"config_hash": "h3"})
    h = reg.history("s")
    assert (h["runs"], h["finished"], h["failed"], h["no_end"], h["failed_checks"]) == (3, 1, 1, 1, 1)
    d = dict((k, (x, y)) for k, x, y in diff_runs(reg.run(a), reg.run(b)))
    assert d["config.seed"] == (0, 1) and d["status"] == ("finished", "failed")
    assert reg.run(a[:-2])["run_id"] == a  # a unique prefix is enough


def test_location(monkeypatch, tmp_path):
    monkeypatch.delenv("BAYESCAUSAL_REGISTRY", raising=False)
    assert str(resolve_path()) == os.path.join(".bayescausal", "registry.sqlite")
    monkeypatch.setenv("BAYESCAUSAL_REGISTRY", str(tmp_path / "env.sqlite"))
    assert resolve_path() == tmp_path / "env.sqlite"
    assert resolve_path(tmp_path / "x.sqlite") == tmp_path / "x.sqlite"


def test_killed_run_leaves_started_and_a_sound_file(data_dir, tmp_path):
    """A real study run in a child process, killed (SIGKILL) while it samples (its progress bar says "fit"): the
    `started` row stays, there is no end row, and the file passes SQLite's integrity check."""
    import threading

    import yaml

    from .conftest import config

    cfg = config(data_dir, sampler={"draws": 20000, "warmup": 1000, "chains": 2})
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(cfg))
    reg_path = tmp_path / "reg.sqlite"
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(JAX_PLATFORMS="cpu", BAYESCAUSAL_COMPILATION_CACHE="0")
    child = subprocess.Popen([sys.executable, "-m", "bayescausal.cli", "run", str(tmp_path / "study.yaml"),
                              "--registry", str(reg_path), "--progress"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    fitting = threading.Event()

    def watch():
        seen = b""
        for chunk in iter(lambda: child.stderr.read1(4096), b""):
            seen = (seen + chunk)[-4096:]
            if b"fit cem" in seen:
                fitting.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        assert fitting.wait(120), "the run never reached the fit"
        time.sleep(0.5)
        assert child.poll() is None, "the run ended before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    reg = Registry(reg_path)
    assert reg.integrity() == "ok"
    runs = reg.runs("test_study")
    assert len(runs) == 1 and runs[0].status == "started" and runs[0].ended is None
    assert [e["event"] for e in reg.events()] == ["started"]
