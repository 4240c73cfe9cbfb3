"""Do AIPW's checks catch wrong answers? (issue 22; harness in ``_check_power.py``)

Scenarios (one table row each; every fit with the defaults: ``checks="full"``, the default sampler of 4 chains x
1,000 draws + 1,000 warm-up):

* ``linear``: the linear outcome and logistic propensity models asked for on ``simulate_confounded_units``, whose
  outcome and propensity surfaces are quadratic with interactions (the models are wrong, and binned residuals can
  show it): "misspecified".
* ``spline``: the default flexible models on the same simulator (smooth surfaces within their reach):
  "well-specified".
* ``wiggle`` (``--scenario wiggle``): the default models on a surface beyond their reach, a sine of age in both
  the outcome and the propensity (a restricted cubic spline with 4 knots cannot follow it): "misspecified".

Truth: the simulator's sample average treatment effect. Usage:

    .venv/bin/python benchmarks/check_power_aipw.py [--fits 30] [--rows 2000] [--scenario linear spline wiggle]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _check_power import TABLE_HEADER, from_result, markdown_row, run  # noqa: E402

import bayescausal as bc  # noqa: E402
from bayescausal.crosssection.aipw import AIPW  # noqa: E402
from bayescausal.datasets.crosssection import simulate_confounded_units  # noqa: E402

COVS = ["age", "income", "region", "visits"]
SCENARIOS = {"linear": ("misspecified", "linear", "logistic"), "spline": ("well-specified", "spline", "spline"),
             "wiggle": ("misspecified", "spline", "spline")}


def wiggle_study(rows: int, seed: int):
    """``simulate_confounded_units`` with a sine of age added to the outcome (amplitude 6, a quarter of the outcome's
    sd) and to the propensity's log-odds (amplitude 1), three periods over the ages' +-2 sd: a surface no 4-knot
    restricted cubic spline follows. The effect (and so the truth) is unchanged."""
    st = simulate_confounded_units(rows, seed=seed)
    df = st.data.copy()
    rng = np.random.default_rng(10_000 + seed)
    za = (df["age"].to_numpy() - 45.0) / 12.0
    wave = np.sin(4.7 * za)
    # redraw the offer with the sine added to the simulator's log-odds, and add the sine to both potential outcomes
    logit = np.log(st.propensity / (1 - st.propensity)) + wave
    offer = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(int)
    tau = _tau(df)
    base_plus_noise = df["spend"].to_numpy() - df["offer"].to_numpy() * tau
    df["offer"] = offer
    df["spend"] = base_plus_noise + 6.0 * wave + offer * tau
    return df, float(tau.mean())


def _tau(df):
    """The simulator's unit-level effect (``effect * (1 + 0.4 zv)`` with effect 5)."""
    zv = (df["visits"].to_numpy() - 3.3) / 1.8
    return 5.0 * (1 + 0.4 * zv)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fits", type=int, default=30, help="datasets per scenario")
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--scenario", nargs="+", default=["linear", "spline"], choices=sorted(SCENARIOS))
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    sampler = bc.Sampler(progress=False)

    def fit_one(job: str, seed: int):
        scenario = job
        cond, om, pm = SCENARIOS[scenario]
        if scenario == "wiggle":
            df, truth = wiggle_study(a.rows, seed)
        else:
            st = simulate_confounded_units(a.rows, seed=seed)
            df, truth = st.data, st.true_ate
        res = AIPW(outcome_model=om, propensity_model=pm).fit(df, "offer", "spend", COVS, sampler=sampler,
                                                                seed=seed)
        rep = from_result(cond, seed, truth, res)
        rep.condition = f"{cond}: {scenario}"
        return rep

    jobs = [(s, a.first_seed + i) for i in range(a.fits) for s in a.scenario]
    summary = run("check_power_aipw", jobs, fit_one, out=Path(a.out) if a.out else None,
                  meta={"rows": a.rows, "fits_per_scenario": a.fits,
                        "sampler": "default (4 chains x 1000 + 1000 warm-up)",
                        "scenarios": {s: SCENARIOS[s] for s in a.scenario}})
    print(TABLE_HEADER)
    for cond, s in summary.items():
        kind, scenario = cond.split(": ")
        print(markdown_row("AIPW", scenario, {kind: s}))


if __name__ == "__main__":
    main()
