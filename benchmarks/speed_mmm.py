"""Speed and memory of the marketing mix model against PyMC-Marketing (NumPyro's NUTS) on the same data.

Data: ``simulate_mmm(n_weeks=104, n_channels=4, seed=0)`` written to a CSV that both sides read (two years of
weekly sales, four channels, one control). The same model on both sides: geometric adstock over 8 weeks
(normalised weights), logistic saturation, yearly Fourier seasonality of order 2, a linear trend (PyMC-Marketing
has none built in, so it gets the trend as a control column ``t``), the price control, Gaussian noise; the
same chains, warm-up and draws; NumPyro's NUTS in parallel chains over the 2 cores on both sides
(``nuts_sampler="numpyro"`` for PyMC-Marketing). Each side runs in a fresh process with no persistent
compilation cache, so compile time is counted as a new user would see it. Reported: wall time of ``fit``,
peak resident memory of the process, the minimum bulk ESS of the channels' coefficients, and the ratio.
Ours is timed twice: ``checks=False`` (the same work as the peer) and ``checks="full"`` (plus the time-slice
and placebo-channel refits the peer does not do).

    .venv/bin/python benchmarks/speed_mmm.py [--chains 4] [--draws 1000] [--warmup 1000]

needs ``.venv-bench`` with benchmarks/requirements-peers-mmm.txt for the peer. Rows are appended to
``results/speed_mmm.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CSV = HERE / "results" / "speed_mmm_data.csv"
CHANNELS = ["tv_spend", "search_spend", "social_spend", "display_spend"]


def rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def ours(args) -> dict:
    sys.path.insert(0, str(HERE))
    import arviz as az
    import pandas as pd

    import bayescausal as bc

    df = pd.read_csv(CSV, parse_dates=["date"])
    sampler = bc.Sampler(chains=args.chains, draws=args.draws, warmup=args.warmup, progress=False)
    est = bc.MMM(CHANNELS, adstock="geometric", saturation="logistic", seasonality=2, trend="linear", l_max=8)
    t0 = time.perf_counter()
    res = est.fit(df, "date", "sales", controls=["price"], sampler=sampler, seed=0, checks=args.checks)
    sec = time.perf_counter() - t0
    ess = float(min(az.ess(res.idata.posterior["coef"].sel(channel=c).values) for c in CHANNELS))
    return {"side": "bayescausal", "checks": str(args.checks), "seconds": round(sec, 2), "peak_rss_mb": rss_mb(),
            "min_ess_coef": round(ess, 1), "roas_mean": res.effect.mean(("chain", "draw")).values.round(3).tolist()}


def peer(args) -> dict:
    import arviz as az
    import pandas as pd
    from pymc_marketing.mmm import MMM, GeometricAdstock, LogisticSaturation

    df = pd.read_csv(CSV, parse_dates=["date"])
    df["t"] = (df["date"] - df["date"].min()).dt.days / 7.0
    mmm = MMM(date_column="date", channel_columns=CHANNELS, control_columns=["price", "t"],
              adstock=GeometricAdstock(l_max=8), saturation=LogisticSaturation(), yearly_seasonality=2)
    X, y = df.drop(columns=["sales"]), df["sales"]
    t0 = time.perf_counter()
    mmm.fit(X, y, chains=args.chains, draws=args.draws, tune=args.warmup, nuts_sampler="numpyro",
            random_seed=0, progressbar=False)
    sec = time.perf_counter() - t0
    beta = mmm.idata.posterior["saturation_beta"]
    ess = float(min(az.ess(beta.isel(channel=j).values) for j in range(len(CHANNELS))))
    import pymc_marketing

    return {"side": f"pymc-marketing {pymc_marketing.__version__} (nuts_sampler='numpyro')", "checks": "none",
            "seconds": round(sec, 2), "peak_rss_mb": rss_mb(), "min_ess_coef": round(ess, 1)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--role", default="driver", choices=["driver", "ours", "peer"])
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--checks", default="False")
    args = p.parse_args()
    if args.role != "driver":
        if args.checks == "False":
            args.checks = False
        print("ROW " + json.dumps(ours(args) if args.role == "ours" else peer(args)), flush=True)
        return
    sys.path.insert(0, str(ROOT))
    from bayescausal.datasets.mmm import simulate_mmm

    CSV.parent.mkdir(exist_ok=True)
    simulate_mmm(n_weeks=104, n_channels=4, seed=0).data.to_csv(CSV, index=False)
    env = {**os.environ, "BAYESCAUSAL_COMPILATION_CACHE": "0", "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    common = ["--chains", str(args.chains), "--draws", str(args.draws), "--warmup", str(args.warmup)]
    runs = [([sys.executable, __file__, "--role", "ours", "--checks", "False"]),
            ([sys.executable, __file__, "--role", "ours", "--checks", "full"])]
    bench_py = ROOT / ".venv-bench" / "bin" / "python"
    if bench_py.exists():
        runs.append([str(bench_py), __file__, "--role", "peer"])
    rows = []
    load = os.getloadavg()[0]
    for cmd in runs:
        out = subprocess.run(cmd + common, capture_output=True, text=True, env=env, cwd=ROOT)
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("ROW ")]
        if not line:
            print(out.stdout[-3000:], out.stderr[-3000:])
            continue
        row = json.loads(line[0][4:])
        row.update(chains=args.chains, draws=args.draws, warmup=args.warmup, load_before=round(load, 2),
                   load_after=round(os.getloadavg()[0], 2), weeks=104, channels=4)
        rows.append(row)
        load = os.getloadavg()[0]
        print(json.dumps(row), flush=True)
    ours_fast = next((r for r in rows if r["side"] == "bayescausal" and r["checks"] == "False"), None)
    peer_row = next((r for r in rows if r["side"].startswith("pymc")), None)
    with (HERE / "results" / "speed_mmm.jsonl").open("a") as fh:
        for r in rows:
            if ours_fast and peer_row:
                r["speed_ratio_peer_over_ours_no_checks"] = round(peer_row["seconds"] / ours_fast["seconds"], 2)
            fh.write(json.dumps(r) + "\n")
    if ours_fast and peer_row:
        print(f"speed ratio (PyMC-Marketing / ours, same work): {peer_row['seconds'] / ours_fast['seconds']:.2f}x")


if __name__ == "__main__":
    main()
