"""Study pipeline at scale: the modelling table from 100M events of 10M users on DuckDB, and the same study on
Spark local against DuckDB on a slice (identical tables).

    python benchmarks/study/scale_events.py generate --dir /tmp/bc_scale --events 100000000 --users 10000000
    python benchmarks/study/scale_events.py build --dir /tmp/bc_scale --memory-limit 6GB --threads 2 [--aggregate
        units|strata|both]   # both (default): the unit rows, then CEM's strata in the engine, each in its process
    python benchmarks/study/scale_events.py spark --dir /tmp/bc_scale --slice-users 20000
    python benchmarks/study/scale_events.py all ...   # the three above, each in its own process; deletes the files

The events are generated inside DuckDB as Parquet from ``range()`` with hash-based pseudo-random columns (user,
time, event type, amount), so nothing of that size passes through Python. ``build`` runs the study's pipeline
(exposures with the ``treated_times`` pseudo-exposure rule, one join of events to exposures, three windowed
features aggregated in the engine) in a fresh process and reports wall time and the process's peak RSS. Results are
appended to ``benchmarks/study/scale_events_results.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "scale_events_results.jsonl"

CATALOGUE = """
tables:
  events: {unit: user_id, time: ts}
features:
  sessions_28d: {table: events, filter: [{column: event_type, value: session}], agg: count, window: 28d}
  revenue_28d: {table: events, filter: [{column: event_type, value: purchase}], column: amount, agg: sum,
                window: 28d}
  tickets_30d: {table: events, filter: [{column: event_type, value: ticket}], agg: count, window: 30d}
