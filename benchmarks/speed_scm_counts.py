"""An SCM with a count node driven by a binary and a continuous parent (issue 21), fitted as a new user would.

A churn-style graph of five nodes: product usage (hours a week, continuous) and a billing problem (binary) are
roots; support tickets are a count caused by both; churn (binary) is caused by all three; lifetime value (LTV,
continuous) by churn and usage. 20,000 rows. Two variants of the tickets' law given their parents:

* ``poisson``: Poisson with a log-linear mean. The parents move the mean, so the *marginal* variance is about
  2.6 times the mean; the old rule (marginal variance/mean above 1.5) chose a negative binomial whose
  overdispersion had nothing to explain, and its sampler stalled (more than ten minutes).
* ``negbin``: negative binomial with concentration 1.5 around the same mean (truly overdispersed given the
  parents): the negative binomial should be chosen.

Each run is ``bc.SCM(GRAPH).fit(df, seed=seed)`` with the default sampler and every check, then
``rank_levers("churn", ...)`` with every check (placebo refits included). The levers' true effects on churn come
from the simulator's structural equations, with the tickets' law summed exactly (pmf truncated where the
remaining mass is below 1e-12) over the rows' own usage and billing values, so each interval can be scored.

Run: ``python benchmarks/speed_scm_counts.py [--rows 20000] [--seeds 0 1 2] [--variants poisson negbin]``.
One JSON row per (variant, seed) is appended to ``benchmarks/results/speed_scm_counts.jsonl``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import bayescausal as bc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_row, peak_rss_mb, stamp  # noqa: E402

GRAPH = ("usage -> support_tickets; billing_issues -> support_tickets; billing_issues -> churn; "
         "support_tickets -> churn; usage -> churn; churn -> ltv; usage -> ltv")
LEVERS = {"billing_issues": (1, 0), "support_tickets": (3, 0), "usage": {"shift": 5.0}}
CONCENTRATION = 1.5  # the negbin variant's tickets: variance mu + mu^2 / 1.5
HERE = Path(__file__).resolve().parent
_K = np.arange(0, 200)  # ticket counts summed over for the truths (mass beyond is far below 1e-12 here)


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def tickets_mean(billing, usage):
    return np.exp(np.log(0.35) + np.log(6.0) * billing - 0.06 * (usage - 10.0))


def churn_logit(billing, tickets, usage):
    return -2.0 + 0.45 * billing + 0.12 * tickets - 0.13 * (usage - 10.0)


def simulate(n: int, variant: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    usage = 10.0 * np.exp(0.4 * rng.normal(size=n) - 0.08)  # lognormal, mean 10 h a week
    billing = (rng.uniform(size=n) < 0.15).astype(int)
    mu = tickets_mean(billing, usage)
    rate = mu if variant == "poisson" else rng.gamma(CONCENTRATION, mu / CONCENTRATION)
    tickets = rng.poisson(rate)
    churn = (rng.uniform(size=n) < _sigmoid(churn_logit(billing, tickets, usage))).astype(int)
    ltv = 1500.0 - 900.0 * churn + 30.0 * (usage - 10.0) + rng.normal(0.0, 120.0, n)
    return pd.DataFrame({"usage": usage, "billing_issues": billing, "support_tickets": tickets, "churn": churn,
                         "ltv": ltv})


def _pmf(mu, variant: str) -> np.ndarray:
    """(rows, counts) probabilities of the tickets given their parents' values."""
    mu = np.asarray(mu, float)[:, None]
    if variant == "poisson":
        return stats.poisson.pmf(_K[None, :], mu)
    return stats.nbinom.pmf(_K[None, :], CONCENTRATION, CONCENTRATION / (CONCENTRATION + mu))


def _churn_given(billing, usage, variant: str) -> np.ndarray:
    """E[churn | do(billing, usage)] per row, the tickets summed over their law given those values."""
    p = _pmf(tickets_mean(billing, usage), variant)
    return np.sum(p * _sigmoid(churn_logit(np.asarray(billing)[:, None], _K[None, :], np.asarray(usage)[:, None])),
                  axis=1)


def truths(df: pd.DataFrame, variant: str) -> dict[str, float]:
    """Each lever's effect on P(churn) ("to" minus "from", or shifted minus natural), averaged over the rows."""
    u, b = df["usage"].to_numpy(float), df["billing_issues"].to_numpy(float)
    ones = np.ones_like(b)
    natural = _churn_given(b, u, variant)
    return {"billing_issues": float(np.mean(_churn_given(0 * ones, u, variant) - _churn_given(ones, u, variant))),
            "support_tickets": float(np.mean(_sigmoid(churn_logit(b, 0.0, u)) - _sigmoid(churn_logit(b, 3.0, u)))),
            "usage": float(np.mean(_churn_given(b, u + 5.0, variant) - natural))}


def run(rows: int, variant: str, seed: int) -> dict:
    df = simulate(rows, variant, seed)
    truth = truths(df, variant)
    t0 = time.perf_counter()
    fitted = bc.SCM(GRAPH).fit(df, seed=seed)
    t_fit = time.perf_counter() - t0
    t = time.perf_counter()
    ranking = fitted.rank_levers("churn", LEVERS, goal="decrease")
    t_rank = time.perf_counter() - t
    table = ranking.table()
    levers = []
    for lever in LEVERS:
        row = table.loc[lever]
        levers.append({"lever": lever, "truth": round(truth[lever], 5), "mean": round(float(row["mean"]), 5),
                       "lower": round(float(row["lower"]), 5), "upper": round(float(row["upper"]), 5),
                       "covers": bool(row["lower"] <= truth[lever] <= row["upper"])})
    tickets = fitted.data.layout("support_tickets")
    marginal = df["support_tickets"]
    return {"benchmark": "speed_scm_counts", "variant": variant, "rows": rows, "seed": seed,
            "sampler": "default (4 chains x 1000 draws, 1000 warm-up)",
            "marginal_var_over_mean": round(float(marginal.var() / marginal.mean()), 3),
            "tickets_family": tickets.family, "tickets_why": fitted.data.choices["support_tickets"],
            "fit_seconds": round(t_fit, 2), "node_seconds": fitted.info["node_seconds"],
            "rank_levers_seconds": round(t_rank, 2), "total_seconds": round(t_fit + t_rank, 2),
            "fit_checks": {c.name: c.verdict for c in fitted.checks},
            "all_checks_passed": bool(ranking.trustworthy),
            "failed_checks": {c.name: c.message for c in ranking.checks if c.passed is not True},
            "levers": levers, "peak_rss_mb": peak_rss_mb(), **stamp()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--variants", nargs="+", default=["poisson", "negbin"], choices=["poisson", "negbin"])
    args = ap.parse_args()
    for variant in args.variants:
        for seed in args.seeds:
            row = run(args.rows, variant, seed)
            append_row(HERE / "results" / "speed_scm_counts.jsonl", row)


if __name__ == "__main__":
    main()
