"""Speed and memory of PanelFE and EventStudy at scale, next to pyfixest's ``feols`` on the same data in the same run.

Data: ``--units`` units x ``--periods`` periods (default 1,000,000 x 20 = 20M rows) with 5 covariates, unit and
period effects, staggered adoption of a 0/1 treatment by half the units, true effect 0.5 (simulated in NumPy;
seed 0). Our fits: ``PanelFE("fixed", "fixed")`` and ``PanelFE("hierarchical", "fixed")`` (``--models``), each
the whole ``fit`` (validation, reduction to sufficient statistics, NUTS on the scales, exact coefficient draws;
checks per ``--checks``, default none). The peer: pyfixest ``feols("y ~ d + x1 + ... + x5 | unit + time")`` in
``.venv-bench`` (a subprocess reading the same arrays from .npy files; its own wall time and peak memory). The
two point estimates are compared. Memory: the process's peak resident memory after each fit, and its resident
memory before the fit (the simulated frame's share). One JSON row per model is appended to
``results/speed_panel.jsonl``.

``--models event``: ``EventStudy(leads=4, lags=4)`` (never-treated comparison units, saturated cohort-by-event-time
cells: with the treated half of the units adopting in one of ``--event-cohorts`` (default periods 8, 11, 14, 17)
that is 4 x 19 = 76 one-hot cells) on data simulated as above but with those cohorts. The peer is pyfixest's
``feols("y ~ i(cell, ref=-1) + x1 + ... + x5 | unit + time")`` on the same cells (each row's cell from our
design, -1 the comparison rows), aggregated with our weights to the average effect on the treated: the same
estimator (Sun & Abraham 2021). pyfixest builds the cells as a dense matrix (20M rows x 76 cells is 12 GB, and it
holds several copies), which this 24 GB machine cannot hold at the full size, so the peer and a second fit of ours
run on the first ``--event-peer-units`` units (default 50,000) of the same data in the same run, and the full-size
fit is ours alone.

    .venv/bin/python benchmarks/speed_panel.py [--units 1000000] [--periods 20] [--models fixed,hierarchical,event]
        [--checks none|fast|full] [--chains 4] [--draws 1000] [--event-peer-units 50000] [--no-peer] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEER_PYTHON = HERE.parent / ".venv-bench" / "bin" / "python"
COVARIATES = [f"x{j}" for j in range(1, 6)]
TRUE_EFFECT = 0.5


def simulate(units: int, periods: int, seed: int = 0, cohorts=None):
    """The benchmark panel as a DataFrame (columns unit, time, y, d, x1..x5), built column by column. Half the
    units adopt, in a period drawn from ``periods // 4 .. periods - 1`` or, given ``cohorts``, from those."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = units * periods
    unit = np.repeat(np.arange(units, dtype=np.int64), periods)
    time_ = np.tile(np.arange(periods, dtype=np.int64), units)
    a = rng.standard_normal(units)
    g = 0.3 * np.sin(np.arange(periods))
    when = rng.integers(periods // 4, periods, units) if cohorts is None else rng.choice(np.asarray(cohorts), units)
    adopt = np.where(rng.random(units) < 0.5, when, -1)
    d = ((adopt[unit] >= 0) & (time_ >= adopt[unit])).astype(np.float64)
    y = a[unit] + g[time_] + TRUE_EFFECT * d
    cols = {"unit": unit, "time": time_}
    betas = np.linspace(0.5, -0.5, len(COVARIATES))
    xs = {}
    for j, name in enumerate(COVARIATES):
        x = rng.standard_normal(n)
        x += 0.3 * a[unit]
        y += betas[j] * x
        xs[name] = x
    y += rng.standard_normal(n)
    cols.update({"y": y, "d": d, **xs})
    return pd.DataFrame(cols)


def current_rss_mb() -> float:
    """Resident memory now (Linux /proc), MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def peer_worker(folder: str) -> None:
    """Run in .venv-bench: pyfixest feols with unit and time fixed effects on the saved arrays."""
    import resource

    import numpy as np
    import pandas as pd
    import pyfixest as pf

    path = Path(folder)
    df = pd.DataFrame({name: np.load(path / f"{name}.npy") for name in ["unit", "time", "y", "d", *COVARIATES]})
    t0 = time.perf_counter()
    fit = pf.feols("y ~ d + " + " + ".join(COVARIATES) + " | unit + time", data=df)
    wall = time.perf_counter() - t0
    coef, se = fit.coef(), fit.se()
    print(json.dumps({"tool": f"pyfixest {pf.__version__} feols", "wall_s": round(wall, 2),
                      "estimate": float(coef["d"]), "se_iid": float(se["d"]),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


def event_peer_worker(folder: str) -> None:
    """Run in .venv-bench: pyfixest feols on the saturated cohort-by-event-time cells (``cell``, -1: comparison
    rows) with unit and time fixed effects; prints each cell's coefficient."""
    import resource

    import numpy as np
    import pandas as pd
    import pyfixest as pf

    path = Path(folder)
    df = pd.DataFrame({name: np.load(path / f"{name}.npy") for name in ["unit", "time", "y", "cell", *COVARIATES]})
    t0 = time.perf_counter()
    fit = pf.feols("y ~ i(cell, ref=-1) + " + " + ".join(COVARIATES) + " | unit + time", data=df)
    wall = time.perf_counter() - t0
    cells = {}
    for name, value in fit.coef().items():
        if name.startswith("C(cell") or name.startswith("cell"):
            cells[int(float(name.replace("]", "").split("::")[-1].split("T.")[-1]))] = float(value)
    print(json.dumps({"tool": f"pyfixest {pf.__version__} feols (saturated cells)", "wall_s": round(wall, 2),
                      "cells": cells, "rows": len(df), "peak_rss_mb": own_peak_rss_mb(),
                      "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


def own_peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM, reset at exec; ``ru_maxrss`` also counts what a child
    inherited from its parent), MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def run_peer(df, columns=("unit", "time", "y", "d", *COVARIATES), flag="--peer-worker") -> dict | None:
    import numpy as np

    if not PEER_PYTHON.exists():
        print(f"peer skipped: {PEER_PYTHON} not found")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        for name in columns:
            np.save(Path(tmp) / f"{name}.npy", df[name].to_numpy())
        out = subprocess.run([str(PEER_PYTHON), str(Path(__file__).resolve()), flag, tmp],
                             capture_output=True, text=True, check=False)
    if out.returncode:
        print(f"peer failed (pyfixest in .venv-bench):\n{out.stderr[-2000:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--units", type=int, default=1_000_000)
    p.add_argument("--periods", type=int, default=20)
    p.add_argument("--models", default="fixed,hierarchical")
    p.add_argument("--checks", choices=["none", "fast", "full"], default="none")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--no-record", action="store_true", help="print the rows without appending them")
    p.add_argument("--event-cohorts", default="8,11,14,17", help="adoption periods of the event-study data")
    p.add_argument("--event-peer-units", type=int, default=50_000,
                   help="units of the subsample on which pyfixest's saturated regression and ours are compared")
    p.add_argument("--peer-worker", help=argparse.SUPPRESS)
    p.add_argument("--event-peer-worker", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.peer_worker:
        peer_worker(a.peer_worker)
        return []
    if a.event_peer_worker:
        event_peer_worker(a.event_peer_worker)
        return []
    models = a.models.split(",")
    if models == ["event"]:
        return [run_event(a)]
    start = time.perf_counter()
    sys.path.insert(0, str(HERE))
    from _common import append_row, effect_fields, peak_rss_mb, stamp

    import bayescausal as bc
    from bayescausal.panel import PanelFE

    df = simulate(a.units, a.periods, a.seed)
    print(f"simulated {len(df):,} rows in {time.perf_counter() - start:.1f} s; RSS {current_rss_mb()} MB")
    peer = None if a.no_peer else run_peer(df)
    if peer:
        print(f"peer: {peer}")
    sampler = bc.Sampler(chains=a.chains, draws=a.draws, progress=False)
    checks = False if a.checks == "none" else a.checks
    rows = []
    for model in [m for m in models if m != "event"]:
        rss_before = current_rss_mb()
        t0 = time.perf_counter()
        res = PanelFE(unit_effects=model, time_effects="fixed", sampler=sampler).fit(
            df, "unit", "time", "y", "d", COVARIATES, seed=a.seed, checks=checks)
        wall = time.perf_counter() - t0
        s = res.summary().loc["effect"]
        print(f"PanelFE({model}, fixed) on {len(df):,} rows: {wall:.1f} s (sampling {res.info['seconds']} s), peak "
              f"RSS {peak_rss_mb()} MB; effect {s['mean']:.4f} [{s['lower']:.4f}, {s['upper']:.4f}]")
        row = {"benchmark": "speed_panel", "tool": f"bayescausal PanelFE({model}, fixed)", "units": a.units,
               "periods": a.periods, "rows": len(df), "covariates": len(COVARIATES), "checks": a.checks,
               "chains": a.chains, "draws": a.draws, "wall_s": round(wall, 2), "sampling_s": res.info["seconds"],
               "rss_before_fit_mb": rss_before, "peak_rss_mb": peak_rss_mb(), "truth": TRUE_EFFECT,
               "rao_blackwell_mean": round(res.effect_mean, 5), "effect_sd": round(float(s["sd"]), 5),
               **effect_fields(res.effect.values),
               "checks_verdicts": {c.name: c.verdict for c in res.checks}, "peer": peer, **stamp()}
        if peer:
            row["difference_from_peer"] = round(res.effect_mean - peer["estimate"], 6)
            row["difference_in_peer_se"] = round((res.effect_mean - peer["estimate"]) / peer["se_iid"], 4)
        if a.no_record:
            print(json.dumps(row))
        else:
            append_row(HERE / "results" / "speed_panel.jsonl", row)
        rows.append(row)
        del res
    if "event" in models:
        del df
        rows.append(run_event(a))
    return rows


def run_event(a) -> dict:
    """EventStudy on the full data, then pyfixest's saturated regression and ours on a subsample of its units."""
    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(HERE))
    from _common import append_row, effect_fields, peak_rss_mb, stamp

    import bayescausal as bc
    from bayescausal.panel import EventStudy
    from bayescausal.panel._data import prepare_panel

    cohorts = [int(c) for c in a.event_cohorts.split(",")]
    t0 = time.perf_counter()
    df = simulate(a.units, a.periods, a.seed, cohorts)
    print(f"simulated {len(df):,} rows (cohorts {cohorts}) in {time.perf_counter() - t0:.1f} s; RSS "
          f"{current_rss_mb()} MB")
    sampler = bc.Sampler(chains=a.chains, draws=a.draws, progress=False)
    checks = False if a.checks == "none" else a.checks
    est = EventStudy(leads=4, lags=4, sampler=sampler)
    rss_before = current_rss_mb()
    t0 = time.perf_counter()
    res = est.fit(df, "unit", "time", "y", "d", COVARIATES, seed=a.seed, checks=checks)
    wall = time.perf_counter() - t0
    peak = peak_rss_mb()
    s = res.summary().loc["effect"] if "effect" in res.summary().index else res.summary().iloc[0]
    print(f"EventStudy on {len(df):,} rows, {res.info['cells']} cells: {wall:.1f} s (sampling {res.info['seconds']} "
          f"s), peak RSS {peak} MB; ATT {s['mean']:.4f} [{s['lower']:.4f}, {s['upper']:.4f}]")
    row = {"benchmark": "speed_panel", "tool": "bayescausal EventStudy(leads=4, lags=4, never-treated)",
           "units": a.units, "periods": a.periods, "rows": len(df), "covariates": len(COVARIATES),
           "cohorts": cohorts, "cells": res.info["cells"], "checks": a.checks, "chains": a.chains, "draws": a.draws,
           "wall_s": round(wall, 2), "sampling_s": res.info["seconds"], "rss_before_fit_mb": rss_before,
           "peak_rss_mb": peak, "truth": TRUE_EFFECT, "twfe": round(res.twfe, 5),
           **effect_fields(res.effect.values), "checks_verdicts": {c.name: c.verdict for c in res.checks},
           "peer": None, **stamp()}
    same = a.event_peer_units >= a.units  # the comparison runs on the whole data: reuse the fit above
    if not same:
        del res
    if not a.no_peer:
        sub = df if same else df[df["unit"] < a.event_peer_units].reset_index(drop=True)
        del df
        frame = prepare_panel(sub, "unit", "time", "y", "d", COVARIATES)
        item = est._build(frame, frame.adoption, frame.time >= 0, est.lags, "fit")  # what fit builds
        cells = np.full(len(frame.y), -1, np.int64)
        cells[item.design.keep] = item.design.column[item.design.keep]
        peer_df = pd.DataFrame({"unit": frame.unit, "time": frame.time, "y": frame.y, "cell": cells,
                                **{c: frame.X[:, j] for j, c in enumerate(COVARIATES)}})
        peer = run_peer(peer_df, columns=("unit", "time", "y", "cell", *COVARIATES), flag="--event-peer-worker")
        t0 = time.perf_counter()
        res_sub = res if same else est.fit(sub, "unit", "time", "y", "d", COVARIATES, seed=a.seed, checks=False)
        wall_sub = wall if same else time.perf_counter() - t0
        if peer:  # JSON keys are strings
            coef = np.array([peer["cells"].get(str(k), np.nan) for k in range(item.design.n_columns)])
            peer_att = float(item.design.att_weights() @ coef)
            ours_cells = res_sub.idata.posterior["cell_effects"].values.reshape(-1, item.design.n_columns).mean(0)
            ours_att = float(res_sub.effect.values.mean())
            peer.pop("cells")
            peer.update({"units": a.event_peer_units, "att": round(peer_att, 5),
                         "ours_wall_s": round(wall_sub, 2), "ours_att": round(ours_att, 5),
                         "ours_att_sd": round(float(res_sub.effect.values.std()), 5),
                         "att_difference": round(ours_att - peer_att, 6),
                         "max_abs_cell_difference": round(float(np.nanmax(np.abs(ours_cells - coef))), 5)})
            print(f"peer on {a.event_peer_units:,} units: {peer}")
        row["peer"] = peer
    if a.no_record:
        print(json.dumps(row))
    else:
        append_row(HERE / "results" / "speed_panel.jsonl", row)
    return row


if __name__ == "__main__":
    main()
