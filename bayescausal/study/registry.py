"""The run registry: an append-only log of every study run, in one SQLite file.

Why SQLite: one file, in the standard library, safe for several processes at once. The file runs in WAL mode
(readers never block the writer, and a process killed mid-write leaves the last committed state: SQLite's
journal guarantees no torn file), and every append takes the write lock up front (``BEGIN IMMEDIATE``) with
retries on ``database is locked``, so concurrent writers queue instead of failing and nothing is lost.

Append-only: a run is a sequence of event rows (``started``, then ``finished`` or ``failed``, and any
``note``); nothing is updated or deleted. The API has no such operation, and triggers make the file refuse an
UPDATE or DELETE from any other client too. A run killed mid-fit keeps its ``started`` row and simply has no end
row: ``status`` reads "started (no end recorded)".

Location: ``--registry PATH``, else ``$BAYESCAUSAL_REGISTRY``, else ``./.bayescausal/registry.sqlite``.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import SpecError

ENV = "BAYESCAUSAL_REGISTRY"
DEFAULT = Path(".bayescausal") / "registry.sqlite"
EVENTS = ("started", "finished", "failed", "note")
RETRIES = 200

_SCHEMA = """
CREATE TABLE IF NOT EXISTS run_events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id   TEXT NOT NULL,
    study    TEXT NOT NULL,
    event    TEXT NOT NULL CHECK (event IN ('started', 'finished', 'failed', 'note')),
    at       TEXT NOT NULL,
    pid      INTEGER,
    payload  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS run_events_run ON run_events (run_id);
