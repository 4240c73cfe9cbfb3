"""Do CausalImpact's checks catch wrong answers? (issue 22, check power)

Well specified: the recovery benchmark's generator (``datasets.simulate_regional_sales``: 365 pre + 60 post
daily points, weekly seasonality, 5 controls of which 3 drive the treated region, a known effect that is zero
for a quarter of the series, else uniform in +-[2%, 10%] of pre-period sales).

Misspecified (the data can reveal it), two scenarios on the same generator, each with a break date drawn uniformly
60 to 150 days before the intervention; what changes at the break continues through the post-period and is part
of the counterfactual (the true effect is unchanged):

* ``misspecified`` (trend break): the treated region gains a linear trend that no control shares, of a slope
  drawn uniformly in ``--slope`` (default 0.03% to 0.12% of its pre-period mean per day). The default local-level
  model forecasts a flat level from the end of the pre-period, so its counterfactual falls behind the trend.
* ``misspecified (relation change)``: the treated region's relation to one control (drawn at random) changes:
  from the break on it gains ``c * mean * (x_t / xbar - 1)``, with ``x`` the control, ``xbar`` its pre-period
  mean and ``c`` uniform in +-[0.25, 0.75]. The static regression fitted to the whole pre-period averages the
  old and new coefficients, so its counterfactual misses as that control moves (its yearly cycle) after the
  intervention.

Every series is fitted with ``CausalImpact(pre, post, seasonality=[7])`` (the recovery benchmark's model; its
default priors and sampler) and ``checks="full"``. Reported (``_check_power.summarise``): the share of 95%
intervals that miss the true average effect, the share of those misses flagged by a failed check, and the
false-alarm rate on the well-specified series, each with its binomial Monte Carlo standard error.

Seeds: the reported run uses seeds 0..N-1 of each condition; pilots (to choose the scenario's strength and any
threshold) used ``--first 1000``.

Usage: python benchmarks/check_power_bsts.py [--fits 20] [--well 30] [--first 0] [--slope 0.0003 0.0012]
       [--only misspecified ...]
Writes benchmarks/results/check_power_bsts.json (or --out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _check_power import TABLE_HEADER, condition_jobs, from_result, markdown_row, run

import bayescausal as bc
from bayescausal.datasets import simulate_regional_sales

N_PRE, N_POST = 365, 60
BREAK_BEFORE = (60, 150)  # the trend starts this many days (uniform) before the intervention


CONDITIONS = {"well-specified": 30_000, "misspecified": 40_000, "misspecified (relation change)": 45_000}


def make_series(condition: str, seed: int, slope: tuple[float, float]):
    """One study and the data to fit (the study's data, changed at a pre-period break when misspecified)."""
    rng = np.random.default_rng([22, seed, CONDITIONS[condition]])
    rel = 0.0 if seed % 4 == 0 else rng.uniform(0.02, 0.10) * rng.choice([-1, 1])
    study = simulate_regional_sales(n_pre=N_PRE, n_post=N_POST, relative_effect=rel, seed=CONDITIONS[condition] + seed)
    df = study.data.copy()
    if condition != "well-specified":
        start = N_PRE - int(rng.integers(BREAK_BEFORE[0], BREAK_BEFORE[1] + 1))
        level = df[study.outcome].iloc[:N_PRE].mean()
        after = np.arange(len(df)) >= start
        if condition == "misspecified":
            df[study.outcome] += rng.uniform(*slope) * level * np.maximum(0, np.arange(len(df)) - start)
        else:
            x = df[study.controls[rng.integers(len(study.controls))]].to_numpy(float)
            c = rng.uniform(0.25, 0.75) * rng.choice([-1, 1])
            df[study.outcome] += after * c * level * (x / x[:N_PRE].mean() - 1)
    return study, df


def fit_one(condition: str, seed: int, slope: tuple[float, float]):
    study, df = make_series(condition, seed, slope)
    res = bc.CausalImpact(study.pre_period, study.post_period, seasonality=[7]).fit(
        df, study.outcome, list(study.controls), sampler=bc.Sampler(progress=False), seed=seed)
    return from_result(condition, seed, study.true_average_effect, res, estimand="average")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fits", type=int, default=20, help="fits per misspecified condition")
    ap.add_argument("--first", type=int, default=0, help="first seed (pilots: 1000)")
    ap.add_argument("--well", type=int, default=None, help="well-specified fits (default: --fits)")
    ap.add_argument("--slope", type=float, nargs=2, default=(0.0003, 0.0012),
                    help="range of the trend after the break, share of the mean per day")
    ap.add_argument("--only", choices=list(CONDITIONS), nargs="+", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    conds = args.only or list(CONDITIONS)
    jobs = condition_jobs(conds, args.first, args.fits, args.well)
    summary = run("check_power_bsts", jobs, lambda c, s: fit_one(c, s, tuple(args.slope)),
                  out=Path(args.out) if args.out else None,
                  meta={"settings": vars(args), "model": "CausalImpact(pre, post, seasonality=[7]), default priors "
                        "and Sampler, checks='full'",
                        "misspecification": {
                            "misspecified": f"treated-only linear trend, slope uniform in {args.slope} x pre-period "
                            f"mean per day, from a break {BREAK_BEFORE[0]}-{BREAK_BEFORE[1]} days before the "
                            "intervention, continuing through the post-period",
                            "misspecified (relation change)": "from the same kind of break, the treated region gains "
                            "c * mean * (x / xbar - 1) of one random control x, c uniform in +-[0.25, 0.75]"}})
    print(TABLE_HEADER)
    lo, hi = args.slope
    print(markdown_row("CausalImpact", f"trend break in the pre-period: a trend of the treated region only "
                       f"({lo:.2%} to {hi:.2%} of its mean per day) from 60-150 days before the intervention", summary))
    relation = {"misspecified": summary.get("misspecified (relation change)"),
                "well-specified": summary.get("well-specified")}
    print(markdown_row("CausalImpact", "relation to one control changes 60-150 days before the intervention "
                       "(coefficient +-0.25 to 0.75)", relation))


if __name__ == "__main__":
    main()