"""


def study_yaml(folder: Path, engine: str, memory_limit: str | None, threads: int | None, events: str,
               aggregate: str = "units") -> str:
    lines = [
        f"aggregate: {aggregate}",
        "name: scale_benchmark",
        "question: Does the offer raise 28-day revenue (benchmark data)?",
        "unit: user_id",
        "data:",
        f"  engine: {engine}",
    ]
    if memory_limit:
        lines.append(f"  memory_limit: {memory_limit}")
    if threads:
        lines.append(f"  threads: {threads}")
    lines += [
        "  sources:",
        f"    users: {folder / ('users' + events + '.parquet')}",
        f"    offers: {folder / ('offers' + events + '.parquet')}",
        f"    events: {folder / ('events' + events + '.parquet')}",
        f"catalogue: {folder / 'features.yaml'}",
        "population: {table: users}",
        "treatment: {table: offers, time: offered_at}",
        "outcome: revenue_28d",
        "covariates: [sessions_28d, tickets_30d, {feature: revenue_28d, name: revenue_28d_pre}]",
    ]
    return "\n".join(lines) + "\n"


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def load() -> str:
    return open("/proc/loadavg").read().split()[0]


def record(row: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    row = {"when": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "load1": load(), **row}
    with open(RESULTS, "a") as fh:
        fh.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=1))


def generate(folder: Path, n_events: int, n_users: int, threads: int, memory_limit: str) -> None:
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "features.yaml").write_text(CATALOGUE)
    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit,
                                 "preserve_insertion_order": False})
    t = time.perf_counter()
    con.execute(f"""COPY (SELECT i + 1 AS user_id, ['north','south','east','west'][(hash(i) % 4)::INT + 1] AS region
                    FROM range({n_users}) r(i)) TO '{folder / 'users.parquet'}' (FORMAT parquet)""")
    # one user in ten is offered, at a pseudo-random second of March-April 2024
    con.execute(f"""COPY (SELECT i + 1 AS user_id,
                      TIMESTAMP '2024-03-01' + to_seconds((hash(i * 7 + 1) % (61 * 86400))::BIGINT) AS offered_at
                    FROM range({n_users}) r(i) WHERE hash(i * 13 + 5) % 10 = 0)
                    TO '{folder / 'offers.parquet'}' (FORMAT parquet)""")
    con.execute(f"""COPY (SELECT (hash(i) % {n_users})::BIGINT + 1 AS user_id,
                      TIMESTAMP '2024-01-01' + to_seconds((hash(i * 3 + 1) % (182 * 86400))::BIGINT) AS ts,
                      CASE WHEN hash(i * 5 + 2) % 10 < 7 THEN 'session'
                           WHEN hash(i * 5 + 2) % 10 < 9 THEN 'purchase' ELSE 'ticket' END AS event_type,
                      CASE WHEN hash(i * 5 + 2) % 10 BETWEEN 7 AND 8
                           THEN (hash(i * 11 + 3) % 10000)::DOUBLE / 100 END AS amount
                    FROM range({n_events}) r(i)) TO '{folder / 'events.parquet'}'
                    (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")
    seconds = time.perf_counter() - t
    size = sum(p.stat().st_size for p in folder.glob("*.parquet"))
    record({"step": "generate", "events": n_events, "users": n_users, "seconds": round(seconds, 1),
            "parquet_mb": round(size / 2**20, 1), "peak_rss_mb": peak_rss_mb()})


def build(folder: Path, memory_limit: str, threads: int, aggregate: str = "units") -> None:
    """The modelling table in a fresh process: one row per unit (``aggregate="units"``) or CEM's stratum
    statistics computed in the engine (``"strata"``: cutpoints, coarsening and the per-stratum sums there)."""
    t0 = time.perf_counter()
    from bayescausal.study import build_table, load_study

    cfg = load_study(study_yaml(folder, "duckdb", memory_limit, threads, "", aggregate))
    t = time.perf_counter()
    table = build_table(cfg)
    seconds = time.perf_counter() - t
    df = table.frame
    row = {"step": "build_duckdb" if aggregate == "units" else "build_duckdb_strata", "kind": table.kind,
           "rows_out": len(df), "n_treated": table.n_treated, "n_control": table.n_control,
           "seconds": round(seconds, 1), "seconds_with_imports": round(time.perf_counter() - t0, 1),
           "peak_rss_mb": peak_rss_mb(), "memory_limit": memory_limit, "threads": threads}
    if aggregate == "units":
        row["means"] = {c: round(float(df[c].mean()), 4) for c in df.columns if c not in ("unit", "exposure")}
    else:
        row["bins"] = table.columns["bins"]
        row["cutpoints"] = table.columns["cutpoints"]
        row["outcome_mean"] = round(float((df["sum_treated"].sum() + df["sum_control"].sum())
                                          / (table.n_treated + table.n_control)), 4)
    record(row)


def spark(folder: Path, slice_users: int) -> None:
    """The same study on a slice (users <= slice_users and their events) on Spark local[2] and DuckDB."""
    import duckdb
    import pandas as pd

    from bayescausal.study import build_table, load_study

    con = duckdb.connect()
    for name in ("users", "offers", "events"):
        con.execute(f"COPY (SELECT * FROM '{folder / (name + '.parquet')}' WHERE user_id <= {slice_users}) "
                    f"TO '{folder / (name + '_slice.parquet')}' (FORMAT parquet)")
    n_events = con.execute(f"SELECT count(*) FROM '{folder / 'events_slice.parquet'}'").fetchone()[0]
    t = time.perf_counter()
    ddb = build_table(load_study(study_yaml(folder, "duckdb", None, 2, "_slice"))).frame
    t_duck = time.perf_counter() - t
    t = time.perf_counter()
    spk = build_table(load_study(study_yaml(folder, "spark", None, None, "_slice"))).frame
    t_spark = time.perf_counter() - t
    pd.testing.assert_frame_equal(ddb, spk, check_exact=False, rtol=1e-12)
    record({"step": "spark_vs_duckdb_slice", "slice_users": slice_users, "events": int(n_events), "rows_out": len(ddb),
            "identical": True, "seconds_duckdb": round(t_duck, 1), "seconds_spark_incl_start": round(t_spark, 1)})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["generate", "build", "spark", "all"])
    ap.add_argument("--dir", default="/tmp/bc_scale")
    ap.add_argument("--events", type=int, default=100_000_000)
    ap.add_argument("--users", type=int, default=10_000_000)
    ap.add_argument("--memory-limit", default="6GB")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--slice-users", type=int, default=20_000)
    ap.add_argument("--keep", action="store_true", help="keep the generated files (all)")
    ap.add_argument("--aggregate", choices=["units", "strata", "both"], default="both",
                    help="build: one row per unit, CEM's strata in the engine, or both (each in its own process)")
    a = ap.parse_args()
    folder = Path(a.dir)
    if a.step == "generate":
        generate(folder, a.events, a.users, a.threads, a.memory_limit)
    elif a.step == "build" and a.aggregate != "both":
        build(folder, a.memory_limit, a.threads, a.aggregate)
    elif a.step == "build":
        common = ["--dir", str(folder), "--memory-limit", a.memory_limit, "--threads", str(a.threads)]
        for agg in ("units", "strata"):
            rc = subprocess.call([sys.executable, __file__, "build", *common, "--aggregate", agg])
            if rc:
                return rc
    elif a.step == "spark":
        spark(folder, a.slice_users)
    else:
        common = ["--dir", str(folder), "--memory-limit", a.memory_limit, "--threads", str(a.threads)]
        try:
            for step, extra in (("generate", ["--events", str(a.events), "--users", str(a.users)]), ("build", []),
                                ("spark", ["--slice-users", str(a.slice_users)])):
                rc = subprocess.call([sys.executable, __file__, step, *common, *extra])
                if rc:
                    return rc
        finally:
            if not a.keep:
                shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    raise SystemExit(main())
