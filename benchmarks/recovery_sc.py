"""Recovery benchmark for SyntheticControl: coverage, false positives, bias and width over simulated panels.

Each dataset (``datasets.simulate_synthetic_control``): 365 pre + 60 post daily points, 8 donors from a
linear factor model (common cycle and random-walk trend, three latent factors, AR(1) donor noise), one
treated unit equal to an intercept plus a sparse simplex mix of 3 donors plus AR(1) noise with
coefficient 0.6 (autocorrelated residuals, as real series have). The effect is zero for a quarter of the
datasets and otherwise a relative effect drawn uniformly from +-[1%, 6%] of the pre-period mean.

The fits are batched: ``--batch`` datasets enter one NUTS run of ``sc_model`` as independent targets (the
same program the placebo-in-space check uses), so the posterior of each is exactly its own fit's; only
the sampler's step size is shared. Both residual models (``--errors ar1 iid``) are run on the same data
to choose the default.

With ``--placebo N`` it also runs the placebo-in-space refits of the first N datasets (every donor as a
fake treated unit against the other donors, batched the same way) and reports how often the check
would fail under two pass rules: "every placebo interval contains zero" and the binomial rule of
``checks.placebo.placebo_rate_check`` (before the RMSPE screen, which can only remove placebos).

Usage: python benchmarks/recovery_sc.py [--datasets 100] [--batch 25] [--chains 2] [--draws 500] [--placebo 0]
Writes benchmarks/results/recovery_sc.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import arviz as az
import numpy as np

import bayescausal as bc
from bayescausal.datasets import simulate_synthetic_control
from bayescausal.inference import run_mcmc
from bayescausal.structural_ts.sc_model import posterior_predictive, standardise_targets

N_PRE, N_POST = 365, 60


def make_studies(n: int, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        rel = 0.0 if i % 4 == 0 else rng.uniform(0.01, 0.06) * rng.choice([-1, 1])
        out.append(simulate_synthetic_control(n_pre=N_PRE, n_post=N_POST, n_donors=8, relative_effect=rel,
                                              seed=20_000 + i))
    return out


def fit_batch(studies, errors: str, sampler: bc.Sampler, seed: int):
    est = bc.SyntheticControl(studies[0].pre_period, studies[0].post_period, errors=errors)
    y = np.stack([s.data["treated"].to_numpy(float) for s in studies])  # (B, n)
    X = np.stack([s.data[list(s.donors)].to_numpy(float) for s in studies])  # (B, n, D)
    inputs, c, sc = standardise_targets(y, X, N_PRE)
    draws = run_mcmc(est._model(), sampler, seed, (inputs,), kernel_name="NUTS")
    pred, _ = posterior_predictive(draws.samples, inputs, seed + 1)
    cf = c[:, None] + sc[:, None] * pred  # (chain, draw, B, n)
    eff = (y[None, None, :, N_PRE:] - cf[..., N_PRE:]).mean(-1)  # (chain, draw, B)
    rows = []
    for b, s in enumerate(studies):
        e = eff[:, :, b]
        lo, hi = np.quantile(e, [0.025, 0.975])
        rows.append({"errors": errors, "truth": s.true_average_effect, "mean": float(e.mean()), "lower": float(lo),
                     "upper": float(hi), "rhat": float(az.rhat(e)), "ess": float(az.ess(e, method="bulk"))})
    return rows, draws.wall_seconds, int(draws.sample_stats["diverging"].sum())


def placebo_calibration(studies, sampler: bc.Sampler, per_batch: int, seed: int):
    """Placebo-in-space intervals for each study; returns per-study (placebos, misses) and the fail rates."""
    from bayescausal.checks.placebo import binomial_tail

    counts = []
    for b0 in range(0, len(studies), per_batch):
        chunk = studies[b0 : b0 + per_batch]
        ys, Xs = [], []
        for s in chunk:
            X = s.data[list(s.donors)].to_numpy(float)
            D = X.shape[1]
            others = np.array([[i for i in range(D) if i != j] for j in range(D)])
            ys.append(X.T)
            Xs.append(np.transpose(X[:, others], (1, 0, 2)))
        y, X = np.concatenate(ys), np.concatenate(Xs)
        est = bc.SyntheticControl(chunk[0].pre_period, chunk[0].post_period)
        inputs, c, sc = standardise_targets(y, X, N_PRE)
        draws = run_mcmc(est._model(), sampler, seed + b0, (inputs,), kernel_name="NUTS")
        pred, _ = posterior_predictive(draws.samples, inputs, seed + b0 + 1)
        ystd = (y - c[:, None]) / sc[:, None]
        eff = (ystd[None, None, :, N_PRE:] - pred[..., N_PRE:]).mean(-1)
        lo, hi = np.quantile(eff, [0.025, 0.975], axis=(0, 1))
        miss = (lo > 0) | (hi < 0)
        at = 0
        for s in chunk:
            D = len(s.donors)
            counts.append((D, int(miss[at : at + D].sum())))
            at += D
        print(f"[placebo] {len(counts)}/{len(studies)} datasets", flush=True)
    n_units = sum(d for d, _ in counts)
    return {
        "datasets": len(counts),
        "placebo_intervals": n_units,
        "placebo_miss_rate": round(sum(k for _, k in counts) / n_units, 3),
        "fail_rate_all_contain_zero": round(float(np.mean([k > 0 for _, k in counts])), 3),
        "fail_rate_binomial_rule": round(float(np.mean([binomial_tail(k, d, 0.05) < 0.05 for d, k in counts])), 3),
    }


def summarise(rows):
    truth = np.array([r["truth"] for r in rows])
    mean = np.array([r["mean"] for r in rows])
    lo = np.array([r["lower"] for r in rows])
    hi = np.array([r["upper"] for r in rows])
    covered = (lo <= truth) & (truth <= hi)
    zero = truth == 0
    excludes = (lo > 0) | (hi < 0)
    n = len(rows)
    cov = float(covered.mean())
    return {
        "datasets": n,
        "coverage_95": round(cov, 3),
        "coverage_mc_se": round(float(np.sqrt(cov * (1 - cov) / n)), 3),
        "false_positive_rate": round(float(excludes[zero].mean()), 3),
        "power": round(float(excludes[~zero].mean()), 3),
        "bias": round(float(np.mean(mean - truth)), 3),
        "mae": round(float(np.mean(np.abs(mean - truth))), 3),
        "mean_width": round(float(np.mean(hi - lo)), 3),
        "worst_rhat": round(float(max(r["rhat"] for r in rows)), 3),
        "min_ess": round(float(min(r["ess"] for r in rows)), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=int, default=100)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--errors", nargs="+", default=["ar1", "iid"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--placebo", type=int, default=0, help="placebo-check calibration on the first N datasets")
    ap.add_argument("--placebo-batch", type=int, default=5, help="datasets per placebo NUTS run")
    args = ap.parse_args()
    studies = make_studies(args.datasets, args.seed)
    sampler = bc.Sampler(chains=args.chains, draws=args.draws, warmup=args.warmup)
    out = {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
           "settings": vars(args), "results": {}, "rows": []}
    for errors in args.errors:
        rows, sampling, divergences = [], 0.0, 0
        start = time.perf_counter()
        for b0 in range(0, len(studies), args.batch):
            batch_rows, secs, div = fit_batch(studies[b0 : b0 + args.batch], errors, sampler, args.seed + b0)
            rows += batch_rows
            sampling += secs
            divergences += div
            print(f"[{errors}] {len(rows)}/{len(studies)} datasets, {time.perf_counter() - start:.0f} s", flush=True)
        summary = summarise(rows)
        summary.update(seconds=round(time.perf_counter() - start, 1), sampling_seconds=round(sampling, 1),
                       divergences=divergences)
        out["results"][errors] = summary
        out["rows"] += rows
        print(f"[{errors}] " + ", ".join(f"{k} {v}" for k, v in summary.items()), flush=True)
    if args.placebo:
        start = time.perf_counter()
        cal = placebo_calibration(studies[: args.placebo], sampler, args.placebo_batch, args.seed + 7)
        cal["seconds"] = round(time.perf_counter() - start, 1)
        out["placebo_calibration"] = cal
        print("[placebo] " + ", ".join(f"{k} {v}" for k, v in cal.items()), flush=True)
    path = Path(__file__).parent / "results" / "recovery_sc.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
