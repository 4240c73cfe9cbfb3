"""Recovery benchmark for CausalImpact: coverage, false positives, bias and width over simulated series.

Each series: 365 pre + 60 post daily points, weekly seasonality, a slow yearly cycle and drift in the
controls, 5 control regions (3 of them drive the treated region), and a known effect: zero for a
quarter of the series, otherwise a relative effect drawn uniformly from +-[2%, 10%] of pre-period
sales. All series are fitted by the same Gibbs program, batched (series x chains) with
``run_kernel_batch`` — the way a platform team would fit many geos at once.

Usage: python benchmarks/recovery_bsts.py [--series 200] [--chains 2] [--draws 1000] [--batch 50]
Writes benchmarks/results/recovery_bsts.json.
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
from bayescausal.datasets import simulate_regional_sales
from bayescausal.inference import run_kernel_batch
from bayescausal.structural_ts._inputs import make_inputs, standardise
from bayescausal.structural_ts.components import Seasonal
from bayescausal.structural_ts.estimator import _KERNEL, GIBBS_WARMUP
from bayescausal.structural_ts.gibbs import batch_axes, stack_datasets


def make_studies(n_series: int, seed: int):
    rng = np.random.default_rng(seed)
    studies = []
    for i in range(n_series):
        if i % 4 == 0:
            rel = 0.0
        else:
            rel = rng.uniform(0.02, 0.10) * rng.choice([-1, 1])
        studies.append(simulate_regional_sales(relative_effect=rel, seed=10_000 + i))
    return studies


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seasonal-weight", type=float, default=None,
                    help="prior sample size of the seasonal sd (default: BSTSPriors' own)")
    ap.add_argument("--level-guess", type=float, default=None,
                    help="prior guess of the level innovation sd in outcome sds (default: CausalImpact's 0.01)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "recovery_bsts.json"))
    args = ap.parse_args()
    studies = make_studies(args.series, args.seed)
    overrides = {}
    if args.seasonal_weight is not None:
        overrides["seasonal"] = bc.sd_prior(0.01, args.seasonal_weight)
    if args.level_guess is not None:
        overrides["level"] = bc.sd_prior(args.level_guess, 32.0)
    priors = bc.BSTSPriors.from_overrides(overrides)
    axes = batch_axes(False)
    rows = []
    start = time.perf_counter()
    for b0 in range(0, len(studies), args.batch):
        chunk = studies[b0 : b0 + args.batch]
        datasets, scales = [], []
        for s in chunk:
            y = s.data[s.outcome].to_numpy(float)
            X = s.data[list(s.controls)].to_numpy(float)
            pre = np.arange(len(y)) < len(y) - len(s.true_effect)
            ys, Xs, ym, ysd, *_ = standardise(y, X, pre)
            inputs, _ = make_inputs(ys, Xs, pre, "level", (Seasonal(7),), False, priors)
            datasets += [inputs] * args.chains
            scales.append((y, pre, ym, ysd))
        draws, _ = run_kernel_batch(_KERNEL, stack_datasets(datasets, axes), args.seed + b0, GIBBS_WARMUP,
                                    args.draws, batch_axes=axes)
        for j, (s, (y, pre, ym, ysd)) in enumerate(zip(chunk, scales, strict=True)):
            pred = draws["y_pred"][j * args.chains : (j + 1) * args.chains] * ysd + ym  # (chain, draw, n)
            eff = (y[~pre][None, None] - pred[:, :, ~pre]).mean(-1)
            lo, hi = np.quantile(eff, [0.025, 0.975])
            rows.append({"truth": s.true_average_effect, "mean": float(eff.mean()), "lower": float(lo),
                         "upper": float(hi), "rhat": float(az.rhat(eff)), "ess": float(az.ess(eff))})
        print(f"{len(rows)}/{len(studies)} series, {time.perf_counter() - start:.0f} s", flush=True)
    elapsed = time.perf_counter() - start
    truth = np.array([r["truth"] for r in rows])
    lo = np.array([r["lower"] for r in rows])
    hi = np.array([r["upper"] for r in rows])
    mean = np.array([r["mean"] for r in rows])
    covered = (lo <= truth) & (truth <= hi)
    zero = truth == 0
    n = len(rows)
    cov = covered.mean()
    summary = {
        "series": n,
        "chains": args.chains,
        "draws": args.draws,
        "warmup": GIBBS_WARMUP,
        "coverage_95": float(cov),
        "coverage_mc_se": float(np.sqrt(cov * (1 - cov) / n)),
        "false_positive_rate_at_zero": float(np.mean((lo[zero] > 0) | (hi[zero] < 0))),
        "n_zero_effect": int(zero.sum()),
        "power_nonzero": float(np.mean((lo[~zero] > 0) | (hi[~zero] < 0))),
        "bias": float(np.mean(mean - truth)),
        "mean_abs_error": float(np.mean(np.abs(mean - truth))),
        "mean_interval_width": float(np.mean(hi - lo)),
        "max_rhat": float(max(r["rhat"] for r in rows)),
        "min_ess": float(min(r["ess"] for r in rows)),
        "seasonal_prior": {"guess": 0.01, "sample_size": float(2 * priors.seasonal.concentration)},
        "level_prior_guess": float((2 * priors.level.rate / (2 * priors.level.concentration)) ** 0.5),
        "seconds_total": round(elapsed, 1),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, {platform.python_version()}",
    }
    out = Path(args.out)
    out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
