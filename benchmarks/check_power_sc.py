"""Do SyntheticControl's checks catch wrong answers? (issue 22, check power)

Well specified: the recovery benchmark's generator (``datasets.simulate_synthetic_control``: 365 pre + 60 post
daily points, 8 donors from a linear factor model, one treated unit equal to an intercept plus a sparse simplex
mix of 3 donors plus AR(1) noise; the effect is zero for a quarter of the panels, else uniform in +-[1%, 6%] of
the pre-period mean).

Misspecified (the data can reveal it): the same panels, but the treated unit has *its own trend that no donor
shares*: from a break date drawn uniformly 60 to 150 days before the intervention it gains a linear trend whose
slope is drawn uniformly in ``--slope`` (default 0.03% to 0.12% of its pre-period mean per day), continuing
through the post-period. The trend is part
of the counterfactual (the true effect is unchanged), but no simplex mix of the donors can follow it, so the
synthetic control falls behind it.

Every panel is fitted with the defaults, ``SyntheticControl(pre, post)`` (intercept, AR(1) residuals, default
priors and sampler) and ``checks="full"``. Reported (``_check_power.summarise``): the share of 95% intervals
that miss the true average effect, the share of those misses flagged by a failed check, and the false-alarm
rate on the well-specified panels, each with its binomial Monte Carlo standard error.

Seeds: the reported run uses seeds 0..N-1 of each condition; pilots (to choose the scenario's strength and any
threshold) used ``--first 1000``.

Usage: python benchmarks/check_power_sc.py [--fits 20] [--well 20] [--first 0] [--slope 0.0003 0.0012]
       [--only misspecified]
Writes benchmarks/results/check_power_sc.json (or --out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _check_power import TABLE_HEADER, condition_jobs, from_result, markdown_row, run

import bayescausal as bc
from bayescausal.datasets import simulate_synthetic_control

N_PRE, N_POST = 365, 60
BREAK_BEFORE = (60, 150)  # the treated unit's own trend starts this many days (uniform) before the intervention


def make_panel(condition: str, seed: int, slope: tuple[float, float]):
    """One study and its data; ``condition`` is "misspecified" or "well-specified"."""
    rng = np.random.default_rng([22, seed, int(condition == "misspecified")])
    rel = 0.0 if seed % 4 == 0 else rng.uniform(0.01, 0.06) * rng.choice([-1, 1])
    base = 50_000 if condition == "well-specified" else 60_000
    study = simulate_synthetic_control(n_pre=N_PRE, n_post=N_POST, n_donors=8, relative_effect=rel, seed=base + seed)
    df = study.data.copy()
    if condition == "misspecified":
        treated = study.treated[0]
        start = N_PRE - int(rng.integers(BREAK_BEFORE[0], BREAK_BEFORE[1] + 1))
        level = df[treated].iloc[:N_PRE].mean()
        t = np.arange(len(df))
        df[treated] += rng.uniform(*slope) * level * np.maximum(0, t - start)  # in the counterfactual too
    return study, df


def fit_one(condition: str, seed: int, slope: tuple[float, float]):
    study, df = make_panel(condition, seed, slope)
    res = bc.SyntheticControl(study.pre_period, study.post_period).fit(
        df, study.treated[0], list(study.donors), sampler=bc.Sampler(progress=False), seed=seed)
    return from_result(condition, seed, study.true_average_effect, res, estimand="average")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fits", type=int, default=20, help="misspecified fits")
    ap.add_argument("--well", type=int, default=None, help="well-specified fits (default: --fits)")
    ap.add_argument("--first", type=int, default=0, help="first seed (pilots: 1000)")
    ap.add_argument("--slope", type=float, nargs=2, default=(0.0003, 0.0012),
                    help="range of the own trend after the break, share of the mean per day")
    ap.add_argument("--only", choices=["misspecified", "well-specified"], default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    conds = [args.only] if args.only else ["misspecified", "well-specified"]
    jobs = condition_jobs(conds, args.first, args.fits, args.well)
    summary = run("check_power_sc", jobs, lambda c, s: fit_one(c, s, tuple(args.slope)),
                  out=Path(args.out) if args.out else None,
                  meta={"settings": vars(args), "model": "SyntheticControl(pre, post): intercept, AR(1) residuals, "
                        "default priors and Sampler, checks='full'",
                        "misspecification": f"treated-only linear trend, slope uniform in {args.slope} x pre-period "
                        f"mean per day from a break {BREAK_BEFORE[0]}-{BREAK_BEFORE[1]} days before the intervention, "
                        "continuing through the post-period (no donor shares it)"})
    print(TABLE_HEADER)
    lo, hi = args.slope
    print(markdown_row("SyntheticControl", f"treated unit's own trend ({lo:.2%} to {hi:.2%} of its mean per day) "
                       "from 60-150 days before the intervention; no donor shares it", summary))


if __name__ == "__main__":
    main()
