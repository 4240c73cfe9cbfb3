"""Speed and memory of CEM on a large unit table: 10M rows x 10 covariates by default.

The table is simulated in chunks of 1M rows (so the simulation itself never holds more than the final columns and
one chunk): 8 numeric covariates (normal, skewed log-normal, Poisson counts), 2 categorical ones (4 and 3 levels), a
treatment whose log-odds depend on 6 of them, and an outcome with a constant effect of 2.0 (so ATT = ATE = 2)
plus a nonlinear surface in the covariates. Timed separately: coarsening, strata, CEM weights and L1
(``coarsen_match_s``), the outcome's per-stratum sufficient statistics
(``aggregate_outcome_s``), the Bayesian fit from them (``model_fit_s``: compilation, sampling, the estimand's draws),
the fast checks with balance and the predictive (``checks_s``), and the rest (validation, result; ``other_s``).
Peak RSS is the process's high-water mark (the data frame included).
One JSON row is appended to ``results/speed_cem.jsonl``.

    .venv/bin/python benchmarks/speed_cem.py [--rows 10000000] [--checks fast|full|none] [--chains 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

START = time.perf_counter()
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import append_row, effect_fields, peak_rss_mb, stamp  # noqa: E402

import bayescausal as bc  # noqa: E402
from bayescausal.crosssection.cem import CEM  # noqa: E402

EFFECT = 2.0
CHUNK = 1_000_000
NUMERIC = [f"x{j}" for j in range(8)]
CATEGORICAL = {"segment": ("a", "b", "c", "d"), "channel": ("web", "store", "phone")}


def simulate(n: int, seed: int) -> pd.DataFrame:
    """The benchmark table, filled chunk by chunk into preallocated columns."""
    cols = {c: np.empty(n) for c in NUMERIC}
    cats = {c: np.empty(n, dtype=np.int8) for c in CATEGORICAL}
    t = np.empty(n, dtype=np.int8)
    y = np.empty(n)
    for k, lo in enumerate(range(0, n, CHUNK)):
        hi = min(n, lo + CHUNK)
        m = hi - lo
        rng = np.random.default_rng([seed, k])
        z = rng.normal(size=(m, 8))
        x = np.column_stack([z[:, 0], z[:, 1] + 0.5 * z[:, 0], np.exp(0.5 * z[:, 2]), rng.poisson(3.0, m),
                             z[:, 4], z[:, 5], np.exp(0.3 * z[:, 6]), rng.poisson(1.0, m)])
        seg = rng.integers(0, 4, m)
        ch = rng.integers(0, 3, m)
        logit = (-0.8 + 0.5 * x[:, 0] + 0.4 * x[:, 1] + 0.3 * np.log(x[:, 2]) + 0.15 * (x[:, 3] - 3) - 0.3 * x[:, 4]
                 + 0.2 * (seg == 1) - 0.3 * (ch == 2))
        treat = rng.random(m) < 1.0 / (1.0 + np.exp(-logit))
        base = (10 + 2 * x[:, 0] + 1.5 * x[:, 1] + np.log(x[:, 2]) + 0.5 * x[:, 3] - x[:, 4] + 0.5 * x[:, 0] * x[:, 1]
                + 0.8 * seg - 0.5 * ch)
        for j, c in enumerate(NUMERIC):
            cols[c][lo:hi] = x[:, j]
        cats["segment"][lo:hi] = seg
        cats["channel"][lo:hi] = ch
        t[lo:hi] = treat
        y[lo:hi] = base + EFFECT * treat + rng.normal(0, 3.0, m)
    frame = {**cols, **{c: pd.Categorical.from_codes(cats[c], categories=list(CATEGORICAL[c]))
                        for c in CATEGORICAL}, "treated": t, "outcome": y}
    return pd.DataFrame(frame)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--checks", choices=["none", "fast", "full"], default="fast")
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-record", action="store_true", help="print the row without appending it")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    df = simulate(a.rows, a.seed)
    sim_s = time.perf_counter() - t0
    rss_data = peak_rss_mb()
    sampler = bc.Sampler(chains=a.chains, draws=a.draws, warmup=a.warmup, progress=False)
    checks = False if a.checks == "none" else a.checks
    t0 = time.perf_counter()
    res = CEM().fit(df, "treated", "outcome", NUMERIC + list(CATEGORICAL), sampler=sampler, seed=a.seed, checks=checks)
    wall = time.perf_counter() - t0
    fields = effect_fields(res.effect.values)
    row = {"benchmark": "speed_cem", "tool": "bayescausal CEM", "rows": a.rows,
           "covariates": len(NUMERIC) + len(CATEGORICAL), "true_effect": EFFECT, "checks": a.checks,
           "chains": a.chains, "draws": a.draws, "warmup": a.warmup, "chain_method": res.info["sampler"],
           "strata": res.info["strata"], "kept_strata": res.info["kept strata"],
           "matched_treated_share": round(res.matched_share, 4), "simulate_s": round(sim_s, 2),
           "fit_wall_s": round(wall, 2), "coarsen_match_s": res.info["seconds_matching"],
           "aggregate_outcome_s": res.info["seconds_aggregation"], "model_fit_s": res.info["seconds"],
           "checks_s": res.info["seconds_checks"],
           "other_s": round(wall - res.info["seconds_matching"] - res.info["seconds_aggregation"]
                            - res.info["seconds"] - res.info["seconds_checks"], 2),
           **fields, "l1_before": round(float(res.imbalance["L1"].iloc[0]), 4),
           "l1_after": round(float(res.imbalance["L1"].iloc[1]), 4),
           "checks_verdicts": {c.name: c.verdict for c in res.checks}, "peak_rss_after_data_mb": rss_data,
           "peak_rss_mb": peak_rss_mb(), "process_wall_s": round(time.perf_counter() - START, 2), **stamp()}
    if a.no_record:
        print(row)
    else:
        append_row(HERE / "results" / "speed_cem.jsonl", row)
    return row


if __name__ == "__main__":
    main()
