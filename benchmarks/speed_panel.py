"""Speed and memory of PanelFE at scale, next to pyfixest's ``feols`` on the same data in the same run.

Data: ``--units`` units x ``--periods`` periods (default 1,000,000 x 20 = 20M rows) with 5 covariates, unit and
period effects, staggered adoption of a 0/1 treatment by half the units, true effect 0.5 (simulated in NumPy;
seed 0). Our fits: ``PanelFE("fixed", "fixed")`` and ``PanelFE("hierarchical", "fixed")`` (``--models``), each
the whole ``fit`` (validation, reduction to sufficient statistics, NUTS on the scales, exact coefficient draws;
checks per ``--checks``, default none). The peer: pyfixest ``feols("y ~ d + x1 + ... + x5 | unit + time")`` in
``.venv-bench`` (a subprocess reading the same arrays from .npy files; its own wall time and peak memory). The
two point estimates are compared. Memory: the process's peak resident memory after each fit, and its resident
memory before the fit (the simulated frame's share). One JSON row per model is appended to
``results/speed_panel.jsonl``.

    .venv/bin/python benchmarks/speed_panel.py [--units 1000000] [--periods 20] [--models fixed,hierarchical]
        [--checks none|fast|full] [--chains 4] [--draws 1000] [--no-peer] [--no-record]
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


def simulate(units: int, periods: int, seed: int = 0):
    """The benchmark panel as a DataFrame (columns unit, time, y, d, x1..x5), built column by column."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = units * periods
    unit = np.repeat(np.arange(units, dtype=np.int64), periods)
    time_ = np.tile(np.arange(periods, dtype=np.int64), units)
    a = rng.standard_normal(units)
    g = 0.3 * np.sin(np.arange(periods))
    adopt = np.where(rng.random(units) < 0.5, rng.integers(periods // 4, periods, units), -1)
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


def run_peer(df) -> dict | None:
    import numpy as np

    if not PEER_PYTHON.exists():
        print(f"peer skipped: {PEER_PYTHON} not found")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        for name in ["unit", "time", "y", "d", *COVARIATES]:
            np.save(Path(tmp) / f"{name}.npy", df[name].to_numpy())
        out = subprocess.run([str(PEER_PYTHON), str(Path(__file__).resolve()), "--peer-worker", tmp],
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
    p.add_argument("--peer-worker", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.peer_worker:
        peer_worker(a.peer_worker)
        return []
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
    for model in a.models.split(","):
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
    return rows


if __name__ == "__main__":
    main()
