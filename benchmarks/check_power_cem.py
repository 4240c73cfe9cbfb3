"""Do CEM's checks catch wrong answers? (issue 22)

Simulates customers with ``P`` numeric covariates (standard normal, pairwise correlation 0.3), a treatment whose
log-odds depend on them and an outcome with a nonlinear surface in them plus an effect ``2 + 0.5 x0``; fits the
default ``CEM()`` with ``checks="full"`` (2 chains x 1,000 draws) and counts misses and failed checks.

At ``N = 10,000`` rows and ``P = 8`` covariates the automatic coarsening gives 2 bins per column (cells of about
five units under independence), so each bin spans half a covariate's range:

* misspecified: the treatment's log-odds are linear in the covariates, so within each bin the treated sit higher
  on every covariate than the controls, and the outcome's surface (linear, squares, one interaction) varies within
  the bins: residual within-stratum confounding biases the estimate. The data reveal it (the covariates are seen).
* well-specified: the same outcome surface, but the treatment depends on the covariates only through their bins
  (the signs ``x_j > 0``; the automatic cut of each column is its sample median, about 0), so the treatment is
  as-if random within strata, which is CEM's assumption.

The truth of each fit is the estimand CEM targets: the average effect over the matched treated units (ATT over
the kept strata; nearly all treated are matched here). Seeds 0..N-1 are reported; pilot runs used seeds 1000+.

    .venv/bin/python benchmarks/check_power_cem.py [--fits 20] [--seed0 0] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _check_power import TABLE_HEADER, Replicate, from_result, markdown_row, run  # noqa: E402

import bayescausal as bc  # noqa: E402
from bayescausal.crosssection.cem import CEM  # noqa: E402

N = 10_000
P = 8
RHO = 0.3
LOGIT_SLOPE = 0.25  # treatment log-odds per sd of each covariate (misspecified) or per bin step (well-specified)
NOISE = 3.0
OUTCOME_SLOPE = 0.75  # outcome per sd of each covariate, with the sign of its pull on the treatment
SAMPLER = bc.Sampler(chains=2, draws=1000, progress=False)
COVARIATES = [f"x{j}" for j in range(P)]


def simulate(condition: str, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """One data set and each unit's true effect."""
    rng = np.random.default_rng([22, seed, condition == "misspecified"])
    z = rng.normal(size=(N, P))
    x = np.sqrt(1 - RHO) * z + np.sqrt(RHO) * rng.normal(size=(N, 1))
    signs = np.where(np.arange(P) % 2 == 0, 1.0, -1.0) * np.where(np.arange(P) < P // 2, 1.0, 0.5)
    if condition == "misspecified":
        index = x @ signs
    else:  # a function of the bins only: each covariate's step at 0
        index = np.where(x > 0, 1.0, -1.0) @ signs
    t = (rng.random(N) < 1 / (1 + np.exp(-(-0.5 + LOGIT_SLOPE * index)))).astype(int)
    base = (x @ signs * OUTCOME_SLOPE + 1.0 * x[:, 0] ** 2 + 0.8 * x[:, 2] ** 2 - 0.6 * x[:, 1] * x[:, 3]
            + 0.5 * np.abs(x[:, 4]))
    tau = 2.0 + 0.5 * x[:, 0]
    y = 50 + base + t * tau + rng.normal(0, NOISE, N)
    df = pd.DataFrame(x, columns=COVARIATES)
    df["treated"] = t
    df["y"] = y
    return df, tau


@dataclass
class CEMReplicate(Replicate):
    """A replicate plus the bias-corrected interval that a within-stratum regression adjustment would give: the
    interval shifted by the prognostic bias ``B`` of the within-stratum confounding check (Abadie & Imbens 2011),
    recorded to judge whether such an adjustment should become CEM's default."""

    bias_estimate: float = 0.0
    corrected_covers: bool = True


def fit_one(condition: str, seed: int, model: CEM | None = None):
    df, tau = simulate(condition, seed)
    res = (model or CEM()).fit(df, "treated", "y", COVARIATES, sampler=SAMPLER, seed=seed)
    matched_treated = (res.weights.to_numpy() > 0) & (df["treated"].to_numpy() == 1)
    truth = float(tau[matched_treated].mean())
    r = from_result(condition, seed, truth, res)
    check = next(c for c in res.checks if c.name == "within-stratum confounding")
    bias = float(check.statistic) * float(res.effect.std())
    return res, CEMReplicate(**asdict(r), bias_estimate=round(bias, 5),
                             corrected_covers=bool(r.lower - bias <= truth <= r.upper - bias))


def corrected_summary(path: Path) -> dict:
    """Per condition: the share of bias-corrected intervals that miss the truth, with its MC se."""
    reps = json.loads(path.read_text())["replicates"]
    out = {}
    for cond in ("misspecified", "well-specified"):
        rs = [r for r in reps if r["condition"] == cond]
        k = sum(not r["corrected_covers"] for r in rs)
        p = k / len(rs)
        out[cond] = {"corrected_miss_share": round(p, 4), "mc_se": round(math.sqrt(p * (1 - p) / len(rs)), 4),
                     "count": k, "of": len(rs),
                     "corrected_mean_abs_error": round(sum(abs(r["mean"] - r["bias_estimate"] - r["truth"])
                                                           for r in rs) / len(rs), 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fits", type=int, default=20)
    ap.add_argument("--seed0", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    jobs = [(c, a.seed0 + i) for i in range(a.fits) for c in ("misspecified", "well-specified")]
    out = a.out or HERE / "results" / "check_power_cem.json"
    summary = run("check_power_cem", jobs, lambda c, s: fit_one(c, s)[1], out=out,
                  meta={"rows": N, "covariates": P, "rho": RHO, "logit_slope": LOGIT_SLOPE, "noise": NOISE,
                        "sampler": "2 chains x 1000 draws (1000 warm-up)",
                        "seeds": f"{a.seed0}..{a.seed0 + a.fits - 1}"})
    corrected = corrected_summary(out)
    doc = json.loads(out.read_text())
    doc["corrected"] = corrected
    out.write_text(json.dumps(doc, indent=1))
    print("bias-corrected intervals (candidate default):", json.dumps(corrected, indent=1))
    print(TABLE_HEADER)
    print(markdown_row("CEM", "coarsening too coarse for the confounding (2 bins per column, nonlinear surface)",
                       summary))


if __name__ == "__main__":
    main()
