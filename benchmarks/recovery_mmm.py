"""Recovery of the marketing mix model over simulated datasets with known ROAS and contributions.

Each dataset: ``simulate_mmm(n_weeks=104, n_channels=4, seed=SEED0 + i)`` (geometric adstock, logistic
saturation, linear trend, yearly seasonality, one control; media about 30% of sales; ROAS between about 0.2 and
5). Each is fitted by ``MMM(channels)`` with every check (so the placebo channel runs: a random spend series
with no effect, whose 95% ROAS interval must cover zero). Reported over datasets: coverage of the true ROAS
by the 95% intervals (per channel), pointwise coverage of the true weekly contributions, the mean absolute
relative error of the ROAS posterior mean, the placebo channel's false-positive rate, and how often each
check passed. One JSON line per dataset goes to ``results/recovery_mmm.jsonl`` as it finishes (so a run cut
short still counts), the summary to ``results/recovery_mmm.json``.

    .venv/bin/python benchmarks/recovery_mmm.py [--datasets 100] [--chains 2] [--draws 1000] [--warmup 500]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from _common import peak_rss_mb, stamp  # noqa: E402

import bayescausal as bc  # noqa: E402
from bayescausal.datasets.mmm import simulate_mmm  # noqa: E402

SEED0 = 1000


def one(i: int, sampler) -> dict:
    study = simulate_mmm(n_weeks=104, n_channels=4, seed=SEED0 + i)
    t0 = time.perf_counter()
    res = bc.MMM(study.channels).fit(study.data, "date", "sales", controls=["price"], sampler=sampler, seed=i)
    sec = time.perf_counter() - t0
    roas = res.effect.values.reshape(-1, len(study.channels))
    lo, hi = np.quantile(roas, [0.025, 0.975], axis=0)
    truth = study.roas.to_numpy()
    contrib = res.contributions.sel(component=list(study.channels)).values  # (chain, draw, 1, T, C)
    contrib = contrib.reshape((-1,) + contrib.shape[3:])
    clo, chi = np.quantile(contrib, [0.025, 0.975], axis=0)
    ctrue = study.contributions.to_numpy()
    checks = {c.name: c.passed for c in res.checks}
    return {"dataset": i, "seconds": round(sec, 2), "true_roas": truth.round(4).tolist(),
            "mean_roas": roas.mean(axis=0).round(4).tolist(), "lower": lo.round(4).tolist(),
            "upper": hi.round(4).tolist(), "covered": ((truth >= lo) & (truth <= hi)).tolist(),
            "rel_error": (np.abs(roas.mean(axis=0) - truth) / truth).round(4).tolist(),
            "contribution_coverage": round(float(np.mean((ctrue >= clo) & (ctrue <= chi))), 4),
            "contribution_rel_error": round(float(np.abs(contrib.mean(axis=0) - ctrue).sum() / ctrue.sum()), 4),
            "placebo_lower": float(res.placebo["lower"].iloc[0]), "placebo_upper": float(res.placebo["upper"].iloc[0]),
            "checks": checks}


def summarise(rows: list[dict], args) -> dict:
    cov = np.array([r["covered"] for r in rows], float)
    err = np.array([r["rel_error"] for r in rows], float)
    fp = np.array([(r["placebo_lower"] > 0) or (r["placebo_upper"] < 0) for r in rows], float)
    n = len(rows)
    checks = {k: float(np.mean([r["checks"].get(k) is True for r in rows])) for k in rows[0]["checks"]}
    return {"benchmark": "recovery_mmm", "datasets": n, "chains": args.chains, "draws": args.draws,
            "warmup": args.warmup,
            "roas_coverage": round(float(cov.mean()), 4),
            "roas_coverage_mc_se": round(float(np.sqrt(cov.mean() * (1 - cov.mean()) / cov.size)), 4),
            "roas_coverage_by_channel": cov.mean(axis=0).round(3).tolist(),
            "roas_mean_abs_rel_error": round(float(err.mean()), 4),
            "roas_median_abs_rel_error": round(float(np.median(err)), 4),
            "contribution_pointwise_coverage": round(float(np.mean([r["contribution_coverage"] for r in rows])), 4),
            "contribution_rel_error": round(float(np.mean([r["contribution_rel_error"] for r in rows])), 4),
            "placebo_false_positive_rate": round(float(fp.mean()), 4),
            "placebo_fp_mc_se": round(float(np.sqrt(max(fp.mean() * (1 - fp.mean()), 1e-12) / n)), 4),
            "check_pass_rates": checks, "seconds_per_fit_median": float(np.median([r["seconds"] for r in rows])),
            "peak_rss_mb": peak_rss_mb(), **stamp()}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", type=int, default=100)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--out", default=str(HERE / "results" / "recovery_mmm.json"))
    args = p.parse_args()
    sampler = bc.Sampler(chains=args.chains, draws=args.draws, warmup=args.warmup, progress=False)
    lines = Path(args.out).with_suffix(".jsonl")
    lines.parent.mkdir(exist_ok=True)
    lines.write_text("")
    rows = []
    for i in range(args.datasets):
        row = one(i, sampler)
        rows.append(row)
        with lines.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(json.dumps({k: row[k] for k in ("dataset", "seconds", "covered", "contribution_coverage")}), flush=True)
    summary = summarise(rows, args)
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