CREATE INDEX IF NOT EXISTS run_events_study ON run_events (study);
CREATE TRIGGER IF NOT EXISTS run_events_no_update BEFORE UPDATE ON run_events
BEGIN SELECT RAISE(ABORT, 'the bayescausal registry is append-only: rows are never updated'); END;
CREATE TRIGGER IF NOT EXISTS run_events_no_delete BEFORE DELETE ON run_events
BEGIN SELECT RAISE(ABORT, 'the bayescausal registry is append-only: rows are never deleted'); END;
"""


def resolve_path(path=None) -> Path:
    """``path``, else ``$BAYESCAUSAL_REGISTRY``, else ``./.bayescausal/registry.sqlite``."""
    if path:
        return Path(path)
    env = os.environ.get(ENV)
    return Path(env) if env else DEFAULT


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    study: str
    status: str  # started | finished | failed
    started: str
    ended: str | None
    method: str | None
    estimate: str | None
    failed_checks: int
    config_hash: str | None


class Registry:
    """Append-only registry of study runs in a SQLite file (created on first use)."""

    def __init__(self, path=None):
        self.path = resolve_path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write(lambda con: con.executescript(_SCHEMA) and None, schema=True)

    # -- connections -------------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        con.execute("PRAGMA busy_timeout = 30000")
        return con

    def _write(self, fn, schema: bool = False):
        """Run ``fn(con)`` inside ``BEGIN IMMEDIATE`` ... ``COMMIT``, retrying while another writer holds the lock."""
        delay = 0.005
        for attempt in range(RETRIES):
            con = None
            try:
                con = self._connect()
                if schema:
                    con.execute("PRAGMA journal_mode = WAL")
                    con.execute("PRAGMA synchronous = NORMAL")
                    fn(con)
                    return None
                con.execute("BEGIN IMMEDIATE")
                out = fn(con)
                con.execute("COMMIT")
                return out
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if con is not None and con.in_transaction:
                    con.execute("ROLLBACK")
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)
                if attempt == RETRIES - 1:
                    raise
            finally:
                if con is not None:
                    con.close()
        return None

    # -- appends (the only writes) -------------------------------------------------------------------------------
    def append(self, run_id: str, study: str, event: str, payload: dict) -> None:
        if event not in EVENTS:
            raise SpecError(f"registry event {event!r}: use one of {EVENTS}.")
        row = (run_id, study, event, now(), os.getpid(), json.dumps(payload, default=str, sort_keys=True))
        self._write(lambda con: con.execute(
            "INSERT INTO run_events (run_id, study, event, at, pid, payload) VALUES (?, ?, ?, ?, ?, ?)", row))

    def start(self, study: str, payload: dict) -> str:
        """Append a ``started`` event for a new run; returns its run id."""
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.append(run_id, study, "started", payload)
        return run_id

    def finish(self, run_id: str, study: str, payload: dict) -> None:
        self.append(run_id, study, "finished", payload)

    def fail(self, run_id: str, study: str, payload: dict) -> None:
        self.append(run_id, study, "failed", payload)

    def note(self, run_id: str, text: str) -> None:
        self.append(run_id, self.run(run_id)["study"], "note", {"note": text})

    # -- reads ----------------------------------------------------------------------------------------------------
    def events(self, run_id: str | None = None, study: str | None = None) -> list[dict]:
        q, args = "SELECT seq, run_id, study, event, at, pid, payload FROM run_events", []
        where = []
        if run_id:
            where.append("run_id = ?")
            args.append(run_id)
        if study:
            where.append("study = ?")
            args.append(study)
        if where:
            q += " WHERE " + " AND ".join(where)
        con = self._connect()
        try:
            rows = con.execute(q + " ORDER BY seq", args).fetchall()
        finally:
            con.close()
        return [{"seq": r[0], "run_id": r[1], "study": r[2], "event": r[3], "at": r[4], "pid": r[5],
                 "payload": json.loads(r[6])} for r in rows]

    def run(self, run_id: str) -> dict:
        """Every event of one run merged: ``status``, the ``started`` payload and the end payload, notes."""
        evs = self.events(run_id=run_id)
        if not evs:
            matches = sorted({e["run_id"] for e in self.events() if e["run_id"].startswith(run_id)})
            if len(matches) == 1:
                return self.run(matches[0])
            raise SpecError(f"registry {str(self.path)!r} has no run {run_id!r}"
                            + (f" (several match: {matches[:5]})" if matches else "") + ".")
        out = {"run_id": run_id, "study": evs[0]["study"], "status": "started", "started_at": None, "ended_at": None,
               "start": {}, "end": {}, "notes": []}
        for e in evs:
            if e["event"] == "started":
                out["started_at"], out["start"] = e["at"], e["payload"]
            elif e["event"] in ("finished", "failed"):
                out["status"], out["ended_at"], out["end"] = e["event"], e["at"], e["payload"]
            else:
                out["notes"].append(e["payload"].get("note", ""))
        return out

    def runs(self, study: str | None = None) -> list[RunSummary]:
        by_run: dict[str, list[dict]] = {}
        for e in self.events(study=study):
            by_run.setdefault(e["run_id"], []).append(e)
        out = []
        for run_id, evs in by_run.items():
            start = next((e for e in evs if e["event"] == "started"), evs[0])
            end = next((e for e in reversed(evs) if e["event"] in ("finished", "failed")), None)
            payload = end["payload"] if end else {}
            checks = payload.get("checks", {})
            out.append(RunSummary(run_id, start["study"], end["event"] if end else "started", start["at"],
                                  end["at"] if end else None, payload.get("method") or start["payload"].get("method"),
                                  payload.get("estimate_text"), sum(1 for v in checks.values() if v == "FAILED"),
                                  start["payload"].get("config_hash")))
        return out

    def history(self, study: str) -> dict:
        """How many runs the study has had, how many finished, failed or never ended, and how many failed checks."""
        runs = self.runs(study)
        return {"runs": len(runs), "finished": sum(r.status == "finished" for r in runs),
                "failed": sum(r.status == "failed" for r in runs),
                "no_end": sum(r.status == "started" for r in runs),
                "failed_checks": sum(r.failed_checks for r in runs), "table": runs}

    def integrity(self) -> str:
        con = self._connect()
        try:
            return con.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            con.close()


def diff_runs(a: dict, b: dict) -> list[tuple[str, object, object]]:
    """Fields that differ between two runs (config fields flattened to paths, data fingerprint, method, estimate,
    each check's verdict)."""

    def flat(prefix, obj, out):
        if isinstance(obj, dict):
            for k, v in obj.items():
                flat(f"{prefix}.{k}" if prefix else str(k), v, out)
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                flat(f"{prefix}[{i}]", v, out)
        else:
            out[prefix] = obj
        return out

    def view(r):
        out = flat("config", r["start"].get("config", {}), {})
        for key in ("config_hash", "data_fingerprint", "source_fingerprint", "version", "git_revision", "seed",
                    "engine"):
            out[key] = r["start"].get(key)
        out["status"] = r["status"]
        for key in ("method", "recommended", "estimate_text", "mean", "lower", "upper", "error"):
            if key in r["end"]:
                out[key] = r["end"][key]
        for name, verdict in r["end"].get("checks", {}).items():
            out[f"check.{name}"] = verdict
        return out

    va, vb = view(a), view(b)
    return [(k, va.get(k), vb.get(k)) for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)]
