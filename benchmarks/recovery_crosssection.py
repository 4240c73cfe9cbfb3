"""Recovery of the AIPW effect on simulated confounded customers, against the naive difference and DoubleML.

Each dataset is ``simulate_confounded_units(rows, seed)`` (nonlinear propensity and outcome surfaces, an effect that
varies with the customer, so the ATE and the ATT differ; both truths known exactly). On every dataset, in the same
run, four estimates of the ATE and the ATT with their 95% intervals:

* ``AIPW`` with linear/logistic nuisance models (both misspecified here) and with the flexible ``spline`` models;
* the naive difference in means (Welch interval), which ignores the confounding;
* DoubleML's IRM (cross-fitted AIPW with gradient-boosted nuisance models, Wald interval), run in ``.venv-bench`` on
  the same CSV files (``peers/crosssection_peers.py``).

Reported per method and estimand: coverage of the 95% intervals (with its Monte Carlo standard error), mean bias,
RMSE and median interval width. Fits use ``checks=False`` (the checks are not what is measured here).

    .venv/bin/python benchmarks/recovery_crosssection.py [--datasets 50] [--rows 2000] [--draws 500] [--no-peer]

Appends one JSON row to ``results/recovery_crosssection.jsonl``.
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
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import append_row, peak_rss_mb, stamp  # noqa: E402

import bayescausal as bc  # noqa: E402
from bayescausal.crosssection.aipw import AIPW  # noqa: E402
from bayescausal.datasets.crosssection import simulate_confounded_units  # noqa: E402

PEER_PYTHON = HERE.parent / ".venv-bench" / "bin" / "python"
COVS = ["age", "income", "region", "visits"]
VARIANTS = {"aipw_linear": dict(outcome_model="linear", propensity_model="logistic"),
            "aipw_spline": dict(outcome_model="spline", propensity_model="spline")}


def naive(df: pd.DataFrame, estimand: str) -> dict:
    """Difference in means with a Welch 95% interval (the same number for both estimands)."""
    y1, y0 = df.loc[df.offer == 1, "spend"], df.loc[df.offer == 0, "spend"]
    d = float(y1.mean() - y0.mean())
    se = float(np.sqrt(y1.var() / len(y1) + y0.var() / len(y0)))
    return {"estimate": d, "lower": d - 1.96 * se, "upper": d + 1.96 * se}


def run_peer(paths: list[Path]) -> list[dict] | None:
    if not PEER_PYTHON.exists():
        print(f"peer skipped: {PEER_PYTHON} not found")
        return None
    out = subprocess.run([str(PEER_PYTHON), str(HERE / "peers" / "crosssection_peers.py"), "recovery",
                          *map(str, paths)], capture_output=True, text=True, check=False)
    if out.returncode:
        print(f"peer failed:\n{out.stderr[-2000:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def aggregate(rows: list[dict]) -> dict:
    r = pd.DataFrame(rows)
    out = {}
    for (method, estimand), g in r.groupby(["method", "estimand"]):
        err = g["estimate"] - g["truth"]
        cover = ((g["lower"] <= g["truth"]) & (g["truth"] <= g["upper"])).mean()
        out[f"{method} {estimand}"] = {
            "coverage": round(float(cover), 3),
            "coverage_mc_se": round(float(np.sqrt(cover * (1 - cover) / len(g))), 3),
            "bias": round(float(err.mean()), 4), "bias_mc_se": round(float(err.std(ddof=1) / np.sqrt(len(g))), 4),
            "rmse": round(float(np.sqrt((err**2).mean())), 4),
            "median_width": round(float((g["upper"] - g["lower"]).median()), 4), "datasets": int(len(g))}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", type=int, default=50)
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--variants", default=",".join(VARIANTS))
    a = p.parse_args(argv)
    sampler = bc.Sampler(chains=a.chains, draws=a.draws, warmup=a.draws, progress=False)
    variants = {k: VARIANTS[k] for k in a.variants.split(",")}
    rows, seconds = [], {k: 0.0 for k in variants}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(a.datasets):
            study = simulate_confounded_units(a.rows, seed=a.seed + i)
            df = study.data
            truth = {"ATE": study.true_ate, "ATT": study.true_att}
            path = Path(tmp) / f"units_{i:03d}.csv"
            df.to_csv(path, index=False)
            paths.append(path)
            for estimand in ("ATE", "ATT"):
                rows.append({"dataset": i, "method": "naive", "estimand": estimand, "truth": truth[estimand],
                             **naive(df, estimand)})
                for name, kw in variants.items():
                    t0 = time.perf_counter()
                    res = AIPW(estimand=estimand, **kw).fit(df, "offer", "spend", COVS, sampler=sampler,
                                                            seed=a.seed + i, checks=False)
                    seconds[name] += time.perf_counter() - t0
                    s = res.summary().loc["effect"]
                    rows.append({"dataset": i, "method": name, "estimand": estimand, "truth": truth[estimand],
                                 "estimate": float(s["mean"]), "lower": float(s["lower"]),
                                 "upper": float(s["upper"])})
            print(f"dataset {i + 1}/{a.datasets} done ({time.perf_counter() - start:.0f} s)", flush=True)
        peer = None if a.no_peer else run_peer(paths)
    peer_meta = None
    if peer:
        for i, pr in enumerate(peer["rows"]):
            study_truth = {"ATE": [r for r in rows if r["dataset"] == i and r["estimand"] == "ATE"][0]["truth"],
                           "ATT": [r for r in rows if r["dataset"] == i and r["estimand"] == "ATT"][0]["truth"]}
            for estimand in ("ATE", "ATT"):
                q = pr[estimand]
                rows.append({"dataset": i, "method": "doubleml_irm", "estimand": estimand,
                             "truth": study_truth[estimand], "estimate": q["estimate"], "lower": q["lower"],
                             "upper": q["upper"]})
        peer_meta = {"peer": peer["peer"], "versions": peer["versions"], "peak_rss_mb": peer["peak_rss_mb"],
                     "seconds": round(sum(r["ATE"]["seconds"] + r["ATT"]["seconds"] for r in peer["rows"]), 1)}
    summary = aggregate(rows)
    for k, v in summary.items():
        print(k, v)
    append_row(HERE / "results" / "recovery_crosssection.jsonl", {
        "benchmark": "recovery_crosssection", "datasets": a.datasets, "rows": a.rows, "chains": a.chains,
        "draws": a.draws, "results": summary, "aipw_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "peer": peer_meta, "total_seconds": round(time.perf_counter() - start, 1), "peak_rss_mb": peak_rss_mb(),
        **stamp()})
    return summary


if __name__ == "__main__":
    main()
